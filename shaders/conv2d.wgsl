// conv2d.wgsl: 2-D convolution (cross-correlation, as Keras), forward and gradients.
//
// Layouts (Keras's, row-major f32): x [n, h, w, c_in] (NHWC), weight [kh, kw, c_in, c_out],
//   bias [c_out], y and dy [n, oh, ow, c_out]. Input pixel (iy, ix) of output (oy, ox) and tap
//   (ky, kx) is (oy·stride_h + ky - pad_top, ox·stride_w + kx - pad_left); outside the image
//   it reads zero. 'valid' is pad 0; 'same' pads as TensorFlow (the odd pixel at the bottom/right).
//   conv2d_forward:         y = act(conv(x, weight) + bias)
//   conv2d_backward_input:  dx [n, h, w, c_in] from dy (pre-activation) and weight
//   conv2d_backward_weight (+ _reduce): dw [kh, kw, c_in, c_out] from dy (pre-activation) and x
//   The bias gradient is a column sum of dy seen as [n·oh·ow, c_out]: matmul_bias_grad.
// Bindings: 0 params; forward: 1 x, 2 weight, 3 bias, 4 y; backward_input: 2 weight, 5 dy,
//   6 dx, 17 saved; backward_weight: 1 x, 5 dy, 8 dw_partial; backward_weight_reduce(_wide): 8 dw_partial, 7 dw.
// Grid: conv2d_forward as below; the backward kernels one invocation per output element
//   (gather form: deterministic, no atomics), 256 per workgroup, folded 2-D past 65 535
//   workgroups. Outputs are overwritten.
// Activations: 0 linear, 1 relu, 2 sigmoid, 3 tanh.

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
    // conv2d_backward_weight_gemm: also sum the bias gradient.
    has_db: u32,
    // The input gradients: multiply dx by the derivative of this activation (a code as `act`;
    // 0: none) at its output, the layer's input x (17 saved, 14 saved4 as vec4s): then dx is the
    // previous layer's pre-activation gradient, with no activation-backward dispatch.
    act_grad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;
@group(0) @binding(8) var<storage, read_write> dw_partial: array<f32>;
@group(0) @binding(9) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> weight4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read_write> partial4: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read_write> db: array<f32>;
@group(0) @binding(14) var<storage, read> saved4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read> saved: array<f32>;

fn sigmoid(v: f32) -> f32 {
    if v >= 0.0 {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}

// tanh through exp of a non-negative argument: finite for every input on every backend.
fn stable_tanh(v: f32) -> f32 {
    let t = 1.0 - 2.0 / (exp(2.0 * abs(v)) + 1.0);
    return select(-t, t, v >= 0.0);
}

fn activate(v: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return max(v, 0.0); }
        case 2u: { return sigmoid(v); }
        case 3u: { return stable_tanh(v); }
        case 4u: { return select(0.2 * v, v, v > 0.0); }
        case 5u: { return select(exp(min(v, 0.0)) - 1.0, v, v > 0.0); }
        default: { return v; }
    }
}

// The derivative of activation `act` where it output `out` (activation.wgsl's, for the codes a
// product's epilogue takes).
fn slope4(out: vec4<f32>, act: u32) -> vec4<f32> {
    switch act {
        case 1u: { return select(vec4<f32>(0.0), vec4<f32>(1.0), out > vec4<f32>(0.0)); }
        case 2u: { return out * (1.0 - out); }
        case 3u: { return 1.0 - out * out; }
        case 4u: { return select(vec4<f32>(0.2), vec4<f32>(1.0), out > vec4<f32>(0.0)); }
        case 5u: { return select(out + 1.0, vec4<f32>(1.0), out > vec4<f32>(0.0)); }
        default: { return vec4<f32>(1.0); }
    }
}

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

