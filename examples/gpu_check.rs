//! GPU check: the same computations on the CPU and on a CUDA device,
//! compared, then one training step timed on both. Built by
//! `scripts/build-gpu.sh`, run by `scripts/gpu-check.sh` on a GPU machine.
//!
//! Without the `cuda` feature it only explains how to build it.

#[cfg(not(feature = "cuda"))]
fn main() {
    eprintln!("gpu_check needs a CUDA build: scripts/build-gpu.sh (see environment.md)");
    std::process::exit(2);
}

#[cfg(feature = "cuda")]
fn main() {
    if let Err(e) = gpu::run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(feature = "cuda")]
mod gpu {
    use std::time::Instant;

    use anyhow::{ensure, Result};
    use conflicting_bundles::bundle::{measure_layers, measure_tensors, BundleConfig};
    use conflicting_bundles::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
    use conflicting_bundles::models::fnn::MnistFnn;
    use conflicting_bundles::models::Classifier;
    use conflicting_bundles::train::checkpoint::export_params;
    use conflicting_bundles::train::{Ranger, RangerConfig};
    use conflicting_bundles::util::ImageShape;
    use dfdx::prelude::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// f32 results may differ by rounding (cuBLAS vs gemm sum orders).
    const TOL: f64 = 1e-4;

    fn rel_err(a: &[f32], b: &[f32]) -> f64 {
        let scale = a.iter().fold(0f64, |m, x| m.max(x.abs() as f64)).max(1e-12);
        let diff = a
            .iter()
            .zip(b)
            .fold(0f64, |m, (x, y)| m.max((x - y).abs() as f64));
        diff / scale
    }

    fn check(name: &str, err: f64) -> Result<()> {
        println!(
            "check {name:<40} rel err {err:.2e} {}",
            if err <= TOL { "ok" } else { "FAIL" }
        );
        ensure!(err <= TOL, "{name}: relative error {err:e} above {TOL:e}");
        Ok(())
    }

    fn batch(rng: &mut SmallRng, n: usize) -> (Vec<f32>, Vec<f32>) {
        let x = (0..n * 784).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let mut y = vec![0.0f32; n * 10];
        (0..n).for_each(|i| y[i * 10 + rng.gen_range(0..10)] = 1.0);
        (x, y)
    }

