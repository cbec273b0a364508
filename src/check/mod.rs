//! Every kernel and variant against its CPU twin, and whole training steps against the CPU
//! reference, on one adapter: what `wgtrain check` runs and what `cargo test` asserts. The cases
//! and tolerances live here only, so the two cannot drift apart.

mod batch_norm;
#[cfg(not(target_arch = "wasm32"))]
mod command;
mod conv2d;
mod data;
mod elementwise;
mod loss;
mod matmul;
mod optim;
mod parity;
mod pool;
mod report;
mod schedule;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::gpu::{Dispatch, Gpu, Tensor};

#[cfg(not(target_arch = "wasm32"))]
pub use command::{CheckArgs, run_command};
#[cfg(not(target_arch = "wasm32"))]
pub use parity::step_parity;
pub use parity::{batch_f64, step_parity_async};
pub use report::{AdapterReport, Limits, header, render_table, row, summary};

/// Relative and absolute (of the largest reference magnitude) elementwise tolerance.
pub const RELATIVE_TOLERANCE: f64 = 1e-4;
pub const ABSOLUTE_TOLERANCE: f64 = 1e-5;
/// Largest normwise error of a parameter tensor after whole training steps.
pub const PARITY_TOLERANCE: f64 = 1e-4;

/// A check that did not pass: the case and what was wrong with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure(pub String);

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Failure {
        Failure(e.to_string())
    }
}

pub type CheckResult = Result<(), Failure>;

/// A check's cases as they run: awaited, since a browser can only wait for the GPU that way.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = CheckResult> + 'a>>;
type CheckFn = for<'a, 'g> fn(&'a mut Checker<'g>) -> CheckFuture<'a>;

/// One row of the check: a kernel (or a model's training step) in one variant.
#[derive(Clone, Copy)]
pub struct Check {
    pub kernel: &'static str,
    pub variant: &'static str,
    run: CheckFn,
}

/// Every check, kernels first, then whole training steps.
pub fn all() -> Vec<Check> {
    [
        matmul::CHECKS,
        conv2d::CHECKS,
        pool::CHECKS,
        elementwise::CHECKS,
        loss::CHECKS,
        optim::CHECKS,
        batch_norm::CHECKS,
        data::CHECKS,
        schedule::CHECKS,
        parity::CHECKS,
    ]
    .concat()
}

/// The check named `kernel` / `variant`.
pub fn find(kernel: &str, variant: &str) -> Option<Check> {
    all().into_iter().find(|c| c.kernel == kernel && c.variant == variant)
}

impl Check {
    const fn new(kernel: &'static str, variant: &'static str, run: CheckFn) -> Check {
        Check { kernel, variant, run }
    }

    /// Runs every case (every other one when `quick`) on `gpu`; the first failing case ends it.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run(&self, gpu: &Arc<Gpu>, quick: bool) -> Outcome {
        pollster::block_on(self.run_async(gpu, quick))
    }

    /// `run`, awaited.
    pub async fn run_async(&self, gpu: &Arc<Gpu>, quick: bool) -> Outcome {
        let mut checker = Checker { gpu, quick, cases: 0, max_error: 0.0, not_here: None };
        let result = (self.run)(&mut checker).await.and_then(|()| Ok(gpu.check()?));
        Outcome {
            kernel: self.kernel.to_string(),
            variant: self.variant.to_string(),
            cases: checker.cases,
            max_error: checker.max_error,
            failure: result.err().map(|f| f.0),
            not_here: checker.not_here,
        }
    }
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub kernel: String,
    pub variant: String,
    /// Comparisons made (a case compares one or more outputs).
    pub cases: usize,
    /// The largest normwise error ‖got − want‖ / ‖want‖ over the comparisons.
    pub max_error: f64,
    /// The first failing comparison, if any.
    pub failure: Option<String>,
    /// Why the device cannot run the variant (it lacks a feature the variant needs), when it
    /// cannot: then no case ran, and the engine never chooses the variant there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_here: Option<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// `kernel/variant`, or the kernel alone when it has one variant.
    pub fn name(&self) -> String {
        if self.variant.is_empty() { self.kernel.clone() } else { format!("{}/{}", self.kernel, self.variant) }
    }
}

/// Why a device cannot run the kernels that share loads across subgroups (the engine never
/// chooses them there: `Tuning::subgroup_products`).
const SUBGROUPS_MISSING: &str = "its subgroups are not 8 invocations wide";

/// Runs the cases of one check: uploads, dispatches, and compares against the CPU twin.
pub struct Checker<'a> {
    pub gpu: &'a Arc<Gpu>,
    quick: bool,
    cases: usize,
    max_error: f64,
    not_here: Option<String>,
}

