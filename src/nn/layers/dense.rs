//! Dense: y = act(x · kernel + bias), kernel [in, units], as Keras's `Dense`.

use super::{
    CpuCtx, GpuCtx, Init, LayerKind, ParamSpec, Recorded, cpu_activate, cpu_deactivate, cpu_regularize, record_product,
    record_regularizer,
};
use crate::error::{Error, Result};
use crate::gpu::Tensor;
use crate::nn::layer::{Act, Layer};
use crate::ops::Activation;
use crate::ops::matmul::{self, MatmulShape};
use crate::ops::regularizer::Regularizer;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    pub units: usize,
    pub activation: Act,
    /// Whether the layer adds a bias (Keras's `use_bias`; true unless said).
    #[serde(default = "super::yes")]
    pub use_bias: bool,
    /// A penalty on the kernel, added to the loss and its gradient (Keras's `kernel_regularizer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
}

impl LayerKind for Dense {
    fn kind(&self) -> &'static str {
        "Dense"
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        self.kernel_regularizer.map_or(Ok(()), |r| r.check())?;
        match input {
            [_] if self.units > 0 => Ok(vec![self.units]),
            [_] => Err(Error::Invalid("Dense needs at least one unit".into())),
            _ => Err(Error::Invalid(format!("Dense needs a flat (add Flatten first) input, got shape {input:?}"))),
        }
    }

    fn params(&self, input: &[usize]) -> Vec<ParamSpec> {
        let (fan_in, fan_out) = (input[0], self.units);
        let init = Init::GlorotUniform { fan_in, fan_out };
        ParamSpec::kernel_and_bias(vec![fan_in, fan_out], init, self.use_bias.then_some(self.units))
    }

    fn activation(&self) -> Option<Act> {
        Some(self.activation)
    }

    fn without_activation(&self) -> Layer {
        Layer::Dense(Dense { activation: Act::Linear, ..*self })
    }

    fn absorbing(&self, act: Act) -> Option<Layer> {
        (self.activation == Act::Linear && act.elementwise().is_some())
            .then_some(Layer::Dense(Dense { activation: act, ..*self }))
    }

    fn is_product(&self) -> bool {
        true
    }

    fn takes_pre_activation_grad(&self) -> bool {
        true
    }

    fn applies_input_activation(&self) -> bool {
        true
    }

    fn record(&self, ctx: &GpuCtx) -> Result<Recorded> {
        let (gpu, units) = (ctx.gpu, self.units);
        let (kernel, bias) = (&ctx.params[0], ctx.params.get(1).map(|b| &b.value));
        let k_in = ctx.input_shape[0];
        let shape = MatmulShape::new(ctx.batch, units, k_in);
        let mut rec = Recorded::default();
        let z = record_product(ctx, self.activation, units, &mut rec, |a, out| {
            matmul::matmul(gpu, shape, ctx.x_operand(), &kernel.value, bias, a, out)
        })?;
        let dz_owned;
        let dz: &Tensor = if self.activation == Act::Linear || ctx.dy_is_pre_activation {
            ctx.dy()
        } else {
            dz_owned = ctx.pre_activation_grad(self.activation, units, z.as_deref(), &mut rec.backward)?;
            &dz_owned
        };
        let dw_shape = MatmulShape { m: k_in, n: units, k: ctx.batch, trans_a: true, trans_b: false };
        rec.backward.push(matmul::weight_grad(
            gpu,
            dw_shape,
            ctx.x_operand(),
            dz,
            &kernel.grad,
            ctx.params.get(1).map(|b| &b.grad),
        )?);
        record_regularizer(ctx, self.kernel_regularizer, kernel, &mut rec)?;
        if let Some(dx) = ctx.dx {
            let dx_shape = MatmulShape { m: ctx.batch, n: k_in, k: units, trans_a: false, trans_b: true };
            let input_act = ctx.input_act.map(|a| (a, ctx.x));
            rec.backward.push(matmul::input_grad(gpu, dx_shape, dz, &kernel.value, input_act, dx)?);
        }
        Ok(rec)
    }

    fn cpu_forward(&self, ctx: &CpuCtx, x: &[f64], _training: bool) -> Vec<f64> {
        cpu_activate(self.activation, self.cpu_product(ctx, x), self.units)
    }

    fn cpu_backward(&self, ctx: &CpuCtx, x: &[f64], y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        let (k, batch) = (ctx.input_shape[0], ctx.batch);
        let dz = cpu_deactivate(self.activation, y, &dy, self.units, || self.cpu_product(ctx, x));
        let dw = MatmulShape { m: k, n: self.units, k: batch, trans_a: true, trans_b: false };
        let dx = MatmulShape { m: batch, n: k, k: self.units, trans_a: false, trans_b: true };
        let mut grads = vec![matmul::cpu::matmul(dw, x, &dz, None, Activation::Linear)];
        cpu_regularize(self.kernel_regularizer, &ctx.params[0], &mut grads[0]);
        if self.use_bias {
            grads.push(matmul::cpu::bias_grad(batch, self.units, &dz));
        }
        (matmul::cpu::matmul(dx, &dz, &ctx.params[0], None, Activation::Linear), grads)
    }
}

impl Dense {
    /// x · kernel + bias, before the activation.
    fn cpu_product(&self, ctx: &CpuCtx, x: &[f64]) -> Vec<f64> {
        let shape = MatmulShape::new(ctx.batch, self.units, ctx.input_shape[0]);
        matmul::cpu::matmul(shape, x, &ctx.params[0], ctx.params.get(1).map(Vec::as_slice), Activation::Linear)
    }
}
