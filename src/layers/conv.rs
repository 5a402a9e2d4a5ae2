//! `Conv2d`: a bias-free 2-D convolution (batch norm follows every conv in
//! the paper's nets), as im2col + one matmul. Channel counts are run-time
//! values, so any width divisor (or an explicit list) builds without a new
//! instantiation.

use dfdx::prelude::*;
use rand::Rng;

use super::device::ConvDevice;
use super::im2col::{Maps, Window};
use crate::layers::init::he_uniform;
use crate::layers::params::{ParamVisitor, Params};

/// `inputs` channels to `outputs` channels over a square `window`.
/// The weight is stored in im2col layout: `(kernel · kernel · inputs, outputs)`
/// with rows ordered `(ky, kx, c_in)` (PyTorch's `(O, I, ky, kx)` transposed
/// and permuted).
#[derive(Clone, Debug)]
pub struct Conv2d<D: Device<f32>> {
    pub weight: Tensor<(usize, usize), f32, D>,
    pub window: Window,
    pub inputs: usize,
}

impl<D: ConvDevice> Conv2d<D> {
    /// He-uniform weights (fan-in `kernel² · inputs`), as the paper initialises ReLU nets.
    pub fn new(dev: &D, inputs: usize, outputs: usize, window: Window, rng: &mut impl Rng) -> Self {
        let fan_in = window.kernel * window.kernel * inputs;
        Self {
            weight: he_uniform(dev, (fan_in, outputs), fan_in, rng),
            window,
            inputs,
        }
    }

    /// Builds the layer around a given weight (rows `(ky, kx, c_in)`).
    pub fn from_weight(
        weight: Tensor<(usize, usize), f32, D>,
        inputs: usize,
        window: Window,
    ) -> anyhow::Result<Self> {
        let rows = weight.shape().0;
        if rows != window.kernel * window.kernel * inputs {
            anyhow::bail!(
                "a {k}x{k} conv over {inputs} channels needs {} weight rows, not {rows}",
                window.kernel * window.kernel * inputs,
                k = window.kernel
            );
        }
        Ok(Self {
            weight,
            window,
            inputs,
        })
    }

    pub fn outputs(&self) -> usize {
        self.weight.shape().1
    }

    pub fn forward<T: Tape<f32, D>>(&self, x: Maps<D, T>) -> Maps<D, T> {
        let c = x.shape().3;
        assert_eq!(
            c, self.inputs,
            "a conv over {} channels got {c}",
            self.inputs
        );
        D::conv2d(x, &self.weight, self.window)
    }
}

impl<D: Device<f32>> Params<f32, D> for Conv2d<D> {
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        v.visit(&format!("{prefix}.weight"), &mut self.weight);
    }
}
