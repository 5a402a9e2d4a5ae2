//! §3.3, Figures 1, 4 and 5: fully connected nets on MNIST over width ×
//! depth — test accuracy and `H^L` per net, `H^l(t)` for chosen nets, and
//! the cheap conflict boundary (the first conflicting layer of the deepest
//! net per width, measured early in training).
//!
//! Results are written after every net, and a rerun with the same
//! configuration and output folder skips the nets already done.

use std::path::Path;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::runner::{self, Sweep, SweepDevice, UnitContext};
use super::settings::RunSettings;
use super::shard::ShardedReport;
use super::Presets;
use crate::data::{train_test, Dataset, DatasetKind, Prepare};
use crate::device::TrainDevice;
use crate::models::fnn::MnistFnn;
use crate::table::{layer, percent, Table};
use crate::train::{BundlePoint, ProgressMode, TrainConfig, TrainReport, Trainer};

/// What to sweep and how long to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FcSweepConfig {
    #[serde(flatten)]
    pub run: RunSettings,
    pub widths: Vec<usize>,
    pub depths: Vec<usize>,
    /// Nets `(width, depth)` whose `H^l(t)` is traced every `trace_every_steps`.
    pub trace: Vec<(usize, usize)>,
    pub trace_every_steps: usize,
    /// Depth of the net measured per width for the boundary.
    pub boundary_depth: usize,
    /// Training steps before the boundary measurement.
    pub boundary_steps: usize,
    /// Boundary nets per width, seeds `seed, seed + 1, ...`: one net's first
    /// conflicting layer hangs on a pair or two of samples, so the boundary
    /// is their median and range. A report without the field measured one.
    #[serde(default = "one")]
    pub boundary_seeds: usize,
}

fn one() -> usize {
    1
}

impl Presets for FcSweepConfig {
    /// The paper's scale: 50 epochs on the full data (GPU-sized work).
    fn full() -> Self {
        Self {
            run: RunSettings::paper(DatasetKind::Mnist, 50),
            widths: vec![5, 10, 25, 50, 100, 250, 500, 1000],
            depths: vec![1, 2, 3, 5, 10, 25, 50, 100, 150],
            trace: vec![(10, 25), (25, 25), (10, 150), (25, 150)],
            trace_every_steps: 100,
            boundary_depth: 150,
            boundary_steps: 938,
            boundary_seeds: 5,
        }
    }

    /// A few minutes on 2 CPU cores: fewer nets, a data subset, short epochs.
    fn quick() -> Self {
        Self {
            run: RunSettings {
                train_samples: Some(19_200),
                test_samples: Some(2_000),
                max_steps_per_epoch: Some(300),
                bundle_samples: 1024,
                ..RunSettings::paper(DatasetKind::Mnist, 2)
            },
            widths: vec![10, 25, 100],
            depths: vec![2, 10, 50],
            trace: vec![(10, 10), (25, 10), (10, 50), (25, 50)],
            trace_every_steps: 50,
            boundary_steps: 300,
            boundary_seeds: 2,
            ..Self::full()
        }
    }

    /// All of MNIST, widths 10 to 100, depths up to 100, three epochs, five
    /// boundary nets per width (time recorded in
    /// `results/fc_sweep/lesson.json`).
    fn lesson() -> Self {
        Self {
            run: RunSettings::paper(DatasetKind::Mnist, 3),
            widths: vec![10, 25, 50, 100],
            depths: vec![1, 2, 5, 10, 25, 50, 100],
            trace: vec![(10, 25), (25, 25), (10, 100), (25, 100)],
            ..Self::full()
        }
    }
}

/// One net of the grid (Figures 1 and 5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepCell {
    pub width: usize,
    pub depth: usize,
    /// Mean over the last 5 epochs (§3.1).
    pub test_accuracy: f64,
    pub train_accuracy: f64,
    /// `H^L` at the end of training.
    pub final_entropy: f64,
    /// `H^L` averaged over the measurements during training (the paper's H^L).
    pub mean_entropy: f64,
    pub first_conflicting_layer: Option<usize>,
}

