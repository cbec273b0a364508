// activation.wgsl: elementwise relu / sigmoid / tanh / leaky relu / elu / gelu / silu / linear
// and row-wise softmax, with gradients.
//
// Layouts: elementwise tensors are flat f32 arrays of `len`, read as vec4s (tensors are
//   zero-padded to whole vec4s); softmax works on [rows, cols] row-major (rows = len / cols)
//   and is numerically stable (the row maximum is subtracted).
// Bindings: 0 params; activation_forward: 1 x, 2 y; activation_backward: 3 saved (the forward's
//   output, or for gelu and silu its input), 4 dy, 5 dx; softmax_forward: 6 sx, 7 sy;
//   softmax_backward: 8 sy, 9 sdy, 10 sdx. Gradients are computed from the forward's output y
//   where the derivative is a function of it, so x need not be kept.
// Grid: elementwise kernels one invocation per 4 elements, softmax one per row; 256 per
//   workgroup, folded into a 2-D grid past 65 535 workgroups.
// Activations: 0 linear, 1 relu, 2 sigmoid, 3 tanh, 4 leaky relu (slope alpha below zero),
//   5 elu (alpha · (exp(x) - 1) below zero), 6 gelu (exact: x · Φ(x)), 7 silu (x · sigmoid(x)).
//   dx is overwritten.

struct Params {
    len: u32,
    cols: u32,
    act: u32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> saved: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> dy: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> dx: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> sx: array<f32>;
@group(0) @binding(7) var<storage, read_write> sy: array<f32>;
@group(0) @binding(8) var<storage, read> sy_saved: array<f32>;
@group(0) @binding(9) var<storage, read> sdy: array<f32>;
@group(0) @binding(10) var<storage, read_write> sdx: array<f32>;

// Through exp of a non-positive argument: no overflow for any input.
fn sigmoid(v: vec4<f32>) -> vec4<f32> {
    let e = exp(-abs(v));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= vec4<f32>(0.0));
}

// tanh through exp of a non-negative argument: finite for every input on every backend.
fn stable_tanh(v: vec4<f32>) -> vec4<f32> {
    let t = 1.0 - 2.0 / (exp(2.0 * abs(v)) + 1.0);
    return select(-t, t, v >= vec4<f32>(0.0));
}

// erfc(z), relative error below 1.2e-7 everywhere (Numerical Recipes' erfcc, a Chebyshev fit):
// WGSL has no erf, and Φ(x) = erfc(-x/√2)/2 keeps gelu's small negative outputs accurate where
// 1 + erf(x/√2) would cancel.
fn erfc(z: vec4<f32>) -> vec4<f32> {
    let a = abs(z);
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let r = t * exp(-a * a + poly);
    return select(2.0 - r, r, z >= vec4<f32>(0.0));
}

// The standard normal CDF.
fn phi(v: vec4<f32>) -> vec4<f32> {
    return 0.5 * erfc(v * -0.70710678118654752);
}

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn activation_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= (params.len + 3u) / 4u {
        return;
    }
    let v = x[i];
    var out = v;
    switch params.act {
        case 1u: { out = max(v, vec4<f32>(0.0)); }
        case 2u: { out = sigmoid(v); }
        case 3u: { out = stable_tanh(v); }
        case 4u: { out = select(params.alpha * v, v, v > vec4<f32>(0.0)); }
        case 5u: { out = select(params.alpha * (exp(min(v, vec4<f32>(0.0))) - 1.0), v, v > vec4<f32>(0.0)); }
        case 6u: { out = v * phi(v); }
        case 7u: { out = v * sigmoid(v); }
        default: {}
    }
    y[i] = out;
}

@compute @workgroup_size(256)
fn activation_backward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= (params.len + 3u) / 4u {
        return;
    }
    // The output y for codes 1 to 5; the input x for gelu and silu.
    let y = saved[i];
    let x = saved[i];
    var slope = vec4<f32>(1.0);
    switch params.act {
        case 1u: { slope = select(vec4<f32>(0.0), vec4<f32>(1.0), y > vec4<f32>(0.0)); }
        case 2u: { slope = y * (1.0 - y); }
        case 3u: { slope = 1.0 - y * y; }
        case 4u: { slope = select(vec4<f32>(params.alpha), vec4<f32>(1.0), y > vec4<f32>(0.0)); }
        case 5u: { slope = select(y + params.alpha, vec4<f32>(1.0), y > vec4<f32>(0.0)); }
        // Φ(x) + x·φ(x), φ the normal density.
        case 6u: { slope = phi(x) + x * exp(-0.5 * x * x) * 0.39894228040143268; }
        case 7u: {
            let s = sigmoid(x);
            slope = s * (1.0 + x * (1.0 - s));
        }
        default: {}
    }
    dx[i] = dy[i] * slope;
}

@compute @workgroup_size(256)
fn softmax_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = linear_index(wg, nwg, lid);
    let cols = params.cols;
    if row >= params.len / cols {
        return;
    }
    let base = row * cols;
    var peak = sx[base];
    for (var j = 1u; j < cols; j++) {
        peak = max(peak, sx[base + j]);
    }
    var sum = 0.0;
    for (var j = 0u; j < cols; j++) {
        sum += exp(sx[base + j] - peak);
    }
    for (var j = 0u; j < cols; j++) {
        sy[base + j] = exp(sx[base + j] - peak) / sum;
    }
}

@compute @workgroup_size(256)
fn softmax_backward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = linear_index(wg, nwg, lid);
    let cols = params.cols;
    if row >= params.len / cols {
        return;
    }
    let base = row * cols;
    var dot = 0.0;
    for (var j = 0u; j < cols; j++) {
        dot += sdy[base + j] * sy_saved[base + j];
    }
    for (var j = 0u; j < cols; j++) {
        sdx[base + j] = sy_saved[base + j] * (sdy[base + j] - dot);
    }
}
