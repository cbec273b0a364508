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
