//! A Sequential model compiled onto a GPU: parameters (Glorot-uniform kernels, zero biases,
//! from the seed), optimizer state, and the step counter the shaders read.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::layer::{Act, Layer};
use super::layers::{Init, Param, ParamSpec, State};
use super::sequential::Sequential;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor, VIEW_ALIGN};
use crate::ops::Activation;
use crate::ops::loss::Loss;
use crate::ops::optim::{Adagrad, Adam, LearningRate, RmsProp, Sgd};

/// The optimizers, by Keras's class names, each with Keras's update rule and defaults.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Optimizer {
    Sgd(Sgd),
    Adam(Adam),
    #[serde(rename = "RMSprop")]
    RmsProp(RmsProp),
    Adagrad(Adagrad),
}

fn setting_error(optimizer: &str, setting: &str, value: f32, range: &str) -> Error {
    Error::Invalid(format!("{optimizer} {setting} {value} must be {range}"))
}

/// In [0, 1], or [0, 1) unless `one` is allowed.
fn fraction(optimizer: &str, setting: &str, value: f32, one: bool) -> Result<()> {
    if value >= 0.0 && (value < 1.0 || (one && value == 1.0)) {
        return Ok(());
    }
    Err(setting_error(optimizer, setting, value, if one { "in [0, 1]" } else { "in [0, 1)" }))
}

/// In (0, 1).
fn open_fraction(optimizer: &str, setting: &str, value: f32) -> Result<()> {
    if value > 0.0 && value < 1.0 { Ok(()) } else { Err(setting_error(optimizer, setting, value, "in (0, 1)")) }
}

fn positive(optimizer: &str, setting: &str, value: f32) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(setting_error(optimizer, setting, value, "finite and > 0"))
    }
}

fn non_negative(optimizer: &str, setting: &str, value: f32) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(setting_error(optimizer, setting, value, "finite and >= 0"))
    }
}

