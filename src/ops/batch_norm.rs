//! Batch normalization over the last axis: `shaders/batch_norm.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::{Activation, grid_for};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

/// x viewed as [rows, c], normalised per channel over the rows of the batch's valid samples,
/// `per_sample` rows each (1 after a Dense layer, h·w after a Conv2D one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormShape {
    pub rows: usize,
    pub c: usize,
    pub per_sample: usize,
    pub epsilon: f32,
    /// The moving statistics' decay per step (Keras's `momentum`).
    pub momentum: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    c: u32,
    epsilon: f32,
    momentum: f32,
    per_sample: u32,
    act: u32,
}

impl BatchNormShape {
    fn params(&self) -> Params {
        assert!(self.per_sample > 0 && self.rows.is_multiple_of(self.per_sample), "batch_norm: {self:?}");
        Params {
            rows: self.rows as u32,
            c: self.c as u32,
            epsilon: self.epsilon,
            momentum: self.momentum,
            per_sample: self.per_sample as u32,
            act: 0,
        }
    }

    /// The params of a normalisation followed by `act`, which must be differentiated through
    /// its output: the backward passes take the gradient before it, made from y.
    fn params_activated(&self, act: Activation) -> Params {
        assert!(act.from_output(), "batch_norm: {act:?} is not differentiated through its output");
        Params { act: act.code(), ..self.params() }
    }

    fn len(&self) -> usize {
        self.rows * self.c
    }
}

fn kernel(entry: &'static str) -> Kernel {
    Kernel::new(Shader::BatchNorm, entry)
}

/// Whether the pass takes four channels at a time (the *4 kernels, vec4 views).
fn by_four(shape: &BatchNormShape) -> bool {
    shape.c.is_multiple_of(4)
}

/// The batch's per-channel statistics into `stats` ([mean, 1/sqrt(var + ε)], [2, c]), and the
/// moving mean and variance moved towards them; over the samples `batch_rows` (u32) counts.
pub fn stats(
    gpu: &Gpu,
    shape: &BatchNormShape,
    x: &Tensor,
    batch_rows: &Tensor,
    stats: &Tensor,
    [moving_mean, moving_var]: [&Tensor; 2],
) -> Result<Dispatch> {
    assert!(x.len() == shape.len() && stats.len() == 2 * shape.c, "batch_norm stats: shapes differ from {shape:?}");
    if by_four(shape) {
        let tensors = [(13, x), (5, stats), (6, moving_mean), (7, moving_var), (12, batch_rows)];
        return gpu.dispatch(&kernel("batch_norm_stats4"), &shape.params(), &tensors, gpu.grid(shape.c as u64 / 4)?);
    }
    let tensors = [(1, x), (5, stats), (6, moving_mean), (7, moving_var), (12, batch_rows)];
    gpu.dispatch(&kernel("batch_norm_stats"), &shape.params(), &tensors, gpu.grid(shape.c as u64)?)
}

/// y = act((x - mean)·invstd·gamma + beta) with the batch's `stats` (training).
pub fn forward(
    gpu: &Gpu,
    shape: &BatchNormShape,
    act: Activation,
    x: &Tensor,
    [gamma, beta]: [&Tensor; 2],
    stats: &Tensor,
    y: &Tensor,
) -> Result<Dispatch> {
    assert!(x.len() == shape.len() && y.len() == shape.len(), "batch_norm forward: shapes differ from {shape:?}");
    if by_four(shape) {
        let tensors = [(13, x), (14, y), (18, gamma), (19, beta), (17, stats)];
        let grid = grid_for(gpu, shape.len() / 4)?;
        return gpu.dispatch(&kernel("batch_norm_forward4"), &shape.params_activated(act), &tensors, grid);
    }
    let tensors = [(1, x), (2, y), (3, gamma), (4, beta), (5, stats)];
    gpu.dispatch(&kernel("batch_norm_forward"), &shape.params_activated(act), &tensors, grid_for(gpu, shape.len())?)
}

/// y = act((x - moving_mean) / sqrt(moving_var + ε)·gamma + beta) (inference).
pub fn infer(
    gpu: &Gpu,
    shape: &BatchNormShape,
    act: Activation,
    x: &Tensor,
    [gamma, beta]: [&Tensor; 2],
    [moving_mean, moving_var]: [&Tensor; 2],
    y: &Tensor,
) -> Result<Dispatch> {
    assert!(x.len() == shape.len() && y.len() == shape.len(), "batch_norm infer: shapes differ from {shape:?}");
    let tensors = [(1, x), (2, y), (3, gamma), (4, beta), (6, moving_mean), (7, moving_var)];
    gpu.dispatch(&kernel("batch_norm_infer"), &shape.params_activated(act), &tensors, grid_for(gpu, shape.len())?)
}

