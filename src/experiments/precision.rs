//! Beyond the paper: where conflicting layers appear when resolution mode
//! computes in f32 (the paper's setting), f16 or bf16.
//!
//! The paper's eq. (1) bundles two samples when the weight update cannot
//! tell their activations apart at the float resolution. Its experiments ran
//! in f32; today's training often runs in bf16 or f16, whose spacing near a
//! weight of 1 is 2^-7 or 2^-10 instead of f32's 2^-23. For the deepest FC
//! net per width (Figure 1's boundary nets) and for a VGG and a ResNet, this
//! measures every hidden layer at each format on the same samples and the
//! same weights, at initialisation and after training, and records per
//! format the first conflicting layer, `H^L` and `H^l` per layer.
//!
//! Only the metric changes format: the nets train in f32 as everywhere else
//! (training with activations rounded to bf16 is not done here). The paper
//! itself warns (§5) that the resolution is part of the metric, so a coarser
//! format biases it towards more bundles: the measurement says how far the
//! boundary moves under the update-resolution argument, not that a net
//! trained in bf16 (with f32 master weights, as mixed precision keeps them)
//! suffers those conflicts.
//!
//! Results are written after every net; a rerun with the same configuration
//! and output folder skips the nets already done.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

use super::conv_nets::{conv_net, NetData};
use super::runner::{self, Sweep, SweepDevice, UnitContext};
use super::settings::RunSettings;
use super::shard::ShardedReport;
use super::{note, Presets};
/// The formats, re-exported for the charts (which do not use the metric).
pub use crate::bundle::Precision;
use crate::data::{Dataset, DatasetKind};
use crate::device::TrainDevice;
use crate::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
use crate::models::{Classifier, MnistFnn};
use crate::table::{layer, percent, Table};
use crate::train::{
    bundle_subset, measure_hidden_in, BundlePoint, ProgressMode, TrainConfig, TrainReport, Trainer,
};

/// One net of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PrecisionNet {
    /// An MNIST FNN (§3.3): `depth` hidden layers of `width` neurons.
    Fc { width: usize, depth: usize },
    /// A VGG or ResNet (§3.4) of `depth` layers with weights, its channels
    /// the paper's divided by the config's `width_divisor`.
    Conv { arch: Arch, depth: usize },
}

impl fmt::Display for PrecisionNet {
    /// The trainers' labels: `fnn w10 d150`, `vgg-50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fc { width, depth } => write!(f, "fnn w{width} d{depth}"),
            Self::Conv { arch, depth } => write!(f, "{arch}-{depth}"),
        }
    }
}

/// What to measure and how long to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrecisionConfig {
    /// On MNIST or Fashion-MNIST: the FC nets take 784 pixels; the conv nets
    /// take the same images zero-padded to 32×32. `bundle_samples` is the
    /// fixed training subset the metric is measured on (the trainer's).
    #[serde(flatten)]
    pub run: RunSettings,
    pub nets: Vec<PrecisionNet>,
    /// The conv nets' channels: the paper's 64/128/256/512 divided by this.
    pub width_divisor: usize,
    /// The formats every layer is measured in.
    pub precisions: Vec<Precision>,
}

/// The four widths of Figure 1's boundary nets this sweep measures.
const FC_WIDTHS: [usize; 4] = [10, 25, 50, 100];

fn fc_nets(widths: &[usize], depth: usize) -> Vec<PrecisionNet> {
    widths
        .iter()
        .map(|&width| PrecisionNet::Fc { width, depth })
        .collect()
}

fn vgg_and_resnet(depths: &[usize]) -> Vec<PrecisionNet> {
    depths
        .iter()
        .flat_map(|&depth| [Arch::Vgg, Arch::Resnet].map(|arch| PrecisionNet::Conv { arch, depth }))
        .collect()
}

