use rand::RngExt;
use wgtrain::ops::matmul::{self, MatmulShape, Operand, Variant, cpu};
use wgtrain::ops::{Activation, activation};

use crate::common::*;

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

#[test]
fn matmul_matches_cpu() {
    check_matmul(Variant::Block4, "matmul");
}

#[test]
fn matmul_8x8_matches_cpu() {
    check_matmul(Variant::Block8, "matmul_8x8");
}

#[test]
fn matmul_vec4_matches_cpu() {
    check_matmul(Variant::Vec4, "matmul_vec4");
}

#[test]
fn matmul_vec4_8x8_matches_cpu() {
    check_matmul(Variant::Vec4Block8, "matmul_vec4_8x8");
}

#[test]
fn matmul_vec4_16x8_matches_cpu() {
    check_matmul(Variant::Vec4Block16x8, "matmul_vec4_16x8");
}

#[test]
fn matmul_uniform_b_matches_cpu() {
    check_matmul(Variant::UniformB, "matmul_uniform_b");
}

#[test]
fn matmul_tiled_matches_cpu() {
    check_matmul(Variant::Tiled, "matmul_tiled");
}

#[test]
fn matmul_split_k_matches_cpu() {
    check_matmul(Variant::SplitK, "matmul_split_k");
}

#[test]
fn uniform_b_is_chosen_for_narrow_products_with_a_window_only() {
    for gpu in gpus() {
        let out_layer = MatmulShape::new(32, 10, 128);
        let plain = gpu.upload("b", &vec![0.5f32; 1280]).unwrap();
        let windowed = gpu.upload_windowed("b", &vec![0.5f32; 1280]).unwrap();
        assert!(plain.uniform_window().is_none() && windowed.uniform_window().is_some());
        assert_ne!(Variant::choose(gpu, &out_layer, &plain), Variant::UniformB);
        let cpu_adapter = gpu.info.device_type == wgpu::DeviceType::Cpu;
        assert_eq!(Variant::choose(gpu, &out_layer, &windowed) == Variant::UniformB, cpu_adapter);
        // Wide products keep the tiled kernels; a view deep in a windowed buffer keeps its window.
        assert_ne!(Variant::choose(gpu, &MatmulShape::new(32, 128, 32), &windowed), Variant::UniformB);
        let arena = gpu.upload_windowed("arena", &vec![0.0f32; 3 * 4096]).unwrap();
        assert!(arena.view(2 * 4096, 4096).uniform_window().is_some());

        // Forced onto a B without a window: an error naming it, not a panic.
        let (a, c) = (gpu.upload("a", &vec![1.0f32; 32 * 128]).unwrap(), gpu.zeros("c", 320).unwrap());
        let err = matmul::matmul_variant(gpu, Variant::UniformB, out_layer, &a, &plain, None, Activation::Linear, &c)
            .err()
            .expect("a B without a window is refused");
        assert!(err.to_string().contains("uniform window"), "{err}");
    }
}

