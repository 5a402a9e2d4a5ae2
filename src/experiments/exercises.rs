//! The notebooks' "try this" exercises: each names a knob to change and what
//! the theory predicts, and its check takes the report the notebook just
//! made and says whether the prediction holds there, with the numbers it
//! read. A check never fails a cell: on a report of another configuration
//! (the exercise not done yet) it says so, and on quick-mode reports (CI)
//! its verdict may go either way, as quick mode's numbers mean little.

use std::fmt;

use super::autotune::AutotuneReport;
use super::conv_sweep::ConvSweepReport;
use super::fc_sweep::FcSweepReport;
use super::lbe::{LbeRun, LbeStudyReport, PlainNet};
use super::lesion::{ConflictRow, DrawKind, LesionReport};
use super::precision::PrecisionReport;
use super::toy::ToyReport;
use crate::bundle::Precision;
use crate::models::convnet::Arch;
use crate::table::{percent, Table};

/// What a check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    Fails,
    /// The report is not of the exercise's configuration (or lacks what the
    /// check reads): change the knob, run the notebook's cells again.
    NotRun,
}

/// One exercise's check on one report.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub exercise: &'static str,
    pub prediction: &'static str,
    pub verdict: Verdict,
    /// The numbers the verdict rests on.
    pub evidence: String,
}

impl Check {
    fn new(exercise: &'static str, prediction: &'static str) -> Self {
        Self {
            exercise,
            prediction,
            verdict: Verdict::NotRun,
            evidence: String::new(),
        }
    }

    fn found(mut self, holds: bool, evidence: String) -> Self {
        self.verdict = if holds {
            Verdict::Holds
        } else {
            Verdict::Fails
        };
        self.evidence = evidence;
        self
    }

    fn not_run(mut self, why: String) -> Self {
        self.verdict = Verdict::NotRun;
        self.evidence = why;
        self
    }

    pub fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(
            format!("Exercise: {}", self.exercise),
            &["prediction", "verdict", "evidence"],
        );
        t.row(vec![
            self.prediction.to_string(),
            self.verdict.to_string(),
            self.evidence.clone(),
        ]);
        vec![t]
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "does not hold",
            Verdict::NotRun => "not run yet",
        })
    }
}

crate::show_tables!(Check);

/// Notebook 01: on imbalanced data the conflicting net's outputs settle at
/// the class shares, whatever the share.
pub fn toy_outputs_at_class_shares(report: &ToyReport) -> Check {
    let check = Check::new(
        "set imbalanced_share to 0.75",
        "the fully conflicting net's mean outputs settle at the class shares, 0.75 / 0.25",
    );
    let Some(run) = report
        .runs
        .iter()
        .find(|r| r.name == "conflicting_imbalanced")
    else {
        return check.not_run("no conflicting_imbalanced run in the report".into());
    };
    if (report.config.imbalanced_share - 0.75).abs() > 1e-9 {
        return check.not_run(format!(
            "imbalanced_share is {} in this report",
            report.config.imbalanced_share
        ));
    }
    let off = (0..2)
        .map(|k| (run.final_mean_softmax[k] - run.class_shares[k]).abs())
        .fold(0.0, f64::max);
    check.found(
        off <= report.config.tolerance,
        format!(
            "outputs {:.3} / {:.3} against shares {:.3} / {:.3} (tolerance {})",
            run.final_mean_softmax[0],
            run.final_mean_softmax[1],
            run.class_shares[0],
            run.class_shares[1],
            report.config.tolerance
        ),
    )
}

/// Notebook 01: Hypothesis 1 does not hang on one seed.
pub fn toy_hypothesis_with_another_seed(report: &ToyReport) -> Check {
    let check = Check::new(
        "change the seed (seed: 1)",
        "Hypothesis 1 holds again: the separable net learns, both conflicting nets settle at the class shares",
    );
    if report.config.seed == 0 {
        return check.not_run("seed 0 in this report".into());
    }
    let settled: Vec<String> = (report.runs.iter())
        .map(|r| {
            format!(
                "{}: settled at epoch {}",
                r.name,
                r.converged_epoch.map_or("never".into(), |e| e.to_string())
            )
        })
        .collect();
    check.found(report.hypothesis_holds(), settled.join("; "))
}

