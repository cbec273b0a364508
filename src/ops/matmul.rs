//! C = op(A)·op(B) (+ bias, + activation) and bias gradients: `shaders/matmul.wgsl`.

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::{Activation, grid_for};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor, WINDOW};

/// C [m, n] = op(A) · op(B) with a shared dimension k. A is stored [m, k], or [k, m]
/// when `trans_a`; B is stored [k, n], or [n, k] when `trans_b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl MatmulShape {
    /// A·B with A [m, k] and B [k, n].
    pub fn new(m: usize, n: usize, k: usize) -> MatmulShape {
        MatmulShape { m, n, k, trans_a: false, trans_b: false }
    }

    /// Whether m, n and k are all multiples of 4 (the vec4 variant's condition).
    pub fn allows_vec4(&self) -> bool {
        self.m.is_multiple_of(4) && self.n.is_multiple_of(4) && self.k.is_multiple_of(4)
    }

    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

/// A product's A: f32 values, or bytes four to a word read as byte / 255 — an input batch of u8
/// images as the dataset holds them, which the first Dense layer reads in a quarter of the
/// loads (on CPU adapters, where each load is a gather, most of what its products cost).
#[derive(Clone, Copy)]
pub enum Operand<'a> {
    F32(&'a Tensor),
    Unorm8(&'a Tensor),
}

impl<'a> From<&'a Tensor> for Operand<'a> {
    fn from(t: &'a Tensor) -> Self {
        Operand::F32(t)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    act: u32,
    has_bias: u32,
    bias_grad: u32,
    act_grad: u32,
    chunk: u32,
    chunks: u32,
}

/// Rows and columns of C each workgroup computes, whatever the variant.
const TILE: usize = 64;

/// The matmul kernels: most compute a 64×64 tile per workgroup, split differently over
/// invocations; the GPU kernels (`Tiled`, `SplitK`) share work through workgroup memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// 16×16 invocations of 4×4 outputs.
    Block4,
    /// 8×8 invocations of 8×8 outputs: fewer, heavier invocations.
    Block8,
    /// 16×16 invocations of 4×4 outputs, reading vec4s and stepping k by 4; m, n and k must be
    /// multiples of 4.
    Vec4,
    /// 8×8 invocations of 8×8 outputs, reading vec4s; m, n and k must be multiples of 4.
    Vec4Block8,
    /// 8×8 invocations of 16×8 outputs (a 128×64 tile), reading vec4s; multiples of 4.
    Vec4Block16x8,
    /// `Vec4Block16x8` with op(A)'s loads shared across each subgroup of 8 (one row of
    /// blocks): only where `Tuning::subgroup_products` (see `available`).
    Vec4Block16x8Subgroup,
    /// 64 invocations of 4×16 outputs, B read through a uniform window by every invocation;
    /// B must have at most `WINDOW` elements and a window (`Tensor::uniform_window`).
    UniformB,
    /// 16×16 invocations of 8×8 outputs in a 128×128 tile, op(A) and op(B) staged through
    /// workgroup memory; m, n and k must be multiples of 4. For large products on GPUs.
    Tiled,
    /// 16×16 tiles, k split over 16 lanes per output block and over chunks of `SPLIT_CHUNK`
    /// (a second dispatch adds the chunks). For products with few outputs and a long k on GPUs.
    SplitK,
}

/// The k a `SplitK` workgroup sums at most: 16 lanes of 16 steps.
const SPLIT_CHUNK: usize = 256;
/// The most partial sums (chunks × outputs) `SplitK` keeps: 64 MiB, within every adapter's
/// storage binding limit. It also bounds the reduce, one invocation per output in one
/// dimension of workgroups: with two chunks or more, at most 2²³ outputs, 32 768 workgroups.
const SPLIT_MAX_PARTIALS: usize = 1 << 24;
/// On GPUs, products of at least this many 128×128 tiles take `Tiled` (2048×2048 and up: on an
/// H100 it beat every other kernel there, 37.9 TFLOP/s at 4096 against 29.2 for `Vec4Block16x8`,
/// and lost to `Vec4` at 1024, BENCHMARKS.md).
const TILED_MIN_TILES: usize = 256;
/// On GPUs, products of fewer 64×64 tiles than this, over a k at least `SPLIT_MIN_K` long, take
/// `SplitK`: the other kernels leave most compute units idle and walk all of k per invocation
/// (H100: the seed MLP's 32×128×k784 product 0.011 ms against 0.069 for `Vec4`; with enough
/// tiles it loses: 512×512×k512 0.53 ms against 0.12, BENCHMARKS.md).
const SPLIT_MAX_TILES: usize = 32;
const SPLIT_MIN_K: usize = 64;

