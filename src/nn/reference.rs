//! CPU twin of a whole training step.