impl Optimizer {
    /// The state the optimizer keeps per parameter tensor, by Keras's names: SGD's velocity,
    /// Adam's m and v, RMSprop's velocity (and momentum, average gradient when its settings
    /// use them), Adagrad's accumulator.
    pub fn slots(&self) -> Vec<&'static str> {
        match self {
            Optimizer::Sgd(_) => vec!["velocity"],
            Optimizer::Adam(_) => vec!["m", "v"],
            Optimizer::RmsProp(r) => {
                let momentum = (r.momentum > 0.0).then_some("momentum");
                let average = r.centered.then_some("average_gradient");
                std::iter::once("velocity").chain(momentum).chain(average).collect()
            }
            Optimizer::Adagrad(_) => vec!["accumulator"],
        }
    }

    /// Every setting finite and in the range Keras accepts (or the update rule needs), or an
    /// error naming the optimizer, the setting and its value.
    pub fn check(&self) -> Result<()> {
        let (name, lr) = match self {
            Optimizer::Sgd(s) => {
                fraction("SGD", "momentum", s.momentum, true)?;
                non_negative("SGD", "weight_decay", s.weight_decay)?;
                ("SGD", &s.lr)
            }
            Optimizer::Adam(a) => {
                // Not 0 either: the update takes β's logarithm for β^t.
                open_fraction("Adam", "beta1", a.beta1)?;
                open_fraction("Adam", "beta2", a.beta2)?;
                positive("Adam", "epsilon", a.epsilon)?;
                non_negative("Adam", "weight_decay", a.weight_decay)?;
                ("Adam", &a.lr)
            }
            Optimizer::RmsProp(r) => {
                fraction("RMSprop", "rho", r.rho, false)?;
                fraction("RMSprop", "momentum", r.momentum, true)?;
                positive("RMSprop", "epsilon", r.epsilon)?;
                non_negative("RMSprop", "weight_decay", r.weight_decay)?;
                ("RMSprop", &r.lr)
            }
            Optimizer::Adagrad(a) => {
                non_negative("Adagrad", "initial_accumulator_value", a.initial_accumulator_value)?;
                positive("Adagrad", "epsilon", a.epsilon)?;
                non_negative("Adagrad", "weight_decay", a.weight_decay)?;
                ("Adagrad", &a.lr)
            }
        };
        lr.check().map_err(|e| Error::Invalid(format!("{name} {e}")))
    }

    /// The value every slot starts at: Adagrad's initial accumulator value, else zero.
    pub fn slot_start(&self) -> f32 {
        match self {
            Optimizer::Adagrad(a) => a.initial_accumulator_value,
            _ => 0.0,
        }
    }

    /// An optimizer by Keras's string identifier, with Keras's defaults.
    pub fn by_keras_name(name: &str) -> Result<Optimizer> {
        Ok(match name.to_lowercase().as_str() {
            "sgd" => Optimizer::Sgd(Sgd::default()),
            "adam" => Optimizer::Adam(Adam::default()),
            "adamw" => Optimizer::Adam(Adam::adamw()),
            "rmsprop" => Optimizer::RmsProp(RmsProp::default()),
            "adagrad" => Optimizer::Adagrad(Adagrad::default()),
            _ => {
                return Err(Error::Invalid(format!(
                    "no optimizer '{name}'; the optimizers are sgd, adam, adamw, rmsprop, adagrad"
                )));
            }
        })
    }

    /// The optimizer with learning rate `lr`: a number or a schedule.
    pub fn with_lr(mut self, lr: impl Into<LearningRate>) -> Optimizer {
        *self.lr_mut() = lr.into();
        self
    }

    /// The learning rate, or its schedule.
    pub fn lr(&self) -> &LearningRate {
        match self {
            Optimizer::Sgd(s) => &s.lr,
            Optimizer::Adam(a) => &a.lr,
            Optimizer::RmsProp(r) => &r.lr,
            Optimizer::Adagrad(a) => &a.lr,
        }
    }

    fn lr_mut(&mut self) -> &mut LearningRate {
        match self {
            Optimizer::Sgd(s) => &mut s.lr,
            Optimizer::Adam(a) => &mut a.lr,
            Optimizer::RmsProp(r) => &mut r.lr,
            Optimizer::Adagrad(a) => &mut a.lr,
        }
    }
}

/// Keras's loss names. Categorical and sparse categorical cross-entropy differ only in the
/// labels they expect (one-hot rows or class indices); wgtrain accepts either form for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LossKind {
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    BinaryCrossentropy,
    MeanSquaredError,
}

impl LossKind {
    /// A loss by Keras's string identifier.
    pub fn by_keras_name(name: &str) -> Result<LossKind> {
        Ok(match name {
            "categorical_crossentropy" => LossKind::CategoricalCrossentropy,
            "sparse_categorical_crossentropy" => LossKind::SparseCategoricalCrossentropy,
            "binary_crossentropy" => LossKind::BinaryCrossentropy,
            "mean_squared_error" | "mse" => LossKind::MeanSquaredError,
            _ => {
                return Err(Error::Invalid(format!(
                    "no loss '{name}'; the losses are categorical_crossentropy, sparse_categorical_crossentropy, \
                     binary_crossentropy, mean_squared_error"
                )));
            }
        })
    }
}

/// What `compile` takes in Keras, plus the seed that fixes initial weights, shuffling and dropout.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compile {
    pub optimizer: Optimizer,
    pub loss: LossKind,
    pub seed: u64,
}

/// Parameters, their gradients and optimizer state, each kind in one buffer, so that one
/// optimizer dispatch updates every parameter in it (on adapters where a dispatch costs tens of
/// microseconds, a dispatch per bias is dear). Views start at `VIEW_ALIGN` elements; the gaps
/// between them are zero and stay zero under every update. A model whose parameters exceed one
/// storage binding gets several arenas.
pub(crate) struct Arena {
    pub values: Tensor,
    pub grads: Tensor,
    pub state: Vec<Tensor>,
}

