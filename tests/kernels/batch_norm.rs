use wgtrain::ops::batch_norm::{self, BatchNormShape, cpu};

use crate::common::*;

/// (samples, rows per sample, c, valid samples): one row, primes, more rows than a workgroup,
/// the BatchNormalization CNN's 32×14×14×32 and a wide Dense layer's; and short last batches,
/// whose padding samples must not count.
const SHAPES: [(usize, usize, usize, usize); 10] = [
    (1, 1, 1, 1),
    (7, 1, 3, 7),
    (300, 1, 1, 300),
    (257, 1, 67, 257),
    (10, 100, 5, 10),
    (32, 196, 32, 32),
    (32, 1, 300, 32),
    (32, 1, 300, 5),
    (16, 49, 7, 1),
    (64, 9, 33, 37),
];

fn shape(samples: usize, per_sample: usize, c: usize) -> BatchNormShape {
    BatchNormShape { rows: samples * per_sample, c, per_sample, epsilon: 1e-3, momentum: 0.99 }
}

/// x with a per-channel offset and spread, so the statistics differ by channel and a mean far
/// from zero tests the variance's stability.
fn input(rng: &mut rand::rngs::StdRng, rows: usize, c: usize) -> Vec<f32> {
    let offsets = uniform(rng, c, -5.0, 5.0);
    let noise = uniform(rng, rows * c, -1.0, 1.0);
    noise.iter().enumerate().map(|(i, v)| offsets[i % c] + v * (1.0 + (i % c) as f32 * 0.1)).collect()
}

#[test]
fn batch_norm_forward_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("batch_norm_forward", gpu);
        let mut rng = rng(60);
        for (samples, per_sample, c, valid) in SHAPES {
            let (s, rows) = (shape(samples, per_sample, c), samples * per_sample);
            // The CPU twin sees only the valid samples, as Keras does in a short batch.
            let (counted, valid_s) = (valid * per_sample * c, shape(valid, per_sample, c));
            let batch_rows = gpu.upload("batch_rows", &[valid as u32]).unwrap();
            let x = input(&mut rng, rows, c);
            let (gamma, beta) = (uniform(&mut rng, c, 0.5, 1.5), uniform(&mut rng, c, -1.0, 1.0));
            let (mm, mv) = (uniform(&mut rng, c, -1.0, 1.0), uniform(&mut rng, c, 0.5, 2.0));
            let tx = gpu.upload("x", &x).unwrap();
            let (tg, tb) = (gpu.upload("gamma", &gamma).unwrap(), gpu.upload("beta", &beta).unwrap());
            let (tmm, tmv) = (gpu.upload("moving_mean", &mm).unwrap(), gpu.upload("moving_var", &mv).unwrap());
            let (stats, y) = (poisoned(gpu, 2 * c), poisoned(gpu, rows * c));
            run(gpu, batch_norm::stats(gpu, &s, &tx, &batch_rows, &stats, [&tmm, &tmv]));
            run(gpu, batch_norm::forward(gpu, &s, &tx, [&tg, &tb], &stats, &y));
            let xs = f64s(&x[..counted]);
            let (mean, var) = cpu::moments(&valid_s, &xs);
            let want = cpu::normalize(&valid_s, &xs, &mean, &var, &f64s(&gamma), &f64s(&beta));
            let what = format!("{samples}x{per_sample}x{c} ({valid} valid)");
            worst.add(compare(&format!("batch_norm_forward {what}"), &read(gpu, &y)[..counted], &want));
            let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + 1e-3).sqrt()).collect();
            worst.add(compare(&format!("batch_norm_stats {what}"), &read(gpu, &stats), &[mean, invstd].concat()));
            let (want_mm, want_mv) = cpu::moved(&valid_s, &xs, &f64s(&mm), &f64s(&mv));
            worst.add(compare(&format!("batch_norm moving mean {what}"), &read(gpu, &tmm), &want_mm));
            worst.add(compare(&format!("batch_norm moving variance {what}"), &read(gpu, &tmv), &want_mv));
            // Inference reads the moving statistics as they now are, in every row.
            let y = poisoned(gpu, rows * c);
            run(gpu, batch_norm::infer(gpu, &s, &tx, [&tg, &tb], [&tmm, &tmv], &y));
            let want = cpu::normalize(&s, &f64s(&x), &want_mm, &want_mv, &f64s(&gamma), &f64s(&beta));
            worst.add(compare(&format!("batch_norm_infer {what}"), &read(gpu, &y), &want));
        }
    }
}

#[test]
fn batch_norm_backward_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("batch_norm_backward", gpu);
        let mut rng = rng(61);
        for (samples, per_sample, c, valid) in SHAPES {
            let (s, rows) = (shape(samples, per_sample, c), samples * per_sample);
            let (counted, valid_s) = (valid * per_sample * c, shape(valid, per_sample, c));
            let batch_rows = gpu.upload("batch_rows", &[valid as u32]).unwrap();
            let x = input(&mut rng, rows, c);
            let (dy, gamma) = (uniform(&mut rng, rows * c, -1.0, 1.0), uniform(&mut rng, c, 0.5, 1.5));
            let (tx, tdy, tg) =
                (gpu.upload("x", &x).unwrap(), gpu.upload("dy", &dy).unwrap(), gpu.upload("gamma", &gamma).unwrap());
            let (tmm, tmv) = (gpu.zeros("moving_mean", c).unwrap(), gpu.zeros("moving_var", c).unwrap());
            let stats = gpu.zeros("stats", 2 * c).unwrap();
            let (dgamma, dbeta, dx) = (poisoned(gpu, c), poisoned(gpu, c), poisoned(gpu, rows * c));
            run(gpu, batch_norm::stats(gpu, &s, &tx, &batch_rows, &stats, [&tmm, &tmv]));
            run(gpu, batch_norm::backward_params(gpu, &s, &tx, &batch_rows, &tdy, &stats, [&dgamma, &dbeta]));
            let grads = [&dgamma, &dbeta];
            run(gpu, batch_norm::backward_input(gpu, &s, &tx, &batch_rows, &tdy, &tg, &stats, grads, &dx));
            let (xs, dys) = (f64s(&x[..counted]), f64s(&dy[..counted]));
            let (mut want_dx, want_dgamma, want_dbeta) = cpu::backward(&valid_s, &xs, &dys, &f64s(&gamma));
            // The padding samples pass no gradient back.
            want_dx.resize(rows * c, 0.0);
            let what = format!("{samples}x{per_sample}x{c} ({valid} valid)");
            worst.add(compare(&format!("batch_norm dgamma {what}"), &read(gpu, &dgamma), &want_dgamma));
            worst.add(compare(&format!("batch_norm dbeta {what}"), &read(gpu, &dbeta), &want_dbeta));
            worst.add(compare(&format!("batch_norm dx {what}"), &read(gpu, &dx), &want_dx));
        }
    }
}
