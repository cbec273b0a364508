// matmul.wgsl: C[m, n] = op(A) · op(B) (+ bias[n]) followed by an activation,
// and the bias gradient (column sums).
//
// Layouts, all row-major f32:
//   A [m, k], or [k, m] when `trans_a` (C = Aᵀ·B: a Dense layer's dw = xᵀ·dy)
//   B [k, n], or [n, k] when `trans_b` (C = A·Bᵀ: a Dense layer's dx = dy·wᵀ)
//   bias [n], C [m, n]
//   With `a_unorm8`, A's elements are bytes, four to a word, read as byte / 255 (`a_at`).
// Bindings: 0 params; matmul: 1 a, 2 b, 3 bias, 4 c, 6 db, 14 a_u8 (A as bytes);
//   matmul_bias_grad: 5 dy [m, n], 6 db [n];
//   matmul_uniform_b reads B from 12 ub, a uniform window (see the kernel), and A from 1 and 7.
// With `bias_grad` set, every product kernel also writes db[n] = the column sums of op(B) over k:
//   for a Dense layer's dw = xᵀ·dz that is its bias gradient, from the loads dw makes anyway, so
//   the bias needs no dispatch of its own. The invocations of the first row block sum; others
//   skip it. (db is bound, unwritten, without `bias_grad`.)
// With `act_grad` (an activation code), C is multiplied by that activation's derivative, read
//   from its output `saved` [m, n] (10, or 11 as vec4s) instead of activated: for a Dense
//   layer's dx = dz·wᵀ this yields the previous layer's pre-activation gradient directly.
// matmul and matmul_8x8 grid: (ceil(n / 64), ceil(m / 64)). A workgroup computes a 64×64 tile
//   of C, each invocation a 4×4 (matmul, 16×16 invocations) or 8×8 (matmul_8x8, 8×8) block in
//   registers, with no shared memory: barriers are what CPU adapters pay for most. Out-of-range
//   rows and columns are clamped on load and skipped on store.
// matmul_vec4 (m, n and k all multiples of 4): the 4×4 kernel reading A, B and C as vec4s
//   (7 a4, 8 b4, 9 c4, 3 bias) and stepping k four at a time, so each invocation does 64
//   multiply-adds per 8 vector loads. Same grid. matmul_vec4_8x8 and matmul_vec4_16x8: the same
//   with 8×8 and 16×8 blocks per invocation (grid rows of 64 and 128; see each kernel).
// matmul_tiled (GPUs; m, n and k multiples of 4): 128×128 tiles through workgroup memory, k in
//   steps of 16; grid (ceil(n / 128), ceil(m / 128)).
// matmul_split_k (GPUs; products with few outputs and a long k): k split over the 16 lanes of a
//   workgroup and over workgroups; grid (ceil(n / 16), ceil(m / 16), chunks). With one chunk it
//   writes C; with more, each chunk's sums go to 13 partial ([chunks, m, n], then the column sums
//   [chunks, n]) and matmul_split_k_reduce (grid ceil(m·n / 256)) adds them in chunk order and
//   writes C (and db).
// matmul_bias_grad grid: ceil(n / 256); one invocation sums a column in fixed row order.
// matmul_bias_grad_tall grid: n workgroups, one per column (for dy with many rows).
// Activations: 0 linear, 1 relu, 2 sigmoid, 3 tanh. Outputs are overwritten, never accumulated.

override trans_a: bool = false;
override trans_b: bool = false;
override a_unorm8: bool = false;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    act: u32,
    has_bias: u32,
    bias_grad: u32,
    act_grad: u32,
    // matmul_split_k: the k of one workgroup's chunk (a multiple of 16), and how many chunks.
    chunk: u32,
    chunks: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> db: array<f32>;
@group(0) @binding(7) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> c4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> saved: array<f32>;
@group(0) @binding(11) var<storage, read> saved4: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read_write> partial: array<f32>;
@group(0) @binding(14) var<storage, read> a_u8: array<u32>;

fn sigmoid(v: f32) -> f32 {
    if v >= 0.0 {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}

// tanh through exp of a non-negative argument: finite for every input on every backend.
fn stable_tanh(v: f32) -> f32 {
    let t = 1.0 - 2.0 / (exp(2.0 * abs(v)) + 1.0);
    return select(-t, t, v >= 0.0);
}

fn activate(v: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return max(v, 0.0); }
        case 2u: { return sigmoid(v); }
        case 3u: { return stable_tanh(v); }
        case 4u: { return select(0.2 * v, v, v > 0.0); }
        case 5u: { return select(exp(min(v, 0.0)) - 1.0, v, v > 0.0); }
        default: { return v; }
    }
}

// The derivative of activation `act` at the point where it output `out`.
fn slope4(out: vec4<f32>, act: u32) -> vec4<f32> {
    switch act {
        case 1u: { return select(vec4<f32>(0.0), vec4<f32>(1.0), out > vec4<f32>(0.0)); }
        case 2u: { return out * (1.0 - out); }
        case 3u: { return 1.0 - out * out; }
        case 4u: { return select(vec4<f32>(0.2), vec4<f32>(1.0), out > vec4<f32>(0.0)); }
        case 5u: { return select(out + 1.0, vec4<f32>(1.0), out > vec4<f32>(0.0)); }
        default: { return vec4<f32>(1.0); }
    }
}

// The value stored for C[at]: activated, or times the activation's derivative (`act_grad`).
fn finish(at: u32, v: f32) -> f32 {
    if params.act_grad != 0u {
        return v * slope4(vec4<f32>(saved[at]), params.act_grad).x;
    }
    return activate(v, params.act);
}

fn finish4(at: u32, v: vec4<f32>) -> vec4<f32> {
    if params.act_grad != 0u {
        return v * slope4(saved4[at], params.act_grad);
    }
    return activate4(v, params.act);
}

fn load_a(row: u32, p: u32) -> f32 {
    if trans_a {
        return a_at(p * params.m + row);
    }
    return a_at(row * params.k + p);
}

// A's element i, and its elements 4i .. 4i + 3: f32, or with `a_unorm8` bytes packed four to a
// word (14 a_u8) read as byte / 255 — an input batch of u8 images, copied as it is: a quarter
// of the words to load, which is what a product costs on CPU adapters (each load a gather).
// byte / 255 rounded once to f32, in integer arithmetic so it is exact on every device: the
// same function as data.wgsl's, which says how it works.
fn unorm8x4(bytes: vec4<u32>) -> vec4<f32> {
    let bits = bytes * 0x01010101u;
    let lz = countLeadingZeros(bits);
    let m = bits << (lz & vec4<u32>(31u));
    let f = ((vec4<u32>(126u) - lz) << vec4<u32>(23u)) + ((m >> vec4<u32>(8u)) & vec4<u32>(0x7fffffu))
        + ((m >> vec4<u32>(7u)) & vec4<u32>(1u));
    return select(bitcast<vec4<f32>>(f), vec4<f32>(0.0), bytes == vec4<u32>(0u));
}

fn a_at(i: u32) -> f32 {
    if a_unorm8 {
        return unorm8x4(vec4<u32>((a_u8[i / 4u] >> (8u * (i % 4u))) & 0xffu)).x;
    }
    return a[i];
}

fn a4_at(i: u32) -> vec4<f32> {
    if a_unorm8 {
        let w = a_u8[i];
        return unorm8x4(vec4<u32>(w & 0xffu, (w >> 8u) & 0xffu, (w >> 16u) & 0xffu, w >> 24u));
    }
    return a4[i];
}

