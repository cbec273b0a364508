use wgtrain::ops::Padding;
use wgtrain::ops::conv2d::Conv2dShape;

fn shape(
    n: usize,
    (h, w): (usize, usize),
    c_in: usize,
    c_out: usize,
    (kh, kw): (usize, usize),
    (stride_h, stride_w): (usize, usize),
    padding: Padding,
) -> Conv2dShape {
    Conv2dShape { n, h, w, c_in, c_out, kh, kw, stride_h, stride_w, padding }
}

#[test]
fn conv2d_refuses_a_kernel_larger_than_a_valid_input() {
    let s = shape(1, (2, 2), 1, 1, (3, 3), (1, 1), Padding::Valid);
    let err = s.extent().unwrap_err().to_string();
    assert!(err.contains("3×3 kernel does not fit a 2×2 input"), "{err}");
}
