//! `wgtrain check`: every check on every adapter present (or the one named), a table per
//! adapter, an optional JSON report, and an error naming each failure.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::{Gpu, adapter};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Check only this adapter (a backend such as vulkan or gl, or part of the adapter's name).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Every other case of each check: a faster pass over every kernel and variant.
    #[arg(long)]
    pub quick: bool,
    /// Also write the reports (adapter, driver, limits, every check's outcome) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run_command(args: &CheckArgs) -> Result<()> {
    if let Some(path) = &args.json {
        crate::app::ensure_writable_file(path)?;
    }
    let adapters = match &args.adapter {
        Some(name) => vec![adapter::select(Some(name))?],
        None => {
            let all = adapter::all();
            if all.is_empty() {
                // The error that names the backends tried and how to get a software adapter.
                adapter::select(None)?;
            }
            all
        }
    };
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for a in adapters {
        let gpu = match Gpu::open(a) {
            Ok(gpu) => Arc::new(gpu),
            Err(e) => {
                println!("{e}\n");
                failed.push(e.to_string());
                continue;
            }
        };
        println!("{}", super::header(&crate::bench::AdapterInfo::of(&gpu)));
        let report = super::run_all(&gpu, args.quick, |o| println!("{}", super::row(o)));
        println!("{}\n", super::summary(&report));
        failed.extend(report.failures().map(|o| format!("{} on {}", o.name(), report.adapter.name)));
        reports.push(report);
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&reports).expect("reports serialise");
        std::fs::write(path, text + "\n").map_err(|source| Error::Io { path: path.clone(), source })?;
        println!("report written to {}", path.display());
    }
    if failed.is_empty() { Ok(()) } else { Err(Error::Invalid(format!("check failed: {}", failed.join(", ")))) }
}
