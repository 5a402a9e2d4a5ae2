//! Fix, don't remove (the paper's §4 question, answered by the authors'
//! follow-up, Peer et al., TMLR 2022, arXiv 2208.01134): plain nets that
//! the conflicting-bundle experiments leave at chance, trained with and
//! without the layerwise batch-entropy regulariser ([`crate::train::lbe`]),
//! each measured during training by both the bundle entropy `H^l` and the
//! batch entropy of every layer.
//!
//! The nets: the 150-layer FC nets of widths 10 and 25 (Figure 4), VGG-120
//! at widths ÷ 8 (Figure 6), and at the full preset the follow-up's
//! 500-layer, 1000-wide vanilla FNN. Each is trained twice from the same
//! initialisation, the regularised run with the follow-up's settings (FC
//! nets: β 0.1, α 2.0, α_min 0.2, their deep FNN; conv nets: β 0.1 with
//! the target fixed at 2.0, their deep CNN).
//!
//! Where we differ: the optimizer is the trainer's Ranger with the
//! conflicting-bundles paper's recipe at the lesson preset (theirs: Adam,
//! lr 1e-5 or 1e-6, batch 128, up to 1000 epochs, which the full preset
//! takes over); the term covers every hidden layer (see `train::lbe`).

use std::fmt;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::conv_nets::{train_conv, NetData};
use super::fc_sweep::train_net;
use super::runner::{Sweep, SweepDevice, UnitContext};
use super::settings::RunSettings;
use super::shard::ShardedReport;
use super::Presets;
use crate::data::DatasetKind;
use crate::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
use crate::models::MnistFnn;
use crate::table::{layer, percent, Table};
use crate::train::{LbeConfig, ProgressMode, TrainConfig, TrainReport, Trainer};

/// A plain net of the study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PlainNet {
    /// An MNIST FNN of `depth` hidden ReLU layers of `width` neurons.
    Fc { width: usize, depth: usize },
    /// A VGG of `depth` layers with weights (at the study's widths).
    Vgg { depth: usize },
}

impl fmt::Display for PlainNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fc { width, depth } => write!(f, "fc-{depth}x{width}"),
            Self::Vgg { depth } => write!(f, "vgg-{depth}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LbeStudyConfig {
    /// How every net is trained (one dataset for all: the FC nets read its
    /// rows, the VGGs its images padded to 32×32).
    #[serde(flatten)]
    pub run: RunSettings,
    /// Each trained without and with the regulariser, in this order.
    pub nets: Vec<PlainNet>,
    /// The VGGs' filters: the paper's 64/128/256/512 divided by this.
    pub width_divisor: usize,
    /// The regulariser of the FC nets (the follow-up's deep FNN).
    pub lbe_fc: LbeConfig,
    /// The regulariser of the VGGs (the follow-up's deep CNN).
    pub lbe_conv: LbeConfig,
    /// Both entropies of every layer every this many steps (and each epoch's end).
    pub trace_every_steps: usize,
}

impl Presets for LbeStudyConfig {
    /// The follow-up's scale and recipe: batch 128, lr 1e-6 without weight
    /// decay (their deep FNN's sweep; Ranger here, Adam there), 1000
    /// epochs, the 500-layer FNN of width 1000 besides the paper's nets at
    /// full width (GPU weeks).
    fn full() -> Self {
        Self {
            run: RunSettings {
                batch_size: 128,
                learning_rate: 1e-6,
                weight_decay: 0.0,
                ..RunSettings::paper(DatasetKind::Mnist, 1000)
            },
            nets: [
                paper_nets().as_slice(),
                &[PlainNet::Fc {
                    width: 1000,
                    depth: 500,
                }],
            ]
            .concat(),
            width_divisor: 1,
            lbe_fc: LbeConfig::deep_fnn(),
            lbe_conv: LbeConfig::deep_cnn(),
            trace_every_steps: 500,
        }
    }

    /// Seconds on 2 cores for CI: a 20-layer FC net and VGG-10 ÷ 16, 60
    /// steps each; the numbers mean little.
    fn quick() -> Self {
        Self {
            run: RunSettings {
                train_samples: Some(3_840),
                test_samples: Some(500),
                max_steps_per_epoch: Some(60),
                bundle_samples: 256,
                ..RunSettings::paper(DatasetKind::Mnist, 1)
            },
            nets: vec![
                PlainNet::Fc {
                    width: 10,
                    depth: 20,
                },
                PlainNet::Vgg { depth: 10 },
            ],
            width_divisor: 16,
            trace_every_steps: 20,
            ..Self::lesson()
        }
    }

