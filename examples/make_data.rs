//! Writes the learnable synthetic .npy datasets the .npy seed models train on:
//! X_train.npy / y_train.npy (binary) and x_dense.npy / y_dense.npy (10 classes).

use std::path::PathBuf;

use clap::Parser;
use wgtrain::app::{self, Synthetic};

#[derive(Parser)]
#[command(about = "Write synthetic .npy training data for binary_classifier and train_dense")]
struct Args {
    /// Output directory.
    #[arg(long, default_value = "data")]
    dir: PathBuf,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    app::exit((|| {
        app::write_synthetic(&args.dir.join("X_train.npy"), &args.dir.join("y_train.npy"), Synthetic::Binary)?;
        app::write_synthetic(&args.dir.join("x_dense.npy"), &args.dir.join("y_dense.npy"), Synthetic::Classes)?;
        Ok(())
    })())
}
