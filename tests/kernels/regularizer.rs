use wgtrain::ops::regularizer::{self, Regularizer, cpu};

use crate::common::*;

const LENS: [usize; 6] = [1, 255, 256, 257, 4099, 100_003];
const REGULARIZERS: [Regularizer; 3] =
    [Regularizer { l1: 0.01, l2: 0.0 }, Regularizer { l1: 0.0, l2: 0.01 }, Regularizer { l1: 0.003, l2: 0.02 }];

#[test]
fn regularizer_penalty_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("regularizer_penalty", gpu);
        let mut rng = rng(60);
        for r in REGULARIZERS {
            for len in LENS {
                // A full batch of 32 rows and a short last one of 7: the penalty counts once per valid row.
                for valid in [32u32, 7] {
                    let w = uniform(&mut rng, len, -2.0, 2.0);
                    let start = [1.5f32, 3.0, 32.0];
                    let (tw, rows, totals) = (
                        gpu.upload("w", &w).unwrap(),
                        gpu.upload("batch_rows", &[valid]).unwrap(),
                        gpu.upload("totals", &start).unwrap(),
                    );
                    run(gpu, regularizer::penalty(gpu, &r, &tw, 32, &rows, &totals));
                    let want = f64::from(start[0]) + f64::from(valid) * cpu::penalty(&r, &f64s(&w));
                    let got = read(gpu, &totals);
                    worst.add(compare(&format!("regularizer_penalty {r:?} {len} {valid}"), &got[..1], &[want]));
                    assert_eq!(got[1..], start[1..], "only the loss sum changes");
                }
            }
        }
    }
}

#[test]
fn regularizer_grad_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("regularizer_grad", gpu);
        let mut rng = rng(61);
        for r in REGULARIZERS {
            for len in LENS {
                let mut w = uniform(&mut rng, len, -2.0, 2.0);
                w[0] = 0.0; // sign(0) = 0
                let g = uniform(&mut rng, len, -1.0, 1.0);
                let (tw, tg) = (gpu.upload("w", &w).unwrap(), gpu.upload("g", &g).unwrap());
                run(gpu, regularizer::grad(gpu, &r, &tw, &tg));
                let want: Vec<f64> = f64s(&g).iter().zip(cpu::grad(&r, &f64s(&w))).map(|(g, d)| g + d).collect();
                worst.add(compare(&format!("regularizer_grad {r:?} {len}"), &read(gpu, &tg), &want));
            }
        }
    }
}
