//! MaxPooling2D and AveragePooling2D over NHWC windows, as Keras's layers of those names.

use std::sync::Arc;

use super::{CpuCtx, GpuCtx, LayerKind, Recorded};
use crate::error::{Error, Result};
use crate::ops::Padding;
use crate::ops::pool::{self, PoolKind, PoolShape};

/// A pooling window; `MAX` picks max (true) or average (false) pooling.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool2D<const MAX: bool> {
    pub pool: (usize, usize),
    pub strides: (usize, usize),
    pub padding: Padding,
}

pub type MaxPooling2D = Pool2D<true>;
pub type AveragePooling2D = Pool2D<false>;

impl<const MAX: bool> Pool2D<MAX> {
    const KIND: PoolKind = if MAX { PoolKind::Max } else { PoolKind::Average };

    /// Strides equal to the pool size, 'valid' padding, as Keras's defaults.
    pub fn new(pool: (usize, usize)) -> Self {
        Pool2D { pool, strides: pool, padding: Padding::Valid }
    }

    fn shape(&self, input: &[usize], batch: usize) -> PoolShape {
        PoolShape {
            n: batch,
            h: input[0],
            w: input[1],
            c: input[2],
            pool_h: self.pool.0,
            pool_w: self.pool.1,
            stride_h: self.strides.0,
            stride_w: self.strides.1,
            padding: self.padding,
        }
    }
}

impl<const MAX: bool> LayerKind for Pool2D<MAX> {
    fn kind(&self) -> &'static str {
        if MAX { "MaxPooling2D" } else { "AveragePooling2D" }
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.len() != 3 {
            return Err(Error::Invalid(format!("{} needs an [h, w, c] input, got shape {input:?}", self.kind())));
        }
        let (p, s) = (self.pool, self.strides);
        if p.0 == 0 || p.1 == 0 || s.0 == 0 || s.1 == 0 {
            return Err(Error::Invalid(format!("{} with a zero pool or stride", self.kind())));
        }
        if super::checked_len(&[p.0, p.1]).is_none() || super::checked_len(&[s.0, s.1]).is_none() {
            return Err(Error::Invalid(format!("{} pool {p:?} or strides {s:?} too large", self.kind())));
        }
        let (oh, ow) = self.shape(input, 1).out_hw()?;
        Ok(vec![oh, ow, input[2]])
    }

    fn applies_input_activation(&self) -> bool {
        true
    }

    fn takes_dropout(&self) -> bool {
        true
    }

    fn record(&self, ctx: &GpuCtx) -> Result<Recorded> {
        record_pool(ctx, Self::KIND, &self.shape(ctx.input_shape, ctx.batch))
    }

    fn cpu_forward(&self, ctx: &CpuCtx, x: &[f64], _training: bool) -> Vec<f64> {
        pool::cpu::forward(Self::KIND, &self.shape(ctx.input_shape, ctx.batch), x).0
    }

    fn cpu_backward(&self, ctx: &CpuCtx, x: &[f64], _y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        (pool::cpu::backward(Self::KIND, &self.shape(ctx.input_shape, ctx.batch), x, &dy), Vec::new())
    }
}

/// A pooling layer's dispatches: the forward pass keeps each window's argmax for the backward,
/// and a folded dropout masks y in training and dy in the backward pass.
pub(super) fn record_pool(ctx: &GpuCtx, kind: PoolKind, shape: &PoolShape) -> Result<Recorded> {
    let argmax = Arc::new(ctx.gpu.zeros("argmax", ctx.y.len())?);
    let mut rec = Recorded::default();
    for (list, dropout) in [(&mut rec.forward_train, ctx.dropout), (&mut rec.forward_infer, None)] {
        list.push(pool::forward(ctx.gpu, kind, shape, ctx.x, ctx.y, &argmax, dropout)?.owning(argmax.clone()));
    }
    if let Some(dx) = ctx.dx {
        let input_act = ctx.input_act.map(|a| (a, ctx.x));
        rec.backward.push(pool::backward(
            ctx.gpu,
            kind,
            shape,
            [ctx.y, &argmax],
            ctx.dy(),
            input_act,
            ctx.dropout,
            dx,
        )?);
    }
    Ok(rec)
}
