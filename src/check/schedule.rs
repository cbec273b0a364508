//! The learning-rate schedule kernel against `LearningRate::at`, around every boundary and far
//! past the decay.

use super::{Check, CheckResult, Checker};
use crate::ops::optim::LearningRate;
use crate::ops::schedule::{self, Schedule};

pub const CHECKS: &[Check] = &[Check::new("learning_rate", "", |c| Box::pin(check(c)))];

/// Step counter values (the update's number, 1 for the first): around every boundary and
/// decay length below, and far past them.
const STEPS: [u32; 16] = [1, 2, 3, 10, 99, 100, 101, 102, 250, 500, 1000, 1001, 1002, 1100, 5000, 1 << 20];

fn schedules() -> Vec<LearningRate> {
    vec![
        LearningRate::Constant(0.003),
        Schedule::ExponentialDecay {
            initial_learning_rate: 0.1,
            decay_steps: 100.0,
            decay_rate: 0.96,
            staircase: false,
        }
        .into(),
        Schedule::ExponentialDecay { initial_learning_rate: 0.1, decay_steps: 100.0, decay_rate: 0.5, staircase: true }
            .into(),
        Schedule::CosineDecay {
            initial_learning_rate: 0.01,
            decay_steps: 1000.0,
            alpha: 0.0,
            warmup_target: None,
            warmup_steps: 0.0,
        }
        .into(),
        Schedule::CosineDecay {
            initial_learning_rate: 0.0,
            decay_steps: 1000.0,
            alpha: 0.1,
            warmup_target: Some(0.05),
            warmup_steps: 100.0,
        }
        .into(),
        Schedule::PiecewiseConstantDecay { boundaries: vec![100, 1000], values: vec![1.0, 0.5, 0.1] }.into(),
        Schedule::PiecewiseConstantDecay { boundaries: vec![7], values: vec![0.25, 2.0] }.into(),
    ]
}

async fn check(ck: &mut Checker<'_>) -> CheckResult {
    let gpu = ck.gpu;
    for (_, lr) in ck.pick(&schedules()) {
        lr.check()?;
        let description = gpu.upload("schedule", &lr.words())?;
        let (step, rate) = (gpu.upload("step", &[0u32])?, ck.poisoned(1)?);
        let d = schedule::learning_rate(gpu, &description, &step, &rate)?;
        let (mut got, mut want) = (Vec::new(), Vec::new());
        for s in STEPS {
            gpu.write(&step, &[s]);
            gpu.run_async(&[&d]).await?;
            got.extend(ck.read(&rate).await?);
            // Keras evaluates the schedule at the updates made before this one.
            want.push(lr.at(s - 1));
        }
        ck.compare(&format!("learning_rate {lr:?}"), &got, &want)?;
    }
    Ok(())
}
