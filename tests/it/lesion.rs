//! The lesion study: how a dropped block computes, the removal orders on a
//! net with planted conflicting blocks, and a small real run (resumed,
//! sharded, and refused with bad settings).
//!
//! Planting: a block whose second batch norm has scale 0 and shift 0 has a
//! branch that is 0 for every sample, so the metric puts all samples in one
//! bundle (conflicting), and the block's output is `ReLU(shortcut(x) + 0)`,
//! exactly what dropping it gives. Such a block can be dropped at no cost at
//! all, which makes the curves checkable to the last bit.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::common::{bad_sets_stop_in_one_line, numbers, two_shards_merge_to};
use conflicting_bundles::data::Dataset;
use conflicting_bundles::experiments::conv_nets::load_images;
use conflicting_bundles::experiments::lesion::*;
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::figures::Figures;
use conflicting_bundles::models::convnet::*;
use conflicting_bundles::models::Classifier;
use conflicting_bundles::train::checkpoint::{export_params, import_params};
use conflicting_bundles::train::trainer::{evaluate, measure_hidden};
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

/// ResNet blocks 2/2/2/2 at widths / 16: blocks 3, 5 and 7 project.
const SPEC: ConvSpec = ConvSpec {
    arch: Arch::Resnet,
    blocks: [2, 2, 2, 2],
};

/// The planted conflicting blocks: identity (2, 8) and projection (5).
const PLANTED: [usize; 3] = [2, 5, 8];

fn images() -> (Dataset, Dataset) {
    load_images(
        conflicting_bundles::data::DatasetKind::Mnist,
        &data(),
        Some(256),
        Some(200),
    )
    .unwrap()
}

