//! 2-D convolution, forward and gradients: `shaders/conv2d.wgsl`. The bias gradient is
//! [`matmul::bias_grad`](super::matmul::bias_grad) over dy seen as [n·oh·ow, c_out].

use bytemuck::{Pod, Zeroable};
use std::sync::Arc;

use super::{Activation, Padding, grid_for, window_extent};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

/// A batch of NHWC images convolved with a [kh, kw, c_in, c_out] kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub padding: Padding,
}

/// Output size and leading padding: (oh, ow, pad_top, pad_left).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub oh: usize,
    pub ow: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

impl Conv2dShape {
    /// The output extent, or an error when the kernel does not fit the input.
    pub fn extent(&self) -> Result<Extent> {
        let rows = window_extent(self.h, self.kh, self.stride_h, self.padding);
        let cols = window_extent(self.w, self.kw, self.stride_w, self.padding);
        match (rows, cols) {
            (Some((oh, pad_top)), Some((ow, pad_left))) => {
                Ok(Extent { oh: oh as usize, ow: ow as usize, pad_top: pad_top as usize, pad_left: pad_left as usize })
            }
            _ => Err(Error::Invalid(format!(
                "a {}×{} kernel does not fit a {}×{} input with {:?} padding",
                self.kh, self.kw, self.h, self.w, self.padding
            ))),
        }
    }

    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.c_in
    }

    pub fn weight_len(&self) -> usize {
        self.kh * self.kw * self.c_in * self.c_out
    }

    pub fn y_len(&self) -> Result<usize> {
        let e = self.extent()?;
        Ok(self.n * e.oh * e.ow * self.c_out)
    }

    /// Multiply-adds of the forward pass, times two.
    pub fn flops(&self) -> Result<f64> {
        Ok(2.0 * self.y_len()? as f64 * (self.kh * self.kw * self.c_in) as f64)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32,
    h: u32,
    w: u32,
    c_in: u32,
    oh: u32,
    ow: u32,
    c_out: u32,
    kh: u32,
    kw: u32,
    stride_h: u32,
    stride_w: u32,
    pad_top: u32,
    pad_left: u32,
    act: u32,
    has_bias: u32,
    splits: u32,
    chunk: u32,
}

fn params(shape: &Conv2dShape, act: Activation, has_bias: bool) -> Result<Params> {
    assert!(act.from_output(), "conv2d: {act:?} is not an epilogue activation");
    let e = shape.extent()?;
    Ok(Params {
        n: shape.n as u32,
        h: shape.h as u32,
        w: shape.w as u32,
        c_in: shape.c_in as u32,
        oh: e.oh as u32,
        ow: e.ow as u32,
        c_out: shape.c_out as u32,
        kh: shape.kh as u32,
        kw: shape.kw as u32,
        stride_h: shape.stride_h as u32,
        stride_w: shape.stride_w as u32,
        pad_top: e.pad_top as u32,
        pad_left: e.pad_left as u32,
        act: act.code(),
        has_bias: u32::from(has_bias),
        splits: 1,
        chunk: 0,
    })
}

fn check(shape: &Conv2dShape, x: usize, weight: usize, y: usize) -> Result<()> {
    let want = (shape.x_len(), shape.weight_len(), shape.y_len()?);
    assert_eq!((x, weight, y), want, "conv2d: tensor lengths (x, weight, y) for {shape:?}");
    Ok(())
}

/// The grid of a kernel whose 16×16 workgroups cover 64×64 tiles of a [rows, cols] output.
fn tile_grid(gpu: &Gpu, rows: usize, cols: usize) -> Result<[u32; 3]> {
    let (x, y) = (cols.div_ceil(64), rows.div_ceil(64));
    let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
    if x > max || y > max {
        return Err(Error::LimitExceeded {
            what: format!("a convolution with {rows} output pixels"),
            requested: y.max(x) as u64,
            limit_name: "max_compute_workgroups_per_dimension",
            limit: max as u64,
        });
    }
    Ok([x as u32, y as u32, 1])
}

/// y = act(conv(x, weight) + bias).
pub fn forward(
    gpu: &Gpu,
    shape: &Conv2dShape,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    act: Activation,
    y: &Tensor,
) -> Result<Dispatch> {
    check(shape, x.len(), weight.len(), y.len())?;
    let p = params(shape, act, bias.is_some())?;
    let kernel = Kernel::new(Shader::Conv2d, "conv2d_forward");
    let bias = bias.unwrap_or(weight);
    let grid = tile_grid(gpu, y.len() / shape.c_out, shape.c_out)?;
    gpu.dispatch(&kernel, &p, &[(1, x), (2, weight), (3, bias), (4, y)], grid)
}

/// dx from dy (the gradient before any fused activation) and the weights.
pub fn backward_input(gpu: &Gpu, shape: &Conv2dShape, dy: &Tensor, weight: &Tensor, dx: &Tensor) -> Result<Dispatch> {
    check(shape, dx.len(), weight.len(), dy.len())?;
    let p = params(shape, Activation::Linear, false)?;
    let kernel = Kernel::new(Shader::Conv2d, "conv2d_backward_input");
    gpu.dispatch(&kernel, &p, &[(2, weight), (5, dy), (6, dx)], grid_for(gpu, dx.len())?)
}

