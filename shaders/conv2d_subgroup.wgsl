// conv2d_subgroup.wgsl: appended to conv2d.wgsl (the engine and tools/tint join the two): its
// implicit GEMMs with the shared operand made once a subgroup, for adapters whose subgroups are
// exactly 8 invocations (lavapipe: one AVX2 vector).
//
// A CPU adapter makes every storage load lane by lane, and conv2d.wgsl's GEMM invocations next
// to each other make the same windows (the same loads and the same index math) for their own
// columns. Here a subgroup computes a tile of the GEMM, 32 rows (tile_blocks below) × 32
// columns: lane l its columns 4l .. 4l + 3 over all the rows (8 blocks of 4×4, as many
// accumulators as the 16×8 kernel), and at each step
// of the shared dimension it makes the shared operand of rows 4l .. 4l + 3 only — output windows
// (forward), tap groups (weight gradient), covered input pixels (input gradient) — which
// subgroupBroadcast hands to the rest. The lane's own operand (weights, or dy) it loads itself.
// Same products, summed in the same order as conv2d.wgsl's GEMMs.
//
// Params, bindings and the taps_vec4 override are conv2d.wgsl's, as are the channel
// requirements of its GEMMs. Grid: workgroups of 64 invocations (8 subgroups), folded 2-D past
// 65 535; subgroup s of workgroup w takes tile 8·w + s: column tiles first, then row tiles,
// then (weight gradient) chunks. Every lane of a tile takes part in the broadcasts (columns
// past the last clamped and not stored, rows past the last zero), and a subgroup past the last
// tile leaves as a whole.
// A module of its own because a device without subgroups refuses any module that uses them.
// wgpu's WGSL front end takes subgroup builtins without `enable subgroups;` and refuses the
// directive, which Tint requires: the Tint check adds it.

// A tile's blocks of 4 rows, at most 8 (one a lane): fewer where the weight gradient has
// fewer taps (a first layer's 9), so no lane computes rows that are not there.
override tile_blocks: u32 = 8u;

// A subgroup's tile: the same in all its lanes (so its loops and exits keep the subgroup
// together, as the broadcasts need).
struct Tile {
    row0: u32,
    col0: u32,
    // Which chunk of the shared dimension (the weight gradient's).
    split: u32,
    ok: bool,
}

fn tile(wg: vec3<u32>, nwg: vec3<u32>, sg: u32, rows: u32, cols: u32, splits: u32) -> Tile {
    let t = (wg.y * nwg.x + wg.x) * 8u + sg;
    let tile_rows = 4u * tile_blocks;
    let row_tiles = (rows + tile_rows - 1u) / tile_rows;
    let col_tiles = (cols + 31u) / 32u;
    let split = t / (col_tiles * row_tiles);
    return Tile(((t / col_tiles) % row_tiles) * tile_rows, (t % col_tiles) * 32u, split, split < splits);
}

// A lane's first column of its tile, clamped onto the last 4 past the edge (then not stored).
struct Columns {
    first: u32,
    stored: bool,
}

fn columns(t: Tile, lane: u32, cols: u32) -> Columns {
    let col = t.col0 + 4u * lane;
    return Columns(min(col, cols - 4u), col < cols);
}

// The tile's 8 blocks: block j is rows row0 + 4j .. row0 + 4j + 3 (column i is row 4j + i's).
struct Blocks {
    b0: mat4x4<f32>,
    b1: mat4x4<f32>,
    b2: mat4x4<f32>,
    b3: mat4x4<f32>,
    b4: mat4x4<f32>,
    b5: mat4x4<f32>,
    b6: mat4x4<f32>,
    b7: mat4x4<f32>,
}

