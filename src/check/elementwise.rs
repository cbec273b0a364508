//! The elementwise kernels: activations and softmax, dropout, and the weight regularizers.

use super::{Check, CheckResult, Checker, f64s, uniform};
use crate::ops::Activation;
use crate::ops::activation::{self, Elementwise};
use crate::ops::dropout;
use crate::ops::regularizer::{self, Regularizer};

pub const CHECKS: &[Check] = &[
    Check::new("activation_forward", "", |c| Box::pin(activation_forward(c))),
    Check::new("activation_backward", "", |c| Box::pin(activation_backward(c))),
    Check::new("softmax_forward", "", |c| Box::pin(softmax_forward(c))),
    Check::new("softmax_backward", "", |c| Box::pin(softmax_backward(c))),
    Check::new("dropout", "", |c| Box::pin(dropout(c))),
    Check::new("regularizer_penalty", "", |c| Box::pin(regularizer_penalty(c))),
    Check::new("regularizer_grad", "", |c| Box::pin(regularizer_grad(c))),
];

/// Every activation with Keras's defaults, and the parametrised ones off them (the LeakyReLU
/// layer's 0.3, an ELU layer's alpha 0.5).
fn acts() -> Vec<Elementwise> {
    let parametrised =
        [Elementwise { act: Activation::LeakyRelu, alpha: 0.3 }, Elementwise { act: Activation::Elu, alpha: 0.5 }];
    Activation::ALL.map(Elementwise::from).into_iter().chain(parametrised).collect()
}

const LENS: [usize; 6] = [1, 255, 256, 257, 4099, 100_003];

async fn activation_forward(ck: &mut Checker<'_>) -> CheckResult {
    let mut rng = ck.rng(30);
    for act in acts() {
        for (_, &len) in ck.pick(&LENS) {
            // Wide range: the stable sigmoid and tanh must stay finite and exact at ±60.
            let x = uniform(&mut rng, len, -60.0, 60.0);
            let (tx, y) = (ck.upload("x", &x)?, ck.poisoned(len)?);
            ck.run(activation::forward(ck.gpu, act, &tx, &y)).await?;
            let want = activation::cpu::forward(act, &f64s(&x));
            ck.compare(&format!("activation_forward {act:?} {len}"), &ck.read(&y).await?, &want)?;
        }
    }
    Ok(())
}

async fn activation_backward(ck: &mut Checker<'_>) -> CheckResult {
    let mut rng = ck.rng(31);
    for act in acts() {
        for (_, &len) in ck.pick(&LENS) {
            // Out to ±12: the tails of gelu's erfc and silu's sigmoid.
            let x = uniform(&mut rng, len, -12.0, 12.0);
            let y: Vec<f32> = x.iter().map(|&v| activation::cpu::apply(act, f64::from(v)) as f32).collect();
            let saved = act.act.saved(&x, &y);
            let dy = uniform(&mut rng, len, -1.0, 1.0);
            let (ts, tdy, dx) = (ck.upload("saved", saved)?, ck.upload("dy", &dy)?, ck.poisoned(len)?);
            ck.run(activation::backward(ck.gpu, act, &ts, &tdy, &dx)).await?;
            let want = activation::cpu::backward(act, &f64s(saved), &f64s(&dy));
            ck.compare(&format!("activation_backward {act:?} {len}"), &ck.read(&dx).await?, &want)?;
        }
    }
    Ok(())
}

const SOFTMAX_SHAPES: [(usize, usize); 5] = [(1, 1), (7, 10), (33, 1000), (5000, 10), (3, 2)];

async fn softmax_forward(ck: &mut Checker<'_>) -> CheckResult {
    let mut rng = ck.rng(32);
    for (_, &(rows, cols)) in ck.pick(&SOFTMAX_SHAPES) {
        // Logits up to ±200 overflow exp() without the row-maximum shift.
        let x = uniform(&mut rng, rows * cols, -200.0, 200.0);
        let (tx, y) = (ck.upload("x", &x)?, ck.poisoned(rows * cols)?);
        ck.run(activation::softmax_forward(ck.gpu, cols, &tx, &y)).await?;
        let want = activation::cpu::softmax_forward(&f64s(&x), cols);
        ck.compare(&format!("softmax_forward {rows}×{cols}"), &ck.read(&y).await?, &want)?;
    }
    Ok(())
}

