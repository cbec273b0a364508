//! `wgtrain train`, `evaluate`, `predict` and `spec` end to end, and the faults they must turn
//! into one error line and a failure exit, losing nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wgtrain::data::{Features, Labels};

fn wgtrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wgtrain")).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wgtrain-commands-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn succeeded(out: &Output) -> String {
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    stdout
}

/// A failure with exactly one `wgtrain: error:` line containing every `needle`, and no panic.
fn failed_with(out: &Output, needles: &[&str]) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stdout: {}\nstderr: {stderr}", text(&out.stdout));
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wgtrain: error:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    for needle in needles {
        assert!(lines[0].contains(needle), "'{needle}' not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    lines[0].to_string()
}

const NAMES: [&str; 3] = ["trouser", "bag", "sneaker"];

/// Fashion-MNIST's trousers, bags and sneakers as PNG files in one folder per class.
fn fashion_folder(name: &str, per_class: usize) -> PathBuf {
    let dir = temp_dir(name);
    let (train, _) = common::fashion(2000);
    let (Features::U8(pixels), Labels::Classes { values, .. }) = (&train.features, &train.labels) else {
        panic!("Fashion-MNIST is bytes with classes")
    };
    for (name, class) in NAMES.iter().zip([1u8, 8, 7]) {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        let rows = values.iter().enumerate().filter(|(_, c)| **c == class).take(per_class);
        for (k, (i, _)) in rows.enumerate() {
            let image = image::GrayImage::from_raw(28, 28, pixels[i * 784..(i + 1) * 784].to_vec()).unwrap();
            image.save(dir.join(name).join(format!("{k:03}.png"))).unwrap();
        }
    }
    dir
}

#[test]
fn train_evaluate_and_predict_on_an_image_folder() {
    let images = fashion_folder("images", 40);
    let out_dir = temp_dir("images-out");
    let (model, metrics, plot) = (out_dir.join("model.safetensors"), out_dir.join("m.jsonl"), out_dir.join("p.png"));
    let out = wgtrain(&[
        "train",
        "--preset",
        "cnn",
        "--images",
        s(&images),
        "--image-size",
        "28x28",
        "--channels",
        "1",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--validation-split",
        "0.25",
        "--quiet",
        "--save",
        s(&model),
        "--metrics",
        s(&metrics),
        "--plot",
        s(&plot),
    ]);
    let stdout = succeeded(&out);
    assert!(stdout.contains("120 images of 3 classes: bag, sneaker, trouser"), "{stdout}");

    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&metrics).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["val_loss"].as_f64().is_some() && l["samples_per_second"].as_f64().is_some()));
    let png = image::open(&plot).unwrap();
    assert_eq!((png.width(), png.height()), (1200, 480));

    let out = wgtrain(&["evaluate", s(&model), "--images", s(&images)]);
    let stdout = succeeded(&out);
    assert!(stdout.contains("confusion matrix") && stdout.contains("(120 samples)"), "{stdout}");
    for (i, name) in ["bag", "sneaker", "trouser"].iter().enumerate() {
        assert!(stdout.contains(&format!("{i} {name}")), "{stdout}");
    }
    let accuracy: f64 = stdout.split("accuracy ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(accuracy > 0.9, "three easy classes, three epochs: accuracy {accuracy}\n{stdout}");

    let trouser = images.join("trouser").join("000.png");
    let sneaker = images.join("sneaker").join("001.png");
    let out = wgtrain(&["predict", s(&model), s(&trouser), s(&sneaker), "--top-k", "2"]);
    let stdout = succeeded(&out);
    let line =
        |p: &Path| stdout.lines().find(|l| l.starts_with(s(p))).unwrap_or_else(|| panic!("{stdout}")).to_string();
    assert!(line(&trouser).contains(": trouser 0."), "{stdout}");
    assert!(line(&sneaker).contains(": sneaker 0."), "{stdout}");
    assert_eq!(line(&trouser).matches(", ").count(), 1, "top 2: {stdout}");
}

