//! `cb lesion`: which blocks of a trained ResNet can go (the authors'
//! `lesion.py`).

use anyhow::Result;
use conflicting_bundles::data::DatasetKind;
use conflicting_bundles::experiments::lesion::LesionConfig;
use conflicting_bundles::experiments::recorded::RunStart;

use crate::experiments::{flag, SweepArgs};

#[derive(clap::Args)]
pub struct LesionArgs {
    /// Default: cifar10 (mnist with --preset quick or lesson)
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Depth of the ResNet (default 120: 59 blocks)
    #[arg(long)]
    depth: Option<usize>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Divide the paper's 64/128/256/512 filters by this (1..=64, rounded down)
    #[arg(long)]
    width_divisor: Option<usize>,
    /// Random draws per number of dropped blocks (the authors: 15)
    #[arg(long)]
    draws: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    sweep: SweepArgs,
}

pub fn run(a: LesionArgs) -> Result<()> {
    let start = RunStart::now();
    let cfg: LesionConfig = a.sweep.config(|_| {
        vec![
            flag("dataset", a.dataset),
            flag("depth", a.depth),
            flag("epochs", a.epochs),
            flag("width_divisor", a.width_divisor),
            flag("draws", a.draws),
            flag("seed", a.seed),
        ]
    })?;
    a.sweep.run(&cfg, &start)
}
