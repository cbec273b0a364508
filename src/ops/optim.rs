//! Optimizer updates with Keras 3's rules and defaults: `shaders/optim.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::grid_for;
pub use super::schedule::LearningRate;
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

/// Stochastic gradient descent; Keras's defaults: lr 0.01, no momentum.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct Sgd {
    #[serde(alias = "learning_rate")]
    pub lr: LearningRate,
    pub momentum: f32,
    pub nesterov: bool,
    /// Decoupled: p -= lr · weight_decay · p before the update.
    pub weight_decay: f32,
}

impl Default for Sgd {
    fn default() -> Sgd {
        Sgd { lr: LearningRate::Constant(0.01), momentum: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

/// Adam; Keras's defaults: lr 1e-3, β1 0.9, β2 0.999, ε 1e-7. AdamW is Adam with a
/// (decoupled) weight decay, Keras's default for it being 0.004.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct Adam {
    #[serde(alias = "learning_rate")]
    pub lr: LearningRate,
    #[serde(alias = "beta_1")]
    pub beta1: f32,
    #[serde(alias = "beta_2")]
    pub beta2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
}

impl Default for Adam {
    fn default() -> Adam {
        Adam { lr: LearningRate::Constant(1e-3), beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weight_decay: 0.0 }
    }
}

impl Adam {
    pub fn adamw() -> Adam {
        Adam { weight_decay: 0.004, ..Adam::default() }
    }
}

/// RMSprop; Keras's defaults: lr 1e-3, ρ 0.9, no momentum, ε 1e-7, not centered.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct RmsProp {
    #[serde(alias = "learning_rate")]
    pub lr: LearningRate,
    pub rho: f32,
    pub momentum: f32,
    pub epsilon: f32,
    /// Divide by an estimate of the gradient's variance instead of its second moment.
    pub centered: bool,
    pub weight_decay: f32,
}

impl Default for RmsProp {
    fn default() -> RmsProp {
        RmsProp {
            lr: LearningRate::Constant(1e-3),
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
            weight_decay: 0.0,
        }
    }
}

/// Adagrad; Keras's defaults: lr 1e-3, initial accumulator value 0.1, ε 1e-7.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct Adagrad {
    #[serde(alias = "learning_rate")]
    pub lr: LearningRate,
    pub initial_accumulator_value: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
}

