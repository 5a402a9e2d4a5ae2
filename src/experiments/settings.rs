//! The settings every sweep shares: which data, how long, which seed, the
//! optimiser's batch and step size, how many samples the metric sees.
//!
//! Each sweep's configuration embeds one [`RunSettings`] with
//! `#[serde(flatten)]`: its JSON (recorded runs, shard files, `--config`
//! files, `--set` keys) has these fields at the top level beside the
//! sweep's own, so a key names a setting the same way in every sweep.

use serde::{Deserialize, Serialize};

use crate::data::DatasetKind;
use crate::train::{RangerConfig, TrainConfig};

/// What every sweep's nets are trained and measured with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub dataset: DatasetKind,
    /// Epochs per net (auto-tune: of the final net and the baseline).
    pub epochs: usize,
    /// Initialisation and data order of every net (auto-tune: its first
    /// run). Absent reads as 0, every preset's seed.
    #[serde(default)]
    pub seed: u64,
    /// Use only the first this many training / test samples (`None`: all).
    pub train_samples: Option<usize>,
    pub test_samples: Option<usize>,
    /// Cut epochs short (`None`: full epochs).
    pub max_steps_per_epoch: Option<usize>,
    /// Size of the fixed random training subset the metric is measured on.
    pub bundle_samples: usize,
    /// Samples per training step; the metric's resolution depends on it
    /// (eq. (1): `w_max - lr * a / bs`). A report without the field was
    /// trained with the paper's 64.
    #[serde(default = "paper_batch_size")]
    pub batch_size: usize,
    /// Ranger's step size; in eq. (1) too. A report without the field was
    /// trained with the paper's 1e-3.
    #[serde(default = "paper_learning_rate")]
    pub learning_rate: f64,
    /// Ranger's decoupled weight decay (`p <- p - lr * (u + wd * p)`). A
    /// report without the field was trained with the authors' 1e-2.
    #[serde(default = "paper_weight_decay")]
    pub weight_decay: f64,
}

fn paper_batch_size() -> usize {
    TrainConfig::default().batch_size
}

fn paper_learning_rate() -> f64 {
    RangerConfig::default().lr
}

fn paper_weight_decay() -> f64 {
    RangerConfig::default().weight_decay
}

impl RunSettings {
    /// The paper's recipe (batch 64, learning rate 1e-3, the authors' weight
    /// decay 1e-2) on `dataset`, full
    /// data, full epochs, 2048 samples for the metric, seed 0.
    pub fn paper(dataset: DatasetKind, epochs: usize) -> Self {
        Self {
            dataset,
            epochs,
            seed: 0,
            train_samples: None,
            test_samples: None,
            max_steps_per_epoch: None,
            bundle_samples: 2048,
            batch_size: paper_batch_size(),
            learning_rate: paper_learning_rate(),
            weight_decay: paper_weight_decay(),
        }
    }

    /// The trainer's configuration these settings describe (the trainer's
    /// defaults for everything else).
    pub fn train_config(&self) -> TrainConfig {
        let defaults = TrainConfig::default();
        TrainConfig {
            epochs: self.epochs,
            seed: self.seed,
            batch_size: self.batch_size,
            optimizer: RangerConfig {
                lr: self.learning_rate,
                weight_decay: self.weight_decay,
                ..defaults.optimizer
            },
            bundle_samples: self.bundle_samples,
            max_steps_per_epoch: self.max_steps_per_epoch,
            ..defaults
        }
    }

    /// Errors for settings no sweep can run with, named as their keys.
    pub fn check(&self) -> anyhow::Result<()> {
        let positive = [
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("bundle_samples", self.bundle_samples),
        ];
        for (key, value) in positive {
            anyhow::ensure!(value >= 1, "{key} must be at least 1, not {value}");
        }
        for (key, value) in [
            ("train_samples", self.train_samples),
            ("test_samples", self.test_samples),
            ("max_steps_per_epoch", self.max_steps_per_epoch),
        ] {
            anyhow::ensure!(
                value != Some(0),
                "{key} must be at least 1 (or null for all)"
            );
        }
        anyhow::ensure!(
            self.learning_rate.is_finite() && self.learning_rate > 0.0,
            "learning_rate must be a positive number, not {}",
            self.learning_rate
        );
        anyhow::ensure!(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "weight_decay must be a number >= 0, not {}",
            self.weight_decay
        );
        Ok(())
    }
}
