//! CPU vs CUDA for the project's own layers and conv nets: forward values,
//! gradients and a few training steps agree within 1e-4 relative error (f32;
//! cuBLAS, cuDNN and gemm sum in different orders). With `--features cudnn`
//! the CUDA side convolves through cuDNN, which is also checked against the
//! CUDA gather path (`conv2d_by_ops`). Compiled only with `--features cuda`;
//! `scripts/gpu-check.sh` runs this binary on a GPU machine.
#![cfg(feature = "cuda")]

use conflicting_bundles::device::cuda;
use conflicting_bundles::layers::*;
use conflicting_bundles::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
use conflicting_bundles::models::Classifier;
use conflicting_bundles::train::checkpoint::export_params;
use conflicting_bundles::train::{Ranger, RangerConfig};
use conflicting_bundles::util::ImageShape;
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

const TOL: f64 = 1e-4;

/// max |a - b| / max |a|.
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0f64, |m, x| m.max(x.abs() as f64)).max(1e-12);
    a.iter()
        .zip(b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs() as f64))
        / scale
}

fn check(name: &str, a: &[f32], b: &[f32]) {
    let e = rel_err(a, b);
    println!("{name:<44} rel err {e:.2e}");
    assert!(e <= TOL, "{name}: relative error {e:e}");
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// Output and input gradient of `f` on both devices for the same input.
fn both(
    x: &[f32],
    s: (usize, usize, usize, usize),
    f_cpu: impl Fn(Maps<Cpu, OwnedTape<f32, Cpu>>) -> Maps<Cpu, OwnedTape<f32, Cpu>>,
    f_gpu: impl Fn(Maps<Cuda, OwnedTape<f32, Cuda>>) -> Maps<Cuda, OwnedTape<f32, Cuda>>,
) -> [(Vec<f32>, Vec<f32>); 2] {
    let cpu = Cpu::default();
    let gpu = cuda(0).unwrap();
    let xc: Maps<Cpu> = cpu.tensor_from_vec(x.to_vec(), s);
    let xg: Maps<Cuda> = gpu.tensor_from_vec(x.to_vec(), s);
    let yc = f_cpu(xc.leaky_trace());
    let yg = f_gpu(xg.leaky_trace());
    let (out_c, out_g) = (
        yc.retaped::<NoneTape>().as_vec(),
        yg.retaped::<NoneTape>().as_vec(),
    );
    let cot = random(out_c.len(), 99);
    let cc = cpu.tensor_from_vec(cot.clone(), *yc.shape());
    let cg = gpu.tensor_from_vec(cot, *yg.shape());
    let gc = (yc * cc).sum::<Rank0, _>().backward().get(&xc).as_vec();
    let gg = (yg * cg).sum::<Rank0, _>().backward().get(&xg).as_vec();
    [(out_c, gc), (out_g, gg)]
}

/// A conv as [`ConvDevice::conv2d`] takes it, on a taped input.
type ConvFn<D> = fn(
    Maps<D, OwnedTape<f32, D>>,
    &Tensor<(usize, usize), f32, D>,
    Window,
) -> Maps<D, OwnedTape<f32, D>>;

/// One conv geometry to compare: `(batch, rows, cols, c_in)` maps (given
/// channels-first and permuted into NHWC, as the nets feed their stem, when
/// `channels_first`) to `c_out` channels; `twice` applies the conv to its own
/// output with the same weight (`c_in == c_out`).
struct ConvCase {
    name: &'static str,
    shape: (usize, usize, usize, usize),
    c_out: usize,
    window: Window,
    channels_first: bool,
    twice: bool,
}

const fn case(
    name: &'static str,
    shape: (usize, usize, usize, usize),
    c_out: usize,
    window: Window,
) -> ConvCase {
    ConvCase {
        name,
        shape,
        c_out,
        window,
        channels_first: false,
        twice: false,
    }
}

/// The nets' conv shapes (3x3 stride 1 and 2, the 1x1 projections, the 7x7
/// stem on permuted RGB rows), odd channel counts, and a weight used twice.
const CONV_CASES: [ConvCase; 7] = [
    case("3x3 s1 p1", (4, 10, 9, 16), 24, Window::new(3, 1, 1)),
    case("3x3 s2 p1", (4, 10, 9, 16), 32, Window::new(3, 2, 1)),
    case("1x1 s1 p0", (4, 8, 8, 16), 32, Window::new(1, 1, 0)),
    case("1x1 s2 p0", (4, 8, 8, 16), 32, Window::new(1, 2, 0)),
    case(
        "3x3 s1 p1, 5 -> 7 channels",
        (3, 7, 6, 5),
        7,
        Window::new(3, 1, 1),
    ),
    ConvCase {
        channels_first: true,
        ..case(
            "7x7 s2 p3 stem, permuted RGB",
            (4, 32, 32, 3),
            64,
            Window::new(7, 2, 3),
        )
    },
    ConvCase {
        twice: true,
        ..case(
            "3x3 s1 p1 twice, one weight",
            (4, 8, 8, 16),
            16,
            Window::new(3, 1, 1),
        )
    },
];

/// Output, input gradient and weight gradient of `conv` for `case` on `dev`.
/// The loss adds `sum(x * cx)` after the conv, so the conv's input gradient
/// must add onto one already there (dfdx runs the later op's backward first).
fn conv_grads<D: ConvDevice>(dev: &D, case: &ConvCase, conv: ConvFn<D>) -> [Vec<f32>; 3] {
    let (b, h, w, c) = case.shape;
    let k = case.window.kernel;
    let x: Maps<D> = if case.channels_first {
        dev.tensor_from_vec(random(b * c * h * w, 1), (b, c, h, w))
    } else {
        dev.tensor_from_vec(random(b * h * w * c, 1), (b, h, w, c))
    };
    let weight: Tensor<(usize, usize), f32, D> =
        dev.tensor_from_vec(random(k * k * c * case.c_out, 2), (k * k * c, case.c_out));
    let nhwc = |x: Maps<D, OwnedTape<f32, D>>| {
        if case.channels_first {
            x.permute::<_, Axes4<0, 2, 3, 1>>()
        } else {
            x
        }
    };
    let mut y = conv(nhwc(x.leaky_trace()), &weight, case.window);
    if case.twice {
        y = conv(y, &weight, case.window);
    }
    let out = y.retaped::<NoneTape>().as_vec();
    let cot = dev.tensor_from_vec(random(out.len(), 3), *y.shape());
    let x_again = nhwc(x.leaky_trace());
    let cx = dev.tensor_from_vec(random(b * h * w * c, 4), *x_again.shape());
    let loss = (y * cot).sum::<Rank0, _>() + (x_again * cx).sum::<Rank0, _>();
    let grads = loss.backward();
    [out, grads.get(&x).as_vec(), grads.get(&weight).as_vec()]
}

/// Compares `a` and `b` (output, input and weight gradients) of one case.
fn check_conv(what: &str, case: &ConvCase, a: [Vec<f32>; 3], b: [Vec<f32>; 3]) {
    for (part, (a, b)) in ["output", "input gradient", "weight gradient"]
        .iter()
        .zip(a.iter().zip(&b))
    {
        check(&format!("{what} {} {part}", case.name), a, b);
    }
}

#[test]
fn conv_matches_the_cpu() {
    println!("CUDA conv: {CUDA_CONV}");
    let (cpu, gpu) = (Cpu::default(), cuda(0).unwrap());
    for case in &CONV_CASES {
        check_conv(
            "cpu vs cuda",
            case,
            conv_grads(&cpu, case, <Cpu as ConvDevice>::conv2d),
            conv_grads(&gpu, case, <Cuda as ConvDevice>::conv2d),
        );
    }
}

/// cuDNN against the gather + cuBLAS path on the same device, on every case
/// (each of which must actually run on cuDNN, not fall back).
#[cfg(feature = "cudnn")]
#[test]
fn cudnn_conv_matches_the_gather_path() {
    let gpu = cuda(0).unwrap();
    for case in &CONV_CASES {
        let algos = cudnn_conv_algorithms(&gpu, case.shape, case.c_out, case.window)
            .unwrap_or_else(|e| panic!("{}: not on cuDNN: {e}", case.name));
        println!("{}: {algos:?}", case.name);
        check_conv(
            "cudnn vs gather",
            case,
            conv_grads(&gpu, case, conv2d_by_ops),
            conv_grads(&gpu, case, <Cuda as ConvDevice>::conv2d),
        );
    }
}

#[test]
fn pool_and_batch_norm_match_the_cpu() {
    let s = (8, 12, 12, 3);
    let x = random(8 * 12 * 12 * 3, 1);
    let pool = MaxPool2d::new(3, 2, 1);
    let [(oc, gc), (og, gg)] = both(&x, s, |x| pool.forward(x), |x| pool.forward(x));
    check("max pool 3x3 s2 forward", &oc, &og);
    check("max pool 3x3 s2 input gradient", &gc, &gg);

    let [(oc, gc), (og, gg)] = both(
        &x,
        s,
        |x| BatchNorm::new(&Cpu::default(), 3).forward(x, Mode::Train),
        |x| BatchNorm::new(&cuda(0).unwrap(), 3).forward(x, Mode::Train),
    );
    check("batch norm (train) forward", &oc, &og);
    check("batch norm (train) input gradient", &gc, &gg);
}

/// Parameters after `steps` Ranger steps of a 1×32×32 net at widths / 8 on one batch.
fn train<D: ConvDevice>(dev: &D, spec: ConvSpec, steps: usize) -> Vec<(String, Vec<f32>)> {
    let x = random(32 * 1024, 5);
    let y: Vec<f32> = (0..32)
        .flat_map(|i| (0..10).map(move |c| (c == i % 10) as u8 as f32))
        .collect();
    let widths = Widths::divided(8).unwrap();
    let mut net = ConvNet::<10, D>::new(dev, spec, widths, ImageShape::new(1, 32, 32), 3).unwrap();
    let mut opt = Ranger::new(RangerConfig::default());
    let x: Tensor<(usize, usize), f32, D> = dev.tensor_from_vec(x, (32, 1024));
    let y: Tensor<(usize, Const<10>), f32, D> = dev.tensor_from_vec(y, (32, Const));
    for _ in 0..steps {
        let loss =
            cross_entropy_with_logits_loss(net.forward_train(x.clone().leaky_trace()), y.clone());
        opt.update(&mut net, &loss.backward()).unwrap();
    }
    export_params(&mut net)
}

#[test]
fn vgg_and_resnet_training_steps_match_the_cpu() {
    let gpu = cuda(0).unwrap();
    // Six steps: Lookahead (k = 6) folds the fast weights into the slow ones
    // at the sixth.
    const STEPS: usize = 6;
    for arch in [Arch::Vgg, Arch::Resnet] {
        let spec = ConvSpec::for_depth(arch, 20).unwrap();
        let (pc, pg) = (
            train(&Cpu::default(), spec, STEPS),
            train(&gpu, spec, STEPS),
        );
        let worst = pc
            .iter()
            .zip(&pg)
            .map(|((n, a), (_, b))| (rel_err(a, b), n.clone()))
            .fold((0.0, String::new()), |m, e| if e.0 > m.0 { e } else { m });
        println!(
            "{spec} {STEPS} Ranger steps ({CUDA_CONV} conv): worst parameter {} rel err {:.2e}",
            worst.1, worst.0
        );
        assert!(
            worst.0 <= TOL,
            "{spec}: {} differs by {:e}",
            worst.1,
            worst.0
        );
    }
}

/// The batch entropy of every row and the regularised loss's gradients of a
/// ResNet (branches on the tape) after one backward pass.
fn lbe_grads<D: ConvDevice>(dev: &D) -> (Vec<f32>, Vec<(String, Vec<f32>)>) {
    use conflicting_bundles::criteria::batch_entropy_tensor;
    use conflicting_bundles::layers::params::alloc_grads;
    use conflicting_bundles::train::lbe::{regularised, LbeConfig, LbeTargets, WithTargets};
    let spec = ConvSpec::for_depth(Arch::Resnet, 10).unwrap();
    let widths = Widths::divided(8).unwrap();
    let mut net = ConvNet::<10, D>::new(dev, spec, widths, ImageShape::new(1, 32, 32), 3).unwrap();
    let cfg = LbeConfig::deep_cnn();
    let mut targets = LbeTargets::new(dev, net.num_hidden(), &cfg);
    let x: Tensor<(usize, usize), f32, D> = dev.tensor_from_vec(random(16 * 1024, 9), (16, 1024));
    let y: Vec<f32> = (0..16)
        .flat_map(|i| (0..10).map(move |c| (c == i % 10) as u8 as f32))
        .collect();
    let y: Tensor<(usize, Const<10>), f32, D> = dev.tensor_from_vec(y, (16, Const));
    let entropies = (net.forward_hidden(x.clone()).hidden.into_iter())
        .map(|h| batch_entropy_tensor(h).as_vec()[0])
        .collect();
    let grads = alloc_grads(&mut WithTargets(&mut net, Some(&mut targets))).unwrap();
    let out = net.forward_train_hidden(x.trace(grads));
    let ce = cross_entropy_with_logits_loss(out.logits, y);
    let (loss, _) = regularised(ce, out.hidden, &targets);
    let grads = loss.backward();
    struct G<'a, D: ConvDevice>(&'a Gradients<f32, D>, Vec<(String, Vec<f32>)>);
    impl<D: ConvDevice> conflicting_bundles::layers::params::ParamVisitor<f32, D> for G<'_, D> {
        fn visit<S: Shape>(&mut self, name: &str, t: &mut Tensor<S, f32, D>) {
            self.1.push((name.to_string(), self.0.get(t).as_vec()));
        }
    }
    let mut g = G(&grads, vec![]);
    use conflicting_bundles::layers::params::Params;
    WithTargets(&mut net, Some(&mut targets)).visit_params("", &mut g);
    (entropies, g.1)
}

#[test]
fn batch_entropy_and_its_regulariser_match_the_cpu() {
    let (ec, gc) = lbe_grads(&Cpu::default());
    let (eg, gg) = lbe_grads(&cuda(0).unwrap());
    check("batch entropy of every ResNet-10 row", &ec, &eg);
    for ((name, a), (_, b)) in gc.iter().zip(&gg) {
        check(&format!("regularised gradient of {name}"), a, b);
    }
}
