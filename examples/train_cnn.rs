//! The seed CNN: Conv2D 32 3×3 relu → MaxPool 2×2 → Flatten → Dense 128 relu → Dense 10
//! softmax, Adam, batch 32, 10 epochs, validated on the test set. `--rgb64` trains the seed's
//! 64×64×3 configuration (images upscaled, grey replicated to RGB).

use clap::Parser;
use wgtrain::app::{self, TrainArgs};
use wgtrain::data::find;

#[derive(Parser)]
#[command(about = "Train the seed CNN on MNIST-format data (the main job)")]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
    /// Train on 64×64×3 inputs, as the seed program does: images upscaled bilinearly and grey
    /// replicated to RGB (12 KiB an image: a full 60 000-image set streams through the GPU).
    #[arg(long)]
    rgb64: bool,
}

fn main() -> std::process::ExitCode {
    app::init();
    let args = Args::parse();
    app::exit((|| {
        let data = find::idx_data(args.train.data.as_deref())?;
        println!("data: {}", data.origin);
        let (train, test, input) = if args.rgb64 {
            // Limit before upscaling: the upscaled images are 16 times larger.
            let (train, test) = (args.train.limited(&data.train), args.train.limited(&data.test));
            let (train, test) = (train.resized_rgb(64, 64)?, test.resized_rgb(64, 64)?);
            println!("rgb64: {} train / {} test images upscaled to 64×64×3", train.len(), test.len());
            (train, test, [64, 64, 3])
        } else {
            let s = &data.train.sample_shape;
            (data.train.clone(), data.test.clone(), [s[0], s[1], s[2]])
        };
        let preset = args.train.apply(wgtrain::presets::cnn(input))?;
        app::run_preset(&preset, &train, Some(&test), &args.train)?;
        Ok(())
    })())
}