/// llvmpipe ends a shader loop after 65 535 iterations whatever its bound, so the kernels that
/// walk all of k in one loop (every one but `SplitK`) return wrong sums past it, with no error
/// (BENCHMARKS.md). Longer products take `SplitK`, whose invocations walk one chunk each.
const MAX_LOOP_TRIPS: usize = 65_535;

/// Products with at most this many columns are narrow: an output layer's. The 64×64-tile
/// kernels leave most of their invocations idle on them.
pub const NARROW: usize = 16;

impl Variant {
    pub const ALL: [Variant; 9] = [
        Variant::Block4,
        Variant::Block8,
        Variant::Vec4,
        Variant::Vec4Block8,
        Variant::Vec4Block16x8,
        Variant::Vec4Block16x8Subgroup,
        Variant::UniformB,
        Variant::Tiled,
        Variant::SplitK,
    ];

    /// The variant for shapes off multiples of 4: `$WGTRAIN_MATMUL` (`4x4` or `8x8`; `vec4`,
    /// `vec4-8x8` and `vec4-16x8` pick the vec4 kernels where they apply) when set; otherwise 8×8
    /// on CPU adapters, where an invocation costs most (measured on llvmpipe: see BENCHMARKS.md),
    /// and 4×4 elsewhere, where more invocations keep more of the GPU busy.
    pub fn for_gpu(gpu: &Gpu) -> Variant {
        match gpu.tuning.matmul() {
            Some("4x4") => Variant::Block4,
            Some("8x8") => Variant::Block8,
            _ if gpu.tuning.cpu_adapter => Variant::Block8,
            _ => Variant::Block4,
        }
    }

    /// The variant for a product. On GPUs `Tiled` or `SplitK` where they keep more compute
    /// units busy (`for_gpu_shape`); otherwise a vec4 one when every dimension allows it, else
    /// the adapter's. On CPU adapters each load is a per-invocation gather, so the largest
    /// blocks win: 16×8 (a third more arithmetic per load than 8×8: 1.1–1.4× at the seed shapes
    /// and 1024 on llvmpipe, BENCHMARKS.md), with op(A)'s loads shared across the subgroup where
    /// subgroups are 8 wide (lavapipe); GPUs keep the 4×4 blocks, which occupy more invocations.
    /// `$WGTRAIN_MATMUL` names a variant to use wherever it applies.
    pub fn for_shape(gpu: &Gpu, shape: &MatmulShape) -> Variant {
        let cpu = gpu.tuning.cpu_adapter;
        if shape.k > MAX_LOOP_TRIPS && Variant::SplitK.takes(shape) {
            return Variant::SplitK;
        }
        match gpu.tuning.matmul() {
            Some("vec4") if shape.allows_vec4() => Variant::Vec4,
            Some("vec4-8x8") if shape.allows_vec4() => Variant::Vec4Block8,
            Some("vec4-16x8") if shape.allows_vec4() => Variant::Vec4Block16x8,
            Some("vec4-16x8-subgroup") if shape.allows_vec4() && gpu.tuning.subgroup_products => {
                Variant::Vec4Block16x8Subgroup
            }
            Some("tiled") if shape.allows_vec4() => Variant::Tiled,
            Some("split-k") if Variant::SplitK.takes(shape) => Variant::SplitK,
            None => match Variant::for_gpu_shape(shape) {
                Some(variant) if !cpu => variant,
                _ if shape.allows_vec4() && cpu && gpu.tuning.subgroup_products => Variant::Vec4Block16x8Subgroup,
                _ if shape.allows_vec4() && cpu => Variant::Vec4Block16x8,
                _ if shape.allows_vec4() => Variant::Vec4,
                _ => Variant::for_gpu(gpu),
            },
            _ => Variant::for_gpu(gpu),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Block4 => "4x4",
            Variant::Block8 => "8x8",
            Variant::Vec4 => "vec4",
            Variant::Vec4Block8 => "vec4-8x8",
            Variant::Vec4Block16x8 => "vec4-16x8",
            Variant::Vec4Block16x8Subgroup => "vec4-16x8-subgroup",
            Variant::UniformB => "uniform-b",
            Variant::Tiled => "tiled",
            Variant::SplitK => "split-k",
        }
    }

