//! Keras's own model JSON (fixtures written by `model.to_json()` with Keras 3 on
//! TensorFlow-CPU 2.21, `benchmarks/keras_model_fixtures.py`): what wgtrain has builds the same
//! layer list; what it lacks is one error line naming the layer or setting.

use std::path::Path;
use std::process::Command;

use wgtrain::nn::layers::{
    BatchNormalization, Conv2D, Dense, ELU, GlobalAveragePooling2D, GlobalMaxPooling2D, LeakyReLU,
};
use wgtrain::nn::{Act, Layer, LossKind, Sequential};
use wgtrain::ops::Padding;
use wgtrain::ops::regularizer::Regularizer;
use wgtrain::presets::{self, Preset};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras").join(format!("{name}.json"))
}

fn model(name: &str) -> Sequential {
    Preset::from_spec_file(&fixture(name)).unwrap().model
}

fn refusal(name: &str) -> String {
    Preset::from_spec_file(&fixture(name)).unwrap_err().to_string()
}

#[test]
fn keras_models_build_the_same_layers() {
    let mut mlp = presets::mlp().model;
    mlp.input_shape = vec![28, 28];
    assert_eq!(model("seed_mlp"), mlp);
    assert_eq!(model("seed_cnn"), presets::cnn([28, 28, 1]).model);
    // The presets are the models of benchmarks/keras_convnets.py.
    assert_eq!(model("convnet"), presets::convnet().model);
    assert_eq!(model("bn_cnn"), presets::bn_cnn().model);
    let same = |filters, stride| {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: (3, 3),
            strides: (stride, stride),
            padding: Padding::Same,
            activation: Act::Linear,
            use_bias: false,
            kernel_regularizer: None,
        })
    };
    let batch_norm = Sequential::new(&[28, 28, 1])
        .add(same(32, 1))
        .add(Layer::batch_norm())
        .add(Layer::Activation(Act::Relu))
        .add(Layer::avg_pool((2, 2)))
        .add(same(64, 2))
        .add(Layer::BatchNormalization(BatchNormalization {
            momentum: 0.9,
            epsilon: 1e-5,
            center: false,
            ..BatchNormalization::default()
        }))
        .add(Layer::Activation(Act::Relu))
        .add(Layer::GlobalAveragePooling2D(GlobalAveragePooling2D { keepdims: false }))
        .add(Layer::dense(32, Act::Tanh))
        .add(Layer::dense(1, Act::Sigmoid));
    assert_eq!(model("batch_norm_cnn"), batch_norm);
    let global_max = Sequential::new(&[8, 8, 3])
        .add(Layer::conv2d(4, (2, 2), Act::Linear))
        .add(Layer::GlobalMaxPooling2D(GlobalMaxPooling2D { keepdims: true }))
        .add(Layer::Flatten)
        .add(Layer::Dense(Dense { units: 3, activation: Act::Linear, use_bias: true, kernel_regularizer: None }));
    assert_eq!(model("global_max"), global_max);
    let activations = Sequential::new(&[6, 6, 2])
        .add(Layer::conv2d(3, (3, 3), Act::Gelu))
        .add(Layer::LeakyReLU(LeakyReLU { negative_slope: 0.3 }))
        .add(Layer::Flatten)
        .add(Layer::dense(8, Act::Silu))
        .add(Layer::ELU(ELU { alpha: 0.5 }))
        .add(Layer::dense(8, Act::Silu))
        .add(Layer::Activation(Act::Gelu))
        .add(Layer::LeakyReLU(LeakyReLU { negative_slope: 0.1 }))
        .add(Layer::dense(2, Act::Softmax));
    assert_eq!(model("activations"), activations);
    let regularized = |layer: Layer, r| match layer {
        Layer::Dense(d) => Layer::Dense(Dense { kernel_regularizer: Some(r), ..d }),
        Layer::Conv2D(c) => Layer::Conv2D(Conv2D { kernel_regularizer: Some(r), ..c }),
        other => other,
    };
    let with_penalties = Sequential::new(&[8, 8, 1])
        .add(regularized(Layer::conv2d(2, (3, 3), Act::Linear), Regularizer::l1(0.001)))
        .add(Layer::Flatten)
        .add(regularized(Layer::dense(8, Act::Relu), Regularizer::l2(0.01)))
        .add(regularized(Layer::dense(2, Act::Softmax), Regularizer { l1: 0.01, l2: 0.02 }));
    assert_eq!(model("regularized"), with_penalties);
}

