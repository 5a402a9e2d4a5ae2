//! Which layers each criterion would remove (issue 31 (c)): on trained nets,
//! every removable layer (an FC net's hidden layer, a VGG or ResNet block)
//! is scored by four criteria on the same samples, each criterion names the
//! k layers it would remove, and the test accuracy with those layers
//! removed (no retraining, as in the lesion study, [`super::lesion`]) is set
//! next to the auto-tune cut's.
//!
//! The nets are the lesson runs' telling ones, retrained here (`results/`
//! keeps no checkpoints): the FC nets around the conflict boundary of the FC
//! sweep, the conflicting VGG-120 of the conv sweep, and the ResNet-120 of
//! the lesion study.
//!
//! The criteria, all at the end of training on the trainer's bundle subset
//! (`bundle_samples` training samples, the samples `H^l` is measured on):
//! - bundle entropy `H^l` ([`crate::bundle`], as the trainer measures it):
//!   a layer is flagged when `H > 0` (§3.6: conflicting layers can go);
//! - batch entropy ([`crate::criteria::batch_entropy`]) of the same rows,
//!   over all the subset's samples rather than one training batch;
//! - block influence (ShortGPT, [`crate::criteria::block_influence`]): `1 -`
//!   the mean cosine between a layer's input and output;
//! - angular distance (Gromov et al., [`crate::criteria::angular_distance`])
//!   between the layer's input and output: their `d(x^l, x^(l+n))` with
//!   `n = 1`.
//!
//! What is scored: an FC layer's output `a^l` (layer 1 maps the input to the
//! width and cannot be removed); a VGG block's output; a ResNet block's
//! branch after its ReLU for the two entropies (the lesion study's
//! conflicting row: a block whose branch maps every sample to one output
//! adds a constant) and its output for the two similarities (they compare
//! what goes in with what comes out). The similarities need input and
//! output of one shape: the blocks that open a stage with new channels or
//! stride 2 get none and are never picked by them.
//!
//! The rules: each criterion picks k of the removable layers, the same k for
//! all of a net's criteria: `k` of the configuration, or (`None`) as many as
//! the bundle criterion flags. The bundle criterion ranks by `H`, highest
//! first (ties: fewer bundles, then the earlier layer), so with the default
//! k it picks exactly the flagged layers; batch entropy, block influence
//! and angular distance rank lowest first (ties: the earlier layer), the
//! layers that vary least across samples or change their input least.
//! The auto-tune cut is auto-tune's rule ([`super::autotune::prune`],
//! [`super::autotune::first_conflicting_block`]): from the first
//! conflicting block the rest of its stage; for an FC net, where all hidden
//! layers are of one type, from the first conflicting layer to the last.
//! Auto-tune retrains the cut net from scratch; here the cut layers are
//! removed from the trained net like the criteria's, which only fits where
//! shapes agree (a cut that takes a whole stage, or layer 1, has no
//! accuracy).
//!
//! A removed layer passes its input on unchanged (an FC layer, a VGG block:
//! [`Fnn::set_lesion`](crate::models::Fnn::set_lesion), [`ConvNet::set_lesion`]) or, for a ResNet block,
//! outputs `ReLU(shortcut(x))` as in the lesion study.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use super::autotune::{first_conflicting_block, prune};
use super::conv_nets::{conv_net, NetData};
use super::runner::{self, Sweep, SweepDevice, UnitContext};
use super::settings::RunSettings;
use super::shard::ShardedReport;
use super::{note, Presets};
use crate::criteria::{angular_distance, batch_entropy, block_influence};
use crate::data::{Dataset, DatasetKind};
use crate::device::{upload, TrainDevice};
use crate::models::convnet::{Arch, ConvNet, ConvSpec, Row, Widths};
use crate::models::{Classifier, MnistFnn};
use crate::table::{percent, Table};
use crate::train::trainer::evaluate;
use crate::train::{bundle_subset, BundlePoint, ProgressMode, TrainConfig, Trainer};

/// A net of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CriteriaNet {
    /// An MNIST FNN (§3.3): `depth` hidden layers of `width` neurons.
    Fc { width: usize, depth: usize },
    /// A VGG or ResNet (§3.4) of `depth` layers with weights, the paper's
    /// channels divided by `width_divisor`.
    Conv {
        arch: Arch,
        depth: usize,
        width_divisor: usize,
    },
}

