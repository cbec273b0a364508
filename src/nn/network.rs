//! The graph of a model for one batch size: activation and gradient tensors, and the
//! dispatches of a training step, recorded once when the model meets a batch size.

use std::sync::Arc;

use super::layer::{Act, Layer};
use super::model::{Model, Optimizer};
use crate::data::{Dataset, Features};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Tensor};
use crate::ops::conv2d::Conv2dShape;
use crate::ops::loss::{self, Advance, Loss, LossBuffers};
use crate::ops::matmul::{MatmulShape, Operand};
use crate::ops::pool::{PoolKind, PoolShape};
use crate::ops::{Activation, activation, conv2d, dropout, matmul, optim, pool};

/// How a network holds its input batch: f32, or (`Unorm8`) a dataset's u8 features as they
/// are, four bytes to a word, which the first layer — a Dense one — reads as byte / 255: the
/// batch is copied instead of converted, and the first layer's products load a quarter of the
/// words for their input (on CPU adapters, where every load is a gather, the largest part of
/// what they cost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InputForm {
    F32,
    Unorm8,
}

impl InputForm {
    /// `Unorm8` when every dataset the network will see holds u8 features, a sample is whole
    /// words, and the first layer that computes (past views such as Flatten) is Dense.
    pub fn for_data(model: &Model, data: &[&Dataset]) -> InputForm {
        let first = (0..model.spec.layers.len()).map(|i| model.effective_layer(i)).find(|l| !is_view(l));
        let bytes = data.iter().all(|d| matches!(d.features, Features::U8(_)));
        let words = model.shapes[0].iter().product::<usize>().is_multiple_of(4);
        if matches!(first, Some(Layer::Dense { .. })) && bytes && words { InputForm::Unorm8 } else { InputForm::F32 }
    }

    /// A tensor held in this form, as a product's A operand.
    pub fn operand(self, t: &Tensor) -> Operand<'_> {
        match self {
            InputForm::F32 => Operand::F32(t),
            InputForm::Unorm8 => Operand::Unorm8(t),
        }
    }
}