#[test]
fn keras_models_compile_with_keras_defaults() {
    let cnn = Preset::from_spec_file(&fixture("seed_cnn")).unwrap();
    assert_eq!(cnn.compile.loss, LossKind::CategoricalCrossentropy);
    assert_eq!((cnn.batch_size, cnn.epochs), (32, 1));
    let sigmoid = Preset::from_spec_file(&fixture("batch_norm_cnn")).unwrap();
    assert_eq!(sigmoid.compile.loss, LossKind::BinaryCrossentropy);
}

#[test]
fn what_wgtrain_lacks_is_refused_by_name() {
    for (name, needles) in [
        ("lstm", &["layer 0 (LSTM)", "the layer LSTM is not supported"][..]),
        ("dilated", &["layer 0 (Conv2D)", "dilation_rate"][..]),
        ("bias_regularized", &["layer 0 (Dense)", "bias_regularizer"][..]),
        ("he_init", &["layer 0 (Dense)", "kernel_initializer HeNormal"][..]),
        ("selu", &["layer 0 (Dense)", "activation \"selu\""][..]),
    ] {
        let err = refusal(name);
        assert!(err.contains(&format!("{name}.json")), "{err}");
        for needle in needles {
            assert!(err.contains(needle), "'{needle}' not in: {err}");
        }
    }
    // A setting this version of Keras lacks, or a frozen layer, is refused as well.
    let text = std::fs::read_to_string(fixture("seed_cnn")).unwrap();
    let dir = std::env::temp_dir().join(format!("wgtrain-keras-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to, needle) in [
        ("\"groups\": 1", "\"groups\": 1, \"future_setting\": 2", "setting 'future_setting' is not supported"),
        (
            "\"name\": \"conv2d\", \"trainable\": true",
            "\"name\": \"conv2d\", \"trainable\": false",
            "trainable = false is not supported",
        ),
        ("\"class_name\": \"Sequential\"", "\"class_name\": \"Functional\"", "only Sequential models"),
    ] {
        assert!(text.contains(from), "{from}");
        let path = dir.join("edited.json");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let err = Preset::from_spec_file(&path).unwrap_err().to_string();
        assert!(err.contains(needle), "'{needle}' not in: {err}");
    }
    let text = std::fs::read_to_string(fixture("regularized")).unwrap();
    let l2 = r#""class_name": "L2", "config": {"l2": 0.01}"#;
    for (to, needle) in [
        (
            r#""class_name": "OrthogonalRegularizer", "config": {"factor": 0.01}"#,
            "OrthogonalRegularizer is not supported",
        ),
        (r#""class_name": "L2", "config": {"l2": 0.01, "l3": 1}"#, "kernel_regularizer setting 'l3'"),
        (r#""class_name": "L2", "config": {"l2": -1}"#, "l2 must be finite and non-negative"),
    ] {
        assert!(text.contains(l2));
        let path = dir.join("edited.json");
        std::fs::write(&path, text.replacen(l2, to, 1)).unwrap();
        let err = Preset::from_spec_file(&path).unwrap_err().to_string();
        assert!(err.contains(needle) && err.contains("layer 2 (Dense)"), "'{needle}' not in: {err}");
    }
}

/// A preset written as a spec file reads back as itself, its schedule included.
#[test]
fn presets_round_trip_through_spec_files() {
    let dir = std::env::temp_dir().join(format!("wgtrain-spec-round-trip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in presets::NAMES {
        let preset = presets::by_name(name).unwrap();
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, preset.to_spec_json()).unwrap();
        let read = Preset::from_spec_file(&path).unwrap();
        assert_eq!(
            (&read.model, &read.compile, read.batch_size, read.epochs),
            (&preset.model, &preset.compile, preset.batch_size, preset.epochs)
        );
    }
}

#[test]
fn wgtrain_train_takes_a_keras_model_json() {
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_wgtrain")).args(args).output().unwrap();
    let spec = fixture("convnet");
    let out = run(&["train", "--spec", spec.to_str().unwrap(), "--limit", "256", "--quiet", "--optimizer", "rmsprop"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("test accuracy") || stdout.contains("accuracy"), "{stdout}");
    let lstm = fixture("lstm");
    let out = run(&["train", "--spec", lstm.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wgtrain: error:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("the layer LSTM is not supported"), "{stderr}");
    let out = run(&["train", "--spec", spec.to_str().unwrap(), "--optimizer", "lion"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no optimizer 'lion'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
