use wgtrain::ops::Padding;
use wgtrain::ops::conv2d::{Conv2dShape, ConvKernel, GemmBlocks, Pass};

use crate::common::*;

#[test]
fn conv2d_refuses_a_kernel_larger_than_a_valid_input() {
    let s = Conv2dShape {
        n: 1,
        h: 2,
        w: 2,
        c_in: 1,
        c_out: 1,
        kh: 3,
        kw: 3,
        stride_h: 1,
        stride_w: 1,
        padding: Padding::Valid,
    };
    let err = s.extent().unwrap_err().to_string();
    assert!(err.contains("3×3 kernel does not fit a 2×2 input"), "{err}");
}

fn conv(n: usize, hw: usize, c_in: usize, c_out: usize) -> Conv2dShape {
    let padding = Padding::Same;
    Conv2dShape { n, h: hw, w: hw, c_in, c_out, kh: 3, kw: 3, stride_h: 1, stride_w: 1, padding }
}

/// Devices whose products share loads across subgroups run the convolutions that way where the
/// channels fill the tiles' 32 columns, and the register blocks elsewhere; no other device is
/// handed the subgroup kernels.
#[test]
fn the_subgroup_convolutions_serve_eight_wide_cpu_adapters_where_they_fill_their_tiles() {
    let subgroup = ConvKernel::GemmSubgroup;
    for gpu in gpus() {
        let blocks = {
            let (row_groups, col_groups) = gpu.tuning.conv_blocks;
            ConvKernel::Gemm(GemmBlocks { row_groups, col_groups })
        };
        let has = gpu.tuning.subgroup_products;
        let on = |k: ConvKernel| if has { k } else { blocks };
        let cases = [
            // The 4-conv CNN's second layer: every pass.
            (conv(64, 28, 32, 32), [on(subgroup), on(subgroup), on(subgroup)]),
            // A first layer (its dx is never asked for; 9 taps make short weight-gradient tiles).
            (conv(32, 28, 1, 32), [on(subgroup), blocks, on(subgroup)]),
            // 16 output channels fill half a column tile; 48 and 64 input channels fill theirs.
            (conv(8, 14, 48, 16), [blocks, on(subgroup), blocks]),
            (conv(8, 7, 64, 36), [blocks, on(subgroup), blocks]),
        ];
        for (s, want) in cases {
            let got = [Pass::Forward, Pass::InputGrad, Pass::WeightGrad].map(|p| ConvKernel::for_gpu(gpu, p, &s));
            assert_eq!(got, want, "{s:?} on {}", short(gpu));
        }
        assert_eq!(subgroup.available(gpu), has, "{}", short(gpu));
    }
}
