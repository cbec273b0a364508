use wgtrain::ops::optim::{self, Adam, Sgd, cpu};

use crate::common::*;

const LENS: [usize; 4] = [1, 1000, 4097, 100_003];
const STEPS: usize = 5;

#[test]
fn optim_sgd_matches_cpu() {
    let configs = [
        Sgd::default(),
        Sgd { momentum: 0.9, ..Sgd::default() },
        Sgd { momentum: 0.9, nesterov: true, ..Sgd::default() },
        Sgd { lr: 0.1, momentum: 0.5, weight_decay: 0.01, ..Sgd::default() },
    ];
    for gpu in gpus() {
        let mut worst = Worst::new("optim_sgd", gpu);
        let mut rng = rng(50);
        for cfg in &configs {
            for len in LENS {
                let p = uniform(&mut rng, len, -1.0, 1.0);
                let (tp, tv) = (gpu.upload("p", &p).unwrap(), gpu.zeros("velocity", len).unwrap());
                let (mut want, mut vel) = (f64s(&p), vec![0.0; len]);
                for _ in 0..STEPS {
                    let g = uniform(&mut rng, len, -1.0, 1.0);
                    let tg = gpu.upload("g", &g).unwrap();
                    run(gpu, optim::sgd(gpu, cfg, &tp, &tg, &tv));
                    cpu::sgd(cfg, &mut want, &f64s(&g), &mut vel);
                }
                worst.add(compare(&format!("sgd {cfg:?} {len}"), &read(gpu, &tp), &want));
                if cfg.momentum != 0.0 {
                    worst.add(compare(&format!("sgd {cfg:?} {len} velocity"), &read(gpu, &tv), &vel));
                }
            }
        }
    }
}

#[test]
fn optim_adam_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("optim_adam", gpu);
        let mut rng = rng(51);
        for cfg in [Adam::default(), Adam::adamw(), Adam { lr: 0.01, ..Adam::default() }] {
            for len in LENS {
                let p = uniform(&mut rng, len, -1.0, 1.0);
                let tp = gpu.upload("p", &p).unwrap();
                let (tm, tv) = (gpu.zeros("m", len).unwrap(), gpu.zeros("v", len).unwrap());
                let step = gpu.upload("step", &[0u32]).unwrap();
                let (mut want, mut m, mut v) = (f64s(&p), vec![0.0; len], vec![0.0; len]);
                for s in 0..STEPS {
                    let g = uniform(&mut rng, len, -1.0, 1.0);
                    let tg = gpu.upload("g", &g).unwrap();
                    // The step counter as training keeps it: counted before each update.
                    gpu.write(&step, &[s as u32 + 1]);
                    gpu.run(&[&optim::adam(gpu, &cfg, &tp, &tg, &tm, &tv, &step).unwrap()]).unwrap();
                    cpu::adam(&cfg, &mut want, &f64s(&g), &mut m, &mut v, s as u32);
                }
                worst.add(compare(&format!("adam {cfg:?} {len}"), &read(gpu, &tp), &want));
                worst.add(compare(&format!("adam {cfg:?} {len} m"), &read(gpu, &tm), &m));
                worst.add(compare(&format!("adam {cfg:?} {len} v"), &read(gpu, &tv), &v));
            }
        }
    }
}
