//! The one error type of the library: every variant says what went wrong and where.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no GPU adapter found (tried backends: {tried}); for a software adapter on Debian/Ubuntu run \
         `apt-get install mesa-vulkan-drivers` (Vulkan on lavapipe) or install Mesa's EGL/GL drivers"
    )]
    NoAdapter { tried: String },

    #[error("no adapter matches '{wanted}'; available: {available}")]
    AdapterNotFound { wanted: String, available: String },

    #[error("could not open a device on adapter '{adapter}': {reason}")]
    Device { adapter: String, reason: String },

    #[error("{what} needs {requested} but the adapter's {limit_name} is {limit}")]
    LimitExceeded { what: String, requested: u64, limit_name: &'static str, limit: u64 },

    #[error("GPU error: {0}")]
    Gpu(String),

    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },

    #[error("training diverged: the loss became {loss} in epoch {epoch}, by step {step}")]
    Diverged { epoch: usize, step: usize, loss: f64 },

    #[error("{0}")]
    Invalid(String),

    #[error("reference `{command}`: {reason}")]
    Reference { command: String, reason: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
