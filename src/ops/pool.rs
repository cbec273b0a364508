//! Max and average 2-D pooling, forward and backward: `shaders/pool.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::{Activation, Padding, grid_for, window_extent};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average,
}

/// A batch of NHWC images pooled per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub pool_h: usize,
    pub pool_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub padding: Padding,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct Params {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    oh: u32,
    ow: u32,
    pool_h: u32,
    pool_w: u32,
    stride_h: u32,
    stride_w: u32,
    pad_top: u32,
    pad_left: u32,
    act_grad: u32,
    dropout_rate: f32,
    dropout_seed: u32,
}

/// A Dropout layer that follows the pool, run inside it: its rate, its mask seed and the step
/// counter its masks read (u32), as `ops::dropout`'s passes take them.
#[derive(Clone, Copy)]
pub struct FoldedDropout<'a> {
    pub rate: f32,
    pub seed: u32,
    pub step: &'a Tensor,
}

impl PoolShape {
    fn params(&self) -> Result<Params> {
        let rows = window_extent(self.h, self.pool_h, self.stride_h, self.padding);
        let cols = window_extent(self.w, self.pool_w, self.stride_w, self.padding);
        let ((oh, pad_top), (ow, pad_left)) = rows.zip(cols).ok_or_else(|| {
            Error::Invalid(format!(
                "a {}×{} pool does not fit a {}×{} input with {:?} padding",
                self.pool_h, self.pool_w, self.h, self.w, self.padding
            ))
        })?;
        Ok(Params {
            n: self.n as u32,
            h: self.h as u32,
            w: self.w as u32,
            c: self.c as u32,
            oh,
            ow,
            pool_h: self.pool_h as u32,
            pool_w: self.pool_w as u32,
            stride_h: self.stride_h as u32,
            stride_w: self.stride_w as u32,
            pad_top,
            pad_left,
            act_grad: 0,
            dropout_rate: 0.0,
            dropout_seed: 0,
        })
    }

    /// Output height and width.
    pub fn out_hw(&self) -> Result<(usize, usize)> {
        let p = self.params()?;
        Ok((p.oh as usize, p.ow as usize))
    }

    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }

    pub fn y_len(&self) -> Result<usize> {
        let (oh, ow) = self.out_hw()?;
        Ok(self.n * oh * ow * self.c)
    }

    /// Whether no two windows share a cell (stride ≥ pool on both axes): max pooling's backward
    /// can then write dx a window at a time.
    pub fn windows_disjoint(&self) -> bool {
        self.stride_h >= self.pool_h && self.stride_w >= self.pool_w
    }
}

/// The params of `shape` with `dropout` folded in, and the step tensor to bind (a spare without).
fn with_dropout<'a>(
    gpu: &'a Gpu,
    shape: &PoolShape,
    dropout: Option<FoldedDropout<'a>>,
) -> Result<(Params, &'a Tensor)> {
    let p = shape.params()?;
    Ok(match dropout {
        Some(d) => {
            assert!(d.rate > 0.0 && d.rate < 1.0, "pool: a folded dropout's rate {} must be in (0, 1)", d.rate);
            (Params { dropout_rate: d.rate, dropout_seed: d.seed, ..p }, d.step)
        }
        None => (p, gpu.spare(0)),
    })
}

/// `entry` of pool.wgsl, built with the mask code where a dropout is folded in.
fn kernel(entry: &'static str, dropout: Option<FoldedDropout>) -> Kernel {
    Kernel::new(Shader::Pool, entry).constant("dropout", f64::from(u8::from(dropout.is_some())))
}

/// y = pool(x), times a folded dropout's mask when there is one; for max pooling `argmax` (u32,
/// y's length) records each window's winner. Channels go four at a time when their count allows.
pub fn forward(
    gpu: &Gpu,
    kind: PoolKind,
    shape: &PoolShape,
    x: &Tensor,
    y: &Tensor,
    argmax: &Tensor,
    dropout: Option<FoldedDropout>,
) -> Result<Dispatch> {
    let (p, step) = with_dropout(gpu, shape, dropout)?;
    assert_eq!((x.len(), y.len()), (shape.x_len(), shape.y_len()?), "pool: (x, y) lengths for {shape:?}");
    let grid = grid_for(gpu, y.len())?;
    match kind {
        PoolKind::Max if shape.c.is_multiple_of(4) => {
            assert_eq!(argmax.len(), y.len(), "pool: argmax must match y");
            let kernel = kernel("pool_max_forward4", dropout);
            let p4 = Params { c: p.c / 4, ..p };
            gpu.dispatch(&kernel, &p4, &[(6, x), (7, y), (8, argmax), (11, step)], grid_for(gpu, y.len() / 4)?)
        }
        PoolKind::Max => {
            assert_eq!(argmax.len(), y.len(), "pool: argmax must match y");
            let kernel = kernel("pool_max_forward", dropout);
            gpu.dispatch(&kernel, &p, &[(1, x), (2, y), (3, argmax), (11, step)], grid)
        }
        PoolKind::Average if shape.c.is_multiple_of(4) => {
            let kernel = kernel("pool_avg_forward4", dropout);
            let p4 = Params { c: p.c / 4, ..p };
            gpu.dispatch(&kernel, &p4, &[(6, x), (7, y), (11, step)], grid_for(gpu, y.len() / 4)?)
        }
        PoolKind::Average => {
            let kernel = kernel("pool_avg_forward", dropout);
            gpu.dispatch(&kernel, &p, &[(1, x), (2, y), (11, step)], grid)
        }
    }
}