fn load_b(p: u32, col: u32) -> f32 {
    if trans_b {
        return b[col * params.k + p];
    }
    return b[p * params.n + col];
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * 64u + lid.y * 4u;
    let col0 = wg.x * 64u + lid.x * 4u;
    if row0 >= params.m || col0 >= params.n {
        return;
    }
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    let r = vec4<u32>(row0, min(row0 + 1u, last_row), min(row0 + 2u, last_row), min(row0 + 3u, last_row));
    let q = vec4<u32>(col0, min(col0 + 1u, last_col), min(col0 + 2u, last_col), min(col0 + 3u, last_col));
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var colsum = vec4<f32>(0.0);
    for (var p = 0u; p < params.k; p++) {
        let av = vec4<f32>(load_a(r.x, p), load_a(r.y, p), load_a(r.z, p), load_a(r.w, p));
        let bv = vec4<f32>(load_b(p, q.x), load_b(p, q.y), load_b(p, q.z), load_b(p, q.w));
        acc0 += av.x * bv;
        acc1 += av.y * bv;
        acc2 += av.z * bv;
        acc3 += av.w * bv;
        if params.bias_grad != 0u && row0 == 0u {
            colsum += bv;
        }
    }
    if params.bias_grad != 0u && row0 == 0u {
        store_db4(col0, colsum);
    }
    var bias_v = vec4<f32>(0.0);
    if params.has_bias != 0u {
        bias_v = vec4<f32>(bias[q.x], bias[q.y], bias[q.z], bias[q.w]);
    }
    let rows_left = params.m - row0;
    store4(row0, col0, acc0 + bias_v);
    if rows_left > 1u {
        store4(row0 + 1u, col0, acc1 + bias_v);
    }
    if rows_left > 2u {
        store4(row0 + 2u, col0, acc2 + bias_v);
    }
    if rows_left > 3u {
        store4(row0 + 3u, col0, acc3 + bias_v);
    }
}

// c[row, col .. col + 4] = act(v), the columns past n skipped: no dynamic vector indexing,
// which CPU adapters pay for dearly.
fn store4(row: u32, col: u32, v: vec4<f32>) {
    let at = row * params.n + col;
    let left = params.n - col;
    c[at] = finish(at, v.x);
    if left > 1u {
        c[at + 1u] = finish(at + 1u, v.y);
    }
    if left > 2u {
        c[at + 2u] = finish(at + 2u, v.z);
    }
    if left > 3u {
        c[at + 3u] = finish(at + 3u, v.w);
    }
}

// db[col .. col + 4] = v, the columns past n skipped.
fn store_db4(col: u32, v: vec4<f32>) {
    let left = params.n - col;
    db[col] = v.x;
    if left > 1u {
        db[col + 1u] = v.y;
    }
    if left > 2u {
        db[col + 2u] = v.z;
    }
    if left > 3u {
        db[col + 3u] = v.w;
    }
}

// The same product with an 8×8 block per invocation and 8×8 invocations per workgroup (still a
// 64×64 tile, so the grid is the same): twice the reuse of every load, a quarter of the
// invocations. Faster where invocations are expensive and registers plentiful (CPU adapters).
// (Written with separate accumulators it ran twice as fast on random data, and 13× slower on a
// seed model's output-layer weight gradient on lavapipe; this form is steady on both.)
@compute @workgroup_size(8, 8)
fn matmul_8x8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * 64u + lid.y * 8u;
    let col0 = wg.x * 64u + lid.x * 8u;
    if row0 >= params.m || col0 >= params.n {
        return;
    }
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    var r: array<u32, 8>;
    var q: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        r[i] = min(row0 + i, last_row);
        q[i] = min(col0 + i, last_col);
    }
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    var colsum0 = vec4<f32>(0.0);
    var colsum1 = vec4<f32>(0.0);
    for (var p = 0u; p < params.k; p++) {
        let b0 = vec4<f32>(load_b(p, q[0]), load_b(p, q[1]), load_b(p, q[2]), load_b(p, q[3]));
        let b1 = vec4<f32>(load_b(p, q[4]), load_b(p, q[5]), load_b(p, q[6]), load_b(p, q[7]));
        if params.bias_grad != 0u && row0 == 0u {
            colsum0 += b0;
            colsum1 += b1;
        }
        for (var i = 0u; i < 8u; i++) {
            let av = load_a(r[i], p);
            acc[2u * i] += av * b0;
            acc[2u * i + 1u] += av * b1;
        }
    }
    var bias0 = vec4<f32>(0.0);
    var bias1 = vec4<f32>(0.0);
    if params.has_bias != 0u {
        bias0 = vec4<f32>(bias[q[0]], bias[q[1]], bias[q[2]], bias[q[3]]);
        bias1 = vec4<f32>(bias[q[4]], bias[q[5]], bias[q[6]], bias[q[7]]);
    }
    if params.bias_grad != 0u && row0 == 0u {
        store_db4(col0, colsum0);
        if col0 + 4u < params.n {
            store_db4(col0 + 4u, colsum1);
        }
    }
    for (var i = 0u; i < 8u; i++) {
        let row = row0 + i;
        if row >= params.m {
            break;
        }
        store4(row, col0, acc[2u * i] + bias0);
        if col0 + 4u < params.n {
            store4(row, col0 + 4u, acc[2u * i + 1u] + bias1);
        }
    }
}

fn activate4(v: vec4<f32>, act: u32) -> vec4<f32> {
    switch act {
        case 1u: { return max(v, vec4<f32>(0.0)); }
        case 2u: {
            let e = exp(-abs(v));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= vec4<f32>(0.0));
        }
        case 3u: {
            let t = 1.0 - 2.0 / (exp(2.0 * abs(v)) + 1.0);
            return select(-t, t, v >= vec4<f32>(0.0));
        }
        case 4u: { return select(0.2 * v, v, v > vec4<f32>(0.0)); }
        case 5u: { return select(exp(min(v, vec4<f32>(0.0))) - 1.0, v, v > vec4<f32>(0.0)); }
        default: { return v; }
    }
}

@compute @workgroup_size(16, 16)
fn matmul_vec4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * 64u + lid.y * 4u;
    let col0 = wg.x * 64u + lid.x * 4u;
    if row0 >= params.m || col0 >= params.n {
        return;
    }
    let m4 = params.m / 4u;
    let n4 = params.n / 4u;
    let k4 = params.k / 4u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var colsum = vec4<f32>(0.0);
    for (var p = 0u; p < params.k; p += 4u) {
        // rows[i] = A[row0 + i, p .. p + 4]; cols[j] = B[p .. p + 4, col0 + j].
        var rows: mat4x4<f32>;
        if trans_a {
            let at = p * m4 + row0 / 4u;
            rows = transpose(mat4x4<f32>(a4_at(at), a4_at(at + m4), a4_at(at + 2u * m4), a4_at(at + 3u * m4)));
        } else {
            let at = row0 * k4 + p / 4u;
            rows = mat4x4<f32>(a4_at(at), a4_at(at + k4), a4_at(at + 2u * k4), a4_at(at + 3u * k4));
        }
        var cols: mat4x4<f32>;
        if trans_b {
            let at = col0 * k4 + p / 4u;
            cols = mat4x4<f32>(b4[at], b4[at + k4], b4[at + 2u * k4], b4[at + 3u * k4]);
        } else {
            let at = p * n4 + col0 / 4u;
            cols = transpose(mat4x4<f32>(b4[at], b4[at + n4], b4[at + 2u * n4], b4[at + 3u * n4]));
        }
        acc0 += rows[0] * cols;
        acc1 += rows[1] * cols;
        acc2 += rows[2] * cols;
        acc3 += rows[3] * cols;
        if params.bias_grad != 0u && row0 == 0u {
            // cols[j] holds column j over these 4 k: its sum is a product with ones.
            colsum += vec4<f32>(1.0) * cols;
        }
    }
    if params.bias_grad != 0u && row0 == 0u {
        store_db4(col0, colsum);
    }
    var bias_v = vec4<f32>(0.0);
    if params.has_bias != 0u {
        bias_v = vec4<f32>(bias[col0], bias[col0 + 1u], bias[col0 + 2u], bias[col0 + 3u]);
    }
    let at = row0 * n4 + col0 / 4u;
    c4[at] = finish4(at, acc0 + bias_v);
    c4[at + n4] = finish4(at + n4, acc1 + bias_v);
    c4[at + 2u * n4] = finish4(at + 2u * n4, acc2 + bias_v);
    c4[at + 3u * n4] = finish4(at + 3u * n4, acc3 + bias_v);
}

