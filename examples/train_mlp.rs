//! The seed MLP: Flatten → Dense 128 relu → Dense 10 softmax, Adam, batch 32, 10 epochs,
//! validation split 0.2, on Fashion-MNIST (or any MNIST-format data), then the test set.

use clap::Parser;
use wgtrain::app::{self, TrainArgs};
use wgtrain::data::find;

#[derive(Parser)]
#[command(about = "Train the seed MLP (784-128-10, Adam) on MNIST-format data")]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
}

fn main() -> std::process::ExitCode {
    app::init();
    let args = Args::parse();
    app::exit((|| {
        let data = find::idx_data(args.train.data.as_deref())?;
        println!("data: {}", data.origin);
        let preset = args.train.apply(wgtrain::presets::mlp());
        app::run_preset(&preset, &data.train, Some(&data.test), &args.train)?;
        Ok(())
    })())
}
