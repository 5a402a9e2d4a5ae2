//! The sweeps' one runner and their settings from the command line: units
//! side by side give the one-at-a-time run's report bit for bit and in the
//! same order; a shard file of another configuration layout is refused in
//! one line; `--set` and `--config` reach every sweep's configuration, and
//! an unknown key or a bad value is a one-line error before anything starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::numbers;
use crate::shards::tiny_fc;
use conflicting_bundles::experiments::fc_sweep::{FcSweepConfig, FcSweepReport};
use conflicting_bundles::experiments::precision::{PrecisionNet, PrecisionReport};
use conflicting_bundles::experiments::runner::{self, RunOptions};
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::shard::{config_hash, Shard, SHARD_FILE};
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::train::ProgressMode;
use dfdx::tensor::Cpu;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

/// `cb` with `args`, and the data folder for the sweeps.
fn cb(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cb"));
    c.args(args);
    if args[0] != "merge" {
        c.arg("--data-dir").arg(data_dir());
    }
    c.output().unwrap()
}

#[test]
fn units_side_by_side_give_the_one_at_a_time_report() {
    let dev = Cpu::default();
    let cfg = tiny_fc();
    let run = |jobs: usize, out: &Path| -> FcSweepReport {
        let opts = RunOptions {
            out: Some(out),
            progress: ProgressMode::Off,
            jobs: Some(jobs),
            ..Default::default()
        };
        runner::run(&dev, &cfg, &data_dir(), &opts).unwrap()
    };
    let (one, three) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alone = run(1, one.path());
    let side_by_side = run(3, three.path());
    assert_eq!(alone.cells.len(), 4);
    assert_eq!(numbers(&side_by_side), numbers(&alone));
    // The saved file too: in plan order whichever net finished first.
    let saved: FcSweepReport =
        serde_json::from_slice(&std::fs::read(three.path().join("fc_sweep.json")).unwrap())
            .unwrap();
    assert_eq!(numbers(&saved), numbers(&alone));
    let widths: Vec<usize> = saved.cells.iter().map(|c| c.width).collect();
    assert_eq!(widths, [5, 5, 10, 10]);
    // Zero jobs is refused before anything runs.
    let opts = RunOptions {
        jobs: Some(0),
        ..Default::default()
    };
    let err = runner::run(&dev, &cfg, &data_dir(), &opts).unwrap_err();
    assert_eq!(err.to_string(), "jobs must be at least 1");
}

/// A shard file whose hash is not its configuration's hash by this version
/// (another layout of the configuration: fields added, renamed or moved)
/// cannot be told apart from one of another configuration by hash: a shard
/// and `cb merge` both refuse it in one line that says what it is.
#[test]
fn shard_files_of_another_configuration_layout_are_refused() {
    let cfg = FcSweepConfig {
        widths: vec![5],
        depths: vec![2],
        trace: vec![],
        boundary_seeds: 1,
        boundary_depth: 2,
        ..tiny_fc()
    };
    let dir = tempfile::tempdir().unwrap();
    let shard = Shard { index: 0, count: 2 };
    let opts = RunOptions {
        out: Some(dir.path()),
        shard: Some(shard),
        progress: ProgressMode::Off,
        jobs: None,
    };
    runner::run(&Cpu::default(), &cfg, &data_dir(), &opts).unwrap();
    let file = dir.path().join(shard.folder_name()).join(SHARD_FILE);
    // The file as a version without the batch and learning-rate keys wrote it.
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let config = json["report"]["config"].as_object_mut().unwrap();
    config.remove("batch_size");
    config.remove("learning_rate");
    json["config_hash"] = config_hash(&json["report"]["config"]).into();
    std::fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = runner::run(&Cpu::default(), &cfg, &data_dir(), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a shard file of another layout of the fc_sweep configuration")
            && !err.contains('\n'),
        "{err}"
    );
    let o = cb(&["merge", "--out", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("another layout"), "{stderr}");
}

/// An error on stderr in one line, a failure, and no output folder.
fn assert_refused(args: &[String], out: &Path, want: &str) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = cb(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?}");
    assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(want), "{args:?}: {stderr}");
    assert!(!out.exists(), "{args:?}: nothing starts");
}

