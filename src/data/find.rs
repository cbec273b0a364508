//! Where the examples find their data: `--data`, `$WGTRAIN_DATA`, `./data`, Debian's
//! Fashion-MNIST package, and finally the subset bundled in `assets/`.

use std::path::{Path, PathBuf};

use super::{Dataset, idx};
use crate::error::{Error, Result};

/// The Fashion-MNIST subset that ships with wgtrain (10 000 train / 2 000 test images).
pub const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fashion-mnist");
/// Debian's `dataset-fashion-mnist` package.
pub const DEBIAN: &str = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST's class names, by label.
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// A train and a test set in MNIST's IDX format, and where they came from.
pub struct IdxData {
    pub train: Dataset,
    pub test: Dataset,
    pub origin: String,
}

/// `stem` (e.g. train-images-idx3-ubyte) in `dir`, raw or .gz.
fn idx_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [stem.to_string(), format!("{stem}.gz")].iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

fn idx_files(dir: &Path) -> Option<[PathBuf; 4]> {
    Some([
        idx_file(dir, "train-images-idx3-ubyte")?,
        idx_file(dir, "train-labels-idx1-ubyte")?,
        idx_file(dir, "t10k-images-idx3-ubyte")?,
        idx_file(dir, "t10k-labels-idx1-ubyte")?,
    ])
}

/// Loads MNIST-format data: from `explicit` when given (an error if it holds no IDX files),
/// otherwise from the first of `$WGTRAIN_DATA`, `./data`, Debian's Fashion-MNIST and the
/// bundled subset that has all four files.
pub fn idx_data(explicit: Option<&Path>) -> Result<IdxData> {
    let candidates: Vec<(PathBuf, &str)> = match explicit {
        Some(dir) => {
            let bad = |message: &str| Err(Error::Data { path: dir.to_path_buf(), message: message.into() });
            if !dir.exists() {
                return bad("does not exist; expected a directory of MNIST-format files");
            }
            if !dir.is_dir() {
                return bad("is a file; expected a directory of MNIST-format files");
            }
            if idx_files(dir).is_none() {
                return Err(Error::Data {
                    path: dir.to_path_buf(),
                    message: "no MNIST-format files here (train-images-idx3-ubyte, train-labels-idx1-ubyte, \
                              t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or .gz)"
                        .into(),
                });
            }
            vec![(dir.to_path_buf(), "--data")]
        }
        None => std::env::var_os("WGTRAIN_DATA")
            .map(|d| (PathBuf::from(d), "$WGTRAIN_DATA"))
            .into_iter()
            .chain([
                (PathBuf::from("data"), "./data"),
                (PathBuf::from(DEBIAN), "Debian's dataset-fashion-mnist"),
                (PathBuf::from(BUNDLED), "the bundled Fashion-MNIST subset"),
            ])
            .collect(),
    };
    for (dir, origin) in candidates {
        if let Some([train_x, train_y, test_x, test_y]) = idx_files(&dir) {
            let mut train = idx::load(&train_x, &train_y, 10)?;
            let mut test = idx::load(&test_x, &test_y, train.label_width())?;
            // The two Fashion-MNIST copies wgtrain knows; other IDX data keeps numbered classes.
            if [DEBIAN, BUNDLED].iter().any(|known| dir == Path::new(known)) {
                let names: Vec<String> = FASHION_CLASSES.iter().map(|n| n.to_string()).collect();
                (train, test) = (train.with_class_names(names.clone()), test.with_class_names(names));
            }
            if train.sample_shape != test.sample_shape {
                return Err(Error::Data {
                    path: test_x,
                    message: format!(
                        "test images {:?} differ from train images {:?}",
                        test.sample_shape, train.sample_shape
                    ),
                });
            }
            let origin = format!(
                "{origin} ({}): {} train / {} test samples of {:?}",
                dir.display(),
                train.len(),
                test.len(),
                train.sample_shape
            );
            return Ok(IdxData { train, test, origin });
        }
    }
    Err(Error::Data {
        path: PathBuf::from(BUNDLED),
        message: "no MNIST-format data found, not even the bundled subset".into(),
    })
}
