//! Checkpoints: a model's weights, optimizer state and step in the safetensors format (so they
//! open in Python tools), with the architecture and the training position as metadata.
//! Written atomically: a run killed at any moment leaves the previous checkpoint intact.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Tensor};
use crate::nn::{Compile, Model, Sequential};
use crate::ops::optim::LearningRate;
use crate::train::{Best, PlateauState};

pub const FORMAT: &str = "wgtrain-checkpoint-1";

/// Where training stood when a checkpoint was written.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointInfo {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer updates made.
    pub step: u32,
    pub seed: u64,
    pub wgtrain_version: String,
    /// The run's best monitored loss so far, so a resumed run keeps its best checkpoint and
    /// early-stopping count.
    pub best: Option<Best>,
    /// ReduceLROnPlateau's state, so a resumed run lowers the rate when the uninterrupted one would.
    pub plateau: Option<PlateauState>,
}

fn data_error(path: &Path, message: String) -> Error {
    Error::Data { path: path.to_path_buf(), message }
}

/// Every tensor a checkpoint holds, named and shaped by `tensor_names`: the weights in
/// `named_weights` order, then the optimizer's slots of each trainable tensor.
fn named_tensors(model: &Model) -> Vec<(String, &Tensor, Vec<usize>)> {
    let names = tensor_names(&model.spec, &model.compile).expect("a built model's architecture is checked");
    let weights = model.named_weights().into_iter().map(|(_, t, _)| t);
    let slots = model.params.iter().flatten().flat_map(|p| &p.state);
    names.into_iter().zip(weights.chain(slots)).map(|((name, shape), t)| (name, t, shape)).collect()
}

/// The first difference between two architectures, if any.
fn first_mismatch(model: &Sequential, saved: &Sequential) -> Option<String> {
    if model.input_shape != saved.input_shape {
        return Some(format!("input shape {:?} here, {:?} in the checkpoint", model.input_shape, saved.input_shape));
    }
    for (i, (a, b)) in model.layers.iter().zip(&saved.layers).enumerate() {
        if a != b {
            return Some(format!("layer {i} is {} here, {} in the checkpoint", to_json(a), to_json(b)));
        }
    }
    (model.layers.len() != saved.layers.len())
        .then(|| format!("{} layers here, {} in the checkpoint", model.layers.len(), saved.layers.len()))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| data_error(path, "not a file name".into()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        std::fs::remove_file(&tmp).ok();
        return Err(io(e));
    }
    // The rename itself is durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().ok();
    }
    Ok(())
}

impl Model {
    /// Saves weights, optimizer state and step, with `epoch` (epochs completed) as metadata.
    pub fn save(&self, path: &Path, epoch: usize) -> Result<()> {
        self.save_run(path, epoch, None, None)
    }

