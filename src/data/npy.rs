//! .npy arrays (NumPy's format, C order): f32, f64, u8, i32 and i64, read as f32.

use std::path::Path;

use npyz::{DType, NpyFile, Order, TypeChar};

use super::{Dataset, Features, Labels};
use crate::error::{Error, Result};

fn data_error(path: &Path, message: String) -> Error {
    Error::Data { path: path.to_path_buf(), message }
}

/// An array's shape and its values converted to f32.
pub fn read(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    parse(&bytes).map_err(|m| data_error(path, m))
}

/// Parses .npy bytes: the array's shape and its values converted to f32.
pub fn parse(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<f32>), String> {
    let npy = NpyFile::new(bytes).map_err(|e| format!("not a .npy file: {e}"))?;
    if npy.order() != Order::C {
        return Err("Fortran-order arrays are not supported; save with C order".into());
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let DType::Plain(ts) = npy.dtype() else {
        return Err("structured dtypes are not supported".into());
    };
    // The header's shape must fit the file before anything is allocated for it.
    let claimed = shape.iter().try_fold(ts.size_field() as usize, |acc, &d| acc.checked_mul(d));
    if claimed.is_none_or(|n| n > bytes.len()) {
        return Err(format!("truncated: shape {shape:?} of {ts} needs more than the file's {} bytes", bytes.len()));
    }
    let corrupt = |e: std::io::Error| format!("truncated or corrupt data: {e}");
    let values: Vec<f32> = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(corrupt)?,
        (TypeChar::Float, 8) => npy.into_vec::<f64>().map_err(corrupt)?.into_iter().map(|v| v as f32).collect(),
        (TypeChar::Uint, 1) => npy.into_vec::<u8>().map_err(corrupt)?.into_iter().map(f32::from).collect(),
        (TypeChar::Int, 4) => npy.into_vec::<i32>().map_err(corrupt)?.into_iter().map(|v| v as f32).collect(),
        (TypeChar::Int, 8) => npy.into_vec::<i64>().map_err(corrupt)?.into_iter().map(|v| v as f32).collect(),
        _ => return Err(format!("dtype {ts} is not supported (float32, float64, uint8, int32, int64)")),
    };
    Ok((shape, values))
}

/// How a label array is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    /// Integer class indices in [0, classes), one per sample.
    Classes(usize),
    /// Float targets, one or more per sample (binary labels, regression).
    Targets,
}

/// Features `x` ([n, ...]) and labels `y` ([n] or [n, k]) as a dataset.
pub fn load(x_path: &Path, y_path: &Path, labels: LabelKind) -> Result<Dataset> {
    let (x_shape, x) = read(x_path)?;
    let (y_shape, y) = read(y_path)?;
    if x_shape.len() < 2 {
        return Err(data_error(x_path, format!("shape {x_shape:?}: features need at least two dimensions [n, ...]")));
    }
    if y_shape.is_empty() || y_shape.len() > 2 {
        return Err(data_error(y_path, format!("shape {y_shape:?}: labels must be [n] or [n, k]")));
    }
    if x_shape[0] != y_shape[0] {
        return Err(data_error(
            y_path,
            format!("{} labels for {} samples in {}", y_shape[0], x_shape[0], x_path.display()),
        ));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(data_error(x_path, format!("value {i} is {}", x[i])));
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(data_error(y_path, format!("value {i} is {}", y[i])));
    }
    let labels = match labels {
        LabelKind::Targets => Labels::Targets { width: y_shape.get(1).copied().unwrap_or(1), values: y },
        LabelKind::Classes(classes) => {
            if y_shape.len() != 1 {
                return Err(data_error(y_path, format!("shape {y_shape:?}: class labels must be [n]")));
            }
            let mut values = Vec::with_capacity(y.len());
            for (i, &v) in y.iter().enumerate() {
                if v < 0.0 || v.fract() != 0.0 || v as usize >= classes.min(256) {
                    return Err(data_error(
                        y_path,
                        format!("label {v} of sample {i} is not a class in [0, {classes})"),
                    ));
                }
                values.push(v as u8);
            }
            Labels::Classes { values, classes }
        }
    };
    Dataset::new(x_shape[1..].to_vec(), Features::F32(x), labels).map_err(|e| data_error(x_path, e.to_string()))
}

/// Writes an f32 array of `shape` as .npy.
pub fn write(path: &Path, shape: &[usize], values: &[f32]) -> Result<()> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    use npyz::WriterBuilder;
    let file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut writer = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(file).begin_nd().map_err(io)?;
    writer.extend(values.iter().copied()).map_err(io)?;
    writer.finish().map_err(io)
}
