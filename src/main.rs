//! The `wgtrain` command line.
//!
//! Native only: in a browser wgtrain is the page (`cargo xtask web build`).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    command_line::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod command_line {
    use std::process::ExitCode;

    use clap::{Parser, Subcommand};
    use wgtrain::commands;
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
        /// Train a seed model (--preset) or a model spec file (--spec) on IDX data (the default;
        /// see --data), .npy files (--npy) or an image folder (--images).
        Train(Box<commands::TrainCommand>),
        /// Evaluate a checkpoint on a labelled dataset: loss, accuracy and a confusion matrix.
        Evaluate(commands::EvaluateCommand),
        /// Classify image files with a checkpoint: the top-k classes with their probabilities.
        Predict(commands::PredictCommand),
        /// Print a seed model as a spec file (JSON) to edit and train with `train --spec`.
        Spec {
            /// mlp, cnn, mlp-sgd, dense, binary, convnet, bn-cnn or cnn4.
            preset: String,
        },
        /// Check every kernel and variant against its CPU twin, and whole training steps against
        /// the CPU reference, on every adapter present (or --adapter): a table per adapter, exit 1
        /// on any failure.
        Check(wgtrain::check::CheckArgs),
        /// Benchmark every kernel and the seed models end to end (see BENCHMARKS.md).
        Bench(wgtrain::bench::BenchArgs),
    }

    pub fn main() -> ExitCode {
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
            Command::Train(cmd) => commands::train(&cmd),
            Command::Evaluate(cmd) => commands::evaluate(&cmd),
            Command::Predict(cmd) => commands::predict(&cmd),
            Command::Spec { preset } => commands::spec(&preset),
            Command::Bench(args) => wgtrain::bench::run(&args),
            Command::Check(args) => wgtrain::check::run_command(&args),
        }
    }
}