/// Notebook 01: eq. (1) by hand: two vectors `delta` apart in one
/// component, under the resolution criterion and eq. (1) with γ = 1e-8.
pub fn pair_splits(delta: f32, w_max: f32, alpha: f32, batch: usize) -> Check {
    let check = Check::new(
        "in the eq. (1) cell, set delta to 1e-2",
        "the pair splits under both criteria: their updates are different f32s, and α/|B|·delta is above γ",
    );
    if delta < 1e-2 {
        return check.not_run(format!("delta is {delta:e}"));
    }
    let update = |a: f32| w_max - alpha * a / batch as f32;
    let (u, v) = (update(0.5), update(0.5 + delta));
    let eq1 = alpha / batch as f32 * delta;
    check.found(
        u != v && eq1 > 1e-8,
        format!("updates {u:.9} and {v:.9}; α/|B|·delta = {eq1:.2e} against γ = 1e-8"),
    )
}

/// Notebook 02: the conflict boundary rises with width (Figure 1): a
/// narrower width's median first conflicting layer is never above a wider
/// one's.
pub fn boundary_rises_with_width(report: &FcSweepReport) -> Check {
    let check = Check::new(
        "add width 5 (cfg.widths = vec![5, 10, 25, 100])",
        "the boundary moves down for width 5: its median first conflicting layer is at most width 10's, and the boundary rises with width",
    );
    let by_width = report.boundary_by_width();
    if !by_width.iter().any(|b| b.width == 5) {
        return check.not_run("no width-5 boundary nets in this report".into());
    }
    let mut medians: Vec<(usize, Option<f64>)> = by_width
        .iter()
        .map(|b| (b.width, b.median_layer()))
        .collect();
    medians.sort_by_key(|&(w, _)| w);
    // A width whose nets never conflict sits above every layer.
    let level = |m: Option<f64>| m.unwrap_or(f64::INFINITY);
    let rises = medians.windows(2).all(|w| level(w[0].1) <= level(w[1].1));
    let shown: Vec<String> = (medians.iter())
        .map(|(w, m)| format!("width {w}: {}", m.map_or("none".into(), |m| format!("{m}"))))
        .collect();
    check.found(rises, shown.join("; "))
}

/// Notebook 02: Hypothesis 2 over the grid (Figure 5): `H^L` and test
/// accuracy are negatively correlated.
pub fn entropy_against_accuracy(report: &FcSweepReport) -> Check {
    let check = Check::new(
        "widen the grid (cfg.depths = vec![1, 3, 10, 25, 50, 100])",
        "the correlation of H^L with test accuracy over the grid stays negative (Hypothesis 2)",
    );
    match report.summary().correlation {
        None => check.not_run("fewer than two nets, or H^L the same for all".into()),
        Some(r) => check.found(
            r < 0.0,
            format!(
                "Pearson correlation {r:.2} over {} nets",
                report.cells.len()
            ),
        ),
    }
}

/// Notebook 02: nets with conflicts are less accurate than nets without.
pub fn conflicts_cost_accuracy(report: &FcSweepReport) -> Check {
    let check = Check::new(
        "train longer (cfg.run.epochs = 5)",
        "the nets with H^L > 0 stay less accurate on average than the nets without",
    );
    let s = report.summary();
    match (s.conflict_free, s.conflicting) {
        ((n0, Some(free)), (n1, Some(conflicting))) => check.found(
            conflicting < free,
            format!(
                "{n1} nets with conflicts: {:.1} %; {n0} without: {:.1} %",
                100.0 * conflicting,
                100.0 * free
            ),
        ),
        _ => check.not_run("the report needs nets with and without conflicts".into()),
    }
}

/// Notebook 03: skip connections keep every ResNet conflict-free, while the
/// deepest VGG conflicts.
pub fn skip_connections_resolve_conflicts(report: &ConvSweepReport) -> Check {
    let check = Check::new(
        "switch the skip connections on for the 120-layer net (compare VGG-120 with ResNet-120: cfg.depths = vec![120])",
        "ResNet-120 ends with H^L = 0 while VGG-120 conflicts (H^L > 0)",
    );
    let deepest = |arch| {
        (report.cells.iter())
            .filter(|c| c.arch == arch)
            .max_by_key(|c| c.depth)
    };
    let (Some(vgg), Some(resnet)) = (deepest(Arch::Vgg), deepest(Arch::Resnet)) else {
        return check.not_run("the report needs a VGG and a ResNet".into());
    };
    check.found(
        resnet.final_entropy == 0.0 && vgg.final_entropy > 0.0,
        format!(
            "VGG-{}: H^L {:.3}; ResNet-{}: H^L {:.3}",
            vgg.depth, vgg.final_entropy, resnet.depth, resnet.final_entropy
        ),
    )
}

