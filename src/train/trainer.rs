//! The trainer: Ranger on cross-entropy, per-epoch loss/accuracy, per-layer
//! bundle entropy on a fixed training subset, progress, JSON results,
//! safetensors checkpoints and resumption after an interruption.
//!
//! Determinism: model init, the bundle subset, each epoch's shuffle and each
//! epoch's augmentation all derive from `seed` (and the epoch number), so a
//! resumed run replays exactly what an uninterrupted one would have done; on
//! the CPU the same seed gives identical numbers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use dfdx::prelude::*;
use rand::{seq::SliceRandom, SeedableRng};
use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::lbe::{self, LbeConfig, LbeTargets, WithTargets};
use super::progress::{EpochProgress, ProgressMode};
use super::ranger::{Ranger, RangerConfig};
use crate::bundle::{measure_tensors_per_layer, BundleConfig, Criterion, LayerReport, Precision};
use crate::criteria::batch_entropy_tensor;
use crate::data::{
    epoch_seed, gather_into, shuffled_batches, AugmentConfig, Augmenter, Batch, Dataset,
};
use crate::device::{upload, TrainDevice};
use crate::layers::params::{alloc_grads, ParamVisitor, Params};
use crate::lock::OutLock;
use crate::models::Classifier;
use crate::table::{percent, Table};
use crate::util::crash_point;

/// Everything that determines a training run's numbers (stored with results
/// and checkpoints; a checkpoint only resumes a run with the same config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: RangerConfig,
    pub seed: u64,
    /// Size of the fixed random training subset the metric is measured on.
    pub bundle_samples: usize,
    /// Also measure every this many steps (besides each epoch's end).
    pub bundle_every_steps: Option<usize>,
    /// Measure once before the first step.
    pub measure_at_start: bool,
    /// Random augmentation of image rows (§3.1); `None` trains on raw rows.
    pub augment: Option<AugmentConfig>,
    /// Cut epochs short (quick modes); `None` runs full epochs.
    pub max_steps_per_epoch: Option<usize>,
    /// Record the global L2 norm of the gradient (mean per epoch).
    pub track_grad_norm: bool,
    /// The layerwise batch-entropy regulariser ([`super::lbe`]); `None`
    /// (absent in a stored config): plain cross-entropy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lbe: Option<LbeConfig>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: 64,
            optimizer: RangerConfig::default(),
            seed: 0,
            bundle_samples: 2048,
            bundle_every_steps: None,
            measure_at_start: true,
            augment: None,
            max_steps_per_epoch: None,
            track_grad_norm: true,
            lbe: None,
        }
    }
}

/// A training run: the numbers ([`TrainConfig`]) plus where results go and
/// how progress is shown (which do not affect the numbers). `Default` is the
/// paper's recipe for one epoch, nothing saved, progress shown.
///
/// ```no_run
/// # use conflicting_bundles::{data::Dataset, models::MnistFnn, train::{Trainer, TrainConfig}};
/// # fn f(train_set: &Dataset, test_set: &Dataset) -> anyhow::Result<()> {
/// let dev = conflicting_bundles::device::cpu();
/// let mut net = MnistFnn::new(&dev, 37, 10, 0)?;
/// let trainer = Trainer { config: TrainConfig { epochs: 3, ..Default::default() }, ..Default::default() };
/// let report = trainer.fit(&dev, &mut net, train_set, Some(test_set))?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Trainer {
    pub config: TrainConfig,
    /// Folder for `results.json` and `checkpoint.safetensors`; also enables resuming.
    pub out_dir: Option<PathBuf>,
    pub progress: ProgressMode,
    /// Shown in progress lines.
    pub label: String,
}

/// One epoch's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub step: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
    /// Mean over the epoch's steps of the gradient's global L2 norm.
    pub grad_norm: Option<f64>,
    /// Mean softmax output per class over the epoch's training batches.
    pub mean_softmax: Vec<f64>,
    pub seconds: f64,
    /// With the regulariser: the mean over the epoch's steps of its
    /// `(1/L) Σ_l (H_l - target_l)²` (`train_loss` stays the cross-entropy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lbe_deviation: Option<f64>,
    /// With the regulariser: each layer's target `max(α_min, |α_l|)` at the
    /// epoch's end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lbe_targets: Vec<f32>,
}

