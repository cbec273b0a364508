//! A Sequential model compiled onto a GPU: parameters (Glorot-uniform kernels, zero biases,
//! from the seed), optimizer state, and the step counter the shaders read.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::layer::{Act, Layer};
use super::network::Network;
use super::sequential::Sequential;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::ops::loss::Loss;
use crate::ops::optim::{Adam, Sgd};

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Optimizer {
    Sgd(Sgd),
    Adam(Adam),
}

impl Optimizer {
    /// Extra tensors per parameter: velocity for SGD with momentum, m and v for Adam.
    fn slots(&self) -> usize {
        match self {
            Optimizer::Sgd(_) => 1,
            Optimizer::Adam(_) => 2,
        }
    }

    pub fn with_lr(self, lr: f32) -> Optimizer {
        match self {
            Optimizer::Sgd(s) => Optimizer::Sgd(Sgd { lr, ..s }),
            Optimizer::Adam(a) => Optimizer::Adam(Adam { lr, ..a }),
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

/// What `compile` takes in Keras, plus the seed that fixes initial weights, shuffling and dropout.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Compile {
    pub optimizer: Optimizer,
    pub loss: LossKind,
    pub seed: u64,
}

/// One trainable tensor with its gradient and optimizer state.
pub(crate) struct Param {
    pub shape: Vec<usize>,
    pub value: Tensor,
    pub grad: Tensor,
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
    /// Optimizer updates made so far (u32): Adam's bias correction and dropout's RNG read it.
    pub(crate) step: Tensor,
    pub(crate) net: Option<Network>,
    /// Two buffers the loss totals are copied into, alternately, so one can be read while the
    /// next chunk of steps runs.
    pub(crate) readbacks: [wgpu::Buffer; 2],
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

impl Model {
    /// Checks the model, initialises its parameters from the seed and uploads them.
    pub fn new(gpu: Arc<Gpu>, spec: Sequential, compile: Compile) -> Result<Model> {
        let shapes = spec.shapes()?;
        for (i, layer) in spec.layers.iter().enumerate() {
            if matches!(layer, Layer::Conv2D { activation: Act::Softmax, .. }) {
                return Err(Error::Invalid(format!("layer {i}: Conv2D with a softmax activation is not supported")));
            }
        }
        let head = head(&spec, compile.loss)?;
        let mut rng = StdRng::seed_from_u64(compile.seed);
        let mut params = Vec::new();
        for (layer, input) in spec.layers.iter().zip(&shapes) {
            let mut layer_params = Vec::new();
            let (fan_in, fan_out) = layer.fans(input);
            for (j, shape) in layer.param_shapes(input).into_iter().enumerate() {
                let len: usize = shape.iter().product();
                // Glorot uniform kernels, zero biases: Keras's defaults.
                let values: Vec<f32> = if j == 0 {
                    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                    (0..len).map(|_| rng.random_range(-limit..limit)).collect()
                } else {
                    vec![0.0; len]
                };
                let state =
                    (0..compile.optimizer.slots()).map(|_| gpu.zeros("optimizer_state", len)).collect::<Result<_>>()?;
                layer_params.push(Param {
                    value: gpu.upload("param", &values)?,
                    grad: gpu.zeros("grad", len)?,
                    state,
                    shape,
                });
            }
            params.push(layer_params);
        }
        let readback = || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("totals_readback"),
                size: 16,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let readbacks = [readback(), readback()];
        Ok(Model {
            step: gpu.upload("step", &[0u32])?,
            gpu,
            spec,
            shapes,
            compile,
            head,
            params,
            net: None,
            readbacks,
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

    /// Every parameter tensor, in layer order (kernel, then bias), copied to the host.
    pub fn weights(&self) -> Result<Vec<Vec<f32>>> {
        self.params.iter().flatten().map(|p| self.gpu.read(&p.value)).collect()
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

    /// Optimizer updates made so far.
    pub fn iterations(&self) -> Result<u32> {
        Ok(self.gpu.read::<u32>(&self.step)?[0])
    }

    /// Layer `i` as the graph runs it: the last layer's activation is left out when the loss fuses it.
    pub(crate) fn effective_layer(&self, i: usize) -> Layer {
        let layer = self.spec.layers[i].clone();
        if i + 1 < self.spec.layers.len() || self.head.fused.is_none() {
            return layer;
        }
        match layer {
            Layer::Dense { units, .. } => Layer::Dense { units, activation: Act::Linear },
            Layer::Conv2D { filters, kernel, strides, padding, .. } => {
                Layer::Conv2D { filters, kernel, strides, padding, activation: Act::Linear }
            }
            _ => Layer::Activation(Act::Linear),
        }
    }

    /// The batch-size-specific graph, built on first use and rebuilt when the batch size changes.
    pub(crate) fn network(&mut self, batch: usize) -> Result<&Network> {
        if self.net.as_ref().is_none_or(|n| n.batch != batch) {
            self.net = None;
            self.net = Some(Network::build(self, batch)?);
        }
        Ok(self.net.as_ref().unwrap())
    }
}
