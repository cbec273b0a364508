//! The seed 512-512 MLP: Dense 512 relu → Dense 512 relu → Dense 10 softmax, SGD, batch 128,
//! 10 epochs, validated on the test set.

use clap::Parser;
use wgtrain::app::{self, TrainArgs};

#[derive(Parser)]
#[command(about = "Train the seed MLP (784-512-512-10, SGD) on MNIST-format data")]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
}

fn main() -> std::process::ExitCode {
    app::init();
    let args = Args::parse();
    app::exit(app::train_on_idx(wgtrain::presets::mlp_sgd(), &args.train))
}