impl fmt::Display for CriteriaNet {
    /// The trainers' labels: `fnn w25 d50`, `vgg-120 /8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fc { width, depth } => write!(f, "fnn w{width} d{depth}"),
            Self::Conv {
                arch,
                depth,
                width_divisor,
            } => write!(f, "{arch}-{depth} /{width_divisor}"),
        }
    }
}

/// A net and how it trains where that differs from the configuration's
/// settings (the lesion study's ResNet has its own recipe).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetRecipe {
    #[serde(flatten)]
    pub net: CriteriaNet,
    /// `None`: the configuration's.
    #[serde(default)]
    pub epochs: Option<usize>,
    #[serde(default)]
    pub learning_rate: Option<f64>,
    #[serde(default)]
    pub weight_decay: Option<f64>,
}

impl NetRecipe {
    /// `net` trained with the configuration's settings.
    pub fn plain(net: CriteriaNet) -> Self {
        Self {
            net,
            epochs: None,
            learning_rate: None,
            weight_decay: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriteriaConfig {
    /// Every net's data, seed and metric samples, and the training recipe
    /// of the nets that name none of their own; `test_samples`: the test
    /// set every accuracy is taken on.
    #[serde(flatten)]
    pub run: RunSettings,
    pub nets: Vec<NetRecipe>,
    /// Layers each criterion removes: `None` as many as the bundle
    /// criterion flags (`H > 0`) in each net.
    pub k: Option<usize>,
}

/// The FC sweep's lesson nets around the conflict boundary: width 25 at 50
/// layers (the deepest still trainable: 73.8 %, its first conflicting layer
/// 36), width 25 and 50 at 100 layers (52 % and 49 %, conflicting from
/// layers 27 and 49).
const FC_BOUNDARY: [(usize, usize); 3] = [(25, 50), (25, 100), (50, 100)];

fn fc(nets: &[(usize, usize)]) -> Vec<NetRecipe> {
    (nets.iter())
        .map(|&(width, depth)| NetRecipe::plain(CriteriaNet::Fc { width, depth }))
        .collect()
}

/// The lesion study's ResNet recipe ([`super::lesion::LesionConfig::lesson`]):
/// 5x the authors' step size and 100x their weight decay, which silences
/// whole branches within 4 epochs.
fn lesion_resnet(depth: usize, width_divisor: usize, epochs: usize) -> NetRecipe {
    NetRecipe {
        net: CriteriaNet::Conv {
            arch: Arch::Resnet,
            depth,
            width_divisor,
        },
        epochs: Some(epochs),
        learning_rate: Some(5e-3),
        weight_decay: Some(1.0),
    }
}

fn vgg(depth: usize, width_divisor: usize, epochs: Option<usize>) -> NetRecipe {
    NetRecipe {
        epochs,
        ..NetRecipe::plain(CriteriaNet::Conv {
            arch: Arch::Vgg,
            depth,
            width_divisor,
        })
    }
}

impl Presets for CriteriaConfig {
    /// The lesson's nets at the paper's widths and 50 epochs on MNIST, the
    /// ResNet with the lesion recipe (GPU work).
    fn full() -> Self {
        Self {
            run: RunSettings::paper(DatasetKind::Mnist, 50),
            nets: [
                fc(&FC_BOUNDARY),
                vec![vgg(120, 1, None), lesion_resnet(120, 1, 50)],
            ]
            .concat(),
            k: None,
        }
    }

    /// Seconds on 2 cores (the tests run it): a 10-layer FC net, a VGG-20
    /// and a ResNet-20 at widths ÷ 16, 20 steps on an MNIST subset; the
    /// numbers mean little. So short a run flags no layer, so k is fixed at
    /// 2 for every net to run the whole comparison.
    fn quick() -> Self {
        Self {
            run: RunSettings {
                train_samples: Some(1_280),
                test_samples: Some(500),
                max_steps_per_epoch: Some(20),
                bundle_samples: 256,
                ..RunSettings::paper(DatasetKind::Mnist, 1)
            },
            nets: [
                fc(&[(10, 10)]),
                vec![vgg(20, 16, None), lesion_resnet(20, 16, 1)],
            ]
            .concat(),
            k: Some(2),
        }
    }

    /// The lesson runs' nets, each as its lesson trained it, on 5,000 test
    /// images: the FC boundary nets (3 epochs, the FC sweep's), the
    /// VGG-120 at widths ÷ 8 for 1 epoch (the conv sweep's trains 2; its
    /// trace conflicts from step 700 of 938 on, and a second epoch would
    /// double the budget) and the lesion study's ResNet-120 (widths ÷ 16,
    /// 4 epochs, its recipe): about 9 minutes on 2 cores.
    fn lesson() -> Self {
        Self {
            run: RunSettings {
                test_samples: Some(5_000),
                ..RunSettings::paper(DatasetKind::Mnist, 3)
            },
            nets: [
                fc(&FC_BOUNDARY),
                vec![vgg(120, 8, Some(1)), lesion_resnet(120, 16, 4)],
            ]
            .concat(),
            k: None,
        }
    }
}

impl CriteriaConfig {
    /// How `recipe`'s net trains: the configuration's settings with the
    /// recipe's own in place.
    pub fn settings(&self, recipe: &NetRecipe) -> RunSettings {
        RunSettings {
            epochs: recipe.epochs.unwrap_or(self.run.epochs),
            learning_rate: recipe.learning_rate.unwrap_or(self.run.learning_rate),
            weight_decay: recipe.weight_decay.unwrap_or(self.run.weight_decay),
            ..self.run.clone()
        }
    }

    fn has_fc(&self) -> bool {
        (self.nets.iter()).any(|r| matches!(r.net, CriteriaNet::Fc { .. }))
    }

    fn has_conv(&self) -> bool {
        (self.nets.iter()).any(|r| matches!(r.net, CriteriaNet::Conv { .. }))
    }

    /// Every setting and every net's size, before anything loads or trains.
    pub fn validate(&self) -> Result<()> {
        self.run.check()?;
        ensure!(
            !self.nets.is_empty(),
            "the comparison needs at least one net"
        );
        ensure!(
            self.k != Some(0),
            "k must be at least 1 (or null: as many as the bundle criterion flags)"
        );
        ensure!(
            self.run.bundle_samples >= 2,
            "bundle_samples must be at least 2 (batch entropy needs two samples)"
        );
        for (i, r) in self.nets.iter().enumerate() {
            if self.nets[..i].iter().any(|o| o.net == r.net) {
                bail!("net {} is listed twice", r.net);
            }
            self.settings(r)
                .check()
                .with_context(|| format!("net {}", r.net))?;
            match r.net {
                CriteriaNet::Fc { width, depth } => {
                    ensure!(
                        matches!(
                            self.run.dataset,
                            DatasetKind::Mnist | DatasetKind::FashionMnist
                        ),
                        "the FC nets take 28×28 grey images: use mnist or fashion-mnist, not {}",
                        self.run.dataset.name()
                    );
                    ensure!(
                        width >= 1 && depth >= 2,
                        "{}: an FC net needs width >= 1 and depth >= 2 (layer 1 cannot be removed)",
                        r.net
                    );
                    MnistFnn::<Cpu>::check_size(width, depth)?;
                }
                CriteriaNet::Conv {
                    arch,
                    depth,
                    width_divisor,
                } => {
                    let spec = ConvSpec::for_depth(arch, depth)?;
                    ConvNet::<10, Cpu>::check_size(spec, Widths::divided(width_divisor)?, 3)?;
                }
            }
        }
        Ok(())
    }
}

/// How a removal set is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Highest bundle entropy first (the flagged layers: `H > 0`).
    Bundle,
    /// Lowest batch entropy first.
    BatchEntropy,
    /// Lowest block influence first.
    BlockInfluence,
    /// Lowest angular distance first.
    AngularDistance,
    /// Auto-tune's cut.
    Autotune,
}

impl Rule {
    /// The four criteria, then the auto-tune cut: the report's order.
    pub const ALL: [Rule; 5] = [
        Self::Bundle,
        Self::BatchEntropy,
        Self::BlockInfluence,
        Self::AngularDistance,
        Self::Autotune,
    ];

    /// The criteria that rank layers (all but the auto-tune cut).
    pub const CRITERIA: [Rule; 4] = [
        Self::Bundle,
        Self::BatchEntropy,
        Self::BlockInfluence,
        Self::AngularDistance,
    ];

    /// One letter for the per-layer tables.
    pub fn letter(self) -> char {
        match self {
            Self::Bundle => 'H',
            Self::BatchEntropy => 'E',
            Self::BlockInfluence => 'I',
            Self::AngularDistance => 'A',
            Self::Autotune => 'T',
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bundle => "bundle entropy",
            Self::BatchEntropy => "batch entropy",
            Self::BlockInfluence => "block influence",
            Self::AngularDistance => "angular distance",
            Self::Autotune => "auto-tune cut",
        })
    }
}

/// One removable-or-not layer of a trained net, as the criteria score it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerScores {
    /// 1-based: the FC net's hidden layer, the conv net's block.
    pub layer: usize,
    /// `a^12`, `s3.b7`.
    pub name: String,
    pub removable: bool,
    /// `H` of the scored row (a ResNet block's branch).
    pub bundle_entropy: f64,
    pub bundles: usize,
    pub batch_entropy: f64,
    /// `None` where input and output differ in shape.
    pub block_influence: Option<f64>,
    pub angular_distance: Option<f64>,
}

