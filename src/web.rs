//! The page's bindings (`web/`): the browser's WebGPU adapter, the bundled data the page
//! fetched, training a preset with progress callbacks, classifying test images, the kernel
//! benchmark and the checks. Every method that waits for the GPU returns a promise.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::bench::{self, KernelBench, Report};
use crate::check;
use crate::data::Dataset;
use crate::data::find::FASHION_CLASSES;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::nn::Model;
use crate::presets;
use crate::train::{EpochLog, EpochProgress, FitOptions};

/// Panics reach the console with their message (a wasm panic is otherwise "unreachable").
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| web_sys::console::error_1(&info.to_string().into())));
}

/// One open adapter and what the page has loaded and trained on it.
#[wasm_bindgen]
pub struct Session {
    gpu: Arc<Gpu>,
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    train: Option<Dataset>,
    test: Option<Dataset>,
    model: Option<Model>,
    busy: bool,
}

fn js_error(e: Error) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// The page's promises resolve to the value or reject with the error's one line.
fn promise(work: impl Future<Output = Result<JsValue>> + 'static) -> Promise {
    future_to_promise(async move { work.await.map_err(js_error) })
}

/// Marks the session busy for one operation: a second one started meanwhile (a double click)
/// is refused rather than interleaved with the first.
struct Busy(Rc<RefCell<State>>);

impl Busy {
    fn take(state: &Rc<RefCell<State>>) -> Result<Busy> {
        let mut s = state.borrow_mut();
        if s.busy {
            return Err(Error::Invalid("busy: wait for the running operation to finish".into()));
        }
        s.busy = true;
        Ok(Busy(state.clone()))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.borrow_mut().busy = false;
    }
}

#[wasm_bindgen]
impl Session {
    /// Opens the browser's WebGPU adapter; rejects with why when there is none.
    pub async fn open() -> std::result::Result<Session, JsValue> {
        let gpu = Gpu::browser().await.map_err(js_error)?;
        Ok(Session { gpu: Arc::new(gpu), state: Rc::default() })
    }

    /// One line naming the adapter.
    pub fn adapter(&self) -> String {
        self.gpu.describe()
    }

