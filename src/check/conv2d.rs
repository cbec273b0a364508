//! Conv2D forward (bias and activation in the epilogue), input gradient, and weight gradient in
//! both plans, over 'valid', 'same' and strided shapes.

use super::{Check, CheckResult, Checker, f64s, uniform};
use crate::ops::conv2d::{self, Conv2dShape, WeightGradPlan, cpu};
use crate::ops::{Activation, Padding};

pub const CHECKS: &[Check] = &[
    Check::new("conv2d_forward", "", forward),
    Check::new("conv2d_backward_input", "", backward_input),
    Check::new("conv2d_backward_weight", "long", |c| backward_weight(c, WeightGradPlan::Long)),
    Check::new("conv2d_backward_weight", "wide", |c| backward_weight(c, WeightGradPlan::Wide)),
];

fn shape(
    n: usize,
    (h, w): (usize, usize),
    c_in: usize,
    c_out: usize,
    (kh, kw): (usize, usize),
    (stride_h, stride_w): (usize, usize),
    padding: Padding,
) -> Conv2dShape {
    Conv2dShape { n, h, w, c_in, c_out, kh, kw, stride_h, stride_w, padding }
}

fn shapes() -> [Conv2dShape; 9] {
    use Padding::{Same, Valid};
    [
        shape(1, (1, 1), 1, 1, (1, 1), (1, 1), Valid),
        shape(2, (5, 7), 3, 4, (3, 3), (1, 1), Valid),
        shape(3, (8, 8), 2, 5, (3, 3), (2, 2), Same),
        shape(2, (9, 6), 1, 7, (3, 2), (2, 1), Same),
        shape(2, (13, 11), 5, 3, (5, 5), (3, 3), Same),
        shape(1, (4, 4), 2, 2, (4, 4), (1, 1), Same),
        shape(2, (7, 7), 3, 2, (2, 2), (3, 3), Valid),
        // The seed CNN's convolution at batch 32 (28×28×1 → 26×26×32).
        shape(32, (28, 28), 1, 32, (3, 3), (1, 1), Valid),
        shape(4, (16, 16), 8, 16, (3, 3), (1, 1), Same),
    ]
}

const ACTS: [Activation; 6] = Activation::EPILOGUE;

fn forward(ck: &mut Checker) -> CheckResult {
    let mut rng = ck.rng(10);
    for (i, s) in ck.pick(&shapes()) {
        let act = ACTS[i % ACTS.len()];
        let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
        let w = uniform(&mut rng, s.weight_len(), -1.0, 1.0);
        let b = uniform(&mut rng, s.c_out, -1.0, 1.0);
        let (tx, tw, tb) = (ck.upload("x", &x)?, ck.upload("w", &w)?, ck.upload("b", &b)?);
        let y = ck.poisoned(s.y_len()?)?;
        let bias = i.is_multiple_of(2).then_some(&tb);
        ck.run(conv2d::forward(ck.gpu, s, &tx, &tw, bias, act, &y))?;
        let b64 = f64s(&b);
        let want = cpu::forward(s, &f64s(&x), &f64s(&w), bias.map(|_| &b64[..]), act);
        ck.compare(&format!("conv2d_forward {s:?} {act:?}"), &ck.read(&y)?, &want)?;
    }
    Ok(())
}

fn backward_input(ck: &mut Checker) -> CheckResult {
    let mut rng = ck.rng(11);
    for (_, s) in ck.pick(&shapes()) {
        let dy = uniform(&mut rng, s.y_len()?, -1.0, 1.0);
        let w = uniform(&mut rng, s.weight_len(), -1.0, 1.0);
        let (tdy, tw, dx) = (ck.upload("dy", &dy)?, ck.upload("w", &w)?, ck.poisoned(s.x_len())?);
        ck.run(conv2d::backward_input(ck.gpu, s, &tdy, &tw, &dx))?;
        let want = cpu::backward_input(s, &f64s(&dy), &f64s(&w));
        ck.compare(&format!("conv2d_backward_input {s:?}"), &ck.read(&dx)?, &want)?;
    }
    Ok(())
}

fn backward_weight(ck: &mut Checker, plan: WeightGradPlan) -> CheckResult {
    let mut rng = ck.rng(12);
    for (_, s) in ck.pick(&shapes()) {
        let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
        let dy = uniform(&mut rng, s.y_len()?, -1.0, 1.0);
        let (tx, tdy, dw) = (ck.upload("x", &x)?, ck.upload("dy", &dy)?, ck.poisoned(s.weight_len())?);
        ck.run_all(&conv2d::backward_weight_planned(ck.gpu, plan, s, &tx, &tdy, &dw)?)?;
        let want = cpu::backward_weight(s, &f64s(&x), &f64s(&dy));
        ck.compare(&format!("conv2d_backward_weight {plan:?} {s:?}"), &ck.read(&dw)?, &want)?;
    }
    Ok(())
}
