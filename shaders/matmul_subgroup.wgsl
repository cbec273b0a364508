// matmul_subgroup.wgsl: appended to matmul.wgsl (the engine and tools/tint join the two): its
// matmul_vec4_16x8 with op(A)'s loads shared across a subgroup, for adapters whose subgroups
// are exactly 8 invocations (lavapipe: one AVX2 vector).
//
// A CPU adapter makes every storage load lane by lane, so 8 invocations that each load the same
// 16 rows of op(A) pay for 8 × 16 loads. Here a subgroup is one row of the workgroup's 8×8
// blocks, sharing its 16 rows: each lane loads 2 of the 16 vec4s of A a step of k needs, and
// subgroupBroadcast hands them to the others (on a CPU adapter an extract and a splat). B's
// columns differ from lane to lane and are loaded as before. Same products, summed in the same
// order as matmul_vec4_16x8, so C is bit for bit the same.
//
// Layouts, overrides (trans_a, trans_b, a_unorm8), params, epilogue (bias, activation or
//   act_grad, bias_grad) and helpers are matmul.wgsl's; its vec4 bindings: 0 params, 3 bias,
//   6 db, 7 a4 (14 a_u8 with a_unorm8), 8 b4, 9 c4, 11 saved4. m, n and k multiples of 4.
// Grid: (ceil(n / 64), ceil(m / 128)) workgroups of 64 invocations: subgroup s computes rows
//   16·s .. 16·s + 15 of the workgroup's 128×64 tile, its lane l columns 8·l .. 8·l + 7. Every
//   lane of a subgroup takes part in the loads (columns past n are clamped, not stored), and a
//   subgroup past m leaves as a whole.
// A module of its own because a device without subgroups refuses any module that uses them.
// wgpu's WGSL front end takes subgroup builtins without `enable subgroups;` and refuses the
// directive, which Tint requires: the Tint check (tools/tint) adds it.

// Rows 4g .. 4g + 3 of the subgroup's 16 at the step's 4 values of k (column i is row 4g + i's)
// from the vec4s lanes 2g and 2g + 1 loaded (`va`, `vb`), broadcast in the order below: without
// trans_a lane l holds rows 2l and 2l + 1, with it k-rows 2(l % 2) and 2(l % 2) + 1 of row group
// l / 2. (A broadcast's lane must be a constant expression.)
fn shared_rows(va0: vec4<f32>, vb0: vec4<f32>, va1: vec4<f32>, vb1: vec4<f32>) -> mat4x4<f32> {
    let rows = mat4x4<f32>(va0, vb0, va1, vb1);
    if trans_a {
        return transpose(rows);
    }
    return rows;
}

// Columns cg .. cg + 3 of op(B) at k .. k + 3: column j is C's column cg + j's.
fn b_cols(p: u32, cg: u32) -> mat4x4<f32> {
    let k4 = params.k / 4u;
    let n4 = params.n / 4u;
    if trans_b {
        let at = cg * k4 + p / 4u;
        return mat4x4<f32>(b4[at], b4[at + k4], b4[at + 2u * k4], b4[at + 3u * k4]);
    }
    let at = p * n4 + cg / 4u;
    return transpose(mat4x4<f32>(b4[at], b4[at + n4], b4[at + 2u * n4], b4[at + 3u * n4]));
}

// acc's row i += row i of `rows` times `cols`, as matmul_vec4_16x8 sums each output.
fn mac(acc: mat4x4<f32>, rows: mat4x4<f32>, cols: mat4x4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(acc[0] + rows[0] * cols, acc[1] + rows[1] * cols, acc[2] + rows[2] * cols, acc[3] + rows[3] * cols);
}

// Rows rg .. rg + 3 (those before m) at columns cg .. cg + 3 (and the next 4 when `second`).
fn store_rows(rg: u32, cg0: u32, cg1: u32, second: bool, acc0: mat4x4<f32>, acc1: mat4x4<f32>) {
    let n4 = params.n / 4u;
    var bias0 = vec4<f32>(0.0);
    var bias1 = vec4<f32>(0.0);
    if params.has_bias != 0u {
        bias0 = vec4<f32>(bias[cg0], bias[cg0 + 1u], bias[cg0 + 2u], bias[cg0 + 3u]);
        bias1 = vec4<f32>(bias[cg1], bias[cg1 + 1u], bias[cg1 + 2u], bias[cg1 + 3u]);
    }
    // Written out: a loop over the rows would index the accumulators dynamically, which sends
    // them through memory (wgpu bounds every loop, so drivers do not unroll it).
    store_row4(rg * n4, cg0, cg1, second, acc0[0] + bias0, acc1[0] + bias1);
    store_row4((rg + 1u) * n4, cg0, cg1, second, acc0[1] + bias0, acc1[1] + bias1);
    store_row4((rg + 2u) * n4, cg0, cg1, second, acc0[2] + bias0, acc1[2] + bias1);
    store_row4((rg + 3u) * n4, cg0, cg1, second, acc0[3] + bias0, acc1[3] + bias1);
}

