// pool.wgsl: 2-D max and average pooling, forward and backward.
//
// Layouts (NHWC, row-major f32): x and dx [n, h, w, c], y and dy [n, oh, ow, c],
//   argmax [n, oh, ow, c] (u32: the flat index into x of each window's maximum).
// Window (oy, ox) covers rows oy·stride_h - pad_top .. + pool_h and the like for columns;
//   padded cells take no part: max ignores them, average divides by the cells inside the
//   image (TensorFlow's 'same' semantics). Ties go to the first maximum in row-major order.
//   pool_max_forward writes y and argmax; pool_max_backward routes dy to the argmax cells.
//   pool_avg_forward / pool_avg_backward spread dy evenly over each window's cells.
// A Dropout layer after the pool (past Flatten) runs inside it: with the `dropout` override the
// forward passes multiply y by dropout.wgsl's mask of (dropout_seed, step, y's flat index) and
// the backward passes dy by that of step - 1, bit for bit the dropout passes' values. An
// override, not a flag in params: a CPU adapter runs both sides of a branch.
// Backward passes gather (one invocation per dx element over the windows that cover it):
// deterministic, no atomics, and correct for overlapping windows. pool_max_backward_disjoint4
// serves windows that cannot overlap (stride ≥ pool on both axes, the usual 2×2 stride 2): one
// invocation per window writes every dx cell that window owns, so dy, argmax and the activation
// derivative are read once per window, not once per cell (on CPU adapters, where each load is
// a gather, most of what the pass costs).
// Bindings: 0 params; forwards: 1 x, 2 y (and 3 argmax for max); backwards: 4 dy, 5 dx, 1 x
//   (and 3 argmax for max). pool_max_forward4 / pool_max_backward4 take channels four at a time
//   (when c is a multiple of 4; params.c is then c / 4): 6 x4, 7 y4, 8 argmax4 / 8, 9 dy4, 10 dx4
//   (and 6 x4); pool_max_backward_disjoint4: 7 y4 (read), 8 argmax4, 9 dy4, 10 dx4;
//   pool_avg_forward4: 6 x4, 7 y4; pool_avg_backward4: 9 dy4, 10 dx4 (and 6 x4); every pass
//   11 step (u32, read with a folded dropout).
//   Their argmax holds the same flat x indices as the scalar kernels'.
// Grid: one invocation per output element (pool_max_backward_disjoint4: per y element), 256
//   per workgroup, folded 2-D past 65 535 workgroups. Outputs are overwritten.

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
    // The backward passes: multiply dx by the derivative of this activation (1 relu, 2 sigmoid,
    // 3 tanh, 4 leaky relu 0.2, 5 elu; 0: none) at its output, the pool's input x (1, or 6 as
    // vec4s): then dx is the previous layer's pre-activation gradient.
    act_grad: u32,
    // A folded Dropout layer's rate and mask seed (with `dropout`).
    dropout_rate: f32,
    dropout_seed: u32,
}

override dropout: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> argmax4: array<vec4<u32>>;
@group(0) @binding(9) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read> step: array<u32>;

// dropout.wgsl's mask: "lowbias32" (Chris Wellons) over (seed, step, index); the kept elements'
// factor is 1 / (1 - rate), the others' 0.
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
    let h = mix(mix(mix(params.dropout_seed) + s) + i);
    let u = f32(h >> 8u) * (1.0 / 16777216.0);
    return select(0.0, 1.0 / (1.0 - params.dropout_rate), u >= params.dropout_rate);
}

// The forward pass's factor for y[i] (1 without a folded dropout).
fn dropped(i: u32) -> f32 {
    if !dropout {
        return 1.0;
    }
    return keep_scale(step[0], i);
}

// The factors of the four elements of vec4 i.
fn keep_scale4(s: u32, i: u32) -> vec4<f32> {
    let e = 4u * i;
    return vec4<f32>(keep_scale(s, e), keep_scale(s, e + 1u), keep_scale(s, e + 2u), keep_scale(s, e + 3u));
}

fn dropped4(i: u32) -> vec4<f32> {
    if !dropout {
        return vec4<f32>(1.0);
    }
    return keep_scale4(step[0], i);
}

// dy[o] as the backward pass takes it: through the folded dropout's mask of the step before.
fn dy_at(o: u32) -> f32 {
    if !dropout {
        return dy[o];
    }
    return dy[o] * keep_scale(step[0] - 1u, o);
}

fn dy4_at(o: u32) -> vec4<f32> {
    if !dropout {
        return dy4[o];
    }
    return dy4[o] * keep_scale4(step[0] - 1u, o);
}

// The derivative of activation `act` where it output `out` (activation.wgsl's).
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

// dx[i] = v, times the input's activation derivative with `act_grad`.
fn put_dx(i: u32, v: f32) {
    if params.act_grad != 0u {
        dx[i] = v * slope4(vec4<f32>(x[i]), params.act_grad).x;
    } else {
        dx[i] = v;
    }
}

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

