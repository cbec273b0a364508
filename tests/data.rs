//! Loaders and the checks at the edge: IDX, .npy, datasets, and fit's arguments.

mod common;

use std::path::PathBuf;

use common::*;
use wgtrain::data::npy::{self, LabelKind};
use wgtrain::data::{Dataset, Features, Labels, idx};
use wgtrain::nn::{Act, Compile, Layer, LossKind, Model, Optimizer, Sequential};
use wgtrain::ops::optim::Adam;
use wgtrain::train::FitOptions;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wgtrain-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn idx_round_trips_raw_and_gzip() {
    for name in ["a.idx", "a.idx.gz"] {
        let path = temp(name);
        idx::write(&path, &[2, 3, 2], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).unwrap();
        let back = idx::read(&path).unwrap();
        assert_eq!(back.dims, [2, 3, 2]);
        assert_eq!(back.values, (1..=12).collect::<Vec<u8>>());
    }
}

#[test]
fn idx_rejects_wrong_magic_truncation_and_other_types() {
    let good = {
        let mut b = vec![0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend_from_slice(&[0; 6]);
        b
    };
    assert!(idx::parse(&good).is_ok());
    let err = idx::parse(&[1, 0, 8, 1, 0, 0, 0, 1, 0]).unwrap_err();
    assert!(err.contains("wrong magic"), "{err}");
    let err = idx::parse(&good[..good.len() - 1]).unwrap_err();
    assert!(err.contains("truncated") && err.contains("need 6 data bytes") && err.contains("found 5"), "{err}");
    let err = idx::parse(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap_err();
    assert!(err.contains("0x0d is not supported"), "{err}");
    let err = idx::parse(&good[..9]).unwrap_err();
    assert!(err.contains("truncated header"), "{err}");
}

#[test]
fn idx_corrupt_gzip_and_count_mismatch_are_errors_naming_the_file() {
    let images = temp("bad-images.gz");
    std::fs::write(&images, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    let labels = temp("labels.idx");
    idx::write(&labels, &[3], &[0, 1, 2]).unwrap();
    let err = idx::load(&images, &labels, 10).unwrap_err().to_string();
    assert!(err.contains("bad-images.gz") && err.contains("corrupt gzip"), "{err}");
    let images = temp("images.idx");
    idx::write(&images, &[2, 2, 2], &[0; 8]).unwrap();
    let err = idx::load(&images, &labels, 10).unwrap_err().to_string();
    assert!(err.contains("3 labels for 2 images"), "{err}");
}

#[test]
fn npy_loads_f64_features_and_int_labels_and_refuses_bad_ones() {
    let (x, y) = (temp("x.npy"), temp("y.npy"));
    npy::write(&x, &[4, 3], &[0.5; 12]).unwrap();
    npy::write(&y, &[4], &[0.0, 1.0, 2.0, 1.0]).unwrap();
    let d = npy::load(&x, &y, LabelKind::Classes(3)).unwrap();
    assert_eq!((d.len(), d.sample_shape.clone(), d.label_width()), (4, vec![3], 3));
    let err = npy::load(&x, &y, LabelKind::Classes(2)).unwrap_err().to_string();
    assert!(err.contains("label 2 of sample 2 is not a class in [0, 2)"), "{err}");
    npy::write(&y, &[3], &[0.0, 1.0, 1.0]).unwrap();
    let err = npy::load(&x, &y, LabelKind::Targets).unwrap_err().to_string();
    assert!(err.contains("3 labels for 4 samples"), "{err}");
    npy::write(&x, &[4, 3], &[0.5, f32::NAN, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]).unwrap();
    npy::write(&y, &[4], &[0.0; 4]).unwrap();
    let err = npy::load(&x, &y, LabelKind::Targets).unwrap_err().to_string();
    assert!(err.contains("x.npy") && err.contains("NaN"), "{err}");
    std::fs::write(&x, b"not numpy").unwrap();
    let err = npy::load(&x, &y, LabelKind::Targets).unwrap_err().to_string();
    assert!(err.contains("not a .npy file"), "{err}");

    // A dtype wgtrain does not read (uint16), and features without a sample dimension.
    std::fs::write(&x, npy_bytes("<u2", "(4, 1)", &[0u8; 8])).unwrap();
    let err = npy::load(&x, &y, LabelKind::Targets).unwrap_err().to_string();
    assert!(err.contains("x.npy") && err.contains("not supported"), "{err}");
    npy::write(&x, &[4], &[0.5; 4]).unwrap();
    let err = npy::load(&x, &y, LabelKind::Targets).unwrap_err().to_string();
    assert!(err.contains("shape [4]") && err.contains("at least two dimensions"), "{err}");
}

/// A version-1 .npy file with any dtype string and shape.
fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    bytes
}

#[test]
fn resized_rgb_keeps_a_constant_image_constant_and_replicates_grey() {
    let data =
        Dataset::new(vec![2, 2, 1], Features::U8(vec![7; 8]), Labels::Classes { values: vec![0, 1], classes: 2 })
            .unwrap();
    let big = data.resized_rgb(5, 3).unwrap();
    assert_eq!(big.sample_shape, [5, 3, 3]);
    assert_eq!(big.features, Features::U8(vec![7; 2 * 5 * 3 * 3]));
}

fn tiny_model(gpu: &std::sync::Arc<wgtrain::Gpu>) -> Model {
    let spec = Sequential::new(&[4]).add(Layer::dense(3, Act::Softmax));
    let compile =
        Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 1 };
    Model::new(gpu.clone(), spec, compile).unwrap()
}

#[test]
fn fit_refuses_bad_arguments_with_a_clear_message() {
    let ok = Dataset::new(
        vec![4],
        Features::F32(vec![0.1; 20]),
        Labels::Classes { values: vec![0, 1, 2, 1, 0], classes: 3 },
    )
    .unwrap();
    let wide =
        Dataset::new(vec![4], Features::F32(vec![0.1; 8]), Labels::Classes { values: vec![0, 5], classes: 6 }).unwrap();
    let shape = Dataset::new(vec![5], Features::F32(vec![0.1; 10]), Labels::Classes { values: vec![0, 1], classes: 3 })
        .unwrap();
    for gpu in gpus() {
        let mut model = tiny_model(gpu);
        let fit = |model: &mut Model, data: &Dataset, batch_size, epochs| {
            model.fit(data, &FitOptions { batch_size, epochs, ..FitOptions::default() }).unwrap_err().to_string()
        };
        assert!(fit(&mut model, &ok, 0, 1).contains("batch size must be at least 1"));
        assert!(fit(&mut model, &ok, 6, 1).contains("batch size 6 is larger than the 5 training samples"));
        assert!(fit(&mut model, &ok, 2, 0).contains("epochs must be at least 1"));
        assert!(fit(&mut model, &wide, 2, 1).contains("label 5 of sample 1 is out of range for a 3-class model"));
        assert!(fit(&mut model, &shape, 2, 1).contains("do not fit the model's input"));
        assert_eq!(model.iterations().unwrap(), 0, "a refused fit must not train");
    }
}

#[test]
fn dataset_checks_counts_ranges_and_emptiness() {
    let err =
        Dataset::new(vec![2], Features::U8(vec![0; 4]), Labels::Classes { values: vec![0], classes: 2 }).unwrap_err();
    assert!(err.to_string().contains("2 samples but 1 labels"), "{err}");
    let err = Dataset::new(vec![2], Features::U8(vec![]), Labels::Classes { values: vec![], classes: 2 }).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let err =
        Dataset::new(vec![1], Features::U8(vec![0]), Labels::Classes { values: vec![4], classes: 2 }).unwrap_err();
    assert!(err.to_string().contains("label 4 of sample 0 is out of range for 2 classes"), "{err}");
}

#[test]
fn predict_returns_probabilities_that_match_evaluate() {
    let (train, test) = fashion(200);
    let test = test.take(77);
    for gpu in gpus() {
        let spec = wgtrain::presets::mlp().model;
        let compile =
            Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 2 };
        let mut model = Model::new(gpu.clone(), spec, compile).unwrap();
        model.fit(&train, &FitOptions { batch_size: 32, epochs: 2, ..FitOptions::default() }).unwrap();
        // 77 rows at batch 32: the last batch is short.
        let probs = model.predict(&test, 32).unwrap();
        assert_eq!(probs.len(), 77 * 10);
        let Labels::Classes { values, .. } = &test.labels else { unreachable!() };
        let (mut loss, mut correct) = (0.0, 0);
        for (row, &label) in probs.chunks(10).zip(values) {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "a softmax row sums to {sum}");
            let best = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            correct += usize::from(best == usize::from(label));
            loss -= f64::from(row[usize::from(label)]).ln();
        }
        let m = model.evaluate(&test, 32).unwrap();
        assert!((m.accuracy - correct as f64 / 77.0).abs() < 1e-6, "{} vs {}", m.accuracy, correct as f64 / 77.0);
        assert!((m.loss - loss / 77.0).abs() < 1e-4 * m.loss, "{} vs {}", m.loss, loss / 77.0);
    }
}