// 8×8 outputs per invocation from vec4 loads: rows r0..r0+7, columns c0..c0+7, k stepped by 4.
// On CPU adapters every load is a per-invocation gather, so the larger block (4 FMAs per loaded
// value instead of 2) is what pays. m, n and k must be multiples of 4; the tile is 64×64.
// The 16 accumulators are separate variables, written out row by row, not an indexed local
// array, which a compiler may keep in memory rather than in registers.
@compute @workgroup_size(8, 8)
fn matmul_vec4_8x8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * 64u + lid.y * 8u;
    let col0 = wg.x * 64u + lid.x * 8u;
    if row0 >= params.m || col0 >= params.n {
        return;
    }
    let m4 = params.m / 4u;
    let n4 = params.n / 4u;
    let k4 = params.k / 4u;
    // The second half-block is clamped onto the first when it falls outside (n or m = 4 mod 8);
    // its results are then not stored.
    let row1 = min(row0 + 4u, params.m - 4u);
    let col1 = min(col0 + 4u, params.n - 4u);
    var acc00 = vec4<f32>(0.0);
    var acc01 = vec4<f32>(0.0);
    var acc10 = vec4<f32>(0.0);
    var acc11 = vec4<f32>(0.0);
    var acc20 = vec4<f32>(0.0);
    var acc21 = vec4<f32>(0.0);
    var acc30 = vec4<f32>(0.0);
    var acc31 = vec4<f32>(0.0);
    var acc40 = vec4<f32>(0.0);
    var acc41 = vec4<f32>(0.0);
    var acc50 = vec4<f32>(0.0);
    var acc51 = vec4<f32>(0.0);
    var acc60 = vec4<f32>(0.0);
    var acc61 = vec4<f32>(0.0);
    var acc70 = vec4<f32>(0.0);
    var acc71 = vec4<f32>(0.0);
    var colsum0 = vec4<f32>(0.0);
    var colsum1 = vec4<f32>(0.0);
    for (var p = 0u; p < params.k; p += 4u) {
        var rows0: mat4x4<f32>;
        var rows1: mat4x4<f32>;
        if trans_a {
            let at0 = p * m4 + row0 / 4u;
            rows0 = transpose(mat4x4<f32>(a4_at(at0), a4_at(at0 + m4), a4_at(at0 + 2u * m4), a4_at(at0 + 3u * m4)));
            let at1 = p * m4 + row1 / 4u;
            rows1 = transpose(mat4x4<f32>(a4_at(at1), a4_at(at1 + m4), a4_at(at1 + 2u * m4), a4_at(at1 + 3u * m4)));
        } else {
            let at0 = row0 * k4 + p / 4u;
            rows0 = mat4x4<f32>(a4_at(at0), a4_at(at0 + k4), a4_at(at0 + 2u * k4), a4_at(at0 + 3u * k4));
            let at1 = row1 * k4 + p / 4u;
            rows1 = mat4x4<f32>(a4_at(at1), a4_at(at1 + k4), a4_at(at1 + 2u * k4), a4_at(at1 + 3u * k4));
        }
        var cols0: mat4x4<f32>;
        var cols1: mat4x4<f32>;
        if trans_b {
            let bt0 = col0 * k4 + p / 4u;
            cols0 = mat4x4<f32>(b4[bt0], b4[bt0 + k4], b4[bt0 + 2u * k4], b4[bt0 + 3u * k4]);
            let bt1 = col1 * k4 + p / 4u;
            cols1 = mat4x4<f32>(b4[bt1], b4[bt1 + k4], b4[bt1 + 2u * k4], b4[bt1 + 3u * k4]);
        } else {
            let bt0 = p * n4 + col0 / 4u;
            cols0 = transpose(mat4x4<f32>(b4[bt0], b4[bt0 + n4], b4[bt0 + 2u * n4], b4[bt0 + 3u * n4]));
            let bt1 = p * n4 + col1 / 4u;
            cols1 = transpose(mat4x4<f32>(b4[bt1], b4[bt1 + n4], b4[bt1 + 2u * n4], b4[bt1 + 3u * n4]));
        }
        acc00 += rows0[0] * cols0;
        acc01 += rows0[0] * cols1;
        acc10 += rows0[1] * cols0;
        acc11 += rows0[1] * cols1;
        acc20 += rows0[2] * cols0;
        acc21 += rows0[2] * cols1;
        acc30 += rows0[3] * cols0;
        acc31 += rows0[3] * cols1;
        acc40 += rows1[0] * cols0;
        acc41 += rows1[0] * cols1;
        acc50 += rows1[1] * cols0;
        acc51 += rows1[1] * cols1;
        acc60 += rows1[2] * cols0;
        acc61 += rows1[2] * cols1;
        acc70 += rows1[3] * cols0;
        acc71 += rows1[3] * cols1;
        if params.bias_grad != 0u && row0 == 0u {
            colsum0 += vec4<f32>(1.0) * cols0;
            colsum1 += vec4<f32>(1.0) * cols1;
        }
    }
    var bias0 = vec4<f32>(0.0);
    var bias1 = vec4<f32>(0.0);
    if params.has_bias != 0u {
        bias0 = vec4<f32>(bias[col0], bias[col0 + 1u], bias[col0 + 2u], bias[col0 + 3u]);
        bias1 = vec4<f32>(bias[col1], bias[col1 + 1u], bias[col1 + 2u], bias[col1 + 3u]);
    }
    let second_cols = col0 + 4u < params.n;
    if params.bias_grad != 0u && row0 == 0u {
        store_db4(col0, colsum0);
        if second_cols {
            store_db4(col1, colsum1);
        }
    }
    let at0 = (row0 + 0u) * n4 + col0 / 4u;
    c4[at0] = finish4(at0, acc00 + bias0);
    if second_cols {
        c4[at0 + 1u] = finish4(at0 + 1u, acc01 + bias1);
    }
    let at1 = (row0 + 1u) * n4 + col0 / 4u;
    c4[at1] = finish4(at1, acc10 + bias0);
    if second_cols {
        c4[at1 + 1u] = finish4(at1 + 1u, acc11 + bias1);
    }
    let at2 = (row0 + 2u) * n4 + col0 / 4u;
    c4[at2] = finish4(at2, acc20 + bias0);
    if second_cols {
        c4[at2 + 1u] = finish4(at2 + 1u, acc21 + bias1);
    }
    let at3 = (row0 + 3u) * n4 + col0 / 4u;
    c4[at3] = finish4(at3, acc30 + bias0);
    if second_cols {
        c4[at3 + 1u] = finish4(at3 + 1u, acc31 + bias1);
    }
    let at4 = (row1 + 0u) * n4 + col0 / 4u;
    if row0 + 4u < params.m {
        c4[at4] = finish4(at4, acc40 + bias0);
        if second_cols {
            c4[at4 + 1u] = finish4(at4 + 1u, acc41 + bias1);
        }
    }
    let at5 = (row1 + 1u) * n4 + col0 / 4u;
    if row0 + 4u < params.m {
        c4[at5] = finish4(at5, acc50 + bias0);
        if second_cols {
            c4[at5 + 1u] = finish4(at5 + 1u, acc51 + bias1);
        }
    }
    let at6 = (row1 + 2u) * n4 + col0 / 4u;
    if row0 + 4u < params.m {
        c4[at6] = finish4(at6, acc60 + bias0);
        if second_cols {
            c4[at6 + 1u] = finish4(at6 + 1u, acc61 + bias1);
        }
    }
    let at7 = (row1 + 3u) * n4 + col0 / 4u;
    if row0 + 4u < params.m {
        c4[at7] = finish4(at7, acc70 + bias0);
        if second_cols {
            c4[at7 + 1u] = finish4(at7 + 1u, acc71 + bias1);
        }
    }
}

