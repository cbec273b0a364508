//! Learnable synthetic datasets for the seed models that read .npy files.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// `n` samples of `dim` features in `classes` classes: each class has a random centre of
/// ±1 entries, and a sample is its class's centre plus uniform noise in [-1, 1).
/// Returns (x [n, dim], class index per sample).
pub fn classes(n: usize, dim: usize, classes: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..dim * classes).map(|_| if rng.random_range(0..2) == 0 { -1.0 } else { 1.0 }).collect();
    let mut x = Vec::with_capacity(n * dim);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.random_range(0..classes);
        x.extend((0..dim).map(|i| centres[c * dim + i] + rng.random_range(-1.0..1.0)));
        y.push(c as f32);
    }
    (x, y)
}

/// `n` samples of `dim` features and a 0/1 label: the sign of a random linear score, with 5 %
/// of labels flipped. Returns (x [n, dim], y [n]).
pub fn binary(n: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let w: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let x: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y = x
        .chunks(dim)
        .map(|row| {
            let positive = row.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() > 0.0;
            let flip = rng.random_range(0.0..1.0) < 0.05;
            f32::from(u8::from(positive != flip))
        })
        .collect();
    (x, y)
}