// Implicit GEMM: rows are output pixels (b, oy, ox), columns output channels, the shared
// dimension the taps (ky, kx, ci), whose weights are contiguous rows of [kh·kw·c_in, c_out].
// Each invocation computes 4 pixels × 4 channels in registers, so every x and weight value it
// loads feeds four multiply-adds. Grid: (ceil(c_out / 64), ceil(n·oh·ow / 64)) of 16×16.
@compute @workgroup_size(16, 16)
fn conv2d_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let pixels = params.n * params.oh * params.ow;
    let row0 = wg.y * 64u + lid.y * 4u;
    let co0 = wg.x * 64u + lid.x * 4u;
    if row0 >= pixels || co0 >= params.c_out {
        return;
    }
    let last_co = params.c_out - 1u;
    let q = vec4<u32>(co0, min(co0 + 1u, last_co), min(co0 + 2u, last_co), min(co0 + 3u, last_co));
    // Top-left input coordinate and image base of each of the 4 pixels (clamped rows repeat the last).
    var iy0: array<i32, 4>;
    var ix0: array<i32, 4>;
    var base: array<u32, 4>;
    for (var r = 0u; r < 4u; r++) {
        let m = min(row0 + r, pixels - 1u);
        let ox = m % params.ow;
        let oy = (m / params.ow) % params.oh;
        let b = m / (params.ow * params.oh);
        iy0[r] = i32(oy * params.stride_h) - i32(params.pad_top);
        ix0[r] = i32(ox * params.stride_w) - i32(params.pad_left);
        base[r] = b * params.h * params.w;
    }
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var ky = 0u; ky < params.kh; ky++) {
        for (var kx = 0u; kx < params.kw; kx++) {
            // Offset of each pixel's tap in x, or -1 where the tap falls in the padding.
            var at: array<i32, 4>;
            for (var r = 0u; r < 4u; r++) {
                let iy = iy0[r] + i32(ky);
                let ix = ix0[r] + i32(kx);
                let inside = iy >= 0 && iy < i32(params.h) && ix >= 0 && ix < i32(params.w);
                at[r] = select(-1, i32((base[r] + u32(iy) * params.w + u32(ix)) * params.c_in), inside);
            }
            let w_row = (ky * params.kw + kx) * params.c_in;
            for (var ci = 0u; ci < params.c_in; ci++) {
                let av = vec4<f32>(tap(at[0], ci), tap(at[1], ci), tap(at[2], ci), tap(at[3], ci));
                let wb = (w_row + ci) * params.c_out;
                let bv = vec4<f32>(weight[wb + q.x], weight[wb + q.y], weight[wb + q.z], weight[wb + q.w]);
                acc0 += av.x * bv;
                acc1 += av.y * bv;
                acc2 += av.z * bv;
                acc3 += av.w * bv;
            }
        }
    }
    var bias_v = vec4<f32>(0.0);
    if params.has_bias != 0u {
        bias_v = vec4<f32>(bias[q.x], bias[q.y], bias[q.z], bias[q.w]);
    }
    var acc = array<vec4<f32>, 4>(acc0 + bias_v, acc1 + bias_v, acc2 + bias_v, acc3 + bias_v);
    for (var r = 0u; r < 4u; r++) {
        let m = row0 + r;
        if m >= pixels {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            if co0 + j < params.c_out {
                y[m * params.c_out + co0 + j] = activate(acc[r][j], params.act);
            }
        }
    }
}

// x at a tap offset from conv2d_forward, or zero in the padding.
fn tap(at: i32, ci: u32) -> f32 {
    if at < 0 {
        return 0.0;
    }
    return x[u32(at) + ci];
}

@compute @workgroup_size(256)
fn conv2d_backward_input(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.h * params.w * params.c_in {
        return;
    }
    let ci = i % params.c_in;
    let ix = (i / params.c_in) % params.w;
    let iy = (i / (params.c_in * params.w)) % params.h;
    let b = i / (params.c_in * params.w * params.h);
    var acc = 0.0;
    for (var ky = 0u; ky < params.kh; ky++) {
        // oy·stride_h = iy + pad_top - ky must be a non-negative multiple of the stride.
        let ty = i32(iy + params.pad_top) - i32(ky);
        if ty < 0 || u32(ty) % params.stride_h != 0u {
            continue;
        }
        let oy = u32(ty) / params.stride_h;
        if oy >= params.oh {
            continue;
        }
        for (var kx = 0u; kx < params.kw; kx++) {
            let tx = i32(ix + params.pad_left) - i32(kx);
            if tx < 0 || u32(tx) % params.stride_w != 0u {
                continue;
            }
            let ox = u32(tx) / params.stride_w;
            if ox >= params.ow {
                continue;
            }
            let dy_base = ((b * params.oh + oy) * params.ow + ox) * params.c_out;
            let w_base = ((ky * params.kw + kx) * params.c_in + ci) * params.c_out;
            for (var co = 0u; co < params.c_out; co++) {
                acc += dy[dy_base + co] * weight[w_base + co];
            }
        }
    }
    if params.act_grad != 0u {
        acc *= slope4(vec4<f32>(saved[i]), params.act_grad).x;
    }
    dx[i] = acc;
}

