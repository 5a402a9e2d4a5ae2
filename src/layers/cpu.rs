//! [`ConvDevice`] for the CPU: im2col by direct copies, the conv as one op
//! (its products over cache-sized chunks, `layers::conv_products`), and batch
//! normalization fused with the residual add and ReLU after it, as
//! multi-threaded loops over NHWC buffers.
//!
//! Inputs, weights and outputs are dfdx buffers used in place (the vendored
//! dfdx's `storage` / `from_storage`): an input or weight the backward pass
//! needs is kept by an `Arc`, not copied, and output buffers come from dfdx's
//! cache without being zero-filled first, since every kernel here writes every
//! value of its output.
//!
//! dfdx 0.13 runs elementwise ops and reductions as single-threaded loops,
//! one allocation and one backward op each: a training-mode batch norm + ReLU
//! is about fifteen of them. Here it is one pass for the statistics, one for
//! the output and two for the backward, on rayon's pool.
//!
//! # Precision and op order
//!
//! Per element the forward pass computes exactly what
//! [`batch_norm_by_ops`](super::device::batch_norm_by_ops) computes, in the
//! same f32 op order (`((x - mean) * inv_std) * scale + bias`, `+ skip`,
//! ReLU, `inv_std = 1 / sqrt(var + eps)`), so with given statistics
//! (inference) both give the same bits. The batch statistics and the
//! backward's per-channel sums differ: they are accumulated in f64 over fixed
//! chunks of rows (`CHUNK_ROWS`, independent of the thread count, so results do
//! not depend on it), each channel's sum split over the row positions of a
//! block (`block_width`) and added up in position order, and rounded to f32
//! once, where dfdx sums in f32 in row order. `tests/it/conv_layers.rs` compares the two within f32 rounding.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::batchnorm::BN_EPS;
use super::conv_products::{add_patches_t_times, flipped_transposed, patches_times, transposed};
use super::device::{Channels, ConvDevice, NormOut, Stats};
use super::im2col::{col2im_add_host, im2col_host, Geometry, Maps, Patches, Window};
use super::matmul::{matmul, Mat};
use crate::device::vectorized;

/// Rows per chunk of the per-channel sums (and of the elementwise loops).
const CHUNK_ROWS: usize = 256;

impl ConvDevice for Cpu {
    fn im2col<T: Tape<f32, Self>>(
        x: Maps<Self, T>,
        window: Window,
        pad_value: f32,
    ) -> Patches<Self, T> {
        let g = Geometry::new(*x.shape(), window);
        let (x, mut tape) = host(x);
        let dev = x.device().clone();
        let mut patches = buffer(&dev, g.num_rows() * g.row_len());
        im2col_host(x.storage(), &g, pad_value, &mut patches);
        let out = Tensor::from_storage(&dev, (g.num_rows(), g.row_len()), patches);
        if T::OWNS_TAPE {
            let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
            tape.add_backward_op(move |grads| {
                grads.try_alloc_for(&out_ghost)?;
                // Taken out while the input's gradient is borrowed, then put back.
                let grad_out = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
                col2im_add_host(&grad_out, &g, grads.get_or_alloc_mut(&x_ghost)?);
                **grads.get_or_alloc_mut(&out_ghost)? = grad_out;
                Ok(())
            });
        }
        out.put_tape(tape)
    }

