//! Shader modules, the pipeline cache, and `Dispatch`: one compiled kernel with
//! its bindings, made once and recorded as often as needed.

use std::sync::Arc;

use super::{Gpu, Tensor};
use crate::error::{Error, Result};

/// One WGSL file of `shaders/`: an op family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Matmul,
    /// A matmul variant that shares loads across a subgroup: only on devices with 8-wide
    /// subgroups (`Tuning::subgroup_products`), since others refuse the whole module.
    /// matmul_subgroup.wgsl appended to matmul.wgsl, whose helpers it uses.
    MatmulSubgroup,
    Conv2d,
    /// The convolution GEMMs sharing loads across a subgroup, on the same devices as
    /// `MatmulSubgroup`: conv2d_subgroup.wgsl appended to conv2d.wgsl, whose helpers it uses.
    Conv2dSubgroup,
    Pool,
    Activation,
    Loss,
    Optim,
    Dropout,
    Data,
    BatchNorm,
    Schedule,
    Regularizer,
}

impl Shader {
    /// The shader whose file comes first in this one's module (its file starts by saying so:
    /// "appended to NAME.wgsl", which tools/tint reads).
    pub fn extends(self) -> Option<Shader> {
        match self {
            Shader::MatmulSubgroup => Some(Shader::Matmul),
            Shader::Conv2dSubgroup => Some(Shader::Conv2d),
            _ => None,
        }
    }

    pub const ALL: [Shader; 13] = [
        Shader::Matmul,
        Shader::MatmulSubgroup,
        Shader::Conv2d,
        Shader::Conv2dSubgroup,
        Shader::Pool,
        Shader::Activation,
        Shader::Loss,
        Shader::Optim,
        Shader::Dropout,
        Shader::Data,
        Shader::BatchNorm,
        Shader::Schedule,
        Shader::Regularizer,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Matmul => "matmul.wgsl",
            Shader::MatmulSubgroup => "matmul_subgroup.wgsl",
            Shader::Conv2d => "conv2d.wgsl",
            Shader::Conv2dSubgroup => "conv2d_subgroup.wgsl",
            Shader::Pool => "pool.wgsl",
            Shader::Activation => "activation.wgsl",
            Shader::Loss => "loss.wgsl",
            Shader::Optim => "optim.wgsl",
            Shader::Dropout => "dropout.wgsl",
            Shader::Data => "data.wgsl",
            Shader::BatchNorm => "batch_norm.wgsl",
            Shader::Schedule => "schedule.wgsl",
            Shader::Regularizer => "regularizer.wgsl",
        }
    }

    /// The module's WGSL: its file, after the file of the shader it `extends`.
    pub fn source(self) -> &'static str {
        match self {
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::MatmulSubgroup => {
                concat!(include_str!("../../shaders/matmul.wgsl"), include_str!("../../shaders/matmul_subgroup.wgsl"))
            }
            Shader::Conv2d => include_str!("../../shaders/conv2d.wgsl"),
            Shader::Conv2dSubgroup => {
                concat!(include_str!("../../shaders/conv2d.wgsl"), include_str!("../../shaders/conv2d_subgroup.wgsl"))
            }
            Shader::Pool => include_str!("../../shaders/pool.wgsl"),
            Shader::Activation => include_str!("../../shaders/activation.wgsl"),
            Shader::Loss => include_str!("../../shaders/loss.wgsl"),
            Shader::Optim => include_str!("../../shaders/optim.wgsl"),
            Shader::Dropout => include_str!("../../shaders/dropout.wgsl"),
            Shader::Data => include_str!("../../shaders/data.wgsl"),
            Shader::BatchNorm => include_str!("../../shaders/batch_norm.wgsl"),
            Shader::Schedule => include_str!("../../shaders/schedule.wgsl"),
            Shader::Regularizer => include_str!("../../shaders/regularizer.wgsl"),
        }
    }
}

/// An entry point of a shader with its override constants.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub shader: Shader,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, f64)>,
}

impl Kernel {
    pub fn new(shader: Shader, entry: &'static str) -> Kernel {
        Kernel { shader, entry, constants: Vec::new() }
    }

    /// Sets a WGSL `override` constant (part of the pipeline-cache key).
    pub fn constant(mut self, name: &'static str, value: f64) -> Kernel {
        self.constants.push((name, value));
        self
    }
}