impl Presets for PrecisionConfig {
    /// The paper's boundary nets (depth 150, widths 10–100) and its deepest
    /// VGG and ResNet (120 layers, full widths), 50 epochs each, on MNIST:
    /// GPU work.
    fn full() -> Self {
        Self {
            run: RunSettings::paper(DatasetKind::Mnist, 50),
            nets: [fc_nets(&FC_WIDTHS, 150), vgg_and_resnet(&[50, 120])].concat(),
            width_divisor: 1,
            precisions: Precision::ALL.to_vec(),
        }
    }

    /// Well under a minute on 2 cores (CI runs it in notebook 05): two
    /// 50-layer FC nets and a 30-layer VGG and ResNet at widths ÷ 16, 50
    /// steps on an MNIST subset (6 s from the CLI); the numbers mean little.
    fn quick() -> Self {
        Self {
            nets: [fc_nets(&[10, 25], 50), vgg_and_resnet(&[30])].concat(),
            width_divisor: 16,
            run: RunSettings {
                train_samples: Some(3_200),
                test_samples: Some(500),
                max_steps_per_epoch: Some(50),
                bundle_samples: 256,
                ..RunSettings::paper(DatasetKind::Mnist, 1)
            },
            ..Self::full()
        }
    }

    /// Figure 1's boundary nets at the paper's depth (150 layers, widths
    /// 10–100) and a 50-layer VGG and ResNet at widths ÷ 8 (the conv
    /// sweep's lesson width), two epochs each on all of MNIST (time
    /// recorded in `results/precision_sweep/lesson.json`).
    fn lesson() -> Self {
        Self {
            nets: [fc_nets(&FC_WIDTHS, 150), vgg_and_resnet(&[50])].concat(),
            width_divisor: 8,
            run: RunSettings::paper(DatasetKind::Mnist, 2),
            ..Self::full()
        }
    }
}

impl PrecisionConfig {
    /// The conv nets' channels per stage.
    pub fn widths(&self) -> Result<Widths> {
        Widths::divided(self.width_divisor)
    }

    fn has_fc(&self) -> bool {
        self.nets
            .iter()
            .any(|n| matches!(n, PrecisionNet::Fc { .. }))
    }

    fn has_conv(&self) -> bool {
        self.nets
            .iter()
            .any(|n| matches!(n, PrecisionNet::Conv { .. }))
    }

    /// Checks every setting and every net's size before anything loads or
    /// trains.
    pub fn validate(&self) -> Result<()> {
        self.run.check()?;
        if self.nets.is_empty() {
            bail!("the sweep needs at least one net");
        }
        if self.precisions.is_empty() {
            bail!("the sweep needs at least one precision (f32, f16, bf16)");
        }
        if self.precisions.iter().collect::<HashSet<_>>().len() != self.precisions.len() {
            bail!("each precision may be listed once");
        }
        if self.nets.iter().collect::<HashSet<_>>().len() != self.nets.len() {
            bail!("each net may be listed once");
        }
        if self.has_fc()
            && !matches!(
                self.run.dataset,
                DatasetKind::Mnist | DatasetKind::FashionMnist
            )
        {
            bail!(
                "the FC nets take 28×28 grey images: use mnist or fashion-mnist, not {}",
                self.run.dataset.name()
            );
        }
        for net in &self.nets {
            match *net {
                PrecisionNet::Fc { width, depth } => {
                    if width == 0 || depth == 0 {
                        bail!("FC nets need width and depth of at least 1 (got {net})");
                    }
                    MnistFnn::<Cpu>::check_size(width, depth)?;
                }
                PrecisionNet::Conv { arch, depth } => {
                    let spec = ConvSpec::for_depth(arch, depth)?;
                    ConvNet::<10, Cpu>::check_size(spec, self.widths()?, 1)?;
                }
            }
        }
        Ok(())
    }
}

/// One format's measurement of every hidden layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormatPoint {
    pub precision: Precision,
    /// First layer with `H^l > 0` (1-based); `None`: no conflicts.
    pub first_conflicting_layer: Option<usize>,
    /// `H^L` of the last hidden layer.
    pub last_entropy: f64,
    /// `H^l` for l = 1..L.
    pub entropy: Vec<f64>,
    /// Bundles for l = 1..L.
    pub num_bundles: Vec<usize>,
}

