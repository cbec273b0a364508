//! One module per layer kind. A layer module alone knows its output shape, its parameters
//! (Keras's names, shapes, initializers), how it records its forward and backward dispatches,
//! and its CPU twin (f64) that the whole-step reference runs. The `Layer` enum is the serde
//! form and dispatches to these through [`Layer::kind_impl`](super::Layer).

mod activation;
mod batch_norm;
mod conv2d;
mod dense;
mod dropout;
mod flatten;
mod global_pool;
mod pool;

pub use activation::{ELU, LeakyReLU};
pub use batch_norm::BatchNormalization;
pub use conv2d::Conv2D;
pub use dense::Dense;
pub use dropout::Dropout;
pub(crate) use dropout::layer_seed as dropout_seed;
pub use flatten::Flatten;
pub use global_pool::{GlobalAveragePooling2D, GlobalMaxPooling2D, GlobalPool2D};
pub use pool::{AveragePooling2D, MaxPooling2D, Pool2D};

use std::sync::Arc;

use super::layer::{Act, Layer};
use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Tensor};
use crate::ops::matmul::Operand;
use crate::ops::regularizer::Regularizer;
use crate::ops::{self, Activation};

/// How a parameter starts, as Keras's initializers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    GlorotUniform { fan_in: usize, fan_out: usize },
    Zeros,
    Ones,
}

/// One tensor a layer owns, declared once: checkpoints, summaries and the optimizer read it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Keras's name within the layer: `kernel`, `bias`.
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub init: Init,
    /// Updated by the optimizer; a non-trainable tensor (BatchNormalization's moving
    /// statistics) is state the layer itself updates.
    pub trainable: bool,
}

impl ParamSpec {
    pub fn trainable(name: &'static str, shape: Vec<usize>, init: Init) -> ParamSpec {
        ParamSpec { name, shape, init, trainable: true }
    }

    /// A product layer's tensors: its kernel, and a zero-initialised bias of `bias` units when
    /// it has one (Keras's `use_bias`).
    pub fn kernel_and_bias(kernel: Vec<usize>, init: Init, bias: Option<usize>) -> Vec<ParamSpec> {
        let bias = bias.map(|units| ParamSpec::trainable("bias", vec![units], Init::Zeros));
        std::iter::once(ParamSpec::trainable("kernel", kernel, init)).chain(bias).collect()
    }

    pub fn non_trainable(name: &'static str, shape: Vec<usize>, init: Init) -> ParamSpec {
        ParamSpec { name, shape, init, trainable: false }
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a graph holds its input batch: f32, or (`Unorm8`) a dataset's u8 features as they
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
    /// A tensor held in this form, as a product's A operand.
    pub fn operand(self, t: &Tensor) -> Operand<'_> {
        match self {
            InputForm::F32 => Operand::F32(t),
            InputForm::Unorm8 => Operand::Unorm8(t),
        }
    }
}

/// What every layer kind implements.
pub(crate) trait LayerKind {
    /// Keras's class name: `Dense`, `Conv2D`, ...
    fn kind(&self) -> &'static str;

    /// The per-sample output shape for a per-sample input shape; refuses what the layer
    /// cannot take.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>>;

    /// The tensors the layer owns, for a per-sample input shape, in checkpoint order.
    fn params(&self, _input: &[usize]) -> Vec<ParamSpec> {
        Vec::new()
    }

    /// The layer's activation, if it has one.
    fn activation(&self) -> Option<Act> {
        None
    }

    /// The layer with the activation of an `Activation` layer that follows it folded in, when it
    /// can apply it itself (its own activation linear): the graph then runs the `Activation`
    /// layer as a view, saving a pass over the tensor each way.
    fn absorbing(&self, _act: Act) -> Option<Layer> {
        None
    }

    /// The layer as the graph runs it when the loss applies its activation.
    fn without_activation(&self) -> Layer {
        Layer::Activation(Act::Linear)
    }

    /// Whether the output is the input, unchanged: the layer only renames a tensor.
    fn is_view(&self) -> bool {
        false
    }

    /// Whether the layer is a product that can read its input as bytes (`InputForm::Unorm8`).
    fn is_product(&self) -> bool {
        false
    }

    /// Whether the layer takes its incoming gradient before its activation when the next layer
    /// applied that activation's derivative (`GpuCtx::dy_is_pre_activation`).
    fn takes_pre_activation_grad(&self) -> bool {
        false
    }

    /// Whether the layer's input-gradient pass applies the derivative of its input's
    /// activation (`GpuCtx::input_act`).
    fn applies_input_activation(&self) -> bool {
        false
    }

