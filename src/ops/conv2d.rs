//! 2-D convolution, forward and gradients: `shaders/conv2d.wgsl`. Each pass is an implicit GEMM
//! on the device's register blocks where the channel counts allow (`ConvKernel`), with the bias
//! and activation in the forward's epilogue and the bias gradient summed by the weight
//! gradient's product; otherwise direct kernels, and the bias gradient as
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
    has_db: u32,
    act_grad: u32,
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
        has_db: 0,
        act_grad: 0,
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

/// The kernels a convolution pass runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernel {
    /// The implicit GEMM (`*_gemm` in the shader) on these blocks. Needs c_out a multiple of 4
    /// (the input gradient also c_in); other shapes run `Direct`.
    Gemm(GemmBlocks),
    /// The implicit GEMM with its shared operand made once a subgroup (`conv2d_subgroup.wgsl`):
    /// tiles of 32 rows (the weight gradient's as many as its taps need) × 32 columns, a
    /// subgroup of 8 each. Only where `Tuning::subgroup_products`; the same
    /// shapes as `Gemm`.
    GemmSubgroup,
    /// One 4×4 block (forward, weight gradient) or one output (input gradient) per invocation,
    /// scalar loads: any channel counts.
    Direct,
}

/// What each invocation of the implicit GEMM computes: `row_groups` × `col_groups` blocks of 4×4
/// outputs, as the matmul's register-blocked kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmBlocks {
    pub row_groups: u32,
    pub col_groups: u32,
}

impl GemmBlocks {
    fn kernel(self, entry: &'static str, shape: &Conv2dShape) -> Kernel {
        shape_constants(Kernel::new(Shader::Conv2d, entry), shape)
            .constant("row_groups", f64::from(self.row_groups))
            .constant("col_groups", f64::from(self.col_groups))
    }

    /// Invocations over a [rows, cols] output.
    fn invocations(self, rows: usize, cols: usize) -> usize {
        rows.div_ceil(4 * self.row_groups as usize) * cols.div_ceil(4 * self.col_groups as usize)
    }
}

/// The GEMM kernels' overrides that follow from the shape: whole vec4s of channels at a tap,
/// unit strides.
fn shape_constants(kernel: Kernel, shape: &Conv2dShape) -> Kernel {
    kernel
        .constant("taps_vec4", f64::from(u8::from(shape.c_in.is_multiple_of(4))))
        .constant("unit_stride", f64::from(u8::from(shape.stride_h == 1 && shape.stride_w == 1)))
}

/// The subgroup kernels' tiles: `blocks` × 4 rows (at most 8 blocks) × 32 columns.
fn subgroup_kernel(entry: &'static str, shape: &Conv2dShape, blocks: usize) -> Kernel {
    shape_constants(Kernel::new(Shader::Conv2dSubgroup, entry), shape).constant("tile_blocks", blocks as f64)
}

/// Invocations of the subgroup kernels over a [rows, cols] output: 8 a tile.
fn subgroup_invocations(rows: usize, cols: usize, blocks: usize) -> usize {
    8 * rows.div_ceil(4 * blocks) * cols.div_ceil(32)
}

/// The grid of `invocations` of `kernel`: workgroups of 64 for the subgroup kernels, 256
/// for the others.
fn invocation_grid(gpu: &Gpu, kernel: ConvKernel, invocations: usize) -> Result<[u32; 3]> {
    match kernel {
        ConvKernel::GemmSubgroup => gpu.grid(invocations.div_ceil(64) as u64),
        _ => grid_for(gpu, invocations),
    }
}

/// The passes of a convolution, for what each kernel takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Forward,
    InputGrad,
    WeightGrad,
}

