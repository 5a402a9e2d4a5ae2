//! §3.4–3.5, Figure 6: VGG and ResNet over depth — test accuracy and `H^L`
//! per net (6a, 6c) and `H^L(t)` during training of the deepest nets (6b).
//!
//! Results are written after every net; a rerun with the same configuration
//! and output folder skips the nets already done.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::conv_nets::{load_images, train_conv};
use super::shard::{Output, Shard, ShardedReport};
use super::{note, Presets};
use crate::data::DatasetKind;
use crate::layers::ConvDevice;
use crate::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
use crate::table::{layer, percent, Table};
use crate::train::{ProgressMode, TrainConfig, TrainReport, Trainer};

/// What to sweep and how long to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvSweepConfig {
    pub dataset: DatasetKind,
    pub archs: Vec<Arch>,
    /// Layers with weights: 2 + 2 × blocks.
    pub depths: Vec<usize>,
    /// The paper's 64/128/256/512 filters are divided by this (1 = the paper).
    pub width_divisor: usize,
    pub epochs: usize,
    pub train_samples: Option<usize>,
    pub test_samples: Option<usize>,
    pub max_steps_per_epoch: Option<usize>,
    pub bundle_samples: usize,
    pub seed: u64,
    /// `H^l(t)` of each architecture's deepest net every this many steps (6b).
    pub trace_every_steps: usize,
}

impl Presets for ConvSweepConfig {
    /// The paper's scale on CIFAR-10: its depths (the authors' nets),
    /// full widths, 120 epochs (GPU work).
    fn full() -> Self {
        Self {
            dataset: DatasetKind::Cifar10,
            archs: vec![Arch::Vgg, Arch::Resnet],
            depths: vec![4, 10, 20, 30, 50, 76, 100, 120],
            width_divisor: 1,
            epochs: 120,
            train_samples: None,
            test_samples: None,
            max_steps_per_epoch: None,
            bundle_samples: 2048,
            seed: 0,
            trace_every_steps: 500,
        }
    }

    /// A few minutes on 2 CPU cores: MNIST, widths ÷ 16, short training.
    fn quick() -> Self {
        Self {
            dataset: DatasetKind::Mnist,
            depths: vec![10, 30, 120],
            width_divisor: 16,
            epochs: 1,
            train_samples: Some(19_200),
            test_samples: Some(1_000),
            max_steps_per_epoch: Some(300),
            bundle_samples: 512,
            trace_every_steps: 50,
            ..Self::full()
        }
    }

    /// MNIST at widths ÷ 8, six of the paper's depths from 10 to 120
    /// layers, two epochs (1876 steps of 64) per net (time recorded in
    /// `results/conv_sweep/lesson.json`); two epochs is what the budget
    /// allows at these depths.
    fn lesson() -> Self {
        Self {
            dataset: DatasetKind::Mnist,
            depths: vec![10, 20, 30, 50, 76, 120],
            width_divisor: 8,
            epochs: 2,
            trace_every_steps: 100,
            ..Self::full()
        }
    }
}

impl ConvSweepConfig {
    /// Channels per stage: the paper's divided by `width_divisor`.
    pub fn widths(&self) -> Result<Widths> {
        Widths::divided(self.width_divisor)
    }

    fn validate(&self) -> Result<Vec<ConvSpec>> {
        if self.archs.is_empty() || self.depths.is_empty() {
            bail!("the sweep needs at least one architecture and one depth");
        }
        if self.epochs == 0 {
            bail!("epochs must be at least 1");
        }
        self.widths()?;
        let mut specs = Vec::new();
        for &arch in &self.archs {
            for &depth in &self.depths {
                specs.push(ConvSpec::for_depth(arch, depth)?);
            }
        }
        Ok(specs)
    }
}