impl FormatPoint {
    fn new(precision: Precision, p: &BundlePoint) -> Self {
        Self {
            precision,
            first_conflicting_layer: p.first_conflicting_layer(),
            last_entropy: p.last_entropy(),
            entropy: p.entropy.clone(),
            num_bundles: p.num_bundles.clone(),
        }
    }
}

/// Every format's measurement of one net at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Training steps taken (0 = at initialisation).
    pub step: usize,
    /// The largest absolute hidden weight: the `w_max` of the mapping.
    pub w_max: f32,
    /// In the config's order of precisions.
    pub formats: Vec<FormatPoint>,
}

impl Snapshot {
    fn new(step: usize, precisions: &[Precision], points: &[BundlePoint]) -> Self {
        Self {
            step,
            w_max: points.first().map_or(0.0, |p| p.w_max),
            formats: precisions
                .iter()
                .zip(points)
                .map(|(&precision, p)| FormatPoint::new(precision, p))
                .collect(),
        }
    }

    /// The measurement in `precision`, if the sweep took it.
    pub fn format(&self, precision: Precision) -> Option<&FormatPoint> {
        self.formats.iter().find(|f| f.precision == precision)
    }
}

/// When a net was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Init,
    Trained,
}

impl Stage {
    pub const ALL: [Stage; 2] = [Stage::Init, Stage::Trained];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Init => "init",
            Stage::Trained => "trained",
        }
    }
}

/// One net's measurements and accuracy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetResult {
    pub net: PrecisionNet,
    /// Hidden layers L (a conv net's: the stem and each block).
    pub num_hidden: usize,
    /// Mean over the last 5 epochs (§3.1).
    pub test_accuracy: f64,
    pub train_accuracy: f64,
    pub init: Snapshot,
    pub trained: Snapshot,
    /// Wall time of the net: training and every measurement.
    pub seconds: f64,
}

impl NetResult {
    pub fn at(&self, stage: Stage) -> &Snapshot {
        match stage {
            Stage::Init => &self.init,
            Stage::Trained => &self.trained,
        }
    }
}

/// `precision_sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrecisionReport {
    pub config: PrecisionConfig,
    pub nets: Vec<NetResult>,
}

/// The spacing of `precision`'s values at `x` (the distance from `|x|` to
/// the next larger value), for normal `x`; 0 for `x = 0`.
pub fn spacing(precision: Precision, x: f32) -> f64 {
    let x = f64::from(x.abs());
    if x == 0.0 {
        return 0.0;
    }
    precision.epsilon() * 2f64.powi(x.log2().floor() as i32)
}

impl PrecisionReport {
    pub fn net(&self, net: PrecisionNet) -> Option<&NetResult> {
        self.nets.iter().find(|r| r.net == net)
    }

    /// The first conflicting layer and `H^L` per net, stage and format; then
    /// what one step of the mapping resolves at each net's `w_max`.
    pub fn tables(&self) -> Vec<Table> {
        let formats = &self.config.precisions;
        let mut header = vec!["net".to_string(), "L".into(), "stage".into()];
        for p in formats {
            header.push(format!("{p}: first conflicting"));
            header.push(format!("{p}: H^L"));
        }
        header.push("test acc".into());
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut t = Table::new(
            "Where conflicting layers appear in each float format (resolution mode)",
            &header,
        );
        for r in &self.nets {
            for stage in Stage::ALL {
                let s = r.at(stage);
                let mut row = vec![
                    r.net.to_string(),
                    r.num_hidden.to_string(),
                    format!("{} (step {})", stage.name(), s.step),
                ];
                for f in &s.formats {
                    row.push(layer(f.first_conflicting_layer));
                    row.push(format!("{:.3}", f.last_entropy));
                }
                row.push(match stage {
                    Stage::Init => "-".into(),
                    Stage::Trained => percent(r.test_accuracy),
                });
                t.row(row);
            }
        }
        t.note("first conflicting: the first hidden layer with H^l > 0 (1-based), - when none of the L has one; the same samples and weights in every format");

        let mut header = vec!["net".to_string(), "stage".into(), "w_max".into()];
        header.extend(formats.iter().map(|p| format!("{p}: a per spacing")));
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut res = Table::new(
            "How large an activation difference one spacing of each format at w_max is",
            &header,
        );
        // The metric's resolution takes the nets' learning rate and batch.
        let run = &self.config.run;
        let (lr, bs) = (run.learning_rate, run.batch_size as f64);
        for r in &self.nets {
            for stage in Stage::ALL {
                let s = r.at(stage);
                let mut row = vec![
                    r.net.to_string(),
                    stage.name().into(),
                    format!("{:.3}", s.w_max),
                ];
                row.extend(
                    formats
                        .iter()
                        .map(|&p| format!("{:.3e}", spacing(p, s.w_max) * bs / lr)),
                );
                res.row(row);
            }
        }
        res.note(format!(
            "v = w_max - lr·a/bs with lr {lr}, bs {bs}: activations closer than about this apart can land on the same value of the format (those below about half of it map to w_max itself)"
        ));
        vec![t, res]
    }
}

