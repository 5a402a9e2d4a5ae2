//! `cb report`: the bundle report (and the other `--criteria`) of every
//! layer of any model, from activations saved as .npz, .safetensors or a
//! folder of .npy files.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Result};
use conflicting_bundles::layer_file::LayerFile;
use conflicting_bundles::lock::OutLock;
use conflicting_bundles::npy::read_labels;
use conflicting_bundles::plots;
use conflicting_bundles::report::{
    max_abs_weight, measure_file, LayerCriterion, ModelReport, Plan,
};
use conflicting_bundles::util::write_atomic;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::bundles::{labels_in_range, MetricArgs};

#[derive(clap::Args)]
// Not required: only the bundle criterion needs one of its members (`run` checks).
#[command(group = clap::ArgGroup::new("criterion").multiple(false))]
pub struct Args {
    /// Activations of the layers for the same N samples: a .npz (numpy
    /// savez, one array per layer, in the file's order), a .safetensors file,
    /// or a folder of .npy files (in natural order of their names); each
    /// array has shape (N, ...)
    #[arg(value_name = "ACTIVATIONS")]
    activations: PathBuf,
    /// Labels: integer .npy of shape (N,)
    #[arg(long, value_name = "Y.npy")]
    labels: PathBuf,
    /// Number of classes C (default: the largest label + 1)
    #[arg(long)]
    classes: Option<usize>,
    /// Output folder: report.json, report.csv, report.html
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    metric: MetricArgs,
    /// Resolution mode with the largest absolute weight computed from the
    /// model's weights (.safetensors, .npz or a folder of .npy)
    #[arg(long, group = "criterion", value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Only weights whose tensor names match one of these globs (repeatable,
    /// e.g. 'layers.*.weight'); default: every tensor of --weights
    #[arg(long, value_name = "GLOB", requires = "weights")]
    weights_include: Vec<String>,
    /// Criteria per layer, comma-separated: bundle (the bundle entropy; needs
    /// --max-weight, --weights or --gamma), batch-entropy, angular (angular
    /// distance between layers l and l + --angular-skip), block-influence
    /// (1 - cos between layer l-1's and layer l's outputs)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bundle",
        value_name = "LIST"
    )]
    criteria: Vec<LayerCriterion>,
    /// The angular criterion's n: the distance between layers l and l + n
    /// [default: 1]
    #[arg(long, value_name = "N")]
    angular_skip: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    let bundle = args.criteria.contains(&LayerCriterion::Bundle);
    let configured = args.weights.is_some() || args.metric.has_criterion();
    match (bundle, configured) {
        (true, false) => bail!(
            "--criteria includes bundle: give one of --max-weight, --weights or --gamma (or leave bundle out of --criteria)"
        ),
        (false, true) => bail!(
            "--max-weight, --weights and --gamma set the bundle criterion, which --criteria leaves out"
        ),
        _ => {}
    }
    let angular = args.criteria.contains(&LayerCriterion::Angular);
    let angular_skip = match (args.angular_skip, angular) {
        (Some(0), _) => bail!("--angular-skip must be at least 1"),
        (Some(_), false) => {
            bail!("--angular-skip applies to the angular criterion, which --criteria leaves out")
        }
        (skip, _) => skip.unwrap_or(1),
    };
    let patterns = args
        .weights_include
        .iter()
        .map(|g| glob::Pattern::new(g).map_err(|e| anyhow::anyhow!("--weights-include '{g}': {e}")))
        .collect::<Result<Vec<_>>>()?;
    // A bad --out costs no work (the lock is taken again to write).
    OutLock::check(&args.out)?;
    let raw = read_labels(&args.labels)?;
    if raw.is_empty() {
        bail!("{}: no labels (N = 0)", args.labels.display());
    }
    let classes = match args.classes {
        Some(c) => c,
        None => raw
            .iter()
            .max()
            .map_or(1, |&m| (m.max(0) as u64).saturating_add(1) as usize),
    };
    let labels = labels_in_range(&args.labels, &raw, classes)?;
    let mut file = LayerFile::open(&args.activations)?;
    // Before the weights file is read: a bad layer costs no work (measure_file
    // checks again, for library callers; headers only).
    conflicting_bundles::report::check_layers(&file, labels.len())?;

    let (w_max, w_max_source) = match &args.weights {
        Some(path) => {
            let mut weights = LayerFile::open(path)?;
            let include =
                |name: &str| patterns.is_empty() || patterns.iter().any(|p| p.matches(name));
            let (w_max, count) = max_abs_weight(&mut weights, include)?;
            let filter = if patterns.is_empty() {
                String::new()
            } else {
                format!(" matching {}", args.weights_include.join(", "))
            };
            let source = format!(
                "largest |w| of {count} tensors{filter} in {}",
                path.display()
            );
            (Some(w_max), Some(source))
        }
        None => (
            None,
            args.metric.max_weight.map(|_| "--max-weight".to_string()),
        ),
    };
    let plan = Plan {
        criteria: args.criteria.clone(),
        angular_skip,
        bundle: bundle
            .then(|| args.metric.config(classes, w_max))
            .transpose()?,
        w_max_source,
    };
    let total = file.layers().len() as u64;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "layers [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar
    });
    let report = measure_file(
        &mut file,
        &args.labels,
        &labels,
        &plan,
        |done, total, row| {
            match &bar {
                Some(bar) => {
                    bar.set_position(done as u64);
                    bar.set_message(row.name.clone());
                }
                // Not a terminal (a log, a batch job): a line per layer.
                None => eprintln!("layer {done}/{total} {}: {}", row.name, known(row)),
            }
        },
    )?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    write_outputs(&args.out, &report)?;
    outln!("{report}")?;
    outln!(
        "wrote report.json, report.csv and report.html to {}",
        args.out.display()
    )?;
    Ok(())
}

/// A layer's numbers as far as known when it has been read (its angular
/// distance comes later), for the progress line.
fn known(row: &conflicting_bundles::report::LayerRow) -> String {
    let mut parts = Vec::new();
    if let Some(b) = &row.bundle {
        parts.push(format!(
            "H^l {:.4}, {} bundles",
            b.bundle_entropy, b.num_bundles
        ));
    }
    if let Some(h) = row.batch_entropy {
        parts.push(format!("batch entropy {h:.4}"));
    }
    match row.block_influence {
        Some(Some(bi)) => parts.push(format!("block influence {bi:.4}")),
        Some(None) => parts.push("block influence n/a".into()),
        None => {}
    }
    parts.join(", ")
}

/// The three files, each written atomically, holding the folder's lock.
fn write_outputs(out: &std::path::Path, report: &ModelReport) -> Result<()> {
    let _lock = OutLock::acquire(out)?;
    write_atomic(
        &out.join("report.json"),
        serde_json::to_string_pretty(report)?.as_bytes(),
    )?;
    write_atomic(&out.join("report.csv"), report.to_csv().as_bytes())?;
    let table: String = report.tables().iter().map(|t| t.to_html()).collect();
    let page = plots::offline_page(
        &format!(
            "{}: {}",
            if report.config.is_some() {
                "Bundle report"
            } else {
                "Layer report"
            },
            report.activations
        ),
        &plots::model_report(report),
        &table,
    );
    write_atomic(&out.join("report.html"), page.as_bytes())
}
