// dropout.wgsl: inverted dropout with a counter-based RNG, forward and backward.
//
// Element i of a tensor is kept when u(seed, s, i) >= rate, where u is the top 24 bits of a
// hash of (seed, s, i) scaled to [0, 1) and s the training step's counter as the forward pass
// reads it (the updates made before); kept elements are scaled by 1 / (1 - rate). The mask is
// never stored: the backward pass recomputes it from the same (seed, s, i), reading s as
// step - 1, because the step's loss dispatch (loss.wgsl) counts the step between the two.
// Layouts: x, y, dy, dx flat f32 arrays of `len`; step one u32.
// Bindings: 0 params; forward: 1 x, 2 y, 5 step; backward: 3 dy, 4 dx, 5 step.
// Grid: one invocation per element, 256 per workgroup, folded 2-D past 65 535 workgroups.
// y and dx are overwritten.

struct Params {
    len: u32,
    rate: f32,
    seed: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read> step: array<u32>;

// "lowbias32" integer finaliser (Chris Wellons): full avalanche in a few operations.
fn mix(v: u32) -> u32 {
    var h = v;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    h ^= h >> 16u;
    return h;
}

fn keep_scale(s: u32, i: u32) -> f32 {
    let h = mix(mix(mix(params.seed) + s) + i);
    let u = f32(h >> 8u) * (1.0 / 16777216.0);
    return select(0.0, 1.0 / (1.0 - params.rate), u >= params.rate);
}

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn dropout_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i < params.len {
        y[i] = x[i] * keep_scale(step[0], i);
    }
}

@compute @workgroup_size(256)
fn dropout_backward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i < params.len {
        dx[i] = dy[i] * keep_scale(step[0] - 1u, i);
    }
}