// 16×8 outputs per invocation from vec4 loads (4 row groups × 2 column groups of 4): 24 vec4
// loads per 4 steps of k feed 512 multiply-adds, a third more per load than the 8×8 kernel,
// which is what pays on CPU adapters (each load a per-invocation gather). The tile is 128 rows
// by 64 columns: grid (ceil(n / 64), ceil(m / 128)). m, n and k must be multiples of 4; groups
// past the edge are clamped onto the last one and not stored.
@compute @workgroup_size(8, 8)
fn matmul_vec4_16x8(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * 128u + lid.y * 16u;
    let col0 = wg.x * 64u + lid.x * 8u;
    if row0 >= params.m || col0 >= params.n {
        return;
    }
    let m4 = params.m / 4u;
    let n4 = params.n / 4u;
    let k4 = params.k / 4u;
    let rg0 = min(row0 + 0u, params.m - 4u);
    let rg1 = min(row0 + 4u, params.m - 4u);
    let rg2 = min(row0 + 8u, params.m - 4u);
    let rg3 = min(row0 + 12u, params.m - 4u);
    let cg0 = min(col0 + 0u, params.n - 4u);
    let cg1 = min(col0 + 4u, params.n - 4u);
    var acc00_0 = vec4<f32>(0.0);
    var acc00_1 = vec4<f32>(0.0);
    var acc01_0 = vec4<f32>(0.0);
    var acc01_1 = vec4<f32>(0.0);
    var acc02_0 = vec4<f32>(0.0);
    var acc02_1 = vec4<f32>(0.0);
    var acc03_0 = vec4<f32>(0.0);
    var acc03_1 = vec4<f32>(0.0);
    var acc04_0 = vec4<f32>(0.0);
    var acc04_1 = vec4<f32>(0.0);
    var acc05_0 = vec4<f32>(0.0);
    var acc05_1 = vec4<f32>(0.0);
    var acc06_0 = vec4<f32>(0.0);
    var acc06_1 = vec4<f32>(0.0);
    var acc07_0 = vec4<f32>(0.0);
    var acc07_1 = vec4<f32>(0.0);
    var acc08_0 = vec4<f32>(0.0);
    var acc08_1 = vec4<f32>(0.0);
    var acc09_0 = vec4<f32>(0.0);
    var acc09_1 = vec4<f32>(0.0);
    var acc10_0 = vec4<f32>(0.0);
    var acc10_1 = vec4<f32>(0.0);
    var acc11_0 = vec4<f32>(0.0);
    var acc11_1 = vec4<f32>(0.0);
    var acc12_0 = vec4<f32>(0.0);
    var acc12_1 = vec4<f32>(0.0);
    var acc13_0 = vec4<f32>(0.0);
    var acc13_1 = vec4<f32>(0.0);
    var acc14_0 = vec4<f32>(0.0);
    var acc14_1 = vec4<f32>(0.0);
    var acc15_0 = vec4<f32>(0.0);
    var acc15_1 = vec4<f32>(0.0);
    var colsum0 = vec4<f32>(0.0);
    var colsum1 = vec4<f32>(0.0);
    for (var p = 0u; p < params.k; p += 4u) {
        var rows0: mat4x4<f32>;
        var rows1: mat4x4<f32>;
        var rows2: mat4x4<f32>;
        var rows3: mat4x4<f32>;
        if trans_a {
            let at0 = p * m4 + rg0 / 4u;
            rows0 = transpose(mat4x4<f32>(a4_at(at0), a4_at(at0 + m4), a4_at(at0 + 2u * m4), a4_at(at0 + 3u * m4)));
            let at1 = p * m4 + rg1 / 4u;
            rows1 = transpose(mat4x4<f32>(a4_at(at1), a4_at(at1 + m4), a4_at(at1 + 2u * m4), a4_at(at1 + 3u * m4)));
            let at2 = p * m4 + rg2 / 4u;
            rows2 = transpose(mat4x4<f32>(a4_at(at2), a4_at(at2 + m4), a4_at(at2 + 2u * m4), a4_at(at2 + 3u * m4)));
            let at3 = p * m4 + rg3 / 4u;
            rows3 = transpose(mat4x4<f32>(a4_at(at3), a4_at(at3 + m4), a4_at(at3 + 2u * m4), a4_at(at3 + 3u * m4)));
        } else {
            let at0 = rg0 * k4 + p / 4u;
            rows0 = mat4x4<f32>(a4_at(at0), a4_at(at0 + k4), a4_at(at0 + 2u * k4), a4_at(at0 + 3u * k4));
            let at1 = rg1 * k4 + p / 4u;
            rows1 = mat4x4<f32>(a4_at(at1), a4_at(at1 + k4), a4_at(at1 + 2u * k4), a4_at(at1 + 3u * k4));
            let at2 = rg2 * k4 + p / 4u;
            rows2 = mat4x4<f32>(a4_at(at2), a4_at(at2 + k4), a4_at(at2 + 2u * k4), a4_at(at2 + 3u * k4));
            let at3 = rg3 * k4 + p / 4u;
            rows3 = mat4x4<f32>(a4_at(at3), a4_at(at3 + k4), a4_at(at3 + 2u * k4), a4_at(at3 + 3u * k4));
        }
        var cols0: mat4x4<f32>;
        var cols1: mat4x4<f32>;
        if trans_b {
            let bt0 = cg0 * k4 + p / 4u;
            cols0 = mat4x4<f32>(b4[bt0], b4[bt0 + k4], b4[bt0 + 2u * k4], b4[bt0 + 3u * k4]);
            let bt1 = cg1 * k4 + p / 4u;
            cols1 = mat4x4<f32>(b4[bt1], b4[bt1 + k4], b4[bt1 + 2u * k4], b4[bt1 + 3u * k4]);
        } else {
            let bt0 = p * n4 + cg0 / 4u;
            cols0 = transpose(mat4x4<f32>(b4[bt0], b4[bt0 + n4], b4[bt0 + 2u * n4], b4[bt0 + 3u * n4]));
            let bt1 = p * n4 + cg1 / 4u;
            cols1 = transpose(mat4x4<f32>(b4[bt1], b4[bt1 + n4], b4[bt1 + 2u * n4], b4[bt1 + 3u * n4]));
        }
        acc00_0 += rows0[0] * cols0;
        acc00_1 += rows0[0] * cols1;
        acc01_0 += rows0[1] * cols0;
        acc01_1 += rows0[1] * cols1;
        acc02_0 += rows0[2] * cols0;
        acc02_1 += rows0[2] * cols1;
        acc03_0 += rows0[3] * cols0;
        acc03_1 += rows0[3] * cols1;
        acc04_0 += rows1[0] * cols0;
        acc04_1 += rows1[0] * cols1;
        acc05_0 += rows1[1] * cols0;
        acc05_1 += rows1[1] * cols1;
        acc06_0 += rows1[2] * cols0;
        acc06_1 += rows1[2] * cols1;
        acc07_0 += rows1[3] * cols0;
        acc07_1 += rows1[3] * cols1;
        acc08_0 += rows2[0] * cols0;
        acc08_1 += rows2[0] * cols1;
        acc09_0 += rows2[1] * cols0;
        acc09_1 += rows2[1] * cols1;
        acc10_0 += rows2[2] * cols0;
        acc10_1 += rows2[2] * cols1;
        acc11_0 += rows2[3] * cols0;
        acc11_1 += rows2[3] * cols1;
        acc12_0 += rows3[0] * cols0;
        acc12_1 += rows3[0] * cols1;
        acc13_0 += rows3[1] * cols0;
        acc13_1 += rows3[1] * cols1;
        acc14_0 += rows3[2] * cols0;
        acc14_1 += rows3[2] * cols1;
        acc15_0 += rows3[3] * cols0;
        acc15_1 += rows3[3] * cols1;
        if params.bias_grad != 0u && row0 == 0u {
            colsum0 += vec4<f32>(1.0) * cols0;
            colsum1 += vec4<f32>(1.0) * cols1;
        }
    }
    var bias0 = vec4<f32>(0.0);
    var bias1 = vec4<f32>(0.0);
    if params.has_bias != 0u {
        bias0 = vec4<f32>(bias[cg0], bias[cg0 + 1u], bias[cg0 + 2u], bias[cg0 + 3u]);
        bias1 = vec4<f32>(bias[cg1], bias[cg1 + 1u], bias[cg1 + 2u], bias[cg1 + 3u]);
    }
    if params.bias_grad != 0u && row0 == 0u {
        store_db4(cg0, colsum0);
        if col0 + 4u < params.n {
            store_db4(cg1, colsum1);
        }
    }
    let at00 = (rg0 + 0u) * n4;
    c4[at00 + cg0 / 4u] = finish4(at00 + cg0 / 4u, acc00_0 + bias0);
    if col0 + 4u < params.n {
        c4[at00 + cg1 / 4u] = finish4(at00 + cg1 / 4u, acc00_1 + bias1);
    }
    let at01 = (rg0 + 1u) * n4;
    c4[at01 + cg0 / 4u] = finish4(at01 + cg0 / 4u, acc01_0 + bias0);
    if col0 + 4u < params.n {
        c4[at01 + cg1 / 4u] = finish4(at01 + cg1 / 4u, acc01_1 + bias1);
    }
    let at02 = (rg0 + 2u) * n4;
    c4[at02 + cg0 / 4u] = finish4(at02 + cg0 / 4u, acc02_0 + bias0);
    if col0 + 4u < params.n {
        c4[at02 + cg1 / 4u] = finish4(at02 + cg1 / 4u, acc02_1 + bias1);
    }
    let at03 = (rg0 + 3u) * n4;
    c4[at03 + cg0 / 4u] = finish4(at03 + cg0 / 4u, acc03_0 + bias0);
    if col0 + 4u < params.n {
        c4[at03 + cg1 / 4u] = finish4(at03 + cg1 / 4u, acc03_1 + bias1);
    }
    if row0 + 4u < params.m {
        let at04 = (rg1 + 0u) * n4;
        c4[at04 + cg0 / 4u] = finish4(at04 + cg0 / 4u, acc04_0 + bias0);
        if col0 + 4u < params.n {
            c4[at04 + cg1 / 4u] = finish4(at04 + cg1 / 4u, acc04_1 + bias1);
        }
        let at05 = (rg1 + 1u) * n4;
        c4[at05 + cg0 / 4u] = finish4(at05 + cg0 / 4u, acc05_0 + bias0);
        if col0 + 4u < params.n {
            c4[at05 + cg1 / 4u] = finish4(at05 + cg1 / 4u, acc05_1 + bias1);
        }
        let at06 = (rg1 + 2u) * n4;
        c4[at06 + cg0 / 4u] = finish4(at06 + cg0 / 4u, acc06_0 + bias0);
        if col0 + 4u < params.n {
            c4[at06 + cg1 / 4u] = finish4(at06 + cg1 / 4u, acc06_1 + bias1);
        }
        let at07 = (rg1 + 3u) * n4;
        c4[at07 + cg0 / 4u] = finish4(at07 + cg0 / 4u, acc07_0 + bias0);
        if col0 + 4u < params.n {
            c4[at07 + cg1 / 4u] = finish4(at07 + cg1 / 4u, acc07_1 + bias1);
        }
    }
    if row0 + 8u < params.m {
        let at08 = (rg2 + 0u) * n4;
        c4[at08 + cg0 / 4u] = finish4(at08 + cg0 / 4u, acc08_0 + bias0);
        if col0 + 4u < params.n {
            c4[at08 + cg1 / 4u] = finish4(at08 + cg1 / 4u, acc08_1 + bias1);
        }
        let at09 = (rg2 + 1u) * n4;
        c4[at09 + cg0 / 4u] = finish4(at09 + cg0 / 4u, acc09_0 + bias0);
        if col0 + 4u < params.n {
            c4[at09 + cg1 / 4u] = finish4(at09 + cg1 / 4u, acc09_1 + bias1);
        }
        let at10 = (rg2 + 2u) * n4;
        c4[at10 + cg0 / 4u] = finish4(at10 + cg0 / 4u, acc10_0 + bias0);
        if col0 + 4u < params.n {
            c4[at10 + cg1 / 4u] = finish4(at10 + cg1 / 4u, acc10_1 + bias1);
        }
        let at11 = (rg2 + 3u) * n4;
        c4[at11 + cg0 / 4u] = finish4(at11 + cg0 / 4u, acc11_0 + bias0);
        if col0 + 4u < params.n {
            c4[at11 + cg1 / 4u] = finish4(at11 + cg1 / 4u, acc11_1 + bias1);
        }
    }
    if row0 + 12u < params.m {
        let at12 = (rg3 + 0u) * n4;
        c4[at12 + cg0 / 4u] = finish4(at12 + cg0 / 4u, acc12_0 + bias0);
        if col0 + 4u < params.n {
            c4[at12 + cg1 / 4u] = finish4(at12 + cg1 / 4u, acc12_1 + bias1);
        }
        let at13 = (rg3 + 1u) * n4;
        c4[at13 + cg0 / 4u] = finish4(at13 + cg0 / 4u, acc13_0 + bias0);
        if col0 + 4u < params.n {
            c4[at13 + cg1 / 4u] = finish4(at13 + cg1 / 4u, acc13_1 + bias1);
        }
        let at14 = (rg3 + 2u) * n4;
        c4[at14 + cg0 / 4u] = finish4(at14 + cg0 / 4u, acc14_0 + bias0);
        if col0 + 4u < params.n {
            c4[at14 + cg1 / 4u] = finish4(at14 + cg1 / 4u, acc14_1 + bias1);
        }
        let at15 = (rg3 + 3u) * n4;
        c4[at15 + cg0 / 4u] = finish4(at15 + cg0 / 4u, acc15_0 + bias0);
        if col0 + 4u < params.n {
            c4[at15 + cg1 / 4u] = finish4(at15 + cg1 / 4u, acc15_1 + bias1);
        }
    }
}

