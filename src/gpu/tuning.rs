//! The device's tuning profile: what decides which kernel variants run on it, settled once
//! when the device opens (the adapter's kind, and `$WGTRAIN_MATMUL` read then). The ops ask
//! the profile; none of them looks at the adapter or the environment itself.

/// How the kernels are tuned for one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// A CPU adapter (llvmpipe, lavapipe, SwiftShader): every storage load is a per-invocation
    /// gather and each invocation costs most, so the largest register blocks win; GPUs want
    /// more invocations in flight and shared-memory tiles.
    pub cpu_adapter: bool,
    /// `$WGTRAIN_MATMUL` as it was when the device opened: a matmul variant to use wherever it
    /// applies (`ops::matmul::Variant` reads it).
    pub matmul_override: Option<String>,
    /// Consecutive vec4s of parameters per invocation of an optimizer update (optim.wgsl says
    /// why CPU adapters take 8).
    pub update_vecs: usize,
    /// A convolution GEMM invocation's blocks of 4×4 outputs, (rows, columns): 4 × 2 on CPU
    /// adapters (the matmul's 16×8), 1 × 1 on GPUs (its 4×4).
    pub conv_blocks: (u32, u32),
    /// The device's subgroups are exactly 8 invocations and it was opened with them: the
    /// products CPU adapters run then share their loads across each subgroup (lavapipe makes
    /// every storage load lane by lane): the matmul's 16×8 blocks share op(A)'s
    /// (`matmul_subgroup.wgsl`), the convolution GEMMs their windows (`conv2d_subgroup.wgsl`).
    /// Never in a browser, whose WGSL needs `enable subgroups;`, which wgpu's own front end
    /// refuses.
    pub subgroup_products: bool,
    /// `$WGTRAIN_BREAK_KERNEL` as it was when the device opened: an entry point whose dispatches
    /// run short (a row of a folded grid, else a workgroup, else nothing), so it leaves outputs
    /// unwritten. For
    /// testing that `wgtrain check` catches a broken kernel; never set it otherwise.
    pub broken_kernel: Option<String>,
}

impl Tuning {
    /// The profile of a device on `info`'s adapter, opened with `features`.
    pub fn for_adapter(info: &wgpu::AdapterInfo, features: wgpu::Features) -> Tuning {
        let cpu_adapter = info.device_type == wgpu::DeviceType::Cpu;
        let eight_wide = info.subgroup_min_size == 8 && info.subgroup_max_size == 8;
        Tuning {
            cpu_adapter,
            matmul_override: std::env::var("WGTRAIN_MATMUL").ok(),
            update_vecs: if cpu_adapter { 8 } else { 1 },
            conv_blocks: if cpu_adapter { (4, 2) } else { (1, 1) },
            subgroup_products: cpu_adapter && eight_wide && features.contains(wgpu::Features::SUBGROUP),
            broken_kernel: std::env::var("WGTRAIN_BREAK_KERNEL").ok(),
        }
    }

    /// The forced matmul variant's name, if any.
    pub fn matmul(&self) -> Option<&str> {
        self.matmul_override.as_deref()
    }
}