/// One net of the sweep (Figures 6a and 6c).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvCell {
    pub arch: Arch,
    pub depth: usize,
    pub blocks: [usize; 4],
    /// Mean over the last 5 epochs (§3.1).
    pub test_accuracy: f64,
    pub train_accuracy: f64,
    /// `H^L` at the end of training.
    pub final_entropy: f64,
    /// `H^L` averaged over the measurements (the paper's H^L).
    pub mean_entropy: f64,
    /// First hidden row (1 = stem, then blocks, a ResNet's branches after
    /// their blocks, then the pooled features; `ConvSpec::rows`) with
    /// `H^l > 0` at the end.
    pub first_conflicting_layer: Option<usize>,
    /// `H^l` of every hidden layer at the end.
    pub entropy: Vec<f64>,
    pub seconds: f64,
}

/// `conv_sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvSweepReport {
    pub config: ConvSweepConfig,
    pub cells: Vec<ConvCell>,
    /// Full training reports of each architecture's deepest net (Figure 6b).
    pub traces: Vec<TrainReport>,
}

impl ConvSweepReport {
    pub fn cell(&self, arch: Arch, depth: usize) -> Option<&ConvCell> {
        self.cells
            .iter()
            .find(|c| c.arch == arch && c.depth == depth)
    }
}

impl ConvSweepReport {
    /// Every net, then what the deepest of each architecture shows.
    pub fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(
            "VGG vs ResNet: test accuracy and bundle entropy per net",
            &[
                "arch",
                "depth",
                "blocks",
                "test acc",
                "H^L (end)",
                "H^L (mean)",
                "first conflicting layer",
            ],
        );
        for c in &self.cells {
            let b = c.blocks;
            t.row(vec![
                c.arch.to_string(),
                c.depth.to_string(),
                format!("{}/{}/{}/{}", b[0], b[1], b[2], b[3]),
                percent(c.test_accuracy),
                format!("{:.3}", c.final_entropy),
                format!("{:.3}", c.mean_entropy),
                layer(c.first_conflicting_layer),
            ]);
        }
        for arch in &self.config.archs {
            if let Some(c) = self
                .cells
                .iter()
                .filter(|c| c.arch == *arch)
                .max_by_key(|c| c.depth)
            {
                t.note(format!(
                    "deepest {arch} ({} layers): H^L {:.2} ({:.0}% of ln 10), test accuracy {} (chance 10%)",
                    c.depth,
                    c.final_entropy,
                    100.0 * c.final_entropy / 10f64.ln(),
                    percent(c.test_accuracy)
                ));
            }
        }
        vec![t]
    }
}

crate::show_tables!(ConvSweepReport);

pub const REPORT: &str = "conv_sweep.json";

/// Runs the sweep; `out_dir` (if any) receives `conv_sweep.json` after each
/// net and lets an interrupted sweep resume.
pub fn run_conv_sweep<D: ConvDevice>(
    dev: &D,
    cfg: &ConvSweepConfig,
    data_dir: &Path,
    out_dir: Option<&Path>,
    progress: ProgressMode,
) -> Result<ConvSweepReport> {
    sweep(dev, cfg, data_dir, out_dir, None, progress)
}

/// Runs shard `shard` of the sweep (its nets, architectures outer and
/// depths inner, see [`super::shard`]) into `out/shard-I-of-N/`, resumable
/// as the whole sweep.
pub fn run_conv_sweep_shard<D: ConvDevice>(
    dev: &D,
    cfg: &ConvSweepConfig,
    data_dir: &Path,
    out: &Path,
    shard: Shard,
    progress: ProgressMode,
) -> Result<ConvSweepReport> {
    sweep(dev, cfg, data_dir, Some(out), Some(shard), progress)
}

