//! `Dense<I, O>`: a fully connected layer whose sizes may be compile-time
//! (`Const<784>`) or run-time (`usize`) dims, so a width the user picks in a
//! notebook cell needs no new instantiation. dfdx 0.13's `Linear` takes only
//! const sizes; this one computes the same thing in the same op order
//! (`x · Wᵀ + b`, weight stored `(O, I)` like `Linear`), so results and
//! checkpoints match it.

use dfdx::prelude::*;
use rand::Rng;

use super::init::he_uniform;
use super::params::{ParamVisitor, Params};

#[derive(Clone, Debug)]
pub struct Dense<I: Dim, O: Dim, D: Device<f32>> {
    /// `(outputs, inputs)`, as dfdx's `Linear`.
    pub weight: Tensor<(O, I), f32, D>,
    pub bias: Tensor<(O,), f32, D>,
}

impl<I: Dim, O: Dim, D: Device<f32>> Dense<I, O, D> {
    /// He-uniform weights (fan-in = `inputs`, drawn row-major), zero biases.
    pub fn new(dev: &D, inputs: I, outputs: O, rng: &mut impl Rng) -> Self {
        Self {
            weight: he_uniform(dev, (outputs, inputs), inputs.size(), rng),
            bias: dev.zeros_like(&(outputs,)),
        }
    }

    pub fn inputs(&self) -> usize {
        self.weight.shape().1.size()
    }

    pub fn outputs(&self) -> usize {
        self.weight.shape().0.size()
    }

    /// `x · Wᵀ + b` for a batch of rows.
    pub fn forward<B: Dim, T: Tape<f32, D>>(
        &self,
        x: Tensor<(B, I), f32, D, T>,
    ) -> Tensor<(B, O), f32, D, T> {
        let o = x.matmul(self.weight.retaped::<T>().permute::<(I, O), Axes2<1, 0>>());
        let shape = *o.shape();
        o + self
            .bias
            .retaped::<T>()
            .broadcast_like::<_, Axis<0>>(&shape)
    }
}

impl<I: Dim, O: Dim, D: Device<f32>> Params<f32, D> for Dense<I, O, D> {
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        v.visit(&format!("{prefix}.weight"), &mut self.weight);
        v.visit(&format!("{prefix}.bias"), &mut self.bias);
    }
}