// Block j += own · (lane j's `theirs`): the shared operand's rows 4j .. 4j + 3 are lane j's.
// (A broadcast's lane must be a constant expression, hence the lines written out.)
fn mac_shared(acc: ptr<function, Blocks>, own: mat4x4<f32>, theirs: mat4x4<f32>) {
    (*acc).b0 += own * mat4x4<f32>(subgroupBroadcast(theirs[0], 0u), subgroupBroadcast(theirs[1], 0u), subgroupBroadcast(theirs[2], 0u), subgroupBroadcast(theirs[3], 0u));
    if tile_blocks > 1u {
        (*acc).b1 += own * mat4x4<f32>(subgroupBroadcast(theirs[0], 1u), subgroupBroadcast(theirs[1], 1u), subgroupBroadcast(theirs[2], 1u), subgroupBroadcast(theirs[3], 1u));
    }
    if tile_blocks > 2u {
        (*acc).b2 += own * mat4x4<f32>(subgroupBroadcast(theirs[0], 2u), subgroupBroadcast(theirs[1], 2u), subgroupBroadcast(theirs[2], 2u), subgroupBroadcast(theirs[3], 2u));
    }
    if tile_blocks > 3u {
        (*acc).b3 += own * mat4x4<f32>(subgroupBroadcast(theirs[0], 3u), subgroupBroadcast(theirs[1], 3u), subgroupBroadcast(theirs[2], 3u), subgroupBroadcast(theirs[3], 3u));
    }
    if tile_blocks > 4u {
        (*acc).b4 += own * mat4x4<f32>(subgroupBroadcast(theirs[0], 4u), subgroupBroadcast(theirs[1], 4u), subgroupBroadcast(theirs[2], 4u), subgroupBroadcast(theirs[3], 4u));
    }
    if tile_blocks > 5u {
        (*acc).b5 += own * mat4x4<f32>(subgroupBroadcast(theirs[0], 5u), subgroupBroadcast(theirs[1], 5u), subgroupBroadcast(theirs[2], 5u), subgroupBroadcast(theirs[3], 5u));
    }
    if tile_blocks > 6u {
        (*acc).b6 += own * mat4x4<f32>(subgroupBroadcast(theirs[0], 6u), subgroupBroadcast(theirs[1], 6u), subgroupBroadcast(theirs[2], 6u), subgroupBroadcast(theirs[3], 6u));
    }
    if tile_blocks > 7u {
        (*acc).b7 += own * mat4x4<f32>(subgroupBroadcast(theirs[0], 7u), subgroupBroadcast(theirs[1], 7u), subgroupBroadcast(theirs[2], 7u), subgroupBroadcast(theirs[3], 7u));
    }
}

// Rows are output pixels, columns output channels, the shared dimension the taps (ky, kx, ci):
// conv2d_forward_gemm's, the windows shared.
@compute @workgroup_size(64)
fn conv2d_forward_gemm_subgroup(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let pixels = params.n * params.oh * params.ow;
    let t = tile(wg, nwg, sg, pixels, params.c_out, 1u);
    if !t.ok {
        return;
    }
    let col = columns(t, lane, params.c_out);
    let win = windows(t.row0 + 4u * lane, pixels);
    var acc = Blocks();
    let taps = params.kh * params.kw * params.c_in;
    for (var p = 0u; p < taps; p += 4u) {
        mac_shared(&acc, w_rows(p, col.first), x_rows(win, p));
    }
    if col.stored {
        let b = bias4(col.first);
        // Written out: a loop over the blocks would index the accumulators dynamically, which
        // sends them through memory (wgpu bounds every loop, so drivers do not unroll it).
        store_y(t.row0, col.first, acc.b0, b);
        if tile_blocks > 1u {
            store_y(t.row0 + 4u, col.first, acc.b1, b);
        }
        if tile_blocks > 2u {
            store_y(t.row0 + 8u, col.first, acc.b2, b);
        }
        if tile_blocks > 3u {
            store_y(t.row0 + 12u, col.first, acc.b3, b);
        }
        if tile_blocks > 4u {
            store_y(t.row0 + 16u, col.first, acc.b4, b);
        }
        if tile_blocks > 5u {
            store_y(t.row0 + 20u, col.first, acc.b5, b);
        }
        if tile_blocks > 6u {
            store_y(t.row0 + 24u, col.first, acc.b6, b);
        }
        if tile_blocks > 7u {
            store_y(t.row0 + 28u, col.first, acc.b7, b);
        }
    }
}