fn check_matmul(variant: Variant, name: &'static str) {
    for gpu in gpus() {
        let mut worst = Worst::new(name, gpu);
        let mut rng = rng(1);
        let shapes = match variant {
            Variant::UniformB => &UNIFORM_B_SHAPES[..],
            v if v.is_vec4() => &VEC4_SHAPES[..],
            _ => &SHAPES[..],
        };
        for (case, &(m, n, k)) in shapes.iter().enumerate() {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                let shape = MatmulShape { m, n, k, trans_a, trans_b };
                let act = ACTS[case % ACTS.len()];
                let with_bias = case % 3 != 1;
                let a = uniform(&mut rng, m * k, -1.0, 1.0);
                let b = uniform(&mut rng, k * n, -1.0, 1.0);
                let bias = uniform(&mut rng, n, -1.0, 1.0);
                // Windowed, as the uniform-B variant needs; the others bind it as storage.
                let (ta, tb, tbias) = (
                    gpu.upload("a", &a).unwrap(),
                    gpu.upload_windowed("b", &b).unwrap(),
                    gpu.upload("bias", &bias).unwrap(),
                );
                let c = poisoned(gpu, m * n);
                run(gpu, matmul::matmul_variant(gpu, variant, shape, &ta, &tb, with_bias.then_some(&tbias), act, &c));
                let want = cpu::matmul(shape, &f64s(&a), &f64s(&b), with_bias.then_some(&f64s(&bias)[..]), act);
                worst.add(compare(&format!("matmul {shape:?} {act:?} bias {with_bias}"), &read(gpu, &c), &want));

                // A as bytes read as byte / 255 (an input batch of u8 images), as the first
                // Dense layer's forward product and weight gradient read it.
                let bytes: Vec<u8> = (0..m * k).map(|_| rng.random()).collect();
                let a8 = gpu.upload_bytes("a_u8", &bytes).unwrap();
                let a8_values: Vec<f64> = bytes.iter().map(|&v| f64::from(v) / 255.0).collect();
                let c = poisoned(gpu, m * n);
                let bias8 = with_bias.then_some(&tbias);
                run(gpu, matmul::matmul_variant(gpu, variant, shape, Operand::Unorm8(&a8), &tb, bias8, act, &c));
                let want = cpu::matmul(shape, &a8_values, &f64s(&b), with_bias.then_some(&f64s(&bias)[..]), act);
                worst.add(compare(&format!("matmul unorm8 A {shape:?} {act:?}"), &read(gpu, &c), &want));
                let (c, db) = (poisoned(gpu, m * n), poisoned(gpu, n));
                run(gpu, matmul::weight_grad_variant(gpu, variant, shape, Operand::Unorm8(&a8), &tb, &c, Some(&db)));
                let want = cpu::matmul(shape, &a8_values, &f64s(&b), None, Activation::Linear);
                worst.add(compare(&format!("weight_grad unorm8 A {shape:?} dw"), &read(gpu, &c), &want));

                // The same product as a weight gradient: c plus the column sums of op(b) in db.
                let (c, db) = (poisoned(gpu, m * n), poisoned(gpu, n));
                run(gpu, matmul::weight_grad_variant(gpu, variant, shape, &ta, &tb, &c, Some(&db)));
                let want = cpu::matmul(shape, &f64s(&a), &f64s(&b), None, Activation::Linear);
                let op_b: Vec<f64> =
                    (0..k * n).map(|i| f64::from(if trans_b { b[(i % n) * k + i / n] } else { b[i] })).collect();
                worst.add(compare(&format!("weight_grad {shape:?} dw"), &read(gpu, &c), &want));
                worst.add(compare(&format!("weight_grad {shape:?} db"), &read(gpu, &db), &cpu::bias_grad(k, n, &op_b)));

                // As an input gradient through an activation: c times the derivative at `y`.
                let in_act = ACTS[(case + 1) % ACTS.len()];
                let y: Vec<f32> =
                    uniform(&mut rng, m * n, -1.0, 1.0).iter().map(|v| activation_of(in_act, *v)).collect();
                let (ty, c) = (gpu.upload("y", &y).unwrap(), poisoned(gpu, m * n));
                run(gpu, matmul::input_grad_variant(gpu, variant, shape, &ta, &tb, Some((in_act, &ty)), &c));
                let want = activation::cpu::backward(in_act, &f64s(&y), &want);
                worst.add(compare(&format!("input_grad {shape:?} through {in_act:?}"), &read(gpu, &c), &want));
            }
        }
    }
}

#[test]
fn matmul_bias_grad_matches_cpu() {
    for gpu in gpus() {
        let mut worst = Worst::new("matmul_bias_grad", gpu);
        let mut rng = rng(2);
        for (rows, cols) in [(1, 1), (37, 129), (32, 10), (1000, 7), (4096, 300), (3, 70001)] {
            let dy = uniform(&mut rng, rows * cols, -1.0, 1.0);
            let tdy = gpu.upload("dy", &dy).unwrap();
            let db = poisoned(gpu, cols);
            run(gpu, matmul::bias_grad(gpu, rows, cols, &tdy, &db));
            worst.add(compare(
                &format!("bias_grad {rows}×{cols}"),
                &read(gpu, &db),
                &cpu::bias_grad(rows, cols, &f64s(&dy)),
            ));
        }
    }
}

/// An output `act` can produce from `v`: what a saved activation output looks like.
fn activation_of(act: Activation, v: f32) -> f32 {
    activation::cpu::apply(act, f64::from(v)) as f32
}

/// Split-k's chunks of k are a grid dimension: a k too long for them is an error naming the
/// limit, not a dispatch the device rejects.
#[test]
fn split_k_refuses_more_chunks_than_a_grid_dimension_holds() {
    for gpu in gpus() {
        let max = gpu.limits.max_compute_workgroups_per_dimension as usize;
        let shape = MatmulShape::new(1, 1, (max + 1) * 256);
        assert!(Variant::SplitK.takes(&shape));
        let (a, b, c) = (gpu.zeros("a", shape.k).unwrap(), gpu.zeros("b", shape.k).unwrap(), poisoned(gpu, 1));
        match matmul::matmul_variant(gpu, Variant::SplitK, shape, &a, &b, None, Activation::Linear, &c) {
            Err(wgtrain::Error::LimitExceeded { limit_name, requested, .. }) => {
                assert_eq!(limit_name, "max_compute_workgroups_per_dimension");
                assert_eq!(requested, max as u64 + 1);
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("{} chunks of k were accepted past the limit of {max}", max + 1),
        }
        gpu.check().unwrap();
    }
}