crate::show_tables!(PrecisionReport);

pub const REPORT: &str = "precision_sweep.json";

/// Runs the sweep; `out_dir` (if any) receives `precision_sweep.json` after
/// each net and lets an interrupted sweep resume. [`runner::run`] does the
/// same with every option (shards, units at once).
pub fn run_precision_sweep<D: SweepDevice>(
    dev: &D,
    cfg: &PrecisionConfig,
    data_dir: &Path,
    out_dir: Option<&Path>,
    progress: ProgressMode,
) -> Result<PrecisionReport> {
    runner::run_in(dev, cfg, data_dir, out_dir, progress)
}

impl Sweep for PrecisionConfig {
    type Report = PrecisionReport;
    type Data = NetData;
    type Unit = PrecisionNet;
    type Output = NetResult;

    fn config(&self) -> &Self {
        self
    }

    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn load(&self, data_dir: &Path) -> Result<NetData> {
        NetData::load(&self.run, self.has_fc(), self.has_conv(), data_dir)
    }

    fn plan(&self, _: &NetData) -> Vec<PrecisionNet> {
        self.nets.clone()
    }

    fn run_unit<D: SweepDevice>(
        &self,
        dev: &D,
        data: &NetData,
        &net: &PrecisionNet,
        ctx: &UnitContext<'_>,
    ) -> Result<NetResult> {
        let seed = self.run.seed;
        let trainer = Trainer {
            config: TrainConfig {
                // This sweep measures the start itself, in every format.
                measure_at_start: false,
                ..self.run.train_config()
            },
            out_dir: None,
            progress: ctx.progress,
            label: net.to_string(),
        };
        let started = Instant::now();
        let (init, trained, r) = match net {
            PrecisionNet::Fc { width, depth } => {
                let (train, test) = data.rows.as_ref().expect("loaded for FC nets");
                let mut model = MnistFnn::new(dev, width, depth, seed)?;
                train_and_measure(dev, &mut model, train, test, &trainer, &self.precisions)?
            }
            PrecisionNet::Conv { arch, depth } => {
                let (train, test) = data.images.as_ref().expect("loaded for conv nets");
                let spec = ConvSpec::for_depth(arch, depth)?;
                let mut model = conv_net(dev, spec, self.widths()?, train, seed)?;
                train_and_measure(dev, &mut model, train, test, &trainer, &self.precisions)?
            }
        };
        let result = NetResult {
            net,
            num_hidden: r.num_hidden,
            test_accuracy: r.test_accuracy().unwrap_or(0.0),
            train_accuracy: r.train_accuracy().unwrap_or(0.0),
            init,
            trained,
            seconds: started.elapsed().as_secs_f64(),
        };
        note(ctx.progress, &summary(&result));
        Ok(result)
    }

    fn add(report: &mut PrecisionReport, result: NetResult) {
        report.nets.push(result);
    }
}

