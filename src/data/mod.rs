//! Datasets on the host: loaders (IDX, .npy, image folders), the `Dataset` type, splits, and
//! where to find data.

pub mod find;
pub mod folder;
pub mod idx;
pub mod npy;
pub mod synthetic;

use crate::error::{Error, Result};

/// A u8 feature as the models read it: `byte / 255` rounded once to f32, bit for bit what a
/// Keras user's `x.astype("float32") / 255` gives (`byte · (1 / 255)` differs in the last bit
/// for about half of the bytes). The shaders compute the same value in integer arithmetic.
pub fn unorm8(byte: u8) -> f32 {
    f32::from(byte) / 255.0
}

/// Per-sample features, stored as loaded: u8 pixels (read as `unorm8` on the GPU) or f32.
#[derive(Clone, Debug, PartialEq)]
pub enum Features {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// Per-sample labels: class indices, or float targets `width` per sample.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    Classes { values: Vec<u8>, classes: usize },
    Targets { values: Vec<f32>, width: usize },
}

/// Samples of one shape (`[h, w, c]` images or `[n]` vectors) with their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub sample_shape: Vec<usize>,
    pub features: Features,
    pub labels: Labels,
    /// The name of each class, when the data says (an image folder's sub-folders); else empty.
    pub class_names: Vec<String>,
}

impl Dataset {
    /// Checks that features and labels agree in count and are finite.
    pub fn new(sample_shape: Vec<usize>, features: Features, labels: Labels) -> Result<Dataset> {
        let per = sample_shape.iter().product::<usize>();
        let feature_len = match &features {
            Features::U8(v) => v.len(),
            Features::F32(v) => {
                if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::Invalid(format!(
                        "feature {} of sample {} is {}",
                        i % per.max(1),
                        i / per.max(1),
                        v[i]
                    )));
                }
                v.len()
            }
        };
        if per == 0 || feature_len % per != 0 {
            return Err(Error::Invalid(format!(
                "{feature_len} feature values do not split into samples of shape {sample_shape:?}"
            )));
        }
        let rows = feature_len / per;
        let label_rows = match &labels {
            Labels::Classes { values, classes } => {
                if let Some((i, &c)) = values.iter().enumerate().find(|(_, c)| usize::from(**c) >= *classes) {
                    return Err(Error::Invalid(format!(
                        "label {c} of sample {i} is out of range for {classes} classes"
                    )));
                }
                values.len()
            }
            Labels::Targets { values, width } => {
                if let Some(i) = values.iter().position(|x| !x.is_finite()) {
                    return Err(Error::Invalid(format!("target of sample {} is {}", i / width, values[i])));
                }
                values.len() / width
            }
        };
        if rows != label_rows {
            return Err(Error::Invalid(format!("{rows} samples but {label_rows} labels")));
        }
        if rows == 0 {
            return Err(Error::Invalid("the dataset is empty".into()));
        }
        Ok(Dataset { sample_shape, features, labels, class_names: Vec::new() })
    }

    pub fn len(&self) -> usize {
        match &self.labels {
            Labels::Classes { values, .. } => values.len(),
            Labels::Targets { values, width } => values.len() / width,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Label columns per sample as the model sees them (one-hot width or targets).
    pub fn label_width(&self) -> usize {
        match &self.labels {
            Labels::Classes { classes, .. } => *classes,
            Labels::Targets { width, .. } => *width,
        }
    }

    /// Samples `range` (in order) as a new dataset.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        self.select(&(range.start as u32..range.end as u32).collect::<Vec<_>>())
    }

    /// The samples at `rows`, in that order, as a new dataset.
    pub fn select(&self, rows: &[u32]) -> Dataset {
        fn gather<T: Copy>(values: &[T], width: usize, rows: &[u32]) -> Vec<T> {
            let mut out = Vec::with_capacity(rows.len() * width);
            for &r in rows {
                out.extend_from_slice(&values[r as usize * width..(r as usize + 1) * width]);
            }
            out
        }
        let per = self.sample_len();
        let features = match &self.features {
            Features::U8(v) => Features::U8(gather(v, per, rows)),
            Features::F32(v) => Features::F32(gather(v, per, rows)),
        };
        let labels = match &self.labels {
            Labels::Classes { values, classes } => {
                Labels::Classes { values: gather(values, 1, rows), classes: *classes }
            }
            Labels::Targets { values, width } => {
                Labels::Targets { values: gather(values, *width, rows), width: *width }
            }
        };
        Dataset { sample_shape: self.sample_shape.clone(), features, labels, class_names: self.class_names.clone() }
    }

    /// The first `n` samples (all of them when there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        self.slice(0..n.min(self.len()))
    }

    /// Images resized bilinearly (half-pixel centres, as `tf.image.resize`) to `out_h`×`out_w`,
    /// with grey replicated to RGB: the seed CNN's 64×64×3 input from 28×28×1 images.
    pub fn resized_rgb(&self, out_h: usize, out_w: usize) -> Result<Dataset> {
        let (&[h, w, c], Features::U8(pixels)) = (self.sample_shape.as_slice(), &self.features) else {
            return Err(Error::Invalid(format!("resizing needs u8 images [h, w, c], not {:?}", self.sample_shape)));
        };
        if c != 1 && c != 3 {
            return Err(Error::Invalid(format!("resizing to RGB needs 1 or 3 channels, not {c}")));
        }
        // Source coordinate and weight of each output row / column.
        let taps = |out: usize, inp: usize| -> Vec<(usize, usize, f32)> {
            (0..out)
                .map(|o| {
                    let s = ((o as f32 + 0.5) * inp as f32 / out as f32 - 0.5).clamp(0.0, (inp - 1) as f32);
                    let lo = s.floor() as usize;
                    (lo, (lo + 1).min(inp - 1), s - lo as f32)
                })
                .collect()
        };
        let (rows, cols) = (taps(out_h, h), taps(out_w, w));
        let mut out = Vec::with_capacity(self.len() * out_h * out_w * 3);
        for image in pixels.chunks(h * w * c) {
            let at = |y: usize, x: usize, ch: usize| f32::from(image[(y * w + x) * c + ch.min(c - 1)]);
            for &(y0, y1, fy) in &rows {
                for &(x0, x1, fx) in &cols {
                    for ch in 0..3 {
                        let top = at(y0, x0, ch) * (1.0 - fx) + at(y0, x1, ch) * fx;
                        let bottom = at(y1, x0, ch) * (1.0 - fx) + at(y1, x1, ch) * fx;
                        out.push((top * (1.0 - fy) + bottom * fy).round() as u8);
                    }
                }
            }
        }
        Ok(Dataset::new(vec![out_h, out_w, 3], Features::U8(out), self.labels.clone())?
            .with_class_names(self.class_names.clone()))
    }

    /// The dataset with its classes named (one name per class).
    pub fn with_class_names(mut self, names: Vec<String>) -> Dataset {
        self.class_names = names;
        self
    }

    /// Bytes the features and labels take as uploaded to the GPU.
    pub fn device_bytes(&self) -> u64 {
        let features = match &self.features {
            Features::U8(v) => v.len(),
            Features::F32(v) => v.len() * 4,
        };
        let labels = match &self.labels {
            Labels::Classes { values, .. } => values.len(),
            Labels::Targets { values, .. } => values.len() * 4,
        };
        (features + labels) as u64
    }
}
