//! The layerwise batch-entropy regulariser (Peer, Keulen, Stabinger, Piater,
//! Rodríguez-Sánchez, TMLR 2022, arXiv 2208.01134; `LBELoss` in their code):
//!
//! `L = CE + β · CE · (1/L) Σ_l (H_l - max(α_min, |α_l|))²`
//!
//! with `H_l` the batch entropy of hidden layer `l` on the training batch
//! ([`crate::criteria::batch_entropy_tensor`]) and `α_l` a target per layer,
//! learned with the weights (initialised to `alpha_init`, floored at
//! `alpha_min`). The product with the cross-entropy is theirs: the term
//! fades as the classifier fits, and its gradient flows through both
//! factors.
//!
//! Where we differ: the term covers every hidden layer the model reports
//! (theirs: the FNN's middle layers, not the first and the embedding), and
//! the targets are updated by the trainer's optimizer (Ranger) as the
//! weights are (theirs: Adam).

use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::criteria::batch_entropy_tensor;
use crate::layers::params::{ParamVisitor, Params};
use crate::models::Flat;

/// The regulariser's knobs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LbeConfig {
    /// Weight β of the term.
    pub beta: f64,
    /// Initial target batch entropy of every layer.
    pub alpha_init: f64,
    /// The lowest target (`max(α_min, |α_l|)`).
    pub alpha_min: f64,
}

impl LbeConfig {
    /// Their 500-layer vanilla FNN (`experiment_deep_vanilla_fnn/sweep.yaml`):
    /// β 0.1, α 2.0, α_min 0.2.
    pub fn deep_fnn() -> Self {
        Self {
            beta: 0.1,
            alpha_init: 2.0,
            alpha_min: 0.2,
        }
    }

    /// Their deep vanilla CNN (`experiment_deep_vanilla_cnn/run.sh`): β 0.1
    /// and the target fixed at 2.0 (α_min = α).
    pub fn deep_cnn() -> Self {
        Self {
            beta: 0.1,
            alpha_init: 2.0,
            alpha_min: 2.0,
        }
    }

    /// Errors for values the term cannot use, named as `key`'s fields.
    pub fn check(&self, key: &str) -> anyhow::Result<()> {
        for (field, v) in [
            ("beta", self.beta),
            ("alpha_init", self.alpha_init),
            ("alpha_min", self.alpha_min),
        ] {
            anyhow::ensure!(
                v.is_finite() && v >= 0.0,
                "{key}.{field} must be a number >= 0, not {v}"
            );
        }
        Ok(())
    }
}

/// The learned targets `α_l`, one per hidden layer (checkpoint name
/// `lbe.alpha`), with the term's settings they are used under.
#[derive(Clone, Debug)]
pub struct LbeTargets<D: Device<f32>> {
    pub alpha: Tensor<(usize,), f32, D>,
    pub cfg: LbeConfig,
}

impl<D: Device<f32>> LbeTargets<D> {
    pub fn new(dev: &D, layers: usize, cfg: &LbeConfig) -> Self {
        Self {
            alpha: dev.tensor_from_vec(vec![cfg.alpha_init as f32; layers], (layers,)),
            cfg: *cfg,
        }
    }

    /// The targets in effect, `max(α_min, |α_l|)`.
    pub fn effective(&self) -> Vec<f32> {
        let floor = self.cfg.alpha_min as f32;
        self.alpha
            .as_vec()
            .iter()
            .map(|a| a.abs().max(floor))
            .collect()
    }
}

impl<D: Device<f32>> Params<f32, D> for LbeTargets<D> {
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        v.visit(&format!("{prefix}lbe.alpha"), &mut self.alpha);
    }
}

/// The cross-entropy `ce` with the term added, and the term's mean squared
/// deviation `(1/L) Σ_l (H_l - target_l)²` (before the β · CE factor) for
/// the logs. `rows` are the batch's hidden activations on `ce`'s tape (or
/// none), one per target; the batch needs at least 2 samples.
///
/// Order (f32 on the device): each layer's batch entropy, the targets'
/// `|α|` floored at `α_min`, the squared differences' mean, then
/// `ce + (mean · ce) · β`.
pub fn regularised<D: Device<f32>, T: Tape<f32, D> + Merge<T>>(
    ce: Tensor<Rank0, f32, D, T>,
    rows: Vec<Flat<D, T>>,
    targets: &LbeTargets<D>,
) -> (Tensor<Rank0, f32, D, T>, f32) {
    let cfg = &targets.cfg;
    let h: Tensor<(usize,), f32, D, T> = rows
        .into_iter()
        .map(batch_entropy_tensor)
        .collect::<Vec<_>>()
        .stack();
    let target = targets
        .alpha
        .retaped::<T>()
        .abs()
        .clamp(cfg.alpha_min as f32, f32::MAX);
    let deviation = (h - target).square().mean::<Rank0, _>();
    let value = deviation.retaped::<NoneTape>().as_vec()[0];
    let term = deviation * ce.retaped::<T>() * cfg.beta as f32;
    (ce + term, value)
}

/// A model and, when the regulariser is on, its targets, walked as one set
/// of parameters (the optimizer, gradients and checkpoints see both; with
/// the regulariser off, exactly the model's).
pub struct WithTargets<'a, M, D: Device<f32>>(pub &'a mut M, pub Option<&'a mut LbeTargets<D>>);

impl<M: Params<f32, D>, D: Device<f32>> Params<f32, D> for WithTargets<'_, M, D> {
    fn visit_params<V: ParamVisitor<f32, D>>(&mut self, prefix: &str, v: &mut V) {
        self.0.visit_params(prefix, v);
        if let Some(t) = self.1.as_deref_mut() {
            t.visit_params(prefix, v);
        }
    }
}
