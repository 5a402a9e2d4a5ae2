//! §3.6: the authors' pruning rule, Table 1 statistics, the search on
//! planted conflicts (a conflict in a later epoch prunes again and
//! restarts), and a small real auto-tune run with its baseline, resumed.

use std::path::{Path, PathBuf};

use conflicting_bundles::experiments::autotune::*;
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::models::convnet::{Arch, ConvSpec, Row, BLOCKS_120};
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;

fn vgg(blocks: [usize; 4]) -> ConvSpec {
    ConvSpec {
        arch: Arch::Vgg,
        blocks,
    }
}

#[test]
fn pruning_keeps_the_blocks_before_the_conflicting_one_and_can_empty_a_stage() {
    let v = vgg(BLOCKS_120);
    // Row 1 is the stem; stage 1's blocks are rows 2..=4, stage 2's 5..=16,
    // stage 3's 17..=57, stage 4's 58..=60; row 61 is the pooled features.
    assert_eq!(prune(v, 14).unwrap().blocks, [3, 9, 41, 3]);
    assert_eq!(prune(v, 20).unwrap().blocks, [3, 12, 3, 3]);
    // Block 0 of its stage: the stage goes, later stages stay.
    assert_eq!(prune(v, 17).unwrap().blocks, [3, 12, 0, 3]);
    assert_eq!(prune(v, 2).unwrap().blocks, [0, 12, 41, 3]);
    assert_eq!(prune(v, 60).unwrap().blocks, [3, 12, 41, 2]);
    assert_eq!(prune(v, 1), None, "the stem is no block");
    assert_eq!(prune(v, 61), None, "nor are the pooled features");
    assert_eq!(prune(v, 62), None, "no such row");
    // An empty stage is skipped in the numbering.
    let gap = vgg([2, 0, 3, 1]);
    assert_eq!(prune(gap, 4).unwrap().blocks, [2, 0, 0, 1]);
    // A ResNet's branch row belongs to its block.
    let res = ConvSpec {
        arch: Arch::Resnet,
        blocks: [2, 1, 1, 1],
    };
    assert_eq!(res.rows()[4], Row::Branch { stage: 0, index: 1 });
    assert_eq!(prune(res, 5).unwrap().blocks, [1, 1, 1, 1]);
}

#[test]
fn the_first_conflicting_block_skips_the_stem() {
    let v = vgg([1, 2, 1, 1]);
    // stem, s1.b1, s2.b1, s2.b2, s3.b1, s4.b1, pool
    let h = [0.4, 0.0, 0.0, 0.2, 0.3, 0.3, 0.5];
    assert_eq!(first_conflicting_block(v, &h), Some(4));
    let only_pooled = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5];
    assert_eq!(first_conflicting_block(v, &only_pooled), None);
}

