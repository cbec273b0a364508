//! Layer specifications, Keras-shaped: what a layer is, its output shape and parameters.

use crate::error::{Error, Result};
use crate::ops::{Activation, Padding};

/// A layer's activation, as Keras names them; softmax is row-wise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Act {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

impl Act {
    /// The elementwise kernel activation, or `None` for softmax.
    pub fn elementwise(self) -> Option<Activation> {
        match self {
            Act::Linear => Some(Activation::Linear),
            Act::Relu => Some(Activation::Relu),
            Act::Sigmoid => Some(Activation::Sigmoid),
            Act::Tanh => Some(Activation::Tanh),
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
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Layer {
    /// y = act(x · kernel + bias); kernel [in, out].
    Dense {
        units: usize,
        activation: Act,
    },
    /// NHWC convolution; kernel [kh, kw, c_in, filters].
    Conv2D {
        filters: usize,
        kernel: (usize, usize),
        strides: (usize, usize),
        padding: Padding,
        activation: Act,
    },
    MaxPooling2D {
        pool: (usize, usize),
        strides: (usize, usize),
        padding: Padding,
    },
    AveragePooling2D {
        pool: (usize, usize),
        strides: (usize, usize),
        padding: Padding,
    },
    Flatten,
    /// Inverted dropout while training; the identity otherwise.
    Dropout {
        rate: f32,
    },
    Activation(Act),
}

impl Layer {
    pub fn dense(units: usize, activation: Act) -> Layer {
        Layer::Dense { units, activation }
    }

    /// Stride 1, 'valid' padding, as Keras's defaults.
    pub fn conv2d(filters: usize, kernel: (usize, usize), activation: Act) -> Layer {
        Layer::Conv2D { filters, kernel, strides: (1, 1), padding: Padding::Valid, activation }
    }

    /// Strides equal to the pool size, 'valid' padding, as Keras's defaults.
    pub fn max_pool(pool: (usize, usize)) -> Layer {
        Layer::MaxPooling2D { pool, strides: pool, padding: Padding::Valid }
    }

    pub fn avg_pool(pool: (usize, usize)) -> Layer {
        Layer::AveragePooling2D { pool, strides: pool, padding: Padding::Valid }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense { .. } => "Dense",
            Layer::Conv2D { .. } => "Conv2D",
            Layer::MaxPooling2D { .. } => "MaxPooling2D",
            Layer::AveragePooling2D { .. } => "AveragePooling2D",
            Layer::Flatten => "Flatten",
            Layer::Dropout { .. } => "Dropout",
            Layer::Activation(_) => "Activation",
        }
    }

    /// The layer's activation, if it has one.
    pub fn activation(&self) -> Option<Act> {
        match self {
            Layer::Dense { activation, .. } | Layer::Conv2D { activation, .. } | Layer::Activation(activation) => {
                Some(*activation)
            }
            _ => None,
        }
    }

    /// The per-sample output shape for a per-sample input shape.
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let bad = |want: &str| Err(Error::Invalid(format!("{} needs {want} input, got shape {input:?}", self.kind())));
        match self {
            Layer::Dense { units, .. } => match input {
                [_] if *units > 0 => Ok(vec![*units]),
                [_] => Err(Error::Invalid("Dense needs at least one unit".into())),
                _ => bad("a flat (add Flatten first)"),
            },
            Layer::Conv2D { filters, kernel, strides, padding, .. } => {
                let &[h, w, c] = input else { return bad("an [h, w, c]") };
                let shape = crate::ops::conv2d::Conv2dShape {
                    n: 1,
                    h,
                    w,
                    c_in: c,
                    c_out: *filters,
                    kh: kernel.0,
                    kw: kernel.1,
                    stride_h: strides.0,
                    stride_w: strides.1,
                    padding: *padding,
                };
                if *filters == 0 || kernel.0 == 0 || kernel.1 == 0 || strides.0 == 0 || strides.1 == 0 {
                    return Err(Error::Invalid(format!("Conv2D with zero filters, kernel or stride: {self:?}")));
                }
                let e = shape.extent()?;
                Ok(vec![e.oh, e.ow, *filters])
            }
            Layer::MaxPooling2D { pool, strides, padding } | Layer::AveragePooling2D { pool, strides, padding } => {
                let &[h, w, c] = input else { return bad("an [h, w, c]") };
                if pool.0 == 0 || pool.1 == 0 || strides.0 == 0 || strides.1 == 0 {
                    return Err(Error::Invalid(format!("{} with a zero pool or stride", self.kind())));
                }
                let shape = crate::ops::pool::PoolShape {
                    n: 1,
                    h,
                    w,
                    c,
                    pool_h: pool.0,
                    pool_w: pool.1,
                    stride_h: strides.0,
                    stride_w: strides.1,
                    padding: *padding,
                };
                let (oh, ow) = shape.out_hw()?;
                Ok(vec![oh, ow, c])
            }
            Layer::Flatten => Ok(vec![input.iter().product()]),
            Layer::Dropout { rate } => {
                if !(0.0..1.0).contains(rate) {
                    return Err(Error::Invalid(format!("dropout rate {rate} must be in [0, 1)")));
                }
                Ok(input.to_vec())
            }
            Layer::Activation(Act::Softmax) if input.len() != 1 => bad("a flat"),
            Layer::Activation(_) => Ok(input.to_vec()),
        }
    }

    /// Shapes of the trainable tensors (kernel, bias) for a per-sample input shape.
    pub fn param_shapes(&self, input: &[usize]) -> Vec<Vec<usize>> {
        match self {
            Layer::Dense { units, .. } => vec![vec![input[0], *units], vec![*units]],
            Layer::Conv2D { filters, kernel, .. } => vec![vec![kernel.0, kernel.1, input[2], *filters], vec![*filters]],
            _ => Vec::new(),
        }
    }

    /// (fan_in, fan_out) of the kernel, for Glorot initialisation.
    pub fn fans(&self, input: &[usize]) -> (usize, usize) {
        match self {
            Layer::Dense { units, .. } => (input[0], *units),
            Layer::Conv2D { filters, kernel, .. } => (kernel.0 * kernel.1 * input[2], kernel.0 * kernel.1 * filters),
            _ => (0, 0),
        }
    }
}
