//! The cross-platform benchmark: every kernel and the seed models end to end, on every
//! adapter (or `--adapter`), checked against the CPU twins, written as JSON per adapter.

use clap::Parser;
use wgtrain::app;
use wgtrain::bench::{self, BenchArgs};

#[derive(Parser)]
#[command(about = "Benchmark every kernel and the seed models on every adapter")]
struct Args {
    #[command(flatten)]
    bench: BenchArgs,
}

fn main() -> std::process::ExitCode {
    app::init();
    let args = Args::parse();
    app::exit(bench::run(&args.bench))
}