    fn conv2d<T: Tape<f32, Self>>(
        x: Maps<Self, T>,
        weight: &Tensor<(usize, usize), f32, Self>,
        window: Window,
    ) -> Maps<Self, T> {
        let (g, c_out) = Geometry::of_conv(*x.shape(), window, *weight.shape());
        let (m, k) = (g.num_rows(), g.row_len());
        let (x, mut tape) = host(x);
        let dev = x.device().clone();
        // The weight, shared (an Arc, not a copy) with the backward pass.
        let weight = weight.clone();
        let mut y = buffer(&dev, m * c_out);
        patches_times(&mut y, false, x.storage(), &g, owned(&weight), c_out);
        let out = Tensor::from_storage(&dev, (g.batch, g.out_rows, g.out_cols, c_out), y);
        if T::OWNS_TAPE {
            let (x_ghost, w_ghost, out_ghost) = (x.ghost(), weight.ghost(), out.ghost());
            // The input (an Arc) stays for the backward pass, which writes
            // its patches again, chunk by chunk (`layers::conv_products`).
            tape.add_backward_op(move |grads| {
                let (xs, w) = (x.storage(), owned(&weight));
                grads.try_alloc_for(&out_ghost)?;
                let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
                add_patches_t_times(grads.get_or_alloc_mut(&w_ghost)?, xs, &g, &gy, c_out);
                let gx = grads.get_or_alloc_mut(&x_ghost)?;
                match transposed(&g, c_out) {
                    // Stride 1: the input gradient is itself a convolution,
                    // of gy with the flipped weight, with the long
                    // contraction (k²·C_out) and no col2im.
                    Some(gt) => {
                        let wt = flipped_transposed(w, &g, c_out);
                        patches_times(gx, true, &gy, &gt, &wt, g.channels);
                    }
                    // Otherwise the patch gradient gy · wᵀ, which col2im
                    // adds onto the input's gradient.
                    None => {
                        let mut patches = buffer(&dev, m * k);
                        matmul(
                            &mut patches,
                            false,
                            Mat::new(&gy, m, c_out),
                            Mat::new(w, k, c_out).t(),
                        );
                        col2im_add_host(&patches, &g, gx);
                    }
                }
                **grads.get_or_alloc_mut(&out_ghost)? = gy;
                Ok(())
            });
        }
        out.put_tape(tape)
    }

