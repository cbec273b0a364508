//! Shared test harness: every adapter present, random data, and the GPU-vs-CPU comparison.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, OnceLock};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use wgtrain::Gpu;
use wgtrain::gpu::{Tensor, adapter};

/// Every adapter on the machine, opened once per test binary. Finding none fails the run;
/// `WGTRAIN_REQUIRE_BACKENDS=vulkan,gl` (set by CI) also fails it when a named backend is missing.
pub fn gpus() -> &'static [Arc<Gpu>] {
    static GPUS: OnceLock<Vec<Arc<Gpu>>> = OnceLock::new();
    GPUS.get_or_init(|| {
        let adapters = adapter::all();
        assert!(
            !adapters.is_empty(),
            "no GPU adapter found: the tests need one (on Debian: apt-get install mesa-vulkan-drivers)"
        );
        let gpus: Vec<Arc<Gpu>> =
            adapters.into_iter().map(|a| Arc::new(Gpu::open(a).unwrap_or_else(|e| panic!("{e}")))).collect();
        if let Ok(required) = std::env::var("WGTRAIN_REQUIRE_BACKENDS") {
            for backend in required.split(',').filter(|b| !b.is_empty()) {
                assert!(
                    gpus.iter().any(|g| adapter::matches(&g.info, backend)),
                    "WGTRAIN_REQUIRE_BACKENDS names '{backend}' but no such adapter is present"
                );
            }
        }
        for g in &gpus {
            say(&format!("adapter exercised: {}", g.describe()));
        }
        gpus
    })
}

/// Writes a line past the test harness's output capture, so CI logs always show it.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A short adapter name for reports: backend and name.
pub fn short(gpu: &Gpu) -> String {
    format!("{:?}/{}", gpu.info.backend, gpu.info.name)
}

/// The first `n` samples of the bundled Fashion-MNIST subset.
pub fn fashion(n: usize) -> (wgtrain::data::Dataset, wgtrain::data::Dataset) {
    let data = wgtrain::data::find::idx_data(Some(std::path::Path::new(wgtrain::data::find::BUNDLED))).unwrap();
    (data.train.take(n), data.test.take(n))
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn uniform(rng: &mut StdRng, len: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(lo..hi)).collect()
}

pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// An output tensor filled with NaN, so an element the kernel never writes fails the check.
pub fn poisoned(gpu: &Gpu, len: usize) -> Tensor {
    gpu.upload("poisoned", &vec![f32::NAN; len]).unwrap()
}

pub fn run(gpu: &Gpu, dispatch: wgtrain::Result<wgtrain::gpu::Dispatch>) {
    gpu.run(&[&dispatch.unwrap()]).unwrap();
}

pub fn read(gpu: &Gpu, t: &Tensor) -> Vec<f32> {
    gpu.read(t).unwrap()
}

/// Checks `got` against the f64 reference with `wgtrain::check`'s tolerances; returns the
/// normwise relative error ‖got − want‖ / ‖want‖.
pub fn compare(what: &str, got: &[f32], want: &[f64]) -> f64 {
    wgtrain::check::normwise_error(what, got, want).unwrap_or_else(|f| panic!("{}", f.0))
}

/// The largest normwise error of one kernel on one adapter, printed once its test is done.
pub struct Worst {
    kernel: &'static str,
    adapter: String,
    cases: usize,
    err: f64,
}

impl Worst {
    pub fn new(kernel: &'static str, gpu: &Gpu) -> Worst {
        Worst { kernel, adapter: short(gpu), cases: 0, err: 0.0 }
    }

    pub fn add(&mut self, err: f64) {
        self.cases += 1;
        self.err = self.err.max(err);
    }
}

impl Drop for Worst {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            say(&format!(
                "kernel {:<28} {:<40} cases {:>3}  max normwise error {:.2e}",
                self.kernel, self.adapter, self.cases, self.err
            ));
        }
    }
}