/// How the loss kernel meets the output layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Head {
    pub loss: Loss,
    /// The last layer's activation is left out of the graph: the loss kernel applies it
    /// (softmax + cross-entropy, sigmoid + BCE), and predict applies it afterwards.
    pub fused: Option<Act>,
}

pub struct Model {
    pub(crate) gpu: Arc<Gpu>,
    pub(crate) spec: Sequential,
    pub(crate) shapes: Vec<Vec<usize>>,
    pub(crate) compile: Compile,
    pub(crate) head: Head,
    pub(crate) params: Vec<Vec<Param>>,
    pub(crate) arenas: Vec<Arena>,
    /// Per layer: its non-trainable tensors (BatchNormalization's moving statistics).
    pub(crate) state: Vec<Vec<State>>,
    /// Optimizer updates made so far (u32): Adam's bias correction and dropout's RNG read it.
    pub(crate) step: Tensor,
    /// The learning rate the optimizer kernels read (one f32): a constant one as the host
    /// wrote it, or a schedule's, which the schedule kernel evaluates from `schedule` (its
    /// description, `LearningRate::words`; none for a constant rate) at the start of every update.
    pub(crate) rate: Tensor,
    pub(crate) schedule: Option<Tensor>,
    /// The name of each output class (kept in checkpoints), or empty.
    pub(crate) class_names: Vec<String>,
}

fn head(spec: &Sequential, loss: LossKind) -> Result<Head> {
    let last = spec.layers.last().and_then(Layer::activation).unwrap_or(Act::Linear);
    let plain = |loss| Ok(Head { loss, fused: None });
    match loss {
        LossKind::CategoricalCrossentropy | LossKind::SparseCategoricalCrossentropy => match last {
            Act::Softmax => Ok(Head { loss: Loss::SoftmaxCrossEntropy, fused: Some(Act::Softmax) }),
            Act::Linear => plain(Loss::SoftmaxCrossEntropy),
            a => Err(Error::Invalid(format!(
                "cross-entropy needs a softmax output layer (or a linear one, read as logits), not {}",
                a.name()
            ))),
        },
        LossKind::BinaryCrossentropy => match last {
            Act::Sigmoid => Ok(Head { loss: Loss::SigmoidBinaryCrossEntropy, fused: Some(Act::Sigmoid) }),
            Act::Linear => plain(Loss::SigmoidBinaryCrossEntropy),
            a => Err(Error::Invalid(format!(
                "binary cross-entropy needs a sigmoid output layer (or a linear one, read as logits), not {}",
                a.name()
            ))),
        },
        LossKind::MeanSquaredError => plain(Loss::MeanSquaredError),
    }
}

/// Where each of tensors of `lens` elements goes, in order: (arena, first element). Starts are
/// multiples of `VIEW_ALIGN`; a tensor that would end past `binding_words` opens a new arena.
fn arena_places(lens: &[usize], binding_words: usize) -> Vec<(usize, usize)> {
    let (mut arena, mut end) = (0, 0usize);
    lens.iter()
        .map(|&len| {
            let mut start = end.next_multiple_of(VIEW_ALIGN);
            if start > 0 && start + len > binding_words {
                (arena, start) = (arena + 1, 0);
            }
            end = start + len;
            (arena, start)
        })
        .collect()
}

/// Refuses a parameter tensor the device cannot bind whole, before any is built: a spec or a
/// checkpoint declaring a huge layer is one error naming it and the limit, not gigabytes
/// allocated first.
fn check_param_sizes(gpu: &Gpu, spec: &Sequential, shapes: &[Vec<usize>]) -> Result<()> {
    // Trainable tensors share arenas that carry a uniform window's slack.
    let limit = gpu.largest_binding();
    for (i, (layer, input)) in spec.layers.iter().zip(shapes).enumerate() {
        for p in layer.params(input) {
            let slack = if p.trainable { crate::gpu::WINDOW as u64 * 4 } else { 0 };
            let bytes = (p.len() as u64).saturating_mul(4).saturating_add(slack);
            if bytes > limit {
                return Err(Error::LimitExceeded {
                    what: format!("layer {i} ({}) {} of shape {:?}", layer.kind(), p.name, p.shape),
                    requested: bytes,
                    limit_name: "max_storage_buffer_binding_size",
                    limit,
                });
            }
        }
    }
    Ok(())
}

