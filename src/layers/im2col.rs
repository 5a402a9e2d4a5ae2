//! im2col: the one primitive convolution and max pooling are built on.
//!
//! Feature maps are NHWC (`(batch, rows, cols, channels)`), so one pixel's
//! channels are contiguous and a patch row is a run of contiguous copies.
//! `im2col` turns a map into one row per output pixel holding its
//! `kernel × kernel × channels` window (ordered `ky, kx, c`); a convolution is
//! then one `matmul` with a `(k·k·C_in, C_out)` weight, and max pooling a `max`
//! over the window axis. Autodiff comes from dfdx for everything but im2col
//! itself, whose backward is col2im (scatter-add of patch gradients).
//!
//! Two implementations of the same op:
//! - [`im2col_by_gather`]: dfdx's `gather` on the flattened map plus one padding
//!   row; works (and differentiates) on every device, CUDA included.
//! - the CPU kernel (`ConvDevice` for `Cpu`, in `layers::cpu`): direct copies, parallel over
//!   the batch, with col2im as its backward. dfdx's generic CPU gather indexes
//!   element by element and is several times slower here.
//!
//! The two are checked against each other and against finite differences in
//! `tests/it/conv_layers.rs`.

use std::cell::RefCell;
use std::collections::HashMap;

use dfdx::prelude::*;
use rayon::prelude::*;

use super::device::ConvDevice;
use crate::device::{DeviceFamily, PerDevice, TrainDevice};

/// Feature maps `(batch, rows, cols, channels)`.
pub type Maps<D, T = NoneTape> = Tensor<(usize, usize, usize, usize), f32, D, T>;
/// Patches: one row per output pixel, `kernel² × channels` columns.
pub type Patches<D, T = NoneTape> = Tensor<(usize, usize), f32, D, T>;

/// A square sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Window {
    pub const fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kernel,
            stride,
            padding,
        }
    }

    /// Output size along an axis of `n` pixels (floor, as PyTorch and TF "same").
    ///
    /// Panics if the padded input is smaller than the kernel.
    pub fn out_size(&self, n: usize) -> usize {
        assert!(
            n + 2 * self.padding >= self.kernel && self.stride > 0,
            "a {}x{} window (stride {}, padding {}) does not fit {n} pixels",
            self.kernel,
            self.kernel,
            self.stride,
            self.padding
        );
        (n + 2 * self.padding - self.kernel) / self.stride + 1
    }
}

/// Everything about one im2col call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub batch: usize,
    pub rows: usize,
    pub cols: usize,
    pub channels: usize,
    pub window: Window,
    pub out_rows: usize,
    pub out_cols: usize,
}

impl Geometry {
    pub fn new(shape: (usize, usize, usize, usize), window: Window) -> Self {
        let (batch, rows, cols, channels) = shape;
        Self {
            batch,
            rows,
            cols,
            channels,
            window,
            out_rows: window.out_size(rows),
            out_cols: window.out_size(cols),
        }
    }

    /// The geometry of a conv of `x` (shape) by a `(k²·C_in, C_out)` weight
    /// (shape), and `C_out`. Panics if the weight's rows are not a patch row.
    pub fn of_conv(
        x: (usize, usize, usize, usize),
        window: Window,
        weight: (usize, usize),
    ) -> (Self, usize) {
        let g = Self::new(x, window);
        assert_eq!(weight.0, g.row_len(), "conv weight rows vs. patch length");
        (g, weight.1)
    }

    /// Values in one patch row.
    pub fn row_len(&self) -> usize {
        self.window.kernel * self.window.kernel * self.channels
    }

    /// Number of patch rows (output pixels).
    pub fn num_rows(&self) -> usize {
        self.batch * self.out_rows * self.out_cols
    }

    /// Input pixel `(y, x)` read by output pixel `(oy, ox)` at kernel offset
    /// `(ky, kx)`, or `None` where the window hangs over the padding.
    #[inline]
    fn source(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let w = self.window;
        let y = (oy * w.stride + ky).checked_sub(w.padding)?;
        let x = (ox * w.stride + kx).checked_sub(w.padding)?;
        (y < self.rows && x < self.cols).then_some((y, x))
    }

    /// Calls `f(patch_offset, pixel)` for every in-bounds window position of
    /// image-local output row `r` (pixel = `y * cols + x` within the image).
    #[inline]
    fn for_each_source(&self, r: usize, mut f: impl FnMut(usize, usize)) {
        let (oy, ox) = (r / self.out_cols, r % self.out_cols);
        let k = self.window.kernel;
        for ky in 0..k {
            for kx in 0..k {
                if let Some((y, x)) = self.source(oy, ox, ky, kx) {
                    f((ky * k + kx) * self.channels, y * self.cols + x);
                }
            }
        }
    }