impl LayerScores {
    /// The score `rule` ranks by (`None`: not ranked by it).
    pub fn score(&self, rule: Rule) -> Option<f64> {
        match rule {
            Rule::Bundle => Some(self.bundle_entropy),
            Rule::BatchEntropy => Some(self.batch_entropy),
            Rule::BlockInfluence => self.block_influence,
            Rule::AngularDistance => self.angular_distance,
            Rule::Autotune => None,
        }
    }
}

/// The layers `rule` (a criterion) removes out of `layers`: the first `k`
/// removable ones in its ranking (see the module docs), fewer where fewer
/// are ranked; in layer order.
pub fn select(layers: &[LayerScores], rule: Rule, k: usize) -> Vec<usize> {
    let mut ranked: Vec<(&LayerScores, f64)> = (layers.iter())
        .filter(|l| l.removable)
        .filter_map(|l| l.score(rule).map(|s| (l, s)))
        .collect();
    ranked.sort_by(|(a, sa), (b, sb)| match rule {
        Rule::Bundle => (sb.total_cmp(sa))
            .then(a.bundles.cmp(&b.bundles))
            .then(a.layer.cmp(&b.layer)),
        _ => sa.total_cmp(sb).then(a.layer.cmp(&b.layer)),
    });
    let mut chosen: Vec<usize> = ranked.iter().take(k).map(|(l, _)| l.layer).collect();
    chosen.sort_unstable();
    chosen
}