// Clipped window of output (oy, ox): rows [r.x, r.y), columns [r.z, r.w).
fn window(oy: u32, ox: u32) -> vec4<u32> {
    let y0 = i32(oy * params.stride_h) - i32(params.pad_top);
    let x0 = i32(ox * params.stride_w) - i32(params.pad_left);
    let y1 = min(y0 + i32(params.pool_h), i32(params.h));
    let x1 = min(x0 + i32(params.pool_w), i32(params.w));
    return vec4<u32>(u32(max(y0, 0)), u32(y1), u32(max(x0, 0)), u32(x1));
}

// Range of outputs along one axis whose windows cover input coordinate `at`: [first, last].
fn covering(at: u32, pad: u32, pool: u32, stride: u32, out: u32) -> vec2<i32> {
    let t = i32(at + pad);
    let first = max((t - i32(pool) + i32(stride)) / i32(stride), 0);
    let last = min(t / i32(stride), i32(out) - 1);
    return vec2<i32>(first, last);
}

@compute @workgroup_size(256)
fn pool_max_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.oh * params.ow * params.c {
        return;
    }
    let ch = i % params.c;
    let ox = (i / params.c) % params.ow;
    let oy = (i / (params.c * params.ow)) % params.oh;
    let b = i / (params.c * params.ow * params.oh);
    let win = window(oy, ox);
    var best = -3.4028234e38;
    var best_at = 0u;
    var found = false;
    for (var iy = win.x; iy < win.y; iy++) {
        for (var ix = win.z; ix < win.w; ix++) {
            let at = ((b * params.h + iy) * params.w + ix) * params.c + ch;
            let v = x[at];
            if !found || v > best {
                best = v;
                best_at = at;
                found = true;
            }
        }
    }
    y[i] = best * dropped(i);
    argmax[i] = best_at;
}

@compute @workgroup_size(256)
fn pool_max_backward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.h * params.w * params.c {
        return;
    }
    let ch = i % params.c;
    let ix = (i / params.c) % params.w;
    let iy = (i / (params.c * params.w)) % params.h;
    let b = i / (params.c * params.w * params.h);
    let rows = covering(iy, params.pad_top, params.pool_h, params.stride_h, params.oh);
    let cols = covering(ix, params.pad_left, params.pool_w, params.stride_w, params.ow);
    var acc = 0.0;
    for (var oy = rows.x; oy <= rows.y; oy++) {
        for (var ox = cols.x; ox <= cols.y; ox++) {
            let o = ((b * params.oh + u32(oy)) * params.ow + u32(ox)) * params.c + ch;
            if argmax[o] == i {
                acc += dy_at(o);
            }
        }
    }
    put_dx(i, acc);
}

@compute @workgroup_size(256)
fn pool_avg_forward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.oh * params.ow * params.c {
        return;
    }
    let ch = i % params.c;
    let ox = (i / params.c) % params.ow;
    let oy = (i / (params.c * params.ow)) % params.oh;
    let b = i / (params.c * params.ow * params.oh);
    let win = window(oy, ox);
    var sum = 0.0;
    for (var iy = win.x; iy < win.y; iy++) {
        for (var ix = win.z; ix < win.w; ix++) {
            sum += x[((b * params.h + iy) * params.w + ix) * params.c + ch];
        }
    }
    let cells = (win.y - win.x) * (win.w - win.z);
    y[i] = sum / f32(max(cells, 1u)) * dropped(i);
}

@compute @workgroup_size(256)
fn pool_avg_backward(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.h * params.w * params.c {
        return;
    }
    let ch = i % params.c;
    let ix = (i / params.c) % params.w;
    let iy = (i / (params.c * params.w)) % params.h;
    let b = i / (params.c * params.w * params.h);
    let rows = covering(iy, params.pad_top, params.pool_h, params.stride_h, params.oh);
    let cols = covering(ix, params.pad_left, params.pool_w, params.stride_w, params.ow);
    var acc = 0.0;
    for (var oy = rows.x; oy <= rows.y; oy++) {
        for (var ox = cols.x; ox <= cols.y; ox++) {
            let win = window(u32(oy), u32(ox));
            let cells = (win.y - win.x) * (win.w - win.z);
            acc += dy_at(((b * params.oh + u32(oy)) * params.ow + u32(ox)) * params.c + ch) / f32(cells);
        }
    }
    put_dx(i, acc);
}

const LANES = vec4<u32>(0u, 1u, 2u, 3u);

@compute @workgroup_size(256)
fn pool_max_forward4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.oh * params.ow * params.c {
        return;
    }
    let ch = i % params.c;
    let ox = (i / params.c) % params.ow;
    let oy = (i / (params.c * params.ow)) % params.oh;
    let b = i / (params.c * params.ow * params.oh);
    let win = window(oy, ox);
    let first = ((b * params.h + win.x) * params.w + win.z) * params.c + ch;
    var best = x4[first];
    var best_at = vec4<u32>(first);
    for (var iy = win.x; iy < win.y; iy++) {
        for (var ix = win.z; ix < win.w; ix++) {
            let at = ((b * params.h + iy) * params.w + ix) * params.c + ch;
            let v = x4[at];
            let better = v > best;
            best = select(best, v, better);
            best_at = select(best_at, vec4<u32>(at), better);
        }
    }
    y4[i] = best * dropped4(i);
    argmax4[i] = best_at * 4u + LANES;
}

