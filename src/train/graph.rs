//! The graph of a model for one batch size: activation and gradient tensors, and the
//! dispatches of a training step, recorded once per run of fit, evaluate or predict.

use std::sync::Arc;

use crate::data::{Dataset, Features};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Tensor};
use crate::nn::layer::{Act, Layer};
use crate::nn::layers::{GpuCtx, InputForm, dropout_seed};
use crate::nn::model::{Model, Optimizer};
use crate::ops::loss::{self, Advance, Loss, LossBuffers};
use crate::ops::pool::FoldedDropout;
use crate::ops::{Activation, activation, optim, schedule};

/// How the graph holds its input batch for `data`: `Unorm8` when every dataset it will see
/// holds u8 features, a sample is whole words, and the first layer that computes (past views
/// such as Flatten) is a product.
pub(crate) fn input_form(model: &Model, data: &[&Dataset]) -> InputForm {
    let first = (0..model.spec.layers.len()).map(|i| model.graph_layer(i)).find(|l| !l.kind_impl().is_view());
    let bytes = data.iter().all(|d| matches!(d.features, Features::U8(_)));
    let words = model.shapes[0].iter().product::<usize>().is_multiple_of(4);
    if first.is_some_and(|l| l.kind_impl().is_product()) && bytes && words { InputForm::Unorm8 } else { InputForm::F32 }
}

pub(crate) struct Graph {
    pub batch: usize,
    pub input: InputForm,
    /// values[0] is the input batch (in words of bytes when `input` is `Unorm8`), values[i + 1]
    /// layer i's output (shared where a layer is a view).
    pub values: Vec<Arc<Tensor>>,
    /// Gradients of the values (the last is the loss's output, dlogits).
    pub grads: Vec<Option<Arc<Tensor>>>,
    pub targets: Tensor,
    pub loss: LossBuffers,
    pub forward_train: Vec<Dispatch>,
    pub forward_infer: Vec<Dispatch>,
    pub backward: Vec<Dispatch>,
    pub update: Vec<Dispatch>,
    /// The fused output activation, applied for predict: (its output, its dispatch).
    pub head_output: Option<(Tensor, Dispatch)>,
    /// Device bytes of the graph's own tensors (outputs, gradients, scratch).
    pub bytes: u64,
}

struct Builder<'a> {
    gpu: &'a Gpu,
    batch: usize,
}

impl Builder<'_> {
    fn tensor(&self, label: &str, per_sample: &[usize]) -> Result<Arc<Tensor>> {
        Ok(Arc::new(self.gpu.zeros(label, self.batch * per_sample.iter().product::<usize>())?))
    }

    /// A gradient: windowed, as a Dense layer's weight gradient may read it through a uniform
    /// window (matmul::Variant::UniformB).
    fn gradient(&self, label: &str, per_sample: &[usize]) -> Result<Arc<Tensor>> {
        Ok(Arc::new(self.gpu.zeros_windowed(label, self.batch * per_sample.iter().product::<usize>())?))
    }
}