/// One boundary net of Figure 1: the deepest net of one width and seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundaryPoint {
    pub width: usize,
    /// Its initialisation and data-order seed; absent reads as 0, the
    /// default sweep seed, which a report measuring one seed per width used.
    #[serde(default)]
    pub seed: u64,
    pub depth: usize,
    pub step: usize,
    /// First layer with `H^l > 0` (1-based); `None` = no conflicts up to `depth`.
    pub first_conflicting_layer: Option<usize>,
    pub last_entropy: f64,
    /// `H^l` of every layer at the measurement.
    pub entropy: Vec<f64>,
}

impl BoundaryPoint {
    /// The point of the net of `width`, `seed` and `depth` measured at `p`.
    fn new(width: usize, seed: u64, depth: usize, p: &BundlePoint) -> Self {
        Self {
            width,
            seed,
            depth,
            step: p.step,
            first_conflicting_layer: p.first_conflicting_layer(),
            last_entropy: p.last_entropy(),
            entropy: p.entropy.clone(),
        }
    }
}

/// The boundary of Figure 1 at one width, over its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundarySummary {
    pub width: usize,
    pub depth: usize,
    pub step: usize,
    /// Boundary nets measured at this width.
    pub seeds: usize,
    /// First conflicting layers of the nets that have one, ascending.
    pub layers: Vec<usize>,
    /// Median `H^L` over all the width's nets.
    pub median_entropy: f64,
}

impl BoundarySummary {
    /// Median first conflicting layer (the mean of the middle two for an
    /// even count) over the nets that have one.
    pub fn median_layer(&self) -> Option<f64> {
        median(&self.layers.iter().map(|&l| l as f64).collect::<Vec<_>>())
    }

    /// Lowest and highest first conflicting layer over the seeds.
    pub fn range(&self) -> Option<(usize, usize)> {
        Some((*self.layers.first()?, *self.layers.last()?))
    }
}

/// Median of `v` (the mean of the middle two for an even count).
fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (n > 0).then(|| (v[(n - 1) / 2] + v[n / 2]) / 2.0)
}

/// `fc_sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FcSweepReport {
    pub config: FcSweepConfig,
    pub cells: Vec<SweepCell>,
    pub boundary: Vec<BoundaryPoint>,
    /// Full training reports of the traced nets (Figure 4).
    pub traces: Vec<TrainReport>,
}

/// What the grid says about the paper's claim (Figure 5): nets with
/// conflicting bundles train worse.
#[derive(Clone, Debug, PartialEq)]
pub struct FcSummary {
    /// Pearson correlation of `H^L` (mean) and test accuracy over the grid
    /// (`None` when either is constant).
    pub correlation: Option<f64>,
    /// (nets, mean test accuracy) without conflicts (`H^L = 0`) ...
    pub conflict_free: (usize, Option<f64>),
    /// ... and with them (`H^L > 0`); no mean without nets.
    pub conflicting: (usize, Option<f64>),
}

impl FcSweepReport {
    pub fn summary(&self) -> FcSummary {
        let (hs, accs): (Vec<f64>, Vec<f64>) = self
            .cells
            .iter()
            .map(|c| (c.mean_entropy, c.test_accuracy))
            .unzip();
        let group = |conflicting: bool| {
            let v: Vec<f64> = self
                .cells
                .iter()
                .filter(|c| (c.mean_entropy > 0.0) == conflicting)
                .map(|c| c.test_accuracy)
                .collect();
            let mean = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            (v.len(), mean)
        };
        FcSummary {
            correlation: pearson(&hs, &accs),
            conflict_free: group(false),
            conflicting: group(true),
        }
    }

