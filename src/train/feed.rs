//! A dataset uploaded once, and the gathers that fill the network's input and targets from it.

use crate::data::{Dataset, Features, Labels};
use crate::error::{Error, Result};
use crate::gpu::{Dispatch, Gpu, Tensor};
use crate::nn::model::{LossKind, Model};
use crate::ops::data::{self, GatherShape, Source};

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
}

/// The gathers of one split (an ordered list of rows) into a network's input and targets.
pub(crate) struct Feed {
    pub indices: Tensor,
    pub cursor: Tensor,
    pub total: usize,
    /// Gathers the next batch into the input and targets, then moves the cursor past it.
    pub next_batch: Vec<Dispatch>,
}

impl Feed {
    pub fn new(gpu: &Gpu, model: &Model, data: &DeviceData, rows: &[u32]) -> Result<Feed> {
        let net = model.net.as_ref().expect("network built before feeding it");
        let out = *model.shapes.last().unwrap().first().unwrap();
        let indices = gpu.upload("indices", rows)?;
        let cursor = gpu.zeros("cursor", 1)?;
        let shape = GatherShape {
            rows: net.batch,
            features: data.sample_len,
            classes: out,
            total: rows.len(),
            scale: 1.0 / 255.0,
        };
        let src = Source { data: &data.features, labels: &data.labels, indices: &indices, cursor: &cursor };
        let x = &net.values[0];
        let mut next_batch = vec![
            if data.u8_features {
                data::gather_u8(gpu, &shape, &src, x)?
            } else {
                data::gather_f32(gpu, &shape, &src, x)?
            },
            if data.class_labels {
                data::onehot_u8(gpu, &shape, &src, &net.targets, &net.loss.batch_rows)?
            } else {
                data::labels_f32(gpu, &shape, &src, &net.targets, &net.loss.batch_rows)?
            },
        ];
        next_batch.push(data::advance(gpu, &shape, &cursor)?);
        Ok(Feed { indices, cursor, total: rows.len(), next_batch })
    }

    /// Batches in one pass over the split.
    pub fn steps(&self, batch: usize) -> usize {
        self.total.div_ceil(batch)
    }
}