impl Graph {
    pub fn build(model: &Model, batch: usize, input: InputForm) -> Result<Graph> {
        let gpu: &Gpu = &model.gpu;
        let bytes_before = gpu.usage.bytes();
        let b = Builder { gpu, batch };
        let shapes = &model.shapes;
        let n_layers = model.spec.layers.len();
        let layers: Vec<Layer> = (0..n_layers).map(|i| model.graph_layer(i)).collect();

        let mut values = vec![match input {
            InputForm::F32 => b.tensor("input", &shapes[0])?,
            InputForm::Unorm8 => Arc::new(gpu.zeros("input_bytes", batch * shapes[0].iter().product::<usize>() / 4)?),
        }];
        for (i, layer) in layers.iter().enumerate() {
            let next =
                if layer.kind_impl().is_view() { values[i].clone() } else { b.tensor("activation", &shapes[i + 1])? };
            values.push(next);
        }
        // grads[i] is the gradient of values[i]; layer i needs it only when a layer before has parameters.
        let mut grads: Vec<Option<Arc<Tensor>>> = vec![None; n_layers + 1];
        grads[n_layers] = Some(b.gradient("dlogits", &shapes[n_layers])?);
        for i in (1..n_layers).rev() {
            let needed = model.params[..i].iter().any(|p| !p.is_empty());
            grads[i] = match (needed, layers[i].kind_impl().is_view()) {
                (false, _) => None,
                (true, true) => grads[i + 1].clone(),
                (true, false) => Some(b.gradient("gradient", &shapes[i])?),
            };
        }

        let out_width = shapes[n_layers][0];
        let targets = gpu.zeros("targets", batch * out_width)?;
        let loss_bufs = LossBuffers::new(gpu, batch)?;
        let logits = &values[n_layers];

        // The first layer after layer i that computes (past views such as Flatten), if any.
        let next_computing = |i: usize| (i + 1..n_layers).find(|&j| !layers[j].kind_impl().is_view());
        // folded[i]: layer i's activation derivative is applied by the input-gradient pass of the
        // next layer that computes, so layer i's incoming gradient is already its pre-activation
        // one (a Dense, Conv2D or BatchNormalization under a Dense, a Conv2D or a pool).
        let folded: Vec<bool> = (0..n_layers)
            .map(|i| {
                // Only an activation differentiated through its output: the product sees only that.
                let nonlinear = layers[i]
                    .activation()
                    .and_then(Act::elementwise)
                    .is_some_and(|a| a != Activation::Linear && a.from_output());
                layers[i].kind_impl().takes_pre_activation_grad()
                    && nonlinear
                    && next_computing(i).is_some_and(|j| layers[j].kind_impl().applies_input_activation())
                    && grads[i + 1].is_some()
            })
            .collect();
        // The activation whose derivative layer j applies: that of the last layer before it that
        // computes, when folded.
        let input_act = |j: usize| {
            let before = (0..j).rev().find(|&i| !layers[i].kind_impl().is_view())?;
            folded[before].then(|| layers[before].activation().and_then(Act::elementwise)).flatten()
        };

        let mut forward_train = Vec::new();
        let mut forward_infer = Vec::new();
        let mut backward = Vec::new();
        for (i, layer) in layers.iter().enumerate().rev() {
            let ctx = GpuCtx {
                gpu,
                batch,
                index: i,
                input_shape: &shapes[i],
                x: &values[i],
                x_form: if Arc::ptr_eq(&values[i], &values[0]) { input } else { InputForm::F32 },
                y: &values[i + 1],
                dy: grads[i + 1].as_deref(),
                dx: grads[i].as_deref(),
                params: &model.params[i],
                state: &model.state[i],
                input_act: input_act(i),
                dy_is_pre_activation: folded[i],
                dropout: model.folded_dropout(i).map(|(j, rate)| FoldedDropout {
                    rate,
                    seed: dropout_seed(model.compile.seed, j),
                    step: &model.step,
                }),
                step: &model.step,
                seed: model.compile.seed,
                loss_totals: &loss_bufs.totals,
                batch_rows: &loss_bufs.batch_rows,
            };
            let reads_bytes = layer.kind_impl().is_product() || layer.kind_impl().is_view();
            assert!(ctx.x_form == InputForm::F32 || reads_bytes, "only a product reads a byte input");
            let recorded = layer.kind_impl().record(&ctx)?;
            backward.extend(recorded.backward);
            forward_train.splice(0..0, recorded.forward_train);
            forward_infer.splice(0..0, recorded.forward_infer);
        }

        // A schedule's rate for this update first (a constant one is in place already), then one
        // update per arena: every parameter at once.
        let rate = &model.rate;
        let mut update = Vec::new();
        if let Some(description) = &model.schedule {
            update.push(schedule::learning_rate(gpu, description, &model.step, rate)?);
        }
        for a in &model.arenas {
            update.push(match &model.compile.optimizer {
                Optimizer::Sgd(cfg) => optim::sgd(gpu, cfg, rate, &a.values, &a.grads, &a.state[0])?,
                Optimizer::Adam(cfg) => {
                    optim::adam(gpu, cfg, rate, &a.values, &a.grads, &a.state[0], &a.state[1], &model.step)?
                }
                Optimizer::RmsProp(cfg) => {
                    // The slots its settings use, in `Optimizer::slots` order; spares stand in for the others.
                    let mut slots = a.state.iter();
                    let velocity = slots.next().expect("RMSprop keeps a velocity");
                    let momentum =
                        if cfg.momentum > 0.0 { slots.next().expect("a momentum slot") } else { gpu.spare(0) };
                    let average = if cfg.centered { slots.next().expect("an average slot") } else { gpu.spare(1) };
                    optim::rmsprop(gpu, cfg, rate, &a.values, &a.grads, [velocity, momentum, average])?
                }
                Optimizer::Adagrad(cfg) => optim::adagrad(gpu, cfg, rate, &a.values, &a.grads, &a.state[0])?,
            });
        }

        let head_output = match model.head.fused {
            Some(act) => {
                let probs = gpu.zeros("probabilities", batch * out_width)?;
                let d = match act.elementwise() {
                    Some(a) => activation::forward(gpu, a, logits, &probs)?,
                    None => activation::softmax_forward(gpu, out_width, logits, &probs)?,
                };
                Some((probs, d))
            }
            None => None,
        };

        Ok(Graph {
            batch,
            input,
            values,
            grads,
            targets,
            loss: loss_bufs,
            forward_train,
            forward_infer,
            backward,
            update,
            head_output,
            // What this build allocated (tensors dropped here are kept alive by dispatches).
            bytes: gpu.usage.bytes().saturating_sub(bytes_before),
        })
    }

    /// The loss dispatches of a step (`loss`, the model's), ending with `advance`: the
    /// feed's cursor, and in training the step counter.
    pub fn loss_step(&self, gpu: &Gpu, loss: Loss, advance: Advance) -> Result<Vec<Dispatch>> {
        let logits = self.values.last().expect("a graph has an output");
        let dlogits = self.grads.last().and_then(Option::as_ref).expect("the output has a gradient");
        let cols = logits.len() / self.batch;
        loss::step(gpu, loss, cols, logits, &self.targets, dlogits, &self.loss, Some(advance))
    }

    /// The model's output as predict returns it: after the fused activation, if any.
    pub fn output(&self) -> &Tensor {
        match &self.head_output {
            Some((probs, _)) => probs,
            None => self.values.last().unwrap(),
        }
    }
}
