//! The `wgtrain` binary: output, exit codes, and one clear error line on failure.

use std::process::{Command, Output};

fn wgtrain(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wgtrain"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn adapters_lists_every_adapter_with_limits_and_features() {
    let out = wgtrain(&["adapters"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(stdout.matches("max_storage_buffer_binding_size").count(), wgtrain::gpu::adapter::all().len());
    assert!(stdout.contains("TIMESTAMP_QUERY") && stdout.contains("SHADER_F16"), "{stdout}");
    assert_eq!(stdout.matches("[default]").count(), 1, "{stdout}");
}

#[test]
fn llvmpipe_workers_are_two_per_core_unless_lp_num_threads_is_set() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wgtrain"));
    let out = cmd.arg("adapters").env_remove("LP_NUM_THREADS").output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let llvmpipe = wgtrain::gpu::adapter::all().iter().filter(|a| a.get_info().name.contains("llvmpipe")).count();
    let default = format!("worker threads: LP_NUM_THREADS={}", 2 * cores);
    assert_eq!(stdout.matches(&default).count(), llvmpipe, "{stdout}");
    assert_eq!(stdout.matches("worker threads:").count(), llvmpipe, "{stdout}");
    let out = wgtrain(&["adapters"], &[("LP_NUM_THREADS", "3")]);
    assert_eq!(
        text(&out.stdout).matches("worker threads: LP_NUM_THREADS=3").count(),
        llvmpipe,
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn no_adapter_is_one_clear_error_line_and_a_failure_exit() {
    // No Metal on the machines the tests run on: the search finds nothing.
    let out = wgtrain(&["adapters"], &[("WGPU_BACKEND", "metal")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wgtrain: error:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("no GPU adapter found") && lines[0].contains("mesa-vulkan-drivers"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_adapter_that_matches_nothing_is_refused_listing_those_present() {
    let err = wgtrain::gpu::adapter::select(Some("no-such-gpu")).unwrap_err().to_string();
    assert!(err.contains("no adapter matches 'no-such-gpu'") && err.contains("available:"), "{err}");
}

#[test]
fn adapters_are_chosen_by_backend_name() {
    use wgtrain::gpu::adapter;
    for present in adapter::all() {
        let backend = present.get_info().backend;
        let chosen = adapter::select(Some(adapter::backend_name(backend))).unwrap();
        assert_eq!(chosen.get_info().backend, backend);
    }
}

/// An example's binary, built by `cargo test` next to this test's own.
fn example(name: &str) -> Command {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    Command::new(deps.parent().unwrap().join("examples").join(name))
}

#[test]
fn train_mlp_runs_on_the_bundled_data_and_reports_test_accuracy() {
    let out = example("train_mlp")
        .args(["--epochs", "1", "--quiet", "--data", wgtrain::data::find::BUNDLED])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("10000 train / 2000 test samples"), "{stdout}");
    let accuracy: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("test: loss ").and_then(|r| r.split("accuracy ").nth(1)))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no test accuracy in: {stdout}"));
    assert!(accuracy > 0.7, "one epoch on 8 000 images reached only {accuracy}");
}

#[test]
fn binary_classifier_writes_its_data_when_missing_then_trains() {
    let dir = std::env::temp_dir().join(format!("wgtrain-cli-binary-{}", std::process::id()));
    let out = example("binary_classifier").args(["--epochs", "3", "--data"]).arg(&dir).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("wrote synthetic data") && dir.join("X_train.npy").is_file(), "{stdout}");
    assert!(stdout.contains("epoch   3"), "{stdout}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_example_given_a_missing_data_directory_fails_with_one_line() {
    let out = example("train_mlp").args(["--data", "/nonexistent/wgtrain"]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.lines().any(|l| l
            .starts_with("error: /nonexistent/wgtrain: does not exist; expected a directory of MNIST-format files")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn train_cnn_trains_the_seed_64x64_rgb_configuration() {
    let out = example("train_cnn")
        .args(["--rgb64", "--epochs", "1", "--limit", "64", "--quiet", "--data", wgtrain::data::find::BUNDLED])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("64 train / 64 test images upscaled to 64×64×3"), "{stdout}");
    assert!(stdout.contains("test: loss") && stdout.contains("(64 samples)"), "{stdout}");
}

#[test]
fn train_convnet_trains_the_convnet_and_the_batch_norm_cnn() {
    for (flags, summary) in [(&[][..], "dropout (Dropout)"), (&["--bn"][..], "global_average_pooling2d")] {
        let out = example("train_convnet")
            .args(flags)
            .args(["--epochs", "2", "--limit", "256", "--data", wgtrain::data::find::BUNDLED])
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
        assert!(stdout.contains(summary) && stdout.contains("epoch   2 -"), "{stdout}");
        assert!(stdout.contains("test: loss") && stdout.contains("(256 samples)"), "{stdout}");
    }
}

#[test]
fn bench_measures_checked_kernels_writes_json_and_compares_reports() {
    let dir = std::env::temp_dir().join(format!("wgtrain-bench-{}", std::process::id()));
    let dir_s = dir.to_str().unwrap();
    let out = wgtrain(&["bench", "--kernels-only", "--filter", "loss", "--samples", "1", "--out", dir_s], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("loss_softmax_cross_entropy") && stdout.contains("GFLOP/s"), "{stdout}");
    let reports: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(reports.len(), wgtrain::gpu::adapter::all().len(), "one JSON report per adapter");
    let report = wgtrain::bench::Report::load(&reports[0]).unwrap();
    assert_eq!(report.kernels.len(), 2, "the two softmax-CE shapes");
    assert!(report.kernels.iter().all(|k| k.gpu_ms > 0.0 && k.max_error < 1e-5));

    let a = reports[0].to_str().unwrap();
    let out = wgtrain(&["bench", "--compare", a, a], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success() && stdout.matches("1.00×").count() == 2, "{stdout}");

    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{").unwrap();
    let out = wgtrain(&["bench", "--compare", a, bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a wgtrain benchmark report"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_training_rows_say_how_many_runs_they_pool() {
    // The committed reports predate `--repeat`: they load as one run each.
    let committed = concat!(env!("CARGO_MANIFEST_DIR"), "/benchmarks/vulkan-llvmpipe-llvm-15-0-6-256-bits.json");
    let mut row = wgtrain::bench::Report::load(std::path::Path::new(committed)).unwrap().training.remove(0);
    assert_eq!(row.runs, 1);
    row.epoch_samples_per_second = vec![900.0, 1000.0, 1100.0, 1200.0, 1300.0, 1400.0];
    assert_eq!(row.spread(), " (median of 6 epochs, 900–1400)");
    row.runs = 2;
    assert_eq!(row.spread(), " (median of 6 epochs in 2 runs, 900–1400)");
    // Zero runs is refused before anything is measured.
    let out = wgtrain(&["bench", "--repeat", "0"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn bench_trains_a_reference_beside_a_seed_model_run_by_run() {
    let dir = std::env::temp_dir().join(format!("wgtrain-bench-ref-{}", std::process::id()));
    let dir_s = dir.to_str().unwrap();
    // The last `N samples/s` the command prints counts.
    let reference = "mlp=echo warm-up 1 samples/s; echo keras 2000 samples/s; echo done";
    // One adapter: the option's plumbing is the same on each (every kernel row runs on all in
    // the test above).
    let backend = format!("{:?}", wgtrain::gpu::adapter::all()[0].get_info().backend).to_lowercase();
    let args = [
        "bench",
        "--adapter",
        &backend,
        "--filter",
        "none",
        "--models",
        "mlp,cnn",
        "--repeat",
        "2",
        "--reference",
        reference,
    ];
    let out = wgtrain(&[&args[..], &["--out", dir_s]].concat(), &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for path in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
        let report = wgtrain::bench::Report::load(&path).unwrap();
        let mlp = report.training.iter().find(|r| r.model == "mlp").unwrap();
        let beside = mlp.reference.as_ref().expect("the MLP row has its reference");
        assert_eq!(beside.samples_per_second, [2000.0, 2000.0]);
        assert_eq!(beside.wgtrain_samples_per_second.len(), 2);
        let want: Vec<f64> = beside.wgtrain_samples_per_second.iter().map(|w| w / 2000.0).collect();
        assert_eq!(beside.ratios(), want);
        assert!(report.training.iter().find(|r| r.model == "cnn").unwrap().reference.is_none());
    }
    assert!(stdout.contains("wgtrain / reference") && stdout.contains("(median "), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();

    // A reference that fails, prints no figure, or names no trained model: one error line.
    for (reference, says) in [
        ("mlp=echo oops >&2; exit 3", "oops"),
        ("mlp=echo fast", "printed no line with `N samples/s`"),
        ("rnn=echo 1 samples/s", "MODEL one of mlp, cnn, convnet, bn_cnn, cnn4"),
    ] {
        let out = wgtrain(&["bench", "--filter", "none", "--reference", reference, "--out", dir_s], &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{reference}: {stderr}");
        assert!(stderr.contains(says) && stderr.trim().lines().count() == 1, "{reference}: {stderr}");
    }
    let out = wgtrain(&["bench", "--filter", "none", "--models", "mlp,rnn", "--out", dir_s], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no training row 'rnn'") && stderr.trim().lines().count() == 1, "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn checkpoint_dir_saves_last_and_best_and_resume_continues() {
    let dir = std::env::temp_dir().join(format!("wgtrain-cli-ckpt-{}", std::process::id()));
    let run = |epochs: &str, resume: bool| {
        let mut cmd = example("train_mlp");
        cmd.args(["--epochs", epochs, "--limit", "500", "--data", wgtrain::data::find::BUNDLED, "--checkpoint-dir"]);
        cmd.arg(&dir);
        if resume {
            cmd.arg("--resume");
        }
        let out = cmd.output().unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
        stdout
    };
    let first = run("1", false);
    assert!(dir.join("last.safetensors").is_file() && dir.join("best.safetensors").is_file(), "{first}");
    let second = run("2", true);
    assert!(second.contains("resuming after epoch 1 (step 13)"), "{second}");
    assert!(second.contains("Epoch 2/2") && !second.contains("Epoch 1/2"), "{second}");
    std::fs::remove_dir_all(dir).ok();
}

/// `wgtrain check --quick` on every adapter: a table per adapter, every check passing, and a
/// JSON report naming each adapter, its driver and limits.
#[test]
fn check_passes_on_every_adapter_and_writes_a_json_report() {
    let dir = std::env::temp_dir().join(format!("wgtrain-check-{}", std::process::id()));
    let json = dir.join("check.json");
    let out = wgtrain(&["check", "--quick", "--json", json.to_str().unwrap()], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\nstderr: {}", text(&out.stderr));
    let adapters = wgtrain::gpu::adapter::all().len();
    let checks = wgtrain::check::all().len();
    assert_eq!(stdout.matches(" checks passed").count(), adapters, "{stdout}");
    assert!(stdout.contains("matmul                   vec4-16x8") && stdout.contains("training step"), "{stdout}");
    let reports: Vec<wgtrain::check::AdapterReport> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(reports.len(), adapters);
    for r in &reports {
        assert!(r.passed() && r.quick && r.checks.len() == checks);
        assert!(!r.adapter.name.is_empty() && r.limits.max_storage_buffer_binding_size > 0);
        // Every check runs cases but a variant the device lacks, which says so: only the
        // kernels sharing loads across subgroups, and never on lavapipe, which has 8-wide ones.
        let subgroup_kernels = "matmul/vec4-16x8-subgroup, conv2d_forward/gemm-subgroup, \
            conv2d_backward_input/gemm-subgroup, conv2d_backward_weight/long gemm-subgroup";
        for c in &r.checks {
            assert!(c.passed() && (c.cases > 0) == c.not_here.is_none(), "{c:?}");
            let lavapipe = r.adapter.backend == "Vulkan" && r.adapter.name.starts_with("llvmpipe");
            assert!(c.not_here.is_none() || (subgroup_kernels.contains(&c.name()) && !lavapipe), "{c:?}");
        }
        let ran = checks - r.checks.iter().filter(|c| c.not_here.is_some()).count();
        let not_here = match ran < checks {
            true => format!("; not on this device, its subgroups are not 8 invocations wide: {subgroup_kernels}"),
            false => String::new(),
        };
        assert!(stdout.contains(&format!("all {ran} checks passed{not_here}")), "{stdout}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A deliberately broken kernel (its dispatches one workgroup short) fails exactly the checks of
/// the variants that use it, with the case named, and the run exits 1 naming them. On CPU
/// adapters the wide conv2d weight-gradient plan (on the direct kernel and on the GEMM) runs in
/// no training step, so nothing else may fail.
#[test]
fn check_reports_a_broken_kernel_and_nothing_else() {
    let adapters = wgtrain::gpu::adapter::all();
    let cpu = adapters.iter().map(|a| a.get_info()).find(|i| i.device_type == wgpu::DeviceType::Cpu);
    let name = cpu.expect("a CPU adapter (lavapipe or llvmpipe)").name;
    let out = wgtrain(
        &["check", "--quick", "--adapter", &name],
        &[("WGTRAIN_BREAK_KERNEL", "conv2d_backward_weight_reduce_wide")],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let failed: Vec<&str> = stdout.lines().filter(|l| l.ends_with("FAIL")).collect();
    assert_eq!(failed.len(), 2, "{stdout}");
    assert!(failed[0].starts_with("conv2d_backward_weight   wide direct"), "{stdout}");
    assert!(failed[1].starts_with("conv2d_backward_weight   wide gemm-4x4"), "{stdout}");
    assert!(
        stdout.contains("2 of")
            && stdout.contains("conv2d_backward_weight/wide direct: conv2d_backward_weight direct Wide")
            && stdout.contains("conv2d_backward_weight/wide gemm-4x4: conv2d_backward_weight gemm-4x4 Wide"),
        "{stdout}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wgtrain: error:")).collect();
    let want = format!(
        "wgtrain: error: check failed: conv2d_backward_weight/wide direct on {name}, \
         conv2d_backward_weight/wide gemm-4x4 on {name}"
    );
    assert_eq!(errors, [want], "{stderr}");
}
