//! The benchmark's results: terminal table, JSON file, and side-by-side comparison.

use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gpu::Gpu;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KernelRow {
    pub kernel: String,
    pub shape: String,
    pub gpu_ms: f64,
    pub gflops: f64,
    pub gbps: f64,
    /// The f64 CPU twin's median time, where it was run.
    pub cpu_ms: Option<f64>,
    /// Largest |gpu − cpu| / max|cpu| of the check made before timing.
    pub max_error: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainingRow {
    pub model: String,
    pub batch: usize,
    pub samples: usize,
    /// The median of the timed epochs' samples/s.
    pub samples_per_second: f64,
    pub seconds_per_60k_epoch: f64,
    /// Samples/s of each timed epoch (after a warm-up epoch), of every run; empty in older
    /// reports.
    #[serde(default)]
    pub epoch_samples_per_second: Vec<f64>,
    /// Fresh models trained, one after the other (`--repeat`); 1 in older reports.
    #[serde(default = "one_run")]
    pub runs: usize,
    pub cpu_samples_per_second: f64,
    /// One step's dispatches timed alone (entry point, ms), in step order, and the whole step
    /// recorded back to back (ms); empty in reports from before profiles.
    #[serde(default)]
    pub step_kernels_ms: Vec<(String, f64)>,
    #[serde(default)]
    pub step_ms: f64,
    /// A reference trained beside this model, alternating run by run (`--reference`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceRuns>,
}

/// A reference command's samples/s and wgtrain's (the median of each run's timed epochs), run
/// by run, alternating: reference, then wgtrain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReferenceRuns {
    pub command: String,
    pub samples_per_second: Vec<f64>,
    pub wgtrain_samples_per_second: Vec<f64>,
}

impl ReferenceRuns {
    /// wgtrain / reference, pair by pair.
    pub fn ratios(&self) -> Vec<f64> {
        self.wgtrain_samples_per_second.iter().zip(&self.samples_per_second).map(|(w, r)| w / r).collect()
    }

    /// The median of the pairs' ratios (the mean of the middle two for an even count).
    pub fn median_ratio(&self) -> f64 {
        let mut r = self.ratios();
        r.sort_by(f64::total_cmp);
        let n = r.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 { r[n / 2] } else { (r[n / 2 - 1] + r[n / 2]) / 2.0 }
    }

    pub fn line(&self) -> String {
        let list = |v: &[f64], digits: usize| v.iter().map(|x| format!("{x:.digits$}")).collect::<Vec<_>>().join(", ");
        format!(
            "beside `{}`, alternating: reference {} samples/s, wgtrain {}; wgtrain / reference {} (median {:.2})",
            self.command,
            list(&self.samples_per_second, 0),
            list(&self.wgtrain_samples_per_second, 0),
            list(&self.ratios(), 2),
            self.median_ratio()
        )
    }
}