    /// `save`, also recording the run's best monitored loss so far and ReduceLROnPlateau's state.
    pub fn save_run(&self, path: &Path, epoch: usize, best: Option<Best>, plateau: Option<PlateauState>) -> Result<()> {
        let tensors = named_tensors(self);
        let mut data = Vec::with_capacity(tensors.len());
        for (name, t, shape) in &tensors {
            let values: Vec<f32> = self.gpu.read(t)?;
            data.push((name.clone(), shape.clone(), bytemuck::cast_slice::<f32, u8>(&values).to_vec()));
        }
        let views: Vec<(String, TensorView)> = data
            .iter()
            .map(|(name, shape, bytes)| {
                (name.clone(), TensorView::new(Dtype::F32, shape.clone(), bytes).expect("lengths match shapes"))
            })
            .collect();
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("wgtrain_version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            ("architecture".to_string(), to_json(&self.spec)),
            (
                "compile".to_string(),
                to_json(&Compile {
                    optimizer: self.compile.optimizer.clone().with_lr(self.current_lr()?),
                    ..self.compile.clone()
                }),
            ),
            ("epoch".to_string(), epoch.to_string()),
            ("step".to_string(), self.iterations()?.to_string()),
            ("seed".to_string(), self.compile.seed.to_string()),
            ("class_names".to_string(), to_json(&self.class_names)),
        ]);
        let mut metadata = metadata;
        if let Some(best) = best {
            metadata.insert("best_loss".to_string(), best.loss.to_string());
            metadata.insert("epochs_since_best".to_string(), best.epochs_since.to_string());
        }
        if let Some(plateau) = plateau {
            metadata.insert("reduce_lr_state".to_string(), to_json(&plateau));
        }
        let bytes = safetensors::serialize(views, Some(metadata))
            .map_err(|e| data_error(path, format!("could not serialise the checkpoint: {e}")))?;
        write_atomically(path, &bytes)
    }

    /// Builds the model a checkpoint was saved from (architecture, compile settings, class
    /// names) on `gpu` and loads it.
    pub fn from_checkpoint(gpu: Arc<Gpu>, path: &Path) -> Result<(Model, CheckpointInfo)> {
        let saved = Saved::read(path)?;
        // Before anything is built for it: a small file cannot make the model allocate much.
        saved.check_tensors()?;
        let mut model = Model::new(gpu, saved.architecture.clone(), saved.compile.clone())?;
        let info = model.load_saved(&saved)?;
        Ok((model, info))
    }

    /// Loads a checkpoint saved from a model of the same architecture and optimizer. Everything
    /// is checked before anything is written: a refused checkpoint leaves the model unchanged.
    pub fn load(&mut self, path: &Path) -> Result<CheckpointInfo> {
        self.load_saved(&Saved::read(path)?)
    }

    fn load_saved(&mut self, saved: &Saved) -> Result<CheckpointInfo> {
        let path = saved.path.as_path();
        let bad = |m: String| data_error(path, m);
        if let Some(m) = first_mismatch(&self.spec, &saved.architecture) {
            return Err(bad(format!("another architecture: {m}")));
        }
        if saved.compile.optimizer.lr().is_constant() != self.compile.optimizer.lr().is_constant() {
            return Err(bad(
                "saved with a constant learning rate where the model has a schedule, or the other way".into()
            ));
        }
        saved.check_tensors()?;
        let st = SafeTensors::deserialize(&saved.bytes)
            .map_err(|e| bad(format!("not a safetensors file, or truncated or corrupt: {e}")))?;
        let mut values = Vec::new();
        for (name, tensor, _) in named_tensors(self) {
            let view = st.tensor(&name).map_err(|e| bad(format!("tensor '{name}': {e}")))?;
            let v: Vec<f32> =
                view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            values.push((tensor, v));
        }
        for (tensor, v) in values {
            self.gpu.write(tensor, &v);
        }
        self.gpu.write(&self.step, &[saved.info.step]);
        // A constant rate may have been lowered during the run (ReduceLROnPlateau); a schedule
        // is a function of the step just restored.
        if let (LearningRate::Constant(lr), true) =
            (saved.compile.optimizer.lr(), self.compile.optimizer.lr().is_constant())
        {
            self.set_learning_rate(*lr)?;
        }
        self.class_names = saved.class_names.clone();
        Ok(saved.info.clone())
    }
}

/// A checkpoint file read and its metadata checked; the tensors are checked when loaded.
struct Saved {
    path: PathBuf,
    bytes: Vec<u8>,
    architecture: Sequential,
    compile: Compile,
    class_names: Vec<String>,
    info: CheckpointInfo,
}

/// Checks a checkpoint's bytes as far as that takes no device: its metadata, architecture and
/// settings, and every tensor a model of that architecture and optimizer loads, by name, dtype
/// and shape. What `Model::from_checkpoint` checks before it builds anything.
pub fn inspect(bytes: Vec<u8>) -> Result<(Sequential, Compile, CheckpointInfo)> {
    let saved = Saved::parse(Path::new("checkpoint"), bytes)?;
    saved.architecture.shapes()?;
    saved.compile.optimizer.check()?;
    saved.check_tensors()?;
    Ok((saved.architecture, saved.compile, saved.info))
}

