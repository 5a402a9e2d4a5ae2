//! Every recorded run under `results/` loads with the current code and was
//! made with the preset its file is named after, so a change to a report's
//! schema or to a preset cannot leave the recorded runs (and the notebooks
//! and docs that show them) stale: rerun the command inside the file.

use std::path::Path;

use conflicting_bundles::experiments::autotune::{AutotuneConfig, AutotuneReport};
use conflicting_bundles::experiments::conv_sweep::{ConvSweepConfig, ConvSweepReport};
use conflicting_bundles::experiments::fc_sweep::{FcSweepConfig, FcSweepReport};
use conflicting_bundles::experiments::recorded::{read, results_dir, Recorded};
use conflicting_bundles::experiments::{Preset, Presets};
use serde::de::DeserializeOwned;

/// Loads `path` as a recorded `R` and checks its configuration.
fn check<R: DeserializeOwned>(path: &Path, same_config: impl Fn(&R) -> bool) {
    let run: Recorded<R> = read(path).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        same_config(&run.report),
        "{}: made with another configuration than its preset's; rerun `{}`",
        path.display(),
        run.command
    );
    assert!(
        run.command.contains("--record"),
        "{}: no command",
        path.display()
    );
    assert!(run.wall_seconds > 0.0, "{}: no wall time", path.display());
}

#[test]
fn every_recorded_run_loads_and_matches_its_preset() {
    let mut runs = 0;
    for experiment in std::fs::read_dir(results_dir()).expect("results/ exists") {
        let dir = experiment.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let stem = path.file_stem().unwrap().to_str().unwrap();
            let preset: Preset = stem
                .parse()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            match name.as_str() {
                "conv_sweep" => check(&path, |r: &ConvSweepReport| {
                    r.config == ConvSweepConfig::preset(preset)
                }),
                "fc_sweep" => check(&path, |r: &FcSweepReport| {
                    r.config == FcSweepConfig::preset(preset)
                }),
                "autotune" => check(&path, |r: &AutotuneReport| {
                    r.config == AutotuneConfig::preset(preset)
                }),
                _ => panic!("{}: no experiment named {name}", dir.display()),
            }
            runs += 1;
        }
    }
    assert!(
        runs > 0,
        "no recorded runs under {}",
        results_dir().display()
    );
}
