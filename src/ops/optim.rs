//! Optimizer updates with Keras 3's rules and defaults: `shaders/optim.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::grid_for;
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

/// Stochastic gradient descent; Keras's defaults: lr 0.01, no momentum.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
    /// Decoupled: p -= lr · weight_decay · p before the update.
    pub weight_decay: f32,
}

impl Default for Sgd {
    fn default() -> Sgd {
        Sgd { lr: 0.01, momentum: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

/// Adam; Keras's defaults: lr 1e-3, β1 0.9, β2 0.999, ε 1e-7. AdamW is Adam with a
/// (decoupled) weight decay, Keras's default for it being 0.004.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
}

impl Default for Adam {
    fn default() -> Adam {
        Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weight_decay: 0.0 }
    }
}

impl Adam {
    pub fn adamw() -> Adam {
        Adam { weight_decay: 0.004, ..Adam::default() }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default)]
struct Params {
    len: u32,
    lr: f32,
    weight_decay: f32,
    momentum: f32,
    nesterov: u32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    log2_beta1: f32,
    log2_beta2: f32,
}

/// One SGD update of `p` in place; `velocity` is used when momentum is non-zero.
pub fn sgd(gpu: &Gpu, cfg: &Sgd, p: &Tensor, g: &Tensor, velocity: &Tensor) -> Result<Dispatch> {
    assert!(p.len() == g.len() && g.len() == velocity.len(), "sgd: p, g, velocity lengths differ");
    let params = Params {
        len: p.len() as u32,
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        momentum: cfg.momentum,
        nesterov: u32::from(cfg.nesterov),
        ..Params::default()
    };
    let (kernel, grid) = per_invocation(gpu, "optim_sgd", p.len())?;
    gpu.dispatch(&kernel, &params, &[(1, p), (2, g), (3, velocity)], grid)
}

/// One Adam update of `p` in place at the step held in `step` (u32, one element: this update's
/// number, 1 for the first; in training the step's loss dispatch counts it).
pub fn adam(gpu: &Gpu, cfg: &Adam, p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, step: &Tensor) -> Result<Dispatch> {
    assert!(p.len() == g.len() && g.len() == m.len() && m.len() == v.len(), "adam: lengths differ");
    let params = Params {
        len: p.len() as u32,
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        epsilon: cfg.epsilon,
        log2_beta1: cfg.beta1.log2(),
        log2_beta2: cfg.beta2.log2(),
        ..Params::default()
    };
    let (kernel, grid) = per_invocation(gpu, "optim_adam", p.len())?;
    gpu.dispatch(&kernel, &params, &[(1, p), (2, g), (4, m), (5, v), (6, step)], grid)
}

/// An update kernel for `len` parameters and its grid: one vec4 of them per invocation on GPUs,
/// 8 consecutive ones on CPU adapters (optim.wgsl says why).
fn per_invocation(gpu: &Gpu, entry: &'static str, len: usize) -> Result<(Kernel, [u32; 3])> {
    let vecs = gpu.tuning.update_vecs;
    let kernel = Kernel::new(Shader::Optim, entry).constant("vecs", vecs as f64);
    Ok((kernel, grid_for(gpu, len.div_ceil(4 * vecs))?))
}

pub mod cpu {
    use super::{Adam, Sgd};

    pub fn sgd(cfg: &Sgd, p: &mut [f64], g: &[f64], velocity: &mut [f64]) {
        let (lr, mom) = (cfg.lr as f64, cfg.momentum as f64);
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
    pub fn adam(cfg: &Adam, p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], step: u32) {
        let (lr, b1, b2) = (cfg.lr as f64, cfg.beta1 as f64, cfg.beta2 as f64);
        let t = f64::from(step + 1);
        let alpha = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
        for i in 0..p.len() {
            let w = p[i] - lr * cfg.weight_decay as f64 * p[i];
            m[i] += (g[i] - m[i]) * (1.0 - b1);
            v[i] += (g[i] * g[i] - v[i]) * (1.0 - b2);
            p[i] = w - alpha * m[i] / (v[i].sqrt() + cfg.epsilon as f64);
        }
    }
}
