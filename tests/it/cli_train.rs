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

/// Sizes from flags and unusable output folders are refused in one line,
/// before any data is loaded or anything is written.
#[test]
fn oversized_nets_and_bad_out_folders_are_refused_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "train",
                "fnn",
                "--width",
                "100",
                "--depth",
                "18446744073709551615",
            ],
            "too many parameters",
        ),
        (
            vec!["train", "fnn", "--width", "100", "--depth", "100000000"],
            "memory available",
        ),
        (
            vec![
                "train",
                "conv",
                "--arch",
                "vgg",
                "--depth",
                "100000000",
                "--dataset",
                "mnist",
            ],
            "more than 1000000 layers",
        ),
        (
            vec![
                "train",
                "conv",
                "--arch",
                "resnet",
                "--depth",
                "999998",
                "--dataset",
                "mnist",
            ],
            "memory available",
        ),
        (
            vec!["fc-sweep", "--widths", "100", "--depths", "2,100000000"],
            "memory available",
        ),
        (
            vec![
                "fc-sweep", "--widths", "10", "--depths", "2", "--epochs", "0",
            ],
            "epochs must be at least 1",
        ),
    ]
    .into_iter()
    .map(|(a, e)| (a.into_iter().map(String::from).collect(), e))
    .collect();
    for (args, expected) in cases {
        let o = cb()
            .args(&args)
            .arg("--data-dir")
            .arg(data_dir())
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} left {}", out.display());
    }
    for bad in [file.clone(), file.join("under")] {
        let o = cb()
            .args([
                "train",
                "fnn",
                "--width",
                "10",
                "--depth",
                "2",
                "--data-dir",
            ])
            .arg(data_dir())
            .arg("--out")
            .arg(&bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(bad.to_str().unwrap()), "{err}");
    }
}
