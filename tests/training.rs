//! Whole models on every adapter: GPU-vs-CPU parity of training steps, determinism, and
//! short training runs that must bring the loss well down.

mod common;

use common::*;
use wgtrain::check::{self, batch_f64};
use wgtrain::data::npy::{self, LabelKind};
use wgtrain::data::{Dataset, Features, unorm8};
use wgtrain::nn::layers::{
    BatchNormalization, Conv2D, Dense, ELU, GlobalAveragePooling2D, GlobalMaxPooling2D, LeakyReLU,
};
use wgtrain::nn::reference::Reference;
use wgtrain::nn::{Act, Compile, Layer, LossKind, Model, Optimizer, Sequential};
use wgtrain::ops::optim::{Adagrad, Adam, RmsProp, Sgd};
use wgtrain::ops::regularizer::{self, Regularizer};
use wgtrain::ops::schedule::Schedule;
use wgtrain::train::{FitOptions, Validation};

/// Trains `steps` batches on the GPU (no shuffling) and the same batches on the CPU twin;
/// every parameter tensor must agree within `check::PARITY_TOLERANCE` (normwise).
fn parity(name: &'static str, spec: Sequential, optimizer: Optimizer, data: &Dataset, batch: usize, steps: usize) {
    for gpu in gpus() {
        let loss = LossKind::CategoricalCrossentropy;
        let err = check::step_parity(gpu, spec.clone(), optimizer.clone(), loss, data, batch, steps)
            .unwrap_or_else(|f| panic!("{name} on {}: {}", short(gpu), f.0));
        say(&format!("kernel {name:<36} {:<40} cases   1  max normwise error {err:.2e}", short(gpu)));
    }
}

fn mlp() -> Sequential {
    Sequential::new(&[784]).add(Layer::dense(32, Act::Relu)).add(Layer::dense(10, Act::Softmax))
}

fn cnn() -> Sequential {
    Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(32, (3, 3), Act::Relu))
        .add(Layer::max_pool((2, 2)))
        .add(Layer::Flatten)
        .add(Layer::dense(128, Act::Relu))
        .add(Layer::dense(10, Act::Softmax))
}

#[test]
fn mlp_training_steps_match_the_cpu_twin() {
    let (train, _) = fashion(256);
    parity("model parity mlp adam", mlp(), Optimizer::Adam(Adam::default()), &train, 32, 5);
    let sgd = Sgd { lr: 0.05.into(), momentum: 0.9, nesterov: true, weight_decay: 0.01 };
    parity("model parity mlp sgd", mlp(), Optimizer::Sgd(sgd), &train, 32, 5);
    let decay =
        Schedule::ExponentialDecay { initial_learning_rate: 0.05, decay_steps: 2.0, decay_rate: 0.5, staircase: true };
    let sgd = Sgd { lr: decay.into(), momentum: 0.9, ..Sgd::default() };
    parity("model parity mlp sgd exponential decay", mlp(), Optimizer::Sgd(sgd), &train, 32, 5);
    let pieces = Schedule::PiecewiseConstantDecay { boundaries: vec![1, 3], values: vec![1e-3, 3e-3, 1e-4] };
    let adam = Adam { lr: pieces.into(), ..Adam::default() };
    parity("model parity mlp adam piecewise", mlp(), Optimizer::Adam(adam), &train, 32, 5);
}

#[test]
fn leaky_relu_and_elu_training_steps_match_the_cpu_twin() {
    let (train, _) = fashion(64);
    // Dense after Dense: the second layer's input gradient applies the first's derivative.
    let mlp = Sequential::new(&[784])
        .add(Layer::dense(24, Act::LeakyRelu))
        .add(Layer::dense(16, Act::Elu))
        .add(Layer::dense(10, Act::Softmax));
    parity("model parity mlp leaky_relu elu", mlp, Optimizer::Adam(Adam::default()), &train, 16, 3);
    let cnn = Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(4, (3, 3), Act::Elu))
        .add(Layer::max_pool((2, 2)))
        .add(Layer::Activation(Act::LeakyRelu))
        .add(Layer::Flatten)
        .add(Layer::dense(10, Act::Softmax));
    parity(
        "model parity cnn elu leaky_relu",
        cnn,
        Optimizer::Sgd(Sgd { momentum: 0.9, ..Sgd::default() }),
        &train,
        16,
        3,
    );
}