    /// Whether a Dropout layer that follows (past views) can run inside this one
    /// (`GpuCtx::dropout`): its mask on y in training, on dy in the backward pass.
    fn takes_dropout(&self) -> bool {
        false
    }

    /// Records the layer's dispatches.
    fn record(&self, ctx: &GpuCtx) -> Result<Recorded>;

    /// The CPU twin of the forward pass, in training mode or inference.
    fn cpu_forward(&self, ctx: &CpuCtx, x: &[f64], training: bool) -> Vec<f64>;

    /// The CPU twin of a training step's update of the layer's non-trainable tensors (from its
    /// input x), if it has any.
    fn cpu_moved_state(&self, _ctx: &CpuCtx, _x: &[f64]) -> Option<Vec<Vec<f64>>> {
        None
    }

    /// The CPU twin of the backward pass: (dx, the gradient of each parameter).
    fn cpu_backward(&self, ctx: &CpuCtx, x: &[f64], y: &[f64], dy: Vec<f64>) -> (Vec<f64>, Vec<Vec<f64>>);
}

/// A layer's dispatches, in the order they run.
#[derive(Default)]
pub(crate) struct Recorded {
    pub forward_train: Vec<Dispatch>,
    pub forward_infer: Vec<Dispatch>,
    pub backward: Vec<Dispatch>,
}

impl Recorded {
    /// The same forward pass in training and inference.
    pub fn forward(&mut self, make: impl Fn() -> Result<Dispatch>) -> Result<()> {
        self.forward_train.push(make()?);
        self.forward_infer.push(make()?);
        Ok(())
    }
}

/// One parameter on the device: its value, gradient and optimizer slots (views into an arena).
pub(crate) struct Param {
    /// The name within its layer (`kernel`, `bias`), from its `ParamSpec`.
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub value: Tensor,
    pub grad: Tensor,
    pub state: Vec<Tensor>,
}

/// A non-trainable tensor of a layer on the device: the optimizer never touches it.
pub(crate) struct State {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub value: Tensor,
}

/// What a layer records against: its tensors in the graph of one batch size.
pub(crate) struct GpuCtx<'a> {
    pub gpu: &'a Gpu,
    pub batch: usize,
    /// The layer's position in the model.
    pub index: usize,
    pub input_shape: &'a [usize],
    pub x: &'a Tensor,
    /// How x is held: only the input batch may be bytes, and only a product meets it so.
    pub x_form: InputForm,
    pub y: &'a Tensor,
    /// The gradient of y: present whenever this layer or one before it has parameters.
    pub dy: Option<&'a Tensor>,
    pub dx: Option<&'a Tensor>,
    pub params: &'a [Param],
    /// The non-trainable tensors, in the order of the layer's `params`.
    pub state: &'a [State],
    /// The activation that produced x, when this layer's dx product applies its derivative.
    pub input_act: Option<Activation>,
    /// dy is already the gradient before this layer's activation (the next layer applied it).
    pub dy_is_pre_activation: bool,
    /// The Dropout layer after this one that runs inside it (`LayerKind::takes_dropout`); y
    /// and dy are then that layer's output and its gradient.
    pub dropout: Option<ops::pool::FoldedDropout<'a>>,
    /// Optimizer updates so far (u32): dropout's RNG reads it.
    pub step: &'a Tensor,
    pub seed: u64,
    /// Where a layer adds a loss of its own (a kernel regularizer's, as Keras's `add_loss`):
    /// the loss totals, and the batch's valid rows.
    pub loss_totals: &'a Tensor,
    pub batch_rows: &'a Tensor,
}

impl GpuCtx<'_> {
    /// x as a product's A operand.
    pub fn x_operand(&self) -> Operand<'_> {
        self.x_form.operand(self.x)
    }

    pub fn dy(&self) -> &Tensor {
        self.dy.expect("a layer that passes a gradient back has one coming in")
    }

    /// The gradient before `act`: a scratch tensor filled by the activation's backward pass
    /// (recorded into `backward`) from y, or from the activation's input `z` where the
    /// derivative needs it (then the layer keeps z: `activate_apart`).
    pub fn pre_activation_grad(
        &self,
        act: Act,
        cols: usize,
        z: Option<&Tensor>,
        backward: &mut Vec<Dispatch>,
    ) -> Result<Arc<Tensor>> {
        let dy = self.dy();
        let dz = Arc::new(self.gpu.zeros_windowed("dz", dy.len())?);
        let d = match act.elementwise() {
            Some(a) if a.from_output() => ops::activation::backward(self.gpu, a, self.y, dy, &dz)?,
            Some(a) => ops::activation::backward(self.gpu, a, z.expect("the activation's input is kept"), dy, &dz)?,
            None => ops::activation::softmax_backward(self.gpu, cols, self.y, dy, &dz)?,
        };
        backward.push(d.owning(dz.clone()));
        Ok(dz)
    }
}

