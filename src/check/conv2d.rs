//! Conv2D forward (bias and activation in the epilogue), input gradient, and weight gradient
//! (with the bias gradient) in both plans, on the direct kernels and on the implicit GEMM with
//! CPU adapters' and GPUs' blocks and sharing loads across subgroups, over 'valid', 'same' and
//! strided shapes.

use super::{Check, CheckResult, Checker, SUBGROUPS_MISSING, f64s, uniform};
use crate::ops::activation::cpu as activation;
use crate::ops::conv2d::{self, Conv2dShape, ConvKernel, GemmBlocks, WeightGradPlan, cpu};
use crate::ops::matmul;
use crate::ops::{Activation, Padding};

const DIRECT: ConvKernel = ConvKernel::Direct;
/// The blocks CPU adapters run (16×8 outputs an invocation) and GPUs run (4×4).
const GEMM_16X8: ConvKernel = ConvKernel::Gemm(GemmBlocks { row_groups: 4, col_groups: 2 });
const GEMM_4X4: ConvKernel = ConvKernel::Gemm(GemmBlocks { row_groups: 1, col_groups: 1 });
const SUBGROUP: ConvKernel = ConvKernel::GemmSubgroup;

pub const CHECKS: &[Check] = &[
    Check::new("conv2d_forward", "direct", |c| Box::pin(forward(c, DIRECT))),
    Check::new("conv2d_forward", "gemm-16x8", |c| Box::pin(forward(c, GEMM_16X8))),
    Check::new("conv2d_forward", "gemm-4x4", |c| Box::pin(forward(c, GEMM_4X4))),
    Check::new("conv2d_forward", "gemm-subgroup", |c| Box::pin(forward(c, SUBGROUP))),
    Check::new("conv2d_backward_input", "direct", |c| Box::pin(backward_input(c, DIRECT))),
    Check::new("conv2d_backward_input", "gemm-16x8", |c| Box::pin(backward_input(c, GEMM_16X8))),
    Check::new("conv2d_backward_input", "gemm-4x4", |c| Box::pin(backward_input(c, GEMM_4X4))),
    Check::new("conv2d_backward_input", "gemm-subgroup", |c| Box::pin(backward_input(c, SUBGROUP))),
    Check::new("conv2d_backward_weight", "long direct", |c| Box::pin(backward_weight(c, DIRECT, WeightGradPlan::Long))),
    Check::new("conv2d_backward_weight", "wide direct", |c| Box::pin(backward_weight(c, DIRECT, WeightGradPlan::Wide))),
    Check::new("conv2d_backward_weight", "long gemm-16x8", |c| {
        Box::pin(backward_weight(c, GEMM_16X8, WeightGradPlan::Long))
    }),
    Check::new("conv2d_backward_weight", "wide gemm-4x4", |c| {
        Box::pin(backward_weight(c, GEMM_4X4, WeightGradPlan::Wide))
    }),
    Check::new("conv2d_backward_weight", "long gemm-subgroup", |c| {
        Box::pin(backward_weight(c, SUBGROUP, WeightGradPlan::Long))
    }),
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

fn shapes() -> [Conv2dShape; 17] {
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
        // Channel counts the implicit GEMM takes (c_out, and for dx c_in, multiples of 4), with
        // 1 pixel, primes, and row and column counts off its blocks.
        shape(1, (1, 1), 4, 4, (1, 1), (1, 1), Valid),
        shape(2, (5, 7), 4, 8, (3, 3), (1, 1), Valid),
        shape(3, (9, 9), 8, 12, (3, 3), (2, 2), Same),
        shape(2, (11, 13), 12, 4, (5, 3), (3, 2), Same),
        shape(2, (13, 11), 5, 8, (5, 5), (1, 1), Same),
        shape(3, (7, 7), 3, 16, (2, 2), (3, 3), Valid),
        shape(3, (17, 19), 16, 36, (3, 3), (1, 1), Valid),
        // A 4-conv CNN's second block ('same', 32 → 64 channels).
        shape(2, (14, 14), 32, 64, (3, 3), (1, 1), Same),
    ]
}