/// u8 features become `byte / 255` rounded once to f32: bit for bit NumPy's (and so Keras's)
/// `np.arange(256, dtype=np.uint8).astype("float32") / 255`, recorded in the fixture; a product
/// with 1/255 would differ in the last bit for about half of them.
#[test]
fn u8_features_are_scaled_exactly_as_keras_preprocessing_does() {
    let fixture =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_u8_over_255.f32le")).unwrap();
    let numpy: Vec<f32> = fixture.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert_eq!(numpy.len(), 256);
    let mut product_differs = 0;
    for (byte, &want) in (0..=255u8).zip(&numpy) {
        assert_eq!(wgtrain::data::unorm8(byte).to_bits(), want.to_bits(), "byte {byte}");
        product_differs += usize::from((f32::from(byte) * (1.0 / 255.0)).to_bits() != want.to_bits());
    }
    assert!((100..160).contains(&product_differs), "{product_differs}");
}

/// A gzip file is decompressed only as far as its IDX header declares: a small file expanding
/// into 200 MB past a 10-image header is refused as trailing bytes, having decompressed one more.
#[test]
fn a_gzip_file_is_not_decompressed_past_its_declared_size() {
    use std::io::Write;
    let mut header = vec![0, 0, 8, 3];
    for d in [10u32, 28, 28] {
        header.extend(d.to_be_bytes());
    }
    let path = std::env::temp_dir().join(format!("wgtrain-bomb-{}.gz", std::process::id()));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        gz.write_all(&zeros).unwrap();
    }
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 2 << 20);
    let bytes = idx::read_maybe_gz(&path).unwrap();
    assert_eq!(bytes.len(), header.len() + 10 * 28 * 28 + 1);
    let err = idx::read(&path).unwrap_err().to_string();
    assert!(err.contains("trailing bytes"), "{err}");
    std::fs::remove_file(&path).ok();
}