impl Checker<'_> {
    pub fn rng(&self, seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    /// The cases to run, numbered in the order run (settings that cycle with the number, an
    /// activation say, cycle in both modes): all of them, or when quick every other one and the
    /// last (the largest, in most lists).
    pub fn pick<'s, T>(&self, cases: &'s [T]) -> impl Iterator<Item = (usize, &'s T)> + use<'s, T> {
        let (quick, last) = (self.quick, cases.len().saturating_sub(1));
        cases.iter().enumerate().filter(move |(i, _)| !quick || i % 2 == 0 || *i == last).map(|(_, c)| c).enumerate()
    }

    pub fn quick(&self) -> bool {
        self.quick
    }

    /// Ends a check the device cannot run, saying why (`Outcome::not_here`).
    pub fn not_here(&mut self, why: &str) -> CheckResult {
        self.not_here = Some(why.to_string());
        Ok(())
    }

    pub fn upload(&self, label: &str, data: &[f32]) -> Result<Tensor, Failure> {
        Ok(self.gpu.upload(label, data)?)
    }

    /// An output tensor filled with NaN, so an element the kernel never writes fails the check.
    pub fn poisoned(&self, len: usize) -> Result<Tensor, Failure> {
        self.upload("poisoned", &vec![f32::NAN; len])
    }

    pub async fn run(&self, dispatch: crate::Result<Dispatch>) -> CheckResult {
        Ok(self.gpu.run_async(&[&dispatch?]).await?)
    }

    pub async fn run_all(&self, dispatches: &[Dispatch]) -> CheckResult {
        Ok(self.gpu.run_async(&dispatches.iter().collect::<Vec<_>>()).await?)
    }

    pub async fn read(&self, t: &Tensor) -> Result<Vec<f32>, Failure> {
        Ok(self.gpu.read_async(t).await?)
    }

    /// Compares `got` against the f64 reference elementwise: |got − want| ≤ 1e-4·|want| +
    /// 1e-5·max|want|, every element finite; records the normwise error ‖got − want‖ / ‖want‖.
    pub fn compare(&mut self, what: &str, got: &[f32], want: &[f64]) -> CheckResult {
        let err = normwise_error(what, got, want)?;
        self.record(err);
        Ok(())
    }

    /// Records a comparison made elsewhere (a whole step's normwise error).
    pub fn record(&mut self, err: f64) {
        self.cases += 1;
        self.max_error = self.max_error.max(err);
    }

    /// An exact property of the output (an index, a counter): fails with `what` when false.
    pub fn expect(&mut self, holds: bool, what: impl FnOnce() -> String) -> CheckResult {
        if !holds {
            return Err(Failure(what()));
        }
        self.record(0.0);
        Ok(())
    }
}

/// The normwise relative error of `got` against `want`, or the first element out of tolerance.
pub fn normwise_error(what: &str, got: &[f32], want: &[f64]) -> Result<f64, Failure> {
    if got.len() != want.len() {
        return Err(Failure(format!("{what}: {} elements, the reference has {}", got.len(), want.len())));
    }
    let max_ref = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let floor = ABSOLUTE_TOLERANCE * max_ref;
    let (mut diff2, mut ref2) = (0.0, 0.0);
    for (i, (&g, &r)) in got.iter().zip(want).enumerate() {
        if !g.is_finite() {
            return Err(Failure(format!("{what}: element {i} is {g}: not written or not finite (reference {r})")));
        }
        let err = (f64::from(g) - r).abs();
        let allowed = RELATIVE_TOLERANCE * r.abs() + floor;
        if err > allowed {
            return Err(Failure(format!(
                "{what}: element {i}: gpu {g} vs reference {r} (error {err:.3e}, allowed {allowed:.3e})"
            )));
        }
        diff2 += err * err;
        ref2 += r * r;
    }
    Ok(if ref2 == 0.0 { diff2.sqrt() } else { (diff2 / ref2).sqrt() })
}

pub fn uniform(rng: &mut StdRng, len: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(lo..hi)).collect()
}

pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Runs every check on `gpu`, calling `progress` after each.
#[cfg(not(target_arch = "wasm32"))]
pub fn run_all(gpu: &Arc<Gpu>, quick: bool, progress: impl FnMut(&Outcome)) -> AdapterReport {
    pollster::block_on(run_all_async(gpu, quick, progress))
}

/// `run_all`, awaited.
pub async fn run_all_async(gpu: &Arc<Gpu>, quick: bool, mut progress: impl FnMut(&Outcome)) -> AdapterReport {
    let mut outcomes = Vec::new();
    for c in all() {
        let outcome = c.run_async(gpu, quick).await;
        progress(&outcome);
        outcomes.push(outcome);
    }
    AdapterReport::new(gpu, quick, outcomes)
}
