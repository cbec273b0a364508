//! Elementwise activations and row-wise softmax: `shaders/activation.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::grid_for;
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

/// Elementwise activations; the codes are those of the shaders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// x below zero scaled by 0.2: Keras's `leaky_relu` activation.
    LeakyRelu,
    /// exp(x) - 1 below zero: Keras's `elu` activation (alpha 1).
    Elu,
}

impl Activation {
    pub const ALL: [Activation; 6] = [
        Activation::Linear,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::LeakyRelu,
        Activation::Elu,
    ];

    pub fn code(self) -> u32 {
        match self {
            Activation::Linear => 0,
            Activation::Relu => 1,
            Activation::Sigmoid => 2,
            Activation::Tanh => 3,
            Activation::LeakyRelu => 4,
            Activation::Elu => 5,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    len: u32,
    cols: u32,
    act: u32,
}

fn build(gpu: &Gpu, entry: &'static str, params: Params, work: usize, tensors: &[(u32, &Tensor)]) -> Result<Dispatch> {
    gpu.dispatch(&Kernel::new(Shader::Activation, entry), &params, tensors, grid_for(gpu, work)?)
}

/// y = act(x), elementwise.
pub fn forward(gpu: &Gpu, act: Activation, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    assert_eq!(x.len(), y.len(), "activation: x has {} elements, y {}", x.len(), y.len());
    let params = Params { len: x.len() as u32, cols: 1, act: act.code() };
    build(gpu, "activation_forward", params, x.len().div_ceil(4), &[(1, x), (2, y)])
}

/// dx = dy · act'(x), computed from the forward output y.
pub fn backward(gpu: &Gpu, act: Activation, y: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    assert!(y.len() == dy.len() && dy.len() == dx.len(), "activation backward: lengths differ");
    let params = Params { len: y.len() as u32, cols: 1, act: act.code() };
    build(gpu, "activation_backward", params, y.len().div_ceil(4), &[(3, y), (4, dy), (5, dx)])
}

/// Row-wise softmax of x viewed as [len / cols, cols].
pub fn softmax_forward(gpu: &Gpu, cols: usize, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    assert!(cols > 0 && x.len().is_multiple_of(cols) && x.len() == y.len(), "softmax: bad shape");
    let params = Params { len: x.len() as u32, cols: cols as u32, act: 0 };
    build(gpu, "softmax_forward", params, x.len() / cols, &[(6, x), (7, y)])
}

/// Gradient of a row-wise softmax from its output y.
pub fn softmax_backward(gpu: &Gpu, cols: usize, y: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    assert!(cols > 0 && y.len().is_multiple_of(cols) && y.len() == dy.len() && dy.len() == dx.len());
    let params = Params { len: y.len() as u32, cols: cols as u32, act: 0 };
    build(gpu, "softmax_backward", params, y.len() / cols, &[(8, y), (9, dy), (10, dx)])
}

pub mod cpu {
    use super::Activation;

    pub fn apply(act: Activation, v: f64) -> f64 {
        match act {
            Activation::Linear => v,
            Activation::Relu => v.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            Activation::Tanh => v.tanh(),
            Activation::LeakyRelu => {
                if v > 0.0 {
                    v
                } else {
                    0.2 * v
                }
            }
            Activation::Elu => {
                if v > 0.0 {
                    v
                } else {
                    v.exp_m1()
                }
            }
        }
    }

    /// The derivative expressed through the output y = act(x).
    pub fn slope(act: Activation, y: f64) -> f64 {
        match act {
            Activation::Linear => 1.0,
            Activation::Relu => f64::from(u8::from(y > 0.0)),
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::LeakyRelu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.2
                }
            }
            Activation::Elu => {
                if y > 0.0 {
                    1.0
                } else {
                    y + 1.0
                }
            }
        }
    }

    pub fn forward(act: Activation, x: &[f64]) -> Vec<f64> {
        x.iter().map(|&v| apply(act, v)).collect()
    }

    pub fn backward(act: Activation, y: &[f64], dy: &[f64]) -> Vec<f64> {
        y.iter().zip(dy).map(|(&y, &d)| d * slope(act, y)).collect()
    }

    pub fn softmax_forward(x: &[f64], cols: usize) -> Vec<f64> {
        x.chunks(cols)
            .flat_map(|row| {
                let peak = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = row.iter().map(|v| (v - peak).exp()).sum();
                row.iter().map(move |v| (v - peak).exp() / sum)
            })
            .collect()
    }

    pub fn softmax_backward(y: &[f64], dy: &[f64], cols: usize) -> Vec<f64> {
        y.chunks(cols)
            .zip(dy.chunks(cols))
            .flat_map(|(y, dy)| {
                let dot: f64 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
                y.iter().zip(dy).map(move |(y, d)| y * (d - dot))
            })
            .collect()
    }
}
