//! `burn-bench`: the Burn reference for wgtrain's training benchmark rows.
//!
//! It trains the seed MLP, the seed CNN or the 4-conv CNN with Burn's wgpu backend and autodiff,
//! pinned to the Vulkan graphics API (Burn compiles its kernels to WGSL, which wgpu translates for
//! Vulkan), on the first SAMPLES images of the bundled Fashion-MNIST subset. It mirrors
//! `benchmarks/keras_seed_models.py`: the same layers, Glorot-uniform weights and zero biases,
//! softmax cross-entropy, Adam (learning rate 1e-3, betas 0.9 and 0.999, epsilon 1e-7), the same
//! batch sizes (mlp and cnn 32, cnn4 64) and default sample counts (mlp 10 000, cnn 2 000,
//! cnn4 640), a reshuffle every epoch (with a fixed seed here), and the same timing: one warm-up
//! epoch, which compiles and autotunes the kernels, then the median of 5 timed epochs, each
//! ending with a read of its loss and a device sync so that it waits for the GPU's work.
//!
//! Build and run it from the repository root (its own package, outside wgtrain's workspace):
//!
//! ```text
//! cargo run --release --manifest-path benchmarks/burn/Cargo.toml -- mlp|cnn|cnn4 [SAMPLES]
//! ```
//!
//! The last line it prints is `median: N samples/s`, the line that
//! `wgtrain bench --reference MODEL=COMMAND` reads, so that it can stand beside wgtrain's rows:
//! `--reference "cnn=cargo run -q --release --manifest-path benchmarks/burn/Cargo.toml -- cnn"`.
//! It runs on wgpu's default Vulkan adapter; `CUBECL_WGPU_DEFAULT_DEVICE` (`Cpu`, `DiscreteGpu(0)`,
//! ...) picks another one.

use std::{error::Error, fs::File, io::Read, path::Path, time::Instant};

use burn::{
    module::Param,
    nn::{
        Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d,
        conv::{Conv2d, Conv2dConfig},
        loss::{CrossEntropyLoss, CrossEntropyLossConfig},
        pool::{MaxPool2d, MaxPool2dConfig},
    },
    optim::{AdamConfig, GradientsParams, ModuleOptimizer},
    prelude::*,
    tensor::{activation::relu, wgpu::WgpuBackend},
};
use flate2::read::GzDecoder;
use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

const TIMED_EPOCHS: usize = 5;
const LEARNING_RATE: f64 = 1e-3;
const SEED: u64 = 42;
const PIXELS: usize = 28 * 28;
/// Keras' default kernel initializer (its biases start at zero).
const GLOROT: Initializer = Initializer::XavierUniform { gain: 1.0 };

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// A model that maps a batch of flat images, `[batch, 784]`, to logits, `[batch, 10]`.
trait Classifier: Module {
    fn forward(&self, images: Tensor<2>) -> Tensor<2>;
}

fn dense(d_input: usize, d_output: usize, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_input, d_output).with_initializer(GLOROT).init(device);
    layer.bias = Some(Param::from_tensor(Tensor::zeros([d_output], device)));
    layer
}

/// A 3×3 convolution, 'same' or 'valid'.
fn conv(channels: [usize; 2], padding: PaddingConfig2d, device: &Device) -> Conv2d {
    let mut layer = Conv2dConfig::new(channels, [3, 3]).with_padding(padding).with_initializer(GLOROT).init(device);
    layer.bias = Some(Param::from_tensor(Tensor::zeros([channels[1]], device)));
    layer
}

fn pool() -> MaxPool2d {
    MaxPool2dConfig::new([2, 2]).init()
}

fn as_images(flat: Tensor<2>) -> Tensor<4> {
    let [batch, _] = flat.dims();
    flat.reshape([batch, 1, 28, 28])
}

/// The seed MLP: 784 → 128 relu → 10.
#[derive(Module, Debug)]
struct Mlp {
    hidden: Linear,
    output: Linear,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        Self { hidden: dense(PIXELS, 128, device), output: dense(128, 10, device) }
    }
}

