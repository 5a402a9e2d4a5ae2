//! Models that expose every hidden activation to the bundle metric.
//!
//! All models are generic over the dfdx device. Batches are typed
//! `(batch, features)` tensors; hidden activations come back flattened to
//! `(N, D_l)` so layers of different shapes can be measured in one call.

pub mod convnet;
pub mod fnn;
pub mod init;
pub mod toy;

use dfdx::prelude::*;

use crate::train::params::Params;

pub use fnn::Fnn;

/// A batch of `F`-feature rows.
pub type Batch<const F: usize, D, T = NoneTape> = Tensor<(usize, Const<F>), f32, D, T>;
/// A layer's activations flattened to `(N, D_l)`.
pub type Flat<D> = Tensor<(usize, usize), f32, D>;

/// Hidden activations `a^1..a^L` and the logits of one forward pass.
pub struct HiddenOutputs<const C: usize, D: Device<f32>> {
    pub hidden: Vec<Flat<D>>,
    pub logits: Batch<C, D>,
}

/// A classifier from `IN` features to `C` classes that can report its hidden
/// activations (the output layer is never among them).
pub trait Classifier<const IN: usize, const C: usize, D: Device<f32>>: Params<f32, D> {
    /// Logits, recording on tape `T` when training.
    fn forward<T: Tape<f32, D>>(&self, x: Batch<IN, D, T>) -> Batch<C, D, T>;
    /// Logits of a training step: like `forward`, except that layers with a
    /// training mode (batch norm) use it and update their running state.
    fn forward_train(&self, x: Batch<IN, D, OwnedTape<f32, D>>) -> Batch<C, D, OwnedTape<f32, D>> {
        self.forward(x)
    }
    /// Logits plus every hidden activation, without a tape.
    fn forward_hidden(&self, x: Batch<IN, D>) -> HiddenOutputs<C, D>;
    /// Number of hidden layers L.
    fn num_hidden(&self) -> usize;
    /// Largest absolute weight of the hidden layers (resolution mode's `w_max`).
    fn w_max(&self) -> f32;
}

/// Flattens a `(N, F)` activation to `(N, F)` with a runtime feature size.
pub(crate) fn flatten<const F: usize, D: Device<f32>>(t: Batch<F, D>) -> Flat<D> {
    let n = t.shape().0;
    t.reshape_like(&(n, F))
}

/// Largest absolute entry of a tensor, reduced on its device.
pub(crate) fn max_abs<S: Shape, D: Device<f32>>(t: &Tensor<S, f32, D>) -> f32 {
    t.clone().abs().max::<Rank0, _>().as_vec()[0]
}