@compute @workgroup_size(256)
fn pool_max_backward4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.h * params.w * params.c {
        return;
    }
    let ch = i % params.c;
    let ix = (i / params.c) % params.w;
    let iy = (i / (params.c * params.w)) % params.h;
    let b = i / (params.c * params.w * params.h);
    let rows = covering(iy, params.pad_top, params.pool_h, params.stride_h, params.oh);
    let cols = covering(ix, params.pad_left, params.pool_w, params.stride_w, params.ow);
    let mine = i * 4u + LANES;
    var acc = vec4<f32>(0.0);
    for (var oy = rows.x; oy <= rows.y; oy++) {
        for (var ox = cols.x; ox <= cols.y; ox++) {
            let o = ((b * params.oh + u32(oy)) * params.ow + u32(ox)) * params.c + ch;
            acc += select(vec4<f32>(0.0), dy4_at(o), argmax4[o] == mine);
        }
    }
    if params.act_grad != 0u {
        acc *= slope4(x4[i], params.act_grad);
    }
    dx4[i] = acc;
}

@compute @workgroup_size(256)
fn pool_avg_forward4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.oh * params.ow * params.c {
        return;
    }
    let ch = i % params.c;
    let ox = (i / params.c) % params.ow;
    let oy = (i / (params.c * params.ow)) % params.oh;
    let b = i / (params.c * params.ow * params.oh);
    let win = window(oy, ox);
    var sum = vec4<f32>(0.0);
    for (var iy = win.x; iy < win.y; iy++) {
        for (var ix = win.z; ix < win.w; ix++) {
            sum += x4[((b * params.h + iy) * params.w + ix) * params.c + ch];
        }
    }
    let cells = (win.y - win.x) * (win.w - win.z);
    y4[i] = sum / f32(max(cells, 1u)) * dropped4(i);
}

@compute @workgroup_size(256)
fn pool_avg_backward4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.h * params.w * params.c {
        return;
    }
    let ch = i % params.c;
    let ix = (i / params.c) % params.w;
    let iy = (i / (params.c * params.w)) % params.h;
    let b = i / (params.c * params.w * params.h);
    let rows = covering(iy, params.pad_top, params.pool_h, params.stride_h, params.oh);
    let cols = covering(ix, params.pad_left, params.pool_w, params.stride_w, params.ow);
    var acc = vec4<f32>(0.0);
    for (var oy = rows.x; oy <= rows.y; oy++) {
        for (var ox = cols.x; ox <= cols.y; ox++) {
            let win = window(u32(oy), u32(ox));
            let cells = (win.y - win.x) * (win.w - win.z);
            acc += dy4_at(((b * params.oh + u32(oy)) * params.ow + u32(ox)) * params.c + ch) / f32(cells);
        }
    }
    if params.act_grad != 0u {
        acc *= slope4(x4[i], params.act_grad);
    }
    dx4[i] = acc;
}

// The input coordinates along one axis whose dx the disjoint window `o` writes, [first, last):
// its window's cells, then those no window covers up to the next window (or the input's end).
// Window o + 1 starts inside the input, so `last` never passes it.
fn owned(o: u32, stride: u32, pad: u32, out: u32, size: u32) -> vec2<u32> {
    let first = select(o * stride - pad, 0u, o == 0u);
    let last = select((o + 1u) * stride - pad, size, o + 1u == out);
    return vec2<u32>(first, last);
}

// Max pooling backward for windows that do not overlap: dy goes to the window's argmax cell,
// zeros to every other cell it owns. The activation derivative is taken at the argmax cell, the
// only one that receives a gradient, read as y (one load) when no folded dropout scaled it: dx
// is bit for bit what pool_max_backward4 writes.
@compute @workgroup_size(256)
fn pool_max_backward_disjoint4(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.n * params.oh * params.ow * params.c {
        return;
    }
    let ch = i % params.c;
    let ox = (i / params.c) % params.ow;
    let oy = (i / (params.c * params.ow)) % params.oh;
    let b = i / (params.c * params.ow * params.oh);
    let rows = owned(oy, params.stride_h, params.pad_top, params.oh, params.h);
    let cols = owned(ox, params.stride_w, params.pad_left, params.ow, params.w);
    var grad = dy4_at(i);
    let winner = argmax4[i];
    if params.act_grad != 0u {
        // y is the input at the argmax, unless a folded dropout scaled it: then the input itself.
        var out: vec4<f32>;
        if dropout {
            out = vec4<f32>(x[winner.x], x[winner.y], x[winner.z], x[winner.w]);
        } else {
            out = y4[i];
        }
        grad *= slope4(out, params.act_grad);
    }
    for (var iy = rows.x; iy < rows.y; iy++) {
        for (var ix = cols.x; ix < cols.y; ix++) {
            let at = ((b * params.h + iy) * params.w + ix) * params.c + ch;
            dx4[at] = select(vec4<f32>(0.0), grad, winner == at * 4u + LANES);
        }
    }
}
