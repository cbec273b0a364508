//! keras.io's "Simple MNIST convnet": Conv2D 32 3×3 relu → MaxPool 2 → Conv2D 64 3×3 relu →
//! MaxPool 2 → Flatten → Dropout 0.5 → Dense 10 softmax, Adam, batch 128, 15 epochs,
//! validation split 0.1, then the test set. `--bn` trains the BatchNormalization CNN preset
//! instead (Conv-BN-ReLU blocks, global average pooling, a cosine schedule).

use clap::Parser;
use wgtrain::app::{self, TrainArgs};
use wgtrain::presets;

#[derive(Parser)]
#[command(about = "Train keras.io's MNIST convnet (or, with --bn, the BatchNormalization CNN) on MNIST-format data")]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
    /// Train the BatchNormalization CNN preset instead.
    #[arg(long)]
    bn: bool,
}

fn main() -> std::process::ExitCode {
    app::init();
    let args = Args::parse();
    let preset = if args.bn { presets::bn_cnn() } else { presets::convnet() };
    app::exit(app::train_on_idx(preset, &args.train))
}
