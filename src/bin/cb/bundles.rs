//! `cb bundles`: the metric on activations and labels from .npy files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use conflicting_bundles::bundle::{measure_layer, BundleConfig, Criterion, Precision};
use conflicting_bundles::npy::{read_activations, read_labels};
use serde_json::json;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("criterion").required(true).multiple(false))]
pub struct Args {
    /// Activations of one layer: float16/32/64 .npy of shape (N, ...)
    #[arg(long, value_name = "A.npy")]
    activations: PathBuf,
    /// Labels: integer .npy of shape (N,)
    #[arg(long, value_name = "Y.npy")]
    labels: PathBuf,
    /// Number of classes C (labels must be in 0..C)
    #[arg(long)]
    classes: usize,
    #[command(flatten)]
    metric: MetricArgs,
    /// Also print the bundle sizes, largest first
    #[arg(long)]
    sizes: bool,
}

/// The metric's parameters, as `cb bundles` and `cb report` take them. The
/// including command declares the group "criterion" (resolution with
/// `--max-weight`, threshold with `--gamma`, or its own sources of w_max),
/// required where the bundle metric always runs.
#[derive(clap::Args)]
pub struct MetricArgs {
    /// Learning rate of the model's training
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Training mini-batch size
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Resolution mode: the largest absolute hidden-layer weight of the model
    #[arg(
        long,
        group = "criterion",
        value_name = "W",
        allow_negative_numbers = true
    )]
    pub max_weight: Option<f32>,
    /// Threshold mode (eq. 1): resolution gamma
    #[arg(long, group = "criterion", value_name = "G")]
    gamma: Option<f32>,
    /// Resolution mode's float format: the mapping is computed and compared
    /// in it, every input and step rounded to nearest even
    #[arg(
        long,
        default_value = "f32",
        value_name = "f32|f16|bf16",
        conflicts_with = "gamma"
    )]
    precision: Precision,
}

impl MetricArgs {
    /// `--max-weight` or `--gamma` was given.
    pub fn has_criterion(&self) -> bool {
        self.max_weight.is_some() || self.gamma.is_some()
    }

    /// The metric's configuration; `w_max` is resolution mode's largest
    /// weight when it came from elsewhere than `--max-weight`.
    pub fn config(&self, num_classes: usize, w_max: Option<f32>) -> Result<BundleConfig> {
        let criterion = match (w_max.or(self.max_weight), self.gamma) {
            (Some(w_max), None) => Criterion::Resolution {
                w_max,
                precision: self.precision,
            },
            (None, Some(gamma)) => Criterion::Threshold { gamma },
            _ => bail!("give exactly one of --max-weight or --gamma"),
        };
        Ok(BundleConfig {
            lr: self.lr,
            batch_size: self.batch_size,
            num_classes,
            criterion,
        })
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.classes == 0 {
        bail!("--classes must be at least 1");
    }
    let acts = read_activations(&args.activations)?;
    let raw_labels = read_labels(&args.labels)?;
    let n = acts.num_samples();
    if n == 0 {
        bail!("{}: no samples (N = 0)", args.activations.display());
    }
    if raw_labels.len() != n {
        bail!(
            "{} has {} labels but {} has {} samples",
            args.labels.display(),
            raw_labels.len(),
            args.activations.display(),
            n
        );
    }
    let labels = labels_in_range(&args.labels, &raw_labels, args.classes)?;
    let cfg = args.metric.config(args.classes, None)?;
    let r = measure_layer(&acts.data, &labels, &cfg)?;
    let mut out = json!({
        "num_samples": r.num_samples,
        "num_bundles": r.num_bundles,
        "bundle_entropy": r.bundle_entropy,
        "non_finite": r.non_finite,
    });
    if args.sizes {
        out["bundle_sizes"] = json!(r.bundle_sizes);
    }
    outln!("{out}")?;
    Ok(())
}

/// Labels as class indices, or a line naming the first one outside `0..classes`.
pub fn labels_in_range(path: &Path, raw: &[i64], classes: usize) -> Result<Vec<usize>> {
    if classes == 0 {
        bail!("--classes must be at least 1");
    }
    raw.iter()
        .enumerate()
        .map(|(i, &y)| {
            if y < 0 || y as u64 >= classes as u64 {
                bail!(
                    "{}: label {y} of sample {i} is outside 0..{classes}",
                    path.display()
                );
            }
            Ok(y as usize)
        })
        .collect()
}
