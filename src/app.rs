//! What the examples and the `wgtrain` binary share: the common flags, opening the GPU,
//! running a preset, and turning an error into one line and a failure exit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::metrics_file::MetricsFile;
use crate::nn::Model;
use crate::presets::Preset;
use crate::train::{EpochLog, FitOptions, History, Metrics, ReduceLrOnPlateau};

/// Flags every training example takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TrainArgs {
    /// Passes over the training data (default: the seed program's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Samples per step (default: the seed program's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate: the constant one, or a schedule's initial rate (default: the model's).
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
    /// Stop when the validation loss (the training loss without validation) has not improved
    /// for N epochs.
    #[arg(long, value_name = "N")]
    pub patience: Option<usize>,
    /// Multiply a constant learning rate by --reduce-lr-factor when the validation loss (the
    /// training loss without validation) has not improved for N epochs (Keras's
    /// ReduceLROnPlateau, its other settings at Keras's defaults).
    #[arg(long, value_name = "N")]
    pub reduce_lr_on_plateau: Option<usize>,
    /// The factor of --reduce-lr-on-plateau (default Keras's, 0.1).
    #[arg(long, value_name = "F", requires = "reduce_lr_on_plateau")]
    pub reduce_lr_factor: Option<f64>,
    /// Also write each epoch's metrics to FILE: CSV when it ends in .csv, else JSON lines.
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Draw the loss and accuracy curves (training and validation) into FILE as a PNG.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// Keep at most N MiB of a dataset on the GPU; a larger one streams through in chunks
    /// (default: the adapter's largest storage buffer).
    #[arg(long, value_name = "N")]
    pub max_resident_mib: Option<u64>,
}

impl TrainArgs {
    /// The first `--limit` samples of `data`, or all of it.
    pub fn limited(&self, data: &Dataset) -> Dataset {
        data.take(self.limit.unwrap_or(usize::MAX))
    }

    /// The preset with the flags' overrides applied; refuses flags that do not fit it.
    pub fn apply(&self, mut preset: Preset) -> Result<Preset> {
        preset.epochs = self.epochs.unwrap_or(preset.epochs);
        preset.batch_size = self.batch_size.unwrap_or(preset.batch_size);
        preset.compile.seed = self.seed.unwrap_or(preset.compile.seed);
        if let Some(lr) = self.lr {
            let rate = preset.compile.optimizer.lr().with_initial(lr)?;
            preset.compile.optimizer = preset.compile.optimizer.with_lr(rate);
        }
        if let Some(plateau) = self.reduce_lr() {
            plateau.check(preset.compile.optimizer.lr())?;
        }
        if self.limit == Some(0) {
            return Err(Error::Invalid("--limit must be at least 1".into()));
        }
        if self.max_resident_mib.is_some_and(|m| m == 0 || m.checked_mul(1 << 20).is_none()) {
            return Err(Error::Invalid("--max-resident-mib must be at least 1 and below 2^44".into()));
        }
        // Before a device is opened.
        crate::train::check_counts(preset.batch_size, preset.epochs)?;
        preset.compile.optimizer.check()?;
        Ok(preset)
    }

    /// ReduceLROnPlateau as the flags ask for it.
    fn reduce_lr(&self) -> Option<ReduceLrOnPlateau> {
        self.reduce_lr_on_plateau.map(|patience| {
            let defaults = ReduceLrOnPlateau::default();
            ReduceLrOnPlateau { patience, factor: self.reduce_lr_factor.unwrap_or(defaults.factor), ..defaults }
        })
    }
}

/// Process set-up for a command, called first thing in `main` (before any other thread exists:
/// it sets environment variables).
pub fn init() {
    private_runtime_dir();
    oversubscribe_llvmpipe();
}

/// Vulkan loaders complain on stderr when `XDG_RUNTIME_DIR` is unset: point it at a private
/// directory then.
fn private_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir()) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wgtrain-runtime-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        // SAFETY: called at the start of `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

