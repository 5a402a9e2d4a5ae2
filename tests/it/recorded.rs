//! Every recorded run under `results/` loads with the current code and was
//! made with the preset its file is named after, so a change to a report's
//! schema or to a preset cannot leave the recorded runs (and the notebooks
//! and docs that show them) stale: rerun the command inside the file.

use std::path::Path;

use conflicting_bundles::experiments::autotune::{AutotuneConfig, AutotuneReport};
use conflicting_bundles::experiments::conv_sweep::{ConvSweepConfig, ConvSweepReport};
use conflicting_bundles::experiments::criteria::{CriteriaConfig, CriteriaReport};
use conflicting_bundles::experiments::fc_sweep::{FcSweepConfig, FcSweepReport};
use conflicting_bundles::experiments::lbe::{LbeStudyConfig, LbeStudyReport};
use conflicting_bundles::experiments::lesion::{LesionConfig, LesionReport};
use conflicting_bundles::experiments::precision::{PrecisionConfig, PrecisionReport};
use conflicting_bundles::experiments::recorded::{read, results_dir, Recorded};
use conflicting_bundles::experiments::toy::{ToyConfig, ToyReport};
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
        // Studies made by scripts and examples (each file names its
        // command), not `cb` runs with a preset.
        if name == "studies" {
            continue;
        }
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
                "precision_sweep" => check(&path, |r: &PrecisionReport| {
                    r.config == PrecisionConfig::preset(preset)
                }),
                "autotune" => check(&path, |r: &AutotuneReport| {
                    r.config == AutotuneConfig::preset(preset)
                }),
                "lesion" => check(&path, |r: &LesionReport| {
                    r.config == LesionConfig::preset(preset)
                }),
                "lbe" => check(&path, |r: &LbeStudyReport| {
                    r.config == LbeStudyConfig::preset(preset)
                }),
                "criteria" => check(&path, |r: &CriteriaReport| {
                    r.config == CriteriaConfig::preset(preset)
                }),
                // The toy net is small enough to run at the paper's scale
                // anywhere: its one recorded run is `full`.
                "toy" => check(&path, |r: &ToyReport| {
                    preset == Preset::Full && r.config == ToyConfig::default()
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

/// `cb charts` draws a recorded run's charts without training (the
/// gallery's first step), and says in one line when it cannot tell the
/// experiment.
#[test]
fn cb_charts_draws_a_recorded_run() {
    let cb = env!("CARGO_BIN_EXE_cb");
    let out = tempfile::tempdir().unwrap();
    let fc = results_dir().join("fc_sweep/lesson.json");
    let o = std::process::Command::new(cb)
        .arg("charts")
        .arg(&fc)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listed: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let run: Recorded<FcSweepReport> = read(&fc).unwrap();
    use conflicting_bundles::figures::Figures;
    assert_eq!(listed.len(), run.report.figures().len());
    for page in &listed {
        let html = std::fs::read_to_string(page).unwrap();
        assert!(html.contains("Plotly.newPlot"), "{page}");
    }
    // A report of unknown kind: one line, non-zero exit, nothing written.
    let odd = out.path().join("other.json");
    std::fs::copy(&fc, &odd).unwrap();
    let o = std::process::Command::new(cb)
        .args(["charts", odd.to_str().unwrap(), "--out"])
        .arg(out.path().join("odd"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot tell the experiment"), "{err}");
    assert!(!out.path().join("odd").exists());
}