impl ConvKernel {
    /// The GEMM the device's tuning profile picks for `pass` of `shape`: sharing loads across
    /// subgroups where the matmul does and the channels fill three quarters of the tiles' 32
    /// columns (with 16, half the lanes would compute padding), else on the profile's blocks.
    pub fn for_gpu(gpu: &Gpu, pass: Pass, shape: &Conv2dShape) -> ConvKernel {
        let cols = match pass {
            Pass::Forward | Pass::WeightGrad => shape.c_out,
            Pass::InputGrad => shape.c_in,
        };
        if gpu.tuning.subgroup_products && 4 * cols >= 3 * cols.next_multiple_of(32) {
            return ConvKernel::GemmSubgroup;
        }
        let (row_groups, col_groups) = gpu.tuning.conv_blocks;
        ConvKernel::Gemm(GemmBlocks { row_groups, col_groups })
    }

    pub fn name(self) -> String {
        match self {
            ConvKernel::Gemm(b) => format!("gemm-{}x{}", 4 * b.row_groups, 4 * b.col_groups),
            ConvKernel::GemmSubgroup => "gemm-subgroup".into(),
            ConvKernel::Direct => "direct".into(),
        }
    }

    /// Whether `gpu` can run this kernel (the subgroup one needs 8-wide subgroups).
    pub fn available(self, gpu: &Gpu) -> bool {
        self != ConvKernel::GemmSubgroup || gpu.tuning.subgroup_products
    }

    /// This kernel where it takes `pass` of `shape`, else `Direct`.
    pub fn for_pass(self, pass: Pass, shape: &Conv2dShape) -> ConvKernel {
        let channels = match pass {
            Pass::Forward | Pass::WeightGrad => shape.c_out.is_multiple_of(4),
            Pass::InputGrad => shape.c_out.is_multiple_of(4) && shape.c_in.is_multiple_of(4),
        };
        if channels && gemm_index_math_fits(shape) { self } else { ConvKernel::Direct }
    }
}

/// Whether the GEMM kernels' index math (divisions through f32, `quot` in the shader) is exact
/// for `shape`: every index divided below 2^24, every quotient below 2^20.
fn gemm_index_math_fits(shape: &Conv2dShape) -> bool {
    let Ok(e) = shape.extent() else { return false };
    let (pixels, inputs) = (shape.n * e.oh * e.ow, shape.n * shape.h * shape.w);
    let taps = shape.kh * shape.kw * shape.c_in.max(shape.c_out);
    let rows = shape.n * e.oh.max(shape.h);
    pixels.max(inputs).max(taps) < 1 << 24 && rows.max(shape.kh * shape.kw) < 1 << 20
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
    forward_with(gpu, ConvKernel::for_gpu(gpu, Pass::Forward, shape), shape, x, weight, bias, act, y)
}

/// `forward` on a chosen kernel.
#[allow(clippy::too_many_arguments)] // the pass's tensors and its epilogue
pub fn forward_with(
    gpu: &Gpu,
    kernel: ConvKernel,
    shape: &Conv2dShape,
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    act: Activation,
    y: &Tensor,
) -> Result<Dispatch> {
    check(shape, x.len(), weight.len(), y.len())?;
    let p = params(shape, act, bias.is_some())?;
    let bias = bias.unwrap_or(weight);
    let pixels = y.len() / shape.c_out;
    match kernel.for_pass(Pass::Forward, shape) {
        ConvKernel::Direct => {
            let grid = tile_grid(gpu, pixels, shape.c_out)?;
            let kernel = Kernel::new(Shader::Conv2d, "conv2d_forward");
            gpu.dispatch(&kernel, &p, &[(1, x), (2, weight), (3, bias), (4, y)], grid)
        }
        ConvKernel::Gemm(b) => {
            let grid = grid_for(gpu, b.invocations(pixels, shape.c_out))?;
            let tensors = [(1, x), (9, x), (10, weight), (3, bias), (11, y)];
            gpu.dispatch(&b.kernel("conv2d_forward_gemm", shape), &p, &tensors, grid)
        }
        ConvKernel::GemmSubgroup => {
            let grid = invocation_grid(gpu, kernel, subgroup_invocations(pixels, shape.c_out, 8))?;
            let tensors = [(1, x), (9, x), (10, weight), (3, bias), (11, y)];
            gpu.dispatch(&subgroup_kernel("conv2d_forward_gemm_subgroup", shape, 8), &p, &tensors, grid)
        }
    }
}

