//! `Fnn<IN, C>`: a fully connected ReLU net. Input size and class count are
//! types (the data fixes them); width W and depth L are run-time values
//! (the paper sweeps W up to 2000 and L up to 150, users any value).

use dfdx::prelude::*;

use super::size::{check_trainable, dense_params};
use super::{max_abs, Batch, Classifier, Flat, HiddenOutputs, Logits, TrainOutputs};
use crate::layers::init::model_rng;
use crate::layers::params::{ParamVisitor, Params};
use crate::layers::Dense;

/// `IN -> W` (ReLU), `L-1` times `W -> W` (ReLU), then linear `W -> C`.
/// Hidden activations `a^1..a^L` are the L ReLU outputs.
#[derive(Clone, Debug)]
pub struct Fnn<const IN: usize, const C: usize, D: Device<f32>> {
    pub input: Dense<Const<IN>, usize, D>,
    pub hidden: Vec<Dense<usize, usize, D>>,
    pub output: Dense<usize, Const<C>, D>,
    /// Per entry of `hidden`: removed, its input passed on unchanged (see
    /// [`Fnn::set_lesion`]); empty when none is.
    skipped: Vec<bool>,
}

/// The MNIST nets of §3.3.
pub type MnistFnn<D> = Fnn<784, 10, D>;

impl<const IN: usize, const C: usize, D: Device<f32>> Fnn<IN, C, D> {
    /// A net of `depth` hidden layers of `width` neurons, He-uniform weights,
    /// zero biases. Fails unless `width >= 1` and `depth >= 1`.
    pub fn new(dev: &D, width: usize, depth: usize, seed: u64) -> anyhow::Result<Self> {
        if width == 0 || depth == 0 {
            anyhow::bail!(
                "an Fnn needs width >= 1 and depth >= 1 (got width {width}, depth {depth})"
            );
        }
        Self::check_size(width, depth)?;
        let mut rng = model_rng(seed);
        Ok(Self {
            input: Dense::new(dev, Const, width, &mut rng),
            hidden: (1..depth)
                .map(|_| Dense::new(dev, width, width, &mut rng))
                .collect(),
            output: Dense::new(dev, width, Const, &mut rng),
            skipped: Vec::new(),
        })
    }

    /// Refuses a net whose training would not fit in memory (or whose size
    /// overflows), before anything is allocated: what [`Fnn::new`] checks,
    /// for a sweep to check all its nets up front.
    pub fn check_size(width: usize, depth: usize) -> anyhow::Result<()> {
        let params = (|| {
            let hidden = dense_params(width, width)?.checked_mul(depth.checked_sub(1)?)?;
            dense_params(IN, width)?
                .checked_add(hidden)?
                .checked_add(dense_params(width, C)?)
        })();
        check_trainable(
            params,
            &format!("an Fnn of width {width} and depth {depth}"),
        )
    }

    /// Logits, pushing each hidden activation into `rows` if given (a copy
    /// with an empty tape of `T`: on a training tape a loss on it
    /// differentiates back through the layers below).
    fn forward_rows<T: Tape<f32, D>>(
        &self,
        x: Batch<Const<IN>, D, T>,
        mut rows: Option<&mut Vec<Flat<D, T>>>,
    ) -> Logits<C, D, T> {
        let mut h = self.input.forward(x).relu();
        for (i, layer) in self.hidden.iter().enumerate() {
            if let Some(r) = rows.as_mut() {
                r.push(h.retaped::<T>());
            }
            if !self.skipped.get(i).copied().unwrap_or(false) {
                h = layer.forward(h).relu();
            }
        }
        if let Some(r) = rows {
            r.push(h.retaped::<T>());
        }
        self.output.forward(h)
    }

    /// Neurons per hidden layer.
    pub fn width(&self) -> usize {
        self.input.outputs()
    }

    /// Hidden layers (1-based, as the rows `a^l`) that [`Fnn::set_lesion`]
    /// can remove: every `W -> W` layer, 2..=L. Layer 1 maps the input to
    /// the width, so nothing of its shape could stand in for it.
    pub fn removable_layers(&self) -> Vec<usize> {
        (2..=1 + self.hidden.len()).collect()
    }

    /// Removes exactly `layers` (1-based hidden layers; every other layer is
    /// restored): a removed layer passes its input on unchanged, so its row
    /// `a^l` equals `a^(l-1)`; as [`ConvNet::set_lesion`](super::convnet::ConvNet::set_lesion)
    /// drops a block with an identity shortcut. Checked before anything
    /// changes: layer 1, 0 or past the last layer is refused.
    pub fn set_lesion(&mut self, layers: &[usize]) -> anyhow::Result<()> {
        let n = 1 + self.hidden.len();
        if let Some(&l) = layers.iter().find(|&&l| l < 2 || l > n) {
            if l == 1 {
                anyhow::bail!("layer 1 maps the {IN} inputs to the width {}: it cannot be removed (layers 2..={n} can)", self.width());
            }
            anyhow::bail!("layer {l} does not exist: the net has hidden layers 1..={n}");
        }
        self.skipped = (2..=n).map(|l| layers.contains(&l)).collect();
        Ok(())
    }
}

impl<const IN: usize, const C: usize, D: Device<f32>> Classifier<Const<IN>, C, D>
    for Fnn<IN, C, D>
{
    fn input_dim(&self) -> Const<IN> {
        Const
    }

    fn forward<T: Tape<f32, D>>(&self, x: Batch<Const<IN>, D, T>) -> Logits<C, D, T> {
        self.forward_rows(x, None)
    }

    fn forward_hidden(&self, x: Batch<Const<IN>, D>) -> HiddenOutputs<C, D> {
        let mut hidden = Vec::with_capacity(self.num_hidden());
        let logits = self.forward_rows(x, Some(&mut hidden));
        HiddenOutputs { hidden, logits }
    }

    fn forward_train_hidden(
        &self,
        x: Batch<Const<IN>, D, OwnedTape<f32, D>>,
    ) -> TrainOutputs<C, D> {
        let mut hidden = Vec::with_capacity(self.num_hidden());
        let logits = self.forward_rows(x, Some(&mut hidden));
        TrainOutputs { logits, hidden }
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

impl<const IN: usize, const C: usize, D: Device<f32>> Params<f32, D> for Fnn<IN, C, D> {
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.input.visit_params(&format!("{prefix}input"), v);
        for (i, l) in self.hidden.iter_mut().enumerate() {
            l.visit_params(&format!("{prefix}hidden.{i}"), v);
        }
        self.output.visit_params(&format!("{prefix}output"), v);
    }
}