/// What one rule removes and what the net keeps of its accuracy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Removal {
    pub rule: Rule,
    pub layers: Vec<usize>,
    /// With `layers` removed; `None` where they cannot be (an auto-tune
    /// cut through a shape change) or nothing is removed.
    pub test_accuracy: Option<f64>,
}

/// One trained net, its layers' scores and each rule's removal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetCriteria {
    pub net: CriteriaNet,
    /// Hidden rows the bundle metric measures (a ResNet's branches too).
    pub num_hidden: usize,
    pub train_accuracy: f64,
    /// Intact, after the last epoch, on the test samples.
    pub test_accuracy: f64,
    /// Removable layers with `H > 0`.
    pub flagged: usize,
    /// Layers each criterion removes.
    pub k: usize,
    /// The first hidden row (1-based, as [`BundlePoint::first_conflicting_layer`])
    /// auto-tune cuts at; `None`: no conflict, no cut.
    pub first_conflicting_row: Option<usize>,
    pub layers: Vec<LayerScores>,
    /// In [`Rule::ALL`]'s order.
    pub removals: Vec<Removal>,
    /// Training, measuring and every evaluation.
    pub seconds: f64,
}

impl NetCriteria {
    pub fn removal(&self, rule: Rule) -> Option<&Removal> {
        self.removals.iter().find(|r| r.rule == rule)
    }

    pub fn removable(&self) -> usize {
        self.layers.iter().filter(|l| l.removable).count()
    }
}

/// `criteria.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriteriaReport {
    pub config: CriteriaConfig,
    pub nets: Vec<NetCriteria>,
}

pub const REPORT: &str = "criteria.json";

