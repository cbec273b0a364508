//! Fused losses (value, gradient, correct count) and their accumulation: `shaders/loss.wgsl`.

use bytemuck::{Pod, Zeroable};

use super::grid_for;
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Softmax of the logits against one-hot (or soft) targets.
    SoftmaxCrossEntropy,
    /// Sigmoid of the logits against targets in [0, 1], averaged over columns.
    SigmoidBinaryCrossEntropy,
    /// Squared error of the predictions, averaged over columns.
    MeanSquaredError,
}

impl Loss {
    fn entry(self) -> &'static str {
        match self {
            Loss::SoftmaxCrossEntropy => "loss_softmax_cross_entropy",
            Loss::SigmoidBinaryCrossEntropy => "loss_sigmoid_bce",
            Loss::MeanSquaredError => "loss_mse",
        }
    }
}

/// The per-row scratch and running totals of a loss over batches of `rows`.
pub struct LossBuffers {
    pub rows: usize,
    /// (loss, correct) of each row, interleaved.
    pub row_results: Tensor,
    /// How many rows of the batch count (u32, one element); written by the label gather.
    pub batch_rows: Tensor,
    /// (sum of row losses, sum of correct, rows counted), added to by `accumulate`.
    pub totals: Tensor,
}

impl LossBuffers {
    pub fn new(gpu: &Gpu, rows: usize) -> Result<LossBuffers> {
        Ok(LossBuffers {
            rows,
            row_results: gpu.zeros("row_results", 2 * rows)?,
            batch_rows: gpu.upload("batch_rows", &[rows as u32])?,
            totals: gpu.zeros("loss_totals", 3)?,
        })
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
}

/// Batches up to this many rows are one workgroup: their loss dispatch adds its own totals.
const WORKGROUP_ROWS: usize = 256;

/// What the loss dispatch of a step also moves once the batch is done: a feed's cursor, past
/// the batch's rows, and in training the step counter (before the optimizer reads it).
#[derive(Clone, Copy)]
pub struct Advance<'a> {
    pub cursor: &'a Tensor,
    pub step: Option<&'a Tensor>,
}

/// One batch's loss: row losses, correct flags and dx = d(mean loss)/d(logits) over the
/// batch's valid rows, and their sums added to `bufs.totals`; then `advance`, if any. A batch
/// of up to 256 rows gets all of it from one dispatch; a larger one is followed by
/// `loss_accumulate`.
#[allow(clippy::too_many_arguments)] // the loss's operands, each a tensor or its description
pub fn step(
    gpu: &Gpu,
    loss: Loss,
    cols: usize,
    logits: &Tensor,
    targets: &Tensor,
    dx: &Tensor,
    bufs: &LossBuffers,
    advance: Option<Advance>,
) -> Result<Vec<Dispatch>> {
    let len = bufs.rows * cols;
    assert!(
        logits.len() == len && targets.len() == len && dx.len() == len,
        "loss: logits {}, targets {}, dx {} for {} rows × {cols}",
        logits.len(),
        targets.len(),
        dx.len(),
        bufs.rows
    );
    let params = Params { rows: bufs.rows as u32, cols: cols as u32 };
    let fused = bufs.rows <= WORKGROUP_ROWS;
    let flag = |on: bool| f64::from(u8::from(on));
    let with_advance = |kernel: Kernel| {
        kernel
            .constant("advance_cursor", flag(advance.is_some()))
            .constant("count_step", flag(advance.is_some_and(|a| a.step.is_some())))
    };
    // Without them, the cursor and step bindings get spares, unused.
    let cursor = advance.map_or(gpu.spare(0), |a| a.cursor);
    let counter = advance.and_then(|a| a.step).unwrap_or(gpu.spare(1));
    // One workgroup sized to the batch, or full ones folded over the grid.
    let (group, grid) = match fused {
        true => (bufs.rows.next_power_of_two(), [1, 1, 1]),
        false => (WORKGROUP_ROWS, grid_for(gpu, bufs.rows)?),
    };
    let kernel = with_advance(Kernel::new(Shader::Loss, loss.entry()))
        .constant("accumulate", flag(fused))
        .constant("group", group as f64);
    let tensors = [
        (1, logits),
        (2, targets),
        (3, dx),
        (4, &bufs.row_results),
        (6, &bufs.batch_rows),
        (7, &bufs.totals),
        (8, cursor),
        (9, counter),
    ];
    let forward = gpu.dispatch(&kernel, &params, &tensors, grid)?;
    if fused {
        return Ok(vec![forward]);
    }
    let params = Params { rows: bufs.rows as u32, cols: 0 };
    let tensors = [(4, &bufs.row_results), (6, &bufs.batch_rows), (7, &bufs.totals), (8, cursor), (9, counter)];
    let kernel = with_advance(Kernel::new(Shader::Loss, "loss_accumulate"));
    let accumulate = gpu.dispatch(&kernel, &params, &tensors, [1, 1, 1])?;
    Ok(vec![forward, accumulate])
}

