//! `cb conv-sweep` and `cb train conv`: VGG / ResNet experiments (§3.4–3.5).

use anyhow::Result;
use conflicting_bundles::data::{resolve_data_dir, DatasetKind};
use conflicting_bundles::experiments::conv_nets::{load_images, train_conv};
use conflicting_bundles::experiments::conv_sweep::ConvSweepConfig;
use conflicting_bundles::experiments::recorded::RunStart;
use conflicting_bundles::lock::OutLock;
use conflicting_bundles::models::convnet::{Arch, ConvSpec, Widths};
use conflicting_bundles::with_device;

use crate::experiments::{flag, list_flag, DataAndDevice, RunArgs, SweepArgs};

#[derive(clap::Args)]
pub struct ConvSweepArgs {
    /// Comma-separated architectures: vgg, resnet (default: both)
    #[arg(long, value_delimiter = ',')]
    arch: Vec<Arch>,
    /// Default: cifar10 (mnist with --preset quick or lesson)
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Comma-separated depths, each 2 + 2 x blocks (even, >= 10)
    #[arg(long, value_delimiter = ',')]
    depths: Vec<usize>,
    #[arg(long)]
    epochs: Option<usize>,
    /// Divide the paper's 64/128/256/512 filters by this (1..=64, rounded down)
    #[arg(long)]
    width_divisor: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    sweep: SweepArgs,
}

pub fn conv_sweep(a: ConvSweepArgs) -> Result<()> {
    let start = RunStart::now();
    let cfg: ConvSweepConfig = a.sweep.config(|_| {
        vec![
            list_flag("archs", a.arch),
            flag("dataset", a.dataset),
            list_flag("depths", a.depths),
            flag("epochs", a.epochs),
            flag("width_divisor", a.width_divisor),
            flag("seed", a.seed),
        ]
    })?;
    a.sweep.run(&cfg, &start)
}

#[derive(clap::Args)]
pub struct ConvArgs {
    #[arg(long)]
    arch: Arch,
    /// Layers with weights: 2 + 2 x blocks (even, >= 10)
    #[arg(long)]
    depth: usize,
    /// Divide the paper's 64/128/256/512 filters by this (1..=64, rounded down)
    #[arg(long, default_value_t = 1)]
    width_divisor: usize,
    /// Explicit channels of the four stages, e.g. 8,16,32,64 (instead of --width-divisor)
    #[arg(long, value_delimiter = ',')]
    channels: Vec<usize>,
    #[arg(long, default_value = "cifar10")]
    dataset: DatasetKind,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    env: DataAndDevice,
}

pub fn train(a: ConvArgs) -> Result<()> {
    let spec = ConvSpec::for_depth(a.arch, a.depth)?;
    OutLock::check(&a.run.out)?; // a bad --out costs no data loading
    let widths = match &a.channels[..] {
        [] => Widths::divided(a.width_divisor)?,
        &[c1, c2, c3, c4] => Widths::new([c1, c2, c3, c4])?,
        other => anyhow::bail!(
            "--channels takes 4 comma-separated counts, not {}",
            other.len()
        ),
    };
    let dir = resolve_data_dir(a.env.data_dir.as_deref());
    let (train_set, test_set) = load_images(a.dataset, &dir, None, None)?;
    let trainer = a.run.trainer(format!("{}-{}", a.arch, a.depth));
    let r = with_device!(a.env.device, dev => train_conv(dev, spec, widths, &train_set, Some(&test_set), &trainer))?;
    outln!("{spec}, channels {widths}\n{r}")?;
    outln!("wrote {}", a.run.out.join("results.json").display())?;
    Ok(())
}
