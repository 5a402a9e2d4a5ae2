//! Sweeps split with `--shard I/N` and put together by `cb merge`.
//!
//! The merged result of three shards must equal the unsharded run's. Each
//! sweep's quick preset trains for minutes on 2 cores, so running each twice
//! (unsharded and sharded) would cost CI most of its budget: the equality is
//! tested on configurations smaller than quick, which take the same code
//! paths (the FC one includes a grid net that gives a boundary point, the
//! conv one traces, auto-tune prunes), and the
//! quick presets' assignment of units to three shards is tested as planning
//! alone. Wall times (`seconds`, `inference_ms`) differ between any two
//! runs and are left out of the comparison; every other number must match
//! bit for bit.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::numbers;
use conflicting_bundles::experiments::autotune::{self, run_autotune, Autotune, AutotuneConfig};
use conflicting_bundles::experiments::conv_sweep::{self, run_conv_sweep, ConvSweepConfig};
use conflicting_bundles::experiments::fc_sweep::{
    nets, run_fc_sweep, FcSweepConfig, FcSweepReport, Net,
};
use conflicting_bundles::experiments::merge::{merge, sweep_in};
use conflicting_bundles::experiments::precision::{
    self, run_precision_sweep, PrecisionConfig, PrecisionNet,
};
use conflicting_bundles::experiments::runner::{self, RunOptions, Sweep};
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::shard::{config_hash, Shard, ShardedReport, SHARD_FILE};
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::models::convnet::Arch;
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;
use serde::Serialize;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

const OFF: ProgressMode = ProgressMode::Off;

/// Runs shard `shard` of `sweep` into `out/shard-I-of-N/`.
fn run_shard<S: Sweep>(sweep: &S, out: &Path, shard: Shard) -> anyhow::Result<S::Report> {
    let opts = RunOptions {
        out: Some(out),
        shard: Some(shard),
        progress: OFF,
        jobs: None,
    };
    runner::run(&Cpu::default(), sweep, &data_dir(), &opts)
}

fn shards(count: usize) -> impl Iterator<Item = Shard> {
    (0..count).map(move |index| Shard { index, count })
}

/// Merges `out` completely and checks it equals `whole` (wall times aside).
fn assert_merges_to<R: ShardedReport + Serialize>(out: &Path, whole: &R) {
    let merged = merge::<R>(out).unwrap();
    assert_eq!(merged.missing_line(), None);
    assert!(merged.absent.is_empty());
    assert_eq!(numbers(&merged.report), numbers(whole));
}

/// Two widths, two depths, the grid's deeper net at the boundary depth (its
/// first epoch gives seed 0's boundary point) and seed 1's boundary net:
/// six nets of 10 steps.
pub(crate) fn tiny_fc() -> FcSweepConfig {
    FcSweepConfig {
        run: RunSettings {
            epochs: 1,
            train_samples: Some(640),
            test_samples: Some(200),
            max_steps_per_epoch: Some(10),
            bundle_samples: 128,
            ..FcSweepConfig::quick().run
        },
        widths: vec![5, 10],
        depths: vec![2, 6],
        trace: vec![(5, 6), (10, 2)],
        trace_every_steps: 5,
        boundary_depth: 6,
        boundary_steps: 10,
        boundary_seeds: 2,
    }
}

fn cb(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cb"))
        .args(args)
        .output()
        .unwrap()
}

