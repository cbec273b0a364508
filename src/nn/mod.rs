//! Layers, the Sequential model, and the model bound to a GPU: parameters, optimizer state,
//! and the recorded forward / backward / update dispatches.

pub mod keras_json;
pub mod layer;
pub mod layers;
pub mod model;
pub mod reference;
pub mod sequential;

pub use layer::{Act, Layer};
pub use model::{Compile, LossKind, Model, Optimizer};
pub use sequential::Sequential;
