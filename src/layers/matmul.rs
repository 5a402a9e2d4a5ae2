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
    if !strided_fits(n) {
        return by_gemm(dst, accumulate, a, b);
    }
    // A transposed b (the weight in the input gradient) is small: lay it out.
    let laid_out;
    let b = if b.col_stride == 1 {
        b
    } else {
        laid_out = (0..k * n).map(|x| b.at(x / n, x % n)).collect::<Vec<_>>();
        Mat::new(&laid_out, k, n)
    };
    dst.par_chunks_mut(ROWS_PER_TASK * n)
        .enumerate()
        .for_each(|(t, c)| {
            let (row0, rows) = (t * ROWS_PER_TASK, c.len() / n);
            for kb in (0..k).step_by(KC) {
                let p = Strided {
                    a: &a.data[row0 * a.row_stride + kb * a.col_stride..],
                    a_rs: a.row_stride,
                    a_cs: a.col_stride,
                    a_ss: 0,
                    b: &b.data[kb * n..],
                    b_rs: n,
                    b_ss: 0,
                    rows,
                    n,
                    segs: 1,
                    kc: KC.min(k - kb),
                };
                strided(&p, c, accumulate || kb > 0, &|i| Some(i * n));
            }
        });
}

/// Terms per block of `matmul`'s inner sum: a `KC × n` block of `b` (at most
/// 64 KiB at 64 channels) stays in cache while a chunk of rows walks it.
const KC: usize = 256;
/// Output rows per parallel task of `matmul`.
const ROWS_PER_TASK: usize = 48;

/// A product given by strides, for the register-tiled kernels: result row
/// `i < rows`, columns `j < n`, is
/// `Σ_{s < segs} Σ_{p < kc} a[i·a_rs + s·a_ss + p·a_cs] · b[s·b_ss + p·b_rs + j]`,
/// summed in `s`, then `p` order. A plain product is one segment; a conv read
/// straight from a padded map (`layers::implicit_conv`) is one segment per
/// kernel row, or per output row.
pub(crate) struct Strided<'a> {
    pub a: &'a [f32],
    pub a_rs: usize,
    pub a_cs: usize,
    pub a_ss: usize,
    pub b: &'a [f32],
    pub b_rs: usize,
    pub b_ss: usize,
    pub rows: usize,
    pub n: usize,
    pub segs: usize,
    pub kc: usize,
}

impl Strided<'_> {
    /// Panics unless every value the product reads is inside `a` and `b`.
    fn check(&self) {
        if self.rows == 0 || self.segs == 0 || self.kc == 0 {
            return;
        }
        let last_a =
            (self.rows - 1) * self.a_rs + (self.segs - 1) * self.a_ss + (self.kc - 1) * self.a_cs;
        let last_b = (self.segs - 1) * self.b_ss + (self.kc - 1) * self.b_rs + self.n - 1;
        assert!(last_a < self.a.len(), "strided product reads past a");
        assert!(last_b < self.b.len(), "strided product reads past b");
    }
}

/// Whether [`strided`] runs for `n` columns on this CPU.
pub(crate) fn strided_fits(n: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        (avx512::fits(n) && has!("avx512f")) || (avx2::fits(n) && has!("avx2") && has!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = n;
        false
    }
}

