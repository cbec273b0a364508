use wgtrain::ops::dropout::cpu;

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
