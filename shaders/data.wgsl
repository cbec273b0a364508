// data.wgsl: gathers a batch on the GPU from a dataset uploaded once.
//
// The dataset stays on the GPU: features as u8 packed four to a u32 (little-endian) or as f32
// bits, labels as u8 class indices packed likewise or as f32 targets (the `u8_features` and
// `class_labels` constants say which). `indices` lists the rows of the current split in this
// epoch's (shuffled) order; `cursor` is the position of the batch in `indices`, moved by
// the step's loss dispatch (loss.wgsl) or, in prediction, data_advance, so the same dispatches
// serve every step of an epoch. A batch past the end of
// `indices` is short: its rows beyond `total` are zero-filled and batch_rows[0] tells the
// losses (loss.wgsl) how many rows count.
//   data_gather: x[b, f] = feature f of the batch's row b (u8 features read as byte / 255,
//     unorm8x4); y[b, :] = its one-hot class (u8 labels, `classes` wide) or its f32 targets
//     (`classes` per row); batch_rows[0] = the rows that count. One dispatch for all of it:
//     on adapters where each dispatch costs tens of microseconds, fewer is faster.
//   data_gather_bytes (u8 features, a multiple of 4 per row): x_bytes[b, :] = the batch row's
//     features as the dataset holds them, four bytes to a word, for a first layer that reads
//     them as byte / 255 (matmul.wgsl's a_unorm8); y and batch_rows as
//     data_gather. A copy of a quarter of the words.
//   data_advance: cursor += rows.
// Layouts: features [total rows, features], labels [total rows] or [total rows, classes];
//   x [rows, features], y [rows, classes].
// Bindings: 0 params; 1 data, 2 indices, 3 cursor, 4 x, 5 labels, 6 y, 7 batch_rows, 8 x_bytes.
// Grid: data_gather one workgroup of 64 per batch row (folded 2-D past 65 535), each
//   invocation converting 4 consecutive features at a time (no integer division per value);
//   data_advance a single invocation. x, y and batch_rows are overwritten.

override u8_features: bool = true;
override class_labels: bool = true;

struct Params {
    rows: u32,
    features: u32,
    classes: u32,
    total: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> cursor: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read> labels: array<u32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read_write> batch_rows: array<u32>;
@group(0) @binding(8) var<storage, read_write> x_bytes: array<u32>;

// byte / 255 rounded once to f32 (bit for bit Keras's x / 255 in float32; a product with
// 1 / 255 is off in the last bit for half the bytes), exact on every device because it is integer
// arithmetic: byte / 255 in binary is the byte's 8 bits repeated, so byte · 0x01010101 holds its
// first 32 bits; shifted to the leading one, the top 24 are the mantissa and the next bit rounds
// it (the rest is never exactly a tie). A carry out of the mantissa lands in the exponent.
fn unorm8x4(bytes: vec4<u32>) -> vec4<f32> {
    let bits = bytes * 0x01010101u;
    let lz = countLeadingZeros(bits);
    let m = bits << (lz & vec4<u32>(31u));
    let f = ((vec4<u32>(126u) - lz) << vec4<u32>(23u)) + ((m >> vec4<u32>(8u)) & vec4<u32>(0x7fffffu))
        + ((m >> vec4<u32>(7u)) & vec4<u32>(1u));
    return select(bitcast<vec4<f32>>(f), vec4<f32>(0.0), bytes == vec4<u32>(0u));
}

// The dataset row of batch row b, or -1 past the end of the split.
fn source_row(b: u32) -> i32 {
    let pos = cursor[0] + b;
    if pos >= params.total {
        return -1;
    }
    return i32(indices[pos]);
}

// Features at..at + 3 of the flat feature array (past its end: whatever, never stored).
fn load_features(at: u32) -> vec4<f32> {
    let last = arrayLength(&data) - 1u;
    if u8_features {
        // The four bytes from `at` on, which straddle two words unless `at` is a multiple of 4.
        let word = at / 4u;
        let shift = (at % 4u) * 8u;
        var bits = data[word];
        if shift != 0u {
            bits = (bits >> shift) | (data[min(word + 1u, last)] << (32u - shift));
        }
        let bytes = vec4<u32>(bits & 0xffu, (bits >> 8u) & 0xffu, (bits >> 16u) & 0xffu, bits >> 24u);
        return unorm8x4(bytes);
    }
    return vec4<f32>(
        bitcast<f32>(data[at]),
        bitcast<f32>(data[min(at + 1u, last)]),
        bitcast<f32>(data[min(at + 2u, last)]),
        bitcast<f32>(data[min(at + 3u, last)]),
    );
}

fn label(row: u32, c: u32) -> f32 {
    if class_labels {
        let which = (labels[row / 4u] >> (8u * (row % 4u))) & 0xffu;
        return select(0.0, 1.0, which == c);
    }
    return bitcast<f32>(labels[row * params.classes + c]);
}

@compute @workgroup_size(64)
fn data_gather(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wg.x + wg.y * nwg.x;
    if b >= params.rows {
        return;
    }
    count_rows(b, lid);
    let row = source_row(b);
    let out = b * params.features;
    for (var f = lid * 4u; f < params.features; f += 256u) {
        var v = vec4<f32>(0.0);
        if row >= 0 {
            v = load_features(u32(row) * params.features + f);
        }
        let left = params.features - f;
        x[out + f] = v.x;
        if left > 1u {
            x[out + f + 1u] = v.y;
        }
        if left > 2u {
            x[out + f + 2u] = v.z;
        }
        if left > 3u {
            x[out + f + 3u] = v.w;
        }
    }
    gather_labels(b, row, lid);
}

@compute @workgroup_size(64)
fn data_gather_bytes(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wg.x + wg.y * nwg.x;
    if b >= params.rows {
        return;
    }
    count_rows(b, lid);
    let row = source_row(b);
    let words = params.features / 4u;
    for (var w = lid; w < words; w += 64u) {
        var v = 0u;
        if row >= 0 {
            v = data[u32(row) * words + w];
        }
        x_bytes[b * words + w] = v;
    }
    gather_labels(b, row, lid);
}

// batch_rows[0] = the rows of the batch that count (by the batch's first invocation).
fn count_rows(b: u32, lid: u32) {
    if b == 0u && lid == 0u {
        batch_rows[0] = min(params.rows, params.total - min(cursor[0], params.total));
    }
}

// y[b, :] from dataset row `row` (zeros past the split), by the batch row's 64 invocations.
fn gather_labels(b: u32, row: i32, lid: u32) {
    for (var c = lid; c < params.classes; c += 64u) {
        var v = 0.0;
        if row >= 0 {
            v = label(u32(row), c);
        }
        y[b * params.classes + c] = v;
    }
}

@compute @workgroup_size(1)
fn data_advance() {
    cursor[0] += params.rows;
}