/// Notebook 03: once a VGG depth conflicts, every deeper VGG does too.
pub fn deeper_vggs_conflict(report: &ConvSweepReport) -> Check {
    let check = Check::new(
        "add depths between (cfg.depths = vec![10, 30, 50, 76, 90, 100, 120])",
        "H^L > 0 from some depth on: no VGG deeper than a conflicting one is conflict-free",
    );
    let mut vggs: Vec<_> = report
        .cells
        .iter()
        .filter(|c| c.arch == Arch::Vgg)
        .collect();
    vggs.sort_by_key(|c| c.depth);
    if vggs.len() < 2 {
        return check.not_run("fewer than two VGG depths in this report".into());
    }
    let first = vggs.iter().position(|c| c.final_entropy > 0.0);
    let holds = first.is_some_and(|f| vggs[f..].iter().all(|c| c.final_entropy > 0.0));
    let shown: Vec<String> = (vggs.iter())
        .map(|c| format!("VGG-{}: {:.2}", c.depth, c.final_entropy))
        .collect();
    check.found(holds, format!("H^L at the end: {}", shown.join(", ")))
}

/// Notebook 03: every ResNet learns, however deep.
pub fn resnets_learn(report: &ConvSweepReport) -> Check {
    let check = Check::new(
        "go deeper with the ResNets (cfg.archs = vec![Arch::Resnet]; cfg.depths = vec![10, 120, 200])",
        "every ResNet ends with H^L = 0 and well above chance (50 % test accuracy on ten classes)",
    );
    let resnets: Vec<_> = report
        .cells
        .iter()
        .filter(|c| c.arch == Arch::Resnet)
        .collect();
    if resnets.is_empty() {
        return check.not_run("no ResNet in this report".into());
    }
    let shown: Vec<String> = (resnets.iter())
        .map(|c| {
            format!(
                "ResNet-{}: H^L {:.2}, {:.1} %",
                c.depth,
                c.final_entropy,
                100.0 * c.test_accuracy
            )
        })
        .collect();
    check.found(
        resnets
            .iter()
            .all(|c| c.final_entropy == 0.0 && c.test_accuracy > 0.5),
        shown.join("; "),
    )
}

/// Notebook 04: auto-tune's net is shallower than Table 1's ResNet.
pub fn autotune_against_resnet76(report: &AutotuneReport) -> Check {
    let check = Check::new(
        "compare with a ResNet-76 (cfg.baseline_depth = 76, CIFAR-10's baseline in Table 1)",
        "auto-tune's net has fewer layers than the ResNet-76 in every run",
    );
    if report.config.baseline_depth != 76 {
        return check.not_run(format!(
            "the baseline is ResNet-{} in this report",
            report.config.baseline_depth
        ));
    }
    let depths: Vec<String> = (report.runs.iter())
        .map(|r| format!("{} vs {}", r.autotuned.depth, r.baseline.depth))
        .collect();
    let holds = !report.runs.is_empty()
        && (report.runs.iter()).all(|r| r.autotuned.depth < r.baseline.depth);
    check.found(holds, format!("layers per run: {}", depths.join(", ")))
}

/// Notebook 04: measured at the block output, a ResNet block keeps its
/// samples apart (§3.5: the identity resolves the branch's conflicts), so
/// no block counts as conflicting.
pub fn block_outputs_do_not_conflict(report: &LesionReport) -> Check {
    let check = Check::new(
        "classify blocks by their output (lesion_cfg.conflict_row = ConflictRow::Output)",
        "no block is conflicting: the shortcut keeps the samples apart even where the branch bundles them",
    );
    let Some(net) = &report.net else {
        return check.not_run("the study has not run".into());
    };
    if report.config.conflict_row != ConflictRow::Output {
        let branches = net.conflicting();
        return check.not_run(format!(
            "classified by the branch in this report ({branches} of {} conflicting)",
            net.blocks.len()
        ));
    }
    let outputs = net.blocks.iter().filter(|b| b.output_entropy > 0.0).count();
    check.found(
        outputs == 0,
        format!("{outputs} of {} block outputs with H > 0", net.blocks.len()),
    )
}

