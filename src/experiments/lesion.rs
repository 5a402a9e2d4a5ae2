//! The lesion study: which blocks of a trained ResNet can go. §3.5 argues
//! that a conflicting layer bypassed by a residual connection is close to a
//! linear map, so removing it after training should cost little; the
//! follow-up work (Peer et al., arXiv 2103.04331) tests this by dropping
//! blocks of a trained ResNet.
//!
//! As the authors' `lesion.py` (commit ba6985f, which still runs the
//! single-drop curve that HEAD comments out): train the 120-layer ResNet
//! (59 blocks), measure every block at the last checkpoint on a subset of
//! the training set, call a block conflicting when its branch has `H > 0`
//! (their `conflicts[2 i]`, the branch being the first row a block records
//! in that commit), then without retraining measure the test accuracy
//! - with each single block dropped,
//! - for each count k, with k blocks drawn at random among the conflicting
//!   ones, among the non-conflicting ones, and among all (`draws` draws per
//!   k; mean and population std, as their `np.std`).
//!
//! A dropped block outputs `ReLU(shortcut(x))` ([`ConvNet::set_lesion`]), as
//! theirs (`use_residual=False`): blocks with a projection shortcut are
//! dropped too, their 1×1 convolution kept.
//!
//! Where we differ, and why:
//! - The branch is measured after its ReLU (as every other experiment here
//!   measures it, and their commit 37ea297); ba6985f records it before the
//!   ReLU, scaled by the inverse std of both convolutions' outputs.
//! - `conflict_row` can classify by the block output instead (37ea297's
//!   `conflicts[2 i]` is the output, since it records the output first).
//! - k runs up to the whole pool (theirs stops one short, `range(1, n)`);
//!   the arbitrary draws take from every block (theirs from blocks 0..57 of
//!   59); a draw of the whole pool is evaluated once, as every draw of it is
//!   the same.
//! - `counts` can evaluate fewer k than every one, spread evenly, so that
//!   the lesson fits its time; draws are seeded (theirs: unseeded).

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};
use rand::{seq::SliceRandom, SeedableRng};
use serde::{Deserialize, Serialize};

use super::autotune::MeanStd;
use super::conv_nets::{conv_net, load_images};
use super::runner::{Sweep, SweepDevice, UnitContext};
use super::settings::RunSettings;
use super::shard::ShardedReport;
use super::{note, Presets};
use crate::data::{Dataset, DatasetKind};
use crate::layers::ConvDevice;
use crate::models::convnet::{Arch, ConvNet, ConvSpec, Row, Widths};
use crate::table::{percent, Table};
use crate::train::trainer::evaluate;
use crate::train::{BundlePoint, ProgressMode, TrainConfig, Trainer};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LesionConfig {
    /// How the ResNet is trained, and `bundle_samples`: the training samples
    /// the blocks are measured on; `test_samples`: the test set the
    /// accuracies are taken on (`None`: all of it).
    #[serde(flatten)]
    pub run: RunSettings,
    /// Depth of the ResNet (the authors: 120, 59 blocks).
    pub depth: usize,
    pub width_divisor: usize,
    /// Random draws per count k (the authors: 15).
    pub draws: usize,
    /// Counts k per curve: `None` every k from 1 to the pool's size (the
    /// authors); `Some(n)`: n of them spread evenly over that range, the
    /// first and the last included.
    pub counts: Option<usize>,
    /// Which measurement makes a block conflicting.
    pub conflict_row: ConflictRow,
}

/// The row whose `H > 0` makes a block conflicting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRow {
    /// The residual branch (the authors' ba6985f; §3.5's bypassed layer).
    Branch,
    /// The block's output (their 37ea297).
    Output,
}

impl Presets for LesionConfig {
    /// The authors' `lesion.py`: ResNet-120 trained 120 epochs on CIFAR-10,
    /// measured on 64 training samples (their `conflicting_samples_size`
    /// default), 15 draws per k, every k, the whole test set (GPU work).
    fn full() -> Self {
        Self {
            run: RunSettings {
                bundle_samples: 64,
                ..RunSettings::paper(DatasetKind::Cifar10, 120)
            },
            depth: 120,
            width_divisor: 1,
            draws: 15,
            counts: None,
            conflict_row: ConflictRow::Branch,
        }
    }

