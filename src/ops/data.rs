//! Batch gather from a dataset held on the GPU: `shaders/data.wgsl`.

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu, Kernel, Shader, Tensor};
use crate::ops::matmul::Operand;

/// A batch of `rows` drawn through an index list of `total` entries; each dataset row has
/// `features` values and `classes` label columns (one-hot width, or targets per row).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GatherShape {
    pub rows: usize,
    pub features: usize,
    pub classes: usize,
    pub total: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    features: u32,
    classes: u32,
    total: u32,
}

impl GatherShape {
    fn params(&self) -> Params {
        Params {
            rows: self.rows as u32,
            features: self.features as u32,
            classes: self.classes as u32,
            total: self.total as u32,
        }
    }
}

/// Where a gather reads: the dataset words, the split's row order, and the batch position.
pub struct Source<'a> {
    /// Features: u8 packed four to a word (`u8_features`), or f32.
    pub data: &'a Tensor,
    /// Labels: u8 class indices packed four to a word (`class_labels`), or f32 targets.
    pub labels: &'a Tensor,
    /// Rows of the split in this epoch's order (u32).
    pub indices: &'a Tensor,
    /// The batch's position in `indices` (u32, one element).
    pub cursor: &'a Tensor,
    pub u8_features: bool,
    pub class_labels: bool,
}

/// x [rows, features], y [rows, classes] (one-hot of u8 class labels, or f32 targets) and
/// `batch_rows` (how many rows are valid), in one dispatch. x is f32 (u8 features as
/// `data::unorm8`, or f32 ones), or with `Operand::Unorm8` the u8 features copied as they are,
/// four to a word (features a multiple of 4), for a first layer that reads them so.
pub fn gather(
    gpu: &Gpu,
    shape: &GatherShape,
    src: &Source,
    x: Operand,
    y: &Tensor,
    batch_rows: &Tensor,
) -> Result<Dispatch> {
    assert_eq!(src.indices.len(), shape.total, "gather: indices hold {} rows, not {}", src.indices.len(), shape.total);
    assert_eq!(y.len(), shape.rows * shape.classes, "gather: y length");
    let (entry, x, x_binding) = match x {
        Operand::F32(x) => {
            assert_eq!(x.len(), shape.rows * shape.features, "gather: x length");
            ("data_gather", x, 4)
        }
        Operand::Unorm8(x) => {
            assert!(src.u8_features && shape.features.is_multiple_of(4), "gather: bytes need u8 features in words");
            assert_eq!(x.len(), shape.rows * shape.features / 4, "gather: x length in words");
            ("data_gather_bytes", x, 8)
        }
    };
    let kernel = Kernel::new(Shader::Data, entry)
        .constant("u8_features", f64::from(u8::from(src.u8_features)))
        .constant("class_labels", f64::from(u8::from(src.class_labels)));
    let tensors =
        [(1, src.data), (2, src.indices), (3, src.cursor), (x_binding, x), (5, src.labels), (6, y), (7, batch_rows)];
    gpu.dispatch(&kernel, &shape.params(), &tensors, gpu.grid(shape.rows as u64)?)
}

/// cursor += rows: the next batch (of a prediction; in training and evaluation the loss
/// dispatch moves it: `ops::loss::Advance`).
pub fn advance(gpu: &Gpu, shape: &GatherShape, cursor: &Tensor) -> Result<Dispatch> {
    gpu.dispatch(&Kernel::new(Shader::Data, "data_advance"), &shape.params(), &[(3, cursor)], [1, 1, 1])
}

pub mod cpu {
    use super::GatherShape;

    fn source_rows<'a>(
        shape: &'a GatherShape,
        indices: &'a [u32],
        cursor: usize,
    ) -> impl Iterator<Item = Option<usize>> + 'a {
        (0..shape.rows).map(move |b| indices.get(cursor + b).map(|&r| r as usize))
    }

    pub fn gather_u8(shape: &GatherShape, data: &[u8], indices: &[u32], cursor: usize) -> Vec<f64> {
        let f = shape.features;
        source_rows(shape, indices, cursor)
            .flat_map(|row| (0..f).map(move |j| row.map_or(0.0, |r| f64::from(crate::data::unorm8(data[r * f + j])))))
            .collect()
    }

    /// The batch's u8 features as they are (zeros past the split), as `gather` copies them for
    /// a byte input.
    pub fn gather_bytes(shape: &GatherShape, data: &[u8], indices: &[u32], cursor: usize) -> Vec<u8> {
        let f = shape.features;
        source_rows(shape, indices, cursor)
            .flat_map(|row| (0..f).map(move |j| row.map_or(0, |r| data[r * f + j])))
            .collect()
    }

    pub fn gather_f32(shape: &GatherShape, data: &[f32], indices: &[u32], cursor: usize) -> Vec<f64> {
        let f = shape.features;
        source_rows(shape, indices, cursor)
            .flat_map(|row| (0..f).map(move |j| row.map_or(0.0, |r| f64::from(data[r * f + j]))))
            .collect()
    }

    pub fn onehot_u8(shape: &GatherShape, labels: &[u8], indices: &[u32], cursor: usize) -> Vec<f64> {
        source_rows(shape, indices, cursor)
            .flat_map(|row| {
                (0..shape.classes).map(move |c| f64::from(u8::from(row.is_some_and(|r| usize::from(labels[r]) == c))))
            })
            .collect()
    }

    pub fn labels_f32(shape: &GatherShape, labels: &[f32], indices: &[u32], cursor: usize) -> Vec<f64> {
        gather_f32(&GatherShape { features: shape.classes, ..*shape }, labels, indices, cursor)
    }

    /// How many rows of the batch at `cursor` are real.
    pub fn batch_rows(shape: &GatherShape, cursor: usize) -> usize {
        shape.rows.min(shape.total.saturating_sub(cursor))
    }
}