impl Model {
    /// Checks the model, initialises its parameters from the seed and uploads them.
    pub fn new(gpu: Arc<Gpu>, spec: Sequential, compile: Compile) -> Result<Model> {
        let shapes = spec.shapes()?;
        let head = head(&spec, compile.loss)?;
        compile.optimizer.check()?;
        check_param_sizes(&gpu, &spec, &shapes)?;
        let mut rng = StdRng::seed_from_u64(compile.seed);
        // Initial values of every parameter in layer order, and where each goes: (arena, start).
        let mut initial: Vec<Vec<(ParamSpec, Vec<f32>)>> = Vec::new();
        // The non-trainable tensors, in a buffer each: the optimizer's arenas never hold them.
        let mut frozen: Vec<Vec<(ParamSpec, Vec<f32>)>> = Vec::new();
        for (layer, input) in spec.layers.iter().zip(&shapes) {
            let layer_params = layer.params(input).into_iter().map(|p| {
                let values: Vec<f32> = match p.init {
                    Init::GlorotUniform { fan_in, fan_out } => {
                        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                        (0..p.len()).map(|_| rng.random_range(-limit..limit)).collect()
                    }
                    Init::Zeros => vec![0.0; p.len()],
                    Init::Ones => vec![1.0; p.len()],
                };
                (p, values)
            });
            let (trainable, non_trainable): (Vec<_>, Vec<_>) = layer_params.partition(|(p, _)| p.trainable);
            initial.push(trainable);
            frozen.push(non_trainable);
        }
        let lens: Vec<usize> = initial.iter().flatten().map(|(_, v)| v.len()).collect();
        // Less a window: the values buffer carries one's slack.
        let places = arena_places(&lens, (gpu.largest_binding() / 4) as usize - crate::gpu::WINDOW);
        let mut arena_values: Vec<Vec<f32>> = vec![Vec::new(); places.last().map_or(1, |p| p.0 + 1)];
        for ((_, values), &(a, start)) in initial.iter().flatten().zip(&places) {
            arena_values[a].resize(start, 0.0);
            arena_values[a].extend_from_slice(values);
        }
        let arenas = arena_values
            .iter()
            .map(|values| {
                let len = values.len();
                Ok(Arena {
                    // Windowed: an output layer's weights are read through one (matmul::Variant::UniformB).
                    values: gpu.upload_windowed("parameters", values)?,
                    grads: gpu.zeros("gradients", len)?,
                    state: (0..compile.optimizer.slots().len())
                        .map(|_| match compile.optimizer.slot_start() {
                            start if start != 0.0 => gpu.upload("optimizer_state", &vec![start; len]),
                            _ => gpu.zeros("optimizer_state", len),
                        })
                        .collect::<Result<_>>()?,
                })
            })
            .collect::<Result<Vec<Arena>>>()?;
        let mut places = places.into_iter();
        let params = initial
            .into_iter()
            .map(|layer_params| {
                layer_params
                    .into_iter()
                    .map(|(spec, values)| {
                        let (a, start) = places.next().expect("a place for every parameter");
                        let (arena, len) = (&arenas[a], values.len());
                        Param {
                            name: spec.name,
                            value: arena.values.view(start, len),
                            grad: arena.grads.view(start, len),
                            state: arena.state.iter().map(|t| t.view(start, len)).collect(),
                            shape: spec.shape,
                        }
                    })
                    .collect()
            })
            .collect();
        let state = frozen
            .into_iter()
            .map(|layer_state| {
                let upload = |(spec, values): (ParamSpec, Vec<f32>)| {
                    Ok(State { name: spec.name, value: gpu.upload("non_trainable", &values)?, shape: spec.shape })
                };
                layer_state.into_iter().map(upload).collect::<Result<Vec<State>>>()
            })
            .collect::<Result<_>>()?;
        Ok(Model {
            step: gpu.upload("step", &[0u32])?,
            rate: match compile.optimizer.lr() {
                LearningRate::Constant(lr) => gpu.upload("learning_rate", &[*lr])?,
                LearningRate::Schedule(_) => gpu.zeros("learning_rate", 1)?,
            },
            schedule: match compile.optimizer.lr() {
                LearningRate::Constant(_) => None,
                schedule => Some(gpu.upload("schedule", &schedule.words())?),
            },
            state,
            gpu,
            spec,
            shapes,
            compile,
            head,
            params,
            arenas,
            class_names: Vec::new(),
        })
    }

    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Names the output classes; refused unless there is one name per output.
    pub fn set_class_names(&mut self, names: Vec<String>) -> Result<()> {
        let outputs = self.spec.output_width()?;
        if !names.is_empty() && names.len() != outputs {
            return Err(Error::Invalid(format!("{} class names for a model with {outputs} outputs", names.len())));
        }
        self.class_names = names;
        Ok(())
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    pub fn spec(&self) -> &Sequential {
        &self.spec
    }

    pub fn summary(&self) -> Result<String> {
        self.spec.summary()
    }

    /// Every trainable tensor, in layer order (kernel, then bias), copied to the host.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn weights(&self) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.weights_async())
    }

