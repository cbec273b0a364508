//! Every kernel against its CPU twin, on every adapter present.

#[path = "../common/mod.rs"]
mod common;

mod activation;
mod batch_norm;
mod conv2d;
mod data;
mod dropout;
mod limits;
mod loss;
mod matmul;
mod optim;
mod pool;
mod regularizer;
mod schedule;
