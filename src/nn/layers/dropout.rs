//! Dropout: inverted dropout while training, the identity otherwise, as Keras's `Dropout`.

use super::{CpuCtx, GpuCtx, LayerKind, Recorded};
use crate::error::{Error, Result};
use crate::ops::dropout;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dropout {
    pub rate: f32,
}

/// The seed of a dropout layer's masks: each layer draws its own, from the model's seed.
pub(crate) fn layer_seed(seed: u64, layer: usize) -> u32 {
    (seed as u32) ^ (seed >> 32) as u32 ^ (layer as u32).wrapping_mul(0x9e37_79b9)
}

impl LayerKind for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::Invalid(format!("dropout rate {} must be in [0, 1)", self.rate)));
        }
        Ok(input.to_vec())
    }

    fn record(&self, ctx: &GpuCtx) -> Result<Recorded> {
        let (gpu, seed) = (ctx.gpu, layer_seed(ctx.seed, ctx.index));
        let mut rec = Recorded::default();
        rec.forward_train.push(dropout::forward(gpu, self.rate, seed, ctx.x, ctx.y, ctx.step)?);
        rec.forward_infer.push(dropout::forward(gpu, 0.0, seed, ctx.x, ctx.y, ctx.step)?);
        if let Some(dx) = ctx.dx {
            rec.backward.push(dropout::backward(gpu, self.rate, seed, ctx.dy(), dx, ctx.step)?);
        }
        Ok(rec)
    }

    fn cpu_forward(&self, ctx: &CpuCtx, x: &[f64], training: bool) -> Vec<f64> {
        let rate = if training { self.rate } else { 0.0 };
        dropout::cpu::forward(rate, layer_seed(ctx.seed, ctx.index), ctx.step, x)
    }

    fn cpu_backward(&self, ctx: &CpuCtx, _x: &[f64], _y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        (dropout::cpu::backward(self.rate, layer_seed(ctx.seed, ctx.index), ctx.step, &dy), Vec::new())
    }
}