    /// `weights`, awaited.
    pub async fn weights_async(&self) -> Result<Vec<Vec<f32>>> {
        self.read_all(self.params.iter().flatten().map(|p| &p.value)).await
    }

    /// Every non-trainable tensor (BatchNormalization's moving mean and variance), in layer
    /// order, copied to the host: Keras's `non_trainable_weights`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn non_trainable_weights(&self) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.non_trainable_weights_async())
    }

    /// `non_trainable_weights`, awaited.
    pub async fn non_trainable_weights_async(&self) -> Result<Vec<Vec<f32>>> {
        self.read_all(self.state.iter().flatten().map(|s| &s.value)).await
    }

    /// Every optimizer slot of every parameter tensor, in the order of `weights` (Adam's m then
    /// v, SGD's velocity), copied to the host.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn optimizer_state(&self) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.optimizer_state_async())
    }

    /// `optimizer_state`, awaited.
    pub async fn optimizer_state_async(&self) -> Result<Vec<Vec<f32>>> {
        self.read_all(self.params.iter().flatten().flat_map(|p| &p.state)).await
    }

    async fn read_all(&self, tensors: impl Iterator<Item = &Tensor>) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::new();
        for t in tensors {
            out.push(self.gpu.read_async(t).await?);
        }
        Ok(out)
    }

    /// Shapes of the tensors `weights` returns.
    pub fn weight_shapes(&self) -> Vec<Vec<usize>> {
        self.params.iter().flatten().map(|p| p.shape.clone()).collect()
    }

    /// Replaces every parameter tensor (same order and lengths as `weights`).
    pub fn set_weights(&mut self, weights: &[Vec<f32>]) -> Result<()> {
        let params: Vec<&Param> = self.params.iter().flatten().collect();
        if weights.len() != params.len() {
            return Err(Error::Invalid(format!(
                "{} weight tensors given, the model has {}",
                weights.len(),
                params.len()
            )));
        }
        for (i, (w, p)) in weights.iter().zip(&params).enumerate() {
            if w.len() != p.value.len() {
                return Err(Error::Invalid(format!("weight tensor {i}: {} values for shape {:?}", w.len(), p.shape)));
            }
        }
        for (w, p) in weights.iter().zip(params) {
            self.gpu.write(&p.value, w);
        }
        Ok(())
    }

    /// Every weight of every layer by Keras's name (`conv2d/kernel`,
    /// `batch_normalization/moving_mean`): each layer's trainable tensors, then its
    /// non-trainable ones. Checkpoints store the same names.
    pub(crate) fn named_weights(&self) -> Vec<(String, &Tensor, &[usize])> {
        let names = self.spec.layer_names();
        let layers = self.params.iter().zip(&self.state).zip(names);
        layers
            .flat_map(|((params, state), layer)| {
                let trainable = params.iter().map(|p| (p.name, &p.value, &p.shape[..]));
                let frozen = state.iter().map(|s| (s.name, &s.value, &s.shape[..]));
                let named = trainable.chain(frozen).map(move |(name, t, shape)| (format!("{layer}/{name}"), t, shape));
                named.collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every weight by Keras's name, copied to the host, in `named_weights` order.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn get_weights(&self) -> Result<Vec<(String, Vec<f32>)>> {
        self.named_weights().into_iter().map(|(name, t, _)| Ok((name, self.gpu.read(t)?))).collect()
    }

    /// Replaces the weights named (any subset, trainable or not). Everything is checked before
    /// anything is written: an unknown name or a wrong length changes nothing. As Keras's
    /// `set_weights`, it leaves the optimizer's state and step counter as they are (a model
    /// given new weights mid-run keeps its moments; build a new model for a fresh start).
    pub fn set_weights_by_name(&mut self, weights: &[(&str, &[f32])]) -> Result<()> {
        let named = self.named_weights();
        let mut writes = Vec::with_capacity(weights.len());
        for (name, values) in weights {
            let Some((_, tensor, shape)) = named.iter().find(|(n, _, _)| n == name) else {
                let known: Vec<&str> = named.iter().map(|(n, _, _)| n.as_str()).collect();
                return Err(Error::Invalid(format!("no weight '{name}'; the model has {}", known.join(", "))));
            };
            if values.len() != tensor.len() {
                return Err(Error::Invalid(format!("weight '{name}': {} values for shape {shape:?}", values.len())));
            }
            writes.push((*tensor, *values));
        }
        for (tensor, values) in writes {
            self.gpu.write(tensor, values);
        }
        Ok(())
    }

    /// Optimizer updates made so far.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn iterations(&self) -> Result<u32> {
        pollster::block_on(self.iterations_async())
    }

    /// `iterations`, awaited.
    pub async fn iterations_async(&self) -> Result<u32> {
        Ok(self.gpu.read_async::<u32>(&self.step).await?[0])
    }

    /// The learning rate the next update uses (the schedule's at `iterations`), as Keras's
    /// `optimizer.learning_rate` reads, rounded to the f32 the kernels hold it in.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn learning_rate(&self) -> Result<f64> {
        pollster::block_on(self.learning_rate_async())
    }

    /// `learning_rate`, awaited.
    pub async fn learning_rate_async(&self) -> Result<f64> {
        Ok(f64::from(self.current_lr_async().await?.at(self.iterations_async().await?) as f32))
    }

    /// The rate as it stands: the schedule compiled in, or a constant one as the device holds it
    /// (`set_learning_rate` may have lowered it since compile). Checkpoints save this.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn current_lr(&self) -> Result<LearningRate> {
        pollster::block_on(self.current_lr_async())
    }

    /// `current_lr`, awaited.
    pub async fn current_lr_async(&self) -> Result<LearningRate> {
        Ok(match self.compile.optimizer.lr() {
            LearningRate::Constant(_) => LearningRate::Constant(self.gpu.read_async::<f32>(&self.rate).await?[0]),
            schedule => schedule.clone(),
        })
    }

    /// Sets a constant learning rate for the updates to come (what ReduceLROnPlateau does), in
    /// the device's rate, so the recorded step needs nothing new; as in Keras, refused when the
    /// rate is a schedule.
    pub fn set_learning_rate(&self, lr: f32) -> Result<()> {
        if !self.compile.optimizer.lr().is_constant() {
            return Err(Error::Invalid(
                "the learning rate is a schedule, so it cannot be set (as in Keras); use a constant rate".into(),
            ));
        }
        LearningRate::Constant(lr).check()?;
        self.gpu.write(&self.rate, &[lr]);
        Ok(())
    }

    /// Layer `i` as the graph runs it: `effective_layer`, and an elementwise `Activation` layer
    /// runs inside the layer before it when that one can take it (`LayerKind::absorbing`), a
    /// Dropout layer inside the pool before it (`folded_dropout`), each itself a view. The CPU
    /// reference runs the layers as written: it checks the folding too.
    pub(crate) fn graph_layer(&self, i: usize) -> Layer {
        if let Some(absorbed) = self.absorbed_activation(i + 1) {
            return self.effective_layer(i).kind_impl().absorbing(absorbed).expect("checked by absorbed_activation");
        }
        if self.absorbed_activation(i).is_some() || self.dropout_taken_by(i).is_some() {
            return Layer::Activation(Act::Linear);
        }
        self.effective_layer(i)
    }

    /// The Dropout layer that runs inside layer `i` (`LayerKind::takes_dropout`): its index and
    /// rate.
    pub(crate) fn folded_dropout(&self, i: usize) -> Option<(usize, f32)> {
        let j = (i + 1..self.spec.layers.len()).find(|&j| !self.effective_layer(j).kind_impl().is_view())?;
        let Layer::Dropout(d) = self.effective_layer(j) else { return None };
        (self.dropout_taken_by(j) == Some(i)).then_some((j, d.rate))
    }

    /// The layer a Dropout layer `j` (of a positive rate) runs inside: the last before it that
    /// computes, past views such as Flatten, if it takes dropout.
    fn dropout_taken_by(&self, j: usize) -> Option<usize> {
        let Layer::Dropout(d) = self.effective_layer(j) else { return None };
        let i = (0..j).rev().find(|&i| !self.effective_layer(i).kind_impl().is_view())?;
        (d.rate > 0.0 && self.effective_layer(i).kind_impl().takes_dropout()).then_some(i)
    }

    /// Layer `i` as written, less its activation when it is the last and the loss fuses it.
    pub(crate) fn effective_layer(&self, i: usize) -> Layer {
        let layer = &self.spec.layers[i];
        if i + 1 < self.spec.layers.len() || self.head.fused.is_none() {
            return layer.clone();
        }
        layer.kind_impl().without_activation()
    }

    /// The activation of layer `i` when it is an `Activation` layer the layer before absorbs.
    fn absorbed_activation(&self, i: usize) -> Option<Act> {
        if i == 0 || i >= self.spec.layers.len() {
            return None;
        }
        let Layer::Activation(act) = self.effective_layer(i) else { return None };
        let nonlinear = act.elementwise().is_some_and(|a| a != Activation::Linear);
        (nonlinear && self.effective_layer(i - 1).kind_impl().absorbing(act).is_some()).then_some(act)
    }
}

#[cfg(test)]
mod tests {
    use super::arena_places;

    #[test]
    fn parameters_pack_into_aligned_arenas_within_the_binding_limit() {
        // 100352 + 128 + 1280 + 10: the seed MLP, one arena.
        assert_eq!(
            arena_places(&[100_352, 128, 1280, 10], 1 << 25),
            [(0, 0), (0, 100_352), (0, 100_480), (0, 101_760)]
        );
        // Starts round up to 64 elements; a tensor that would cross the limit starts a new arena,
        // and one larger than the limit still gets an arena of its own (refused when uploaded).
        assert_eq!(arena_places(&[10, 70, 100, 500, 1], 256), [(0, 0), (0, 64), (1, 0), (2, 0), (3, 0)]);
    }
}
