// loss.wgsl: fused losses with their gradient and a correct-prediction count, and a
// deterministic accumulation of both into running totals.
//
// Layouts: logits / predictions and targets are [rows, cols] row-major f32. Only the first
//   `valid` rows count (valid = batch_rows[0], written by data.wgsl's label gather, so a short
//   last batch needs no other buffers); the rest get zero loss, zero gradient, no count.
// Losses are means over the valid rows (and, for BCE and MSE, over cols, as Keras does), so the
//   gradient of row r is d(loss_r)/d(logits_r) / valid.
//   loss_softmax_cross_entropy: softmax of logits vs targets (one-hot or soft), stable for large
//     logits (log-sum-exp around the row maximum); correct: argmax(logits) == argmax(targets).
//   loss_sigmoid_bce: sigmoid of logits vs targets in [0, 1], from logits (max(x,0) - x·t +
//     log(1 + exp(-|x|))); correct: the fraction of cols with (x > 0) == (t > 0.5).
//   loss_mse: predictions vs targets; correct: cols == 1 ? |p - t| < 0.5 : argmax match.
// Bindings: 0 params; losses: 1 logits, 2 targets, 3 dx, 4 row_results [rows] (loss, correct),
//   6 batch_rows [1] (u32), 7 totals (written only with `accumulate`); loss_accumulate: 4, 6 and
//   7 totals [3] = (sum of row losses, sum of correct, rows counted), added to (clear it to
//   start an epoch). Both: 8 cursor [1], 9 step [1] (u32).
// The dispatch that adds the totals (the loss entry with `accumulate`, else loss_accumulate) also
//   ends the batch: with `advance_cursor` it moves data.wgsl's cursor past it (cursor += rows),
//   with `count_step` it counts the training step (step += 1, before the optimizer's update reads
//   it), so a step needs no dispatch of its own for either.
// Grid: losses one invocation per row, `group` per workgroup, folded 2-D past 65 535
//   workgroups; loss_accumulate one workgroup summing in a fixed order (no float atomics). A
//   batch of at most 256 rows is one workgroup, so with the `accumulate` constant a loss entry
//   adds its own totals (the same sums in the same order as loss_accumulate): one dispatch, not
//   two. Such a workgroup is sized to the batch (the next power of two): on CPU adapters every
//   invocation of a workgroup runs through each barrier of the sum, rows or not.
// dx and row_results are overwritten; totals are added to.

override accumulate: bool = false;
override advance_cursor: bool = false;
override count_step: bool = false;
// Invocations per workgroup: a power of two, at most 256.
override group: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_results: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read> batch_rows: array<u32>;
@group(0) @binding(7) var<storage, read_write> totals: array<f32>;
@group(0) @binding(8) var<storage, read_write> cursor: array<u32>;
@group(0) @binding(9) var<storage, read_write> step: array<u32>;

var<workgroup> loss_part: array<f32, 256>;
var<workgroup> correct_part: array<f32, 256>;

fn row_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * group + lid;
}

fn valid_rows() -> u32 {
    return min(batch_rows[0], params.rows);
}

// Zeroes the gradient of a row past the valid ones; returns false for such rows.
fn begin_row(row: u32) -> bool {
    if row < valid_rows() {
        return true;
    }
    for (var j = 0u; j < params.cols; j++) {
        dx[row * params.cols + j] = 0.0;
    }
    return false;
}

// Index of the first maximum of a row of `logits` or (when `of_targets`) `targets`.
fn argmax(base: u32, of_targets: bool) -> u32 {
    var best = 0u;
    var best_v = select(logits[base], targets[base], of_targets);
    for (var j = 1u; j < params.cols; j++) {
        let v = select(logits[base + j], targets[base + j], of_targets);
        if v > best_v {
            best_v = v;
            best = j;
        }
    }
    return best;
}

@compute @workgroup_size(group)
fn loss_softmax_cross_entropy(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = row_index(wg, nwg, lid);
    var result = vec2<f32>(0.0);
    if row < params.rows && begin_row(row) {
        result = softmax_cross_entropy_row(row);
    }
    finish(row, lid, result);
}