    fn entry(self) -> &'static str {
        match self {
            Variant::Block4 => "matmul",
            Variant::Block8 => "matmul_8x8",
            Variant::Vec4 => "matmul_vec4",
            Variant::Vec4Block8 => "matmul_vec4_8x8",
            Variant::Vec4Block16x8 => "matmul_vec4_16x8",
            Variant::Vec4Block16x8Subgroup => "matmul_vec4_16x8_subgroup",
            Variant::UniformB => "matmul_uniform_b",
            Variant::Tiled => "matmul_tiled",
            Variant::SplitK => "matmul_split_k",
        }
    }

    fn shader(self) -> Shader {
        match self {
            Variant::Vec4Block16x8Subgroup => Shader::MatmulSubgroup,
            _ => Shader::Matmul,
        }
    }

    /// Whether `gpu` can run the variant: all can but the subgroup one.
    pub fn available(self, gpu: &Gpu) -> bool {
        self != Variant::Vec4Block16x8Subgroup || gpu.tuning.subgroup_products
    }

    /// Whether the variant reads vec4s (and so needs m, n and k multiples of 4).
    pub fn is_vec4(self) -> bool {
        matches!(
            self,
            Variant::Vec4
                | Variant::Vec4Block8
                | Variant::Vec4Block16x8
                | Variant::Vec4Block16x8Subgroup
                | Variant::Tiled
        )
    }

    /// Whether the variant can compute products of `shape` (given a windowed B for `UniformB`).
    pub fn takes(self, shape: &MatmulShape) -> bool {
        match self {
            Variant::UniformB => shape.k * shape.n <= WINDOW,
            Variant::SplitK => (shape.m * shape.n + shape.n) * shape.k.div_ceil(SPLIT_CHUNK) <= SPLIT_MAX_PARTIALS,
            v if v.is_vec4() => shape.allows_vec4(),
            _ => true,
        }
    }

    /// The variants `gpu` can run on `shape`.
    pub fn runnable(gpu: &Gpu, shape: &MatmulShape) -> Vec<Variant> {
        Variant::ALL.into_iter().filter(|v| v.takes(shape) && v.available(gpu)).collect()
    }

    /// The variants worth timing for `shape` on `gpu`: the vec4 ones where they apply, else the
    /// scalar ones; and the uniform-B and split-k ones wherever they apply.
    pub fn candidates(gpu: &Gpu, shape: &MatmulShape) -> Vec<Variant> {
        let vec4 = shape.allows_vec4();
        Variant::runnable(gpu, shape)
            .into_iter()
            .filter(|v| matches!(v, Variant::UniformB | Variant::SplitK) || v.is_vec4() == vec4)
            .collect()
    }

    /// On GPUs, the kernel that keeps the most compute units busy: `Tiled` for products of
    /// many 128×128 tiles, `SplitK` for products with few outputs over a long k (a small
    /// batch's Dense layers), else none (the 64×64 kernels serve).
    fn for_gpu_shape(shape: &MatmulShape) -> Option<Variant> {
        let tiles = |side: usize| shape.m.div_ceil(side) * shape.n.div_ceil(side);
        if shape.allows_vec4() && tiles(128) >= TILED_MIN_TILES {
            Some(Variant::Tiled)
        } else if tiles(64) < SPLIT_MAX_TILES && shape.k >= SPLIT_MIN_K && Variant::SplitK.takes(shape) {
            Some(Variant::SplitK)
        } else {
            None
        }
    }

    /// The variant for a product of `shape` with `b`: on CPU adapters a narrow product whose B
    /// has a uniform window reads it that way (4–9× the 8×8 kernel at the seed models' output
    /// layers on llvmpipe, BENCHMARKS.md); otherwise as `for_shape`. `$WGTRAIN_MATMUL=uniform-b`
    /// forces it wherever it applies.
    pub fn choose(gpu: &Gpu, shape: &MatmulShape, b: &Tensor) -> Variant {
        let windowed = Variant::UniformB.takes(shape) && b.uniform_window().is_some() && shape.k <= MAX_LOOP_TRIPS;
        match gpu.tuning.matmul() {
            Some("uniform-b") if windowed => Variant::UniformB,
            None if windowed && shape.n <= NARROW && gpu.tuning.cpu_adapter => Variant::UniformB,
            _ => Variant::for_shape(gpu, shape),
        }
    }
}

