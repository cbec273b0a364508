//! A dataset uploaded once, and the gathers that fill the graph's input and targets from it.

use std::sync::Arc;

use crate::data::{Dataset, Features, Labels};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, Tensor};
use crate::nn::model::{LossKind, Model};
use crate::ops::data::{self, GatherShape, Source};
use crate::ops::loss::Advance;

use super::graph::Graph;

/// A dataset as it lives on the GPU.
pub(crate) struct DeviceData {
    features: Tensor,
    labels: Tensor,
    u8_features: bool,
    class_labels: bool,
    pub rows: usize,
    sample_len: usize,
}

/// Checks a dataset against the model: sample size, label form and range.
pub(crate) fn check(model: &Model, data: &Dataset) -> Result<()> {
    let input: usize = model.shapes[0].iter().product();
    if data.sample_len() != input {
        return Err(Error::Invalid(format!(
            "samples of shape {:?} ({} values) do not fit the model's input {:?} ({input} values)",
            data.sample_shape,
            data.sample_len(),
            model.shapes[0]
        )));
    }
    let out = model.spec.output_width()?;
    let cross_entropy =
        matches!(model.compile.loss, LossKind::CategoricalCrossentropy | LossKind::SparseCategoricalCrossentropy);
    match &data.labels {
        Labels::Classes { values, .. } => {
            if !cross_entropy {
                return Err(Error::Invalid(format!("{:?} needs float targets, not class labels", model.compile.loss)));
            }
            if let Some((i, &c)) = values.iter().enumerate().find(|(_, c)| usize::from(**c) >= out) {
                return Err(Error::Invalid(format!("label {c} of sample {i} is out of range for a {out}-class model")));
            }
        }
        Labels::Targets { width, .. } if *width != out => {
            return Err(Error::Invalid(format!("targets have {width} values per sample, the model outputs {out}")));
        }
        Labels::Targets { .. } => {}
    }
    Ok(())
}

impl DeviceData {
    pub fn upload(gpu: &Gpu, data: &Dataset) -> Result<DeviceData> {
        let (features, u8_features) = match &data.features {
            Features::U8(v) => (gpu.upload_bytes("dataset_features", v)?, true),
            Features::F32(v) => (gpu.upload("dataset_features", v)?, false),
        };
        let (labels, class_labels) = match &data.labels {
            Labels::Classes { values, .. } => (gpu.upload_bytes("dataset_labels", values)?, true),
            Labels::Targets { values, .. } => (gpu.upload("dataset_labels", values)?, false),
        };
        Ok(DeviceData { features, labels, u8_features, class_labels, rows: data.len(), sample_len: data.sample_len() })
    }

    /// Bytes one sample of `data` takes on the device (features and label).
    pub fn row_bytes(data: &Dataset) -> u64 {
        data.device_bytes().div_ceil(data.len().max(1) as u64)
    }

    /// Room for `rows` samples shaped like `like`'s, to be filled chunk by chunk.
    pub fn window(gpu: &Gpu, like: &Dataset, rows: usize) -> Result<DeviceData> {
        let words = |values: usize, packed: bool| if packed { values.div_ceil(4) } else { values };
        let u8_features = matches!(like.features, Features::U8(_));
        let class_labels = matches!(like.labels, Labels::Classes { .. });
        let label_len = if class_labels { 1 } else { like.label_width() };
        Ok(DeviceData {
            features: gpu.zeros("dataset_window", words(rows * like.sample_len(), u8_features))?,
            labels: gpu.zeros("label_window", words(rows * label_len, class_labels))?,
            u8_features,
            class_labels,
            rows,
            sample_len: like.sample_len(),
        })
    }

    /// Copies `data` (at most `rows` samples of the same form) to the start of the window.
    pub fn fill(&self, gpu: &Gpu, data: &Dataset) {
        assert!(data.len() <= self.rows, "a window of {} rows cannot take {}", self.rows, data.len());
        let features: &[u8] = match &data.features {
            Features::U8(v) => v,
            Features::F32(v) => bytemuck::cast_slice(v),
        };
        let labels: &[u8] = match &data.labels {
            Labels::Classes { values, .. } => values,
            Labels::Targets { values, .. } => bytemuck::cast_slice(values),
        };
        for (tensor, bytes) in [(&self.features, features), (&self.labels, labels)] {
            // Writes are whole words: the last partial word is padded into the window's tail.
            let whole = bytes.len() / 4 * 4;
            if whole > 0 {
                gpu.queue.write_buffer(tensor.buffer(), 0, &bytes[..whole]);
            }
            if whole < bytes.len() {
                let mut tail = [0u8; 4];
                tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
                gpu.queue.write_buffer(tensor.buffer(), whole as u64, &tail);
            }
        }
    }

    /// Device bytes of features and labels.
    pub fn bytes(&self) -> u64 {
        self.features.buffer().size() + self.labels.buffer().size()
    }
}

/// The gathers of one split (an ordered list of rows) into a graph's input and targets.
pub(crate) struct Feed {
    pub data: Arc<DeviceData>,
    pub indices: Tensor,
    pub cursor: Tensor,
    pub total: usize,
    /// Gathers the batch at the cursor into the graph's input and targets.
    pub gather: Dispatch,
    /// The loss of a training step, which also moves the cursor past the batch and counts the
    /// step.
    pub loss_train: Vec<Dispatch>,
    /// The loss of an inference step, which also moves the cursor.
    pub loss_infer: Vec<Dispatch>,
    /// Moves the cursor past the batch: the last dispatch of a prediction step (no loss).
    pub advance: Dispatch,
}

impl Feed {
    pub fn new(model: &Model, net: &Graph, data: Arc<DeviceData>, rows: &[u32]) -> Result<Feed> {
        let gpu: &Gpu = &model.gpu;
        let out = *model.shapes.last().unwrap().first().unwrap();
        let indices = gpu.upload("indices", rows)?;
        let cursor = gpu.zeros("cursor", 1)?;
        let shape = GatherShape { rows: net.batch, features: data.sample_len, classes: out, total: rows.len() };
        let src = Source {
            data: &data.features,
            labels: &data.labels,
            indices: &indices,
            cursor: &cursor,
            u8_features: data.u8_features,
            class_labels: data.class_labels,
        };
        let x = net.input.operand(&net.values[0]);
        let gather = data::gather(gpu, &shape, &src, x, &net.targets, &net.loss.batch_rows)?;
        let loss = model.head.loss;
        let loss_train = net.loss_step(gpu, loss, Advance { cursor: &cursor, step: Some(&model.step) })?;
        let loss_infer = net.loss_step(gpu, loss, Advance { cursor: &cursor, step: None })?;
        let advance = data::advance(gpu, &shape, &cursor)?;
        Ok(Feed { data, indices, cursor, total: rows.len(), gather, loss_train, loss_infer, advance })
    }

    /// Batches in one pass over the split.
    pub fn steps(&self, batch: usize) -> usize {
        self.total.div_ceil(batch)
    }

    /// Device bytes of the index list and cursor.
    pub fn bytes(&self) -> u64 {
        self.indices.buffer().size() + self.cursor.buffer().size()
    }
}
