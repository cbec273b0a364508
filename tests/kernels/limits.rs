use wgtrain::Error;
use wgtrain::ops::dropout;

use crate::common::*;

/// Past 65 535 workgroups the grid folds into a second dimension; every element is still written.
#[test]
fn elementwise_kernels_fold_their_grid_past_the_dimension_limit() {
    for gpu in gpus() {
        let len = 65_535 * 256 + 1000;
        assert!(gpu.grid((len as u64).div_ceil(256)).unwrap()[1] > 1);
        let x: Vec<f32> = (0..len).map(|i| (i % 1001) as f32 - 500.0).collect();
        let (tx, y) = (gpu.upload("x", &x).unwrap(), poisoned(gpu, len));
        // Dropout at rate 0 copies, one element per invocation.
        let step = gpu.upload("step", &[0u32]).unwrap();
        run(gpu, dropout::forward(gpu, 0.0, 1, &tx, &y, &step));
        let got = read(gpu, &y);
        for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
            assert_eq!(g, v, "element {i} on {}", short(gpu));
        }
    }
}

#[test]
fn a_buffer_over_the_binding_limit_is_refused_with_the_limit_named() {
    for gpu in gpus() {
        let limit = gpu.limits.max_storage_buffer_binding_size;
        let len = (limit / 4 + 1) as usize;
        match gpu.zeros("too_big", len) {
            Err(Error::LimitExceeded { limit_name, requested, .. }) => {
                assert_eq!(limit_name, "max_storage_buffer_binding_size");
                assert!(requested >= len as u64 * 4 && requested > limit, "requested {requested}");
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a {len}-element buffer was accepted past the {limit}-byte limit"),
        }
        gpu.check().unwrap();
    }
}