impl TrainingRow {
    /// The step profile: the whole step, then each dispatch with its share.
    pub fn profile(&self) -> String {
        let sum: f64 = self.step_kernels_ms.iter().map(|k| k.1).sum();
        let mut out = format!(
            "{} step: {:.3} ms for {} dispatches in a run of steps (each alone: {:.3} ms in all)\n",
            self.model,
            self.step_ms,
            self.step_kernels_ms.len(),
            sum
        );
        for (entry, ms) in &self.step_kernels_ms {
            out += &format!("    {entry:<36} {ms:>8.3} ms {:>5.1} %\n", 100.0 * ms / sum.max(1e-12));
        }
        out
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AdapterInfo {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub timestamp_query: bool,
    /// A CPU adapter's worker pool (llvmpipe's `LP_NUM_THREADS`), which moves its timings.
    #[serde(default)]
    pub worker_threads: Option<String>,
}

impl AdapterInfo {
    pub fn of(gpu: &Gpu) -> AdapterInfo {
        let info = &gpu.info;
        AdapterInfo {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            max_storage_buffer_binding_size: gpu.limits.max_storage_buffer_binding_size,
            max_compute_workgroup_storage_size: gpu.limits.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: gpu.limits.max_compute_invocations_per_workgroup,
            timestamp_query: gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY),
            worker_threads: crate::gpu::adapter::worker_threads(info),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub wgtrain_version: String,
    pub adapter: AdapterInfo,
    pub timing: String,
    pub kernels: Vec<KernelRow>,
    pub training: Vec<TrainingRow>,
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

impl KernelRow {
    pub fn line(&self) -> String {
        let ratio = self.cpu_ms.map_or("-".into(), |c| format!("{:.1}×", c / self.gpu_ms));
        format!(
            "{:<36} {:<26} {:>10} ms {:>8.2} GFLOP/s {:>7.2} GB/s  cpu {:>10} ms  gpu/cpu speed {:>8}  err {:.1e}",
            self.kernel,
            self.shape,
            format!("{:.3}", self.gpu_ms),
            self.gflops,
            self.gbps,
            ms(self.cpu_ms),
            ratio,
            self.max_error
        )
    }
}

impl TrainingRow {
    pub fn line(&self) -> String {
        format!(
            "{:<8} batch {:>3} on {:>5} samples: {:>9.0} samples/s{} ({:.2} s per 60k-sample epoch); cpu twin {:.0} samples/s ({:.0}×)",
            self.model,
            self.batch,
            self.samples,
            self.samples_per_second,
            self.spread(),
            self.seconds_per_60k_epoch,
            self.cpu_samples_per_second,
            self.samples_per_second / self.cpu_samples_per_second
        )
    }

    /// " (median of N epochs[ in R runs], min–max)", or nothing for a single epoch.
    pub fn spread(&self) -> String {
        let e = &self.epoch_samples_per_second;
        if e.len() < 2 {
            return String::new();
        }
        let (min, max) = e.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let runs = if self.runs > 1 { format!(" in {} runs", self.runs) } else { String::new() };
        format!(" (median of {} epochs{runs}, {min:.0}–{max:.0})", e.len())
    }
}

fn one_run() -> usize {
    1
}

impl Report {
    pub fn new(gpu: &Gpu, timing: &str, kernels: Vec<KernelRow>, training: Vec<TrainingRow>) -> Report {
        Report {
            wgtrain_version: env!("CARGO_PKG_VERSION").into(),
            adapter: AdapterInfo::of(gpu),
            timing: timing.into(),
            kernels,
            training,
        }
    }

    /// `<backend>-<adapter name>.json`, with the name reduced to [a-z0-9-].
    pub fn file_name(&self) -> String {
        let name: String =
            self.adapter.name.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let name = name.split('-').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("-");
        format!("{}-{name}.json", self.adapter.backend.to_lowercase())
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "\n{} ({}, {}, driver {} {}), wgtrain {}, timing: {}{}\n",
            self.adapter.name,
            self.adapter.backend,
            self.adapter.device_type,
            self.adapter.driver,
            self.adapter.driver_info,
            self.wgtrain_version,
            self.timing,
            self.adapter.worker_threads.as_ref().map_or(String::new(), |w| format!(", worker threads: {w}"))
        );
        for r in &self.kernels {
            let _ = writeln!(out, "{}", r.line());
        }
        for r in &self.training {
            let _ = writeln!(out, "{}", r.line());
            if let Some(reference) = &r.reference {
                let _ = writeln!(out, "  {}", reference.line());
            }
        }
        out
    }

    /// The report as its JSON file holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self.to_json();
        std::fs::write(path, json).map_err(|source| Error::Io { path: path.to_path_buf(), source })
    }

    pub fn load(path: &Path) -> Result<Report> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        serde_json::from_str(&text).map_err(|e| Error::Data {
            path: path.to_path_buf(),
            message: format!("not a wgtrain benchmark report: {e}"),
        })
    }
}

/// Two reports side by side: rows matched by kernel and shape, and b's speed relative to a's.
#[cfg(not(target_arch = "wasm32"))]
pub fn compare(a: &Report, b: &Report) -> String {
    let mut out = format!(
        "A: {} ({}, {})\nB: {} ({}, {})\n{:<28} {:<26} {:>12} {:>12} {:>8}\n",
        a.adapter.name,
        a.adapter.backend,
        a.timing,
        b.adapter.name,
        b.adapter.backend,
        b.timing,
        "kernel",
        "shape",
        "A ms",
        "B ms",
        "A/B"
    );
    for ra in &a.kernels {
        if let Some(rb) = b.kernels.iter().find(|r| r.kernel == ra.kernel && r.shape == ra.shape) {
            let _ = writeln!(
                out,
                "{:<28} {:<26} {:>12.3} {:>12.3} {:>7.2}×",
                ra.kernel,
                ra.shape,
                ra.gpu_ms,
                rb.gpu_ms,
                ra.gpu_ms / rb.gpu_ms
            );
        }
    }
    for ra in &a.training {
        if let Some(rb) = b.training.iter().find(|r| r.model == ra.model) {
            let _ = writeln!(
                out,
                "{:<28} {:<26} {:>12.0} {:>12.0} {:>7.2}×  (samples/s)",
                format!("training {}", ra.model),
                format!("batch {}", ra.batch),
                ra.samples_per_second,
                rb.samples_per_second,
                rb.samples_per_second / ra.samples_per_second
            );
        }
    }
    out
}
