//! The five seed models, with the architectures and hyper-parameters of their Keras programs,
//! and the next models their users reach for: keras.io's convnet and a BatchNormalization CNN.

use std::path::Path;

use crate::data::{Dataset, Labels};
use crate::error::{Error, Result};
use crate::nn::layers::{Conv2D, GlobalAveragePooling2D};
use crate::nn::{Act, Compile, Layer, LossKind, Optimizer, Sequential, keras_json};
use crate::ops::Padding;
use crate::ops::optim::{Adam, Sgd};
use crate::ops::schedule::Schedule;

/// Where a preset validates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PresetValidation {
    None,
    /// The last fraction of the training data.
    Split(f32),
    /// The test set.
    TestSet,
}

impl PresetValidation {
    /// What `fit` validates on: the split, or `test` when there is one.
    pub fn for_fit(self, test: Option<&Dataset>) -> crate::train::Validation<'_> {
        use crate::train::Validation;
        match (self, test) {
            (PresetValidation::Split(f), _) => Validation::Split(f),
            (PresetValidation::TestSet, Some(t)) => Validation::Data(t),
            _ => Validation::None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    pub name: String,
    pub model: Sequential,
    pub compile: Compile,
    pub batch_size: usize,
    pub epochs: usize,
    pub validation: PresetValidation,
}

fn adam() -> Optimizer {
    Optimizer::Adam(Adam::default())
}

fn sgd() -> Optimizer {
    Optimizer::Sgd(Sgd::default())
}

/// Flatten(784) → Dense 128 relu → Dense 10 softmax; Adam, batch 32, 10 epochs, validation split 0.2.
pub fn mlp() -> Preset {
    Preset {
        name: "mlp".into(),
        model: Sequential::new(&[784])
            .add(Layer::Flatten)
            .add(Layer::dense(128, Act::Relu))
            .add(Layer::dense(10, Act::Softmax)),
        compile: Compile { optimizer: adam(), loss: LossKind::CategoricalCrossentropy, seed: 42 },
        batch_size: 32,
        epochs: 10,
        validation: PresetValidation::Split(0.2),
    }
}

/// Conv2D 32 3×3 relu → MaxPool 2×2 → Flatten → Dense 128 relu → Dense 10 softmax; Adam,
/// batch 32, 10 epochs, validated on the test set. `input` is [h, w, c].
pub fn cnn(input: [usize; 3]) -> Preset {
    Preset {
        name: "cnn".into(),
        model: Sequential::new(&input)
            .add(Layer::conv2d(32, (3, 3), Act::Relu))
            .add(Layer::max_pool((2, 2)))
            .add(Layer::Flatten)
            .add(Layer::dense(128, Act::Relu))
            .add(Layer::dense(10, Act::Softmax)),
        compile: Compile { optimizer: adam(), loss: LossKind::CategoricalCrossentropy, seed: 42 },
        batch_size: 32,
        epochs: 10,
        validation: PresetValidation::TestSet,
    }
}

/// Dense 512 relu → Dense 512 relu → Dense 10 softmax on 784 inputs; SGD, batch 128,
/// 10 epochs, validated on the test set.
pub fn mlp_sgd() -> Preset {
    Preset {
        name: "mlp_sgd".into(),
        model: Sequential::new(&[784])
            .add(Layer::dense(512, Act::Relu))
            .add(Layer::dense(512, Act::Relu))
            .add(Layer::dense(10, Act::Softmax)),
        compile: Compile { optimizer: sgd(), loss: LossKind::CategoricalCrossentropy, seed: 42 },
        batch_size: 128,
        epochs: 10,
        validation: PresetValidation::TestSet,
    }
}

/// Dense 64 relu → Dense 10 softmax on 100 inputs; SGD, batch 32, 5 epochs.
pub fn dense() -> Preset {
    Preset {
        name: "dense".into(),
        model: Sequential::new(&[100]).add(Layer::dense(64, Act::Relu)).add(Layer::dense(10, Act::Softmax)),
        compile: Compile { optimizer: sgd(), loss: LossKind::CategoricalCrossentropy, seed: 42 },
        batch_size: 32,
        epochs: 5,
        validation: PresetValidation::None,
    }
}

/// Dense 64 relu → Dense 32 relu → Dense 1 sigmoid on 100 inputs; binary cross-entropy,
/// Adam, batch 32, 10 epochs.
pub fn binary() -> Preset {
    Preset {
        name: "binary".into(),
        model: Sequential::new(&[100])
            .add(Layer::dense(64, Act::Relu))
            .add(Layer::dense(32, Act::Relu))
            .add(Layer::dense(1, Act::Sigmoid)),
        compile: Compile { optimizer: adam(), loss: LossKind::BinaryCrossentropy, seed: 42 },
        batch_size: 32,
        epochs: 10,
        validation: PresetValidation::None,
    }
}

/// keras.io's "Simple MNIST convnet": Conv2D 32 3×3 relu → MaxPool 2 → Conv2D 64 3×3 relu →
/// MaxPool 2 → Flatten → Dropout 0.5 → Dense 10 softmax; Adam, batch 128, 15 epochs,
/// validation split 0.1.
pub fn convnet() -> Preset {
    Preset {
        name: "convnet".into(),
        model: Sequential::new(&[28, 28, 1])
            .add(Layer::conv2d(32, (3, 3), Act::Relu))
            .add(Layer::max_pool((2, 2)))
            .add(Layer::conv2d(64, (3, 3), Act::Relu))
            .add(Layer::max_pool((2, 2)))
            .add(Layer::Flatten)
            .add(Layer::dropout(0.5))
            .add(Layer::dense(10, Act::Softmax)),
        compile: Compile { optimizer: adam(), loss: LossKind::CategoricalCrossentropy, seed: 42 },
        batch_size: 128,
        epochs: 15,
        validation: PresetValidation::Split(0.1),
    }
}

/// The 4-conv CNN of Keras's CIFAR-10 example, on 28×28×1: two blocks of Conv2D 3×3 relu
/// ('same', then 'valid') → MaxPool 2 → Dropout 0.25, with 32 then 64 filters, then Flatten →
/// Dense 256 relu → Dropout 0.5 → Dense 10 softmax; Adam, batch 64, 10 epochs, validation split
/// 0.1. Most of its step is convolutions past the first layer.
pub fn cnn4() -> Preset {
    let conv = |filters, padding| {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: (3, 3),
            strides: (1, 1),
            padding,
            activation: Act::Relu,
            use_bias: true,
            kernel_regularizer: None,
        })
    };
    Preset {
        name: "cnn4".into(),
        model: Sequential::new(&[28, 28, 1])
            .add(conv(32, Padding::Same))
            .add(conv(32, Padding::Valid))
            .add(Layer::max_pool((2, 2)))
            .add(Layer::dropout(0.25))
            .add(conv(64, Padding::Same))
            .add(conv(64, Padding::Valid))
            .add(Layer::max_pool((2, 2)))
            .add(Layer::dropout(0.25))
            .add(Layer::Flatten)
            .add(Layer::dense(256, Act::Relu))
            .add(Layer::dropout(0.5))
            .add(Layer::dense(10, Act::Softmax)),
        compile: Compile { optimizer: adam(), loss: LossKind::CategoricalCrossentropy, seed: 42 },
        batch_size: 64,
        epochs: 10,
        validation: PresetValidation::Split(0.1),
    }
}

