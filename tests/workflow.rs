//! What a user's own training run relies on: streaming data bigger than the GPU may hold,
//! early stopping, memory that stays as reported, image folders, and checkpoints that carry
//! class names and the run's best loss.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use wgtrain::Gpu;
use wgtrain::data::folder::{self, ImageShape};
use wgtrain::data::{Features, Labels};
use wgtrain::nn::{Act, Compile, Layer, LossKind, Model, Optimizer, Sequential};
use wgtrain::ops::optim::{Adam, Sgd};
use wgtrain::train::{Best, FitOptions, Validation};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wgtrain-workflow-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mlp(gpu: &Arc<Gpu>, optimizer: Optimizer) -> Model {
    let spec = Sequential::new(&[28, 28, 1])
        .add(Layer::Flatten)
        .add(Layer::dense(32, Act::Relu))
        .add(Layer::dense(10, Act::Softmax));
    Model::new(gpu.clone(), spec, Compile { optimizer, loss: LossKind::CategoricalCrossentropy, seed: 5 }).unwrap()
}

fn adam() -> Optimizer {
    Optimizer::Adam(Adam::default())
}

#[test]
fn streamed_data_trains_bit_identically_to_resident_data() {
    let (train, test) = fashion(600);
    let validations = [Validation::Data(&test), Validation::Split(0.25)];
    for (gpu, validation) in gpus().iter().flat_map(|g| validations.iter().map(move |v| (g, *v))) {
        let run = |max_resident_bytes| {
            let mut model = mlp(gpu, adam());
            let opts =
                FitOptions { batch_size: 32, epochs: 2, validation, max_resident_bytes, ..FitOptions::default() };
            let history = model.fit(&train, &opts).unwrap();
            (model.weights().unwrap(), history)
        };
        let (resident_weights, resident) = run(None);
        // A window of 100 rows (3 whole batches of 32): several segments per pass.
        let (streamed_weights, streamed) = run(Some(100 * 785));
        assert!(streamed_weights == resident_weights, "streamed weights differ on {}", short(gpu));
        for (s, r) in streamed.epochs.iter().zip(&resident.epochs) {
            assert_eq!((s.loss, s.accuracy, s.val), (r.loss, r.accuracy, r.val), "on {}", short(gpu));
        }
        assert!(streamed.memory.dataset < resident.memory.dataset / 3, "{:?}", streamed.memory);
    }
}

#[test]
fn early_stopping_stops_once_the_validation_loss_stalls() {
    let (train, _) = fashion(300);
    let gpu = &gpus()[0];
    // A learning rate of zero never improves on the first epoch's validation loss.
    let mut model = mlp(gpu, Optimizer::Sgd(Sgd { lr: 0.0.into(), ..Sgd::default() }));
    let opts = FitOptions {
        batch_size: 32,
        epochs: 10,
        validation: Validation::Split(0.2),
        patience: Some(2),
        ..FitOptions::default()
    };
    let history = model.fit(&train, &opts).unwrap();
    assert!(history.stopped_early);
    assert_eq!(history.epochs.len(), 3);
    let first = history.epochs[0].val.unwrap().loss;
    assert_eq!(history.epochs[2].best, Best { loss: first, epochs_since: 2 });

    // A learning model is not stopped.
    let mut model = mlp(gpu, adam());
    let history = model.fit(&train, &FitOptions { epochs: 3, ..opts }).unwrap();
    assert!(!history.stopped_early && history.epochs.len() == 3);
}

#[test]
fn device_memory_stays_as_reported_and_flat_across_epochs() {
    // A device of its own, so no other test's buffers are counted.
    let gpu = Arc::new(Gpu::open(wgtrain::gpu::adapter::select(None).unwrap()).unwrap());
    let (train, test) = fashion(400);
    for (max_resident_bytes, validation) in [(None, Validation::Split(0.2)), (Some(64 * 785), Validation::Data(&test))]
    {
        let mut model = mlp(&gpu, adam());
        let mut seen = Vec::new();
        let opts = FitOptions { batch_size: 32, epochs: 4, validation, max_resident_bytes, ..FitOptions::default() };
        let history = model
            .fit_with(&train, &opts, &mut |m, _| {
                seen.push((m.gpu().usage.bytes(), m.gpu().usage.tensors(), m.gpu().live_buffers()));
                Ok(())
            })
            .unwrap();
        let report = history.memory;
        assert!(report.parameters > 0 && report.activations > 0 && report.dataset > 0, "{report:?}");
        assert!(seen.iter().all(|s| s.0 <= report.total()), "{seen:?} over the reported {}", report.total());
        if max_resident_bytes.is_none() {
            // Resident data: the report is every tensor the device holds.
            assert_eq!(seen[0].0, report.total(), "{report:?}");
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "memory grew from epoch to epoch: {seen:?}");
    }
}

fn write_image(path: &Path, width: u32, height: u32, rgb: [u8; 3]) {
    image::RgbImage::from_pixel(width, height, image::Rgb(rgb)).save(path).unwrap();
}

