use wgtrain::ops::optim::LearningRate;
use wgtrain::ops::schedule::Schedule;

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
