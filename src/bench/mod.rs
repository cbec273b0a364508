//! The benchmark: every kernel at realistic sizes and the seed models end to end, per
//! adapter, each checked against its CPU twin before it is timed, with the twin's time as the
//! baseline column. Prints a table and writes a JSON report; `--compare` sets two side by side.

mod report;
mod timer;

#[cfg(not(target_arch = "wasm32"))]
use std::path::PathBuf;
#[cfg(not(target_arch = "wasm32"))]
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

pub use report::{AdapterInfo, KernelRow, ReferenceRuns, Report, TrainingRow};
use timer::{Timer, cpu_median};

#[cfg(not(target_arch = "wasm32"))]
use crate::data::Dataset;
use crate::error::{Error, Result};
#[cfg(not(target_arch = "wasm32"))]
use crate::gpu::adapter;
use crate::gpu::{Dispatch, Gpu, Tensor};
#[cfg(not(target_arch = "wasm32"))]
use crate::nn::Model;
#[cfg(not(target_arch = "wasm32"))]
use crate::nn::reference::Reference;
use crate::ops::conv2d::{self, Conv2dShape};
use crate::ops::loss::{self, Loss, LossBuffers};
use crate::ops::matmul::{self, MatmulShape, Operand, Variant};
use crate::ops::optim::{self, Adam};
use crate::ops::pool::{self, PoolKind, PoolShape};
use crate::ops::{Activation, Padding};
#[cfg(not(target_arch = "wasm32"))]
use crate::train::FitOptions;

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// Only this adapter (backend or part of its name); default: every adapter present.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Timed samples per kernel (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub samples: usize,
    /// Largest square matmul (default 4096 on GPUs, 1024 on CPU adapters).
    #[arg(long)]
    pub max_matmul: Option<usize>,
    /// Train each seed model this many times, a fresh model each time (warm-up epoch, then 5
    /// timed ones); its row is the median of all the timed epochs. On a noisy machine more
    /// runs spread over more time give a steadier figure.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub repeat: u16,
    /// Skip the end-to-end training figures.
    #[arg(long)]
    pub kernels_only: bool,
    /// The presets trained end to end, comma-separated: mlp, cnn, convnet, bn_cnn, cnn4.
    #[arg(long, value_delimiter = ',', default_value = "mlp,cnn,convnet,bn_cnn,cnn4")]
    pub models: Vec<String>,
    /// Only the kernel rows whose name contains this text (e.g. conv2d).
    #[arg(long)]
    pub filter: Option<String>,
    /// Directory for the JSON reports, one per adapter.
    #[arg(long, default_value = "bench-results")]
    pub out: PathBuf,
    /// Train a reference beside a seed model, alternating with it run by run (`--repeat` runs,
    /// each the reference's, then a fresh wgtrain model's): MODEL=COMMAND, e.g.
    /// `mlp=python3 benchmarks/keras_seed_models.py mlp`. The command runs in `sh -c` and must print a
    /// line with `N samples/s` (the last such line counts); the row reports both, run by run,
    /// and the median ratio of the pairs.
    #[arg(long, value_name = "MODEL=COMMAND")]
    pub reference: Vec<String>,
    /// Print two JSON reports side by side instead of measuring.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub compare: Option<Vec<PathBuf>>,
}

