//! `cb precision-sweep`: where conflicting layers appear in f32, f16 and
//! bf16 resolution mode (beyond the paper).

use anyhow::Result;
use conflicting_bundles::bundle::Precision;
use conflicting_bundles::data::DatasetKind;
use conflicting_bundles::experiments::precision::{PrecisionConfig, PrecisionNet};
use conflicting_bundles::experiments::recorded::RunStart;
use conflicting_bundles::models::convnet::Arch;

use crate::experiments::{flag, list_flag, SweepArgs};

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
    sweep: SweepArgs,
}

pub fn precision_sweep(a: PrecisionArgs) -> Result<()> {
    let start = RunStart::now();
    let cfg: PrecisionConfig = a.sweep.config(|cfg: &PrecisionConfig| {
        let nets = (!a.widths.is_empty() || a.fc_depth.is_some() || !a.conv_depths.is_empty())
            .then(|| nets(&cfg.nets, a.widths, a.fc_depth, a.conv_depths));
        vec![
            list_flag("precisions", a.precisions),
            flag("nets", nets),
            flag("width_divisor", a.width_divisor),
            flag("dataset", a.dataset),
            flag("epochs", a.epochs),
            flag("seed", a.seed),
        ]
    })?;
    a.sweep.run(&cfg, &start)
}

/// The nets of `--widths`, `--fc-depth` and `--conv-depths`, each flag not
/// given taking the list's (`now`'s) values.
fn nets(
    now: &[PrecisionNet],
    widths: Vec<usize>,
    fc_depth: Option<usize>,
    conv_depths: Vec<usize>,
) -> Vec<PrecisionNet> {
    let (mut now_widths, mut now_fc_depth, mut now_conv_depths) = (vec![], None, vec![]);
    for net in now {
        match *net {
            PrecisionNet::Fc { width, depth } => {
                now_widths.push(width);
                now_fc_depth = Some(depth);
            }
            PrecisionNet::Conv { depth, .. } if !now_conv_depths.contains(&depth) => {
                now_conv_depths.push(depth)
            }
            PrecisionNet::Conv { .. } => {}
        }
    }
    let widths = if widths.is_empty() {
        now_widths
    } else {
        widths
    };
    let conv_depths = if conv_depths.is_empty() {
        now_conv_depths
    } else {
        conv_depths
    };
    // Every preset has FC nets; the fallback only serves a list without.
    let fc_depth = fc_depth.or(now_fc_depth).unwrap_or(150);
    widths
        .iter()
        .map(|&width| PrecisionNet::Fc {
            width,
            depth: fc_depth,
        })
        .chain(conv_depths.iter().flat_map(|&depth| {
            [Arch::Vgg, Arch::Resnet].map(|arch| PrecisionNet::Conv { arch, depth })
        }))
        .collect()
}
