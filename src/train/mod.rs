//! fit / evaluate / predict. A training step is a fixed list of dispatches (gather, forward,
//! loss, backward, update); steps are recorded many to an encoder and submitted in chunks,
//! and the loss totals are read back once per chunk for the progress display.

mod feed;
mod graph;
mod plateau;
mod progress;

use std::fmt;
use std::sync::Arc;
use web_time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Dispatch;
use crate::nn::Model;
use feed::{DeviceData, Feed};
use graph::{Graph, input_form};
use plateau::Plateau;
pub use plateau::{PlateauState, ReduceLrOnPlateau};
use progress::Progress;

/// Where validation data comes from.
#[derive(Clone, Copy, Debug)]
pub enum Validation<'a> {
    None,
    /// The last fraction of the training data, taken before shuffling (as Keras does).
    Split(f32),
    Data(&'a Dataset),
}

#[derive(Clone, Copy, Debug)]
pub struct FitOptions<'a> {
    pub batch_size: usize,
    pub epochs: usize,
    pub validation: Validation<'a>,
    /// Shuffle the training rows every epoch (from the model's seed and the epoch).
    pub shuffle: bool,
    /// Progress bar and one line per epoch on the terminal.
    pub verbose: bool,
    /// Epochs already done (Keras's `initial_epoch`): training runs epochs initial_epoch + 1
    /// ..= epochs, so a model loaded from a checkpoint continues where it stopped.
    pub initial_epoch: usize,
    /// Early stopping (Keras's `EarlyStopping(patience=…)`): stop once the monitored loss has
    /// not improved for this many epochs.
    pub patience: Option<usize>,
    /// Lower a constant learning rate when the monitored loss stops improving (Keras's
    /// `ReduceLROnPlateau`).
    pub reduce_lr: Option<ReduceLrOnPlateau>,
    /// What ReduceLROnPlateau had seen before this run (from a checkpoint when resuming).
    pub reduce_lr_state: PlateauState,
    /// The best monitored loss before this run (from a checkpoint when resuming).
    pub best: Best,
    /// The most dataset bytes held on the GPU at once; a larger dataset streams through a
    /// window of this size, chunk by chunk. Default: the adapter's largest storage binding.
    pub max_resident_bytes: Option<u64>,
}

/// The lowest monitored loss so far (val_loss, or the training loss without validation) and
/// the epochs since it was reached: what best checkpoints and early stopping go by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Best {
    pub loss: f64,
    pub epochs_since: usize,
}

impl Default for Best {
    fn default() -> Self {
        Best { loss: f64::INFINITY, epochs_since: 0 }
    }
}

impl Best {
    /// The state after an epoch whose monitored loss is `loss`.
    fn after(self, loss: f64) -> Best {
        if loss < self.loss {
            Best { loss, epochs_since: 0 }
        } else {
            Best { epochs_since: self.epochs_since + 1, ..self }
        }
    }
}

impl Default for FitOptions<'_> {
    fn default() -> Self {
        FitOptions {
            batch_size: 32,
            epochs: 1,
            validation: Validation::None,
            shuffle: true,
            verbose: false,
            initial_epoch: 0,
            patience: None,
            reduce_lr: None,
            reduce_lr_state: PlateauState::default(),
            best: Best::default(),
            max_resident_bytes: None,
        }
    }
}

/// Mean loss and accuracy over a dataset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    pub loss: f64,
    pub accuracy: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub val: Option<Metrics>,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
    /// Training samples per second (validation excluded).
    pub samples_per_second: f64,
    /// The optimizer's learning rate at the epoch's end (the schedule's for the next update),
    /// before ReduceLROnPlateau acts on the epoch: what Keras logs as `learning_rate`.
    pub learning_rate: f64,
    /// The best monitored loss after this epoch; `best.epochs_since == 0` when this epoch set it.
    pub best: Best,
    /// ReduceLROnPlateau's state after this epoch, when it runs.
    pub plateau: Option<PlateauState>,
}

impl EpochLog {
    /// The loss best checkpoints and early stopping watch: val_loss, else the training loss.
    pub fn monitored_loss(&self) -> f64 {
        self.val.map_or(self.loss, |v| v.loss)
    }
}

