//! The conflicting-bundle metric (paper §2.3, eqs. 1–3).
//!
//! For one layer: activations `a_i` (N samples, each flattened to D values)
//! and labels `y_i` in `0..C`. Samples are grouped into *bundles*; the layer's
//! *bundle entropy* is `H = (1/N) Σ_D |D| · H(D)` with
//! `H(D) = max(0, -Σ_n p(n) ln(p(n) + 1e-5))` (eq. 2, 3).
//!
//! Two bundling criteria:
//! - [`Criterion::Resolution`] (default, what the paper's experiments ran):
//!   `v_i = w_max - (lr * a_i) / batch_size`, each step in f32 in that order
//!   (or in f16 or bf16, each input and step rounded to it: [`Precision`]);
//!   samples are bundled when `v_i == v_j` component-wise (`+0.0 == -0.0`).
//!   Equality is an equivalence, so bundling hashes bit patterns: O(N·D).
//! - [`Criterion::Threshold`] (eq. 1): bundled when
//!   `(lr / batch_size) * max_k |a_ik - a_jk| <= gamma`, formed greedily in
//!   sample order against each bundle's first sample (not transitive): O(N·k·D).
//!
//! A sample with a non-finite activation (NaN, ±Inf) is a bundle of its own
//! and is counted in [`LayerReport::non_finite`].

mod device;
mod entropy;
mod precision;
mod resolution;
mod tensors;
mod threshold;

pub use device::resolution_bundles_on_device;
pub use entropy::{bundle_entropy, Assignment};
pub use precision::Precision;
pub use resolution::resolution_bundles;
pub use tensors::{measure_tensors, measure_tensors_on_device, measure_tensors_per_layer};
pub use threshold::threshold_bundles;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which bundling criterion to use.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Float-resolution equality after the weight-update mapping; `w_max` is
    /// the largest absolute weight of the model's hidden layers, `precision`
    /// the format the mapping is computed and compared in (f32 when a stored
    /// config has no such field).
    Resolution {
        w_max: f32,
        #[serde(default)]
        precision: Precision,
    },
    /// Eq. (1) of the paper with an explicit resolution `gamma`.
    Threshold { gamma: f32 },
}

/// Everything the metric needs besides activations and labels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleConfig {
    /// Learning rate α of the training the layer is part of.
    pub lr: f32,
    /// Training mini-batch size |B| (not the number of measured samples).
    pub batch_size: usize,
    /// Number of classes C; labels must lie in `0..C`.
    pub num_classes: usize,
    pub criterion: Criterion,
}

impl BundleConfig {
    /// Resolution mode with the paper's training defaults (lr 1e-3, batch 64).
    pub fn resolution(num_classes: usize, w_max: f32) -> Self {
        Self {
            lr: 1e-3,
            batch_size: 64,
            num_classes,
            criterion: Criterion::resolution(w_max),
        }
    }
}

impl Criterion {
    /// Resolution mode in f32, the paper's setting.
    pub fn resolution(w_max: f32) -> Self {
        Criterion::Resolution {
            w_max,
            precision: Precision::F32,
        }
    }
}

/// The metric for one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    pub num_samples: usize,
    pub num_bundles: usize,
    /// `H^l` of eq. (3), computed in f64.
    pub bundle_entropy: f64,
    /// Samples with a NaN or ±Inf activation (each its own bundle).
    pub non_finite: usize,
    /// Bundle sizes, largest first.
    pub bundle_sizes: Vec<usize>,
}

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BundleError {
    #[error("no samples: the metric needs at least one sample (N = 0)")]
    NoSamples,
    #[error("number of classes is 0: pass at least 1 class")]
    NoClasses,
    #[error("label {label} of sample {index} is outside 0..{classes}")]
    LabelOutOfRange {
        index: usize,
        label: usize,
        classes: usize,
    },
    #[error("activations hold {values} values, not a multiple of the {samples} samples given by the labels")]
    ShapeMismatch { values: usize, samples: usize },
    #[error("invalid parameter: {0}")]
    BadParameter(String),
}

impl BundleConfig {
    fn validate(&self, labels: &[usize]) -> Result<(), BundleError> {
        if labels.is_empty() {
            return Err(BundleError::NoSamples);
        }
        if self.num_classes == 0 {
            return Err(BundleError::NoClasses);
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l >= self.num_classes)
        {
            return Err(BundleError::LabelOutOfRange {
                index,
                label,
                classes: self.num_classes,
            });
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(BundleError::BadParameter(format!(
                "learning rate must be a positive finite number, got {}",
                self.lr
            )));
        }
        if self.batch_size == 0 {
            return Err(BundleError::BadParameter(
                "batch size must be at least 1".into(),
            ));
        }
        match self.criterion {
            Criterion::Resolution { w_max, .. } if !w_max.is_finite() => Err(
                BundleError::BadParameter(format!("max weight must be finite, got {w_max}")),
            ),
            Criterion::Threshold { gamma } if !(gamma.is_finite() && gamma >= 0.0) => {
                Err(BundleError::BadParameter(format!(
                    "gamma must be a finite number >= 0, got {gamma}"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Bundles one layer: `acts` is row-major N × D with N = `labels.len()`.
pub fn measure_layer(
    acts: &[f32],
    labels: &[usize],
    cfg: &BundleConfig,
) -> Result<LayerReport, BundleError> {
    cfg.validate(labels)?;
    row_len(acts.len(), labels.len())?;
    Ok(report(assign(acts, labels.len(), cfg), labels))
}

/// Measures every hidden layer in one pass (layers run in parallel). Each
/// layer is row-major N × D_l; the output layer is the caller's to leave out.
pub fn measure_layers(
    layers: &[&[f32]],
    labels: &[usize],
    cfg: &BundleConfig,
) -> Result<Vec<LayerReport>, BundleError> {
    cfg.validate(labels)?;
    for l in layers {
        row_len(l.len(), labels.len())?;
    }
    Ok(layers
        .par_iter()
        .map(|acts| report(assign(acts, labels.len(), cfg), labels))
        .collect())
}

fn row_len(values: usize, samples: usize) -> Result<usize, BundleError> {
    if samples == 0 {
        return Err(BundleError::NoSamples);
    }
    if !values.is_multiple_of(samples) {
        return Err(BundleError::ShapeMismatch { values, samples });
    }
    Ok(values / samples)
}

fn assign(acts: &[f32], n: usize, cfg: &BundleConfig) -> Assignment {
    match cfg.criterion {
        Criterion::Resolution { w_max, precision } => {
            resolution_bundles(acts, n, w_max, cfg.lr, cfg.batch_size, precision)
        }
        Criterion::Threshold { gamma } => threshold_bundles(acts, n, gamma, cfg.lr, cfg.batch_size),
    }
}

fn report(a: Assignment, labels: &[usize]) -> LayerReport {
    let mut sizes = a.sizes();
    let bundle_entropy = bundle_entropy(&a, labels);
    sizes.sort_unstable_by(|x, y| y.cmp(x));
    LayerReport {
        num_samples: labels.len(),
        num_bundles: a.num_bundles,
        bundle_entropy,
        non_finite: a.non_finite,
        bundle_sizes: sizes,
    }
}

/// True when every bit of `x` is a finite float (not NaN, not ±Inf).
#[inline(always)]
pub(crate) fn is_finite_bits(bits: u32) -> bool {
    bits & 0x7f80_0000 != 0x7f80_0000
}
