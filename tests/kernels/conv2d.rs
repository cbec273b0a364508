use wgtrain::ops::conv2d::{self, Conv2dShape, WeightGradPlan, cpu};
use wgtrain::ops::{Activation, Padding};

use crate::common::*;

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

fn shapes() -> Vec<Conv2dShape> {
    use Padding::{Same, Valid};
    vec![
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

#[test]
fn conv2d_forward_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("conv2d_forward", gpu);
        let mut rng = rng(10);
        for (i, s) in shapes().iter().enumerate() {
            let act = ACTS[i % ACTS.len()];
            let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
            let w = uniform(&mut rng, s.weight_len(), -1.0, 1.0);
            let b = uniform(&mut rng, s.c_out, -1.0, 1.0);
            let (tx, tw, tb) =
                (gpu.upload("x", &x).unwrap(), gpu.upload("w", &w).unwrap(), gpu.upload("b", &b).unwrap());
            let y = poisoned(gpu, s.y_len().unwrap());
            let bias = i.is_multiple_of(2).then_some(&tb);
            run(gpu, conv2d::forward(gpu, s, &tx, &tw, bias, act, &y));
            let b64 = f64s(&b);
            let want = cpu::forward(s, &f64s(&x), &f64s(&w), bias.map(|_| &b64[..]), act);
            worst.add(compare(&format!("conv2d_forward {s:?} {act:?}"), &read(gpu, &y), &want));
        }
    }
}

#[test]
fn conv2d_backward_input_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("conv2d_backward_input", gpu);
        let mut rng = rng(11);
        for s in shapes() {
            let dy = uniform(&mut rng, s.y_len().unwrap(), -1.0, 1.0);
            let w = uniform(&mut rng, s.weight_len(), -1.0, 1.0);
            let (tdy, tw) = (gpu.upload("dy", &dy).unwrap(), gpu.upload("w", &w).unwrap());
            let dx = poisoned(gpu, s.x_len());
            run(gpu, conv2d::backward_input(gpu, &s, &tdy, &tw, &dx));
            let want = cpu::backward_input(&s, &f64s(&dy), &f64s(&w));
            worst.add(compare(&format!("conv2d_backward_input {s:?}"), &read(gpu, &dx), &want));
        }
    }
}

#[test]
fn conv2d_backward_weight_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("conv2d_backward_weight", gpu);
        let mut rng = rng(12);
        for s in shapes() {
            let x = uniform(&mut rng, s.x_len(), -1.0, 1.0);
            let dy = uniform(&mut rng, s.y_len().unwrap(), -1.0, 1.0);
            let (tx, tdy) = (gpu.upload("x", &x).unwrap(), gpu.upload("dy", &dy).unwrap());
            let want = cpu::backward_weight(&s, &f64s(&x), &f64s(&dy));
            // Both plans on every adapter: the wide one is what GPUs run.
            for plan in WeightGradPlan::ALL {
                let dw = poisoned(gpu, s.weight_len());
                let dispatches = conv2d::backward_weight_planned(gpu, plan, &s, &tx, &tdy, &dw).unwrap();
                gpu.run(&dispatches.iter().collect::<Vec<_>>()).unwrap();
                worst.add(compare(&format!("conv2d_backward_weight {plan:?} {s:?}"), &read(gpu, &dw), &want));
            }
        }
    }
}

#[test]
fn conv2d_refuses_a_kernel_larger_than_a_valid_input() {
    let s = shape(1, (2, 2), 1, 1, (3, 3), (1, 1), Padding::Valid);
    let err = s.extent().unwrap_err().to_string();
    assert!(err.contains("3×3 kernel does not fit a 2×2 input"), "{err}");
}
