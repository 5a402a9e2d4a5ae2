//! Which layers each criterion removes (`cb criteria`): how an FC layer and a
//! VGG block are removed, a small real comparison checked against an
//! independent evaluation of the trained net (resumed, sharded), bad
//! settings, and the docs' table against the recorded run.

use std::path::{Path, PathBuf};

use crate::common::{bad_sets_stop_in_one_line, two_shards_merge_to};
use conflicting_bundles::criteria::block_influence;
use conflicting_bundles::data::{train_test, DatasetKind, Prepare};
use conflicting_bundles::experiments::conv_nets::load_images;
use conflicting_bundles::experiments::criteria::*;
use conflicting_bundles::experiments::recorded::{recorded, results_dir};
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::figures::Figures;
use conflicting_bundles::models::convnet::*;
use conflicting_bundles::models::{Classifier, MnistFnn};
use conflicting_bundles::train::trainer::evaluate;
use conflicting_bundles::train::{bundle_subset, ProgressMode, TrainConfig, Trainer};
use dfdx::prelude::*;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

fn rows_of<I: Dim, M: Classifier<I, 10, Cpu>>(
    net: &M,
    x: Tensor<(usize, I), f32, Cpu>,
) -> Vec<Vec<f32>> {
    let out = net.forward_hidden(x);
    let mut rows: Vec<Vec<f32>> = out.hidden.iter().map(|h| h.as_vec()).collect();
    rows.push(out.logits.as_vec());
    rows
}

#[test]
fn a_removed_fc_layer_passes_its_input_on() {
    let dev = Cpu::default();
    let (train, _) = train_test(
        &data(),
        DatasetKind::Mnist,
        &Prepare::default(),
        Some(16),
        Some(1),
    )
    .unwrap();
    let x = || dev.tensor_from_vec(train.images.clone(), (16, Const::<784>));
    let mut net = MnistFnn::new(&dev, 12, 4, 1).unwrap();
    assert_eq!(net.removable_layers(), vec![2, 3, 4]);
    let intact = rows_of(&net, x());
    net.set_lesion(&[3]).unwrap();
    let cut = rows_of(&net, x());
    // a^3 is a^2; the layers before are untouched, those after see a^2.
    assert_eq!(cut[2], intact[1]);
    assert_eq!(cut[..2], intact[..2]);
    assert_ne!(cut[3], intact[3]);
    assert_ne!(cut[4], intact[4], "the logits change");
    net.set_lesion(&[2, 3, 4]).unwrap();
    let all = rows_of(&net, x());
    assert!(all[1..4].iter().all(|r| *r == intact[0]));
    // Exactly the layers given: the empty list restores bit for bit.
    net.set_lesion(&[]).unwrap();
    assert_eq!(rows_of(&net, x()), intact);
    // Refused before anything changes.
    net.set_lesion(&[3]).unwrap();
    let e = net.set_lesion(&[2, 1]).unwrap_err().to_string();
    assert!(
        e.contains("layer 1") && e.contains("cannot be removed"),
        "{e}"
    );
    for bad in [0, 5] {
        let e = net.set_lesion(&[bad]).unwrap_err().to_string();
        assert!(e.contains("does not exist") && e.contains("1..=4"), "{e}");
    }
    assert_eq!(rows_of(&net, x()), cut, "lesion unchanged");
}

