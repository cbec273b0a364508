use wgtrain::ops::Padding;
use wgtrain::ops::pool::{self, PoolKind, PoolShape, cpu};

use crate::common::*;

fn shapes() -> Vec<PoolShape> {
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
    vec![
        s(1, 1, 1, 1, (1, 1), (1, 1), Padding::Valid),
        // The seed CNN's pooling at batch 32: 26×26×32 → 13×13×32.
        s(32, 26, 26, 32, (2, 2), (2, 2), Padding::Valid),
        s(3, 7, 9, 5, (3, 3), (2, 2), Padding::Same),
        s(2, 5, 5, 3, (2, 2), (1, 1), Padding::Valid),
        s(1, 6, 7, 2, (3, 2), (3, 1), Padding::Same),
        s(2, 11, 13, 3, (2, 2), (2, 2), Padding::Valid),
        s(2, 4, 4, 1, (4, 4), (1, 1), Padding::Same),
    ]
}

fn check(kind: PoolKind, name: &'static str, backward: bool, seed: u64) {
    for gpu in gpus() {
        let mut worst = Worst::new(name, gpu);
        let mut rng = rng(seed);
        for s in shapes() {
            let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
            let dy = uniform(&mut rng, s.y_len().unwrap(), -1.0, 1.0);
            let (tx, tdy) = (gpu.upload("x", &x).unwrap(), gpu.upload("dy", &dy).unwrap());
            let y = poisoned(gpu, s.y_len().unwrap());
            let argmax = gpu.zeros("argmax", y.len()).unwrap();
            let dx = poisoned(gpu, s.x_len());
            let fwd = pool::forward(gpu, kind, &s, &tx, &y, &argmax).unwrap();
            let bwd = pool::backward(gpu, kind, &s, &tdy, &argmax, &dx).unwrap();
            gpu.run(&[&fwd, &bwd]).unwrap();
            let what = format!("{name} {s:?}");
            if backward {
                worst.add(compare(&what, &read(gpu, &dx), &cpu::backward(kind, &s, &f64s(&x), &f64s(&dy))));
            } else {
                let (want, want_argmax) = cpu::forward(kind, &s, &f64s(&x));
                worst.add(compare(&what, &read(gpu, &y), &want));
                if kind == PoolKind::Max {
                    let got: Vec<u32> = gpu.read(&argmax).unwrap();
                    assert!(got.iter().zip(&want_argmax).all(|(&g, &w)| g as usize == w), "{what}: argmax");
                }
            }
        }
    }
}

#[test]
fn pool_max_forward_matches_cpu() {
    check(PoolKind::Max, "pool_max_forward", false, 20);
}

#[test]
fn pool_max_backward_matches_cpu() {
    check(PoolKind::Max, "pool_max_backward", true, 21);
}

#[test]
fn pool_avg_forward_matches_cpu() {
    check(PoolKind::Average, "pool_avg_forward", false, 22);
}

#[test]
fn pool_avg_backward_matches_cpu() {
    check(PoolKind::Average, "pool_avg_backward", true, 23);
}
