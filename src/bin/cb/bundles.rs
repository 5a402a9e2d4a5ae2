//! `cb bundles`: the metric on activations and labels from .npy files.

use std::path::PathBuf;

use anyhow::{bail, Result};
use conflicting_bundles::bundle::{measure_layer, BundleConfig, Criterion, Precision};
use conflicting_bundles::npy::{read_activations, read_labels};
use serde_json::json;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("criterion").required(true).multiple(false))]
pub struct Args {
    /// Activations of one layer: float32/float64 .npy of shape (N, ...)
    #[arg(long, value_name = "A.npy")]
    activations: PathBuf,
    /// Labels: integer .npy of shape (N,)
    #[arg(long, value_name = "Y.npy")]
    labels: PathBuf,
    /// Number of classes C (labels must be in 0..C)
    #[arg(long)]
    classes: usize,
    /// Learning rate of the training
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Training mini-batch size
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Resolution mode: largest absolute hidden-layer weight of the model
    #[arg(
        long,
        group = "criterion",
        value_name = "W",
        allow_negative_numbers = true
    )]
    max_weight: Option<f32>,
    /// Resolution mode's float format: the mapping is computed and compared
    /// in it, every input and step rounded to nearest even
    #[arg(
        long,
        default_value = "f32",
        value_name = "f32|f16|bf16",
        conflicts_with = "gamma"
    )]
    precision: Precision,
    /// Threshold mode (eq. 1): resolution gamma
    #[arg(long, group = "criterion", value_name = "G")]
    gamma: Option<f32>,
    /// Also print the bundle sizes, largest first
    #[arg(long)]
    sizes: bool,
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
    let mut labels = Vec::with_capacity(n);
    for (i, &y) in raw_labels.iter().enumerate() {
        if y < 0 || y as u64 >= args.classes as u64 {
            bail!(
                "{}: label {y} of sample {i} is outside 0..{}",
                args.labels.display(),
                args.classes
            );
        }
        labels.push(y as usize);
    }
    let criterion = match (args.max_weight, args.gamma) {
        (Some(w_max), None) => Criterion::Resolution {
            w_max,
            precision: args.precision,
        },
        (None, Some(gamma)) => Criterion::Threshold { gamma },
        _ => bail!("give exactly one of --max-weight or --gamma"),
    };
    let cfg = BundleConfig {
        lr: args.lr,
        batch_size: args.batch_size,
        num_classes: args.classes,
        criterion,
    };
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
