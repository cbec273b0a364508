//! IDX files (the MNIST format), raw or gzip-compressed.

use std::io::Read;
use std::path::Path;

use super::{Dataset, Features, Labels};
use crate::error::{Error, Result};

/// An IDX array of u8: its dimensions and values.
#[derive(Debug, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub values: Vec<u8>,
}

fn data_error(path: &Path, message: String) -> Error {
    Error::Data { path: path.to_path_buf(), message }
}

/// Reads a file, decompressing it when it starts with the gzip magic. A compressed file is
/// decompressed no further than its IDX header says the data goes (and a byte more, to tell
/// trailing bytes), and a header declaring more than deflate can expand the file to is refused.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    decompress_maybe_gz(raw, path)
}

/// The bytes of a file named `path` (raw or gzip), decompressed as `read_maybe_gz` does.
pub fn decompress_maybe_gz(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let corrupt = |e: std::io::Error| data_error(path, format!("corrupt gzip data: {e}"));
    let mut decoder = flate2::read::GzDecoder::new(&raw[..]);
    let mut out = Vec::new();
    (&mut decoder).take(4).read_to_end(&mut out).map_err(corrupt)?;
    let dims = out.get(3).map_or(0, |&n| u64::from(n));
    (&mut decoder).take(4 * dims).read_to_end(&mut out).map_err(corrupt)?;
    let declared = match header(&out) {
        Ok((header_len, _, count)) => (header_len + count) as u64,
        // parse() names what is wrong with it.
        Err(_) => return Ok(out),
    };
    // Deflate expands at most 1032-fold: a header declaring more than that is not this file's.
    if declared > 1032 * raw.len() as u64 {
        let message =
            format!("its header declares {declared} bytes, more than {} compressed bytes can hold", raw.len());
        return Err(data_error(path, message));
    }
    decoder.take((declared + 1).saturating_sub(out.len() as u64)).read_to_end(&mut out).map_err(corrupt)?;
    Ok(out)
}

/// The header's length, dimensions and element count, from bytes holding at least the header.
fn header(bytes: &[u8]) -> std::result::Result<(usize, Vec<usize>, usize), String> {
    if bytes.len() < 4 {
        return Err(format!("{} bytes is too short for an IDX header", bytes.len()));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!("wrong magic {:02x} {:02x} (an IDX file starts with 00 00)", bytes[0], bytes[1]));
    }
    if bytes[2] != 0x08 {
        return Err(format!("element type 0x{:02x} is not supported (only 0x08, unsigned bytes)", bytes[2]));
    }
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err("zero dimensions".into());
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(format!("truncated header: {} bytes, {header} needed for {ndims} dimensions", bytes.len()));
    }
    let dims: Vec<usize> =
        bytes[4..header].chunks(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("dimensions overflow")?;
    header.checked_add(count).ok_or("dimensions overflow")?;
    Ok((header, dims, count))
}

/// Parses IDX bytes: magic 0x0000, type 0x08 (u8), dimension count, big-endian u32 sizes, data.
pub fn parse(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    let (header, dims, count) = header(bytes)?;
    let have = bytes.len() - header;
    if have != count {
        let what = if have < count { "truncated" } else { "trailing bytes" };
        return Err(format!(
            "{what}: dimensions {dims:?} need {count} data bytes after the {header}-byte header, found {have} \
             (file length {})",
            bytes.len()
        ));
    }
    Ok(IdxArray { dims, values: bytes[header..].to_vec() })
}

/// Reads one IDX file (raw or .gz).
pub fn read(path: &Path) -> Result<IdxArray> {
    parse(&read_maybe_gz(path)?).map_err(|m| data_error(path, m))
}

/// An image file ([n, h, w] or [n, h, w, c]) and its label file ([n]) as a dataset with
/// `classes` classes (at least the largest label + 1).
pub fn load(images: &Path, labels: &Path, classes: usize) -> Result<Dataset> {
    dataset(read(images)?, read(labels)?, images, labels, classes)
}

/// `load` of files already in memory (raw or gzip), named `images` and `labels` in errors: what
/// a browser fetched.
pub fn load_bytes(images: (&Path, Vec<u8>), labels: (&Path, Vec<u8>), classes: usize) -> Result<Dataset> {
    let parse_file =
        |(path, raw): (&Path, Vec<u8>)| parse(&decompress_maybe_gz(raw, path)?).map_err(|m| data_error(path, m));
    let (images_path, labels_path) = (images.0, labels.0);
    dataset(parse_file(images)?, parse_file(labels)?, images_path, labels_path, classes)
}

fn dataset(img: IdxArray, lab: IdxArray, images: &Path, labels: &Path, classes: usize) -> Result<Dataset> {
    let sample_shape = match img.dims.as_slice() {
        [_, h, w] => vec![*h, *w, 1],
        [_, h, w, c] => vec![*h, *w, *c],
        d => return Err(data_error(images, format!("dimensions {d:?} are not images ([n, h, w] or [n, h, w, c])"))),
    };
    if lab.dims.len() != 1 {
        return Err(data_error(labels, format!("dimensions {:?} are not a label list ([n])", lab.dims)));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(data_error(
            labels,
            format!("{} labels for {} images in {}", lab.dims[0], img.dims[0], images.display()),
        ));
    }
    let classes = classes.max(lab.values.iter().map(|&v| usize::from(v) + 1).max().unwrap_or(0));
    Dataset::new(sample_shape, Features::U8(img.values), Labels::Classes { values: lab.values, classes })
        .map_err(|e| data_error(images, e.to_string()))
}

/// Writes an IDX u8 file, gzip-compressed when the name ends in .gz.
pub fn write(path: &Path, dims: &[usize], values: &[u8]) -> Result<()> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(values);
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&bytes).map_err(io)?;
        bytes = enc.finish().map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}
