//! Keras's own model JSON (`model.to_json()` of a Keras 3 Sequential model) as a `Sequential`.
//! Every setting of every layer is read: one wgtrain has is taken, one at its Keras default
//! is accepted, and anything else (a layer or a setting wgtrain lacks) is refused naming it,
//! never ignored.

use serde_json::{Map, Value};

use super::layer::{Act, Layer};
use super::layers::{
    AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, ELU, GlobalAveragePooling2D, GlobalMaxPooling2D,
    LeakyReLU, MaxPooling2D,
};
use super::sequential::Sequential;
use crate::error::{Error, Result};
use crate::ops::Padding;
use crate::ops::regularizer::Regularizer;

/// Whether `json` is a Keras model (a `class_name` at the top) rather than a wgtrain spec.
pub fn is_keras_model(json: &Value) -> bool {
    json.get("class_name").is_some()
}

/// The Sequential model a Keras model JSON describes.
pub fn sequential(json: &Value) -> Result<Sequential> {
    let class = json.get("class_name").and_then(Value::as_str).unwrap_or("?");
    if class != "Sequential" {
        return Err(Error::Invalid(format!("a Keras {class} model: only Sequential models are supported")));
    }
    let layers = json.pointer("/config/layers").and_then(Value::as_array);
    let layers = layers.ok_or_else(|| Error::Invalid("a Keras model without config.layers".into()))?;
    let (input, rest) = match layers.split_first() {
        Some((first, rest)) if first.get("class_name").and_then(Value::as_str) == Some("InputLayer") => {
            (input_shape(first)?, rest)
        }
        _ => return Err(Error::Invalid("the Keras model does not start with an InputLayer (keras.Input)".into())),
    };
    let mut model = Sequential::new(&input);
    for (i, layer) in rest.iter().enumerate() {
        model = model.add(Reader::new(i, layer)?.layer()?);
    }
    Ok(model)
}

fn input_shape(layer: &Value) -> Result<Vec<usize>> {
    let mut r = Reader::new(0, layer)?;
    r.skip("dtype");
    r.expect("sparse", &Value::Bool(false))?;
    r.expect("ragged", &Value::Bool(false))?;
    r.expect("optional", &Value::Bool(false))?;
    let shape = r.take("batch_shape").and_then(|v| v.as_array().cloned());
    let shape = shape.ok_or_else(|| r.error("no batch_shape".into()))?;
    let dims: Option<Vec<usize>> = shape.iter().skip(1).map(|d| d.as_u64().map(|d| d as usize)).collect();
    let dims = dims
        .filter(|d| !d.is_empty())
        .ok_or_else(|| r.error(format!("batch_shape {shape:?} is not [null, d, ...]")))?;
    r.done()?;
    Ok(dims)
}

/// One layer's config, its settings taken one by one; `done` refuses what is left.
struct Reader {
    index: usize,
    class: String,
    config: Map<String, Value>,
}

fn keras_activation(name: &str) -> Option<Act> {
    Some(match name {
        "linear" => Act::Linear,
        "relu" => Act::Relu,
        "sigmoid" => Act::Sigmoid,
        "tanh" => Act::Tanh,
        "softmax" => Act::Softmax,
        "leaky_relu" => Act::LeakyRelu,
        "elu" => Act::Elu,
        "gelu" => Act::Gelu,
        "silu" | "swish" => Act::Silu,
        _ => return None,
    })
}

impl Reader {
    fn new(index: usize, layer: &Value) -> Result<Reader> {
        let class = layer.get("class_name").and_then(Value::as_str).unwrap_or("?").to_string();
        let config = layer.get("config").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut r = Reader { index, class, config };
        r.skip("name");
        r.skip("dtype");
        r.expect("trainable", &Value::Bool(true))?;
        Ok(r)
    }

    fn error(&self, what: String) -> Error {
        Error::Invalid(format!("Keras layer {} ({}): {what}", self.index, self.class))
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.config.remove(key)
    }

    fn skip(&mut self, key: &str) {
        self.config.remove(key);
    }

    /// A setting that must be at the value wgtrain computes (absent counts as that value).
    fn expect(&mut self, key: &str, want: &Value) -> Result<()> {
        match self.take(key) {
            Some(v) if v != *want => Err(self.error(format!("{key} = {v} is not supported (only {want})"))),
            _ => Ok(()),
        }
    }

    /// Settings that must be null: regularizers, constraints, and the like.
    fn expect_null(&mut self, keys: &[&str]) -> Result<()> {
        keys.iter().try_for_each(|k| self.expect(k, &Value::Null))
    }