    /// `steps` Ranger steps of an MNIST FNN; returns the parameters and the
    /// median seconds per step.
    fn train_steps<D: Device<f32> + dfdx::tensor::Synchronize>(
        dev: &D,
        depth: usize,
        steps: usize,
        data: &(Vec<f32>, Vec<f32>),
    ) -> (Vec<(String, Vec<f32>)>, f64) {
        let n = data.1.len() / 10;
        let mut model = MnistFnn::new(dev, 100, depth, 3).expect("valid sizes");
        let mut opt = Ranger::new(RangerConfig::default());
        let x: Tensor<(usize, Const<784>), f32, D> =
            dev.tensor_from_vec(data.0.clone(), (n, Const));
        let y: Tensor<(usize, Const<10>), f32, D> = dev.tensor_from_vec(data.1.clone(), (n, Const));
        let mut times = Vec::new();
        for _ in 0..steps {
            let t = Instant::now();
            let loss =
                cross_entropy_with_logits_loss(model.forward(x.clone().leaky_trace()), y.clone());
            let grads = loss.backward();
            opt.update(&mut model, &grads).expect("ranger step");
            dev.synchronize();
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        (export_params(&mut model), times[times.len() / 2])
    }

    pub fn run() -> Result<()> {
        let cpu = Cpu::default();
        let cuda = conflicting_bundles::device::cuda(0)?;
        let mut rng = SmallRng::seed_from_u64(1);

        // 1. The metric: exact (no tolerance) on layers with planted duplicates.
        let n = 2048;
        let labels: Vec<usize> = (0..n).map(|i| i % 10).collect();
        let layers: Vec<Vec<f32>> = (0..8)
            .map(|l| {
                let d = 64 << (l % 4);
                let protos: Vec<Vec<f32>> = (0..(50 + 400 * l))
                    .map(|_| (0..d).map(|_| rng.gen_range(0.0f32..2.0)).collect())
                    .collect();
                (0..n)
                    .flat_map(|i| protos[(i * 7919) % protos.len()].clone())
                    .collect()
            })
            .collect();
        let cfg = BundleConfig::resolution(10, 0.7);
        let host = measure_layers(
            &layers.iter().map(|v| v.as_slice()).collect::<Vec<_>>(),
            &labels,
            &cfg,
        )?;
        let on_gpu: Vec<Tensor<(usize, usize), f32, Cuda>> = layers
            .iter()
            .map(|v| cuda.tensor_from_vec(v.clone(), (n, v.len() / n)))
            .collect();
        let t = Instant::now();
        let gpu = measure_tensors(&on_gpu, &labels, &cfg)?;
        let metric_s = t.elapsed().as_secs_f64();
        ensure!(gpu == host, "bundle metric differs between CPU and GPU");
        println!(
            "check {:<40} identical ({} layers, {metric_s:.3}s on GPU)",
            "bundle metric",
            gpu.len()
        );

        // 1b. 120 layers of 2048 × 512 on the GPU: device path vs copying all to the host.
        let big: Vec<Tensor<(usize, usize), f32, Cuda>> = (0..120)
            .map(|l| {
                let v: Vec<f32> = (0..n * 512)
                    .map(|i| {
                        if (i + l) % 3 == 0 {
                            0.0
                        } else {
                            rng.gen_range(0.0f32..4.0)
                        }
                    })
                    .collect();
                cuda.tensor_from_vec(v, (n, 512))
            })
            .collect();
        cuda.synchronize();
        let t = Instant::now();
        let on_device = measure_tensors(&big, &labels, &cfg)?;
        let device_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let host_copy: Vec<Vec<f32>> = big.iter().map(|t| t.as_vec()).collect();
        let via_host = measure_layers(
            &host_copy.iter().map(|v| v.as_slice()).collect::<Vec<_>>(),
            &labels,
            &cfg,
        )?;
        let host_s = t.elapsed().as_secs_f64();
        ensure!(
            on_device == via_host,
            "device path differs from host path on 120 layers"
        );
        println!("check {:<40} identical; device path {device_s:.3}s, copy to host + host path {host_s:.3}s", "metric 120 layers x 2048 x 512");

        // 2. Forward (every hidden activation) and backward of an FNN.
        let (xb, yb) = batch(&mut rng, 64);
        let fwd = |depth| -> Result<()> {
            let mc = MnistFnn::new(&cpu, 100, depth, 3)?;
            let mg = MnistFnn::new(&cuda, 100, depth, 3)?;
            let hc = mc.forward_hidden(cpu.tensor_from_vec(xb.clone(), (64, Const)));
            let hg = mg.forward_hidden(cuda.tensor_from_vec(xb.clone(), (64, Const)));
            let err = hc
                .hidden
                .iter()
                .zip(&hg.hidden)
                .map(|(a, b)| rel_err(&a.as_vec(), &b.as_vec()))
                .fold(0.0, f64::max);
            check(&format!("fnn w100 d{depth} hidden activations"), err)?;
            check(
                &format!("fnn w100 d{depth} logits"),
                rel_err(&hc.logits.as_vec(), &hg.logits.as_vec()),
            )
        };
        fwd(3)?;
        fwd(10)?;
        let data = (xb, yb);
        let (pc, _) = train_steps(&cpu, 10, 1, &data);
        let (pg, _) = train_steps(&cuda, 10, 1, &data);
        let err = pc
            .iter()
            .zip(&pg)
            .map(|(a, b)| rel_err(&a.1, &b.1))
            .fold(0.0, f64::max);
        check("fnn w100 d10 one Ranger step (params)", err)?;
        let (pc, cpu_step) = train_steps(&cpu, 10, 12, &data);
        let (pg, gpu_step) = train_steps(&cuda, 10, 12, &data);
        let err = pc
            .iter()
            .zip(&pg)
            .map(|(a, b)| rel_err(&a.1, &b.1))
            .fold(0.0, f64::max);
        check("fnn w100 d10 12 Ranger steps (params)", err)?;

        // 3. Timing: one training step, median of 200 after warm-up.
        let (_, gpu_step_long) = train_steps(&cuda, 10, 200, &data);
        let conv_rows: Vec<(String, f64)> = [
            (Arch::Vgg, 20),
            (Arch::Resnet, 20),
            (Arch::Vgg, 50),
            (Arch::Resnet, 50),
        ]
        .into_iter()
        .map(|(arch, depth)| {
            let spec = ConvSpec::for_depth(arch, depth).expect("valid depth");
            (
                format!("{arch}-{depth} cifar 3x32x32 b64, full widths"),
                conv_step(&cuda, spec),
            )
        })
        .collect();
        println!();
        println!("| step (Ranger, batch 64) | ms |");
        println!("|---|---|");
        println!(
            "| fnn w100 d10: cpu (median of 12) | {:.3} |",
            cpu_step * 1e3
        );
        println!(
            "| fnn w100 d10: cuda (median of 12) | {:.3} |",
            gpu_step * 1e3
        );
        println!(
            "| fnn w100 d10: cuda (median of 200) | {:.3} |",
            gpu_step_long * 1e3
        );
        for (name, s) in conv_rows {
            println!("| {name}: cuda (median of 30) | {:.3} |", s * 1e3);
        }
        Ok(())
    }

    /// Median seconds of one training step (batch norm in training mode) of a
    /// CIFAR-shaped conv net at full width, after 10 warm-up steps.
    fn conv_step(dev: &Cuda, spec: ConvSpec) -> f64 {
        let mut rng = SmallRng::seed_from_u64(7);
        let x: Vec<f32> = (0..64 * 3072)
            .map(|_| rng.gen_range(-1.0f32..1.0))
            .collect();
        let mut y = vec![0.0f32; 64 * 10];
        (0..64).for_each(|i| y[i * 10 + rng.gen_range(0..10)] = 1.0);
        let x: Tensor<(usize, usize), f32, Cuda> = dev.tensor_from_vec(x, (64, 3072));
        let y: Tensor<(usize, Const<10>), f32, Cuda> = dev.tensor_from_vec(y, (64, Const));
        let widths = Widths::divided(1).expect("full widths");
        let mut net = ConvNet::<10, Cuda>::new(dev, spec, widths, ImageShape::new(3, 32, 32), 0)
            .expect("a valid net");
        let mut opt = Ranger::new(RangerConfig::default());
        let mut times = Vec::new();
        for i in 0..40 {
            let t = Instant::now();
            let logits = net.forward_train(x.clone().leaky_trace());
            let loss = cross_entropy_with_logits_loss(logits, y.clone());
            let _ = loss.as_vec(); // the trainer reads the loss back
            opt.update(&mut net, &loss.backward()).expect("ranger step");
            dev.synchronize();
            if i >= 10 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    }
}
