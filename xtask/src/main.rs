//! wgtrain's project tasks, after wgpu's `cargo xtask run-wasm`:
//!
//! - `cargo xtask web build`: the page's static files into `target/web/` (index.html, app.js,
//!   the wasm module and its bindings, the bundled Fashion-MNIST subset).
//! - `cargo xtask web serve [--port N]`: serves them on http://127.0.0.1:N/ (8000).
//! - `cargo xtask web test`: the browser tests, headless: `tests/web.rs` in Chromium through
//!   wasm-bindgen-test-runner, then the page itself, trained from its URL, and the page in a
//!   browser without WebGPU.
//! - `cargo xtask web bench [--filter TEXT] [--out FILE]`: the page's kernel benchmark in
//!   headless Chromium, its JSON report written to FILE (target/web/bench-browser.json);
//!   `--train MODEL [--epochs N] [--limit N]`: the page trains instead, its epoch lines printed.
//!
//! Needs the wasm32 target, wasm-bindgen-cli at the version Cargo.lock holds, and for the
//! tests Chromium and chromedriver (`$CHROME`, `$CHROMEDRIVER`, default /usr/bin/...).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use std::{env, fs, thread};

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["web", "build"] => build().map(|_| ()),
        ["web", "serve", ref rest @ ..] => port(rest).and_then(serve_forever),
        ["web", "test"] => test(),
        ["web", "bench", ref rest @ ..] => bench(rest),
        _ => Err("usage: cargo xtask web build | serve [--port N] | test | \
                  bench [--filter TEXT] [--out FILE] | bench --train MODEL [--epochs N] [--limit N]"
            .into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the repository").to_path_buf()
}

fn web_dir() -> PathBuf {
    root().join("target/web")
}

fn flag<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.iter().position(|a| *a == name).and_then(|i| args.get(i + 1).copied())
}

fn port(args: &[&str]) -> Result<u16> {
    flag(args, "--port").map_or(Ok(8000), |p| p.parse().map_err(|_| format!("--port {p}: not a port number")))
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().map_err(|e| format!("{command:?}: {e}"))?;
    status.success().then_some(()).ok_or_else(|| format!("{command:?} failed ({status})"))
}

/// The wasm-bindgen version Cargo.lock holds: the CLI must be the same.
fn locked_wasm_bindgen() -> Result<String> {
    let lock = fs::read_to_string(root().join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            let version = lines.next().and_then(|l| l.strip_prefix("version = \"")?.strip_suffix('"'));
            return version.map(str::to_string).ok_or_else(|| "Cargo.lock: wasm-bindgen without a version".into());
        }
    }
    Err("Cargo.lock holds no wasm-bindgen".into())
}

fn check_wasm_bindgen_cli(version: &str) -> Result<()> {
    let install = format!("cargo install wasm-bindgen-cli --version {version}");
    let out = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .map_err(|_| format!("wasm-bindgen is not installed: {install}"))?;
    let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if found != format!("wasm-bindgen {version}") {
        return Err(format!("{found} found, the crate is on {version}: {install}"));
    }
    Ok(())
}

/// Builds the page into target/web/.
fn build() -> Result<PathBuf> {
    let root = root();
    check_wasm_bindgen_cli(&locked_wasm_bindgen()?)?;
    run(Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into())).current_dir(&root).args([
        "rustc",
        "--lib",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
        "--crate-type",
        "cdylib",
    ]))?;
    let out = web_dir();
    let _ = fs::remove_dir_all(&out);
    let wasm = root.join("target/wasm32-unknown-unknown/release/wgtrain.wasm");
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(out.join("pkg"))
        .arg(&wasm))?;
    let copy = |from: &Path, to: &Path| {
        fs::create_dir_all(to.parent().unwrap())
            .and_then(|_| fs::copy(from, to))
            .map_err(|e| format!("{}: {e}", from.display()))
    };
    for file in ["index.html", "app.js"] {
        copy(&root.join("web").join(file), &out.join(file))?;
    }
    let data = root.join("assets/fashion-mnist");
    for entry in fs::read_dir(&data).map_err(|e| format!("{}: {e}", data.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        copy(&path, &out.join("data/fashion-mnist").join(path.file_name().unwrap()))?;
    }
    println!("page written to {}", out.display());
    Ok(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        // The page decompresses the IDX files itself: no Content-Encoding.
        _ => "application/octet-stream",
    }
}