pub mod cpu {
    use super::Loss;

    /// Per-row losses, correct flags (fractions for BCE) and the gradient.
    pub struct LossOutput {
        pub row_loss: Vec<f64>,
        pub row_correct: Vec<f64>,
        pub dx: Vec<f64>,
    }

    fn argmax(row: &[f64]) -> usize {
        (1..row.len()).fold(0, |best, j| if row[j] > row[best] { j } else { best })
    }

    /// Only the first `valid` rows count; the rest get zeros.
    pub fn forward(loss: Loss, cols: usize, logits: &[f64], targets: &[f64], valid: usize) -> LossOutput {
        let rows = logits.len() / cols;
        let mut out =
            LossOutput { row_loss: vec![0.0; rows], row_correct: vec![0.0; rows], dx: vec![0.0; rows * cols] };
        let n = valid.min(rows) as f64;
        for r in 0..valid.min(rows) {
            let x = &logits[r * cols..(r + 1) * cols];
            let t = &targets[r * cols..(r + 1) * cols];
            let dx = &mut out.dx[r * cols..(r + 1) * cols];
            let (row_loss, correct) = match loss {
                Loss::SoftmaxCrossEntropy => {
                    let peak = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let lse = peak + x.iter().map(|v| (v - peak).exp()).sum::<f64>().ln();
                    let t_sum: f64 = t.iter().sum();
                    for j in 0..cols {
                        dx[j] = ((x[j] - lse).exp() * t_sum - t[j]) / n;
                    }
                    let l = x.iter().zip(t).map(|(x, t)| t * (lse - x)).sum();
                    (l, f64::from(u8::from(argmax(x) == argmax(t))))
                }
                Loss::SigmoidBinaryCrossEntropy => {
                    let mut l = 0.0;
                    let mut c = 0.0;
                    for j in 0..cols {
                        let v = x[j];
                        l += v.max(0.0) - v * t[j] + (-v.abs()).exp().ln_1p();
                        dx[j] = (1.0 / (1.0 + (-v).exp()) - t[j]) / (n * cols as f64);
                        c += f64::from(u8::from((v > 0.0) == (t[j] > 0.5)));
                    }
                    (l / cols as f64, c / cols as f64)
                }
                Loss::MeanSquaredError => {
                    let mut l = 0.0;
                    for j in 0..cols {
                        let d = x[j] - t[j];
                        l += d * d;
                        dx[j] = 2.0 * d / (n * cols as f64);
                    }
                    let correct = if cols == 1 { (x[0] - t[0]).abs() < 0.5 } else { argmax(x) == argmax(t) };
                    (l / cols as f64, f64::from(u8::from(correct)))
                }
            };
            out.row_loss[r] = row_loss;
            out.row_correct[r] = correct;
        }
        out
    }
}
