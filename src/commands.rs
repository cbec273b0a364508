//! The `wgtrain train`, `evaluate`, `predict` and `spec` commands.

use std::path::{Path, PathBuf};

use crate::app::{self, TrainArgs};
use crate::data::folder::{self, ImageShape};
use crate::data::npy::{self, LabelKind};
use crate::data::{Dataset, Features, Labels, find};
use crate::error::{Error, Result};
use crate::evaluation::{ConfusionMatrix, top_k};
use crate::nn::{LossKind, Model, Optimizer};
use crate::presets::{self, Preset, PresetValidation};

/// How images are brought to the model's input.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ImageArgs {
    /// Resize images to HxW, e.g. 64x64 (default: the model's input size; 64x64 for a preset).
    #[arg(long, value_name = "HxW", value_parser = folder::parse_size)]
    pub image_size: Option<(usize, usize)>,
    /// 1 (grey) or 3 (RGB) channels (default: the model's input; 3 for a preset).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["1", "3"]))]
    pub channels: Option<String>,
}

impl ImageArgs {
    /// The image shape from the flags, then from `input` (a model's input shape), then `fallback`.
    fn shape(&self, input: Option<&[usize]>, fallback: ImageShape) -> Result<ImageShape> {
        let from_input = input.and_then(ImageShape::of_input);
        let base = from_input.unwrap_or(fallback);
        let (height, width) = self.image_size.unwrap_or((base.height, base.width));
        let channels = self.channels.as_deref().map_or(base.channels, |c| if c == "1" { 1 } else { 3 });
        let shape = ImageShape { height, width, channels };
        if let Some(input) = input.filter(|i| i.iter().product::<usize>() != height * width * channels) {
            return Err(Error::Invalid(format!(
                "{height}x{width}x{channels} images do not fit the model's input {input:?}; set --image-size and --channels"
            )));
        }
        Ok(shape)
    }
}

/// Where a labelled dataset comes from (IDX data is the default: see `--data`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DataSource {
    /// Features and labels as two .npy files: X ([n, ...]) and y ([n] class indices or [n, k]
    /// float targets).
    #[arg(long, num_args = 2, value_names = ["X.npy", "Y.npy"], conflicts_with = "images")]
    pub npy: Option<Vec<PathBuf>>,
    /// An image folder: one sub-folder of PNG, JPEG or BMP files per class (class = folder name).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    #[command(flatten)]
    pub image: ImageArgs,
}

/// The image shape a preset gets from an image folder unless told otherwise (the seed CNN's).
const PRESET_IMAGES: ImageShape = ImageShape { height: 64, width: 64, channels: 3 };

/// How a model wants its labels read from .npy: class indices for cross-entropy, else floats.
fn label_kind(loss: LossKind, classes: usize) -> LabelKind {
    match loss {
        LossKind::CategoricalCrossentropy | LossKind::SparseCategoricalCrossentropy => LabelKind::Classes(classes),
        _ => LabelKind::Targets,
    }
}

/// Class labels counted from the data (largest + 1), for a preset to size its output by.
fn with_observed_classes(mut data: Dataset) -> Dataset {
    if let Labels::Classes { values, classes } = &mut data.labels {
        *classes = values.iter().map(|&v| usize::from(v) + 1).max().unwrap_or(1).max(2);
    }
    data
}

fn npy_pair(paths: &[PathBuf]) -> (&Path, &Path) {
    (&paths[0], &paths[1])
}

#[derive(clap::Args, Debug)]
pub struct TrainCommand {
    /// A preset: mlp, cnn, mlp-sgd, dense, binary, convnet, bn-cnn or cnn4 (input and output sized to the data).
    #[arg(long, required_unless_present = "spec", conflicts_with = "spec")]
    pub preset: Option<String>,
    /// A model spec file (JSON): `wgtrain spec PRESET` prints one to edit.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    #[command(flatten)]
    pub source: DataSource,
    /// Test data as two .npy files (with --npy).
    #[arg(long, num_args = 2, value_names = ["X.npy", "Y.npy"], requires = "npy")]
    pub test_npy: Option<Vec<PathBuf>>,
    /// A test image folder (with --images), laid out as the training folder.
    #[arg(long, value_name = "DIR", requires = "images")]
    pub test_images: Option<PathBuf>,
    /// Hold out this fraction of the training data for validation, instead of the model's choice.
    #[arg(long, value_name = "F")]
    pub validation_split: Option<f32>,
    /// Write the trained model to FILE (a safetensors checkpoint).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// The optimizer, by Keras's name with Keras's defaults: sgd, adam, adamw, rmsprop or
    /// adagrad (default: the spec's, Adam for a Keras model JSON).
    #[arg(long, value_name = "NAME")]
    pub optimizer: Option<String>,
    /// The loss, by Keras's name: categorical_crossentropy, sparse_categorical_crossentropy,
    /// binary_crossentropy or mean_squared_error (default: the spec's; for a Keras model JSON,
    /// categorical cross-entropy after a softmax output, binary after a sigmoid one).
    #[arg(long, value_name = "NAME")]
    pub loss: Option<String>,
    #[command(flatten)]
    pub train: TrainArgs,
}

