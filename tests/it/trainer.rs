//! Trainer: determinism, checkpoint/resume, JSON results, bad input.

use std::path::Path;

use conflicting_bundles::data::{load_mnist, Dataset, DatasetKind, Split};
use conflicting_bundles::models::fnn::MnistFnn;
use conflicting_bundles::models::Classifier;
use conflicting_bundles::train::checkpoint::export_params;
use conflicting_bundles::train::*;
use dfdx::prelude::*;

fn data() -> (Dataset, Dataset) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    let train = load_mnist(&dir, DatasetKind::Mnist, Split::Train)
        .unwrap()
        .take(1500);
    let test = load_mnist(&dir, DatasetKind::Mnist, Split::Test)
        .unwrap()
        .take(300);
    (train, test)
}

fn cfg(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        seed: 5,
        bundle_samples: 256,
        bundle_every_steps: Some(10),
        ..Default::default()
    }
}

fn quiet(config: TrainConfig, out: Option<&Path>) -> Trainer {
    Trainer {
        config,
        out_dir: out.map(|p| p.to_path_buf()),
        progress: ProgressMode::Off,
        label: "t".into(),
    }
}

fn run(epochs: usize, out: Option<&Path>) -> (TrainReport, Vec<(String, Vec<f32>)>) {
    let (train_set, test_set) = data();
    let dev: Cpu = Default::default();
    let mut model = MnistFnn::new(&dev, 16, 4, 5).unwrap();
    let r = quiet(cfg(epochs), out)
        .fit(&dev, &mut model, &train_set, Some(&test_set))
        .unwrap();
    (r, export_params(&mut model))
}

fn without_timing(mut r: TrainReport) -> TrainReport {
    r.epochs.iter_mut().for_each(|e| e.seconds = 0.0);
    r
}

#[test]
fn same_seed_same_numbers_and_resume_matches_uninterrupted() {
    let (a, pa) = run(3, None);
    let (b, pb) = run(3, None);
    assert_eq!(without_timing(a.clone()), without_timing(b));
    assert_eq!(pa, pb);
    assert_eq!(a.epochs.len(), 3);
    assert_eq!(a.num_hidden, 4);
    assert!(a.bundles.iter().all(|p| p.entropy.len() == 4));
    // start + every 10 steps (24 steps/epoch) + 3 epoch ends
    assert_eq!(a.bundles.len(), 1 + 7 + 3);

    // "Interrupted" after epoch 1: the checkpoint then holds epoch 1; a new
    // call with 3 epochs picks up there and ends exactly where `a` ended.
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = run(1, Some(dir.path()));
    assert_eq!(first.epochs.len(), 1);
    let saved: TrainReport =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(saved.epochs.len(), 1);
    let (resumed, pr) = run(3, Some(dir.path()));
    assert_eq!(without_timing(resumed), without_timing(a));
    assert_eq!(pr, pa);
    // No temp files left behind: the hidden files are the folder's lock only.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.') || n == ".cb.lock"),
        "{names:?}"
    );
}

#[test]
fn mismatched_or_corrupt_checkpoints_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    run(1, Some(dir.path()));
    let (train_set, test_set) = data();
    let dev: Cpu = Default::default();
    let mut model = MnistFnn::new(&dev, 16, 4, 5).unwrap();
    let other = TrainConfig { seed: 6, ..cfg(2) };
    let e = quiet(other, Some(dir.path()))
        .fit(&dev, &mut model, &train_set, Some(&test_set))
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("different training configuration"),
        "{e:#}"
    );

    let mut deeper = MnistFnn::new(&dev, 16, 5, 5).unwrap();
    let e = quiet(cfg(2), Some(dir.path()))
        .fit(&dev, &mut deeper, &train_set, Some(&test_set))
        .unwrap_err();
    assert!(format!("{e:#}").contains("does not fit the model"), "{e:#}");

    std::fs::write(dir.path().join("checkpoint.safetensors"), b"garbage").unwrap();
    let e = quiet(cfg(2), Some(dir.path()))
        .fit(&dev, &mut model, &train_set, Some(&test_set))
        .unwrap_err();
    assert!(format!("{e:#}").contains("not a valid checkpoint"), "{e:#}");
}

#[test]
fn bad_training_data_is_an_error() {
    let dev: Cpu = Default::default();
    let mut model = MnistFnn::new(&dev, 16, 2, 0).unwrap();
    let bad = Dataset::from_rows(vec![0.0; 784 * 2], vec![0, 10], 784, 10);
    let e = quiet(cfg(1), None)
        .fit(&dev, &mut model, &bad, None)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "label 10 of training sample 1 is outside 0..10"
    );
    let short = Dataset::from_rows(vec![0.0; 700], vec![0], 700, 10);
    assert!(quiet(cfg(1), None)
        .fit(&dev, &mut model, &short, None)
        .is_err());
    assert!(quiet(cfg(1), None)
        .fit(
            &dev,
            &mut model,
            &Dataset::from_rows(vec![], vec![], 784, 10),
            None
        )
        .is_err());
}

#[test]
fn hidden_activations_cover_every_hidden_layer() {
    let dev: Cpu = Default::default();
    let model = MnistFnn::new(&dev, 8, 5, 1).unwrap();
    let x: Tensor<(usize, Const<784>), f32, Cpu> =
        dev.tensor_from_vec(vec![0.5; 784 * 3], (3, Const));
    let out = model.forward_hidden(x.clone());
    assert_eq!(out.hidden.len(), 5);
    assert!(out.hidden.iter().all(|h| h.shape() == &(3, 8)));
    assert_eq!(out.logits.as_vec(), model.forward(x).as_vec());
    // w_max covers hidden layers only (not the output layer).
    let mut weights = model.input.weight.as_vec();
    model
        .hidden
        .iter()
        .for_each(|l| weights.extend(l.weight.as_vec()));
    let expected = weights.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert_eq!(model.w_max(), expected);
}
