//! §3.6: the pruning rule, Table 1 statistics, and a small end-to-end
//! auto-tune run with its baseline and lesion study.

use std::path::Path;

use conflicting_bundles::experiments::autotune::*;
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::models::convnet::{Arch, ConvSpec, BLOCKS_120};
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;

#[test]
fn pruning_cuts_the_conflicting_block_and_the_rest_of_its_stage() {
    let vgg = ConvSpec {
        arch: Arch::Vgg,
        blocks: BLOCKS_120,
    };
    // Hidden layer 1 is the stem; stage 2's blocks are layers 5..=16.
    assert_eq!(prune(vgg, 14).unwrap().blocks, [3, 9, 41, 3]);
    assert_eq!(prune(vgg, 20).unwrap().blocks, [3, 12, 3, 3]);
    // A stage keeps its first block (it changes width and resolution).
    assert_eq!(prune(vgg, 17).unwrap().blocks, [3, 12, 1, 3]);
    assert_eq!(prune(vgg, 1), None, "the stem cannot be cut");
    let thin = ConvSpec {
        arch: Arch::Vgg,
        blocks: [1, 1, 1, 1],
    };
    assert_eq!(prune(thin, 3), None, "a stage's only block stays");
    assert_eq!(prune(vgg, 61), None, "no such layer");
}

#[test]
fn mean_and_sample_std() {
    let m = MeanStd::of(&[1.0, 2.0, 3.0, 4.0]);
    assert!((m.mean - 2.5).abs() < 1e-12);
    assert!((m.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(MeanStd::of(&[7.0]).std, 0.0);
}

#[test]
fn autotune_prunes_the_120_layer_vgg_until_no_layer_conflicts() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    let out = tempfile::tempdir().unwrap();
    let dev: Cpu = Default::default();
    let cfg = AutotuneConfig {
        epochs: 2,
        max_steps_per_epoch: Some(10),
        train_samples: Some(640),
        test_samples: Some(200),
        bundle_samples: 256,
        runs: 1,
        baseline_depth: 12,
        lesion_random_orders: 1,
        ..AutotuneConfig::quick()
    };
    let r = run_autotune(&dev, &cfg, &data, out.path(), ProgressMode::Off).unwrap();
    let run = &r.runs[0];
    for c in &run.changes {
        eprintln!(
            "epoch {}: layer {} {} -> {}",
            c.epoch, c.first_conflicting_layer, c.from, c.to
        );
    }
    eprintln!("{}: {:?}", run.stopped, run.autotuned);
    // At least one pruning step, each one cutting the reported layer's stage.
    assert!(!run.changes.is_empty());
    for c in &run.changes {
        assert_eq!(prune(c.from, c.first_conflicting_layer), Some(c.to));
        assert!(c.entropy[c.first_conflicting_layer - 1] > 0.0);
        assert!(c.entropy[..c.first_conflicting_layer - 1]
            .iter()
            .all(|&h| h == 0.0));
    }
    // It ends smaller than where it started, by one of the rule's two stops:
    // no conflicting last layer, or a first conflicting layer that cannot be
    // cut. Which one a 40-step run on 640 samples reaches depends on f32
    // rounding: summing the conv's input gradient in another (equally exact)
    // order moved this run's fourth first conflicting layer from 4 (cut,
    // ending conflict-free at depth 14) to 3 (the stage's only block). The
    // paper's claim, that the tuned net of a trained run is conflict-free,
    // belongs to runs long enough to train (`cb autotune` at full scale),
    // not to this test of the mechanics.
    assert!(run.autotuned.depth < 120);
    assert_eq!(run.autotuned.spec, run.changes.last().unwrap().to);
    if run.stopped == "no conflicting layer" {
        assert_eq!(run.autotuned.final_entropy, 0.0);
    } else {
        let layer: usize = run
            .stopped
            .strip_prefix("first conflicting layer ")
            .and_then(|s| s.split(' ').next())
            .and_then(|l| l.parse().ok())
            .unwrap_or_else(|| panic!("unexpected stop: {}", run.stopped));
        assert!(run.autotuned.final_entropy > 0.0);
        assert_eq!(prune(run.autotuned.spec, layer), None, "{}", run.stopped);
    }
    // Table 1 rows with real sizes and times.
    let table = r.table();
    assert_eq!(table.len(), 2);
    assert!(table
        .iter()
        .all(|t| t.checkpoint_mb.mean > 0.0 && t.inference_ms.mean > 0.0));
    assert_eq!(run.baseline.depth, 12);
    assert!(out
        .path()
        .join("run0/baseline/weights.safetensors")
        .exists());
    // The lesion study removed every removable block of the baseline.
    let l = r.lesion.as_ref().unwrap();
    assert_eq!(l.accuracy.len(), l.blocks.len() + 1);
    assert_eq!(l.random_accuracy.len(), l.blocks.len() + 1);
    let mut sorted = l.order.clone();
    sorted.sort();
    assert_eq!(sorted, l.blocks);
    // A rerun finds the run done and trains nothing.
    let again = run_autotune(&dev, &cfg, &data, out.path(), ProgressMode::Off).unwrap();
    assert_eq!(again, r);
    // Killed before the report was written, a rerun replays the search from
    // the probes' checkpoints (not rewritten: nothing retrains) to the same
    // result; only the measured times may differ.
    let probe = out.path().join("run0/probe0/checkpoint.safetensors");
    let written = std::fs::metadata(&probe).unwrap().modified().unwrap();
    std::fs::remove_file(out.path().join(REPORT)).unwrap();
    let resumed = run_autotune(&dev, &cfg, &data, out.path(), ProgressMode::Off).unwrap();
    assert_eq!(
        std::fs::metadata(&probe).unwrap().modified().unwrap(),
        written
    );
    let (a, b) = (&resumed.runs[0], &r.runs[0]);
    assert_eq!((&a.changes, &a.stopped), (&b.changes, &b.stopped));
    for (x, y) in [(&a.autotuned, &b.autotuned), (&a.baseline, &b.baseline)] {
        assert_eq!(
            (x.spec, x.test_accuracy, &x.epoch_accuracy),
            (y.spec, y.test_accuracy, &y.epoch_accuracy)
        );
    }
    assert_eq!(resumed.lesion, r.lesion);
}
