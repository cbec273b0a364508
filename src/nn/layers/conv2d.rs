//! Conv2D: NHWC convolution, kernel [kh, kw, c_in, filters], as Keras's `Conv2D`.

use super::{
    CpuCtx, GpuCtx, Init, LayerKind, ParamSpec, Recorded, cpu_activate, cpu_deactivate, cpu_regularize, record_product,
    record_regularizer,
};
use crate::error::{Error, Result};
use crate::gpu::Tensor;
use crate::nn::layer::{Act, Layer};
use crate::ops::conv2d::{self, Conv2dShape};
use crate::ops::regularizer::Regularizer;
use crate::ops::{Activation, Padding, matmul};

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2D {
    pub filters: usize,
    pub kernel: (usize, usize),
    pub strides: (usize, usize),
    pub padding: Padding,
    pub activation: Act,
    /// Whether the layer adds a bias (Keras's `use_bias`; true unless said).
    #[serde(default = "super::yes")]
    pub use_bias: bool,
    /// A penalty on the kernel, added to the loss and its gradient (Keras's `kernel_regularizer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_regularizer: Option<Regularizer>,
}

impl Conv2D {
    /// The convolution this layer runs on a batch of `input`-shaped samples.
    pub fn conv_shape(&self, input: &[usize], batch: usize) -> Conv2dShape {
        Conv2dShape {
            n: batch,
            h: input[0],
            w: input[1],
            c_in: input[2],
            c_out: self.filters,
            kh: self.kernel.0,
            kw: self.kernel.1,
            stride_h: self.strides.0,
            stride_w: self.strides.1,
            padding: self.padding,
        }
    }
}

impl Conv2D {
    /// The convolution plus bias, before the activation.
    fn cpu_product(&self, ctx: &CpuCtx, x: &[f64]) -> Vec<f64> {
        let shape = self.conv_shape(ctx.input_shape, ctx.batch);
        conv2d::cpu::forward(&shape, x, &ctx.params[0], ctx.params.get(1).map(Vec::as_slice), Activation::Linear)
    }
}

impl LayerKind for Conv2D {
    fn kind(&self) -> &'static str {
        "Conv2D"
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        self.kernel_regularizer.map_or(Ok(()), |r| r.check())?;
        if input.len() != 3 {
            return Err(Error::Invalid(format!("Conv2D needs an [h, w, c] input, got shape {input:?}")));
        }
        let (k, s) = (self.kernel, self.strides);
        if self.filters == 0 || k.0 == 0 || k.1 == 0 || s.0 == 0 || s.1 == 0 {
            return Err(Error::Invalid(format!("Conv2D with zero filters, kernel or stride: {self:?}")));
        }
        if super::checked_len(&[k.0, k.1, input[2].max(self.filters)]).is_none()
            || super::checked_len(&[s.0, s.1]).is_none()
        {
            return Err(Error::Invalid(format!(
                "Conv2D kernel {k:?} × {} channels is too large",
                input[2].max(self.filters)
            )));
        }
        if self.activation == Act::Softmax {
            return Err(Error::Invalid("Conv2D with a softmax activation is not supported".into()));
        }
        let e = self.conv_shape(input, 1).extent()?;
        Ok(vec![e.oh, e.ow, self.filters])
    }

    fn params(&self, input: &[usize]) -> Vec<ParamSpec> {
        let (kh, kw, c_in) = (self.kernel.0, self.kernel.1, input[2]);
        let init = Init::GlorotUniform { fan_in: kh * kw * c_in, fan_out: kh * kw * self.filters };
        ParamSpec::kernel_and_bias(vec![kh, kw, c_in, self.filters], init, self.use_bias.then_some(self.filters))
    }

    fn activation(&self) -> Option<Act> {
        Some(self.activation)
    }

    fn without_activation(&self) -> Layer {
        Layer::Conv2D(Conv2D { activation: Act::Linear, ..*self })
    }

    fn absorbing(&self, act: Act) -> Option<Layer> {
        (self.activation == Act::Linear && act.elementwise().is_some())
            .then_some(Layer::Conv2D(Conv2D { activation: act, ..*self }))
    }

    fn takes_pre_activation_grad(&self) -> bool {
        true
    }

    fn applies_input_activation(&self) -> bool {
        true
    }

    fn record(&self, ctx: &GpuCtx) -> Result<Recorded> {
        let gpu = ctx.gpu;
        let (kernel, bias) = (&ctx.params[0], ctx.params.get(1));
        let shape = self.conv_shape(ctx.input_shape, ctx.batch);
        let bias_value = bias.map(|b| &b.value);
        let mut rec = Recorded::default();
        let z = record_product(ctx, self.activation, self.filters, &mut rec, |a, out| {
            conv2d::forward(gpu, &shape, ctx.x, &kernel.value, bias_value, a, out)
        })?;
        let dz_owned;
        let dz: &Tensor = if self.activation == Act::Linear || ctx.dy_is_pre_activation {
            ctx.dy()
        } else {
            dz_owned = ctx.pre_activation_grad(self.activation, self.filters, z.as_deref(), &mut rec.backward)?;
            &dz_owned
        };
        let db = bias.map(|b| &b.grad);
        rec.backward.extend(conv2d::backward_weight(gpu, &shape, ctx.x, dz, &kernel.grad, db)?);
        record_regularizer(ctx, self.kernel_regularizer, kernel, &mut rec)?;
        if let Some(dx) = ctx.dx {
            let input_act = ctx.input_act.map(|a| (a, ctx.x));
            rec.backward.push(conv2d::backward_input(gpu, &shape, dz, &kernel.value, input_act, dx)?);
        }
        Ok(rec)
    }

    fn cpu_forward(&self, ctx: &CpuCtx, x: &[f64], _training: bool) -> Vec<f64> {
        cpu_activate(self.activation, self.cpu_product(ctx, x), self.filters)
    }

    fn cpu_backward(&self, ctx: &CpuCtx, x: &[f64], y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        let shape = self.conv_shape(ctx.input_shape, ctx.batch);
        let dz = cpu_deactivate(self.activation, y, &dy, self.filters, || self.cpu_product(ctx, x));
        let mut grads = vec![conv2d::cpu::backward_weight(&shape, x, &dz)];
        cpu_regularize(self.kernel_regularizer, &ctx.params[0], &mut grads[0]);
        if self.use_bias {
            grads.push(matmul::cpu::bias_grad(dz.len() / self.filters, self.filters, &dz));
        }
        (conv2d::cpu::backward_input(&shape, &dz, &ctx.params[0]), grads)
    }
}
