//! GPU check: the same computations on the CPU and on a CUDA device,
//! compared; then, on the GPU, one Ranger training step of the CIFAR-shaped
//! VGG and ResNet at depths 20, 50 and 120 (full widths, batch 64) and the
//! bundle metric on every hidden layer of the 120-layer nets, timed. Built by
//! `scripts/build-gpu.sh`, run by `scripts/gpu-check.sh` on a GPU machine.
//!
//!     gpu_check [--json PATH]
//!
//! `--json` also writes the timings (with each net's blocks per stage) for
//! `scripts/gpu_bench_torch.py`, which times PyTorch on the same nets and
//! prints the comparison table.
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
    use std::path::PathBuf;
    use std::time::Instant;

    use anyhow::{bail, ensure, Result};
    use conflicting_bundles::bundle::{measure_layers, measure_tensors, BundleConfig};
    use conflicting_bundles::data::Dataset;
    use conflicting_bundles::device::TrainDevice;
    use conflicting_bundles::layers::CUDA_CONV;
    use conflicting_bundles::models::convnet::{Arch, ConvNet, ConvSpec, Widths};
    use conflicting_bundles::models::fnn::MnistFnn;
    use conflicting_bundles::models::Classifier;
    use conflicting_bundles::train::checkpoint::export_params;
    use conflicting_bundles::train::trainer::measure_hidden;
    use conflicting_bundles::train::{Ranger, RangerConfig};
    use conflicting_bundles::util::{write_atomic, ImageShape};
    use dfdx::prelude::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    use serde::Serialize;

    /// CIFAR images, as the timed nets take them.
    const CIFAR: ImageShape = ImageShape::new(3, 32, 32);
    /// Samples the metric is measured on (the trainer's default).
    const METRIC_SAMPLES: usize = 2048;

    /// What `--json` writes.
    #[derive(Serialize)]
    struct Timings {
        /// How the CUDA build convolves ([`CUDA_CONV`]).
        conv: &'static str,
        steps: Vec<StepTime>,
        metric: Vec<MetricTime>,
    }

    /// Median milliseconds of one training step of a net.
    #[derive(Serialize)]
    struct StepTime {
        net: String,
        spec: ConvSpec,
        depth: usize,
        ms: f64,
    }

    /// Median milliseconds of the bundle metric on every hidden layer of a
    /// net: the forward pass that yields the activations, then the metric.
    #[derive(Serialize)]
    struct MetricTime {
        net: String,
        layers: usize,
        samples: usize,
        forward_ms: f64,
        metric_ms: f64,
    }

    /// The `--json PATH` argument, if given.
    fn json_path() -> Result<Option<PathBuf>> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.as_slice() {
            [] => Ok(None),
            [flag, path] if flag == "--json" => Ok(Some(PathBuf::from(path))),
            _ => bail!("usage: gpu_check [--json PATH]"),
        }
    }

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
    fn train_steps<D: TrainDevice + dfdx::tensor::Synchronize>(
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
        (export_params(&mut model), median(times))
    }

    pub fn run() -> Result<()> {
        let json = json_path()?;
        println!("CUDA conv: {CUDA_CONV}");
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
        let mut steps = Vec::new();
        for depth in [20, 50, 120] {
            for arch in [Arch::Vgg, Arch::Resnet] {
                let spec = ConvSpec::for_depth(arch, depth)?;
                let ms = conv_step(&cuda, spec)? * 1e3;
                println!("time {spec} step: {ms:.3} ms");
                steps.push(StepTime {
                    net: format!("{arch}-{depth}"),
                    spec,
                    depth,
                    ms,
                });
            }
        }
        // 4. The metric on every hidden layer of the 120-layer nets.
        let metric = [Arch::Vgg, Arch::Resnet]
            .into_iter()
            .map(|arch| metric_time(&cuda, ConvSpec::for_depth(arch, 120)?))
            .collect::<Result<Vec<_>>>()?;

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
        for s in &steps {
            println!(
                "| {} cifar 3x32x32 b64, full widths: cuda (median of {TIMED_STEPS}) | {:.3} |",
                s.spec, s.ms
            );
        }
        for m in &metric {
            println!(
                "| {} bundle metric, {} layers x {} samples: forward {:.1} ms + metric | {:.3} |",
                m.net, m.layers, m.samples, m.forward_ms, m.metric_ms
            );
        }
        if let Some(path) = json {
            let timings = Timings {
                conv: CUDA_CONV,
                steps,
                metric,
            };
            write_atomic(&path, serde_json::to_string_pretty(&timings)?.as_bytes())?;
        }
        Ok(())
    }

    /// Steps timed by [`conv_step`], after `WARMUP_STEPS` untimed ones.
    const TIMED_STEPS: usize = 30;
    const WARMUP_STEPS: usize = 10;

    /// Median seconds of one training step (batch norm in training mode) of a
    /// CIFAR-shaped conv net at full width, after the warm-up steps (which
    /// also plan the convs and compile dfdx's run-time kernels).
    fn conv_step(dev: &Cuda, spec: ConvSpec) -> Result<f64> {
        let mut rng = SmallRng::seed_from_u64(7);
        let x: Vec<f32> = (0..64 * CIFAR.len())
            .map(|_| rng.gen_range(-1.0f32..1.0))
            .collect();
        let mut y = vec![0.0f32; 64 * 10];
        (0..64).for_each(|i| y[i * 10 + rng.gen_range(0..10)] = 1.0);
        let x: Tensor<(usize, usize), f32, Cuda> = dev.tensor_from_vec(x, (64, CIFAR.len()));
        let y: Tensor<(usize, Const<10>), f32, Cuda> = dev.tensor_from_vec(y, (64, Const));
        let mut net = ConvNet::<10, Cuda>::new(dev, spec, Widths::divided(1)?, CIFAR, 0)?;
        let mut opt = Ranger::new(RangerConfig::default());
        let mut times = Vec::new();
        for i in 0..WARMUP_STEPS + TIMED_STEPS {
            let t = Instant::now();
            let logits = net.forward_train(x.clone().leaky_trace());
            let loss = cross_entropy_with_logits_loss(logits, y.clone());
            let _ = loss.as_vec(); // the trainer reads the loss back
            opt.update(&mut net, &loss.backward())?;
            dev.synchronize();
            if i >= WARMUP_STEPS {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        Ok(median(times))
    }

    /// The bundle metric as the trainer measures it ([`measure_hidden`]: all
    /// hidden activations of `METRIC_SAMPLES` images in one inference pass,
    /// then the metric on the device) on a fresh full-width CIFAR net; median
    /// of 3 after one warm-up, the forward pass timed on its own as well.
    fn metric_time(dev: &Cuda, spec: ConvSpec) -> Result<MetricTime> {
        let mut rng = SmallRng::seed_from_u64(11);
        let samples = Dataset {
            images: (0..METRIC_SAMPLES * CIFAR.len())
                .map(|_| rng.gen_range(0.0f32..1.0))
                .collect(),
            labels: (0..METRIC_SAMPLES).map(|i| (i % 10) as u8).collect(),
            channels: CIFAR.channels,
            rows: CIFAR.rows,
            cols: CIFAR.cols,
            num_classes: 10,
        };
        let net = ConvNet::<10, Cuda>::new(dev, spec, Widths::divided(1)?, CIFAR, 0)?;
        let x: Tensor<(usize, usize), f32, Cuda> =
            dev.tensor_from_vec(samples.images.clone(), (METRIC_SAMPLES, CIFAR.len()));
        let (mut forward, mut total) = (Vec::new(), Vec::new());
        for i in 0..4 {
            let t = Instant::now();
            drop(net.forward_hidden(x.clone()));
            dev.synchronize();
            let f = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let point = measure_hidden(dev, &net, &samples, 1e-3, 64)?;
            let m = t.elapsed().as_secs_f64();
            ensure!(
                point.entropy.len() == net.num_hidden(),
                "a layer is missing"
            );
            if i > 0 {
                forward.push(f);
                total.push(m);
            }
        }
        let (forward, total) = (median(forward), median(total));
        let out = MetricTime {
            net: format!("{}-{}", spec.arch, spec.depth()),
            layers: net.num_hidden(),
            samples: METRIC_SAMPLES,
            forward_ms: forward * 1e3,
            metric_ms: (total - forward).max(0.0) * 1e3,
        };
        println!(
            "time {spec} bundle metric on {} layers x {} samples: forward {:.1} ms, metric {:.1} ms",
            out.layers, out.samples, out.forward_ms, out.metric_ms
        );
        Ok(out)
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}
