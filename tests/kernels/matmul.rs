use wgtrain::ops::Activation;
use wgtrain::ops::matmul::{self, MatmulShape, Variant};

use crate::common::*;

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

/// A product over a k longer than a shader loop may run on llvmpipe (65 535 trips) is still
/// right: the chosen kernel splits k.
#[test]
fn products_over_a_very_long_k_are_right() {
    let mut rng = rng(21);
    for gpu in gpus() {
        let shape = MatmulShape { m: 9, n: 32, k: 86_528, trans_a: true, trans_b: false };
        let (a, b) = (uniform(&mut rng, shape.m * shape.k, -1.0, 1.0), uniform(&mut rng, shape.k * shape.n, -1.0, 1.0));
        let (ta, tb, c) =
            (gpu.upload("a", &a).unwrap(), gpu.upload("b", &b).unwrap(), poisoned(gpu, shape.m * shape.n));
        run(gpu, matmul::matmul(gpu, shape, &ta, &tb, None, Activation::Linear, &c));
        let want = matmul::cpu::matmul(shape, &f64s(&a), &f64s(&b), None, Activation::Linear);
        compare(&format!("{shape:?} on {}", short(gpu)), &read(gpu, &c), &want);
    }
}

/// Where subgroups are 8 wide on a CPU adapter (lavapipe), the vec4 products take the 16×8
/// kernel sharing op(A)'s loads, so `matmul / vec4-16x8-subgroup` runs its cases there; every
/// other device keeps the kernel without subgroups and is never handed the subgroup one.
#[test]
fn the_subgroup_kernel_serves_eight_wide_cpu_adapters_only() {
    for gpu in gpus() {
        let eight_wide = gpu.info.subgroup_min_size == 8 && gpu.info.subgroup_max_size == 8;
        let cpu_adapter = gpu.info.device_type == wgpu::DeviceType::Cpu;
        let has = cpu_adapter && eight_wide && gpu.features.contains(wgpu::Features::SUBGROUP);
        assert_eq!(gpu.tuning.subgroup_products, has, "{}", short(gpu));
        if gpu.info.backend == wgpu::Backend::Vulkan && gpu.info.name.starts_with("llvmpipe") {
            assert!(has, "lavapipe has 8-wide subgroups: {}", short(gpu));
        }
        let seed_cnn_dense = MatmulShape { m: 5408, n: 128, k: 32, trans_a: true, trans_b: false };
        let chosen = Variant::for_shape(gpu, &seed_cnn_dense);
        assert_eq!(chosen == Variant::Vec4Block16x8Subgroup, has, "{}: {}", short(gpu), chosen.name());
        assert_eq!(Variant::Vec4Block16x8Subgroup.available(gpu), has);
    }
}
