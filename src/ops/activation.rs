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
    /// x below zero scaled by alpha (0.2 by default: Keras's `leaky_relu` activation).
    LeakyRelu,
    /// alpha · (exp(x) - 1) below zero (alpha 1 by default: Keras's `elu` activation).
    Elu,
    /// x · Φ(x), Φ the normal distribution's CDF: Keras's `gelu` (exact, approximate=False).
    Gelu,
    /// x · sigmoid(x): Keras's `silu`, also named `swish`.
    Silu,
}

impl Activation {
    pub const ALL: [Activation; 8] = [
        Activation::Linear,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Gelu,
        Activation::Silu,
    ];

    /// The activations a product's epilogue applies (matmul, conv2d) and a product's input
    /// gradient differentiates: those whose derivative is a function of their output.
    pub const EPILOGUE: [Activation; 6] = [
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
            Activation::Gelu => 6,
            Activation::Silu => 7,
        }
    }

    /// Whether the derivative is computed from the output y (so only y need be kept); gelu's
    /// and silu's need the input x.
    pub fn from_output(self) -> bool {
        !matches!(self, Activation::Gelu | Activation::Silu)
    }

    /// What the backward pass reads: the output when the derivative comes from it, else the input.
    pub fn saved<'a, T: ?Sized>(self, x: &'a T, y: &'a T) -> &'a T {
        if self.from_output() { y } else { x }
    }
}

/// An elementwise activation with its parameter: the slope below zero of leaky relu, the
/// alpha of elu (unused by the others).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elementwise {
    pub act: Activation,
    pub alpha: f32,
}

impl From<Activation> for Elementwise {
    /// Keras's activation functions' defaults: leaky relu's slope 0.2, elu's alpha 1.
    fn from(act: Activation) -> Elementwise {
        let alpha = match act {
            Activation::LeakyRelu => 0.2,
            Activation::Elu => 1.0,
            _ => 0.0,
        };
        Elementwise { act, alpha }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    len: u32,
    cols: u32,
    act: u32,
    alpha: f32,
}

fn build(gpu: &Gpu, entry: &'static str, params: Params, work: usize, tensors: &[(u32, &Tensor)]) -> Result<Dispatch> {
    gpu.dispatch(&Kernel::new(Shader::Activation, entry), &params, tensors, grid_for(gpu, work)?)
}

/// y = act(x), elementwise.
pub fn forward(gpu: &Gpu, act: impl Into<Elementwise>, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    assert_eq!(x.len(), y.len(), "activation: x has {} elements, y {}", x.len(), y.len());
    let f = act.into();
    let params = Params { len: x.len() as u32, cols: 1, act: f.act.code(), alpha: f.alpha };
    build(gpu, "activation_forward", params, x.len().div_ceil(4), &[(1, x), (2, y)])
}

/// dx = dy · act'(x), computed from `saved`: the forward's output y, or its input x where the
/// derivative needs it (`Activation::saved`).
pub fn backward(gpu: &Gpu, act: impl Into<Elementwise>, saved: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    assert!(saved.len() == dy.len() && dy.len() == dx.len(), "activation backward: lengths differ");
    let f = act.into();
    let params = Params { len: saved.len() as u32, cols: 1, act: f.act.code(), alpha: f.alpha };
    build(gpu, "activation_backward", params, saved.len().div_ceil(4), &[(3, saved), (4, dy), (5, dx)])
}

/// Row-wise softmax of x viewed as [len / cols, cols].
pub fn softmax_forward(gpu: &Gpu, cols: usize, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
    assert!(cols > 0 && x.len().is_multiple_of(cols) && x.len() == y.len(), "softmax: bad shape");
    let params = Params { len: x.len() as u32, cols: cols as u32, act: 0, alpha: 0.0 };
    build(gpu, "softmax_forward", params, x.len() / cols, &[(6, x), (7, y)])
}

/// Gradient of a row-wise softmax from its output y.
pub fn softmax_backward(gpu: &Gpu, cols: usize, y: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    assert!(cols > 0 && y.len().is_multiple_of(cols) && y.len() == dy.len() && dy.len() == dx.len());
    let params = Params { len: y.len() as u32, cols: cols as u32, act: 0, alpha: 0.0 };
    build(gpu, "softmax_backward", params, y.len() / cols, &[(8, y), (9, dy), (10, dx)])
}

#[cfg(test)]
mod tests {
    use super::Activation;

    #[test]
    fn the_epilogue_activations_are_those_differentiated_through_their_output() {
        let from_output: Vec<Activation> = Activation::ALL.into_iter().filter(|a| a.from_output()).collect();
        assert_eq!(from_output, Activation::EPILOGUE);
    }
}

pub mod cpu {
    use super::{Activation, Elementwise};

    /// The standard normal distribution's CDF.
    fn phi(v: f64) -> f64 {
        0.5 * libm::erfc(-v / std::f64::consts::SQRT_2)
    }

    fn sigmoid(v: f64) -> f64 {
        1.0 / (1.0 + (-v).exp())
    }

    pub fn apply(act: impl Into<Elementwise>, v: f64) -> f64 {
        let Elementwise { act, alpha } = act.into();
        let alpha = f64::from(alpha);
        match act {
            Activation::Linear => v,
            Activation::Relu => v.max(0.0),
            Activation::Sigmoid => sigmoid(v),
            Activation::Tanh => v.tanh(),
            Activation::LeakyRelu if v > 0.0 => v,
            Activation::LeakyRelu => alpha * v,
            Activation::Elu if v > 0.0 => v,
            Activation::Elu => alpha * v.exp_m1(),
            Activation::Gelu => v * phi(v),
            Activation::Silu => v * sigmoid(v),
        }
    }

    /// The derivative, from `saved`: the output y = act(x), or for gelu and silu the input x
    /// (`Activation::saved`).
    pub fn slope(act: impl Into<Elementwise>, saved: f64) -> f64 {
        let Elementwise { act, alpha } = act.into();
        let alpha = f64::from(alpha);
        // The output y, except for gelu and silu, whose derivative needs the input x.
        let (y, x) = (saved, saved);
        match act {
            Activation::Linear => 1.0,
            Activation::Relu => f64::from(u8::from(y > 0.0)),
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::LeakyRelu if y > 0.0 => 1.0,
            Activation::LeakyRelu => alpha,
            Activation::Elu if y > 0.0 => 1.0,
            Activation::Elu => y + alpha,
            Activation::Gelu => phi(x) + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt(),
            Activation::Silu => sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x))),
        }
    }

    pub fn forward(act: impl Into<Elementwise>, x: &[f64]) -> Vec<f64> {
        let f = act.into();
        x.iter().map(|&v| apply(f, v)).collect()
    }

    pub fn backward(act: impl Into<Elementwise>, saved: &[f64], dy: &[f64]) -> Vec<f64> {
        let f = act.into();
        saved.iter().zip(dy).map(|(&s, &d)| d * slope(f, s)).collect()
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