impl fmt::Display for EpochLog {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "epoch {:>3} - {:.1}s - loss: {:.4} - accuracy: {:.4}",
            self.epoch, self.seconds, self.loss, self.accuracy
        )?;
        if let Some(v) = self.val {
            write!(f, " - val_loss: {:.4} - val_accuracy: {:.4}", v.loss, v.accuracy)?;
        }
        write!(f, " - learning_rate: {}", keras_value(self.learning_rate))?;
        write!(f, " - {:.0} samples/s", self.samples_per_second)
    }
}

/// A value as Keras's progress bar writes it: 4 decimals, or when small 4 in scientific
/// notation with a signed two-digit exponent (`1.0000e-04`).
fn keras_value(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}").to_lowercase();
    }
    if v.abs() > 1e-3 {
        return format!("{v:.4}");
    }
    let scientific = format!("{v:.4e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} writes an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} writes an integer exponent");
    format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
}

/// Per-epoch metrics, as Keras's `History`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub epochs: Vec<EpochLog>,
    /// Training stopped before the last epoch because the monitored loss stopped improving.
    pub stopped_early: bool,
    /// The device memory the run used.
    pub memory: MemoryReport,
}

/// Where an epoch stands at one of its progress readbacks (about ten per epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochProgress {
    pub epoch: usize,
    pub epochs: usize,
    /// Training steps done of `steps`.
    pub step: usize,
    pub steps: usize,
    /// Mean loss and accuracy of the epoch so far.
    pub metrics: Metrics,
}

/// Where one training step's time goes: each dispatch alone, and the step as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct StepProfile {
    /// (entry point, seconds) of each dispatch, in step order.
    pub kernels: Vec<(&'static str, f64)>,
    /// Seconds of the whole step, its dispatches back to back.
    pub step: f64,
}

/// Device memory of a training run by use, in bytes (storage tensors).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    pub parameters: u64,
    pub gradients: u64,
    pub optimizer_state: u64,
    /// Layer outputs, their gradients and scratch of the batch-size graph.
    pub activations: u64,
    /// The training and validation data on the device (a window of them when streamed).
    pub dataset: u64,
}

impl MemoryReport {
    pub fn total(&self) -> u64 {
        self.parameters + self.gradients + self.optimizer_state + self.activations + self.dataset
    }
}

impl fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "device memory: {:.2} MiB = parameters {:.2} + gradients {:.2} + optimizer state {:.2} + \
             activations {:.2} + data {:.2}",
            mib(self.total()),
            mib(self.parameters),
            mib(self.gradients),
            mib(self.optimizer_state),
            mib(self.activations),
            mib(self.dataset)
        )
    }
}

/// Progress readbacks per epoch, and the most steps recorded between two of them.
const UPDATES_PER_EPOCH: usize = 10;
const MAX_CHUNK: usize = 100;

fn check_batch(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::Invalid("batch size must be at least 1".into()));
    }
    Ok(())
}

/// Refuses a batch size or epoch count of 0: what `fit` checks first, for callers that want
/// to fail before opening a device or writing anything.
pub fn check_counts(batch_size: usize, epochs: usize) -> Result<()> {
    check_batch(batch_size)?;
    if epochs == 0 {
        return Err(Error::Invalid("epochs must be at least 1".into()));
    }
    Ok(())
}

/// The dispatch lists of one step on `feed`: a training step, or an inference one.
fn step_lists<'s>(net: &'s Graph, feed: &'s Feed, train: bool) -> Vec<&'s [Dispatch]> {
    use std::slice::from_ref;
    if train {
        vec![from_ref(&feed.gather), &net.forward_train, &feed.loss_train, &net.backward, &net.update]
    } else {
        vec![from_ref(&feed.gather), &net.forward_infer, &feed.loss_infer]
    }
}

/// Rows 0..n in order.
fn identity(n: usize) -> Vec<u32> {
    (0..n as u32).collect()
}

/// A split's rows as the GPU reads them.
enum Rows<'a> {
    /// The whole dataset uploaded once; a pass writes its row order into the feed's index list.
    Resident(Feed),
    /// The dataset streams through a window: each segment of a pass's rows is copied in, in
    /// order, and trained on before the next (prepared on the host while the GPU works).
    /// `full` reads a whole window; only a shorter last segment needs a feed of its own.
    Streamed { data: &'a Dataset, window: Arc<DeviceData>, window_rows: usize, full: Feed },
}

