use wgtrain::gpu::{Gpu, Tensor};
use wgtrain::ops::optim::{self, Adagrad, Adam, LearningRate, RmsProp, Sgd, cpu};

use crate::common::*;

const LENS: [usize; 4] = [1, 1000, 4097, 100_003];
const STEPS: usize = 5;

/// The rate tensor the kernels read, and the rate of update `s`: the configured one, lowered
/// step by step as a schedule would (the kernels read it afresh every update).
struct Rate {
    tensor: Tensor,
    lr: f32,
}

impl Rate {
    fn new(gpu: &Gpu, lr: &LearningRate) -> Rate {
        let LearningRate::Constant(lr) = *lr else { panic!("a constant rate") };
        Rate { tensor: gpu.zeros("learning_rate", 1).unwrap(), lr }
    }

    /// Writes update `s`'s rate and returns it as the CPU twin takes it.
    fn at(&self, gpu: &Gpu, s: usize) -> f64 {
        let lr = self.lr * (1.0 - 0.1 * s as f32);
        gpu.write(&self.tensor, &[lr]);
        f64::from(lr)
    }
}

#[test]
fn optim_sgd_matches_cpu() {
    let configs = [
        Sgd::default(),
        Sgd { momentum: 0.9, ..Sgd::default() },
        Sgd { momentum: 0.9, nesterov: true, ..Sgd::default() },
        Sgd { lr: 0.1.into(), momentum: 0.5, weight_decay: 0.01, ..Sgd::default() },
    ];
    for gpu in gpus() {
        let mut worst = Worst::new("optim_sgd", gpu);
        let mut rng = rng(50);
        for cfg in &configs {
            for len in LENS {
                let p = uniform(&mut rng, len, -1.0, 1.0);
                let (tp, tv) = (gpu.upload("p", &p).unwrap(), gpu.zeros("velocity", len).unwrap());
                let (mut want, mut vel, rate) = (f64s(&p), vec![0.0; len], Rate::new(gpu, &cfg.lr));
                for s in 0..STEPS {
                    let g = uniform(&mut rng, len, -1.0, 1.0);
                    let tg = gpu.upload("g", &g).unwrap();
                    let lr = rate.at(gpu, s);
                    run(gpu, optim::sgd(gpu, cfg, &rate.tensor, &tp, &tg, &tv));
                    cpu::sgd(cfg, lr, &mut want, &f64s(&g), &mut vel);
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
        for cfg in [Adam::default(), Adam::adamw(), Adam { lr: 0.01.into(), ..Adam::default() }] {
            for len in LENS {
                let p = uniform(&mut rng, len, -1.0, 1.0);
                let tp = gpu.upload("p", &p).unwrap();
                let (tm, tv) = (gpu.zeros("m", len).unwrap(), gpu.zeros("v", len).unwrap());
                let step = gpu.upload("step", &[0u32]).unwrap();
                let (mut want, mut m, mut v) = (f64s(&p), vec![0.0; len], vec![0.0; len]);
                let rate = Rate::new(gpu, &cfg.lr);
                for s in 0..STEPS {
                    let g = uniform(&mut rng, len, -1.0, 1.0);
                    let tg = gpu.upload("g", &g).unwrap();
                    // The step counter as training keeps it: counted before each update.
                    gpu.write(&step, &[s as u32 + 1]);
                    let lr = rate.at(gpu, s);
                    gpu.run(&[&optim::adam(gpu, &cfg, &rate.tensor, &tp, &tg, &tm, &tv, &step).unwrap()]).unwrap();
                    cpu::adam(&cfg, lr, &mut want, &f64s(&g), &mut m, &mut v, s as u32);
                }
                worst.add(compare(&format!("adam {cfg:?} {len}"), &read(gpu, &tp), &want));
                worst.add(compare(&format!("adam {cfg:?} {len} m"), &read(gpu, &tm), &m));
                worst.add(compare(&format!("adam {cfg:?} {len} v"), &read(gpu, &tv), &v));
            }
        }
    }
}

#[test]
fn optim_rmsprop_matches_cpu() {
    let configs = [
        RmsProp::default(),
        RmsProp { momentum: 0.9, ..RmsProp::default() },
        RmsProp { centered: true, ..RmsProp::default() },
        RmsProp { lr: 0.01.into(), rho: 0.8, momentum: 0.5, centered: true, weight_decay: 0.01, ..RmsProp::default() },
    ];
    for gpu in gpus() {
        let mut worst = Worst::new("optim_rmsprop", gpu);
        let mut rng = rng(52);
        for cfg in &configs {
            for len in LENS {
                let p = uniform(&mut rng, len, -1.0, 1.0);
                let tp = gpu.upload("p", &p).unwrap();
                let slots = [0, 1, 2].map(|_| gpu.zeros("slot", len).unwrap());
                let (mut want, mut vel, mut mom, mut avg) = (f64s(&p), vec![0.0; len], vec![0.0; len], vec![0.0; len]);
                let rate = Rate::new(gpu, &cfg.lr);
                for s in 0..STEPS {
                    let g = uniform(&mut rng, len, -1.0, 1.0);
                    let tg = gpu.upload("g", &g).unwrap();
                    let lr = rate.at(gpu, s);
                    run(gpu, optim::rmsprop(gpu, cfg, &rate.tensor, &tp, &tg, [&slots[0], &slots[1], &slots[2]]));
                    cpu::rmsprop(cfg, lr, &mut want, &f64s(&g), &mut vel, &mut mom, &mut avg);
                }
                worst.add(compare(&format!("rmsprop {cfg:?} {len}"), &read(gpu, &tp), &want));
                worst.add(compare(&format!("rmsprop {cfg:?} {len} velocity"), &read(gpu, &slots[0]), &vel));
                worst.add(compare(&format!("rmsprop {cfg:?} {len} momentum"), &read(gpu, &slots[1]), &mom));
                worst.add(compare(&format!("rmsprop {cfg:?} {len} average"), &read(gpu, &slots[2]), &avg));
            }
        }
        // The slots a setting does not use may be the velocity itself.
        let cfg = RmsProp::default();
        let p = uniform(&mut rng, 1000, -1.0, 1.0);
        let g = uniform(&mut rng, 1000, -1.0, 1.0);
        let (tp, tg, tv) = (gpu.upload("p", &p).unwrap(), gpu.upload("g", &g).unwrap(), gpu.zeros("v", 1000).unwrap());
        let rate = Rate::new(gpu, &cfg.lr);
        let lr = rate.at(gpu, 0);
        run(gpu, optim::rmsprop(gpu, &cfg, &rate.tensor, &tp, &tg, [&tv, &tv, &tv]));
        let (mut want, mut vel) = (f64s(&p), vec![0.0; 1000]);
        cpu::rmsprop(&cfg, lr, &mut want, &f64s(&g), &mut vel, &mut Vec::new(), &mut Vec::new());
        worst.add(compare("rmsprop with one slot", &read(gpu, &tp), &want));
        worst.add(compare("rmsprop with one slot: velocity", &read(gpu, &tv), &vel));
    }
}

#[test]
fn optim_adagrad_matches_cpu() {
    let configs = [
        Adagrad::default(),
        Adagrad { lr: 0.1.into(), initial_accumulator_value: 0.5, ..Adagrad::default() },
        Adagrad { lr: 0.01.into(), weight_decay: 0.01, ..Adagrad::default() },
    ];
    for gpu in gpus() {
        let mut worst = Worst::new("optim_adagrad", gpu);
        let mut rng = rng(53);
        for cfg in &configs {
            for len in LENS {
                let p = uniform(&mut rng, len, -1.0, 1.0);
                let start = vec![cfg.initial_accumulator_value; len];
                let (tp, tacc) = (gpu.upload("p", &p).unwrap(), gpu.upload("accumulator", &start).unwrap());
                let (mut want, mut acc, rate) = (f64s(&p), f64s(&start), Rate::new(gpu, &cfg.lr));
                for s in 0..STEPS {
                    let g = uniform(&mut rng, len, -1.0, 1.0);
                    let tg = gpu.upload("g", &g).unwrap();
                    let lr = rate.at(gpu, s);
                    run(gpu, optim::adagrad(gpu, cfg, &rate.tensor, &tp, &tg, &tacc));
                    cpu::adagrad(cfg, lr, &mut want, &f64s(&g), &mut acc);
                }
                worst.add(compare(&format!("adagrad {cfg:?} {len}"), &read(gpu, &tp), &want));
                worst.add(compare(&format!("adagrad {cfg:?} {len} accumulator"), &read(gpu, &tacc), &acc));
            }
        }
    }
}