/// The metric on every hidden layer at one moment of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundlePoint {
    /// Epochs completed (0 = before training).
    pub epoch: usize,
    pub step: usize,
    /// The largest of the layers' `w_max`.
    pub w_max: f32,
    /// `w_max` of each layer where the model takes it per layer (conv nets);
    /// empty where one value serves all layers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_w_max: Vec<f32>,
    /// `H^l` for l = 1..L.
    pub entropy: Vec<f64>,
    /// Number of bundles for l = 1..L.
    pub num_bundles: Vec<usize>,
    pub non_finite: Vec<usize>,
    /// Batch entropy ([`crate::criteria::batch_entropy`]) of every hidden
    /// layer on one training batch: the first `batch_size` samples of the
    /// (randomly drawn) measured subset. Empty in reports made before it
    /// was measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch_entropy: Vec<f64>,
}

impl BundlePoint {
    fn new(epoch: usize, step: usize, layer_w_max: &[f32], layers: &[LayerReport]) -> Self {
        let w_max = layer_w_max
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let uniform = layer_w_max.iter().all(|&w| w == w_max);
        Self {
            epoch,
            step,
            w_max,
            layer_w_max: if uniform {
                vec![]
            } else {
                layer_w_max.to_vec()
            },
            entropy: layers.iter().map(|r| r.bundle_entropy).collect(),
            num_bundles: layers.iter().map(|r| r.num_bundles).collect(),
            non_finite: layers.iter().map(|r| r.non_finite).collect(),
            batch_entropy: Vec::new(),
        }
    }

    /// `H^L` of the last hidden layer.
    pub fn last_entropy(&self) -> f64 {
        self.entropy.last().copied().unwrap_or(0.0)
    }

    /// 1-based index of the first layer with `H^l > 0`.
    pub fn first_conflicting_layer(&self) -> Option<usize> {
        self.entropy.iter().position(|&h| h > 0.0).map(|i| i + 1)
    }
}

/// A training run's results (`results.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub label: String,
    pub config: TrainConfig,
    pub num_hidden: usize,
    pub epochs: Vec<EpochStats>,
    pub bundles: Vec<BundlePoint>,
}

impl TrainReport {
    /// Test accuracy as the paper reports it: mean over the last 5 epochs.
    pub fn test_accuracy(&self) -> Option<f64> {
        let last: Vec<f64> = self
            .epochs
            .iter()
            .rev()
            .take(5)
            .filter_map(|e| e.test_accuracy)
            .collect();
        (!last.is_empty()).then(|| last.iter().sum::<f64>() / last.len() as f64)
    }

    /// Training accuracy of the last epoch.
    pub fn train_accuracy(&self) -> Option<f64> {
        self.epochs.last().map(|e| e.train_accuracy)
    }

    /// `H^L` at the last measurement.
    pub fn final_entropy(&self) -> Option<f64> {
        self.bundles.last().map(|b| b.last_entropy())
    }

    /// The paper's "bundle entropy" H^L: `H^L(t)` averaged over measurements.
    pub fn mean_entropy(&self) -> Option<f64> {
        (!self.bundles.is_empty()).then(|| {
            self.bundles.iter().map(|b| b.last_entropy()).sum::<f64>() / self.bundles.len() as f64
        })
    }
}

