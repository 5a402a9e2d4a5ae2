//! The precision sweep at test scale: each format's `H^l` is the
//! metric's own on the same activations and weights, the report survives
//! JSON and resumes, bad configurations and flags are one-line errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use conflicting_bundles::bundle::{measure_layer, BundleConfig, Criterion, Precision};
use conflicting_bundles::data::{train_test, Dataset, DatasetKind, Prepare};
use conflicting_bundles::experiments::precision::*;
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::models::convnet::Arch;
use conflicting_bundles::models::{Classifier, MnistFnn};
use conflicting_bundles::train::{bundle_subset, ProgressMode, TrainConfig, Trainer};
use dfdx::prelude::*;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

/// Two small FC nets and the shallowest VGG at widths ÷ 16, 10 steps on 640
/// images: seconds.
fn tiny() -> PrecisionConfig {
    PrecisionConfig {
        run: RunSettings {
            epochs: 1,
            train_samples: Some(640),
            test_samples: Some(200),
            max_steps_per_epoch: Some(10),
            bundle_samples: 200,
            ..PrecisionConfig::quick().run
        },
        nets: vec![
            PrecisionNet::Fc {
                width: 3,
                depth: 12,
            },
            PrecisionNet::Fc {
                width: 16,
                depth: 4,
            },
            PrecisionNet::Conv {
                arch: Arch::Vgg,
                depth: 10,
            },
        ],
        width_divisor: 16,
        ..PrecisionConfig::quick()
    }
}

/// `H^l` of every hidden layer of `model` on `samples`, one direct
/// `measure_layer` call per layer in `precision`.
fn direct<M: Classifier<Const<784>, 10, Cpu>>(
    dev: &Cpu,
    model: &M,
    samples: &Dataset,
    precision: Precision,
) -> Vec<f64> {
    let x = dev.tensor_from_vec(samples.images.clone(), (samples.len(), Const::<784>));
    let out = model.forward_hidden(x);
    let cfg = BundleConfig {
        lr: 1e-3,
        batch_size: 64,
        num_classes: 10,
        criterion: Criterion::Resolution {
            w_max: model.w_max(),
            precision,
        },
    };
    out.hidden
        .iter()
        .map(|t| {
            measure_layer(&t.as_vec(), &samples.labels_usize(), &cfg)
                .unwrap()
                .bundle_entropy
        })
        .collect()
}

#[test]
fn each_format_is_the_metric_on_the_same_activations() {
    let dev: Cpu = Default::default();
    let (train, test) = train_test(
        &data_dir(),
        DatasetKind::Mnist,
        &Prepare::default(),
        Some(640),
        Some(200),
    )
    .unwrap();
    let trainer = Trainer {
        config: TrainConfig {
            max_steps_per_epoch: Some(10),
            bundle_samples: 300,
            measure_at_start: false,
            ..Default::default()
        },
        progress: ProgressMode::Off,
        ..Default::default()
    };
    // Wide enough that f32 keeps most samples apart in the first layers.
    let (width, depth) = (16, 6);
    let mut model = MnistFnn::new(&dev, width, depth, 0).unwrap();
    let (init, trained, report) =
        train_and_measure(&dev, &mut model, &train, &test, &trainer, &Precision::ALL).unwrap();
    let subset = bundle_subset(&train, &trainer.config);
    let fresh = MnistFnn::new(&dev, width, depth, 0).unwrap();
    for (snapshot, net) in [(&init, &fresh), (&trained, &model)] {
        assert_eq!(snapshot.w_max, net.w_max());
        assert_eq!(snapshot.formats.len(), 3);
        for f in &snapshot.formats {
            assert_eq!(f.entropy, direct(&dev, net, &subset, f.precision), "{f:?}");
            assert_eq!(f.entropy.len(), depth);
            assert_eq!(
                f.first_conflicting_layer,
                f.entropy.iter().position(|&h| h > 0.0).map(|l| l + 1)
            );
            assert_eq!(f.last_entropy, f.entropy[depth - 1]);
        }
    }
    assert_eq!((init.step, trained.step), (0, 10));
    // After training, f32 is what the trainer itself measured at the end.
    let end = report.bundles.last().unwrap();
    assert_eq!(trained.format(Precision::F32).unwrap().entropy, end.entropy);
    // bf16's spacing near w_max is 2^16 times f32's: it bundles samples in
    // a layer where f32 still keeps them apart (none counts as L + 1).
    let first = |p| {
        trained
            .format(p)
            .unwrap()
            .first_conflicting_layer
            .unwrap_or(depth + 1)
    };
    assert!(
        first(Precision::Bf16) < first(Precision::F32),
        "{trained:?}"
    );
}