// dw = Σ over output pixels of x-tap ⊗ dy, split over `splits` chunks of `chunk` pixels so
// that a small kernel (9×32 weights for 21 632 pixels) still fills the device: each invocation
// computes 4 taps × 4 channels of one chunk into dw_partial [splits, kh·kw·c_in, c_out], and
// conv2d_backward_weight_reduce sums the chunks in a fixed order.
// Grid: one invocation per (chunk, 4-tap block, 4-channel block), 256 per workgroup, folded 2-D.
@compute @workgroup_size(256)
fn conv2d_backward_weight(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let taps = params.kh * params.kw * params.c_in;
    let tap_blocks = (taps + 3u) / 4u;
    let co_blocks = (params.c_out + 3u) / 4u;
    let i = linear_index(wg, nwg, lid);
    if i >= params.splits * tap_blocks * co_blocks {
        return;
    }
    let co0 = (i % co_blocks) * 4u;
    let k0 = ((i / co_blocks) % tap_blocks) * 4u;
    let split = i / (co_blocks * tap_blocks);
    let last_co = params.c_out - 1u;
    let q = vec4<u32>(co0, min(co0 + 1u, last_co), min(co0 + 2u, last_co), min(co0 + 3u, last_co));
    // The 4 taps as (ky, kx, ci), clamped ones repeating the last tap. Vectors and four written-
    // out reads, not indexed arrays in a loop: wgpu bounds every loop, which keeps GPU drivers
    // from unrolling it and so from keeping such arrays in registers.
    let k = min(vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(taps - 1u));
    let ci = k % params.c_in;
    let kx = vec4<i32>((k / params.c_in) % params.kw);
    let ky = vec4<i32>(k / (params.c_in * params.kw));
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let pixels = params.n * params.oh * params.ow;
    let end = min((split + 1u) * params.chunk, pixels);
    for (var m = split * params.chunk; m < end; m++) {
        let ox = m % params.ow;
        let oy = (m / params.ow) % params.oh;
        let b = m / (params.ow * params.oh);
        let iy = i32(oy * params.stride_h) - i32(params.pad_top) + ky;
        let ix = i32(ox * params.stride_w) - i32(params.pad_left) + kx;
        let xv = vec4<f32>(
            tap_value(b, iy.x, ix.x, ci.x),
            tap_value(b, iy.y, ix.y, ci.y),
            tap_value(b, iy.z, ix.z, ci.z),
            tap_value(b, iy.w, ix.w, ci.w),
        );
        let d = m * params.c_out;
        let dv = vec4<f32>(dy[d + q.x], dy[d + q.y], dy[d + q.z], dy[d + q.w]);
        acc0 += xv.x * dv;
        acc1 += xv.y * dv;
        acc2 += xv.z * dv;
        acc3 += xv.w * dv;
    }
    store_partial(split, k0, co0, acc0);
    store_partial(split, k0 + 1u, co0, acc1);
    store_partial(split, k0 + 2u, co0, acc2);
    store_partial(split, k0 + 3u, co0, acc3);
}

// x at input row iy, column ix, channel ci of sample b; 0 in the padding.
fn tap_value(b: u32, iy: i32, ix: i32, ci: u32) -> f32 {
    if iy >= 0 && iy < i32(params.h) && ix >= 0 && ix < i32(params.w) {
        return x[((b * params.h + u32(iy)) * params.w + u32(ix)) * params.c_in + ci];
    }
    return 0.0;
}

// dw_partial[split, tap, co0 .. co0 + 4] = v, past the taps and channels skipped.
fn store_partial(split: u32, tap: u32, co0: u32, v: vec4<f32>) {
    let taps = params.kh * params.kw * params.c_in;
    if tap >= taps {
        return;
    }
    let at = (split * taps + tap) * params.c_out + co0;
    let left = params.c_out - co0;
    dw_partial[at] = v.x;
    if left > 1u {
        dw_partial[at + 1u] = v.y;
    }
    if left > 2u {
        dw_partial[at + 2u] = v.z;
    }
    if left > 3u {
        dw_partial[at + 3u] = v.w;
    }
}

// The sums the weight-gradient partials hold per chunk: dw, then db when the _gemm kernel
// summed it (as one more row of taps).
fn grad_len() -> u32 {
    return (params.kh * params.kw * params.c_in + params.has_db) * params.c_out;
}

fn put_grad(i: u32, v: f32) {
    let taps = params.kh * params.kw * params.c_in * params.c_out;
    if i < taps {
        dw[i] = v;
    } else {
        db[i - taps] = v;
    }
}

@compute @workgroup_size(256)
fn conv2d_backward_weight_reduce(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    let len = grad_len();
    if i >= len {
        return;
    }
    var sum = 0.0;
    for (var s = 0u; s < params.splits; s++) {
        sum += dw_partial[s * len + i];
    }
    put_grad(i, sum);
}

// The same sum for GPUs, where the chunks are many (short chunks keep more invocations busy):
// a workgroup per weight, its 256 invocations each adding every 256th chunk, then a fixed-order
// tree through workgroup memory. Grid: one workgroup per weight, folded 2-D.
var<workgroup> reduce_sums: array<f32, 256>;

@compute @workgroup_size(256)
fn conv2d_backward_weight_reduce_wide(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = wg.x + wg.y * nwg.x;
    let len = grad_len();
    if i >= len {
        return;
    }
    var sum = 0.0;
    for (var s = lid; s < params.splits; s += 256u) {
        sum += dw_partial[s * len + i];
    }
    reduce_sums[lid] = sum;
    for (var half = 128u; half > 0u; half /= 2u) {
        workgroupBarrier();
        if lid < half {
            reduce_sums[lid] += reduce_sums[lid + half];
        }
    }
    if lid == 0u {
        put_grad(i, reduce_sums[0]);
    }
}