impl Classifier for Mlp {
    fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        self.output.forward(relu(self.hidden.forward(images)))
    }
}

/// The seed CNN: conv 32 'valid' relu → max-pool 2 → 5408 → 128 relu → 10.
#[derive(Module, Debug)]
struct Cnn {
    conv: Conv2d,
    pool: MaxPool2d,
    hidden: Linear,
    output: Linear,
}

impl Cnn {
    fn new(device: &Device) -> Self {
        Self {
            conv: conv([1, 32], PaddingConfig2d::Valid, device),
            pool: pool(),
            hidden: dense(32 * 13 * 13, 128, device),
            output: dense(128, 10, device),
        }
    }
}

impl Classifier for Cnn {
    fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv.forward(as_images(images))));
        self.output.forward(relu(self.hidden.forward(x.flatten(1, 3))))
    }
}

/// The 4-conv CNN: two blocks of conv 'same' relu → conv 'valid' relu → max-pool 2 → dropout
/// 0.25 (32 then 64 filters), then 1600 → 256 relu → dropout 0.5 → 10.
#[derive(Module, Debug)]
struct Cnn4 {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    conv4: Conv2d,
    pool: MaxPool2d,
    conv_dropout: Dropout,
    hidden: Linear,
    dropout: Dropout,
    output: Linear,
}

impl Cnn4 {
    fn new(device: &Device) -> Self {
        Self {
            conv1: conv([1, 32], PaddingConfig2d::Same, device),
            conv2: conv([32, 32], PaddingConfig2d::Valid, device),
            conv3: conv([32, 64], PaddingConfig2d::Same, device),
            conv4: conv([64, 64], PaddingConfig2d::Valid, device),
            pool: pool(),
            conv_dropout: DropoutConfig::new(0.25).init(),
            hidden: dense(64 * 5 * 5, 256, device),
            dropout: DropoutConfig::new(0.5).init(),
            output: dense(256, 10, device),
        }
    }
}

impl Classifier for Cnn4 {
    fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        let x = relu(self.conv1.forward(as_images(images)));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        let x = relu(self.conv3.forward(self.conv_dropout.forward(x)));
        let x = self.pool.forward(relu(self.conv4.forward(x)));
        let x = relu(self.hidden.forward(self.conv_dropout.forward(x).flatten(1, 3)));
        self.output.forward(self.dropout.forward(x))
    }
}

/// The training samples on the device: images `[n, 784]`, labels `[n]`.
struct Data {
    images: Tensor<2>,
    labels: Tensor<1, Int>,
    len: usize,
}

/// Reads an MNIST IDX file, gzip-compressed or not, checking its magic number; returns the
/// bytes after the header.
fn read_idx(path: &Path, magic: u32, header: usize) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|ext| ext == "gz") {
        GzDecoder::new(file).read_to_end(&mut bytes)?;
    } else {
        (&file).read_to_end(&mut bytes)?;
    }
    if bytes.len() < header || bytes[..4] != magic.to_be_bytes() {
        return Err(format!("{}: not an IDX file with magic {magic}", path.display()).into());
    }
    Ok(bytes.split_off(header))
}

/// The first `samples` images (bytes / 255) and labels of the Fashion-MNIST training subset.
fn load(samples: usize, device: &Device) -> Result<Data> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/fashion-mnist");
    let find = |name: &str| {
        let gz = dir.join(format!("{name}.gz"));
        if gz.exists() { gz } else { dir.join(name) }
    };
    let pixels = read_idx(&find("train-images-idx3-ubyte"), 2051, 16)?;
    let labels = read_idx(&find("train-labels-idx1-ubyte"), 2049, 8)?;
    let available = labels.len().min(pixels.len() / PIXELS);
    if samples == 0 || samples > available {
        return Err(format!("SAMPLES must be between 1 and {available}").into());
    }
    let pixels: Vec<f32> = pixels[..samples * PIXELS].iter().map(|&p| f32::from(p) / 255.0).collect();
    let labels: Vec<i64> = labels[..samples].iter().map(|&l| i64::from(l)).collect();
    Ok(Data {
        images: Tensor::from_data(TensorData::new(pixels, [samples, PIXELS]), device),
        labels: Tensor::from_data(TensorData::new(labels, [samples]), device),
        len: samples,
    })
}

