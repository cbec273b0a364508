//! Checkpoints: safetensors layout, bit-exact resume, and refusals that change nothing.

mod common;

use std::path::PathBuf;

use common::*;
use wgtrain::nn::{Act, Compile, Layer, LossKind, Model, Optimizer, Sequential};
use wgtrain::ops::optim::{Adagrad, Adam, LearningRate, RmsProp, Sgd};
use wgtrain::ops::schedule::Schedule;
use wgtrain::train::{FitOptions, ReduceLrOnPlateau, Validation};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wgtrain-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn spec() -> Sequential {
    Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(4, (3, 3), Act::Relu))
        .add(Layer::max_pool((2, 2)))
        .add(Layer::Flatten)
        .add(Layer::dropout(0.25))
        .add(Layer::dense(10, Act::Softmax))
}

fn compile() -> Compile {
    Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 9 }
}

#[test]
fn a_resumed_run_matches_an_uninterrupted_one_bit_for_bit() {
    let (train, _) = fashion(200);
    let cosine = Schedule::CosineDecay {
        initial_learning_rate: 1e-4,
        decay_steps: 10.0,
        alpha: 0.0,
        warmup_target: Some(3e-3),
        warmup_steps: 4.0,
    };
    let scheduled = Compile { optimizer: Optimizer::Adam(Adam { lr: cosine.into(), ..Adam::default() }), ..compile() };
    for (gpu, compile) in gpus().iter().flat_map(|g| [(g, compile()), (g, scheduled.clone())]) {
        let opts = |epochs, initial_epoch| FitOptions {
            batch_size: 32,
            epochs,
            initial_epoch,
            validation: Validation::Split(0.2),
            ..FitOptions::default()
        };
        let mut straight = Model::new(gpu.clone(), spec(), compile.clone()).unwrap();
        let straight_history = straight.fit(&train, &opts(3, 0)).unwrap();

        let path = temp(&format!("resume-{:?}.safetensors", gpu.info.backend));
        let mut first = Model::new(gpu.clone(), spec(), compile.clone()).unwrap();
        first.fit(&train, &opts(1, 0)).unwrap();
        first.save(&path, 1).unwrap();
        let mut resumed = Model::new(gpu.clone(), spec(), compile.clone()).unwrap();
        let info = resumed.load(&path).unwrap();
        assert_eq!((info.epoch, info.step, info.seed), (1, 5, 9));
        let resumed_history = resumed.fit(&train, &opts(3, info.epoch)).unwrap();

        assert_eq!(resumed.iterations().unwrap(), straight.iterations().unwrap());
        let what = format!("{:?} on {}", compile.optimizer, short(gpu));
        assert!(resumed.weights().unwrap() == straight.weights().unwrap(), "resumed weights differ: {what}");
        let rates = |h: &wgtrain::train::History| h.epochs.iter().map(|e| e.learning_rate).collect::<Vec<_>>();
        assert_eq!(rates(&resumed_history), rates(&straight_history)[1..], "{what}");
    }
}