#[cfg(not(target_arch = "wasm32"))]
/// Runs the benchmark as `args` say.
pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(files) = &args.compare {
        let (a, b) = (Report::load(&files[0])?, Report::load(&files[1])?);
        print!("{}", report::compare(&a, &b));
        return Ok(());
    }
    references(args)?;
    let adapters = match &args.adapter {
        Some(wanted) => vec![adapter::select(Some(wanted))?],
        None => {
            let all = adapter::all();
            if all.is_empty() {
                return Err(Error::NoAdapter { tried: "Vulkan, Metal, DX12, GL".into() });
            }
            all
        }
    };
    std::fs::create_dir_all(&args.out).map_err(|source| Error::Io { path: args.out.clone(), source })?;
    // An adapter that fails (e.g. a GL driver that cannot open a device) does not cost the
    // others their reports; the run still ends with its error.
    let mut failure = None;
    for a in adapters {
        if let Err(e) = bench_and_save(a, args) {
            // A reference command that fails would fail beside every adapter.
            if matches!(e, Error::Reference { .. }) {
                return Err(e);
            }
            // The last failure is returned (and printed by the caller); earlier ones here.
            if let Some(earlier) = failure.replace(e) {
                eprintln!("error: {earlier}");
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

#[cfg(not(target_arch = "wasm32"))]
/// The seed models with a training row.
/// The presets the training rows can train.
const TRAINABLE: [&str; 5] = ["mlp", "cnn", "convnet", "bn_cnn", "cnn4"];

#[cfg(not(target_arch = "wasm32"))]
/// Samples of the bundled subset a training row trains on: fewer for the slower models on CPU
/// adapters, so that each row takes seconds.
fn training_samples(model: &str, cpu_adapter: bool) -> usize {
    match (model, cpu_adapter) {
        ("mlp", _) | (_, false) => 10_000,
        ("cnn4", true) => 640,
        _ => 2_000,
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// `--models` and `--reference` (as (model, command) pairs), checked.
fn references(args: &BenchArgs) -> Result<Vec<(&str, &str)>> {
    if let Some(m) = args.models.iter().find(|m| !TRAINABLE.contains(&m.as_str())) {
        return Err(Error::Invalid(format!("--models: no training row '{m}'; they are {}", TRAINABLE.join(", "))));
    }
    let trained: Vec<&str> = args.models.iter().map(String::as_str).collect();
    let pairs = args
        .reference
        .iter()
        .map(|r| match r.split_once('=') {
            Some((model, command)) if trained.contains(&model) && !command.trim().is_empty() => Ok((model, command)),
            _ => Err(Error::Invalid(format!(
                "--reference {r:?}: expected MODEL=COMMAND with MODEL one of {}",
                trained.join(", ")
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    if args.kernels_only && !pairs.is_empty() {
        return Err(Error::Invalid("--reference needs the training rows, which --kernels-only skips".into()));
    }
    Ok(pairs)
}

#[cfg(not(target_arch = "wasm32"))]
/// Runs a reference command and returns the samples/s it printed last.
fn run_reference(command: &str) -> Result<f64> {
    let fail = |reason: String| Error::Reference { command: command.into(), reason };
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .output()
        .map_err(|e| fail(format!("could not start: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output on stderr");
        return Err(fail(format!("{} ({})", out.status, last.trim())));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words
                .windows(2)
                .rev()
                .find_map(|w| w[1].starts_with("samples/s").then(|| w[0].parse::<f64>().ok()).flatten())
        })
        .ok_or_else(|| fail("printed no line with `N samples/s`".into()))
}

#[cfg(not(target_arch = "wasm32"))]
fn bench_and_save(adapter: wgpu::Adapter, args: &BenchArgs) -> Result<()> {
    let gpu = Arc::new(Gpu::open(adapter)?);
    println!("\n{}", gpu.describe());
    let report = bench_adapter(&gpu, args)?;
    print!("{}", report.table());
    let path = args.out.join(report.file_name());
    report.save(&path)?;
    println!("written: {}", path.display());
    Ok(())
}

fn random(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Largest elementwise error relative to the reference's largest magnitude.
fn max_error(got: &[f32], want: &[f64]) -> Result<f64> {
    let scale = want.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (f64::from(g) - w).abs() / scale;
        if !e.is_finite() || e > 1e-3 {
            return Err(Error::Gpu(format!("result check failed at element {i}: gpu {g}, cpu {w}")));
        }
        worst = worst.max(e);
    }
    Ok(worst)
}

struct Bench<'a> {
    gpu: &'a Gpu,
    timer: Timer,
    samples: usize,
    filter: Option<&'a str>,
    rows: Vec<KernelRow>,
}

impl Bench<'_> {
    fn wanted(&self, kernel: &str) -> bool {
        self.filter.is_none_or(|f| kernel.contains(f))
    }

    /// Times `dispatches` (already checked) and records a row.
    async fn row(
        &mut self,
        kernel: &str,
        shape: String,
        work: (f64, f64),
        dispatches: &[&Dispatch],
        check: (f64, Option<f64>),
    ) -> Result<()> {
        let seconds = self.timer.median_async(self.gpu, dispatches, self.samples).await?;
        let (flops, bytes) = work;
        let row = KernelRow {
            kernel: kernel.into(),
            shape,
            gpu_ms: seconds * 1e3,
            gflops: flops / seconds * 1e-9,
            gbps: bytes / seconds * 1e-9,
            cpu_ms: check.1.map(|s| s * 1e3),
            max_error: check.0,
        };
        crate::console::line(&format!("  {}", row.line()));
        self.rows.push(row);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // the row's product, and how its A is held and checked
    async fn matmul(
        &mut self,
        rng: &mut StdRng,
        name: &str,
        variant: Variant,
        shape: MatmulShape,
        act: Activation,
        cpu: bool,
        u8_a: bool,
    ) -> Result<()> {
        if !self.wanted(name) {
            return Ok(());
        }
        let gpu = self.gpu;
        let MatmulShape { m, n, k, .. } = shape;
        let (b, bias) = (random(rng, k * n), random(rng, n));
        let (tb, tbias, tc) = (gpu.upload_windowed("b", &b)?, gpu.upload("bias", &bias)?, gpu.zeros("c", m * n)?);
        // A as f32, or as bytes read as byte / 255 (a first Dense layer's input of u8 images).
        let (ta, a64, a_bytes) = if u8_a {
            let bytes: Vec<u8> = (0..m * k).map(|_| rng.random()).collect();
            (gpu.upload_bytes("a", &bytes)?, bytes.iter().map(|&v| f64::from(crate::data::unorm8(v))).collect(), m * k)
        } else {
            let a = random(rng, m * k);
            (gpu.upload("a", &a)?, f64s(&a), 4 * m * k)
        };
        let a_op = if u8_a { Operand::Unorm8(&ta) } else { Operand::F32(&ta) };
        let d = matmul::matmul_variant(gpu, variant, shape, a_op, &tb, Some(&tbias), act, &tc)?;
        gpu.run_async(&[&d]).await?;
        let got: Vec<f32> = gpu.read_async(&tc).await?;
        let (b64, bias64) = (f64s(&b), f64s(&bias));
        let check = if cpu {
            let mut want = Vec::new();
            let seconds = cpu_median(3, || want = matmul::cpu::matmul(shape, &a64, &b64, Some(&bias64), act));
            (max_error(&got, &want)?, Some(seconds))
        } else {
            // Too large for the f64 twin in reasonable time: check 256 sampled elements.
            let (mut got_s, mut want_s) = (Vec::new(), Vec::new());
            for s in 0..256 {
                let (i, j) = ((s * 7919) % m, (s * 104_729) % n);
                let sum = (0..k).fold(bias64[j], |acc, p| {
                    let av = if shape.trans_a { a64[p * m + i] } else { a64[i * k + p] };
                    let bv = if shape.trans_b { b64[j * k + p] } else { b64[p * n + j] };
                    acc + av * bv
                });
                got_s.push(got[i * n + j]);
                want_s.push(crate::ops::activation::cpu::apply(act, sum));
            }
            (max_error(&got_s, &want_s)?, None)
        };
        let bytes = (a_bytes + 4 * (k * n + m * n)) as f64;
        let label =
            format!("{m}×{n}×k{k}{}{}", if shape.trans_a { " Aᵀ" } else { "" }, if shape.trans_b { " Bᵀ" } else { "" });
        self.row(&format!("{name} {}", variant.name()), label, (shape.flops(), bytes), &[&d], check).await
    }

    /// A convolution's three passes, each followed by the same-size GEMM on the variant the
    /// matmul would take (forward [pixels, c_out] × k taps; input gradient [input pixels, c_in] ×
    /// k kh·kw·c_out; weight gradient [taps, c_out] × k pixels), so the rows compare rates on the
    /// same adapter; `first`: the model's first layer, whose input gradient is skipped. `cpu`: also time the f64 twin (small shapes); otherwise the passes are
    /// checked against it on sampled outputs only.
    async fn conv(&mut self, rng: &mut StdRng, model: &str, shape: Conv2dShape, first: bool, cpu: bool) -> Result<()> {
        if !self.wanted("conv2d") {
            return Ok(());
        }
        let gpu = self.gpu;
        let y_len = shape.y_len()?;
        let (x, w, b, dy) =
            (random(rng, shape.x_len()), random(rng, shape.weight_len()), random(rng, shape.c_out), random(rng, y_len));
        let (tx, tw, tb, tdy) =
            (gpu.upload("x", &x)?, gpu.upload("w", &w)?, gpu.upload("b", &b)?, gpu.upload("dy", &dy)?);
        let (ty, tdx, tdw) =
            (gpu.zeros("y", y_len)?, gpu.zeros("dx", shape.x_len())?, gpu.zeros("dw", shape.weight_len())?);
        let label = format!(
            "{model} n{} {}×{}×{} → {} {}×{}{}",
            shape.n,
            shape.h,
            shape.w,
            shape.c_in,
            shape.c_out,
            shape.kh,
            shape.kw,
            if shape.padding == Padding::Same { " same" } else { "" }
        );
        let flops = shape.flops()?;
        let (x64, w64, b64, dy64) = (f64s(&x), f64s(&w), f64s(&b), f64s(&dy));
        let cases: [(&str, Vec<Dispatch>, &Tensor, usize); 3] = [
            (
                "conv2d_forward",
                vec![conv2d::forward(gpu, &shape, &tx, &tw, Some(&tb), Activation::Relu, &ty)?],
                &ty,
                x.len() + w.len() + y_len,
            ),
            (
                "conv2d_backward_input",
                vec![conv2d::backward_input(gpu, &shape, &tdy, &tw, None, &tdx)?],
                &tdx,
                y_len + w.len() + x.len(),
            ),
            (
                "conv2d_backward_weight",
                conv2d::backward_weight(gpu, &shape, &tx, &tdy, &tdw, None)?,
                &tdw,
                x.len() + y_len + w.len(),
            ),
        ];
        let taps = shape.kh * shape.kw * shape.c_in;
        let pixels = y_len / shape.c_out;
        let gemms = [
            MatmulShape::new(pixels, shape.c_out, taps),
            MatmulShape::new(shape.x_len() / shape.c_in, shape.c_in, shape.kh * shape.kw * shape.c_out),
            MatmulShape { m: taps, n: shape.c_out, k: pixels, trans_a: true, trans_b: false },
        ];
        for ((name, ds, out, words), gemm) in cases.into_iter().zip(gemms) {
            // A first layer's input gradient is never computed.
            if name == "conv2d_backward_input" && first {
                continue;
            }
            let d: Vec<&Dispatch> = ds.iter().collect();
            gpu.run_async(&d).await?;
            let got: Vec<f32> = gpu.read_async(out).await?;
            let mut want = Vec::new();
            let twin = || match name {
                "conv2d_forward" => conv2d::cpu::forward(&shape, &x64, &w64, Some(&b64), Activation::Relu),
                "conv2d_backward_input" => conv2d::cpu::backward_input(&shape, &dy64, &w64),
                _ => conv2d::cpu::backward_weight(&shape, &x64, &dy64),
            };
            let check = if cpu {
                let seconds = cpu_median(3, || want = twin());
                (max_error(&got, &want)?, Some(seconds))
            } else {
                (max_error(&got, &twin())?, None)
            };
            self.row(name, label.clone(), (flops, 4.0 * words as f64), &d, check).await?;
            let variant = Variant::for_shape(gpu, &gemm);
            self.matmul(rng, &format!("{name} same-size gemm"), variant, gemm, Activation::Linear, false, false)
                .await?;
        }
        Ok(())
    }

    async fn pool(&mut self, rng: &mut StdRng, shape: PoolShape) -> Result<()> {
        if !self.wanted("pool_max") {
            return Ok(());
        }
        let gpu = self.gpu;
        let y_len = shape.y_len()?;
        let (x, dy) = (random(rng, shape.x_len()), random(rng, y_len));
        let (tx, tdy) = (gpu.upload("x", &x)?, gpu.upload("dy", &dy)?);
        let (ty, targ, tdx) = (gpu.zeros("y", y_len)?, gpu.zeros("argmax", y_len)?, gpu.zeros("dx", x.len())?);
        let fwd = pool::forward(gpu, PoolKind::Max, &shape, &tx, &ty, &targ, None)?;
        let bwd = pool::backward(gpu, PoolKind::Max, &shape, [&ty, &targ], &tdy, None, None, &tdx)?;
        gpu.run_async(&[&fwd, &bwd]).await?;
        let (x64, dy64) = (f64s(&x), f64s(&dy));
        let label = format!("n{} {}×{}×{} pool {}×{}", shape.n, shape.h, shape.w, shape.c, shape.pool_h, shape.pool_w);
        let mut want = Vec::new();
        let s = cpu_median(3, || want = pool::cpu::forward(PoolKind::Max, &shape, &x64).0);
        let check = (max_error(&gpu.read_async(&ty).await?, &want)?, Some(s));
        self.row(
            "pool_max_forward",
            label.clone(),
            (x.len() as f64, 4.0 * (x.len() + 2 * y_len) as f64),
            &[&fwd],
            check,
        )
        .await?;
        let s = cpu_median(3, || want = pool::cpu::backward(PoolKind::Max, &shape, &x64, &dy64));
        let check = (max_error(&gpu.read_async(&tdx).await?, &want)?, Some(s));
        self.row("pool_max_backward", label, (x.len() as f64, 4.0 * (x.len() + 2 * y_len) as f64), &[&bwd], check).await
    }

    async fn softmax_ce(&mut self, rng: &mut StdRng, rows: usize, cols: usize) -> Result<()> {
        if !self.wanted("loss_softmax_cross_entropy") {
            return Ok(());
        }
        let gpu = self.gpu;
        let logits: Vec<f32> = random(rng, rows * cols).iter().map(|v| v * 5.0).collect();
        let targets: Vec<f32> = (0..rows * cols).map(|i| f32::from(u8::from(i % cols == (i / cols) % cols))).collect();
        let (tl, tt, tdx) =
            (gpu.upload("logits", &logits)?, gpu.upload("targets", &targets)?, gpu.zeros("dx", rows * cols)?);
        let bufs = LossBuffers::new(gpu, rows)?;
        // The loss with its accumulation into the totals: one dispatch up to 256 rows, two past.
        let step = loss::step(gpu, Loss::SoftmaxCrossEntropy, cols, &tl, &tt, &tdx, &bufs, None)?;
        let step: Vec<&Dispatch> = step.iter().collect();
        gpu.run_async(&step).await?;
        let (l64, t64) = (f64s(&logits), f64s(&targets));
        let mut want = Vec::new();
        let s = cpu_median(3, || want = loss::cpu::forward(Loss::SoftmaxCrossEntropy, cols, &l64, &t64, rows).dx);
        let check = (max_error(&gpu.read_async(&tdx).await?, &want)?, Some(s));
        let work = (4.0 * (rows * cols) as f64, 4.0 * (3 * rows * cols + 2 * rows) as f64);
        self.row("loss_softmax_cross_entropy", format!("{rows}×{cols}"), work, &step, check).await
    }

    async fn bias_grad(&mut self, rng: &mut StdRng, rows: usize, cols: usize) -> Result<()> {
        if !self.wanted("matmul_bias_grad") {
            return Ok(());
        }
        let gpu = self.gpu;
        let dy = random(rng, rows * cols);
        let (tdy, tdb) = (gpu.upload("dy", &dy)?, gpu.zeros("db", cols)?);
        let d = matmul::bias_grad(gpu, rows, cols, &tdy, &tdb)?;
        gpu.run_async(&[&d]).await?;
        let dy64 = f64s(&dy);
        let mut want = Vec::new();
        let s = cpu_median(3, || want = matmul::cpu::bias_grad(rows, cols, &dy64));
        let check = (max_error(&gpu.read_async(&tdb).await?, &want)?, Some(s));
        let work = ((rows * cols) as f64, 4.0 * (rows * cols + cols) as f64);
        self.row("matmul_bias_grad", format!("{rows}×{cols}"), work, &[&d], check).await
    }

    async fn relu_backward(&mut self, rng: &mut StdRng, len: usize) -> Result<()> {
        if !self.wanted("activation_backward") {
            return Ok(());
        }
        let gpu = self.gpu;
        let (y, dy) = (random(rng, len), random(rng, len));
        let (ty, tdy, tdx) = (gpu.upload("y", &y)?, gpu.upload("dy", &dy)?, gpu.zeros("dx", len)?);
        let d = crate::ops::activation::backward(gpu, Activation::Relu, &ty, &tdy, &tdx)?;
        gpu.run_async(&[&d]).await?;
        let (y64, dy64) = (f64s(&y), f64s(&dy));
        let mut want = Vec::new();
        let s = cpu_median(3, || want = crate::ops::activation::cpu::backward(Activation::Relu, &y64, &dy64));
        let check = (max_error(&gpu.read_async(&tdx).await?, &want)?, Some(s));
        self.row("activation_backward relu", format!("{len}"), (len as f64, 12.0 * len as f64), &[&d], check).await
    }

    async fn adam(&mut self, rng: &mut StdRng, len: usize) -> Result<()> {
        if !self.wanted("optim_adam") {
            return Ok(());
        }
        let gpu = self.gpu;
        let (p, g) = (random(rng, len), random(rng, len));
        let (tp, tg, tm, tv) = (gpu.upload("p", &p)?, gpu.upload("g", &g)?, gpu.zeros("m", len)?, gpu.zeros("v", len)?);
        let step = gpu.upload("step", &[1u32])?;
        let cfg = Adam::default();
        let rate = gpu.upload("learning_rate", &[1e-3f32])?;
        let d = optim::adam(gpu, &cfg, &rate, &tp, &tg, &tm, &tv, &step)?;
        gpu.run_async(&[&d]).await?;
        let got: Vec<f32> = gpu.read_async(&tp).await?;
        let g64 = f64s(&g);
        let mut want = Vec::new();
        let s = cpu_median(3, || {
            want = f64s(&p);
            let (mut m, mut v) = (vec![0.0; len], vec![0.0; len]);
            optim::cpu::adam(&cfg, f64::from(1e-3f32), &mut want, &g64, &mut m, &mut v, 0);
        });
        let check = (max_error(&got, &want)?, Some(s));
        self.row("optim_adam", format!("{len} parameters"), (12.0 * len as f64, 4.0 * 7.0 * len as f64), &[&d], check)
            .await
    }
}

/// What the kernel rows measure: samples per row, the largest square matmul, a name filter.
#[derive(Clone, Debug)]
pub struct KernelBench {
    pub samples: usize,
    /// Default 4096 on GPUs, 1024 on CPU adapters.
    pub max_matmul: Option<usize>,
    pub filter: Option<String>,
}

/// Every kernel row on `gpu`, each checked against its CPU twin before it is timed; the timer
/// says how they were timed.
pub async fn kernels(gpu: &Gpu, settings: &KernelBench) -> Result<(Vec<KernelRow>, Timer)> {
    let max_matmul = settings.max_matmul.unwrap_or(if gpu.tuning.cpu_adapter { 1024 } else { 4096 });
    let mut b = Bench {
        gpu,
        timer: Timer::new(gpu),
        samples: settings.samples,
        filter: settings.filter.as_deref(),
        rows: Vec::new(),
    };
    let mut rng = StdRng::seed_from_u64(1);
    let say = crate::console::line;
    say(&format!(
        "kernels (timing: {}, median of {} samples; cpu = the f64 CPU twin):",
        b.timer.method(),
        settings.samples
    ));
    say(&format!("matmul variant for shapes off multiples of 4 on this adapter: {}", Variant::for_gpu(gpu).name()));
    for n in [128, 256, 512, 1024, 2048, 4096].into_iter().filter(|&n| n <= max_matmul) {
        for variant in Variant::runnable(gpu, &MatmulShape::new(n, n, n)) {
            b.matmul(&mut rng, "matmul", variant, MatmulShape::new(n, n, n), Activation::Linear, n <= 512, false)
                .await?;
        }
    }
    // The seed models' Dense shapes at their batch sizes: forward, dw = xᵀ·dz, dx = dz·wᵀ.
    let dense = |m, n, k| MatmulShape::new(m, n, k);
    let dw = |m, n, k| MatmulShape { m, n, k, trans_a: true, trans_b: false };
    let dx = |m, n, k| MatmulShape { m, n, k, trans_a: false, trans_b: true };
    // The seed MLP's first layer reads its input batch of u8 images as bytes (`InputForm`).
    for (name, shape) in [("matmul mlp forward u8 A", dense(32, 128, 784)), ("matmul mlp dw u8 A", dw(784, 128, 32))] {
        for variant in Variant::candidates(gpu, &shape) {
            b.matmul(&mut rng, name, variant, shape, Activation::Relu, true, true).await?;
        }
    }
    for (name, shape, act) in [
        ("matmul mlp forward", dense(32, 128, 784), Activation::Relu),
        ("matmul mlp dw", dw(784, 128, 32), Activation::Linear),
        ("matmul mlp out forward", dense(32, 10, 128), Activation::Linear),
        ("matmul mlp out dw", dw(128, 10, 32), Activation::Linear),
        ("matmul mlp dx", dx(32, 128, 10), Activation::Linear),
        ("matmul mlp_sgd forward", dense(128, 512, 784), Activation::Relu),
        ("matmul mlp_sgd hidden", dense(128, 512, 512), Activation::Relu),
        ("matmul mlp_sgd out dw", dw(512, 10, 128), Activation::Linear),
        ("matmul cnn dense forward", dense(32, 128, 5408), Activation::Relu),
        ("matmul cnn dense dw", dw(5408, 128, 32), Activation::Linear),
    ] {
        for variant in Variant::candidates(gpu, &shape) {
            b.matmul(&mut rng, name, variant, shape, act, true, false).await?;
        }
    }
    // Every convolution of the convolutional presets at their batch sizes.
    for preset in
        [crate::presets::cnn([28, 28, 1]), crate::presets::convnet(), crate::presets::bn_cnn(), crate::presets::cnn4()]
    {
        for (i, shape) in conv_shapes(&preset)?.into_iter().enumerate() {
            let small = shape.flops()? <= 5e7;
            b.conv(&mut rng, &format!("{} conv{}", preset.name, i + 1), shape, i == 0, small).await?;
        }
    }
    let seed_pool = PoolShape {
        n: 32,
        h: 26,
        w: 26,
        c: 32,
        pool_h: 2,
        pool_w: 2,
        stride_h: 2,
        stride_w: 2,
        padding: Padding::Valid,
    };
    b.pool(&mut rng, seed_pool).await?;
    b.bias_grad(&mut rng, 32, 128).await?;
    b.bias_grad(&mut rng, 32 * 26 * 26, 32).await?;
    b.relu_backward(&mut rng, 32 * 26 * 26 * 32).await?;
    b.softmax_ce(&mut rng, 32, 10).await?;
    b.softmax_ce(&mut rng, 1024, 1000).await?;
    b.adam(&mut rng, 101_770).await?;
    b.adam(&mut rng, 693_962).await?;
    Ok((b.rows, b.timer))
}

/// The kernel rows, then the training rows (unless `--kernels-only`).
#[cfg(not(target_arch = "wasm32"))]
fn bench_adapter(gpu: &Arc<Gpu>, args: &BenchArgs) -> Result<Report> {
    let settings = KernelBench { samples: args.samples, max_matmul: args.max_matmul, filter: args.filter.clone() };
    let (rows, timer) = pollster::block_on(kernels(gpu, &settings))?;
    let mut training = Vec::new();
    if !args.kernels_only {
        println!("training (presets on the bundled Fashion-MNIST subset; cpu = the f64 CPU twin of a step):");
        let data = crate::data::find::idx_data(Some(std::path::Path::new(crate::data::find::BUNDLED)))?;
        let references = references(args)?;
        for model in &args.models {
            let preset = crate::presets::by_name(model)?;
            let runs = usize::from(args.repeat);
            let reference = references.iter().find(|(name, _)| *name == preset.name).map(|r| r.1);
            let data = data.train.take(training_samples(model, gpu.tuning.cpu_adapter));
            let row = bench_training(gpu, &timer, args.samples, runs, &preset, &data, reference)?;
            println!("  {}", row.line());
            if let Some(reference) = &row.reference {
                println!("  {}", reference.line());
            }
            print!("{}", row.profile());
            training.push(row);
        }
    }
    Ok(Report::new(gpu, timer.method(), rows, training))
}

/// Every Conv2D of `preset`, as it runs at the preset's batch size.
fn conv_shapes(preset: &crate::presets::Preset) -> Result<Vec<Conv2dShape>> {
    let mut input = preset.model.input_shape.clone();
    let mut shapes = Vec::new();
    for layer in &preset.model.layers {
        if let crate::nn::Layer::Conv2D(conv) = layer {
            shapes.push(conv.conv_shape(&input, preset.batch_size));
        }
        input = layer.output_shape(&input)?;
    }
    Ok(shapes)
}

#[cfg(not(target_arch = "wasm32"))]
/// Epochs timed per training row, after a warm-up epoch that compiles the pipelines.
const TIMED_EPOCHS: usize = 5;

#[cfg(not(target_arch = "wasm32"))]
/// Samples/s of the seed model's training: the median of `TIMED_EPOCHS` epochs after a warm-up
/// one in each of `runs` fresh models, and of its CPU twin over a few steps.
fn bench_training(
    gpu: &Arc<Gpu>,
    timer: &Timer,
    samples: usize,
    runs: usize,
    preset: &crate::presets::Preset,
    data: &Dataset,
    reference: Option<&str>,
) -> Result<TrainingRow> {
    let opts = FitOptions { batch_size: preset.batch_size, epochs: 1 + TIMED_EPOCHS, ..FitOptions::default() };
    let mut epoch_sps = Vec::new();
    let mut beside = reference.map(|command| ReferenceRuns {
        command: command.into(),
        samples_per_second: Vec::new(),
        wgtrain_samples_per_second: Vec::new(),
    });
    let mut model = Model::new(gpu.clone(), preset.model.clone(), preset.compile.clone())?;
    for run in 0..runs {
        if let Some(b) = &mut beside {
            b.samples_per_second.push(run_reference(&b.command)?);
        }
        if run > 0 {
            model = Model::new(gpu.clone(), preset.model.clone(), preset.compile.clone())?;
        }
        let history = model.fit(data, &opts)?;
        let timed: Vec<f64> = history.epochs[1..].iter().map(|e| e.samples_per_second).collect();
        if let Some(b) = &mut beside {
            b.wgtrain_samples_per_second.push(median(&timed));
        }
        epoch_sps.extend(timed);
    }
    let sps = median(&epoch_sps);
    let profile = model.profile_step(data, preset.batch_size, &mut |d| timer.median(gpu, d, samples))?;
    let mut reference = Reference::new(&model)?;
    let batch = preset.batch_size;
    let x: Vec<f64> = match &data.features {
        crate::data::Features::U8(v) => {
            v[..batch * data.sample_len()].iter().map(|&p| f64::from(crate::data::unorm8(p))).collect()
        }
        crate::data::Features::F32(v) => f64s(&v[..batch * data.sample_len()]),
    };
    let t: Vec<f64> = (0..batch * 10).map(|i| f64::from(u8::from(i % 10 == 3))).collect();
    let steps = 3;
    let cpu_seconds = cpu_median(1, || {
        for _ in 0..steps {
            reference.train_step(&x, &t, batch);
        }
    });
    Ok(TrainingRow {
        model: preset.name.clone(),
        batch,
        samples: data.len(),
        samples_per_second: sps,
        seconds_per_60k_epoch: 60_000.0 / sps,
        epoch_samples_per_second: epoch_sps,
        runs,
        cpu_samples_per_second: (steps * batch) as f64 / cpu_seconds,
        step_kernels_ms: profile.kernels.iter().map(|&(e, s)| (e.to_string(), s * 1e3)).collect(),
        step_ms: profile.step * 1e3,
        reference: beside,
    })
}

#[cfg(not(target_arch = "wasm32"))]
/// The middle value (the upper middle one of an even count, as the timed rows always took).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