/// How the weight gradient spreads its sums over invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightGradPlan {
    /// ~4 096 invocations over chunks of at least 64 pixels, then one invocation per weight
    /// adding the chunks: few, long invocations, as CPU adapters want.
    Long,
    /// ~65 536 invocations over chunks of at least 16 pixels, then a workgroup per weight adding
    /// them as a tree: what keeps a GPU busy (on an H100 the long plan was half the seed CNN's
    /// step).
    Wide,
}

impl WeightGradPlan {
    pub const ALL: [WeightGradPlan; 2] = [WeightGradPlan::Long, WeightGradPlan::Wide];

    /// `Long` on CPU adapters, `Wide` on the others.
    pub fn for_gpu(gpu: &Gpu) -> WeightGradPlan {
        if gpu.tuning.cpu_adapter { WeightGradPlan::Long } else { WeightGradPlan::Wide }
    }

    /// (invocations aimed for, fewest pixels per chunk)
    fn split(self) -> (usize, usize) {
        match self {
            WeightGradPlan::Long => (4096, 64),
            WeightGradPlan::Wide => (65_536, 16),
        }
    }
}

/// dw from dy (the gradient before any fused activation) and the input x: partial sums over
/// chunks of pixels, then their fixed-order sum. The partials' scratch lives with the dispatches.
pub fn backward_weight(gpu: &Gpu, shape: &Conv2dShape, x: &Tensor, dy: &Tensor, dw: &Tensor) -> Result<Vec<Dispatch>> {
    backward_weight_planned(gpu, WeightGradPlan::for_gpu(gpu), shape, x, dy, dw)
}

/// `backward_weight` with a chosen plan.
pub fn backward_weight_planned(
    gpu: &Gpu,
    plan: WeightGradPlan,
    shape: &Conv2dShape,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
) -> Result<Vec<Dispatch>> {
    check(shape, x.len(), dw.len(), dy.len())?;
    let (invocations, min_chunk) = plan.split();
    let pixels = dy.len() / shape.c_out;
    let blocks = (shape.kh * shape.kw * shape.c_in).div_ceil(4) * shape.c_out.div_ceil(4);
    let splits = invocations.div_ceil(blocks).clamp(1, pixels.div_ceil(min_chunk));
    let chunk = pixels.div_ceil(splits);
    let splits = pixels.div_ceil(chunk);
    let p = Params { splits: splits as u32, chunk: chunk as u32, ..params(shape, Activation::Linear, false)? };
    let partial = Arc::new(gpu.zeros("dw_partial", splits * dw.len())?);
    let (reduce, grid) = match plan {
        WeightGradPlan::Long => ("conv2d_backward_weight_reduce", grid_for(gpu, dw.len())?),
        WeightGradPlan::Wide => ("conv2d_backward_weight_reduce_wide", gpu.grid(dw.len() as u64)?),
    };
    Ok(vec![
        gpu.dispatch(
            &Kernel::new(Shader::Conv2d, "conv2d_backward_weight"),
            &p,
            &[(1, x), (5, dy), (8, &partial)],
            grid_for(gpu, splits * blocks)?,
        )?
        .owning(partial.clone()),
        gpu.dispatch(&Kernel::new(Shader::Conv2d, reduce), &p, &[(8, &partial), (7, dw)], grid)?,
    ])
}

pub mod cpu {
    use super::Conv2dShape;
    use crate::ops::Activation;
    use crate::ops::activation::cpu::apply;

    /// Calls `f(x index, weight index, y index)` for every multiply-add of the convolution.
    fn each_tap(shape: &Conv2dShape, mut f: impl FnMut(usize, usize, usize)) {
        let e = shape.extent().expect("conv2d shape");
        let Conv2dShape { n, h, w, c_in, c_out, kh, kw, stride_h, stride_w, .. } = *shape;
        for b in 0..n {
            for oy in 0..e.oh {
                for ox in 0..e.ow {
                    for ky in 0..kh {
                        let Some(iy) = (oy * stride_h + ky).checked_sub(e.pad_top).filter(|&v| v < h) else {
                            continue;
                        };
                        for kx in 0..kw {
                            let Some(ix) = (ox * stride_w + kx).checked_sub(e.pad_left).filter(|&v| v < w) else {
                                continue;
                            };
                            for ci in 0..c_in {
                                for co in 0..c_out {
                                    f(
                                        ((b * h + iy) * w + ix) * c_in + ci,
                                        ((ky * kw + kx) * c_in + ci) * c_out + co,
                                        ((b * e.oh + oy) * e.ow + ox) * c_out + co,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn forward(shape: &Conv2dShape, x: &[f64], weight: &[f64], bias: Option<&[f64]>, act: Activation) -> Vec<f64> {
        let mut y = vec![0.0; shape.y_len().expect("conv2d shape")];
        each_tap(shape, |xi, wi, yi| y[yi] += x[xi] * weight[wi]);
        for (i, v) in y.iter_mut().enumerate() {
            *v = apply(act, *v + bias.map_or(0.0, |b| b[i % shape.c_out]));
        }
        y
    }

    pub fn backward_input(shape: &Conv2dShape, dy: &[f64], weight: &[f64]) -> Vec<f64> {
        let mut dx = vec![0.0; shape.x_len()];
        each_tap(shape, |xi, wi, yi| dx[xi] += dy[yi] * weight[wi]);
        dx
    }

    pub fn backward_weight(shape: &Conv2dShape, x: &[f64], dy: &[f64]) -> Vec<f64> {
        let mut dw = vec![0.0; shape.weight_len()];
        each_tap(shape, |xi, wi, yi| dw[wi] += dy[yi] * x[xi]);
        dw
    }
}