#[test]
fn the_sweep_reports_every_net_in_every_format_and_resumes() {
    let out = tempfile::tempdir().unwrap();
    let dev: Cpu = Default::default();
    let cfg = tiny();
    let r =
        run_precision_sweep(&dev, &cfg, &data_dir(), Some(out.path()), ProgressMode::Off).unwrap();
    assert_eq!(r.nets.len(), 3);
    for (n, net) in r.nets.iter().zip(&cfg.nets) {
        assert_eq!(n.net, *net);
        let layers = match *net {
            PrecisionNet::Fc { depth, .. } => depth,
            // The stem, one block per stage, the pooled features.
            PrecisionNet::Conv { .. } => 6,
        };
        assert_eq!(n.num_hidden, layers);
        for s in [&n.init, &n.trained] {
            let formats: Vec<_> = s.formats.iter().map(|f| f.precision).collect();
            assert_eq!(formats, Precision::ALL);
            assert!(s.formats.iter().all(|f| f.entropy.len() == layers));
        }
        assert_eq!((n.init.step, n.trained.step), (0, 10));
        assert!((0.0..=1.0).contains(&n.test_accuracy));
    }
    // The table has a row per net and stage; the charts exist.
    let tables = r.tables();
    assert_eq!(tables[0].rows.len(), 6);
    assert!(r.to_string().contains("fnn w3 d12"));
    use conflicting_bundles::figures::Figures;
    let names: Vec<String> = r.figures().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "first_conflicting_layer",
            "layers_fnn_w3_d12",
            "layers_fnn_w16_d4",
            "layers_vgg-10"
        ]
    );
    // The JSON holds the same report.
    let path = out.path().join(REPORT);
    let mut stored: PrecisionReport =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(stored, r);
    // A rerun keeps what is stored instead of training again ...
    stored.nets[0].test_accuracy = 0.123;
    std::fs::write(&path, serde_json::to_vec(&stored).unwrap()).unwrap();
    let again =
        run_precision_sweep(&dev, &cfg, &data_dir(), Some(out.path()), ProgressMode::Off).unwrap();
    assert_eq!(again.nets[0].test_accuracy, 0.123);
    // ... and another configuration is another experiment: refused.
    let other = PrecisionConfig {
        precisions: vec![Precision::F32],
        ..cfg
    };
    let err = run_precision_sweep(
        &dev,
        &other,
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
    let check = |cfg: PrecisionConfig, needle: &str| {
        let err = run_precision_sweep(&dev, &cfg, &data_dir(), None, ProgressMode::Off)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains('\n'), "{err}");
    };
    check(
        PrecisionConfig {
            nets: vec![],
            ..tiny()
        },
        "at least one net",
    );
    check(
        PrecisionConfig {
            precisions: vec![],
            ..tiny()
        },
        "at least one precision",
    );
    check(
        PrecisionConfig {
            precisions: vec![Precision::F16, Precision::F16],
            ..tiny()
        },
        "once",
    );
    check(
        PrecisionConfig {
            run: RunSettings {
                dataset: DatasetKind::Cifar10,
                ..tiny().run
            },
            ..tiny()
        },
        "28×28",
    );
    check(
        PrecisionConfig {
            nets: vec![PrecisionNet::Conv {
                arch: Arch::Resnet,
                depth: 11,
            }],
            ..tiny()
        },
        "depth 11",
    );
    check(
        PrecisionConfig {
            nets: vec![PrecisionNet::Fc { width: 0, depth: 3 }],
            ..tiny()
        },
        "at least 1",
    );
    check(
        PrecisionConfig {
            run: RunSettings {
                epochs: 0,
                ..tiny().run
            },
            ..tiny()
        },
        "epochs",
    );
}

fn cb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cb"))
}

#[test]
fn cli_bad_flags_are_one_line_errors_and_write_nothing() {
    let out = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (&["--precisions", "f8"][..], "f8"),
        (&["--conv-depths", "13"], "depth 13"),
        (&["--widths", "0"], "at least 1"),
        (&["--dataset", "cifar10"], "28×28"),
    ] {
        let o = cb()
            .arg("precision-sweep")
            .args(args)
            .arg("--data-dir")
            .arg(data_dir())
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

/// A net without a conflicting layer in a format is drawn at L + 1 with the
/// label "none"; every chart has a title and axis titles.
#[test]
fn charts_show_no_conflict_at_depth_plus_one() {
    let point = |precision, first: Option<usize>| FormatPoint {
        precision,
        first_conflicting_layer: first,
        last_entropy: 0.0,
        entropy: vec![0.0; 4],
        num_bundles: vec![1; 4],
    };
    let snapshot = |step| Snapshot {
        step,
        w_max: 0.5,
        formats: vec![point(Precision::F32, None), point(Precision::Bf16, Some(2))],
    };
    let net = PrecisionNet::Fc { width: 8, depth: 4 };
    let report = PrecisionReport {
        config: PrecisionConfig {
            nets: vec![net],
            precisions: vec![Precision::F32, Precision::Bf16],
            ..tiny()
        },
        nets: vec![NetResult {
            net,
            num_hidden: 4,
            test_accuracy: 0.5,
            train_accuracy: 0.5,
            init: snapshot(0),
            trained: snapshot(10),
            seconds: 1.0,
        }],
    };
    let json =
        |p: &plotly::Plot| -> serde_json::Value { serde_json::from_str(&p.to_json()).unwrap() };
    let v = json(&conflicting_bundles::plots::precision_boundary(&report));
    // Two formats × two stages, and the depth marks.
    let traces = v["data"].as_array().unwrap();
    assert_eq!(traces.len(), 5);
    for t in &v["data"].as_array().unwrap()[..4] {
        let f32_trace = t["name"].as_str().unwrap().starts_with("f32");
        let (y, text) = (t["y"][0].as_f64().unwrap(), t["text"][0].as_str().unwrap());
        if f32_trace {
            assert_eq!((y, text), (5.0, "none"), "{t}");
        } else {
            assert_eq!((y, text), (2.0, ""), "{t}");
        }
    }
    let layers = json(&conflicting_bundles::plots::precision_layers(&report, net));
    // Two formats × two stages and the ln 10 line.
    assert_eq!(layers["data"].as_array().unwrap().len(), 5);
    for chart in [&v, &layers] {
        let l = &chart["layout"];
        for title in [&l["title"], &l["xaxis"]["title"], &l["yaxis"]["title"]] {
            assert!(title["text"].as_str().is_some_and(|t| !t.is_empty()), "{l}");
        }
    }
}
