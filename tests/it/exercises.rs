//! The notebooks' exercise checks on the recorded lesson runs: "not run"
//! where the report is not the exercise's configuration, and a verdict that
//! follows the numbers where it is (reports edited to be the exercise's, so
//! both verdicts are reached).

use conflicting_bundles::bundle::Precision;
use conflicting_bundles::experiments::autotune::AutotuneReport;
use conflicting_bundles::experiments::conv_sweep::ConvSweepReport;
use conflicting_bundles::experiments::exercises::*;
use conflicting_bundles::experiments::fc_sweep::FcSweepReport;
use conflicting_bundles::experiments::lbe::{LbeRun, LbeStudyReport, PlainNet};
use conflicting_bundles::experiments::lesion::{ConflictRow, LesionReport};
use conflicting_bundles::experiments::precision::PrecisionReport;
use conflicting_bundles::experiments::recorded::recorded;
use conflicting_bundles::experiments::toy::ToyReport;
use serde::de::DeserializeOwned;

fn lesson<R: DeserializeOwned>(name: &str) -> R {
    recorded::<R>(name).unwrap().report
}

#[test]
fn toy_checks() {
    let toy: ToyReport = lesson("toy/full");
    assert_eq!(toy_outputs_at_class_shares(&toy).verdict, Verdict::NotRun);
    let mut share = toy.clone();
    share.config.imbalanced_share = 0.75;
    let run = share
        .runs
        .iter_mut()
        .find(|r| r.name == "conflicting_imbalanced")
        .unwrap();
    run.class_shares = [0.75, 0.25];
    run.final_mean_softmax = [0.748, 0.252];
    assert_eq!(toy_outputs_at_class_shares(&share).verdict, Verdict::Holds);
    share
        .runs
        .iter_mut()
        .find(|r| r.name == "conflicting_imbalanced")
        .unwrap()
        .final_mean_softmax = [0.66, 0.34];
    assert_eq!(toy_outputs_at_class_shares(&share).verdict, Verdict::Fails);
    assert_eq!(
        toy_hypothesis_with_another_seed(&toy).verdict,
        Verdict::NotRun
    );
    let mut seeded = toy.clone();
    seeded.config.seed = 1;
    assert_eq!(
        toy_hypothesis_with_another_seed(&seeded).verdict,
        Verdict::Holds
    );
    assert_eq!(pair_splits(1e-3, 1.0, 1e-3, 64).verdict, Verdict::NotRun);
    let split = pair_splits(1e-2, 1.0, 1e-3, 64);
    assert_eq!(split.verdict, Verdict::Holds, "{}", split.evidence);
}

#[test]
fn fc_sweep_checks() {
    let fc: FcSweepReport = lesson("fc_sweep/lesson");
    assert_eq!(boundary_rises_with_width(&fc).verdict, Verdict::NotRun);
    // Width 5 as deep as width 10 (the boundary does not fall), then deeper.
    let mut five = fc.clone();
    let tens: Vec<_> = fc
        .boundary
        .iter()
        .filter(|b| b.width == 10)
        .cloned()
        .collect();
    five.boundary.extend(tens.iter().cloned().map(|mut b| {
        b.width = 5;
        b
    }));
    five.config.widths.insert(0, 5);
    let c = boundary_rises_with_width(&five);
    assert_eq!(c.verdict, Verdict::Holds, "{}", c.evidence);
    for b in five.boundary.iter_mut().filter(|b| b.width == 5) {
        b.first_conflicting_layer = Some(140);
    }
    assert_eq!(boundary_rises_with_width(&five).verdict, Verdict::Fails);
    let c = entropy_against_accuracy(&fc);
    assert_eq!(c.verdict, Verdict::Holds, "{}", c.evidence);
    assert!(c.evidence.contains("-0.71"), "{}", c.evidence);
    assert_eq!(conflicts_cost_accuracy(&fc).verdict, Verdict::Holds);
}

#[test]
fn conv_sweep_checks() {
    let conv: ConvSweepReport = lesson("conv_sweep/lesson");
    let c = skip_connections_resolve_conflicts(&conv);
    assert_eq!(c.verdict, Verdict::Holds, "{}", c.evidence);
    // The recorded VGGs: only VGG-120 conflicts at the end; a conflicting
    // VGG-50 below a conflict-free VGG-76 breaks the order.
    assert_eq!(deeper_vggs_conflict(&conv).verdict, Verdict::Holds);
    let mut gap = conv.clone();
    gap.cells
        .iter_mut()
        .find(|c| c.depth == 50 && c.arch == conflicting_bundles::models::convnet::Arch::Vgg)
        .unwrap()
        .final_entropy = 0.5;
    assert_eq!(deeper_vggs_conflict(&gap).verdict, Verdict::Fails);
    assert_eq!(resnets_learn(&conv).verdict, Verdict::Holds);
}

