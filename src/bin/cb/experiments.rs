//! `cb toy`, `cb fc-sweep`, `cb train fnn`: the paper's experiments.

use std::path::PathBuf;

use anyhow::{bail, Result};
use conflicting_bundles::data::{resolve_data_dir, DatasetKind};
use conflicting_bundles::device::DeviceChoice;
use conflicting_bundles::experiments::fc_sweep::{load, train_net, FcSweepConfig};
use conflicting_bundles::experiments::overrides;
use conflicting_bundles::experiments::recorded::{Recorded, RunStart};
use conflicting_bundles::experiments::runner::{self, RunOptions, Sweep};
use conflicting_bundles::experiments::shard::{Shard, ShardedReport, SHARD_FILE};
use conflicting_bundles::experiments::toy::{run_toy, ToyConfig};
use conflicting_bundles::experiments::{write_json, Preset, Presets};
use conflicting_bundles::figures::{write_figures, Figures};
use conflicting_bundles::lock::OutLock;
use conflicting_bundles::train::{ProgressMode, TrainConfig, Trainer};
use conflicting_bundles::with_device;
use serde::{de::DeserializeOwned, Serialize};

#[derive(clap::Args)]
pub struct ToyArgs {
    /// Output folder (receives toy.json)
    #[arg(long)]
    out: PathBuf,
    /// Epochs per training
    #[arg(long, default_value_t = ToyConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Compute device: cpu, cuda or cuda:N (CUDA needs a `--features cuda` build)
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    #[command(flatten)]
    record: RecordArgs,
}

pub fn toy(args: ToyArgs) -> Result<()> {
    let start = RunStart::now();
    let cfg = ToyConfig {
        epochs: args.epochs,
        seed: args.seed,
        ..Default::default()
    };
    let report = with_device!(args.device, dev => run_toy(dev, &cfg, ProgressMode::Auto))?;
    write_json(&args.out, "toy.json", &report)?;
    args.record.write(&report, &start)?;
    write_figures(&args.out, &report.figures())?;
    outln!("{report}")?;
    outln!(
        "wrote {} and charts (*.html)",
        args.out.join("toy.json").display()
    )?;
    Ok(())
}

/// How large a sweep runs: `--preset`, or `--quick` for `--preset quick`.
#[derive(clap::Args)]
pub struct PresetArgs {
    /// quick (minutes on 2 CPU cores, for CI: numbers that mean little),
    /// lesson (at most 20 minutes on a 2-core CPU, MNIST, the notebooks'
    /// default) or full (the paper's scale: GPU work)
    #[arg(long, default_value = "full")]
    preset: Preset,
    /// Same as --preset quick
    #[arg(long, conflicts_with = "preset")]
    quick: bool,
    #[command(flatten)]
    record: RecordArgs,
}

/// `--record FILE`.
#[derive(clap::Args)]
pub struct RecordArgs {
    /// Also write the report with the command, commit, machine and wall time
    /// to this file (the recorded runs: results/<experiment>/<preset>.json)
    #[arg(long)]
    record: Option<PathBuf>,
}

impl RecordArgs {
    /// Writes the recorded run if `--record` asked for it.
    pub fn write<R: serde::Serialize>(&self, report: &R, start: &RunStart) -> Result<()> {
        if let Some(path) = &self.record {
            Recorded::new(report, start).write(path)?;
            outln!("recorded the run in {}", path.display())?;
        }
        Ok(())
    }
}

impl PresetArgs {
    /// The configuration `C` at the chosen preset.
    pub fn config<C: Presets>(&self) -> C {
        C::preset(if self.quick {
            Preset::Quick
        } else {
            self.preset
        })
    }

    /// Writes the recorded run if `--record` asked for it.
    pub fn record<R: serde::Serialize>(&self, report: &R, start: &RunStart) -> Result<()> {
        self.record.write(report, start)
    }
}

