//! `Conv2d<I, O>`: a bias-free 2-D convolution (batch norm follows every conv
//! in the paper's nets), as im2col + one matmul.

use std::marker::PhantomData;

use dfdx::prelude::*;
use rand::Rng;

use super::im2col::{ConvDevice, Maps, Window};
use crate::models::init::he_uniform;
use crate::train::params::{ParamVisitor, Params};

/// `I` input channels to `O` output channels over a square `window`.
/// The weight is stored in im2col layout: `(kernel · kernel · I, O)` with rows
/// ordered `(ky, kx, c_in)` (PyTorch's `(O, I, ky, kx)` transposed and permuted).
#[derive(Clone, Debug)]
pub struct Conv2d<I: ConstDim, O: ConstDim, D: Device<f32>> {
    pub weight: Tensor<(usize, O), f32, D>,
    pub window: Window,
    _in: PhantomData<I>,
}

impl<I: ConstDim, O: ConstDim, D: ConvDevice> Conv2d<I, O, D> {
    /// He-uniform weights (fan-in `kernel² · I`), as the paper initialises ReLU nets.
    pub fn new(dev: &D, window: Window, rng: &mut impl Rng) -> Self {
        let fan_in = window.kernel * window.kernel * I::SIZE;
        Self {
            weight: he_uniform(dev, (fan_in, O::default()), fan_in, rng),
            window,
            _in: PhantomData,
        }
    }

    /// Builds the layer around a given weight (rows `(ky, kx, c_in)`).
    pub fn from_weight(weight: Tensor<(usize, O), f32, D>, window: Window) -> Self {
        assert_eq!(
            weight.shape().0,
            window.kernel * window.kernel * I::SIZE,
            "conv weight rows must be kernel² × input channels"
        );
        Self {
            weight,
            window,
            _in: PhantomData,
        }
    }

    pub fn forward<T: Tape<f32, D>>(&self, x: Maps<I, D, T>) -> Maps<O, D, T> {
        let (b, h, w, _) = *x.shape();
        let (oh, ow) = (self.window.out_size(h), self.window.out_size(w));
        D::im2col(x, self.window, 0.0)
            .matmul(self.weight.retaped::<T>())
            .reshape_like(&(b, oh, ow, O::default()))
    }
}

impl<I: ConstDim, O: ConstDim, D: Device<f32>> Params<f32, D> for Conv2d<I, O, D> {
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        v.visit(&format!("{prefix}.weight"), &mut self.weight);
    }
}