impl<'a> Rows<'a> {
    /// `rows` of `data`, resident when the data fits `budget` bytes per buffer, else streamed
    /// through a window of whole batches.
    fn new(trainer: &Trainer, data: &'a Dataset, rows: &[u32], budget: u64) -> Result<Rows<'a>> {
        let (gpu, batch) = (&trainer.model.gpu, trainer.graph.batch);
        let row_bytes = DeviceData::row_bytes(data);
        if row_bytes * data.len() as u64 <= budget {
            let device = Arc::new(DeviceData::upload(gpu, data)?);
            return Ok(Rows::Resident(trainer.feed(device, rows)?));
        }
        let window_rows = ((budget / row_bytes) as usize / batch * batch).max(batch);
        Rows::streamed(trainer, data, Arc::new(DeviceData::window(gpu, data, window_rows)?))
    }

    fn streamed(trainer: &Trainer, data: &'a Dataset, window: Arc<DeviceData>) -> Result<Rows<'a>> {
        let window_rows = window.rows;
        let full = trainer.feed(window.clone(), &identity(window_rows))?;
        Ok(Rows::Streamed { data, window, window_rows, full })
    }

    /// A second split of the same dataset (validation rows of the training data), sharing its
    /// device copy or window: passes run one after the other, and queue order keeps a window's
    /// refill behind the pass before.
    fn share(&self, trainer: &Trainer, rows: &[u32]) -> Result<Rows<'a>> {
        Ok(match self {
            Rows::Resident(feed) => Rows::Resident(trainer.feed(feed.data.clone(), rows)?),
            Rows::Streamed { data, window, .. } => Rows::streamed(trainer, data, window.clone())?,
        })
    }

    /// Device bytes of the data (unless `shared` with another split's) and the index lists.
    fn bytes(&self, shared: bool) -> u64 {
        let (indices, data) = match self {
            Rows::Resident(feed) => (feed.bytes(), feed.data.bytes()),
            Rows::Streamed { window, full, .. } => (full.bytes(), window.bytes()),
        };
        indices + if shared { 0 } else { data }
    }

    fn is_streamed(&self) -> bool {
        matches!(self, Rows::Streamed { .. })
    }
}

/// One run of fit, evaluate or predict: the model, its graph for the run's batch size and
/// input form, and two buffers the loss totals are copied into, alternately, so one can be
/// read while the next chunk of steps runs.
struct Trainer<'m> {
    model: &'m Model,
    graph: Graph,
    readbacks: [wgpu::Buffer; 2],
}

