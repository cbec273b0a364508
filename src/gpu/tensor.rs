//! Tensors: flat storage buffers of 32-bit words (f32 or u32), or views into one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use futures_intrusive::channel::shared::oneshot_channel;

use super::Gpu;
use crate::error::{Error, Result};

/// A storage buffer of `len` 32-bit elements, or a view of `len` elements into a larger one.
/// Shapes live with the ops that use it. Storage is zero-padded to a multiple of four
/// elements, so kernels may also read it as `vec4`s.
pub struct Tensor {
    buffer: wgpu::Buffer,
    /// Where the tensor starts in `buffer`, in bytes (non-zero only for views).
    offset: u64,
    len: usize,
    /// The device's accounting; `None` for a view, whose bytes its owner counts.
    usage: Option<Arc<Usage>>,
}

/// Elements of a uniform window: 64 KiB, the uniform binding size of wgpu's default limits
/// (which devices are opened with). Kernels that read a small tensor whole in every invocation
/// bind it as a uniform: CPU adapters load a uniform once for all invocations where they must
/// load a storage element once per invocation.
pub const WINDOW: usize = 16_384;
const WINDOW_BYTES: u64 = WINDOW as u64 * 4;

/// Views start at multiples of this many elements: 256 bytes, WebGPU's largest allowed
/// `min_storage_buffer_offset_alignment`, so a view binds on every adapter.
pub const VIEW_ALIGN: usize = 64;

/// The tensors alive on one device and the bytes they hold: what memory reports and leak
/// checks read.
#[derive(Debug, Default)]
pub struct Usage {
    bytes: AtomicU64,
    tensors: AtomicUsize,
}

impl Usage {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn tensors(&self) -> usize {
        self.tensors.load(Ordering::Relaxed)
    }

    fn track(self: &Arc<Self>, buffer: wgpu::Buffer, len: usize) -> Tensor {
        self.bytes.fetch_add(buffer.size(), Ordering::Relaxed);
        self.tensors.fetch_add(1, Ordering::Relaxed);
        Tensor { buffer, offset: 0, len, usage: Some(self.clone()) }
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        if let Some(usage) = &self.usage {
            usage.bytes.fetch_sub(self.buffer.size(), Ordering::Relaxed);
            usage.tensors.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Tensor {
    /// A tensor over `buffer` that the device's accounting does not count (the device's own
    /// spares).
    pub(super) fn untracked(buffer: wgpu::Buffer, len: usize) -> Tensor {
        Tensor { buffer, offset: 0, len, usage: None }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// `len` elements from element `start` on, sharing this tensor's buffer; `start` must be a
    /// multiple of `VIEW_ALIGN`. Views let one dispatch work on many tensors at once.
    pub fn view(&self, start: usize, len: usize) -> Tensor {
        assert!(start.is_multiple_of(VIEW_ALIGN), "view at element {start}: not a multiple of {VIEW_ALIGN}");
        assert!(
            padded_bytes(start + len) <= padded_bytes(self.len),
            "view of {len} at {start} past a tensor of {}",
            self.len
        );
        Tensor { buffer: self.buffer.clone(), offset: self.offset + start as u64 * 4, len, usage: None }
    }

    /// The tensor as a shader binding: its own (padded) elements, not the whole buffer.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: std::num::NonZeroU64::new(padded_bytes(self.len)),
        })
    }

    pub fn bytes(&self) -> u64 {
        self.len as u64 * 4
    }

    /// The tensor as a uniform binding of `WINDOW` elements (its own, then what follows in the
    /// buffer), when it fits one and its buffer was made for it (`zeros_windowed`,
    /// `upload_windowed`).
    pub fn uniform_window(&self) -> Option<wgpu::BindingResource<'_>> {
        let fits = self.len <= WINDOW && self.offset + WINDOW_BYTES <= self.buffer.size();
        (fits && self.buffer.usage().contains(wgpu::BufferUsages::UNIFORM)).then(|| {
            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.buffer,
                offset: self.offset,
                size: std::num::NonZeroU64::new(WINDOW_BYTES),
            })
        })
    }
}

/// Bytes of a tensor's buffer: `len` words rounded up to whole vec4s (at least one).
fn padded_bytes(len: usize) -> u64 {
    (len.max(1).next_multiple_of(4) * 4) as u64
}