    /// Seconds on 2 cores for CI: a ResNet-20 at widths ÷ 16 trained 100
    /// steps with the lesson's recipe; the curves mean little.
    fn quick() -> Self {
        let lesson = Self::lesson();
        Self {
            run: RunSettings {
                epochs: 1,
                max_steps_per_epoch: Some(100),
                train_samples: Some(6_400),
                test_samples: Some(1_000),
                bundle_samples: 512,
                ..lesson.run
            },
            depth: 20,
            draws: 2,
            counts: Some(3),
            ..lesson
        }
    }

    /// The 120-layer ResNet on MNIST at widths ÷ 16, trained 4 epochs with
    /// 5x the authors' step size and 100x their weight decay, then 5 draws
    /// at 10 counts per curve on 5,000 test images: about 8 minutes on 2
    /// cores. With the authors' recipe no lesson-scale ResNet-120 tried has
    /// a conflicting block (`docs/results.md`, "Lesson lesion study");
    /// the strong decay silences whole branches within 4 epochs.
    fn lesson() -> Self {
        Self {
            run: RunSettings {
                test_samples: Some(5_000),
                bundle_samples: 2048,
                learning_rate: 5e-3,
                weight_decay: 1.0,
                ..RunSettings::paper(DatasetKind::Mnist, 4)
            },
            depth: 120,
            width_divisor: 16,
            draws: 5,
            counts: Some(10),
            ..Self::full()
        }
    }
}

/// One block of the trained net, as measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// 1-based over all stages.
    pub block: usize,
    /// `s3.b7`: stage and block within it.
    pub name: String,
    /// Its shortcut is a 1×1 projection (the first block of a stage that
    /// changes the shape), else the identity.
    pub projection: bool,
    pub output_entropy: f64,
    pub branch_entropy: f64,
    pub branch_bundles: usize,
    /// By `conflict_row`.
    pub conflicting: bool,
}

/// The trained net the study removes blocks from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LesionNet {
    pub spec: ConvSpec,
    pub train_accuracy: f64,
    /// Intact, on the study's test samples.
    pub test_accuracy: f64,
    pub blocks: Vec<BlockInfo>,
}

impl LesionNet {
    /// The blocks of one kind, in order.
    pub fn pool(&self, kind: DrawKind) -> Vec<usize> {
        (self.blocks.iter())
            .filter(|b| match kind {
                DrawKind::Conflicting => b.conflicting,
                DrawKind::NonConflicting => !b.conflicting,
                DrawKind::Arbitrary => true,
            })
            .map(|b| b.block)
            .collect()
    }

    /// The largest k of a kind's curve: its pool, or for arbitrary draws
    /// the larger of the other two pools (as theirs).
    pub fn max_count(&self, kind: DrawKind) -> usize {
        match kind {
            DrawKind::Arbitrary => {
                let c = self.pool(DrawKind::Conflicting).len();
                c.max(self.blocks.len() - c)
            }
            _ => self.pool(kind).len(),
        }
    }

    pub fn conflicting(&self) -> usize {
        self.blocks.iter().filter(|b| b.conflicting).count()
    }
}

/// Which blocks a curve draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrawKind {
    Conflicting,
    NonConflicting,
    Arbitrary,
}

impl DrawKind {
    pub const ALL: [DrawKind; 3] = [Self::Conflicting, Self::NonConflicting, Self::Arbitrary];

    /// Keeps each kind's draws apart from the others'.
    fn salt(self) -> u64 {
        match self {
            Self::Conflicting => 0xC0F1,
            Self::NonConflicting => 0x90C0,
            Self::Arbitrary => 0xA4B1,
        }
    }
}

impl fmt::Display for DrawKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Conflicting => "conflicting",
            Self::NonConflicting => "non-conflicting",
            Self::Arbitrary => "arbitrary",
        })
    }
}

/// Test accuracy with one block dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SingleDrop {
    pub block: usize,
    pub accuracy: f64,
}

/// One draw: the blocks dropped together, and the test accuracy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Draw {
    pub blocks: Vec<usize>,
    pub accuracy: f64,
}

/// The draws of one count k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CountPoint {
    pub k: usize,
    pub mean: f64,
    /// Population std (`np.std`), as theirs.
    pub std: f64,
    pub draws: Vec<Draw>,
}

