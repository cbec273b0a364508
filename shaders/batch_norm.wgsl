// batch_norm.wgsl: batch normalization over the last axis, as Keras's BatchNormalization.
//
// x is viewed as [rows, c]: a Dense layer's [n, c] output, or a channels-last [n, h, w, c]
// one (rows = n·h·w, per_sample = h·w). Only the batch's valid samples count (batch_rows[0],
// written by data.wgsl's label gather): a short last batch is normalised over its own rows, as
// Keras normalises it, and its padding rows get a zero dx. Per channel, over the counted rows:
//   batch_norm_stats:   mean, var = Σ(x - mean)² / rows (two passes: no cancellation), written
//     as stats = [mean, 1/sqrt(var + ε)]; moving = moving·momentum + batch·(1 - momentum)
//     for the moving mean and the (biased) moving variance, as Keras updates them.
//   batch_norm_forward: y = (x - mean)·invstd·gamma + beta, with the batch's stats (training).
//   batch_norm_infer:   y = (x - moving_mean) / sqrt(moving_var + ε)·gamma + beta.
//   Both then apply `act` (an activation code, 0: none): an Activation layer that follows,
//   folded in by the graph; the backward passes take dy before it.
//   batch_norm_backward_params: dbeta = Σ dy, dgamma = Σ dy·x̂, x̂ = (x - mean)·invstd.
//   batch_norm_backward_input:  dx = gamma·invstd / rows · (rows·dy - dbeta - x̂·dgamma).
// Without Keras's scale or center the host binds a gamma of ones or a beta of zeros.
// Layouts: x, y, dy, dx [rows, c] row-major; gamma, beta, moving_mean, moving_var, dgamma,
//   dbeta [c]; stats [2, c].
// Bindings: 0 params; 1 x, 2 y, 3 gamma, 4 beta, 5 stats, 6 moving_mean, 7 moving_var, 8 dy,
//   9 dx, 10 dgamma, 11 dbeta, 12 batch_rows (u32; the stats and backward passes).
// Grid: the reductions (stats, backward_params) one workgroup of 256 per channel (folded 2-D
//   past 65 535), summing in a
//   fixed order (deterministic); the elementwise passes one invocation per element, 256 per
//   workgroup, folded 2-D past 65 535 workgroups.
// The *4 kernels (c a multiple of 4) do the same four channels at a time through vec4 views
//   (13 x4, 14 y4, 15 dy4, 16 dx4, 17 stats4, 18 gamma4, 19 beta4, 20 dgamma4, 21 dbeta4): a
//   quarter of the loads and invocations, each channel's sums in the same order, so the same
//   results bit for bit. Grids: a workgroup per 4 channels; an invocation per 4 elements.

struct Params {
    rows: u32,
    c: u32,
    epsilon: f32,
    momentum: f32,
    per_sample: u32,
    // 1 relu, 2 sigmoid, 3 tanh, 4 leaky relu 0.2, 5 elu (matmul.wgsl's codes); 0 none.
    act: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> moving_mean: array<f32>;
@group(0) @binding(12) var<storage, read> batch_rows: array<u32>;
@group(0) @binding(7) var<storage, read_write> moving_var: array<f32>;
@group(0) @binding(8) var<storage, read> dy: array<f32>;
@group(0) @binding(9) var<storage, read_write> dx: array<f32>;
@group(0) @binding(10) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(11) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(13) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read> stats4: array<vec4<f32>>;
@group(0) @binding(18) var<storage, read> gamma4: array<vec4<f32>>;
@group(0) @binding(19) var<storage, read> beta4: array<vec4<f32>>;
@group(0) @binding(20) var<storage, read> dgamma4: array<vec4<f32>>;
@group(0) @binding(21) var<storage, read> dbeta4: array<vec4<f32>>;

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

// The normalised value through the folded activation (matmul.wgsl's activate4).
fn activate4(v: vec4<f32>) -> vec4<f32> {
    switch params.act {
        case 1u: { return max(v, vec4<f32>(0.0)); }
        case 2u: {
            let e = exp(-abs(v));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= vec4<f32>(0.0));
        }
        case 3u: {
            let t = 1.0 - 2.0 / (exp(2.0 * abs(v)) + 1.0);
            return select(-t, t, v >= vec4<f32>(0.0));
        }
        case 4u: { return select(0.2 * v, v, v > vec4<f32>(0.0)); }
        case 5u: { return select(exp(min(v, vec4<f32>(0.0))) - 1.0, v, v > vec4<f32>(0.0)); }
        default: { return v; }
    }
}

