// conv2d.wgsl: 2-D convolution (cross-correlation, as Keras), forward and gradients.
//
// Layouts (Keras's, row-major f32): x [n, h, w, c_in] (NHWC), weight [kh, kw, c_in, c_out],
//   bias [c_out], y and dy [n, oh, ow, c_out]. Input pixel (iy, ix) of output (oy, ox) and tap
//   (ky, kx) is (oy·stride_h + ky - pad_top, ox·stride_w + kx - pad_left); outside the image
//   it reads zero. 'valid' is pad 0; 'same' pads as TensorFlow (the odd pixel at the bottom/right).
//   conv2d_forward:         y = act(conv(x, weight) + bias)
//   conv2d_backward_input:  dx [n, h, w, c_in] from dy (pre-activation) and weight
//   conv2d_backward_weight: dw [kh, kw, c_in, c_out] from dy (pre-activation) and x
//   The bias gradient is a column sum of dy seen as [n·oh·ow, c_out]: matmul_bias_grad.
// Bindings: 0 params; forward: 1 x, 2 weight, 3 bias, 4 y; backward_input: 2 weight, 5 dy,
//   6 dx; backward_weight: 1 x, 5 dy, 7 dw.
// Grid: one invocation per output element (gather form: deterministic, no atomics), 256 per
//   workgroup, folded 2-D past 65 535 workgroups. Outputs are overwritten.
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
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;

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
        default: { return v; }
    }
}

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn conv2d_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.oh * params.ow * params.c_out {
        return;
    }
    let co = i % params.c_out;
    let ox = (i / params.c_out) % params.ow;
    let oy = (i / (params.c_out * params.ow)) % params.oh;
    let b = i / (params.c_out * params.ow * params.oh);
    var acc = 0.0;
    for (var ky = 0u; ky < params.kh; ky++) {
        let iy = i32(oy * params.stride_h + ky) - i32(params.pad_top);
        if iy < 0 || iy >= i32(params.h) {
            continue;
        }
        for (var kx = 0u; kx < params.kw; kx++) {
            let ix = i32(ox * params.stride_w + kx) - i32(params.pad_left);
            if ix < 0 || ix >= i32(params.w) {
                continue;
            }
            let x_base = ((b * params.h + u32(iy)) * params.w + u32(ix)) * params.c_in;
            let w_base = (ky * params.kw + kx) * params.c_in * params.c_out + co;
            for (var ci = 0u; ci < params.c_in; ci++) {
                acc += x[x_base + ci] * weight[w_base + ci * params.c_out];
            }
        }
    }
    if params.has_bias != 0u {
        acc += bias[co];
    }
    y[i] = activate(acc, params.act);
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

@compute @workgroup_size(256)
fn conv2d_backward_weight(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.kh * params.kw * params.c_in * params.c_out {
        return;
    }
    let co = i % params.c_out;
    let ci = (i / params.c_out) % params.c_in;
    let kx = (i / (params.c_out * params.c_in)) % params.kw;
    let ky = i / (params.c_out * params.c_in * params.kw);
    var acc = 0.0;
    for (var b = 0u; b < params.n; b++) {
        for (var oy = 0u; oy < params.oh; oy++) {
            let iy = i32(oy * params.stride_h + ky) - i32(params.pad_top);
            if iy < 0 || iy >= i32(params.h) {
                continue;
            }
            for (var ox = 0u; ox < params.ow; ox++) {
                let ix = i32(ox * params.stride_w + kx) - i32(params.pad_left);
                if ix < 0 || ix >= i32(params.w) {
                    continue;
                }
                let x_at = ((b * params.h + u32(iy)) * params.w + u32(ix)) * params.c_in + ci;
                let dy_at = ((b * params.oh + oy) * params.ow + ox) * params.c_out + co;
                acc += dy[dy_at] * x[x_at];
            }
        }
    }
    dw[i] = acc;
}
