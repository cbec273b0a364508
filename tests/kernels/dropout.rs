use wgtrain::ops::dropout::{self, cpu};

use crate::common::*;

#[test]
fn dropout_forward_and_backward_match_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("dropout", gpu);
        let mut rng = rng(60);
        for (rate, seed, step, len) in [(0.0, 1, 0, 1), (0.5, 7, 3, 1000), (0.2, 42, 12345, 100_003), (0.9, 0, 1, 4097)]
        {
            let x = uniform(&mut rng, len, -1.0, 1.0);
            let dy = uniform(&mut rng, len, -1.0, 1.0);
            let tstep = gpu.upload("step", &[step]).unwrap();
            let (tx, tdy) = (gpu.upload("x", &x).unwrap(), gpu.upload("dy", &dy).unwrap());
            let (y, dx) = (poisoned(gpu, len), poisoned(gpu, len));
            let fwd = dropout::forward(gpu, rate, seed, &tx, &y, &tstep).unwrap();
            // As training runs them: the loss counts the step between forward and backward.
            let counted = gpu.upload("step", &[step + 1]).unwrap();
            let bwd = dropout::backward(gpu, rate, seed, &tdy, &dx, &counted).unwrap();
            gpu.run(&[&fwd, &bwd]).unwrap();
            let what = format!("dropout rate {rate} seed {seed} step {step} len {len}");
            worst.add(compare(&format!("{what} forward"), &read(gpu, &y), &cpu::forward(rate, seed, step, &f64s(&x))));
            worst.add(compare(
                &format!("{what} backward"),
                &read(gpu, &dx),
                &cpu::backward(rate, seed, step, &f64s(&dy)),
            ));
        }
    }
}

#[test]
fn dropout_keeps_the_expected_fraction_and_changes_mask_with_step() {
    let len = 1_000_000;
    for rate in [0.1f32, 0.5, 0.8] {
        let kept = (0..len).filter(|&i| cpu::keep_scale(rate, 3, 0, i) != 0.0).count();
        let fraction = kept as f64 / len as f64;
        assert!((fraction - (1.0 - f64::from(rate))).abs() < 0.005, "rate {rate}: kept {fraction}");
        let same = (0..len)
            .filter(|&i| (cpu::keep_scale(rate, 3, 0, i) != 0.0) == (cpu::keep_scale(rate, 3, 1, i) != 0.0))
            .count();
        let expected = f64::from(rate * rate + (1.0 - rate) * (1.0 - rate));
        assert!(
            (same as f64 / len as f64 - expected).abs() < 0.005,
            "rate {rate}: masks of steps 0 and 1 are not independent"
        );
    }
}