var<workgroup> partial_sums: array<f32, 256>;

// Column sums for tall dy (a convolution's n·oh·ow rows): one workgroup per column, each
// invocation summing every 256th row, then a fixed-order tree over the workgroup.
@compute @workgroup_size(256)
fn matmul_bias_grad_tall(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let col = wg.x + wg.y * nwg.x;
    if col >= params.n {
        return;
    }
    var sum = 0.0;
    for (var row = lid; row < params.m; row += 256u) {
        sum += dy[row * params.n + col];
    }
    partial_sums[lid] = sum;
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        workgroupBarrier();
        if lid < stride {
            partial_sums[lid] += partial_sums[lid + stride];
        }
    }
    if lid == 0u {
        db[col] = partial_sums[0];
    }
}

@compute @workgroup_size(256)
fn matmul_bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    if col >= params.n {
        return;
    }
    var sum = 0.0;
    for (var row = 0u; row < params.m; row++) {
        sum += dy[row * params.n + col];
    }
    db[col] = sum;
}

// Products whose B is small enough to be read whole by every invocation (≤ 16 384 elements: an
// output layer's weights, a Dense layer's dz in its weight gradient): B is bound as a uniform
// buffer, `ub`, and every invocation of a workgroup reads the same B values at each step of k:
// on CPU adapters a uniform load is one gather per vector of invocations, about twice as fast as
// a storage load (made lane by lane with a bounds check each), and no invocation idles on a
// narrow C. An invocation computes 4 rows × 16 columns of C; the workgroup's 64 invocations 256
// rows; the grid is (ceil(m / 256), ceil(n / 16)). `ub_vecs` = the column vec4s
// a workgroup needs (min(4, ceil(n / 4))). With `a_vec4` A is read as vec4s: 4 rows at once when
// `trans_a` (m % 4 == 0), else 4 steps of k at once (k % 4 == 0).
override ub_vecs: u32 = 4u;
override a_vec4: bool = false;
@group(0) @binding(12) var<uniform> ub: array<vec4<f32>, 4096>;