/// ReduceLROnPlateau lowers the rate on the device between epochs (the recorded step reads
/// it), the epoch logs show it, and a checkpoint keeps the lowered rate.
#[test]
fn reduce_lr_on_plateau_lowers_the_rate_the_step_uses_and_checkpoints_keep_it() {
    let (train, _) = fashion(128);
    let sgd = Compile { optimizer: Optimizer::Sgd(Sgd { lr: 0.05.into(), ..Sgd::default() }), ..compile() };
    for gpu in gpus() {
        let opts =
            |epochs, initial_epoch| FitOptions { batch_size: 32, epochs, initial_epoch, ..FitOptions::default() };
        // No epoch improves by min_delta: with patience 1 every epoch from the second lowers the rate.
        let plateau = ReduceLrOnPlateau { patience: 1, factor: 0.5, min_delta: 1e9, ..ReduceLrOnPlateau::default() };
        let mut reduced = Model::new(gpu.clone(), spec(), sgd.clone()).unwrap();
        let history = reduced.fit(&train, &FitOptions { reduce_lr: Some(plateau), ..opts(3, 0) }).unwrap();
        let logged: Vec<f64> = history.epochs.iter().map(|e| e.learning_rate).collect();
        assert_eq!(logged, [0.05f32, 0.05, 0.025].map(f64::from));
        assert_eq!(reduced.current_lr().unwrap(), LearningRate::Constant(0.0125));

        // The same epochs with the rate set by hand between them train to the same bits.
        let mut by_hand = Model::new(gpu.clone(), spec(), sgd.clone()).unwrap();
        by_hand.fit(&train, &opts(2, 0)).unwrap();
        by_hand.set_learning_rate(0.025).unwrap();
        by_hand.fit(&train, &opts(3, 2)).unwrap();
        assert!(by_hand.weights().unwrap() == reduced.weights().unwrap(), "on {}", short(gpu));

        let path = temp(&format!("plateau-{:?}.safetensors", gpu.info.backend));
        reduced.save(&path, 3).unwrap();
        let mut loaded = Model::new(gpu.clone(), spec(), sgd.clone()).unwrap();
        loaded.load(&path).unwrap();
        assert_eq!(loaded.current_lr().unwrap(), LearningRate::Constant(0.0125));
        assert!((loaded.learning_rate().unwrap() - f64::from(0.0125f32)).abs() < 1e-12);

        // Resumed from a checkpoint of epoch 2, the callback goes on from its saved state: the
        // rate falls at the epochs it falls at in one run, to the same weights.
        let opts4 = |initial_epoch, state| FitOptions {
            reduce_lr: Some(plateau),
            reduce_lr_state: state,
            ..opts(4, initial_epoch)
        };
        let mut straight = Model::new(gpu.clone(), spec(), sgd.clone()).unwrap();
        let straight_rates: Vec<f64> = straight
            .fit(&train, &opts4(0, Default::default()))
            .unwrap()
            .epochs
            .iter()
            .map(|e| e.learning_rate)
            .collect();
        let mut first = Model::new(gpu.clone(), spec(), sgd.clone()).unwrap();
        let logs = first.fit(&train, &FitOptions { epochs: 2, ..opts4(0, Default::default()) }).unwrap().epochs;
        let last = logs.last().unwrap();
        first.save_run(&path, 2, Some(last.best), last.plateau).unwrap();
        let mut resumed = Model::new(gpu.clone(), spec(), sgd.clone()).unwrap();
        let info = resumed.load(&path).unwrap();
        let state = info.plateau.expect("the callback's state is saved");
        let resumed_rates: Vec<f64> =
            resumed.fit(&train, &opts4(2, state)).unwrap().epochs.iter().map(|e| e.learning_rate).collect();
        assert_eq!(resumed_rates, straight_rates[2..]);
        assert!(resumed.weights().unwrap() == straight.weights().unwrap(), "on {}", short(gpu));

        // A schedule cannot be set, nor watched by the callback (as in Keras).
        let cosine = Schedule::CosineDecay {
            initial_learning_rate: 0.1,
            decay_steps: 10.0,
            alpha: 0.0,
            warmup_target: None,
            warmup_steps: 0.0,
        };
        let scheduled = Compile { optimizer: sgd.optimizer.clone().with_lr(cosine), ..compile() };
        let mut model = Model::new(gpu.clone(), spec(), scheduled).unwrap();
        assert!(model.set_learning_rate(0.1).unwrap_err().to_string().contains("schedule"));
        let err = model.fit(&train, &FitOptions { reduce_lr: Some(plateau), ..opts(1, 0) }).unwrap_err();
        assert!(err.to_string().contains("needs a constant learning rate"), "{err}");
    }
}

#[test]
fn optimizer_state_is_saved_under_keras_slot_names_and_restored() {
    let (train, _) = fashion(64);
    let gpu = &gpus()[0];
    let rmsprop = Optimizer::RmsProp(RmsProp { momentum: 0.5, centered: true, ..RmsProp::default() });
    for (optimizer, slots) in [
        (rmsprop, &["velocity", "momentum", "average_gradient"][..]),
        (Optimizer::RmsProp(RmsProp::default()), &["velocity"][..]),
        (Optimizer::Adagrad(Adagrad::default()), &["accumulator"][..]),
    ] {
        let compile = Compile { optimizer: optimizer.clone(), ..compile() };
        let mut model = Model::new(gpu.clone(), spec(), compile.clone()).unwrap();
        model.fit(&train, &FitOptions { batch_size: 16, ..FitOptions::default() }).unwrap();
        let path = temp("slots.safetensors");
        model.save(&path, 1).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<String> =
            st.names().into_iter().filter(|n| n.starts_with("optimizer/dense/kernel/")).map(String::from).collect();
        names.sort();
        let mut want: Vec<String> = slots.iter().map(|s| format!("optimizer/dense/kernel/{s}")).collect();
        want.sort();
        assert_eq!(names, want, "{optimizer:?}");
        let mut loaded = Model::new(gpu.clone(), spec(), compile).unwrap();
        loaded.load(&path).unwrap();
        assert!(loaded.optimizer_state().unwrap() == model.optimizer_state().unwrap(), "{optimizer:?}");
    }
}

