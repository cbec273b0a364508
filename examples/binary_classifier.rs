//! The seed binary classifier: Dense 64 relu → Dense 32 relu → Dense 1 sigmoid, binary
//! cross-entropy, Adam, batch 32, 10 epochs, on `X_train.npy` / `y_train.npy` in the data
//! directory (or `--x` / `--y`); when they are missing, a learnable synthetic set is written first.

use std::path::PathBuf;

use clap::Parser;
use wgtrain::app::{self, TrainArgs};
use wgtrain::data::npy::{self, LabelKind};

#[derive(Parser)]
#[command(about = "Train the seed 100-64-32-1 binary classifier on .npy data")]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
    /// Features, [n, 100] (default: DATA/X_train.npy).
    #[arg(long)]
    x: Option<PathBuf>,
    /// Labels 0 / 1, [n] (default: DATA/y_train.npy).
    #[arg(long)]
    y: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    app::init();
    let args = Args::parse();
    app::exit((|| {
        let dir = args.train.data.clone().unwrap_or_else(|| "data".into());
        let x = args.x.clone().unwrap_or_else(|| dir.join("X_train.npy"));
        let y = args.y.clone().unwrap_or_else(|| dir.join("y_train.npy"));
        if args.x.is_none() && args.y.is_none() {
            app::ensure_synthetic(&x, &y, app::Synthetic::Binary)?;
        }
        let data = npy::load(&x, &y, LabelKind::Targets)?;
        println!("data: {} and {}: {} samples of {:?}", x.display(), y.display(), data.len(), data.sample_shape);
        let preset = args.train.apply(wgtrain::presets::binary())?;
        app::run_preset(&preset, &data, None, &args.train)?;
        Ok(())
    })())
}
