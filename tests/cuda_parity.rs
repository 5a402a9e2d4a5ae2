//! CPU vs CUDA for the project's own layers and conv nets: forward values,
//! gradients and a few training steps agree within 1e-4 relative error (f32;
//! cuBLAS and gemm sum in different orders). Compiled only with `--features
//! cuda`; `scripts/gpu-check.sh` runs this binary on a GPU machine.
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

#[test]
fn conv_pool_and_batch_norm_match_the_cpu() {
    let s = (8, 12, 12, 3);
    let x = random(8 * 12 * 12 * 3, 1);
    let w = random(9 * 3 * 16, 2);
    let window = Window::new(3, 2, 1);
    let [(oc, gc), (og, gg)] = both(
        &x,
        s,
        |x| {
            Conv2d::from_weight(
                Cpu::default().tensor_from_vec(w.clone(), (27, 16)),
                3,
                window,
            )
            .unwrap()
            .forward(x)
        },
        |x| {
            Conv2d::from_weight(
                cuda(0).unwrap().tensor_from_vec(w.clone(), (27, 16)),
                3,
                window,
            )
            .unwrap()
            .forward(x)
        },
    );
    check("conv 3x3 s2 forward", &oc, &og);
    check("conv 3x3 s2 input gradient", &gc, &gg);

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
    for arch in [Arch::Vgg, Arch::Resnet] {
        let spec = ConvSpec::for_depth(arch, 20).unwrap();
        let (pc, pg) = (train(&Cpu::default(), spec, 3), train(&gpu, spec, 3));
        let worst = pc
            .iter()
            .zip(&pg)
            .map(|((n, a), (_, b))| (rel_err(a, b), n.clone()))
            .fold((0.0, String::new()), |m, e| if e.0 > m.0 { e } else { m });
        println!(
            "{spec} 3 Ranger steps: worst parameter {} rel err {:.2e}",
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