fn activate(v: f32) -> f32 {
    return activate4(vec4<f32>(v)).x;
}

var<workgroup> partial4: array<vec4<f32>, 256>;

// The sums of every invocation's `value`s, each in a fixed order; every invocation gets them.
fn workgroup_sum4(lid: u32, value: vec4<f32>) -> vec4<f32> {
    partial4[lid] = value;
    for (var s = 128u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if lid < s {
            partial4[lid] += partial4[lid + s];
        }
    }
    workgroupBarrier();
    let total = partial4[0];
    workgroupBarrier();
    return total;
}

fn workgroup_sum(lid: u32, value: f32) -> f32 {
    return workgroup_sum4(lid, vec4<f32>(value, 0.0, 0.0, 0.0)).x;
}

// The rows of the batch's valid samples.
fn counted_rows() -> u32 {
    return min(batch_rows[0], params.rows / params.per_sample) * params.per_sample;
}

@compute @workgroup_size(256)
fn batch_norm_stats(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // The channel is the workgroup's (uniform), so returning keeps the barriers uniform.
    let ch = wg.x + wg.y * nwg.x;
    if ch >= params.c {
        return;
    }
    let counted = counted_rows();
    let rows = f32(counted);
    var sum = 0.0;
    for (var r = lid; r < counted; r += 256u) {
        sum += x[r * params.c + ch];
    }
    let mean = workgroup_sum(lid, sum) / rows;
    var squares = 0.0;
    for (var r = lid; r < counted; r += 256u) {
        let d = x[r * params.c + ch] - mean;
        squares += d * d;
    }
    let variance = workgroup_sum(lid, squares) / rows;
    if lid == 0u {
        stats[ch] = mean;
        stats[params.c + ch] = 1.0 / sqrt(variance + params.epsilon);
        moving_mean[ch] = moving_mean[ch] * params.momentum + mean * (1.0 - params.momentum);
        moving_var[ch] = moving_var[ch] * params.momentum + variance * (1.0 - params.momentum);
    }
}

@compute @workgroup_size(256)
fn batch_norm_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.rows * params.c {
        return;
    }
    let ch = i % params.c;
    y[i] = activate((x[i] - stats[ch]) * stats[params.c + ch] * gamma[ch] + beta[ch]);
}

@compute @workgroup_size(256)
fn batch_norm_infer(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.rows * params.c {
        return;
    }
    let ch = i % params.c;
    y[i] = activate((x[i] - moving_mean[ch]) / sqrt(moving_var[ch] + params.epsilon) * gamma[ch] + beta[ch]);
}

@compute @workgroup_size(256)
fn batch_norm_backward_params(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // The channel is the workgroup's (uniform), so returning keeps the barriers uniform.
    let ch = wg.x + wg.y * nwg.x;
    if ch >= params.c {
        return;
    }
    let mean = stats[ch];
    let invstd = stats[params.c + ch];
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    let counted = counted_rows();
    for (var r = lid; r < counted; r += 256u) {
        let i = r * params.c + ch;
        sum_dy += dy[i];
        sum_dy_xhat += dy[i] * (x[i] - mean) * invstd;
    }
    let total_dy = workgroup_sum(lid, sum_dy);
    let total_dy_xhat = workgroup_sum(lid, sum_dy_xhat);
    if lid == 0u {
        dbeta[ch] = total_dy;
        dgamma[ch] = total_dy_xhat;
    }
}

