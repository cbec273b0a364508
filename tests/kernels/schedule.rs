use wgtrain::ops::optim::LearningRate;
use wgtrain::ops::schedule::{self, Schedule};

use crate::common::*;

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

#[test]
fn learning_rate_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("learning_rate", gpu);
        for lr in schedules() {
            lr.check().unwrap();
            let description = gpu.upload("schedule", &lr.words()).unwrap();
            let (step, rate) = (gpu.upload("step", &[0u32]).unwrap(), poisoned(gpu, 1));
            let d = schedule::learning_rate(gpu, &description, &step, &rate).unwrap();
            let (mut got, mut want) = (Vec::new(), Vec::new());
            for s in STEPS {
                gpu.write(&step, &[s]);
                gpu.run(&[&d]).unwrap();
                got.extend(read(gpu, &rate));
                // Keras evaluates the schedule at the updates made before this one.
                want.push(lr.at(s - 1));
            }
            worst.add(compare(&format!("learning_rate {lr:?}"), &got, &want));
        }
    }
}

#[test]
fn schedules_follow_keras_formulas() {
    let exp = LearningRate::from(Schedule::ExponentialDecay {
        initial_learning_rate: 0.1,
        decay_steps: 100.0,
        decay_rate: 0.5,
        staircase: true,
    });
    assert_eq!((exp.at(99), exp.at(100), exp.at(250)), (0.1f32 as f64, 0.05f32 as f64, 0.025f32 as f64));
    let warm = LearningRate::from(Schedule::CosineDecay {
        initial_learning_rate: 0.0,
        decay_steps: 100.0,
        alpha: 0.0,
        warmup_target: Some(0.1),
        warmup_steps: 10.0,
    });
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(close(warm.at(5), 0.05) && close(warm.at(10), 0.1f32 as f64) && close(warm.at(60), 0.05f32 as f64));
    assert!(close(warm.at(110), 0.0) && close(warm.at(100_000), 0.0));
    let pieces =
        LearningRate::from(Schedule::PiecewiseConstantDecay { boundaries: vec![10, 20], values: vec![3.0, 2.0, 1.0] });
    assert_eq!([0, 10, 11, 20, 21].map(|s| pieces.at(s)), [3.0, 3.0, 2.0, 2.0, 1.0]);
    for (bad, says) in [
        (
            Schedule::PiecewiseConstantDecay { boundaries: vec![10], values: vec![1.0] },
            "one value more than boundaries",
        ),
        (Schedule::PiecewiseConstantDecay { boundaries: vec![10, 5], values: vec![1.0; 3] }, "increasing order"),
        (Schedule::PiecewiseConstantDecay { boundaries: vec![], values: vec![1.0] }, "at least one boundary"),
        (
            Schedule::ExponentialDecay {
                initial_learning_rate: 0.1,
                decay_steps: 0.0,
                decay_rate: 0.5,
                staircase: false,
            },
            "decay_steps 0 must be positive",
        ),
        (
            Schedule::CosineDecay {
                initial_learning_rate: f32::NAN,
                decay_steps: 10.0,
                alpha: 0.0,
                warmup_target: None,
                warmup_steps: 0.0,
            },
            "initial_learning_rate NaN is not finite",
        ),
    ] {
        let err = LearningRate::from(bad).check().unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
    }
}
