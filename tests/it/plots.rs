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

/// Figure 4 for all traced nets of the recorded lesson FC sweep in one
/// chart: a heat map per net on its own axes, titled by its net, one colour
/// bar; at most eight panels.
#[test]
fn all_traces_in_one_chart() {
    use conflicting_bundles::experiments::fc_sweep::FcSweepReport;
    use conflicting_bundles::experiments::recorded::recorded;
    let traces = recorded::<FcSweepReport>("fc_sweep/lesson")
        .unwrap()
        .report
        .traces;
    assert_eq!(traces.len(), 4);
    let v = json(&layer_entropy_over_time_all(&traces));
    assert_labelled(&v, 4);
    for (i, t) in traces.iter().enumerate() {
        let n = if i == 0 {
            String::new()
        } else {
            (i + 1).to_string()
        };
        let d = &v["data"][i];
        assert_eq!(d["type"], "heatmap");
        assert_eq!(
            (d["xaxis"].as_str(), d["yaxis"].as_str()),
            (Some(&*format!("x{n}")), Some(&*format!("y{n}")))
        );
        assert_eq!(d["showscale"], i == 0);
        let title = v["layout"][format!("xaxis{n}")]["title"]["text"]
            .as_str()
            .unwrap();
        assert!(title.starts_with(&t.label), "{title}");
    }
    assert_eq!(v["layout"]["grid"]["rows"], 2);
    let many: Vec<_> = traces.iter().cycle().take(9).cloned().collect();
    assert_eq!(
        json(&layer_entropy_over_time_all(&many))["data"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
}
