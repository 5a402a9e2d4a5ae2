//! §3.2: Hypothesis 1 on the toy net (Figures 2 and 3).

use conflicting_bundles::experiments::toy::*;
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;

#[test]
fn fully_conflicting_bundles_converge_to_class_shares() {
    let dev: Cpu = Default::default();
    let report = run_toy(&dev, &ToyConfig::default(), ProgressMode::Off).unwrap();
    let run = |n: &str| report.runs.iter().find(|r| r.name == n).unwrap();
    for r in &report.runs {
        eprintln!(
            "{}: acc {:.3} softmax {:?} converged {:?} H0 {:.4} HL {:.4} gradcorr {:.3}",
            r.name,
            r.train_accuracy,
            r.final_mean_softmax,
            r.converged_epoch,
            r.initial_bundle_entropy,
            r.epochs.last().unwrap().bundle_entropy,
            r.gradient_autocorrelation
        );
    }
    let normal = run("normal");
    assert!(
        normal.train_accuracy >= 0.95,
        "normal: {}",
        normal.train_accuracy
    );
    // Resolution mode bundles inputs closer than ~64/1e-3 · ulp(w_max = 1) ≈ 4e-3,
    // so a handful of samples straddling x = 0.5 conflict: small, not zero.
    assert!(
        normal.initial_bundle_entropy < 0.01,
        "{}",
        normal.initial_bundle_entropy
    );

    let bal = run("conflicting_balanced");
    assert!(
        bal.final_mean_softmax
            .iter()
            .all(|p| (p - 0.5).abs() <= 0.02),
        "{:?}",
        bal.final_mean_softmax
    );
    let imb = run("conflicting_imbalanced");
    assert_eq!(imb.class_shares, [0.667, 0.333]);
    assert!(
        (imb.final_mean_softmax[0] - 0.667).abs() <= 0.02
            && (imb.final_mean_softmax[1] - 0.333).abs() <= 0.02,
        "{:?}",
        imb.final_mean_softmax
    );
    assert!(bal.converged_epoch.is_some() && imb.converged_epoch.is_some());

    // A fully conflicting bundle: H^L = H(class shares) throughout training.
    let h = |p: f64| -(p * (p + 1e-5).ln() + (1.0 - p) * (1.0 - p + 1e-5).ln());
    assert!((bal.initial_bundle_entropy - h(0.5)).abs() < 1e-9);
    assert!(bal
        .epochs
        .iter()
        .all(|e| (e.bundle_entropy - h(0.5)).abs() < 1e-9));
    assert!(imb
        .epochs
        .iter()
        .all(|e| (e.bundle_entropy - h(0.667)).abs() < 1e-9));
    // Labels vanish from the gradient but the network still gets gradients
    // (Figure 2: similar magnitude at the start).
    assert!(bal.epochs[0].grad_norm > 0.1 * normal.epochs[0].grad_norm);

    // Figure 3: conflicting-bundle gradients are correlated along the input,
    // unlike white noise.
    assert!(
        bal.gradient_autocorrelation > 0.9,
        "{}",
        bal.gradient_autocorrelation
    );
    assert!(report.white_noise_autocorrelation.abs() < 0.2);
}

#[test]
fn toy_data_has_exact_class_counts_and_rule() {
    let d = toy_data(1000, 2.0 / 3.0, 3);
    assert_eq!(d.labels.iter().filter(|&&y| y == 0).count(), 667);
    assert!(d
        .images
        .iter()
        .zip(&d.labels)
        .all(|(&x, &y)| (x < 0.5) == (y == 0) && (0.0..=1.0).contains(&x)));
}