fn sweep<D: ConvDevice>(
    dev: &D,
    cfg: &ConvSweepConfig,
    data_dir: &Path,
    out_dir: Option<&Path>,
    shard: Option<Shard>,
    progress: ProgressMode,
) -> Result<ConvSweepReport> {
    let specs = cfg.validate()?;
    let widths = cfg.widths()?;
    // Every net's size before any trains (3 image channels: the most any
    // dataset here has).
    for &spec in &specs {
        ConvNet::<10, D>::check_size(spec, widths, 3)?;
    }
    let mut out = Output::lock(out_dir, shard)?;
    let mut report = out.resume(cfg, units(cfg), || ConvSweepReport {
        config: cfg.clone(),
        cells: vec![],
        traces: vec![],
    })?;
    let (train_set, test_set) =
        load_images(cfg.dataset, data_dir, cfg.train_samples, cfg.test_samples)?;
    let deepest = *cfg.depths.iter().max().expect("validated non-empty");
    let total = specs.len();
    for (i, spec) in specs.into_iter().enumerate() {
        let depth = spec.depth();
        if report.cell(spec.arch, depth).is_some() || !out.owns(i) {
            continue;
        }
        note(progress, &format!("[{}/{total}] {spec}", i + 1));
        let traced = depth == deepest;
        let tc = TrainConfig {
            epochs: cfg.epochs,
            seed: cfg.seed,
            bundle_samples: cfg.bundle_samples,
            max_steps_per_epoch: cfg.max_steps_per_epoch,
            bundle_every_steps: traced.then_some(cfg.trace_every_steps),
            ..Default::default()
        };
        let trainer = Trainer {
            config: tc,
            out_dir: None,
            progress,
            label: label(spec.arch, depth),
        };
        let started = Instant::now();
        let r = train_conv(dev, spec, widths, &train_set, Some(&test_set), &trainer)?;
        let last = r.bundles.last();
        report.cells.push(ConvCell {
            arch: spec.arch,
            depth,
            blocks: spec.blocks,
            test_accuracy: r.test_accuracy().unwrap_or(0.0),
            train_accuracy: r.train_accuracy().unwrap_or(0.0),
            final_entropy: r.final_entropy().unwrap_or(0.0),
            mean_entropy: r.mean_entropy().unwrap_or(0.0),
            first_conflicting_layer: last.and_then(|b| b.first_conflicting_layer()),
            entropy: last.map(|b| b.entropy.clone()).unwrap_or_default(),
            seconds: started.elapsed().as_secs_f64(),
        });
        if traced {
            report.traces.push(r);
        }
        out.save(&report)?;
    }
    Ok(report)
}

/// The sweep's nets in the order it trains them (architectures outer,
/// depths inner), labelled as in a shard file: the units shards share.
pub fn units(cfg: &ConvSweepConfig) -> Vec<String> {
    cfg.archs
        .iter()
        .flat_map(|&a| cfg.depths.iter().map(move |&d| label(a, d)))
        .collect()
}

/// A net's label (`vgg-30`): its trainer's, and its unit's in a shard file.
fn label(arch: Arch, depth: usize) -> String {
    format!("{arch}-{depth}")
}

impl ShardedReport for ConvSweepReport {
    type Config = ConvSweepConfig;
    const SWEEP: &'static str = "conv_sweep";

    fn config(&self) -> &ConvSweepConfig {
        &self.config
    }

    fn units_done(&self) -> Vec<String> {
        self.cells.iter().map(|c| label(c.arch, c.depth)).collect()
    }

    /// The unsharded run's order: architectures in the config's order,
    /// each over its depths; the traces likewise.
    fn assemble(config: ConvSweepConfig, parts: Vec<Self>) -> Self {
        let mut r = Self {
            config,
            cells: vec![],
            traces: vec![],
        };
        for p in parts {
            r.cells.extend(p.cells);
            r.traces.extend(p.traces);
        }
        let order = units(&r.config);
        let at = |l: &str| order.iter().position(|o| o == l);
        r.cells.sort_by_key(|c| at(&label(c.arch, c.depth)));
        r.traces.sort_by_key(|t| at(&t.label));
        r
    }
}
