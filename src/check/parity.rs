//! Whole training steps of the seed models on the GPU against the f64 CPU reference
//! (`nn::reference`): the same batches, every parameter tensor compared.

use std::sync::Arc;

use rand::RngExt;

use super::{Check, CheckResult, Checker, Failure, PARITY_TOLERANCE};
use crate::Gpu;
use crate::data::{Dataset, Features, Labels, unorm8};
use crate::nn::reference::Reference;
use crate::nn::{Act, Compile, Layer, LossKind, Model, Optimizer, Sequential};
use crate::ops::optim::{Adam, Sgd};
use crate::train::FitOptions;

pub const CHECKS: &[Check] = &[
    Check::new("training step", "mlp adam", |c| seed(c, mlp(128), adam(), 32)),
    Check::new("training step", "mlp sgd", |c| seed(c, mlp_sgd(), Optimizer::Sgd(Sgd::default()), 64)),
    Check::new("training step", "cnn adam", |c| seed(c, cnn(), adam(), 16)),
    Check::new("training step", "binary classifier adam", binary),
];

fn adam() -> Optimizer {
    Optimizer::Adam(Adam::default())
}

/// The seed MLP (784-units-10, relu then softmax).
fn mlp(units: usize) -> Sequential {
    Sequential::new(&[28, 28, 1])
        .add(Layer::Flatten)
        .add(Layer::dense(units, Act::Relu))
        .add(Layer::dense(10, Act::Softmax))
}

fn mlp_sgd() -> Sequential {
    Sequential::new(&[784])
        .add(Layer::dense(512, Act::Relu))
        .add(Layer::dense(512, Act::Relu))
        .add(Layer::dense(10, Act::Softmax))
}

fn cnn() -> Sequential {
    Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(32, (3, 3), Act::Relu))
        .add(Layer::max_pool((2, 2)))
        .add(Layer::Flatten)
        .add(Layer::dense(128, Act::Relu))
        .add(Layer::dense(10, Act::Softmax))
}

const STEPS: usize = 3;

/// Random u8 images (as the IDX loaders give them) with random classes.
fn images(ck: &Checker, shape: &[usize], n: usize, classes: usize) -> Result<Dataset, Failure> {
    let mut rng = ck.rng(80);
    let per: usize = shape.iter().product();
    let pixels = (0..n * per).map(|_| rng.random()).collect();
    let labels = (0..n).map(|_| rng.random_range(0..classes as u8)).collect();
    Ok(Dataset::new(shape.to_vec(), Features::U8(pixels), Labels::Classes { values: labels, classes })?)
}

fn seed(ck: &mut Checker, spec: Sequential, optimizer: Optimizer, batch: usize) -> CheckResult {
    let shape = spec.input_shape.clone();
    let data = images(ck, &shape, batch * STEPS, 10)?;
    let err = step_parity(ck.gpu, spec, optimizer, LossKind::CategoricalCrossentropy, &data, batch, STEPS)?;
    ck.record(err);
    Ok(())
}

/// The binary classifier (100-64-32-1 sigmoid, binary cross-entropy) on f32 features.
fn binary(ck: &mut Checker) -> CheckResult {
    let spec = Sequential::new(&[100])
        .add(Layer::dense(64, Act::Relu))
        .add(Layer::dense(32, Act::Relu))
        .add(Layer::dense(1, Act::Sigmoid));
    let (x, y) = crate::data::synthetic::binary(32 * STEPS, 100, 81);
    let data = Dataset::new(vec![100], Features::F32(x), Labels::Targets { values: y, width: 1 })?;
    let err = step_parity(ck.gpu, spec, adam(), LossKind::BinaryCrossentropy, &data, 32, STEPS)?;
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
pub fn step_parity(
    gpu: &Arc<Gpu>,
    spec: Sequential,
    optimizer: Optimizer,
    loss: LossKind,
    data: &Dataset,
    batch: usize,
    steps: usize,
) -> Result<f64, Failure> {
    let mut model = Model::new(gpu.clone(), spec.clone(), Compile { optimizer, loss, seed: 3 })?;
    let mut reference = Reference::new(&model)?;
    let data = data.take(batch * steps);
    let opts = FitOptions { batch_size: batch, epochs: 1, shuffle: false, ..FitOptions::default() };
    model.fit(&data, &opts)?;
    let width = spec.output_width()?;
    for b in 0..steps {
        let (x, t) = batch_f64(&data, b, batch, width);
        reference.train_step(&x, &t, batch);
    }
    let iterations = model.iterations()?;
    if iterations != steps as u32 {
        return Err(Failure(format!("{iterations} steps counted on the GPU, not {steps}")));
    }
    let mut worst = 0.0f64;
    for (i, (got, want)) in model.weights()?.iter().zip(reference.weights()).enumerate() {
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