/// Computes the product `p` on this thread; result row `i` goes to
/// `dst[o..o + n]` where `out(i) = Some(o)` (added onto the values there if
/// `load`), or nowhere if `None`. Panics unless [`strided_fits`]`(p.n)`.
pub(crate) fn strided(
    p: &Strided<'_>,
    dst: &mut [f32],
    load: bool,
    out: &dyn Fn(usize) -> Option<usize>,
) {
    p.check();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if avx512::fits(p.n) && has!("avx512f") {
            return avx512::strided(p, dst, load, out);
        }
        if avx2::fits(p.n) && has!("avx2") && has!("fma") {
            return avx2::strided(p, dst, load, out);
        }
    }
    panic!("no SIMD kernel for {} columns on this CPU", p.n);
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
/// intrinsics, whether to prefetch `a` in software (see `prefetch`), and the
/// `(column multiple, MR, NV)` tiles to try in order.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_kernel {
    ($name:ident, $features:literal, $v:ty, $lanes:literal,
     $zero:ident, $load:ident, $store:ident, $splat:ident, $fma:ident,
     $prefetch:literal, [$(($multiple:literal, $mr:literal, $nv:literal)),+]) => {
        mod $name {
            use super::*;
            use std::arch::x86_64::*;

            /// Whether some tile fits `n` columns.
            pub(super) fn fits(n: usize) -> bool {
                false $(|| n % $multiple == 0)+
            }

            /// [`super::strided`], once the CPU's features are known.
            pub(super) fn strided(
                p: &Strided<'_>,
                dst: &mut [f32],
                load: bool,
                out: &dyn Fn(usize) -> Option<usize>,
            ) {
                // SAFETY: the caller detected the target features and
                // checked that a and b hold every value the tiles read;
                // `rows_of` checks every output row against dst.
                unsafe {
                    // The first tile for n columns whose height divides the
                    // rows (a product per output row of a conv has as few as
                    // 4), else the first for n columns.
                    $(if p.n % $multiple == 0 && p.rows % $mr == 0 {
                        return rows_of::<$mr, $nv>(p, dst, load, out);
                    })+
                    $(if p.n % $multiple == 0 {
                        return rows_of::<$mr, $nv>(p, dst, load, out);
                    })+
                }
                unreachable!("fits(n) was checked");
            }

            /// Every result row of `p` in `MR × LANES·NV` register tiles, the
            /// rows after the last full tile one at a time.
            #[target_feature(enable = $features)]
            unsafe fn rows_of<const MR: usize, const NV: usize>(
                p: &Strided<'_>,
                dst: &mut [f32],
                load: bool,
                out: &dyn Fn(usize) -> Option<usize>,
            ) {
                let full = p.rows - p.rows % MR;
                for i in (0..full).step_by(MR).chain(full..p.rows) {
                    let tile_rows = if i < full { MR } else { 1 };
                    let mut c = [std::ptr::null_mut::<f32>(); MR];
                    for (r, c) in c.iter_mut().enumerate().take(tile_rows) {
                        if let Some(o) = out(i + r) {
                            assert!(o + p.n <= dst.len(), "strided product writes past dst");
                            *c = dst.as_mut_ptr().add(o);
                        }
                    }
                    let a = p.a.as_ptr().add(i * p.a_rs);
                    // The tile after this one (or this one again, at the end).
                    let next = if i + 2 * MR <= full { a.add(MR * p.a_rs) } else { a };
                    for j in (0..p.n).step_by($lanes * NV) {
                        let c = c.map(|c| if c.is_null() { c } else { c.add(j) });
                        let b = p.b.as_ptr().add(j);
                        if tile_rows == 1 {
                            tile::<1, NV>(p, a, next, b, &c, load);
                        } else {
                            tile::<MR, NV>(p, a, next, b, &c, load);
                        }
                    }
                }
            }

            /// Software prefetch of `a` (the hardware prefetcher does not keep
            /// up with MR row streams at once: measured 65 → 98 GFLOP/s on a
            /// 16384 × 288 × 32 product in a C model of this kernel). A
            /// row-major `a` gets the next tile's MR rows a cache line at a
            /// time, every 16 terms; a transposed one (each term a new row of
            /// the buffer) the line 8 terms ahead. AVX-512 only: with AVX2's
            /// 16 registers the prefetch addresses made LLVM spill one of the
            /// 6×2 tile's accumulators to the stack in the inner loop (on a
            /// Zen 3 core the bench's lone conv took 28 ms with the prefetch
            /// and 14 ms without).
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

            /// `c[i][0..LANES·NV] (+)= Σ_s Σ_p a[i][s][p] · b[s][p][0..LANES·NV]`
            /// for `i < MR`, the `MR × NV` accumulators in registers; rows
            /// whose `c` is null are computed and dropped.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile<const MR: usize, const NV: usize>(
                p: &Strided<'_>,
                a: *const f32,
                next: *const f32,
                b: *const f32,
                c: &[*mut f32],
                load: bool,
            ) {
                let mut acc: [[$v; NV]; MR] = [[$zero(); NV]; MR];
                if load {
                    for (row, &c) in acc.iter_mut().zip(c) {
                        if !c.is_null() {
                            for (v, x) in row.iter_mut().enumerate() {
                                *x = $load(c.add($lanes * v));
                            }
                        }
                    }
                }
                let (a_rs, a_cs) = (p.a_rs, p.a_cs);
                for s in 0..p.segs {
                    let (a, b) = (a.add(s * p.a_ss), b.add(s * p.b_ss));
                    let next = next.wrapping_add(s * p.a_ss);
                    for t in 0..p.kc {
                        let bp = b.add(t * p.b_rs);
                        let mut bv: [$v; NV] = [$zero(); NV];
                        for (v, x) in bv.iter_mut().enumerate() {
                            *x = $load(bp.add($lanes * v));
                        }
                        let ap = a.add(t * a_cs);
                        if $prefetch {
                            prefetch::<MR>(t, ap, next, a_rs, a_cs);
                        }
                        for (i, row) in acc.iter_mut().enumerate() {
                            let av = $splat(*ap.add(i * a_rs));
                            for (x, bv) in row.iter_mut().zip(&bv) {
                                *x = $fma(av, *bv, *x);
                            }
                        }
                    }
                }
                for (row, &c) in acc.iter().zip(c) {
                    if !c.is_null() {
                        for (v, x) in row.iter().enumerate() {
                            $store(c.add($lanes * v), *x);
                        }
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
    true,
    [
        (64, 6, 4),
        (64, 4, 4),
        (32, 12, 2),
        (32, 8, 2),
        (32, 4, 2),
        (16, 24, 1),
        (16, 16, 1),
        (16, 8, 1),
        (16, 4, 1)
    ]
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
    false,
    [(16, 6, 2), (16, 4, 2), (8, 12, 1), (8, 8, 1), (8, 4, 1)]
);