/// The FC sweep end to end, through `cb merge` too: a missing shard is one
/// line naming its units, the three shards merge to the unsharded report,
/// and shards of another configuration or count are refused in one line.
#[test]
fn fc_sweep_three_shards_merge_to_the_unsharded_run() {
    let dev: Cpu = Default::default();
    let cfg = tiny_fc();
    assert_eq!(nets(&cfg, 640).len(), 6);
    let whole = run_fc_sweep(&dev, &cfg, &data_dir(), None, OFF).unwrap();
    assert_eq!((whole.cells.len(), whole.boundary.len()), (4, 4));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let [s0, s1, s2]: [Shard; 3] = shards(3).collect::<Vec<_>>().try_into().unwrap();
    for s in [s0, s2] {
        run_shard(&cfg, out, s).unwrap();
    }
    // Shard 1 never ran: its two nets are missing, in one line.
    let partial = merge::<FcSweepReport>(out).unwrap();
    assert_eq!(partial.absent, [s1]);
    let line = partial.missing_line().unwrap();
    assert_eq!(
        line,
        "missing 2 of 6 units (no file from shard 1/3): w5 d6, w10 d6"
    );
    let out_s = out.to_str().unwrap();
    let o = cb(&["merge", "--out", out_s]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&line), "{err}");
    assert!(!out.join("fc_sweep.json").exists(), "nothing written");
    // --partial writes what is there and still names what is missing.
    let o = cb(&["merge", "--out", out_s, "--partial"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&line));
    // A shard started with another configuration is refused at once.
    let other = FcSweepConfig {
        run: RunSettings {
            seed: 7,
            ..cfg.clone().run
        },
        ..cfg.clone()
    };
    let err = run_shard(&other, out, s1).unwrap_err().to_string();
    assert!(err.contains("a shard of another configuration"), "{err}");
    assert!(!err.contains('\n'));
    run_shard(&cfg, out, s1).unwrap();
    assert_merges_to(out, &whole);
    let o = cb(&["merge", "--out", out_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written: FcSweepReport =
        serde_json::from_slice(&std::fs::read(out.join("fc_sweep.json")).unwrap()).unwrap();
    assert_eq!(numbers(&written), numbers(&whole));
    assert!(out.join("accuracy_heatmap.html").exists());
    // A rerun of a finished shard trains nothing and leaves its file.
    let file = out.join(s0.folder_name()).join(SHARD_FILE);
    let before = std::fs::read(&file).unwrap();
    run_shard(&cfg, out, s0).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // A shard file of another configuration (its hash says so) is refused
    // in one line naming both files.
    let mut json: serde_json::Value = serde_json::from_slice(&before).unwrap();
    json["report"]["config"]["epochs"] = 2.into();
    let changed = FcSweepConfig {
        run: RunSettings {
            epochs: 2,
            ..cfg.clone().run
        },
        ..cfg.clone()
    };
    json["config_hash"] = config_hash(&changed).into();
    let file2 = out.join(s2.folder_name()).join(SHARD_FILE);
    let kept = std::fs::read(&file2).unwrap();
    json["shard"] = serde_json::to_value(s2).unwrap();
    std::fs::write(&file2, serde_json::to_vec(&json).unwrap()).unwrap();
    let o = cb(&["merge", "--out", out_s]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("shards of different configurations")
            && err.contains("shard-0-of-3")
            && err.contains("shard-2-of-3"),
        "{err}"
    );
    std::fs::write(&file2, kept).unwrap();
    // So is a folder of another shard count.
    std::fs::create_dir(out.join("shard-0-of-2")).unwrap();
    let err = sweep_in(out).unwrap_err().to_string();
    assert!(
        err.contains("shards of 2 and of 3 shards") && !err.contains('\n'),
        "{err}"
    );
}

/// Both architectures at two depths, the deeper traced: four nets.
#[test]
fn conv_sweep_three_shards_merge_to_the_unsharded_run() {
    let dev: Cpu = Default::default();
    let cfg = ConvSweepConfig {
        run: RunSettings {
            train_samples: Some(640),
            test_samples: Some(200),
            max_steps_per_epoch: Some(5),
            bundle_samples: 128,
            ..ConvSweepConfig::quick().run
        },
        depths: vec![10, 12],
        trace_every_steps: 5,
        ..ConvSweepConfig::quick()
    };
    let whole = run_conv_sweep(&dev, &cfg, &data_dir(), None, OFF).unwrap();
    assert_eq!((whole.cells.len(), whole.traces.len()), (4, 2));
    let dir = tempfile::tempdir().unwrap();
    for s in shards(3) {
        run_shard(&cfg, dir.path(), s).unwrap();
    }
    assert_eq!(sweep_in(dir.path()).unwrap(), "conv_sweep");
    assert_merges_to(dir.path(), &whole);
}

/// Three nets (two FC, one VGG) on three shards: one each.
#[test]
fn precision_sweep_three_shards_merge_to_the_unsharded_run() {
    let dev: Cpu = Default::default();
    let cfg = PrecisionConfig {
        run: RunSettings {
            epochs: 1,
            train_samples: Some(640),
            test_samples: Some(200),
            max_steps_per_epoch: Some(5),
            bundle_samples: 128,
            ..PrecisionConfig::quick().run
        },
        nets: vec![
            PrecisionNet::Fc { width: 3, depth: 6 },
            PrecisionNet::Fc { width: 8, depth: 3 },
            PrecisionNet::Conv {
                arch: Arch::Vgg,
                depth: 10,
            },
        ],
        width_divisor: 16,
        ..PrecisionConfig::quick()
    };
    let whole = run_precision_sweep(&dev, &cfg, &data_dir(), None, OFF).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for s in shards(3) {
        run_shard(&cfg, dir.path(), s).unwrap();
    }
    assert_merges_to(dir.path(), &whole);
}

/// Three seeds from a small VGG: auto-tune prunes, each shard one seed and
/// its run folders.
#[test]
fn autotune_three_shards_merge_to_the_unsharded_run() {
    let dev: Cpu = Default::default();
    let cfg = AutotuneConfig {
        run: RunSettings {
            epochs: 1,
            max_steps_per_epoch: Some(5),
            train_samples: Some(640),
            test_samples: Some(200),
            bundle_samples: 128,
            ..AutotuneConfig::quick().run
        },
        start_blocks: [1, 2, 6, 1],
        runs: 3,
        baseline_depth: 10,
        max_prunes: 2,
        ..AutotuneConfig::quick()
    };
    let whole_dir = tempfile::tempdir().unwrap();
    let whole = run_autotune(&dev, &cfg, &data_dir(), whole_dir.path(), OFF).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for s in shards(3) {
        run_shard(&Autotune::new(&cfg), dir.path(), s).unwrap();
    }
    assert!(dir.path().join("shard-2-of-3/run2/baseline").is_dir());
    assert_merges_to(dir.path(), &whole);
}

/// Which shard of three trains what, for each quick preset (planning only,
/// nothing trains): every unit once, the counts within one, and the
/// deepest nets spread over the shards.
#[test]
fn quick_presets_deal_their_units_over_three_shards() {
    fn dealt(units: &[String]) -> Vec<Vec<&str>> {
        shards(3)
            .map(|s| {
                (0..units.len())
                    .filter(|&u| s.owns(u))
                    .map(|u| units[u].as_str())
                    .collect()
            })
            .collect()
    }
    let fc = FcSweepConfig::quick();
    let fc_units: Vec<String> = nets(&fc, fc.run.train_samples.unwrap())
        .iter()
        .map(Net::to_string)
        .collect();
    let conv = conv_sweep::units(&ConvSweepConfig::quick());
    let prec = precision::units(&PrecisionConfig::quick());
    let tune = autotune::units(&AutotuneConfig::quick());
    for units in [&fc_units, &conv, &prec, &tune] {
        let d = dealt(units);
        let mut all: Vec<&str> = d.concat();
        all.sort_unstable();
        let mut want: Vec<&str> = units.iter().map(String::as_str).collect();
        want.sort_unstable();
        assert_eq!(all, want, "every unit exactly once");
        let sizes: Vec<usize> = d.iter().map(Vec::len).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
    }
    assert_eq!(
        dealt(&conv),
        [
            vec!["vgg-10", "resnet-120"],
            vec!["vgg-30", "resnet-30"],
            vec!["vgg-120", "resnet-10"]
        ]
    );
    // Widths 10, 25, 100 with depths 2, 10, 50 and two boundary seeds each
    // (depth 150 is not in the grid): 15 nets, five per shard, and each
    // shard gets a depth-50 net.
    assert_eq!(fc_units.len(), 15);
    for shard in dealt(&fc_units) {
        assert_eq!(shard.len(), 5);
        assert!(shard.iter().any(|u| u.ends_with(" d50")), "{shard:?}");
    }
    assert_eq!(
        dealt(&prec),
        [
            vec!["fnn w10 d50"],
            vec!["fnn w25 d50"],
            vec!["vgg-30", "resnet-30"]
        ]
    );
    // Two seeds on three shards: the third has nothing to do.
    assert_eq!(dealt(&tune), [vec!["run 0"], vec!["run 1"], vec![]]);
}

/// The Slurm scripts and the multi-GPU runner pass `bash -n`, and their dry
/// runs print, for each array index, the command with its `--shard I/N`.
#[test]
fn slurm_scripts_parse_and_dry_runs_print_each_shards_command() {
    let slurm = repo().join("scripts/slurm");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&slurm)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sbatch" || x == "sh"))
        .collect();
    scripts.push(repo().join("scripts/run-shards.sh"));
    scripts.sort();
    assert_eq!(scripts.len(), 7, "{scripts:?}");
    for s in &scripts {
        let o = Command::new("bash").arg("-n").arg(s).output().unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            s.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let dry = |script: &str, env: &[(&str, &str)], args: &[&str]| -> String {
        let o = Command::new("bash")
            .arg(repo().join(script))
            .args(args)
            .env("DRY_RUN", "1")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    for (script, command) in [
        ("fc_sweep", "fc-sweep"),
        ("conv_sweep", "conv-sweep"),
        ("autotune", "autotune"),
        ("precision_sweep", "precision-sweep"),
    ] {
        for i in ["0", "2"] {
            let out = dry(
                &format!("scripts/slurm/{script}.sbatch"),
                &[("SLURM_ARRAY_TASK_ID", i), ("SHARDS", "3")],
                &[],
            );
            assert_eq!(out.lines().count(), 1, "{out}");
            assert!(
                out.contains(&format!(" {command} "))
                    && out.contains(&format!("--shard {i}/3"))
                    && out.contains("--device cuda"),
                "{out}"
            );
        }
    }
    let out = dry("scripts/slurm/merge.sbatch", &[], &[]);
    assert!(out.contains(" merge --out "), "{out}");
    // An index outside the shards is a one-line error, not a run.
    let o = Command::new("bash")
        .arg(slurm.join("fc_sweep.sbatch"))
        .env("DRY_RUN", "1")
        .env("SLURM_ARRAY_TASK_ID", "3")
        .env("SHARDS", "3")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
    // submit.sh: the array job, then the merge once it has ended (afterany:
    // a failed shard's units are then listed by the merge).
    let out = dry(
        "scripts/slurm/submit.sh",
        &[("SHARDS", "4")],
        &["conv_sweep"],
    );
    assert!(
        out.contains(
            "sbatch --parsable --partition=gpu --cpus-per-task=4 --gres=gpu:1 --array=0-3"
        ) && out.contains("conv_sweep.sbatch")
            && out.contains("--dependency=afterany:")
            && out.contains("merge.sbatch"),
        "{out}"
    );
    // A CPU cluster: its partition and CPUs, no GPU request; the array task
    // runs on the CPU with the further options of CB_ARGS.
    let cpu = [("PARTITION", "cpu"), ("GRES", ""), ("CPUS_PER_TASK", "2")];
    let out = dry("scripts/slurm/submit.sh", &cpu, &["fc_sweep"]);
    assert!(
        out.contains("sbatch --parsable --partition=cpu --cpus-per-task=2 --array=0-2")
            && !out.contains("--gres")
            && out.contains("sbatch --partition=cpu --cpus-per-task=1 --dependency"),
        "{out}"
    );
    let out = dry(
        "scripts/slurm/fc_sweep.sbatch",
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("CB_DEVICE", "cpu"),
            ("CB_ARGS", "--set epochs=1 --set seed=3"),
        ],
        &[],
    );
    assert!(
        out.trim_end()
            .ends_with("--shard 1/3 --device cpu --set epochs=1 --set seed=3"),
        "{out}"
    );
    let o = Command::new("bash")
        .arg(slurm.join("submit.sh"))
        .arg("fc_sweep")
        .env("DRY_RUN", "1")
        .env("CPUS_PER_TASK", "0")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
    // run-shards.sh: one shard per GPU, then the merge.
    let out = dry(
        "scripts/run-shards.sh",
        &[],
        &["fc-sweep", "3", "--quick", "--out", "o"],
    );
    for i in 0..3 {
        assert!(
            out.contains(&format!(
                "CUDA_VISIBLE_DEVICES={i} cb fc-sweep --quick --out o --shard {i}/3 --device cuda"
            )),
            "{out}"
        );
    }
    assert!(out.trim_end().ends_with("cb merge --out o"), "{out}");
}

/// A shard outside its count and a folder without shards are one-line
/// errors before any work.
#[test]
fn bad_shard_flags_and_empty_folders_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (args, needle) in [
        (
            vec!["fc-sweep", "--quick", "--shard", "3/3", "--out", out],
            "0 <= I < N",
        ),
        (
            vec!["conv-sweep", "--quick", "--shard", "1", "--out", out],
            "0 <= I < N",
        ),
        (vec!["merge", "--out", out], "no shard folders"),
    ] {
        let o = cb(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
