//! `cb autotune`: §3.6 / Table 1 — conflicting-layer removal vs a ResNet,
//! and the lesion study.

use std::path::PathBuf;

use anyhow::Result;
use conflicting_bundles::data::{resolve_data_dir, DatasetKind};
use conflicting_bundles::experiments::autotune::{
    run_autotune, run_autotune_shard, table1_baseline, AutotuneConfig,
};
use conflicting_bundles::experiments::recorded::RunStart;
use conflicting_bundles::train::ProgressMode;
use conflicting_bundles::with_device;

use crate::experiments::{finish_sweep, DataAndDevice, PresetArgs, ShardArgs};

#[derive(clap::Args)]
pub struct AutotuneArgs {
    /// Default: cifar10 (mnist with --preset quick or lesson)
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Seeds 0..R; Table 1 shows mean ± std over them
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
    preset: PresetArgs,
    /// Output folder (autotune.json, run folders, charts; rerun to resume)
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    shard: ShardArgs,
    #[command(flatten)]
    env: DataAndDevice,
}

pub fn run(a: AutotuneArgs) -> Result<()> {
    let start = RunStart::now();
    let mut cfg: AutotuneConfig = a.preset.config();
    if let Some(d) = a.dataset {
        cfg.dataset = d;
        cfg.baseline_depth = table1_baseline(d);
    }
    cfg.runs = a.runs.unwrap_or(cfg.runs);
    cfg.epochs = a.epochs.unwrap_or(cfg.epochs);
    cfg.width_divisor = a.width_divisor.unwrap_or(cfg.width_divisor);
    cfg.baseline_depth = a.baseline_depth.unwrap_or(cfg.baseline_depth);
    let dir = resolve_data_dir(a.env.data_dir.as_deref());
    let r = with_device!(a.env.device, dev => match a.shard.shard {
        None => run_autotune(dev, &cfg, &dir, &a.out, ProgressMode::Auto),
        Some(s) => run_autotune_shard(dev, &cfg, &dir, &a.out, s, ProgressMode::Auto),
    })?;
    finish_sweep(&r, &a.out, a.shard.shard, &a.preset, &start)
}