#[test]
fn image_folders_load_as_named_classes_at_the_asked_size() {
    let dir = temp_dir("images");
    for (class, colour) in [("cat", [200, 10, 10]), ("dog", [10, 200, 10])] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        write_image(&dir.join(class).join("a.png"), 40, 30, colour);
        write_image(&dir.join(class).join("b.bmp"), 17, 9, colour);
        write_image(&dir.join(class).join("c.jpg"), 64, 64, colour);
    }
    std::fs::write(dir.join(".DS_Store"), b"ignored").unwrap();
    std::fs::write(dir.join("README.txt"), b"files beside the class folders are not samples").unwrap();

    let rgb = folder::load(&dir, ImageShape { height: 8, width: 12, channels: 3 }).unwrap();
    assert_eq!(rgb.class_names, ["cat", "dog"]);
    assert_eq!(rgb.sample_shape, [8, 12, 3]);
    assert_eq!(rgb.labels, Labels::Classes { values: vec![0, 0, 0, 1, 1, 1], classes: 2 });
    let Features::U8(pixels) = &rgb.features else { panic!("images load as bytes") };
    // PNG and BMP are lossless: a flat colour stays exact through the resize.
    assert_eq!(&pixels[..3], &[200, 10, 10]);
    assert_eq!(&pixels[3 * 8 * 12 * 3..3 * 8 * 12 * 3 + 3], &[10, 200, 10]);
    let jpeg = &pixels[2 * 8 * 12 * 3..2 * 8 * 12 * 3 + 3];
    assert!(jpeg.iter().zip([200u8, 10, 10]).all(|(&g, w)| g.abs_diff(w) <= 6), "{jpeg:?}");

    let grey = folder::load(&dir, ImageShape { height: 5, width: 5, channels: 1 }).unwrap();
    assert_eq!((grey.sample_shape.as_slice(), grey.len()), ([5, 5, 1].as_slice(), 6));

    // A file that is not an image, and then an empty class, are errors naming the path.
    let shape = ImageShape { height: 8, width: 8, channels: 3 };
    std::fs::write(dir.join("dog").join("notes.png"), b"not a png").unwrap();
    let err = folder::load(&dir, shape).unwrap_err().to_string();
    assert!(err.contains("notes.png") && err.contains("image"), "{err}");
    std::fs::remove_file(dir.join("dog").join("notes.png")).unwrap();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let err = folder::load(&dir, shape).unwrap_err().to_string();
    assert!(err.contains("empty") && err.contains("no images"), "{err}");
    let err = folder::load(&dir.join("cat"), shape).unwrap_err().to_string();
    assert!(err.contains("no class sub-folders"), "{err}");
    assert_eq!(folder::parse_size("64x32"), Ok((64, 32)));
    assert!(folder::parse_size("0x3").is_err() && folder::parse_size("big").is_err());
}

#[test]
fn checkpoints_carry_class_names_and_the_best_loss() {
    let gpu = &gpus()[0];
    let dir = temp_dir("named");
    let path = dir.join("m.safetensors");
    let mut model = mlp(gpu, adam());
    let names: Vec<String> = (0..10).map(|i| format!("class {i}")).collect();
    assert!(model.set_class_names(names[..3].to_vec()).is_err());
    model.set_class_names(names.clone()).unwrap();
    let best = Best { loss: 0.123456789, epochs_since: 2 };
    model.save_run(&path, 4, Some(best), None).unwrap();
    let (loaded, info) = Model::from_checkpoint(gpu.clone(), &path).unwrap();
    assert_eq!(loaded.class_names(), names);
    assert_eq!((info.epoch, info.best), (4, Some(best)));
    assert!(loaded.weights().unwrap() == model.weights().unwrap());
}

#[test]
fn a_step_profile_times_every_dispatch_of_the_step() {
    let gpu = &gpus()[0];
    let (train, _) = fashion(64);
    let mut model = mlp(gpu, adam());
    let mut calls = Vec::new();
    let profile = model
        .profile_step(&train, 32, &mut |d| {
            calls.push(d.len());
            Ok(1e-3 * d.len() as f64)
        })
        .unwrap();
    let entries: Vec<&str> = profile.kernels.iter().map(|k| k.0).collect();
    // The MLP's first layer is Dense and the images are u8: the batch is gathered as bytes.
    assert_eq!(entries.first(), Some(&"data_gather_bytes"));
    // One Adam update for every parameter: they share one buffer per kind.
    assert_eq!(entries.iter().filter(|e| **e == "optim_adam").count(), 1, "{entries:?}");
    // The loss moves the cursor and counts the step: the update ends the step, 8 dispatches in all.
    assert_eq!(entries.last(), Some(&"optim_adam"));
    assert_eq!(entries.len(), 8, "{entries:?}");
    // On CPU adapters the output layer's logits and weight gradient read B through a uniform.
    let narrow = entries.iter().filter(|e| **e == "matmul_uniform_b").count();
    assert_eq!(narrow, if gpu.info.device_type == wgpu::DeviceType::Cpu { 2 } else { 0 }, "{entries:?}");
    // Each dispatch alone, then a run of 16 whole steps, reported per step.
    assert_eq!(calls[..entries.len()], vec![1; entries.len()][..]);
    assert_eq!(calls.last(), Some(&(16 * entries.len())));
    assert!((profile.step - 1e-3 * entries.len() as f64).abs() < 1e-12);
}