const ACTS: [Activation; 6] = Activation::EPILOGUE;

async fn forward(ck: &mut Checker<'_>, kernel: ConvKernel) -> CheckResult {
    if !kernel.available(ck.gpu) {
        return ck.not_here(SUBGROUPS_MISSING);
    }
    let mut rng = ck.rng(10);
    for (i, s) in ck.pick(&shapes()) {
        let act = ACTS[i % ACTS.len()];
        let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
        let w = uniform(&mut rng, s.weight_len(), -1.0, 1.0);
        let b = uniform(&mut rng, s.c_out, -1.0, 1.0);
        let (tx, tw, tb) = (ck.upload("x", &x)?, ck.upload("w", &w)?, ck.upload("b", &b)?);
        let y = ck.poisoned(s.y_len()?)?;
        let bias = i.is_multiple_of(2).then_some(&tb);
        ck.run(conv2d::forward_with(ck.gpu, kernel, s, &tx, &tw, bias, act, &y)).await?;
        let b64 = f64s(&b);
        let want = cpu::forward(s, &f64s(&x), &f64s(&w), bias.map(|_| &b64[..]), act);
        ck.compare(&format!("conv2d_forward {} {s:?} {act:?}", kernel.name()), &ck.read(&y).await?, &want)?;
    }
    Ok(())
}

/// dx on every shape; on every other one times the derivative of the input's activation.
async fn backward_input(ck: &mut Checker<'_>, kernel: ConvKernel) -> CheckResult {
    if !kernel.available(ck.gpu) {
        return ck.not_here(SUBGROUPS_MISSING);
    }
    let mut rng = ck.rng(11);
    for (i, s) in ck.pick(&shapes()) {
        let act = (i % 2 == 1).then(|| ACTS[(i / 2) % ACTS.len()]);
        let dy = uniform(&mut rng, s.y_len()?, -1.0, 1.0);
        let w = uniform(&mut rng, s.weight_len(), -1.0, 1.0);
        let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
        let (tdy, tw, tx, dx) =
            (ck.upload("dy", &dy)?, ck.upload("w", &w)?, ck.upload("x", &x)?, ck.poisoned(s.x_len())?);
        ck.run(conv2d::backward_input_with(ck.gpu, kernel, s, &tdy, &tw, act.map(|a| (a, &tx)), &dx)).await?;
        let want = cpu::backward_input(s, &f64s(&dy), &f64s(&w));
        let want = match act {
            Some(a) => activation::backward(a, &f64s(&x), &want),
            None => want,
        };
        let case = format!("conv2d_backward_input {} {s:?} times {act:?}'", kernel.name());
        ck.compare(&case, &ck.read(&dx).await?, &want)?;
    }
    Ok(())
}

/// dw on every shape; db with it on every other one.
async fn backward_weight(ck: &mut Checker<'_>, kernel: ConvKernel, plan: WeightGradPlan) -> CheckResult {
    if !kernel.available(ck.gpu) {
        return ck.not_here(SUBGROUPS_MISSING);
    }
    let mut rng = ck.rng(12);
    for (i, s) in ck.pick(&shapes()) {
        let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
        let dy = uniform(&mut rng, s.y_len()?, -1.0, 1.0);
        let (tx, tdy, dw, db) =
            (ck.upload("x", &x)?, ck.upload("dy", &dy)?, ck.poisoned(s.weight_len())?, ck.poisoned(s.c_out)?);
        let db = i.is_multiple_of(2).then_some(&db);
        ck.run_all(&conv2d::backward_weight_with(ck.gpu, kernel, plan, s, &tx, &tdy, &dw, db)?).await?;
        let case = format!("conv2d_backward_weight {} {plan:?} {s:?}", kernel.name());
        ck.compare(&case, &ck.read(&dw).await?, &cpu::backward_weight(s, &f64s(&x), &f64s(&dy)))?;
        if let Some(db) = db {
            let want = matmul::cpu::bias_grad(dy.len() / s.c_out, s.c_out, &f64s(&dy));
            ck.compare(&format!("{case} bias"), &ck.read(db).await?, &want)?;
        }
    }
    Ok(())
}
