//! `cb autotune`: §3.6 / Table 1 — conflicting-layer removal vs a ResNet,
//! and the lesion study.

use anyhow::Result;
use conflicting_bundles::data::DatasetKind;
use conflicting_bundles::experiments::autotune::{table1_baseline, Autotune, AutotuneConfig};
use conflicting_bundles::experiments::recorded::RunStart;

use crate::experiments::{flag, SweepArgs};

#[derive(clap::Args)]
pub struct AutotuneArgs {
    /// Default: cifar10 (mnist with --preset quick or lesson); also sets the
    /// baseline to Table 1's for the dataset unless --baseline-depth does
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Runs, seeds seed..seed+R; Table 1 shows mean ± std over them
    #[arg(long)]
    runs: Option<usize>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Divide the paper's 64/128/256/512 filters by 1, 2, 4, 8 or 16
    #[arg(long)]
    width_divisor: Option<usize>,
    /// Depth of the ResNet baseline (default: Table 1's for the dataset:
    /// 76 for cifar10, 50 for the others)
    #[arg(long)]
    baseline_depth: Option<usize>,
    #[command(flatten)]
    sweep: SweepArgs,
}

pub fn run(a: AutotuneArgs) -> Result<()> {
    let start = RunStart::now();
    let baseline = a.baseline_depth.or(a.dataset.map(table1_baseline));
    let cfg: AutotuneConfig = a.sweep.config(|_| {
        vec![
            flag("dataset", a.dataset),
            flag("runs", a.runs),
            flag("epochs", a.epochs),
            flag("width_divisor", a.width_divisor),
            flag("baseline_depth", baseline),
        ]
    })?;
    a.sweep.run(&Autotune::new(&cfg), &start)
}