/// c = act(op(a) · op(b) + bias), with the variant the shape and adapter call for.
pub fn matmul<'a>(
    gpu: &Gpu,
    shape: MatmulShape,
    a: impl Into<Operand<'a>>,
    b: &Tensor,
    bias: Option<&Tensor>,
    act: Activation,
    c: &Tensor,
) -> Result<Dispatch> {
    matmul_variant(gpu, Variant::choose(gpu, &shape, b), shape, a, b, bias, act, c)
}

/// c = act(op(a) · op(b) + bias), with a chosen variant.
#[allow(clippy::too_many_arguments)] // the product's operands, each a tensor or its description
pub fn matmul_variant<'a>(
    gpu: &Gpu,
    variant: Variant,
    shape: MatmulShape,
    a: impl Into<Operand<'a>>,
    b: &Tensor,
    bias: Option<&Tensor>,
    act: Activation,
    c: &Tensor,
) -> Result<Dispatch> {
    product(gpu, variant, shape, a.into(), b, c, Epilogue { bias, act, ..Epilogue::default() })
}

/// A Dense layer's gradients in one dispatch: dw = op(x)ᵀ-style product `shape` of `x` and `dz`
/// (dw = xᵀ·dz: `shape` has trans_a), and db = the column sums of dz, from the same loads.
pub fn weight_grad<'a>(
    gpu: &Gpu,
    shape: MatmulShape,
    x: impl Into<Operand<'a>>,
    dz: &Tensor,
    dw: &Tensor,
    db: Option<&Tensor>,
) -> Result<Dispatch> {
    weight_grad_variant(gpu, Variant::choose(gpu, &shape, dz), shape, x, dz, dw, db)
}

/// `weight_grad` with a chosen variant.
pub fn weight_grad_variant<'a>(
    gpu: &Gpu,
    variant: Variant,
    shape: MatmulShape,
    x: impl Into<Operand<'a>>,
    dz: &Tensor,
    dw: &Tensor,
    db: Option<&Tensor>,
) -> Result<Dispatch> {
    if let Some(db) = db {
        assert_eq!(db.len(), shape.n, "weight_grad: db has {} elements, n is {}", db.len(), shape.n);
    }
    product(gpu, variant, shape, x.into(), dz, dw, Epilogue { db, ..Epilogue::default() })
}

/// A Dense layer's input gradient dx = dz·wᵀ (`shape` has trans_b), and when the input is the
/// output `y` of an elementwise activation, `(activation, y)`, times its derivative: then dx is
/// the previous layer's pre-activation gradient, with no activation-backward dispatch.
pub fn input_grad(
    gpu: &Gpu,
    shape: MatmulShape,
    dz: &Tensor,
    w: &Tensor,
    act_of_input: Option<(Activation, &Tensor)>,
    dx: &Tensor,
) -> Result<Dispatch> {
    input_grad_variant(gpu, Variant::choose(gpu, &shape, w), shape, dz, w, act_of_input, dx)
}