/// The preset with `--optimizer` and `--loss` applied (before `--lr`, which sets the rate of
/// whichever optimizer that leaves).
fn compiled(cmd: &TrainCommand, mut preset: Preset) -> Result<Preset> {
    if let Some(name) = &cmd.optimizer {
        preset.compile.optimizer = Optimizer::by_keras_name(name)?;
    }
    if let Some(name) = &cmd.loss {
        preset.compile.loss = LossKind::by_keras_name(name)?;
    }
    Ok(preset)
}

pub fn train(cmd: &TrainCommand) -> Result<()> {
    let (preset, from_spec) = match (&cmd.preset, &cmd.spec) {
        (Some(name), _) => (cmd.train.apply(compiled(cmd, presets::by_name(name)?)?)?, false),
        (None, Some(path)) => (cmd.train.apply(compiled(cmd, Preset::from_spec_file(path)?)?)?, true),
        (None, None) => return Err(Error::Invalid("give --preset or --spec".into())),
    };
    if let Some(save) = &cmd.save {
        app::ensure_writable_file(save)?;
    }
    let input = from_spec.then_some(preset.model.input_shape.as_slice());
    let classes = preset.model.output_width()?;
    let fit = |d: Dataset| if from_spec { d } else { with_observed_classes(d) };
    let (train, test) = match (&cmd.source.npy, &cmd.source.images) {
        (Some(paths), _) => {
            let (x, y) = npy_pair(paths);
            let kind = label_kind(preset.compile.loss, if from_spec { classes } else { 256 });
            let test = cmd.test_npy.as_ref().map(|p| npy::load(npy_pair(p).0, npy_pair(p).1, kind)).transpose()?;
            println!("data: {} and {}", x.display(), y.display());
            (fit(npy::load(x, y, kind)?), test.map(fit))
        }
        (None, Some(dir)) => {
            let shape = cmd.source.image.shape(input, PRESET_IMAGES)?;
            let test = cmd.test_images.as_ref().map(|d| folder::load(d, shape)).transpose()?;
            let train = folder::load(dir, shape)?;
            if let Some(t) = test.as_ref().filter(|t| t.class_names != train.class_names) {
                return Err(Error::Invalid(format!(
                    "the test folder's classes {:?} differ from the training folder's {:?}",
                    t.class_names, train.class_names
                )));
            }
            println!(
                "data: {} ({} images of {} classes: {})",
                dir.display(),
                train.len(),
                train.class_names.len(),
                train.class_names.join(", ")
            );
            (train, test)
        }
        (None, None) => {
            let data = find::idx_data(cmd.train.data.as_deref())?;
            println!("data: {}", data.origin);
            (fit(data.train), Some(fit(data.test)))
        }
    };
    let mut preset = if from_spec { preset } else { preset.fitted_to(&train) };
    if let Some(f) = cmd.validation_split {
        preset.validation = PresetValidation::Split(f);
    }
    let (model, history, _) = app::run_preset(&preset, &train, test.as_ref(), &cmd.train)?;
    if let Some(path) = &cmd.save {
        let epoch = history.epochs.last().map_or(preset.epochs, |e| e.epoch);
        model.save(path, epoch)?;
        println!("saved: {}", path.display());
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct EvaluateCommand {
    /// A checkpoint (from `wgtrain train --save` or `--checkpoint-dir`).
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub source: DataSource,
    /// MNIST-format (IDX) directory whose test set is evaluated (default: the data search of
    /// `wgtrain train`), when neither --npy nor --images is given.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Backend (vulkan, metal, dx12, gl) or part of an adapter's name.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Use only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Opens the adapter and the checkpoint's model, and says which.
fn load_model(checkpoint: &Path, adapter: Option<&str>) -> Result<Model> {
    let gpu = app::open_gpu(adapter)?;
    let (model, info) = Model::from_checkpoint(gpu, checkpoint)?;
    println!("model: {} (epoch {}, step {})", checkpoint.display(), info.epoch, info.step);
    Ok(model)
}

pub fn evaluate(cmd: &EvaluateCommand) -> Result<()> {
    if cmd.limit == Some(0) {
        return Err(Error::Invalid("--limit must be at least 1".into()));
    }
    let mut model = load_model(&cmd.checkpoint, cmd.adapter.as_deref())?;
    let input = model.spec().input_shape.clone();
    let classes = model.spec().output_width()?;
    let data = match (&cmd.source.npy, &cmd.source.images) {
        (Some(paths), _) => {
            let (x, y) = npy_pair(paths);
            npy::load(x, y, label_kind(model.compile.loss, classes))?
        }
        (None, Some(dir)) => {
            let data = folder::load(dir, cmd.source.image.shape(Some(&input), PRESET_IMAGES)?)?;
            if !model.class_names().is_empty() && data.class_names != model.class_names() {
                return Err(Error::Invalid(format!(
                    "the folder's classes {:?} are not the model's {:?}",
                    data.class_names,
                    model.class_names()
                )));
            }
            data
        }
        (None, None) => {
            let found = find::idx_data(cmd.data.as_deref())?;
            println!("data: {} (test set)", found.origin);
            found.test
        }
    };
    let data = data.take(cmd.limit.unwrap_or(usize::MAX));
    let metrics = model.evaluate(&data, cmd.batch_size)?;
    println!("loss {:.4} - accuracy {:.4} ({} samples)", metrics.loss, metrics.accuracy, data.len());
    if let Labels::Classes { values, .. } = &data.labels {
        let outputs = model.predict(&data, cmd.batch_size)?;
        print!("{}", ConfusionMatrix::new(&outputs, values, classes, model.class_names()));
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct PredictCommand {
    /// A checkpoint (from `wgtrain train --save` or `--checkpoint-dir`).
    pub checkpoint: PathBuf,
    /// Image files (PNG, JPEG, BMP) to classify.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// How many of the most probable classes to show per image.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Backend (vulkan, metal, dx12, gl) or part of an adapter's name.
    #[arg(long)]
    pub adapter: Option<String>,
}

pub fn predict(cmd: &PredictCommand) -> Result<()> {
    let mut model = load_model(&cmd.checkpoint, cmd.adapter.as_deref())?;
    let input = model.spec().input_shape.clone();
    // A flat input of a square's size reads as grey images (the MNIST models).
    let side = (input.iter().product::<usize>() as f64).sqrt() as usize;
    let square = ImageShape { height: side, width: side, channels: 1 };
    let shape = cmd.image.shape(Some(&input), square)?;
    let mut pixels = Vec::new();
    for path in &cmd.images {
        pixels.extend(folder::load_image(path, shape)?);
    }
    let outputs = model.spec().output_width()?;
    let n = cmd.images.len();
    // Labels are not read; they only have the form the model's loss takes.
    let labels = match label_kind(model.compile.loss, outputs) {
        LabelKind::Classes(classes) => Labels::Classes { values: vec![0; n], classes },
        LabelKind::Targets => Labels::Targets { values: vec![0.0; n * outputs], width: outputs },
    };
    let data = Dataset::new(input, Features::U8(pixels), labels)?;
    let rows = model.predict(&data, n.min(256))?;
    for (path, row) in cmd.images.iter().zip(rows.chunks(outputs)) {
        let ranked: Vec<String> = top_k(row, cmd.top_k.max(1))
            .into_iter()
            .map(|(class, p)| match model.class_names().get(class) {
                Some(name) => format!("{name} {p:.4}"),
                None => format!("class {class} {p:.4}"),
            })
            .collect();
        println!("{}: {}", path.display(), ranked.join(", "));
    }
    Ok(())
}

/// The spec-file JSON of a preset.
pub fn spec(preset: &str) -> Result<()> {
    println!("{}", presets::by_name(preset)?.to_spec_json());
    Ok(())
}