    /// The boundary per width (in the order of the config's widths), over
    /// its seeds.
    pub fn boundary_by_width(&self) -> Vec<BoundarySummary> {
        let mut widths: Vec<usize> = self.boundary.iter().map(|b| b.width).collect();
        widths.sort_by_key(|w| self.config.widths.iter().position(|c| c == w));
        widths.dedup();
        widths
            .into_iter()
            .map(|width| {
                let nets: Vec<_> = self.boundary.iter().filter(|b| b.width == width).collect();
                let mut layers: Vec<usize> = nets
                    .iter()
                    .filter_map(|b| b.first_conflicting_layer)
                    .collect();
                layers.sort_unstable();
                let entropies: Vec<f64> = nets.iter().map(|b| b.last_entropy).collect();
                BoundarySummary {
                    width,
                    depth: nets[0].depth,
                    step: nets[0].step,
                    seeds: nets.len(),
                    layers,
                    median_entropy: median(&entropies).unwrap_or(0.0),
                }
            })
            .collect()
    }

    /// The grid, the boundary, and the summary.
    pub fn tables(&self) -> Vec<Table> {
        let mut grid = Table::new(
            "FC sweep: test accuracy and bundle entropy per net",
            &[
                "width",
                "depth",
                "test acc",
                "train acc",
                "H^L (mean)",
                "H^L (end)",
                "first conflicting layer",
            ],
        );
        for c in &self.cells {
            grid.row(vec![
                c.width.to_string(),
                c.depth.to_string(),
                percent(c.test_accuracy),
                percent(c.train_accuracy),
                format!("{:.3}", c.mean_entropy),
                format!("{:.3}", c.final_entropy),
                layer(c.first_conflicting_layer),
            ]);
        }
        let s = self.summary();
        if let Some(r) = s.correlation {
            grid.note(format!(
                "correlation of H^L and test accuracy over {} nets: {r:.2}",
                self.cells.len()
            ));
        }
        let group = |(n, acc): (usize, Option<f64>)| match acc {
            Some(a) => format!("{n} (mean test accuracy {})", percent(a)),
            None => "none".to_string(),
        };
        grid.note(format!(
            "nets without conflicts: {}; with conflicts: {}",
            group(s.conflict_free),
            group(s.conflicting)
        ));
        let mut boundary = Table::new(
            "Conflict boundary: the deepest net per width, early in training",
            &[
                "width",
                "depth",
                "step",
                "seeds",
                "first conflicting layer: median",
                "range",
                "H^L: median",
            ],
        );
        for b in self.boundary_by_width() {
            boundary.row(vec![
                b.width.to_string(),
                b.depth.to_string(),
                b.step.to_string(),
                format!("{} ({} conflicting)", b.seeds, b.layers.len()),
                b.median_layer().map_or("-".into(), |m| format!("{m}")),
                b.range()
                    .map_or("-".into(), |(lo, hi)| format!("{lo}-{hi}")),
                format!("{:.3}", b.median_entropy),
            ]);
        }
        vec![grid, boundary]
    }
}

crate::show_tables!(FcSweepReport);

/// Pearson correlation, `None` for fewer than two points or a constant series.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mean = |v: &[f64]| v[..n].iter().sum::<f64>() / n as f64;
    let (mx, my) = (mean(x), mean(y));
    let cov: f64 = (0..n).map(|i| (x[i] - mx) * (y[i] - my)).sum();
    let sd = |v: &[f64], m: f64| v[..n].iter().map(|a| (a - m).powi(2)).sum::<f64>().sqrt();
    let d = sd(x, mx) * sd(y, my);
    (d > 0.0).then(|| cov / d)
}

/// Runs the sweep; `out_dir` (if any) receives `fc_sweep.json` after each net
/// and lets an interrupted sweep resume. [`runner::run`] does the same with
/// every option (shards, units at once).
pub fn run_fc_sweep<D: SweepDevice>(
    dev: &D,
    cfg: &FcSweepConfig,
    data_dir: &Path,
    out_dir: Option<&Path>,
    progress: ProgressMode,
) -> Result<FcSweepReport> {
    runner::run_in(dev, cfg, data_dir, out_dir, progress)
}

/// One net's result.
pub enum FcOutput {
    Cell {
        cell: SweepCell,
        /// The first seed's boundary point, when this grid net gives it
        /// ([`grid_gives_boundary`]).
        boundary: Option<BoundaryPoint>,
        trace: Option<Box<TrainReport>>,
    },
    Boundary(BoundaryPoint),
}