/// Accuracy against the number of blocks dropped, for one kind of draw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrawCurve {
    pub kind: DrawKind,
    pub points: Vec<CountPoint>,
}

/// `lesion.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LesionReport {
    pub config: LesionConfig,
    pub net: Option<LesionNet>,
    /// One per block, in block order (empty until that unit ran).
    pub single: Vec<SingleDrop>,
    /// In [`DrawKind::ALL`]'s order.
    pub curves: Vec<DrawCurve>,
}

impl LesionReport {
    pub fn curve(&self, kind: DrawKind) -> Option<&DrawCurve> {
        self.curves.iter().find(|c| c.kind == kind)
    }
}

pub const REPORT: &str = "lesion.json";

/// A unit of the study.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LesionUnit {
    Single,
    Draws(DrawKind),
}

impl fmt::Display for LesionUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single => f.write_str("single drops"),
            Self::Draws(kind) => write!(f, "{kind} draws"),
        }
    }
}

/// What a unit adds: the net as measured (the same for every unit), and its
/// part of the study.
pub struct LesionOutput {
    pub net: LesionNet,
    pub part: LesionPart,
}

pub enum LesionPart {
    Single(Vec<SingleDrop>),
    Curve(DrawCurve),
}

impl LesionConfig {
    fn spec(&self) -> Result<ConvSpec> {
        ConvSpec::for_depth(Arch::Resnet, self.depth)
    }

    /// The counts k evaluated for a pool of `n` blocks.
    pub fn counts_for(&self, n: usize) -> Vec<usize> {
        match self.counts {
            Some(m) if m < n => {
                let mut ks: Vec<usize> = (0..m)
                    .map(|i| 1 + ((i * (n - 1)) as f64 / (m - 1) as f64).round() as usize)
                    .collect();
                ks.dedup();
                ks
            }
            _ => (1..=n).collect(),
        }
    }
}

impl Sweep for LesionConfig {
    type Report = LesionReport;
    type Data = (Dataset, Dataset);
    type Unit = LesionUnit;
    type Output = LesionOutput;

    fn config(&self) -> &Self {
        self
    }

    /// One at a time: a conv net's forward pass already keeps every core busy.
    fn concurrent(&self) -> bool {
        false
    }

    /// The trained net's checkpoint, which every unit loads.
    fn needs_out(&self) -> bool {
        true
    }

    fn check(&self) -> Result<()> {
        self.run.check()?;
        let widths = Widths::divided(self.width_divisor)?;
        ConvNet::<10, dfdx::tensor::Cpu>::check_size(self.spec()?, widths, 3)?;
        anyhow::ensure!(self.draws >= 1, "draws must be at least 1, not 0");
        if let Some(m) = self.counts {
            anyhow::ensure!(
                m >= 2,
                "counts must be at least 2 (the first and the last k) or null for every k, not {m}"
            );
        }
        Ok(())
    }

    fn load(&self, data_dir: &Path) -> Result<(Dataset, Dataset)> {
        let r = &self.run;
        load_images(r.dataset, data_dir, r.train_samples, r.test_samples)
    }

    fn plan(&self, _: &(Dataset, Dataset)) -> Vec<LesionUnit> {
        std::iter::once(LesionUnit::Single)
            .chain(DrawKind::ALL.map(LesionUnit::Draws))
            .collect()
    }

    /// Trains the net (or loads it: every unit after the first finds its
    /// checkpoint), then drops blocks.
    fn run_unit<D: SweepDevice>(
        &self,
        dev: &D,
        (train, test): &(Dataset, Dataset),
        unit: &LesionUnit,
        ctx: &UnitContext<'_>,
    ) -> Result<LesionOutput> {
        let dir = ctx.out.expect("needs_out").join("net");
        let spec = self.spec()?;
        let mut model = conv_net(
            dev,
            spec,
            Widths::divided(self.width_divisor)?,
            train,
            self.run.seed,
        )?;
        let trainer = Trainer {
            config: TrainConfig {
                measure_at_start: false,
                ..self.run.train_config()
            },
            out_dir: Some(dir),
            progress: ctx.progress,
            label: spec.to_string(),
        };
        let r = trainer.fit(dev, &mut model, train, Some(test))?;
        let last = r
            .bundles
            .last()
            .context("measured at the last epoch's end")?;
        let projections = model.projection_blocks();
        let last_epoch = r.epochs.last().context("trained at least one epoch")?;
        let net = LesionNet {
            spec,
            train_accuracy: last_epoch.train_accuracy,
            // The trainer's evaluation of these weights on `test`.
            test_accuracy: last_epoch
                .test_accuracy
                .context("evaluated on the test set")?,
            blocks: measured_blocks(spec, last, self.conflict_row, &projections),
        };
        note(ctx.progress, &format!("{unit} of {spec}"));
        let part = study(dev, &mut model, test, self, &net, *unit)?;
        Ok(LesionOutput { net, part })
    }