impl TrainReport {
    /// One row per epoch, and the last measurement's per-layer profile.
    pub fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(
            format!("{}: training", self.label),
            &[
                "epoch",
                "step",
                "loss",
                "train acc",
                "test acc",
                "H^L",
                "bundles^L",
                "seconds",
            ],
        );
        for e in &self.epochs {
            let end = self
                .bundles
                .iter()
                .rev()
                .find(|b| b.epoch == e.epoch && b.step == e.step);
            t.row(vec![
                e.epoch.to_string(),
                e.step.to_string(),
                format!("{:.4}", e.train_loss),
                percent(e.train_accuracy),
                e.test_accuracy.map_or("-".into(), percent),
                end.map_or("-".into(), |b| format!("{:.3}", b.last_entropy())),
                end.and_then(|b| b.num_bundles.last())
                    .map_or("-".into(), |n| n.to_string()),
                format!("{:.1}", e.seconds),
            ]);
        }
        if let Some(acc) = self.test_accuracy() {
            t.note(format!(
                "test accuracy (mean of the last 5 epochs): {}",
                percent(acc)
            ));
        }
        let mut tables = vec![t];
        if let Some(last) = self.bundles.last() {
            tables.push(last.table());
        }
        tables
    }
}

impl BundlePoint {
    /// `H^l` and bundles of every hidden layer, and the first conflicting one.
    pub fn table(&self) -> Table {
        let mut t = Table::new(
            format!(
                "Bundles per layer after {} epoch(s), step {}",
                self.epoch, self.step
            ),
            &["layer", "H^l", "bundles", "conflicting"],
        );
        for (l, (h, n)) in self.entropy.iter().zip(&self.num_bundles).enumerate() {
            t.row(vec![
                (l + 1).to_string(),
                format!("{h:.3}"),
                n.to_string(),
                if *h > 0.0 { "yes".into() } else { "".into() },
            ]);
        }
        t.note(match self.first_conflicting_layer() {
            Some(l) => format!(
                "first conflicting layer: {l} of {} (H^L = {:.3})",
                self.entropy.len(),
                self.last_entropy()
            ),
            None => format!("no conflicting layer among {}", self.entropy.len()),
        });
        t
    }

    fn tables(&self) -> Vec<Table> {
        vec![self.table()]
    }
}

crate::show_tables!(TrainReport, BundlePoint);

const CHECKPOINT: &str = "checkpoint.safetensors";
const RESULTS: &str = "results.json";

impl Trainer {
    /// A trainer for `config`, saving nothing, showing progress.
    pub fn new(config: TrainConfig) -> Self {
        Self {
            config,
            ..Default::default()
        }
    }

    /// Trains `model` on `train` (evaluating on `test` each epoch).
    ///
    /// With `out_dir` set, results and a checkpoint are written after every
    /// epoch and an existing checkpoint there is resumed from its last
    /// completed epoch (it must have been written with the same config).
    ///
    /// On the CPU the run takes place on rayon's pool ([`TrainDevice::on_pool`]).
    pub fn fit<I: Dim, const C: usize, D: TrainDevice, M: Classifier<I, C, D>>(
        &self,
        dev: &D,
        model: &mut M,
        train: &Dataset,
        test: Option<&Dataset>,
    ) -> Result<TrainReport> {
        // SAFETY: on the CPU the job holds CPU tensors (the model), datasets,
        // this trainer and the optimizer it creates: none is bound to a thread.
        unsafe { dev.on_pool(|| fit(dev, model, train, test, self)) }
    }
}