// ---- Implicit GEMM: the three passes as products on register blocks, no im2col buffer ----
//
// Each pass is a product whose operands are read through the convolution's index math:
//   conv2d_forward_gemm          y  [pixels, c_out] = X [pixels, taps] · W [taps, c_out]
//   conv2d_backward_weight_gemm  dw [taps, c_out]   = Xᵀ [taps, pixels] · dy [pixels, c_out]
//   conv2d_backward_input_gemm   dx [in pixels, c_in] = DY [in pixels, kh·kw·c_out] · Wᵀ
// where a tap is (ky, kx, ci), X's row of a pixel holds the input values under its window
// (zero in the padding), and DY's row of an input pixel holds dy at the output pixels whose
// windows cover it. An invocation computes `row_groups` × `col_groups` blocks of 4 rows × 4
// columns, as the matmul's register-blocked kernels do (4 × 2 on CPU adapters, where each load
// is a per-invocation gather and the largest blocks pay; 1 × 1 on GPUs, which want more
// invocations in flight), stepping the shared dimension 4 at a time: every block is one 4×4
// matrix product of loaded 4×4 operands. Grid: one invocation per block (the weight gradient:
// per block and chunk of pixels), 256 per workgroup, folded 2-D, neighbouring invocations along
// the columns. c_out (and for the input gradient c_in) must be a multiple of 4: outputs and
// weights are read and written as vec4s. With `taps_vec4` (c_in a multiple of 4) the 4 taps of
// a step are 4 channels of one input pixel, one vec4 load; otherwise 4 scalar loads.
// Bindings: forward 1 x, 9 x4, 10 weight4, 3 bias, 11 y4; weight gradient 1 x, 9 x4, 12 dy4,
//   15 partial4 ([splits, taps + has_db, c_out], summed by conv2d_backward_weight_reduce(_wide),
//   which write 7 dw and 16 db); input gradient 12 dy4, 10 weight4, 13 dx4, 14 saved4.
override row_groups: u32 = 4u;
override col_groups: u32 = 2u;
override taps_vec4: bool = false;
// Both strides 1: every window covering an input pixel sits on the output grid, so the input
// gradient's index math skips its divisions by the strides.
override unit_stride: bool = false;

// floor(a / b), for a below 2^24 and quotients below 2^20 (ops/conv2d.rs gives these kernels
// only such shapes): an f32 product, then one correction either way. CPU adapters divide
// integers lane by lane, which made the index math cost more than the arithmetic.
fn quot(a: vec4<u32>, b: u32) -> vec4<u32> {
    let q = vec4<u32>(vec4<f32>(a) * (1.0 / f32(b)));
    let r = vec4<i32>(a) - vec4<i32>(q * b);
    let up = select(vec4<u32>(0u), vec4<u32>(1u), r >= vec4<i32>(i32(b)));
    let down = select(vec4<u32>(0u), vec4<u32>(1u), r < vec4<i32>(0));
    return q + up - down;
}

// Where the windows of 4 output pixels start in the input: top row, left column, and the
// sample's first input pixel.
struct Windows {
    iy: vec4<i32>,
    ix: vec4<i32>,
    base: vec4<i32>,
    valid: vec4<bool>,
}

// The windows of output pixels m0 .. m0 + 3, those at or past `end` marked invalid (and read
// as the last pixel).
fn windows(m0: u32, end: u32) -> Windows {
    let m_raw = vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u);
    let m = min(m_raw, vec4<u32>(params.n * params.oh * params.ow - 1u));
    let rest = quot(m, params.ow);
    let ox = m - rest * params.ow;
    let b = quot(rest, params.oh);
    let oy = rest - b * params.oh;
    return Windows(
        vec4<i32>(oy * params.stride_h) - i32(params.pad_top),
        vec4<i32>(ox * params.stride_w) - i32(params.pad_left),
        vec4<i32>(b * params.h * params.w),
        m_raw < vec4<u32>(end),
    );
}

// Input offsets (in floats) of a window's pixel at rows iy, columns ix, channels ci, and whether
// each lies inside the image; outside ones point at 0.
fn inside(iy: vec4<i32>, ix: vec4<i32>) -> vec4<bool> {
    return (iy >= vec4<i32>(0)) & (iy < vec4<i32>(i32(params.h))) & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(i32(params.w)));
}

fn x_vec4(ok: bool, at: i32) -> vec4<f32> {
    return select(vec4<f32>(0.0), x4[select(0u, u32(at) / 4u, ok)], ok);
}

fn x_scalars(ok: vec4<bool>, at: vec4<i32>) -> vec4<f32> {
    let i = select(vec4<u32>(0u), vec4<u32>(at), ok);
    return select(vec4<f32>(0.0), vec4<f32>(x[i.x], x[i.y], x[i.z], x[i.w]), ok);
}

// Taps p .. p + 3 as (ky, kx, ci), those past the last tap marked invalid.
struct Taps {
    ky: vec4<i32>,
    kx: vec4<i32>,
    ci: vec4<i32>,
    valid: vec4<bool>,
}

fn taps_at(p: u32) -> Taps {
    let taps = params.kh * params.kw * params.c_in;
    let k_raw = vec4<u32>(p) + vec4<u32>(0u, 1u, 2u, 3u);
    let k = min(k_raw, vec4<u32>(taps - 1u));
    let t = quot(k, params.c_in);
    let ky = quot(t, params.kw);
    return Taps(vec4<i32>(ky), vec4<i32>(t - ky * params.kw), vec4<i32>(k - t * params.c_in), k_raw < vec4<u32>(taps));
}

