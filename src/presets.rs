//! The five seed models, with the architectures and hyper-parameters of their Keras programs.

use crate::nn::{Act, Compile, Layer, LossKind, Optimizer, Sequential};
use crate::ops::optim::{Adam, Sgd};

/// Where a preset validates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PresetValidation {
    None,
    /// The last fraction of the training data.
    Split(f32),
    /// The test set.
    TestSet,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    pub name: &'static str,
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
        name: "mlp",
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
        name: "cnn",
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
        name: "mlp_sgd",
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
        name: "dense",
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
        name: "binary",
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
