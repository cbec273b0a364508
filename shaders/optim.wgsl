// optim.wgsl: parameter updates, with Keras 3's update rules, and the step counter.
//
// Weight decay is decoupled, as in Keras 3 (and AdamW): p -= lr · weight_decay · p, applied
// before the update.
//   optim_sgd: momentum 0: p -= lr·g. Otherwise v = momentum·v - lr·g, then
//     p += v, or with Nesterov p += momentum·v - lr·g.
//   optim_adam_prepare: alpha = lr·sqrt(1 - β2^t)/(1 - β1^t) with t = step + 1, once per step
//     (one invocation), so the per-parameter kernel does no pow().
//   optim_adam: m += (g - m)(1 - β1); v += (g² - v)(1 - β2); p -= alpha · m / (sqrt(v) + ε).
//   optim_step_increment: step += 1, recorded once per training step after every update, so
//     the GPU keeps the step count (Adam's bias correction, dropout's RNG) without the host.
// Layouts: p, g, velocity, m, v are flat f32 arrays of `len`, read as vec4s (tensors are
//   zero-padded to whole vec4s, and zeros stay zero under every update); step is one u32.
// Bindings: 0 params; 1 p, 2 g, 3 velocity (SGD), 4 m, 5 v, 7 alpha (Adam), 6 step.
// Grid: one invocation per 4 parameters, 256 per workgroup, folded 2-D past 65 535 workgroups;
//   optim_step_increment a single invocation. p, velocity, m and v are updated in place.

struct Params {
    len: u32,
    lr: f32,
    weight_decay: f32,
    momentum: f32,
    nesterov: u32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> velocity: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> step: array<u32>;
@group(0) @binding(7) var<storage, read_write> alpha: array<f32>;

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

fn decayed(i: u32) -> vec4<f32> {
    return p[i] - params.lr * params.weight_decay * p[i];
}

@compute @workgroup_size(256)
fn optim_sgd(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= (params.len + 3u) / 4u {
        return;
    }
    let w = decayed(i);
    let grad = g[i];
    if params.momentum == 0.0 {
        p[i] = w - params.lr * grad;
        return;
    }
    let vel = params.momentum * velocity[i] - params.lr * grad;
    velocity[i] = vel;
    if params.nesterov != 0u {
        p[i] = w + params.momentum * vel - params.lr * grad;
    } else {
        p[i] = w + vel;
    }
}

@compute @workgroup_size(256)
fn optim_adam(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_index(wg, nwg, lid);
    if i >= (params.len + 3u) / 4u {
        return;
    }
    let w = decayed(i);
    let grad = g[i];
    let m_new = m[i] + (grad - m[i]) * (1.0 - params.beta1);
    let v_new = v[i] + (grad * grad - v[i]) * (1.0 - params.beta2);
    m[i] = m_new;
    v[i] = v_new;
    p[i] = w - alpha[0] * m_new / (sqrt(v_new) + params.epsilon);
}

@compute @workgroup_size(1)
fn optim_adam_prepare() {
    let t = f32(step[0] + 1u);
    alpha[0] = params.lr * sqrt(1.0 - pow(params.beta2, t)) / (1.0 - pow(params.beta1, t));
}

@compute @workgroup_size(1)
fn optim_step_increment() {
    if params.len == 0u {
        // Keeps `params` in this entry point's layout, so every kernel binds alike.
        return;
    }
    step[0] += 1u;
}
