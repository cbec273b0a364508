//! Inverted dropout with a counter-based RNG: `shaders/dropout.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::grid_for;
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    len: u32,
    rate: f32,
    seed: u32,
}

fn params(len: usize, rate: f32, seed: u32) -> Params {
    assert!((0.0..1.0).contains(&rate), "dropout rate {rate} must be in [0, 1)");
    Params { len: len as u32, rate, seed }
}

/// y = x · mask(seed, step) / (1 - rate); `step` is the optimizer's counter (u32).
pub fn forward(gpu: &Gpu, rate: f32, seed: u32, x: &Tensor, y: &Tensor, step: &Tensor) -> Result<Dispatch> {
    assert_eq!(x.len(), y.len(), "dropout: x and y lengths differ");
    let kernel = Kernel::new(Shader::Dropout, "dropout_forward");
    gpu.dispatch(&kernel, &params(x.len(), rate, seed), &[(1, x), (2, y), (5, step)], grid_for(gpu, x.len())?)
}

/// dx = dy · the forward pass's mask, `step` having been counted since (the step's loss
/// dispatch does it): the mask of step - 1.
pub fn backward(gpu: &Gpu, rate: f32, seed: u32, dy: &Tensor, dx: &Tensor, step: &Tensor) -> Result<Dispatch> {
    assert_eq!(dy.len(), dx.len(), "dropout: dy and dx lengths differ");
    let kernel = Kernel::new(Shader::Dropout, "dropout_backward");
    gpu.dispatch(&kernel, &params(dy.len(), rate, seed), &[(3, dy), (4, dx), (5, step)], grid_for(gpu, dy.len())?)
}

pub mod cpu {
    /// The shader's "lowbias32" finaliser.
    pub fn mix(v: u32) -> u32 {
        let mut h = v;
        h ^= h >> 16;
        h = h.wrapping_mul(0x7feb_352d);
        h ^= h >> 15;
        h = h.wrapping_mul(0x846c_a68b);
        h ^= h >> 16;
        h
    }

    /// The factor element `i` is multiplied by: 0, or 1 / (1 - rate) when kept.
    pub fn keep_scale(rate: f32, seed: u32, step: u32, i: u32) -> f64 {
        let h = mix(mix(mix(seed).wrapping_add(step)).wrapping_add(i));
        let u = f64::from(h >> 8) / 16_777_216.0;
        if u >= f64::from(rate) { 1.0 / (1.0 - f64::from(rate)) } else { 0.0 }
    }

    pub fn forward(rate: f32, seed: u32, step: u32, x: &[f64]) -> Vec<f64> {
        x.iter().enumerate().map(|(i, v)| v * keep_scale(rate, seed, step, i as u32)).collect()
    }

    pub fn backward(rate: f32, seed: u32, step: u32, dy: &[f64]) -> Vec<f64> {
        forward(rate, seed, step, dy)
    }
}