    fn add(report: &mut LesionReport, output: LesionOutput) {
        report.net.get_or_insert(output.net);
        match output.part {
            LesionPart::Single(s) => report.single = s,
            LesionPart::Curve(c) => report.curves.push(c),
        }
    }
}

/// Each block of `spec` as the measurement `point` (a [`BundlePoint`] of
/// all of `spec`'s rows) saw it; `projections`: the blocks with a
/// projection shortcut.
pub fn measured_blocks(
    spec: ConvSpec,
    point: &BundlePoint,
    by: ConflictRow,
    projections: &[usize],
) -> Vec<BlockInfo> {
    let rows = spec.rows();
    let at = |row: Row| rows.iter().position(|r| *r == row).expect("a row of spec");
    let mut blocks = Vec::new();
    for (stage, &n) in spec.blocks.iter().enumerate() {
        for index in 0..n {
            let out = at(Row::Block { stage, index });
            let branch = at(Row::Branch { stage, index });
            let h = match by {
                ConflictRow::Branch => point.entropy[branch],
                ConflictRow::Output => point.entropy[out],
            };
            blocks.push(BlockInfo {
                block: blocks.len() + 1,
                name: Row::Block { stage, index }.to_string(),
                projection: projections.contains(&(blocks.len() + 1)),
                output_entropy: point.entropy[out],
                branch_entropy: point.entropy[branch],
                branch_bundles: point.num_bundles[branch],
                conflicting: h > 0.0,
            });
        }
    }
    blocks
}

/// One unit of the study on `model` (trained, as `net` describes it):
/// test accuracies on `test` with blocks dropped, `model` left intact.
pub fn study<D: ConvDevice>(
    dev: &D,
    model: &mut ConvNet<10, D>,
    test: &Dataset,
    cfg: &LesionConfig,
    net: &LesionNet,
    unit: LesionUnit,
) -> Result<LesionPart> {
    let mut accuracy = |blocks: &[usize]| -> Result<f64> {
        model.set_lesion(blocks)?;
        let (_, accuracy) = evaluate(dev, &*model, test);
        model.set_lesion(&[])?;
        Ok(accuracy)
    };
    Ok(match unit {
        LesionUnit::Single => LesionPart::Single(
            (net.blocks.iter())
                .map(|b| {
                    Ok(SingleDrop {
                        block: b.block,
                        accuracy: accuracy(&[b.block])?,
                    })
                })
                .collect::<Result<_>>()?,
        ),
        LesionUnit::Draws(kind) => LesionPart::Curve(curve(cfg, net, kind, accuracy)?),
    })
}

/// The draws of `kind` for every count k, each measured by `accuracy`.
fn curve(
    cfg: &LesionConfig,
    net: &LesionNet,
    kind: DrawKind,
    mut accuracy: impl FnMut(&[usize]) -> Result<f64>,
) -> Result<DrawCurve> {
    let mut pool = net.pool(kind);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(cfg.run.seed ^ kind.salt());
    let mut points = Vec::new();
    for k in cfg.counts_for(net.max_count(kind)) {
        let distinct = if k == pool.len() { 1 } else { cfg.draws };
        let mut draws = Vec::with_capacity(distinct);
        for _ in 0..distinct {
            pool.shuffle(&mut rng);
            let mut blocks = pool[..k].to_vec();
            blocks.sort_unstable();
            let accuracy = accuracy(&blocks)?;
            draws.push(Draw { blocks, accuracy });
        }
        let accuracies: Vec<f64> = draws.iter().map(|d| d.accuracy).collect();
        let MeanStd { mean, std } = MeanStd::population(&accuracies);
        points.push(CountPoint {
            k,
            mean,
            std,
            draws,
        });
    }
    Ok(DrawCurve { kind, points })
}