    /// An initializer that must be Keras's class `want` (its seed is free: wgtrain draws its own).
    fn expect_initializer(&mut self, key: &str, want: &str) -> Result<()> {
        match self.take(key) {
            Some(v) if v.get("class_name").and_then(Value::as_str) != Some(want) => {
                let got = v.get("class_name").and_then(Value::as_str).unwrap_or("?").to_string();
                Err(self.error(format!("{key} {got} is not supported (only {want})")))
            }
            _ => Ok(()),
        }
    }

    /// A Dense or Conv2D layer's kernel and bias settings that wgtrain computes only at Keras's
    /// defaults: Glorot-uniform kernels, zero biases, no bias or activity regularizers, no
    /// constraints.
    fn expect_product_defaults(&mut self) -> Result<()> {
        self.expect_initializer("kernel_initializer", "GlorotUniform")?;
        self.expect_initializer("bias_initializer", "Zeros")?;
        let unsupported = ["bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"];
        self.expect_null(&unsupported)?;
        self.expect_null(&["lora_rank"])
    }

    /// `kernel_regularizer`: none, or Keras's L1, L2 or L1L2 with its weights.
    fn kernel_regularizer(&mut self) -> Result<Option<Regularizer>> {
        let v = match self.take("kernel_regularizer") {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => v,
        };
        let class = v.get("class_name").and_then(Value::as_str).unwrap_or("?");
        let mut config = v.get("config").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut weight = |key: &str, default: f32| match config.remove(key) {
            None | Some(Value::Null) => Ok(default),
            Some(w) => w.as_f64().map(|w| w as f32).ok_or(format!("kernel_regularizer {key} = {w} is not a number")),
        };
        let r = match class {
            "L1" => weight("l1", 0.01).map(Regularizer::l1),
            "L2" => weight("l2", 0.01).map(Regularizer::l2),
            "L1L2" => weight("l1", 0.0).and_then(|l1| Ok(Regularizer { l1, l2: weight("l2", 0.0)? })),
            other => Err(format!("kernel_regularizer {other} is not supported (L1, L2, L1L2)")),
        };
        let r = r.map_err(|m| self.error(m))?;
        r.check().map_err(|e| self.error(e.to_string()))?;
        if let Some(key) = config.keys().next() {
            return Err(self.error(format!("kernel_regularizer setting '{key}' is not supported")));
        }
        Ok(Some(r))
    }

    fn required(&mut self, key: &str) -> Result<Value> {
        self.take(key).ok_or_else(|| self.error(format!("no '{key}'")))
    }

    fn usize(&mut self, key: &str) -> Result<usize> {
        let v = self.required(key)?;
        v.as_u64().map(|n| n as usize).ok_or_else(|| self.error(format!("{key} = {v} is not a count")))
    }