    /// The conflicting-bundles lesson nets that end at chance or near it:
    /// FC-150 of widths 10 and 25 and VGG-120 ÷ 8, MNIST, the paper's
    /// recipe, 2 epochs (the conv sweep's lesson: its VGG-120 without the
    /// term is the very net `results/conv_sweep/lesson.json` trained).
    fn lesson() -> Self {
        Self {
            run: RunSettings::paper(DatasetKind::Mnist, 2),
            nets: paper_nets().to_vec(),
            width_divisor: 8,
            trace_every_steps: 100,
            ..Self::full()
        }
    }
}

/// The conflicting-bundles paper's nets at chance: FC-150 of widths 10 and
/// 25 (Figure 4) and VGG-120 (Figure 6).
fn paper_nets() -> [PlainNet; 3] {
    [
        PlainNet::Fc {
            width: 10,
            depth: 150,
        },
        PlainNet::Fc {
            width: 25,
            depth: 150,
        },
        PlainNet::Vgg { depth: 120 },
    ]
}

impl LbeStudyConfig {
    fn widths(&self) -> Result<Widths> {
        Widths::divided(self.width_divisor)
    }

    fn has_vgg(&self) -> bool {
        self.nets.iter().any(|n| matches!(n, PlainNet::Vgg { .. }))
    }

    fn has_fc(&self) -> bool {
        self.nets.iter().any(|n| matches!(n, PlainNet::Fc { .. }))
    }

    /// The regulariser a net is trained with when it is on.
    pub fn lbe_for(&self, net: PlainNet) -> LbeConfig {
        match net {
            PlainNet::Fc { .. } => self.lbe_fc,
            PlainNet::Vgg { .. } => self.lbe_conv,
        }
    }
}

/// One training run of the study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LbeRun {
    pub net: PlainNet,
    pub regularised: bool,
    /// Mean over the last 5 epochs (§3.1).
    pub test_accuracy: f64,
    pub train_accuracy: f64,
    /// `H^L` at the end.
    pub final_entropy: f64,
    /// Hidden layers with `H^l > 0` at the end, of `num_hidden`.
    pub conflicting_layers: usize,
    pub first_conflicting_layer: Option<usize>,
    pub num_hidden: usize,
    /// Batch entropy of every hidden layer at the end.
    pub batch_entropy: Vec<f64>,
    pub seconds: f64,
    /// Both entropies of every layer over training, the losses per epoch
    /// (and the regulariser's term and targets).
    pub trace: TrainReport,
}

impl LbeRun {
    /// The unit's label (`fc-150x10+lbe`).
    pub fn label(&self) -> String {
        LbeUnit {
            net: self.net,
            regularised: self.regularised,
        }
        .to_string()
    }

    /// Hidden layers whose batch entropy is 0 at the end: every sample of
    /// the batch has the same output there.
    pub fn collapsed_layers(&self) -> usize {
        self.batch_entropy.iter().filter(|&&h| h == 0.0).count()
    }

    /// `H^l` averaged over the hidden layers at the end: how much of the
    /// samples' separation the conflicts cost, layer for layer (0: none).
    pub fn mean_layer_entropy(&self) -> f64 {
        let h = self
            .trace
            .bundles
            .last()
            .map_or(&[][..], |b| &b.entropy[..]);
        h.iter().sum::<f64>() / h.len().max(1) as f64
    }

    pub fn mean_batch_entropy(&self) -> f64 {
        let n = self.batch_entropy.len().max(1);
        self.batch_entropy.iter().sum::<f64>() / n as f64
    }
}

/// `lbe.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LbeStudyReport {
    pub config: LbeStudyConfig,
    pub runs: Vec<LbeRun>,
}

impl LbeStudyReport {
    pub fn run(&self, net: PlainNet, regularised: bool) -> Option<&LbeRun> {
        (self.runs.iter()).find(|r| r.net == net && r.regularised == regularised)
    }