/// An untrained net of [`SPEC`] with the branches of [`PLANTED`] zeroed.
fn planted(dev: &Cpu, train: &Dataset) -> ConvNet<10, Cpu> {
    let mut net = ConvNet::new(dev, SPEC, Widths::divided(16).unwrap(), train.shape(), 3).unwrap();
    let mut values: HashMap<String, Vec<f32>> = export_params(&mut net).into_iter().collect();
    let names: Vec<String> = (SPEC.rows().into_iter())
        .filter_map(|r| match r {
            Row::Block { stage, index } => Some(format!("stage{}.{index}", stage + 1)),
            _ => None,
        })
        .collect();
    for b in PLANTED {
        for p in ["scale", "bias"] {
            let v = values
                .get_mut(&format!("{}.b.bn.{p}", names[b - 1]))
                .unwrap();
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }
    import_params(&mut net, &values).unwrap();
    net
}

fn config() -> LesionConfig {
    LesionConfig {
        draws: 4,
        counts: None,
        ..LesionConfig::quick()
    }
}

/// The block rows of `net` on `x` (block outputs, in order).
fn block_outputs(net: &ConvNet<10, Cpu>, x: Tensor<(usize, usize), f32, Cpu>) -> Vec<Vec<f32>> {
    let rows = net.spec().rows();
    let hidden = net.forward_hidden(x).hidden;
    (rows.iter().zip(hidden))
        .filter(|(r, _)| matches!(r, Row::Block { .. }))
        .map(|(_, h)| h.as_vec())
        .collect()
}

#[test]
fn a_dropped_block_outputs_its_shortcut_after_the_relu() {
    let dev = Cpu::default();
    let (train, _) = images();
    let mut net = ConvNet::new(&dev, SPEC, Widths::divided(16).unwrap(), train.shape(), 0).unwrap();
    assert_eq!(net.removable_blocks(), (1..=8).collect::<Vec<_>>());
    assert_eq!(net.projection_blocks(), vec![3, 5, 7]);
    let x = || dev.tensor_from_vec(train.images[..8 * 1024].to_vec(), (8, 1024));
    let intact = block_outputs(&net, x());
    // Identity block 4: its output is its input, block 3's output.
    net.set_lesion(&[4]).unwrap();
    let dropped = block_outputs(&net, x());
    assert_eq!(dropped[3], intact[2]);
    assert_eq!(dropped[..3], intact[..3]);
    assert_ne!(dropped[4], intact[4]);
    // Projection block 3: not its input (other shape), not the intact
    // output, and a ReLU's output.
    net.set_lesion(&[3]).unwrap();
    let dropped = block_outputs(&net, x());
    assert_eq!(dropped[..2], intact[..2]);
    assert_ne!(dropped[2], intact[2]);
    assert!(dropped[2].iter().all(|&v| v >= 0.0));
    assert!(dropped[2].iter().any(|&v| v > 0.0));
    // set_lesion sets exactly the blocks given: the empty list restores.
    net.set_lesion(&[]).unwrap();
    assert_eq!(block_outputs(&net, x()), intact);
    // Refused before anything changes.
    net.set_lesion(&[4]).unwrap();
    for bad in [vec![0], vec![9], vec![2, 12]] {
        let e = net.set_lesion(&bad).unwrap_err().to_string();
        assert!(e.contains("does not exist") && e.contains("1..=8"), "{e}");
    }
    assert_eq!(block_outputs(&net, x())[3], intact[2], "lesion unchanged");
    let mut vgg = ConvNet::<10, Cpu>::new(
        &dev,
        ConvSpec {
            arch: Arch::Vgg,
            ..SPEC
        },
        Widths::divided(16).unwrap(),
        train.shape(),
        0,
    )
    .unwrap();
    // A VGG block has no shortcut: only those that keep their input's
    // shape can go (tests/it/criteria.rs checks how).
    assert_eq!(vgg.removable_blocks(), vec![1, 2, 4, 6, 8]);
    let e = vgg.set_lesion(&[3]).unwrap_err().to_string();
    assert!(
        e.contains("no shortcut") && e.contains("changes the shape"),
        "{e}"
    );
}

#[test]
fn counts_spread_evenly_with_the_first_and_last() {
    let with = |counts| LesionConfig {
        counts,
        ..LesionConfig::quick()
    };
    assert_eq!(with(None).counts_for(4), vec![1, 2, 3, 4]);
    assert_eq!(with(Some(3)).counts_for(9), vec![1, 5, 9]);
    assert_eq!(with(Some(4)).counts_for(59), vec![1, 20, 40, 59]);
    assert_eq!(with(Some(8)).counts_for(5), vec![1, 2, 3, 4, 5]);
    assert_eq!(with(Some(2)).counts_for(0), Vec::<usize>::new());
}

#[test]
fn the_removal_orders_on_planted_conflicting_blocks() {
    let dev = Cpu::default();
    let (train, test) = images();
    let mut model = planted(&dev, &train);
    let cfg = config();
    let point = measure_hidden(&dev, &model, &train, 1e-3, 64).unwrap();
    let blocks = measured_blocks(
        SPEC,
        &point,
        ConflictRow::Branch,
        &model.projection_blocks(),
    );
    let net = LesionNet {
        spec: SPEC,
        train_accuracy: 0.0,
        test_accuracy: evaluate(&dev, &model, &test).1,
        blocks,
    };
    // The planted blocks, and only they, are conflicting, by their branch.
    assert_eq!(net.pool(DrawKind::Conflicting), PLANTED.to_vec());
    assert_eq!(net.pool(DrawKind::NonConflicting), vec![1, 3, 4, 6, 7]);
    for b in &net.blocks {
        assert_eq!(b.projection, [3, 5, 7].contains(&b.block));
        let planted = PLANTED.contains(&b.block);
        assert_eq!(b.branch_bundles == 1, planted, "block {}", b.block);
        assert!((b.branch_entropy > 0.0) == planted);
    }
    let by_output = measured_blocks(SPEC, &point, ConflictRow::Output, &[3, 5, 7]);
    assert!(by_output
        .iter()
        .all(|b| b.conflicting == (b.output_entropy > 0.0)));
    let intact = net.test_accuracy;
    // The accuracy of a set of dropped blocks, measured here independently.
    let mut check = |blocks: &[usize]| {
        model.set_lesion(blocks).unwrap();
        let a = evaluate(&dev, &model, &test).1;
        model.set_lesion(&[]).unwrap();
        a
    };
    let run = |unit| study(&dev, &mut planted(&dev, &train), &test, &cfg, &net, unit).unwrap();

    // Single drops: every block once, in order; a planted block costs nothing.
    let LesionPart::Single(single) = run(LesionUnit::Single) else {
        panic!("single drops")
    };
    assert_eq!(
        single.iter().map(|s| s.block).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    for s in &single {
        assert_eq!(s.accuracy, check(&[s.block]), "block {}", s.block);
        if PLANTED.contains(&s.block) {
            assert_eq!(s.accuracy, intact);
        }
    }
    assert!(
        single.iter().any(|s| s.accuracy != intact),
        "live blocks matter"
    );

    let curve = |part: LesionPart| match part {
        LesionPart::Curve(c) => c,
        LesionPart::Single(_) => panic!("a curve"),
    };
    // Conflicting draws: k = 1..=3 from the planted blocks only, k distinct
    // blocks per draw, all free; the whole pool drawn once.
    let c = curve(run(LesionUnit::Draws(DrawKind::Conflicting)));
    assert_eq!(
        c.points.iter().map(|p| p.k).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    for p in &c.points {
        assert_eq!(p.draws.len(), if p.k == 3 { 1 } else { cfg.draws });
        for d in &p.draws {
            assert_eq!(d.blocks.iter().collect::<BTreeSet<_>>().len(), p.k);
            assert!(d.blocks.iter().all(|b| PLANTED.contains(b)));
            assert_eq!(d.accuracy, intact);
        }
        assert_eq!((p.mean, p.std), (intact, 0.0));
    }
    // Non-conflicting: k = 1..=5 from the others; each draw's accuracy is
    // the one measured here, mean and population std from them.
    let c = curve(run(LesionUnit::Draws(DrawKind::NonConflicting)));
    assert_eq!(
        c.points.iter().map(|p| p.k).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    for p in &c.points {
        for d in &p.draws {
            assert_eq!(d.blocks.len(), p.k);
            assert!(d.blocks.iter().all(|b| !PLANTED.contains(b)));
            assert_eq!(d.accuracy, check(&d.blocks));
        }
        let a: Vec<f64> = p.draws.iter().map(|d| d.accuracy).collect();
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!((p.mean - mean).abs() < 1e-12 && (p.std - var.sqrt()).abs() < 1e-12);
    }
    // Arbitrary: k up to the larger pool (5), drawn from all eight blocks.
    let c = curve(run(LesionUnit::Draws(DrawKind::Arbitrary)));
    assert_eq!(c.points.last().unwrap().k, 5);
    let drawn: BTreeSet<usize> = (c.points.iter())
        .flat_map(|p| p.draws.iter().flat_map(|d| d.blocks.clone()))
        .collect();
    assert!(drawn.iter().any(|b| PLANTED.contains(b)));
    assert!(drawn.iter().any(|b| !PLANTED.contains(b)));
    for d in c.points.iter().flat_map(|p| &p.draws) {
        assert_eq!(d.accuracy, check(&d.blocks));
    }
    // Seeded: the same draws again.
    let again = curve(run(LesionUnit::Draws(DrawKind::Arbitrary)));
    assert_eq!(again, c);
}

/// A ResNet-10 trained a few steps: the study end to end, resumed, and in
/// two shards merged to the same report.
fn tiny() -> LesionConfig {
    LesionConfig {
        run: RunSettings {
            epochs: 1,
            max_steps_per_epoch: Some(6),
            train_samples: Some(384),
            test_samples: Some(100),
            bundle_samples: 128,
            ..LesionConfig::quick().run
        },
        depth: 12,
        draws: 2,
        counts: Some(2),
        ..LesionConfig::quick()
    }
}

#[test]
fn a_small_study_runs_resumes_and_merges_from_shards() {
    let dev = Cpu::default();
    let cfg = tiny();
    let out = tempfile::tempdir().unwrap();
    let r = run_lesion(&dev, &cfg, &data(), out.path(), ProgressMode::Off).unwrap();
    let net = r.net.as_ref().unwrap();
    assert_eq!(net.blocks.len(), 5);
    assert_eq!(r.single.len(), 5);
    assert_eq!(
        r.curves.iter().map(|c| c.kind).collect::<Vec<_>>(),
        DrawKind::ALL.to_vec()
    );
    for c in &r.curves {
        let n = net.max_count(c.kind).min(net.pool(c.kind).len());
        assert_eq!(c.points.last().map(|p| p.k), (n > 0).then_some(n));
    }
    assert!(out.path().join("net/checkpoint.safetensors").exists());
    // The tables and both charts come out of it.
    assert!(r.to_string().contains("conflicting"));
    let charts: Vec<String> = r.figures().into_iter().map(|(n, _)| n).collect();
    assert_eq!(charts, ["single", "curves"]);
    // A rerun finds every unit done.
    let again = run_lesion(&dev, &cfg, &data(), out.path(), ProgressMode::Off).unwrap();
    assert_eq!(again, r);
    // Without its report, the units rerun from the net's checkpoint: the
    // same numbers.
    std::fs::remove_file(out.path().join(REPORT)).unwrap();
    let resumed = run_lesion(&dev, &cfg, &data(), out.path(), ProgressMode::Off).unwrap();
    assert_eq!(numbers(&resumed), numbers(&r));
    // Two shards, each training the same net in its own folder.
    two_shards_merge_to(&cfg, &data(), &r);
}

#[test]
fn bad_settings_stop_in_one_line_before_any_folder() {
    bad_sets_stop_in_one_line(
        "lesion",
        &data(),
        &[
            ("draws=0", "draws must be at least 1"),
            ("counts=1", "counts must be at least 2"),
            ("depth=11", "depth 11"),
            ("conflict_row=input", "unknown variant `input`"),
            ("weight_decay=-1", "weight_decay must be a number >= 0"),
        ],
    );
}