/// The sweep's nets in the config's order, labelled as in a shard file
/// (`fnn w10 d150`, `vgg-50`): the units shards share.
pub fn units(cfg: &PrecisionConfig) -> Vec<String> {
    cfg.nets.iter().map(PrecisionNet::to_string).collect()
}

impl ShardedReport for PrecisionReport {
    type Config = PrecisionConfig;
    const SWEEP: &'static str = "precision_sweep";

    fn config(&self) -> &PrecisionConfig {
        &self.config
    }

    /// The nets, labelled as their trainers are (`fnn w10 d150`, `vgg-50`).
    fn units_done(&self) -> Vec<String> {
        self.nets.iter().map(|r| r.net.to_string()).collect()
    }

    /// The unsharded run's order: the config's list of nets.
    fn assemble(config: PrecisionConfig, parts: Vec<Self>) -> Self {
        let mut nets: Vec<NetResult> = parts.into_iter().flat_map(|p| p.nets).collect();
        nets.sort_by_key(|r| config.nets.iter().position(|&n| n == r.net));
        Self { config, nets }
    }
}

/// `vgg-50: first conflicting layer init f32 -, f16 1, bf16 1; trained ...`
fn summary(r: &NetResult) -> String {
    let stage = |s: &Snapshot| {
        s.formats
            .iter()
            .map(|f| format!("{} {}", f.precision, layer(f.first_conflicting_layer)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{}: first conflicting layer of {} at init {}; trained {}; test acc {}",
        r.net,
        r.num_hidden,
        stage(&r.init),
        stage(&r.trained),
        percent(r.test_accuracy)
    )
}

/// Measures `model` in every format at initialisation, trains it, and
/// measures it again, on the trainer's bundle subset both times.
pub fn train_and_measure<I: Dim, D: TrainDevice, M: Classifier<I, 10, D>>(
    dev: &D,
    model: &mut M,
    train: &Dataset,
    test: &Dataset,
    trainer: &Trainer,
    precisions: &[Precision],
) -> Result<(Snapshot, Snapshot, TrainReport)> {
    let tc = &trainer.config;
    let subset = bundle_subset(train, tc);
    let measure = |model: &M, step: usize| -> Result<Snapshot> {
        let points = measure_hidden_in(
            dev,
            model,
            &subset,
            tc.optimizer.lr as f32,
            tc.batch_size,
            precisions,
        )?;
        Ok(Snapshot::new(step, precisions, &points))
    };
    let init = measure(&*model, 0)?;
    let r = trainer.fit(dev, model, train, Some(test))?;
    let trained = measure(&*model, r.epochs.last().map_or(0, |e| e.step))?;
    Ok((init, trained, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_is_one_step_of_the_format() {
        for p in Precision::ALL {
            for x in [0.77f32, 1.0, 1.5, 0.031, 3.0] {
                let s = spacing(p, x) as f32;
                // One spacing up is the next value, half of one rounds back.
                assert!(p.round(x + s) > x, "{p} {x}");
                assert_eq!(p.round(p.round(x) + 0.49 * s), p.round(x), "{p} {x}");
            }
        }
        assert_eq!(spacing(Precision::Bf16, 1.0), 2f64.powi(-7));
        assert_eq!(spacing(Precision::F16, 0.77), 2f64.powi(-11));
        assert_eq!(spacing(Precision::F32, 0.0), 0.0);
    }

    #[test]
    fn labels_and_presets() {
        let fc = PrecisionNet::Fc {
            width: 10,
            depth: 150,
        };
        assert_eq!(fc.to_string(), "fnn w10 d150");
        let vgg = PrecisionNet::Conv {
            arch: Arch::Vgg,
            depth: 50,
        };
        assert_eq!(vgg.to_string(), "vgg-50");
        let lesson = PrecisionConfig::lesson();
        assert_eq!(lesson.nets.len(), 6);
        assert!(lesson.nets.contains(&fc) && lesson.nets.contains(&vgg));
        assert_eq!(lesson.precisions, Precision::ALL);
        for cfg in [PrecisionConfig::quick(), lesson, PrecisionConfig::full()] {
            cfg.validate().unwrap();
        }
    }
}
