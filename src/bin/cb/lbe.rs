//! `cb lbe`: plain nets at chance trained without and with the layerwise
//! batch-entropy regulariser (the authors' follow-up), both entropies traced.

use anyhow::Result;
use conflicting_bundles::data::DatasetKind;
use conflicting_bundles::experiments::lbe::LbeStudyConfig;
use conflicting_bundles::experiments::recorded::RunStart;

use crate::experiments::{flag, SweepArgs};

#[derive(clap::Args)]
pub struct LbeArgs {
    /// Default: mnist (the FC nets read 28×28 rows)
    #[arg(long)]
    dataset: Option<DatasetKind>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Divide the VGGs' 64/128/256/512 filters by this (1..=64, rounded down)
    #[arg(long)]
    width_divisor: Option<usize>,
    /// Weight β of the term for every net (default: the follow-up's 0.1)
    #[arg(long)]
    beta: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    sweep: SweepArgs,
}

pub fn run(a: LbeArgs) -> Result<()> {
    let start = RunStart::now();
    let cfg: LbeStudyConfig = a.sweep.config(|_| {
        vec![
            flag("dataset", a.dataset),
            flag("epochs", a.epochs),
            flag("width_divisor", a.width_divisor),
            flag("lbe_fc.beta", a.beta),
            flag("lbe_conv.beta", a.beta),
            flag("seed", a.seed),
        ]
    })?;
    a.sweep.run(&cfg, &start)
}
