//! Speed of the stable conv layers on the CPU, at two scales:
//!
//! - `conv3x3_c32_16px_b64/fwd_bwd`: one 32 → 32 channel `Conv2d` (3×3, stride 1,
//!   padding 1) on a `(64, 16, 16, 32)` NHWC map, forward plus the backward of
//!   `sum(out * cotangent)` (weight and input gradients);
//! - `{vgg,resnet}{20,50}_div8_b64/ranger_step`: one training step of
//!   a 1×32×32 `ConvNet<10, Cpu>` (`ConvSpec::for_depth(arch, depth)`, widths
//!   8/16/32/64) on 64 random 1×32×32 inputs, exactly what
//!   `Trainer::fit` does per batch (batch norm in training mode,
//!   cross-entropy, backward, Ranger update), minus data loading and the
//!   optional gradient norm.
//!
//! `scripts/bench-conv-step.sh` runs this next to the same work in PyTorch
//! (`scripts/bench_conv_step_torch.py`); numbers go in docs/benchmarks.md.
//! Each iteration runs on rayon's pool (`util::on_pool`, or
//! `TrainDevice::on_pool` as `Trainer::fit` does), where our kernels and the
//! matmuls run, so `RAYON_NUM_THREADS` sets the threads.

use std::time::Duration;

use conflicting_bundles::device::TrainDevice;
use conflicting_bundles::layers::{Conv2d, Maps, Window};
use conflicting_bundles::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
use conflicting_bundles::models::Classifier;
use conflicting_bundles::train::{Ranger, RangerConfig};
use conflicting_bundles::util::{on_pool, ImageShape};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

const BATCH: usize = 64;
/// The shallow nets and the deeper ones the experiments train.
const DEPTHS: [usize; 2] = [20, 50];
type Net = ConvNet<10, Cpu>;

fn uniform(rng: &mut SmallRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(lo..hi)).collect()
}

fn conv_fwd_bwd(c: &mut Criterion) {
    let dev: Cpu = conflicting_bundles::device::cpu();
    let mut rng = SmallRng::seed_from_u64(5);
    let shape = (BATCH, 16, 16, 32);
    let n = BATCH * 16 * 16 * 32;
    let x: Maps<Cpu> = dev.tensor_from_vec(uniform(&mut rng, n, -1.0, 1.0), shape);
    let cot: Maps<Cpu> = dev.tensor_from_vec(uniform(&mut rng, n, -1.0, 1.0), shape);
    let conv = Conv2d::new(&dev, 32, 32, Window::new(3, 1, 1), &mut rng);

    let mut group = c.benchmark_group("conv3x3_c32_16px_b64");
    group.sample_size(30);
    group.bench_function("fwd_bwd", |b| {
        b.iter(|| {
            on_pool(|| {
                // leaky_trace keeps every gradient: the input's and the weight's.
                let out = conv.forward(x.clone().leaky_trace());
                let grads = (out * cot.clone()).sum().backward();
                black_box(grads.get(&conv.weight));
                black_box(grads.get(&x));
            })
        })
    });
    group.finish();
}

/// One step as the trainer takes it (it also reads the logits and the loss
/// back to the host, so this does too).
fn step(
    model: &mut Net,
    opt: &mut Ranger,
    x: &Tensor<(usize, usize), f32, Cpu>,
    y: &Tensor<(usize, Const<10>), f32, Cpu>,
) -> f32 {
    let logits = model.forward_train(x.clone().leaky_trace());
    black_box(logits.retaped::<NoneTape>().as_vec());
    let loss = cross_entropy_with_logits_loss(logits, y.clone());
    let loss_value = loss.as_vec()[0];
    let grads = loss.backward();
    opt.update(model, &grads).unwrap();
    loss_value
}

fn ranger_steps(c: &mut Criterion) {
    // The device `cb` uses: dfdx's buffer cache on (see conflicting_bundles::device::cpu).
    let dev: Cpu = conflicting_bundles::device::cpu();
    // Image rows in [0, 1] and uniform labels; the values do not affect speed.
    let mut rng = SmallRng::seed_from_u64(3);
    let xs = uniform(&mut rng, BATCH * 1024, 0.0, 1.0);
    let mut ys = vec![0.0f32; BATCH * 10];
    for row in ys.chunks_mut(10) {
        row[rng.gen_range(0..10)] = 1.0;
    }
    let x = dev.tensor_from_vec(xs, (BATCH, 1024));
    let y = dev.tensor_from_vec(ys, (BATCH, Const::<10>));

    for (depth, arch) in DEPTHS
        .into_iter()
        .flat_map(|d| [(d, Arch::Vgg), (d, Arch::Resnet)])
    {
        let spec = ConvSpec::for_depth(arch, depth).unwrap();
        eprintln!("{spec}"); // the PyTorch side builds the same blocks per stage
        let widths = Widths::divided(8).unwrap();
        let mut model = Net::new(&dev, spec, widths, ImageShape::new(1, 32, 32), 0).unwrap();
        let mut opt = Ranger::new(RangerConfig::default());
        let mut group = c.benchmark_group(format!("{arch}{depth}_div8_b{BATCH}"));
        // A step takes tens of ms (depth 20) to ~100 ms (depth 50): 10 samples
        // over ~10 s keep a run short.
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(10));
        // Criterion's warm-up also gets the optimizer past its first steps
        // (state allocation, RAdam's un-rectified phase) before sampling.
        group.bench_function("ranger_step", |b| {
            b.iter(|| {
                // SAFETY: CPU tensors and the optimizer, as in Trainer::fit.
                unsafe { dev.on_pool(|| step(&mut model, &mut opt, &x, &y)) }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, conv_fwd_bwd, ranger_steps);
criterion_main!(benches);
