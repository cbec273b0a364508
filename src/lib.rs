//! wgtrain: train small neural networks on any GPU with hand-written WGSL compute shaders.
//!
//! `gpu` opens a device and runs kernels; `ops` pairs every kernel with its plain-Rust CPU twin.

pub mod error;
pub mod gpu;
pub mod ops;

pub use error::{Error, Result};
pub use gpu::Gpu;
#[cfg(not(target_arch = "wasm32"))]
pub mod app;
pub mod bench;
pub mod check;
#[cfg(not(target_arch = "wasm32"))]
pub mod checkpoint;
#[cfg(not(target_arch = "wasm32"))]
pub mod commands;
pub mod console;
pub mod data;
pub mod evaluation;
#[cfg(not(target_arch = "wasm32"))]
pub mod metrics_file;
pub mod nn;
#[cfg(not(target_arch = "wasm32"))]
pub mod plot;
pub mod presets;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;
