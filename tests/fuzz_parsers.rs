//! The parsers on mutated files: a short, seeded run of what the cargo-fuzz targets in fuzz/
//! do at length. IDX and .npy files, spec files (wgtrain's JSON and Keras's), and checkpoints'
//! safetensors header and metadata: any bytes must give a value or an error, never a panic.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use wgtrain::data::{idx, npy};
use wgtrain::nn::layers::{Conv2D, GlobalAveragePooling2D};
use wgtrain::nn::{Act, Compile, Layer, LossKind, Optimizer, Sequential};
use wgtrain::ops::Padding;
use wgtrain::ops::optim::Adam;
use wgtrain::presets::{self, Preset};

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

/// A spec file of this test process's for `from_spec_file` to read, removed when dropped.
struct SpecFile(std::path::PathBuf);

impl SpecFile {
    fn new(name: &str) -> SpecFile {
        SpecFile(std::env::temp_dir().join(format!("wgtrain-fuzz-{}-{name}.json", std::process::id())))
    }

    fn read(&self, bytes: &[u8]) -> wgtrain::Result<Preset> {
        std::fs::write(&self.0, bytes).unwrap();
        Preset::from_spec_file(&self.0)
    }
}

impl Drop for SpecFile {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

/// `from_spec_file` on `bytes`: a preset whose model is checked, or an error.
fn spec_accepted(file: &SpecFile, bytes: &[u8]) -> bool {
    match file.read(bytes) {
        Ok(preset) => {
            preset.model.summary().unwrap();
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

fn keras_fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/keras/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Values of every type and extreme size, for the JSON mutations.
fn extremes() -> Vec<serde_json::Value> {
    use serde_json::json;
    vec![
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(1e30),
        json!(1e300),
        json!(-0.0),
        json!(f64::MIN_POSITIVE),
        json!(null),
        json!(true),
        json!("same"),
        json!("Adam"),
        json!([]),
        json!([0, 4294967296u64]),
        json!([65536, 65536]),
        json!({}),
        json!({"Constant": 0.1}),
    ]
}

/// `v` with one to three of its values (`paths`) replaced by extremes, or removed.
fn mutate_json(v: &serde_json::Value, paths: &[String], rng: &mut StdRng) -> serde_json::Value {
    let extremes = extremes();
    let mut v = v.clone();
    for _ in 0..rng.random_range(1..4) {
        let path = &paths[rng.random_range(0..paths.len())];
        let (parent, key) = path.rsplit_once('/').unwrap();
        match (rng.random_range(0..8), v.pointer_mut(parent)) {
            (0, Some(serde_json::Value::Object(m))) => {
                m.remove(key);
            }
            _ => {
                if let Some(leaf) = v.pointer_mut(path) {
                    *leaf = extremes[rng.random_range(0..extremes.len())].clone();
                }
            }
        }
    }
    v
}

/// Spec files, wgtrain's and Keras's, mutated byte by byte and value by value: a preset whose
/// model is checked, or one error, never a panic.
#[test]
fn spec_file_parser_survives_mutated_files() {
    let file = SpecFile::new("spec");
    let mut seeds: Vec<String> =
        ["mlp", "binary", "convnet", "bn_cnn"].iter().map(|n| presets::by_name(n).unwrap().to_spec_json()).collect();
    seeds.extend(["seed_mlp", "batch_norm_cnn", "regularized"].map(keras_fixture));
    let mut rng = StdRng::seed_from_u64(4);
    let (mut accepted, mut runs) = (0, 0);
    for seed in &seeds {
        assert!(spec_accepted(&file, seed.as_bytes()), "the seed was refused: {seed}");
        let value: serde_json::Value = serde_json::from_str(seed).unwrap();
        let mut paths = Vec::new();
        leaves(&value, String::new(), &mut paths);
        for _ in 0..RUNS / seeds.len() {
            let bytes = match rng.random_range(0..4) {
                0 => mutate(seed.as_bytes(), &mut rng),
                _ => serde_json::to_vec(&mutate_json(&value, &paths, &mut rng)).unwrap(),
            };
            runs += 1;
            accepted += usize::from(spec_accepted(&file, &bytes));
        }
        for cut in (0..seed.len()).step_by(7) {
            assert!(!spec_accepted(&file, &seed.as_bytes()[..cut]), "a {cut}-byte prefix was accepted");
        }
    }
    assert!(!spec_accepted(&file, b"\xff\xfe{}"), "not UTF-8");
    println!("spec files: {accepted} of {runs} mutants parsed");
    assert!(accepted > runs / 20 && accepted < runs, "{accepted} of {runs} accepted");
}

/// The checkpoint seed: a small model with every kind of tensor a checkpoint holds (trainable,
/// non-trainable, two optimizer slots each), written as `Model::save_run` writes one.
fn checkpoint_seed() -> Vec<u8> {
    let conv = Conv2D {
        filters: 2,
        kernel: (3, 3),
        strides: (1, 1),
        padding: Padding::Same,
        activation: Act::Linear,
        use_bias: false,
        kernel_regularizer: None,
    };
    let spec = Sequential::new(&[4, 4, 1])
        .add(Layer::Conv2D(conv))
        .add(Layer::batch_norm())
        .add(Layer::Activation(Act::Relu))
        .add(Layer::GlobalAveragePooling2D(GlobalAveragePooling2D::default()))
        .add(Layer::dense(3, Act::Softmax));
    let compile =
        Compile { optimizer: Optimizer::Adam(Adam::default()), loss: LossKind::CategoricalCrossentropy, seed: 7 };
    let names = ["a", "b", "c"].map(String::from);
    synthesize(&spec, &compile, &names, |i| i as f32 * 0.25 - 1.0)
}

/// The tensors of a safetensors file, as (name, dtype, shape, data), by name.
type Tensors = Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)>;

fn tensors_of(bytes: &[u8]) -> (Tensors, HashMap<String, String>) {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut tensors: Tensors =
        st.tensors().into_iter().map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec())).collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    (tensors, header.metadata().clone().unwrap_or_default())
}

/// A checkpoint with one to three edits: a metadata field's JSON values replaced by extremes, a
/// number field or the format made odd, a field removed or added, a tensor dropped, renamed,
/// reshaped or retyped.
fn mutate_checkpoint(tensors: &Tensors, metadata: &HashMap<String, String>, rng: &mut StdRng) -> Vec<u8> {
    let (mut tensors, mut metadata) = (tensors.clone(), metadata.clone());
    let odd_numbers = ["", "-1", "4294967296", "18446744073709551616", "1e400", "NaN", "inf", " 3", "0x10", "3.5"];
    for _ in 0..rng.random_range(1..4) {
        let mut keys: Vec<String> = metadata.keys().cloned().collect();
        keys.sort();
        let key = keys[rng.random_range(0..keys.len())].clone();
        match rng.random_range(0..10) {
            0 => {
                metadata.remove(&key);
            }
            1 => {
                metadata.insert("unknown".into(), "{".into());
            }
            2 if !tensors.is_empty() => {
                tensors.remove(rng.random_range(0..tensors.len()));
            }
            3 if !tensors.is_empty() => {
                let i = rng.random_range(0..tensors.len());
                let t = &mut tensors[i];
                match rng.random_range(0..3) {
                    0 => t.2 = vec![t.2.iter().product()],
                    1 => t.1 = safetensors::Dtype::I32,
                    _ => t.0.push('x'),
                }
            }
            _ => {
                let value = &metadata[&key];
                let edited = match serde_json::from_str::<serde_json::Value>(value) {
                    Ok(json @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
                        let mut paths = Vec::new();
                        leaves(&json, String::new(), &mut paths);
                        if paths.is_empty() {
                            continue;
                        }
                        mutate_json(&json, &paths, rng).to_string()
                    }
                    _ => odd_numbers[rng.random_range(0..odd_numbers.len())].to_string(),
                };
                metadata.insert(key, edited);
            }
        }
    }
    safetensors_bytes(&tensors, &metadata)
}

/// `checkpoint::inspect` on `bytes`: a checkpoint whose every tensor matches its architecture,
/// or an error.
fn checkpoint_accepted(bytes: &[u8]) -> bool {
    match wgtrain::checkpoint::inspect(bytes.to_vec()) {
        Ok((architecture, _, _)) => {
            architecture.summary().unwrap();
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

/// Checkpoints mutated in their bytes, metadata and tensor table: the parsing before a model is
/// built (safetensors header, metadata JSON through wgtrain's serde types, the architecture's
/// checks, every tensor's name, dtype and shape) gives a checkpoint or an error, never a panic.
#[test]
fn checkpoint_header_and_metadata_survive_mutations() {
    let seed = checkpoint_seed();
    let (architecture, compile, info) = wgtrain::checkpoint::inspect(seed.clone()).unwrap();
    assert_eq!((info.epoch, info.step), (3, 12));
    // Trainable: the conv kernel, gamma and beta, the dense kernel and bias, with Adam's m and v
    // each; and the two moving statistics.
    assert_eq!(wgtrain::checkpoint::tensor_names(&architecture, &compile).unwrap().len(), 5 * 3 + 2);
    let (tensors, metadata) = tensors_of(&seed);
    let mut rng = StdRng::seed_from_u64(5);
    let (mut accepted, mut runs) = (0, 0);
    for i in 0..RUNS {
        let bytes = if i % 4 == 0 { mutate(&seed, &mut rng) } else { mutate_checkpoint(&tensors, &metadata, &mut rng) };
        runs += 1;
        accepted += usize::from(checkpoint_accepted(&bytes));
    }
    for cut in (0..seed.len()).step_by(3) {
        assert!(!checkpoint_accepted(&seed[..cut]), "a {cut}-byte prefix was accepted");
    }
    println!("checkpoints: {accepted} of {runs} mutants parsed");
    assert!(accepted > runs / 20 && accepted < runs, "{accepted} of {runs} accepted");
}

/// The seed corpora of the cargo-fuzz targets (fuzz/seeds/TARGET/) hold files their parsers
/// accept, so the fuzzer starts inside the formats as they are now.
/// `WGTRAIN_WRITE_FUZZ_SEEDS=1` rewrites the generated ones first.
#[test]
fn fuzz_seeds_are_accepted() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    if std::env::var_os("WGTRAIN_WRITE_FUZZ_SEEDS").is_some_and(|v| v == "1") {
        let write = |target: &str, name: &str, bytes: &[u8]| {
            std::fs::create_dir_all(dir.join(target)).unwrap();
            std::fs::write(dir.join(target).join(name), bytes).unwrap();
        };
        write("idx", "u8-5x4x3.idx", &idx_bytes());
        write("npy", "f32-4x6.npy", &npy_bytes("corpus"));
        write("checkpoint", "conv-bn-dense-adam.safetensors", &checkpoint_seed());
        for name in ["dense", "bn_cnn"] {
            write("spec", &format!("{name}.json"), presets::by_name(name).unwrap().to_spec_json().as_bytes());
        }
        for name in ["seed_mlp", "batch_norm_cnn", "regularized"] {
            write("spec", &format!("keras-{name}.json"), keras_fixture(name).as_bytes());
            write("keras_json", &format!("{name}.json"), keras_fixture(name).as_bytes());
        }
    }
    let file = SpecFile::new("seed");
    let mut total = 0;
    for target in ["idx", "npy", "checkpoint", "spec", "keras_json"] {
        let mut seeds: Vec<_> = std::fs::read_dir(dir.join(target)).unwrap().map(|e| e.unwrap().path()).collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "no seeds for {target}");
        for path in seeds {
            let bytes = std::fs::read(&path).unwrap();
            total += bytes.len();
            let ok = match target {
                "idx" => idx::parse(&bytes).is_ok(),
                "npy" => npy::parse(&bytes).is_ok(),
                "checkpoint" => checkpoint_accepted(&bytes),
                "spec" => spec_accepted(&file, &bytes),
                _ => wgtrain::nn::keras_json::sequential(&serde_json::from_slice(&bytes).unwrap())
                    .and_then(|m| m.summary())
                    .is_ok(),
            };
            assert!(ok, "{} is refused", path.display());
        }
    }
    assert!(total < 100_000, "the seeds take {total} bytes");
}

/// A checkpoint as `Model::save_run` writes one, for `spec` and `compile` with every tensor
/// filled from `value(i)`: a seed for the mutation runs, made without a GPU.
fn synthesize(spec: &Sequential, compile: &Compile, class_names: &[String], value: impl Fn(usize) -> f32) -> Vec<u8> {
    let tensors: Tensors = wgtrain::checkpoint::tensor_names(spec, compile)
        .expect("a valid architecture")
        .into_iter()
        .map(|(name, shape)| {
            let data = (0..shape.iter().product()).flat_map(|i| value(i).to_le_bytes()).collect();
            (name, safetensors::Dtype::F32, shape, data)
        })
        .collect();
    let metadata = HashMap::from([
        ("format".to_string(), wgtrain::checkpoint::FORMAT.to_string()),
        ("wgtrain_version".to_string(), "0.1.0".to_string()),
        ("architecture".to_string(), json(spec)),
        ("compile".to_string(), json(compile)),
        ("epoch".to_string(), "3".to_string()),
        ("step".to_string(), "12".to_string()),
        ("seed".to_string(), compile.seed.to_string()),
        ("class_names".to_string(), json(&class_names)),
        ("best_loss".to_string(), "0.25".to_string()),
        ("epochs_since_best".to_string(), "1".to_string()),
        ("reduce_lr_state".to_string(), json(&wgtrain::train::PlateauState { best: Some(0.25), wait: 1, cooldown: 0 })),
    ]);
    safetensors_bytes(&tensors, &metadata)
}

/// A safetensors file of `tensors` (name, dtype, shape, little-endian data), laid out in this
/// order, with `metadata`. Its header's keys are sorted (`safetensors::serialize` writes the
/// metadata in a hash map's order), so the same tensors always give the same bytes. Nothing is
/// checked: a name twice, or data of the wrong length, gives a file the parser must refuse.
fn safetensors_bytes(
    tensors: &[(String, safetensors::Dtype, Vec<usize>, Vec<u8>)],
    metadata: &HashMap<String, String>,
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::to_value(metadata).unwrap());
    let mut offset = 0;
    for (name, dtype, shape, data) in tensors {
        let entry = serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + data.len()]});
        header.insert(name.clone(), entry);
        offset += data.len();
    }
    let mut header = serde_json::to_vec(&header).unwrap();
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    tensors.iter().for_each(|t| bytes.extend(&t.3));
    bytes
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}