// One window pixel's values at 4 taps (scalar loads).
fn x_at_taps(win: Windows, lane: u32, tp: Taps) -> vec4<f32> {
    let iy = vec4<i32>(win.iy[lane]) + tp.ky;
    let ix = vec4<i32>(win.ix[lane]) + tp.kx;
    let ok = inside(iy, ix) & tp.valid & vec4<bool>(win.valid[lane]);
    return x_scalars(ok, (vec4<i32>(win.base[lane]) + iy * i32(params.w) + ix) * i32(params.c_in) + tp.ci);
}

// The 4 windows' values at taps p .. p + 3: column i is window i's.
fn x_rows(win: Windows, p: u32) -> mat4x4<f32> {
    if taps_vec4 {
        let t = quot(vec4<u32>(p), params.c_in).x;
        let ky = quot(vec4<u32>(t), params.kw).x;
        let iy = win.iy + vec4<i32>(i32(ky));
        let ix = win.ix + vec4<i32>(i32(t - ky * params.kw));
        let ok = inside(iy, ix) & win.valid;
        let at = (win.base + iy * i32(params.w) + ix) * i32(params.c_in) + i32(p - t * params.c_in);
        return mat4x4<f32>(x_vec4(ok.x, at.x), x_vec4(ok.y, at.y), x_vec4(ok.z, at.z), x_vec4(ok.w, at.w));
    }
    let tp = taps_at(p);
    return mat4x4<f32>(x_at_taps(win, 0u, tp), x_at_taps(win, 1u, tp), x_at_taps(win, 2u, tp), x_at_taps(win, 3u, tp));
}

// Weights of taps p .. p + 3 at channels cg .. cg + 3: column kk is tap p + kk's (taps past the
// last read the last; the X values they meet are 0).
fn w_rows(p: u32, cg: u32) -> mat4x4<f32> {
    let last = params.kh * params.kw * params.c_in - 1u;
    let c4 = params.c_out / 4u;
    let at = min(vec4<u32>(p) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last)) * c4 + cg / 4u;
    return mat4x4<f32>(weight4[at.x], weight4[at.y], weight4[at.z], weight4[at.w]);
}

fn activate4(v: vec4<f32>, act: u32) -> vec4<f32> {
    return vec4<f32>(activate(v.x, act), activate(v.y, act), activate(v.z, act), activate(v.w, act));
}

// y of output pixels m0 .. m0 + 3 at channels cg .. cg + 3 from column i of `acc`, pixels past
// the last skipped.
fn store_y(m0: u32, cg: u32, acc: mat4x4<f32>, bias_v: vec4<f32>) {
    let pixels = params.n * params.oh * params.ow;
    let c4 = params.c_out / 4u;
    if m0 < pixels {
        y4[m0 * c4 + cg / 4u] = activate4(acc[0] + bias_v, params.act);
    }
    if m0 + 1u < pixels {
        y4[(m0 + 1u) * c4 + cg / 4u] = activate4(acc[1] + bias_v, params.act);
    }
    if m0 + 2u < pixels {
        y4[(m0 + 2u) * c4 + cg / 4u] = activate4(acc[2] + bias_v, params.act);
    }
    if m0 + 3u < pixels {
        y4[(m0 + 3u) * c4 + cg / 4u] = activate4(acc[3] + bias_v, params.act);
    }
}

fn bias4(cg: u32) -> vec4<f32> {
    if params.has_bias == 0u {
        return vec4<f32>(0.0);
    }
    return vec4<f32>(bias[cg], bias[cg + 1u], bias[cg + 2u], bias[cg + 3u]);
}

// The block an invocation computes: (first row, first column), or none past the last block.
struct Block {
    row0: u32,
    col0: u32,
    // The column groups' first columns, the second clamped onto the first past the edge.
    cg0: u32,
    cg1: u32,
    // Which of the blocks along the shared dimension (the weight gradient's chunk).
    split: u32,
    ok: bool,
}

fn block(i: u32, rows: u32, cols: u32, splits: u32) -> Block {
    let rows_per = 4u * row_groups;
    let cols_per = 4u * col_groups;
    let row_blocks = (rows + rows_per - 1u) / rows_per;
    let col_blocks = (cols + cols_per - 1u) / cols_per;
    let col0 = (i % col_blocks) * cols_per;
    let row0 = ((i / col_blocks) % row_blocks) * rows_per;
    let split = i / (col_blocks * row_blocks);
    return Block(row0, col0, col0, min(col0 + 4u, cols - 4u), split, split < splits);
}