fn load_ub(p: u32, col: u32) -> f32 {
    var at = p * params.n + col;
    if trans_b {
        at = col * params.k + p;
    }
    return ub[at / 4u][at % 4u];
}

fn ub_cols(p: u32, col0: u32) -> vec4<f32> {
    let last_col = params.n - 1u;
    return vec4<f32>(
        load_ub(p, min(col0, last_col)),
        load_ub(p, min(col0 + 1u, last_col)),
        load_ub(p, min(col0 + 2u, last_col)),
        load_ub(p, min(col0 + 3u, last_col)),
    );
}

// Rows row0 .. row0 + 4 of A at step p (rows clamped).
fn a_rows(row0: u32, p: u32) -> vec4<f32> {
    let last_row = params.m - 1u;
    return vec4<f32>(
        load_a(row0, p),
        load_a(min(row0 + 1u, last_row), p),
        load_a(min(row0 + 2u, last_row), p),
        load_a(min(row0 + 3u, last_row), p),
    );
}

// The 4 × 16 block of C an invocation accumulates (rows r, column vec4s c), and the column
// sums of B for db. Fields, not arrays: indexed locals live in memory on CPU adapters.
struct UbAcc {
    c00: vec4<f32>, c01: vec4<f32>, c02: vec4<f32>, c03: vec4<f32>,
    c10: vec4<f32>, c11: vec4<f32>, c12: vec4<f32>, c13: vec4<f32>,
    c20: vec4<f32>, c21: vec4<f32>, c22: vec4<f32>, c23: vec4<f32>,
    c30: vec4<f32>, c31: vec4<f32>, c32: vec4<f32>, c33: vec4<f32>,
    s0: vec4<f32>, s1: vec4<f32>, s2: vec4<f32>, s3: vec4<f32>,
}

// One step of k: acc += av (A's four rows at p) ⊗ B's row p from column col0 on.
fn ub_step(acc: ptr<function, UbAcc>, av: vec4<f32>, p: u32, col0: u32, sums: bool) {
    let b0 = ub_cols(p, col0);
    (*acc).c00 += av.x * b0;
    (*acc).c10 += av.y * b0;
    (*acc).c20 += av.z * b0;
    (*acc).c30 += av.w * b0;
    if sums {
        (*acc).s0 += b0;
    }
    if ub_vecs > 1u {
        let b1 = ub_cols(p, col0 + 4u);
        (*acc).c01 += av.x * b1;
        (*acc).c11 += av.y * b1;
        (*acc).c21 += av.z * b1;
        (*acc).c31 += av.w * b1;
        if sums {
            (*acc).s1 += b1;
        }
    }
    if ub_vecs > 2u {
        let b2 = ub_cols(p, col0 + 8u);
        (*acc).c02 += av.x * b2;
        (*acc).c12 += av.y * b2;
        (*acc).c22 += av.z * b2;
        (*acc).c32 += av.w * b2;
        if sums {
            (*acc).s2 += b2;
        }
    }
    if ub_vecs > 3u {
        let b3 = ub_cols(p, col0 + 12u);
        (*acc).c03 += av.x * b3;
        (*acc).c13 += av.y * b3;
        (*acc).c23 += av.z * b3;
        (*acc).c33 += av.w * b3;
        if sums {
            (*acc).s3 += b3;
        }
    }
}

@compute @workgroup_size(64)
fn matmul_uniform_b(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = (wg.x * 64u + lid) * 4u;
    let col0 = wg.y * 16u;
    if row0 >= params.m {
        return;
    }
    var acc: UbAcc;
    let sums = params.bias_grad != 0u && row0 == 0u;
    if a_vec4 && !trans_a {
        // Four steps of k at once: each row's next 4 values, transposed to 4 column vectors.
        let k4 = params.k / 4u;
        let last_row = params.m - 1u;
        for (var p = 0u; p < params.k; p += 4u) {
            let block = transpose(mat4x4<f32>(
                a4_at(row0 * k4 + p / 4u),
                a4_at(min(row0 + 1u, last_row) * k4 + p / 4u),
                a4_at(min(row0 + 2u, last_row) * k4 + p / 4u),
                a4_at(min(row0 + 3u, last_row) * k4 + p / 4u),
            ));
            ub_step(&acc, block[0], p, col0, sums);
            ub_step(&acc, block[1], p + 1u, col0, sums);
            ub_step(&acc, block[2], p + 2u, col0, sums);
            ub_step(&acc, block[3], p + 3u, col0, sums);
        }
    } else if a_vec4 {
        // Aᵀ: A's four rows at step p are one vec4 of its stored row p.
        for (var p = 0u; p < params.k; p++) {
            ub_step(&acc, a4_at((p * params.m + row0) / 4u), p, col0, sums);
        }
    } else {
        for (var p = 0u; p < params.k; p++) {
            ub_step(&acc, a_rows(row0, p), p, col0, sums);
        }
    }
    ub_store(row0, col0, acc.c00, acc.c10, acc.c20, acc.c30, sums, acc.s0);
    if ub_vecs > 1u {
        ub_store(row0, col0 + 4u, acc.c01, acc.c11, acc.c21, acc.c31, sums, acc.s1);
    }
    if ub_vecs > 2u {
        ub_store(row0, col0 + 8u, acc.c02, acc.c12, acc.c22, acc.c32, sums, acc.s2);
    }
    if ub_vecs > 3u {
        ub_store(row0, col0 + 12u, acc.c03, acc.c13, acc.c23, acc.c33, sums, acc.s3);
    }
}

// C[row0 .. row0 + 4, col0 .. col0 + 4] from the four rows' accumulators (with bias, activated
// or times the derivative), and db[col0 .. col0 + 4] when this invocation sums; rows and
// columns past C skipped.
fn ub_store(row0: u32, col0: u32, r0: vec4<f32>, r1: vec4<f32>, r2: vec4<f32>, r3: vec4<f32>, sums: bool, colsum: vec4<f32>) {
    if col0 >= params.n {
        return;
    }
    var bias_v = vec4<f32>(0.0);
    if params.has_bias != 0u {
        let last_col = params.n - 1u;
        bias_v = vec4<f32>(bias[col0], bias[min(col0 + 1u, last_col)], bias[min(col0 + 2u, last_col)], bias[min(col0 + 3u, last_col)]);
    }
    if sums {
        store_db4(col0, colsum);
    }
    store4(row0, col0, r0 + bias_v);
    if row0 + 1u < params.m {
        store4(row0 + 1u, col0, r1 + bias_v);
    }
    if row0 + 2u < params.m {
        store4(row0 + 2u, col0, r2 + bias_v);
    }
    if row0 + 3u < params.m {
        store4(row0 + 3u, col0, r3 + bias_v);
    }
}

