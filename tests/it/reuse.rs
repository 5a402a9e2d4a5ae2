//! A notebook's run cell: the recorded run for a recorded configuration,
//! else a run in a folder named after the configuration, so that a changed
//! knob trains without meeting another configuration's report.

use std::path::Path;

use conflicting_bundles::experiments::autotune::{Autotune, AutotuneConfig, AutotuneReport};
use conflicting_bundles::experiments::conv_sweep::{ConvSweepConfig, ConvSweepReport};
use conflicting_bundles::experiments::criteria::CriteriaConfig;
use conflicting_bundles::experiments::fc_sweep::{FcSweepConfig, FcSweepReport};
use conflicting_bundles::experiments::lbe::LbeStudyConfig;
use conflicting_bundles::experiments::lesion::{LesionConfig, LesionReport};
use conflicting_bundles::experiments::precision::{PrecisionConfig, PrecisionReport};
use conflicting_bundles::experiments::reuse::*;
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;

const OFF: ProgressMode = ProgressMode::Off;

fn data() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

/// Every sweep's lesson configuration is recorded (the batch-entropy study
/// and the criteria comparison included): it loads at once, with
/// no data and no folder.
#[test]
fn the_lesson_presets_load_their_recorded_runs_without_data_or_folders() {
    let dev = Cpu::default();
    let root = tempfile::tempdir().unwrap();
    let nowhere = root.path().join("no-data");
    let fc = recorded_or_run_in(&dev, &FcSweepConfig::lesson(), &nowhere, root.path(), OFF);
    assert_eq!(fc.unwrap().config, FcSweepConfig::lesson());
    let conv = recorded_or_run_in(&dev, &ConvSweepConfig::lesson(), &nowhere, root.path(), OFF);
    assert_eq!(conv.unwrap().config, ConvSweepConfig::lesson());
    let precision =
        recorded_or_run_in(&dev, &PrecisionConfig::lesson(), &nowhere, root.path(), OFF);
    assert_eq!(precision.unwrap().config, PrecisionConfig::lesson());
    let lesion = recorded_or_run_in(&dev, &LesionConfig::lesson(), &nowhere, root.path(), OFF);
    assert_eq!(lesion.unwrap().config, LesionConfig::lesson());
    let lbe = recorded_or_run_in(&dev, &LbeStudyConfig::lesson(), &nowhere, root.path(), OFF);
    assert_eq!(lbe.unwrap().config, LbeStudyConfig::lesson());
    let criteria = recorded_or_run_in(&dev, &CriteriaConfig::lesson(), &nowhere, root.path(), OFF);
    assert_eq!(criteria.unwrap().config, CriteriaConfig::lesson());
    let cfg = AutotuneConfig::lesson();
    let autotune = recorded_or_run_in(&dev, &Autotune::new(&cfg), &nowhere, root.path(), OFF);
    assert_eq!(autotune.unwrap().config, cfg);
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    // The same as the recorded files say.
    let r = find_recorded::<LesionReport>(&LesionConfig::lesson())
        .unwrap()
        .unwrap();
    assert!(r.command.contains("--preset lesson"));
    assert!(find_recorded::<FcSweepReport>(&FcSweepConfig::quick())
        .unwrap()
        .is_none());
    assert!(find_recorded::<ConvSweepReport>(&ConvSweepConfig::full())
        .unwrap()
        .is_none());
    assert!(find_recorded::<PrecisionReport>(&PrecisionConfig::quick())
        .unwrap()
        .is_none());
    assert!(find_recorded::<AutotuneReport>(&AutotuneConfig::quick())
        .unwrap()
        .is_none());
}

/// A small lesion study (seconds): not recorded, so it runs in its own
/// folder; a changed knob runs in another, and the same configuration again
/// finds its folder's report.
#[test]
fn other_configurations_run_in_folders_of_their_own_and_resume() {
    let dev = Cpu::default();
    let root = tempfile::tempdir().unwrap();
    let cfg = LesionConfig {
        run: RunSettings {
            epochs: 1,
            max_steps_per_epoch: Some(4),
            train_samples: Some(256),
            test_samples: Some(100),
            bundle_samples: 64,
            ..LesionConfig::quick().run
        },
        depth: 10,
        draws: 1,
        counts: Some(2),
        ..LesionConfig::quick()
    };
    let first = recorded_or_run_in(&dev, &cfg, &data(), root.path(), OFF).unwrap();
    let dir = out_dir_for::<LesionReport>(root.path(), &cfg);
    assert!(dir.join("lesion.json").is_file(), "{}", dir.display());
    assert!(dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("lesion-"));
    // A changed knob: no "another configuration" error, another folder.
    let changed = LesionConfig {
        draws: 2,
        ..cfg.clone()
    };
    let other = recorded_or_run_in(&dev, &changed, &data(), root.path(), OFF).unwrap();
    assert_eq!(other.config, changed);
    let other_dir = out_dir_for::<LesionReport>(root.path(), &changed);
    assert_ne!(other_dir, dir);
    assert!(other_dir.join("lesion.json").is_file());
    // The first configuration again: its folder's report, nothing retrained.
    let report = dir.join("lesion.json");
    let written = std::fs::metadata(&report).unwrap().modified().unwrap();
    let again = recorded_or_run_in(&dev, &cfg, &data(), root.path(), OFF).unwrap();
    assert_eq!(again, first);
    assert_eq!(
        std::fs::metadata(&report).unwrap().modified().unwrap(),
        written
    );
}
