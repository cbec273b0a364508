//! Every matmul variant, as a forward product, weight gradient and input gradient, with f32 and
//! u8 (byte / 255) A; and the bias gradient.

use rand::RngExt;

use super::{Check, CheckResult, Checker, SUBGROUPS_MISSING, f64s, uniform};
use crate::ops::matmul::{self, MatmulShape, Operand, Variant, cpu};
use crate::ops::{Activation, activation};

pub const CHECKS: &[Check] = &[
    Check::new("matmul", "4x4", |c| Box::pin(check(c, Variant::Block4))),
    Check::new("matmul", "8x8", |c| Box::pin(check(c, Variant::Block8))),
    Check::new("matmul", "vec4", |c| Box::pin(check(c, Variant::Vec4))),
    Check::new("matmul", "vec4-8x8", |c| Box::pin(check(c, Variant::Vec4Block8))),
    Check::new("matmul", "vec4-16x8", |c| Box::pin(check(c, Variant::Vec4Block16x8))),
    Check::new("matmul", "vec4-16x8-subgroup", |c| Box::pin(check(c, Variant::Vec4Block16x8Subgroup))),
    Check::new("matmul", "uniform-b", |c| Box::pin(check(c, Variant::UniformB))),
    Check::new("matmul", "tiled", |c| Box::pin(check(c, Variant::Tiled))),
    Check::new("matmul", "split-k", |c| Box::pin(check(c, Variant::SplitK))),
    Check::new("matmul_bias_grad", "", |c| Box::pin(bias_grad(c))),
];

const ACTS: [Activation; 6] = Activation::EPILOGUE;

/// (m, n, k): ones, primes, sizes off every tile multiple, the seed models' shapes, large ones.
const SHAPES: [(usize, usize, usize); 12] = [
    (1, 1, 1),
    (1, 7, 3),
    (5, 1, 11),
    (13, 17, 19),
    (64, 64, 64),
    (65, 63, 129),
    (32, 128, 784),
    (32, 10, 128),
    (128, 512, 512),
    (97, 131, 257),
    (300, 200, 1),
    (512, 512, 512),
];

/// Shapes the vec4 variant takes: every dimension a multiple of 4.
const VEC4_SHAPES: [(usize, usize, usize); 11] = [
    (260, 388, 36),
    (4, 4, 4),
    (24, 68, 20),
    (136, 12, 8),
    (4, 8, 12),
    (68, 60, 132),
    (64, 64, 64),
    (32, 128, 784),
    (784, 128, 32),
    (128, 512, 512),
    (300, 196, 4),
];

/// Shapes the uniform-B variant takes: B within a uniform window (k·n ≤ 16 384); the seed
/// models' output layers, both ways of reading A (vec4s and not), a B filling the window.
const UNIFORM_B_SHAPES: [(usize, usize, usize); 12] = [
    (1, 1, 1),
    (1, 7, 3),
    (5, 1, 11),
    (13, 17, 19),
    (32, 10, 128),
    (128, 10, 32),
    (512, 10, 128),
    (65, 16, 129),
    (300, 3, 1),
    (97, 13, 257),
    (259, 33, 64),
    (32, 128, 128),
];

