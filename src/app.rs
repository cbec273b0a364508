//! What the examples and the `wgtrain` binary share: the common flags, opening the GPU,
//! running a preset, and turning an error into one line and a failure exit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::nn::Model;
use crate::presets::{Preset, PresetValidation};
use crate::train::{EpochLog, FitOptions, History, Metrics, Validation};

/// Flags every training example takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TrainArgs {
    /// Passes over the training data (default: the seed program's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Samples per step (default: the seed program's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate (default: Keras's for the optimizer).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Seed of the initial weights, the shuffling and dropout.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Backend (vulkan, metal, dx12, gl) or part of an adapter's name; default: $WGTRAIN_ADAPTER, then the best.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Data directory (default: $WGTRAIN_DATA, ./data, the system's dataset, then the bundled subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// No progress bar or per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
    /// Use only the first N training and N test samples (quick runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Save DIR/last.safetensors after every epoch and DIR/best.safetensors when the validation
    /// loss (or, without validation, the training loss) is the lowest so far.
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from DIR/last.safetensors of --checkpoint-dir: same weights, optimizer state,
    /// step and data order as if the run had never stopped.
    #[arg(long, requires = "checkpoint_dir")]
    pub resume: bool,
}

impl TrainArgs {
    /// The first `--limit` samples of `data`, or all of it.
    pub fn limited(&self, data: &Dataset) -> Dataset {
        data.take(self.limit.unwrap_or(usize::MAX))
    }

    /// The preset with the flags' overrides applied.
    pub fn apply(&self, mut preset: Preset) -> Preset {
        preset.epochs = self.epochs.unwrap_or(preset.epochs);
        preset.batch_size = self.batch_size.unwrap_or(preset.batch_size);
        preset.compile.seed = self.seed.unwrap_or(preset.compile.seed);
        if let Some(lr) = self.lr {
            preset.compile.optimizer = preset.compile.optimizer.with_lr(lr);
        }
        preset
    }
}

/// Process set-up for a command, called first thing in `main`: Vulkan loaders complain on
/// stderr when `XDG_RUNTIME_DIR` is unset, so point it at a private directory then.
pub fn init() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir()) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wgtrain-runtime-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        // SAFETY: called at the start of `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

/// Opens the chosen adapter and says which it is.
pub fn open_gpu(adapter: Option<&str>) -> Result<Arc<Gpu>> {
    let gpu = Gpu::new(adapter)?;
    println!("adapter: {}", gpu.describe());
    Ok(Arc::new(gpu))
}

/// The exit of a command: success, or one error line and a failure status.
pub fn exit(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Finds MNIST-format data (see [`find::idx_data`](crate::data::find::idx_data)), says which,
/// and runs the preset on it, validating or testing on its test set.
pub fn train_on_idx(preset: Preset, args: &TrainArgs) -> Result<()> {
    let data = crate::data::find::idx_data(args.data.as_deref())?;
    println!("data: {}", data.origin);
    run_preset(&args.apply(preset), &data.train, Some(&data.test), args)?;
    Ok(())
}

/// Builds the preset's model, trains it as its seed program does, and evaluates it on `test`
/// when given. Returns the trained model, its history and the test metrics.
pub fn run_preset(
    preset: &Preset,
    train: &Dataset,
    test: Option<&Dataset>,
    args: &TrainArgs,
) -> Result<(Model, History, Option<Metrics>)> {
    let train = args.limited(train);
    let test = test.map(|t| args.limited(t));
    let gpu = open_gpu(args.adapter.as_deref())?;
    let mut model = Model::new(gpu, preset.model.clone(), preset.compile)?;
    if !args.quiet {
        print!("{}", model.summary()?);
    }
    let validation = match (preset.validation, &test) {
        (PresetValidation::Split(f), _) => Validation::Split(f),
        (PresetValidation::TestSet, Some(t)) => Validation::Data(t),
        _ => Validation::None,
    };
    let opts = FitOptions {
        batch_size: preset.batch_size,
        epochs: preset.epochs,
        validation,
        shuffle: true,
        verbose: !args.quiet,
        initial_epoch: 0,
    };
    let mut initial_epoch = 0;
    if let (true, Some(dir)) = (args.resume, &args.checkpoint_dir) {
        let info = model.load(&dir.join("last.safetensors"))?;
        println!("resuming after epoch {} (step {})", info.epoch, info.step);
        initial_epoch = info.epoch;
    }
    let history = if initial_epoch >= opts.epochs {
        println!("already trained for {initial_epoch} epochs");
        History::default()
    } else {
        let opts = FitOptions { initial_epoch, ..opts };
        let mut best = f64::INFINITY;
        let mut save = |model: &Model, log: &EpochLog| -> Result<()> {
            let Some(dir) = &args.checkpoint_dir else { return Ok(()) };
            std::fs::create_dir_all(dir).map_err(|source| crate::Error::Io { path: dir.clone(), source })?;
            model.save(&dir.join("last.safetensors"), log.epoch)?;
            let loss = log.val.map_or(log.loss, |v| v.loss);
            if loss < best {
                best = loss;
                model.save(&dir.join("best.safetensors"), log.epoch)?;
            }
            Ok(())
        };
        model.fit_with(&train, &opts, &mut save)?
    };
    let metrics = match &test {
        Some(t) => {
            let m = model.evaluate(t, preset.batch_size)?;
            println!("test: loss {:.4} - accuracy {:.4} ({} samples)", m.loss, m.accuracy, t.len());
            Some(m)
        }
        None => None,
    };
    if let Some(last) = history.epochs.last() {
        let mean_seconds = history.epochs.iter().map(|e| e.seconds).sum::<f64>() / history.epochs.len() as f64;
        println!(
            "trained {} epochs: {:.2} s/epoch, last epoch {:.0} samples/s",
            history.epochs.len(),
            mean_seconds,
            last.samples_per_second
        );
    }
    Ok((model, history, metrics))
}

/// The synthetic .npy datasets of the seed models that read .npy files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synthetic {
    /// 1 000 samples of 100 features with a 0/1 label (binary_classifier).
    Binary,
    /// 1 000 samples of 100 features with one of 10 classes (train_dense).
    Classes,
}

/// Writes a synthetic dataset as two .npy files, creating their directory.
pub fn write_synthetic(x: &std::path::Path, y: &std::path::Path, kind: Synthetic) -> Result<()> {
    let (n, dim) = (1000, 100);
    let (xs, ys) = match kind {
        Synthetic::Binary => crate::data::synthetic::binary(n, dim, 7),
        Synthetic::Classes => crate::data::synthetic::classes(n, dim, 10, 7),
    };
    if let Some(dir) = x.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| crate::Error::Io { path: dir.to_path_buf(), source })?;
    }
    crate::data::npy::write(x, &[n, dim], &xs)?;
    crate::data::npy::write(y, &[n], &ys)?;
    println!("wrote synthetic data: {} and {}", x.display(), y.display());
    Ok(())
}

/// Writes the synthetic dataset when either file is missing, so the example runs out of the box.
pub fn ensure_synthetic(x: &std::path::Path, y: &std::path::Path, kind: Synthetic) -> Result<()> {
    if x.exists() && y.exists() { Ok(()) } else { write_synthetic(x, y, kind) }
}
