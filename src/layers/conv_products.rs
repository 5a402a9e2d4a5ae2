//! The CPU conv's three products (output, weight gradient, input gradient),
//! each over cache-sized chunks of patch rows.
//!
//! A conv as im2col is one product with a patch matrix k² times the size of
//! the input map: written whole, it goes out to memory and comes back for the
//! product (and stays allocated from the forward pass to the backward). Here
//! each task writes the patches of one chunk of output pixels (about
//! `CHUNK_VALUES` values, so they stay in the core's L2 cache) and multiplies
//! them at once; the backward pass writes them again instead of keeping them.
//! Stride-1 convs with SIMD tiles for their channels skip the patches
//! altogether (`implicit_conv`); the rest (the stem, strided convs, 1- to
//! 7-channel inputs, maps under 4 columns) take the chunks here.
//!
//! # Precision and op order
//!
//! f32. Output and input-gradient values are whole dot products inside one
//! chunk, so chunking does not change them (`matmul`'s order). The weight
//! gradient sums over every pixel: each of at most `MAX_PARTIALS` fixed groups
//! of chunks adds its chunks' products in row order (`matmul` with
//! accumulate), and the groups' sums are added in group order, so the result
//! does not depend on the thread count, but rounds differently from one
//! product over all pixels (`tests/it/conv_layers.rs` compares the two within f32
//! rounding).

use rayon::prelude::*;

use super::im2col::{im2col_rows, Geometry, Window};
use super::implicit_conv;
use super::matmul::{matmul, Mat};

/// Patch values per chunk: 512 KiB of f32, a quarter of this machine class's
/// 2 MiB L2, leaving room for the weight and the output rows.
const CHUNK_VALUES: usize = 1 << 17;

/// Most partial weight gradients kept at once (the parallelism of the weight
/// gradient, and its extra memory: `MAX_PARTIALS` weight-sized buffers).
pub(crate) const MAX_PARTIALS: usize = 8;

/// Output pixels per chunk for patch rows of `row_len` values: at least 48
/// rows (two of the matmul kernel's row tasks) even for the widest rows.
fn chunk_rows(row_len: usize) -> usize {
    (CHUNK_VALUES / row_len.max(1)).max(48)
}

/// `out = im2col(x) · w` (`w`: `row_len × n`), or `out += ...` if
/// `accumulate`; `out` holds `g.num_rows() × n` values.
pub(crate) fn patches_times(
    out: &mut [f32],
    accumulate: bool,
    x: &[f32],
    g: &Geometry,
    w: &[f32],
    n: usize,
) {
    if implicit_conv::fits(g, n) {
        return implicit_conv::conv(out, accumulate, x, g, w, n);
    }
    let (k, rows) = (g.row_len(), chunk_rows(g.row_len()));
    assert_eq!(out.len(), g.num_rows() * n, "output length");
    out.par_chunks_mut(rows * n)
        .enumerate()
        .for_each_init(Vec::new, |patches, (t, out)| {
            let r = out.len() / n;
            patches.resize(r * k, 0.0);
            im2col_rows(x, g, 0.0, t * rows, patches);
            matmul(out, accumulate, Mat::new(patches, r, k), Mat::new(w, k, n));
        });
}

/// `gw += im2col(x)ᵀ · gy` (`gy`: `g.num_rows() × n`, `gw`: `row_len × n`).
pub(crate) fn add_patches_t_times(gw: &mut [f32], x: &[f32], g: &Geometry, gy: &[f32], n: usize) {
    if implicit_conv::fits(g, n) {
        return implicit_conv::add_weight_grad(gw, x, g, gy, n);
    }
    let (m, k, rows) = (g.num_rows(), g.row_len(), chunk_rows(g.row_len()));
    assert_eq!(gw.len(), k * n, "weight gradient length");
    let chunks = m.div_ceil(rows);
    let groups = chunks.clamp(1, MAX_PARTIALS);
    let per_group = chunks.div_ceil(groups);
    let partials: Vec<Vec<f32>> = (0..groups)
        .into_par_iter()
        .map(|group| {
            let mut sum = vec![0.0; k * n];
            let mut patches = Vec::new();
            let first = group * per_group;
            for chunk in first..(first + per_group).min(chunks) {
                let (r0, r1) = (chunk * rows, ((chunk + 1) * rows).min(m));
                patches.resize((r1 - r0) * k, 0.0);
                im2col_rows(x, g, 0.0, r0, &mut patches);
                let a = Mat::new(&patches, r1 - r0, k).t();
                matmul(&mut sum, true, a, Mat::new(&gy[r0 * n..r1 * n], r1 - r0, n));
            }
            sum
        })
        .collect();
    for p in &partials {
        gw.iter_mut().zip(p).for_each(|(g, p)| *g += p);
    }
}

/// For a stride-1 conv of geometry `g` with `c_out` output channels, the
/// geometry of its input gradient as a conv over the output gradient: the
/// same kernel, stride 1, padding `k - 1 - p`, whose output has the input's
/// size. `None` for strided convs (their transpose is not a plain conv).
pub(crate) fn transposed(g: &Geometry, c_out: usize) -> Option<Geometry> {
    let w = g.window;
    (w.stride == 1 && w.padding < w.kernel).then(|| {
        let window = Window::new(w.kernel, 1, w.kernel - 1 - w.padding);
        let gt = Geometry::new((g.batch, g.out_rows, g.out_cols, c_out), window);
        debug_assert_eq!((gt.out_rows, gt.out_cols), (g.rows, g.cols));
        gt
    })
}

/// The weight of the transposed conv: `(k²·C_out, C_in)` with rows ordered
/// `(ky, kx, c_out)`, `wt[(ky, kx, o)][i] = w[(k-1-ky, k-1-kx, i)][o]`.
pub(crate) fn flipped_transposed(w: &[f32], g: &Geometry, c_out: usize) -> Vec<f32> {
    let (k, c_in) = (g.window.kernel, g.channels);
    let mut wt = vec![0.0; k * k * c_out * c_in];
    for ky in 0..k {
        for kx in 0..k {
            let src = ((k - 1 - ky) * k + (k - 1 - kx)) * c_in;
            let dst = (ky * k + kx) * c_out;
            for i in 0..c_in {
                for o in 0..c_out {
                    wt[(dst + o) * c_in + i] = w[(src + i) * c_out + o];
                }
            }
        }
    }
    wt
}
