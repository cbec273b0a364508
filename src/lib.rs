//! wgtrain: train small neural networks on any GPU with hand-written WGSL compute shaders.
//!
//! `gpu` opens a device and runs kernels; `ops` pairs every kernel with its plain-Rust CPU twin.

pub mod error;
pub mod gpu;
pub mod ops;

pub use error::{Error, Result};
pub use gpu::Gpu;
pub mod app;
pub mod bench;
pub mod check;
pub mod checkpoint;
pub mod commands;
pub mod data;
pub mod evaluation;
pub mod metrics_file;
pub mod nn;
pub mod plot;
pub mod presets;
pub mod train;
