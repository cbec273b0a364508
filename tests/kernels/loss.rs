use rand::RngExt;
use wgtrain::ops::loss::{self, Advance, Loss, LossBuffers, cpu};

use crate::common::*;

/// Targets for a loss: one-hot (or soft, every third case) rows for cross-entropy, 0/1 or
/// fractional values for BCE, anything for MSE.
fn targets(kind: Loss, rng: &mut rand::rngs::StdRng, rows: usize, cols: usize, case: usize) -> Vec<f32> {
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

fn check(kind: Loss, name: &'static str, seed: u64) {
    for gpu in gpus() {
        let mut worst = Worst::new(name, gpu);
        let mut rng = rng(seed);
        for (case, &(rows, cols, valid, range)) in CASES.iter().enumerate() {
            if kind == Loss::SoftmaxCrossEntropy && cols == 1 {
                continue;
            }
            let logits = uniform(&mut rng, rows * cols, -range, range);
            let t = targets(kind, &mut rng, rows, cols, case);
            let bufs = LossBuffers::new(gpu, rows).unwrap();
            gpu.write(&bufs.batch_rows, &[valid as u32]);
            gpu.write(&bufs.row_results, &vec![f32::NAN; 2 * rows]);
            let (tl, tt, dx) =
                (gpu.upload("logits", &logits).unwrap(), gpu.upload("t", &t).unwrap(), poisoned(gpu, rows * cols));
            // Twice: totals are added to (by the loss dispatch itself up to 256 rows), and the
            // batch ends: the cursor moves by the rows and, in training, the step is counted.
            let (cursor, counter) = (gpu.upload("cursor", &[5u32]).unwrap(), gpu.upload("step", &[7u32]).unwrap());
            let counted = case % 2 == 0;
            let advance = Advance { cursor: &cursor, step: counted.then_some(&counter) };
            let step = loss::step(gpu, kind, cols, &tl, &tt, &dx, &bufs, Some(advance)).unwrap();
            assert_eq!(step.len(), if rows <= 256 { 1 } else { 2 }, "dispatches of a {rows}-row loss");
            gpu.run(&step.iter().chain(&step).collect::<Vec<_>>()).unwrap();
            assert_eq!(gpu.read::<u32>(&cursor).unwrap(), [5 + 2 * rows as u32], "{rows}-row loss: cursor moved");
            assert_eq!(gpu.read::<u32>(&counter).unwrap(), [if counted { 9 } else { 7 }], "{rows}-row loss: step");
            let want = cpu::forward(kind, cols, &f64s(&logits), &f64s(&t), valid);
            let what = format!("{name} {rows}×{cols} valid {valid} range ±{range}");
            worst.add(compare(&format!("{what} dx"), &read(gpu, &dx), &want.dx));
            let results = read(gpu, &bufs.row_results);
            let (row_loss, row_correct): (Vec<f32>, Vec<f32>) = results.chunks(2).map(|r| (r[0], r[1])).unzip();
            worst.add(compare(&format!("{what} row_loss"), &row_loss, &want.row_loss));
            worst.add(compare(&format!("{what} row_correct"), &row_correct, &want.row_correct));
            let totals = [
                2.0 * want.row_loss.iter().sum::<f64>(),
                2.0 * want.row_correct.iter().sum::<f64>(),
                2.0 * valid as f64,
            ];
            worst.add(compare(&format!("{what} totals"), &read(gpu, &bufs.totals), &totals));
        }
    }
}

#[test]
fn loss_softmax_cross_entropy_matches_cpu() {
    check(Loss::SoftmaxCrossEntropy, "loss_softmax_cross_entropy", 40);
}

#[test]
fn loss_sigmoid_bce_matches_cpu() {
    check(Loss::SigmoidBinaryCrossEntropy, "loss_sigmoid_bce", 41);
}

#[test]
fn loss_mse_matches_cpu() {
    check(Loss::MeanSquaredError, "loss_mse", 42);
}
