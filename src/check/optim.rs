//! The optimizer updates over five steps, with the rate changing every step as a schedule
//! changes it, and every slot of state compared.

use super::{Check, CheckResult, Checker, f64s, uniform};
use crate::gpu::{Gpu, Tensor};
use crate::ops::optim::{self, Adagrad, Adam, LearningRate, RmsProp, Sgd, cpu};

pub const CHECKS: &[Check] = &[
    Check::new("optim", "sgd", |c| Box::pin(sgd(c))),
    Check::new("optim", "adam", |c| Box::pin(adam(c))),
    Check::new("optim", "rmsprop", |c| Box::pin(rmsprop(c))),
    Check::new("optim", "adagrad", |c| Box::pin(adagrad(c))),
];

const LENS: [usize; 4] = [1, 1000, 4097, 100_003];
const STEPS: usize = 5;

/// The rate tensor the kernels read, and the rate of update `s`: the configured one, lowered
/// step by step as a schedule would (the kernels read it afresh every update).
struct Rate {
    tensor: Tensor,
    lr: f32,
}

impl Rate {
    fn new(gpu: &Gpu, lr: &LearningRate) -> crate::Result<Rate> {
        Ok(Rate { tensor: gpu.zeros("learning_rate", 1)?, lr: lr.at(0) as f32 })
    }

    /// Writes update `s`'s rate and returns it as the CPU twin takes it.
    fn at(&self, gpu: &Gpu, s: usize) -> f64 {
        let lr = self.lr * (1.0 - 0.1 * s as f32);
        gpu.write(&self.tensor, &[lr]);
        f64::from(lr)
    }
}

async fn sgd(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let configs = [
        Sgd::default(),
        Sgd { momentum: 0.9, ..Sgd::default() },
        Sgd { momentum: 0.9, nesterov: true, ..Sgd::default() },
        Sgd { lr: 0.1.into(), momentum: 0.5, weight_decay: 0.01, ..Sgd::default() },
    ];
    let mut rng = ck.rng(50);
    for cfg in &configs {
        for (_, &len) in ck.pick(&LENS) {
            let p = uniform(&mut rng, len, -1.0, 1.0);
            let (tp, tv) = (ck.upload("p", &p)?, gpu.zeros("velocity", len)?);
            let (mut want, mut vel, rate) = (f64s(&p), vec![0.0; len], Rate::new(gpu, &cfg.lr)?);
            for s in 0..STEPS {
                let g = uniform(&mut rng, len, -1.0, 1.0);
                let tg = ck.upload("g", &g)?;
                let lr = rate.at(gpu, s);
                ck.run(optim::sgd(gpu, cfg, &rate.tensor, &tp, &tg, &tv)).await?;
                cpu::sgd(cfg, lr, &mut want, &f64s(&g), &mut vel);
            }
            ck.compare(&format!("sgd {cfg:?} {len}"), &ck.read(&tp).await?, &want)?;
            if cfg.momentum != 0.0 {
                ck.compare(&format!("sgd {cfg:?} {len} velocity"), &ck.read(&tv).await?, &vel)?;
            }
        }
    }
    Ok(())
}

async fn adam(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let mut rng = ck.rng(51);
    for cfg in [Adam::default(), Adam::adamw(), Adam { lr: 0.01.into(), ..Adam::default() }] {
        for (_, &len) in ck.pick(&LENS) {
            let p = uniform(&mut rng, len, -1.0, 1.0);
            let tp = ck.upload("p", &p)?;
            let (tm, tv) = (gpu.zeros("m", len)?, gpu.zeros("v", len)?);
            let step = gpu.upload("step", &[0u32])?;
            let (mut want, mut m, mut v) = (f64s(&p), vec![0.0; len], vec![0.0; len]);
            let rate = Rate::new(gpu, &cfg.lr)?;
            for s in 0..STEPS {
                let g = uniform(&mut rng, len, -1.0, 1.0);
                let tg = ck.upload("g", &g)?;
                // The step counter as training keeps it: counted before each update.
                gpu.write(&step, &[s as u32 + 1]);
                let lr = rate.at(gpu, s);
                ck.run(optim::adam(gpu, &cfg, &rate.tensor, &tp, &tg, &tm, &tv, &step)).await?;
                cpu::adam(&cfg, lr, &mut want, &f64s(&g), &mut m, &mut v, s as u32);
            }
            ck.compare(&format!("adam {cfg:?} {len}"), &ck.read(&tp).await?, &want)?;
            ck.compare(&format!("adam {cfg:?} {len} m"), &ck.read(&tm).await?, &m)?;
            ck.compare(&format!("adam {cfg:?} {len} v"), &ck.read(&tv).await?, &v)?;
        }
    }
    Ok(())
}