pub(super) const USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    /// Refuses a tensor the adapter cannot bind whole (`bound` bytes) or hold (`total` bytes,
    /// with a window's slack), naming the limit.
    fn check_size(&self, label: &str, bound: u64, total: u64) -> Result<()> {
        let limits = [
            ("max_storage_buffer_binding_size", bound, self.limits.max_storage_buffer_binding_size),
            ("max_buffer_size", total, self.limits.max_buffer_size),
        ];
        for (limit_name, bytes, limit) in limits {
            if bytes > limit {
                return Err(Error::LimitExceeded {
                    what: format!("buffer '{label}'"),
                    requested: bytes,
                    limit_name,
                    limit,
                });
            }
        }
        Ok(())
    }

    /// A zero-filled tensor of `len` elements.
    pub fn zeros(&self, label: &str, len: usize) -> Result<Tensor> {
        self.allocate(label, len, None, false)
    }

    /// A tensor holding `data` (f32 or u32 words).
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<Tensor> {
        assert_eq!(std::mem::size_of::<T>(), 4, "tensors hold 32-bit elements");
        self.allocate(label, data.len(), Some(bytemuck::cast_slice(data)), false)
    }

    /// `zeros` with a uniform window's worth of slack after the data, so that the tensor and
    /// every view of it of up to `WINDOW` elements can be bound as a uniform (`uniform_window`).
    pub fn zeros_windowed(&self, label: &str, len: usize) -> Result<Tensor> {
        self.allocate(label, len, None, true)
    }

    /// `upload` with a uniform window's slack (see `zeros_windowed`).
    pub fn upload_windowed<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<Tensor> {
        assert_eq!(std::mem::size_of::<T>(), 4, "tensors hold 32-bit elements");
        self.allocate(label, data.len(), Some(bytemuck::cast_slice(data)), true)
    }

    fn allocate(&self, label: &str, len: usize, contents: Option<&[u8]>, windowed: bool) -> Result<Tensor> {
        let bytes = padded_bytes(len) + if windowed { WINDOW_BYTES } else { 0 };
        self.check_size(label, padded_bytes(len), bytes)?;
        self.alive()?;
        let usage = if windowed { USAGE | wgpu::BufferUsages::UNIFORM } else { USAGE };
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage,
            mapped_at_creation: false,
        });
        // Written through the queue: a mapped-at-creation buffer panics when the device cannot
        // create it (out of memory, lost), where this is an error `check` reports.
        if let Some(data) = contents.filter(|d| !d.is_empty()) {
            self.queue.write_buffer(&buffer, 0, data);
        }
        // Out of device memory shows here, not at the first dispatch that binds it.
        self.check().map_err(|e| Error::Gpu(format!("allocating '{label}' ({bytes} bytes): {e}")))?;
        Ok(self.usage.track(buffer, len))
    }

    /// Bytes packed four to a word, little-endian, zero-padded: how u8 datasets live on the GPU.
    pub fn upload_bytes(&self, label: &str, data: &[u8]) -> Result<Tensor> {
        let words: Vec<u32> = data
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect();
        self.upload(label, &words)
    }

    /// Overwrites a tensor's contents (takes effect before the next submit).
    pub fn write<T: bytemuck::Pod>(&self, tensor: &Tensor, data: &[T]) {
        assert_eq!(
            std::mem::size_of_val(data),
            tensor.len * 4,
            "write of {} elements into a tensor of {}",
            data.len(),
            tensor.len
        );
        if !data.is_empty() {
            self.queue.write_buffer(&tensor.buffer, tensor.offset, bytemuck::cast_slice(data));
        }
    }

    /// Copies a tensor back to the host (waits for the GPU).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read<T: bytemuck::Pod>(&self, tensor: &Tensor) -> Result<Vec<T>> {
        pollster::block_on(self.read_async(tensor))
    }

    /// `read`, awaited (the only way in a browser).
    pub async fn read_async<T: bytemuck::Pod>(&self, tensor: &Tensor) -> Result<Vec<T>> {
        assert_eq!(std::mem::size_of::<T>(), 4, "tensors hold 32-bit elements");
        if tensor.len == 0 {
            return Ok(Vec::new());
        }
        self.alive()?;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: tensor.bytes(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&tensor.buffer, tensor.offset, &staging, 0, tensor.bytes());
        self.queue.submit([encoder.finish()]);
        self.read_mapped_async(&staging, None).await
    }

    /// Maps a MAP_READ buffer whose copy has been submitted and returns its words.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_mapped<T: bytemuck::Pod>(&self, staging: &wgpu::Buffer) -> Result<Vec<T>> {
        pollster::block_on(self.read_mapped_async(staging, None))
    }

    /// `read_mapped`, awaited, waiting only for `submission` (the one that filled `staging`)
    /// rather than for all work submitted so far: later submissions keep the GPU busy
    /// meanwhile. Natively the wait blocks; in a browser the mapping's promise is awaited.
    pub async fn read_mapped_async<T: bytemuck::Pod>(
        &self,
        staging: &wgpu::Buffer,
        submission: Option<wgpu::SubmissionIndex>,
    ) -> Result<Vec<T>> {
        self.alive()?;
        let (tx, rx) = oneshot_channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            tx.send(r).ok();
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::Wait { submission_index: submission, timeout: None })
            .map_err(|e| self.poll_failed(e))?;
        #[cfg(target_arch = "wasm32")]
        let _ = submission;
        rx.receive()
            .await
            .ok_or_else(|| Error::Gpu("buffer mapping was dropped".into()))?
            .map_err(|e| self.check().err().unwrap_or_else(|| Error::Gpu(format!("buffer mapping failed: {e}"))))?;
        let out = {
            let view = staging.get_mapped_range(..).map_err(|e| Error::Gpu(e.to_string()))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        staging.unmap();
        self.check()?;
        Ok(out)
    }
}
