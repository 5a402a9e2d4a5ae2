//! `cb lbe`: plain nets without and with the batch-entropy regulariser: a
//! small real study (same initialisation for both runs of a net, both
//! entropies traced, resumed, sharded) and bad settings refused.

use std::path::{Path, PathBuf};

use crate::common::{bad_sets_stop_in_one_line, two_shards_merge_to};
use conflicting_bundles::experiments::lbe::*;
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::figures::Figures;
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

fn tiny() -> LbeStudyConfig {
    LbeStudyConfig {
        run: RunSettings {
            max_steps_per_epoch: Some(8),
            train_samples: Some(512),
            test_samples: Some(100),
            bundle_samples: 128,
            ..LbeStudyConfig::quick().run
        },
        nets: vec![
            PlainNet::Fc { width: 8, depth: 6 },
            PlainNet::Vgg { depth: 10 },
        ],
        trace_every_steps: 4,
        ..LbeStudyConfig::quick()
    }
}

#[test]
fn a_small_study_runs_resumes_and_merges_from_shards() {
    let dev = Cpu::default();
    let cfg = tiny();
    let out = tempfile::tempdir().unwrap();
    let r = run_lbe(&dev, &cfg, &data(), Some(out.path()), ProgressMode::Off).unwrap();
    let labels: Vec<String> = r.runs.iter().map(LbeRun::label).collect();
    assert_eq!(labels, ["fc-6x8", "fc-6x8+lbe", "vgg-10", "vgg-10+lbe"]);
    for net in &cfg.nets {
        let (off, on) = (r.run(*net, false).unwrap(), r.run(*net, true).unwrap());
        // One initialisation: before the first step both runs measure the same net.
        assert_eq!(off.trace.bundles[0], on.trace.bundles[0], "{net}");
        // Then the term changes the training.
        assert_ne!(off.trace.bundles.last(), on.trace.bundles.last(), "{net}");
        assert_eq!(on.trace.config.lbe, Some(cfg.lbe_for(*net)));
        assert_eq!(off.trace.config.lbe, None);
        for e in &on.trace.epochs {
            assert!(e.lbe_deviation.is_some_and(f64::is_finite));
            assert_eq!(e.lbe_targets.len(), on.num_hidden);
        }
        for run in [off, on] {
            // Both entropies of every layer at every measurement (start,
            // every 4 steps, the epoch's end).
            assert_eq!(run.trace.bundles.len(), 3, "{net}");
            for b in &run.trace.bundles {
                assert_eq!(b.batch_entropy.len(), run.num_hidden);
                assert_eq!(b.entropy.len(), run.num_hidden);
            }
            assert_eq!(run.batch_entropy, run.trace.bundles[2].batch_entropy);
            let conflicting = run.trace.bundles[2]
                .entropy
                .iter()
                .filter(|&&h| h > 0.0)
                .count();
            assert_eq!(run.conflicting_layers, conflicting);
        }
    }
    // The VGG's target is fixed at 2.0 (α_min = α), as the follow-up's CNN.
    let vgg = r.run(PlainNet::Vgg { depth: 10 }, true).unwrap();
    assert!(vgg.trace.epochs[0].lbe_targets.iter().all(|&t| t == 2.0));
    let text = r.to_string();
    assert!(text.contains("fc-6x8: test accuracy"), "{text}");
    let charts: Vec<String> = r.figures().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        charts,
        ["accuracy", "bundle_entropy", "batch_entropy", "layers"]
    );
    // A rerun finds every run done.
    let again = run_lbe(&dev, &cfg, &data(), Some(out.path()), ProgressMode::Off).unwrap();
    assert_eq!(again, r);
    // Two shards put together give the same numbers.
    two_shards_merge_to(&cfg, &data(), &r);
}

#[test]
fn bad_settings_stop_in_one_line_before_any_folder() {
    bad_sets_stop_in_one_line(
        "lbe",
        &data(),
        &[
            ("batch_size=1", "batch_size must be at least 2"),
            ("nets=[]", "at least one net"),
            ("lbe_fc.beta=-1", "lbe_fc.beta must be a number >= 0"),
            ("lbe_conv.alpha_min=nan", "lbe_conv.alpha_min"),
            ("dataset=cifar10", "the FC nets take 28×28 rows"),
            (
                "trace_every_steps=0",
                "trace_every_steps must be at least 1",
            ),
            ("nets.0.width=0", "width and depth of at least 1"),
            ("nets.1.depth=11", "depth 11"),
        ],
    );
}
