//! `cb report` end to end on a folder of `.npy` files and a `.safetensors`
//! weights file: the table, the three output files, each row against the
//! metric called directly, `--precision`, `--weights`, `--criteria` (each
//! criterion against its function, not applicable across widths, the
//! default unchanged), and one-line errors that leave nothing behind. (The `.npz` and `.safetensors` activation
//! readers are tested in tests/it/layer_file.rs, and with files made by numpy
//! in python/test_report_files.py.)

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::common::*;
use conflicting_bundles::bundle::{measure_layer, BundleConfig, Criterion, Precision};
use conflicting_bundles::criteria;

fn cb(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const N: usize = 6;
const LABELS: [u8; N] = [0, 1, 2, 0, 1, 2];

/// Three layers named so that natural order differs from byte order:
/// `layer2` (all samples apart), `layer10` (pairs of different labels equal),
/// `layer11` (differences of 1e-2, which move `w_max - lr·a/64` by 1.6e-7:
/// f32 resolves that near 1, f16 does not).
fn layers() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
    let apart: Vec<f32> = (0..N * 4).map(|i| i as f32).collect();
    let pairs: Vec<f32> = (0..N).flat_map(|i| [(i / 2) as f32, 1.0]).collect();
    let fine: Vec<f32> = (0..N).map(|i| 0.5 + 1e-2 * i as f32).collect();
    vec![
        ("layer2", vec![N, 2, 2], apart),
        ("layer10", vec![N, 2], pairs),
        ("layer11", vec![N, 1], fine),
    ]
}

fn setup(dir: &Path) -> (String, String) {
    let acts = dir.join("acts");
    std::fs::create_dir(&acts).unwrap();
    for (name, shape, data) in layers() {
        write_npy(
            &acts.join(format!("{name}.npy")),
            "<f4",
            &shape,
            &f32_bytes(&data),
        );
    }
    let y = dir.join("y.npy");
    write_npy(&y, "|u1", &[N], &LABELS);
    (acts.to_str().unwrap().into(), y.to_str().unwrap().into())
}

fn expected(data: &[f32], w_max: f32, precision: Precision) -> (usize, f64) {
    let cfg = BundleConfig {
        lr: 1e-3,
        batch_size: 64,
        num_classes: 3,
        criterion: Criterion::Resolution { w_max, precision },
    };
    let labels: Vec<usize> = LABELS.iter().map(|&l| l as usize).collect();
    let r = measure_layer(data, &labels, &cfg).unwrap();
    (r.num_bundles, r.bundle_entropy)
}

