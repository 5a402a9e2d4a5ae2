//! A walk over a model's trainable tensors that works for runtime-depth models.
//!
//! dfdx 0.13's `TensorCollection` needs the number of fields at compile time
//! (its `iter_tensors` never sees `self`), so a `Vec` of layers whose length is
//! chosen at run time (the paper sweeps depth up to 150) cannot implement it.
//! Our models implement [`Params`] instead: the optimizer, checkpoints and
//! `w_max` all walk parameters through it, in a fixed order with stable names.

use dfdx::prelude::*;

/// Receives each trainable tensor of a model, in a fixed order.
pub trait ParamVisitor<E: Dtype, D: Device<E>> {
    fn visit<S: Shape>(&mut self, name: &str, tensor: &mut Tensor<S, E, D>);

    /// Receives a non-trainable state tensor (batch norm's running statistics):
    /// checkpoints save it, optimizers and gradient norms skip it.
    fn visit_buffer<S: Shape>(&mut self, _name: &str, _tensor: &mut Tensor<S, E, D>) {}
}

/// Models whose trainable tensors can be walked (mutably) by name.
pub trait Params<E: Dtype, D: Device<E>> {
    /// Visits every trainable tensor; `prefix` is prepended to each name.
    fn visit_params<V: ParamVisitor<E, D>>(&mut self, prefix: &str, v: &mut V);
}

/// Visits a dfdx `Linear` layer's weight and bias under `prefix.weight` / `prefix.bias`.
pub fn visit_linear<
    const I: usize,
    const O: usize,
    E: Dtype,
    D: Device<E>,
    V: ParamVisitor<E, D>,
>(
    layer: &mut dfdx::nn::modules::Linear<I, O, E, D>,
    prefix: &str,
    v: &mut V,
) {
    v.visit(&format!("{prefix}.weight"), &mut layer.weight);
    v.visit(&format!("{prefix}.bias"), &mut layer.bias);
}

impl<const I: usize, const O: usize, E: Dtype, D: Device<E>> Params<E, D>
    for dfdx::nn::modules::Linear<I, O, E, D>
{
    fn visit_params<V: ParamVisitor<E, D>>(&mut self, prefix: &str, v: &mut V) {
        visit_linear(self, prefix, v)
    }
}

/// Lets a single tensor be optimized directly (handy in tests).
impl<S: Shape, E: Dtype, D: Device<E>> Params<E, D> for Tensor<S, E, D> {
    fn visit_params<V: ParamVisitor<E, D>>(&mut self, prefix: &str, v: &mut V) {
        v.visit(prefix, self)
    }
}
