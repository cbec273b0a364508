//! GlobalAveragePooling2D and GlobalMaxPooling2D: one value per channel of an [h, w, c]
//! input, as Keras's layers of those names; the pool kernels with the window the whole image.

use super::pool::record_pool;
use super::{CpuCtx, GpuCtx, LayerKind, Recorded};
use crate::error::{Error, Result};
use crate::ops::Padding;
use crate::ops::pool::{self, PoolKind, PoolShape};

/// `MAX` picks max (true) or average (false) pooling; `keepdims` keeps the output [1, 1, c]
/// instead of [c], as Keras's option of that name.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalPool2D<const MAX: bool> {
    #[serde(default)]
    pub keepdims: bool,
}

pub type GlobalMaxPooling2D = GlobalPool2D<true>;
pub type GlobalAveragePooling2D = GlobalPool2D<false>;

impl<const MAX: bool> GlobalPool2D<MAX> {
    const KIND: PoolKind = if MAX { PoolKind::Max } else { PoolKind::Average };

    fn shape(input: &[usize], batch: usize) -> PoolShape {
        let (h, w) = (input[0], input[1]);
        PoolShape {
            n: batch,
            h,
            w,
            c: input[2],
            pool_h: h,
            pool_w: w,
            stride_h: h,
            stride_w: w,
            padding: Padding::Valid,
        }
    }
}

impl<const MAX: bool> LayerKind for GlobalPool2D<MAX> {
    fn kind(&self) -> &'static str {
        if MAX { "GlobalMaxPooling2D" } else { "GlobalAveragePooling2D" }
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        match input {
            [_, _, c] if self.keepdims => Ok(vec![1, 1, *c]),
            [_, _, c] => Ok(vec![*c]),
            _ => Err(Error::Invalid(format!("{} needs an [h, w, c] input, got shape {input:?}", self.kind()))),
        }
    }

    fn applies_input_activation(&self) -> bool {
        true
    }

    fn record(&self, ctx: &GpuCtx) -> Result<Recorded> {
        record_pool(ctx, Self::KIND, &Self::shape(ctx.input_shape, ctx.batch))
    }

    fn cpu_forward(&self, ctx: &CpuCtx, x: &[f64], _training: bool) -> Vec<f64> {
        pool::cpu::forward(Self::KIND, &Self::shape(ctx.input_shape, ctx.batch), x).0
    }

    fn cpu_backward(&self, ctx: &CpuCtx, x: &[f64], _y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        (pool::cpu::backward(Self::KIND, &Self::shape(ctx.input_shape, ctx.batch), x, &dy), Vec::new())
    }
}
