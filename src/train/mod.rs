//! fit / evaluate / predict. A training step is a fixed list of dispatches (gather, forward,
//! loss, backward, update); steps are recorded many to an encoder and submitted in chunks,
//! and the loss totals are read back once per chunk for the progress display.

mod feed;
mod progress;

use std::fmt;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::Dispatch;
use crate::nn::Model;
use feed::{DeviceData, Feed};
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
        write!(f, " - {:.0} samples/s", self.samples_per_second)
    }
}

/// Per-epoch metrics, as Keras's `History`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub epochs: Vec<EpochLog>,
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

impl Model {
    /// Records `steps` repetitions of `lists` in order into one compute pass.
    fn record(&self, encoder: &mut wgpu::CommandEncoder, lists: &[&[Dispatch]], steps: usize) {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        for _ in 0..steps {
            for d in lists.iter().flat_map(|l| l.iter()) {
                d.record(&mut pass);
            }
        }
    }

    /// Submits `encoder` with a copy of the loss totals, and returns (mean loss, accuracy, rows).
    fn submit_and_read_totals(&self, mut encoder: wgpu::CommandEncoder) -> Result<(f64, f64, f64)> {
        let net = self.net.as_ref().expect("network built");
        encoder.copy_buffer_to_buffer(net.loss.totals.buffer(), 0, &self.readback, 0, 12);
        self.gpu.queue.submit([encoder.finish()]);
        let t: Vec<f32> = self.gpu.read_mapped(&self.readback)?;
        let rows = f64::from(t[2]).max(1.0);
        Ok((f64::from(t[0]) / rows, f64::from(t[1]) / rows, f64::from(t[2])))
    }

    fn new_encoder(&self) -> wgpu::CommandEncoder {
        self.gpu.device.create_command_encoder(&Default::default())
    }

    /// Starts a pass over a feed: cursor and loss totals to zero.
    fn begin_pass(&self, encoder: &mut wgpu::CommandEncoder, feed: &Feed) {
        let net = self.net.as_ref().expect("network built");
        encoder.clear_buffer(feed.cursor.buffer(), 0, None);
        encoder.clear_buffer(net.loss.totals.buffer(), 0, None);
    }

    /// Loss and accuracy over one pass of `feed` in inference mode.
    fn evaluate_feed(&self, feed: &Feed) -> Result<Metrics> {
        let net = self.net.as_ref().expect("network built");
        let mut encoder = self.new_encoder();
        self.begin_pass(&mut encoder, feed);
        self.record(&mut encoder, &[&feed.next_batch, &net.forward_infer, &net.loss_step], feed.steps(net.batch));
        let (loss, accuracy, _) = self.submit_and_read_totals(encoder)?;
        Ok(Metrics { loss, accuracy })
    }

    /// Trains on `data`, as Keras's `fit`.
    pub fn fit(&mut self, data: &Dataset, opts: &FitOptions) -> Result<History> {
        self.fit_with(data, opts, &mut |_, _| Ok(()))
    }

