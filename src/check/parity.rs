//! Whole training steps of the seed models on the GPU against the f64 CPU reference
//! (`nn::reference`): the same batches, every parameter tensor compared.

use std::sync::Arc;

use rand::RngExt;

use super::{Check, CheckResult, Checker, Failure, PARITY_TOLERANCE};
use crate::Gpu;
use crate::data::{Dataset, Features, Labels, unorm8};
use crate::nn::reference::Reference;
use crate::nn::{Compile, LossKind, Model, Optimizer, Sequential};
use crate::presets::{self, Preset};
use crate::train::FitOptions;

pub const CHECKS: &[Check] = &[
    Check::new("training step", "mlp adam", |c| Box::pin(seed(c, presets::mlp(), 32))),
    Check::new("training step", "mlp sgd", |c| Box::pin(seed(c, presets::mlp_sgd(), 64))),
    Check::new("training step", "cnn adam", |c| Box::pin(seed(c, presets::cnn([28, 28, 1]), 16))),
    Check::new("training step", "binary classifier adam", |c| Box::pin(binary(c))),
];

const STEPS: usize = 3;

/// Random u8 images (as the IDX loaders give them) with random classes.
fn images(ck: &Checker, shape: &[usize], n: usize, classes: usize) -> Result<Dataset, Failure> {
    let mut rng = ck.rng(80);
    let per: usize = shape.iter().product();
    let pixels = (0..n * per).map(|_| rng.random()).collect();
    let labels = (0..n).map(|_| rng.random_range(0..classes as u8)).collect();
    Ok(Dataset::new(shape.to_vec(), Features::U8(pixels), Labels::Classes { values: labels, classes })?)
}

/// A seed model with its optimizer, on random images.
async fn seed(ck: &mut Checker<'_>, preset: Preset, batch: usize) -> CheckResult {
    let data = images(ck, &preset.model.input_shape, batch * STEPS, 10)?;
    let Compile { optimizer, loss, .. } = preset.compile;
    let err = step_parity_async(ck.gpu, preset.model, optimizer, loss, &data, batch, STEPS).await?;
    ck.record(err);
    Ok(())
}

/// The binary classifier (100-64-32-1 sigmoid, binary cross-entropy) on f32 features.
async fn binary(ck: &mut Checker<'_>) -> CheckResult {
    let Preset { model, compile, .. } = presets::binary();
    let (x, y) = crate::data::synthetic::binary(32 * STEPS, 100, 81);
    let data = Dataset::new(vec![100], Features::F32(x), Labels::Targets { values: y, width: 1 })?;
    let err = step_parity_async(ck.gpu, model, compile.optimizer, compile.loss, &data, 32, STEPS).await?;
    ck.record(err);
    Ok(())
}

/// Inputs as the GPU reads them (u8 as `unorm8`) and one-hot or float targets, for batch `b`:
/// what the CPU reference trains on.
pub fn batch_f64(data: &Dataset, b: usize, batch: usize, width: usize) -> (Vec<f64>, Vec<f64>) {
    let per = data.sample_len();
    let rows = b * batch..(b + 1) * batch;
    let x = match &data.features {
        Features::U8(v) => v[rows.start * per..rows.end * per].iter().map(|&p| f64::from(unorm8(p))).collect(),
        Features::F32(v) => v[rows.start * per..rows.end * per].iter().map(|&p| f64::from(p)).collect(),
    };
    let t = match &data.labels {
        Labels::Classes { values, .. } => values[rows]
            .iter()
            .flat_map(|&c| (0..width).map(move |j| f64::from(u8::from(j == usize::from(c)))))
            .collect(),
        Labels::Targets { values, .. } => {
            values[rows.start * width..rows.end * width].iter().map(|&v| f64::from(v)).collect()
        }
    };
    (x, t)
}

/// Trains `steps` batches of `data` on the GPU (no shuffling) and the same batches on the CPU
/// reference; returns the largest normwise error over the parameter tensors, or a failure
/// naming the first tensor past `PARITY_TOLERANCE`.
#[cfg(not(target_arch = "wasm32"))]
pub fn step_parity(
    gpu: &Arc<Gpu>,
    spec: Sequential,
    optimizer: Optimizer,
    loss: LossKind,
    data: &Dataset,
    batch: usize,
    steps: usize,
) -> Result<f64, Failure> {
    pollster::block_on(step_parity_async(gpu, spec, optimizer, loss, data, batch, steps))
}

/// `step_parity`, awaited.
pub async fn step_parity_async(
    gpu: &Arc<Gpu>,
    spec: Sequential,
    optimizer: Optimizer,
    loss: LossKind,
    data: &Dataset,
    batch: usize,
    steps: usize,
) -> Result<f64, Failure> {
    let mut model = Model::new(gpu.clone(), spec.clone(), Compile { optimizer, loss, seed: 3 })?;
    let mut reference = Reference::new_async(&model).await?;
    let data = data.take(batch * steps);
    let opts = FitOptions { batch_size: batch, epochs: 1, shuffle: false, ..FitOptions::default() };
    model.fit_async(&data, &opts, &mut |_| {}, &mut |_, _| Ok(())).await?;
    let width = spec.output_width()?;
    for b in 0..steps {
        let (x, t) = batch_f64(&data, b, batch, width);
        reference.train_step(&x, &t, batch);
    }
    let iterations = model.iterations_async().await?;
    if iterations != steps as u32 {
        return Err(Failure(format!("{iterations} steps counted on the GPU, not {steps}")));
    }
    let mut worst = 0.0f64;
    for (i, (got, want)) in model.weights_async().await?.iter().zip(reference.weights()).enumerate() {
        let diff: f64 = got.iter().zip(want).map(|(&g, &w)| (f64::from(g) - w).powi(2)).sum::<f64>().sqrt();
        let norm: f64 = want.iter().map(|w| w * w).sum::<f64>().sqrt();
        let err = diff / norm.max(f64::MIN_POSITIVE);
        if err.is_nan() || err > PARITY_TOLERANCE {
            return Err(Failure(format!("parameter tensor {i}: normwise error {err:.2e}")));
        }
        worst = worst.max(err);
    }
    Ok(worst)
}
