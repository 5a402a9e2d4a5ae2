//! `Fnn<IN, W, C>`: a fully connected ReLU net with const-generic input,
//! width and classes and a runtime depth L (the paper sweeps up to 150).

use dfdx::nn::modules::Linear;
use dfdx::prelude::*;

use super::init::{he_uniform_linear, model_rng};
use super::{flatten, max_abs, Batch, Classifier, HiddenOutputs};
use crate::train::params::{ParamVisitor, Params};

/// `IN -> W` (ReLU), `L-1` times `W -> W` (ReLU), then linear `W -> C`.
/// Hidden activations `a^1..a^L` are the L ReLU outputs.
#[derive(Clone, Debug)]
pub struct Fnn<const IN: usize, const W: usize, const C: usize, D: Device<f32>> {
    pub input: Linear<IN, W, f32, D>,
    pub hidden: Vec<Linear<W, W, f32, D>>,
    pub output: Linear<W, C, f32, D>,
}

/// The MNIST nets of §3.3.
pub type MnistFnn<const W: usize, D> = Fnn<784, W, 10, D>;

impl<const IN: usize, const W: usize, const C: usize, D: Device<f32>> Fnn<IN, W, C, D> {
    /// A net with `depth >= 1` hidden layers, He-uniform weights, zero biases.
    pub fn new(dev: &D, depth: usize, seed: u64) -> Self {
        assert!(depth >= 1, "an Fnn needs at least one hidden layer");
        let mut rng = model_rng(seed);
        Self {
            input: he_uniform_linear(dev, &mut rng),
            hidden: (1..depth)
                .map(|_| he_uniform_linear(dev, &mut rng))
                .collect(),
            output: he_uniform_linear(dev, &mut rng),
        }
    }
}

impl<const IN: usize, const W: usize, const C: usize, D: Device<f32>> Classifier<IN, C, D>
    for Fnn<IN, W, C, D>
{
    fn forward<T: Tape<f32, D>>(&self, x: Batch<IN, D, T>) -> Batch<C, D, T> {
        let mut h = self.input.forward(x).relu();
        for layer in &self.hidden {
            h = layer.forward(h).relu();
        }
        self.output.forward(h)
    }

    fn forward_hidden(&self, x: Batch<IN, D>) -> HiddenOutputs<C, D> {
        let mut hidden = Vec::with_capacity(self.num_hidden());
        let mut h = self.input.forward(x).relu();
        for layer in &self.hidden {
            let next = layer.forward(h.clone()).relu();
            hidden.push(flatten(h));
            h = next;
        }
        let logits = self.output.forward(h.clone());
        hidden.push(flatten(h));
        HiddenOutputs { hidden, logits }
    }

    fn num_hidden(&self) -> usize {
        1 + self.hidden.len()
    }

    fn w_max(&self) -> f32 {
        self.hidden
            .iter()
            .map(|l| max_abs(&l.weight))
            .fold(max_abs(&self.input.weight), f32::max)
    }
}

impl<const IN: usize, const W: usize, const C: usize, D: Device<f32>> Params<f32, D>
    for Fnn<IN, W, C, D>
{
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.input.visit_params(&format!("{prefix}input"), v);
        for (i, l) in self.hidden.iter_mut().enumerate() {
            l.visit_params(&format!("{prefix}hidden.{i}"), v);
        }
        self.output.visit_params(&format!("{prefix}output"), v);
    }
}