/// dx from dy (the gradient before any fused activation) and the weights; when the input x is
/// the output of an elementwise activation, `(activation, x)`, times its derivative: then dx is
/// the previous layer's pre-activation gradient, with no activation-backward dispatch.
pub fn backward_input(
    gpu: &Gpu,
    shape: &Conv2dShape,
    dy: &Tensor,
    weight: &Tensor,
    act_of_input: Option<(Activation, &Tensor)>,
    dx: &Tensor,
) -> Result<Dispatch> {
    backward_input_with(gpu, ConvKernel::for_gpu(gpu, Pass::InputGrad, shape), shape, dy, weight, act_of_input, dx)
}

/// `backward_input` on a chosen kernel.
pub fn backward_input_with(
    gpu: &Gpu,
    kernel: ConvKernel,
    shape: &Conv2dShape,
    dy: &Tensor,
    weight: &Tensor,
    act_of_input: Option<(Activation, &Tensor)>,
    dx: &Tensor,
) -> Result<Dispatch> {
    check(shape, dx.len(), weight.len(), dy.len())?;
    let act_grad = super::input_act_code("conv2d", act_of_input, dx);
    let p = Params { act_grad, ..params(shape, Activation::Linear, false)? };
    // Without an activation, the saved output is bound unread.
    let saved = act_of_input.map_or(dy, |(_, x)| x);
    match kernel.for_pass(Pass::InputGrad, shape) {
        ConvKernel::Direct => {
            let kernel = Kernel::new(Shader::Conv2d, "conv2d_backward_input");
            gpu.dispatch(&kernel, &p, &[(2, weight), (5, dy), (6, dx), (17, saved)], grid_for(gpu, dx.len())?)
        }
        ConvKernel::Gemm(b) => {
            let grid = grid_for(gpu, b.invocations(dx.len() / shape.c_in, shape.c_in))?;
            let tensors = [(12, dy), (10, weight), (13, dx), (14, saved)];
            gpu.dispatch(&b.kernel("conv2d_backward_input_gemm", shape), &p, &tensors, grid)
        }
        ConvKernel::GemmSubgroup => {
            let grid = invocation_grid(gpu, kernel, subgroup_invocations(dx.len() / shape.c_in, shape.c_in, 8))?;
            let tensors = [(12, dy), (10, weight), (13, dx), (14, saved)];
            gpu.dispatch(&subgroup_kernel("conv2d_backward_input_gemm_subgroup", shape, 8), &p, &tensors, grid)
        }
    }
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

/// dw, and db when given, from dy (the gradient before any fused activation) and the input x:
/// partial sums over chunks of pixels, then their fixed-order sum. The partials' scratch lives
/// with the dispatches.
pub fn backward_weight(
    gpu: &Gpu,
    shape: &Conv2dShape,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
    db: Option<&Tensor>,
) -> Result<Vec<Dispatch>> {
    let kernel = ConvKernel::for_gpu(gpu, Pass::WeightGrad, shape);
    backward_weight_with(gpu, kernel, WeightGradPlan::for_gpu(gpu), shape, x, dy, dw, db)
}

/// `backward_weight` on a chosen kernel and plan.
#[allow(clippy::too_many_arguments)] // the pass's tensors and how it runs
pub fn backward_weight_with(
    gpu: &Gpu,
    kernel: ConvKernel,
    plan: WeightGradPlan,
    shape: &Conv2dShape,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
    db: Option<&Tensor>,
) -> Result<Vec<Dispatch>> {
    check(shape, x.len(), dw.len(), dy.len())?;
    if let Some(db) = db {
        assert_eq!(db.len(), shape.c_out, "conv2d: db has {} elements for {} channels", db.len(), shape.c_out);
    }
    let kernel = kernel.for_pass(Pass::WeightGrad, shape);
    let (invocations, min_chunk) = plan.split();
    let pixels = dy.len() / shape.c_out;
    let taps = shape.kh * shape.kw * shape.c_in;
    let (entry, blocks, summed_db) = match kernel {
        ConvKernel::Direct => {
            let blocks = taps.div_ceil(4) * shape.c_out.div_ceil(4);
            (Kernel::new(Shader::Conv2d, "conv2d_backward_weight"), blocks, None)
        }
        ConvKernel::Gemm(b) => (b.kernel("conv2d_backward_weight_gemm", shape), b.invocations(taps, shape.c_out), db),
        ConvKernel::GemmSubgroup => {
            // Tiles no taller than the taps (a first layer's 9 take 3 blocks).
            let blocks = taps.div_ceil(4).min(8);
            let entry = subgroup_kernel("conv2d_backward_weight_gemm_subgroup", shape, blocks);
            (entry, subgroup_invocations(taps, shape.c_out, blocks), db)
        }
    };
    let splits = invocations.div_ceil(blocks).clamp(1, pixels.div_ceil(min_chunk));
    let chunk = pixels.div_ceil(splits);
    let splits = pixels.div_ceil(chunk);
    let has_db = u32::from(summed_db.is_some());
    let p = Params { splits: splits as u32, chunk: chunk as u32, has_db, ..params(shape, Activation::Linear, false)? };
    let sums = dw.len() + has_db as usize * shape.c_out;
    let partial = Arc::new(gpu.zeros("dw_partial", splits * sums)?);
    let (reduce, grid) = match plan {
        WeightGradPlan::Long => ("conv2d_backward_weight_reduce", grid_for(gpu, sums)?),
        WeightGradPlan::Wide => ("conv2d_backward_weight_reduce_wide", gpu.grid(sums as u64)?),
    };
    let products = match kernel {
        ConvKernel::Direct => vec![(1, x), (5, dy), (8, &*partial)],
        _ => vec![(1, x), (9, x), (12, dy), (15, &*partial)],
    };
    let sum = [(8, &*partial), (7, dw), (16, summed_db.unwrap_or(gpu.spare(0)))];
    let mut dispatches = vec![
        gpu.dispatch(&entry, &p, &products, invocation_grid(gpu, kernel, splits * blocks)?)?.owning(partial.clone()),
        gpu.dispatch(&Kernel::new(Shader::Conv2d, reduce), &p, &sum, grid)?,
    ];
    if let (Some(db), None) = (db, summed_db) {
        dispatches.push(super::matmul::bias_grad(gpu, pixels, shape.c_out, dy, db)?);
    }
    Ok(dispatches)
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

#[cfg(test)]
mod tests {
    use super::{Conv2dShape, ConvKernel, GemmBlocks, Pass};
    use crate::ops::Padding;

    fn shape(n: usize, hw: usize, c_in: usize, c_out: usize) -> Conv2dShape {
        let padding = Padding::Valid;
        Conv2dShape { n, h: hw, w: hw, c_in, c_out, kh: 3, kw: 3, stride_h: 1, stride_w: 1, padding }
    }

    /// The GEMM takes what its vec4 accesses and its f32 index math allow, the direct kernels
    /// the rest.
    #[test]
    fn the_gemm_takes_channels_by_four_within_its_index_bounds() {
        let gemm = ConvKernel::Gemm(GemmBlocks { row_groups: 4, col_groups: 2 });
        let cases = [
            (shape(32, 28, 1, 32), [gemm, ConvKernel::Direct, gemm]), // a first layer: dx is direct
            (shape(64, 13, 32, 64), [gemm, gemm, gemm]),
            (shape(8, 9, 8, 10), [ConvKernel::Direct; 3]), // c_out off multiples of 4
            (shape(1 << 14, 34, 4, 4), [ConvKernel::Direct; 3]), // 2^24 and more pixels
            (shape((1 << 14) - 1, 34, 4, 4), [ConvKernel::Direct; 3]), // more input pixels than 2^24
            (shape(1 << 13, 34, 4, 4), [gemm; 3]),
        ];
        for (s, want) in cases {
            let got = [Pass::Forward, Pass::InputGrad, Pass::WeightGrad].map(|p| gemm.for_pass(p, &s));
            assert_eq!(got, want, "{s:?}");
        }
    }
}
