//! How auto-tune's first conflicting layer depends on the number of samples
//! the metric sees: the lesson probe (the 120-layer VGG at widths ÷ 8, one
//! epoch of MNIST, as `cb autotune --preset lesson` trains it first) for
//! each seed, measured on nested random training subsets of each size (the
//! trainer's subset for that seed, cut to the size).
//!
//! ```sh
//! cargo run --release --example probe_samples -- ../shared/data/mnist 0,1,2 64,512,1024,2048 results/studies/probe_samples.json
//! ```
//!
//! Prints a table and writes the measurements (with the command) as JSON.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use conflicting_bundles::experiments::autotune::{first_conflicting_block, prune, AutotuneConfig};
use conflicting_bundles::experiments::conv_nets::{conv_net, load_images};
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::models::convnet::{Arch, ConvSpec, Widths};
use conflicting_bundles::train::trainer::bundle_subset;
use conflicting_bundles::train::{measure_hidden, ProgressMode, TrainConfig, Trainer};
use serde_json::json;

fn list(s: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|v| v.parse().with_context(|| format!("not a number: {v:?}")))
        .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        bail!("usage: probe_samples DATA_DIR SEEDS COUNTS OUT.json (e.g. ../shared/data/mnist 0,1,2 64,512 out.json)");
    }
    let (data, seeds, counts, out) = (
        PathBuf::from(&args[1]),
        list(&args[2])?,
        list(&args[3])?,
        PathBuf::from(&args[4]),
    );
    let cfg = AutotuneConfig::lesson();
    let dev = conflicting_bundles::device::cpu();
    let widths = Widths::divided(cfg.width_divisor)?;
    let spec = ConvSpec {
        arch: Arch::Vgg,
        blocks: cfg.start_blocks,
    };
    let (train, test) = load_images(
        cfg.run.dataset,
        &data,
        cfg.run.train_samples,
        cfg.run.test_samples,
    )?;
    let mut runs = Vec::new();
    println!("| seed | samples | first conflicting layer (stage, block) | pruned net | H of that row | H^L (pooled) | H last block | test acc |");
    println!("|---|---|---|---|---|---|---|---|");
    for &seed in &seeds {
        let started = Instant::now();
        let config = TrainConfig {
            epochs: 1,
            seed: seed as u64,
            bundle_samples: cfg.run.bundle_samples,
            max_steps_per_epoch: cfg.run.max_steps_per_epoch,
            measure_at_start: false,
            ..Default::default()
        };
        let trainer = Trainer {
            config: config.clone(),
            progress: ProgressMode::Auto,
            label: format!("seed {seed} {spec}"),
            ..Default::default()
        };
        let mut net = conv_net(&dev, spec, widths, &train, seed as u64)?;
        let report = trainer.fit(&dev, &mut net, &train, Some(&test))?;
        let accuracy = report.test_accuracy().unwrap_or(0.0);
        let w = net.row_w_max();
        for &n in &counts {
            let subset = bundle_subset(
                &train,
                &TrainConfig {
                    bundle_samples: n,
                    ..config.clone()
                },
            );
            let p = measure_hidden(&dev, &net, &subset, 1e-3, 64)?;
            let first = first_conflicting_block(spec, &p.entropy);
            let at = first.and_then(|l| spec.locate(l));
            let h = |i: usize| p.entropy[i];
            let rows = p.entropy.len();
            println!(
                "| {seed} | {n} | {} | {} | {} | {:.3} | {:.3} | {:.2} % |",
                match (first, at) {
                    (Some(l), Some((s, b))) => format!("{l} ({}, {})", s + 1, b + 1),
                    _ => "none".into(),
                },
                first
                    .and_then(|l| prune(spec, l))
                    .map_or("-".into(), |s| s.to_string()),
                first.map_or("-".into(), |l| format!("{:.3}", h(l - 1))),
                h(rows - 1),
                h(rows - 2),
                100.0 * accuracy
            );
            runs.push(json!({
                "seed": seed, "samples": n, "first_conflicting_layer": first,
                "stage_block": at, "pruned": first.and_then(|l| prune(spec, l)).map(|s| s.blocks),
                "entropy": p.entropy, "num_bundles": p.num_bundles,
                "test_accuracy": accuracy, "row_w_max": w,
            }));
        }
        eprintln!("seed {seed}: {:.0} s", started.elapsed().as_secs_f64());
    }
    let record = json!({
        "command": format!("cargo run --release --example probe_samples -- {}", args[1..].join(" ")),
        "spec": spec, "widths": widths, "runs": runs,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&record)?)?;
    Ok(())
}