#[test]
fn a_spec_file_trains_and_a_bad_one_is_refused() {
    let dir = temp_dir("spec");
    let spec = dir.join("mlp.json");
    let out = wgtrain(&["spec", "mlp"]);
    std::fs::write(&spec, succeeded(&out)).unwrap();
    let out = wgtrain(&[
        "train",
        "--spec",
        s(&spec),
        "--epochs",
        "1",
        "--limit",
        "600",
        "--quiet",
        "--data",
        wgtrain::data::find::BUNDLED,
        "--metrics",
        s(&dir.join("m.csv")),
    ]);
    let stdout = succeeded(&out);
    assert!(stdout.contains("test: loss") && stdout.contains("(600 samples)"), "{stdout}");
    let csv = std::fs::read_to_string(dir.join("m.csv")).unwrap();
    assert!(
        csv.starts_with("epoch,loss,accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate\n")
            && csv.lines().count() == 2,
        "{csv}"
    );

    // A schedule in the spec file: the epoch lines show the rate it reached.
    let preset = text(&wgtrain(&["spec", "mlp"]).stdout);
    let cosine = r#""lr": {"CosineDecay": {"initial_learning_rate": 0.001, "decay_steps": 38}}"#;
    std::fs::write(&spec, preset.replace(r#""lr": 0.001"#, cosine)).unwrap();
    let data = ["--data", wgtrain::data::find::BUNDLED, "--limit", "600"];
    let out = wgtrain(&[&["train", "--spec", s(&spec), "--epochs", "2"][..], &data].concat());
    let stdout = succeeded(&out);
    // 480 training rows, 15 steps an epoch: cos(π·15/38) and the end of the decay.
    assert!(
        stdout.contains("- learning_rate: 6.6235e-04") && stdout.contains("- learning_rate: 1.0543e-04"),
        "{stdout}"
    );
    failed_with(
        &wgtrain(&[&["train", "--spec", s(&spec), "--reduce-lr-on-plateau", "2"][..], &data].concat()),
        &["ReduceLROnPlateau needs a constant learning rate"],
    );
    failed_with(
        &wgtrain(&["train", "--preset", "mlp", "--reduce-lr-on-plateau", "2", "--reduce-lr-factor", "1.5"]),
        &["ReduceLROnPlateau factor must be in [0, 1), got 1.5"],
    );
    let pieces = r#""lr": {"PiecewiseConstantDecay": {"boundaries": [10], "values": [0.01, 0.001]}}"#;
    std::fs::write(&spec, preset.replace(r#""lr": 0.001"#, pieces)).unwrap();
    failed_with(
        &wgtrain(&["train", "--spec", s(&spec), "--lr", "0.1"]),
        &["PiecewiseConstantDecay, which has no initial rate"],
    );
    for (lr, says) in [
        (cosine.replace("CosineDecay", "CosineDecy"), "unknown variant `CosineDecy`, expected one of"),
        (cosine.replace(r#", "decay_steps": 38"#, ""), "missing field `decay_steps`"),
    ] {
        std::fs::write(&spec, preset.replace(r#""lr": 0.001"#, &lr)).unwrap();
        failed_with(&wgtrain(&["train", "--spec", s(&spec)]), &["learning rate", says]);
    }
    std::fs::write(&spec, preset.replace(r#""lr": 0.001"#, &cosine.replace("38", "0"))).unwrap();
    failed_with(&wgtrain(&["train", "--spec", s(&spec)]), &["CosineDecay decay_steps 0 must be positive"]);

    std::fs::write(&spec, r#"{"model": {"input_shape": [784], "layers": ["Flatten"]}}"#).unwrap();
    failed_with(&wgtrain(&["train", "--spec", s(&spec)]), &["mlp.json", "not a model spec", "compile"]);
    failed_with(&wgtrain(&["train", "--preset", "resnet"]), &["no preset 'resnet'", "mlp, cnn"]);
}

#[test]
fn divergence_keeps_the_last_good_checkpoint() {
    let dir = temp_dir("diverge");
    let ck = dir.join("ck");
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--preset", "mlp-sgd", "--limit", "500", "--quiet", "--checkpoint-dir", s(&ck)];
        args.extend_from_slice(&["--data", wgtrain::data::find::BUNDLED]);
        args.extend_from_slice(extra);
        wgtrain(&args)
    };
    succeeded(&train(&["--epochs", "1"]));
    let last = std::fs::read(ck.join("last.safetensors")).unwrap();
    let out = train(&["--epochs", "2", "--resume", "--lr", "1e30"]);
    failed_with(&out, &["diverged", "in epoch 2", "last good checkpoint", "(epoch 1) is kept"]);
    assert!(std::fs::read(ck.join("last.safetensors")).unwrap() == last, "the good checkpoint was overwritten");
}

#[test]
fn checkpoints_record_the_best_loss_and_resume_keeps_it() {
    let dir = temp_dir("best");
    let ck = dir.join("ck");
    let metrics = dir.join("m.jsonl");
    let train = |epochs: &str, resume: bool| {
        let mut args = vec!["train", "--preset", "mlp", "--limit", "500", "--quiet", "--epochs", epochs];
        args.extend_from_slice(&["--data", wgtrain::data::find::BUNDLED, "--checkpoint-dir", s(&ck)]);
        args.extend_from_slice(&["--metrics", s(&metrics)]);
        if resume {
            args.push("--resume");
        }
        succeeded(&wgtrain(&args))
    };
    train("2", false);
    train("3", true);
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&metrics).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["epoch"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    let val: Vec<f64> = lines.iter().map(|l| l["val_loss"].as_f64().unwrap()).collect();
    let best = val.iter().copied().fold(f64::INFINITY, f64::min);
    let bytes = std::fs::read(ck.join("last.safetensors")).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    assert_eq!(meta["best_loss"].parse::<f64>().unwrap(), best, "{meta:?} vs {val:?}");
    let best_epoch = val.iter().position(|&v| v == best).unwrap() + 1;
    let best_bytes = std::fs::read(ck.join("best.safetensors")).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&best_bytes).unwrap();
    assert_eq!(header.metadata().as_ref().unwrap()["epoch"], best_epoch.to_string());
}

#[test]
fn bad_input_is_one_error_line_and_a_failure_exit() {
    let dir = temp_dir("bad");
    let images = fashion_folder("bad-images", 3);
    std::fs::write(images.join("bag").join("list.txt"), "not an image").unwrap();
    failed_with(&wgtrain(&["train", "--preset", "cnn", "--images", s(&images)]), &["list.txt", "not an image"]);

    // An output directory that cannot be created: its parent is a file. Nothing is trained.
    let file = dir.join("file");
    std::fs::write(&file, "").unwrap();
    let blocked = file.join("ck");
    let out = wgtrain(&["train", "--preset", "mlp", "--limit", "100", "--checkpoint-dir", s(&blocked)]);
    failed_with(&out, &[s(&blocked)]);
    assert!(!text(&out.stdout).contains("Epoch"), "trained before failing: {}", text(&out.stdout));
    failed_with(&wgtrain(&["train", "--preset", "mlp", "--plot", s(&file.join("p.png"))]), &["p.png"]);

    // A model larger than the adapter can bind.
    let spec = dir.join("huge.json");
    let preset = text(&wgtrain(&["spec", "mlp"]).stdout).replace("\"units\": 128", "\"units\": 100000");
    std::fs::write(&spec, preset).unwrap();
    let out = wgtrain(&["train", "--spec", s(&spec), "--data", wgtrain::data::find::BUNDLED]);
    failed_with(&out, &["max_storage_buffer_binding_size"]);

    // .npy features with a NaN, and labels out of range for the model.
    let (x, y) = (dir.join("x.npy"), dir.join("y.npy"));
    let mut features = vec![0.5f32; 4 * 784];
    features[789] = f32::NAN;
    wgtrain::data::npy::write(&x, &[4, 784], &features).unwrap();
    wgtrain::data::npy::write(&y, &[4], &[0.0, 1.0, 2.0, 3.0]).unwrap();
    failed_with(&wgtrain(&["train", "--preset", "mlp", "--npy", s(&x), s(&y)]), &["x.npy", "NaN"]);
    let spec = dir.join("mlp.json");
    std::fs::write(&spec, text(&wgtrain(&["spec", "mlp"]).stdout)).unwrap();
    wgtrain::data::npy::write(&x, &[4, 784], &[0.5; 4 * 784]).unwrap();
    wgtrain::data::npy::write(&y, &[4], &[0.0, 1.0, 12.0, 3.0]).unwrap();
    failed_with(&wgtrain(&["train", "--spec", s(&spec), "--npy", s(&x), s(&y)]), &["y.npy", "12", "[0, 10)"]);

    // Samples that do not fit the model's input; a truncated checkpoint; a non-image to predict.
    let model = dir.join("model.safetensors");
    wgtrain::data::npy::write(&y, &[4], &[0.0, 1.0, 2.0, 3.0]).unwrap();
    let dense = dir.join("dense.json");
    std::fs::write(&dense, text(&wgtrain(&["spec", "dense"]).stdout)).unwrap();
    let out = wgtrain(&["train", "--spec", s(&dense), "--npy", s(&x), s(&y), "--batch-size", "2"]);
    failed_with(&out, &["samples of shape [784]", "[100]"]);
    let out = wgtrain(&[
        "train",
        "--preset",
        "mlp",
        "--limit",
        "64",
        "--epochs",
        "1",
        "--quiet",
        "--save",
        s(&model),
        "--data",
        wgtrain::data::find::BUNDLED,
    ]);
    succeeded(&out);
    let bytes = std::fs::read(&model).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    failed_with(&wgtrain(&["evaluate", s(&cut), "--limit", "10"]), &["cut.safetensors", "truncated or corrupt"]);
    failed_with(&wgtrain(&["predict", s(&model), s(&spec)]), &["mlp.json", "not an image"]);
    failed_with(&wgtrain(&["train", "--preset", "mlp", "--epochs", "0"]), &["epochs must be at least 1"]);
    failed_with(&wgtrain(&["train", "--preset", "mlp", "--batch-size", "0"]), &["batch size must be at least 1"]);
}

/// Numeric settings are checked where they enter (flags, spec files) and before anything is
/// built: one line naming the setting and its range. A layer too large for the adapter is one
/// line naming the layer and the limit, refused before its gigabytes are allocated.
#[test]
fn out_of_range_settings_and_oversized_layers_are_one_line_each() {
    let dir = temp_dir("settings");
    let spec = dir.join("spec.json");
    let mlp = text(&wgtrain(&["spec", "mlp"]).stdout);
    let sgd = text(&wgtrain(&["spec", "mlp-sgd"]).stdout);
    for (preset, from, to, says) in [
        (&mlp, r#""beta1": 0.9"#, r#""beta1": 1.0"#, "Adam beta1 1 must be in (0, 1)"),
        (&mlp, r#""beta2": 0.999"#, r#""beta2": -0.5"#, "Adam beta2 -0.5 must be in (0, 1)"),
        (&mlp, r#""epsilon": 1e-7"#, r#""epsilon": 0.0"#, "Adam epsilon 0 must be finite and > 0"),
        (&mlp, r#""lr": 0.001"#, r#""lr": -0.001"#, "learning rate: the rate -0.001 is negative"),
        (&sgd, r#""momentum": 0.0"#, r#""momentum": 1.5"#, "SGD momentum 1.5 must be in [0, 1]"),
        (&sgd, r#""weight_decay": 0.0"#, r#""weight_decay": -1.0"#, "SGD weight_decay -1 must be finite and >= 0"),
        (&mlp, r#""units": 128"#, r#""units": 1000000"#, "layer 1 (Dense) kernel of shape [784, 1000000] needs"),
        (&mlp, r#""validation_split": 0.2"#, r#""validation_split": 5.0"#, "validation_split 5 must be in [0, 1)"),
        // A misspelt setting is an error, never silently its default.
        (&mlp, r#""beta1": 0.9"#, r#""betta1": 0.9"#, "unknown field `betta1`"),
        (&mlp, r#""use_bias": true"#, r#""use_bais": true"#, "unknown field `use_bais`"),
    ] {
        assert!(preset.contains(from), "{from}");
        std::fs::write(&spec, preset.replace(from, to)).unwrap();
        let started = std::time::Instant::now();
        failed_with(&wgtrain(&["train", "--spec", s(&spec)]), &[says]);
        assert!(started.elapsed().as_secs() < 30, "{says}: refused only after {:?}", started.elapsed());
    }
    failed_with(&wgtrain(&["train", "--preset", "mlp", "--lr=-1"]), &["learning rate: the rate -1 is negative"]);
    failed_with(&wgtrain(&["train", "--preset", "mlp", "--lr", "NaN"]), &["the rate NaN is not finite"]);
    failed_with(&wgtrain(&["train", "--preset", "mlp", "--limit", "0"]), &["--limit must be at least 1"]);
    failed_with(&wgtrain(&["train", "--preset", "mlp", "--batch-size", "0"]), &["batch size must be at least 1"]);
    failed_with(&wgtrain(&["train", "--preset", "mlp", "--max-resident-mib", "0"]), &["--max-resident-mib"]);
    std::fs::remove_dir_all(&dir).ok();
}

/// File-system mistakes are refused before training, naming the path and what was expected.
#[test]
fn paths_of_the_wrong_kind_are_named_with_what_was_expected() {
    let dir = temp_dir("paths");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (f, d) = (s(&file), s(&dir));
    let train = ["train", "--preset", "mlp", "--epochs", "1", "--limit", "64"];
    for (flags, says) in [
        (vec!["--checkpoint-dir", f], format!("{f}: is a file; expected a directory")),
        (vec!["--plot", d], format!("{d}: is a directory; expected a file name")),
        (vec!["--metrics", d], format!("{d}: is a directory; expected a file name")),
        (vec!["--save", d], format!("{d}: is a directory; expected a file name")),
        (vec!["--data", f], format!("{f}: is a file; expected a directory of MNIST-format files")),
        (vec!["--data", "/no/such/dir"], "/no/such/dir: does not exist".to_string()),
        (vec!["--checkpoint-dir", d, "--resume"], "last.safetensors: nothing to resume".to_string()),
    ] {
        failed_with(&wgtrain(&[&train[..], &flags].concat()), &[&says]);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A checkpoint whose metadata declares a layer its tensors do not hold (a huge one), or an
/// optimizer setting out of range, is one error line naming it; nothing is allocated for it first.
#[test]
fn a_checkpoint_declaring_too_large_a_layer_or_a_bad_setting_is_one_line() {
    let dir = temp_dir("bad-checkpoint");
    let saved = dir.join("mlp.safetensors");
    let data = ["--data", wgtrain::data::find::BUNDLED, "--limit", "64", "--epochs", "1", "--quiet"];
    succeeded(&wgtrain(&[&["train", "--preset", "mlp", "--save", s(&saved)][..], &data].concat()));
    let bytes = std::fs::read(&saved).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
    // The metadata holds the architecture and compile settings as JSON strings.
    for (from, to, says) in [
        // Its tensors are checked against the architecture before the model is built.
        (
            r#"\"units\":128"#,
            r#"\"units\":1000000"#,
            "tensor 'dense/kernel' is F32 [784, 128], expected F32 [784, 1000000]",
        ),
        (r#"\"beta1\":0.9"#, r#"\"beta1\":1.5"#, "Adam beta1 1.5 must be in (0, 1)"),
    ] {
        assert!(header.contains(from), "{from} not in {header}");
        let patched = header.replace(from, to);
        let mut file = (patched.len() as u64).to_le_bytes().to_vec();
        file.extend(patched.as_bytes());
        file.extend(&bytes[8 + header_len..]);
        let path = dir.join("patched.safetensors");
        std::fs::write(&path, file).unwrap();
        let started = std::time::Instant::now();
        failed_with(&wgtrain(&["evaluate", s(&path), "--data", wgtrain::data::find::BUNDLED]), &[says]);
        assert!(started.elapsed().as_secs() < 30, "{says}: refused only after {:?}", started.elapsed());
    }
    std::fs::remove_dir_all(&dir).ok();
}