@compute @workgroup_size(256)
fn batch_norm_backward_input(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.rows * params.c {
        return;
    }
    let ch = i % params.c;
    let counted = counted_rows();
    if i / params.c >= counted {
        dx[i] = 0.0;
        return;
    }
    let invstd = stats[params.c + ch];
    let xhat = (x[i] - stats[ch]) * invstd;
    let rows = f32(counted);
    dx[i] = gamma[ch] * invstd / rows * (rows * dy[i] - dbeta[ch] - xhat * dgamma[ch]);
}

@compute @workgroup_size(256)
fn batch_norm_stats4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c4 = params.c / 4u;
    let q = wg.x + wg.y * nwg.x;
    if q >= c4 {
        return;
    }
    let counted = counted_rows();
    let rows = f32(counted);
    var sum = vec4<f32>(0.0);
    for (var r = lid; r < counted; r += 256u) {
        sum += x4[r * c4 + q];
    }
    let mean = workgroup_sum4(lid, sum) / rows;
    var squares = vec4<f32>(0.0);
    for (var r = lid; r < counted; r += 256u) {
        let d = x4[r * c4 + q] - mean;
        squares += d * d;
    }
    let variance = workgroup_sum4(lid, squares) / rows;
    if lid == 0u {
        for (var j = 0u; j < 4u; j++) {
            let ch = 4u * q + j;
            stats[ch] = mean[j];
            stats[params.c + ch] = 1.0 / sqrt(variance[j] + params.epsilon);
            moving_mean[ch] = moving_mean[ch] * params.momentum + mean[j] * (1.0 - params.momentum);
            moving_var[ch] = moving_var[ch] * params.momentum + variance[j] * (1.0 - params.momentum);
        }
    }
}

@compute @workgroup_size(256)
fn batch_norm_forward4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    let c4 = params.c / 4u;
    if i >= params.rows * c4 {
        return;
    }
    let q = i % c4;
    y4[i] = activate4((x4[i] - stats4[q]) * stats4[c4 + q] * gamma4[q] + beta4[q]);
}

@compute @workgroup_size(256)
fn batch_norm_backward_params4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c4 = params.c / 4u;
    let q = wg.x + wg.y * nwg.x;
    if q >= c4 {
        return;
    }
    let mean = stats4[q];
    let invstd = stats4[c4 + q];
    var sum_dy = vec4<f32>(0.0);
    var sum_dy_xhat = vec4<f32>(0.0);
    let counted = counted_rows();
    for (var r = lid; r < counted; r += 256u) {
        let i = r * c4 + q;
        sum_dy += dy4[i];
        sum_dy_xhat += dy4[i] * (x4[i] - mean) * invstd;
    }
    let total_dy = workgroup_sum4(lid, sum_dy);
    let total_dy_xhat = workgroup_sum4(lid, sum_dy_xhat);
    if lid == 0u {
        for (var j = 0u; j < 4u; j++) {
            dbeta[4u * q + j] = total_dy[j];
            dgamma[4u * q + j] = total_dy_xhat[j];
        }
    }
}

@compute @workgroup_size(256)
fn batch_norm_backward_input4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    let c4 = params.c / 4u;
    if i >= params.rows * c4 {
        return;
    }
    let q = i % c4;
    let counted = counted_rows();
    if i / c4 >= counted {
        dx4[i] = vec4<f32>(0.0);
        return;
    }
    let invstd = stats4[c4 + q];
    let xhat = (x4[i] - stats4[q]) * invstd;
    let rows = f32(counted);
    dx4[i] = gamma4[q] * invstd / rows * (rows * dy4[i] - dbeta4[q] - xhat * dgamma4[q]);
}
