//! Checkpoints written before widths became run-time values (commit 234033f,
//! typed widths `MnistFnn<7>`, `GrayConvNet<Div16>`) still load: parameter
//! names and element layouts are unchanged, so the same numbers come out.
//! The fixtures were written by the program kept beside them
//! (`tests/fixtures/layout-234033f/old_ckpt.rs.txt`, run against that commit).

use std::path::{Path, PathBuf};

use conflicting_bundles::data::Dataset;
use conflicting_bundles::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
use conflicting_bundles::models::{Classifier, MnistFnn};
use conflicting_bundles::train::checkpoint::{import_params, load};
use conflicting_bundles::train::{ProgressMode, TrainConfig, Trainer};
use conflicting_bundles::util::ImageShape;
use dfdx::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout-234033f")
}

/// The synthetic rows the old program used.
fn rows(n: usize, d: usize) -> Vec<f32> {
    (0..n * d)
        .map(|k| ((k * 31 + k / d * 7) % 97) as f32 / 97.0 - 0.5)
        .collect()
}

fn logits(json: &str) -> Vec<f32> {
    serde_json::from_str(json).unwrap()
}

#[test]
fn an_old_fnn_training_checkpoint_resumes_with_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("fnn/checkpoint.safetensors"),
        dir.path().join("checkpoint.safetensors"),
    )
    .unwrap();
    let dev = Cpu::default();
    let n = 256;
    let train_set = Dataset::from_rows(
        rows(n, 784),
        (0..n).map(|i| (i % 10) as u8).collect(),
        784,
        10,
    );
    let trainer = Trainer {
        config: TrainConfig {
            epochs: 1,
            seed: 3,
            bundle_samples: 128,
            ..Default::default()
        },
        out_dir: Some(dir.path().to_path_buf()),
        progress: ProgressMode::Off,
        label: "fnn w7 d2".into(),
    };
    // A freshly initialised net of another seed: resuming must overwrite it.
    let mut net = MnistFnn::new(&dev, 7, 2, 99).unwrap();
    let report = trainer.fit(&dev, &mut net, &train_set, None).unwrap();
    assert_eq!(
        report.epochs.len(),
        1,
        "the run was complete: nothing to train"
    );
    let x = dev.tensor_from_vec(rows(4, 784), (4, Const::<784>));
    let want = logits(&std::fs::read_to_string(fixtures().join("fnn/logits.json")).unwrap());
    assert_eq!(net.forward(x).as_vec(), want);

    // Resuming into a net of another width is refused in one line.
    let mut wider = MnistFnn::new(&dev, 8, 2, 3).unwrap();
    let e = format!(
        "{:#}",
        trainer.fit(&dev, &mut wider, &train_set, None).unwrap_err()
    );
    assert!(
        e.contains("does not fit the model") && !e.contains('\n'),
        "{e}"
    );
}

#[test]
fn old_conv_net_weights_load_and_give_the_same_logits() {
    let (tensors, meta) = load(&fixtures().join("resnet10_div16.safetensors")).unwrap();
    let dev = Cpu::default();
    let spec = ConvSpec {
        arch: Arch::Resnet,
        blocks: [1, 1, 1, 1],
    };
    let image = ImageShape::new(1, 32, 32);
    let mut net =
        ConvNet::<10, Cpu>::new(&dev, spec, Widths::divided(16).unwrap(), image, 0).unwrap();
    import_params(&mut net, &tensors).unwrap();
    let x = dev.tensor_from_vec(rows(8, 1024), (8, 1024));
    assert_eq!(net.forward(x).as_vec(), logits(&meta["logits"]));

    // Other widths: refused, naming the first parameter that does not fit.
    let mut other =
        ConvNet::<10, Cpu>::new(&dev, spec, Widths::divided(8).unwrap(), image, 0).unwrap();
    let e = import_params(&mut other, &tensors).unwrap_err().to_string();
    assert!(
        e.contains("stem.conv.weight has 196 values, the model needs 392"),
        "{e}"
    );
}