impl Sweep for FcSweepConfig {
    type Report = FcSweepReport;
    type Data = (Dataset, Dataset);
    type Unit = Net;
    type Output = FcOutput;

    fn config(&self) -> &Self {
        self
    }

    fn check(&self) -> Result<()> {
        self.run.check()?;
        if self.widths.is_empty() || self.depths.is_empty() {
            bail!("the sweep needs at least one width and one depth");
        }
        if self.widths.contains(&0) || self.depths.contains(&0) || self.boundary_depth == 0 {
            bail!("widths and depths must be at least 1");
        }
        if self.boundary_seeds == 0 {
            bail!("boundary_seeds must be at least 1");
        }
        if self.boundary_steps == 0 {
            bail!("boundary_steps must be at least 1");
        }
        for &depth in self.depths.iter().chain([&self.boundary_depth]) {
            for &width in &self.widths {
                MnistFnn::<dfdx::tensor::Cpu>::check_size(width, depth)?;
            }
        }
        Ok(())
    }

    fn load(&self, data_dir: &Path) -> Result<(Dataset, Dataset)> {
        load(self, data_dir)
    }

    fn plan(&self, (train_set, _): &(Dataset, Dataset)) -> Vec<Net> {
        nets(self, train_set.len())
    }

    fn run_unit<D: SweepDevice>(
        &self,
        dev: &D,
        (train_set, test_set): &(Dataset, Dataset),
        net: &Net,
        ctx: &UnitContext<'_>,
    ) -> Result<FcOutput> {
        let cfg = self;
        match *net {
            Net::Boundary { width, seed } => {
                let tc = TrainConfig {
                    epochs: 1,
                    max_steps_per_epoch: Some(cfg.boundary_steps),
                    measure_at_start: false,
                    seed,
                    ..cfg.run.train_config()
                };
                let trainer = trainer(tc, width, cfg.boundary_depth, ctx.progress);
                let r = train_net(dev, width, cfg.boundary_depth, train_set, None, &trainer)?;
                let p = r.bundles.last().expect("measured at the end of the epoch");
                Ok(FcOutput::Boundary(BoundaryPoint::new(
                    width,
                    seed,
                    cfg.boundary_depth,
                    p,
                )))
            }
            Net::Cell { width, depth } => {
                let traced = cfg.trace.contains(&(width, depth));
                let tc = TrainConfig {
                    bundle_every_steps: traced.then_some(cfg.trace_every_steps),
                    ..cfg.run.train_config()
                };
                let trainer = trainer(tc, width, depth, ctx.progress);
                let r = train_net(dev, width, depth, train_set, Some(test_set), &trainer)?;
                let cell = SweepCell {
                    width,
                    depth,
                    test_accuracy: r.test_accuracy().unwrap_or(0.0),
                    train_accuracy: r.train_accuracy().unwrap_or(0.0),
                    final_entropy: r.final_entropy().unwrap_or(0.0),
                    mean_entropy: r.mean_entropy().unwrap_or(0.0),
                    first_conflicting_layer: r
                        .bundles
                        .last()
                        .and_then(|b| b.first_conflicting_layer()),
                };
                // This net's first epoch was the first seed's boundary net.
                let boundary = (depth == cfg.boundary_depth
                    && grid_gives_boundary(cfg, train_set.len()))
                .then(|| {
                    let p = r
                        .bundles
                        .iter()
                        .find(|p| p.step == cfg.boundary_steps)
                        .expect("measured at the end of the first epoch");
                    BoundaryPoint::new(width, cfg.run.seed, depth, p)
                });
                Ok(FcOutput::Cell {
                    cell,
                    boundary,
                    trace: traced.then(|| Box::new(r)),
                })
            }
        }
    }

    fn add(report: &mut FcSweepReport, output: FcOutput) {
        match output {
            FcOutput::Boundary(b) => report.boundary.push(b),
            FcOutput::Cell {
                cell,
                boundary,
                trace,
            } => {
                report.cells.push(cell);
                report.boundary.extend(boundary);
                report.traces.extend(trace.map(|t| *t));
            }
        }
    }
}

