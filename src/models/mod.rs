//! Models that expose every hidden activation to the bundle metric.
//!
//! All models are generic over the dfdx device. Shapes are types where the
//! data fixes them (an MNIST row has 784 values, there are 10 classes) and
//! run-time values where users sweep them (width, depth, channels); hidden
//! activations come back flattened to `(N, D_l)` so layers of different
//! shapes can be measured in one call.

pub mod convnet;
pub mod fnn;
pub mod size;
pub mod toy;

use dfdx::prelude::*;

use crate::layers::params::Params;

pub use fnn::{Fnn, MnistFnn};

/// A batch of rows of `I` features (`Const<784>` where the type fixes the
/// size, `usize` where the model checks it at run time).
pub type Batch<I, D, T = NoneTape> = Tensor<(usize, I), f32, D, T>;
/// Logits over `C` classes.
pub type Logits<const C: usize, D, T = NoneTape> = Tensor<(usize, Const<C>), f32, D, T>;
/// A layer's activations flattened to `(N, D_l)` (on tape `T` when a
/// training loss reads them).
pub type Flat<D, T = NoneTape> = Tensor<(usize, usize), f32, D, T>;

/// Hidden activations `a^1..a^L` and the logits of one forward pass.
pub struct HiddenOutputs<const C: usize, D: Device<f32>> {
    pub hidden: Vec<Flat<D>>,
    pub logits: Logits<C, D>,
}

/// What [`Classifier::forward_train_hidden`] returns: the logits and the
/// hidden activations `a^1..a^L`, all on one tape.
pub struct TrainOutputs<const C: usize, D: Device<f32>> {
    pub logits: Logits<C, D, OwnedTape<f32, D>>,
    pub hidden: Vec<Flat<D, OwnedTape<f32, D>>>,
}

/// A classifier from rows of `I` features to `C` classes that can report its
/// hidden activations (the output layer is never among them).
pub trait Classifier<I: Dim, const C: usize, D: Device<f32>>: Params<f32, D> {
    /// Features per input row, as the dim batches are built with.
    fn input_dim(&self) -> I;
    /// Logits, recording on tape `T` when training.
    fn forward<T: Tape<f32, D>>(&self, x: Batch<I, D, T>) -> Logits<C, D, T>;
    /// Logits of a training step: like `forward`, except that layers with a
    /// training mode (batch norm) use it and update their running state.
    fn forward_train(&self, x: Batch<I, D, OwnedTape<f32, D>>) -> Logits<C, D, OwnedTape<f32, D>> {
        self.forward(x)
    }
    /// Logits plus every hidden activation, without a tape.
    fn forward_hidden(&self, x: Batch<I, D>) -> HiddenOutputs<C, D>;
    /// A training step's logits (as [`Classifier::forward_train`]) plus
    /// every hidden activation on the same tape, so that a loss term on the
    /// activations (the batch-entropy regulariser) reaches the weights.
    fn forward_train_hidden(&self, x: Batch<I, D, OwnedTape<f32, D>>) -> TrainOutputs<C, D>;
    /// Number of hidden layers L.
    fn num_hidden(&self) -> usize;
    /// Largest absolute weight of the hidden layers (resolution mode's `w_max`).
    fn w_max(&self) -> f32;
    /// Resolution mode's `w_max` for each hidden layer; by default
    /// [`Classifier::w_max`] for all of them.
    fn layer_w_max(&self) -> Vec<f32> {
        vec![self.w_max(); self.num_hidden()]
    }
}

/// Mean absolute entry of a tensor, reduced on its device.
pub(crate) fn mean_abs<S: Shape, D: Device<f32>>(t: &Tensor<S, f32, D>) -> f32 {
    t.clone().abs().mean::<Rank0, _>().as_vec()[0]
}

/// Largest absolute entry of a tensor, reduced on its device.
pub(crate) fn max_abs<S: Shape, D: Device<f32>>(t: &Tensor<S, f32, D>) -> f32 {
    t.clone().abs().max::<Rank0, _>().as_vec()[0]
}