async fn check(ck: &mut Checker<'_>, variant: Variant) -> CheckResult {
    let gpu = ck.gpu;
    // The engine never chooses it there (tests/kernels/matmul.rs makes sure lavapipe runs it).
    if !variant.available(gpu) {
        return ck.not_here(SUBGROUPS_MISSING);
    }
    let mut rng = ck.rng(1);
    let shapes = match variant {
        Variant::UniformB => &UNIFORM_B_SHAPES[..],
        v if v.is_vec4() => &VEC4_SHAPES[..],
        _ => &SHAPES[..],
    };
    for (case, &(m, n, k)) in ck.pick(shapes) {
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
            let shape = MatmulShape { m, n, k, trans_a, trans_b };
            let act = ACTS[case % ACTS.len()];
            let with_bias = case % 3 != 1;
            let a = uniform(&mut rng, m * k, -1.0, 1.0);
            let b = uniform(&mut rng, k * n, -1.0, 1.0);
            let bias = uniform(&mut rng, n, -1.0, 1.0);
            // Windowed, as the uniform-B variant needs; the others bind it as storage.
            let (ta, tb, tbias) = (ck.upload("a", &a)?, gpu.upload_windowed("b", &b)?, ck.upload("bias", &bias)?);
            let bias64 = f64s(&bias);
            let want_bias = with_bias.then_some(&bias64[..]);
            // The column sums of op(b): a weight gradient's bias gradient.
            let op_b: Vec<f64> =
                (0..k * n).map(|i| f64::from(if trans_b { b[(i % n) * k + i / n] } else { b[i] })).collect();
            let want_db = cpu::bias_grad(k, n, &op_b);
            let c = ck.poisoned(m * n)?;
            ck.run(matmul::matmul_variant(gpu, variant, shape, &ta, &tb, with_bias.then_some(&tbias), act, &c)).await?;
            let want = cpu::matmul(shape, &f64s(&a), &f64s(&b), want_bias, act);
            ck.compare(&format!("matmul {shape:?} {act:?} bias {with_bias}"), &ck.read(&c).await?, &want)?;

            // A as bytes read as byte / 255 (an input batch of u8 images), as the first
            // Dense layer's forward product and weight gradient read it.
            let bytes: Vec<u8> = (0..m * k).map(|_| rng.random()).collect();
            let a8 = gpu.upload_bytes("a_u8", &bytes)?;
            let a8_values: Vec<f64> = bytes.iter().map(|&v| f64::from(crate::data::unorm8(v))).collect();
            let c = ck.poisoned(m * n)?;
            let bias8 = with_bias.then_some(&tbias);
            ck.run(matmul::matmul_variant(gpu, variant, shape, Operand::Unorm8(&a8), &tb, bias8, act, &c)).await?;
            let want = cpu::matmul(shape, &a8_values, &f64s(&b), want_bias, act);
            ck.compare(&format!("matmul unorm8 A {shape:?} {act:?}"), &ck.read(&c).await?, &want)?;
            let (c, db) = (ck.poisoned(m * n)?, ck.poisoned(n)?);
            ck.run(matmul::weight_grad_variant(gpu, variant, shape, Operand::Unorm8(&a8), &tb, &c, Some(&db))).await?;
            let want = cpu::matmul(shape, &a8_values, &f64s(&b), None, Activation::Linear);
            ck.compare(&format!("weight_grad unorm8 A {shape:?} dw"), &ck.read(&c).await?, &want)?;
            ck.compare(&format!("weight_grad unorm8 A {shape:?} db"), &ck.read(&db).await?, &want_db)?;

            // The same product as a weight gradient: c plus the column sums of op(b) in db.
            let (c, db) = (ck.poisoned(m * n)?, ck.poisoned(n)?);
            ck.run(matmul::weight_grad_variant(gpu, variant, shape, &ta, &tb, &c, Some(&db))).await?;
            let want = cpu::matmul(shape, &f64s(&a), &f64s(&b), None, Activation::Linear);
            ck.compare(&format!("weight_grad {shape:?} dw"), &ck.read(&c).await?, &want)?;
            ck.compare(&format!("weight_grad {shape:?} db"), &ck.read(&db).await?, &want_db)?;

            // As an input gradient through an activation: c times the derivative at `y`.
            let in_act = ACTS[(case + 1) % ACTS.len()];
            let y: Vec<f32> = uniform(&mut rng, m * n, -1.0, 1.0)
                .iter()
                .map(|&v| activation::cpu::apply(in_act, f64::from(v)) as f32)
                .collect();
            let (ty, c) = (ck.upload("y", &y)?, ck.poisoned(m * n)?);
            ck.run(matmul::input_grad_variant(gpu, variant, shape, &ta, &tb, Some((in_act, &ty)), &c)).await?;
            let want = activation::cpu::backward(in_act, &f64s(&y), &want);
            ck.compare(&format!("input_grad {shape:?} through {in_act:?}"), &ck.read(&c).await?, &want)?;
        }
    }
    Ok(())
}

async fn bias_grad(ck: &mut Checker<'_>) -> CheckResult {
    let mut rng = ck.rng(2);
    for (_, &(rows, cols)) in ck.pick(&[(1, 1), (37, 129), (32, 10), (1000, 7), (4096, 300), (3, 70001)]) {
        let dy = uniform(&mut rng, rows * cols, -1.0, 1.0);
        let (tdy, db) = (ck.upload("dy", &dy)?, ck.poisoned(cols)?);
        ck.run(matmul::bias_grad(ck.gpu, rows, cols, &tdy, &db)).await?;
        ck.compare(&format!("bias_grad {rows}×{cols}"), &ck.read(&db).await?, &cpu::bias_grad(rows, cols, &f64s(&dy)))?;
    }
    Ok(())
}