    fn batch_norm<T: Tape<f32, Self>>(
        x: Maps<Self, T>,
        scale: &Channels<Self>,
        bias: &Channels<Self>,
        stats: &Stats<Self>,
        skip: Option<Maps<Self, T>>,
        relu: bool,
    ) -> NormOut<Self, T> {
        let shape = *x.shape();
        let c = shape.3;
        let n = shape.0 * shape.1 * shape.2;
        let (x, tape) = host(x);
        let xs = x.storage();
        let (skip, mut tape) = match skip {
            Some(s) => {
                assert_eq!(*s.shape(), shape, "a residual add needs equal shapes");
                let (s, skip_tape) = host(s);
                (Some(s), tape.merge(skip_tape))
            }
            None => (None, tape),
        };
        let skip_data = skip.as_ref().map(|s| &s.storage()[..]);
        let skip_ghost = skip.as_ref().map(|s| s.ghost());
        let dev = x.device().clone();
        // The scale, shared (not copied) with the backward pass.
        let scale = scale.clone();
        let (s, b) = (owned(&scale), owned(bias));
        let (mean, var, train) = match stats {
            Stats::Batch => {
                let (m, v) = mean_var(xs, c);
                (m, v, true)
            }
            Stats::Given { mean, var } => (owned(mean).clone(), owned(var).clone(), false),
        };
        let inv: Vec<f32> = var.iter().map(|v| (v + BN_EPS).sqrt().recip()).collect();
        // The per-channel values repeated across one block of rows.
        let w = block_width(c);
        let (mean_t, inv_t) = (tiled(&mean, w), tiled(&inv, w));

        // x̂ = (x - mean) * inv_std is not stored: the backward pass computes
        // it again from x (kept alive by an Arc), in the same op order.
        let mut y = buffer(&dev, xs.len());
        let rows = CHUNK_ROWS * c;
        let (s_t, b_t) = (tiled(s, w), tiled(b, w));
        y.par_chunks_mut(rows).enumerate().for_each(|(k, yk)| {
            vectorized(|| {
                let at = k * rows;
                for span in spans(yk.len(), w, c) {
                    let n = span.len();
                    let o = &mut yk[span.clone()];
                    let x = &xs[at + span.start..at + span.end];
                    let stats = mean_t[..n].iter().zip(&inv_t[..n]);
                    let affine = s_t[..n].iter().zip(&b_t[..n]);
                    for ((o, &x), ((&m, &i), (&s, &b))) in
                        o.iter_mut().zip(x).zip(stats.zip(affine))
                    {
                        *o = normalized(x, m, i) * s + b;
                    }
                    if let Some(sk) = skip_data {
                        let sk = &sk[at + span.start..at + span.end];
                        o.iter_mut().zip(sk).for_each(|(o, k)| *o += k);
                    }
                    if relu {
                        o.iter_mut().for_each(|o| *o = o.max(0.0));
                    }
                }
            })
        });
        let out = Tensor::from_storage(&dev, shape, y);
        // The ReLU's mask is the output itself, shared (not copied) with the
        // backward pass; an op that later updates the output in place copies it
        // first (dfdx's buffers are copy-on-write).
        let mask = relu.then(|| out.clone());
        let batch = train.then(|| {
            (
                dev.tensor_from_vec(mean.clone(), (c,)),
                dev.tensor_from_vec(var, (c,)),
            )
        });
        if T::OWNS_TAPE {
            let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
            let (scale_ghost, bias_ghost) = (scale.ghost(), bias.ghost());
            tape.add_backward_op(move |grads| {
                let xs = x.storage();
                grads.try_alloc_for(&out_ghost)?;
                // The output's gradient is read here only: it is masked by
                // the ReLU in place and put back. One pass masks it, adds it
                // onto the residual's gradient and sums, per channel, Σ g (the
                // bias gradient) and Σ g·x̂ (the scale's).
                let mut g = std::mem::take(&mut **grads.get_or_alloc_mut(&out_ghost)?);
                let mut skip_grad = match &skip_ghost {
                    Some(sg) => Some(grads.get_or_alloc_mut(sg)?),
                    None => None,
                };
                // The residual's gradient chunk by chunk (a mutable chunk per
                // task), or no chunk at all.
                let skips: Vec<Option<&mut [f32]>> = match skip_grad.as_mut() {
                    Some(sg) => sg.chunks_mut(rows).map(Some).collect(),
                    None => (0..g.len().div_ceil(rows)).map(|_| None).collect(),
                };
                let items = g
                    .par_chunks_mut(rows)
                    .zip(xs.par_chunks(rows))
                    .zip(skips)
                    .enumerate();
                let sums = chunked_sums(items, 2 * w, |(k, ((g, x), skip)), acc| {
                    if let Some(y) = &mask {
                        let y = &y.storage()[k * rows..k * rows + g.len()];
                        for (g, &y) in g.iter_mut().zip(y) {
                            *g = if y > 0.0 { *g } else { 0.0 };
                        }
                    }
                    if let Some(skip) = skip {
                        skip.iter_mut().zip(&*g).for_each(|(d, g)| *d += g);
                    }
                    let (sb, ss) = acc.split_at_mut(w);
                    for span in spans(g.len(), w, c) {
                        let n = span.len();
                        let (g, x) = (&g[span.clone()], &x[span]);
                        let stats = mean_t[..n].iter().zip(&inv_t[..n]);
                        let sums = sb[..n].iter_mut().zip(&mut ss[..n]);
                        for (((&g, &x), (&m, &i)), (sb, ss)) in g.iter().zip(x).zip(stats).zip(sums)
                        {
                            *sb += g as f64;
                            *ss += (g * normalized(x, m, i)) as f64;
                        }
                    }
                });
                let (sb, ss): (Vec<f32>, Vec<f32>) = (
                    per_channel(&sums[..w], c)
                        .iter()
                        .map(|&v| v as f32)
                        .collect(),
                    per_channel(&sums[w..], c)
                        .iter()
                        .map(|&v| v as f32)
                        .collect(),
                );
                add_into(grads.get_or_alloc_mut(&bias_ghost)?, &sb);
                add_into(grads.get_or_alloc_mut(&scale_ghost)?, &ss);
                // Per channel, d/dx = k1·g - k2 - k3·x̂ with (training mode,
                // through the batch statistics) k1 = s·inv, k2 = s·inv·Σg/n,
                // k3 = s·inv·Σ(g·x̂)/n; or (given statistics) k1 = s·inv, k2 = k3 = 0.
                let s = owned(&scale);
                let k1: Vec<f32> = s.iter().zip(&inv).map(|(s, i)| s * i).collect();
                let (k2, k3): (Vec<f32>, Vec<f32>) = if train {
                    let nf = n as f32;
                    (
                        k1.iter().zip(&sb).map(|(k, v)| k * v / nf).collect(),
                        k1.iter().zip(&ss).map(|(k, v)| k * v / nf).collect(),
                    )
                } else {
                    (vec![0.0; c], vec![0.0; c])
                };
                let (k1, k2, k3) = (tiled(&k1, w), tiled(&k2, w), tiled(&k3, w));
                let gx = grads.get_or_alloc_mut(&x_ghost)?;
                gx.par_chunks_mut(rows).enumerate().for_each(|(k, gx)| {
                    vectorized(|| {
                        let at = k * rows;
                        for span in spans(gx.len(), w, c) {
                            let n = span.len();
                            let d = &mut gx[span.clone()];
                            let (g, x) = (
                                &g[at + span.start..at + span.end],
                                &xs[at + span.start..at + span.end],
                            );
                            let stats = mean_t[..n].iter().zip(&inv_t[..n]);
                            let ks = k1[..n].iter().zip(&k2[..n]).zip(&k3[..n]);
                            for (((d, (&g, &x)), (&m, &i)), ((&k1, &k2), &k3)) in
                                d.iter_mut().zip(g.iter().zip(x)).zip(stats).zip(ks)
                            {
                                let h = normalized(x, m, i);
                                *d += k1 * g - k2 - k3 * h;
                            }
                        }
                    })
                });
                **grads.get_or_alloc_mut(&out_ghost)? = g;
                Ok(())
            });
        }
        (out.put_tape(tape), batch)
    }
}

