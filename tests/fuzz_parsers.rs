//! The IDX and .npy parsers on mutated files: a short, seeded run of what the cargo-fuzz
//! targets in fuzz/ do at length. Any bytes must give an array or an error, never a panic.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use wgtrain::data::{idx, npy};

const RUNS: usize = 4000;

fn idx_bytes() -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, 3, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 3];
    bytes.extend((0..60).map(|i| i as u8));
    bytes
}

fn npy_bytes(name: &str) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("wgtrain-fuzz-{}-{name}.npy", std::process::id()));
    let values: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
    npy::write(&path, &[4, 6], &values).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    bytes
}

/// A random edit of `seed`: flipped bytes, a cut, an insertion, or a header field set to an extreme.
fn mutate(seed: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..4) {
        match rng.random_range(0..5) {
            0 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 => b.truncate(rng.random_range(0..=b.len())),
            2 => {
                let i = rng.random_range(0..=b.len());
                b.insert(i, rng.random());
            }
            3 if !b.is_empty() => {
                // Header bytes are where the lengths live.
                let i = rng.random_range(0..b.len().min(80));
                b[i] = [0x00, 0xff, 0x7f, b'9'][rng.random_range(0..4)];
            }
            _ => b.extend((0..rng.random_range(0..8)).map(|_| rng.random::<u8>())),
        }
    }
    b
}

#[test]
fn idx_parser_survives_mutated_files() {
    let seed = idx_bytes();
    let parsed = idx::parse(&seed).unwrap();
    assert_eq!(parsed.dims, [5, 4, 3]);
    let mut rng = StdRng::seed_from_u64(1);
    let mut accepted = 0;
    for _ in 0..RUNS {
        let bytes = mutate(&seed, &mut rng);
        if let Ok(a) = idx::parse(&bytes) {
            assert_eq!(a.values.len(), a.dims.iter().product::<usize>());
            accepted += 1;
        }
    }
    // Every strict prefix is a truncated file.
    for cut in 0..seed.len() {
        assert!(idx::parse(&seed[..cut]).is_err(), "a {cut}-byte prefix was accepted");
    }
    println!("idx: {accepted} of {RUNS} mutants parsed");
}

#[test]
fn npy_parser_survives_mutated_files() {
    let seed = npy_bytes("seed");
    let (shape, values) = npy::parse(&seed).unwrap();
    assert_eq!((shape, values[3]), (vec![4, 6], 1.5));
    let mut rng = StdRng::seed_from_u64(2);
    let mut accepted = 0;
    for _ in 0..RUNS {
        let bytes = mutate(&seed, &mut rng);
        if let Ok((shape, values)) = npy::parse(&bytes) {
            assert_eq!(values.len(), shape.iter().product::<usize>());
            accepted += 1;
        }
    }
    for cut in 0..seed.len() {
        assert!(npy::parse(&seed[..cut]).is_err(), "a {cut}-byte prefix was accepted");
    }
    println!("npy: {accepted} of {RUNS} mutants parsed");
}

/// Every value of a JSON document, by its path of object keys and array indices.
fn leaves(v: &serde_json::Value, path: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| leaves(v, format!("{path}/{k}"), out)),
        serde_json::Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| leaves(v, format!("{path}/{i}"), out)),
        _ => out.push(path),
    }
}

/// Keras model JSON with its values replaced by extremes and wrong types: a model, or an error
/// naming the problem, never a panic — through the layers' shapes and parameter lists too.
#[test]
fn keras_model_json_survives_mutated_values() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras");
    let extremes = [
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(u64::MAX),
        serde_json::json!(1e30),
        serde_json::json!(f64::MIN_POSITIVE),
        serde_json::json!(null),
        serde_json::json!("same"),
        serde_json::json!([]),
        serde_json::json!([0, 4294967296u64]),
        serde_json::json!({}),
    ];
    let mut rng = StdRng::seed_from_u64(3);
    let (mut accepted, mut runs) = (0, 0);
    for name in ["seed_cnn", "batch_norm_cnn", "convnet", "global_max"] {
        let text = std::fs::read_to_string(format!("{dir}/{name}.json")).unwrap();
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut paths = Vec::new();
        leaves(&original, String::new(), &mut paths);
        for _ in 0..RUNS / 4 {
            let mut v = original.clone();
            for _ in 0..rng.random_range(1..3) {
                let path = &paths[rng.random_range(0..paths.len())];
                *v.pointer_mut(path).unwrap() = extremes[rng.random_range(0..extremes.len())].clone();
            }
            runs += 1;
            if let Ok(model) = wgtrain::nn::keras_json::sequential(&v)
                && model.summary().is_ok()
            {
                accepted += 1;
            }
        }
    }
    // Most edits of an ignored value (a name, a dtype) still give a model.
    assert!(accepted > runs / 10 && accepted < runs, "{accepted} of {runs} accepted");
}