#[test]
fn gelu_silu_and_parametrised_activation_layers_match_the_cpu_twin() {
    let (train, _) = fashion(64);
    // gelu and silu are differentiated through their input: the product keeps its output z.
    let mlp = Sequential::new(&[784])
        .add(Layer::dense(24, Act::Gelu))
        .add(Layer::dense(16, Act::Silu))
        .add(Layer::LeakyReLU(LeakyReLU::default()))
        .add(Layer::dense(12, Act::Linear))
        .add(Layer::ELU(ELU { alpha: 0.5 }))
        .add(Layer::Activation(Act::Gelu))
        .add(Layer::dense(10, Act::Softmax));
    parity("model parity mlp gelu silu", mlp, Optimizer::Adam(Adam::default()), &train, 16, 3);
    let cnn = Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(4, (3, 3), Act::Gelu))
        .add(Layer::max_pool((2, 2)))
        .add(Layer::conv2d(4, (3, 3), Act::Linear))
        .add(Layer::Activation(Act::Silu))
        .add(Layer::Flatten)
        .add(Layer::dense(10, Act::Softmax));
    parity("model parity cnn gelu silu", cnn, Optimizer::Adam(Adam::default()), &train, 16, 3);
}

#[test]
fn rmsprop_and_adagrad_training_steps_match_the_cpu_twin() {
    let (train, _) = fashion(256);
    parity("model parity mlp rmsprop", mlp(), Optimizer::RmsProp(RmsProp::default()), &train, 32, 5);
    let centered = RmsProp { momentum: 0.9, centered: true, ..RmsProp::default() };
    parity("model parity mlp rmsprop centered", mlp(), Optimizer::RmsProp(centered), &train, 32, 5);
    let adagrad = Adagrad { lr: 0.05.into(), ..Adagrad::default() };
    parity("model parity cnn adagrad", cnn(), Optimizer::Adagrad(adagrad), &train, 16, 3);
}

#[test]
fn mlp_with_dropout_tanh_and_sigmoid_matches_the_cpu_twin() {
    let (train, _) = fashion(256);
    let spec = Sequential::new(&[28, 28, 1])
        .add(Layer::Flatten)
        .add(Layer::dense(48, Act::Tanh))
        .add(Layer::dropout(0.3))
        .add(Layer::dense(24, Act::Sigmoid))
        .add(Layer::dense(10, Act::Linear))
        .add(Layer::Activation(Act::Softmax));
    parity("model parity mlp dropout", spec, Optimizer::Adam(Adam::default()), &train, 16, 4);
}

fn dense(units: usize, activation: Act) -> Dense {
    Dense { units, activation, use_bias: true, kernel_regularizer: None }
}

/// A kernel regularizer's penalty counts in the loss fit and evaluate report, as Keras's does:
/// the regularized model's loss is the plain one's on the same weights plus the penalty.
#[test]
fn kernel_regularizers_add_their_penalty_to_the_loss() {
    let (train, _) = fashion(96);
    let (l2, l1l2) = (Regularizer::l2(0.01), Regularizer { l1: 0.003, l2: 0.02 });
    let layers = |regularized: bool| {
        let r = |r| regularized.then_some(r);
        Sequential::new(&[28, 28, 1])
            .add(Layer::Conv2D(Conv2D { kernel_regularizer: r(l1l2), ..conv(3) }))
            .add(Layer::Flatten)
            .add(Layer::Dense(Dense { kernel_regularizer: r(l2), ..dense(10, Act::Softmax) }))
    };
    fn conv(filters: usize) -> Conv2D {
        let Layer::Conv2D(c) = Layer::conv2d(filters, (3, 3), Act::Relu) else { unreachable!() };
        c
    }
    for gpu in gpus() {
        let compile =
            Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 8 };
        let mut model = Model::new(gpu.clone(), layers(true), compile.clone()).unwrap();
        model.fit(&train, &FitOptions { batch_size: 32, ..FitOptions::default() }).unwrap();
        let weights = model.weights().unwrap();
        let mut plain = Model::new(gpu.clone(), layers(false), compile).unwrap();
        plain.set_weights(&weights).unwrap();
        // 96 rows in batches of 40: a short last batch counts its penalty once per row, as the others.
        let (with, without) = (model.evaluate(&train, 40).unwrap(), plain.evaluate(&train, 40).unwrap());
        let penalty =
            regularizer::cpu::penalty(&l1l2, &f64s(&weights[0])) + regularizer::cpu::penalty(&l2, &f64s(&weights[2]));
        assert!(penalty > 0.01, "{penalty}");
        let err = (with.loss - (without.loss + penalty)).abs();
        assert!(err < 1e-5 * with.loss, "{} on {}: {} vs {} + {penalty}", err, short(gpu), with.loss, without.loss);
        assert_eq!(with.accuracy, without.accuracy);
    }
}

