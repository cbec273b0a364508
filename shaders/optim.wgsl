// optim.wgsl: parameter updates, with Keras 3's update rules.
//
// Weight decay is decoupled, as in Keras 3 (and AdamW): p -= lr · weight_decay · p, applied
// before the update.
//   optim_sgd: momentum 0: p -= lr·g. Otherwise v = momentum·v - lr·g, then
//     p += v, or with Nesterov p += momentum·v - lr·g.
//   optim_adam: m += (g - m)(1 - β1); v += (g² - v)(1 - β2); p -= alpha · m / (sqrt(v) + ε)
//     with alpha = lr·sqrt(1 - β2^t)/(1 - β1^t), t = step. Each invocation works out alpha
//     itself, β^t as exp2(t·log2 β) with log2 β from the host: two exp2 per 4 parameters cost
//     less than a dispatch of their own (pow() doubled the kernel's time on GL/llvmpipe). The
//     step counter holds this update's number (1 for the first): the step's loss dispatch
//     (loss.wgsl) counts it before the update.
//   optim_rmsprop: velocity = ρ·velocity + (1 - ρ)·g²; centered: avg = ρ·avg + (1 - ρ)·g and
//     the denominator velocity - avg² + ε, else velocity + ε; increment = lr·g / sqrt(denominator);
//     with momentum mom = momentum·mom + increment and p -= mom, else p -= increment.
//   optim_adagrad: acc += g²; p -= lr·g / sqrt(acc + ε) (acc starts at Keras's
//     initial_accumulator_value, written by the host).
// Layouts: p, g, velocity, m, v are flat f32 arrays of `len`, read as vec4s (tensors are
//   zero-padded to whole vec4s, and zeros stay zero under every update); step is one u32.
// Bindings: 0 params; 1 p, 2 g, 3 velocity (SGD), 4 m, 5 v, 6 step (Adam); RMSprop's velocity,
//   momentum and average gradient at 3, 4, 5 (one buffer may stand for the ones its settings do
//   not use), Adagrad's accumulator at 3; 7 the learning rate, one f32 (a constant one written by
//   the host, a schedule's by schedule.wgsl each step: neither needs a re-recorded step).
// Grid: one invocation per `vecs` vec4s of parameters (consecutive ones), 256 per workgroup,
//   folded 2-D past 65 535 workgroups. p, velocity, m and v are updated in place.
//   GPUs take one vec4 per invocation (neighbours read neighbouring words); CPU adapters 8, which
//   shares an invocation's fixed cost, Adam's step size included, over 32 parameters (0.36 →
//   0.32 ms for the seed MLP's 101 770 on llvmpipe) and keeps each one's loads in its own cache
//   lines.

override vecs: u32 = 1u;

struct Params {
    len: u32,
    weight_decay: f32,
    momentum: f32,
    nesterov: u32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    log2_beta1: f32,
    log2_beta2: f32,
    rho: f32,
    centered: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> velocity: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> v: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> step: array<u32>;
@group(0) @binding(7) var<storage, read> rate: array<f32>;

fn linear_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.x + wg.y * nwg.x) * 256u + lid;
}

fn len4() -> u32 {
    return (params.len + 3u) / 4u;
}

fn decayed(w: vec4<f32>, lr: f32) -> vec4<f32> {
    return w - lr * params.weight_decay * w;
}

@compute @workgroup_size(256)
fn optim_sgd(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lr = rate[0];
    let first = linear_index(wg, nwg, lid) * vecs;
    for (var i = first; i < min(first + vecs, len4()); i++) {
        let w = decayed(p[i], lr);
        let grad = g[i];
        if params.momentum == 0.0 {
            p[i] = w - lr * grad;
            continue;
        }
        let vel = params.momentum * velocity[i] - lr * grad;
        velocity[i] = vel;
        if params.nesterov != 0u {
            p[i] = w + params.momentum * vel - lr * grad;
        } else {
            p[i] = w + vel;
        }
    }
}

@compute @workgroup_size(256)
fn optim_adam(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lr = rate[0];
    let first = linear_index(wg, nwg, lid) * vecs;
    if first >= len4() {
        return;
    }
    let t = f32(step[0]);
    let alpha = lr * sqrt(1.0 - exp2(t * params.log2_beta2)) / (1.0 - exp2(t * params.log2_beta1));
    for (var i = first; i < min(first + vecs, len4()); i++) {
        // Each value is loaded once: the arrays are read_write, so a compiler may not merge loads.
        let w = decayed(p[i], lr);
        let grad = g[i];
        let m_old = m[i];
        let v_old = v[i];
        let m_next = m_old + (grad - m_old) * (1.0 - params.beta1);
        let v_next = v_old + (grad * grad - v_old) * (1.0 - params.beta2);
        m[i] = m_next;
        v[i] = v_next;
        p[i] = w - alpha * m_next / (sqrt(v_next) + params.epsilon);
    }
}

@compute @workgroup_size(256)
fn optim_rmsprop(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lr = rate[0];
    let first = linear_index(wg, nwg, lid) * vecs;
    for (var i = first; i < min(first + vecs, len4()); i++) {
        let w = decayed(p[i], lr);
        let grad = g[i];
        let vel = params.rho * velocity[i] + (1.0 - params.rho) * (grad * grad);
        velocity[i] = vel;
        var denominator = vel + params.epsilon;
        if params.centered != 0u {
            let avg = params.rho * v[i] + (1.0 - params.rho) * grad;
            v[i] = avg;
            denominator = vel - avg * avg + params.epsilon;
        }
        let increment = lr * grad / sqrt(denominator);
        if params.momentum > 0.0 {
            let mom = params.momentum * m[i] + increment;
            m[i] = mom;
            p[i] = w - mom;
        } else {
            p[i] = w - increment;
        }
    }
}

@compute @workgroup_size(256)
fn optim_adagrad(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lr = rate[0];
    let first = linear_index(wg, nwg, lid) * vecs;
    for (var i = first; i < min(first + vecs, len4()); i++) {
        let w = decayed(p[i], lr);
        let grad = g[i];
        let acc = velocity[i] + grad * grad;
        velocity[i] = acc;
        p[i] = w - lr * grad / sqrt(acc + params.epsilon);
    }
}
