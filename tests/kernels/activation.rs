use wgtrain::ops::Activation;
use wgtrain::ops::activation::{self, Elementwise, cpu};

use crate::common::*;

/// Every activation with Keras's defaults, and the parametrised ones off them (the LeakyReLU
/// layer's 0.3, an ELU layer's alpha 0.5).
fn acts() -> Vec<Elementwise> {
    let parametrised =
        [Elementwise { act: Activation::LeakyRelu, alpha: 0.3 }, Elementwise { act: Activation::Elu, alpha: 0.5 }];
    Activation::ALL.map(Elementwise::from).into_iter().chain(parametrised).collect()
}
const LENS: [usize; 6] = [1, 255, 256, 257, 4099, 100_003];

#[test]
fn activation_forward_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("activation_forward", gpu);
        let mut rng = rng(30);
        for act in acts() {
            for len in LENS {
                // Wide range: the stable sigmoid and tanh must stay finite and exact at ±60.
                let x = uniform(&mut rng, len, -60.0, 60.0);
                let (tx, y) = (gpu.upload("x", &x).unwrap(), poisoned(gpu, len));
                run(gpu, activation::forward(gpu, act, &tx, &y));
                worst.add(compare(
                    &format!("activation_forward {act:?} {len}"),
                    &read(gpu, &y),
                    &cpu::forward(act, &f64s(&x)),
                ));
            }
        }
    }
}

#[test]
fn activation_backward_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("activation_backward", gpu);
        let mut rng = rng(31);
        for act in acts() {
            for len in LENS {
                // Out to ±12: the tails of gelu's erfc and silu's sigmoid.
                let x = uniform(&mut rng, len, -12.0, 12.0);
                let y: Vec<f32> = x.iter().map(|&v| cpu::apply(act, f64::from(v)) as f32).collect();
                let saved = act.act.saved(&x, &y);
                let dy = uniform(&mut rng, len, -1.0, 1.0);
                let (ts, tdy, dx) =
                    (gpu.upload("saved", saved).unwrap(), gpu.upload("dy", &dy).unwrap(), poisoned(gpu, len));
                run(gpu, activation::backward(gpu, act, &ts, &tdy, &dx));
                let want = cpu::backward(act, &f64s(saved), &f64s(&dy));
                worst.add(compare(&format!("activation_backward {act:?} {len}"), &read(gpu, &dx), &want));
            }
        }
    }
}

const SOFTMAX_SHAPES: [(usize, usize); 5] = [(1, 1), (7, 10), (33, 1000), (5000, 10), (3, 2)];

#[test]
fn softmax_forward_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("softmax_forward", gpu);
        let mut rng = rng(32);
        for (rows, cols) in SOFTMAX_SHAPES {
            // Logits up to ±200 overflow exp() without the row-maximum shift.
            let x = uniform(&mut rng, rows * cols, -200.0, 200.0);
            let (tx, y) = (gpu.upload("x", &x).unwrap(), poisoned(gpu, rows * cols));
            run(gpu, activation::softmax_forward(gpu, cols, &tx, &y));
            let want = cpu::softmax_forward(&f64s(&x), cols);
            worst.add(compare(&format!("softmax_forward {rows}×{cols}"), &read(gpu, &y), &want));
        }
    }
}

#[test]
fn softmax_backward_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("softmax_backward", gpu);
        let mut rng = rng(33);
        for (rows, cols) in SOFTMAX_SHAPES {
            let x = uniform(&mut rng, rows * cols, -3.0, 3.0);
            let y: Vec<f32> = cpu::softmax_forward(&f64s(&x), cols).iter().map(|&v| v as f32).collect();
            let dy = uniform(&mut rng, rows * cols, -1.0, 1.0);
            let (ty, tdy, dx) =
                (gpu.upload("y", &y).unwrap(), gpu.upload("dy", &dy).unwrap(), poisoned(gpu, rows * cols));
            run(gpu, activation::softmax_backward(gpu, cols, &ty, &tdy, &dx));
            let want = cpu::softmax_backward(&f64s(&y), &f64s(&dy), cols);
            worst.add(compare(&format!("softmax_backward {rows}×{cols}"), &read(gpu, &dx), &want));
        }
    }
}