// Rows are taps, columns output channels, the shared dimension a chunk of output pixels:
// conv2d_backward_weight_gemm's (with its partial sums and bias gradient), the tap groups'
// x values shared.
@compute @workgroup_size(64)
fn conv2d_backward_weight_gemm_subgroup(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let taps = params.kh * params.kw * params.c_in;
    let t = tile(wg, nwg, sg, taps, params.c_out, params.splits);
    if !t.ok {
        return;
    }
    let col = columns(t, lane, params.c_out);
    let tp = taps_at(t.row0 + 4u * lane);
    var acc = Blocks();
    var sum = vec4<f32>(0.0);
    let sums = params.has_db != 0u && t.row0 == 0u;
    let end = min((t.split + 1u) * params.chunk, params.n * params.oh * params.ow);
    for (var m = t.split * params.chunk; m < end; m += 4u) {
        let win = windows(m, end);
        let d = dy_rows(win, m, col.first);
        mac_shared(&acc, d, x_taps(win, tp));
        if sums {
            sum += d * vec4<f32>(1.0);
        }
    }
    if col.stored {
        store_dw(t.split, t.row0, col.first, acc.b0);
        if tile_blocks > 1u {
            store_dw(t.split, t.row0 + 4u, col.first, acc.b1);
        }
        if tile_blocks > 2u {
            store_dw(t.split, t.row0 + 8u, col.first, acc.b2);
        }
        if tile_blocks > 3u {
            store_dw(t.split, t.row0 + 12u, col.first, acc.b3);
        }
        if tile_blocks > 4u {
            store_dw(t.split, t.row0 + 16u, col.first, acc.b4);
        }
        if tile_blocks > 5u {
            store_dw(t.split, t.row0 + 20u, col.first, acc.b5);
        }
        if tile_blocks > 6u {
            store_dw(t.split, t.row0 + 24u, col.first, acc.b6);
        }
        if tile_blocks > 7u {
            store_dw(t.split, t.row0 + 28u, col.first, acc.b7);
        }
        if sums {
            store_partial4(t.split, taps, col.first, sum);
        }
    }
}

// Rows are input pixels, columns input channels, the shared dimension (ky, kx, co):
// conv2d_backward_input_gemm's (with its act_grad epilogue), dy under the pixels shared.
@compute @workgroup_size(64)
fn conv2d_backward_input_gemm_subgroup(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let t = tile(wg, nwg, sg, params.n * params.h * params.w, params.c_in, 1u);
    if !t.ok {
        return;
    }
    let col = columns(t, lane, params.c_in);
    let cov = covered(t.row0 + 4u * lane);
    var acc = Blocks();
    let steps = params.kh * params.kw * params.c_out;
    for (var p = 0u; p < steps; p += 4u) {
        mac_shared(&acc, w_to_inputs(p, col.first), dy_under(cov, p));
    }
    if col.stored {
        store_dx(t.row0, col.first, acc.b0);
        if tile_blocks > 1u {
            store_dx(t.row0 + 4u, col.first, acc.b1);
        }
        if tile_blocks > 2u {
            store_dx(t.row0 + 8u, col.first, acc.b2);
        }
        if tile_blocks > 3u {
            store_dx(t.row0 + 12u, col.first, acc.b3);
        }
        if tile_blocks > 4u {
            store_dx(t.row0 + 16u, col.first, acc.b4);
        }
        if tile_blocks > 5u {
            store_dx(t.row0 + 20u, col.first, acc.b5);
        }
        if tile_blocks > 6u {
            store_dx(t.row0 + 24u, col.first, acc.b6);
        }
        if tile_blocks > 7u {
            store_dx(t.row0 + 28u, col.first, acc.b7);
        }
    }
}
