//! §3.4–3.5 at test scale: the VGG/ResNet contrast, resuming, bad configs,
//! and the `cb conv-sweep` command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use conflicting_bundles::experiments::conv_sweep::*;
use conflicting_bundles::experiments::recorded::{read, Recorded};
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::models::convnet::{Arch, ConvSpec};
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

/// Widths ÷ 16, 20 steps on a small MNIST subset: seconds, yet deep enough
/// for the 120-layer VGG to show its fully conflicting bundle.
fn tiny() -> ConvSweepConfig {
    ConvSweepConfig {
        run: RunSettings {
            train_samples: Some(1_280),
            test_samples: Some(200),
            max_steps_per_epoch: Some(20),
            bundle_samples: 256,
            ..ConvSweepConfig::quick().run
        },
        depths: vec![10, 120],
        trace_every_steps: 10,
        ..ConvSweepConfig::quick()
    }
}

#[test]
fn deep_vgg_conflicts_where_the_resnet_of_the_same_depth_does_not() {
    let out = tempfile::tempdir().unwrap();
    let dev: Cpu = Default::default();
    let cfg = tiny();
    let r = run_conv_sweep(&dev, &cfg, &data_dir(), Some(out.path()), ProgressMode::Off).unwrap();
    for c in &r.cells {
        eprintln!(
            "{}-{}: acc {:.3} H^L {:.3} first {:?}",
            c.arch, c.depth, c.test_accuracy, c.final_entropy, c.first_conflicting_layer
        );
    }
    assert_eq!(r.cells.len(), 4);
    for c in &r.cells {
        assert_eq!(
            c.blocks,
            ConvSpec::for_depth(c.arch, c.depth).unwrap().blocks
        );
        // Stem, one row per block (two for a ResNet's: output and branch), pooled.
        let per_block = if c.arch == Arch::Resnet { 2 } else { 1 };
        assert_eq!(
            c.entropy.len(),
            2 + per_block * c.blocks.iter().sum::<usize>()
        );
    }
    let cell = |a, d| r.cell(a, d).unwrap();
    // The shallow nets and every ResNet keep all samples apart ...
    assert_eq!(cell(Arch::Vgg, 10).final_entropy, 0.0);
    assert_eq!(cell(Arch::Resnet, 10).final_entropy, 0.0);
    assert_eq!(cell(Arch::Resnet, 120).final_entropy, 0.0);
    assert_eq!(cell(Arch::Resnet, 120).first_conflicting_layer, None);
    // ... while the 120-layer VGG is (nearly) fully conflicting: ln 10 = 2.30.
    let vgg = cell(Arch::Vgg, 120);
    assert!(vgg.final_entropy > 2.0, "{vgg:?}");
    assert!(vgg.first_conflicting_layer.is_some());
    // H^L(t) was traced for the deepest net of each architecture.
    assert_eq!(r.traces.len(), 2);
    assert!(r.traces.iter().all(|t| t.bundles.len() >= 3));
    assert!(out.path().join(REPORT).exists());
}

#[test]
fn a_rerun_resumes_and_another_config_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let dev: Cpu = Default::default();
    let cfg = ConvSweepConfig {
        depths: vec![10],
        archs: vec![Arch::Vgg],
        ..tiny()
    };
    run_conv_sweep(&dev, &cfg, &data_dir(), Some(out.path()), ProgressMode::Off).unwrap();
    // Mark the stored cell: a resumed run must keep it instead of retraining.
    let path = out.path().join(REPORT);
    let mut stored: ConvSweepReport =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    stored.cells[0].test_accuracy = 0.123;
    std::fs::write(&path, serde_json::to_vec(&stored).unwrap()).unwrap();
    let again =
        run_conv_sweep(&dev, &cfg, &data_dir(), Some(out.path()), ProgressMode::Off).unwrap();
    assert_eq!(again.cells[0].test_accuracy, 0.123);
    // Another grid is another experiment: refused, the folder is kept.
    let more = ConvSweepConfig {
        depths: vec![10, 12],
        ..cfg.clone()
    };
    let err = run_conv_sweep(
        &dev,
        &more,
        &data_dir(),
        Some(out.path()),
        ProgressMode::Off,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("another configuration"), "{err}");
}

#[test]
fn bad_configurations_are_one_line_errors() {
    let dev: Cpu = Default::default();
    let check = |cfg: ConvSweepConfig, needle: &str| {
        let err = run_conv_sweep(&dev, &cfg, &data_dir(), None, ProgressMode::Off)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains('\n'), "{err}");
    };
    check(
        ConvSweepConfig {
            depths: vec![11],
            ..tiny()
        },
        "depth 11",
    );
    check(
        ConvSweepConfig {
            width_divisor: 65, // any divisor leaving one channel works; 65 leaves none
            ..tiny()
        },
        "width divisor 65",
    );
    check(
        ConvSweepConfig {
            archs: vec![],
            ..tiny()
        },
        "at least one architecture",
    );
}

fn cb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cb"))
}

#[test]
fn cli_runs_a_sweep_and_rejects_bad_depths_without_writing() {
    let out = tempfile::tempdir().unwrap();
    let record = out.path().join("recorded/quick.json");
    let o = cb()
        .args([
            "conv-sweep",
            "--preset",
            "quick",
            "--arch",
            "vgg",
            "--depths",
            "10",
            "--data-dir",
        ])
        .arg(data_dir())
        .arg("--out")
        .arg(out.path())
        .arg("--record")
        .arg(&record)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("vgg") && stdout.contains("1/1/1/1"),
        "{stdout}"
    );
    for f in [
        REPORT,
        "accuracy_vs_depth.html",
        "entropy_vs_depth.html",
        "entropy_over_time.html",
    ] {
        assert!(out.path().join(f).exists(), "{f}");
    }
    // The recorded run: the report as written, with its command and wall time.
    let run: Recorded<ConvSweepReport> = read(&record).unwrap();
    let report: ConvSweepReport =
        serde_json::from_slice(&std::fs::read(out.path().join(REPORT)).unwrap()).unwrap();
    assert_eq!(run.report, report);
    assert_eq!(
        run.report.config,
        ConvSweepConfig {
            archs: vec![Arch::Vgg],
            depths: vec![10],
            ..ConvSweepConfig::quick()
        }
    );
    assert!(
        run.command.starts_with("cb conv-sweep --preset quick") && run.wall_seconds > 0.0,
        "{run:?}"
    );

    // `--quick` is `--preset quick`; the two together, or an unknown preset,
    // are one-line errors.
    for args in [
        &["--quick", "--preset", "lesson"][..],
        &["--preset", "paper"],
    ] {
        let o = cb()
            .arg("conv-sweep")
            .args(args)
            .arg("--out")
            .arg(out.path().join("unused"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && stderr.lines().count() == 1,
            "{stderr}"
        );
        assert!(stderr.contains("--preset"), "{stderr}");
    }

    let bad = tempfile::tempdir().unwrap();
    let o = cb()
        .args(["conv-sweep", "--depths", "10,13", "--data-dir"])
        .arg(data_dir())
        .arg("--out")
        .arg(bad.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("depth 13"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(bad.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