fn fit<I: Dim, const C: usize, D: TrainDevice, M: Classifier<I, C, D>>(
    dev: &D,
    model: &mut M,
    train: &Dataset,
    test: Option<&Dataset>,
    run: &Trainer,
) -> Result<TrainReport> {
    let cfg = &run.config;
    let features = model.input_dim().size();
    check_samples::<C>(train, features, "training")?;
    if let Some(t) = test {
        check_samples::<C>(t, features, "test")?;
    }
    if cfg.batch_size == 0 {
        bail!("batch size must be at least 1");
    }
    if let Some(lbe) = &cfg.lbe {
        lbe.check("lbe")?;
        if cfg.batch_size < 2 {
            bail!(
                "the batch-entropy regulariser needs batches of at least 2 samples (batch size {})",
                cfg.batch_size
            );
        }
    }
    let mut targets = cfg
        .lbe
        .map(|lbe| LbeTargets::new(dev, model.num_hidden(), &lbe));
    let mut opt = Ranger::new(cfg.optimizer);
    let mut report = TrainReport {
        label: run.label.clone(),
        config: cfg.clone(),
        num_hidden: model.num_hidden(),
        epochs: Vec::new(),
        bundles: Vec::new(),
    };
    // One run per folder; a killed run's temporary files go, and the
    // results are rewritten from the checkpoint, which is written first and
    // so is never older than them (a kill between the two writes left
    // the previous epoch's results).
    let _lock = match &run.out_dir {
        Some(dir) => {
            let lock = OutLock::acquire(dir)?;
            if dir.join(CHECKPOINT).exists() {
                report = resume(
                    dir,
                    &mut WithTargets(model, targets.as_mut()),
                    &mut opt,
                    cfg,
                )?;
                write_results(dir, &report)?;
            }
            Some(lock)
        }
        None => None,
    };
    let subset = bundle_subset(train, cfg);
    let lr = cfg.optimizer.lr as f32;
    let measure = |model: &M| measure_hidden(dev, model, &subset, lr, cfg.batch_size);
    let mut step = report.epochs.last().map_or(0, |e| e.step);
    if report.bundles.is_empty() && cfg.measure_at_start {
        report.bundles.push(measure(model)?);
    }

    let mut batch = Batch::default();
    for epoch in report.epochs.len() + 1..=cfg.epochs {
        let started = Instant::now();
        let mut batches: Vec<Vec<usize>> = shuffled_batches(
            train.len(),
            cfg.batch_size,
            epoch_seed(cfg.seed, epoch as u64),
            false,
        )
        .collect();
        if let Some(max) = cfg.max_steps_per_epoch {
            batches.truncate(max.max(1));
        }
        let mut aug = cfg
            .augment
            .map(|a| Augmenter::new(a, epoch_seed(cfg.seed ^ 0xA076_1D64, epoch as u64)));
        let progress =
            EpochProgress::new(run.progress, &run.label, epoch, cfg.epochs, batches.len());
        let mut acc = EpochAccumulator::new(C);
        for idx in &batches {
            gather_into(train, idx, &mut batch);
            if let Some(aug) = aug.as_mut() {
                aug.apply(&mut batch.images, train.shape());
            }
            let y = &batch.labels;
            let x = upload(dev, &batch.images, (y.len(), model.input_dim()));
            // Every parameter gets a gradient entry (zeros if the loss does
            // not reach it), which the optimizer's walk relies on.
            let grads = alloc_grads(&mut WithTargets(&mut *model, targets.as_mut()))
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            // A last batch of one sample has no batch entropy: it trains on
            // the cross-entropy alone.
            let (logits, rows) = if targets.is_some() && y.len() >= 2 {
                let out = model.forward_train_hidden(x.trace(grads));
                (out.logits, Some(out.hidden))
            } else {
                (model.forward_train(x.trace(grads)), None)
            };
            acc.add_logits(&logits.retaped::<NoneTape>().as_vec(), y);
            let mut loss = cross_entropy_with_logits_loss(logits, one_hot::<C, D>(dev, y));
            let loss_value = loss.as_vec()[0];
            acc.add_loss(loss_value as f64, y.len());
            if let (Some(rows), Some(t)) = (rows, &targets) {
                let (total, deviation) = lbe::regularised(loss, rows, t);
                acc.add_lbe(deviation as f64);
                loss = total;
            }
            let mut grads = loss.backward();
            if cfg.track_grad_norm {
                acc.add_grad_norm(grad_norm(model, &mut grads));
            }
            opt.update(&mut WithTargets(&mut *model, targets.as_mut()), &grads)
                .map_err(|e| anyhow::anyhow!("optimizer step failed: {e:?}"))?;
            step += 1;
            crash_point("step");
            progress.step(loss_value);
            if cfg
                .bundle_every_steps
                .is_some_and(|k| k > 0 && step.is_multiple_of(k))
            {
                let mut p = measure(model)?;
                p.epoch = epoch - 1;
                p.step = step;
                report.bundles.push(p);
            }
        }
        let (test_loss, test_accuracy) = match test {
            Some(t) => {
                let (l, a) = evaluate(dev, model, t);
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        let mut stats = acc.finish(
            epoch,
            step,
            test_loss,
            test_accuracy,
            started.elapsed().as_secs_f64(),
        );
        if let Some(t) = &targets {
            stats.lbe_targets = t.effective();
        }
        // The step-wise measurement may have just run at this very step.
        let mut point = match report.bundles.last() {
            Some(p) if p.step == step && step > 0 => report.bundles.pop().expect("just matched"),
            _ => measure(model)?,
        };
        point.epoch = epoch;
        point.step = step;
        progress.finish(&summary(&run.label, &stats, &point));
        report.epochs.push(stats);
        report.bundles.push(point);
        if let Some(dir) = &run.out_dir {
            save(
                dir,
                &mut WithTargets(&mut *model, targets.as_mut()),
                &opt,
                &report,
            )?;
        }
    }
    Ok(report)
}

fn check_samples<const C: usize>(s: &Dataset, features: usize, what: &str) -> Result<()> {
    if s.is_empty() {
        bail!("the {what} set is empty");
    }
    if s.images.len() != s.len() * features {
        bail!(
            "the {what} set has {} values for {} samples; the model takes {features} features per sample",
            s.images.len(),
            s.len()
        );
    }
    if let Some((i, &y)) = s.labels.iter().enumerate().find(|(_, &y)| y as usize >= C) {
        bail!("label {y} of {what} sample {i} is outside 0..{C}");
    }
    Ok(())
}

fn summary(label: &str, s: &EpochStats, p: &BundlePoint) -> String {
    let test = s
        .test_accuracy
        .map_or(String::new(), |a| format!(" test acc {:.2}%", 100.0 * a));
    format!(
        "{label} epoch {} loss {:.4} train acc {:.2}%{test} H^L {:.3} bundles^L {} ({:.1}s)",
        s.epoch,
        s.train_loss,
        100.0 * s.train_accuracy,
        p.last_entropy(),
        p.num_bundles.last().copied().unwrap_or(0),
        s.seconds
    )
}

/// The fixed random training subset the metric is measured on (drawn from
/// `cfg.seed`; the same for every net trained with that seed on `train`).
pub fn bundle_subset(train: &Dataset, cfg: &TrainConfig) -> Dataset {
    let mut idx: Vec<usize> = (0..train.len()).collect();
    idx.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(
        cfg.seed ^ 0x00B0_D1E5,
    ));
    idx.truncate(cfg.bundle_samples.min(train.len()).max(1));
    train.subset(&idx)
}

/// Per-layer bundle metric (resolution mode, f32) of `model` on `samples`.
pub fn measure_hidden<I: Dim, const C: usize, D: TrainDevice, M: Classifier<I, C, D>>(
    dev: &D,
    model: &M,
    samples: &Dataset,
    lr: f32,
    batch_size: usize,
) -> Result<BundlePoint> {
    let mut points = measure_hidden_in(dev, model, samples, lr, batch_size, &[Precision::F32])?;
    Ok(points.remove(0))
}

/// Per-layer bundle metric (resolution mode) of `model` on `samples` in each
/// of `precisions`, in that order: one forward pass, so every format sees the
/// same activations and the same `w_max`.
pub fn measure_hidden_in<I: Dim, const C: usize, D: TrainDevice, M: Classifier<I, C, D>>(
    dev: &D,
    model: &M,
    samples: &Dataset,
    lr: f32,
    batch_size: usize,
    precisions: &[Precision],
) -> Result<Vec<BundlePoint>> {
    let x = upload(dev, &samples.images, (samples.len(), model.input_dim()));
    let out = model.forward_hidden(x);
    let w_max = model.layer_w_max();
    let labels = samples.labels_usize();
    let batch = batch_size.min(samples.len());
    let batch_entropy: Vec<f64> = if batch >= 2 {
        (out.hidden.iter())
            .map(|h| batch_entropy_tensor(h.clone().slice((0..batch, ..))).as_vec()[0] as f64)
            .collect()
    } else {
        Vec::new()
    };
    precisions
        .iter()
        .map(|&precision| {
            let cfg = BundleConfig {
                lr,
                batch_size,
                num_classes: C,
                criterion: Criterion::Resolution {
                    w_max: w_max.first().copied().unwrap_or(0.0),
                    precision,
                },
            };
            let layers = measure_tensors_per_layer(&out.hidden, &labels, &cfg, &w_max)?;
            Ok(BundlePoint {
                batch_entropy: batch_entropy.clone(),
                ..BundlePoint::new(0, 0, &w_max, &layers)
            })
        })
        .collect()
}

/// Mean cross-entropy and accuracy over `samples`, in batches of 1000.
pub fn evaluate<I: Dim, const C: usize, D: Device<f32>, M: Classifier<I, C, D>>(
    dev: &D,
    model: &M,
    samples: &Dataset,
) -> (f64, f64) {
    let mut acc = EpochAccumulator::new(C);
    let d = samples.image_len();
    let labels = samples.labels_usize();
    for start in (0..samples.len()).step_by(1000) {
        let end = (start + 1000).min(samples.len());
        let y = &labels[start..end];
        let x = upload(
            dev,
            &samples.images[start * d..end * d],
            (y.len(), model.input_dim()),
        );
        let logits = model.forward(x);
        acc.add_logits(&logits.as_vec(), y);
        let loss = cross_entropy_with_logits_loss(logits, one_hot::<C, D>(dev, y));
        acc.add_loss(loss.as_vec()[0] as f64, y.len());
    }
    (
        acc.loss_sum / acc.seen as f64,
        acc.correct as f64 / acc.seen as f64,
    )
}

fn one_hot<const C: usize, D: Device<f32>>(
    dev: &D,
    y: &[usize],
) -> Tensor<(usize, Const<C>), f32, D> {
    let mut v = vec![0.0f32; y.len() * C];
    for (i, &c) in y.iter().enumerate() {
        v[i * C + c] = 1.0;
    }
    upload(dev, &v, (y.len(), Const))
}

/// Global L2 norm of the gradients of `model`'s parameters (a parameter
/// without a gradient counts as a zero gradient and gets one allocated).
pub fn grad_norm<M: Params<f32, D>, D: Device<f32>>(
    model: &mut M,
    grads: &mut Gradients<f32, D>,
) -> f64 {
    struct Norm<'a, D: Device<f32>>(&'a mut Gradients<f32, D>, f64);
    impl<D: Device<f32>> ParamVisitor<f32, D> for Norm<'_, D> {
        fn visit<S: Shape>(&mut self, _: &str, t: &mut Tensor<S, f32, D>) {
            if self.0.get_or_alloc_mut(t).is_ok() {
                self.1 += self.0.get(t).square().sum::<Rank0, _>().as_vec()[0] as f64;
            }
        }
    }
    let mut n = Norm(grads, 0.0);
    model.visit_params("", &mut n);
    n.1.sqrt()
}

