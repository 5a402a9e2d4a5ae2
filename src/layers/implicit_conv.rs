//! A stride-1 conv's products read straight from a zero-padded copy of the
//! map (an "implicit GEMM"), with no patch matrix.
//!
//! In a padded NHWC image of width `wp = cols + 2p`, output pixel `(oy, ox)`
//! at kernel offset `(ky, kx)` reads padded pixel `(oy + ky, ox + kx)`. Number
//! the output pixels as if the output were `wp` wide too, `q = oy·wp + ox`:
//! then the patch value `(ky, kx, c)` of `q` sits at `(q + ky·wp)·C + kx·C + c`
//! in the padded image. For one kernel row `ky` the `k·C` values are
//! contiguous, and the next `q` starts `C` further on. So the conv is a
//! product whose `a` has row stride `C` and one segment of `k·C` terms per
//! kernel row (`matmul::Strided`), read from the padded map in place of `k²`
//! copies of every value. From 16 output columns on (`WRAP_COLS`) one product
//! covers a whole band this way, in the tallest register tiles: the
//! `wp - out_cols` extra `q` per output row (they wrap into the next row) are
//! computed and dropped, `2p/wp` of the work (11% at 16 pixels). Narrower
//! maps would drop 20% (8 pixels) to 33% (4): there each output row is its
//! own product, in tiles as tall as divide its columns.
//!
//! Each task pads one band of output rows of one image (plus the `k - 1`
//! rows of halo they read) into a buffer that stays in cache, then computes
//! them; the weight gradient does the same per band and sums over the band's
//! output rows, one segment per output row.
//!
//! # Precision and op order
//!
//! f32, one FMA per term. Output (and input-gradient) values sum their terms
//! in patch order `(ky, kx, c)`, as the im2col product does. The weight
//! gradient sums over every output pixel: each band in row order, the bands
//! of at most `MAX_PARTIALS` fixed groups in order, then the groups' sums in
//! group order, so it does not depend on the thread count.

use rayon::prelude::*;

use super::conv_products::MAX_PARTIALS;
use super::im2col::Geometry;
use super::matmul::{strided, strided_fits, Strided};

/// Padded values per band: 64 KiB of f32, so a band stays in the L2 cache
/// next to the weight while its tiles read it `C_out / 16` times.
const BAND_VALUES: usize = 1 << 14;
/// The virtual rows of a band are tiled in multiples of this (every kernel's
/// `MR` divides it), so no tile falls back to one row at a time; the padded
/// buffer has room for the extra rows' reads.
const ROW_MULTIPLE: usize = 24;
/// Output columns from which the forward products run over virtual rows
/// (`wp` per output row, `2p` of them dropped: 11% extra work at 16 columns)
/// in tall register tiles, instead of one product per output row in tiles
/// as tall as divide the columns: faster at 16 columns (9.2 against 9.4 ms
/// for the bench's lone conv), slower at 8 and 4 (the depth-50 bench steps
/// 52-53 against 49-51 ms).
const WRAP_COLS: usize = 16;

/// Whether the implicit products run for a conv of geometry `g` with `n`
/// output columns: stride 1, a kernel with SIMD tiles for `n` and for the
/// input gradient's `C_in` columns, and enough input channels per segment to
/// keep the tiles busy.
pub(crate) fn fits(g: &Geometry, n: usize) -> bool {
    let w = g.window;
    w.stride == 1
        && g.channels >= 8
        && strided_fits(n)
        && strided_fits(g.channels)
        && g.out_cols >= MIN_COLS
}

/// Fewest output columns for the implicit products: a product per output
/// row tiles its pixels in register tiles of up to 4 rows at this width.
const MIN_COLS: usize = 4;

/// One band of one image: output rows `oy0..oy0 + rows`.
#[derive(Clone, Copy)]
struct Band {
    image: usize,
    oy0: usize,
    rows: usize,
}

/// The padded geometry shared by the three products.
struct Padded<'a> {
    g: &'a Geometry,
    /// Padded width.
    wp: usize,
    /// Output rows per band.
    band_rows: usize,
    /// Whether forward products run over virtual rows (`WRAP_COLS`).
    wrap: bool,
}

impl<'a> Padded<'a> {
    fn new(g: &'a Geometry) -> Self {
        let (k, p) = (g.window.kernel, g.window.padding);
        let wp = g.cols + 2 * p;
        debug_assert_eq!(wp - k + 1, g.out_cols);
        let row_values = wp * g.channels;
        let band_rows = (BAND_VALUES / row_values).saturating_sub(k - 1);
        Self {
            g,
            wp,
            band_rows: band_rows.clamp(1, g.out_rows.max(1)),
            wrap: g.out_cols >= WRAP_COLS,
        }
    }

    fn bands_per_image(&self) -> usize {
        self.g.out_rows.div_ceil(self.band_rows)
    }

    fn band(&self, index: usize) -> Band {
        let per_image = self.bands_per_image();
        let (image, t) = (index / per_image, index % per_image);
        let oy0 = t * self.band_rows;
        Band {
            image,
            oy0,
            rows: self.band_rows.min(self.g.out_rows - oy0),
        }
    }

