//! VGG / ResNet structure: depth arithmetic, hidden outputs, shapes, batch
//! norm modes, checkpoints (running statistics included), determinism.

use std::collections::HashMap;

use conflicting_bundles::layers::params::alloc_grads;
use conflicting_bundles::models::convnet::*;
use conflicting_bundles::models::Classifier;
use conflicting_bundles::train::checkpoint::{export_params, import_params};
use conflicting_bundles::train::Ranger;
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
fn the_papers_depths_take_the_authors_blocks_and_other_depths_add_up() {
    // models/factory.py of peerdavid/conflicting-bundles, get_blocks().
    let authors = [
        (4, [1, 0, 0, 0]),
        (10, [1, 1, 1, 1]),
        (20, [2, 2, 3, 2]),
        (30, [3, 3, 5, 3]),
        (50, [3, 6, 12, 3]),
        (76, [3, 6, 25, 3]),
        (100, [3, 12, 31, 3]),
        (120, [3, 12, 41, 3]),
    ];
    for (depth, blocks) in authors {
        for arch in [Arch::Vgg, Arch::Resnet] {
            let s = ConvSpec::for_depth(arch, depth).unwrap();
            assert_eq!(s.blocks, blocks, "depth {depth}");
            assert_eq!(s.depth(), depth);
        }
    }
    assert_eq!(BLOCKS_120, [3, 12, 41, 3]);
    // Other depths: spread 3:12:41:3, every stage at least one block.
    for depth in (12..=150)
        .step_by(2)
        .filter(|d| authors.iter().all(|(a, _)| a != d))
    {
        let s = ConvSpec::for_depth(Arch::Resnet, depth).unwrap();
        assert_eq!(s.depth(), depth);
        assert!(s.blocks.iter().all(|&b| b >= 1), "{s}");
        assert!(
            s.blocks[2] >= s.blocks[1] && s.blocks[1] >= s.blocks[0],
            "{s}"
        );
    }
    for bad in [0, 2, 8, 21, 121] {
        assert!(ConvSpec::for_depth(Arch::Vgg, bad).is_err(), "{bad}");
    }
}

#[test]
fn rows_are_stem_blocks_branches_and_pooled_and_locate_maps_them_to_blocks() {
    let vgg = ConvSpec {
        arch: Arch::Vgg,
        blocks: [3, 12, 41, 3],
    };
    assert_eq!(vgg.rows().len(), 1 + 59 + 1);
    assert_eq!(vgg.locate(1), None, "row 1 is the stem");
    assert_eq!(vgg.locate(2), Some((0, 0)));
    assert_eq!(vgg.locate(5), Some((1, 0)));
    assert_eq!(vgg.locate(60), Some((3, 2)));
    assert_eq!(vgg.locate(61), None, "the pooled features");
    assert_eq!(vgg.locate(62), None, "past the end");
    let res = ConvSpec {
        arch: Arch::Resnet,
        blocks: [2, 0, 1, 0],
    };
    let rows: Vec<String> = res.rows().iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rows,
        [
            "stem",
            "s1.b1",
            "s1.b1 branch",
            "s1.b2",
            "s1.b2 branch",
            "s3.b1",
            "s3.b1 branch",
            "pool"
        ]
    );
    assert_eq!(res.locate(3), Some((0, 0)), "a branch belongs to its block");
    assert_eq!(res.locate(6), Some((2, 0)));
}

#[test]
fn hidden_outputs_are_the_rows_of_the_spec() {
    let dev = Cpu::default();
    // 32 -> stem stride 2 -> 16 (4 ch); stages at 16, 8, 4, 2 px.
    let (s1, s2, s3, s4) = (16 * 16 * 4, 8 * 8 * 8, 4 * 4 * 16, 2 * 2 * 32);
    for (arch, dims) in [
        (Arch::Vgg, vec![s1, s1, s2, s2, s3, s4, 32]),
        (
            Arch::Resnet,
            vec![s1, s1, s1, s2, s2, s2, s2, s3, s3, s4, s4, 32],
        ),
    ] {
        let spec = ConvSpec {
            arch,
            blocks: [1, 2, 1, 1],
        };
        let net = net(&dev, spec, GRAY32, 0);
        let out = net.forward_hidden(batch(&dev, 3, GRAY32, 1));
        assert_eq!(Classifier::<usize, 10, Cpu>::num_hidden(&net), dims.len());
        assert_eq!(spec.rows().len(), dims.len());
        let got: Vec<(usize, usize)> = out.hidden.iter().map(|h| *h.shape()).collect();
        assert_eq!(
            got,
            dims.iter().map(|&d| (3, d)).collect::<Vec<_>>(),
            "{arch}"
        );
        assert_eq!(out.logits.shape(), &(3, Const::<10>));
        // Same logits as the plain inference forward pass.
        assert_eq!(
            out.logits.as_vec(),
            net.forward(batch(&dev, 3, GRAY32, 1)).as_vec()
        );
        // Block outputs and branches are taken after a ReLU.
        for (row, h) in spec.rows().iter().zip(&out.hidden) {
            if matches!(row, Row::Block { .. } | Row::Branch { .. }) {
                assert!(h.as_vec().iter().all(|&v| v >= 0.0), "{row}");
            }
        }
        // The pooled row is the mean of the last block's output per channel.
        let last_block = dims.len() - 2 - usize::from(arch == Arch::Resnet);
        let (last, pooled) = (
            out.hidden[last_block].as_vec(),
            out.hidden[dims.len() - 1].as_vec(),
        );
        for n in 0..3 {
            for c in 0..32 {
                let mean = (0..4).map(|p| last[n * 128 + p * 32 + c]).sum::<f32>() / 4.0;
                assert!((pooled[n * 32 + c] - mean).abs() < 1e-5, "channel {c}");
            }
        }
    }
}