@compute @workgroup_size(256)
fn conv2d_forward_gemm(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let pixels = params.n * params.oh * params.ow;
    let blk = block(linear_index(wg, nwg, lid), pixels, params.c_out, 1u);
    if !blk.ok {
        return;
    }
    let win0 = windows(blk.row0, pixels);
    let win1 = windows(blk.row0 + 4u, pixels);
    let win2 = windows(blk.row0 + 8u, pixels);
    let win3 = windows(blk.row0 + 12u, pixels);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc20 = mat4x4<f32>();
    var acc21 = mat4x4<f32>();
    var acc30 = mat4x4<f32>();
    var acc31 = mat4x4<f32>();
    let taps = params.kh * params.kw * params.c_in;
    for (var p = 0u; p < taps; p += 4u) {
        let w0 = w_rows(p, blk.cg0);
        let w1 = w_rows(p, blk.cg1);
        let x0 = x_rows(win0, p);
        acc00 += w0 * x0;
        if col_groups > 1u {
            acc01 += w1 * x0;
        }
        if row_groups > 1u {
            let x1 = x_rows(win1, p);
            acc10 += w0 * x1;
            if col_groups > 1u {
                acc11 += w1 * x1;
            }
        }
        if row_groups > 2u {
            let x2 = x_rows(win2, p);
            acc20 += w0 * x2;
            if col_groups > 1u {
                acc21 += w1 * x2;
            }
        }
        if row_groups > 3u {
            let x3 = x_rows(win3, p);
            acc30 += w0 * x3;
            if col_groups > 1u {
                acc31 += w1 * x3;
            }
        }
    }
    let second = col_groups > 1u && blk.col0 + 4u < params.c_out;
    let b0 = bias4(blk.cg0);
    let b1 = bias4(blk.cg1);
    store_y(blk.row0, blk.cg0, acc00, b0);
    if second {
        store_y(blk.row0, blk.cg1, acc01, b1);
    }
    if row_groups > 1u {
        store_y(blk.row0 + 4u, blk.cg0, acc10, b0);
        if second {
            store_y(blk.row0 + 4u, blk.cg1, acc11, b1);
        }
    }
    if row_groups > 2u {
        store_y(blk.row0 + 8u, blk.cg0, acc20, b0);
        if second {
            store_y(blk.row0 + 8u, blk.cg1, acc21, b1);
        }
    }
    if row_groups > 3u {
        store_y(blk.row0 + 12u, blk.cg0, acc30, b0);
        if second {
            store_y(blk.row0 + 12u, blk.cg1, acc31, b1);
        }
    }
}

// dy of output pixels m0 .. m0 + 3 at channels cg .. cg + 3: column kk is pixel m0 + kk's, 0
// for pixels `win` marks invalid.
fn dy_rows(win: Windows, m0: u32, cg: u32) -> mat4x4<f32> {
    let c4 = params.c_out / 4u;
    let last = params.n * params.oh * params.ow - 1u;
    let at = min(vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last)) * c4 + cg / 4u;
    let z = vec4<f32>(0.0);
    let v = win.valid;
    return mat4x4<f32>(select(z, dy4[at.x], v.x), select(z, dy4[at.y], v.y), select(z, dy4[at.z], v.z), select(z, dy4[at.w], v.w));
}

// x at 4 taps of 4 windows: column i is tap i's values over the windows.
fn x_taps(win: Windows, tp: Taps) -> mat4x4<f32> {
    if taps_vec4 {
        // The 4 taps are channels ci .. ci + 3 of one window pixel.
        let iy = win.iy + vec4<i32>(tp.ky.x);
        let ix = win.ix + vec4<i32>(tp.kx.x);
        let ok = inside(iy, ix) & win.valid & vec4<bool>(tp.valid.x);
        let at = (win.base + iy * i32(params.w) + ix) * i32(params.c_in) + vec4<i32>(tp.ci.x);
        return transpose(mat4x4<f32>(x_vec4(ok.x, at.x), x_vec4(ok.y, at.y), x_vec4(ok.z, at.z), x_vec4(ok.w, at.w)));
    }
    return transpose(mat4x4<f32>(x_at_taps(win, 0u, tp), x_at_taps(win, 1u, tp), x_at_taps(win, 2u, tp), x_at_taps(win, 3u, tp)));
}

fn store_partial4(split: u32, tap: u32, cg: u32, v: vec4<f32>) {
    let rows = params.kh * params.kw * params.c_in + params.has_db;
    partial4[((split * rows + tap) * params.c_out + cg) / 4u] = v;
}

// dw of taps tap0 .. tap0 + 3 at channels cg .. cg + 3 for one chunk, from column i of `acc`;
// taps past the last skipped.
fn store_dw(split: u32, tap0: u32, cg: u32, acc: mat4x4<f32>) {
    let taps = params.kh * params.kw * params.c_in;
    if tap0 < taps {
        store_partial4(split, tap0, cg, acc[0]);
    }
    if tap0 + 1u < taps {
        store_partial4(split, tap0 + 1u, cg, acc[1]);
    }
    if tap0 + 2u < taps {
        store_partial4(split, tap0 + 2u, cg, acc[2]);
    }
    if tap0 + 3u < taps {
        store_partial4(split, tap0 + 3u, cg, acc[3]);
    }
}

