//! BatchNormalization: batch statistics and the moving statistics they update, normalisation
//! in training and inference (through each activation a following Activation layer folds in),
//! and the backward pass; short last batches count only their valid samples.

use rand::rngs::StdRng;

use super::{Check, CheckResult, Checker, f64s, uniform};
use crate::ops::Activation;
use crate::ops::activation::cpu as activation_cpu;
use crate::ops::batch_norm::{self, BatchNormShape, cpu};

pub const CHECKS: &[Check] = &[
    Check::new("batch_norm_forward", "", |c| Box::pin(forward(c))),
    Check::new("batch_norm_backward", "", |c| Box::pin(backward(c))),
];

/// (samples, rows per sample, c, valid samples): one row, primes, more rows than a workgroup,
/// the BatchNormalization CNN's 32×14×14×32 and a wide Dense layer's; and short last batches,
/// whose padding samples must not count. c a multiple of 4 runs the four-channel kernels.
const SHAPES: [(usize, usize, usize, usize); 12] = [
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
    // Channels four at a time (the *4 kernels), with a short last batch.
    (3, 25, 4, 2),
    (64, 49, 16, 64),
];

fn shape(samples: usize, per_sample: usize, c: usize) -> BatchNormShape {
    BatchNormShape { rows: samples * per_sample, c, per_sample, epsilon: 1e-3, momentum: 0.99 }
}

/// x with a per-channel offset and spread, so the statistics differ by channel and a mean far
/// from zero tests the variance's stability.
fn input(rng: &mut StdRng, rows: usize, c: usize) -> Vec<f32> {
    let offsets = uniform(rng, c, -5.0, 5.0);
    let noise = uniform(rng, rows * c, -1.0, 1.0);
    noise.iter().enumerate().map(|(i, v)| offsets[i % c] + v * (1.0 + (i % c) as f32 * 0.1)).collect()
}

async fn forward(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let mut rng = ck.rng(60);
    for (i, &(samples, per_sample, c, valid)) in ck.pick(&SHAPES) {
        let act = Activation::EPILOGUE[i % Activation::EPILOGUE.len()];
        let (s, rows) = (shape(samples, per_sample, c), samples * per_sample);
        // The CPU twin sees only the valid samples, as Keras does in a short batch.
        let (counted, valid_s) = (valid * per_sample * c, shape(valid, per_sample, c));
        let batch_rows = gpu.upload("batch_rows", &[valid as u32])?;
        let x = input(&mut rng, rows, c);
        let (gamma, beta) = (uniform(&mut rng, c, 0.5, 1.5), uniform(&mut rng, c, -1.0, 1.0));
        let (mm, mv) = (uniform(&mut rng, c, -1.0, 1.0), uniform(&mut rng, c, 0.5, 2.0));
        let tx = ck.upload("x", &x)?;
        let (tg, tb) = (ck.upload("gamma", &gamma)?, ck.upload("beta", &beta)?);
        let (tmm, tmv) = (ck.upload("moving_mean", &mm)?, ck.upload("moving_var", &mv)?);
        let (stats, y) = (ck.poisoned(2 * c)?, ck.poisoned(rows * c)?);
        ck.run(batch_norm::stats(gpu, &s, &tx, &batch_rows, &stats, [&tmm, &tmv])).await?;
        ck.run(batch_norm::forward(gpu, &s, act, &tx, [&tg, &tb], &stats, &y)).await?;
        let xs = f64s(&x[..counted]);
        let (mean, var) = cpu::moments(&valid_s, &xs);
        let want =
            activation_cpu::forward(act, &cpu::normalize(&valid_s, &xs, &mean, &var, &f64s(&gamma), &f64s(&beta)));
        let what = format!("{samples}x{per_sample}x{c} ({valid} valid, {act:?})");
        ck.compare(&format!("batch_norm_forward {what}"), &ck.read(&y).await?[..counted], &want)?;
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + 1e-3).sqrt()).collect();
        ck.compare(&format!("batch_norm_stats {what}"), &ck.read(&stats).await?, &[mean, invstd].concat())?;
        let (want_mm, want_mv) = cpu::moved(&valid_s, &xs, &f64s(&mm), &f64s(&mv));
        ck.compare(&format!("batch_norm moving mean {what}"), &ck.read(&tmm).await?, &want_mm)?;
        ck.compare(&format!("batch_norm moving variance {what}"), &ck.read(&tmv).await?, &want_mv)?;
        // Inference reads the moving statistics as they now are, in every row.
        let y = ck.poisoned(rows * c)?;
        ck.run(batch_norm::infer(gpu, &s, act, &tx, [&tg, &tb], [&tmm, &tmv], &y)).await?;
        let want = activation_cpu::forward(
            act,
            &cpu::normalize(&s, &f64s(&x), &want_mm, &want_mv, &f64s(&gamma), &f64s(&beta)),
        );
        ck.compare(&format!("batch_norm_infer {what}"), &ck.read(&y).await?, &want)?;
    }
    Ok(())
}

async fn backward(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let mut rng = ck.rng(61);
    for (_, &(samples, per_sample, c, valid)) in ck.pick(&SHAPES) {
        let (s, rows) = (shape(samples, per_sample, c), samples * per_sample);
        let (counted, valid_s) = (valid * per_sample * c, shape(valid, per_sample, c));
        let batch_rows = gpu.upload("batch_rows", &[valid as u32])?;
        let x = input(&mut rng, rows, c);
        let (dy, gamma) = (uniform(&mut rng, rows * c, -1.0, 1.0), uniform(&mut rng, c, 0.5, 1.5));
        let (tx, tdy, tg) = (ck.upload("x", &x)?, ck.upload("dy", &dy)?, ck.upload("gamma", &gamma)?);
        let (tmm, tmv) = (gpu.zeros("moving_mean", c)?, gpu.zeros("moving_var", c)?);
        let stats = gpu.zeros("stats", 2 * c)?;
        let (dgamma, dbeta, dx) = (ck.poisoned(c)?, ck.poisoned(c)?, ck.poisoned(rows * c)?);
        ck.run(batch_norm::stats(gpu, &s, &tx, &batch_rows, &stats, [&tmm, &tmv])).await?;
        ck.run(batch_norm::backward_params(gpu, &s, &tx, &batch_rows, &tdy, &stats, [&dgamma, &dbeta])).await?;
        let grads = [&dgamma, &dbeta];
        ck.run(batch_norm::backward_input(gpu, &s, &tx, &batch_rows, &tdy, &tg, &stats, grads, &dx)).await?;
        let (xs, dys) = (f64s(&x[..counted]), f64s(&dy[..counted]));
        let (mut want_dx, want_dgamma, want_dbeta) = cpu::backward(&valid_s, &xs, &dys, &f64s(&gamma));
        // The padding samples pass no gradient back.
        want_dx.resize(rows * c, 0.0);
        let what = format!("{samples}x{per_sample}x{c} ({valid} valid)");
        ck.compare(&format!("batch_norm dgamma {what}"), &ck.read(&dgamma).await?, &want_dgamma)?;
        ck.compare(&format!("batch_norm dbeta {what}"), &ck.read(&dbeta).await?, &want_dbeta)?;
        ck.compare(&format!("batch_norm dx {what}"), &ck.read(&dx).await?, &want_dx)?;
    }
    Ok(())
}