/// x̂ = `(x - mean) * inv_std`: one op order for the forward and backward passes.
#[inline(always)]
fn normalized(x: f32, mean: f32, inv_std: f32) -> f32 {
    (x - mean) * inv_std
}

/// `x` laid out in NHWC memory order (its `storage()` is then the values in
/// that order), without its tape, and the tape. A permuted or broadcast view
/// is laid out first (dfdx's reshape carries the gradient back to the view's
/// layout); free for a contiguous map, whose buffer is then borrowed, not copied.
fn host<T: Tape<f32, Cpu>>(x: Maps<Cpu, T>) -> (Maps<Cpu>, T) {
    x.contiguous().split_tape()
}

/// A buffer of `len` values from dfdx's cache (when it is on; it goes back
/// there when its tensor drops, so steps reuse it instead of taking fresh
/// pages), not zero-filled: for kernels that write every value.
fn buffer(dev: &Cpu, len: usize) -> <Cpu as Storage<f32>>::Vec {
    dev.try_alloc_unfilled(len).expect("out of memory")
}

/// The buffer of a tensor that owns its values in row-major order (a
/// parameter or a statistic), borrowed.
fn owned<S: Shape>(t: &Tensor<S, f32, Cpu>) -> &Vec<f32> {
    assert_eq!(t.strides(), t.shape().strides(), "a row-major tensor");
    t.storage()
}

