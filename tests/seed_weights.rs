//! The seed models (and one model holding every other layer kind) train to the same weights,
//! bit for bit, as the code that recorded `fixtures/seed_weights.txt`: a refactor of the
//! engine must not move a single bit of what users get. Each line of the fixture is
//! `adapter<TAB>model<TAB>hash` (FNV-1a over every weight and optimizer-state tensor after two
//! epochs, and the step counter). `WGTRAIN_RECORD_WEIGHTS=1` rewrites it from this build.

mod common;

use common::*;
use wgtrain::data::{Dataset, Features, Labels, synthetic};
use wgtrain::nn::layers::{Conv2D, MaxPooling2D};
use wgtrain::nn::{Act, Compile, Layer, LossKind, Model, Optimizer, Sequential};
use wgtrain::ops::Padding;
use wgtrain::ops::optim::Adam;
use wgtrain::presets::{self, Preset, PresetValidation};
use wgtrain::train::{FitOptions, Validation};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed_weights.txt");

fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Every layer kind the seed models lack: 'same' and strided convolutions, average pooling,
/// dropout, standalone activations, a padded max pool.
fn every_layer() -> Preset {
    let model = Sequential::new(&[28, 28, 1])
        .add(Layer::Conv2D(Conv2D {
            filters: 8,
            kernel: (3, 3),
            strides: (2, 2),
            padding: Padding::Same,
            activation: Act::Tanh,
            use_bias: true,
            kernel_regularizer: None,
        }))
        .add(Layer::avg_pool((2, 2)))
        .add(Layer::dropout(0.3))
        .add(Layer::conv2d(6, (2, 2), Act::Sigmoid))
        .add(Layer::MaxPooling2D(MaxPooling2D { pool: (2, 2), strides: (2, 2), padding: Padding::Same }))
        .add(Layer::Flatten)
        .add(Layer::dense(16, Act::Linear))
        .add(Layer::Activation(Act::Relu))
        .add(Layer::dropout(0.2))
        .add(Layer::dense(10, Act::Softmax));
    Preset {
        name: "every_layer".into(),
        model,
        compile: Compile {
            optimizer: Optimizer::Adam(Adam::default()),
            loss: LossKind::CategoricalCrossentropy,
            seed: 5,
        },
        batch_size: 32,
        epochs: 2,
        validation: PresetValidation::TestSet,
    }
}

fn synthetic_data(preset: &Preset) -> Dataset {
    let (n, dim) = (200, 100);
    if preset.compile.loss == LossKind::BinaryCrossentropy {
        let (x, y) = synthetic::binary(n, dim, 7);
        Dataset::new(vec![dim], Features::F32(x), Labels::Targets { values: y, width: 1 }).unwrap()
    } else {
        let (x, y) = synthetic::classes(n, dim, 10, 7);
        let values = y.iter().map(|&c| c as u8).collect();
        Dataset::new(vec![dim], Features::F32(x), Labels::Classes { values, classes: 10 }).unwrap()
    }
}

/// The hash of `preset` trained two epochs on `gpu`: the bundled images for image models
/// (train 300 / test 100, a last partial batch), synthetic data for the .npy ones.
fn trained_hash(gpu: &std::sync::Arc<wgtrain::Gpu>, preset: &Preset) -> u64 {
    let (train, test) = fashion(300);
    let (train, test) =
        if preset.model.input_shape == [100] { (synthetic_data(preset), None) } else { (train, Some(test.take(100))) };
    let preset = preset.clone().fitted_to(&train);
    let mut model = Model::new(gpu.clone(), preset.model.clone(), preset.compile).unwrap();
    let validation = match (preset.validation, &test) {
        (PresetValidation::Split(f), _) => Validation::Split(f),
        (PresetValidation::TestSet, Some(t)) => Validation::Data(t),
        _ => Validation::None,
    };
    let opts = FitOptions { batch_size: preset.batch_size, epochs: 2, validation, ..FitOptions::default() };
    model.fit(&train, &opts).unwrap();
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for tensor in model.weights().unwrap().iter().chain(&model.optimizer_state().unwrap()) {
        hash = fnv1a(hash, bytemuck::cast_slice(tensor));
    }
    fnv1a(hash, &model.iterations().unwrap().to_le_bytes())
}

#[test]
fn seed_models_train_to_the_recorded_weights_bit_for_bit() {
    let mut models = vec![presets::mlp(), presets::cnn([28, 28, 1]), presets::mlp_sgd(), presets::dense()];
    models.extend([presets::binary(), every_layer()]);
    let mut lines = Vec::new();
    for gpu in gpus() {
        for preset in &models {
            lines.push(format!("{}\t{}\t{:016x}", short(gpu), preset.name, trained_hash(gpu, preset)));
        }
    }
    if std::env::var_os("WGTRAIN_RECORD_WEIGHTS").is_some() {
        std::fs::write(FIXTURE, lines.join("\n") + "\n").unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(FIXTURE).unwrap();
    // CI (which names its backends) must find its adapters recorded; on another machine an
    // adapter without a record is checked against a second run of its own instead.
    let required = std::env::var_os("WGTRAIN_REQUIRE_BACKENDS").is_some();
    let mut runs = gpus().iter().flat_map(|gpu| models.iter().map(move |preset| (gpu, preset)));
    for line in &lines {
        let (gpu, preset) = runs.next().unwrap();
        let (key, _) = line.rsplit_once('\t').unwrap();
        match recorded.lines().find(|l| l.rsplit_once('\t').is_some_and(|(k, _)| k == key)) {
            Some(want) => assert_eq!(line, want, "trained weights differ from the recorded ones"),
            None if required => panic!(
                "no recorded weights for '{key}' in {FIXTURE}: record them with WGTRAIN_RECORD_WEIGHTS=1 from the code before a change"
            ),
            None => {
                say(&format!("no recorded weights for '{key}': checked against a second run only"));
                let again = format!("{}\t{}\t{:016x}", short(gpu), preset.name, trained_hash(gpu, preset));
                assert_eq!(line, &again, "two runs with the same seed gave different weights");
            }
        }
    }
}