/// train_on_batch is one step of fit, batch by batch, to the bit; test_on_batch is evaluate
/// on one batch; both return the batch's own loss and accuracy, as Keras's do.
#[test]
fn train_and_test_on_batch_are_fits_and_evaluations_of_one_batch() {
    let (train, test) = fashion(96);
    let spec = Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(3, (3, 3), Act::Relu))
        .add(Layer::Flatten)
        .add(Layer::dropout(0.3))
        .add(Layer::dense(10, Act::Softmax));
    for gpu in gpus() {
        let compile =
            Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 6 };
        let mut fitted = Model::new(gpu.clone(), spec.clone(), compile.clone()).unwrap();
        let opts = FitOptions { batch_size: 32, shuffle: false, ..FitOptions::default() };
        let epoch_loss = fitted.fit(&train, &opts).unwrap().epochs[0].loss;
        let mut stepped = Model::new(gpu.clone(), spec.clone(), compile.clone()).unwrap();
        let losses: Vec<f64> =
            (0..3).map(|b| stepped.train_on_batch(&train.slice(b * 32..(b + 1) * 32)).unwrap().loss).collect();
        assert_eq!(stepped.iterations().unwrap(), 3);
        assert!(stepped.weights().unwrap() == fitted.weights().unwrap(), "on {}", short(gpu));
        let mean = losses.iter().sum::<f64>() / 3.0;
        assert!((mean - epoch_loss).abs() < 1e-6 * epoch_loss, "{losses:?} vs {epoch_loss}");

        let batch = test.take(50);
        let before = stepped.weights().unwrap();
        let tested = stepped.test_on_batch(&batch).unwrap();
        let evaluated = stepped.evaluate(&batch, 50).unwrap();
        assert_eq!(tested, evaluated);
        assert!(stepped.weights().unwrap() == before && stepped.iterations().unwrap() == 3);
        let empty = stepped.train_on_batch(&test.take(0)).unwrap_err().to_string();
        assert!(empty.contains("empty batch"), "{empty}");
    }
}

#[test]
fn cnn_training_steps_match_the_cpu_twin() {
    let (train, _) = fashion(64);
    parity("model parity cnn adam", cnn(), Optimizer::Adam(Adam::default()), &train, 16, 3);
    let spec = Sequential::new(&[28, 28, 1])
        .add(Layer::Conv2D(Conv2D {
            filters: 4,
            kernel: (5, 5),
            strides: (2, 2),
            padding: wgtrain::ops::Padding::Same,
            activation: Act::Tanh,
            use_bias: true,
            kernel_regularizer: Some(Regularizer { l1: 0.01, l2: 0.02 }),
        }))
        .add(Layer::avg_pool((2, 2)))
        .add(Layer::conv2d(6, (3, 3), Act::Relu))
        .add(Layer::Flatten)
        .add(Layer::Dense(Dense { kernel_regularizer: Some(Regularizer::l2(0.05)), ..dense(10, Act::Softmax) }));
    parity("model parity cnn2 sgd", spec, Optimizer::Sgd(Sgd { momentum: 0.9, ..Sgd::default() }), &train, 16, 3);
}

