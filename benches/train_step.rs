//! Speed of one training step of the paper's MNIST FNN (width 100, depth 10,
//! batch 64) on the CPU: exactly what `train::trainer::train` does per batch,
//! minus data loading (the input and one-hot target are built once).
//!
//! `scripts/bench-train-step.sh` runs this next to the same step in PyTorch
//! (`scripts/bench_train_step_torch.py`); numbers go in docs/benchmarks.md.
//! Each step runs on rayon's pool, as `Trainer::fit` runs its steps
//! (`TrainDevice::on_pool`): the matmuls and the optimizer's parallel loops
//! split among the pool's threads directly, and `RAYON_NUM_THREADS` sets them.

use conflicting_bundles::device::TrainDevice;
use conflicting_bundles::models::{fnn::MnistFnn, Classifier};
use conflicting_bundles::train::trainer::grad_norm;
use conflicting_bundles::train::{Ranger, RangerConfig};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

const BATCH: usize = 64;
const DEPTH: usize = 10;
type Net = MnistFnn<Cpu>;
const WIDTH: usize = 100;

/// One step as the trainer takes it. The trainer also reads the logits
/// (accuracy) and the loss back to the host, so this does too.
fn step(
    model: &mut Net,
    opt: &mut Ranger,
    x: &Tensor<(usize, Const<784>), f32, Cpu>,
    y: &Tensor<(usize, Const<10>), f32, Cpu>,
    track_grad_norm: bool,
) -> f32 {
    let logits = model.forward(x.clone().leaky_trace());
    black_box(logits.retaped::<NoneTape>().as_vec());
    let loss = cross_entropy_with_logits_loss(logits, y.clone());
    let loss_value = loss.as_vec()[0];
    let mut grads = loss.backward();
    if track_grad_norm {
        black_box(grad_norm(model, &mut grads));
    }
    opt.update(model, &grads).unwrap();
    loss_value
}

fn train_step(c: &mut Criterion) {
    // The device `cb` uses: dfdx's buffer cache on (see conflicting_bundles::device::cpu).
    let dev: Cpu = conflicting_bundles::device::cpu();
    // MNIST-like rows in [0, 1] and uniform labels; the values do not affect speed.
    let mut rng = SmallRng::seed_from_u64(3);
    let xs: Vec<f32> = (0..BATCH * 784).map(|_| rng.gen()).collect();
    let mut ys = vec![0.0f32; BATCH * 10];
    for row in ys.chunks_mut(10) {
        row[rng.gen_range(0..10)] = 1.0;
    }
    let x = dev.tensor_from_vec(xs, (BATCH, Const::<784>));
    let y = dev.tensor_from_vec(ys, (BATCH, Const::<10>));

    let mut group = c.benchmark_group("fnn_w100_d10_b64");
    for (name, track) in [("ranger_step", false), ("ranger_step_grad_norm", true)] {
        let mut model = Net::new(&dev, WIDTH, DEPTH, 0).unwrap();
        let mut opt = Ranger::new(RangerConfig::default());
        // Criterion's warm-up also gets the optimizer past its first steps
        // (state allocation, RAdam's un-rectified phase) before sampling.
        group.bench_function(name, |b| {
            b.iter(|| {
                // SAFETY: CPU tensors and the optimizer, as in Trainer::fit.
                unsafe { dev.on_pool(|| step(&mut model, &mut opt, &x, &y, track)) }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
