use conflicting_bundles::data::{load_mnist, DatasetKind, Split};
use conflicting_bundles::models::convnet::*;
use conflicting_bundles::models::Classifier;
use conflicting_bundles::train::*;
use conflicting_bundles::with_widths;
use dfdx::prelude::*;
use std::time::Instant;

fn pad32(s: Samples) -> Samples {
    let n = s.len();
    let mut x = vec![0.0f32; n * 1024];
    for i in 0..n {
        for r in 0..28 {
            x[i * 1024 + (r + 2) * 32 + 2..i * 1024 + (r + 2) * 32 + 30]
                .copy_from_slice(&s.x[i * 784 + r * 28..i * 784 + r * 28 + 28]);
        }
    }
    Samples::new(x, s.y)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let depth: usize = args[1].parse().unwrap();
    let arch: Arch = args[2].parse().unwrap();
    let steps: usize = args[3].parse().unwrap();
    let div: usize = args[4].parse().unwrap();
    let dir = std::path::Path::new("/work/shared/data/mnist");
    let (m, sd) = DatasetKind::Mnist.mean_std();
    let load = |split| {
        pad32(Samples::from(&load_mnist(dir, DatasetKind::Mnist, split).unwrap()).normalized(m, sd))
    };
    let (tr, te) = (load(Split::Train), load(Split::Test).take(2000));
    let dev = Cpu::default();
    with_widths!(div, W => {
        let spec = ConvSpec::for_depth(arch, depth).unwrap();
        let mut net = GrayConvNet::<W, Cpu>::new(&dev, spec, (32, 32), 0);
        println!("{spec} hidden {}", Classifier::<1024, 10, Cpu>::num_hidden(&net));
        let epochs: usize = args.get(5).map_or(1, |e| e.parse().unwrap());
        let cfg = TrainConfig { epochs, max_steps_per_epoch: Some(steps), bundle_samples: 512, ..Default::default() };
        let t = Instant::now();
        let r = train(&dev, &mut net, &tr, Some(&te), &cfg, &RunOptions::default()).unwrap();
        for b in &r.bundles { println!("step {} w_max {:.3} bundles {:?} H {:?}", b.step, b.w_max, b.num_bundles, b.entropy.iter().map(|h| (h*100.0).round()/100.0).collect::<Vec<_>>()); }
        println!("{:.3} s/step incl. measure; test acc {:?} H^L {:?}", t.elapsed().as_secs_f64() / steps as f64, r.test_accuracy(), r.final_entropy());
    });
}