/// A trained net whose layers can be removed: what the comparison needs of
/// an FC net and a conv net alike.
trait Removable<I: Dim, D: TrainDevice>: Classifier<I, 10, D> {
    /// Per layer: its name, whether it can be removed, and which hidden rows
    /// (0-based) hold its scored output, its input and its output.
    fn layout(&self) -> Vec<LayerRows>;
    fn set_lesion(&mut self, layers: &[usize]) -> Result<()>;
    /// Auto-tune's cut on the measurement `point`: the first conflicting
    /// row and the layers after it that go.
    fn autotune_cut(&self, point: &BundlePoint) -> (Option<usize>, Vec<usize>);
}

struct LayerRows {
    name: String,
    removable: bool,
    /// The row the entropies score.
    scored: usize,
    input: Option<usize>,
    output: usize,
}

impl<D: TrainDevice> Removable<Const<784>, D> for MnistFnn<D> {
    fn layout(&self) -> Vec<LayerRows> {
        let removable = self.removable_layers();
        (1..=self.num_hidden())
            .map(|l| LayerRows {
                name: format!("a^{l}"),
                removable: removable.contains(&l),
                scored: l - 1,
                input: l.checked_sub(2),
                output: l - 1,
            })
            .collect()
    }

    fn set_lesion(&mut self, layers: &[usize]) -> Result<()> {
        MnistFnn::set_lesion(self, layers)
    }

    /// All hidden layers are of one type: from the first conflicting one on.
    fn autotune_cut(&self, point: &BundlePoint) -> (Option<usize>, Vec<usize>) {
        let first = point.first_conflicting_layer();
        let cut = first.map_or(vec![], |l| (l..=self.num_hidden()).collect());
        (first, cut)
    }
}

impl<D: TrainDevice + crate::layers::ConvDevice> Removable<usize, D> for ConvNet<10, D> {
    fn layout(&self) -> Vec<LayerRows> {
        let removable = self.removable_blocks();
        let rows = self.spec().rows();
        let mut layers = Vec::new();
        let mut input = 0; // the stem's row
        for (i, row) in rows.iter().enumerate() {
            let Row::Block { stage, index } = *row else {
                continue;
            };
            // A ResNet block's branch follows its output.
            let scored = match rows.get(i + 1) {
                Some(Row::Branch { .. }) => i + 1,
                _ => i,
            };
            layers.push(LayerRows {
                name: Row::Block { stage, index }.to_string(),
                removable: removable.contains(&(layers.len() + 1)),
                scored,
                input: Some(input),
                output: i,
            });
            input = i;
        }
        layers
    }

    fn set_lesion(&mut self, layers: &[usize]) -> Result<()> {
        ConvNet::set_lesion(self, layers)
    }

    /// Auto-tune's rule: the rest of the first conflicting block's stage.
    fn autotune_cut(&self, point: &BundlePoint) -> (Option<usize>, Vec<usize>) {
        let spec = self.spec();
        let Some(row) = first_conflicting_block(spec, &point.entropy) else {
            return (None, vec![]);
        };
        let pruned = prune(spec, row).expect("a block's row");
        let mut cut = Vec::new();
        let mut before = 0;
        for (&n, &kept) in spec.blocks.iter().zip(&pruned.blocks) {
            cut.extend(before + kept + 1..=before + n);
            before += n;
        }
        (Some(row), cut)
    }
}

/// What [`compare`] finds in one trained net.
struct Compared {
    layers: Vec<LayerScores>,
    first_conflicting_row: Option<usize>,
    k: usize,
    removals: Vec<Removal>,
}