/// One epoch over `data` in the order `order`; returns the model and the epoch's mean loss.
/// The loss is summed on the device and read back once, at the end, which with the sync after
/// it makes the epoch wait for all its work.
fn epoch<M: Classifier>(
    mut model: M,
    optimizer: &mut ModuleOptimizer,
    data: &Data,
    order: &[usize],
    batch: usize,
    device: &Device,
) -> Result<(M, f32)> {
    let loss_fn: CrossEntropyLoss = CrossEntropyLossConfig::new().init(device);
    let order: Vec<i64> = order.iter().map(|&i| i as i64).collect();
    let order = Tensor::<1, Int>::from_data(TensorData::new(order, [data.len]), device);
    let mut total = Tensor::<1>::zeros([1], device);
    for start in (0..data.len).step_by(batch) {
        let size = batch.min(data.len - start);
        let indices = order.clone().narrow(0, start, size);
        let images = data.images.clone().select(0, indices.clone());
        let labels = data.labels.clone().select(0, indices);
        let loss = loss_fn.forward(model.forward(images), labels);
        total = total + loss.clone().detach().mul_scalar(size as f32);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(LEARNING_RATE, model, grads);
    }
    let loss = total.into_scalar::<f32>() / data.len as f32;
    device.sync()?;
    Ok((model, loss))
}

/// Trains `model` for a warm-up epoch and [`TIMED_EPOCHS`] timed ones, printing each epoch's
/// loss and rate; returns the timed epochs' samples/s.
fn train<M: Classifier>(mut model: M, data: &Data, batch: usize, device: &Device) -> Result<Vec<f64>> {
    let mut optimizer = AdamConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-7).init();
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut order: Vec<usize> = (0..data.len).collect();
    let mut rates = Vec::with_capacity(TIMED_EPOCHS);
    for e in 0..=TIMED_EPOCHS {
        order.shuffle(&mut rng);
        let start = Instant::now();
        let (trained, loss) = epoch(model, &mut optimizer, data, &order, batch, device)?;
        model = trained;
        let rate = data.len as f64 / start.elapsed().as_secs_f64();
        let note = if e == 0 { " (warm-up)" } else { "" };
        println!("epoch {}: loss {loss:.4}, {rate:.0} samples/s{note}", e + 1);
        if e > 0 {
            rates.push(rate);
        }
    }
    Ok(rates)
}

fn main() -> Result<()> {
    let usage = "usage: burn-bench mlp|cnn|cnn4 [SAMPLES]";
    let mut args = std::env::args().skip(1);
    let name = args.next().ok_or(usage)?;
    let (batch, default_samples) = match name.as_str() {
        "mlp" => (32, 10_000),
        "cnn" => (32, 2_000),
        "cnn4" => (64, 640),
        _ => return Err(usage.into()),
    };
    let samples = match args.next() {
        Some(n) => n.parse().map_err(|_| usage)?,
        None => default_samples,
    };

    let (device, setup) = Device::wgpu_options().graphics_api(WgpuBackend::Vulkan).init_with_setup()?;
    let info = setup.adapter.get_info();
    println!(
        "adapter: {} ({:?}, {:?}, {} {}), Burn wgpu backend, WGSL shaders",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    );
    device.seed(SEED);
    let device = device.autodiff();
    let data = load(samples, &device)?;
    println!("burn {name} batch {batch} on {samples} samples");

    let mut rates = match name.as_str() {
        "mlp" => train(Mlp::new(&device), &data, batch, &device)?,
        "cnn" => train(Cnn::new(&device), &data, batch, &device)?,
        _ => train(Cnn4::new(&device), &data, batch, &device)?,
    };
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} samples/s", rates[rates.len() / 2]);
    Ok(())
}
