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

/// What the .npy parser would choke on, refused first: a declared header length (after the
/// magic and version: u16 in version 1, u32 in 2 and 3) past the end of the file, which it
/// allocates before reading, and brackets nested deeper than any array header's (a dict holding
/// a shape tuple), on which its grammar backtracks for minutes.
fn check_header(bytes: &[u8]) -> std::result::Result<(), String> {
    let (start, len) = match (bytes.get(6), bytes.get(8..12)) {
        (Some(1), Some(b)) => (10, u64::from(u16::from_le_bytes([b[0], b[1]]))),
        (Some(2 | 3), Some(b)) => (12, u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        // Too short or an unknown version: the parser names it.
        _ => return Ok(()),
    };
    if start + len > bytes.len() as u64 {
        return Err(format!("not a .npy file: its header claims {} bytes, the file has {}", start + len, bytes.len()));
    }
    let (mut depth, mut deepest) = (0i64, 0);
    for &b in &bytes[start as usize..(start + len) as usize] {
        depth += match b {
            b'(' | b'[' | b'{' => 1,
            b')' | b']' | b'}' => -1,
            _ => 0,
        };
        deepest = deepest.max(depth);
    }
    if deepest > MAX_HEADER_DEPTH {
        return Err(format!("not a .npy file: its header nests {deepest} deep, an array's at most {MAX_HEADER_DEPTH}"));
    }
    // The parser multiplies the shape's dimensions unchecked.
    let header = String::from_utf8_lossy(&bytes[start as usize..(start + len) as usize]);
    let dims =
        header.split_once("shape").and_then(|(_, rest)| rest.split_once('(')).and_then(|(_, r)| r.split_once(')'));
    if let Some((dims, _)) = dims {
        let product = dims.split(',').filter_map(|d| d.trim().parse::<u64>().ok()).try_fold(1u64, u64::checked_mul);
        if product.is_none() {
            return Err(format!("not a .npy file: shape ({dims}) has more elements than can be counted"));
        }
    }
    Ok(())
}

/// A dict, a shape tuple, and room for a structured dtype's list of tuples (refused later).
const MAX_HEADER_DEPTH: i64 = 4;

/// Parses .npy bytes: the array's shape and its values converted to f32.
pub fn parse(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<f32>), String> {
    check_header(bytes)?;
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