    fn f32(&mut self, key: &str, default: f32) -> Result<f32> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => v.as_f64().map(|x| x as f32).ok_or_else(|| self.error(format!("{key} = {v} is not a number"))),
        }
    }

    fn bool(&mut self, key: &str, default: bool) -> Result<bool> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.error(format!("{key} = {v} is not true or false"))),
        }
    }

    /// A pair such as kernel_size or strides: [a, b] or one number for both; `default` when absent or null.
    fn pair(&mut self, key: &str, default: Option<(usize, usize)>) -> Result<(usize, usize)> {
        let v = self.take(key).unwrap_or(Value::Null);
        let n = |v: &Value| v.as_u64().map(|n| n as usize);
        let pair = match &v {
            Value::Null => default,
            Value::Array(a) if a.len() == 2 => n(&a[0]).zip(n(&a[1])),
            v => n(v).map(|n| (n, n)),
        };
        pair.ok_or_else(|| self.error(format!("{key} = {v} is not a pair of counts")))
    }

    fn padding(&mut self) -> Result<Padding> {
        match self.take("padding").as_ref().and_then(Value::as_str).unwrap_or("valid") {
            "valid" => Ok(Padding::Valid),
            "same" => Ok(Padding::Same),
            other => Err(self.error(format!("padding '{other}' is not supported (valid, same)"))),
        }
    }

    fn activation(&mut self) -> Result<Act> {
        let v = self.take("activation").unwrap_or(Value::String("linear".into()));
        let name = v.as_str().unwrap_or("?");
        keras_activation(name).ok_or_else(|| {
            self.error(format!(
                "activation {v} is not supported (linear, relu, sigmoid, tanh, softmax, leaky_relu, elu, gelu, silu)"
            ))
        })
    }

    fn channels_last(&mut self) -> Result<()> {
        self.expect("data_format", &Value::String("channels_last".into()))
    }

    /// Every setting read: anything left is one wgtrain lacks.
    fn done(self) -> Result<()> {
        match self.config.keys().next() {
            Some(key) => Err(self.error(format!("setting '{key}' is not supported"))),
            None => Ok(()),
        }
    }

    fn layer(mut self) -> Result<Layer> {
        let layer = match self.class.as_str() {
            "Dense" => {
                self.expect_product_defaults()?;
                self.expect_null(&["quantization_config"])?;
                let units = self.usize("units")?;
                Layer::Dense(Dense {
                    units,
                    activation: self.activation()?,
                    use_bias: self.bool("use_bias", true)?,
                    kernel_regularizer: self.kernel_regularizer()?,
                })
            }
            "Conv2D" => {
                self.channels_last()?;
                self.expect("groups", &Value::from(1))?;
                if self.pair("dilation_rate", Some((1, 1)))? != (1, 1) {
                    return Err(self.error("dilation_rate other than 1 is not supported".into()));
                }
                self.expect_product_defaults()?;
                Layer::Conv2D(Conv2D {
                    filters: self.usize("filters")?,
                    kernel: self.pair("kernel_size", None)?,
                    strides: self.pair("strides", Some((1, 1)))?,
                    padding: self.padding()?,
                    activation: self.activation()?,
                    use_bias: self.bool("use_bias", true)?,
                    kernel_regularizer: self.kernel_regularizer()?,
                })
            }
            "MaxPooling2D" | "AveragePooling2D" => {
                self.channels_last()?;
                let pool = self.pair("pool_size", Some((2, 2)))?;
                let (strides, padding) = (self.pair("strides", Some(pool))?, self.padding()?);
                if self.class == "MaxPooling2D" {
                    Layer::MaxPooling2D(MaxPooling2D { pool, strides, padding })
                } else {
                    Layer::AveragePooling2D(AveragePooling2D { pool, strides, padding })
                }
            }
            "GlobalAveragePooling2D" | "GlobalMaxPooling2D" => {
                self.channels_last()?;
                let keepdims = self.bool("keepdims", false)?;
                if self.class == "GlobalMaxPooling2D" {
                    Layer::GlobalMaxPooling2D(GlobalMaxPooling2D { keepdims })
                } else {
                    Layer::GlobalAveragePooling2D(GlobalAveragePooling2D { keepdims })
                }
            }
            "Flatten" => {
                self.channels_last()?;
                Layer::Flatten
            }
            "Dropout" => {
                // The seed picks Keras's masks; wgtrain draws its own from the model's seed.
                self.skip("seed");
                self.expect_null(&["noise_shape"])?;
                Layer::Dropout(Dropout { rate: self.f32("rate", 0.0)? })
            }
            "Activation" => Layer::Activation(self.activation()?),
            "LeakyReLU" => {
                let negative_slope = self.f32("negative_slope", LeakyReLU::default().negative_slope)?;
                Layer::LeakyReLU(LeakyReLU { negative_slope })
            }
            "ELU" => Layer::ELU(ELU { alpha: self.f32("alpha", ELU::default().alpha)? }),
            "BatchNormalization" => {
                let axis = self.take("axis").unwrap_or(Value::from(-1));
                if axis != -1 && axis != Value::Array(vec![Value::from(-1)]) {
                    return Err(self.error(format!("axis {axis} is not supported (only -1, the last)")));
                }
                for (key, init) in [
                    ("beta_initializer", "Zeros"),
                    ("gamma_initializer", "Ones"),
                    ("moving_mean_initializer", "Zeros"),
                    ("moving_variance_initializer", "Ones"),
                ] {
                    self.expect_initializer(key, init)?;
                }
                self.expect_null(&["beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"])?;
                self.expect("synchronized", &Value::Bool(false))?;
                self.expect("renorm", &Value::Bool(false))?;
                self.expect_null(&["renorm_clipping"])?;
                self.skip("renorm_momentum"); // used only with renorm
                let defaults = BatchNormalization::default();
                Layer::BatchNormalization(BatchNormalization {
                    momentum: self.f32("momentum", defaults.momentum)?,
                    epsilon: self.f32("epsilon", defaults.epsilon)?,
                    center: self.bool("center", defaults.center)?,
                    scale: self.bool("scale", defaults.scale)?,
                    ..defaults
                })
            }
            other => return Err(self.error(format!("the layer {other} is not supported"))),
        };
        self.done()?;
        Ok(layer)
    }
}
