//! Every check of `wgtrain::check` — each kernel and variant against its CPU twin, whole
//! training steps against the CPU reference — on every adapter present, one test per check:
//! the cases `wgtrain check` runs, so the two cannot drift apart. The other tests here are the
//! kernels' refusals and limits.

#[path = "../common/mod.rs"]
mod common;

mod conv2d;
mod dropout;
mod limits;
mod matmul;
mod schedule;

use wgtrain::check;

/// The largest normwise error of each check, printed per adapter, and a failure naming the case.
fn check_everywhere(kernel: &str, variant: &str) {
    let check = check::find(kernel, variant).unwrap_or_else(|| panic!("no check {kernel} / {variant}"));
    for gpu in common::gpus() {
        let outcome = check.run(gpu, false);
        assert!(outcome.passed(), "{} on {}: {}", outcome.name(), common::short(gpu), outcome.failure.unwrap());
        let found = match &outcome.not_here {
            Some(why) => format!("not on this device: {why}"),
            None => format!("cases {:>3}  max normwise error {:.2e}", outcome.cases, outcome.max_error),
        };
        common::say(&format!("kernel {:<36} {:<40} {found}", outcome.name(), common::short(gpu)));
    }
}

macro_rules! checks {
    ($($test:ident: $kernel:literal / $variant:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_everywhere($kernel, $variant);
            }
        )*

        /// A check added to the library without a test here fails this.
        #[test]
        fn every_check_has_a_test() {
            let tested = [$(($kernel, $variant)),*];
            for c in check::all() {
                assert!(tested.contains(&(c.kernel, c.variant)), "no test runs check {} / {}", c.kernel, c.variant);
            }
        }
    };
}

checks! {
    matmul_4x4: "matmul" / "4x4",
    matmul_8x8: "matmul" / "8x8",
    matmul_vec4: "matmul" / "vec4",
    matmul_vec4_8x8: "matmul" / "vec4-8x8",
    matmul_vec4_16x8: "matmul" / "vec4-16x8",
    matmul_vec4_16x8_subgroup: "matmul" / "vec4-16x8-subgroup",
    matmul_uniform_b: "matmul" / "uniform-b",
    matmul_tiled: "matmul" / "tiled",
    matmul_split_k: "matmul" / "split-k",
    matmul_bias_grad: "matmul_bias_grad" / "",
    conv2d_forward_direct: "conv2d_forward" / "direct",
    conv2d_forward_gemm_16x8: "conv2d_forward" / "gemm-16x8",
    conv2d_forward_gemm_4x4: "conv2d_forward" / "gemm-4x4",
    conv2d_forward_gemm_subgroup: "conv2d_forward" / "gemm-subgroup",
    conv2d_backward_input_direct: "conv2d_backward_input" / "direct",
    conv2d_backward_input_gemm_16x8: "conv2d_backward_input" / "gemm-16x8",
    conv2d_backward_input_gemm_4x4: "conv2d_backward_input" / "gemm-4x4",
    conv2d_backward_input_gemm_subgroup: "conv2d_backward_input" / "gemm-subgroup",
    conv2d_backward_weight_long_direct: "conv2d_backward_weight" / "long direct",
    conv2d_backward_weight_wide_direct: "conv2d_backward_weight" / "wide direct",
    conv2d_backward_weight_long_gemm_16x8: "conv2d_backward_weight" / "long gemm-16x8",
    conv2d_backward_weight_wide_gemm_4x4: "conv2d_backward_weight" / "wide gemm-4x4",
    conv2d_backward_weight_long_gemm_subgroup: "conv2d_backward_weight" / "long gemm-subgroup",
    pool_max_forward: "pool_max_forward" / "",
    pool_max_backward: "pool_max_backward" / "",
    pool_avg_forward: "pool_avg_forward" / "",
    pool_avg_backward: "pool_avg_backward" / "",
    activation_forward: "activation_forward" / "",
    activation_backward: "activation_backward" / "",
    softmax_forward: "softmax_forward" / "",
    softmax_backward: "softmax_backward" / "",
    dropout_forward_and_backward: "dropout" / "",
    regularizer_penalty: "regularizer_penalty" / "",
    regularizer_grad: "regularizer_grad" / "",
    loss_softmax_cross_entropy: "loss" / "softmax_cross_entropy",
    loss_sigmoid_bce: "loss" / "sigmoid_bce",
    loss_mse: "loss" / "mse",
    optim_sgd: "optim" / "sgd",
    optim_adam: "optim" / "adam",
    optim_rmsprop: "optim" / "rmsprop",
    optim_adagrad: "optim" / "adagrad",
    batch_norm_forward: "batch_norm_forward" / "",
    batch_norm_backward: "batch_norm_backward" / "",
    data_gather: "data_gather" / "",
    u8_inputs_read_as_keras_x_over_255: "unorm8" / "",
    learning_rate: "learning_rate" / "",
    training_step_mlp_adam: "training step" / "mlp adam",
    training_step_mlp_sgd: "training step" / "mlp sgd",
    training_step_cnn_adam: "training step" / "cnn adam",
    training_step_binary_classifier: "training step" / "binary classifier adam",
}
