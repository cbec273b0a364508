//! Max and average pooling, forward (with max-pool's argmax) and backward (on every other case
//! times the derivative of the input's activation; on every third through a folded dropout's
//! mask, which the forward pass applies too).

use super::{Check, CheckResult, Checker, f64s, uniform};
use crate::ops::activation::cpu as activation;
use crate::ops::dropout::cpu as dropout;
use crate::ops::pool::{self, FoldedDropout, PoolKind, PoolShape, cpu};
use crate::ops::{Activation, Padding};

pub const CHECKS: &[Check] = &[
    Check::new("pool_max_forward", "", |c| Box::pin(check(c, PoolKind::Max, false, 20))),
    Check::new("pool_max_backward", "", |c| Box::pin(check(c, PoolKind::Max, true, 21))),
    Check::new("pool_avg_forward", "", |c| Box::pin(check(c, PoolKind::Average, false, 22))),
    Check::new("pool_avg_backward", "", |c| Box::pin(check(c, PoolKind::Average, true, 23))),
];

fn shapes() -> [PoolShape; 13] {
    let s = |n, h, w, c, (pool_h, pool_w), (stride_h, stride_w), padding| PoolShape {
        n,
        h,
        w,
        c,
        pool_h,
        pool_w,
        stride_h,
        stride_w,
        padding,
    };
    [
        s(1, 1, 1, 1, (1, 1), (1, 1), Padding::Valid),
        // The seed CNN's pooling at batch 32: 26×26×32 → 13×13×32.
        s(32, 26, 26, 32, (2, 2), (2, 2), Padding::Valid),
        s(3, 7, 9, 5, (3, 3), (2, 2), Padding::Same),
        s(2, 5, 5, 3, (2, 2), (1, 1), Padding::Valid),
        s(1, 6, 7, 2, (3, 2), (3, 1), Padding::Same),
        s(2, 11, 13, 3, (2, 2), (2, 2), Padding::Valid),
        s(2, 4, 4, 1, (4, 4), (1, 1), Padding::Same),
        // Channels four at a time; disjoint windows (stride ≥ pool) take the window-at-a-time
        // backward: odd sizes leave rows and columns no 'valid' window covers, a stride past
        // the pool leaves gaps between windows, 'same' clips the last window.
        s(2, 11, 13, 8, (2, 2), (2, 2), Padding::Valid),
        s(3, 10, 11, 4, (2, 3), (3, 4), Padding::Valid),
        s(1, 13, 7, 12, (2, 2), (2, 3), Padding::Same),
        s(2, 1, 5, 4, (1, 2), (1, 2), Padding::Valid),
        // Overlapping windows four channels at a time (the gathering backward).
        s(2, 5, 7, 8, (3, 3), (2, 1), Padding::Same),
        // A global pool (the BatchNormalization CNN's GlobalAveragePooling2D at batch 3).
        s(3, 7, 7, 64, (7, 7), (7, 7), Padding::Valid),
    ]
}

async fn check(ck: &mut Checker<'_>, kind: PoolKind, backward: bool, seed: u64) -> CheckResult {
    let gpu = ck.gpu;
    let mut rng = ck.rng(seed);
    for (i, s) in ck.pick(&shapes()) {
        let act = (i % 2 == 1).then(|| Activation::EPILOGUE[(i / 2) % Activation::EPILOGUE.len()]);
        let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
        let dy = uniform(&mut rng, s.y_len()?, -1.0, 1.0);
        let (tx, tdy) = (ck.upload("x", &x)?, ck.upload("dy", &dy)?);
        let y = ck.poisoned(s.y_len()?)?;
        let argmax = gpu.zeros("argmax", y.len())?;
        let dx = ck.poisoned(s.x_len())?;
        // A dropout of rate 0.4 at step 7: the forward pass takes step 7's mask, the backward
        // pass step 6's (the step's loss dispatch counts the step between them).
        let (rate, seed, counter) = (0.4, 0x5eed + i as u32, 7);
        let step = gpu.upload("step", &[counter])?;
        let drop = (i % 3 == 1).then_some(FoldedDropout { rate, seed, step: &step });
        let fwd = pool::forward(gpu, kind, s, &tx, &y, &argmax, drop)?;
        let bwd = pool::backward(gpu, kind, s, [&y, &argmax], &tdy, act.map(|a| (a, &tx)), drop, &dx)?;
        ck.run_all(&[fwd, bwd]).await?;
        let rate = if drop.is_some() { rate } else { 0.0 };
        let what = format!("pool {kind:?} {s:?} dropout {rate}");
        if backward {
            let dy = dropout::backward(rate, seed, counter - 1, &f64s(&dy));
            let want = cpu::backward(kind, s, &f64s(&x), &dy);
            let want = match act {
                Some(a) => activation::backward(a, &f64s(&x), &want),
                None => want,
            };
            ck.compare(&format!("{what} times {act:?}'"), &ck.read(&dx).await?, &want)?;
        } else {
            let (want, want_argmax) = cpu::forward(kind, s, &f64s(&x));
            let want = dropout::forward(rate, seed, counter, &want);
            ck.compare(&what, &ck.read(&y).await?, &want)?;
            if kind == PoolKind::Max {
                let got: Vec<u32> = gpu.read_async(&argmax).await?;
                let same = got.iter().zip(&want_argmax).all(|(&g, &w)| g as usize == w);
                ck.expect(same, || format!("{what}: argmax"))?;
            }
        }
    }
    Ok(())
}