impl Default for Adagrad {
    fn default() -> Adagrad {
        Adagrad { lr: LearningRate::Constant(1e-3), initial_accumulator_value: 0.1, epsilon: 1e-7, weight_decay: 0.0 }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
struct Params {
    len: u32,
    weight_decay: f32,
    momentum: f32,
    nesterov: u32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    log2_beta1: f32,
    log2_beta2: f32,
    rho: f32,
    centered: u32,
}

/// One SGD update of `p` in place at the learning rate in `rate` (one f32; `schedule` writes
/// it); `velocity` is used when momentum is non-zero.
pub fn sgd(gpu: &Gpu, cfg: &Sgd, rate: &Tensor, p: &Tensor, g: &Tensor, velocity: &Tensor) -> Result<Dispatch> {
    assert!(p.len() == g.len() && g.len() == velocity.len(), "sgd: p, g, velocity lengths differ");
    let params = Params {
        len: p.len() as u32,
        weight_decay: cfg.weight_decay,
        momentum: cfg.momentum,
        nesterov: u32::from(cfg.nesterov),
        ..Params::default()
    };
    let (kernel, grid) = per_invocation(gpu, "optim_sgd", p.len())?;
    gpu.dispatch(&kernel, &params, &[(1, p), (2, g), (3, velocity), (7, rate)], grid)
}

/// One Adam update of `p` in place at the step held in `step` (u32, one element: this update's
/// number, 1 for the first; in training the step's loss dispatch counts it).
#[allow(clippy::too_many_arguments)] // the update's tensors, each its own binding
pub fn adam(
    gpu: &Gpu,
    cfg: &Adam,
    rate: &Tensor,
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    step: &Tensor,
) -> Result<Dispatch> {
    assert!(p.len() == g.len() && g.len() == m.len() && m.len() == v.len(), "adam: lengths differ");
    let params = Params {
        len: p.len() as u32,
        weight_decay: cfg.weight_decay,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        epsilon: cfg.epsilon,
        log2_beta1: cfg.beta1.log2(),
        log2_beta2: cfg.beta2.log2(),
        ..Params::default()
    };
    let (kernel, grid) = per_invocation(gpu, "optim_adam", p.len())?;
    gpu.dispatch(&kernel, &params, &[(1, p), (2, g), (4, m), (5, v), (6, step), (7, rate)], grid)
}

/// One RMSprop update of `p` in place. `momentum` is used when `cfg.momentum` > 0 and
/// `average_grad` when `cfg.centered`; either may be `velocity` itself when it is not used.
pub fn rmsprop(
    gpu: &Gpu,
    cfg: &RmsProp,
    rate: &Tensor,
    p: &Tensor,
    g: &Tensor,
    [velocity, momentum, average_grad]: [&Tensor; 3],
) -> Result<Dispatch> {
    // The slots its settings leave unused may be any buffer (a spare).
    let used =
        [Some(g), Some(velocity), (cfg.momentum > 0.0).then_some(momentum), cfg.centered.then_some(average_grad)];
    let lens = used.map(|t| t.map(Tensor::len));
    assert!(lens.iter().flatten().all(|&l| l == p.len()), "rmsprop: p has {} elements, the others {lens:?}", p.len());
    let params = Params {
        len: p.len() as u32,
        weight_decay: cfg.weight_decay,
        momentum: cfg.momentum,
        epsilon: cfg.epsilon,
        rho: cfg.rho,
        centered: u32::from(cfg.centered),
        ..Params::default()
    };
    let (kernel, grid) = per_invocation(gpu, "optim_rmsprop", p.len())?;
    gpu.dispatch(&kernel, &params, &[(1, p), (2, g), (3, velocity), (4, momentum), (5, average_grad), (7, rate)], grid)
}

/// One Adagrad update of `p` in place; `accumulator` starts at `cfg.initial_accumulator_value`.
pub fn adagrad(
    gpu: &Gpu,
    cfg: &Adagrad,
    rate: &Tensor,
    p: &Tensor,
    g: &Tensor,
    accumulator: &Tensor,
) -> Result<Dispatch> {
    assert!(p.len() == g.len() && g.len() == accumulator.len(), "adagrad: p, g, accumulator lengths differ");
    let params =
        Params { len: p.len() as u32, weight_decay: cfg.weight_decay, epsilon: cfg.epsilon, ..Params::default() };
    let (kernel, grid) = per_invocation(gpu, "optim_adagrad", p.len())?;
    gpu.dispatch(&kernel, &params, &[(1, p), (2, g), (3, accumulator), (7, rate)], grid)
}

/// An update kernel for `len` parameters and its grid: one vec4 of them per invocation on GPUs,
/// 8 consecutive ones on CPU adapters (optim.wgsl says why).
fn per_invocation(gpu: &Gpu, entry: &'static str, len: usize) -> Result<(Kernel, [u32; 3])> {
    let vecs = gpu.tuning.update_vecs;
    let kernel = Kernel::new(Shader::Optim, entry).constant("vecs", vecs as f64);
    Ok((kernel, grid_for(gpu, len.div_ceil(4 * vecs))?))
}

pub mod cpu {
    use super::{Adagrad, Adam, RmsProp, Sgd};

    /// Each update takes its learning rate `lr` (the schedule's, at this update).
    pub fn sgd(cfg: &Sgd, lr: f64, p: &mut [f64], g: &[f64], velocity: &mut [f64]) {
        let mom = cfg.momentum as f64;
        for i in 0..p.len() {
            let w = p[i] - lr * cfg.weight_decay as f64 * p[i];
            if cfg.momentum == 0.0 {
                p[i] = w - lr * g[i];
                continue;
            }
            velocity[i] = mom * velocity[i] - lr * g[i];
            p[i] = if cfg.nesterov { w + mom * velocity[i] - lr * g[i] } else { w + velocity[i] };
        }
    }

    /// `step` is the number of updates made before this one.
    pub fn adam(cfg: &Adam, lr: f64, p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], step: u32) {
        let (b1, b2) = (cfg.beta1 as f64, cfg.beta2 as f64);
        let t = f64::from(step + 1);
        let alpha = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
        for i in 0..p.len() {
            let w = p[i] - lr * cfg.weight_decay as f64 * p[i];
            m[i] += (g[i] - m[i]) * (1.0 - b1);
            v[i] += (g[i] * g[i] - v[i]) * (1.0 - b2);
            p[i] = w - alpha * m[i] / (v[i].sqrt() + cfg.epsilon as f64);
        }
    }

    /// `momentum` is used when `cfg.momentum` > 0, `average_grad` when `cfg.centered`.
    #[allow(clippy::too_many_arguments)] // the update's tensors, as the kernel's bindings
    pub fn rmsprop(
        cfg: &RmsProp,
        lr: f64,
        p: &mut [f64],
        g: &[f64],
        velocity: &mut [f64],
        momentum: &mut [f64],
        average_grad: &mut [f64],
    ) {
        let (rho, eps) = (cfg.rho as f64, cfg.epsilon as f64);
        for i in 0..p.len() {
            let w = p[i] - lr * cfg.weight_decay as f64 * p[i];
            velocity[i] = rho * velocity[i] + (1.0 - rho) * g[i] * g[i];
            let denominator = if cfg.centered {
                average_grad[i] = rho * average_grad[i] + (1.0 - rho) * g[i];
                velocity[i] - average_grad[i] * average_grad[i] + eps
            } else {
                velocity[i] + eps
            };
            let increment = lr * g[i] / denominator.sqrt();
            p[i] = if cfg.momentum > 0.0 {
                momentum[i] = cfg.momentum as f64 * momentum[i] + increment;
                w - momentum[i]
            } else {
                w - increment
            };
        }
    }

    /// `accumulator` starts at `cfg.initial_accumulator_value`.
    pub fn adagrad(cfg: &Adagrad, lr: f64, p: &mut [f64], g: &[f64], accumulator: &mut [f64]) {
        for i in 0..p.len() {
            let w = p[i] - lr * cfg.weight_decay as f64 * p[i];
            accumulator[i] += g[i] * g[i];
            p[i] = w - lr * g[i] / (accumulator[i] + cfg.epsilon as f64).sqrt();
        }
    }
}
