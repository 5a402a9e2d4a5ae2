//! §3.3: the quick MNIST FC sweep produces a grid, traces and a boundary.

use std::path::Path;

use conflicting_bundles::experiments::fc_sweep::*;
use conflicting_bundles::experiments::settings::RunSettings;
use conflicting_bundles::experiments::Presets;
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;

#[test]
fn quick_sweep_produces_grid_traces_and_boundary() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    let out = tempfile::tempdir().unwrap();
    let dev: Cpu = Default::default();
    let cfg = FcSweepConfig::quick();
    let t = std::time::Instant::now();
    let r = run_fc_sweep(&dev, &cfg, &data, Some(out.path()), ProgressMode::Auto).unwrap();
    eprintln!("quick sweep took {:?}", t.elapsed());
    for c in &r.cells {
        eprintln!("{c:?}");
    }
    for b in &r.boundary {
        eprintln!(
            "boundary w{} d{} seed {}: first {:?} H^L {:.3}",
            b.width, b.depth, b.seed, b.first_conflicting_layer, b.last_entropy
        );
    }
    assert_eq!(r.cells.len(), cfg.widths.len() * cfg.depths.len());
    // One boundary net per width and seed, each seed once.
    assert_eq!(r.boundary.len(), cfg.widths.len() * cfg.boundary_seeds);
    let mut seeds: Vec<(usize, u64)> = r.boundary.iter().map(|b| (b.width, b.seed)).collect();
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(seeds.len(), r.boundary.len());
    assert_eq!(r.traces.len(), cfg.trace.len());
    // The narrowest width conflicts early in its deepest nets; the widest
    // conflicts later or not at all (the boundary's median rises with width).
    let by_width = r.boundary_by_width();
    assert_eq!(
        by_width
            .iter()
            .map(|b| (b.width, b.seeds))
            .collect::<Vec<_>>(),
        cfg.widths
            .iter()
            .map(|&w| (w, cfg.boundary_seeds))
            .collect::<Vec<_>>()
    );
    let median = |w: usize| {
        by_width
            .iter()
            .find(|b| b.width == w)
            .unwrap()
            .median_layer()
    };
    let narrow = median(10).expect("width 10 has a conflicting layer within its depth");
    assert!(
        median(100).is_none_or(|l| l > narrow),
        "{:?} vs {narrow}",
        median(100)
    );
    // Shallow, wide-enough nets learn; narrow deep ones conflict and do worse.
    let cell = |w: usize, d: usize| {
        r.cells
            .iter()
            .find(|c| (c.width, c.depth) == (w, d))
            .unwrap()
    };
    assert!(cell(100, 2).test_accuracy > 0.8, "{:?}", cell(100, 2));
    assert!(cell(10, 50).final_entropy > 0.0 && cell(100, 2).final_entropy == 0.0);
    assert!(cell(10, 50).test_accuracy < cell(100, 2).test_accuracy);
    // The file on disk is the report.
    let on_disk: FcSweepReport =
        serde_json::from_slice(&std::fs::read(out.path().join("fc_sweep.json")).unwrap()).unwrap();
    assert_eq!(on_disk, r);
    // The charts of Figures 1, 4 and 5 have titles, labels and every net.
    for plot in [
        conflicting_bundles::plots::accuracy_heatmap(&r),
        conflicting_bundles::plots::entropy_vs_accuracy(&r),
        conflicting_bundles::plots::bundles_over_time(&r.traces),
    ] {
        let v: serde_json::Value = serde_json::from_str(&plot.to_json()).unwrap();
        assert!(v["layout"]["title"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        assert!(v["layout"]["xaxis"]["title"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
    }
    let heat: serde_json::Value =
        serde_json::from_str(&conflicting_bundles::plots::accuracy_heatmap(&r).to_json()).unwrap();
    assert_eq!(
        heat["data"][0]["marker"]["color"].as_array().unwrap().len(),
        r.cells.len()
    );
    // Figure 1's depth ticks are the grid's depths only (boundary depths are
    // written at the boundary's points), and the legend sits above the plot.
    let ticks: Vec<f64> = heat["layout"]["yaxis"]["tickvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let depths: Vec<f64> = cfg.depths.iter().map(|&d| d as f64).collect();
    assert_eq!(ticks, depths);
    assert!(heat["layout"]["legend"]["y"].as_f64().unwrap() > 1.0);
    // Figure 4: every panel on one colour scale, 0 to ln 10.
    for t in &r.traces {
        let v: serde_json::Value =
            serde_json::from_str(&conflicting_bundles::plots::layer_entropy_over_time(t).to_json())
                .unwrap();
        let d = &v["data"][0];
        assert_eq!(
            (d["zmin"].as_f64(), d["zauto"].as_bool()),
            (Some(0.0), Some(false))
        );
        assert!(
            (d["zmax"].as_f64().unwrap() - 10f64.ln()).abs() < 1e-12,
            "{d}"
        );
    }
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("fc_sweep.json"),
        serde_json::to_string(&r).unwrap(),
    )
    .unwrap();
    // A rerun resumes: nothing left to train, same report.
    let again = run_fc_sweep(&dev, &cfg, &data, Some(out.path()), ProgressMode::Off).unwrap();
    assert_eq!(again, r);
}

/// The grid's net at the boundary depth gives the first seed's boundary
/// point, equal to a boundary net trained on its own.
#[test]
fn grid_net_at_boundary_depth_is_the_first_boundary_net() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    let dev: Cpu = Default::default();
    let shared = FcSweepConfig {
        run: RunSettings {
            epochs: 2,
            train_samples: Some(640),
            test_samples: Some(200),
            max_steps_per_epoch: Some(10),
            bundle_samples: 256,
            ..FcSweepConfig::quick().run
        },
        widths: vec![10],
        depths: vec![30],
        trace: vec![(10, 30)],
        trace_every_steps: 4,
        boundary_depth: 30,
        boundary_steps: 10,
        boundary_seeds: 2,
    };
    assert_eq!(nets(&shared, 640).len(), 2, "one grid net and seed 1");
    let r = run_fc_sweep(&dev, &shared, &data, None, ProgressMode::Off).unwrap();
    // The same boundary nets with the grid elsewhere: both trained alone.
    let alone = FcSweepConfig {
        depths: vec![3],
        trace: vec![],
        ..shared.clone()
    };
    assert_eq!(nets(&alone, 640).len(), 3);
    let a = run_fc_sweep(&dev, &alone, &data, None, ProgressMode::Off).unwrap();
    let by_seed = |r: &FcSweepReport| {
        let mut b = r.boundary.clone();
        b.sort_by_key(|p| p.seed);
        b
    };
    assert_eq!(by_seed(&r), by_seed(&a));
    assert_eq!(r.boundary.len(), 2);
    assert!(r.boundary.iter().all(|b| b.step == 10 && b.depth == 30));
}
