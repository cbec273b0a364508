//! The page's bindings.