/// `input_grad` with a chosen variant.
pub fn input_grad_variant(
    gpu: &Gpu,
    variant: Variant,
    shape: MatmulShape,
    dz: &Tensor,
    w: &Tensor,
    act_of_input: Option<(Activation, &Tensor)>,
    dx: &Tensor,
) -> Result<Dispatch> {
    super::input_act_code("input_grad", act_of_input, dx);
    product(gpu, variant, shape, dz.into(), w, dx, Epilogue { act_grad: act_of_input, ..Epilogue::default() })
}

/// What a product does besides C = op(A)·op(B): add a bias and activate, or multiply by an
/// activation's derivative at its saved output, and optionally sum op(B)'s columns into `db`.
struct Epilogue<'a> {
    bias: Option<&'a Tensor>,
    act: Activation,
    db: Option<&'a Tensor>,
    act_grad: Option<(Activation, &'a Tensor)>,
}

impl Default for Epilogue<'_> {
    fn default() -> Self {
        Epilogue { bias: None, act: Activation::Linear, db: None, act_grad: None }
    }
}

/// c = op(a) · op(b) with `epilogue`.
fn product(
    gpu: &Gpu,
    variant: Variant,
    shape: MatmulShape,
    a: Operand,
    b: &Tensor,
    c: &Tensor,
    epilogue: Epilogue,
) -> Result<Dispatch> {
    let Epilogue { bias, act, db, act_grad } = epilogue;
    let MatmulShape { m, n, k, trans_a, trans_b } = shape;
    assert!(m > 0 && n > 0 && k > 0, "matmul: empty shape {shape:?}");
    let fits = |a: Activation| a.from_output();
    assert!(fits(act) && act_grad.is_none_or(|(a, _)| fits(a)), "matmul: not an epilogue activation");
    let (a, a_words, unorm8) = match a {
        Operand::F32(a) => (a, m * k, false),
        Operand::Unorm8(a) => (a, (m * k).div_ceil(4), true),
    };
    assert_eq!(a.len(), a_words, "matmul: a has {} words for {shape:?}", a.len());
    assert_eq!(b.len(), k * n, "matmul: b has {} elements for {shape:?}", b.len());
    assert_eq!(c.len(), m * n, "matmul: c has {} elements for {shape:?}", c.len());
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n, "matmul: bias has {} elements, n is {n}", bias.len());
    }
    assert!(variant.available(gpu), "matmul: {} on a device without 8-wide subgroups", variant.name());
    let mut kernel = Kernel::new(variant.shader(), variant.entry())
        .constant("trans_a", f64::from(u8::from(trans_a)))
        .constant("trans_b", f64::from(u8::from(trans_b)));
    if unorm8 {
        kernel = kernel.constant("a_unorm8", 1.0);
    }
    // Workgroups along C's rows and columns.
    let grid = match variant {
        Variant::UniformB => {
            assert!(variant.takes(&shape), "matmul: B of {shape:?} is larger than a uniform window");
            // A is read as vec4s where its layout allows: 4 rows at once, or 4 steps of k.
            let a_vec4 = if trans_a { m.is_multiple_of(4) } else { k.is_multiple_of(4) };
            kernel =
                kernel.constant("ub_vecs", n.div_ceil(4).min(4) as f64).constant("a_vec4", f64::from(u8::from(a_vec4)));
            [m.div_ceil(256), n.div_ceil(16)]
        }
        // 64 rows, or 128 for the 16×8 blocks.
        Variant::Vec4Block16x8 | Variant::Vec4Block16x8Subgroup => [m.div_ceil(2 * TILE), n.div_ceil(TILE)],
        Variant::Tiled => [m.div_ceil(2 * TILE), n.div_ceil(2 * TILE)],
        Variant::SplitK => [m.div_ceil(16), n.div_ceil(16)],
        _ => [m.div_ceil(TILE), n.div_ceil(TILE)],
    };
    let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
    if grid[0] > max || grid[1] > max {
        return Err(Error::LimitExceeded {
            what: format!("a {m}×{n} matmul ({}×{} workgroups)", grid[1], grid[0]),
            requested: grid[0].max(grid[1]) as u64,
            limit_name: "max_compute_workgroups_per_dimension",
            limit: max as u64,
        });
    }
    // SplitK: chunks of k of a multiple of 16 (one per lane step), as even as they come.
    let chunks = k.div_ceil(SPLIT_CHUNK);
    let chunk = k.div_ceil(chunks).next_multiple_of(16);
    let params = Params {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        act: act.code(),
        has_bias: u32::from(bias.is_some()),
        bias_grad: u32::from(db.is_some()),
        act_grad: act_grad.map_or(0, |(a, _)| a.code()),
        chunk: chunk as u32,
        chunks: k.div_ceil(chunk) as u32,
    };
    // Unused bindings still need a buffer: read-only ones may share `a` (read-only here
    // already), a writable one gets a spare. A is bound both as f32 (1, 7) and as bytes (14);
    // the kernel reads the one `a_unorm8` names.
    let bias = bias.unwrap_or(a);
    let db = db.unwrap_or(gpu.spare(0));
    let saved = act_grad.map_or(a, |(_, y)| y);
    match variant {
        Variant::UniformB => {
            let tensors = [(1, a), (7, a), (14, a), (3, bias), (4, c), (6, db), (10, saved)];
            gpu.dispatch_with_window(&kernel, &params, &tensors, Some((12, b)), [grid[0] as u32, grid[1] as u32, 1])
        }
        Variant::SplitK => {
            assert!(variant.takes(&shape), "matmul: {shape:?} has more partial sums than split-k keeps");
            let chunks = params.chunks as usize;
            if chunks > max {
                return Err(Error::LimitExceeded {
                    what: format!("a {m}×{n} matmul over k = {k} ({chunks} chunks of k)"),
                    requested: chunks as u64,
                    limit_name: "max_compute_workgroups_per_dimension",
                    limit: max as u64,
                });
            }
            let direct = chunks == 1;
            let kernel = kernel.constant("split_direct", f64::from(u8::from(direct)));
            let grid = [grid[1] as u32, grid[0] as u32, params.chunks];
            if direct {
                // `partial` is unused: a spare (db may hold the other).
                let tensors = [(1, a), (14, a), (2, b), (3, bias), (4, c), (6, db), (10, saved), (13, gpu.spare(1))];
                return gpu.dispatch(&kernel, &params, &tensors, grid);
            }
            // Each chunk's C, then each chunk's column sums of op(B) (bias_grad).
            let partial = Arc::new(gpu.zeros("matmul_partial", chunks * (m * n + n))?);
            let sums = [(1, a), (14, a), (2, b), (3, bias), (4, c), (6, db), (10, saved), (13, &*partial)];
            let reduce = [(3, bias), (4, c), (6, db), (10, saved), (13, &*partial)];
            Ok(gpu.dispatch(&kernel, &params, &sums, grid)?.owning(partial.clone()).followed_by(gpu.dispatch(
                &Kernel::new(Shader::Matmul, "matmul_split_k_reduce"),
                &params,
                &reduce,
                [(m * n).div_ceil(256) as u32, 1, 1],
            )?))
        }
        v => {
            let tensors = if v.is_vec4() {
                assert!(shape.allows_vec4(), "matmul: the vec4 variant needs m, n, k multiples of 4: {shape:?}");
                [(7, a), (14, a), (8, b), (3, bias), (9, c), (6, db), (11, saved)]
            } else {
                [(1, a), (14, a), (2, b), (3, bias), (4, c), (6, db), (10, saved)]
            };
            gpu.dispatch(&kernel, &params, &tensors, [grid[1] as u32, grid[0] as u32, 1])
        }
    }
}

