//! Finite-difference checks (f64, central differences) of every CPU twin's backward pass,
//! so the oracles the GPU kernels are tested against are themselves proven.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use wgtrain::ops::activation::Elementwise;
use wgtrain::ops::batch_norm::{self, BatchNormShape};
use wgtrain::ops::conv2d::{self, Conv2dShape};
use wgtrain::ops::loss::{self, Loss};
use wgtrain::ops::matmul::{self, MatmulShape};
use wgtrain::ops::pool::{self, PoolKind, PoolShape};
use wgtrain::ops::regularizer::{self, Regularizer};
use wgtrain::ops::{Activation, Padding, activation, dropout};

fn random(rng: &mut StdRng, len: usize) -> Vec<f64> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// L(v) = Σ r ⊙ f(v): its gradient with respect to f's output is r.
fn weighted(r: &[f64], y: &[f64]) -> f64 {
    r.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Asserts `analytic` is the gradient of `f` at `at`, by central differences.
fn check(what: &str, at: &[f64], analytic: &[f64], f: impl Fn(&[f64]) -> f64) {
    assert_eq!(at.len(), analytic.len(), "{what}: gradient length");
    let scale = analytic.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let mut v = at.to_vec();
    for i in 0..at.len() {
        let h = 1e-6 * at[i].abs().max(1.0);
        v[i] = at[i] + h;
        let up = f(&v);
        v[i] = at[i] - h;
        let down = f(&v);
        v[i] = at[i];
        let numeric = (up - down) / (2.0 * h);
        assert!(
            (numeric - analytic[i]).abs() <= 1e-6 * scale,
            "{what}: element {i}: analytic {} vs numeric {numeric}",
            analytic[i]
        );
    }
}

#[test]
fn dense_gradients_from_matmul_transposes_and_bias_grad() {
    let mut rng = StdRng::seed_from_u64(1);
    for (m, k, n) in [(1, 1, 1), (3, 5, 2), (7, 4, 9)] {
        let (x, w, b, r) =
            (random(&mut rng, m * k), random(&mut rng, k * n), random(&mut rng, n), random(&mut rng, m * n));
        let forward = |x: &[f64], w: &[f64], b: &[f64]| {
            matmul::cpu::matmul(MatmulShape::new(m, n, k), x, w, Some(b), Activation::Linear)
        };
        // dx = dy · wᵀ, dw = xᵀ · dy, db = column sums of dy; here dy = r.
        let dx = matmul::cpu::matmul(
            MatmulShape { m, n: k, k: n, trans_a: false, trans_b: true },
            &r,
            &w,
            None,
            Activation::Linear,
        );
        let dw = matmul::cpu::matmul(
            MatmulShape { m: k, n, k: m, trans_a: true, trans_b: false },
            &x,
            &r,
            None,
            Activation::Linear,
        );
        let db = matmul::cpu::bias_grad(m, n, &r);
        check("dense dx", &x, &dx, |v| weighted(&r, &forward(v, &w, &b)));
        check("dense dw", &w, &dw, |v| weighted(&r, &forward(&x, v, &b)));
        check("dense db", &b, &db, |v| weighted(&r, &forward(&x, &w, v)));
    }
}

#[test]
fn conv2d_backward_input_weight_and_bias_are_gradients() {
    let mut rng = StdRng::seed_from_u64(2);
    let shapes = [
        Conv2dShape {
            n: 2,
            h: 5,
            w: 4,
            c_in: 2,
            c_out: 3,
            kh: 3,
            kw: 3,
            stride_h: 1,
            stride_w: 1,
            padding: Padding::Valid,
        },
        Conv2dShape {
            n: 1,
            h: 6,
            w: 7,
            c_in: 3,
            c_out: 2,
            kh: 3,
            kw: 2,
            stride_h: 2,
            stride_w: 3,
            padding: Padding::Same,
        },
        Conv2dShape {
            n: 2,
            h: 4,
            w: 4,
            c_in: 1,
            c_out: 2,
            kh: 4,
            kw: 4,
            stride_h: 1,
            stride_w: 1,
            padding: Padding::Same,
        },
    ];
    for s in shapes {
        let (x, w, b) = (random(&mut rng, s.x_len()), random(&mut rng, s.weight_len()), random(&mut rng, s.c_out));
        let r = random(&mut rng, s.y_len().unwrap());
        let forward = |x: &[f64], w: &[f64], b: &[f64]| conv2d::cpu::forward(&s, x, w, Some(b), Activation::Linear);
        check("conv2d dx", &x, &conv2d::cpu::backward_input(&s, &r, &w), |v| weighted(&r, &forward(v, &w, &b)));
        check("conv2d dw", &w, &conv2d::cpu::backward_weight(&s, &x, &r), |v| weighted(&r, &forward(&x, v, &b)));
        let db = matmul::cpu::bias_grad(r.len() / s.c_out, s.c_out, &r);
        check("conv2d db", &b, &db, |v| weighted(&r, &forward(&x, &w, v)));
    }
}

#[test]
fn pool_backward_is_the_gradient() {
    let mut rng = StdRng::seed_from_u64(3);
    let shapes = [
        PoolShape { n: 2, h: 4, w: 6, c: 3, pool_h: 2, pool_w: 2, stride_h: 2, stride_w: 2, padding: Padding::Valid },
        PoolShape { n: 1, h: 5, w: 5, c: 2, pool_h: 3, pool_w: 3, stride_h: 2, stride_w: 2, padding: Padding::Same },
        PoolShape { n: 1, h: 4, w: 5, c: 1, pool_h: 2, pool_w: 2, stride_h: 1, stride_w: 1, padding: Padding::Valid },
    ];
    for s in shapes {
        for kind in [PoolKind::Max, PoolKind::Average] {
            let x = random(&mut rng, s.x_len());
            let r = random(&mut rng, s.y_len().unwrap());
            let dx = pool::cpu::backward(kind, &s, &x, &r);
            check(&format!("pool {kind:?}"), &x, &dx, |v| weighted(&r, &pool::cpu::forward(kind, &s, v).0));
        }
    }
}

#[test]
fn activation_and_softmax_backward_are_gradients() {
    let mut rng = StdRng::seed_from_u64(4);
    let parametrised =
        [Elementwise { act: Activation::LeakyRelu, alpha: 0.3 }, Elementwise { act: Activation::Elu, alpha: 0.5 }];
    for f in Activation::ALL.map(Elementwise::from).into_iter().chain(parametrised) {
        let x = random(&mut rng, 50);
        let r = random(&mut rng, 50);
        let y = activation::cpu::forward(f, &x);
        let dx = activation::cpu::backward(f, f.act.saved(&x, &y), &r);
        check(&format!("{f:?}"), &x, &dx, |v| weighted(&r, &activation::cpu::forward(f, v)));
    }
    for cols in [1, 2, 10] {
        let x = random(&mut rng, 4 * cols);
        let r = random(&mut rng, 4 * cols);
        let y = activation::cpu::softmax_forward(&x, cols);
        let dx = activation::cpu::softmax_backward(&y, &r, cols);
        check("softmax", &x, &dx, |v| weighted(&r, &activation::cpu::softmax_forward(v, cols)));
    }
}

#[test]
fn loss_gradients_are_gradients_of_the_mean_loss() {
    let mut rng = StdRng::seed_from_u64(5);
    for kind in [Loss::SoftmaxCrossEntropy, Loss::SigmoidBinaryCrossEntropy, Loss::MeanSquaredError] {
        let (rows, cols, valid) = (5, 4, 3);
        let logits: Vec<f64> = random(&mut rng, rows * cols).iter().map(|v| v * 4.0).collect();
        let targets: Vec<f64> = match kind {
            Loss::SoftmaxCrossEntropy => {
                (0..rows * cols).map(|i| f64::from(u8::from(i % cols == (i / cols) % cols))).collect()
            }
            _ => (0..rows * cols).map(|_| rng.random_range(0.0..1.0)).collect(),
        };
        let mean_loss =
            |v: &[f64]| loss::cpu::forward(kind, cols, v, &targets, valid).row_loss.iter().sum::<f64>() / valid as f64;
        let dx = loss::cpu::forward(kind, cols, &logits, &targets, valid).dx;
        check(&format!("{kind:?}"), &logits, &dx, mean_loss);
    }
}

#[test]
fn dropout_backward_is_the_gradient() {
    let mut rng = StdRng::seed_from_u64(6);
    let x = random(&mut rng, 100);
    let r = random(&mut rng, 100);
    let dx = dropout::cpu::backward(0.3, 9, 4, &r);
    check("dropout", &x, &dx, |v| weighted(&r, &dropout::cpu::forward(0.3, 9, 4, v)));
}

#[test]
fn batch_norm_backward_is_the_gradient_through_the_batch_statistics() {
    let mut rng = StdRng::seed_from_u64(7);
    for (rows, c) in [(2, 1), (5, 3), (12, 4)] {
        let shape = BatchNormShape { rows, c, per_sample: 1, epsilon: 1e-3, momentum: 0.99 };
        let x: Vec<f64> = random(&mut rng, rows * c).iter().enumerate().map(|(i, v)| v + (i % c) as f64).collect();
        let (gamma, beta, r) = (random(&mut rng, c), random(&mut rng, c), random(&mut rng, rows * c));
        // Training mode: the mean and variance are those of x itself.
        let forward = |x: &[f64], gamma: &[f64], beta: &[f64]| {
            let (mean, var) = batch_norm::cpu::moments(&shape, x);
            batch_norm::cpu::normalize(&shape, x, &mean, &var, gamma, beta)
        };
        let (dx, dgamma, dbeta) = batch_norm::cpu::backward(&shape, &x, &r, &gamma);
        let what = format!("batch norm {rows}x{c}");
        check(&format!("{what} dx"), &x, &dx, |v| weighted(&r, &forward(v, &gamma, &beta)));
        check(&format!("{what} dgamma"), &gamma, &dgamma, |v| weighted(&r, &forward(&x, v, &beta)));
        check(&format!("{what} dbeta"), &beta, &dbeta, |v| weighted(&r, &forward(&x, &gamma, v)));
    }
}

#[test]
fn regularizer_grad_is_the_penalty_gradient() {
    let mut rng = StdRng::seed_from_u64(12);
    let r = Regularizer { l1: 0.03, l2: 0.2 };
    // Away from zero, where |w| has a derivative.
    let w: Vec<f64> = random(&mut rng, 40).into_iter().map(|v| v + 0.1f64.copysign(v)).collect();
    check("regularizer", &w, &regularizer::cpu::grad(&r, &w), |v| regularizer::cpu::penalty(&r, v));
}
