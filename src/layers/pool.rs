//! Pooling on NHWC maps: windowed max pooling and global average pooling.

use dfdx::prelude::*;

use super::device::ConvDevice;
use super::im2col::{Maps, Window};

/// Max over each window; padding never wins (it reads as `-inf`).
///
/// Backward follows dfdx's `max`: every input equal to its window's maximum
/// receives the gradient (exact ties share it; PyTorch picks one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    pub window: Window,
}

impl MaxPool2d {
    pub const fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            window: Window::new(kernel, stride, padding),
        }
    }

    pub fn forward<D: ConvDevice, T: Tape<f32, D>>(&self, x: Maps<D, T>) -> Maps<D, T> {
        let (b, h, w, c) = *x.shape();
        let (oh, ow) = (self.window.out_size(h), self.window.out_size(w));
        let k2 = self.window.kernel * self.window.kernel;
        D::im2col(x, self.window, f32::NEG_INFINITY)
            .reshape_like(&(b * oh * ow, k2, c))
            .max::<(usize, usize), Axis<1>>()
            .reshape_like(&(b, oh, ow, c))
    }
}

/// Mean over all pixels: `(B, H, W, C) -> (B, C)`.
pub fn global_avg_pool<D: Device<f32>, T: Tape<f32, D>>(
    x: Maps<D, T>,
) -> Tensor<(usize, usize), f32, D, T> {
    let (b, h, w, c) = *x.shape();
    x.reshape_like(&(b, h * w, c))
        .mean::<(usize, usize), Axis<1>>()
}
