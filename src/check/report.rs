//! The check's results for one adapter: the table printed per adapter and the JSON report a
//! bug report attaches.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::Outcome;
use crate::bench::AdapterInfo;
use crate::gpu::Gpu;

/// The device limits the kernels are sized by.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_uniform_buffer_binding_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_size: [u32; 3],
    pub max_compute_workgroups_per_dimension: u32,
}

impl Limits {
    pub fn of(gpu: &Gpu) -> Limits {
        let l = &gpu.limits;
        Limits {
            max_buffer_size: l.max_buffer_size,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_uniform_buffer_binding_size: l.max_uniform_buffer_binding_size,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size: [
                l.max_compute_workgroup_size_x,
                l.max_compute_workgroup_size_y,
                l.max_compute_workgroup_size_z,
            ],
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        }
    }
}

/// Every check's outcome on one adapter.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AdapterReport {
    pub wgtrain_version: String,
    pub adapter: AdapterInfo,
    pub limits: Limits,
    /// Every other case only (`--quick`).
    pub quick: bool,
    pub checks: Vec<Outcome>,
}

impl AdapterReport {
    pub fn new(gpu: &Gpu, quick: bool, checks: Vec<Outcome>) -> AdapterReport {
        AdapterReport {
            wgtrain_version: env!("CARGO_PKG_VERSION").into(),
            adapter: AdapterInfo::of(gpu),
            limits: Limits::of(gpu),
            quick,
            checks,
        }
    }

    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.checks.iter().filter(|o| !o.passed())
    }

    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }
}

/// The adapter's line above its table, and the table's column names.
pub fn header(a: &AdapterInfo) -> String {
    format!(
        "{} ({}, {}, driver {} {})\n{:<24} {:<24} {:>6} {:>12}  result",
        a.name, a.backend, a.device_type, a.driver, a.driver_info, "kernel", "variant", "cases", "max error"
    )
}

/// One row: kernel, variant, cases, largest normwise error, pass or FAIL (or n/a: the device
/// cannot run the variant).
pub fn row(o: &Outcome) -> String {
    let variant = if o.variant.is_empty() { "-" } else { &o.variant };
    if o.not_here.is_some() {
        return format!("{:<24} {:<24} {:>6} {:>12}  n/a", o.kernel, variant, "-", "-");
    }
    let result = if o.passed() { "pass" } else { "FAIL" };
    format!("{:<24} {:<24} {:>6} {:>12.2e}  {result}", o.kernel, variant, o.cases, o.max_error)
}

/// How many passed (and which the device cannot run, and why), and each failure's first failing
/// case.
pub fn summary(report: &AdapterReport) -> String {
    let failed: Vec<&Outcome> = report.failures().collect();
    if failed.is_empty() {
        // The checks the device cannot run, by reason, in order.
        let mut not_here: Vec<(&str, Vec<String>)> = Vec::new();
        for o in &report.checks {
            let Some(why) = o.not_here.as_deref() else { continue };
            match not_here.iter_mut().find(|(w, _)| *w == why) {
                Some((_, names)) => names.push(o.name()),
                None => not_here.push((why, vec![o.name()])),
            }
        }
        let ran = report.checks.len() - not_here.iter().map(|(_, names)| names.len()).sum::<usize>();
        let mut out = format!("all {ran} checks passed");
        for (why, names) in not_here {
            let _ = write!(out, "; not on this device, {why}: {}", names.join(", "));
        }
        return out;
    }
    let mut out = format!("{} of {} checks FAILED:", failed.len(), report.checks.len());
    for o in failed {
        let _ = write!(out, "\n  {}: {}", o.name(), o.failure.as_deref().unwrap_or_default());
    }
    out
}

/// The whole table of one adapter.
pub fn render_table(report: &AdapterReport) -> String {
    let rows: Vec<String> = report.checks.iter().map(row).collect();
    format!("{}\n{}\n{}\n", header(&report.adapter), rows.join("\n"), summary(report))
}
