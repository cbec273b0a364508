//! Layer specifications, Keras-shaped: the serde form of a model's layers and their activations.

use super::layers::{
    AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, ELU, Flatten, GlobalAveragePooling2D,
    GlobalMaxPooling2D, LayerKind, LeakyReLU, MaxPooling2D, ParamSpec,
};
use crate::error::Result;
use crate::ops::{Activation, Padding};

/// A layer's activation, as Keras names them; softmax is row-wise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Act {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
    /// Keras's `leaky_relu` activation: slope 0.2 below zero.
    LeakyRelu,
    /// Keras's `elu` activation: exp(x) - 1 below zero.
    Elu,
    /// Keras's `gelu`, exact (approximate=False): x · Φ(x).
    Gelu,
    /// Keras's `silu` (also named `swish`): x · sigmoid(x).
    Silu,
}

impl Act {
    /// The elementwise kernel activation, or `None` for softmax.
    pub fn elementwise(self) -> Option<Activation> {
        match self {
            Act::Linear => Some(Activation::Linear),
            Act::Relu => Some(Activation::Relu),
            Act::Sigmoid => Some(Activation::Sigmoid),
            Act::Tanh => Some(Activation::Tanh),
            Act::LeakyRelu => Some(Activation::LeakyRelu),
            Act::Elu => Some(Activation::Elu),
            Act::Gelu => Some(Activation::Gelu),
            Act::Silu => Some(Activation::Silu),
            Act::Softmax => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Act::Linear => "linear",
            Act::Relu => "relu",
            Act::Sigmoid => "sigmoid",
            Act::Tanh => "tanh",
            Act::Softmax => "softmax",
            Act::LeakyRelu => "leaky_relu",
            Act::Elu => "elu",
            Act::Gelu => "gelu",
            Act::Silu => "silu",
        }
    }
}

/// A layer as written in a spec file or a checkpoint: one variant per layer kind, each the
/// kind's own settings (its module in `nn::layers`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Layer {
    Dense(Dense),
    Conv2D(Conv2D),
    MaxPooling2D(MaxPooling2D),
    AveragePooling2D(AveragePooling2D),
    GlobalAveragePooling2D(GlobalAveragePooling2D),
    GlobalMaxPooling2D(GlobalMaxPooling2D),
    Flatten,
    Dropout(Dropout),
    Activation(Act),
    LeakyReLU(LeakyReLU),
    ELU(ELU),
    BatchNormalization(BatchNormalization),
}

impl Layer {
    /// The layer's module: the one place a layer kind is matched.
    pub(crate) fn kind_impl(&self) -> &dyn LayerKind {
        match self {
            Layer::Dense(l) => l,
            Layer::Conv2D(l) => l,
            Layer::MaxPooling2D(l) => l,
            Layer::AveragePooling2D(l) => l,
            Layer::GlobalAveragePooling2D(l) => l,
            Layer::GlobalMaxPooling2D(l) => l,
            Layer::Flatten => &Flatten,
            Layer::Dropout(l) => l,
            Layer::Activation(act) => act,
            Layer::LeakyReLU(l) => l,
            Layer::ELU(l) => l,
            Layer::BatchNormalization(l) => l,
        }
    }

    pub fn dense(units: usize, activation: Act) -> Layer {
        Layer::Dense(Dense { units, activation, use_bias: true, kernel_regularizer: None })
    }

    /// Stride 1, 'valid' padding, as Keras's defaults.
    pub fn conv2d(filters: usize, kernel: (usize, usize), activation: Act) -> Layer {
        let (strides, padding) = ((1, 1), Padding::Valid);
        Layer::Conv2D(Conv2D {
            filters,
            kernel,
            strides,
            padding,
            activation,
            use_bias: true,
            kernel_regularizer: None,
        })
    }

    /// Strides equal to the pool size, 'valid' padding, as Keras's defaults.
    pub fn max_pool(pool: (usize, usize)) -> Layer {
        Layer::MaxPooling2D(MaxPooling2D::new(pool))
    }

    pub fn avg_pool(pool: (usize, usize)) -> Layer {
        Layer::AveragePooling2D(AveragePooling2D::new(pool))
    }

    /// Keras's defaults: momentum 0.99, epsilon 1e-3, center and scale.
    pub fn batch_norm() -> Layer {
        Layer::BatchNormalization(BatchNormalization::default())
    }

    pub fn dropout(rate: f32) -> Layer {
        Layer::Dropout(Dropout { rate })
    }

    /// Keras's class name of the layer.
    pub fn kind(&self) -> &'static str {
        self.kind_impl().kind()
    }

    /// The layer's activation, if it has one.
    pub fn activation(&self) -> Option<Act> {
        self.kind_impl().activation()
    }

    /// The per-sample output shape for a per-sample input shape.
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        self.kind_impl().output_shape(input)
    }

    /// The tensors the layer owns for a per-sample input shape: Keras's names, shapes and
    /// initializers.
    pub fn params(&self, input: &[usize]) -> Vec<ParamSpec> {
        self.kind_impl().params(input)
    }
}
