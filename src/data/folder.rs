//! Image folders: one sub-folder per class, named after it (classes sorted by name, as Keras's
//! `image_dataset_from_directory`), holding PNG, JPEG or BMP files of any size, resized
//! bilinearly to the model's input.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use super::{Dataset, Features, Labels};
use crate::error::{Error, Result};

/// The height, width and channels (1 grey or 3 RGB) images are brought to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl ImageShape {
    /// The shape of a model input `[h, w, c]`, if it is an image of 1 or 3 channels.
    pub fn of_input(input: &[usize]) -> Option<ImageShape> {
        match *input {
            [height, width, channels @ (1 | 3)] => Some(ImageShape { height, width, channels }),
            _ => None,
        }
    }

    pub fn dims(&self) -> Vec<usize> {
        vec![self.height, self.width, self.channels]
    }
}

/// Parses `--image-size`: `64x64` (height × width) or `64`.
pub fn parse_size(text: &str) -> std::result::Result<(usize, usize), String> {
    let number = |t: &str| match t.trim().parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err(format!("'{text}' is not a size: expected HxW (like 64x64) with sides from 1 to 4096")),
    };
    match text.split_once(['x', 'X']) {
        Some((h, w)) => Ok((number(h)?, number(w)?)),
        None => number(text).map(|n| (n, n)),
    }
}

fn data_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data { path: path.to_path_buf(), message: message.into() }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// The entries of a directory, hidden ones left out, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io { path: dir.to_path_buf(), source };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if !is_hidden(&path) {
            entries.push(path);
        }
    }
    entries.sort();
    Ok(entries)
}

/// Every file under `dir`, sub-folders included, in name order.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for path in sorted_entries(dir)? {
        if path.is_dir() { files_under(&path, out)? } else { out.push(path) }
    }
    Ok(())
}

/// One image file decoded and resized to `shape`, as HWC bytes.
pub fn load_image(path: &Path, shape: ImageShape) -> Result<Vec<u8>> {
    let reader = image::ImageReader::open(path)
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })?
        .with_guessed_format()
        .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    if reader.format().is_none() {
        return Err(data_error(path, "not an image (PNG, JPEG and BMP are read)"));
    }
    let image = reader.decode().map_err(|e| data_error(path, format!("unreadable image: {e}")))?;
    let (w, h) = (shape.width as u32, shape.height as u32);
    let resized = image.resize_exact(w, h, FilterType::Triangle);
    Ok(match shape.channels {
        1 => resized.to_luma8().into_raw(),
        _ => resized.to_rgb8().into_raw(),
    })
}

/// Loads `dir/<class>/<image>` as a labelled dataset of `shape` images, the classes named.
pub fn load(dir: &Path, shape: ImageShape) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(data_error(dir, "not a directory (an image folder has one sub-folder per class)"));
    }
    let classes: Vec<PathBuf> = sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if classes.is_empty() {
        return Err(data_error(dir, "no class sub-folders (expected DIR/<class>/<image files>)"));
    }
    if classes.len() > 256 {
        return Err(data_error(dir, format!("{} classes; at most 256 are supported", classes.len())));
    }
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let mut names = Vec::new();
    for (class, class_dir) in classes.iter().enumerate() {
        let mut files = Vec::new();
        files_under(class_dir, &mut files)?;
        if files.is_empty() {
            return Err(data_error(class_dir, "class folder holds no images"));
        }
        for file in files {
            pixels.extend(load_image(&file, shape)?);
            labels.push(class as u8);
        }
        names.push(class_dir.file_name().expect("entries have names").to_string_lossy().into_owned());
    }
    let labels = Labels::Classes { values: labels, classes: classes.len() };
    Ok(Dataset::new(shape.dims(), Features::U8(pixels), labels)?.with_class_names(names))
}