    /// Every run's training report, labelled by unit (the heat maps' input).
    pub fn traces(&self) -> Vec<TrainReport> {
        self.runs.iter().map(|r| r.trace.clone()).collect()
    }

    pub fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(
            "Plain nets without and with the batch-entropy regulariser",
            &[
                "net",
                "regulariser",
                "test acc",
                "train acc",
                "H^L",
                "conflicting layers",
                "first conflicting",
                "H^l (mean)",
                "batch entropy (mean)",
                "collapsed layers",
            ],
        );
        for r in &self.runs {
            t.row(vec![
                r.net.to_string(),
                if r.regularised { "on" } else { "off" }.into(),
                percent(r.test_accuracy),
                percent(r.train_accuracy),
                format!("{:.3}", r.final_entropy),
                format!("{} of {}", r.conflicting_layers, r.num_hidden),
                layer(r.first_conflicting_layer),
                format!("{:.3}", r.mean_layer_entropy()),
                format!("{:.3}", r.mean_batch_entropy()),
                r.collapsed_layers().to_string(),
            ]);
        }
        for &net in &self.config.nets {
            if let (Some(off), Some(on)) = (self.run(net, false), self.run(net, true)) {
                t.note(reading(net, off, on));
            }
        }
        t.note("collapsed: batch entropy 0 on a training batch (every sample the same output); conflicting: H^l > 0 on the measured subset; H^l (mean): over the hidden layers");
        vec![t]
    }
}

/// What the pair of runs of one net shows, in a line.
fn reading(net: PlainNet, off: &LbeRun, on: &LbeRun) -> String {
    let fixed = if off.conflicting_layers == 0 && on.conflicting_layers == 0 {
        "no conflicting layer either way".to_string()
    } else if on.conflicting_layers == 0 {
        "no conflicting layer left".to_string()
    } else if on.conflicting_layers < off.conflicting_layers {
        format!(
            "fewer conflicting layers ({} → {})",
            off.conflicting_layers, on.conflicting_layers
        )
    } else {
        format!(
            "conflicting layers not removed ({} → {})",
            off.conflicting_layers, on.conflicting_layers
        )
    };
    format!(
        "{net}: test accuracy {} → {} with the regulariser, H^L {:.3} → {:.3}, H^l over the layers {:.3} → {:.3}, {fixed}",
        percent(off.test_accuracy),
        percent(on.test_accuracy),
        off.final_entropy,
        on.final_entropy,
        off.mean_layer_entropy(),
        on.mean_layer_entropy()
    )
}

crate::show_tables!(LbeStudyReport);

pub const REPORT: &str = "lbe.json";

/// One run: a net, with or without the term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LbeUnit {
    pub net: PlainNet,
    pub regularised: bool,
}

impl fmt::Display for LbeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}",
            self.net,
            if self.regularised { "+lbe" } else { "" }
        )
    }
}

impl Sweep for LbeStudyConfig {
    type Report = LbeStudyReport;
    type Data = NetData;
    type Unit = LbeUnit;
    type Output = LbeRun;

    fn config(&self) -> &Self {
        self
    }

    /// FC nets side by side; a VGG's step keeps every core busy alone.
    fn concurrent(&self) -> bool {
        !self.has_vgg()
    }

    fn check(&self) -> Result<()> {
        self.run.check()?;
        if self.nets.is_empty() {
            bail!("nets: the study needs at least one net");
        }
        anyhow::ensure!(
            self.run.batch_size >= 2,
            "batch_size must be at least 2: the batch entropy is a spread over the batch"
        );
        anyhow::ensure!(
            self.trace_every_steps >= 1,
            "trace_every_steps must be at least 1"
        );
        self.lbe_fc.check("lbe_fc")?;
        self.lbe_conv.check("lbe_conv")?;
        for net in &self.nets {
            match *net {
                PlainNet::Fc { width, depth } => {
                    anyhow::ensure!(
                        width >= 1 && depth >= 1,
                        "nets: {net} needs width and depth of at least 1"
                    );
                    MnistFnn::<dfdx::tensor::Cpu>::check_size(width, depth)?;
                }
                PlainNet::Vgg { depth } => {
                    let spec = ConvSpec::for_depth(Arch::Vgg, depth)?;
                    ConvNet::<10, dfdx::tensor::Cpu>::check_size(spec, self.widths()?, 3)?;
                }
            }
        }
        if self.has_fc()
            && !matches!(
                self.run.dataset,
                DatasetKind::Mnist | DatasetKind::FashionMnist
            )
        {
            bail!(
                "the FC nets take 28×28 rows: use dataset mnist or fashion_mnist, or only VGG nets"
            );
        }
        Ok(())
    }