/// Scores every layer of the trained `model` (measured at `point` on
/// `subset`), picks each rule's layers and takes the test accuracy without
/// them; `model` is left intact.
fn compare<I: Dim, D: TrainDevice, M: Removable<I, D>>(
    dev: &D,
    model: &mut M,
    subset: &Dataset,
    test: &Dataset,
    point: &BundlePoint,
    k: Option<usize>,
) -> Result<Compared> {
    let n = subset.len();
    let x = upload(dev, &subset.images, (n, model.input_dim()));
    let rows: Vec<Vec<f32>> = (model.forward_hidden(x).hidden.iter())
        .map(|h| h.as_vec())
        .collect();
    let mut layers = Vec::new();
    for (i, l) in model.layout().into_iter().enumerate() {
        let out = &rows[l.output];
        // Input and output of one shape only (the criteria refuse others).
        let similar = |f: fn(&[f32], &[f32], usize) -> Result<f64>| -> Result<Option<f64>> {
            match l.input.map(|r| &rows[r]) {
                Some(input) if input.len() == out.len() => f(input, out, n).map(Some),
                _ => Ok(None),
            }
        };
        layers.push(LayerScores {
            layer: i + 1,
            name: l.name,
            removable: l.removable,
            bundle_entropy: point.entropy[l.scored],
            bundles: point.num_bundles[l.scored],
            batch_entropy: batch_entropy(&rows[l.scored], n)?,
            block_influence: similar(block_influence)?,
            angular_distance: similar(angular_distance)?,
        });
    }
    drop(rows);
    let flagged = (layers.iter())
        .filter(|l| l.removable && l.bundle_entropy > 0.0)
        .count();
    let k = k.unwrap_or(flagged);
    let (first, cut) = model.autotune_cut(point);
    let removable: Vec<usize> = (layers.iter().filter(|l| l.removable))
        .map(|l| l.layer)
        .collect();
    let mut removals = Vec::new();
    for rule in Rule::ALL {
        let chosen = match rule {
            Rule::Autotune => cut.clone(),
            _ => select(&layers, rule, k),
        };
        let test_accuracy = if chosen.is_empty() || chosen.iter().any(|l| !removable.contains(l)) {
            None
        } else {
            model.set_lesion(&chosen)?;
            let (_, accuracy) = evaluate(dev, &*model, test);
            model.set_lesion(&[])?;
            Some(accuracy)
        };
        removals.push(Removal {
            rule,
            layers: chosen,
            test_accuracy,
        });
    }
    Ok(Compared {
        layers,
        first_conflicting_row: first,
        k,
        removals,
    })
}

impl Sweep for CriteriaConfig {
    type Report = CriteriaReport;
    type Data = NetData;
    type Unit = CriteriaNet;
    type Output = NetCriteria;

    fn config(&self) -> &Self {
        self
    }

    /// One at a time: a conv net's forward pass already keeps every core busy.
    fn concurrent(&self) -> bool {
        false
    }

    /// Each net's checkpoint, which an interrupted unit resumes from.
    fn needs_out(&self) -> bool {
        true
    }

    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn load(&self, data_dir: &Path) -> Result<NetData> {
        NetData::load(&self.run, self.has_fc(), self.has_conv(), data_dir)
    }

    fn plan(&self, _: &NetData) -> Vec<CriteriaNet> {
        self.nets.iter().map(|r| r.net).collect()
    }

    fn run_unit<D: SweepDevice>(
        &self,
        dev: &D,
        data: &NetData,
        net: &CriteriaNet,
        ctx: &UnitContext<'_>,
    ) -> Result<NetCriteria> {
        let recipe = (self.nets.iter().find(|r| r.net == *net)).expect("a net of the plan");
        let config = TrainConfig {
            measure_at_start: false,
            ..self.settings(recipe).train_config()
        };
        let label = net.to_string();
        let trainer = Trainer {
            out_dir: Some(
                ctx.out
                    .expect("needs_out")
                    .join(label.replace([' ', '/'], "_")),
            ),
            config,
            progress: ctx.progress,
            label,
        };
        let started = Instant::now();
        let (report, c) = match *net {
            CriteriaNet::Fc { width, depth } => {
                let (train, test) = data.rows.as_ref().expect("loaded for FC nets");
                let mut model = MnistFnn::new(dev, width, depth, self.run.seed)?;
                let r = trainer.fit(dev, &mut model, train, Some(test))?;
                let point = r.bundles.last().context("measured at the end")?;
                let subset = bundle_subset(train, &trainer.config);
                let c = compare(dev, &mut model, &subset, test, point, self.k)?;
                (r, c)
            }
            CriteriaNet::Conv {
                arch,
                depth,
                width_divisor,
            } => {
                let (train, test) = data.images.as_ref().expect("loaded for conv nets");
                let spec = ConvSpec::for_depth(arch, depth)?;
                let widths = Widths::divided(width_divisor)?;
                let mut model = conv_net(dev, spec, widths, train, self.run.seed)?;
                let r = trainer.fit(dev, &mut model, train, Some(test))?;
                let point = r.bundles.last().context("measured at the end")?;
                let subset = bundle_subset(train, &trainer.config);
                let c = compare(dev, &mut model, &subset, test, point, self.k)?;
                (r, c)
            }
        };
        let last = report.epochs.last().context("trained at least one epoch")?;
        let result = NetCriteria {
            net: *net,
            num_hidden: report.num_hidden,
            train_accuracy: last.train_accuracy,
            // The trainer's evaluation of these weights on the test samples.
            test_accuracy: last.test_accuracy.context("evaluated on the test set")?,
            flagged: (c.layers.iter())
                .filter(|l| l.removable && l.bundle_entropy > 0.0)
                .count(),
            k: c.k,
            first_conflicting_row: c.first_conflicting_row,
            layers: c.layers,
            removals: c.removals,
            seconds: started.elapsed().as_secs_f64(),
        };
        note(ctx.progress, &summary(&result));
        Ok(result)
    }