    /// The device limits the kernels are sized by (as `wgtrain check` reports them) and
    /// whether it has timestamp queries, as JSON.
    pub fn limits(&self) -> String {
        let limits = check::Limits::of(&self.gpu);
        let timestamps = self.gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY);
        serde_json::to_string_pretty(&serde_json::json!({ "limits": limits, "timestamp_query": timestamps }))
            .expect("limits serialise")
    }

    /// Loads Fashion-MNIST from the four IDX files' bytes (raw or .gz); returns what was loaded.
    pub fn load_fashion_mnist(
        &self,
        train_images: Vec<u8>,
        train_labels: Vec<u8>,
        test_images: Vec<u8>,
        test_labels: Vec<u8>,
    ) -> std::result::Result<String, JsValue> {
        let names: Vec<String> = FASHION_CLASSES.iter().map(|n| n.to_string()).collect();
        let load = |images: Vec<u8>, labels: Vec<u8>, split: &str| -> Result<Dataset> {
            let (i, l) = (format!("{split}-images-idx3-ubyte.gz"), format!("{split}-labels-idx1-ubyte.gz"));
            let data = crate::data::idx::load_bytes((Path::new(&i), images), (Path::new(&l), labels), 10)?;
            Ok(data.with_class_names(names.clone()))
        };
        let train = load(train_images, train_labels, "train").map_err(js_error)?;
        let test = load(test_images, test_labels, "t10k").map_err(js_error)?;
        let loaded = format!("Fashion-MNIST: {} training, {} test images", train.len(), test.len());
        let mut state = self.state.borrow_mut();
        (state.train, state.test) = (Some(train), Some(test));
        Ok(loaded)
    }

    /// Trains preset `preset` (`mlp` or `cnn`, or any other preset) for `epochs` epochs on
    /// the first `limit` training and test images (0: all), as `wgtrain train --preset`
    /// does: its batch size and optimizer, validated as its seed program is, then evaluated on
    /// the test images. `on_progress(epoch, epochs, step, steps, loss, accuracy)` sees about
    /// ten readbacks per epoch, `on_epoch(line, loss, accuracy, val_loss, val_accuracy,
    /// samples_per_second)` each epoch (`line` as the command line prints it). Resolves to the
    /// test line.
    pub fn train(
        &self,
        preset: String,
        epochs: usize,
        limit: usize,
        on_progress: Function,
        on_epoch: Function,
    ) -> Promise {
        let (gpu, state) = (self.gpu.clone(), self.state.clone());
        promise(async move {
            let _busy = Busy::take(&state)?;
            let mut preset = presets::by_name(&preset)?;
            preset.epochs = epochs;
            crate::train::check_counts(preset.batch_size, preset.epochs)?;
            let limited = |d: &Dataset| if limit == 0 { d.clone() } else { d.take(limit.min(d.len())) };
            let (train, test) = {
                let s = state.borrow();
                match (&s.train, &s.test) {
                    (Some(train), Some(test)) => (limited(train), limited(test)),
                    _ => return Err(Error::Invalid("no data loaded: call load_fashion_mnist first".into())),
                }
            };
            state.borrow_mut().model = None;
            let mut model = Model::new(gpu, preset.model.clone(), preset.compile.clone())?;
            model.set_class_names(train.class_names.clone())?;
            crate::console::line(&model.summary()?);
            let validation = preset.validation.for_fit(Some(&test));
            let opts = FitOptions {
                batch_size: preset.batch_size,
                epochs: preset.epochs,
                validation,
                verbose: true,
                ..FitOptions::default()
            };
            let mut progress = |p: &EpochProgress| {
                let args = [p.epoch, p.epochs, p.step, p.steps].map(|v| JsValue::from(v as f64));
                let args =
                    Array::from_iter(args.into_iter().chain([p.metrics.loss, p.metrics.accuracy].map(JsValue::from)));
                // The page's drawing failing must not stop training.
                let _ = on_progress.apply(&JsValue::NULL, &args);
            };
            let mut epoch_done = |_: &Model, log: &EpochLog| -> Result<()> {
                let val =
                    |f: fn(&crate::train::Metrics) -> f64| log.val.as_ref().map_or(JsValue::NULL, |v| f(v).into());
                let args: Array = [
                    log.to_string().into(),
                    log.loss.into(),
                    log.accuracy.into(),
                    val(|v| v.loss),
                    val(|v| v.accuracy),
                    log.samples_per_second.into(),
                ]
                .into_iter()
                .collect();
                let _ = on_epoch.apply(&JsValue::NULL, &args);
                Ok(())
            };
            model.fit_async(&train, &opts, &mut progress, &mut epoch_done).await?;
            let m = model.evaluate_async(&test, preset.batch_size).await?;
            let line = format!("test: loss {:.4} - accuracy {:.4} ({} samples)", m.loss, m.accuracy, test.len());
            crate::console::line(&line);
            state.borrow_mut().model = Some(model);
            Ok(line.into())
        })
    }

    /// Test images loaded.
    pub fn test_images(&self) -> usize {
        self.state.borrow().test.as_ref().map_or(0, Dataset::len)
    }

    /// Test image `index` as rows of grey bytes (28×28 for Fashion-MNIST) and its true class.
    pub fn test_image(&self, index: usize) -> std::result::Result<Array, JsValue> {
        let state = self.state.borrow();
        let test = state.test.as_ref().ok_or_else(|| JsError::new("no data loaded"))?;
        if index >= test.len() {
            return Err(JsError::new(&format!("test image {index} of {}", test.len())).into());
        }
        let one = test.slice(index..index + 1);
        let crate::data::Features::U8(pixels) = &one.features else {
            return Err(JsError::new("the test images are not bytes").into());
        };
        let class = match &one.labels {
            crate::data::Labels::Classes { values, .. } => usize::from(values[0]),
            crate::data::Labels::Targets { .. } => 0,
        };
        let name = test.class_names.get(class).cloned().unwrap_or_else(|| class.to_string());
        Ok(Array::of3(
            &js_sys::Uint8Array::from(&pixels[..]).into(),
            &(one.sample_shape[1] as f64).into(),
            &name.into(),
        ))
    }

    /// The trained model's top 3 classes for test image `index`: an array of [name, probability].
    pub fn classify(&self, index: usize) -> Promise {
        let state = self.state.clone();
        promise(async move {
            let _busy = Busy::take(&state)?;
            let (one, mut model) = {
                let mut s = state.borrow_mut();
                let test = s.test.as_ref().ok_or_else(|| Error::Invalid("no data loaded".into()))?;
                if index >= test.len() {
                    return Err(Error::Invalid(format!("test image {index} of {}", test.len())));
                }
                let one = test.slice(index..index + 1);
                let model = s.model.take().ok_or_else(|| Error::Invalid("train a model first".into()))?;
                (one, model)
            };
            let outputs = model.predict_async(&one, 1).await;
            let names = model.class_names().to_vec();
            state.borrow_mut().model = Some(model);
            let top = crate::evaluation::top_k(&outputs?, 3);
            Ok(Array::from_iter(top.into_iter().map(|(class, p)| {
                let name = names.get(class).cloned().unwrap_or_else(|| class.to_string());
                Array::of2(&name.into(), &f64::from(p).into())
            }))
            .into())
        })
    }

    /// The kernel benchmark (rows whose name contains `filter`, all when empty), each kernel
    /// checked against its CPU twin first; resolves to the report as JSON, the native report's
    /// format (`wgtrain bench --compare native.json browser.json`).
    pub fn benchmark(&self, samples: usize, filter: String) -> Promise {
        let (gpu, state) = (self.gpu.clone(), self.state.clone());
        promise(async move {
            let _busy = Busy::take(&state)?;
            let settings = KernelBench {
                samples: samples.max(1),
                max_matmul: None,
                filter: Some(filter).filter(|f| !f.is_empty()),
            };
            let (rows, timer) = bench::kernels(&gpu, &settings).await?;
            let report = Report::new(&gpu, timer.method(), rows, Vec::new());
            crate::console::line(&report.table());
            Ok(report.to_json().into())
        })
    }

    /// Every kernel check (every other case when `quick`), `on_outcome(name, passed, cases,
    /// max_error, failure)` after each; resolves to the number that failed.
    pub fn check(&self, quick: bool, on_outcome: Function) -> Promise {
        let (gpu, state) = (self.gpu.clone(), self.state.clone());
        promise(async move {
            let _busy = Busy::take(&state)?;
            let report = check::run_all_async(&gpu, quick, |o| {
                let failure = o.failure.clone().map_or(JsValue::NULL, JsValue::from);
                let args = [o.name().into(), o.passed().into(), (o.cases as f64).into(), o.max_error.into(), failure];
                let _ = on_outcome.apply(&JsValue::NULL, &Array::from_iter(args));
            })
            .await;
            Ok((report.checks.iter().filter(|o| !o.passed()).count() as f64).into())
        })
    }
}