#[test]
fn mean_and_sample_std() {
    let m = MeanStd::of(&[1.0, 2.0, 3.0, 4.0]);
    assert!((m.mean - 2.5).abs() < 1e-12);
    assert!((m.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(MeanStd::of(&[7.0]).std, 0.0);
}

#[test]
fn the_presets_compare_against_table_1s_resnets_with_the_authors_sample_count() {
    assert_eq!(
        AutotuneConfig::full().baseline_depth,
        76,
        "CIFAR-10: ResNet-76"
    );
    for cfg in [AutotuneConfig::lesson(), AutotuneConfig::quick()] {
        assert_eq!(cfg.baseline_depth, 50, "MNIST: ResNet-50");
    }
    for cfg in [
        AutotuneConfig::full(),
        AutotuneConfig::lesson(),
        AutotuneConfig::quick(),
    ] {
        assert_eq!(cfg.run.bundle_samples, 512);
        assert_eq!(cfg.check_epochs, 10);
        assert_eq!(cfg.start_blocks, BLOCKS_120);
    }
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

/// A few steps per epoch on a small VGG: the search's mechanics, not its
/// numbers.
fn tiny() -> AutotuneConfig {
    AutotuneConfig {
        run: RunSettings {
            epochs: 3,
            max_steps_per_epoch: Some(4),
            train_samples: Some(256),
            test_samples: Some(100),
            bundle_samples: 64,
            ..AutotuneConfig::quick().run
        },
        start_blocks: [2, 2, 2, 1],
        runs: 1,
        baseline_depth: 10,
        ..AutotuneConfig::quick()
    }
}

#[test]
fn a_conflict_in_a_later_epoch_prunes_again_and_restarts_from_scratch() {
    let out = tempfile::tempdir().unwrap();
    let dev: Cpu = Default::default();
    let cfg = tiny();
    // Every measurement is replaced: net 0 conflicts after epoch 1 at stage
    // 2's second block (row 5: stem, s1.b1, s1.b2, s2.b1, s2.b2); net 1, the
    // pruned one, trains clean through epoch 1 and conflicts after its
    // second epoch at stage 1's first block (row 2); net 2 stays clean.
    let plant = |net: usize, epoch: usize, p: &mut conflicting_bundles::train::BundlePoint| {
        p.entropy.iter_mut().for_each(|h| *h = 0.0);
        let row = match (net, epoch) {
            (0, 1) => 5,
            (1, 2) => 2,
            _ => return,
        };
        p.entropy[row - 1] = 0.7;
        *p.entropy.last_mut().unwrap() = 0.7;
    };
    let r = run_autotune_injected(&dev, &cfg, &data(), out.path(), &plant).unwrap();
    let run = &r.runs[0];
    let c = &run.changes;
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(
        (c[0].from.blocks, c[0].to.blocks),
        ([2, 2, 2, 1], [2, 1, 2, 1])
    );
    assert_eq!(
        (c[0].net_epoch, c[0].epoch, c[0].first_conflicting_layer),
        (1, 1, 5)
    );
    assert_eq!(c[0].epoch_entropy, vec![0.7]);
    assert_eq!(
        (c[1].from.blocks, c[1].to.blocks),
        ([2, 1, 2, 1], [0, 1, 2, 1])
    );
    assert_eq!(
        (c[1].net_epoch, c[1].epoch, c[1].first_conflicting_layer),
        (2, 3, 2)
    );
    assert_eq!(c[1].epoch_entropy, vec![0.0, 0.7]);
    assert_eq!(run.stopped, "no conflict in the first 3 epochs");
    assert_eq!(run.autotuned.spec.blocks, [0, 1, 2, 1]);
    assert_eq!(run.autotuned.epoch_accuracy.len(), 3);
    assert_eq!(run.autotuned.epoch_entropy.len(), 3);
    // Each net trained from scratch in its own folder, as far as its check.
    let epochs_in = |net: &str| {
        let j: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("run0").join(net).join("results.json"))
                .unwrap(),
        )
        .unwrap();
        j["epochs"].as_array().unwrap().len()
    };
    assert_eq!(
        (epochs_in("net0"), epochs_in("net1"), epochs_in("net2")),
        (1, 2, 3)
    );
}

#[test]
fn a_conflict_no_block_explains_or_too_many_prunes_stop_the_search() {
    let dev: Cpu = Default::default();
    let cfg = AutotuneConfig {
        run: RunSettings {
            epochs: 2,
            ..tiny().run
        },
        ..tiny()
    };
    // Only the pooled features conflict: nothing to cut, the net trains on.
    let out = tempfile::tempdir().unwrap();
    let pooled = |_: usize, _: usize, p: &mut conflicting_bundles::train::BundlePoint| {
        p.entropy.iter_mut().for_each(|h| *h = 0.0);
        *p.entropy.last_mut().unwrap() = 0.2;
    };
    let r = run_autotune_injected(&dev, &cfg, &data(), out.path(), &pooled).unwrap();
    let run = &r.runs[0];
    assert!(run.changes.is_empty());
    assert!(
        run.stopped.contains("no block conflicts"),
        "{}",
        run.stopped
    );
    assert_eq!(run.autotuned.spec.blocks, [2, 2, 2, 1]);
    assert_eq!(run.autotuned.epoch_accuracy.len(), 2);
    // A conflict at the last block every time, one prune allowed.
    let out = tempfile::tempdir().unwrap();
    let last_block = |_: usize, _: usize, p: &mut conflicting_bundles::train::BundlePoint| {
        let n = p.entropy.len();
        p.entropy.iter_mut().for_each(|h| *h = 0.0);
        p.entropy[n - 2] = 0.3;
        p.entropy[n - 1] = 0.3;
    };
    let cfg = AutotuneConfig {
        max_prunes: 1,
        ..cfg
    };
    let r = run_autotune_injected(&dev, &cfg, &data(), out.path(), &last_block).unwrap();
    let run = &r.runs[0];
    assert_eq!(run.changes.len(), 1);
    assert_eq!(run.changes[0].to.blocks, [2, 2, 2, 0]);
    assert!(run.stopped.contains("max_prunes"), "{}", run.stopped);
    assert_eq!(run.autotuned.spec.blocks, [2, 2, 2, 0]);
}

#[test]
fn autotune_runs_with_its_baseline_and_resumes() {
    let out = tempfile::tempdir().unwrap();
    let dev: Cpu = Default::default();
    let cfg = AutotuneConfig {
        run: RunSettings {
            epochs: 2,
            max_steps_per_epoch: Some(10),
            train_samples: Some(640),
            test_samples: Some(200),
            bundle_samples: 256,
            ..tiny().run
        },
        start_blocks: [3, 4, 4, 3],
        baseline_depth: 12,
        ..tiny()
    };
    let r = run_autotune(&dev, &cfg, &data(), out.path(), ProgressMode::Off).unwrap();
    let run = &r.runs[0];
    // Every change follows the rule from what was measured.
    for c in &run.changes {
        assert_eq!(prune(c.from, c.first_conflicting_layer), Some(c.to));
        assert_eq!(
            first_conflicting_block(c.from, &c.entropy),
            Some(c.first_conflicting_layer)
        );
        assert!(*c.epoch_entropy.last().unwrap() > 0.0);
    }
    match run.changes.last() {
        Some(c) => assert_eq!(run.autotuned.spec, c.to),
        None => assert_eq!(run.autotuned.spec.blocks, [3, 4, 4, 3]),
    }
    assert_eq!(run.autotuned.epoch_entropy.len(), 2);
    assert_eq!(
        run.autotuned.final_profile.len(),
        run.autotuned.spec.rows().len()
    );
    assert_eq!(
        run.autotuned.final_profile.last(),
        Some(&run.autotuned.final_entropy)
    );
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
    // A rerun finds the run done and trains nothing.
    let again = run_autotune(&dev, &cfg, &data(), out.path(), ProgressMode::Off).unwrap();
    assert_eq!(again, r);
    // Killed before the report was written, a rerun replays the search from
    // the nets' checkpoints (not rewritten: nothing retrains) to the same
    // result; only the measured times may differ.
    let first = out.path().join("run0/net0/checkpoint.safetensors");
    let written = std::fs::metadata(&first).unwrap().modified().unwrap();
    std::fs::remove_file(out.path().join(REPORT)).unwrap();
    let resumed = run_autotune(&dev, &cfg, &data(), out.path(), ProgressMode::Off).unwrap();
    assert_eq!(
        std::fs::metadata(&first).unwrap().modified().unwrap(),
        written
    );
    let (a, b) = (&resumed.runs[0], &r.runs[0]);
    assert_eq!((&a.changes, &a.stopped), (&b.changes, &b.stopped));
    for (x, y) in [(&a.autotuned, &b.autotuned), (&a.baseline, &b.baseline)] {
        assert_eq!(
            (x.spec, x.test_accuracy, &x.epoch_accuracy, &x.epoch_entropy),
            (y.spec, y.test_accuracy, &y.epoch_accuracy, &y.epoch_entropy)
        );
    }
}