/// dgamma = Σ dy·x̂ and dbeta = Σ dy per channel over the counted samples, overwritten.
#[allow(clippy::too_many_arguments)] // the pass's tensors, each its own binding
pub fn backward_params(
    gpu: &Gpu,
    shape: &BatchNormShape,
    x: &Tensor,
    batch_rows: &Tensor,
    dy: &Tensor,
    stats: &Tensor,
    [dgamma, dbeta]: [&Tensor; 2],
) -> Result<Dispatch> {
    assert!(dy.len() == shape.len() && dgamma.len() == shape.c, "batch_norm backward: shapes differ from {shape:?}");
    if by_four(shape) {
        let tensors = [(13, x), (17, stats), (15, dy), (10, dgamma), (11, dbeta), (12, batch_rows)];
        let grid = gpu.grid(shape.c as u64 / 4)?;
        return gpu.dispatch(&kernel("batch_norm_backward_params4"), &shape.params(), &tensors, grid);
    }
    let tensors = [(1, x), (5, stats), (8, dy), (10, dgamma), (11, dbeta), (12, batch_rows)];
    gpu.dispatch(&kernel("batch_norm_backward_params"), &shape.params(), &tensors, gpu.grid(shape.c as u64)?)
}

/// dx from dy, the batch's stats and the parameter gradients `backward_params` wrote; zero in
/// the rows of samples `batch_rows` does not count.
#[allow(clippy::too_many_arguments)]
pub fn backward_input(
    gpu: &Gpu,
    shape: &BatchNormShape,
    x: &Tensor,
    batch_rows: &Tensor,
    dy: &Tensor,
    gamma: &Tensor,
    stats: &Tensor,
    [dgamma, dbeta]: [&Tensor; 2],
    dx: &Tensor,
) -> Result<Dispatch> {
    assert!(dx.len() == shape.len(), "batch_norm backward input: dx has {} elements for {shape:?}", dx.len());
    if by_four(shape) {
        let tensors =
            [(13, x), (18, gamma), (17, stats), (15, dy), (16, dx), (20, dgamma), (21, dbeta), (12, batch_rows)];
        let grid = grid_for(gpu, shape.len() / 4)?;
        return gpu.dispatch(&kernel("batch_norm_backward_input4"), &shape.params(), &tensors, grid);
    }
    let tensors = [(1, x), (3, gamma), (5, stats), (8, dy), (9, dx), (10, dgamma), (11, dbeta), (12, batch_rows)];
    gpu.dispatch(&kernel("batch_norm_backward_input"), &shape.params(), &tensors, grid_for(gpu, shape.len())?)
}

pub mod cpu {
    use super::BatchNormShape;

    /// Per-channel mean and (biased) variance of x [rows, c], two-pass.
    pub fn moments(shape: &BatchNormShape, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (rows, c) = (shape.rows, shape.c);
        let mut mean = vec![0.0; c];
        for (i, v) in x.iter().enumerate() {
            mean[i % c] += v;
        }
        mean.iter_mut().for_each(|m| *m /= rows as f64);
        let mut var = vec![0.0; c];
        for (i, v) in x.iter().enumerate() {
            var[i % c] += (v - mean[i % c]).powi(2);
        }
        var.iter_mut().for_each(|v| *v /= rows as f64);
        (mean, var)
    }

    /// y = (x - mean) / sqrt(var + ε)·gamma + beta with the given statistics.
    pub fn normalize(
        shape: &BatchNormShape,
        x: &[f64],
        mean: &[f64],
        var: &[f64],
        gamma: &[f64],
        beta: &[f64],
    ) -> Vec<f64> {
        let eps = f64::from(shape.epsilon);
        x.iter()
            .enumerate()
            .map(|(i, v)| {
                let ch = i % shape.c;
                (v - mean[ch]) / (var[ch] + eps).sqrt() * gamma[ch] + beta[ch]
            })
            .collect()
    }

    /// The moving statistics after one training step on x.
    pub fn moved(shape: &BatchNormShape, x: &[f64], moving_mean: &[f64], moving_var: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (mean, var) = moments(shape, x);
        let m = f64::from(shape.momentum);
        let step =
            |moving: &[f64], batch: &[f64]| moving.iter().zip(batch).map(|(a, b)| a * m + b * (1.0 - m)).collect();
        (step(moving_mean, &mean), step(moving_var, &var))
    }

    /// (dx, dgamma, dbeta) of the training-mode forward pass (batch statistics).
    pub fn backward(shape: &BatchNormShape, x: &[f64], dy: &[f64], gamma: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (rows, c) = (shape.rows as f64, shape.c);
        let (mean, var) = moments(shape, x);
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + f64::from(shape.epsilon)).sqrt()).collect();
        let xhat = |i: usize| (x[i] - mean[i % c]) * invstd[i % c];
        let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
        for i in 0..x.len() {
            dbeta[i % c] += dy[i];
            dgamma[i % c] += dy[i] * xhat(i);
        }
        let dx = (0..x.len())
            .map(|i| {
                let ch = i % c;
                gamma[ch] * invstd[ch] / rows * (rows * dy[i] - dbeta[ch] - xhat(i) * dgamma[ch])
            })
            .collect();
        (dx, dgamma, dbeta)
    }
}
