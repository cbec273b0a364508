//! The seed MLP: Flatten → Dense 128 relu → Dense 10 softmax, Adam, batch 32, 10 epochs,
//! validation split 0.2, on Fashion-MNIST (or any MNIST-format data), then the test set.

use clap::Parser;
use wgtrain::app::{self, TrainArgs};

#[derive(Parser)]
#[command(about = "Train the seed MLP (784-128-10, Adam) on MNIST-format data")]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
}

fn main() -> std::process::ExitCode {
    app::init();
    let args = Args::parse();
    app::exit(app::train_on_idx(wgtrain::presets::mlp(), &args.train))
}