async fn softmax_backward(ck: &mut Checker<'_>) -> CheckResult {
    let mut rng = ck.rng(33);
    for (_, &(rows, cols)) in ck.pick(&SOFTMAX_SHAPES) {
        let x = uniform(&mut rng, rows * cols, -3.0, 3.0);
        let y: Vec<f32> = activation::cpu::softmax_forward(&f64s(&x), cols).iter().map(|&v| v as f32).collect();
        let dy = uniform(&mut rng, rows * cols, -1.0, 1.0);
        let (ty, tdy, dx) = (ck.upload("y", &y)?, ck.upload("dy", &dy)?, ck.poisoned(rows * cols)?);
        ck.run(activation::softmax_backward(ck.gpu, cols, &ty, &tdy, &dx)).await?;
        let want = activation::cpu::softmax_backward(&f64s(&y), &f64s(&dy), cols);
        ck.compare(&format!("softmax_backward {rows}×{cols}"), &ck.read(&dx).await?, &want)?;
    }
    Ok(())
}

async fn dropout(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let mut rng = ck.rng(60);
    let cases = [(0.0, 1, 0, 1), (0.5, 7, 3, 1000), (0.2, 42, 12345, 100_003), (0.9, 0, 1, 4097)];
    for (_, &(rate, seed, step, len)) in ck.pick(&cases) {
        let x = uniform(&mut rng, len, -1.0, 1.0);
        let dy = uniform(&mut rng, len, -1.0, 1.0);
        let tstep = gpu.upload("step", &[step])?;
        let (tx, tdy) = (ck.upload("x", &x)?, ck.upload("dy", &dy)?);
        let (y, dx) = (ck.poisoned(len)?, ck.poisoned(len)?);
        let fwd = dropout::forward(gpu, rate, seed, &tx, &y, &tstep)?;
        // As training runs them: the loss counts the step between forward and backward.
        let counted = gpu.upload("step", &[step + 1])?;
        let bwd = dropout::backward(gpu, rate, seed, &tdy, &dx, &counted)?;
        ck.run_all(&[fwd, bwd]).await?;
        let what = format!("dropout rate {rate} seed {seed} step {step} len {len}");
        let want = dropout::cpu::forward(rate, seed, step, &f64s(&x));
        ck.compare(&format!("{what} forward"), &ck.read(&y).await?, &want)?;
        let want = dropout::cpu::backward(rate, seed, step, &f64s(&dy));
        ck.compare(&format!("{what} backward"), &ck.read(&dx).await?, &want)?;
    }
    Ok(())
}

const REGULARIZERS: [Regularizer; 3] =
    [Regularizer { l1: 0.01, l2: 0.0 }, Regularizer { l1: 0.0, l2: 0.01 }, Regularizer { l1: 0.003, l2: 0.02 }];

async fn regularizer_penalty(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let mut rng = ck.rng(60);
    for r in REGULARIZERS {
        for (_, &len) in ck.pick(&LENS) {
            // A full batch of 32 rows and a short last one of 7: the penalty counts once per valid row.
            for valid in [32u32, 7] {
                let w = uniform(&mut rng, len, -2.0, 2.0);
                let start = [1.5f32, 3.0, 32.0];
                let (tw, rows, totals) =
                    (ck.upload("w", &w)?, gpu.upload("batch_rows", &[valid])?, ck.upload("totals", &start)?);
                ck.run(regularizer::penalty(gpu, &r, &tw, 32, &rows, &totals)).await?;
                let want = f64::from(start[0]) + f64::from(valid) * regularizer::cpu::penalty(&r, &f64s(&w));
                let got = ck.read(&totals).await?;
                let what = format!("regularizer_penalty {r:?} {len} {valid}");
                ck.compare(&what, &got[..1], &[want])?;
                ck.expect(got[1..] == start[1..], || format!("{what}: only the loss sum changes"))?;
            }
        }
    }
    Ok(())
}

async fn regularizer_grad(ck: &mut Checker<'_>) -> CheckResult {
    let mut rng = ck.rng(61);
    for r in REGULARIZERS {
        for (_, &len) in ck.pick(&LENS) {
            let mut w = uniform(&mut rng, len, -2.0, 2.0);
            w[0] = 0.0; // sign(0) = 0
            let g = uniform(&mut rng, len, -1.0, 1.0);
            let (tw, tg) = (ck.upload("w", &w)?, ck.upload("g", &g)?);
            ck.run(regularizer::grad(ck.gpu, &r, &tw, &tg)).await?;
            let want: Vec<f64> =
                f64s(&g).iter().zip(regularizer::cpu::grad(&r, &f64s(&w))).map(|(g, d)| g + d).collect();
            ck.compare(&format!("regularizer_grad {r:?} {len}"), &ck.read(&tg).await?, &want)?;
        }
    }
    Ok(())
}