/// The tensors a model of `spec` with `compile`'s optimizer saves, by name, with their shapes:
/// each layer's trainable tensors, then its non-trainable ones, then the optimizer's slots of
/// every trainable tensor (the order and names of `named_tensors`).
pub fn tensor_names(spec: &Sequential, compile: &Compile) -> Result<Vec<(String, Vec<usize>)>> {
    let shapes = spec.shapes()?;
    let slots = compile.optimizer.slots();
    let (mut weights, mut state) = (Vec::new(), Vec::new());
    for ((layer, input), name) in spec.layers.iter().zip(&shapes).zip(spec.layer_names()) {
        let params = layer.params(input);
        for p in params.iter().filter(|p| p.trainable) {
            weights.push((format!("{name}/{}", p.name), p.shape.clone()));
        }
        weights.extend(params.iter().filter(|p| !p.trainable).map(|p| (format!("{name}/{}", p.name), p.shape.clone())));
        for p in params.iter().filter(|p| p.trainable) {
            state.extend(slots.iter().map(|slot| (format!("optimizer/{name}/{}/{slot}", p.name), p.shape.clone())));
        }
    }
    weights.extend(state);
    Ok(weights)
}

impl Saved {
    fn read(path: &Path) -> Result<Saved> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Saved::parse(path, bytes)
    }

    /// Every tensor the architecture and optimizer load is there, F32 and of its shape.
    fn check_tensors(&self) -> Result<()> {
        let bad = |m: String| data_error(&self.path, m);
        let st = SafeTensors::deserialize(&self.bytes)
            .map_err(|e| bad(format!("not a safetensors file, or truncated or corrupt: {e}")))?;
        for (name, shape) in tensor_names(&self.architecture, &self.compile)? {
            let view =
                st.tensor(&name).map_err(|_| bad(format!("no tensor '{name}' (saved with another optimizer?)")))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
                return Err(bad(format!(
                    "tensor '{name}' is {:?} {:?}, expected F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
        }
        Ok(())
    }

    fn parse(path: &Path, bytes: Vec<u8>) -> Result<Saved> {
        let bad = |m: String| data_error(path, m);
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a safetensors file, or truncated or corrupt: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let field = |key: &str| {
            meta.get(key).ok_or_else(|| bad(format!("no '{key}' in the metadata: not a wgtrain checkpoint")))
        };
        if field("format")? != FORMAT {
            return Err(bad(format!("format '{}' is not {FORMAT}", field("format")?)));
        }
        let architecture: Sequential =
            serde_json::from_str(field("architecture")?).map_err(|e| bad(format!("unreadable architecture: {e}")))?;
        let compile: Compile =
            serde_json::from_str(field("compile")?).map_err(|e| bad(format!("unreadable compile settings: {e}")))?;
        let class_names: Vec<String> = match meta.get("class_names") {
            Some(names) => serde_json::from_str(names).map_err(|e| bad(format!("unreadable class names: {e}")))?,
            None => Vec::new(),
        };
        let number = |key: &str| field(key)?.parse::<u64>().map_err(|e| bad(format!("'{key}': {e}")));
        let best = match meta.get("best_loss") {
            Some(b) => Some(Best {
                // +inf before any epoch; NaN or -inf would never be beaten.
                loss: b
                    .parse::<f64>()
                    .ok()
                    .filter(|l| !l.is_nan() && *l != f64::NEG_INFINITY)
                    .ok_or_else(|| bad(format!("'best_loss' {b} is not a loss")))?,
                epochs_since: number("epochs_since_best")? as usize,
            }),
            None => None,
        };
        let plateau = match meta.get("reduce_lr_state") {
            Some(s) => Some(serde_json::from_str(s).map_err(|e| bad(format!("unreadable 'reduce_lr_state': {e}")))?),
            None => None,
        };
        let info = CheckpointInfo {
            epoch: number("epoch")? as usize,
            step: u32::try_from(number("step")?).map_err(|_| bad("'step' is past the largest step count".into()))?,
            seed: number("seed")?,
            wgtrain_version: field("wgtrain_version")?.clone(),
            best,
            plateau,
        };
        Ok(Saved { path: path.to_path_buf(), bytes, architecture, compile, class_names, info })
    }
}

/// JSON of the metadata's structured fields.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serialises")
}