/// Records a kernel regularizer of `kernel`: its loss in the forward pass (in training and
/// inference, as Keras's evaluate counts it too), and its gradient added to the kernel's after
/// the layer's own (`backward` is the layer's list so far).
pub(crate) fn record_regularizer(
    ctx: &GpuCtx,
    r: Option<Regularizer>,
    kernel: &Param,
    rec: &mut Recorded,
) -> Result<()> {
    let Some(r) = r else { return Ok(()) };
    rec.forward(|| ops::regularizer::penalty(ctx.gpu, &r, &kernel.value, ctx.batch, ctx.batch_rows, ctx.loss_totals))?;
    rec.backward.push(ops::regularizer::grad(ctx.gpu, &r, &kernel.value, &kernel.grad)?);
    Ok(())
}

/// Adds a kernel regularizer's gradient to the kernel's: the CPU twin of `record_regularizer`.
pub(crate) fn cpu_regularize(r: Option<Regularizer>, kernel: &[f64], grad: &mut [f64]) {
    if let Some(r) = r {
        for (g, d) in grad.iter_mut().zip(ops::regularizer::cpu::grad(&r, kernel)) {
            *g += d;
        }
    }
}

/// Records a product layer's forward pass (in training and inference), `product(activation,
/// out)` writing activation(x · kernel + bias) into out. An activation whose derivative is a
/// function of its output runs in the product's epilogue. Softmax (row-wise over `cols`) and
/// those whose derivative needs their input run as a pass of their own over the product z,
/// which is returned, kept for the backward pass.
pub(crate) fn record_product(
    ctx: &GpuCtx,
    act: Act,
    cols: usize,
    rec: &mut Recorded,
    product: impl Fn(Activation, &Tensor) -> Result<Dispatch>,
) -> Result<Option<Arc<Tensor>>> {
    if let Some(a) = act.elementwise().filter(|a| a.from_output()) {
        rec.forward(|| product(a, ctx.y))?;
        return Ok(None);
    }
    let z = Arc::new(ctx.gpu.zeros("preactivation", ctx.y.len())?);
    for list in [&mut rec.forward_train, &mut rec.forward_infer] {
        list.push(product(Activation::Linear, &z)?.owning(z.clone()));
        list.push(match act.elementwise() {
            Some(a) => ops::activation::forward(ctx.gpu, a, &z, ctx.y)?,
            None => ops::activation::softmax_forward(ctx.gpu, cols, &z, ctx.y)?,
        });
    }
    Ok(Some(z))
}

/// What a layer's CPU twin computes against.
pub(crate) struct CpuCtx<'a> {
    pub batch: usize,
    pub index: usize,
    pub input_shape: &'a [usize],
    /// The layer's trainable parameters, then its non-trainable ones, each in `params` order.
    pub params: &'a [Vec<f64>],
    pub state: &'a [Vec<f64>],
    pub seed: u64,
    pub step: u32,
}

/// The elements of a tensor of `shape`, if a kernel can index them (at most 2³² - 1: shaders
/// index in u32); `None` for more, or an overflow.
pub(crate) fn checked_len(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).filter(|&n| n <= u32::MAX as usize)
}

/// serde's default for settings that are on unless said.
fn yes() -> bool {
    true
}

/// y = act(z), softmax row-wise over `cols`: the CPU twin of a layer's activation.
pub(crate) fn cpu_activate(act: Act, z: Vec<f64>, cols: usize) -> Vec<f64> {
    use crate::ops::activation::cpu;
    match act.elementwise() {
        Some(Activation::Linear) => z,
        Some(a) => cpu::forward(a, &z),
        None => cpu::softmax_forward(&z, cols),
    }
}

/// dz from dy through the activation whose output is y; `input` recomputes the activation's
/// input where the derivative needs it.
pub(crate) fn cpu_deactivate(
    act: Act,
    y: &[f64],
    dy: &[f64],
    cols: usize,
    input: impl FnOnce() -> Vec<f64>,
) -> Vec<f64> {
    use crate::ops::activation::cpu;
    match act.elementwise() {
        Some(a) if a.from_output() => cpu::backward(a, y, dy),
        Some(a) => cpu::backward(a, &input(), dy),
        None => cpu::softmax_backward(y, dy, cols),
    }
}