// ---------------------------------------------------------------------------------------------
// matmul_tiled: a 128×128 tile of C per workgroup of 256 invocations, each computing 8×8 outputs
// (rows ty·4 .. +4 and 64 + ty·4 .. +4, the same split of columns by tx, so that neighbours read
// neighbouring vec4s). op(A) and op(B) pass through workgroup memory 16 steps of k at a time,
// both stored k-major as vec4s along rows / columns; the next tile's global loads are issued
// before the current tile's arithmetic so that their latency hides behind it. For GPUs, where
// the 64×64 register-only kernels leave each invocation waiting on its own loads.
const TL_BK: u32 = 16u;
var<workgroup> tl_a: array<vec4<f32>, 512>; // [TL_BK][32]: op(A)[row, k], 4 rows per vec4
var<workgroup> tl_b: array<vec4<f32>, 512>; // [TL_BK][32]: op(B)[k, col], 4 columns per vec4

// Element `idx` of the 512 vec4s of the A tile at k0, read as stored (zeros past A).
fn tl_load_a(tile_row: u32, k0: u32, idx: u32) -> vec4<f32> {
    let m4 = params.m / 4u;
    let k4 = params.k / 4u;
    if trans_a {
        // Stored [k, m]: vec4 along rows. idx = kk · 32 + row / 4.
        let gk = k0 + idx / 32u;
        let gr4 = tile_row / 4u + idx % 32u;
        if gk < params.k && gr4 < m4 {
            return a4_at(gk * m4 + gr4);
        }
    } else {
        // Stored [m, k]: vec4 along k. idx = row · 4 + kk / 4.
        let gr = tile_row + idx / 4u;
        let gk4 = k0 / 4u + idx % 4u;
        if gr < params.m && gk4 < k4 {
            return a4_at(gr * k4 + gk4);
        }
    }
    return vec4<f32>(0.0);
}

// Element `idx` of the A tile, as `tl_load_a` read it.
fn tl_store_a(idx: u32, v: vec4<f32>) {
    if trans_a {
        tl_a[idx] = v;
    } else {
        // Transposed into k-major: v holds k .. k + 4 of one row.
        let row = idx / 4u;
        let kk = (idx % 4u) * 4u;
        let at = kk * 32u + row / 4u;
        let lane = row % 4u;
        tl_a[at][lane] = v.x;
        tl_a[at + 32u][lane] = v.y;
        tl_a[at + 64u][lane] = v.z;
        tl_a[at + 96u][lane] = v.w;
    }
}

// The B tile's counterpart of `tl_load_a` (B's plain layout is A's transposed one). The two
// pairs stay separate: WGSL cannot pass a binding or a workgroup array to a function.
fn tl_load_b(tile_col: u32, k0: u32, idx: u32) -> vec4<f32> {
    let n4 = params.n / 4u;
    let k4 = params.k / 4u;
    if trans_b {
        // Stored [n, k]: vec4 along k. idx = col · 4 + kk / 4.
        let gc = tile_col + idx / 4u;
        let gk4 = k0 / 4u + idx % 4u;
        if gc < params.n && gk4 < k4 {
            return b4[gc * k4 + gk4];
        }
    } else {
        // Stored [k, n]: vec4 along columns. idx = kk · 32 + col / 4.
        let gk = k0 + idx / 32u;
        let gc4 = tile_col / 4u + idx % 32u;
        if gk < params.k && gc4 < n4 {
            return b4[gk * n4 + gc4];
        }
    }
    return vec4<f32>(0.0);
}

// Element `idx` of the B tile, as `tl_load_b` read it.
fn tl_store_b(idx: u32, v: vec4<f32>) {
    if trans_b {
        let col = idx / 4u;
        let kk = (idx % 4u) * 4u;
        let at = kk * 32u + col / 4u;
        let lane = col % 4u;
        tl_b[at][lane] = v.x;
        tl_b[at + 32u][lane] = v.y;
        tl_b[at + 64u][lane] = v.z;
        tl_b[at + 96u][lane] = v.w;
    } else {
        tl_b[idx] = v;
    }
}

// The 8×8 outputs of a matmul_tiled invocation: rows r0..r7 (ty·4 + 0..3, then 64 + ty·4 + 0..3),
// each as two column halves (a: tx·4, b: 64 + tx·4). Named members, not an indexed array: the
// NVIDIA driver kept an indexed array in local memory (6–17× slower on an H100).
struct TiledAcc {
    r0a: vec4<f32>, r0b: vec4<f32>, r1a: vec4<f32>, r1b: vec4<f32>,
    r2a: vec4<f32>, r2b: vec4<f32>, r3a: vec4<f32>, r3b: vec4<f32>,
    r4a: vec4<f32>, r4b: vec4<f32>, r5a: vec4<f32>, r5b: vec4<f32>,
    r6a: vec4<f32>, r6b: vec4<f32>, r7a: vec4<f32>, r7b: vec4<f32>,
}

@compute @workgroup_size(256)
fn matmul_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let tx = t % 16u;
    let ty = t / 16u;
    let tile_row = wg.y * 128u;
    let tile_col = wg.x * 128u;
    // The first row of tiles also sums op(B)'s columns (bias_grad), from the shared tile.
    let sums = params.bias_grad != 0u && wg.y == 0u && ty == 0u;
    var acc = TiledAcc();
    var colsum_a = vec4<f32>(0.0);
    var colsum_b = vec4<f32>(0.0);
    var next_a0 = tl_load_a(tile_row, 0u, t);
    var next_a1 = tl_load_a(tile_row, 0u, t + 256u);
    var next_b0 = tl_load_b(tile_col, 0u, t);
    var next_b1 = tl_load_b(tile_col, 0u, t + 256u);
    for (var k0 = 0u; k0 < params.k; k0 += TL_BK) {
        workgroupBarrier();
        tl_store_a(t, next_a0);
        tl_store_a(t + 256u, next_a1);
        tl_store_b(t, next_b0);
        tl_store_b(t + 256u, next_b1);
        workgroupBarrier();
        if k0 + TL_BK < params.k {
            next_a0 = tl_load_a(tile_row, k0 + TL_BK, t);
            next_a1 = tl_load_a(tile_row, k0 + TL_BK, t + 256u);
            next_b0 = tl_load_b(tile_col, k0 + TL_BK, t);
            next_b1 = tl_load_b(tile_col, k0 + TL_BK, t + 256u);
        }
        // Step by step, not in a loop: wgpu bounds every loop with a counter and a break,
        // which keeps the driver from unrolling it.
        tl_step(&acc, 0u, tx, ty);
        tl_step(&acc, 1u, tx, ty);
        tl_step(&acc, 2u, tx, ty);
        tl_step(&acc, 3u, tx, ty);
        tl_step(&acc, 4u, tx, ty);
        tl_step(&acc, 5u, tx, ty);
        tl_step(&acc, 6u, tx, ty);
        tl_step(&acc, 7u, tx, ty);
        tl_step(&acc, 8u, tx, ty);
        tl_step(&acc, 9u, tx, ty);
        tl_step(&acc, 10u, tx, ty);
        tl_step(&acc, 11u, tx, ty);
        tl_step(&acc, 12u, tx, ty);
        tl_step(&acc, 13u, tx, ty);
        tl_step(&acc, 14u, tx, ty);
        tl_step(&acc, 15u, tx, ty);
        // Apart from the steps above: a branch among them would split the arithmetic that the
        // compiler schedules as one block (1 % at 4096 on an H100).
        if sums {
            for (var kk = 0u; kk < TL_BK; kk++) {
                colsum_a += tl_b[kk * 32u + tx];
                colsum_b += tl_b[kk * 32u + 16u + tx];
            }
        }
    }
    let col_a = tile_col + tx * 4u;
    let col_b = col_a + 64u;
    if sums {
        tl_store_db(col_a, colsum_a);
        tl_store_db(col_b, colsum_b);
    }
    let bias_a = tl_bias(col_a);
    let bias_b = tl_bias(col_b);
    let row_a = tile_row + ty * 4u;
    let row_b = row_a + 64u;
    tl_store(row_a, col_a, col_b, acc.r0a + bias_a, acc.r0b + bias_b);
    tl_store(row_a + 1u, col_a, col_b, acc.r1a + bias_a, acc.r1b + bias_b);
    tl_store(row_a + 2u, col_a, col_b, acc.r2a + bias_a, acc.r2b + bias_b);
    tl_store(row_a + 3u, col_a, col_b, acc.r3a + bias_a, acc.r3b + bias_b);
    tl_store(row_b, col_a, col_b, acc.r4a + bias_a, acc.r4b + bias_b);
    tl_store(row_b + 1u, col_a, col_b, acc.r5a + bias_a, acc.r5b + bias_b);
    tl_store(row_b + 2u, col_a, col_b, acc.r6a + bias_a, acc.r6b + bias_b);
    tl_store(row_b + 3u, col_a, col_b, acc.r7a + bias_a, acc.r7b + bias_b);
}