    /// Rows for the FC nets, padded images for the VGGs (each only where
    /// the study has such nets).
    fn load(&self, data_dir: &Path) -> Result<NetData> {
        NetData::load(&self.run, self.has_fc(), self.has_vgg(), data_dir)
    }

    fn plan(&self, _: &NetData) -> Vec<LbeUnit> {
        units(self)
    }

    fn run_unit<D: SweepDevice>(
        &self,
        dev: &D,
        data: &NetData,
        unit: &LbeUnit,
        ctx: &UnitContext<'_>,
    ) -> Result<LbeRun> {
        let trainer = Trainer {
            config: TrainConfig {
                bundle_every_steps: Some(self.trace_every_steps),
                lbe: unit.regularised.then(|| self.lbe_for(unit.net)),
                ..self.run.train_config()
            },
            out_dir: None,
            progress: ctx.progress,
            label: unit.to_string(),
        };
        let started = Instant::now();
        let trace = match unit.net {
            PlainNet::Fc { width, depth } => {
                let (train, test) = data.rows.as_ref().expect("loaded for FC nets");
                train_net(dev, width, depth, train, Some(test), &trainer)?
            }
            PlainNet::Vgg { depth } => {
                let (train, test) = data.images.as_ref().expect("loaded for VGGs");
                let spec = ConvSpec::for_depth(Arch::Vgg, depth)?;
                train_conv(dev, spec, self.widths()?, train, Some(test), &trainer)?
            }
        };
        let last = trace.bundles.last();
        Ok(LbeRun {
            net: unit.net,
            regularised: unit.regularised,
            test_accuracy: trace.test_accuracy().unwrap_or(0.0),
            train_accuracy: trace.train_accuracy().unwrap_or(0.0),
            final_entropy: trace.final_entropy().unwrap_or(0.0),
            conflicting_layers: last.map_or(0, |b| b.entropy.iter().filter(|&&h| h > 0.0).count()),
            first_conflicting_layer: last.and_then(|b| b.first_conflicting_layer()),
            num_hidden: trace.num_hidden,
            batch_entropy: last.map(|b| b.batch_entropy.clone()).unwrap_or_default(),
            seconds: started.elapsed().as_secs_f64(),
            trace,
        })
    }

    fn add(report: &mut LbeStudyReport, run: LbeRun) {
        report.runs.push(run);
    }
}

/// The runs in the order an unsharded study trains them: each net without,
/// then with, the regulariser.
pub fn units(cfg: &LbeStudyConfig) -> Vec<LbeUnit> {
    (cfg.nets.iter())
        .flat_map(|&net| [false, true].map(|regularised| LbeUnit { net, regularised }))
        .collect()
}

impl ShardedReport for LbeStudyReport {
    type Config = LbeStudyConfig;
    const SWEEP: &'static str = "lbe";

    fn config(&self) -> &LbeStudyConfig {
        &self.config
    }

    fn units_done(&self) -> Vec<String> {
        self.runs.iter().map(LbeRun::label).collect()
    }

    fn assemble(config: LbeStudyConfig, parts: Vec<Self>) -> Self {
        let order: Vec<String> = units(&config).iter().map(|u| u.to_string()).collect();
        let mut runs: Vec<LbeRun> = parts.into_iter().flat_map(|p| p.runs).collect();
        runs.sort_by_key(|r| order.iter().position(|o| *o == r.label()));
        Self { config, runs }
    }
}

/// Runs the study (into `out_dir` if given, resuming what it holds).
pub fn run_lbe<D: SweepDevice>(
    dev: &D,
    cfg: &LbeStudyConfig,
    data_dir: &Path,
    out_dir: Option<&Path>,
    progress: ProgressMode,
) -> Result<LbeStudyReport> {
    super::runner::run_in(dev, cfg, data_dir, out_dir, progress)
}
