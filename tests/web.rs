//! In a real browser (headless Chromium through wasm-bindgen-test-runner and chromedriver,
//! `cargo xtask web test`): every kernel against its CPU twin on the browser's WebGPU adapter,
//! compiled by its WGSL compiler (Tint), and a short training run whose loss falls.
#![cfg(target_arch = "wasm32")]

use std::path::Path;
use std::sync::Arc;

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use wgtrain::Gpu;
use wgtrain::data::idx;
use wgtrain::nn::Model;
use wgtrain::presets;
use wgtrain::train::{FitOptions, Validation};

wasm_bindgen_test_configure!(run_in_browser);

/// The browser's adapter; finding none is a failure, never a skip.
async fn browser_gpu() -> Arc<Gpu> {
    let gpu = Gpu::browser().await.unwrap_or_else(|e| panic!("no WebGPU adapter in this browser: {e}"));
    wgtrain::console::line(&format!("adapter exercised: {}", gpu.describe()));
    Arc::new(gpu)
}

#[wasm_bindgen_test]
async fn every_kernel_matches_its_cpu_twin_in_the_browser() {
    let gpu = browser_gpu().await;
    let report = wgtrain::check::run_all_async(&gpu, false, |o| {
        wgtrain::console::line(&format!("kernel {} cases {} max error {:.2e}", o.name(), o.cases, o.max_error));
    })
    .await;
    let failed: Vec<String> =
        report.checks.iter().filter_map(|o| o.failure.as_ref().map(|f| format!("{}: {f}", o.name()))).collect();
    assert!(failed.is_empty(), "{} of {} checks failed:\n{}", failed.len(), report.checks.len(), failed.join("\n"));
    assert!(report.checks.len() >= 40, "only {} checks ran", report.checks.len());
}

#[wasm_bindgen_test]
async fn the_seed_cnn_learns_the_bundled_images_in_the_browser() {
    let gpu = browser_gpu().await;
    let images = include_bytes!("../assets/fashion-mnist/train-images-idx3-ubyte.gz").to_vec();
    let labels = include_bytes!("../assets/fashion-mnist/train-labels-idx1-ubyte.gz").to_vec();
    let (i, l) = (Path::new("train-images-idx3-ubyte.gz"), Path::new("train-labels-idx1-ubyte.gz"));
    let data = idx::load_bytes((i, images), (l, labels), 10).unwrap().take(1024);
    let preset = presets::cnn([28, 28, 1]);
    let mut model = Model::new(gpu, preset.model, preset.compile).unwrap();
    let opts = FitOptions {
        batch_size: preset.batch_size,
        epochs: 2,
        validation: Validation::Split(0.25),
        verbose: true,
        ..FitOptions::default()
    };
    let mut updates = Vec::new();
    let history = model.fit_async(&data, &opts, &mut |p| updates.push(*p), &mut |_, _| Ok(())).await.unwrap();
    let [first, second] = &history.epochs[..] else { panic!("{} epochs logged", history.epochs.len()) };
    assert!(second.loss < first.loss, "loss went from {} to {}", first.loss, second.loss);
    let val = second.val.expect("validation metrics");
    assert!(val.accuracy > 0.5, "validation accuracy {} after two epochs", val.accuracy);
    // Progress reaches every epoch's last step, in order.
    for epoch in 1..=2 {
        let steps: Vec<usize> = updates.iter().filter(|p| p.epoch == epoch).map(|p| p.step).collect();
        assert!(steps.windows(2).all(|w| w[0] < w[1]) && steps.last() == Some(&24), "epoch {epoch}: steps {steps:?}");
    }
    let probabilities = model.predict_async(&data.take(3), 3).await.unwrap();
    assert_eq!(probabilities.len(), 30);
    for row in probabilities.chunks(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "softmax row sums to {}", row.iter().sum::<f32>());
    }
}