impl<'m> Trainer<'m> {
    /// The graph of `model` for `batch` rows, in the input form `data` allows.
    fn new(model: &'m Model, batch: usize, data: &[&Dataset]) -> Result<Trainer<'m>> {
        let graph = Graph::build(model, batch, input_form(model, data))?;
        let readback = || {
            model.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("totals_readback"),
                size: 16,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        Ok(Trainer { model, graph, readbacks: [readback(), readback()] })
    }

    /// A feed of `rows` of `data` into this graph.
    fn feed(&self, data: Arc<DeviceData>, rows: &[u32]) -> Result<Feed> {
        Feed::new(self.model, &self.graph, data, rows)
    }

    /// Records `steps` repetitions of `lists` in order into one compute pass.
    fn record(&self, encoder: &mut wgpu::CommandEncoder, lists: &[&[Dispatch]], steps: usize) {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for _ in 0..steps {
            for d in lists.iter().flat_map(|l| l.iter()) {
                d.record(&mut pass);
            }
        }
    }

    /// Submits `encoder` with a copy of the loss totals into readback buffer `slot`.
    fn submit_with_totals(&self, mut encoder: wgpu::CommandEncoder, slot: usize) -> wgpu::SubmissionIndex {
        encoder.copy_buffer_to_buffer(self.graph.loss.totals.buffer(), 0, &self.readbacks[slot], 0, 12);
        self.model.gpu.queue.submit([encoder.finish()])
    }

    /// Waits for `submission` and returns the mean loss and accuracy it left in `slot`.
    async fn read_totals(&self, slot: usize, submission: wgpu::SubmissionIndex) -> Result<Metrics> {
        let t: Vec<f32> = self.model.gpu.read_mapped_async(&self.readbacks[slot], Some(submission)).await?;
        let rows = f64::from(t[2]).max(1.0);
        Ok(Metrics { loss: f64::from(t[0]) / rows, accuracy: f64::from(t[1]) / rows })
    }

    fn new_encoder(&self) -> wgpu::CommandEncoder {
        self.model.gpu.device.create_command_encoder(&Default::default())
    }

    /// One pass over `order` (rows of the dataset behind `rows`): training steps when `train`,
    /// else inference. The loss totals start at zero and are read back about
    /// `UPDATES_PER_EPOCH` times; `on_update(steps done, metrics so far)` sees each readback.
    async fn pass(
        &self,
        rows: &Rows<'_>,
        order: &[u32],
        train: bool,
        on_update: &mut dyn FnMut(usize, Metrics) -> Result<()>,
    ) -> Result<Metrics> {
        let (gpu, net) = (&self.model.gpu, &self.graph);
        let chunk = order.len().div_ceil(net.batch).div_ceil(UPDATES_PER_EPOCH).clamp(1, MAX_CHUNK);
        let segment_rows = match rows {
            Rows::Resident(_) => order.len(),
            Rows::Streamed { window_rows, .. } => *window_rows,
        };
        let mut encoder = self.new_encoder();
        encoder.clear_buffer(net.loss.totals.buffer(), 0, None);
        let (mut done, mut metrics) = (0, Metrics { loss: 0.0, accuracy: 0.0 });
        // Each chunk's totals are read while the next chunk runs: the host records and
        // submits chunk i + 1 before it waits for chunk i, so the GPU never idles on a readback
        // (and a segment's rows are prepared while the previous segment trains).
        let mut in_flight: Option<(usize, usize, wgpu::SubmissionIndex)> = None;
        let mut slot = 0;
        for segment in order.chunks(segment_rows) {
            let streamed_feed;
            let feed = match rows {
                Rows::Resident(feed) => {
                    gpu.write(&feed.indices, segment);
                    feed
                }
                Rows::Streamed { data, window, window_rows, full } => {
                    window.fill(gpu, &data.select(segment));
                    if segment.len() == *window_rows {
                        full
                    } else {
                        streamed_feed = self.feed(window.clone(), &identity(segment.len()))?;
                        &streamed_feed
                    }
                }
            };
            encoder.clear_buffer(feed.cursor.buffer(), 0, None);
            let lists = step_lists(net, feed, train);
            let steps = feed.steps(net.batch);
            let mut segment_done = 0;
            while segment_done < steps {
                let n = chunk.min(steps - segment_done);
                self.record(&mut encoder, &lists, n);
                let submitted = self.submit_with_totals(encoder, slot);
                encoder = self.new_encoder();
                (segment_done, done) = (segment_done + n, done + n);
                if let Some((at, previous, index)) = in_flight.replace((done, slot, submitted)) {
                    metrics = self.read_totals(previous, index).await?;
                    on_update(at, metrics)?;
                }
                slot ^= 1;
            }
        }
        if let Some((at, previous, index)) = in_flight {
            metrics = self.read_totals(previous, index).await?;
            on_update(at, metrics)?;
        }
        Ok(metrics)
    }

    /// The storage the model's parameters, gradients and optimizer state take, and the graph's.
    fn memory(&self) -> MemoryReport {
        let size = |t: &crate::gpu::Tensor| t.buffer().size();
        let arenas = &self.model.arenas;
        MemoryReport {
            parameters: arenas.iter().map(|a| size(&a.values)).sum::<u64>()
                + self.model.state.iter().flatten().map(|s| size(&s.value)).sum::<u64>()
                + [Some(&self.model.step), Some(&self.model.rate), self.model.schedule.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(size)
                    .sum::<u64>(),
            gradients: arenas.iter().map(|a| size(&a.grads)).sum(),
            optimizer_state: arenas.iter().flat_map(|a| a.state.iter().map(size)).sum(),
            activations: self.graph.bytes,
            dataset: 0,
        }
    }
}

impl Model {
    /// Trains on `data`, as Keras's `fit`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn fit(&mut self, data: &Dataset, opts: &FitOptions) -> Result<History> {
        self.fit_with(data, opts, &mut |_, _| Ok(()))
    }

    /// `fit`, calling `on_epoch` with the model and the epoch's log after every epoch (to save
    /// checkpoints, say); an error from it stops training.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn fit_with(
        &mut self,
        data: &Dataset,
        opts: &FitOptions,
        on_epoch: &mut dyn FnMut(&Model, &EpochLog) -> Result<()>,
    ) -> Result<History> {
        pollster::block_on(self.fit_async(data, opts, &mut |_| {}, on_epoch))
    }

    /// `fit_with`, awaited (the only way in a browser), calling `on_progress` at each of the
    /// epoch's progress readbacks as well.
    pub async fn fit_async(
        &mut self,
        data: &Dataset,
        opts: &FitOptions<'_>,
        on_progress: &mut dyn FnMut(&EpochProgress),
        on_epoch: &mut dyn FnMut(&Model, &EpochLog) -> Result<()>,
    ) -> Result<History> {
        check_counts(opts.batch_size, opts.epochs)?;
        if opts.initial_epoch >= opts.epochs {
            return Err(Error::Invalid(format!(
                "initial epoch {} leaves nothing to train for {} epochs",
                opts.initial_epoch, opts.epochs
            )));
        }
        feed::check(self, data)?;
        let mut plateau = match opts.reduce_lr {
            Some(cfg) => {
                cfg.check(self.compile.optimizer.lr())?;
                Some(Plateau::new(cfg, opts.reduce_lr_state))
            }
            None => None,
        };
        let (train_rows, val_rows): (Vec<u32>, Vec<u32>) = match opts.validation {
            Validation::Split(f) => {
                if !(0.0..1.0).contains(&f) {
                    return Err(Error::Invalid(format!("validation split {f} must be in [0, 1)")));
                }
                let n_val = (data.len() as f64 * f64::from(f)).floor() as usize;
                let cut = (data.len() - n_val) as u32;
                ((0..cut).collect(), (cut..data.len() as u32).collect())
            }
            _ => ((0..data.len() as u32).collect(), Vec::new()),
        };
        if train_rows.is_empty() {
            return Err(Error::Invalid("no training samples left after the validation split".into()));
        }
        if opts.batch_size > train_rows.len() {
            return Err(Error::Invalid(format!(
                "batch size {} is larger than the {} training samples",
                opts.batch_size,
                train_rows.len()
            )));
        }
        let mut seen = vec![data];
        if let Validation::Data(v) = opts.validation {
            feed::check(self, v)?;
            seen.push(v);
        }
        let trainer = Trainer::new(self, opts.batch_size, &seen)?;
        let budget = opts.max_resident_bytes.unwrap_or_else(|| self.gpu.largest_binding());
        let train = Rows::new(&trainer, data, &train_rows, budget)?;
        let (val, val_bytes) = match opts.validation {
            Validation::Data(v) => {
                let rows: Vec<u32> = (0..v.len() as u32).collect();
                let val = Rows::new(&trainer, v, &rows, budget)?;
                let bytes = val.bytes(false);
                (Some((val, rows)), bytes)
            }
            _ if !val_rows.is_empty() => {
                let val = train.share(&trainer, &val_rows)?;
                let bytes = val.bytes(true);
                (Some((val, val_rows)), bytes)
            }
            _ => (None, 0),
        };
        let memory = MemoryReport { dataset: train.bytes(false) + val_bytes, ..trainer.memory() };
        if opts.verbose {
            let streamed = if train.is_streamed() { " (streamed: the data exceeds one buffer)" } else { "" };
            crate::console::line(&format!("{memory}{streamed}"));
        }

        let steps = train_rows.len().div_ceil(opts.batch_size);
        let mut history = History { memory, ..History::default() };
        let mut best = opts.best;
        for epoch in opts.initial_epoch + 1..=opts.epochs {
            let started = Instant::now();
            let mut order = train_rows.clone();
            if opts.shuffle {
                // The order depends on the seed and the epoch only, so a resumed run sees the same.
                order.shuffle(&mut StdRng::seed_from_u64(
                    self.compile.seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                ));
            }
            let progress = Progress::start(opts.verbose, epoch, opts.epochs, steps);
            let metrics = trainer
                .pass(&train, &order, true, &mut |done, m| {
                    if !m.loss.is_finite() {
                        return Err(Error::Diverged { epoch, step: done, loss: m.loss });
                    }
                    progress.update(done, m.loss, m.accuracy);
                    on_progress(&EpochProgress { epoch, epochs: opts.epochs, step: done, steps, metrics: m });
                    Ok(())
                })
                .await?;
            let train_seconds = started.elapsed().as_secs_f64();
            let val_metrics = match &val {
                Some((rows, order)) => Some(trainer.pass(rows, order, false, &mut |_, _| Ok(())).await?),
                None => None,
            };
            let mut log = EpochLog {
                epoch,
                loss: metrics.loss,
                accuracy: metrics.accuracy,
                val: val_metrics,
                seconds: started.elapsed().as_secs_f64(),
                samples_per_second: train_rows.len() as f64 / train_seconds,
                learning_rate: self.learning_rate_async().await?,
                best,
                plateau: None,
            };
            best = best.after(log.monitored_loss());
            log.best = best;
            progress.finish(&log);
            // Before on_epoch, so a checkpoint saved there holds the rate the next epoch uses.
            if let Some(p) = plateau.as_mut() {
                if let Some(lower) = p.after(log.monitored_loss(), log.learning_rate as f32) {
                    self.set_learning_rate(lower)?;
                    if opts.verbose {
                        crate::console::line(&format!(
                            "epoch {epoch}: ReduceLROnPlateau reducing learning rate to {lower:e}"
                        ));
                    }
                }
                log.plateau = Some(p.state);
            }
            on_epoch(self, &log)?;
            history.epochs.push(log);
            // As Keras's EarlyStopping: only an epoch without improvement stops, patience 0 included.
            let waited = best.epochs_since > 0 && opts.patience.is_some_and(|p| best.epochs_since >= p);
            if waited && epoch < opts.epochs {
                if opts.verbose {
                    let (loss, waited) = (best.loss, best.epochs_since);
                    crate::console::line(&format!("early stopping: no improvement on {loss:.4} for {waited} epochs"));
                }
                history.stopped_early = true;
                break;
            }
        }
        Ok(history)
    }

    /// Times every dispatch of one training step on `data` with `time` (seconds for a list of
    /// dispatches run back to back), and the whole step: what a step's time goes to.
    pub fn profile_step(
        &mut self,
        data: &Dataset,
        batch_size: usize,
        time: &mut dyn FnMut(&[&Dispatch]) -> Result<f64>,
    ) -> Result<StepProfile> {
        check_batch(batch_size)?;
        feed::check(self, data)?;
        let trainer = Trainer::new(self, batch_size, &[data])?;
        let rows: Vec<u32> = (0..data.len() as u32).collect();
        let Rows::Resident(feed) = Rows::new(&trainer, data, &rows, self.gpu.largest_binding())? else {
            return Err(Error::Invalid("profiling needs a dataset that fits on the device".into()));
        };
        let step: Vec<&Dispatch> = step_lists(&trainer.graph, &feed, true).into_iter().flatten().collect();
        let mut kernels = Vec::new();
        for d in &step {
            kernels.push((d.entry(), time(&[d])?));
        }
        // Steps are recorded many to a pass in training: time a run of them, not one alone.
        const STEPS: usize = 16;
        let run: Vec<&Dispatch> = step.iter().copied().cycle().take(STEPS * step.len()).collect();
        Ok(StepProfile { kernels, step: time(&run)? / STEPS as f64 })
    }

    /// One training step on every row of `batch` as one batch, as Keras's `train_on_batch`: the
    /// batch's loss and accuracy (from the forward pass, before the update; a kernel
    /// regularizer's penalty included), the optimizer stepped once. Each call builds the graph
    /// for its batch size (pipelines stay cached); `fit` records a whole epoch at once.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn train_on_batch(&mut self, batch: &Dataset) -> Result<Metrics> {
        pollster::block_on(self.train_on_batch_async(batch))
    }

