//! The toy net of §3.2: one input, two hidden layers of two ReLU neurons,
//! softmax over two classes — an [`Fnn`] with hand-set weights.

use dfdx::prelude::*;

use super::Fnn;

/// 1 input, two hidden layers of width 2, 2 classes.
pub type ToyNet<D> = Fnn<1, 2, D>;

/// How the hidden layers are initialised by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToyInit {
    /// First layer outputs `[x, 1 - x]`, second is the identity: no bundle
    /// conflicts for x in [0, 1].
    Separable,
    /// The first layer is dead (ReLU of a negative number for every x in
    /// [0, 1], so it gets no gradient) and the second outputs its bias: every
    /// input maps to the same last hidden vector — a fully conflicting bundle.
    FullyConflicting,
}

/// A toy net with the given hand-set hidden layers; the output layer keeps
/// its seeded He-uniform weights.
pub fn toy_net<D: Device<f32>>(dev: &D, init: ToyInit, seed: u64) -> ToyNet<D> {
    let mut net = ToyNet::new(dev, 2, 2, seed).expect("width and depth 2 are valid");
    let (w1, b1, w2, b2) = match init {
        ToyInit::Separable => ([1.0, -1.0], [0.0, 1.0], [1.0, 0.0, 0.0, 1.0], [0.0, 0.0]),
        ToyInit::FullyConflicting => ([-1.0, -1.0], [-1.0, -1.0], [1.0, 0.0, 0.0, 1.0], [0.5, 0.5]),
    };
    net.input.weight.copy_from(&w1);
    net.input.bias.copy_from(&b1);
    net.hidden[0].weight.copy_from(&w2);
    net.hidden[0].bias.copy_from(&b2);
    net
}