    /// `fit`, calling `on_epoch` with the model and the epoch's log after every epoch (to save
    /// checkpoints, say); an error from it stops training.
    pub fn fit_with(
        &mut self,
        data: &Dataset,
        opts: &FitOptions,
        on_epoch: &mut dyn FnMut(&Model, &EpochLog) -> Result<()>,
    ) -> Result<History> {
        check_batch(opts.batch_size)?;
        if opts.epochs == 0 {
            return Err(Error::Invalid("epochs must be at least 1".into()));
        }
        if opts.initial_epoch >= opts.epochs {
            return Err(Error::Invalid(format!(
                "initial epoch {} leaves nothing to train for {} epochs",
                opts.initial_epoch, opts.epochs
            )));
        }
        feed::check(self, data)?;
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
        if let Validation::Data(v) = opts.validation {
            feed::check(self, v)?;
        }
        self.network(opts.batch_size)?;
        let gpu = self.gpu.clone();
        let device_data = DeviceData::upload(&gpu, data)?;
        let train = Feed::new(&gpu, self, &device_data, &train_rows)?;
        let val_data = match opts.validation {
            Validation::Data(v) => Some(DeviceData::upload(&gpu, v)?),
            _ => None,
        };
        let val = match (&val_data, val_rows.is_empty()) {
            (Some(v), _) => Some(Feed::new(&gpu, self, v, &(0..v.rows as u32).collect::<Vec<_>>())?),
            (None, false) => Some(Feed::new(&gpu, self, &device_data, &val_rows)?),
            (None, true) => None,
        };

        let net = self.net.as_ref().expect("network built");
        let steps = train.steps(net.batch);
        let chunk = steps.div_ceil(UPDATES_PER_EPOCH).clamp(1, MAX_CHUNK);
        let step_lists: [&[Dispatch]; 5] =
            [&train.next_batch, &net.forward_train, &net.loss_step, &net.backward, &net.update];
        let mut history = History::default();
        for epoch in opts.initial_epoch + 1..=opts.epochs {
            let started = Instant::now();
            if opts.shuffle {
                // The order depends on the seed and the epoch only, so a resumed run sees the same.
                let mut order = train_rows.clone();
                order.shuffle(&mut StdRng::seed_from_u64(
                    self.compile.seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                ));
                gpu.write(&train.indices, &order);
            }
            let progress = Progress::start(opts.verbose, epoch, opts.epochs, steps);
            let mut encoder = self.new_encoder();
            self.begin_pass(&mut encoder, &train);
            let (mut loss, mut accuracy) = (0.0, 0.0);
            let mut done = 0;
            while done < steps {
                let n = chunk.min(steps - done);
                self.record(&mut encoder, &step_lists, n);
                done += n;
                (loss, accuracy, _) = self.submit_and_read_totals(encoder)?;
                if !loss.is_finite() {
                    return Err(Error::Diverged { epoch, step: done, loss });
                }
                progress.update(done, loss, accuracy);
                encoder = self.new_encoder();
            }
            let train_seconds = started.elapsed().as_secs_f64();
            let val_metrics = val.as_ref().map(|v| self.evaluate_feed(v)).transpose()?;
            let log = EpochLog {
                epoch,
                loss,
                accuracy,
                val: val_metrics,
                seconds: started.elapsed().as_secs_f64(),
                samples_per_second: train.total as f64 / train_seconds,
            };
            progress.finish(&log);
            on_epoch(self, &log)?;
            history.epochs.push(log);
        }
        Ok(history)
    }

    /// Mean loss and accuracy over `data`, as Keras's `evaluate`.
    pub fn evaluate(&mut self, data: &Dataset, batch_size: usize) -> Result<Metrics> {
        check_batch(batch_size)?;
        feed::check(self, data)?;
        self.network(batch_size)?;
        let device_data = DeviceData::upload(&self.gpu, data)?;
        let feed = Feed::new(&self.gpu, self, &device_data, &(0..data.len() as u32).collect::<Vec<_>>())?;
        self.evaluate_feed(&feed)
    }

    /// The model's outputs for every sample of `data`, [len, outputs] row-major; a softmax or
    /// sigmoid output layer gives probabilities.
    pub fn predict(&mut self, data: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
        check_batch(batch_size)?;
        feed::check(self, data)?;
        self.network(batch_size)?;
        let gpu = self.gpu.clone();
        let device_data = DeviceData::upload(&gpu, data)?;
        let feed = Feed::new(&gpu, self, &device_data, &(0..data.len() as u32).collect::<Vec<_>>())?;
        let net = self.net.as_ref().expect("network built");
        let row_bytes = (net.output().len() / net.batch * 4) as u64;
        let out = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("predictions"),
            size: row_bytes * data.len() as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.new_encoder();
        self.begin_pass(&mut encoder, &feed);
        let head: Vec<&Dispatch> = net.head_output.iter().map(|(_, d)| d).collect();
        for step in 0..feed.steps(net.batch) {
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for d in feed.next_batch.iter().chain(&net.forward_infer).chain(head.iter().copied()) {
                    d.record(&mut pass);
                }
            }
            let rows = net.batch.min(data.len() - step * net.batch) as u64;
            let offset = (step * net.batch) as u64 * row_bytes;
            encoder.copy_buffer_to_buffer(net.output().buffer(), 0, &out, offset, rows * row_bytes);
        }
        gpu.queue.submit([encoder.finish()]);
        gpu.read_mapped(&out)
    }
}