    /// Calls `f(patch_offset, source, len)` for the runs of image-local output
    /// row `r`, in patch order: `len` values at `patch_offset` are either the
    /// contiguous values from pixel `source` on (one kernel row's in-bounds
    /// columns: their pixels sit side by side in an NHWC map) or padding
    /// (`source` is `None`). Every patch value is in exactly one run.
    #[inline]
    fn for_each_run(&self, r: usize, mut f: impl FnMut(usize, Option<usize>, usize)) {
        let (oy, ox) = (r / self.out_cols, r % self.out_cols);
        let Window {
            kernel: k,
            stride,
            padding: p,
        } = self.window;
        let c = self.channels;
        // Kernel columns kx0..kx1 read image columns left + kx - p, inside the image.
        let left = ox * stride;
        let kx0 = p.saturating_sub(left).min(k);
        let kx1 = (self.cols + p).saturating_sub(left).clamp(kx0, k);
        for ky in 0..k {
            let base = ky * k * c;
            match (oy * stride + ky).checked_sub(p).filter(|&y| y < self.rows) {
                None => f(base, None, k * c),
                Some(y) => {
                    if kx0 > 0 {
                        f(base, None, kx0 * c);
                    }
                    if kx1 > kx0 {
                        let x = left + kx0 - p;
                        f(base + kx0 * c, Some(y * self.cols + x), (kx1 - kx0) * c);
                    }
                    if kx1 < k {
                        f(base + kx1 * c, None, (k - kx1) * c);
                    }
                }
            }
        }
    }

    /// The pixel (`y * cols + x` within the image) at the window's top-left
    /// corner for image-local output row `r`, if the whole window lies inside
    /// the image (no padding read).
    #[inline]
    fn inside(&self, r: usize) -> Option<usize> {
        let (oy, ox) = (r / self.out_cols, r % self.out_cols);
        let w = self.window;
        let y = (oy * w.stride).checked_sub(w.padding)?;
        let x = (ox * w.stride).checked_sub(w.padding)?;
        (y + w.kernel <= self.rows && x + w.kernel <= self.cols).then_some(y * self.cols + x)
    }

    /// Gather indices into the flattened map with one padding row appended
    /// (index `batch·rows·cols`), one per `(row, ky, kx)`.
    pub fn gather_indices(&self) -> Vec<usize> {
        let pad = self.batch * self.rows * self.cols;
        let k2 = self.window.kernel * self.window.kernel;
        let per_image = self.out_rows * self.out_cols;
        let mut idx = vec![pad; self.num_rows() * k2];
        for (row, slots) in idx.chunks_exact_mut(k2).enumerate() {
            let (b, r) = (row / per_image, row % per_image);
            let base = b * self.rows * self.cols;
            self.for_each_source(r, |off, pixel| {
                slots[off / self.channels] = base + pixel;
            });
        }
        idx
    }
}

/// Host im2col of an NHWC buffer into `out` (`num_rows × row_len` values,
/// every one written); padding positions get `pad_value`.
pub(crate) fn im2col_host(x: &[f32], g: &Geometry, pad_value: f32, out: &mut [f32]) {
    let per_image = g.out_rows * g.out_cols;
    assert_eq!(out.len(), g.num_rows() * g.row_len());
    if out.is_empty() {
        return;
    }
    out.par_chunks_mut(per_image * g.row_len())
        .enumerate()
        .for_each(|(b, patches)| {
            im2col_rows(x, g, pad_value, b * per_image, patches);
        });
}

/// Patch rows `first..` of `x` (as many as `out` holds), on this thread.
pub(crate) fn im2col_rows(x: &[f32], g: &Geometry, pad_value: f32, first: usize, out: &mut [f32]) {
    let (c, row_len) = (g.channels, g.row_len());
    let image_len = g.rows * g.cols * c;
    let per_image = g.out_rows * g.out_cols;
    for (i, row) in out.chunks_exact_mut(row_len).enumerate() {
        let (b, r) = ((first + i) / per_image, (first + i) % per_image);
        let image = &x[b * image_len..(b + 1) * image_len];
        if let Some(corner) = g.inside(r) {
            // The whole window inside the image: one run per kernel row.
            let run = g.window.kernel * c;
            for (ky, dst) in row.chunks_exact_mut(run).enumerate() {
                let at = (corner + ky * g.cols) * c;
                copy_run(dst, &image[at..at + run]);
            }
            continue;
        }
        g.for_each_run(r, |off, source, len| {
            let dst = &mut row[off..off + len];
            match source {
                Some(pixel) => copy_run(dst, &image[pixel * c..pixel * c + len]),
                None => dst.fill(pad_value),
            }
        });
    }
}