/// Serves target/web/ on 127.0.0.1:`port` (0: any free port) in a thread; a POST to
/// /report sends its body to `reports`. Returns the port.
fn start_server(port: u16, reports: Option<mpsc::Sender<String>>) -> Result<u16> {
    let dir = web_dir();
    if !dir.join("index.html").is_file() {
        return Err(format!("{} has no page: run `cargo xtask web build` first", dir.display()));
    }
    let server = tiny_http::Server::http(("127.0.0.1", port)).map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
    let port = server.server_addr().to_ip().map_or(port, |a| a.port());
    thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let url = request.url().split('?').next().unwrap_or("/").to_string();
            if *request.method() == tiny_http::Method::Post && url == "/report" {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                if let Some(tx) = &reports {
                    let _ = tx.send(body);
                }
                let _ = request.respond(tiny_http::Response::empty(204));
                continue;
            }
            let relative = if url == "/" { "index.html" } else { url.trim_start_matches('/') };
            let path = dir.join(relative);
            let inside = !relative.split('/').any(|part| part == "..");
            let response = match (inside, fs::read(&path)) {
                (true, Ok(bytes)) => {
                    let header = tiny_http::Header::from_bytes("Content-Type", content_type(&path)).unwrap();
                    request.respond(tiny_http::Response::from_data(bytes).with_header(header))
                }
                _ => request.respond(tiny_http::Response::from_string("not found").with_status_code(404)),
            };
            let _ = response;
        }
    });
    Ok(port)
}

fn serve_forever(port: u16) -> Result<()> {
    let port = start_server(port, None)?;
    println!("serving {} on http://127.0.0.1:{port}/ (Ctrl-C stops)", web_dir().display());
    loop {
        thread::park();
    }
}