    fn add(report: &mut CriteriaReport, result: NetCriteria) {
        report.nets.push(result);
    }
}

/// `vgg-120 /8: k 35; test acc 10.3 % intact, bundle entropy 10.1 %, ...`
fn summary(r: &NetCriteria) -> String {
    let after: Vec<String> = (r.removals.iter())
        .map(|m| format!("{} {}", m.rule, m.test_accuracy.map_or("-".into(), percent)))
        .collect();
    format!(
        "{}: k {} of {} removable; test acc intact {}, without each rule's layers: {}",
        r.net,
        r.k,
        r.removable(),
        percent(r.test_accuracy),
        after.join(", ")
    )
}

impl ShardedReport for CriteriaReport {
    type Config = CriteriaConfig;
    const SWEEP: &'static str = "criteria";

    fn config(&self) -> &CriteriaConfig {
        &self.config
    }

    fn units_done(&self) -> Vec<String> {
        self.nets.iter().map(|r| r.net.to_string()).collect()
    }

    /// The unsharded run's order: the config's list of nets.
    fn assemble(config: CriteriaConfig, parts: Vec<Self>) -> Self {
        let mut nets: Vec<NetCriteria> = parts.into_iter().flat_map(|p| p.nets).collect();
        nets.sort_by_key(|r| config.nets.iter().position(|n| n.net == r.net));
        Self { config, nets }
    }
}

