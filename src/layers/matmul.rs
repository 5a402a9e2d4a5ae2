//! Matrix products for the CPU conv layers, sized for their shapes.
//!
//! A conv as im2col is `patches (pixels × k²·C_in) · weight (k²·C_in × C_out)`
//! with a row-major (NHWC) output, so the output's contiguous dimension is
//! `C_out`: 8 to 64 channels at the widths the experiments sweep. The `gemm`
//! crate (dfdx's CPU matmul) puts the output's contiguous dimension in its
//! 24-wide register tile, so at 8 or 16 channels most of the tile is empty
//! and the kernel waits on FMA latency. The kernel here vectorizes over the
//! output channels and puts up to 24 output rows (pixels) in a register tile,
//! so every FMA unit stays busy even at 8 channels.
//!
//! It runs on x86-64 (features checked at run time) with AVX-512 when the
//! column count is a multiple of 16, else with AVX2 and FMA when it is a
//! multiple of 8; other cases go to `gemm`. `gemm` 0.15 has AVX-512 kernels
//! only behind its nightly feature.
//!
//! # Precision and op order
//!
//! f32 throughout. Each output is `c + Σ_p a[i][p]·b[p][j]` accumulated in
//! `p` order with one fused multiply-add per term, in blocks of `KC` terms
//! added onto the running value: the same order whatever the thread count
//! and the instruction set (AVX-512 and AVX2 give the same bits).
//! `gemm` (the fallback, and dfdx's matmul) also uses FMAs but blocks the sum
//! differently, so the two agree to rounding, not bit for bit.

use rayon::prelude::*;

/// A row-major `rows × cols` matrix over a slice, or a transposed view of one.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix buffer length");
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// `dst = a · b`, or `dst += a · b` if `accumulate`; `dst` is row-major.
pub(crate) fn matmul(dst: &mut [f32], accumulate: bool, a: Mat<'_>, b: Mat<'_>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions");
    assert_eq!(dst.len(), m * n, "output buffer length");
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx512 = avx512::fits(n) && has!("avx512f");
        if avx512 || (avx2::fits(n) && has!("avx2") && has!("fma")) {
            // A transposed b (the weight in the input gradient) is small: lay it out.
            let laid_out;
            let b = if b.col_stride == 1 {
                b
            } else {
                laid_out = (0..k * n).map(|x| b.at(x / n, x % n)).collect::<Vec<_>>();
                Mat::new(&laid_out, k, n)
            };
            return if avx512 {
                avx512::matmul(dst, accumulate, a, b)
            } else {
                avx2::matmul(dst, accumulate, a, b)
            };
        }
    }
    by_gemm(dst, accumulate, a, b)
}