/// Where data comes from and what computes.
#[derive(clap::Args)]
pub struct DataAndDevice {
    /// Data folder (default: $CB_DATA_DIR, else data/)
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Compute device: cpu, cuda or cuda:N (CUDA needs a `--features cuda` build)
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
}

/// What every sweep command takes besides its own flags. A setting's value
/// comes from, last wins: the preset, `--config FILE`, the command's own
/// flags, `--set KEY=VALUE`.
#[derive(clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    preset: PresetArgs,
    /// Settings from a JSON or TOML file (.toml: TOML), e.g. {"epochs": 3};
    /// keys as in the report's "config"
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set any field of the sweep's configuration (repeatable): epochs=3,
    /// depths=10,30, train_samples=none, nets.0.width=25 (keys as in the
    /// report's "config"; values JSON, a string or a comma-separated list)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Output folder (receives the report and charts; rerun to resume)
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    shard: ShardArgs,
    /// Nets trained at once (default: one per CPU thread on the CPU where the
    /// sweep's nets are small, else 1); results do not depend on it
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    #[command(flatten)]
    env: DataAndDevice,
}

impl SweepArgs {
    /// The sweep's configuration: the preset, then `--config`, then the
    /// command's own flags as `flags` gives them for the configuration so
    /// far (`key=json` assignments of the flags given, see [`flag`]), then
    /// `--set`.
    pub fn config<C: Presets + Serialize + DeserializeOwned>(
        &self,
        flags: impl FnOnce(&C) -> Vec<Option<String>>,
    ) -> Result<C> {
        let mut cfg: C = self.preset.config();
        if let Some(path) = &self.config {
            cfg = overrides::set_from_file(&cfg, path)?;
        }
        let assignments: Vec<String> = flags(&cfg).into_iter().flatten().collect();
        cfg = overrides::set_all(&cfg, &assignments)?;
        overrides::set_all(&cfg, &self.set)
    }

    /// Runs `sweep` as these flags say, then prints and writes what
    /// [`finish_sweep`] does.
    pub fn run<S: Sweep>(&self, sweep: &S, start: &RunStart) -> Result<()>
    where
        S::Report: Figures + std::fmt::Display,
    {
        let dir = resolve_data_dir(self.env.data_dir.as_deref());
        let opts = RunOptions {
            out: Some(&self.out),
            shard: self.shard.shard,
            progress: ProgressMode::Auto,
            jobs: self.jobs,
        };
        let r = with_device!(self.env.device, dev => runner::run(dev, sweep, &dir, &opts))?;
        finish_sweep(&r, &self.out, self.shard.shard, &self.preset, start)
    }
}

/// `key=<value as JSON>` when a flag was given: how a command's own flags
/// become settings.
pub fn flag<T: Serialize>(key: &str, value: Option<T>) -> Option<String> {
    value.map(|v| {
        format!(
            "{key}={}",
            serde_json::to_string(&v).expect("flags serialise")
        )
    })
}

/// [`flag`] for a list flag, given when not empty.
pub fn list_flag<T: Serialize>(key: &str, values: Vec<T>) -> Option<String> {
    flag(key, (!values.is_empty()).then_some(values))
}

#[derive(clap::Args)]
pub struct FcSweepArgs {
    /// Default: mnist
    #[arg(long)]
    dataset: Option<DatasetKind>,
    /// Comma-separated widths (default: the preset's list)
    #[arg(long, value_delimiter = ',')]
    widths: Vec<usize>,
    /// Comma-separated depths (hidden layers)
    #[arg(long, value_delimiter = ',')]
    depths: Vec<usize>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    sweep: SweepArgs,
}

pub fn fc_sweep(a: FcSweepArgs) -> Result<()> {
    let start = RunStart::now();
    let cfg: FcSweepConfig = a.sweep.config(|_| {
        vec![
            flag("dataset", a.dataset),
            list_flag("widths", a.widths),
            list_flag("depths", a.depths),
            flag("epochs", a.epochs),
            flag("seed", a.seed),
        ]
    })?;
    a.sweep.run(&cfg, &start)
}

