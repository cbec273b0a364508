//! Keras's kernel regularizers, their loss and gradient: `shaders/regularizer.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::grid_for;
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

/// Keras's `L1L2` (and `L1`, `L2`, which are it with one weight zero): a penalty of
/// l1 · Σ|w| + l2 · Σw² added to the loss, and its gradient to the weights'.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct Regularizer {
    pub l1: f32,
    pub l2: f32,
}

impl Default for Regularizer {
    /// Keras's `L1L2()`: no penalty until a weight is given.
    fn default() -> Regularizer {
        Regularizer { l1: 0.0, l2: 0.0 }
    }
}

impl Regularizer {
    /// Keras's `L1(l1)` (its default 0.01).
    pub fn l1(l1: f32) -> Regularizer {
        Regularizer { l1, l2: 0.0 }
    }

    /// Keras's `L2(l2)` (its default 0.01).
    pub fn l2(l2: f32) -> Regularizer {
        Regularizer { l1: 0.0, l2 }
    }

    /// Refuses weights that are negative or not finite (Keras's `validate_float_arg`).
    pub fn check(&self) -> Result<()> {
        for (name, v) in [("l1", self.l1), ("l2", self.l2)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::Invalid(format!(
                    "kernel_regularizer {name} must be finite and non-negative, got {v}"
                )));
            }
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    len: u32,
    rows: u32,
    l1: f32,
    l2: f32,
}

fn params(r: &Regularizer, w: &Tensor, rows: usize) -> Params {
    Params { len: w.len() as u32, rows: rows as u32, l1: r.l1, l2: r.l2 }
}

/// totals[0] += valid rows · penalty(w): the regularization loss of a batch of up to `rows`
/// rows, whose valid count `batch_rows` holds.
pub fn penalty(
    gpu: &Gpu,
    r: &Regularizer,
    w: &Tensor,
    rows: usize,
    batch_rows: &Tensor,
    totals: &Tensor,
) -> Result<Dispatch> {
    let kernel = Kernel::new(Shader::Regularizer, "regularizer_penalty");
    gpu.dispatch(&kernel, &params(r, w, rows), &[(1, w), (2, batch_rows), (3, totals)], [1, 1, 1])
}

/// g += d penalty / dw.
pub fn grad(gpu: &Gpu, r: &Regularizer, w: &Tensor, g: &Tensor) -> Result<Dispatch> {
    assert_eq!(w.len(), g.len(), "regularizer: w has {} elements, g {}", w.len(), g.len());
    let kernel = Kernel::new(Shader::Regularizer, "regularizer_grad");
    gpu.dispatch(&kernel, &params(r, w, 0), &[(1, w), (4, g)], grid_for(gpu, w.len())?)
}

pub mod cpu {
    use super::Regularizer;

    pub fn penalty(r: &Regularizer, w: &[f64]) -> f64 {
        let (l1, l2) = (f64::from(r.l1), f64::from(r.l2));
        w.iter().map(|v| l1 * v.abs() + l2 * v * v).sum()
    }

    /// d penalty / dw, sign(0) = 0 as TensorFlow's.
    pub fn grad(r: &Regularizer, w: &[f64]) -> Vec<f64> {
        let (l1, l2) = (f64::from(r.l1), f64::from(r.l2));
        let sign = |v: f64| if v == 0.0 { 0.0 } else { v.signum() };
        w.iter().map(|&v| l1 * sign(v) + 2.0 * l2 * v).collect()
    }
}
