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
pub mod regularizer;
pub mod schedule;

pub use activation::Activation;

use crate::error::Result;
use crate::gpu::{Gpu, Tensor};

/// Invocations per workgroup of the 1-D kernels.
const WORKGROUP: u64 = 256;

/// The activation code an input-gradient pass multiplies dx by (0: none), checked: the
/// activation is differentiated through its output, which has dx's length.
fn input_act_code(op: &str, act_of_input: Option<(Activation, &Tensor)>, dx: &Tensor) -> u32 {
    let Some((act, saved)) = act_of_input else { return 0 };
    assert!(act.from_output(), "{op}: {act:?} is not differentiated through its output");
    assert_eq!(saved.len(), dx.len(), "{op}: the activation output has {} elements, dx {}", saved.len(), dx.len());
    act.code()
}

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

/// Output length and leading padding along one axis, or `None` when the window does not fit
/// (valid padding on an input smaller than the window) or a size is beyond u32, as kernels
/// index.
pub fn window_extent(input: usize, window: usize, stride: usize, padding: Padding) -> Option<(u32, u32)> {
    assert!(window > 0 && stride > 0, "window {window} and stride {stride} must be positive");
    let (out, pad) = match padding {
        Padding::Valid => (input.checked_sub(window)? / stride + 1, 0),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = (out.max(1) - 1).checked_mul(stride)?.checked_add(window)?.saturating_sub(input);
            (out, total / 2)
        }
    };
    (out > 0).then_some((u32::try_from(out).ok()?, u32::try_from(pad).ok()?))
}