    /// Writes the padded rows `band` reads into `buf` (resized): `rows + k - 1`
    /// rows of `wp` pixels, zeros outside the image, then zeros for the reads
    /// of the virtual rows tiles round up to.
    fn fill(&self, x: &[f32], band: Band, buf: &mut Vec<f32>) {
        let g = self.g;
        let (k, p, c) = (g.window.kernel, g.window.padding, g.channels);
        let row_values = self.wp * c;
        let rows = band.rows + k - 1;
        buf.clear();
        buf.resize(rows * row_values + (ROW_MULTIPLE + k) * c, 0.0);
        let image = &x[band.image * g.rows * g.cols * c..][..g.rows * g.cols * c];
        for (r, dst) in buf.chunks_exact_mut(row_values).take(rows).enumerate() {
            if let Some(y) = (band.oy0 + r).checked_sub(p).filter(|&y| y < g.rows) {
                dst[p * c..(p + g.cols) * c]
                    .copy_from_slice(&image[y * g.cols * c..(y + 1) * g.cols * c]);
            }
        }
    }
}

/// `out (+)= conv(x, w)` for a stride-1 conv `g` that [`fits`]: `w` is
/// `(k²·C_in) × n` (rows `ky, kx, c`), `out` the NHWC output, `n` channels.
pub(crate) fn conv(
    out: &mut [f32],
    accumulate: bool,
    x: &[f32],
    g: &Geometry,
    w: &[f32],
    n: usize,
) {
    let pad = Padded::new(g);
    let (k, c, wp, oc) = (g.window.kernel, g.channels, pad.wp, g.out_cols);
    assert_eq!(out.len(), g.num_rows() * n, "output length");
    assert_eq!(w.len(), k * k * c * n, "weight length");
    let per_image = g.out_rows * oc * n;
    out.par_chunks_mut(per_image.max(1))
        .enumerate()
        .flat_map(|(image, dst)| {
            let first = image * pad.bands_per_image();
            let bands = dst.par_chunks_mut(pad.band_rows * oc * n).enumerate();
            bands.map(move |(t, dst)| (first + t, dst))
        })
        .for_each_init(Vec::new, |buf, (index, dst)| {
            let band = pad.band(index);
            debug_assert_eq!(dst.len(), band.rows * oc * n);
            pad.fill(x, band, buf);
            // Either one product over the band's virtual rows (`wp` per
            // output row, the extra ones dropped), or one per output row.
            let (products, rows) = if pad.wrap {
                (1, (band.rows * wp).next_multiple_of(ROW_MULTIPLE))
            } else {
                (band.rows, oc)
            };
            for r in 0..products {
                let p = Strided {
                    a: &buf[r * wp * c..],
                    a_rs: c,
                    a_cs: 1,
                    a_ss: wp * c,
                    b: w,
                    b_rs: n,
                    b_ss: k * c * n,
                    rows,
                    n,
                    segs: k,
                    kc: k * c,
                };
                strided(&p, dst, accumulate, &|q| {
                    let (y, ox) = if pad.wrap { (q / wp, q % wp) } else { (r, q) };
                    (y < band.rows && ox < oc).then(|| (y * oc + ox) * n)
                });
            }
        });
}

/// `gw += im2col(x)ᵀ · gy` for a stride-1 conv `g` that [`fits`] (`gy`: the
/// NHWC output gradient, `n` channels; `gw`: `(k²·C_in) × n`).
pub(crate) fn add_weight_grad(gw: &mut [f32], x: &[f32], g: &Geometry, gy: &[f32], n: usize) {
    let pad = Padded::new(g);
    let (k, c, wp, oc) = (g.window.kernel, g.channels, pad.wp, g.out_cols);
    assert_eq!(gw.len(), k * k * c * n, "weight gradient length");
    assert_eq!(gy.len(), g.num_rows() * n, "output gradient length");
    let bands = g.batch * pad.bands_per_image();
    let groups = bands.clamp(1, MAX_PARTIALS);
    let per_group = bands.div_ceil(groups);
    let partials: Vec<Vec<f32>> = (0..groups)
        .into_par_iter()
        .map(|group| {
            let mut sum = vec![0.0; gw.len()];
            let mut buf = Vec::new();
            for index in group * per_group..((group + 1) * per_group).min(bands) {
                let band = pad.band(index);
                pad.fill(x, band, &mut buf);
                let first = (band.image * g.out_rows + band.oy0) * oc * n;
                // Kernel row ky: weight rows (ky, ·, ·) are padded values
                // kx·C + c of pixel q + ky·wp, summed over the band's output
                // pixels, one segment per output row.
                for (ky, sum) in sum.chunks_exact_mut(k * c * n).enumerate() {
                    let p = Strided {
                        a: &buf[ky * wp * c..],
                        a_rs: 1,
                        a_cs: c,
                        a_ss: wp * c,
                        b: &gy[first..first + band.rows * oc * n],
                        b_rs: n,
                        b_ss: oc * n,
                        rows: k * c,
                        n,
                        segs: band.rows,
                        kc: oc,
                    };
                    strided(&p, sum, true, &|i| Some(i * n));
                }
            }
            sum
        })
        .collect();
    for p in &partials {
        gw.iter_mut().zip(p).for_each(|(g, p)| *g += p);
    }
}
