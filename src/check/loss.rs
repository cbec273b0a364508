//! The fused losses: per-row loss and correctness, the gradient, the batch totals, and the
//! cursor and step counter each batch moves.

use rand::RngExt;
use rand::rngs::StdRng;

use super::{Check, CheckResult, Checker, f64s, uniform};
use crate::ops::loss::{self, Advance, Loss, LossBuffers, cpu};

pub const CHECKS: &[Check] = &[
    Check::new("loss", "softmax_cross_entropy", |c| Box::pin(check(c, Loss::SoftmaxCrossEntropy, 40))),
    Check::new("loss", "sigmoid_bce", |c| Box::pin(check(c, Loss::SigmoidBinaryCrossEntropy, 41))),
    Check::new("loss", "mse", |c| Box::pin(check(c, Loss::MeanSquaredError, 42))),
];

/// Targets for a loss: one-hot (or soft, every third case) rows for cross-entropy, 0/1 or
/// fractional values for BCE, anything for MSE.
fn targets(kind: Loss, rng: &mut StdRng, rows: usize, cols: usize, case: usize) -> Vec<f32> {
    match kind {
        Loss::SoftmaxCrossEntropy if case % 3 == 2 => {
            let raw = uniform(rng, rows * cols, 0.0, 1.0);
            raw.chunks(cols)
                .flat_map(|r| {
                    let s: f32 = r.iter().sum();
                    r.iter().map(move |v| v / s)
                })
                .collect()
        }
        Loss::SoftmaxCrossEntropy => (0..rows)
            .flat_map(|_| {
                let c = rng.random_range(0..cols);
                (0..cols).map(move |j| f32::from(u8::from(j == c)))
            })
            .collect(),
        Loss::SigmoidBinaryCrossEntropy => (0..rows * cols)
            .map(|i| if case.is_multiple_of(2) { (i % 2) as f32 } else { rng.random_range(0.0..1.0) })
            .collect(),
        Loss::MeanSquaredError => uniform(rng, rows * cols, -2.0, 2.0),
    }
}

const CASES: [(usize, usize, usize, f32); 7] = [
    // (rows, cols, valid rows, logit range); a batch of up to 256 rows is one workgroup of the
    // next power of two, with invocations past the rows (100 in 128).
    (1, 1, 1, 3.0),
    (100, 7, 93, 8.0),
    (32, 10, 32, 5.0),
    (32, 10, 7, 5.0),
    (257, 3, 257, 300.0),
    (1000, 1, 999, 50.0),
    (64, 100, 64, 2.0),
];

async fn check(ck: &mut Checker<'_>, kind: Loss, seed: u64) -> CheckResult {
    let gpu = ck.gpu;
    let mut rng = ck.rng(seed);
    for (case, &(rows, cols, valid, range)) in ck.pick(&CASES) {
        if kind == Loss::SoftmaxCrossEntropy && cols == 1 {
            continue;
        }
        let logits = uniform(&mut rng, rows * cols, -range, range);
        let t = targets(kind, &mut rng, rows, cols, case);
        let bufs = LossBuffers::new(gpu, rows)?;
        gpu.write(&bufs.batch_rows, &[valid as u32]);
        gpu.write(&bufs.row_results, &vec![f32::NAN; 2 * rows]);
        let (tl, tt, dx) = (ck.upload("logits", &logits)?, ck.upload("t", &t)?, ck.poisoned(rows * cols)?);
        // Twice: totals are added to (by the loss dispatch itself up to 256 rows), and the
        // batch ends: the cursor moves by the rows and, in training, the step is counted.
        let (cursor, counter) = (gpu.upload("cursor", &[5u32])?, gpu.upload("step", &[7u32])?);
        let counted = case % 2 == 0;
        let advance = Advance { cursor: &cursor, step: counted.then_some(&counter) };
        let step = loss::step(gpu, kind, cols, &tl, &tt, &dx, &bufs, Some(advance))?;
        let what = format!("{kind:?} {rows}×{cols} valid {valid} range ±{range}");
        let dispatches = if rows <= 256 { 1 } else { 2 };
        ck.expect(step.len() == dispatches, || format!("{what}: {} dispatches, not {dispatches}", step.len()))?;
        gpu.run_async(&step.iter().chain(&step).collect::<Vec<_>>()).await?;
        let moved = gpu.read_async::<u32>(&cursor).await? == [5 + 2 * rows as u32];
        ck.expect(moved, || format!("{what}: the cursor did not move by twice the rows"))?;
        let steps = gpu.read_async::<u32>(&counter).await?;
        ck.expect(steps == [if counted { 9 } else { 7 }], || format!("{what}: step counter {steps:?}"))?;
        let want = cpu::forward(kind, cols, &f64s(&logits), &f64s(&t), valid);
        ck.compare(&format!("{what} dx"), &ck.read(&dx).await?, &want.dx)?;
        let results = ck.read(&bufs.row_results).await?;
        let (row_loss, row_correct): (Vec<f32>, Vec<f32>) = results.chunks(2).map(|r| (r[0], r[1])).unzip();
        ck.compare(&format!("{what} row_loss"), &row_loss, &want.row_loss)?;
        ck.compare(&format!("{what} row_correct"), &row_correct, &want.row_correct)?;
        let totals =
            [2.0 * want.row_loss.iter().sum::<f64>(), 2.0 * want.row_correct.iter().sum::<f64>(), 2.0 * valid as f64];
        ck.compare(&format!("{what} totals"), &ck.read(&bufs.totals).await?, &totals)?;
    }
    Ok(())
}