pub(crate) struct Network {
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

/// The seed of a dropout layer's masks: each layer draws its own, from the model's seed.
pub(crate) fn dropout_seed(seed: u64, layer: usize) -> u32 {
    (seed as u32) ^ (seed >> 32) as u32 ^ (layer as u32).wrapping_mul(0x9e37_79b9)
}

/// Layers whose output is their input, unchanged: they only rename a tensor.
pub(crate) fn is_view(layer: &Layer) -> bool {
    matches!(layer, Layer::Flatten | Layer::Activation(Act::Linear))
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

impl Network {
    pub fn build(model: &Model, batch: usize, input: InputForm) -> Result<Network> {
        let gpu: &Gpu = &model.gpu;
        let bytes_before = gpu.usage.bytes();
        let b = Builder { gpu, batch };
        let shapes = &model.shapes;
        let n_layers = model.spec.layers.len();
        let layers: Vec<Layer> = (0..n_layers).map(|i| model.effective_layer(i)).collect();

        let mut values = vec![match input {
            InputForm::F32 => b.tensor("input", &shapes[0])?,
            InputForm::Unorm8 => Arc::new(gpu.zeros("input_bytes", batch * shapes[0].iter().product::<usize>() / 4)?),
        }];
        for (i, layer) in layers.iter().enumerate() {
            let next = if is_view(layer) { values[i].clone() } else { b.tensor("activation", &shapes[i + 1])? };
            values.push(next);
        }
        // grads[i] is the gradient of values[i]; layer i needs it only when a layer before has parameters.
        let mut grads: Vec<Option<Arc<Tensor>>> = vec![None; n_layers + 1];
        grads[n_layers] = Some(b.gradient("dlogits", &shapes[n_layers])?);
        for i in (1..n_layers).rev() {
            let needed = model.params[..i].iter().any(|p| !p.is_empty());
            grads[i] = match (needed, is_view(&layers[i])) {
                (false, _) => None,
                (true, true) => grads[i + 1].clone(),
                (true, false) => Some(b.gradient("gradient", &shapes[i])?),
            };
        }

        let out_width = shapes[n_layers][0];
        let targets = gpu.zeros("targets", batch * out_width)?;
        let loss_bufs = LossBuffers::new(gpu, batch)?;
        let logits = &values[n_layers];

        // folded[i]: layer i's activation derivative is applied by layer i + 1's dx product, so
        // layer i's incoming gradient is already its pre-activation one (Dense after Dense).
        let folded: Vec<bool> = (0..n_layers)
            .map(|i| {
                let nonlinear =
                    layers[i].activation().and_then(Act::elementwise).is_some_and(|a| a != Activation::Linear);
                let dense = |l: &Layer| matches!(l, Layer::Dense { .. });
                i + 1 < n_layers && dense(&layers[i]) && nonlinear && dense(&layers[i + 1]) && grads[i + 1].is_some()
            })
            .collect();

        let mut forward_train = Vec::new();
        let mut forward_infer = Vec::new();
        let mut backward = Vec::new();
        for (i, layer) in layers.iter().enumerate().rev() {
            let ctx = LayerCtx {
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
                input_act: if i > 0 && folded[i - 1] {
                    layers[i - 1].activation().and_then(Act::elementwise)
                } else {
                    None
                },
                dy_is_pre_activation: folded[i],
                step: &model.step,
                seed: model.compile.seed,
            };
            let built = ctx.build(layer)?;
            backward.extend(built.backward);
            forward_train.splice(0..0, built.forward_train);
            forward_infer.splice(0..0, built.forward_infer);
        }

        let mut update = Vec::new();
        // One update per arena: every parameter at once.
        for a in &model.arenas {
            update.push(match &model.compile.optimizer {
                Optimizer::Sgd(cfg) => optim::sgd(gpu, cfg, &a.values, &a.grads, &a.state[0])?,
                Optimizer::Adam(cfg) => {
                    optim::adam(gpu, cfg, &a.values, &a.grads, &a.state[0], &a.state[1], &model.step)?
                }
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

        Ok(Network {
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
        let logits = self.values.last().expect("a network has an output");
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

struct LayerCtx<'a> {
    gpu: &'a Gpu,
    batch: usize,
    index: usize,
    input_shape: &'a [usize],
    x: &'a Tensor,
    /// How x is held: only the input batch may be bytes (`InputForm::Unorm8`), and only a
    /// Dense layer meets it so.
    x_form: InputForm,
    y: &'a Tensor,
    /// The gradient of y: present whenever this layer or one before it has parameters.
    dy: Option<&'a Tensor>,
    dx: Option<&'a Tensor>,
    params: &'a [super::model::Param],
    /// The activation that produced x, when this layer's dx product applies its derivative.
    input_act: Option<Activation>,
    /// dy is already the gradient before this layer's activation (the next layer applied it).
    dy_is_pre_activation: bool,
    step: &'a Tensor,
    seed: u64,
}

#[derive(Default)]
struct Built {
    forward_train: Vec<Dispatch>,
    forward_infer: Vec<Dispatch>,
    backward: Vec<Dispatch>,
}

impl Built {
    /// The same forward pass in training and inference.
    fn forward(&mut self, make: impl Fn() -> Result<Dispatch>) -> Result<()> {
        self.forward_train.push(make()?);
        self.forward_infer.push(make()?);
        Ok(())
    }
}

impl LayerCtx<'_> {
    /// x as a product's A operand.
    fn x_operand(&self) -> Operand<'_> {
        self.x_form.operand(self.x)
    }

    fn dy(&self) -> &Tensor {
        self.dy.expect("a layer that passes a gradient back has one coming in")
    }

    /// The gradient before the activation: dy itself for linear, else a scratch tensor filled
    /// by the activation's backward pass (recorded into `backward`).
    fn pre_activation_grad(&self, act: Act, cols: usize, backward: &mut Vec<Dispatch>) -> Result<Arc<Tensor>> {
        let dy = self.dy();
        let dz = Arc::new(self.gpu.zeros_windowed("dz", dy.len())?);
        let d = match act.elementwise() {
            Some(a) => activation::backward(self.gpu, a, self.y, dy, &dz)?,
            None => activation::softmax_backward(self.gpu, cols, self.y, dy, &dz)?,
        };
        backward.push(d.owning(dz.clone()));
        Ok(dz)
    }

    fn build(&self, layer: &Layer) -> Result<Built> {
        let reads_bytes = matches!(layer, Layer::Dense { .. }) || is_view(layer);
        assert!(self.x_form == InputForm::F32 || reads_bytes, "only a Dense layer reads a byte input");
        let gpu = self.gpu;
        let mut built = Built::default();
        match layer {
            Layer::Dense { units, activation: act } => {
                let (kernel, bias) = (&self.params[0], &self.params[1]);
                let k_in = self.input_shape[0];
                let shape = MatmulShape::new(self.batch, *units, k_in);
                match act.elementwise() {
                    Some(a) => built.forward(|| {
                        matmul::matmul(gpu, shape, self.x_operand(), &kernel.value, Some(&bias.value), a, self.y)
                    })?,
                    None => {
                        let z = Arc::new(self.gpu.zeros("logits", self.y.len())?);
                        for list in [&mut built.forward_train, &mut built.forward_infer] {
                            list.push(
                                matmul::matmul(
                                    gpu,
                                    shape,
                                    self.x_operand(),
                                    &kernel.value,
                                    Some(&bias.value),
                                    Activation::Linear,
                                    &z,
                                )?
                                .owning(z.clone()),
                            );
                            list.push(activation::softmax_forward(gpu, *units, &z, self.y)?);
                        }
                    }
                }
                let dz_owned;
                let dz: &Tensor = if *act == Act::Linear || self.dy_is_pre_activation {
                    self.dy()
                } else {
                    dz_owned = self.pre_activation_grad(*act, *units, &mut built.backward)?;
                    &dz_owned
                };
                let dw_shape = MatmulShape { m: k_in, n: *units, k: self.batch, trans_a: true, trans_b: false };
                built.backward.push(matmul::weight_grad(
                    gpu,
                    dw_shape,
                    self.x_operand(),
                    dz,
                    &kernel.grad,
                    &bias.grad,
                )?);
                if let Some(dx) = self.dx {
                    let dx_shape = MatmulShape { m: self.batch, n: k_in, k: *units, trans_a: false, trans_b: true };
                    let input_act = self.input_act.map(|a| (a, self.x));
                    built.backward.push(matmul::input_grad(gpu, dx_shape, dz, &kernel.value, input_act, dx)?);
                }
            }
            Layer::Conv2D { filters, kernel: (kh, kw), strides, padding, activation: act } => {
                let (kernel, bias) = (&self.params[0], &self.params[1]);
                let &[h, w, c_in] = self.input_shape else { unreachable!("Conv2D input shape checked by Sequential") };
                let shape = Conv2dShape {
                    n: self.batch,
                    h,
                    w,
                    c_in,
                    c_out: *filters,
                    kh: *kh,
                    kw: *kw,
                    stride_h: strides.0,
                    stride_w: strides.1,
                    padding: *padding,
                };
                let a = act.elementwise().expect("Conv2D softmax refused by Model::new");
                built.forward(|| conv2d::forward(gpu, &shape, self.x, &kernel.value, Some(&bias.value), a, self.y))?;
                let dz_owned;
                let dz: &Tensor = if *act == Act::Linear {
                    self.dy()
                } else {
                    dz_owned = self.pre_activation_grad(*act, *filters, &mut built.backward)?;
                    &dz_owned
                };
                built.backward.extend(conv2d::backward_weight(gpu, &shape, self.x, dz, &kernel.grad)?);
                built.backward.push(matmul::bias_grad(gpu, dz.len() / filters, *filters, dz, &bias.grad)?);
                if let Some(dx) = self.dx {
                    built.backward.push(conv2d::backward_input(gpu, &shape, dz, &kernel.value, dx)?);
                }
            }
            Layer::MaxPooling2D { pool: p, strides, padding }
            | Layer::AveragePooling2D { pool: p, strides, padding } => {
                let kind = if matches!(layer, Layer::MaxPooling2D { .. }) { PoolKind::Max } else { PoolKind::Average };
                let &[h, w, c] = self.input_shape else { unreachable!("pool input shape checked by Sequential") };
                let shape = PoolShape {
                    n: self.batch,
                    h,
                    w,
                    c,
                    pool_h: p.0,
                    pool_w: p.1,
                    stride_h: strides.0,
                    stride_w: strides.1,
                    padding: *padding,
                };
                let argmax = Arc::new(self.gpu.zeros("argmax", self.y.len())?);
                built.forward(|| {
                    Ok(pool::forward(gpu, kind, &shape, self.x, self.y, &argmax)?.owning(argmax.clone()))
                })?;
                if let Some(dx) = self.dx {
                    built.backward.push(pool::backward(gpu, kind, &shape, self.dy(), &argmax, dx)?);
                }
            }
            Layer::Dropout { rate } => {
                // Each dropout layer draws its own mask: the seed mixes in the layer index.
                let seed =
                    (self.seed as u32) ^ (self.seed >> 32) as u32 ^ (self.index as u32).wrapping_mul(0x9e37_79b9);
                built.forward_train.push(dropout::forward(gpu, *rate, seed, self.x, self.y, self.step)?);
                built.forward_infer.push(dropout::forward(gpu, 0.0, seed, self.x, self.y, self.step)?);
                if let Some(dx) = self.dx {
                    built.backward.push(dropout::backward(gpu, *rate, seed, self.dy(), dx, self.step)?);
                }
            }
            Layer::Flatten | Layer::Activation(Act::Linear) => {}
            Layer::Activation(act) => {
                let cols = *self.input_shape.last().unwrap();
                built.forward(|| match act.elementwise() {
                    Some(a) => activation::forward(gpu, a, self.x, self.y),
                    None => activation::softmax_forward(gpu, cols, self.x, self.y),
                })?;
                if let Some(dx) = self.dx {
                    built.backward.push(match act.elementwise() {
                        Some(a) => activation::backward(gpu, a, self.y, self.dy(), dx)?,
                        None => activation::softmax_backward(gpu, cols, self.y, self.dy(), dx)?,
                    });
                }
            }
        }
        Ok(built)
    }
}