#[test]
fn global_pooling_training_steps_match_the_cpu_twin() {
    let (train, _) = fashion(64);
    let same = |filters, activation| {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: (3, 3),
            strides: (2, 2),
            padding: wgtrain::ops::Padding::Same,
            activation,
            use_bias: true,
            kernel_regularizer: None,
        })
    };
    let gap = Sequential::new(&[28, 28, 1])
        .add(same(8, Act::Relu))
        .add(Layer::GlobalAveragePooling2D(GlobalAveragePooling2D::default()))
        .add(Layer::dense(10, Act::Softmax));
    assert_eq!(gap.shapes().unwrap()[2], [8]);
    parity("model parity gap adam", gap, Optimizer::Adam(Adam::default()), &train, 16, 3);
    // keepdims: [1, 1, c], flattened before the Dense layer.
    let gmp = Sequential::new(&[28, 28, 1])
        .add(same(5, Act::Tanh))
        .add(Layer::conv2d(7, (3, 3), Act::Relu))
        .add(Layer::GlobalMaxPooling2D(GlobalMaxPooling2D { keepdims: true }))
        .add(Layer::Flatten)
        .add(Layer::dense(10, Act::Softmax));
    assert_eq!(gmp.shapes().unwrap()[3], [1, 1, 7]);
    parity("model parity gmp sgd", gmp, Optimizer::Sgd(Sgd { momentum: 0.9, ..Sgd::default() }), &train, 16, 3);
}

/// Conv-BN-ReLU blocks with 'same' padding (convolutions without a bias, as Keras users write
/// them before BatchNormalization), global average pooling and a bias-free Dense layer with
/// BatchNormalization after it (one without scale or center): training steps on the GPU match
/// the CPU twin (weights and moving statistics), and so do predictions in inference mode, which
/// read the moving statistics.
#[test]
fn batch_norm_cnn_training_and_inference_match_the_cpu_twin() {
    let (train, test) = fashion(64);
    let same = |filters| {
        Layer::Conv2D(Conv2D {
            filters,
            kernel: (3, 3),
            strides: (1, 1),
            padding: wgtrain::ops::Padding::Same,
            activation: Act::Linear,
            use_bias: false,
            kernel_regularizer: None,
        })
    };
    let spec = Sequential::new(&[28, 28, 1])
        .add(same(8))
        .add(Layer::batch_norm())
        .add(Layer::Activation(Act::Relu))
        .add(Layer::max_pool((2, 2)))
        .add(same(12))
        .add(Layer::BatchNormalization(BatchNormalization { momentum: 0.9, ..BatchNormalization::default() }))
        .add(Layer::Activation(Act::Relu))
        .add(Layer::GlobalAveragePooling2D(GlobalAveragePooling2D::default()))
        .add(Layer::Dense(Dense { units: 16, activation: Act::Linear, use_bias: false, kernel_regularizer: None }))
        .add(Layer::BatchNormalization(BatchNormalization {
            center: false,
            scale: false,
            ..BatchNormalization::default()
        }))
        .add(Layer::Activation(Act::Tanh))
        .add(Layer::dense(10, Act::Softmax));
    let summary = spec.summary().unwrap();
    assert!(summary.contains("batch_normalization_1 (BatchNormalization)"), "{summary}");
    assert!(summary.contains("Non-trainable params: 72\n"), "{summary}");
    // A cosine schedule with warmup short enough that every step's rate differs.
    let schedule = Schedule::CosineDecay {
        initial_learning_rate: 1e-4,
        decay_steps: 3.0,
        alpha: 0.1,
        warmup_target: Some(2e-3),
        warmup_steps: 1.0,
    };
    let optimizer = Optimizer::RmsProp(RmsProp { centered: true, lr: schedule.into(), ..RmsProp::default() });
    let (batch, steps) = (16, 3);
    for gpu in gpus() {
        let mut worst = Worst::new("model parity batch norm cnn", gpu);
        let compile = Compile { optimizer: optimizer.clone(), loss: LossKind::CategoricalCrossentropy, seed: 4 };
        let mut model = Model::new(gpu.clone(), spec.clone(), compile).unwrap();
        let mut reference = Reference::new(&model).unwrap();
        // A short last batch of 5: normalised over its own 5 samples, as Keras does.
        let data = train.take(batch * steps + 5);
        let opts = FitOptions { batch_size: batch, epochs: 1, shuffle: false, ..FitOptions::default() };
        model.fit(&data, &opts).unwrap();
        for b in 0..steps {
            let (x, t) = batch_f64(&data, b, batch, 10);
            reference.train_step(&x, &t, batch);
        }
        let (x, t) = batch_f64(&data.slice(batch * steps..batch * steps + 5), 0, 5, 10);
        reference.train_step(&x, &t, 5);
        let gpu_tensors = model.weights().unwrap().into_iter().chain(model.non_trainable_weights().unwrap());
        let cpu_tensors = reference.weights().into_iter().chain(reference.non_trainable_weights());
        for (i, (got, want)) in gpu_tensors.zip(cpu_tensors).enumerate() {
            let err = compare(&format!("batch norm cnn on {}: tensor {i}", short(gpu)), &got, want);
            worst.add(err);
        }
        let (x, _) = batch_f64(&test, 0, batch, 10);
        let predicted = model.predict(&test.take(batch), batch).unwrap();
        worst.add(compare(
            &format!("batch norm cnn predictions on {}", short(gpu)),
            &predicted,
            &reference.predict(&x, batch),
        ));
    }
}