// One row of C (its first vec4 at `at`) at columns cg0 .. cg0 + 3, and cg1 .. when `second`.
fn store_row4(at: u32, cg0: u32, cg1: u32, second: bool, v0: vec4<f32>, v1: vec4<f32>) {
    c4[at + cg0 / 4u] = finish4(at + cg0 / 4u, v0);
    if second {
        c4[at + cg1 / 4u] = finish4(at + cg1 / 4u, v1);
    }
}

@compute @workgroup_size(64)
fn matmul_vec4_16x8_subgroup(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let row0 = wg.y * 128u + sg * 16u;
    let col0 = wg.x * 64u + lane * 8u;
    if row0 >= params.m {
        return;
    }
    let m4 = params.m / 4u;
    let k4 = params.k / 4u;
    let cg0 = min(col0, params.n - 4u);
    let cg1 = min(col0 + 4u, params.n - 4u);
    // What this lane loads for the subgroup (see shared_rows), clamped inside A.
    let row_a = min(row0 + 2u * lane, params.m - 2u);
    let group_a = min(row0 + 4u * (lane / 2u), params.m - 4u) / 4u;
    let k_a = 2u * (lane % 2u);
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    var acc20 = mat4x4<f32>();
    var acc21 = mat4x4<f32>();
    var acc30 = mat4x4<f32>();
    var acc31 = mat4x4<f32>();
    var colsum0 = vec4<f32>(0.0);
    var colsum1 = vec4<f32>(0.0);
    for (var p = 0u; p < params.k; p += 4u) {
        var va: vec4<f32>;
        var vb: vec4<f32>;
        if trans_a {
            va = a4_at((p + k_a) * m4 + group_a);
            vb = a4_at((p + k_a + 1u) * m4 + group_a);
        } else {
            va = a4_at(row_a * k4 + p / 4u);
            vb = a4_at((row_a + 1u) * k4 + p / 4u);
        }
        let cols0 = b_cols(p, cg0);
        let cols1 = b_cols(p, cg1);
        let rows0 = shared_rows(
            subgroupBroadcast(va, 0u),
            subgroupBroadcast(vb, 0u),
            subgroupBroadcast(va, 1u),
            subgroupBroadcast(vb, 1u),
        );
        acc00 = mac(acc00, rows0, cols0);
        acc01 = mac(acc01, rows0, cols1);
        let rows1 = shared_rows(
            subgroupBroadcast(va, 2u),
            subgroupBroadcast(vb, 2u),
            subgroupBroadcast(va, 3u),
            subgroupBroadcast(vb, 3u),
        );
        acc10 = mac(acc10, rows1, cols0);
        acc11 = mac(acc11, rows1, cols1);
        let rows2 = shared_rows(
            subgroupBroadcast(va, 4u),
            subgroupBroadcast(vb, 4u),
            subgroupBroadcast(va, 5u),
            subgroupBroadcast(vb, 5u),
        );
        acc20 = mac(acc20, rows2, cols0);
        acc21 = mac(acc21, rows2, cols1);
        let rows3 = shared_rows(
            subgroupBroadcast(va, 6u),
            subgroupBroadcast(vb, 6u),
            subgroupBroadcast(va, 7u),
            subgroupBroadcast(vb, 7u),
        );
        acc30 = mac(acc30, rows3, cols0);
        acc31 = mac(acc31, rows3, cols1);
        if params.bias_grad != 0u && row0 == 0u {
            colsum0 += vec4<f32>(1.0) * cols0;
            colsum1 += vec4<f32>(1.0) * cols1;
        }
    }
    if col0 >= params.n {
        return;
    }
    let second = col0 + 4u < params.n;
    if params.bias_grad != 0u && row0 == 0u {
        store_db4(cg0, colsum0);
        if second {
            store_db4(cg1, colsum1);
        }
    }
    store_rows(min(row0, params.m - 4u), cg0, cg1, second, acc00, acc01);
    if row0 + 4u < params.m {
        store_rows(min(row0 + 4u, params.m - 4u), cg0, cg1, second, acc10, acc11);
    }
    if row0 + 8u < params.m {
        store_rows(min(row0 + 8u, params.m - 4u), cg0, cg1, second, acc20, acc21);
    }
    if row0 + 12u < params.m {
        store_rows(min(row0 + 12u, params.m - 4u), cg0, cg1, second, acc30, acc31);
    }
}