/// `--shard I/N`.
#[derive(clap::Args)]
pub struct ShardArgs {
    /// Run only shard I of N (0 <= I < N, as Slurm's $SLURM_ARRAY_TASK_ID):
    /// its share of the units, dealt in snake order (0, 1, .., N-1, N-1, ..,
    /// 0, ...), into OUT/shard-I-of-N/ (resumable);
    /// `cb merge --out OUT` puts the shards together (README: Sweeps on a
    /// cluster)
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

/// What every sweep does after its run: the tables, the recorded run if
/// asked for, and the report's charts, or for a shard its file (the charts
/// come with `cb merge`).
pub fn finish_sweep<R: ShardedReport + Figures + std::fmt::Display>(
    r: &R,
    out: &std::path::Path,
    shard: Option<Shard>,
    preset: &PresetArgs,
    start: &RunStart,
) -> Result<()> {
    outln!("{r}")?;
    preset.record(r, start)?;
    match shard {
        None => {
            write_figures(out, &r.figures())?;
            outln!(
                "wrote {} and charts (*.html)",
                out.join(format!("{}.json", R::SWEEP)).display()
            )?;
        }
        Some(s) => outln!(
            "wrote {}; when every shard is done: cb merge --out {}",
            out.join(s.folder_name()).join(SHARD_FILE).display(),
            out.display()
        )?,
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum TrainCommand {
    /// A fully connected ReLU net on MNIST / Fashion-MNIST
    Fnn(FnnArgs),
    /// A VGG or ResNet (§3.4-3.5)
    Conv(crate::conv::ConvArgs),
}

#[derive(clap::Args)]
pub struct FnnArgs {
    /// Neurons per hidden layer (any width >= 1)
    #[arg(long)]
    width: usize,
    /// Hidden layers
    #[arg(long)]
    depth: usize,
    #[arg(long, default_value = "mnist")]
    dataset: DatasetKind,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    env: DataAndDevice,
}

/// What `cb train fnn` and `cb train conv` share: how long, which seed, where.
#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also measure bundles every this many steps
    #[arg(long)]
    bundle_every_steps: Option<usize>,
    /// Output folder: results.json and checkpoint.safetensors; rerun to resume
    #[arg(long)]
    pub out: PathBuf,
}

impl RunArgs {
    /// The trainer these flags describe (the paper's recipe otherwise).
    pub fn trainer(&self, label: String) -> Trainer {
        Trainer {
            config: TrainConfig {
                epochs: self.epochs,
                seed: self.seed,
                bundle_every_steps: self.bundle_every_steps,
                ..Default::default()
            },
            out_dir: Some(self.out.clone()),
            progress: ProgressMode::Auto,
            label,
        }
    }
}

pub fn train(cmd: TrainCommand) -> Result<()> {
    let a = match cmd {
        TrainCommand::Fnn(a) => a,
        TrainCommand::Conv(a) => return crate::conv::train(a),
    };
    if a.depth == 0 || a.width == 0 {
        bail!("--width and --depth must be at least 1");
    }
    OutLock::check(&a.run.out)?; // a bad --out costs no data loading
    let mut sweep = FcSweepConfig::full();
    sweep.run.dataset = a.dataset;
    let (train_set, test_set) = load(&sweep, &resolve_data_dir(a.env.data_dir.as_deref()))?;
    let trainer = a.run.trainer(format!("fnn w{} d{}", a.width, a.depth));
    let r = with_device!(a.env.device, dev => train_net(dev, a.width, a.depth, &train_set, Some(&test_set), &trainer))?;
    outln!("{r}")?;
    outln!("wrote {}", a.run.out.join("results.json").display())?;
    Ok(())
}
