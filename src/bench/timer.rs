//! Timing a list of dispatches: GPU timestamp queries where the adapter has them, wall clock
//! around submit-and-wait otherwise. Warm-up first, then the median of many samples.

use web_time::Instant;

use crate::error::Result;
use crate::gpu::{Dispatch, Gpu};

pub struct Timer {
    timestamps: Option<(wgpu::QuerySet, wgpu::Buffer, wgpu::Buffer)>,
}

/// Each sample runs the dispatches enough times to last about this long.
const TARGET_SAMPLE_SECONDS: f64 = 0.002;
const MAX_REPS: usize = 256;
/// GPU time spent running a kernel before its samples are taken.
const WARM_UP_SECONDS: f64 = 0.05;

impl Timer {
    pub fn new(gpu: &Gpu) -> Timer {
        let timestamps = gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY).then(|| {
            let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("bench"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let buffer = |usage| {
                gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: 16,
                    usage,
                    mapped_at_creation: false,
                })
            };
            let resolve = buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
            let read = buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
            (set, resolve, read)
        });
        Timer { timestamps }
    }

    /// "gpu timestamps" or "wall clock".
    pub fn method(&self) -> &'static str {
        if self.timestamps.is_some() { "gpu timestamps" } else { "wall clock" }
    }

    /// Seconds for `reps` back-to-back runs of `dispatches` in one pass.
    async fn sample(&self, gpu: &Gpu, dispatches: &[&Dispatch], reps: usize) -> Result<f64> {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        let writes = self.timestamps.as_ref().map(|(set, _, _)| wgpu::ComputePassTimestampWrites {
            query_set: set,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        });
        {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: writes });
            for _ in 0..reps {
                for d in dispatches {
                    d.record(&mut pass);
                }
            }
        }
        if let Some((set, resolve, read)) = &self.timestamps {
            encoder.resolve_query_set(set, 0..2, resolve, 0);
            encoder.copy_buffer_to_buffer(resolve, 0, read, 0, 16);
            gpu.queue.submit([encoder.finish()]);
            let ticks: Vec<u32> = gpu.read_mapped_async(read, None).await?;
            let t = |i: usize| u64::from(ticks[2 * i]) | (u64::from(ticks[2 * i + 1]) << 32);
            let ns = t(1).saturating_sub(t(0)) as f64 * f64::from(gpu.queue.get_timestamp_period());
            return Ok(ns * 1e-9);
        }
        let started = Instant::now();
        gpu.queue.submit([encoder.finish()]);
        gpu.wait_async().await?;
        gpu.check()?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Median seconds of one run of `dispatches`, over `samples` samples after a warm-up of at
    /// least `WARM_UP_SECONDS` (a GPU left idle, e.g. while the CPU twin ran, clocks down: on
    /// an H100 a single warm-up run left 512×512 products 1.5–2× slower than 1024×1024 ones).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn median(&self, gpu: &Gpu, dispatches: &[&Dispatch], samples: usize) -> Result<f64> {
        pollster::block_on(self.median_async(gpu, dispatches, samples))
    }

    /// `median`, awaited.
    pub async fn median_async(&self, gpu: &Gpu, dispatches: &[&Dispatch], samples: usize) -> Result<f64> {
        let reps_for = |seconds: f64| ((TARGET_SAMPLE_SECONDS / seconds.max(1e-7)).ceil() as usize).clamp(1, MAX_REPS);
        let mut one = self.sample(gpu, dispatches, 1).await?;
        let mut warmed = one;
        while warmed < WARM_UP_SECONDS {
            let reps = reps_for(one);
            let seconds = self.sample(gpu, dispatches, reps).await?;
            (one, warmed) = (seconds / reps as f64, warmed + seconds);
        }
        let reps = reps_for(one);
        let mut times = Vec::with_capacity(samples.max(1));
        for _ in 0..samples.max(1) {
            times.push(self.sample(gpu, dispatches, reps).await? / reps as f64);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    }
}

/// Median wall-clock seconds of `f` over `samples` runs.
pub fn cpu_median(samples: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
