//! Flatten: a view of the input as one row per sample, as Keras's `Flatten`.

use super::{CpuCtx, GpuCtx, LayerKind, Recorded};
use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flatten;

impl LayerKind for Flatten {
    fn kind(&self) -> &'static str {
        "Flatten"
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(vec![input.iter().product()])
    }

    fn is_view(&self) -> bool {
        true
    }

    fn record(&self, _ctx: &GpuCtx) -> Result<Recorded> {
        Ok(Recorded::default())
    }

    fn cpu_forward(&self, _ctx: &CpuCtx, x: &[f64], _training: bool) -> Vec<f64> {
        x.to_vec()
    }

    fn cpu_backward(&self, _ctx: &CpuCtx, _x: &[f64], _y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        (dy, Vec::new())
    }
}
