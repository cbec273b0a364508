//! The `wgtrain` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wgtrain::gpu::adapter;

#[derive(Parser)]
#[command(name = "wgtrain", version, about = "Train small neural networks on any GPU with WGSL compute shaders")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter wgpu finds: backend, type, driver, limits and features.
    /// `WGPU_BACKEND=vulkan|gl|metal|dx12` narrows the search.
    Adapters,
    /// Benchmark every kernel and the seed models end to end (see BENCHMARKS.md).
    Bench(wgtrain::bench::BenchArgs),
}

fn main() -> ExitCode {
    wgtrain::app::init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wgtrain: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> wgtrain::Result<()> {
    match cli.command {
        Command::Adapters => {
            let chosen = adapter::select(None)?.get_info();
            for a in adapter::all() {
                let mark = if a.get_info() == chosen { "[default] " } else { "" };
                println!("{mark}{}", adapter::report(&a));
            }
            Ok(())
        }
        Command::Bench(args) => wgtrain::bench::run(&args),
    }
}
