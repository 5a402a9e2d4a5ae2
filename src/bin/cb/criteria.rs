//! `cb criteria`: which layers each criterion would remove from trained
//! nets, next to the auto-tune cut, and the test accuracy without them.

use anyhow::Result;
use conflicting_bundles::experiments::criteria::CriteriaConfig;
use conflicting_bundles::experiments::recorded::RunStart;

use crate::experiments::{flag, SweepArgs};

#[derive(clap::Args)]
pub struct CriteriaArgs {
    /// Layers each criterion removes per net (default: as many as the
    /// bundle criterion flags, H > 0)
    #[arg(long)]
    k: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    sweep: SweepArgs,
}

pub fn run(a: CriteriaArgs) -> Result<()> {
    let start = RunStart::now();
    let cfg: CriteriaConfig = a
        .sweep
        .config(|_| vec![flag("k", a.k), flag("seed", a.seed)])?;
    a.sweep.run(&cfg, &start)
}
