// schedule.wgsl: the learning rate of this update, from the optimizer's step counter, as
// keras.optimizers.schedules compute it in float32. With a schedule it runs first in a step's
// update and writes the rate every optimizer kernel reads, so the schedule needs no re-recorded
// step (a constant rate is written by the host, and rewritten by ReduceLROnPlateau: no dispatch).
//
// Keras evaluates a schedule at the optimizer's `iterations`, the updates made before this
// one: the step counter holds this update's number (the loss dispatch counts it), so one less.
//   0 constant:     lr = initial
//   1 exponential:  lr = initial · rate^(t / decay_steps), the exponent floored with staircase
//   2 cosine:       without warmup t = min(t, decay_steps), lr = initial · decayed(t); with it
//                   t = min(t, decay_steps + warmup_steps), lr = initial + (target - initial) ·
//                   t / warmup_steps while t < warmup_steps, then target · decayed(t - warmup_steps);
//                   decayed(s) = (1 - alpha) · (1 + cos(π s / decay_steps)) / 2 + alpha
//   3 piecewise:    values[i], i the number of boundaries below t (t <= boundaries[0]: values[0])
// Layout of `schedule` (u32 words; f32 ones bit-cast): 0 kind, 1 initial; exponential 2
//   decay_steps, 3 decay_rate, 4 staircase; cosine 2 decay_steps, 3 alpha, 4 has a warmup
//   target, 5 warmup_target, 6 warmup_steps; piecewise 2 n boundaries, 3.. the boundaries, then
//   the n + 1 values.
// Bindings: 0 params (the description's length in words), 1 schedule, 2 step (u32), 3 rate
//   (one f32, written).
// Grid: one invocation.

struct Params {
    words: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> schedule: array<u32>;
@group(0) @binding(2) var<storage, read> step: array<u32>;
@group(0) @binding(3) var<storage, read_write> rate: array<f32>;

fn real(i: u32) -> f32 {
    return bitcast<f32>(schedule[i]);
}

// cos(x) for x in [0, π] to f32 precision. WGSL lets the builtin be 2^-11 off (absolute), and
// some adapters are (SwiftShader, Chrome's CPU adapter): more than a learning rate may move.
fn cos_0_to_pi(x: f32) -> f32 {
    // cos(x) = -sin(y) with |y| ≤ π/2; sin's Taylor series through y^13 is within 1e-9 there.
    let y = x - 1.5707963267948966;
    let y2 = y * y;
    let series = 1.0 + y2 * (-1.0 / 6.0 + y2 * (1.0 / 120.0 + y2 * (-1.0 / 5040.0 + y2 * (1.0 / 362880.0
        + y2 * (-1.0 / 39916800.0 + y2 * (1.0 / 6227020800.0))))));
    return -y * series;
}

fn cosine_decayed(s: f32, decay_steps: f32, from_lr: f32, alpha: f32) -> f32 {
    let cosine = 0.5 * (1.0 + cos_0_to_pi(3.14159265358979323846 * (s / decay_steps)));
    return from_lr * ((1.0 - alpha) * cosine + alpha);
}

@compute @workgroup_size(1)
fn learning_rate() {
    let iterations = max(step[0], 1u) - 1u;
    let t = f32(iterations);
    let initial = real(1u);
    var lr = initial;
    switch schedule[0] {
        case 1u: {
            var p = t / real(2u);
            if schedule[4] != 0u {
                p = floor(p);
            }
            lr = initial * pow(real(3u), p);
        }
        case 2u: {
            let decay_steps = real(2u);
            let alpha = real(3u);
            if schedule[4] == 0u {
                lr = cosine_decayed(min(t, decay_steps), decay_steps, initial, alpha);
            } else {
                let warmup_target = real(5u);
                let warmup_steps = real(6u);
                let s = min(t, decay_steps + warmup_steps);
                if s < warmup_steps {
                    lr = (warmup_target - initial) * (s / warmup_steps) + initial;
                } else {
                    lr = cosine_decayed(s - warmup_steps, decay_steps, warmup_target, alpha);
                }
            }
        }
        case 3u: {
            // n boundaries and n + 1 values after the three header words, within the description.
            let n = min(schedule[2], (max(params.words, 4u) - 4u) / 2u);
            var i = 0u;
            while i < n && iterations > schedule[3u + i] {
                i++;
            }
            lr = real(3u + n + i);
        }
        default: {}
    }
    rate[0] = lr;
}