/// dx from dy and what the forward pass wrote (y, and for max pooling `argmax`): dy through a
/// folded dropout's mask first when there is one, and when the pool's input x is the output of
/// an elementwise activation, `(activation, x)`, dx times its derivative: then dx is the
/// previous layer's pre-activation gradient, with no activation-backward dispatch.
#[allow(clippy::too_many_arguments)] // the pass's tensors and what it folds in
pub fn backward(
    gpu: &Gpu,
    kind: PoolKind,
    shape: &PoolShape,
    [y, argmax]: [&Tensor; 2],
    dy: &Tensor,
    act_of_input: Option<(Activation, &Tensor)>,
    dropout: Option<FoldedDropout>,
    dx: &Tensor,
) -> Result<Dispatch> {
    assert_eq!((dx.len(), dy.len()), (shape.x_len(), shape.y_len()?), "pool: (dx, dy) lengths for {shape:?}");
    let (p, step) = with_dropout(gpu, shape, dropout)?;
    let p = Params { act_grad: super::input_act_code("pool", act_of_input, dx), ..p };
    // Without an activation, x is bound unread.
    let x = act_of_input.map_or(dy, |(_, x)| x);
    let grid = grid_for(gpu, dx.len())?;
    match kind {
        // The activation's derivative at the argmax, the one cell dy reaches: y there.
        PoolKind::Max if shape.c.is_multiple_of(4) && shape.windows_disjoint() => {
            let kernel = kernel("pool_max_backward_disjoint4", dropout);
            let p4 = Params { c: p.c / 4, ..p };
            let bindings = [(7, y), (8, argmax), (9, dy), (10, dx), (1, x), (11, step)];
            gpu.dispatch(&kernel, &p4, &bindings, grid_for(gpu, dy.len() / 4)?)
        }
        PoolKind::Max if shape.c.is_multiple_of(4) => {
            let kernel = kernel("pool_max_backward4", dropout);
            let p4 = Params { c: p.c / 4, ..p };
            let bindings = [(8, argmax), (9, dy), (10, dx), (6, x), (11, step)];
            gpu.dispatch(&kernel, &p4, &bindings, grid_for(gpu, dx.len() / 4)?)
        }
        PoolKind::Max => {
            let kernel = kernel("pool_max_backward", dropout);
            gpu.dispatch(&kernel, &p, &[(3, argmax), (4, dy), (5, dx), (1, x), (11, step)], grid)
        }
        PoolKind::Average if shape.c.is_multiple_of(4) => {
            let kernel = kernel("pool_avg_backward4", dropout);
            let p4 = Params { c: p.c / 4, ..p };
            gpu.dispatch(&kernel, &p4, &[(9, dy), (10, dx), (6, x), (11, step)], grid_for(gpu, dx.len() / 4)?)
        }
        PoolKind::Average => {
            let kernel = kernel("pool_avg_backward", dropout);
            gpu.dispatch(&kernel, &p, &[(4, dy), (5, dx), (1, x), (11, step)], grid)
        }
    }
}

pub mod cpu {
    use super::{PoolKind, PoolShape};

    /// Calls `f(y index, x indices of the window)` for every output.
    fn each_window(shape: &PoolShape, mut f: impl FnMut(usize, &[usize])) {
        let p = shape.params().expect("pool shape");
        let (h, w, c) = (shape.h as i64, shape.w as i64, shape.c);
        let mut cells = Vec::new();
        for b in 0..shape.n {
            for oy in 0..p.oh as usize {
                for ox in 0..p.ow as usize {
                    for ch in 0..c {
                        cells.clear();
                        let y0 = (oy * shape.stride_h) as i64 - p.pad_top as i64;
                        let x0 = (ox * shape.stride_w) as i64 - p.pad_left as i64;
                        for iy in y0.max(0)..(y0 + shape.pool_h as i64).min(h) {
                            for ix in x0.max(0)..(x0 + shape.pool_w as i64).min(w) {
                                cells.push(((b * shape.h + iy as usize) * shape.w + ix as usize) * c + ch);
                            }
                        }
                        f(((b * p.oh as usize + oy) * p.ow as usize + ox) * c + ch, &cells);
                    }
                }
            }
        }
    }

    /// Returns y and, for max pooling, the flat x index of each window's first maximum.
    pub fn forward(kind: PoolKind, shape: &PoolShape, x: &[f64]) -> (Vec<f64>, Vec<usize>) {
        let len = shape.y_len().expect("pool shape");
        let (mut y, mut argmax) = (vec![0.0; len], vec![0; len]);
        each_window(shape, |o, cells| match kind {
            PoolKind::Max => {
                let best = cells.iter().copied().fold(cells[0], |best, i| if x[i] > x[best] { i } else { best });
                y[o] = x[best];
                argmax[o] = best;
            }
            PoolKind::Average => y[o] = cells.iter().map(|&i| x[i]).sum::<f64>() / cells.len() as f64,
        });
        (y, argmax)
    }

    pub fn backward(kind: PoolKind, shape: &PoolShape, x: &[f64], dy: &[f64]) -> Vec<f64> {
        let (_, argmax) = forward(kind, shape, x);
        let mut dx = vec![0.0; shape.x_len()];
        each_window(shape, |o, cells| match kind {
            PoolKind::Max => dx[argmax[o]] += dy[o],
            PoolKind::Average => {
                for &i in cells {
                    dx[i] += dy[o] / cells.len() as f64;
                }
            }
        });
        dx
    }
}