// (loss, correct) of a valid row; writes its dx.
fn softmax_cross_entropy_row(row: u32) -> vec2<f32> {
    let cols = params.cols;
    let base = row * cols;
    let inv_rows = 1.0 / f32(valid_rows());
    var peak = logits[base];
    for (var j = 1u; j < cols; j++) {
        peak = max(peak, logits[base + j]);
    }
    var sum = 0.0;
    for (var j = 0u; j < cols; j++) {
        sum += exp(logits[base + j] - peak);
    }
    let log_sum = log(sum);
    var loss = 0.0;
    var target_sum = 0.0;
    for (var j = 0u; j < cols; j++) {
        let shifted = logits[base + j] - peak;
        let t = targets[base + j];
        loss += t * (log_sum - shifted);
        target_sum += t;
        dx[base + j] = exp(shifted) / sum * inv_rows;
    }
    // d/dx of Σ t·(lse - x) is softmax·Σt - t; Σt is 1 for proper distributions.
    for (var j = 0u; j < cols; j++) {
        dx[base + j] = dx[base + j] * target_sum - targets[base + j] * inv_rows;
    }
    return vec2<f32>(loss, select(0.0, 1.0, argmax(base, false) == argmax(base, true)));
}

@compute @workgroup_size(group)
fn loss_sigmoid_bce(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = row_index(wg, nwg, lid);
    var result = vec2<f32>(0.0);
    if row < params.rows && begin_row(row) {
        result = sigmoid_bce_row(row);
    }
    finish(row, lid, result);
}

// (loss, correct) of a valid row; writes its dx.
fn sigmoid_bce_row(row: u32) -> vec2<f32> {
    let cols = params.cols;
    let base = row * cols;
    let scale = 1.0 / (f32(valid_rows()) * f32(cols));
    var loss = 0.0;
    var correct = 0.0;
    for (var j = 0u; j < cols; j++) {
        let v = logits[base + j];
        let t = targets[base + j];
        loss += max(v, 0.0) - v * t + log(1.0 + exp(-abs(v)));
        var p: f32;
        if v >= 0.0 {
            p = 1.0 / (1.0 + exp(-v));
        } else {
            let e = exp(v);
            p = e / (1.0 + e);
        }
        dx[base + j] = (p - t) * scale;
        correct += select(0.0, 1.0, (v > 0.0) == (t > 0.5));
    }
    return vec2<f32>(loss, correct) / f32(cols);
}

@compute @workgroup_size(group)
fn loss_mse(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = row_index(wg, nwg, lid);
    var result = vec2<f32>(0.0);
    if row < params.rows && begin_row(row) {
        result = mse_row(row);
    }
    finish(row, lid, result);
}

// (loss, correct) of a valid row; writes its dx.
fn mse_row(row: u32) -> vec2<f32> {
    let cols = params.cols;
    let base = row * cols;
    let scale = 2.0 / (f32(valid_rows()) * f32(cols));
    var loss = 0.0;
    for (var j = 0u; j < cols; j++) {
        let diff = logits[base + j] - targets[base + j];
        loss += diff * diff;
        dx[base + j] = diff * scale;
    }
    var correct: bool;
    if cols == 1u {
        correct = abs(logits[base] - targets[base]) < 0.5;
    } else {
        correct = argmax(base, false) == argmax(base, true);
    }
    return vec2<f32>(loss / f32(cols), select(0.0, 1.0, correct));
}

// Stores a row's results (a row past `rows` has none) and, with `accumulate`, adds the
// workgroup's sums to the totals.
fn finish(row: u32, lid: u32, result: vec2<f32>) {
    if row < params.rows {
        row_results[row] = result;
    }
    if accumulate {
        add_to_totals(lid, result);
    }
}

// Sums `part` (loss, correct) over the workgroup in a fixed order and adds it to the totals.
fn add_to_totals(lid: u32, part: vec2<f32>) {
    loss_part[lid] = part.x;
    correct_part[lid] = part.y;
    for (var stride = group / 2u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if lid < stride {
            loss_part[lid] += loss_part[lid + stride];
            correct_part[lid] += correct_part[lid + stride];
        }
    }
    if lid == 0u {
        totals[0] += loss_part[0];
        totals[1] += correct_part[0];
        totals[2] += f32(valid_rows());
        if advance_cursor {
            cursor[0] += params.rows;
        }
        if count_step {
            step[0] += 1u;
        }
    }
}

@compute @workgroup_size(group)
fn loss_accumulate(@builtin(local_invocation_index) lid: u32) {
    var part = vec2<f32>(0.0);
    for (var row = lid; row < params.rows; row += group) {
        part += row_results[row];
    }
    add_to_totals(lid, part);
}