/// Per-channel batch mean and biased variance of an `(n, c)` buffer, in f64
/// over fixed row chunks, rounded to f32; the variance is taken around the
/// f32 mean (as the reference does).
fn mean_var(x: &[f32], c: usize) -> (Vec<f32>, Vec<f32>) {
    let (n, w) = (x.len() / c, block_width(c));
    let chunks = || x.par_chunks(CHUNK_ROWS * c);
    let sums = chunked_sums(chunks(), w, |rows, acc| {
        for span in spans(rows.len(), w, c) {
            let n = span.len();
            acc[..n]
                .iter_mut()
                .zip(&rows[span])
                .for_each(|(a, &v)| *a += v as f64);
        }
    });
    let mean: Vec<f32> = per_channel(&sums, c)
        .iter()
        .map(|s| (s / n as f64) as f32)
        .collect();
    let mean_t = tiled(&mean, w);
    let squares = chunked_sums(chunks(), w, |rows, acc| {
        for span in spans(rows.len(), w, c) {
            let n = span.len();
            for ((a, &v), &m) in acc[..n].iter_mut().zip(&rows[span]).zip(&mean_t[..n]) {
                let d = (v - m) as f64;
                *a += d * d;
            }
        }
    });
    let var = per_channel(&squares, c)
        .iter()
        .map(|s| (s / n as f64) as f32)
        .collect();
    (mean, var)
}

/// Values per block of the per-channel loops: whole rows (so a block starts
/// at channel 0), at least 64 values where rows are narrower, a power-of-two
/// number of rows (so blocks tile a chunk of `CHUNK_ROWS` rows). At 8 to 32
/// channels a row-by-row loop spends more on its own overhead than on the
/// values; over a block the per-channel values are vectors (`tiled`).
fn block_width(c: usize) -> usize {
    let rows = (64 / c.max(1)).max(1);
    c * (1 << rows.ilog2())
}

/// `v` repeated to `w` values (`w` a multiple of its length).
fn tiled(v: &[f32], w: usize) -> Vec<f32> {
    v.iter().copied().cycle().take(w).collect()
}

/// The spans of a chunk of `len` values (whole rows of `c`) the per-channel
/// loops take: blocks of `w` values, then the leftover rows one at a time.
/// Every span starts at channel 0.
fn spans(len: usize, w: usize, c: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let full = len - len % w;
    let blocks = (0..full).step_by(w).map(move |s| s..s + w);
    blocks.chain((full..len).step_by(c).map(move |s| s..s + c))
}

/// Per-channel totals of block sums (`sums[t]` belongs to channel `t % c`),
/// added in block position order.
fn per_channel(sums: &[f64], c: usize) -> Vec<f64> {
    let mut total = vec![0.0; c];
    for block in sums.chunks_exact(c) {
        total.iter_mut().zip(block).for_each(|(t, v)| *t += v);
    }
    total
}

/// `width` sums over chunks of `CHUNK_ROWS` rows: `add(chunk, acc)` adds the
/// terms of one chunk (whatever `chunks` yields for it) into `acc`. Chunks run
/// in parallel; their partial sums are added in chunk order, so the result
/// does not depend on threads.
fn chunked_sums<I: IndexedParallelIterator>(
    chunks: I,
    width: usize,
    add: impl Fn(I::Item, &mut [f64]) + Sync + Send,
) -> Vec<f64> {
    let partials: Vec<Vec<f64>> = chunks
        .map(|chunk| {
            let mut acc = vec![0.0; width];
            vectorized(|| add(chunk, &mut acc));
            acc
        })
        .collect();
    let mut total = vec![0.0; width];
    for p in partials {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    total
}

/// `dst += src`, elementwise, in parallel.
fn add_into(dst: &mut [f32], src: &[f32]) {
    dst.par_chunks_mut(1 << 14)
        .zip(src.par_chunks(1 << 14))
        .for_each(|(d, s)| vectorized(|| d.iter_mut().zip(s).for_each(|(d, s)| *d += s)));
}
