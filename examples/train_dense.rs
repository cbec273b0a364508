//! The seed 100-64-10 softmax net: Dense 64 relu → Dense 10 softmax, SGD, batch 32, 5 epochs,
//! on `x_dense.npy` / `y_dense.npy` (class indices) in the data directory; when they are
//! missing, a learnable synthetic set is written there first (see `make_data`).

use clap::Parser;
use wgtrain::app::{self, TrainArgs};
use wgtrain::data::npy::{self, LabelKind};

#[derive(Parser)]
#[command(about = "Train the seed 100-64-10 softmax net (SGD) on .npy data")]
struct Args {
    #[command(flatten)]
    train: TrainArgs,
}

fn main() -> std::process::ExitCode {
    app::init();
    let args = Args::parse();
    app::exit((|| {
        let dir = args.train.data.clone().unwrap_or_else(|| "data".into());
        let (x, y) = (dir.join("x_dense.npy"), dir.join("y_dense.npy"));
        app::ensure_synthetic(&x, &y, app::Synthetic::Classes)?;
        let data = npy::load(&x, &y, LabelKind::Classes(10))?;
        println!("data: {} and {}: {} samples of {:?}", x.display(), y.display(), data.len(), data.sample_shape);
        let preset = args.train.apply(wgtrain::presets::dense())?;
        app::run_preset(&preset, &data, None, &args.train)?;
        Ok(())
    })())
}
