//! VGG / ResNet structure: depth arithmetic, hidden outputs, shapes, batch
//! norm modes, checkpoints (running statistics included), determinism.

use std::collections::HashMap;

use conflicting_bundles::models::convnet::*;
use conflicting_bundles::models::Classifier;
use conflicting_bundles::train::checkpoint::{export_params, import_params};
use conflicting_bundles::util::ImageShape;
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

const GRAY32: ImageShape = ImageShape::new(1, 32, 32);

fn batch(dev: &Cpu, n: usize, image: ImageShape, seed: u64) -> Tensor<(usize, usize), f32, Cpu> {
    let mut rng = StdRng::seed_from_u64(seed);
    let d = image.len();
    dev.tensor_from_vec(
        (0..n * d).map(|_| rng.gen_range(-1.0..1.0)).collect(),
        (n, d),
    )
}

/// A net at the paper's widths / 16.
fn net(dev: &Cpu, spec: ConvSpec, image: ImageShape, seed: u64) -> ConvNet<10, Cpu> {
    ConvNet::new(dev, spec, Widths::divided(16).unwrap(), image, seed).unwrap()
}

#[test]
fn depth_120_is_the_papers_block_layout_and_depths_add_up() {
    assert_eq!(
        ConvSpec::for_depth(Arch::Vgg, 120).unwrap().blocks,
        BLOCKS_120
    );
    for depth in (10..=150).step_by(2) {
        let s = ConvSpec::for_depth(Arch::Resnet, depth).unwrap();
        assert_eq!(s.depth(), depth);
        assert!(s.blocks.iter().all(|&b| b >= 1), "{s}");
        // Stage 3 is the long one, as in the 120-layer net.
        assert!(
            s.blocks[2] >= s.blocks[1] && s.blocks[1] >= s.blocks[0],
            "{s}"
        );
    }
    for bad in [0, 8, 21, 121] {
        assert!(ConvSpec::for_depth(Arch::Vgg, bad).is_err(), "{bad}");
    }
    let s = ConvSpec {
        arch: Arch::Vgg,
        blocks: [3, 12, 41, 3],
    };
    assert_eq!(s.locate(1), None, "layer 1 is the stem");
    assert_eq!(s.locate(2), Some((0, 0)));
    assert_eq!(s.locate(5), Some((1, 0)));
    assert_eq!(s.locate(60), Some((3, 2)));
    assert_eq!(s.locate(61), None);
}

#[test]
fn hidden_outputs_are_the_stem_and_every_block() {
    let dev = Cpu::default();
    for arch in [Arch::Vgg, Arch::Resnet] {
        let spec = ConvSpec {
            arch,
            blocks: [1, 2, 1, 1],
        };
        let net = net(&dev, spec, GRAY32, 0);
        let out = net.forward_hidden(batch(&dev, 3, GRAY32, 1));
        assert_eq!(Classifier::<usize, 10, Cpu>::num_hidden(&net), 6);
        let dims: Vec<(usize, usize)> = out.hidden.iter().map(|h| *h.shape()).collect();
        // 32 -> stem stride 2 -> 16 (4 ch); stages at 16, 8, 8, 4, 2 px.
        assert_eq!(
            dims,
            vec![
                (3, 16 * 16 * 4),
                (3, 16 * 16 * 4),
                (3, 8 * 8 * 8),
                (3, 8 * 8 * 8),
                (3, 4 * 4 * 16),
                (3, 2 * 2 * 32)
            ]
        );
        assert_eq!(out.logits.shape(), &(3, Const::<10>));
        // Same logits as the plain inference forward pass.
        assert_eq!(
            out.logits.as_vec(),
            net.forward(batch(&dev, 3, GRAY32, 1)).as_vec()
        );
    }
}

#[test]
fn wide_images_get_the_stem_max_pool() {
    let dev = Cpu::default();
    let spec = ConvSpec {
        arch: Arch::Resnet,
        blocks: [1, 1, 1, 1],
    };
    let net = net(&dev, spec, ImageShape::new(3, 64, 64), 0);
    let out = net.forward_hidden(batch(&dev, 2, ImageShape::new(3, 64, 64), 2));
    // 64 -> stem 32 -> pool 16.
    assert_eq!(out.hidden[0].shape().1, 16 * 16 * 4);
}

#[test]
fn resnet_adds_its_shortcut_and_vgg_does_not() {
    let dev = Cpu::default();
    let names = |arch| {
        let mut net = net(
            &dev,
            ConvSpec {
                arch,
                blocks: [2, 1, 1, 1],
            },
            GRAY32,
            0,
        );
        export_params(&mut net)
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    let (vgg, res) = (names(Arch::Vgg), names(Arch::Resnet));
    assert!(vgg.iter().all(|n| !n.contains("shortcut")));
    // Projections where the shape changes (stages 2-4), identity elsewhere.
    let proj: Vec<&String> = res
        .iter()
        .filter(|n| n.ends_with("shortcut.conv.weight"))
        .collect();
    assert_eq!(proj.len(), 3, "{proj:?}");
    assert!(res.contains(&"stage1.0.a.bn.running_mean".to_string()));
}

#[test]
fn batch_norm_train_mode_moves_running_stats_and_inference_does_not() {
    let dev = Cpu::default();
    let spec = ConvSpec {
        arch: Arch::Vgg,
        blocks: [1, 1, 1, 1],
    };
    let mut net = net(&dev, spec, GRAY32, 0);
    let stats = |net: &mut ConvNet<10, Cpu>| -> Vec<f32> {
        export_params(net)
            .into_iter()
            .filter(|(n, _)| n.contains("running"))
            .flat_map(|(_, v)| v)
            .collect()
    };
    let before = stats(&mut net);
    let x = batch(&dev, 4, GRAY32, 3);
    let _ = net.forward(x.clone());
    assert_eq!(stats(&mut net), before);
    let _ = net.forward_train(x.leaky_trace());
    assert_ne!(stats(&mut net), before);
}

#[test]
fn checkpoint_roundtrip_includes_running_stats() {
    let dev = Cpu::default();
    let spec = ConvSpec {
        arch: Arch::Resnet,
        blocks: [1, 1, 2, 1],
    };
    let mut a = net(&dev, spec, GRAY32, 1);
    let x = batch(&dev, 4, GRAY32, 4);
    let _ = a.forward_train(x.leaky_trace());
    let saved: HashMap<String, Vec<f32>> = export_params(&mut a).into_iter().collect();
    let mut b = net(&dev, spec, GRAY32, 2);
    assert_ne!(a.forward(x.clone()).as_vec(), b.forward(x.clone()).as_vec());
    import_params(&mut b, &saved).unwrap();
    assert_eq!(a.forward(x.clone()).as_vec(), b.forward(x).as_vec());
    // A net of another shape is refused with the offending name.
    let mut c = net(
        &dev,
        ConvSpec {
            blocks: [1, 1, 3, 1],
            ..spec
        },
        GRAY32,
        2,
    );
    let err = import_params(&mut c, &saved).unwrap_err().to_string();
    assert!(err.contains("stage3.2"), "{err}");
}

#[test]
fn same_seed_same_net() {
    let dev = Cpu::default();
    let spec = ConvSpec::for_depth(Arch::Vgg, 12).unwrap();
    let x = batch(&dev, 2, GRAY32, 5);
    let a = net(&dev, spec, GRAY32, 7);
    let b = net(&dev, spec, GRAY32, 7);
    assert_eq!(a.forward(x.clone()).as_vec(), b.forward(x).as_vec());
    assert!(Classifier::<usize, 10, Cpu>::w_max(&a) > 0.0);
}