/// An `Activation` layer after a Conv2D, Dense or BatchNormalization layer that has none runs
/// inside it, and its derivative inside the input gradient of the next layer that computes,
/// past views such as Flatten: the step has no activation pass of its own, and its steps still
/// match the CPU twin, which runs the layers as written.
#[test]
fn activation_layers_run_inside_the_layer_before_and_still_match_the_cpu_twin() {
    let (train, _) = fashion(64);
    let spec = Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(6, (3, 3), Act::Linear))
        .add(Layer::Activation(Act::Relu))
        .add(Layer::max_pool((2, 2)))
        // No bias before a BatchNormalization, as Keras users write it: its gradient would be zero.
        .add(Layer::Conv2D(Conv2D {
            filters: 8,
            kernel: (3, 3),
            strides: (1, 1),
            padding: wgtrain::ops::Padding::Valid,
            activation: Act::Linear,
            use_bias: false,
            kernel_regularizer: None,
        }))
        .add(Layer::batch_norm())
        .add(Layer::Activation(Act::Elu))
        .add(Layer::Flatten)
        .add(Layer::Dense(Dense { use_bias: false, ..dense(16, Act::Linear) }))
        .add(Layer::BatchNormalization(BatchNormalization { scale: false, ..BatchNormalization::default() }))
        .add(Layer::Activation(Act::Sigmoid))
        .add(Layer::dense(12, Act::Linear))
        .add(Layer::Activation(Act::Tanh))
        .add(Layer::dense(10, Act::Softmax));
    parity("model parity folded activations", spec.clone(), Optimizer::Adam(Adam::default()), &train, 16, 3);
    assert_no_step_kernel(&spec, &train, "activation_");
}

/// BatchNormalization's own activation (what the graph folds in) takes only those differentiated
/// through their output; any other is refused with a message, not a panic when recorded.
#[test]
fn a_batch_norm_activation_the_kernels_cannot_apply_is_refused() {
    for act in [Act::Gelu, Act::Softmax] {
        let bn = BatchNormalization { activation: act, ..BatchNormalization::default() };
        let spec = Sequential::new(&[8]).add(Layer::BatchNormalization(bn)).add(Layer::dense(2, Act::Softmax));
        let err = spec.shapes().unwrap_err().to_string();
        assert!(err.contains(&format!("BatchNormalization cannot apply {}", act.name())), "{err}");
    }
}

/// A Dropout layer after a pool, or after Flatten after one, runs inside the pool: its mask on
/// the pool's output in training and on its gradient, with no dropout pass of its own; the
/// steps still match the CPU twin, whose Dropout layers draw the same masks.
#[test]
fn dropout_after_a_pool_runs_inside_it_and_still_matches_the_cpu_twin() {
    let (train, _) = fashion(64);
    let spec = Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(8, (3, 3), Act::Relu))
        .add(Layer::max_pool((2, 2)))
        .add(Layer::dropout(0.25))
        .add(Layer::conv2d(6, (3, 3), Act::Tanh))
        .add(Layer::avg_pool((2, 2)))
        .add(Layer::Flatten)
        .add(Layer::dropout(0.5))
        .add(Layer::dense(10, Act::Softmax));
    parity("model parity pools with dropout", spec.clone(), Optimizer::Adam(Adam::default()), &train, 16, 3);
    assert_no_step_kernel(&spec, &train, "dropout_");
}