#[test]
fn writes_the_table_and_three_files_with_the_metrics_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (acts, y) = setup(dir.path());
    let out = dir.path().join("out");
    let (code, stdout, stderr) = cb(&[
        "report",
        &acts,
        "--labels",
        &y,
        "--max-weight",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("first conflicting layer: 2 (layer10)"),
        "{stdout}"
    );
    // Off a terminal, progress is a line per layer on stderr.
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("layer ")).count(),
        3
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let rows = report["layers"].as_array().unwrap();
    let by_name: HashMap<&str, Vec<f32>> = layers().into_iter().map(|(n, _, d)| (n, d)).collect();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["layer2", "layer10", "layer11"], "natural order");
    for r in rows {
        let (bundles, h) = expected(&by_name[r["name"].as_str().unwrap()], 1.0, Precision::F32);
        assert_eq!(r["num_bundles"], bundles);
        assert_eq!(r["bundle_entropy"].as_f64().unwrap(), h);
        assert_eq!(r["conflicting"], h > 0.0);
    }
    assert_eq!(rows[0]["features"], 4);
    assert_eq!(rows[1]["largest_bundle_share"].as_f64().unwrap(), 2.0 / 6.0);
    // Without --criteria: the bundle metric alone, as before the option.
    assert!(report.get("criteria").is_none(), "{report}");
    // (serde_json::Value's keys come sorted.)
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "bundle_entropy",
            "conflicting",
            "features",
            "index",
            "largest_bundle_share",
            "name",
            "non_finite",
            "num_bundles"
        ]
    );

    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert_eq!(
        csv.lines().next(),
        Some("index,name,features,num_bundles,largest_bundle_share,bundle_entropy,conflicting,non_finite")
    );
    assert!(
        csv.lines()
            .nth(2)
            .unwrap()
            .starts_with("2,\"layer10\",2,3,"),
        "{csv}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // Offline: plotly.js inline, no script loaded from anywhere.
    assert!(html.contains("Plotly.newPlot") && !html.contains("<script src="));
    assert!(html.contains("layer10"));

    // `cb charts` redraws the report's chart from report.json.
    let charts = dir.path().join("charts");
    let (code, _, stderr) = cb(&[
        "charts",
        out.join("report.json").to_str().unwrap(),
        "--out",
        charts.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(charts.join("report_layers.html").exists());
}

#[test]
fn precision_and_weights_change_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let (acts, y) = setup(dir.path());
    // Weights: the largest |w| among tensors matching '*.weight' is 0.75;
    // the bias (3.0) is left out by the glob.
    let tensors: Vec<(&str, Vec<f32>, Vec<usize>)> = vec![
        ("fc1.weight", vec![0.5, -0.75], vec![2]),
        ("fc1.bias", vec![3.0], vec![1]),
    ];
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(n, v, s)| (n.to_string(), f32_bytes(v), s.clone()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    let weights = dir.path().join("w.safetensors");
    safetensors::tensor::serialize_to_file(views, &None, &weights).unwrap();

    let out = dir.path().join("out");
    let (code, _, stderr) = cb(&[
        "report",
        &acts,
        "--labels",
        &y,
        "--weights",
        weights.to_str().unwrap(),
        "--weights-include",
        "*.weight",
        "--precision",
        "f16",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let c = &report["config"]["criterion"]["resolution"];
    assert_eq!(
        (c["w_max"].as_f64(), c["precision"].as_str()),
        (Some(0.75), Some("f16"))
    );
    assert!(report["w_max_source"]
        .as_str()
        .unwrap()
        .contains("1 tensors"));
    let fine = &layers()[2].2;
    let (b16, h16) = expected(fine, 0.75, Precision::F16);
    let (b32, _) = expected(fine, 0.75, Precision::F32);
    assert!(b16 < b32, "f16 bundles what f32 resolves ({b16} vs {b32})");
    assert_eq!(report["layers"][2]["num_bundles"], b16);
    assert_eq!(report["layers"][2]["bundle_entropy"].as_f64().unwrap(), h16);
}

#[test]
fn bad_input_is_one_line_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (acts, y) = setup(dir.path());
    let short = dir.path().join("short");
    std::fs::create_dir(&short).unwrap();
    write_npy(&short.join("ok.npy"), "<f4", &[N, 1], &f32_bytes(&[0.0; N]));
    write_npy(
        &short.join("odd.npy"),
        "<f4",
        &[N - 1, 1],
        &f32_bytes(&[0.0; N - 1]),
    );
    let out = dir.path().join("never");
    let o = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![short.to_str().unwrap(), "--labels", &y, "--max-weight", "1"],
            "layer 'odd' has 5 samples, the labels 6",
        ),
        (
            vec![&acts, "--labels", "/nonexistent/y.npy", "--max-weight", "1"],
            "/nonexistent/y.npy",
        ),
        (
            vec![&acts, "--labels", &y, "--max-weight", "1", "--classes", "2"],
            "outside 0..2",
        ),
        (
            vec![
                &acts,
                "--labels",
                &y,
                "--weights",
                &y,
                "--weights-include",
                "[x",
            ],
            "--weights-include '[x'",
        ),
        (
            vec![
                &acts,
                "--labels",
                &y,
                "--weights",
                &acts,
                "--weights-include",
                "nothing*",
            ],
            "no tensor matches",
        ),
        (
            vec![
                &acts,
                "--labels",
                &y,
                "--gamma",
                "1e-7",
                "--precision",
                "f16",
            ],
            "--precision",
        ),
        (
            vec![
                &acts,
                "--labels",
                &y,
                "--max-weight",
                "1",
                "--precision",
                "f8",
            ],
            "f8",
        ),
        (
            vec!["/nonexistent/acts.npz", "--labels", &y, "--max-weight", "1"],
            "/nonexistent/acts.npz",
        ),
        (
            vec![&acts, "--labels", &y, "--criteria", "bundle,entropy"],
            "unknown criterion 'entropy'",
        ),
        (
            vec![&acts, "--labels", &y, "--criteria", "angular,bundle"],
            "give one of --max-weight, --weights or --gamma",
        ),
        (
            vec![&acts, "--labels", &y],
            "give one of --max-weight, --weights or --gamma",
        ),
        (
            vec![
                &acts,
                "--labels",
                &y,
                "--criteria",
                "angular",
                "--gamma",
                "1e-7",
            ],
            "which --criteria leaves out",
        ),
        (
            vec![
                &acts,
                "--labels",
                &y,
                "--criteria",
                "angular",
                "--angular-skip",
                "0",
            ],
            "--angular-skip must be at least 1",
        ),
        (
            vec![
                &acts,
                "--labels",
                &y,
                "--criteria",
                "batch-entropy",
                "--angular-skip",
                "2",
            ],
            "--angular-skip applies to the angular criterion",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["report"];
        all.extend(args);
        all.extend(["--out", o]);
        let (code, stdout, stderr) = cb(&all);
        assert_ne!(code, 0, "{all:?}");
        assert_eq!(stderr.lines().count(), 1, "{all:?}: {stderr}");
        assert!(stderr.contains(needle), "{all:?}: {stderr}");
        assert!(stdout.is_empty(), "{all:?}: {stdout}");
        assert!(!out.exists(), "{all:?} left {o} behind");
    }
}

/// Four layers of widths 2, 2, 2, 3 (`a`, `b`, `c`, `d`), with a zero row
/// in `b` (the zero-row convention) and `c` a scaled `a` (cos = 1).
fn same_width_layers() -> Vec<(&'static str, Vec<f32>)> {
    let a: Vec<f32> = (0..N * 2).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let mut b: Vec<f32> = (0..N * 2).map(|i| ((i * 3) % 4) as f32 - 1.5).collect();
    b[2..4].fill(0.0);
    let c: Vec<f32> = a.iter().map(|x| 2.0 * x).collect();
    let d: Vec<f32> = (0..N * 3).map(|i| (i % 4) as f32).collect();
    vec![("a", a), ("b", b), ("c", c), ("d", d)]
}

fn write_same_width(dir: &Path) -> String {
    let acts = dir.join("sw");
    std::fs::create_dir(&acts).unwrap();
    for (name, data) in same_width_layers() {
        let shape = [N, data.len() / N];
        write_npy(
            &acts.join(format!("{name}.npy")),
            "<f4",
            &shape,
            &f32_bytes(&data),
        );
    }
    acts.to_str().unwrap().into()
}

#[test]
fn criteria_match_their_functions_and_are_not_applicable_across_widths() {
    let dir = tempfile::tempdir().unwrap();
    let (_, y) = setup(dir.path());
    let acts = write_same_width(dir.path());
    let out = dir.path().join("out");
    // No --max-weight: the bundle criterion is not selected.
    let (code, stdout, stderr) = cb(&[
        "report",
        &acts,
        "--labels",
        &y,
        "--criteria",
        "block-influence,angular,batch-entropy",
        "--angular-skip",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let l = same_width_layers();
    let v = |i: usize| l[i].1.as_slice();
    // Layer order in the file; None where not applicable.
    let batch: Vec<f64> = (0..4)
        .map(|i| criteria::batch_entropy(v(i), N).unwrap())
        .collect();
    let angular = [
        Some(criteria::angular_distance(v(0), v(2), N).unwrap()),
        None, // b and d differ in width
        None, // no layer 5
        None,
    ];
    let influence = [
        None, // no input in the file
        Some(criteria::block_influence(v(0), v(1), N).unwrap()),
        Some(criteria::block_influence(v(1), v(2), N).unwrap()),
        None, // c (2 values per sample) into d (3)
    ];
    // c is a scaled a: the same direction, up to rounding in the cosine.
    assert!(angular[0].unwrap() < 1e-6, "{angular:?}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["criteria"],
        serde_json::json!(["batch-entropy", "angular", "block-influence"])
    );
    assert_eq!(report["angular_skip"], 2);
    assert!(report.get("config").is_none(), "{report}");
    for (i, row) in report["layers"].as_array().unwrap().iter().enumerate() {
        assert!(row.get("bundle_entropy").is_none(), "{row}");
        assert_eq!(row["batch_entropy"].as_f64(), Some(batch[i]), "{row}");
        // null, not absent: selected but not applicable.
        assert_eq!(row["angular_distance"].as_f64(), angular[i], "{row}");
        assert_eq!(row["block_influence"].as_f64(), influence[i], "{row}");
        assert!(row.get("angular_distance").is_some() && row.get("block_influence").is_some());
    }

    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "index,name,features,non_finite,batch_entropy,angular_distance,block_influence"
    );
    assert_eq!(
        lines[4],
        format!("4,\"d\",3,0,{},,", batch[3]),
        "not applicable is an empty cell"
    );
    let table_d = stdout.lines().find(|l| l.contains(" d ")).unwrap();
    assert_eq!(table_d.matches("n/a").count(), 2, "{stdout}");
    assert!(stdout.starts_with("Layer report:"), "{stdout}");
    assert!(!stdout.contains("conflicting"), "{stdout}");

    // The chart: a line per criterion, a gap (null) where not applicable.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for name in ["batch entropy", "angular (l, l+2)", "block influence"] {
        assert!(html.contains(&format!("\"name\":\"{name}\"")), "{name}");
    }
    assert!(html.contains("null"));
    assert!(!html.contains("\"name\":\"bundles\""));
}

#[test]
fn bundle_with_other_criteria_keeps_its_numbers_and_adds_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (acts, y) = setup(dir.path());
    let run = |criteria: Option<&str>, out: &Path| {
        let mut args = vec!["report", &acts, "--labels", &y, "--max-weight", "1"];
        if let Some(c) = criteria {
            args.extend(["--criteria", c]);
        }
        args.extend(["--out", out.to_str().unwrap()]);
        let (code, stdout, stderr) = cb(&args);
        assert_eq!(code, 0, "{stderr}");
        stdout
    };
    let plain = dir.path().join("plain");
    let named = dir.path().join("named");
    let both = dir.path().join("both");
    let plain_out = run(None, &plain);
    // `--criteria bundle` is the default, file for file.
    assert_eq!(
        run(Some("bundle"), &named),
        plain_out.replace("plain", "named")
    );
    for f in ["report.json", "report.csv", "report.html"] {
        let a = std::fs::read_to_string(plain.join(f)).unwrap();
        let b = std::fs::read_to_string(named.join(f)).unwrap();
        // Not assert_eq: the page embeds plotly.js, megabytes to print.
        assert!(a == b, "{f} differs");
    }
    let table = run(Some("bundle,block-influence,bundle"), &both);
    assert!(
        table.contains("first conflicting layer: 2 (layer10)"),
        "{table}"
    );
    let read = |d: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("report.json")).unwrap()).unwrap()
    };
    let (p, b) = (read(&plain), read(&both));
    assert_eq!(
        b["criteria"],
        serde_json::json!(["bundle", "block-influence"])
    );
    assert_eq!(p["config"], b["config"]);
    for (pr, br) in p["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["layers"].as_array().unwrap())
    {
        for key in [
            "num_bundles",
            "bundle_entropy",
            "largest_bundle_share",
            "conflicting",
        ] {
            assert_eq!(pr[key], br[key], "{key}");
        }
        // layer2, layer10 and layer11 all differ in width.
        assert!(br["block_influence"].is_null(), "{br}");
    }
    let csv = std::fs::read_to_string(both.join("report.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",conflicting,non_finite,block_influence"),
        "{csv}"
    );
}