// Rows are taps, columns output channels, the shared dimension a chunk of `chunk` output pixels
// (as conv2d_backward_weight, whose reduce kernels add the chunks); with `has_db`, the blocks of
// the first taps also sum dy's columns, the bias gradient, stored as one more tap.
@compute @workgroup_size(256)
fn conv2d_backward_weight_gemm(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let taps = params.kh * params.kw * params.c_in;
    let blk = block(linear_index(wg, nwg, lid), taps, params.c_out, params.splits);
    if !blk.ok {
        return;
    }
    let tp0 = taps_at(blk.row0);
    let tp1 = taps_at(blk.row0 + 4u);
    let tp2 = taps_at(blk.row0 + 8u);
    let tp3 = taps_at(blk.row0 + 12u);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc20 = mat4x4<f32>();
    var acc21 = mat4x4<f32>();
    var acc30 = mat4x4<f32>();
    var acc31 = mat4x4<f32>();
    var sum0 = vec4<f32>(0.0);
    var sum1 = vec4<f32>(0.0);
    let sums = params.has_db != 0u && blk.row0 == 0u;
    let end = min((blk.split + 1u) * params.chunk, params.n * params.oh * params.ow);
    for (var m = blk.split * params.chunk; m < end; m += 4u) {
        let win = windows(m, end);
        let d0 = dy_rows(win, m, blk.cg0);
        let d1 = dy_rows(win, m, blk.cg1);
        let x0 = x_taps(win, tp0);
        acc00 += d0 * x0;
        if col_groups > 1u {
            acc01 += d1 * x0;
        }
        if row_groups > 1u {
            let x1 = x_taps(win, tp1);
            acc10 += d0 * x1;
            if col_groups > 1u {
                acc11 += d1 * x1;
            }
        }
        if row_groups > 2u {
            let x2 = x_taps(win, tp2);
            acc20 += d0 * x2;
            if col_groups > 1u {
                acc21 += d1 * x2;
            }
        }
        if row_groups > 3u {
            let x3 = x_taps(win, tp3);
            acc30 += d0 * x3;
            if col_groups > 1u {
                acc31 += d1 * x3;
            }
        }
        if sums {
            sum0 += d0 * vec4<f32>(1.0);
            sum1 += d1 * vec4<f32>(1.0);
        }
    }
    let second = col_groups > 1u && blk.col0 + 4u < params.c_out;
    store_dw(blk.split, blk.row0, blk.cg0, acc00);
    if second {
        store_dw(blk.split, blk.row0, blk.cg1, acc01);
    }
    if row_groups > 1u {
        store_dw(blk.split, blk.row0 + 4u, blk.cg0, acc10);
        if second {
            store_dw(blk.split, blk.row0 + 4u, blk.cg1, acc11);
        }
    }
    if row_groups > 2u {
        store_dw(blk.split, blk.row0 + 8u, blk.cg0, acc20);
        if second {
            store_dw(blk.split, blk.row0 + 8u, blk.cg1, acc21);
        }
    }
    if row_groups > 3u {
        store_dw(blk.split, blk.row0 + 12u, blk.cg0, acc30);
        if second {
            store_dw(blk.split, blk.row0 + 12u, blk.cg1, acc31);
        }
    }
    if sums {
        store_partial4(blk.split, taps, blk.cg0, sum0);
        if second {
            store_partial4(blk.split, taps, blk.cg1, sum1);
        }
    }
}

// Input pixels i0 .. i0 + 3 as the windows that cover them see them: row iy + pad_top, column
// ix + pad_left, and the sample's first output pixel; past the last input pixel invalid.
fn covered(i0: u32) -> Windows {
    let len = params.n * params.h * params.w;
    let raw = vec4<u32>(i0) + vec4<u32>(0u, 1u, 2u, 3u);
    let i = min(raw, vec4<u32>(len - 1u));
    let rest = quot(i, params.w);
    let ix = i - rest * params.w;
    let b = quot(rest, params.h);
    let iy = rest - b * params.h;
    return Windows(
        vec4<i32>(iy + params.pad_top),
        vec4<i32>(ix + params.pad_left),
        vec4<i32>(b * params.oh * params.ow),
        raw < vec4<u32>(len),
    );
}

fn dy_vec4(ok: bool, at: u32) -> vec4<f32> {
    return select(vec4<f32>(0.0), dy4[select(0u, at, ok)], ok);
}