/// Notebook 04: dropping the conflicting blocks together costs less than
/// dropping as many non-conflicting ones.
pub fn conflicting_blocks_go_together(report: &LesionReport) -> Check {
    let check = Check::new(
        "drop every conflicting block at once (the conflicting curve's last point)",
        "the net keeps more test accuracy than with as many non-conflicting blocks dropped",
    );
    let (Some(c), Some(n)) = (
        report
            .curve(DrawKind::Conflicting)
            .and_then(|c| c.points.last()),
        report.curve(DrawKind::NonConflicting),
    ) else {
        return check.not_run("the report has no conflicting blocks (or no curves)".into());
    };
    // The non-conflicting point nearest to k (the curves' counts differ).
    let Some(m) = (n.points.iter()).min_by_key(|p| p.k.abs_diff(c.k)) else {
        return check.not_run("no non-conflicting draws".into());
    };
    check.found(
        c.mean > m.mean,
        format!(
            "k = {}: {:.1} % (conflicting) against k = {}: {:.1} % (non-conflicting)",
            c.k,
            100.0 * c.mean,
            m.k,
            100.0 * m.mean
        ),
    )
}

/// Notebook 05: the activation difference one spacing at `w_max` hides
/// grows with `w_max` (the spacing doubles with every power of two).
pub fn spacing_grows_with_w_max(w_max: f32, alpha: f64, batch: f64) -> Check {
    let check = Check::new(
        "in the spacing cell, set w_max to 4.0",
        "one spacing at w_max hides 4x the activation difference it hides at w_max = 1, in every format",
    );
    if w_max != 4.0 {
        return check.not_run(format!("w_max is {w_max}"));
    }
    let per = |p: Precision, w: f32| super::precision::spacing(p, w) * batch / alpha;
    let ratios: Vec<f64> = Precision::ALL
        .iter()
        .map(|&p| per(p, w_max) / per(p, 1.0))
        .collect();
    let shown: Vec<String> = (Precision::ALL.iter().zip(&ratios))
        .map(|(p, r)| format!("{p}: {r}x"))
        .collect();
    check.found(ratios.iter().all(|&r| r == 4.0), shown.join(", "))
}

/// Notebook 05: f16 keeps fewer samples apart than f32 in the first layer.
pub fn f16_bundles_more_than_f32(report: &PrecisionReport) -> Check {
    let check = Check::new(
        "compare f16 with f32 in layer 1 (any configuration with both)",
        "after training, every net's first layer has fewer bundles in f16 than in f32",
    );
    let bundles = |r: &super::precision::NetResult, p: Precision| {
        (r.trained.formats.iter())
            .find(|f| f.precision == p)
            .and_then(|f| f.num_bundles.first().copied())
    };
    let pairs: Vec<(String, usize, usize)> = (report.nets.iter())
        .filter_map(|r| {
            Some((
                r.net.to_string(),
                bundles(r, Precision::F16)?,
                bundles(r, Precision::F32)?,
            ))
        })
        .collect();
    if pairs.is_empty() {
        return check.not_run("the report measures f16 and f32 on no net".into());
    }
    let shown: Vec<String> = (pairs.iter())
        .map(|(n, h, f)| format!("{n}: {h} vs {f}"))
        .collect();
    check.found(
        pairs.iter().all(|(_, h, f)| h < f),
        format!("bundles in layer 1, f16 vs f32: {}", shown.join("; ")),
    )
}

