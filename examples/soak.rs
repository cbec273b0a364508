//! Soak run: the seed MLP for 50 epochs on the bundled Fashion-MNIST subset, printing host RSS,
//! live tensors (and their bytes) and wgpu's count of live buffers after every epoch. After the
//! first epoch all of them must stay flat; the run fails if the GPU-side counts move.
//!
//! `cargo run --release --example soak -- [--epochs 50] [--adapter vulkan]`

use std::process::ExitCode;

use clap::Parser;
use wgtrain::data::find;
use wgtrain::nn::Model;
use wgtrain::train::{FitOptions, Validation};

#[derive(Parser)]
#[command(about = "Train the seed MLP for many epochs and show that memory stays flat")]
struct Args {
    #[arg(long, default_value_t = 50)]
    epochs: usize,
    /// Backend (vulkan, metal, dx12, gl) or part of an adapter's name.
    #[arg(long)]
    adapter: Option<String>,
}

/// Resident set size of this process in KiB (Linux), if known.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    wgtrain::app::init();
    let args = Args::parse();
    wgtrain::app::exit(run(&args))
}

fn run(args: &Args) -> wgtrain::Result<()> {
    let data = find::idx_data(Some(std::path::Path::new(find::BUNDLED)))?;
    let preset = wgtrain::presets::mlp();
    let gpu = wgtrain::app::open_gpu(args.adapter.as_deref())?;
    let mut model = Model::new(gpu, preset.model, preset.compile)?;
    let opts = FitOptions {
        batch_size: preset.batch_size,
        epochs: args.epochs,
        validation: Validation::Split(0.2),
        ..FitOptions::default()
    };
    println!("epoch  loss    val_loss  rss_MiB  tensors  tensor_MiB  wgpu_buffers");
    let mut seen = Vec::new();
    let history = model.fit_with(&data.train, &opts, &mut |m, log| {
        let gpu = m.gpu();
        let rss = rss_kib().map_or("n/a".to_string(), |k| format!("{:.1}", k as f64 / 1024.0));
        let counts = (gpu.usage.tensors(), gpu.usage.bytes(), gpu.live_buffers());
        println!(
            "{:>5}  {:.4}  {:.4}    {rss:>7}  {:>7}  {:>10.2}  {:>12}",
            log.epoch,
            log.loss,
            log.monitored_loss(),
            counts.0,
            counts.1 as f64 / (1024.0 * 1024.0),
            counts.2
        );
        seen.push((counts, rss_kib()));
        Ok(())
    })?;
    println!("{}", history.memory);
    let (first, last) = (&seen[0], &seen[seen.len() - 1]);
    if let (Some(a), Some(b)) = (first.1, last.1) {
        println!(
            "host RSS after epoch 1: {:.1} MiB, after epoch {}: {:.1} MiB",
            a as f64 / 1024.0,
            seen.len(),
            b as f64 / 1024.0
        );
    }
    if seen.iter().any(|s| s.0 != first.0) {
        return Err(wgtrain::Error::Invalid(format!(
            "GPU memory moved between epochs: {:?}",
            seen.iter().map(|s| s.0).collect::<Vec<_>>()
        )));
    }
    println!("live tensors, their bytes and wgpu's buffers: flat over {} epochs", seen.len());
    Ok(())
}