/// The `gemm` crate on rayon's pool, as dfdx's matmul calls it.
fn by_gemm(dst: &mut [f32], accumulate: bool, a: Mat<'_>, b: Mat<'_>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the three buffers hold the values their strides address
    // (checked by `Mat::new` and `matmul`), and dst (a unique borrow) aliases
    // neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// One register-tiled kernel per instruction set, from one template: the
/// module name, the target features, the vector type, its lanes, its five
/// intrinsics, and the `(column multiple, MR, NV)` tiles to try in order.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_kernel {
    ($name:ident, $features:literal, $v:ty, $lanes:literal,
     $zero:ident, $load:ident, $store:ident, $splat:ident, $fma:ident,
     [$(($multiple:literal, $mr:literal, $nv:literal)),+]) => {
        mod $name {
            use super::*;
            use std::arch::x86_64::*;

            /// Terms per block of the inner sum: a `KC × n` block of `b` (at most
            /// 64 KiB at 64 channels) stays in cache while a chunk of rows walks it.
            const KC: usize = 256;
            /// Output rows per parallel task.
            const ROWS_PER_TASK: usize = 48;

            /// Whether some tile fits `n` columns.
            pub(super) fn fits(n: usize) -> bool {
                false $(|| n % $multiple == 0)+
            }

            pub(super) fn matmul(dst: &mut [f32], accumulate: bool, a: Mat<'_>, b: Mat<'_>) {
                let (k, n) = (a.cols, b.cols);
                debug_assert!(fits(n) && b.col_stride == 1);
                dst.par_chunks_mut(ROWS_PER_TASK * n)
                    .enumerate()
                    .for_each(|(t, c)| {
                        let row0 = t * ROWS_PER_TASK;
                        let rows = c.len() / n;
                        for kb in (0..k).step_by(KC) {
                            let kc = KC.min(k - kb);
                            let load = accumulate || kb > 0;
                            // SAFETY: the caller detected the target features;
                            // every pointer the tiles form stays inside a, b
                            // and c (rows row0.., terms kb..kb + kc, all n columns).
                            unsafe {
                                $(if n % $multiple == 0 {
                                    rows_of::<$mr, $nv>(c, rows, row0, kb, kc, load, &a, &b);
                                    continue;
                                })+
                            }
                        }
                    });
            }

            /// Rows `row0..row0 + rows` of the output (`c`), terms `kb..kb + kc`, in
            /// `MR × LANES·NV` register tiles; the last rows one at a time.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            unsafe fn rows_of<const MR: usize, const NV: usize>(
                c: &mut [f32],
                rows: usize,
                row0: usize,
                kb: usize,
                kc: usize,
                load: bool,
                a: &Mat<'_>,
                b: &Mat<'_>,
            ) {
                let n = b.cols;
                let a_at = |i: usize| {
                    a.data
                        .as_ptr()
                        .add((row0 + i) * a.row_stride + kb * a.col_stride)
                };
                let b_at = |j: usize| b.data.as_ptr().add(kb * b.row_stride + j);
                // Full MR-row tiles, then the remaining rows as 1-row tiles.
                let full = rows - rows % MR;
                let mut run = |i: usize, j: usize, one_row: bool| {
                    let (ap, bp, out) = (a_at(i), b_at(j), c.as_mut_ptr().add(i * n + j));
                    let (ars, acs, brs) = (a.row_stride, a.col_stride, b.row_stride);
                    // The tile after this one (or this one again, at the end).
                    let next = if i + 2 * MR <= full { a_at(i + MR) } else { ap };
                    if one_row {
                        tile::<1, NV>(kc, ap, ars, acs, next, bp, brs, out, n, load);
                    } else {
                        tile::<MR, NV>(kc, ap, ars, acs, next, bp, brs, out, n, load);
                    }
                };
                for i in (0..full).step_by(MR).chain(full..rows) {
                    for j in (0..n).step_by($lanes * NV) {
                        run(i, j, i >= full);
                    }
                }
            }

            /// Software prefetch of `a` (the hardware prefetcher does not keep
            /// up with MR row streams at once: measured 65 → 98 GFLOP/s on a
            /// 16384 × 288 × 32 product in a C model of this kernel). A
            /// row-major `a` gets the next tile's MR rows a cache line at a
            /// time, every 16 terms; a transposed one (each term a new row of
            /// the buffer) the line 8 terms ahead.
            #[inline(always)]
            unsafe fn prefetch<const MR: usize>(
                p: usize,
                ap: *const f32,
                next: *const f32,
                a_rs: usize,
                a_cs: usize,
            ) {
                let line = |x: *const f32| _mm_prefetch::<_MM_HINT_T0>(x as *const i8);
                if a_cs == 1 {
                    if p % 16 == 0 {
                        for r in 0..MR {
                            line(next.wrapping_add(r * a_rs + p + 16));
                        }
                    }
                } else {
                    line(ap.wrapping_add(8 * a_cs));
                    line(ap.wrapping_add(8 * a_cs + MR - 1));
                }
            }

            /// `c[i][0..LANES·NV] (+)= Σ_{p < kc} a[i][p] · b[p][0..LANES·NV]` for
            /// `i < MR`, the `MR × NV` accumulators in registers.
            #[allow(clippy::too_many_arguments)]
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile<const MR: usize, const NV: usize>(
                kc: usize,
                a: *const f32,
                a_rs: usize,
                a_cs: usize,
                next: *const f32,
                b: *const f32,
                b_rs: usize,
                c: *mut f32,
                c_rs: usize,
                load: bool,
            ) {
                let mut acc: [[$v; NV]; MR] = [[$zero(); NV]; MR];
                if load {
                    for (i, row) in acc.iter_mut().enumerate() {
                        for (v, x) in row.iter_mut().enumerate() {
                            *x = $load(c.add(i * c_rs + $lanes * v));
                        }
                    }
                }
                for p in 0..kc {
                    let bp = b.add(p * b_rs);
                    let mut bv: [$v; NV] = [$zero(); NV];
                    for (v, x) in bv.iter_mut().enumerate() {
                        *x = $load(bp.add($lanes * v));
                    }
                    let ap = a.add(p * a_cs);
                    prefetch::<MR>(p, ap, next, a_rs, a_cs);
                    for (i, row) in acc.iter_mut().enumerate() {
                        let av = $splat(*ap.add(i * a_rs));
                        for (x, bv) in row.iter_mut().zip(&bv) {
                            *x = $fma(av, *bv, *x);
                        }
                    }
                }
                for (i, row) in acc.iter().enumerate() {
                    for (v, x) in row.iter().enumerate() {
                        $store(c.add(i * c_rs + $lanes * v), *x);
                    }
                }
            }
        }
    };
}

// AVX-512: 24 of the 32 vector registers hold accumulators.
#[cfg(target_arch = "x86_64")]
simd_kernel!(
    avx512,
    "avx512f",
    __m512,
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    [(64, 6, 4), (32, 12, 2), (16, 24, 1)]
);
// AVX2: 12 of the 16.
#[cfg(target_arch = "x86_64")]
simd_kernel!(
    avx2,
    "avx2,fma",
    __m256,
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    [(16, 6, 2), (8, 12, 1)]
);