/// Running sums over an epoch's batches.
struct EpochAccumulator {
    loss_sum: f64,
    seen: usize,
    correct: usize,
    softmax_sum: Vec<f64>,
    grad_norm_sum: f64,
    grad_norms: usize,
    lbe_sum: f64,
    lbe_steps: usize,
}

impl EpochAccumulator {
    fn new(classes: usize) -> Self {
        Self {
            loss_sum: 0.0,
            seen: 0,
            correct: 0,
            softmax_sum: vec![0.0; classes],
            grad_norm_sum: 0.0,
            grad_norms: 0,
            lbe_sum: 0.0,
            lbe_steps: 0,
        }
    }

    /// Counts correct argmax predictions and sums softmax outputs (f64).
    fn add_logits(&mut self, logits: &[f32], y: &[usize]) {
        let c = self.softmax_sum.len();
        for (row, &label) in logits.chunks(c).zip(y) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let argmax = row.iter().position(|&v| v == max).unwrap_or(0);
            self.correct += usize::from(argmax == label);
            let exps: Vec<f64> = row.iter().map(|&v| ((v - max) as f64).exp()).collect();
            let z: f64 = exps.iter().sum();
            for (s, e) in self.softmax_sum.iter_mut().zip(&exps) {
                *s += e / z;
            }
        }
    }

    fn add_loss(&mut self, mean_loss: f64, n: usize) {
        self.loss_sum += mean_loss * n as f64;
        self.seen += n;
    }

    fn add_lbe(&mut self, deviation: f64) {
        self.lbe_sum += deviation;
        self.lbe_steps += 1;
    }

    fn add_grad_norm(&mut self, g: f64) {
        self.grad_norm_sum += g;
        self.grad_norms += 1;
    }

    fn finish(
        self,
        epoch: usize,
        step: usize,
        test_loss: Option<f64>,
        test_accuracy: Option<f64>,
        seconds: f64,
    ) -> EpochStats {
        let n = self.seen.max(1) as f64;
        EpochStats {
            epoch,
            step,
            train_loss: self.loss_sum / n,
            train_accuracy: self.correct as f64 / n,
            test_loss,
            test_accuracy,
            grad_norm: (self.grad_norms > 0).then(|| self.grad_norm_sum / self.grad_norms as f64),
            mean_softmax: self.softmax_sum.iter().map(|s| s / n).collect(),
            seconds,
            lbe_deviation: (self.lbe_steps > 0).then(|| self.lbe_sum / self.lbe_steps as f64),
            lbe_targets: Vec::new(),
        }
    }
}