/// From this many rows on, a column's sum is shared by a workgroup.
const TALL_ROWS: usize = 1024;

/// db [cols] = column sums of dy [rows, cols].
pub fn bias_grad(gpu: &Gpu, rows: usize, cols: usize, dy: &Tensor, db: &Tensor) -> Result<Dispatch> {
    assert_eq!(dy.len(), rows * cols, "bias_grad: dy has {} elements for {rows}×{cols}", dy.len());
    assert_eq!(db.len(), cols, "bias_grad: db has {} elements for {cols} columns", db.len());
    let params = Params { m: rows as u32, n: cols as u32, ..Params::zeroed() };
    // Tall dy (a convolution's pixels) gets a workgroup per column; short dy an invocation.
    let (entry, grid) = if rows >= TALL_ROWS {
        ("matmul_bias_grad_tall", gpu.grid(cols as u64)?)
    } else {
        ("matmul_bias_grad", grid_for(gpu, cols)?)
    };
    gpu.dispatch(&Kernel::new(Shader::Matmul, entry), &params, &[(5, dy), (6, db)], grid)
}

pub mod cpu {
    use super::MatmulShape;
    use crate::ops::Activation;
    use crate::ops::activation::cpu::apply;

    pub fn matmul(shape: MatmulShape, a: &[f64], b: &[f64], bias: Option<&[f64]>, act: Activation) -> Vec<f64> {
        let MatmulShape { m, n, k, trans_a, trans_b } = shape;
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut sum = bias.map_or(0.0, |b| b[j]);
                for p in 0..k {
                    let av = if trans_a { a[p * m + i] } else { a[i * k + p] };
                    let bv = if trans_b { b[j * k + p] } else { b[p * n + j] };
                    sum += av * bv;
                }
                c[i * n + j] = apply(act, sum);
            }
        }
        c
    }

    pub fn bias_grad(rows: usize, cols: usize, dy: &[f64]) -> Vec<f64> {
        let mut db = vec![0.0; cols];
        for row in dy.chunks(cols).take(rows) {
            for (d, v) in db.iter_mut().zip(row) {
                *d += v;
            }
        }
        db
    }
}