pub(super) type PipelineKey = (Shader, &'static str, Vec<(&'static str, u64)>);

/// A kernel bound to its params and tensors: recording it is all a step does.
pub struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    grid: [u32; 3],
    entry: &'static str,
    /// Scratch tensors only dispatches refer to, kept as long as they are (so the device's
    /// memory accounting sees them).
    scratch: Vec<Arc<Tensor>>,
    /// A dispatch that finishes this one's work, recorded right after it (a second pass over
    /// partial results); together they are one operation in profiles.
    then: Option<Box<Dispatch>>,
}

impl Dispatch {
    /// The kernel's entry point (for profiles).
    pub fn entry(&self) -> &'static str {
        self.entry
    }

    /// This dispatch, keeping `tensor` alive with it.
    pub fn owning(mut self, tensor: Arc<Tensor>) -> Dispatch {
        self.scratch.push(tensor);
        self
    }

    /// This dispatch, with `next` recorded after it whenever it is.
    pub fn followed_by(mut self, next: Dispatch) -> Dispatch {
        assert!(self.then.is_none(), "{}: already followed by a dispatch", self.entry);
        self.then = Some(Box::new(next));
        self
    }

    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.grid[0], self.grid[1], self.grid[2]);
        if let Some(next) = &self.then {
            next.record(pass);
        }
    }
}

impl Gpu {
    fn pipeline(&self, kernel: &Kernel) -> Result<wgpu::ComputePipeline> {
        let key: PipelineKey =
            (kernel.shader, kernel.entry, kernel.constants.iter().map(|(k, v)| (*k, v.to_bits())).collect());
        if let Some(p) = self.pipelines.lock().unwrap().get(&key) {
            return Ok(p.clone());
        }
        let module = {
            let mut modules = self.modules.lock().unwrap();
            modules
                .entry(kernel.shader)
                .or_insert_with(|| {
                    self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.shader.file_name()),
                        source: wgpu::ShaderSource::Wgsl(kernel.shader.source().into()),
                    })
                })
                .clone()
        };
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry),
            layout: None,
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &kernel.constants,
                // Kernels initialise their own shared memory; Mesa compiles zero-fill slowly.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        self.check()?;
        self.pipelines.lock().unwrap().insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// Builds a dispatch: binding 0 is `params` (a uniform), the others the given
    /// `(binding, tensor)` pairs, exactly those the entry point uses.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        kernel: &Kernel,
        params: &P,
        tensors: &[(u32, &Tensor)],
        grid: [u32; 3],
    ) -> Result<Dispatch> {
        self.dispatch_with_window(kernel, params, tensors, None, grid)
    }

    /// `dispatch`, with one more tensor bound as a uniform window (`Tensor::uniform_window`).
    pub fn dispatch_with_window<P: bytemuck::Pod>(
        &self,
        kernel: &Kernel,
        params: &P,
        tensors: &[(u32, &Tensor)],
        window: Option<(u32, &Tensor)>,
        grid: [u32; 3],
    ) -> Result<Dispatch> {
        self.alive()?;
        let pipeline = self.pipeline(kernel)?;
        let mut bytes = bytemuck::bytes_of(params).to_vec();
        bytes.resize(bytes.len().next_multiple_of(16), 0);
        let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(kernel.entry),
            size: bytes.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&uniform, 0, &bytes);
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
        entries.extend(
            tensors.iter().map(|(binding, t)| wgpu::BindGroupEntry { binding: *binding, resource: t.binding() }),
        );
        if let Some((binding, t)) = window {
            let resource = t.uniform_window().ok_or_else(|| {
                Error::Gpu(format!("{}: a tensor of {} elements has no uniform window", kernel.entry, t.len()))
            })?;
            entries.push(wgpu::BindGroupEntry { binding, resource });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        self.check()?;
        let grid = if self.tuning.broken_kernel.as_deref() == Some(kernel.entry) {
            // A folded grid's last row is partly past the work: drop a whole row of it.
            match grid {
                [x, y, z] if y > 1 => [x, y - 1, z],
                [x, y, z] if x > 1 => [x - 1, y, z],
                _ => [0; 3],
            }
        } else {
            grid
        };
        Ok(Dispatch { pipeline, bind_group, grid, entry: kernel.entry, scratch: Vec::new(), then: None })
    }
}
