//! A walk over a model's trainable tensors that works for runtime-depth models.
//!
//! dfdx 0.13's `TensorCollection` needs the number of fields at compile time
//! (its `iter_tensors` never sees `self`), so a `Vec` of layers whose length is
//! chosen at run time (the paper sweeps depth up to 150) cannot implement it.
//! Our models implement [`Params`] instead: the optimizer, checkpoints,
//! gradient allocation and norms all walk parameters through it, in a fixed
//! order with stable names.

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

impl<const I: usize, const O: usize, E: Dtype, D: Device<E>> Params<E, D>
    for dfdx::nn::modules::Linear<I, O, E, D>
{
    fn visit_params<V: ParamVisitor<E, D>>(&mut self, prefix: &str, v: &mut V) {
        v.visit(&format!("{prefix}.weight"), &mut self.weight);
        v.visit(&format!("{prefix}.bias"), &mut self.bias);
    }
}

/// Lets a single tensor be optimized directly (handy in tests).
impl<S: Shape, E: Dtype, D: Device<E>> Params<E, D> for Tensor<S, E, D> {
    fn visit_params<V: ParamVisitor<E, D>>(&mut self, prefix: &str, v: &mut V) {
        v.visit(prefix, self)
    }
}

/// Gradients with a (zero) entry for every trainable tensor of `model`, to
/// trace a training step with (`x.trace(alloc_grads(&mut model))`), as dfdx's
/// `model.alloc_grads()` does for its own modules: after `backward`, every
/// parameter has an entry, so the optimizer can read each one without a
/// fallible lookup (a parameter the loss does not reach keeps zeros).
pub fn alloc_grads<E: Dtype, D: Device<E>, M: Params<E, D>>(
    model: &mut M,
) -> Result<Gradients<E, D>, D::Err> {
    struct Alloc<E: Dtype, D: Device<E>>(Gradients<E, D>, Result<(), D::Err>);
    impl<E: Dtype, D: Device<E>> ParamVisitor<E, D> for Alloc<E, D> {
        fn visit<S: Shape>(&mut self, _: &str, t: &mut Tensor<S, E, D>) {
            if self.1.is_ok() {
                self.1 = self.0.try_alloc_for(t);
            }
        }
    }
    let mut a = Alloc(Gradients::leaky(), Ok(()));
    model.visit_params("", &mut a);
    a.1.map(|()| a.0)
}
