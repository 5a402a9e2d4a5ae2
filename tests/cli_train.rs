//! `cb train fnn` takes any width: a width no preset uses trains, reports its
//! tables and writes results; a zero width is a one-line error with nothing
//! written.

use std::path::Path;
use std::process::Command;

use conflicting_bundles::train::TrainReport;

fn cb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cb"))
}

fn data_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

#[test]
fn train_fnn_takes_any_width() {
    let out = tempfile::tempdir().unwrap();
    let o = cb()
        .args([
            "train",
            "fnn",
            "--width",
            "37",
            "--depth",
            "3",
            "--epochs",
            "1",
            "--data-dir",
        ])
        .arg(data_dir())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: TrainReport =
        serde_json::from_slice(&std::fs::read(out.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(
        (r.label.as_str(), r.num_hidden, r.epochs.len()),
        ("fnn w37 d3", 3, 1)
    );
    assert!(r.test_accuracy().unwrap() > 0.9, "{r:?}");
    // The CLI prints the report's own tables: epochs, then the layer profile.
    assert!(
        stdout.contains("fnn w37 d3: training") && stdout.contains("Bundles per layer"),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count(),
        1 + 3
    );

    let bad = tempfile::tempdir().unwrap();
    let o = cb()
        .args(["train", "fnn", "--width", "0", "--depth", "3", "--data-dir"])
        .arg(data_dir())
        .arg("--out")
        .arg(bad.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--width and --depth must be at least 1"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(bad.path()).unwrap().count(), 0);
}
