// data.wgsl: gathers a batch on the GPU from a dataset uploaded once.
//
// The dataset stays on the GPU: features as u8 packed four to a u32 (little-endian) or as f32
// bits, labels as u8 class indices packed likewise or as f32 targets. `indices` lists the rows
// of the current split in this epoch's (shuffled) order; `cursor` is the position of the batch
// in `indices`, moved by data_advance, so the same dispatches serve every step of an epoch.
// A batch past the end of `indices` is short: its rows beyond `total` are zero-filled and
// batch_rows[0] tells the losses (loss.wgsl) how many rows count.
//   data_gather_u8:   x[b, f] = u8 feature · scale (1/255 for images)
//   data_gather_f32:  x[b, f] = f32 feature
//   data_onehot_u8:   y[b, :] = one-hot of the u8 label (classes wide); writes batch_rows
//   data_labels_f32:  y[b, j] = f32 target j of the row (classes = targets per row); writes batch_rows
//   data_advance:     cursor += rows
// Layouts: features [total rows, features], labels [total rows] or [total rows, classes];
//   x [rows, features], y [rows, classes].
// Bindings: 0 params; 1 data, 2 indices, 3 cursor, 4 x, 5 labels, 6 y, 7 batch_rows.
// Grid: one invocation per output element, 256 per workgroup, folded 2-D past 65 535
//   workgroups; data_advance a single invocation. x, y and batch_rows are overwritten.

struct Params {
    rows: u32,
    features: u32,
    classes: u32,
    total: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> cursor: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read> labels: array<u32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read_write> batch_rows: array<u32>;

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

fn byte_at(word: u32, which: u32) -> u32 {
    return (word >> (8u * which)) & 0xffu;
}

// The dataset row of batch row b, or -1 past the end of the split.
fn source_row(b: u32) -> i32 {
    let pos = cursor[0] + b;
    if pos >= params.total {
        return -1;
    }
    return i32(indices[pos]);
}

@compute @workgroup_size(256)
fn data_gather_u8(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.rows * params.features {
        return;
    }
    let row = source_row(i / params.features);
    if row < 0 {
        x[i] = 0.0;
        return;
    }
    let at = u32(row) * params.features + i % params.features;
    x[i] = f32(byte_at(data[at / 4u], at % 4u)) * params.scale;
}

@compute @workgroup_size(256)
fn data_gather_f32(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= params.rows * params.features {
        return;
    }
    let row = source_row(i / params.features);
    if row < 0 {
        x[i] = 0.0;
        return;
    }
    x[i] = bitcast<f32>(data[u32(row) * params.features + i % params.features]);
}

fn write_batch_rows(i: u32) {
    if i == 0u {
        batch_rows[0] = min(params.rows, params.total - min(cursor[0], params.total));
    }
}

@compute @workgroup_size(256)
fn data_onehot_u8(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    write_batch_rows(i);
    if i >= params.rows * params.classes {
        return;
    }
    let row = source_row(i / params.classes);
    if row < 0 {
        y[i] = 0.0;
        return;
    }
    let label = byte_at(labels[u32(row) / 4u], u32(row) % 4u);
    y[i] = select(0.0, 1.0, label == i % params.classes);
}

@compute @workgroup_size(256)
fn data_labels_f32(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    write_batch_rows(i);
    if i >= params.rows * params.classes {
        return;
    }
    let row = source_row(i / params.classes);
    if row < 0 {
        y[i] = 0.0;
        return;
    }
    y[i] = bitcast<f32>(labels[u32(row) * params.classes + i % params.classes]);
}

@compute @workgroup_size(1)
fn data_advance() {
    cursor[0] += params.rows;
}