#[test]
fn autotune_and_lesion_checks() {
    let at: AutotuneReport = lesson("autotune/lesson");
    assert_eq!(autotune_against_resnet76(&at).verdict, Verdict::NotRun);
    let mut r76 = at.clone();
    r76.config.baseline_depth = 76;
    for r in &mut r76.runs {
        r.baseline.depth = 76;
    }
    assert_eq!(autotune_against_resnet76(&r76).verdict, Verdict::Holds);
    let lesion: LesionReport = lesson("lesion/lesson");
    assert_eq!(
        block_outputs_do_not_conflict(&lesion).verdict,
        Verdict::NotRun
    );
    let mut by_output = lesion.clone();
    by_output.config.conflict_row = ConflictRow::Output;
    assert_eq!(
        block_outputs_do_not_conflict(&by_output).verdict,
        Verdict::Holds
    );
    by_output.net.as_mut().unwrap().blocks[3].output_entropy = 0.2;
    assert_eq!(
        block_outputs_do_not_conflict(&by_output).verdict,
        Verdict::Fails
    );
    let c = conflicting_blocks_go_together(&lesion);
    assert_eq!(c.verdict, Verdict::Holds, "{}", c.evidence);
    assert!(c.evidence.starts_with("k = 25: 92.7 %"), "{}", c.evidence);
}

#[test]
fn precision_checks() {
    let p: PrecisionReport = lesson("precision_sweep/lesson");
    assert_eq!(bf16_conflicts_from_layer_one(&p).verdict, Verdict::NotRun);
    let mut two = p.clone();
    two.config.precisions = vec![Precision::F32, Precision::Bf16];
    let c = bf16_conflicts_from_layer_one(&two);
    assert_eq!(c.verdict, Verdict::Holds, "{}", c.evidence);
    assert_eq!(f16_bundles_more_than_f32(&p).verdict, Verdict::Holds);
    assert_eq!(
        spacing_grows_with_w_max(1.0, 1e-3, 64.0).verdict,
        Verdict::NotRun
    );
    assert_eq!(
        spacing_grows_with_w_max(4.0, 1e-3, 64.0).verdict,
        Verdict::Holds
    );
}

#[test]
fn lbe_checks() {
    let r: LbeStudyReport = lesson("lbe/lesson");
    assert_eq!(lbe_zero_weight_changes_nothing(&r).verdict, Verdict::NotRun);
    let mut zero = r.clone();
    zero.config.lbe_fc.beta = 0.0;
    zero.config.lbe_conv.beta = 0.0;
    // The recorded runs with the term differ from their plain runs.
    assert_eq!(
        lbe_zero_weight_changes_nothing(&zero).verdict,
        Verdict::Fails
    );
    let plain: Vec<LbeRun> = zero
        .runs
        .iter()
        .filter(|r| !r.regularised)
        .cloned()
        .collect();
    for run in zero.runs.iter_mut().filter(|r| r.regularised) {
        let off = plain.iter().find(|p| p.net == run.net).unwrap();
        run.test_accuracy = off.test_accuracy;
        run.final_entropy = off.final_entropy;
    }
    assert_eq!(
        lbe_zero_weight_changes_nothing(&zero).verdict,
        Verdict::Holds
    );

    // The recorded FC-150 of width 10, called 300 layers deep: the check
    // reads its real numbers.
    assert_eq!(lbe_keeps_a_deeper_net_alive(&r).verdict, Verdict::NotRun);
    let narrow = PlainNet::Fc {
        width: 10,
        depth: 150,
    };
    let deep = PlainNet::Fc {
        width: 10,
        depth: 300,
    };
    let mut deeper = r.clone();
    deeper.config.nets = vec![deep];
    deeper.runs.retain(|x| x.net == narrow);
    deeper.runs.iter_mut().for_each(|x| x.net = deep);
    let c = lbe_keeps_a_deeper_net_alive(&deeper);
    assert_eq!(c.verdict, Verdict::Holds, "{}", c.evidence);
    deeper.runs[1].batch_entropy[3] = 0.0;
    assert_eq!(
        lbe_keeps_a_deeper_net_alive(&deeper).verdict,
        Verdict::Fails
    );

    assert_eq!(
        lbe_longer_training_resolves_conflicts(&r).verdict,
        Verdict::NotRun
    );
    let mut longer = r.clone();
    longer.config.run.epochs = 6;
    let c = lbe_longer_training_resolves_conflicts(&longer);
    let fewer = (longer.config.nets.iter())
        .filter(|n| matches!(n, PlainNet::Fc { .. }))
        .all(|&n| {
            longer.run(n, true).unwrap().conflicting_layers
                < longer.run(n, false).unwrap().conflicting_layers
        });
    assert_eq!(c.verdict == Verdict::Holds, fewer, "{}", c.evidence);
    for run in longer.runs.iter_mut().filter(|r| r.regularised) {
        run.conflicting_layers = 0;
    }
    assert_eq!(
        lbe_longer_training_resolves_conflicts(&longer).verdict,
        Verdict::Holds
    );
}
