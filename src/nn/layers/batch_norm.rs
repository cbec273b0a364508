//! BatchNormalization over the last axis (a Dense layer's units, a Conv2D layer's channels),
//! as Keras's layer: batch statistics in training, which also move the moving mean and
//! variance (on the GPU, inside the step); the moving statistics in evaluate and predict.

use std::sync::Arc;

use super::{CpuCtx, GpuCtx, Init, LayerKind, ParamSpec, Recorded, cpu_activate, cpu_deactivate};
use crate::error::{Error, Result};
use crate::gpu::Tensor;
use crate::nn::layer::{Act, Layer};
use crate::ops::Activation;
use crate::ops::batch_norm::{self, BatchNormShape};

/// Keras's defaults: momentum 0.99, epsilon 1e-3, center and scale.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct BatchNormalization {
    pub momentum: f32,
    pub epsilon: f32,
    /// Learn an offset beta.
    pub center: bool,
    /// Learn a scale gamma.
    pub scale: bool,
    /// Not Keras's: the activation of an `Activation` layer that follows, which the graph runs
    /// inside this layer's normalisation. Set by the graph only; never saved or loaded (a spec
    /// or a checkpoint holds the `Activation` layer itself).
    #[serde(skip)]
    pub activation: Act,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization { momentum: 0.99, epsilon: 1e-3, center: true, scale: true, activation: Act::Linear }
    }
}

impl BatchNormalization {
    fn shape(&self, input: &[usize], batch: usize) -> BatchNormShape {
        let c = *input.last().expect("a checked input shape");
        let per_sample = input.iter().product::<usize>() / c;
        BatchNormShape { rows: batch * per_sample, c, per_sample, epsilon: self.epsilon, momentum: self.momentum }
    }

    /// Where gamma and beta are among the trainable parameters (absent without scale or center).
    fn gamma_beta<'p, T>(&self, params: &'p [T]) -> (Option<&'p T>, Option<&'p T>) {
        let gamma = self.scale.then(|| &params[0]);
        let beta = self.center.then(|| &params[usize::from(self.scale)]);
        (gamma, beta)
    }
}