/// Asserts that no dispatch of a training step of `spec` runs a kernel whose name starts with `prefix`.
fn assert_no_step_kernel(spec: &Sequential, data: &Dataset, prefix: &str) {
    for gpu in gpus() {
        let compile =
            Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 5 };
        let mut model = Model::new(gpu.clone(), spec.clone(), compile).unwrap();
        let kernels: Vec<&str> =
            model.profile_step(data, 16, &mut |_| Ok(0.0)).unwrap().kernels.into_iter().map(|k| k.0).collect();
        assert!(!kernels.iter().any(|k| k.starts_with(prefix)), "{}: {kernels:?}", short(gpu));
    }
}

/// A Dense-first model reads u8 images as bytes (copied, not converted, into its input), and
/// trains to the same bits as on the f32 copy of the data that it used to convert them to.
#[test]
fn u8_images_train_through_a_byte_input_as_their_f32_copy_does() {
    let (train, _) = fashion(160);
    let Features::U8(pixels) = &train.features else { panic!("IDX images load as bytes") };
    let as_f32 = Features::F32(pixels.iter().map(|&p| unorm8(p)).collect());
    let copy = Dataset::new(train.sample_shape.clone(), as_f32, train.labels.clone()).unwrap();
    let spec = Sequential::new(&[28, 28, 1])
        .add(Layer::Flatten)
        .add(Layer::dense(16, Act::Relu))
        .add(Layer::dense(10, Act::Softmax));
    for gpu in gpus() {
        let compile =
            Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 5 };
        let opts = FitOptions { batch_size: 32, epochs: 2, ..FitOptions::default() };
        let mut first_dispatch = Vec::new();
        let mut weights = Vec::new();
        for data in [&train, &copy] {
            let mut model = Model::new(gpu.clone(), spec.clone(), compile.clone()).unwrap();
            model.fit(data, &opts).unwrap();
            weights.push(model.weights().unwrap());
            let profile = model.profile_step(data, 32, &mut |_| Ok(0.0)).unwrap();
            first_dispatch.push(profile.kernels[0].0);
        }
        assert_eq!(first_dispatch, ["data_gather_bytes", "data_gather"], "{}", short(gpu));
        assert!(weights[0] == weights[1], "u8 and f32 inputs trained to different weights on {}", short(gpu));
    }
}

#[test]
fn the_same_seed_gives_bit_identical_weights() {
    let (train, _) = fashion(300);
    for gpu in gpus() {
        let spec = Sequential::new(&[28, 28, 1])
            .add(Layer::conv2d(4, (3, 3), Act::Relu))
            .add(Layer::max_pool((2, 2)))
            .add(Layer::Flatten)
            .add(Layer::dropout(0.2))
            .add(Layer::dense(10, Act::Softmax));
        let compile =
            Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 11 };
        let opts =
            FitOptions { batch_size: 32, epochs: 2, validation: Validation::Split(0.2), ..FitOptions::default() };
        let run = |seed| {
            let mut model = Model::new(gpu.clone(), spec.clone(), Compile { seed, ..compile.clone() }).unwrap();
            let history = model.fit(&train, &opts).unwrap();
            (model.weights().unwrap(), history.epochs.iter().map(|e| e.loss).collect::<Vec<_>>())
        };
        let (a, b, other) = (run(11), run(11), run(12));
        assert!(a.0 == b.0, "two runs with seed 11 differ on {}", short(gpu));
        assert_eq!(a.1, b.1, "loss histories differ on {}", short(gpu));
        assert!(a.0 != other.0, "seeds 11 and 12 gave the same weights on {}", short(gpu));
    }
}