/// llvmpipe (Mesa's CPU driver, behind lavapipe and the GL adapter) splits a dispatch's
/// workgroups into one equal share per thread of its pool, a thread per core by default, and a
/// share whose thread starts late (behind the host's own threads or another process) holds up
/// the whole dispatch. With two threads per core the shares are half as large and a thread that
/// is done takes the next waiting one, so a late thread costs less: the seed MLP trains about
/// 1.2× faster on a 2-core machine (BENCHMARKS.md). Mesa caps the count at its own maximum; a
/// `LP_NUM_THREADS` the user set is kept.
fn oversubscribe_llvmpipe() {
    if std::env::var_os("LP_NUM_THREADS").is_some() {
        return;
    }
    if let Ok(cores) = std::thread::available_parallelism() {
        // SAFETY: called at the start of `main`, before any other thread exists.
        unsafe { std::env::set_var("LP_NUM_THREADS", (2 * cores.get()).to_string()) };
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
    run_preset(&args.apply(preset)?, &data.train, Some(&data.test), args)?;
    Ok(())
}

/// Fails now, before any training, when `dir` cannot be created or written to.
pub fn ensure_writable_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Data { path: dir.to_path_buf(), message: "is a file; expected a directory".into() });
    }
    let io = |source| Error::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let probe = dir.join(format!(".wgtrain-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(io)?;
    std::fs::remove_file(&probe).map_err(io)
}

/// Fails now when `file` cannot be written: its directory is created and probed.
pub fn ensure_writable_file(file: &Path) -> Result<()> {
    if file.is_dir() || file.file_name().is_none() {
        return Err(Error::Data { path: file.to_path_buf(), message: "is a directory; expected a file name".into() });
    }
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    ensure_writable_dir(dir)
        .map_err(|e| Error::Data { path: file.to_path_buf(), message: format!("cannot be written: {e}") })
}

/// Builds the preset's model, trains it as its seed program does, and evaluates it on `test`
/// when given. Checkpoints, metrics files, the plot and early stopping follow `args`.
/// Returns the trained model, its history and the test metrics.
pub fn run_preset(
    preset: &Preset,
    train: &Dataset,
    test: Option<&Dataset>,
    args: &TrainArgs,
) -> Result<(Model, History, Option<Metrics>)> {
    // Refused before anything is opened or written.
    crate::train::check_counts(preset.batch_size, preset.epochs)?;
    let train = args.limited(train);
    let test = test.map(|t| args.limited(t));
    for path in [&args.metrics, &args.plot].into_iter().flatten() {
        ensure_writable_file(path)?;
    }
    if let Some(dir) = &args.checkpoint_dir {
        ensure_writable_dir(dir)?;
        let last = dir.join("last.safetensors");
        if args.resume && !last.is_file() {
            let message = "nothing to resume: no checkpoint here (a run with --checkpoint-dir writes it)".into();
            return Err(Error::Data { path: last, message });
        }
    }
    let gpu = open_gpu(args.adapter.as_deref())?;
    let mut model = Model::new(gpu, preset.model.clone(), preset.compile.clone())?;
    model.set_class_names(train.class_names.clone())?;
    if !args.quiet {
        print!("{}", model.summary()?);
    }
    let validation = preset.validation.for_fit(test.as_ref());
    let mut opts = FitOptions {
        batch_size: preset.batch_size,
        epochs: preset.epochs,
        validation,
        shuffle: true,
        verbose: !args.quiet,
        patience: args.patience,
        reduce_lr: args.reduce_lr(),
        max_resident_bytes: args.max_resident_mib.map(|m| m * 1024 * 1024),
        ..FitOptions::default()
    };
    if let (true, Some(dir)) = (args.resume, &args.checkpoint_dir) {
        let info = model.load(&dir.join("last.safetensors"))?;
        println!("resuming after epoch {} (step {})", info.epoch, info.step);
        opts.initial_epoch = info.epoch;
        opts.best = info.best.unwrap_or_default();
        opts.reduce_lr_state = info.plateau.unwrap_or_default();
        // The checkpoint restores the rate it ran at (lowered, maybe); a rate given now wins.
        if let (Some(lr), true) = (args.lr, preset.compile.optimizer.lr().is_constant()) {
            model.set_learning_rate(lr)?;
        }
    }
    let history = if opts.initial_epoch >= opts.epochs {
        println!("already trained for {} epochs", opts.initial_epoch);
        History::default()
    } else {
        let mut metrics_file = match &args.metrics {
            Some(path) => Some(MetricsFile::open(path, args.resume)?),
            None => None,
        };
        let mut last_saved = None;
        let mut on_epoch = |model: &Model, log: &EpochLog| -> Result<()> {
            if let Some(file) = &mut metrics_file {
                file.append(log)?;
            }
            if let Some(dir) = &args.checkpoint_dir {
                model.save_run(&dir.join("last.safetensors"), log.epoch, Some(log.best), log.plateau)?;
                if log.best.epochs_since == 0 {
                    model.save_run(&dir.join("best.safetensors"), log.epoch, Some(log.best), log.plateau)?;
                }
                last_saved = Some(log.epoch);
            }
            Ok(())
        };
        let fitted = model.fit_with(&train, &opts, &mut on_epoch);
        match (fitted, &args.checkpoint_dir) {
            (Err(e @ Error::Diverged { .. }), Some(dir)) => {
                let kept = match last_saved.or((opts.initial_epoch > 0).then_some(opts.initial_epoch)) {
                    Some(epoch) => format!("{} (epoch {epoch}) is kept", dir.join("last.safetensors").display()),
                    None => "no checkpoint had been written yet".into(),
                };
                return Err(Error::Invalid(format!("{e}; the last good checkpoint {kept}")));
            }
            (fitted, _) => fitted?,
        }
    };
    if let (Some(path), false) = (&args.plot, history.epochs.is_empty()) {
        crate::plot::write_curves(path, &history.epochs)?;
        println!("plot: {}", path.display());
    }
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