impl LayerKind for BatchNormalization {
    fn kind(&self) -> &'static str {
        "BatchNormalization"
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::Invalid(format!("BatchNormalization momentum {} must be in [0, 1)", self.momentum)));
        }
        if !(self.epsilon > 0.0 && self.epsilon.is_finite()) {
            return Err(Error::Invalid(format!("BatchNormalization epsilon {} must be positive", self.epsilon)));
        }
        if !self.activation.elementwise().is_some_and(Activation::from_output) {
            let name = self.activation.name();
            return Err(Error::Invalid(format!("BatchNormalization cannot apply {name}: add an Activation layer")));
        }
        Ok(input.to_vec())
    }

    fn activation(&self) -> Option<Act> {
        Some(self.activation)
    }

    fn without_activation(&self) -> Layer {
        Layer::BatchNormalization(BatchNormalization { activation: Act::Linear, ..*self })
    }

    fn takes_pre_activation_grad(&self) -> bool {
        true
    }

    /// Only an activation differentiated through its output: the backward passes see only y.
    fn absorbing(&self, act: Act) -> Option<Layer> {
        let fits = act.elementwise().is_some_and(Activation::from_output);
        (self.activation == Act::Linear && fits)
            .then_some(Layer::BatchNormalization(BatchNormalization { activation: act, ..*self }))
    }

    fn params(&self, input: &[usize]) -> Vec<ParamSpec> {
        let c = vec![*input.last().expect("a checked input shape")];
        let gamma = self.scale.then(|| ParamSpec::trainable("gamma", c.clone(), Init::Ones));
        let beta = self.center.then(|| ParamSpec::trainable("beta", c.clone(), Init::Zeros));
        let moving = [
            ParamSpec::non_trainable("moving_mean", c.clone(), Init::Zeros),
            ParamSpec::non_trainable("moving_variance", c, Init::Ones),
        ];
        gamma.into_iter().chain(beta).chain(moving).collect()
    }

    fn record(&self, ctx: &GpuCtx) -> Result<Recorded> {
        let (gpu, shape) = (ctx.gpu, self.shape(ctx.input_shape, ctx.batch));
        let (gamma, beta) = self.gamma_beta(ctx.params);
        // Without scale or center: a gamma of ones, a beta of zeros, and scratch for their gradients.
        let constant =
            |value: f32| -> Result<Arc<Tensor>> { Ok(Arc::new(gpu.upload("constant", &vec![value; shape.c])?)) };
        let (ones, zeros) = (constant(1.0)?, constant(0.0)?);
        let (g, b) = (gamma.map_or(&*ones, |p| &p.value), beta.map_or(&*zeros, |p| &p.value));
        let (mean, var) = (&ctx.state[0].value, &ctx.state[1].value);
        let stats = Arc::new(gpu.zeros("batch_norm_stats", 2 * shape.c)?);
        let mut rec = Recorded::default();
        rec.forward_train
            .push(batch_norm::stats(gpu, &shape, ctx.x, ctx.batch_rows, &stats, [mean, var])?.owning(stats.clone()));
        let act = self.activation.elementwise().expect("an elementwise activation, as output_shape checks");
        rec.forward_train.push(batch_norm::forward(gpu, &shape, act, ctx.x, [g, b], &stats, ctx.y)?);
        let infer = batch_norm::infer(gpu, &shape, act, ctx.x, [g, b], [mean, var], ctx.y)?;
        rec.forward_infer.push(infer.owning(ones.clone()).owning(zeros.clone()));
        // Without scale and center, first in the model: nothing to learn here or before.
        let Some(dy) = ctx.dy else { return Ok(rec) };
        let dz_owned;
        let dy: &Tensor = if self.activation == Act::Linear || ctx.dy_is_pre_activation {
            dy
        } else {
            dz_owned = ctx.pre_activation_grad(self.activation, shape.c, None, &mut rec.backward)?;
            &dz_owned
        };
        let scratch = |label| -> Result<Arc<Tensor>> { Ok(Arc::new(gpu.zeros(label, shape.c)?)) };
        let (dgamma_scratch, dbeta_scratch) = (scratch("dgamma")?, scratch("dbeta")?);
        let dgamma = gamma.map_or(&*dgamma_scratch, |p| &p.grad);
        let dbeta = beta.map_or(&*dbeta_scratch, |p| &p.grad);
        let params_grad = batch_norm::backward_params(gpu, &shape, ctx.x, ctx.batch_rows, dy, &stats, [dgamma, dbeta])?;
        rec.backward.push(params_grad.owning(dgamma_scratch.clone()).owning(dbeta_scratch.clone()));
        if let Some(dx) = ctx.dx {
            rec.backward.push(batch_norm::backward_input(
                gpu,
                &shape,
                ctx.x,
                ctx.batch_rows,
                dy,
                g,
                &stats,
                [dgamma, dbeta],
                dx,
            )?);
        }
        Ok(rec)
    }

    fn cpu_forward(&self, ctx: &CpuCtx, x: &[f64], training: bool) -> Vec<f64> {
        let shape = self.shape(ctx.input_shape, ctx.batch);
        let (ones, zeros) = (vec![1.0; shape.c], vec![0.0; shape.c]);
        let (gamma, beta) = self.gamma_beta(ctx.params);
        let (gamma, beta) = (gamma.unwrap_or(&ones), beta.unwrap_or(&zeros));
        let (mean, var) =
            if training { batch_norm::cpu::moments(&shape, x) } else { (ctx.state[0].clone(), ctx.state[1].clone()) };
        cpu_activate(self.activation, batch_norm::cpu::normalize(&shape, x, &mean, &var, gamma, beta), shape.c)
    }

    fn cpu_moved_state(&self, ctx: &CpuCtx, x: &[f64]) -> Option<Vec<Vec<f64>>> {
        let shape = self.shape(ctx.input_shape, ctx.batch);
        let (mean, var) = batch_norm::cpu::moved(&shape, x, &ctx.state[0], &ctx.state[1]);
        Some(vec![mean, var])
    }

    fn cpu_backward(&self, ctx: &CpuCtx, x: &[f64], y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>) {
        let shape = self.shape(ctx.input_shape, ctx.batch);
        let dy = cpu_deactivate(self.activation, y, &dy, shape.c, || {
            unreachable!("output_shape takes only activations of y")
        });
        let ones = vec![1.0; shape.c];
        let gamma = self.gamma_beta(ctx.params).0.unwrap_or(&ones);
        let (dx, dgamma, dbeta) = batch_norm::cpu::backward(&shape, x, &dy, gamma);
        let grads = [self.scale.then_some(dgamma), self.center.then_some(dbeta)];
        (dx, grads.into_iter().flatten().collect())
    }
}
