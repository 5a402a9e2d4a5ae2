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
use super::runner::{self, Sweep, SweepDevice, UnitContext};
use super::settings::RunSettings;
use super::shard::ShardedReport;
use super::Presets;
use crate::data::{Dataset, DatasetKind};
use crate::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
use crate::table::{layer, percent, Table};
use crate::train::{ProgressMode, TrainConfig, TrainReport, Trainer};
use dfdx::tensor::Cpu;

/// What to sweep and how long to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvSweepConfig {
    #[serde(flatten)]
    pub run: RunSettings,
    pub archs: Vec<Arch>,
    /// Layers with weights: 2 + 2 × blocks.
    pub depths: Vec<usize>,
    /// The paper's 64/128/256/512 filters are divided by this (1 = the paper).
    pub width_divisor: usize,
    /// `H^l(t)` of each architecture's deepest net every this many steps (6b).
    pub trace_every_steps: usize,
}

impl Presets for ConvSweepConfig {
    /// The paper's scale on CIFAR-10: its depths (the authors' nets),
    /// full widths, 120 epochs (GPU work).
    fn full() -> Self {
        Self {
            run: RunSettings::paper(DatasetKind::Cifar10, 120),
            archs: vec![Arch::Vgg, Arch::Resnet],
            depths: vec![4, 10, 20, 30, 50, 76, 100, 120],
            width_divisor: 1,
            trace_every_steps: 500,
        }
    }

    /// A few minutes on 2 CPU cores: MNIST, widths ÷ 16, short training.
    fn quick() -> Self {
        Self {
            run: RunSettings {
                train_samples: Some(19_200),
                test_samples: Some(1_000),
                max_steps_per_epoch: Some(300),
                bundle_samples: 512,
                ..RunSettings::paper(DatasetKind::Mnist, 1)
            },
            depths: vec![10, 30, 120],
            width_divisor: 16,
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
            run: RunSettings::paper(DatasetKind::Mnist, 2),
            depths: vec![10, 20, 30, 50, 76, 120],
            width_divisor: 8,
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
        self.run.check()?;
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
/// net and lets an interrupted sweep resume. [`runner::run`] does the same
/// with every option (shards).
pub fn run_conv_sweep<D: SweepDevice>(
    dev: &D,
    cfg: &ConvSweepConfig,
    data_dir: &Path,
    out_dir: Option<&Path>,
    progress: ProgressMode,
) -> Result<ConvSweepReport> {
    runner::run_in(dev, cfg, data_dir, out_dir, progress)
}

/// One net of the sweep, shown as its label (`vgg-30`).
pub struct ConvUnit(pub ConvSpec);

impl std::fmt::Display for ConvUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&label(self.0.arch, self.0.depth()))
    }
}

/// One net's result: its cell, and its training report when it is traced.
pub type ConvOutput = (ConvCell, Option<TrainReport>);

impl Sweep for ConvSweepConfig {
    type Report = ConvSweepReport;
    type Data = (Dataset, Dataset);
    type Unit = ConvUnit;
    type Output = ConvOutput;

    fn config(&self) -> &Self {
        self
    }

    /// One at a time: a conv net's step already keeps every core busy.
    fn concurrent(&self) -> bool {
        false
    }

    fn check(&self) -> Result<()> {
        let specs = self.validate()?;
        // Every net's size before any trains (3 image channels: the most any
        // dataset here has).
        for spec in specs {
            ConvNet::<10, Cpu>::check_size(spec, self.widths()?, 3)?;
        }
        Ok(())
    }

    fn load(&self, data_dir: &Path) -> Result<(Dataset, Dataset)> {
        let r = &self.run;
        load_images(r.dataset, data_dir, r.train_samples, r.test_samples)
    }

    fn plan(&self, _: &(Dataset, Dataset)) -> Vec<ConvUnit> {
        let specs = self.validate().expect("checked before the plan");
        specs.into_iter().map(ConvUnit).collect()
    }

    fn run_unit<D: SweepDevice>(
        &self,
        dev: &D,
        (train_set, test_set): &(Dataset, Dataset),
        &ConvUnit(spec): &ConvUnit,
        ctx: &UnitContext<'_>,
    ) -> Result<ConvOutput> {
        let depth = spec.depth();
        let deepest = *self.depths.iter().max().expect("validated non-empty");
        let traced = depth == deepest;
        let trainer = Trainer {
            config: TrainConfig {
                bundle_every_steps: traced.then_some(self.trace_every_steps),
                ..self.run.train_config()
            },
            out_dir: None,
            progress: ctx.progress,
            label: label(spec.arch, depth),
        };
        let started = Instant::now();
        let r = train_conv(
            dev,
            spec,
            self.widths()?,
            train_set,
            Some(test_set),
            &trainer,
        )?;
        let last = r.bundles.last();
        let cell = ConvCell {
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
        };
        Ok((cell, traced.then_some(r)))
    }

    fn add(report: &mut ConvSweepReport, (cell, trace): ConvOutput) {
        report.cells.push(cell);
        report.traces.extend(trace);
    }
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
