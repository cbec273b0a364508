use wgtrain::ops::Padding;
use wgtrain::ops::conv2d::Conv2dShape;

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