/// One net the sweep trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// The grid's net of this width and depth, `epochs` long.
    Cell { width: usize, depth: usize },
    /// A boundary net: `boundary_depth` deep, `boundary_steps` long.
    Boundary { width: usize, seed: u64 },
}

impl std::fmt::Display for Net {
    /// The net's label in a shard file's plan: `w10 d50`, `boundary w10 seed 1`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Net::Cell { width, depth } => write!(f, "w{width} d{depth}"),
            Net::Boundary { width, seed } => write!(f, "boundary w{width} seed {seed}"),
        }
    }
}

impl ShardedReport for FcSweepReport {
    type Config = FcSweepConfig;
    const SWEEP: &'static str = "fc_sweep";

    fn config(&self) -> &FcSweepConfig {
        &self.config
    }

    /// The grid's nets and the boundary nets, labelled as [`Net`]s (the
    /// boundary point a grid net gives is labelled as its own net, which no
    /// plan then lists).
    fn units_done(&self) -> Vec<String> {
        let cells = self.cells.iter().map(|c| Net::Cell {
            width: c.width,
            depth: c.depth,
        });
        let boundary = self.boundary.iter().map(|b| Net::Boundary {
            width: b.width,
            seed: b.seed,
        });
        cells.chain(boundary).map(|n| n.to_string()).collect()
    }

    /// The unsharded run's order: nets per width in the config's order,
    /// the grid's by its depths, then the boundary nets by seed (the
    /// first seed's point, when a grid net gives it, comes first either
    /// way: its seed is the lowest); traces as their grid nets.
    fn assemble(config: FcSweepConfig, parts: Vec<Self>) -> Self {
        let mut r = Self {
            config,
            cells: vec![],
            boundary: vec![],
            traces: vec![],
        };
        for p in parts {
            r.cells.extend(p.cells);
            r.boundary.extend(p.boundary);
            r.traces.extend(p.traces);
        }
        let cfg = &r.config;
        let width = |w: usize| cfg.widths.iter().position(|&c| c == w);
        let depth = |d: usize| cfg.depths.iter().position(|&c| c == d);
        r.cells.sort_by_key(|c| (width(c.width), depth(c.depth)));
        r.boundary.sort_by_key(|b| (width(b.width), b.seed));
        let grid: Vec<String> = cfg
            .widths
            .iter()
            .flat_map(|&w| cfg.depths.iter().map(move |&d| format!("fnn w{w} d{d}")))
            .collect();
        r.traces
            .sort_by_key(|t| grid.iter().position(|l| *l == t.label));
        r
    }
}

/// Whether the grid's net at the boundary depth also gives the first seed's
/// boundary point: it has the same seed, so when its first epoch is as long
/// as a boundary net's training, that epoch *is* the boundary net's
/// training (same initialisation, same batches), and its end-of-epoch
/// measurement is the boundary point.
fn grid_gives_boundary(cfg: &FcSweepConfig, train_len: usize) -> bool {
    let steps = train_len.div_ceil(cfg.run.batch_size);
    let first_epoch = cfg
        .run
        .max_steps_per_epoch
        .map_or(steps, |m| steps.min(m.max(1)));
    cfg.run.epochs >= 1
        && cfg.depths.contains(&cfg.boundary_depth)
        && first_epoch == cfg.boundary_steps
}

/// The nets a sweep trains on `train_len` samples, in order: per width, the
/// grid's depths, then the boundary seeds the grid does not already give.
/// Each net is trained once: the grid's net at the boundary depth gives the
/// first seed's boundary point where it can ([`grid_gives_boundary`]).
pub fn nets(cfg: &FcSweepConfig, train_len: usize) -> Vec<Net> {
    let shared = grid_gives_boundary(cfg, train_len);
    let mut nets = vec![];
    for &width in &cfg.widths {
        nets.extend(cfg.depths.iter().map(|&depth| Net::Cell { width, depth }));
        let seeds = (0..cfg.boundary_seeds as u64).map(|s| cfg.run.seed + s);
        nets.extend(
            seeds
                .filter(|&seed| !(shared && seed == cfg.run.seed))
                .map(|seed| Net::Boundary { width, seed }),
        );
    }
    nets
}