#[test]
fn row_w_max_is_the_authors_largest_mean_absolute_tensor_per_layer() {
    let dev = Cpu::default();
    let spec = ConvSpec {
        arch: Arch::Resnet,
        blocks: [1, 1, 0, 0],
    };
    let mut net = net(&dev, spec, GRAY32, 3);
    let tensors: HashMap<String, Vec<f32>> = export_params(&mut net).into_iter().collect();
    let mean_abs = |name: &str| {
        let v = &tensors[name];
        v.iter().map(|x| x.abs()).sum::<f32>() / v.len() as f32
    };
    // Trainable tensors only (not the running statistics), max of the means.
    let amp = |prefix: &str| {
        tensors
            .keys()
            .filter(|k| k.starts_with(prefix) && !k.contains("running"))
            .map(|k| mean_abs(k))
            .fold(0.0f32, f32::max)
    };
    let w = net.row_w_max();
    let expect = [
        amp("stem."),
        amp("stage1.0."),
        amp("stage1.0."),
        amp("stage2.0."),
        amp("stage2.0."),
        amp("head."),
    ];
    assert_eq!(w.len(), expect.len());
    for (got, want) in w.iter().zip(expect) {
        assert!((got - want).abs() <= 1e-6 * want, "{got} vs {want}");
    }
    // Batch-norm scales start at 1 and dominate a fresh block's tensors.
    assert_eq!(w[1], 1.0);
}

#[test]
fn empty_stages_add_no_block_and_no_stride_and_the_net_trains_and_checkpoints() {
    let dev = Cpu::default();
    for arch in [Arch::Vgg, Arch::Resnet] {
        let spec = ConvSpec {
            arch,
            blocks: [0, 2, 0, 1],
        };
        assert_eq!(spec.depth(), 8);
        let mut a = net(&dev, spec, GRAY32, 1);
        let x = batch(&dev, 4, GRAY32, 4);
        let dims: Vec<usize> = (a.forward_hidden(x.clone()).hidden.iter())
            .map(|h| h.shape().1)
            .collect();
        // Stem: 16 px × 4 ch. Stage 2 takes the stem's 4 channels at stride
        // 2 (8 px × 8 ch); stage 4 follows at stride 2 (4 px × 32 ch), not 4;
        // the head takes stage 4's 32 channels.
        let (stem, s2, s4) = (16 * 16 * 4, 8 * 8 * 8, 4 * 4 * 32);
        let want = match arch {
            Arch::Vgg => vec![stem, s2, s2, s4, 32],
            Arch::Resnet => vec![stem, s2, s2, s2, s2, s4, s4, 32],
        };
        assert_eq!(dims, want, "{arch}");
        // One training step changes the net; its checkpoint round-trips.
        let before = a.forward(x.clone()).as_vec();
        let grads = alloc_grads(&mut a).unwrap();
        let loss = a.forward_train(x.trace(grads)).square().mean();
        let g = loss.backward();
        Ranger::new(Default::default()).update(&mut a, &g).unwrap();
        assert_ne!(a.forward(x.clone()).as_vec(), before);
        let saved: HashMap<String, Vec<f32>> = export_params(&mut a).into_iter().collect();
        assert!(saved
            .keys()
            .all(|k| !k.starts_with("stage1.") && !k.starts_with("stage3.")));
        let mut b = net(&dev, spec, GRAY32, 2);
        assert_ne!(a.forward(x.clone()).as_vec(), b.forward(x.clone()).as_vec());
        import_params(&mut b, &saved).unwrap();
        assert_eq!(a.forward(x.clone()).as_vec(), b.forward(x).as_vec());
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