// One step of k of a matmul_tiled invocation: its 8 rows times its 8 columns.
fn tl_step(acc: ptr<function, TiledAcc>, kk: u32, tx: u32, ty: u32) {
    let a0 = tl_a[kk * 32u + ty];
    let a1 = tl_a[kk * 32u + 16u + ty];
    let b0 = tl_b[kk * 32u + tx];
    let b1 = tl_b[kk * 32u + 16u + tx];
    (*acc).r0a += a0.x * b0;
    (*acc).r0b += a0.x * b1;
    (*acc).r1a += a0.y * b0;
    (*acc).r1b += a0.y * b1;
    (*acc).r2a += a0.z * b0;
    (*acc).r2b += a0.z * b1;
    (*acc).r3a += a0.w * b0;
    (*acc).r3b += a0.w * b1;
    (*acc).r4a += a1.x * b0;
    (*acc).r4b += a1.x * b1;
    (*acc).r5a += a1.y * b0;
    (*acc).r5b += a1.y * b1;
    (*acc).r6a += a1.z * b0;
    (*acc).r6b += a1.z * b1;
    (*acc).r7a += a1.w * b0;
    (*acc).r7b += a1.w * b1;
}

// bias[col .. col + 4], or zeros without a bias or past n (n is a multiple of 4 here).
fn tl_bias(col: u32) -> vec4<f32> {
    if params.has_bias == 0u || col >= params.n {
        return vec4<f32>(0.0);
    }
    return vec4<f32>(bias[col], bias[col + 1u], bias[col + 2u], bias[col + 3u]);
}

fn tl_store_db(col: u32, v: vec4<f32>) {
    if col < params.n {
        db[col] = v.x;
        db[col + 1u] = v.y;
        db[col + 2u] = v.z;
        db[col + 3u] = v.w;
    }
}

// C[row, col_a .. +4] and C[row, col_b .. +4], finished; what lies past C is skipped.
fn tl_store(row: u32, col_a: u32, col_b: u32, va: vec4<f32>, vb: vec4<f32>) {
    if row >= params.m {
        return;
    }
    let n4 = params.n / 4u;
    if col_a < params.n {
        let at = row * n4 + col_a / 4u;
        c4[at] = finish4(at, va);
    }
    if col_b < params.n {
        let at = row * n4 + col_b / 4u;
        c4[at] = finish4(at, vb);
    }
}

// ---------------------------------------------------------------------------------------------
// matmul_split_k: a 16×16 tile of C per workgroup of 256 invocations: 16 blocks of 4×4 outputs,
// each summed by 16 lanes over every 16th k of the workgroup's chunk, then the lanes' sums added
// through workgroup memory in lane order. For products whose outputs are too few to occupy a
// GPU with one invocation per block (a small batch's Dense layers, whose k is the input width):
// there each invocation walks k/16 of one chunk instead of all of k.
override split_direct: bool = true; // one chunk: finish C here; else write `partial`
// [block 16][row 4][lane 16]: a row's 4 columns; then, for bias_grad, [block 4][lane 16] column
// sums. 16 KiB: the portable limit of workgroup memory.
var<workgroup> sk_sums: array<vec4<f32>, 1024>;

@compute @workgroup_size(256)
fn matmul_split_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let lane = t % 16u;
    let block = t / 16u;
    let row0 = wg.y * 16u + (block / 4u) * 4u;
    let col0 = wg.x * 16u + (block % 4u) * 4u;
    let last_row = params.m - 1u;
    let last_col = params.n - 1u;
    let r = min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last_row));
    let q = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last_col));
    let k_end = min((wg.z + 1u) * params.chunk, params.k);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var colsum = vec4<f32>(0.0);
    // The first row of blocks in the first row of tiles also sums op(B)'s columns (bias_grad).
    let col_sums = params.bias_grad != 0u && wg.y == 0u;
    let sums = col_sums && block < 4u;
    for (var p = wg.z * params.chunk + lane; p < k_end; p += 16u) {
        let av = vec4<f32>(load_a(r.x, p), load_a(r.y, p), load_a(r.z, p), load_a(r.w, p));
        let bv = vec4<f32>(load_b(p, q.x), load_b(p, q.y), load_b(p, q.z), load_b(p, q.w));
        acc0 += av.x * bv;
        acc1 += av.y * bv;
        acc2 += av.z * bv;
        acc3 += av.w * bv;
        if sums {
            colsum += bv;
        }
    }
    sk_sums[(block * 4u) * 16u + lane] = acc0;
    sk_sums[(block * 4u + 1u) * 16u + lane] = acc1;
    sk_sums[(block * 4u + 2u) * 16u + lane] = acc2;
    sk_sums[(block * 4u + 3u) * 16u + lane] = acc3;
    workgroupBarrier();
    // Invocation t finishes output (i, j) of the tile, adding the lanes in order.
    let i = t / 16u;
    let j = t % 16u;
    let row = wg.y * 16u + i;
    let col = wg.x * 16u + j;
    let first = (((i / 4u) * 4u + j / 4u) * 4u + i % 4u) * 16u;
    var sum = 0.0;
    for (var l = 0u; l < 16u; l++) {
        sum += sk_sums[first + l][j % 4u];
    }
    if row < params.m && col < params.n {
        let at = row * params.n + col;
        if split_direct {
            if params.has_bias != 0u {
                sum += bias[col];
            }
            c[at] = finish(at, sum);
        } else {
            partial[wg.z * params.m * params.n + at] = sum;
        }
    }
    if col_sums {
        // Uniform in the workgroup, so its barriers are too.
        workgroupBarrier();
        if sums {
            sk_sums[block * 16u + lane] = colsum;
        }
        workgroupBarrier();
        if i == 0u && col < params.n {
            var db_sum = 0.0;
            for (var l = 0u; l < 16u; l++) {
                db_sum += sk_sums[(j / 4u) * 16u + l][j % 4u];
            }
            if split_direct {
                db[col] = db_sum;
            } else {
                partial[params.chunks * params.m * params.n + wg.z * params.n + col] = db_sum;
            }
        }
    }
}

@compute @workgroup_size(256)
fn matmul_split_k_reduce(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = gid.x;
    let count = params.m * params.n;
    if at >= count {
        return;
    }
    var sum = 0.0;
    for (var s = 0u; s < params.chunks; s++) {
        sum += partial[s * count + at];
    }
    if params.has_bias != 0u {
        sum += bias[at % params.n];
    }
    c[at] = finish(at, sum);
    if params.bias_grad != 0u && at < params.n {
        var db_sum = 0.0;
        for (var s = 0u; s < params.chunks; s++) {
            db_sum += partial[params.chunks * count + s * params.n + at];
        }
        db[at] = db_sum;
    }
}