// dy at channels co .. co + 3 of the output pixels whose window tap t = (ky, kx) covers each of
// 4 input pixels (step p = t·c_out + co): column i is input pixel i's, 0 where no window does.
fn dy_under(cov: Windows, p: u32) -> mat4x4<f32> {
    let t = quot(vec4<u32>(p), params.c_out).x;
    let ky = quot(vec4<u32>(t), params.kw).x;
    let ty = cov.iy - vec4<i32>(i32(ky));
    let tx = cov.ix - vec4<i32>(i32(t - ky * params.kw));
    let uy = vec4<u32>(max(ty, vec4<i32>(0)));
    let ux = vec4<u32>(max(tx, vec4<i32>(0)));
    var oy = uy;
    var ox = ux;
    var on_grid = vec4<bool>(true);
    if !unit_stride {
        oy = quot(uy, params.stride_h);
        ox = quot(ux, params.stride_w);
        on_grid = (oy * params.stride_h == uy) & (ox * params.stride_w == ux);
    }
    let ok = (ty >= vec4<i32>(0)) & (tx >= vec4<i32>(0)) & on_grid & (oy < vec4<u32>(params.oh))
        & (ox < vec4<u32>(params.ow)) & cov.valid;
    let at = (vec4<u32>(cov.base) + oy * params.ow + ox) * (params.c_out / 4u) + (p - t * params.c_out) / 4u;
    return mat4x4<f32>(dy_vec4(ok.x, at.x), dy_vec4(ok.y, at.y), dy_vec4(ok.z, at.z), dy_vec4(ok.w, at.w));
}

// The weights of tap t from output channels co .. co + 3 (step p = t·c_out + co) to input
// channels cg .. cg + 3: column kk is output channel co + kk's.
fn w_to_inputs(p: u32, cg: u32) -> mat4x4<f32> {
    let c4 = params.c_out / 4u;
    let t = quot(vec4<u32>(p), params.c_out).x;
    let at = (t * params.c_in + cg) * c4 + (p - t * params.c_out) / 4u;
    return transpose(mat4x4<f32>(weight4[at], weight4[at + c4], weight4[at + 2u * c4], weight4[at + 3u * c4]));
}

// dx of input pixels i0 .. i0 + 3 at channels cg .. cg + 3 from column i of `acc`, times the
// input's activation derivative with `act_grad`.
fn store_dx(i0: u32, cg: u32, acc: mat4x4<f32>) {
    let len = params.n * params.h * params.w;
    let c4 = params.c_in / 4u;
    if i0 < len {
        put_dx4(i0 * c4 + cg / 4u, acc[0]);
    }
    if i0 + 1u < len {
        put_dx4((i0 + 1u) * c4 + cg / 4u, acc[1]);
    }
    if i0 + 2u < len {
        put_dx4((i0 + 2u) * c4 + cg / 4u, acc[2]);
    }
    if i0 + 3u < len {
        put_dx4((i0 + 3u) * c4 + cg / 4u, acc[3]);
    }
}

fn put_dx4(at: u32, v: vec4<f32>) {
    if params.act_grad != 0u {
        dx4[at] = v * slope4(saved4[at], params.act_grad);
    } else {
        dx4[at] = v;
    }
}

// Rows are input pixels, columns input channels, the shared dimension (ky, kx, co). c_in and
// c_out must be multiples of 4.
@compute @workgroup_size(256)
fn conv2d_backward_input_gemm(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let blk = block(linear_index(wg, nwg, lid), params.n * params.h * params.w, params.c_in, 1u);
    if !blk.ok {
        return;
    }
    let cov0 = covered(blk.row0);
    let cov1 = covered(blk.row0 + 4u);
    let cov2 = covered(blk.row0 + 8u);
    let cov3 = covered(blk.row0 + 12u);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc20 = mat4x4<f32>();
    var acc21 = mat4x4<f32>();
    var acc30 = mat4x4<f32>();
    var acc31 = mat4x4<f32>();
    let steps = params.kh * params.kw * params.c_out;
    for (var p = 0u; p < steps; p += 4u) {
        let w0 = w_to_inputs(p, blk.cg0);
        let w1 = w_to_inputs(p, blk.cg1);
        let d0 = dy_under(cov0, p);
        acc00 += w0 * d0;
        if col_groups > 1u {
            acc01 += w1 * d0;
        }
        if row_groups > 1u {
            let d1 = dy_under(cov1, p);
            acc10 += w0 * d1;
            if col_groups > 1u {
                acc11 += w1 * d1;
            }
        }
        if row_groups > 2u {
            let d2 = dy_under(cov2, p);
            acc20 += w0 * d2;
            if col_groups > 1u {
                acc21 += w1 * d2;
            }
        }
        if row_groups > 3u {
            let d3 = dy_under(cov3, p);
            acc30 += w0 * d3;
            if col_groups > 1u {
                acc31 += w1 * d3;
            }
        }
    }
    let second = col_groups > 1u && blk.col0 + 4u < params.c_in;
    store_dx(blk.row0, blk.cg0, acc00);
    if second {
        store_dx(blk.row0, blk.cg1, acc01);
    }
    if row_groups > 1u {
        store_dx(blk.row0 + 4u, blk.cg0, acc10);
        if second {
            store_dx(blk.row0 + 4u, blk.cg1, acc11);
        }
    }
    if row_groups > 2u {
        store_dx(blk.row0 + 8u, blk.cg0, acc20);
        if second {
            store_dx(blk.row0 + 8u, blk.cg1, acc21);
        }
    }
    if row_groups > 3u {
        store_dx(blk.row0 + 12u, blk.cg0, acc30);
        if second {
            store_dx(blk.row0 + 12u, blk.cg1, acc31);
        }
    }
}
