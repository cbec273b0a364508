//! One module per `shaders/*.wgsl`: the typed GPU wrapper (building a [`Dispatch`]) and,
//! in its `cpu` submodule, the plain-Rust twin that is the wrapper's oracle. The twins
//! accumulate in f64.
//!
//! [`Dispatch`]: crate::gpu::Dispatch

pub mod activation;
pub mod batch_norm;
pub mod conv2d;
pub mod data;
pub mod dropout;
pub mod loss;
pub mod matmul;
pub mod optim;
pub mod pool;

pub use activation::Activation;

use crate::error::Result;
use crate::gpu::Gpu;

/// Invocations per workgroup of the 1-D kernels.
const WORKGROUP: u64 = 256;

/// The grid for one invocation per element of `len` elements.
fn grid_for(gpu: &Gpu, len: usize) -> Result<[u32; 3]> {
    gpu.grid((len as u64).div_ceil(WORKGROUP))
}

/// Spatial padding of a convolution or pooling window, as Keras names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Padding {
    /// No padding: only windows wholly inside the input.
    Valid,
    /// Output size ceil(input / stride), padded as TensorFlow: the odd pixel at the end.
    Same,
}

/// Output length and leading padding along one axis, or `None` when the window
/// does not fit (valid padding on an input smaller than the window).
pub fn window_extent(input: u32, window: u32, stride: u32, padding: Padding) -> Option<(u32, u32)> {
    assert!(window > 0 && stride > 0, "window {window} and stride {stride} must be positive");
    match padding {
        Padding::Valid => (input >= window).then(|| ((input - window) / stride + 1, 0)),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out.max(1) - 1) * stride + window).saturating_sub(input);
            (out > 0).then_some((out, total / 2))
        }
    }
}
