//! Widths are run-time values: any width >= 1 builds an FNN, any divisor
//! that leaves a channel (or an explicit list) builds a conv net, and bad
//! sizes are one-line errors, not panics.

use conflicting_bundles::models::convnet::{Arch, ConvNet, ConvSpec, Widths, PAPER_WIDTHS};
use conflicting_bundles::models::fnn::MnistFnn;
use conflicting_bundles::models::Classifier;
use conflicting_bundles::util::ImageShape;
use dfdx::prelude::*;

#[test]
fn any_fnn_width_builds_and_reports_its_shapes() {
    let dev = Cpu::default();
    for (width, depth) in [(1, 1), (37, 3), (61, 2)] {
        let net = MnistFnn::new(&dev, width, depth, 0).unwrap();
        assert_eq!(net.width(), width);
        let x: Tensor<(usize, Const<784>), f32, Cpu> =
            dev.tensor_from_vec(vec![0.25; 784 * 2], (2, Const));
        let out = net.forward_hidden(x);
        assert_eq!(out.hidden.len(), depth);
        assert!(out.hidden.iter().all(|h| h.shape() == &(2, width)));
        assert_eq!(out.logits.shape(), &(2, Const::<10>));
    }
    for (w, d) in [(0, 3), (5, 0)] {
        let e = MnistFnn::new(&dev, w, d, 0).unwrap_err().to_string();
        assert!(e.contains("width >= 1 and depth >= 1"), "{e}");
    }
}

#[test]
fn same_seed_gives_the_same_weights_whatever_the_width() {
    // He-uniform draws in layer order from one seeded stream: the first
    // layer's weights of a width-37 net start like those of any other width
    // (its rows are the first 37 output rows drawn).
    let dev = Cpu::default();
    let a = MnistFnn::new(&dev, 37, 2, 9).unwrap();
    let b = MnistFnn::new(&dev, 37, 2, 9).unwrap();
    assert_eq!(a.input.weight.as_vec(), b.input.weight.as_vec());
    let c = MnistFnn::new(&dev, 40, 2, 9).unwrap();
    assert_eq!(
        a.input.weight.as_vec()[..37 * 784],
        c.input.weight.as_vec()[..37 * 784]
    );
}

#[test]
fn conv_widths_from_any_divisor_or_a_list() {
    assert_eq!(Widths::divided(1).unwrap().0, PAPER_WIDTHS);
    assert_eq!(Widths::divided(3).unwrap().0, [21, 42, 85, 170]);
    assert_eq!(Widths::divided(64).unwrap().0, [1, 2, 4, 8]);
    for bad in [0, 65, 1000] {
        let e = Widths::divided(bad).unwrap_err().to_string();
        assert!(e.contains("between 1 and 64"), "{e}");
    }
    assert!(Widths::new([3, 5, 0, 7]).is_err());

    let dev = Cpu::default();
    let image = ImageShape::new(1, 32, 32);
    for widths in [
        Widths::divided(3).unwrap(),
        Widths::new([3, 5, 7, 11]).unwrap(),
    ] {
        for arch in [Arch::Vgg, Arch::Resnet] {
            let spec = ConvSpec {
                arch,
                blocks: [1, 2, 1, 1],
            };
            let net = ConvNet::<10, Cpu>::new(&dev, spec, widths, image, 0).unwrap();
            let x = dev.tensor_from_vec(vec![0.1; 2 * 1024], (2, 1024));
            let out = net.forward_hidden(x);
            let [a, b, c, d] = widths.0;
            let dims: Vec<usize> = out.hidden.iter().map(|h| h.shape().1).collect();
            // stem 16x16 (stage 1 width), then blocks at 16, 8, 8, 4, 2 px
            // (each twice for a ResNet: output and branch), then pooled.
            let blocks = [256 * a, 64 * b, 64 * b, 16 * c, 4 * d];
            let mut want = vec![256 * a];
            for w in blocks {
                want.extend(std::iter::repeat_n(
                    w,
                    1 + usize::from(arch == Arch::Resnet),
                ));
            }
            want.push(d);
            assert_eq!(dims, want, "{widths}");
        }
    }
    // A stage may be empty (auto-tune prunes stages away): the head takes
    // the last non-empty stage's width.
    let spec = ConvSpec {
        arch: Arch::Vgg,
        blocks: [1, 1, 1, 0],
    };
    let net = ConvNet::<10, Cpu>::new(&dev, spec, Widths::divided(8).unwrap(), image, 0).unwrap();
    let out = net.forward_hidden(dev.tensor_from_vec(vec![0.1; 1024], (1, 1024)));
    assert_eq!(out.hidden.last().unwrap().shape().1, 32);
}