/// Notebook 05: in bf16 every net conflicts from its first layer.
pub fn bf16_conflicts_from_layer_one(report: &PrecisionReport) -> Check {
    let check = Check::new(
        "keep only f32 and bf16 (cfg.precisions = vec![Precision::F32, Precision::Bf16])",
        "in bf16 every trained net conflicts from layer 1, in f32 none does",
    );
    if report.config.precisions != [Precision::F32, Precision::Bf16] {
        return check.not_run(format!(
            "the formats are {:?} in this report",
            report.config.precisions
        ));
    }
    let first = |p: Precision| -> Vec<Option<usize>> {
        (report.nets.iter())
            .map(|r| {
                (r.trained.formats.iter())
                    .find(|f| f.precision == p)
                    .and_then(|f| f.first_conflicting_layer)
            })
            .collect()
    };
    let (f32s, bf16s) = (first(Precision::F32), first(Precision::Bf16));
    let holds = bf16s.iter().all(|l| *l == Some(1)) && f32s.iter().all(|l| *l != Some(1));
    let show = |v: &[Option<usize>]| {
        v.iter()
            .map(|l| l.map_or("none".into(), |l| l.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    check.found(
        holds,
        format!(
            "first conflicting layer per net, bf16: {}; f32: {}",
            show(&bf16s),
            show(&f32s)
        ),
    )
}

/// Each net of a batch-entropy study with both its runs.
fn lbe_pairs(report: &LbeStudyReport) -> Vec<(PlainNet, &LbeRun, &LbeRun)> {
    (report.config.nets.iter())
        .filter_map(|&n| Some((n, report.run(n, false)?, report.run(n, true)?)))
        .collect()
}

/// Notebook 06: with β = 0 the term is gone, and so is every difference.
pub fn lbe_zero_weight_changes_nothing(report: &LbeStudyReport) -> Check {
    let check = Check::new(
        "switch the term off (cfg.lbe_fc.beta = 0.0; cfg.lbe_conv.beta = 0.0)",
        "each net's run \"with the regulariser\" trains exactly as the plain one: same accuracy, same H^L",
    );
    if report.config.lbe_fc.beta != 0.0 || report.config.lbe_conv.beta != 0.0 {
        return check.not_run(format!(
            "β is {} (FC) and {} (conv) in this report",
            report.config.lbe_fc.beta, report.config.lbe_conv.beta
        ));
    }
    let pairs = lbe_pairs(report);
    if pairs.is_empty() {
        return check.not_run("no net has both runs yet".into());
    }
    let same = |a: &LbeRun, b: &LbeRun| {
        a.test_accuracy == b.test_accuracy && a.final_entropy == b.final_entropy
    };
    check.found(
        pairs.iter().all(|(_, off, on)| same(off, on)),
        (pairs.iter())
            .map(|(n, off, on)| {
                format!(
                    "{n}: {} / {}, H^L {:.3} / {:.3}",
                    percent(off.test_accuracy),
                    percent(on.test_accuracy),
                    off.final_entropy,
                    on.final_entropy
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Notebook 06: the follow-up's claim at a depth where plain nets collapse.
pub fn lbe_keeps_a_deeper_net_alive(report: &LbeStudyReport) -> Check {
    let check = Check::new(
        "a deeper FC net (cfg.nets = vec![PlainNet::Fc { width: 10, depth: 300 }])",
        "without the term the net collapses (its last layer one bundle of all samples, some layer with batch entropy 0); with it no layer collapses and it beats chance",
    );
    let deep = lbe_pairs(report)
        .into_iter()
        .find(|(n, _, _)| matches!(n, PlainNet::Fc { depth, .. } if *depth >= 300));
    let Some((net, off, on)) = deep else {
        return check
            .not_run("no FC net of depth 300 or more with both runs in this report".into());
    };
    let last_bundles = (off.trace.bundles.last())
        .and_then(|b| b.num_bundles.last().copied())
        .unwrap_or(0);
    let holds = last_bundles == 1
        && off.collapsed_layers() > 0
        && on.collapsed_layers() == 0
        && on.test_accuracy > 0.2;
    check.found(
        holds,
        format!(
            "{net}: without {last_bundles} bundle(s) in the last layer (H^L {:.3}), {} collapsed layers; with {} collapsed, test accuracy {}",
            off.final_entropy,
            off.collapsed_layers(),
            on.collapsed_layers(),
            percent(on.test_accuracy)
        ),
    )
}

/// Notebook 06: does longer regularised training remove the conflicts?
pub fn lbe_longer_training_resolves_conflicts(report: &LbeStudyReport) -> Check {
    let check = Check::new(
        "train longer (cfg.run.epochs = 6)",
        "with the term the FC nets end with fewer conflicting layers than without it",
    );
    if report.config.run.epochs < 6 {
        return check.not_run(format!(
            "{} epochs in this report",
            report.config.run.epochs
        ));
    }
    let fc: Vec<_> = lbe_pairs(report)
        .into_iter()
        .filter(|(n, _, _)| matches!(n, PlainNet::Fc { .. }))
        .collect();
    if fc.is_empty() {
        return check.not_run("no FC net with both runs in this report".into());
    }
    check.found(
        fc.iter()
            .all(|(_, off, on)| on.conflicting_layers < off.conflicting_layers),
        (fc.iter())
            .map(|(n, off, on)| {
                format!(
                    "{n}: {} → {} of {} layers conflicting",
                    off.conflicting_layers, on.conflicting_layers, on.num_hidden
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}
