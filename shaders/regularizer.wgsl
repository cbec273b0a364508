// regularizer.wgsl: Keras's kernel_regularizer (L1L2: l1 · Σ|w| + l2 · Σw²), its loss and its
// gradient.
//
//   regularizer_penalty: the penalty of w, added to the loss totals once per valid row of the
//     batch (totals[0] += valid · penalty), as Keras adds a layer's regularization loss to each
//     batch's mean loss; it runs in the forward pass, on the weights the step starts from.
//   regularizer_grad: g += l1 · sign(w) + 2 · l2 · w (sign(0) = 0, as TensorFlow's), after the
//     layer's weight gradient is written.
// Layouts: w, g flat f32 arrays of `len`; batch_rows [1] u32 (the batch's valid rows, written
//   by data.wgsl's label gather); totals loss.wgsl's (sum of row losses, correct, rows).
// Bindings: 0 params; 1 w; regularizer_penalty: 2 batch_rows, 3 totals; regularizer_grad: 4 g.
// Grid: regularizer_penalty one workgroup summing in a fixed order (no float atomics);
//   regularizer_grad one invocation per element, 256 per workgroup, folded 2-D past 65 535.

struct Params {
    len: u32,
    rows: u32,
    l1: f32,
    l2: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> batch_rows: array<u32>;
@group(0) @binding(3) var<storage, read_write> totals: array<f32>;
@group(0) @binding(4) var<storage, read_write> g: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn regularizer_penalty(@builtin(local_invocation_index) lid: u32) {
    var sum = 0.0;
    for (var i = lid; i < params.len; i += 256u) {
        let v = w[i];
        sum += params.l1 * abs(v) + params.l2 * v * v;
    }
    part[lid] = sum;
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if lid < stride {
            part[lid] += part[lid + stride];
        }
    }
    if lid == 0u {
        totals[0] += f32(min(batch_rows[0], params.rows)) * part[0];
    }
}

@compute @workgroup_size(256)
fn regularizer_grad(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wg.x + wg.y * nwg.x) * 256u + lid;
    if i >= params.len {
        return;
    }
    let v = w[i];
    g[i] += params.l1 * sign(v) + 2.0 * params.l2 * v;
}