impl ShardedReport for LesionReport {
    type Config = LesionConfig;
    const SWEEP: &'static str = "lesion";

    fn config(&self) -> &LesionConfig {
        &self.config
    }

    fn units_done(&self) -> Vec<String> {
        let single = (!self.single.is_empty()).then_some(LesionUnit::Single);
        (single.into_iter())
            .chain(self.curves.iter().map(|c| LesionUnit::Draws(c.kind)))
            .map(|u| u.to_string())
            .collect()
    }

    /// The net from any part (every unit measured the same); the curves in
    /// [`DrawKind::ALL`]'s order.
    fn assemble(config: LesionConfig, parts: Vec<Self>) -> Self {
        let mut r = Self {
            config,
            net: None,
            single: vec![],
            curves: vec![],
        };
        for p in parts {
            r.net = r.net.or(p.net);
            if r.single.is_empty() {
                r.single = p.single;
            }
            r.curves.extend(p.curves);
        }
        r.curves
            .sort_by_key(|c| DrawKind::ALL.iter().position(|k| *k == c.kind));
        r
    }
}

impl LesionReport {
    /// The blocks as measured, with the accuracy without each; then the
    /// curves.
    pub fn tables(&self) -> Vec<Table> {
        let Some(net) = &self.net else {
            return vec![];
        };
        let mut blocks = Table::new(
            format!("Lesion study of a trained {}: its blocks", net.spec),
            &[
                "block",
                "stage.block",
                "shortcut",
                "output H",
                "branch H",
                "branch bundles",
                "conflicting",
                "test acc without it",
            ],
        );
        for b in &net.blocks {
            let single = self.single.iter().find(|s| s.block == b.block);
            blocks.row(vec![
                b.block.to_string(),
                b.name.clone(),
                if b.projection {
                    "projection"
                } else {
                    "identity"
                }
                .into(),
                format!("{:.3}", b.output_entropy),
                format!("{:.3}", b.branch_entropy),
                b.branch_bundles.to_string(),
                if b.conflicting { "yes" } else { "no" }.into(),
                single.map_or("-".into(), |s| percent(s.accuracy)),
            ]);
        }
        blocks.note(format!(
            "{} of {} blocks conflicting (by their {}); intact test accuracy {} on {} test samples",
            net.conflicting(),
            net.blocks.len(),
            match self.config.conflict_row {
                ConflictRow::Branch => "branch",
                ConflictRow::Output => "output",
            },
            percent(net.test_accuracy),
            self.config
                .run
                .test_samples
                .map_or("all".to_string(), |n| n.to_string()),
        ));
        let mut curves = Table::new(
            format!(
                "Test accuracy with k blocks dropped (mean ± std over {} draws)",
                self.config.draws
            ),
            &["k", "conflicting", "non-conflicting", "arbitrary"],
        );
        let mut ks: Vec<usize> = (self.curves.iter())
            .flat_map(|c| c.points.iter().map(|p| p.k))
            .collect();
        ks.sort_unstable();
        ks.dedup();
        for k in ks {
            let mut row = vec![k.to_string()];
            for kind in DrawKind::ALL {
                let p = (self.curve(kind)).and_then(|c| c.points.iter().find(|p| p.k == k));
                row.push(p.map_or("-".into(), |p| {
                    format!("{:.2} ± {:.2}", 100.0 * p.mean, 100.0 * p.std)
                }));
            }
            curves.row(row);
        }
        if net.conflicting() == 0 {
            curves.note("no conflicting block: nothing to draw from for that curve");
        }
        vec![blocks, curves]
    }
}

crate::show_tables!(LesionReport);

/// Runs the whole study into `out_dir` (resuming what it holds).
pub fn run_lesion<D: SweepDevice>(
    dev: &D,
    cfg: &LesionConfig,
    data_dir: &Path,
    out_dir: &Path,
    progress: ProgressMode,
) -> Result<LesionReport> {
    super::runner::run_in(dev, cfg, data_dir, Some(out_dir), progress)
}