#[test]
fn every_sweep_refuses_unknown_keys_and_bad_values_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    for sweep in ["fc-sweep", "conv-sweep", "precision-sweep", "autotune"] {
        let args = |extra: &[&str]| -> Vec<String> {
            let mut a = vec![sweep, "--quick", "--out", out_s];
            a.extend_from_slice(extra);
            a.into_iter().map(String::from).collect()
        };
        assert_refused(
            &args(&["--set", "epoch=3"]),
            &out,
            "--set epoch=3: unknown key \"epoch\" in the configuration (keys: ",
        );
        assert_refused(
            &args(&["--set", "epochs=three"]),
            &out,
            "--set epochs=three: invalid type: string \"three\", expected usize",
        );
        assert_refused(
            &args(&["--set", "dataset=imagenet"]),
            &out,
            "unknown variant `imagenet`, expected one of",
        );
        assert_refused(&args(&["--set", "seed"]), &out, "expected KEY=VALUE");
        // The file's settings apply: this one asks for a net no sweep can
        // build, which each sweep refuses by name before anything starts.
        let file = dir.path().join(format!("{sweep}.toml"));
        let (text, want) = match sweep {
            "fc-sweep" => ("widths = [0]\n", "widths and depths must be at least 1"),
            "conv-sweep" => ("depths = [11]\n", "11"),
            "precision-sweep" => (
                "[[nets]]\nkind = \"fc\"\nwidth = 0\ndepth = 3\n",
                "at least 1 (got fnn w0 d3)",
            ),
            _ => ("baseline_depth = 11\n", "11"),
        };
        std::fs::write(&file, text).unwrap();
        assert_refused(&args(&["--config", file.to_str().unwrap()]), &out, want);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"epochs\": 1, \"widht\": 2}").unwrap();
        assert_refused(
            &args(&["--config", bad.to_str().unwrap()]),
            &out,
            "widht: unknown key",
        );
        // --set comes after the file and the flags.
        assert_refused(
            &args(&[
                "--config",
                file.to_str().unwrap(),
                "--set",
                "bundle_samples=0",
            ]),
            &out,
            "bundle_samples must be at least 1",
        );
    }
}

#[test]
fn config_files_flags_and_set_make_the_configuration_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // JSON file: a two-net precision sweep; the flag --epochs then --set
    // override it; nested keys of list items by index.
    let file = dir.path().join("p.json");
    std::fs::write(
        &file,
        r#"{"epochs": 3, "train_samples": 320, "test_samples": 100, "max_steps_per_epoch": 4,
            "bundle_samples": 64, "nets": [{"kind": "fc", "width": 3, "depth": 2},
            {"kind": "fc", "width": 4, "depth": 2}], "precisions": ["f32", "bf16"]}"#,
    )
    .unwrap();
    let o = cb(&[
        "precision-sweep",
        "--quick",
        "--config",
        file.to_str().unwrap(),
        "--epochs",
        "2",
        "--set",
        "epochs=1",
        "--set",
        "nets.1.width=6",
        "--set",
        "learning_rate=0.002",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: PrecisionReport =
        serde_json::from_slice(&std::fs::read(out.join("precision_sweep.json")).unwrap()).unwrap();
    let c = &r.config;
    assert_eq!((c.run.epochs, c.run.train_samples), (1, Some(320)));
    assert_eq!(c.run.learning_rate, 0.002);
    assert_eq!(
        c.nets,
        [
            PrecisionNet::Fc { width: 3, depth: 2 },
            PrecisionNet::Fc { width: 6, depth: 2 }
        ]
    );
    assert_eq!(r.nets.len(), 2);

    // TOML file for the FC sweep, then today's flags and a comma list.
    let toml = dir.path().join("fc.toml");
    std::fs::write(
        &toml,
        "train_samples = 320\ntest_samples = 100\nmax_steps_per_epoch = 4\n\
         bundle_samples = 64\nboundary_steps = 4\nboundary_depth = 3\n\
         boundary_seeds = 1\ntrace = []\n",
    )
    .unwrap();
    let out = dir.path().join("fc");
    let o = cb(&[
        "fc-sweep",
        "--quick",
        "--config",
        toml.to_str().unwrap(),
        "--widths",
        "3",
        "--set",
        "depths=1,3",
        "--epochs",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: FcSweepReport =
        serde_json::from_slice(&std::fs::read(out.join("fc_sweep.json")).unwrap()).unwrap();
    let want = FcSweepConfig {
        run: RunSettings {
            epochs: 1,
            train_samples: Some(320),
            test_samples: Some(100),
            max_steps_per_epoch: Some(4),
            bundle_samples: 64,
            ..FcSweepConfig::quick().run
        },
        widths: vec![3],
        depths: vec![1, 3],
        trace: vec![],
        boundary_steps: 4,
        boundary_depth: 3,
        boundary_seeds: 1,
        ..FcSweepConfig::quick()
    };
    assert_eq!(r.config, want);
    assert_eq!((r.cells.len(), r.boundary.len()), (2, 1));
}