fn save<M: Params<f32, D>, D: Device<f32>>(
    dir: &std::path::Path,
    model: &mut M,
    opt: &Ranger,
    report: &TrainReport,
) -> Result<()> {
    let mut tensors = checkpoint::export_params(model);
    tensors.extend(opt.state_tensors());
    let mut meta = HashMap::new();
    meta.insert("report".to_string(), serde_json::to_string(report)?);
    meta.insert("optimizer_step".to_string(), opt.step_count().to_string());
    checkpoint::save(&dir.join(CHECKPOINT), &tensors, meta)?;
    crash_point("after-checkpoint");
    write_results(dir, report)
}

fn write_results(dir: &std::path::Path, report: &TrainReport) -> Result<()> {
    checkpoint::write_atomic(
        &dir.join(RESULTS),
        serde_json::to_string_pretty(report)?.as_bytes(),
    )
}

fn resume<M: Params<f32, D>, D: Device<f32>>(
    dir: &std::path::Path,
    model: &mut M,
    opt: &mut Ranger,
    cfg: &TrainConfig,
) -> Result<TrainReport> {
    let path = dir.join(CHECKPOINT);
    let (mut tensors, meta) = checkpoint::load(&path)?;
    let report: TrainReport = serde_json::from_str(
        meta.get("report").map(String::as_str).unwrap_or(""),
    )
    .with_context(|| {
        format!(
            "{}: checkpoint has no readable progress record",
            path.display()
        )
    })?;
    // Only the epoch count may differ: a finished run can be extended.
    if (TrainConfig {
        epochs: cfg.epochs,
        ..report.config.clone()
    }) != *cfg
    {
        bail!(
            "{}: checkpoint was written with a different training configuration; use another output folder or delete it",
            path.display()
        );
    }
    let mut report = report;
    report.config.epochs = cfg.epochs;
    let step: u64 = meta
        .get("optimizer_step")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let ranger: Vec<(String, Vec<f32>)> = tensors
        .iter()
        .filter(|(k, _)| k.starts_with("ranger/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tensors.retain(|k, _| !k.starts_with("ranger/"));
    checkpoint::import_params(model, &tensors).with_context(|| path.display().to_string())?;
    opt.load_state(step, ranger)
        .map_err(|e| anyhow::anyhow!("{}: optimizer state: {e:?}", path.display()))?;
    Ok(report)
}
