//! `cb precision-sweep`: where conflicting layers appear in f32, f16 and
//! bf16 resolution mode (beyond the paper, issue 15).

use std::path::PathBuf;

use anyhow::Result;
use conflicting_bundles::bundle::Precision;
use conflicting_bundles::data::{resolve_data_dir, DatasetKind};
use conflicting_bundles::experiments::precision::{
    run_precision_sweep, run_precision_sweep_shard, PrecisionConfig, PrecisionNet,
};
use conflicting_bundles::experiments::recorded::RunStart;
use conflicting_bundles::models::convnet::Arch;
use conflicting_bundles::train::ProgressMode;
use conflicting_bundles::with_device;

use crate::experiments::{finish_sweep, DataAndDevice, PresetArgs, ShardArgs};

#[derive(clap::Args)]
pub struct PrecisionArgs {
    /// Comma-separated formats to measure in: f32, f16, bf16 (default: all three)
    #[arg(long, value_delimiter = ',')]
    precisions: Vec<Precision>,
    /// Comma-separated widths of the FC nets (default: the preset's)
    #[arg(long, value_delimiter = ',')]
    widths: Vec<usize>,
    /// Hidden layers of every FC net (default: the preset's)
    #[arg(long)]
    fc_depth: Option<usize>,
    /// Comma-separated depths of the conv nets, a VGG and a ResNet each (2 + 2 x blocks, even, >= 10)
    #[arg(long, value_delimiter = ',')]
    conv_depths: Vec<usize>,
    /// Divide the paper's 64/128/256/512 filters by this (1..=64, rounded down)
    #[arg(long)]
    width_divisor: Option<usize>,
    /// mnist or fashion-mnist (the FC nets take 28x28 images)
    #[arg(long)]
    dataset: Option<DatasetKind>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    preset: PresetArgs,
    /// Output folder (receives precision_sweep.json and charts; rerun to resume)
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    shard: ShardArgs,
    #[command(flatten)]
    env: DataAndDevice,
}

pub fn precision_sweep(a: PrecisionArgs) -> Result<()> {
    let start = RunStart::now();
    let mut cfg: PrecisionConfig = a.preset.config();
    if !a.precisions.is_empty() {
        cfg.precisions = a.precisions;
    }
    let (mut widths, mut fc_depth, mut conv_depths) = (vec![], None, vec![]);
    for net in &cfg.nets {
        match *net {
            PrecisionNet::Fc { width, depth } => {
                widths.push(width);
                fc_depth = Some(depth);
            }
            PrecisionNet::Conv { depth, .. } if !conv_depths.contains(&depth) => {
                conv_depths.push(depth)
            }
            PrecisionNet::Conv { .. } => {}
        }
    }
    if !a.widths.is_empty() {
        widths = a.widths;
    }
    if !a.conv_depths.is_empty() {
        conv_depths = a.conv_depths;
    }
    // Every preset has FC nets; the fallback only serves a preset without.
    let fc_depth = a.fc_depth.or(fc_depth).unwrap_or(150);
    cfg.nets = widths
        .iter()
        .map(|&width| PrecisionNet::Fc {
            width,
            depth: fc_depth,
        })
        .chain(conv_depths.iter().flat_map(|&depth| {
            [Arch::Vgg, Arch::Resnet].map(|arch| PrecisionNet::Conv { arch, depth })
        }))
        .collect();
    cfg.width_divisor = a.width_divisor.unwrap_or(cfg.width_divisor);
    cfg.dataset = a.dataset.unwrap_or(cfg.dataset);
    cfg.epochs = a.epochs.unwrap_or(cfg.epochs);
    cfg.seed = a.seed.unwrap_or(cfg.seed);
    let dir = resolve_data_dir(a.env.data_dir.as_deref());
    let r = with_device!(a.env.device, dev => match a.shard.shard {
        None => run_precision_sweep(dev, &cfg, &dir, Some(&a.out), ProgressMode::Auto),
        Some(s) => run_precision_sweep_shard(dev, &cfg, &dir, &a.out, s, ProgressMode::Auto),
    })?;
    finish_sweep(&r, &a.out, a.shard.shard, &a.preset, &start)
}
