//! The named charts of each experiment's report: what the CLI writes next to
//! a report (`<name>.html`), and what the gallery (`scripts/figures.sh`)
//! draws from the recorded runs under `results/` (`docs/figures/`).

use plotly::Plot;

use crate::experiments::autotune::AutotuneReport;
use crate::experiments::conv_sweep::ConvSweepReport;
use crate::experiments::criteria::CriteriaReport;
use crate::experiments::fc_sweep::FcSweepReport;
use crate::experiments::lbe::LbeStudyReport;
use crate::experiments::lesion::LesionReport;
use crate::experiments::precision::PrecisionReport;
use crate::experiments::toy::ToyReport;
use crate::plots;
use crate::report::ModelReport;
use crate::train::TrainReport;

/// A report's charts, each with a file-name-safe name.
pub trait Figures {
    fn figures(&self) -> Vec<(String, Plot)>;
}

impl Figures for ToyReport {
    /// Figures 2 and 3.
    fn figures(&self) -> Vec<(String, Plot)> {
        let mut charts: Vec<(String, Plot)> = self
            .runs
            .iter()
            .map(|r| {
                (
                    format!("softmax_{}", r.name),
                    plots::toy_softmax(self, &r.name),
                )
            })
            .collect();
        charts.push(("grad_norm".into(), plots::toy_grad_norm(self)));
        charts.push(("bundle_entropy".into(), plots::toy_bundle_entropy(self)));
        charts.push((
            "gradient_correlation".into(),
            plots::toy_gradient_correlation(self),
        ));
        charts
    }
}

impl Figures for FcSweepReport {
    /// Figures 1, 4 and 5.
    fn figures(&self) -> Vec<(String, Plot)> {
        let mut charts = vec![
            (
                "accuracy_heatmap".to_string(),
                plots::accuracy_heatmap(self),
            ),
            (
                "entropy_vs_accuracy".into(),
                plots::entropy_vs_accuracy(self),
            ),
        ];
        charts.extend(traces(&self.traces));
        charts
    }
}

impl Figures for ConvSweepReport {
    /// Figure 6.
    fn figures(&self) -> Vec<(String, Plot)> {
        let mut charts = vec![
            (
                "accuracy_vs_depth".to_string(),
                plots::conv_accuracy_vs_depth(self),
            ),
            (
                "entropy_vs_depth".into(),
                plots::conv_entropy_vs_depth(self),
            ),
        ];
        charts.extend(traces(&self.traces));
        charts
    }
}

impl Figures for PrecisionReport {
    /// Beyond the paper: the first conflicting layer per format, then each
    /// net's `H^l` per layer per format.
    fn figures(&self) -> Vec<(String, Plot)> {
        let mut charts = vec![(
            "first_conflicting_layer".to_string(),
            plots::precision_boundary(self),
        )];
        charts.extend(self.nets.iter().map(|r| {
            (
                format!("layers_{}", r.net.to_string().replace(' ', "_")),
                plots::precision_layers(self, r.net),
            )
        }));
        charts
    }
}

impl Figures for AutotuneReport {
    /// Table 1, auto-tune's changes per run.
    fn figures(&self) -> Vec<(String, Plot)> {
        let mut charts = vec![
            (
                "table1_accuracy".to_string(),
                plots::table1_bars(self, "test accuracy", "test accuracy [%]", |t| {
                    t.test_accuracy.scaled(100.0)
                }),
            ),
            (
                "table1_checkpoint".into(),
                plots::table1_bars(self, "checkpoint size", "MB", |t| t.checkpoint_mb),
            ),
            (
                "table1_inference".into(),
                plots::table1_bars(self, "inference time", "ms per batch of 64", |t| {
                    t.inference_ms
                }),
            ),
        ];
        charts.push(("accuracy_per_epoch".into(), plots::autotune_accuracy(self)));
        charts.push(("entropy_per_epoch".into(), plots::autotune_entropy(self)));
        for run in &self.runs {
            charts.push((
                format!("changes_run{}", run.seed),
                plots::autotune_changes(self, run.seed),
            ));
        }
        charts
    }
}

impl Figures for LesionReport {
    /// One block dropped at a time; k blocks drawn by kind.
    fn figures(&self) -> Vec<(String, Plot)> {
        vec![
            ("single".to_string(), plots::lesion_single(self)),
            ("curves".to_string(), plots::lesion_curves(self)),
        ]
    }
}

impl Figures for LbeStudyReport {
    /// Accuracy without and with the term; both entropies per layer over
    /// training and at the end.
    fn figures(&self) -> Vec<(String, Plot)> {
        let traces = self.traces();
        vec![
            ("accuracy".to_string(), plots::lbe_accuracy(self)),
            (
                "bundle_entropy".into(),
                plots::layer_entropy_over_time_all(&traces),
            ),
            (
                "batch_entropy".into(),
                plots::batch_entropy_over_time_all(&traces),
            ),
            ("layers".into(), plots::lbe_layers(self)),
        ]
    }
}

impl Figures for CriteriaReport {
    /// The accuracy without each rule's layers per net; then each net's
    /// layers as every criterion scores them.
    fn figures(&self) -> Vec<(String, Plot)> {
        let mut charts = vec![("accuracy".to_string(), plots::criteria_accuracy(self))];
        charts.extend(self.nets.iter().map(|r| {
            (
                format!("layers_{}", r.net.to_string().replace([' ', '/'], "_")),
                plots::criteria_layers(r),
            )
        }));
        charts
    }
}

impl Figures for ModelReport {
    /// `cb report`'s chart (its page, report.html, embeds it with the table).
    fn figures(&self) -> Vec<(String, Plot)> {
        vec![("report_layers".to_string(), plots::model_report(self))]
    }
}

/// `H^l(t)` of traced nets: all together, then each one's layers.
fn traces(traces: &[TrainReport]) -> Vec<(String, Plot)> {
    let mut charts = vec![(
        "entropy_over_time".to_string(),
        plots::bundles_over_time(traces),
    )];
    charts.extend(traces.iter().map(|t| {
        (
            format!("layers_{}", t.label.replace(' ', "_")),
            plots::layer_entropy_over_time(t),
        )
    }));
    charts
}

/// Writes each chart as `DIR/<name>.html`.
pub fn write_figures(dir: &std::path::Path, charts: &[(String, Plot)]) -> anyhow::Result<()> {
    charts
        .iter()
        .try_for_each(|(name, plot)| plots::save_html(plot, &dir.join(format!("{name}.html"))))
}