fn chrome() -> String {
    env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Headless Chromium on `url`, its console on stderr; `webgpu` false hides WebGPU from pages.
fn start_chrome(url: &str, webgpu: bool, profile: &Path) -> Result<Child> {
    let mut command = Command::new(chrome());
    command
        .args([
            "--headless=new",
            "--no-sandbox",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(if webgpu { "--enable-unsafe-webgpu" } else { "--disable-blink-features=WebGPU" })
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command.spawn().map_err(|e| format!("{}: {e} (install chromium, or set $CHROME)", chrome()))
}

/// The page's console messages (Chromium writes them to stderr as `CONSOLE(line)] "text"`)
/// until one starts with `wgtrain: done` or `wgtrain: error`, or `timeout` passes.
fn console_until_done(chrome: &mut Child, timeout: Duration) -> Result<Vec<String>> {
    let stderr = chrome.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(std::result::Result::ok) {
            if let Some(start) = line.find("CONSOLE").and_then(|i| line[i..].find("] \"").map(|j| i + j + 3)) {
                let text = line[start..].rsplit_once("\", source:").map_or(&line[start..], |(t, _)| t).to_string();
                if tx.send(text).is_err() {
                    break;
                }
            }
        }
    });
    let started = Instant::now();
    let mut messages = Vec::new();
    while let Some(left) = timeout.checked_sub(started.elapsed()) {
        let Ok(message) = rx.recv_timeout(left) else { break };
        println!("  page: {message}");
        let last = message.starts_with("wgtrain: done") || message.starts_with("wgtrain: error");
        messages.push(message);
        if last {
            return Ok(messages);
        }
    }
    Err(format!("the page said neither `wgtrain: done` nor `wgtrain: error` within {timeout:?}"))
}

/// Opens `query` on the page in headless Chromium and returns its console messages.
fn page(port: u16, query: &str, webgpu: bool, timeout: Duration) -> Result<Vec<String>> {
    let profile = env::temp_dir().join(format!("wgtrain-chrome-{}-{port}", std::process::id()));
    let url = format!("http://127.0.0.1:{port}/index.html{query}");
    println!("{url}{}", if webgpu { "" } else { " (WebGPU hidden)" });
    let mut chrome = start_chrome(&url, webgpu, &profile)?;
    let messages = console_until_done(&mut chrome, timeout);
    let _ = chrome.kill();
    let _ = chrome.wait();
    let _ = fs::remove_dir_all(&profile);
    messages
}

fn expect(messages: &[String], what: &str, holds: impl Fn(&str) -> bool) -> Result<()> {
    messages.iter().any(|m| holds(m)).then_some(()).ok_or_else(|| format!("the page never logged {what}"))
}

fn test() -> Result<()> {
    let root = root();
    let chromedriver = env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    if !Path::new(&chromedriver).is_file() {
        return Err(format!("no chromedriver at {chromedriver}: install chromium-driver, or set $CHROMEDRIVER"));
    }
    check_wasm_bindgen_cli(&locked_wasm_bindgen()?)?;
    println!("== the library's browser tests (tests/web.rs) in headless Chromium ==");
    let timeout = env::var("WASM_BINDGEN_TEST_TIMEOUT").unwrap_or_else(|_| "1200".into());
    run(Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args(["test", "--release", "--target", "wasm32-unknown-unknown", "--test", "web"])
        .env("CHROMEDRIVER", &chromedriver)
        .env("WASM_BINDGEN_TEST_TIMEOUT", timeout))?;

    println!("== the page ==");
    build()?;
    let port = start_server(0, None)?;
    let messages = page(port, "?train=mlp&epochs=1&limit=2000", true, Duration::from_secs(600))?;
    expect(&messages, "the adapter", |m| m.starts_with("adapter: "))?;
    expect(&messages, "an epoch line", |m| m.starts_with("epoch   1 - ") && m.contains("samples/s"))?;
    expect(&messages, "the test line", |m| m.starts_with("test: loss "))?;
    expect(&messages, "a top-3 classification", |m| m.starts_with("test image ") && m.matches('%').count() == 3)?;
    expect(&messages, "`wgtrain: done`", |m| m.starts_with("wgtrain: done"))?;

    println!("== the page without WebGPU ==");
    let messages = page(port, "?train=mlp&epochs=1", false, Duration::from_secs(120))?;
    expect(&messages, "why it cannot run", |m| m.starts_with("wgtrain: error: ") && m.contains("WebGPU"))?;
    println!("browser tests passed");
    Ok(())
}

fn bench(args: &[&str]) -> Result<()> {
    if let Some(model) = flag(args, "--train") {
        let (epochs, limit) = (flag(args, "--epochs").unwrap_or("3"), flag(args, "--limit").unwrap_or("0"));
        build()?;
        let port = start_server(0, None)?;
        let query = format!("?train={model}&epochs={epochs}&limit={limit}");
        let messages = page(port, &query, true, Duration::from_secs(3600))?;
        return expect(&messages, "`wgtrain: done`", |m| m.starts_with("wgtrain: done"));
    }
    let filter = flag(args, "--filter").unwrap_or("");
    let out = flag(args, "--out").map_or_else(|| web_dir().join("bench-browser.json"), PathBuf::from);
    build()?;
    let (tx, rx) = mpsc::channel();
    let port = start_server(0, Some(tx))?;
    let query = format!("?bench={filter}&post=1");
    let messages = page(port, &query, true, Duration::from_secs(3600))?;
    expect(&messages, "`wgtrain: done`", |m| m.starts_with("wgtrain: done"))?;
    let report = rx.recv_timeout(Duration::from_secs(5)).map_err(|_| "the page posted no report".to_string())?;
    fs::write(&out, report).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("written: {}", out.display());
    Ok(())
}
