//! Activations as layers: Keras's `Activation` (any activation by name; linear is a view), and
//! the parametrised `LeakyReLU` and `ELU` layers.

use super::{CpuCtx, GpuCtx, LayerKind, Recorded};
use crate::error::{Error, Result};
use crate::nn::layer::Act;
use crate::ops::Activation;
use crate::ops::activation::{self, Elementwise};

/// Keras's `LeakyReLU` layer: x below zero scaled by `negative_slope` (0.3 by default; the
/// `leaky_relu` activation's is 0.2).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakyReLU {
    #[serde(default = "LeakyReLU::default_slope")]
    pub negative_slope: f32,
}

impl LeakyReLU {
    fn default_slope() -> f32 {
        0.3
    }
}

impl Default for LeakyReLU {
    fn default() -> LeakyReLU {
        LeakyReLU { negative_slope: LeakyReLU::default_slope() }
    }
}

/// Keras's `ELU` layer: alpha · (exp(x) - 1) below zero (alpha 1 by default).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ELU {
    #[serde(default = "ELU::default_alpha")]
    pub alpha: f32,
}

impl ELU {
    fn default_alpha() -> f32 {
        1.0
    }
}

impl Default for ELU {
    fn default() -> ELU {
        ELU { alpha: ELU::default_alpha() }
    }
}

/// Refuses a parameter that is not finite and non-negative: wgtrain differentiates these
/// activations through their output, which a negative one would not determine.
fn check_parameter(kind: &str, name: &str, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::Invalid(format!("{kind} {name} must be finite and non-negative, got {value}")))
    }
}

/// y = f(x) and its backward pass, elementwise (`None`: softmax over the last axis).
fn record(ctx: &GpuCtx, f: Option<Elementwise>) -> Result<Recorded> {
    let mut rec = Recorded::default();
    let (gpu, cols) = (ctx.gpu, *ctx.input_shape.last().unwrap());
    rec.forward(|| match f {
        Some(f) => activation::forward(gpu, f, ctx.x, ctx.y),
        None => activation::softmax_forward(gpu, cols, ctx.x, ctx.y),
    })?;
    if let Some(dx) = ctx.dx {
        rec.backward.push(match f {
            Some(f) => activation::backward(gpu, f, f.act.saved(ctx.x, ctx.y), ctx.dy(), dx)?,
            None => activation::softmax_backward(gpu, cols, ctx.y, ctx.dy(), dx)?,
        });
    }
    Ok(rec)
}

fn cpu_forward(f: Option<Elementwise>, x: &[f64], cols: usize) -> Vec<f64> {
    match f {
        Some(f) => activation::cpu::forward(f, x),
        None => activation::cpu::softmax_forward(x, cols),
    }
}

fn cpu_backward(f: Option<Elementwise>, x: &[f64], y: &[f64], dy: &[f64], cols: usize) -> Vec<f64> {
    match f {
        Some(f) => activation::cpu::backward(f, f.act.saved(x, y), dy),
        None => activation::cpu::softmax_backward(y, dy, cols),
    }
}

impl LayerKind for Act {
    fn kind(&self) -> &'static str {
        "Activation"
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if *self == Act::Softmax && input.len() != 1 {
            return Err(Error::Invalid(format!("Activation needs a flat input, got shape {input:?}")));
        }
        Ok(input.to_vec())
    }

    fn activation(&self) -> Option<Act> {
        Some(*self)
    }

    fn is_view(&self) -> bool {
        *self == Act::Linear
    }

    fn record(&self, ctx: &GpuCtx) -> Result<Recorded> {
        if self.is_view() {
            return Ok(Recorded::default());
        }
        record(ctx, self.elementwise().map(Elementwise::from))
    }

    fn cpu_forward(&self, ctx: &CpuCtx, x: &[f64], _training: bool) -> Vec<f64> {
        cpu_forward(self.elementwise().map(Elementwise::from), x, *ctx.input_shape.last().unwrap())
    }

    fn cpu_backward(&self, ctx: &CpuCtx, x: &[f64], y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        if self.is_view() {
            return (dy, Vec::new());
        }
        let f = self.elementwise().map(Elementwise::from);
        (cpu_backward(f, x, y, &dy, *ctx.input_shape.last().unwrap()), Vec::new())
    }
}

/// A layer that is one elementwise activation with a parameter: what LeakyReLU and ELU share.
trait Parametrised {
    const KIND: &'static str;
    /// Keras's name of the parameter.
    const PARAMETER: &'static str;
    fn elementwise(&self) -> Elementwise;
}

impl Parametrised for LeakyReLU {
    const KIND: &'static str = "LeakyReLU";
    const PARAMETER: &'static str = "negative_slope";
    fn elementwise(&self) -> Elementwise {
        Elementwise { act: Activation::LeakyRelu, alpha: self.negative_slope }
    }
}

impl Parametrised for ELU {
    const KIND: &'static str = "ELU";
    const PARAMETER: &'static str = "alpha";
    fn elementwise(&self) -> Elementwise {
        Elementwise { act: Activation::Elu, alpha: self.alpha }
    }
}

impl<T: Parametrised> LayerKind for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        check_parameter(T::KIND, T::PARAMETER, self.elementwise().alpha)?;
        Ok(input.to_vec())
    }

    fn record(&self, ctx: &GpuCtx) -> Result<Recorded> {
        record(ctx, Some(self.elementwise()))
    }

    fn cpu_forward(&self, _ctx: &CpuCtx, x: &[f64], _training: bool) -> Vec<f64> {
        cpu_forward(Some(self.elementwise()), x, 1)
    }

    fn cpu_backward(&self, _ctx: &CpuCtx, x: &[f64], y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        (cpu_backward(Some(self.elementwise()), x, y, &dy, 1), Vec::new())
    }
}
