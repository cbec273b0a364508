//! The GPU side of the engine: adapter choice, the device, tensors (storage
//! buffers), and compiled kernels ready to record into an encoder.

pub mod adapter;
mod kernel;
mod tensor;
mod tuning;

pub use kernel::{Dispatch, Kernel, Shader};
pub use tensor::{Tensor, Usage, VIEW_ALIGN, WINDOW};
pub use tuning::Tuning;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// An open device on one adapter, with the caches every op shares.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// Which kernel variants run here.
    pub tuning: Tuning,
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<kernel::PipelineKey, wgpu::ComputePipeline>>,
    errors: Arc<Mutex<Vec<String>>>,
    /// Why the device was lost, once it is: every later operation fails with it instead of
    /// reaching wgpu calls that panic on a lost device.
    lost: Arc<Mutex<Option<String>>>,
    /// Live tensors and their bytes.
    pub usage: Arc<Usage>,
    spares: [Tensor; SPARES],
}

/// Stand-ins for a dispatch's unused bindings, at most this many per dispatch.
const SPARES: usize = 2;

impl Gpu {
    /// Opens the adapter chosen by [`adapter::select`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(wanted: Option<&str>) -> Result<Gpu> {
        Gpu::open(adapter::select(wanted)?)
    }

    /// Opens a device on `adapter` with wgpu's portable default limits, so a
    /// kernel that runs here also runs on any WebGPU-class GPU.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(adapter: wgpu::Adapter) -> Result<Gpu> {
        pollster::block_on(Gpu::open_async(adapter))
    }

    /// The browser's WebGPU adapter, opened.
    #[cfg(target_arch = "wasm32")]
    pub async fn browser() -> Result<Gpu> {
        let mut gpu = Gpu::open_async(adapter::browser().await?).await?;
        if gpu.info.name.is_empty() {
            gpu.info.name = adapter::browser_adapter_name().await.unwrap_or_default();
        }
        Ok(gpu)
    }

    /// `open`, awaited (the only way in a browser).
    pub async fn open_async(adapter: wgpu::Adapter) -> Result<Gpu> {
        let info = adapter.get_info();
        // Subgroups natively only: a browser's WGSL needs `enable subgroups;` (see Tuning).
        let subgroups = if cfg!(target_arch = "wasm32") { wgpu::Features::empty() } else { wgpu::Features::SUBGROUP };
        let features = adapter.features() & (wgpu::Features::TIMESTAMP_QUERY | subgroups);
        let desc = wgpu::DeviceDescriptor {
            label: Some("wgtrain"),
            required_features: features,
            required_limits: wgpu::Limits::default(),
            ..Default::default()
        };
        let (device, queue) = adapter
            .request_device(&desc)
            .await
            .map_err(|e| Error::Device { adapter: adapter::describe(&info), reason: e.to_string() })?;
        // Validation errors become values returned by the next `check`, never a panic.
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(one_line(&e));
        }));
        let lost = Arc::new(Mutex::new(None));
        let mark = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let why = match reason {
                wgpu::DeviceLostReason::Destroyed => "destroyed".to_string(),
                wgpu::DeviceLostReason::Unknown => format!("lost: {message}"),
            };
            *mark.lock().unwrap() = Some(why);
        });
        let spares = [0, 1].map(|i| {
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(["spare 0", "spare 1"][i]),
                size: 256,
                usage: tensor::USAGE,
                mapped_at_creation: false,
            });
            Tensor::untracked(buffer, 64)
        });
        Ok(Gpu {
            spares,
            limits: device.limits(),
            tuning: Tuning::for_adapter(&info, device.features()),
            device,
            queue,
            info,
            features,
            modules: Mutex::default(),
            pipelines: Mutex::default(),
            errors,
            lost,
            usage: Arc::default(),
        })
    }

    /// Spare `i` (0 or 1): a small buffer a dispatch binds where a binding is unused. WebGPU
    /// refuses a buffer bound twice in one dispatch when either binding is writable, so an
    /// unused binding cannot borrow a tensor the dispatch already binds (native backends let
    /// it pass; browsers do not).
    pub fn spare(&self, i: usize) -> &Tensor {
        &self.spares[i]
    }

    /// The largest buffer a kernel can bind whole.
    pub fn largest_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// Buffers alive on the device (wgpu's own count: every buffer, not only tensors).
    pub fn live_buffers(&self) -> isize {
        self.device.get_internal_counters().hal.buffers.read()
    }

    /// One line naming the adapter: name, backend, type, driver.
    pub fn describe(&self) -> String {
        adapter::describe(&self.info)
    }

    /// Fails once the device is lost (a driver reset, the GPU removed, `destroy` called).
    pub fn alive(&self) -> Result<()> {
        match self.lost.lock().unwrap().as_deref() {
            Some(why) => Err(Error::Gpu(format!("the device on {} was {why}", self.info.name))),
            None => Ok(()),
        }
    }

    /// Returns the device's loss or the first GPU error raised since the last check, if any.
    pub fn check(&self) -> Result<()> {
        self.alive()?;
        let mut errors = self.errors.lock().unwrap();
        match errors.drain(..).next() {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    /// Records `dispatches` in order into one compute pass, submits, and waits.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn run(&self, dispatches: &[&Dispatch]) -> Result<()> {
        pollster::block_on(self.run_async(dispatches))
    }

    /// `run`, awaited.
    pub async fn run_async(&self, dispatches: &[&Dispatch]) -> Result<()> {
        self.alive()?;
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for d in dispatches {
                d.record(&mut pass);
            }
        }
        self.queue.submit([encoder.finish()]);
        self.wait_async().await?;
        self.check()
    }

    /// Blocks until the GPU has finished all submitted work.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(&self) -> Result<()> {
        self.alive()?;
        self.device.poll(wgpu::PollType::wait_indefinitely()).map(|_| ()).map_err(|e| self.poll_failed(e))
    }

    /// Until the GPU has finished all submitted work: natively a blocking wait, in a browser
    /// the queue's "work done" promise.
    pub async fn wait_async(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        return self.wait();
        #[cfg(target_arch = "wasm32")]
        {
            self.alive()?;
            let (tx, rx) = futures_intrusive::channel::shared::oneshot_channel();
            self.queue.on_submitted_work_done(move || {
                tx.send(()).ok();
            });
            rx.receive().await.ok_or_else(|| Error::Gpu("the queue was dropped".into()))
        }
    }

    /// A failed wait as an error: the device's loss when that is why (wgpu reports a loss
    /// through its callback, which a poll runs, and the wait fails first on the submission the
    /// lost device refused), else the wait's own error.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn poll_failed(&self, e: wgpu::PollError) -> Error {
        let _ = self.device.poll(wgpu::PollType::Poll);
        self.alive().err().unwrap_or_else(|| Error::Gpu(e.to_string()))
    }

    /// A 1-D grid of `workgroups`, folded into a second dimension past the
    /// per-dimension limit. Shaders rebuild the linear index from `num_workgroups`.
    pub fn grid(&self, workgroups: u64) -> Result<[u32; 3]> {
        let max = self.limits.max_compute_workgroups_per_dimension as u64;
        let x = workgroups.clamp(1, max);
        let y = workgroups.div_ceil(x).max(1);
        if y > max {
            return Err(Error::LimitExceeded {
                what: format!("a dispatch of {workgroups} workgroups"),
                requested: workgroups,
                limit_name: "max_compute_workgroups_per_dimension squared",
                limit: max * max,
            });
        }
        Ok([x as u32, y as u32, 1])
    }
}

/// A wgpu error with its causes on one line ("Validation Error" alone names none of them).
fn one_line(e: &wgpu::Error) -> String {
    let text = match e {
        wgpu::Error::Validation { description, .. } => description.clone(),
        other => other.to_string(),
    };
    text.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "Caused by:").collect::<Vec<_>>().join(": ")
}