#[test]
fn a_vgg_block_is_skipped_only_where_the_shapes_agree() {
    let dev = Cpu::default();
    let (train, _) = load_images(DatasetKind::Mnist, &data(), Some(8), Some(1)).unwrap();
    let spec = ConvSpec {
        arch: Arch::Vgg,
        blocks: [2, 2, 2, 2],
    };
    let mut net =
        ConvNet::<10, Cpu>::new(&dev, spec, Widths::divided(16).unwrap(), train.shape(), 0)
            .unwrap();
    // Blocks 3, 5, 7 open stages 2-4 (more channels, stride 2); block 1
    // keeps the stem's 4 channels.
    assert_eq!(net.removable_blocks(), vec![1, 2, 4, 6, 8]);
    let x = || dev.tensor_from_vec(train.images.clone(), (8, 1024));
    let intact = rows_of(&net, x());
    // Rows: stem, blocks 1..8, pool, logits.
    net.set_lesion(&[1, 6]).unwrap();
    let cut = rows_of(&net, x());
    assert_eq!(cut[1], intact[0], "block 1 outputs the stem's output");
    assert_ne!(cut[2], intact[2], "block 2 sees the stem's output");
    assert_eq!(cut[6], cut[5], "block 6 passes block 5's output on");
    assert_eq!(cut.len(), intact.len(), "every row still there");
    net.set_lesion(&[]).unwrap();
    assert_eq!(rows_of(&net, x()), intact);
    net.set_lesion(&[2]).unwrap();
    let e = net.set_lesion(&[4, 5]).unwrap_err().to_string();
    assert!(
        e.contains("block 5") && e.contains("changes the shape") && e.contains("stride 2"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
    let e = net.set_lesion(&[9]).unwrap_err().to_string();
    assert!(e.contains("does not exist"), "{e}");
    assert_eq!(rows_of(&net, x())[2], intact[1], "lesion unchanged");
}

/// Three tiny nets trained a few steps.
fn tiny() -> CriteriaConfig {
    CriteriaConfig {
        run: RunSettings {
            epochs: 1,
            max_steps_per_epoch: Some(8),
            train_samples: Some(512),
            test_samples: Some(200),
            bundle_samples: 128,
            ..CriteriaConfig::quick().run
        },
        nets: vec![
            // Narrow and deep enough that 6 of its 19 removable layers
            // conflict after these 8 steps.
            NetRecipe::plain(CriteriaNet::Fc {
                width: 8,
                depth: 20,
            }),
            NetRecipe::plain(CriteriaNet::Conv {
                arch: Arch::Vgg,
                depth: 12,
                width_divisor: 16,
            }),
            NetRecipe {
                learning_rate: Some(5e-3),
                ..NetRecipe::plain(CriteriaNet::Conv {
                    arch: Arch::Resnet,
                    depth: 12,
                    width_divisor: 16,
                })
            },
        ],
        k: None,
    }
}

#[test]
fn a_small_comparison_matches_an_independent_evaluation() {
    let dev = Cpu::default();
    let cfg = tiny();
    let out = tempfile::tempdir().unwrap();
    let r = run_criteria(&dev, &cfg, &data(), out.path(), ProgressMode::Off).unwrap();
    assert_eq!(r.nets.len(), 3);
    let [fc, vgg, resnet] = &r.nets[..] else {
        panic!()
    };
    // One entry per FC layer and per block; what can be removed.
    assert_eq!(fc.layers.len(), 20);
    assert_eq!(
        fc.layers
            .iter()
            .filter(|l| l.removable)
            .map(|l| l.layer)
            .collect::<Vec<_>>(),
        (2..=20).collect::<Vec<_>>()
    );
    assert!(
        fc.layers[0].block_influence.is_none(),
        "784 inputs vs 8 outputs"
    );
    assert!(fc.layers[1..].iter().all(|l| l.block_influence.is_some()));
    assert_eq!(vgg.layers.len(), 5);
    assert_eq!(resnet.layers.len(), 5);
    assert!(resnet.layers.iter().all(|l| l.removable));
    assert!(fc.k > 0 && fc.k < 19, "some layers conflict, not all");
    for n in &r.nets {
        assert_eq!(
            n.removals.iter().map(|m| m.rule).collect::<Vec<_>>(),
            Rule::ALL.to_vec()
        );
        // The default k: the bundle criterion's flagged layers, exactly.
        let flagged: Vec<usize> = (n.layers.iter())
            .filter(|l| l.removable && l.bundle_entropy > 0.0)
            .map(|l| l.layer)
            .collect();
        assert_eq!(n.k, flagged.len());
        assert_eq!(n.removal(Rule::Bundle).unwrap().layers, flagged);
        for rule in Rule::CRITERIA {
            let m = n.removal(rule).unwrap();
            assert!(m.layers.len() <= n.k);
            assert!(m.layers.iter().all(|l| n.layers[l - 1].removable), "{rule}");
            assert_eq!(m.test_accuracy.is_some(), !m.layers.is_empty(), "{rule}");
        }
        // The auto-tune cut runs from the first conflicting row to the end
        // of its stage (FC: of the net).
        let cut = &n.removal(Rule::Autotune).unwrap().layers;
        assert_eq!(cut.is_empty(), n.first_conflicting_row.is_none());
        assert!(cut.windows(2).all(|w| w[1] == w[0] + 1));
    }
    // The FC net from its checkpoint (the trainer resumes a finished run):
    // its scores and accuracies, measured here.
    let (train, test) = train_test(
        &data(),
        DatasetKind::Mnist,
        &Prepare::default(),
        Some(512),
        Some(200),
    )
    .unwrap();
    let config = TrainConfig {
        measure_at_start: false,
        ..cfg.settings(&cfg.nets[0]).train_config()
    };
    let trainer = Trainer {
        out_dir: Some(out.path().join("fnn_w8_d20")),
        config: config.clone(),
        progress: ProgressMode::Off,
        label: String::new(),
    };
    let mut model = MnistFnn::new(&dev, 8, 20, 0).unwrap();
    trainer.fit(&dev, &mut model, &train, Some(&test)).unwrap();
    assert_eq!(evaluate(&dev, &model, &test).1, fc.test_accuracy);
    let subset = bundle_subset(&train, &config);
    let n = subset.len();
    let rows = model
        .forward_hidden(dev.tensor_from_vec(subset.images.clone(), (n, Const::<784>)))
        .hidden;
    let (a2, a3) = (rows[1].as_vec(), rows[2].as_vec());
    assert_eq!(
        fc.layers[2].block_influence,
        Some(block_influence(&a2, &a3, n).unwrap())
    );
    for m in &fc.removals {
        if let Some(a) = m.test_accuracy {
            model.set_lesion(&m.layers).unwrap();
            assert_eq!(evaluate(&dev, &model, &test).1, a, "{}", m.rule);
            model.set_lesion(&[]).unwrap();
        }
    }
    // Tables and charts.
    let text = r.to_string();
    assert!(text.contains("auto-tune cut") && text.contains("block influence"));
    let charts: Vec<String> = r.figures().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        charts,
        [
            "accuracy",
            "layers_fnn_w8_d20",
            "layers_vgg-12__16",
            "layers_resnet-12__16"
        ]
    );
    // A rerun finds every net done.
    let again = run_criteria(&dev, &cfg, &data(), out.path(), ProgressMode::Off).unwrap();
    assert_eq!(again, r);
    // Two shards merge to the same numbers.
    two_shards_merge_to(&cfg, &data(), &r);
}

#[test]
fn a_fixed_k_applies_to_every_criterion() {
    let dev = Cpu::default();
    let cfg = CriteriaConfig {
        nets: vec![tiny().nets[0].clone()],
        k: Some(3),
        ..tiny()
    };
    let out = tempfile::tempdir().unwrap();
    let r = run_criteria(&dev, &cfg, &data(), out.path(), ProgressMode::Off).unwrap();
    let n = &r.nets[0];
    assert_eq!(n.k, 3);
    for rule in Rule::CRITERIA {
        let m = n.removal(rule).unwrap();
        assert_eq!(m.layers.len(), 3, "{rule}");
        assert_eq!(m.layers, select(&n.layers, rule, 3));
        assert!(m.test_accuracy.is_some());
    }
}

#[test]
fn bad_settings_stop_in_one_line_before_any_folder() {
    bad_sets_stop_in_one_line(
        "criteria",
        &data(),
        &[
            ("k=0", "k must be at least 1"),
            ("nets=[]", "at least one net"),
            ("nets.0.depth=1", "depth >= 2"),
            ("nets.1.epochs=0", "epochs must be at least 1"),
            (
                "nets.2.weight_decay=-1",
                "weight_decay must be a number >= 0",
            ),
            ("nets.1.depth=11", "depth 11"),
            ("nets.0.kind=rnn", "unknown variant `rnn`"),
        ],
    );
}

/// docs/results.md shows the recorded run's table as the code prints it.
#[test]
fn the_docs_table_is_the_recorded_runs() {
    let run = recorded::<CriteriaReport>("criteria/lesson").unwrap();
    let table = run.report.summary_table().to_markdown();
    let docs = std::fs::read_to_string(results_dir().join("../docs/results.md")).unwrap();
    assert!(
        docs.contains(&table),
        "docs/results.md lacks the table of results/criteria/lesson.json; paste:\n{table}"
    );
}