/// Conv-BatchNorm-ReLU blocks as Keras users write them: three blocks of Conv2D 3×3 'same'
/// without bias (16, 32, 64 filters) → BatchNormalization → ReLU, max-pooling 2 after the first
/// two, then GlobalAveragePooling2D → Dense 10 softmax; Adam with CosineDecay from 2e-3 over
/// 10 epochs of full Fashion-MNIST at batch 64 (9 380 steps); 10 epochs, validated on the test set.
pub fn bn_cnn() -> Preset {
    let conv = |filters| {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: (3, 3),
            strides: (1, 1),
            padding: Padding::Same,
            activation: Act::Linear,
            use_bias: false,
            kernel_regularizer: None,
        })
    };
    let relu = || Layer::Activation(Act::Relu);
    let schedule = Schedule::CosineDecay {
        initial_learning_rate: 2e-3,
        decay_steps: 9380.0,
        alpha: 0.0,
        warmup_target: None,
        warmup_steps: 0.0,
    };
    Preset {
        name: "bn_cnn".into(),
        model: Sequential::new(&[28, 28, 1])
            .add(conv(16))
            .add(Layer::batch_norm())
            .add(relu())
            .add(Layer::max_pool((2, 2)))
            .add(conv(32))
            .add(Layer::batch_norm())
            .add(relu())
            .add(Layer::max_pool((2, 2)))
            .add(conv(64))
            .add(Layer::batch_norm())
            .add(relu())
            .add(Layer::GlobalAveragePooling2D(GlobalAveragePooling2D::default()))
            .add(Layer::dense(10, Act::Softmax)),
        compile: Compile {
            optimizer: Optimizer::Adam(Adam { lr: schedule.into(), ..Adam::default() }),
            loss: LossKind::CategoricalCrossentropy,
            seed: 42,
        },
        batch_size: 64,
        epochs: 10,
        validation: PresetValidation::TestSet,
    }
}