/// A .npy header claiming more bytes than the file holds is refused before the parser
/// allocates that much (4 GiB for the version-2 header below).
#[test]
fn npy_header_lengths_past_the_file_are_refused_before_allocating() {
    for (version, length) in [
        (1u8, &0xfff0u16.to_le_bytes()[..]),
        (2, &0xffff_ff76u32.to_le_bytes()[..]),
        (3, &0xffff_ff76u32.to_le_bytes()[..]),
    ] {
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.extend([version, 0]);
        bytes.extend(length);
        bytes.resize(120, b' ');
        let err = npy::parse(&bytes).unwrap_err();
        assert!(err.contains("its header claims") && err.contains("the file has 120"), "{err}");
    }
    // Brackets nested 19 deep keep the header's grammar backtracking for many seconds.
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = format!("{{'descr': '<f4', 'fortran_order': False, {}'shape': (4, 6), }}", "[".repeat(19));
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    let started = std::time::Instant::now();
    let err = npy::parse(&bytes).unwrap_err();
    assert!(err.contains("its header nests 21 deep"), "{err}");
    assert!(started.elapsed().as_secs() < 1);
    // A shape whose element count overflows, which the parser would multiply out unchecked.
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }";
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    let err = npy::parse(&bytes).unwrap_err();
    assert!(err.contains("has more elements than can be counted"), "{err}");
}