/// `dst.copy_from_slice(src)` for a run of a few pixels' channels (a few to a
/// few hundred values): blocks of 8, 4, 2 or 1 values compile to vector or
/// scalar moves, the last block overlapping the one before, where
/// `copy_from_slice` of an unknown length calls `memmove` (whose call and
/// size dispatch cost as much as the copy at these lengths: with the 7-value
/// runs of a 7×7 stem conv on a one-channel image, `memmove` went from 3.8%
/// to 1.9% of a VGG-20 training step's profile).
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    let len = dst.len();
    assert_eq!(len, src.len(), "run lengths");
    for width in [8, 4, 2, 1] {
        if len >= width {
            let mut at = 0;
            while at + width < len {
                block(&mut dst[at..at + width], &src[at..at + width]);
                at += width;
            }
            // The last block ends at the end of the run (overlapping the one
            // before when `width` does not divide `len`).
            block(&mut dst[len - width..], &src[len - width..]);
            return;
        }
    }
}

/// A copy of a block of a length fixed at compile time (after inlining).
#[inline(always)]
fn block(dst: &mut [f32], src: &[f32]) {
    match dst.len() {
        8 => copy_array::<8>(dst, src),
        4 => copy_array::<4>(dst, src),
        2 => copy_array::<2>(dst, src),
        _ => copy_array::<1>(dst, src),
    }
}

#[inline(always)]
fn copy_array<const N: usize>(dst: &mut [f32], src: &[f32]) {
    let (d, s): (&mut [f32; N], &[f32; N]) = (dst.try_into().unwrap(), src.try_into().unwrap());
    *d = *s;
}

/// Host col2im: adds patch gradients back onto the NHWC input gradient.
/// Each input value receives its patch gradients in patch-row order, as a
/// pixel-by-pixel loop would add them.
pub(crate) fn col2im_add_host(grad_patches: &[f32], g: &Geometry, grad_x: &mut [f32]) {
    let (c, row_len) = (g.channels, g.row_len());
    let image_len = g.rows * g.cols * c;
    let per_image = g.out_rows * g.out_cols;
    if grad_x.is_empty() || grad_patches.is_empty() {
        return;
    }
    grad_x
        .par_chunks_mut(image_len)
        .zip(grad_patches.par_chunks(per_image * row_len))
        .for_each(|(image, patches)| {
            for (r, row) in patches.chunks_exact(row_len).enumerate() {
                g.for_each_run(r, |off, source, len| {
                    if let Some(pixel) = source {
                        let dst = &mut image[pixel * c..pixel * c + len];
                        dst.iter_mut()
                            .zip(&row[off..off + len])
                            .for_each(|(d, s)| *d += s);
                    }
                });
            }
        });
}

/// im2col by dfdx ops (`concat` a padding row, `gather`, `reshape`): the
/// device-independent implementation, differentiable on every device.
pub fn im2col_by_gather<D: ConvDevice, T: Tape<f32, D>>(
    x: Maps<D, T>,
    window: Window,
    pad_value: f32,
) -> Patches<D, T> {
    let g = Geometry::new(*x.shape(), window);
    let dev = x.device().clone();
    let c = x.shape().3;
    let flat = x.reshape_like(&(g.batch * g.rows * g.cols, c));
    let pad: Tensor<(usize, usize), f32, D> = dev.ones_like(&(1, c)) * pad_value;
    let padded = (flat, pad).concat_along(Axis::<0>);
    let idx = cached_indices(&dev, &g);
    padded
        .gather(idx)
        .reshape_like(&(g.num_rows(), g.row_len()))
}

/// The gather indices of `g` on `dev`, built and uploaded once per geometry
/// and thread (a training run repeats the same few geometries every step;
/// rebuilding them would cost a host loop and an upload per conv per step).
/// Assumes one device of each type per thread.
fn cached_indices<D: ConvDevice>(dev: &D, g: &Geometry) -> Tensor<(usize,), usize, D> {
    thread_local! {
        static CACHE: RefCell<PerDevice<GatherIndices>> = RefCell::default();
    }
    let key = (g.batch, g.rows, g.cols, g.channels, g.window);
    CACHE.with(|c| {
        D::pick_mut(&mut c.borrow_mut())
            .entry(key)
            .or_insert_with(|| {
                let idx = g.gather_indices();
                dev.tensor_from_vec(idx.clone(), (idx.len(),))
            })
            .clone()
    })
}

/// Gather indices by geometry (batch, rows, cols, channels, window), on one device.
struct GatherIndices;

impl DeviceFamily for GatherIndices {
    type On<D: TrainDevice> =
        HashMap<(usize, usize, usize, usize, Window), Tensor<(usize,), usize, D>>;
}