/// The preset called `name` (mlp, cnn, mlp_sgd, dense, binary, convnet, bn_cnn, cnn4); the
/// convolutional ones take 28×28×1 input until [`Preset::fitted_to`] adapts it.
pub fn by_name(name: &str) -> Result<Preset> {
    match name.replace('-', "_").as_str() {
        "mlp" => Ok(mlp()),
        "cnn" => Ok(cnn([28, 28, 1])),
        "mlp_sgd" => Ok(mlp_sgd()),
        "dense" => Ok(dense()),
        "binary" => Ok(binary()),
        "convnet" => Ok(convnet()),
        "bn_cnn" => Ok(bn_cnn()),
        "cnn4" => Ok(cnn4()),
        _ => Err(Error::Invalid(format!("no preset '{name}'; the presets are {}", NAMES.join(", ")))),
    }
}

pub const NAMES: [&str; 8] = ["mlp", "cnn", "mlp_sgd", "dense", "binary", "convnet", "bn_cnn", "cnn4"];

/// A model spec file: the architecture and training settings as JSON (`wgtrain spec PRESET`
/// prints one to start from).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    model: Sequential,
    compile: Compile,
    batch_size: usize,
    epochs: usize,
    /// The fraction of the training data held out for validation (Keras's validation_split);
    /// without it a test set, when there is one, validates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validation_split: Option<f32>,
}

impl Preset {
    /// The preset as spec-file JSON.
    pub fn to_spec_json(&self) -> String {
        let spec = SpecFile {
            model: self.model.clone(),
            compile: self.compile.clone(),
            batch_size: self.batch_size,
            epochs: self.epochs,
            validation_split: match self.validation {
                PresetValidation::Split(f) => Some(f),
                _ => None,
            },
        };
        serde_json::to_string_pretty(&spec).expect("plain data serialises")
    }

    /// Reads a spec file: wgtrain's JSON, or a Keras model's (`model.to_json()`), which has no
    /// compile settings: those are Keras's defaults (Adam; categorical cross-entropy after a
    /// softmax output, binary after a sigmoid one; batch 32, one epoch) until flags change them.
    pub fn from_spec_file(path: &Path) -> Result<Preset> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Preset::from_spec_text(&text, path)
    }

    /// `from_spec_file` on a file's text; `path` names it in errors and gives the preset its name.
    pub fn from_spec_text(text: &str, path: &Path) -> Result<Preset> {
        let bad = |message: String| Error::Data { path: path.to_path_buf(), message };
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let name = path.file_stem().map_or("spec".into(), |s| s.to_string_lossy().into_owned());
        if keras_json::is_keras_model(&json) {
            let model = keras_json::sequential(&json).map_err(|e| bad(e.to_string()))?;
            model.shapes().map_err(|e| bad(e.to_string()))?;
            let loss = match model.layers.last().and_then(Layer::activation) {
                Some(Act::Softmax) => LossKind::CategoricalCrossentropy,
                Some(Act::Sigmoid) => LossKind::BinaryCrossentropy,
                _ => LossKind::MeanSquaredError,
            };
            let compile = Compile { optimizer: adam(), loss, seed: 42 };
            return Ok(Preset {
                name,
                model,
                compile,
                batch_size: 32,
                epochs: 1,
                validation: PresetValidation::TestSet,
            });
        }
        let spec: SpecFile = serde_json::from_value(json).map_err(|e| bad(format!("not a model spec: {e}")))?;
        spec.model.shapes().map_err(|e| bad(e.to_string()))?;
        spec.compile.optimizer.check().map_err(|e| bad(e.to_string()))?;
        if let Some(f) = spec.validation_split.filter(|f| !(0.0..1.0).contains(f)) {
            return Err(bad(format!("validation_split {f} must be in [0, 1)")));
        }
        Ok(Preset {
            name,
            model: spec.model,
            compile: spec.compile,
            batch_size: spec.batch_size,
            epochs: spec.epochs,
            validation: spec.validation_split.map_or(PresetValidation::TestSet, PresetValidation::Split),
        })
    }

    /// The preset with its input shaped as `data`'s samples (a Flatten first when a Dense layer
    /// meets images) and a softmax output of one unit per class of `data`.
    pub fn fitted_to(mut self, data: &Dataset) -> Preset {
        let model = &mut self.model;
        if model.input_shape != data.sample_shape {
            model.input_shape = data.sample_shape.clone();
            if data.sample_shape.len() > 1 && matches!(model.layers.first(), Some(Layer::Dense(_))) {
                model.layers.insert(0, Layer::Flatten);
            }
        }
        if let (Labels::Classes { classes, .. }, Some(Layer::Dense(dense))) = (&data.labels, model.layers.last_mut())
            && dense.activation == Act::Softmax
        {
            dense.units = *classes;
        }
        self
    }
}