async fn rmsprop(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let configs = [
        RmsProp::default(),
        RmsProp { momentum: 0.9, ..RmsProp::default() },
        RmsProp { centered: true, ..RmsProp::default() },
        RmsProp { lr: 0.01.into(), rho: 0.8, momentum: 0.5, centered: true, weight_decay: 0.01, ..RmsProp::default() },
    ];
    let mut rng = ck.rng(52);
    for cfg in &configs {
        for (_, &len) in ck.pick(&LENS) {
            let p = uniform(&mut rng, len, -1.0, 1.0);
            let tp = ck.upload("p", &p)?;
            let slots = [gpu.zeros("slot", len)?, gpu.zeros("slot", len)?, gpu.zeros("slot", len)?];
            let (mut want, mut vel, mut mom, mut avg) = (f64s(&p), vec![0.0; len], vec![0.0; len], vec![0.0; len]);
            let rate = Rate::new(gpu, &cfg.lr)?;
            for s in 0..STEPS {
                let g = uniform(&mut rng, len, -1.0, 1.0);
                let tg = ck.upload("g", &g)?;
                let lr = rate.at(gpu, s);
                ck.run(optim::rmsprop(gpu, cfg, &rate.tensor, &tp, &tg, [&slots[0], &slots[1], &slots[2]])).await?;
                cpu::rmsprop(cfg, lr, &mut want, &f64s(&g), &mut vel, &mut mom, &mut avg);
            }
            ck.compare(&format!("rmsprop {cfg:?} {len}"), &ck.read(&tp).await?, &want)?;
            ck.compare(&format!("rmsprop {cfg:?} {len} velocity"), &ck.read(&slots[0]).await?, &vel)?;
            ck.compare(&format!("rmsprop {cfg:?} {len} momentum"), &ck.read(&slots[1]).await?, &mom)?;
            ck.compare(&format!("rmsprop {cfg:?} {len} average"), &ck.read(&slots[2]).await?, &avg)?;
        }
    }
    // The slots a setting does not use are spares (as the training graph binds them).
    let cfg = RmsProp::default();
    let p = uniform(&mut rng, 1000, -1.0, 1.0);
    let g = uniform(&mut rng, 1000, -1.0, 1.0);
    let (tp, tg, tv) = (ck.upload("p", &p)?, ck.upload("g", &g)?, gpu.zeros("v", 1000)?);
    let rate = Rate::new(gpu, &cfg.lr)?;
    let lr = rate.at(gpu, 0);
    ck.run(optim::rmsprop(gpu, &cfg, &rate.tensor, &tp, &tg, [&tv, gpu.spare(0), gpu.spare(1)])).await?;
    let (mut want, mut vel) = (f64s(&p), vec![0.0; 1000]);
    cpu::rmsprop(&cfg, lr, &mut want, &f64s(&g), &mut vel, &mut Vec::new(), &mut Vec::new());
    ck.compare("rmsprop with one slot", &ck.read(&tp).await?, &want)?;
    ck.compare("rmsprop with one slot: velocity", &ck.read(&tv).await?, &vel)
}

async fn adagrad(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    let configs = [
        Adagrad::default(),
        Adagrad { lr: 0.1.into(), initial_accumulator_value: 0.5, ..Adagrad::default() },
        Adagrad { lr: 0.01.into(), weight_decay: 0.01, ..Adagrad::default() },
    ];
    let mut rng = ck.rng(53);
    for cfg in &configs {
        for (_, &len) in ck.pick(&LENS) {
            let p = uniform(&mut rng, len, -1.0, 1.0);
            let start = vec![cfg.initial_accumulator_value; len];
            let (tp, tacc) = (ck.upload("p", &p)?, ck.upload("accumulator", &start)?);
            let (mut want, mut acc, rate) = (f64s(&p), f64s(&start), Rate::new(gpu, &cfg.lr)?);
            for s in 0..STEPS {
                let g = uniform(&mut rng, len, -1.0, 1.0);
                let tg = ck.upload("g", &g)?;
                let lr = rate.at(gpu, s);
                ck.run(optim::adagrad(gpu, cfg, &rate.tensor, &tp, &tg, &tacc)).await?;
                cpu::adagrad(cfg, lr, &mut want, &f64s(&g), &mut acc);
            }
            ck.compare(&format!("adagrad {cfg:?} {len}"), &ck.read(&tp).await?, &want)?;
            ck.compare(&format!("adagrad {cfg:?} {len} accumulator"), &ck.read(&tacc).await?, &acc)?;
        }
    }
    Ok(())
}
