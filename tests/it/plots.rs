//! Charts carry titles, axis labels and the expected traces.

use conflicting_bundles::experiments::toy::{run_toy, ToyConfig};
use conflicting_bundles::plots::*;
use conflicting_bundles::train::ProgressMode;
use dfdx::prelude::*;
use serde_json::Value;

fn json(p: &plotly::Plot) -> Value {
    serde_json::from_str(&p.to_json()).unwrap()
}

fn assert_labelled(v: &Value, traces: usize) {
    let l = &v["layout"];
    assert!(
        l["title"]["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{l}"
    );
    assert!(
        l["xaxis"]["title"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{l}"
    );
    assert!(
        l["yaxis"]["title"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{l}"
    );
    assert_eq!(v["data"].as_array().unwrap().len(), traces);
}

#[test]
fn toy_charts() {
    let cfg = ToyConfig {
        epochs: 20,
        grid: 16,
        ..Default::default()
    };
    let r = run_toy(&Cpu::default(), &cfg, ProgressMode::Off).unwrap();
    // two output neurons + 1/N_c line (+ both class shares when imbalanced)
    assert_labelled(&json(&toy_softmax(&r, "conflicting_balanced")), 3);
    let v = json(&toy_softmax(&r, "conflicting_imbalanced"));
    assert_labelled(&v, 5);
    let shares: Vec<f64> = (3..5)
        .map(|i| v["data"][i]["y"][0].as_f64().unwrap())
        .collect();
    assert!(
        (shares[0] + shares[1] - 1.0).abs() < 1e-9 && shares[0] != 0.5,
        "{shares:?}"
    );
    let v = json(&toy_softmax(&r, "normal"));
    assert_eq!(v["data"][0]["y"].as_array().unwrap().len(), 20);
    // A fixed [0, 1] axis, so a converged flat line does not look noisy.
    assert_eq!(v["layout"]["yaxis"]["range"], serde_json::json!([0.0, 1.0]));
    assert_labelled(&json(&toy_grad_norm(&r)), 3);
    assert_labelled(&json(&toy_bundle_entropy(&r)), 3);
    assert_labelled(&json(&toy_gradient_correlation(&r)), 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.html");
    save_html(&toy_grad_norm(&r), &path).unwrap();
    assert!(std::fs::read_to_string(path).unwrap().contains("plotly"));
}
