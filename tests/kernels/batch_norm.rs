use wgtrain::ops::batch_norm::{self, BatchNormShape, cpu};

use crate::common::*;

/// (rows, c): one row, primes, more rows than a workgroup, the BatchNormalization CNN's
/// 32×14×14×32 and a wide Dense layer's.
const SHAPES: [(usize, usize); 7] = [(1, 1), (7, 3), (300, 1), (257, 67), (1000, 5), (6272, 32), (32, 300)];

fn shape(rows: usize, c: usize) -> BatchNormShape {
    BatchNormShape { rows, c, epsilon: 1e-3, momentum: 0.99 }
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
        for (rows, c) in SHAPES {
            let s = shape(rows, c);
            let x = input(&mut rng, rows, c);
            let (gamma, beta) = (uniform(&mut rng, c, 0.5, 1.5), uniform(&mut rng, c, -1.0, 1.0));
            let (mm, mv) = (uniform(&mut rng, c, -1.0, 1.0), uniform(&mut rng, c, 0.5, 2.0));
            let tx = gpu.upload("x", &x).unwrap();
            let (tg, tb) = (gpu.upload("gamma", &gamma).unwrap(), gpu.upload("beta", &beta).unwrap());
            let (tmm, tmv) = (gpu.upload("moving_mean", &mm).unwrap(), gpu.upload("moving_var", &mv).unwrap());
            let (stats, y) = (poisoned(gpu, 2 * c), poisoned(gpu, rows * c));
            run(gpu, batch_norm::stats(gpu, &s, &tx, &stats, &tmm, &tmv));
            run(gpu, batch_norm::forward(gpu, &s, &tx, [&tg, &tb], &stats, &y));
            let xs = f64s(&x);
            let (mean, var) = cpu::moments(&s, &xs);
            let want = cpu::normalize(&s, &xs, &mean, &var, &f64s(&gamma), &f64s(&beta));
            worst.add(compare(&format!("batch_norm_forward {rows}x{c}"), &read(gpu, &y), &want));
            let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + 1e-3).sqrt()).collect();
            worst.add(compare(&format!("batch_norm_stats {rows}x{c}"), &read(gpu, &stats), &[mean, invstd].concat()));
            let (want_mm, want_mv) = cpu::moved(&s, &xs, &f64s(&mm), &f64s(&mv));
            worst.add(compare(&format!("batch_norm moving mean {rows}x{c}"), &read(gpu, &tmm), &want_mm));
            worst.add(compare(&format!("batch_norm moving variance {rows}x{c}"), &read(gpu, &tmv), &want_mv));
            // Inference reads the moving statistics as they now are.
            let y = poisoned(gpu, rows * c);
            run(gpu, batch_norm::infer(gpu, &s, &tx, [&tg, &tb], [&tmm, &tmv], &y));
            let want = cpu::normalize(&s, &xs, &want_mm, &want_mv, &f64s(&gamma), &f64s(&beta));
            worst.add(compare(&format!("batch_norm_infer {rows}x{c}"), &read(gpu, &y), &want));
        }
    }
}

#[test]
fn batch_norm_backward_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("batch_norm_backward", gpu);
        let mut rng = rng(61);
        for (rows, c) in SHAPES {
            let s = shape(rows, c);
            let x = input(&mut rng, rows, c);
            let (dy, gamma) = (uniform(&mut rng, rows * c, -1.0, 1.0), uniform(&mut rng, c, 0.5, 1.5));
            let (tx, tdy, tg) =
                (gpu.upload("x", &x).unwrap(), gpu.upload("dy", &dy).unwrap(), gpu.upload("gamma", &gamma).unwrap());
            let (tmm, tmv) = (gpu.zeros("moving_mean", c).unwrap(), gpu.zeros("moving_var", c).unwrap());
            let stats = gpu.zeros("stats", 2 * c).unwrap();
            let (dgamma, dbeta, dx) = (poisoned(gpu, c), poisoned(gpu, c), poisoned(gpu, rows * c));
            run(gpu, batch_norm::stats(gpu, &s, &tx, &stats, &tmm, &tmv));
            run(gpu, batch_norm::backward_params(gpu, &s, &tx, &tdy, &stats, [&dgamma, &dbeta]));
            run(gpu, batch_norm::backward_input(gpu, &s, &tx, &tdy, &tg, &stats, [&dgamma, &dbeta], &dx));
            let (want_dx, want_dgamma, want_dbeta) = cpu::backward(&s, &f64s(&x), &f64s(&dy), &f64s(&gamma));
            worst.add(compare(&format!("batch_norm dgamma {rows}x{c}"), &read(gpu, &dgamma), &want_dgamma));
            worst.add(compare(&format!("batch_norm dbeta {rows}x{c}"), &read(gpu, &dbeta), &want_dbeta));
            worst.add(compare(&format!("batch_norm dx {rows}x{c}"), &read(gpu, &dx), &want_dx));
        }
    }
}