#[cfg(test)]
mod tests {
    use super::{MatmulShape, Variant};

    fn shape(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> MatmulShape {
        MatmulShape { m, n, k, trans_a, trans_b }
    }

    /// The GPU rule at the seed models' shapes and the square sizes the H100 measured.
    #[test]
    fn gpus_split_few_outputs_over_a_long_k_and_tile_large_products() {
        let cases = [
            (shape(32, 128, 784, false, false), Some(Variant::SplitK)), // seed MLP forward
            (shape(32, 10, 128, false, false), Some(Variant::SplitK)),  // its output layer
            (shape(32, 128, 5408, false, false), Some(Variant::SplitK)), // seed CNN's Dense
            (shape(128, 512, 784, false, false), Some(Variant::SplitK)), // MLP-SGD, batch 128
            (shape(32, 128, 10, false, true), None),                    // dx: k too short
            (shape(784, 128, 32, true, false), None),                   // dW: k = the batch
            (shape(512, 512, 512, false, false), None),                 // enough 64×64 tiles
            (shape(1024, 1024, 1024, false, false), None),
            (shape(2048, 2048, 2048, false, false), Some(Variant::Tiled)),
            (shape(4096, 4096, 4096, false, false), Some(Variant::Tiled)),
            (shape(4096, 4095, 4096, false, false), None), // not vec4: the 64×64 kernels
        ];
        for (s, want) in cases {
            assert_eq!(Variant::for_gpu_shape(&s), want, "{s:?}");
        }
    }

    /// Split-k's partial sums stay within 64 MiB, whatever k is.
    #[test]
    fn split_k_takes_only_what_its_partials_fit() {
        assert!(Variant::SplitK.takes(&shape(1024, 1024, 1024, false, false)));
        assert!(!Variant::SplitK.takes(&shape(2048, 2048, 2048, false, false)));
        assert!(!Variant::SplitK.takes(&shape(64, 64, 1 << 20, false, false)));
        assert!(Variant::SplitK.takes(&shape(32, 128, 1 << 16, false, false)));
    }
}