/// BatchNormalization's moving statistics are saved by Keras's names and restored, so a
/// resumed run, which keeps moving them, ends bit-identical to one that never stopped.
#[test]
fn non_trainable_state_is_saved_restored_and_resumed_bit_for_bit() {
    let (train, _) = fashion(128);
    let spec = Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(4, (3, 3), Act::Linear))
        .add(Layer::batch_norm())
        .add(Layer::Activation(Act::Relu))
        .add(Layer::Flatten)
        .add(Layer::dense(10, Act::Softmax));
    for gpu in gpus() {
        let opts =
            |epochs, initial_epoch| FitOptions { batch_size: 32, epochs, initial_epoch, ..FitOptions::default() };
        let mut straight = Model::new(gpu.clone(), spec.clone(), compile()).unwrap();
        straight.fit(&train, &opts(2, 0)).unwrap();

        let path = temp(&format!("batch-norm-{:?}.safetensors", gpu.info.backend));
        let mut first = Model::new(gpu.clone(), spec.clone(), compile()).unwrap();
        first.fit(&train, &opts(1, 0)).unwrap();
        first.save(&path, 1).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for name in ["gamma", "beta", "moving_mean", "moving_variance"] {
            assert_eq!(st.tensor(&format!("batch_normalization/{name}")).unwrap().shape(), [4], "{name}");
        }
        assert!(
            st.tensor("optimizer/batch_normalization/moving_mean/m").is_err(),
            "moving statistics have no optimizer state"
        );
        let moved = first.non_trainable_weights().unwrap();
        assert!(moved[0].iter().any(|&m| m != 0.0), "training moved the moving mean");

        let mut resumed = Model::new(gpu.clone(), spec.clone(), compile()).unwrap();
        let info = resumed.load(&path).unwrap();
        assert!(resumed.non_trainable_weights().unwrap() == moved, "moving statistics restored");
        resumed.fit(&train, &opts(2, info.epoch)).unwrap();
        assert!(resumed.weights().unwrap() == straight.weights().unwrap(), "resumed weights differ on {}", short(gpu));
        assert!(
            resumed.non_trainable_weights().unwrap() == straight.non_trainable_weights().unwrap(),
            "resumed moving statistics differ on {}",
            short(gpu)
        );
    }
}

