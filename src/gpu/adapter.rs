//! Finding adapters on every backend and choosing one.

use crate::error::{Error, Result};

/// All adapters wgpu can reach on this machine, on every backend compiled in
/// (`WGPU_BACKEND`, e.g. `vulkan` or `gl`, narrows the search).
#[cfg(not(target_arch = "wasm32"))]
pub fn all() -> Vec<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
}

/// The browser's WebGPU adapter (a page sees one, the one the browser picks).
#[cfg(target_arch = "wasm32")]
pub async fn browser() -> Result<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::BROWSER_WEBGPU,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let options =
        wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() };
    instance.request_adapter(&options).await.map_err(|e| {
        Error::Gpu(format!("the browser offers no WebGPU adapter ({e}); WebGPU may be switched off or blocked here"))
    })
}

/// What the browser tells pages of its adapter (`GPUAdapterInfo`: vendor, architecture,
/// device, description), joined: wgpu keeps only the description, which browsers often leave
/// empty. `None` when the browser tells nothing.
#[cfg(target_arch = "wasm32")]
pub async fn browser_adapter_name() -> Option<String> {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    let get = |target: &JsValue, key: &str| Reflect::get(target, &key.into()).ok().filter(|v| !v.is_undefined());
    let navigator = web_sys::window()?.navigator();
    let gpu = get(&navigator, "gpu")?;
    let request: Function = get(&gpu, "requestAdapter")?.dyn_into().ok()?;
    let promise: Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.ok().filter(|a| !a.is_null())?;
    let info = get(&adapter, "info")?;
    let parts: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .filter_map(|key| get(&info, key)?.as_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// One line naming an adapter: name, backend, type and driver.
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    let driver = [info.driver.as_str(), info.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    // Browsers may hide the adapter's name.
    let name = if info.name.is_empty() { "unnamed adapter" } else { info.name.as_str() };
    format!(
        "{} ({:?}, {:?}, driver: {})",
        name,
        info.backend,
        info.device_type,
        if driver.is_empty() { "unknown" } else { &driver }
    )
}

/// Chooses an adapter. `wanted` is a backend name (vulkan, metal, dx12, gl) or a
/// case-insensitive substring of the adapter name; `None` falls back to
/// `$WGTRAIN_ADAPTER`, then to the best adapter present.
#[cfg(not(target_arch = "wasm32"))]
pub fn select(wanted: Option<&str>) -> Result<wgpu::Adapter> {
    let env = std::env::var("WGTRAIN_ADAPTER").ok();
    let wanted = wanted.or(env.as_deref()).filter(|w| !w.is_empty());
    let mut adapters = all();
    if adapters.is_empty() {
        return Err(Error::NoAdapter {
            tried: std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "Vulkan, Metal, DX12, GL".into()),
        });
    }
    adapters.sort_by_key(|a| rank(&a.get_info()));
    match wanted {
        None => Ok(adapters.swap_remove(0)),
        Some(w) => {
            let pos = adapters.iter().position(|a| matches(&a.get_info(), w));
            match pos {
                Some(i) => Ok(adapters.swap_remove(i)),
                None => Err(Error::AdapterNotFound {
                    wanted: w.to_string(),
                    available: adapters.iter().map(|a| describe(&a.get_info())).collect::<Vec<_>>().join("; "),
                }),
            }
        }
    }
}

/// Whether an adapter answers to a backend name or a substring of its name.
pub fn matches(info: &wgpu::AdapterInfo, wanted: &str) -> bool {
    let w = wanted.to_lowercase();
    let backend = backend_name(info.backend);
    w == backend || (w == "gles" && backend == "gl") || info.name.to_lowercase().contains(&w)
}

/// The name `--adapter` and `WGTRAIN_ADAPTER` accept for a backend.
pub fn backend_name(backend: wgpu::Backend) -> &'static str {
    match backend {
        wgpu::Backend::Vulkan => "vulkan",
        wgpu::Backend::Metal => "metal",
        wgpu::Backend::Dx12 => "dx12",
        wgpu::Backend::Gl => "gl",
        _ => "other",
    }
}

/// Lower is better: discrete > integrated > virtual > CPU, then Vulkan/Metal/DX12 before GL.
#[cfg(not(target_arch = "wasm32"))]
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        wgpu::Backend::Gl => 1,
        _ => 2,
    };
    (kind, backend)
}

/// llvmpipe's worker pool, which wgtrain's programs size (`app::init`) and which moves its
/// timings: `LP_NUM_THREADS` as set, or the driver's default. `None` for other adapters.
pub fn worker_threads(info: &wgpu::AdapterInfo) -> Option<String> {
    if !info.name.contains("llvmpipe") {
        return None;
    }
    Some(match std::env::var("LP_NUM_THREADS") {
        Ok(n) => format!("LP_NUM_THREADS={n}"),
        Err(_) => "one per core (LP_NUM_THREADS unset)".into(),
    })
}

/// A multi-line report of an adapter: identity, the limits that matter here, and features.
pub fn report(adapter: &wgpu::Adapter) -> String {
    let info = adapter.get_info();
    let l = adapter.limits();
    let f = adapter.features();
    let has = |feature| if f.contains(feature) { "yes" } else { "no" };
    format!(
        "{}\n  backend {:?}, type {:?}\n  \
         max_storage_buffer_binding_size {} MiB, max_buffer_size {} MiB, \
         max_storage_buffers_per_shader_stage {}\n  \
         max_uniform_buffer_binding_size {} KiB, max_uniform_buffers_per_shader_stage {}\n  \
         max_compute_workgroup_storage_size {} KiB, max_compute_invocations_per_workgroup {}, \
         max_compute_workgroups_per_dimension {}\n  \
         TIMESTAMP_QUERY {}, SUBGROUP {}, SHADER_F16 {}",
        describe(&info),
        info.backend,
        info.device_type,
        l.max_storage_buffer_binding_size >> 20,
        l.max_buffer_size >> 20,
        l.max_storage_buffers_per_shader_stage,
        l.max_uniform_buffer_binding_size >> 10,
        l.max_uniform_buffers_per_shader_stage,
        l.max_compute_workgroup_storage_size >> 10,
        l.max_compute_invocations_per_workgroup,
        l.max_compute_workgroups_per_dimension,
        has(wgpu::Features::TIMESTAMP_QUERY),
        has(wgpu::Features::SUBGROUP),
        has(wgpu::Features::SHADER_F16),
    ) + &worker_threads(&info).map_or(String::new(), |w| format!("\n  worker threads: {w}"))
}