    /// `train_on_batch`, awaited.
    pub async fn train_on_batch_async(&mut self, batch: &Dataset) -> Result<Metrics> {
        self.on_batch(batch, true).await
    }

    /// The loss and accuracy of every row of `batch` as one batch in inference mode, as Keras's
    /// `test_on_batch`; nothing changes.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn test_on_batch(&mut self, batch: &Dataset) -> Result<Metrics> {
        pollster::block_on(self.on_batch(batch, false))
    }

    async fn on_batch(&mut self, batch: &Dataset, train: bool) -> Result<Metrics> {
        if batch.is_empty() {
            return Err(Error::Invalid("an empty batch".into()));
        }
        feed::check(self, batch)?;
        let trainer = Trainer::new(self, batch.len(), &[batch])?;
        let order: Vec<u32> = (0..batch.len() as u32).collect();
        let rows = Rows::new(&trainer, batch, &order, self.gpu.largest_binding())?;
        trainer.pass(&rows, &order, train, &mut |_, _| Ok(())).await
    }

    /// Mean loss and accuracy over `data`, as Keras's `evaluate`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn evaluate(&mut self, data: &Dataset, batch_size: usize) -> Result<Metrics> {
        pollster::block_on(self.evaluate_async(data, batch_size))
    }

    /// `evaluate`, awaited.
    pub async fn evaluate_async(&mut self, data: &Dataset, batch_size: usize) -> Result<Metrics> {
        check_batch(batch_size)?;
        if data.is_empty() {
            return Err(Error::Invalid("nothing to evaluate: the dataset is empty".into()));
        }
        // A batch larger than the data would only size buffers for rows that never come.
        let batch_size = batch_size.min(data.len());
        feed::check(self, data)?;
        let trainer = Trainer::new(self, batch_size, &[data])?;
        let order: Vec<u32> = (0..data.len() as u32).collect();
        let rows = Rows::new(&trainer, data, &order, self.gpu.largest_binding())?;
        trainer.pass(&rows, &order, false, &mut |_, _| Ok(())).await
    }

    /// The model's outputs for every sample of `data`, [len, outputs] row-major; a softmax or
    /// sigmoid output layer gives probabilities.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn predict(&mut self, data: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
        pollster::block_on(self.predict_async(data, batch_size))
    }

    /// `predict`, awaited.
    pub async fn predict_async(&mut self, data: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
        check_batch(batch_size)?;
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let batch_size = batch_size.min(data.len());
        feed::check(self, data)?;
        let trainer = Trainer::new(self, batch_size, &[data])?;
        let gpu = &self.gpu;
        let device_data = Arc::new(DeviceData::upload(gpu, data)?);
        let feed = trainer.feed(device_data, &(0..data.len() as u32).collect::<Vec<_>>())?;
        let net = &trainer.graph;
        let row_bytes = (net.output().len() / net.batch * 4) as u64;
        let out = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("predictions"),
            size: row_bytes * data.len() as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = trainer.new_encoder();
        encoder.clear_buffer(feed.cursor.buffer(), 0, None);
        let head: Vec<&Dispatch> = net.head_output.iter().map(|(_, d)| d).collect();
        for step in 0..feed.steps(net.batch) {
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                let gather = std::iter::once(&feed.gather);
                let advance = std::iter::once(&feed.advance);
                for d in gather.chain(&net.forward_infer).chain(head.iter().copied()).chain(advance) {
                    d.record(&mut pass);
                }
            }
            let rows = net.batch.min(data.len() - step * net.batch) as u64;
            let offset = (step * net.batch) as u64 * row_bytes;
            encoder.copy_buffer_to_buffer(net.output().buffer(), 0, &out, offset, rows * row_bytes);
        }
        gpu.queue.submit([encoder.finish()]);
        gpu.read_mapped_async(&out, None).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_written_as_keras_writes_them() {
        let written = [0.25, 0.001, 6.62346e-4, 1e-7, 0.0].map(super::keras_value);
        assert_eq!(written, ["0.2500", "1.0000e-03", "6.6235e-04", "1.0000e-07", "0.0000e+00"]);
    }
}