#[test]
fn checkpoints_are_safetensors_with_named_weights_and_metadata() {
    let gpu = &gpus()[0];
    let model = Model::new(gpu.clone(), spec(), compile()).unwrap();
    let path = temp("layout.safetensors");
    model.save(&path, 0).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("conv2d/kernel").unwrap().shape(), [3, 3, 1, 4]);
    assert_eq!(st.tensor("dense/kernel").unwrap().shape(), [676, 10]);
    assert_eq!(st.tensor("optimizer/dense/bias/v").unwrap().shape(), [10]);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    assert_eq!(meta["epoch"], "0");
    assert!(meta["architecture"].contains("Conv2D"), "{}", meta["architecture"]);
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn another_architecture_or_a_truncated_file_is_refused_and_changes_nothing() {
    let gpu = &gpus()[0];
    let path = temp("refuse.safetensors");
    Model::new(gpu.clone(), spec(), compile()).unwrap().save(&path, 0).unwrap();

    let other = Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(8, (3, 3), Act::Relu))
        .add(Layer::max_pool((2, 2)))
        .add(Layer::Flatten)
        .add(Layer::dropout(0.25))
        .add(Layer::dense(10, Act::Softmax));
    let mut model = Model::new(gpu.clone(), other, Compile { seed: 1, ..compile() }).unwrap();
    let before = model.weights().unwrap();
    let err = model.load(&path).unwrap_err().to_string();
    assert!(err.contains(r#"another architecture: layer 0 is {"Conv2D":{"filters":8,"#), "{err}");
    assert!(model.weights().unwrap() == before, "a refused load changed the weights");

    let bytes = std::fs::read(&path).unwrap();
    let truncated = temp("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let mut model = Model::new(gpu.clone(), spec(), compile()).unwrap();
    let err = model.load(&truncated).unwrap_err().to_string();
    assert!(err.contains("truncated.safetensors") && err.contains("truncated or corrupt"), "{err}");

    let err = model.save(std::path::Path::new("/nonexistent/dir/x.safetensors"), 0).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/dir/x.safetensors"), "{err}");
    assert!(model.load(&path).is_ok(), "the earlier checkpoint must still load");
}

/// Weights by Keras's names: every layer's, trainable and not; setting some changes those and
/// nothing else (the optimizer's state and step stay); a bad name or length changes nothing.
#[test]
fn weights_are_read_and_set_by_keras_names() {
    let (train, _) = fashion(64);
    let gpu = &gpus()[0];
    let spec = Sequential::new(&[28, 28, 1])
        .add(Layer::conv2d(2, (3, 3), Act::Linear))
        .add(Layer::batch_norm())
        .add(Layer::Flatten)
        .add(Layer::dense(10, Act::Softmax));
    let mut model = Model::new(gpu.clone(), spec, compile()).unwrap();
    model.fit(&train, &FitOptions { batch_size: 32, ..FitOptions::default() }).unwrap();
    let names: Vec<String> = model.get_weights().unwrap().into_iter().map(|(n, _)| n).collect();
    let want = [
        "conv2d/kernel",
        "conv2d/bias",
        "batch_normalization/gamma",
        "batch_normalization/beta",
        "batch_normalization/moving_mean",
        "batch_normalization/moving_variance",
        "dense/kernel",
        "dense/bias",
    ];
    assert_eq!(names, want);
    let (state, step) = (model.optimizer_state().unwrap(), model.iterations().unwrap());
    let before = model.get_weights().unwrap();
    model.set_weights_by_name(&[("dense/bias", &[0.5; 10]), ("batch_normalization/moving_mean", &[1.0, 2.0])]).unwrap();
    for ((name, old), (_, new)) in before.iter().zip(model.get_weights().unwrap()) {
        match name.as_str() {
            "dense/bias" => assert_eq!(new, [0.5; 10]),
            "batch_normalization/moving_mean" => assert_eq!(new, [1.0, 2.0]),
            _ => assert!(*old == new, "{name} changed"),
        }
    }
    assert!(model.optimizer_state().unwrap() == state && model.iterations().unwrap() == step);
    let now = model.get_weights().unwrap();
    let err = model.set_weights_by_name(&[("dense/bias", &[0.0; 10]), ("dense/kernal", &[0.0])]).unwrap_err();
    assert!(err.to_string().contains("no weight 'dense/kernal'"), "{err}");
    let err = model.set_weights_by_name(&[("dense/kernel", &[0.0; 3])]).unwrap_err();
    assert!(err.to_string().contains("3 values for shape [1352, 10]"), "{err}");
    assert!(model.get_weights().unwrap() == now, "a refused set changed the weights");
}

/// A device lost in the middle of training (`destroy` simulates a driver reset or a GPU pulled
/// out) stops `fit` with one error naming the loss, no panic; the checkpoint saved before it
/// loads intact on a fresh device.
#[test]
fn a_device_lost_mid_training_is_one_error_and_the_last_checkpoint_survives() {
    let (train, _) = fashion(128);
    for template in gpus() {
        let info = &template.info;
        let adapter = wgtrain::gpu::adapter::all().into_iter().find(|a| a.get_info() == *info).unwrap();
        let gpu = std::sync::Arc::new(wgtrain::Gpu::open(adapter).unwrap());
        let mut model = Model::new(gpu, spec(), compile()).unwrap();
        let path = temp(&format!("lost-{:?}.safetensors", info.backend));
        let opts = FitOptions { batch_size: 32, epochs: 3, ..FitOptions::default() };
        let err = model
            .fit_with(&train, &opts, &mut |m, log| {
                m.save(&path, log.epoch)?;
                if log.epoch == 1 {
                    m.gpu().device.destroy();
                }
                Ok(())
            })
            .expect_err("training on a destroyed device fails");
        let text = err.to_string();
        assert!(text.contains("was destroyed") && !text.contains('\n'), "{text}");
        // Every later call fails the same way rather than reaching wgpu.
        assert!(model.weights().unwrap_err().to_string().contains("was destroyed"));
        let (restored, saved) = Model::from_checkpoint(template.clone(), &path).unwrap();
        assert_eq!((saved.epoch, restored.iterations().unwrap()), (1, 4));
        std::fs::remove_file(&path).ok();
    }
}