fn trainer(config: TrainConfig, width: usize, depth: usize, progress: ProgressMode) -> Trainer {
    Trainer {
        config,
        progress,
        label: format!("fnn w{width} d{depth}"),
        out_dir: None,
    }
}

/// The normalised train and test splits (the first `train_samples` /
/// `test_samples` of each, as configured).
pub fn load(cfg: &FcSweepConfig, data_dir: &Path) -> Result<(Dataset, Dataset)> {
    Ok(train_test(
        data_dir,
        cfg.run.dataset,
        &Prepare::default(),
        cfg.run.train_samples,
        cfg.run.test_samples,
    )?)
}

/// Trains one MNIST net of `width` neurons and `depth` hidden layers
/// (initialised from `trainer.config.seed`).
pub fn train_net<D: TrainDevice>(
    dev: &D,
    width: usize,
    depth: usize,
    train_set: &Dataset,
    test_set: Option<&Dataset>,
    trainer: &Trainer,
) -> Result<TrainReport> {
    let mut model = MnistFnn::new(dev, width, depth, trainer.config.seed)?;
    trainer.fit(dev, &mut model, train_set, test_set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_net_is_trained_once() {
        // Full MNIST: 938 steps per epoch, the boundary nets' length, and
        // depth 150 is in the grid, so seed 0's boundary net is the grid's.
        let full = FcSweepConfig::full();
        let plan = nets(&full, 60_000);
        assert_eq!(plan.len(), 8 * (9 + 5 - 1));
        assert!(!plan.contains(&Net::Boundary { width: 5, seed: 0 }));
        assert!(plan.contains(&Net::Boundary { width: 5, seed: 1 }));
        assert!(plan.contains(&Net::Cell {
            width: 5,
            depth: 150
        }));
        // A shorter first epoch is not the boundary net's training.
        assert_eq!(nets(&full, 50_000).len(), 8 * (9 + 5));
        // Without depth 150 in the grid, every boundary net is trained.
        let lesson = FcSweepConfig::lesson();
        assert_eq!(nets(&lesson, 60_000).len(), 4 * (7 + 5));
        let mut unique = plan.clone();
        unique.dedup();
        assert_eq!(unique.len(), plan.len());
    }

    fn point(width: usize, seed: u64, first: Option<usize>, h: f64) -> BoundaryPoint {
        BoundaryPoint {
            width,
            seed,
            depth: 150,
            step: 938,
            first_conflicting_layer: first,
            last_entropy: h,
            entropy: vec![],
        }
    }

    #[test]
    fn boundary_per_width_is_median_and_range_over_seeds() {
        let r = FcSweepReport {
            config: FcSweepConfig {
                widths: vec![25, 10],
                ..FcSweepConfig::quick()
            },
            cells: vec![],
            boundary: vec![
                point(10, 0, Some(12), 2.0),
                point(25, 0, None, 0.0),
                point(10, 1, Some(1), 1.0),
                point(10, 2, Some(5), 0.5),
                point(25, 1, Some(30), 0.1),
                point(10, 3, Some(7), 0.25),
            ],
            traces: vec![],
        };
        let b = r.boundary_by_width();
        // In the config's order; the median of 1, 5, 7, 12 is 6, of H^L 0.75.
        assert_eq!((b[0].width, b[1].width), (25, 10));
        assert_eq!((b[1].seeds, b[1].layers.clone()), (4, vec![1, 5, 7, 12]));
        assert_eq!(b[1].median_layer(), Some(6.0));
        assert_eq!(b[1].median_entropy, 0.75);
        // A seed without conflicts counts as a net, not as a layer.
        assert_eq!((b[0].seeds, b[0].median_layer()), (2, Some(30.0)));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }
}