/// Trains and returns (loss before, loss after) on the training data itself.
fn loss_drop(spec: Sequential, loss: LossKind, data: &Dataset, epochs: usize) -> Vec<(f64, f64)> {
    gpus()
        .iter()
        .map(|gpu| {
            let compile = Compile { optimizer: Optimizer::Adam(Adam::default()), loss, seed: 5 };
            let mut model = Model::new(gpu.clone(), spec.clone(), compile).unwrap();
            let before = model.evaluate(data, 32).unwrap().loss;
            let opts = FitOptions { batch_size: 32, epochs, ..FitOptions::default() };
            model.fit(data, &opts).unwrap();
            let after = model.evaluate(data, 32).unwrap().loss;
            say(&format!(
                "training {spec_layers} layers on {}: loss {before:.4} -> {after:.4}",
                short(gpu),
                spec_layers = spec.layers.len()
            ));
            (before, after)
        })
        .collect()
}

#[test]
fn a_short_run_brings_the_mlp_loss_well_down() {
    let (train, _) = fashion(500);
    let spec = Sequential::new(&[784])
        .add(Layer::Flatten)
        .add(Layer::dense(128, Act::Relu))
        .add(Layer::dense(10, Act::Softmax));
    for (before, after) in loss_drop(spec, LossKind::CategoricalCrossentropy, &train, 3) {
        assert!(after < 0.5 * before, "mlp loss {before} -> {after}");
    }
}

#[test]
fn a_short_run_brings_the_cnn_loss_well_down() {
    let (train, _) = fashion(300);
    for (before, after) in loss_drop(cnn(), LossKind::SparseCategoricalCrossentropy, &train, 2) {
        assert!(after < 0.5 * before, "cnn loss {before} -> {after}");
    }
}

#[test]
fn a_short_run_brings_the_binary_classifier_loss_well_down() {
    let dir = std::env::temp_dir().join(format!("wgtrain-binary-{}", std::process::id()));
    let (x, y) = (dir.join("X_train.npy"), dir.join("y_train.npy"));
    wgtrain::app::write_synthetic(&x, &y, wgtrain::app::Synthetic::Binary).unwrap();
    let data = npy::load(&x, &y, LabelKind::Targets).unwrap();
    let spec = wgtrain::presets::binary().model;
    for (before, after) in loss_drop(spec, LossKind::BinaryCrossentropy, &data, 5) {
        assert!(after < 0.5 * before, "binary classifier loss {before} -> {after}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_loss_that_turns_nan_stops_training_naming_epoch_and_step() {
    let (train, _) = fashion(256);
    for gpu in gpus() {
        let sgd = Sgd { lr: 1e30.into(), ..Sgd::default() };
        let compile = Compile { optimizer: Optimizer::Sgd(sgd), loss: LossKind::CategoricalCrossentropy, seed: 1 };
        let mut model = Model::new(gpu.clone(), mlp(), compile).unwrap();
        let opts = FitOptions { batch_size: 32, epochs: 3, ..FitOptions::default() };
        match model.fit(&train, &opts) {
            Err(wgtrain::Error::Diverged { epoch, step, loss }) => {
                assert!(epoch == 1 && step <= 8 && !loss.is_finite(), "epoch {epoch} step {step} loss {loss}");
                let message = wgtrain::Error::Diverged { epoch, step, loss }.to_string();
                assert!(message.contains("in epoch 1, by step"), "{message}");
            }
            other => panic!("expected divergence, got {other:?}"),
        }
    }
}

/// A BatchNormalization with neither scale nor center first in the model has nothing to learn
/// and nothing before it to pass a gradient to: it trains (normalising) without a backward pass.
#[test]
fn a_first_batch_norm_without_scale_or_center_trains() {
    let (train, _) = fashion(64);
    let bn = BatchNormalization { center: false, scale: false, ..BatchNormalization::default() };
    let spec = Sequential::new(&[784]).add(Layer::BatchNormalization(bn)).add(Layer::dense(10, Act::Softmax));
    for gpu in gpus() {
        let compile =
            Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 1 };
        let mut model = Model::new(gpu.clone(), spec.clone(), compile).unwrap();
        let history = model.fit(&train, &FitOptions { batch_size: 16, epochs: 2, ..FitOptions::default() }).unwrap();
        let losses: Vec<f64> = history.epochs.iter().map(|e| e.loss).collect();
        assert!(losses[1] < losses[0], "{losses:?}");
    }
}
