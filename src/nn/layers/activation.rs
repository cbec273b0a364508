//! Activation: an activation on its own, as Keras's `Activation` layer; linear is a view.

use super::{CpuCtx, GpuCtx, LayerKind, Recorded, cpu_activate, cpu_deactivate};
use crate::error::{Error, Result};
use crate::nn::layer::Act;
use crate::ops::activation;

impl LayerKind for Act {
    fn kind(&self) -> &'static str {
        "Activation"
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if *self == Act::Softmax && input.len() != 1 {
            return Err(Error::Invalid(format!("Activation needs a flat input, got shape {input:?}")));
        }
        Ok(input.to_vec())
    }

    fn activation(&self) -> Option<Act> {
        Some(*self)
    }

    fn is_view(&self) -> bool {
        *self == Act::Linear
    }

    fn record(&self, ctx: &GpuCtx) -> Result<Recorded> {
        let mut rec = Recorded::default();
        if self.is_view() {
            return Ok(rec);
        }
        let (gpu, cols) = (ctx.gpu, *ctx.input_shape.last().unwrap());
        rec.forward(|| match self.elementwise() {
            Some(a) => activation::forward(gpu, a, ctx.x, ctx.y),
            None => activation::softmax_forward(gpu, cols, ctx.x, ctx.y),
        })?;
        if let Some(dx) = ctx.dx {
            rec.backward.push(match self.elementwise() {
                Some(a) => activation::backward(gpu, a, ctx.y, ctx.dy(), dx)?,
                None => activation::softmax_backward(gpu, cols, ctx.y, ctx.dy(), dx)?,
            });
        }
        Ok(rec)
    }

    fn cpu_forward(&self, ctx: &CpuCtx, x: &[f64], _training: bool) -> Vec<f64> {
        cpu_activate(*self, x.to_vec(), *ctx.input_shape.last().unwrap())
    }

    fn cpu_backward(&self, ctx: &CpuCtx, _x: &[f64], y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        if self.is_view() {
            return (dy, Vec::new());
        }
        (cpu_deactivate(*self, y, &dy, *ctx.input_shape.last().unwrap()), Vec::new())
    }
}