/// `3, 5-9, 12`: sorted layer numbers with runs collapsed.
pub fn ranges(layers: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let mut j = i;
        while j + 1 < layers.len() && layers[j + 1] == layers[j] + 1 {
            j += 1;
        }
        parts.push(match j - i {
            0 => layers[i].to_string(),
            _ => format!("{}-{}", layers[i], layers[j]),
        });
        i = j + 1;
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

impl CriteriaReport {
    pub fn net(&self, net: CriteriaNet) -> Option<&NetCriteria> {
        self.nets.iter().find(|r| r.net == net)
    }

    /// Per net and rule: the layers removed, how many of them the bundle
    /// criterion's set shares, and the test accuracy without them.
    pub fn summary_table(&self) -> Table {
        let mut t = Table::new(
            "Layers each criterion would remove, and the test accuracy without them (no retraining)",
            &[
                "net",
                "intact",
                "rule",
                "removed",
                "layers removed",
                "shared with bundle",
                "test acc",
            ],
        );
        for r in &self.nets {
            let bundle = r
                .removal(Rule::Bundle)
                .map_or(&[][..], |m| m.layers.as_slice());
            for m in &r.removals {
                let shared = m.layers.iter().filter(|l| bundle.contains(l)).count();
                t.row(vec![
                    r.net.to_string(),
                    percent(r.test_accuracy),
                    m.rule.to_string(),
                    format!("{} of {}", m.layers.len(), r.removable()),
                    ranges(&m.layers),
                    match m.rule {
                        Rule::Bundle => "-".into(),
                        _ => shared.to_string(),
                    },
                    match (m.test_accuracy, m.layers.is_empty()) {
                        (Some(a), _) => percent(a),
                        (None, true) => "-".into(),
                        (None, false) => "- (cuts a layer that changes the shape)".into(),
                    },
                ]);
            }
        }
        let k = self.config.k.map_or(
            "k = the number of layers the bundle criterion flags (H > 0)".to_string(),
            |k| format!("k = {k}"),
        );
        t.note(format!(
            "each criterion removes k of a net's removable layers ({k}); layers numbered 1.. over the net's hidden layers (FC) or blocks (VGG, ResNet); intact and test acc on {} test samples",
            self.config
                .run
                .test_samples
                .map_or("all".to_string(), |n| n.to_string())
        ));
        t
    }

    /// One net's layers with every criterion's score and which rules remove
    /// each.
    pub fn layer_table(&self, r: &NetCriteria) -> Table {
        let mut t = Table::new(
            format!(
                "{}: every layer's criteria (train acc {}, test acc {})",
                r.net,
                percent(r.train_accuracy),
                percent(r.test_accuracy)
            ),
            &[
                "layer",
                "name",
                "removable",
                "H",
                "bundles",
                "batch entropy",
                "block influence",
                "angular distance",
                "removed by",
            ],
        );
        let opt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
        for l in &r.layers {
            let by: String = (r.removals.iter())
                .filter(|m| m.layers.contains(&l.layer))
                .map(|m| m.rule.letter())
                .collect();
            t.row(vec![
                l.layer.to_string(),
                l.name.clone(),
                if l.removable { "yes" } else { "no" }.into(),
                format!("{:.3}", l.bundle_entropy),
                l.bundles.to_string(),
                format!("{:.4}", l.batch_entropy),
                opt(l.block_influence),
                opt(l.angular_distance),
                by,
            ]);
        }
        let letters: Vec<String> = (Rule::ALL.iter())
            .map(|r| format!("{} {r}", r.letter()))
            .collect();
        t.note(format!("removed by: {}", letters.join(", ")));
        t
    }

    pub fn tables(&self) -> Vec<Table> {
        std::iter::once(self.summary_table())
            .chain(self.nets.iter().map(|r| self.layer_table(r)))
            .collect()
    }
}

crate::show_tables!(CriteriaReport);

/// Runs the comparison into `out_dir` (resuming what it holds).
pub fn run_criteria<D: SweepDevice>(
    dev: &D,
    cfg: &CriteriaConfig,
    data_dir: &Path,
    out_dir: &Path,
    progress: ProgressMode,
) -> Result<CriteriaReport> {
    runner::run_in(dev, cfg, data_dir, Some(out_dir), progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(layer: usize, h: f64, bundles: usize, be: f64, bi: Option<f64>) -> LayerScores {
        LayerScores {
            layer,
            name: format!("a^{layer}"),
            removable: layer > 1,
            bundle_entropy: h,
            bundles,
            batch_entropy: be,
            block_influence: bi,
            angular_distance: bi.map(|b| b / 2.0),
        }
    }

    #[test]
    fn each_rule_ranks_as_documented() {
        let layers = [
            layer(1, 2.0, 1, 0.0, None), // not removable: never picked
            layer(2, 0.0, 500, 0.3, Some(0.5)),
            layer(3, 0.7, 40, 0.1, Some(0.2)),
            layer(4, 0.7, 12, 0.9, None), // no similarity: not ranked by it
            layer(5, 0.0, 512, 0.1, Some(0.05)),
        ];
        // Highest H, ties to fewer bundles; back in layer order.
        assert_eq!(select(&layers, Rule::Bundle, 1), vec![4]);
        assert_eq!(select(&layers, Rule::Bundle, 2), vec![3, 4]);
        // Lowest first, ties to the earlier layer.
        assert_eq!(select(&layers, Rule::BatchEntropy, 1), vec![3]);
        assert_eq!(select(&layers, Rule::BatchEntropy, 3), vec![2, 3, 5]);
        assert_eq!(select(&layers, Rule::BlockInfluence, 2), vec![3, 5]);
        assert_eq!(select(&layers, Rule::AngularDistance, 9), vec![2, 3, 5]);
    }

    #[test]
    fn ranges_collapse_runs() {
        assert_eq!(ranges(&[]), "-");
        assert_eq!(ranges(&[3]), "3");
        assert_eq!(ranges(&[3, 5, 6, 7, 9, 10]), "3, 5-7, 9-10");
    }
}
