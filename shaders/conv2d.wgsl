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
//   6 dx; backward_weight: 1 x, 5 dy, 8 dw_partial; backward_weight_reduce(_wide): 8 dw_partial, 7 dw.
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

@compute @workgroup_size(256)
fn conv2d_backward_weight_reduce(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    let len = params.kh * params.kw * params.c_in * params.c_out;
    if i >= len {
        return;
    }
    var sum = 0.0;
    for (var s = 0u; s < params.splits; s++) {
        sum += dw_partial[s * len + i];
    }
    dw[i] = sum;
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
    let len = params.kh * params.kw * params.c_in * params.c_out;
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
        dw[i] = reduce_sums[0];
    }
}
