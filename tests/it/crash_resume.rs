//! A `cb train` killed at any phase of its run resumes to the same final
//! files as a run that was never interrupted, and one output folder holds
//! one run at a time.
//!
//! The kills are real aborts of the process (`CB_CRASH_AT`, see
//! `util::crash_point`: like `kill -9`, no destructors, temporary files left
//! behind), placed at each phase: mid-epoch, while the checkpoint is written
//! (its temporary file complete, not yet renamed), between the checkpoint
//! and the results, and while the results are written. Training is
//! deterministic, so the resumed weights equal the uninterrupted run's bit
//! for bit and its results equal them except the wall times.

use std::path::Path;
use std::process::{Command, Output};

use conflicting_bundles::train::checkpoint;

const EPOCHS: &str = "2";

fn train(out: &Path, crash_at: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cb"));
    cmd.args([
        "train", "fnn", "--width", "12", "--depth", "3", "--epochs", EPOCHS,
    ])
    .args(["--seed", "5", "--data-dir"])
    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"))
    .arg("--out")
    .arg(out);
    match crash_at {
        Some(point) => cmd.env("CB_CRASH_AT", point),
        None => cmd.env_remove("CB_CRASH_AT"),
    };
    cmd.output().unwrap()
}

/// results.json without its wall times (the one thing a rerun changes).
fn results_without_times(dir: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    for e in v["epochs"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("seconds");
    }
    v
}

/// The checkpoint's tensors (weights and optimizer state), by name.
fn tensors(dir: &Path) -> Vec<(String, Vec<u32>)> {
    let (t, _) = checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    let mut t: Vec<_> = t
        .into_iter()
        .map(|(k, v)| (k, v.iter().map(|x| x.to_bits()).collect()))
        .collect();
    t.sort();
    t
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_run_killed_at_any_phase_resumes_to_the_uninterrupted_result() {
    let whole = tempfile::tempdir().unwrap();
    let o = train(whole.path(), None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (want_results, want_tensors) = (results_without_times(whole.path()), tensors(whole.path()));
    assert_eq!(want_results["epochs"].as_array().unwrap().len(), 2);

    // 938 steps an epoch: step 1200 is in the middle of the second epoch.
    for point in [
        "step:1200",
        "before-rename:checkpoint.safetensors:1",
        "before-rename:checkpoint.safetensors:2",
        "after-checkpoint:1",
        "after-checkpoint:2",
        "before-rename:results.json:2",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let killed = train(dir.path(), Some(point));
        assert!(!killed.status.success(), "{point}: the run was not killed");
        let resumed = train(dir.path(), None);
        assert!(
            resumed.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_eq!(
            results_without_times(dir.path()),
            want_results,
            "{point}: results"
        );
        assert!(
            tensors(dir.path()) == want_tensors,
            "{point}: checkpoint differs"
        );
        assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "{point}");
    }
}

#[test]
fn a_second_run_on_the_same_folder_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    // A long first run, holding the folder while we try (killed after).
    let mut first = Command::new(env!("CARGO_BIN_EXE_cb"))
        .args([
            "train", "fnn", "--width", "12", "--depth", "3", "--epochs", "50",
        ])
        .arg("--data-dir")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"))
        .arg("--out")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once its first epoch is written it is training, inside its lock (its
    // early check of the folder only takes the lock for a moment).
    let pid = first.id().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !dir.path().join("results.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never finished an epoch"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let held = std::fs::read_to_string(dir.path().join(".cb.lock")).unwrap();
    assert_eq!(held.trim(), pid);
    let second = train(dir.path(), None);
    first.kill().unwrap();
    first.wait().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("in use by another run (PID {pid})")),
        "{err}"
    );
    // Its lock went with it: the folder is free again.
    conflicting_bundles::lock::OutLock::acquire(dir.path()).unwrap();
}
