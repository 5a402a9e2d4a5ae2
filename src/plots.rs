//! plotly charts of the experiments' reports (the paper's figures). Every
//! chart has a title and labelled axes; notebooks show them with
//! `plot.evcxr_display()`, the CLI writes them as HTML.

use plotly::common::{Mode, Title};
use plotly::layout::{Axis, Layout};
use plotly::{HeatMap, Plot, Scatter};

use crate::experiments::autotune::{AutotuneReport, MeanStd, Table1Row};
use crate::experiments::conv_sweep::ConvSweepReport;
use crate::experiments::criteria::{CriteriaReport, LayerScores, NetCriteria, Rule};
use crate::experiments::fc_sweep::FcSweepReport;
use crate::experiments::lbe::LbeStudyReport;
use crate::experiments::lesion::{DrawKind, LesionReport};
use crate::experiments::precision::{Precision, PrecisionNet, PrecisionReport, Stage};
use crate::experiments::toy::{ToyEpoch, ToyReport};
use crate::report::ModelReport;
use crate::train::TrainReport;

fn layout(title: &str, x: &str, y: &str) -> Layout {
    Layout::new()
        .title(Title::with_text(title))
        .x_axis(Axis::new().title(Title::with_text(x)))
        .y_axis(Axis::new().title(Title::with_text(y)))
}

fn line(x: Vec<f64>, y: Vec<f64>, name: &str) -> Box<Scatter<f64, f64>> {
    Scatter::new(x, y).mode(Mode::Lines).name(name)
}

/// A horizontal reference line over `[x0, x1]`.
fn hline(x0: f64, x1: f64, y: f64, name: &str) -> Box<Scatter<f64, f64>> {
    Scatter::new(vec![x0, x1], vec![y, y])
        .mode(Mode::Lines)
        .name(name)
        .line(plotly::common::Line::new().dash(plotly::common::DashType::Dash))
}

/// Figure 2 (a/b/c): mean softmax output per class and epoch for one run,
/// with `1/N_c` and the class shares drawn in.
pub fn toy_softmax(report: &ToyReport, run: &str) -> Plot {
    let mut plot = Plot::new();
    let Some(r) = report.runs.iter().find(|r| r.name == run) else {
        return plot;
    };
    let epochs: Vec<f64> = r.epochs.iter().map(|e| e.epoch as f64).collect();
    let last = epochs.last().copied().unwrap_or(1.0);
    for c in 0..2 {
        plot.add_trace(line(
            epochs.clone(),
            r.epochs.iter().map(|e| e.mean_softmax[c]).collect(),
            &format!("output neuron {c}"),
        ));
    }
    plot.add_trace(hline(1.0, last, 0.5, "1/N_c = 0.5"));
    // With imbalanced classes, Hypothesis 1 says a fully conflicting net
    // outputs each class's share: draw both.
    if (r.class_shares[0] - 0.5).abs() > 1e-9 {
        for (c, share) in r.class_shares.iter().enumerate() {
            plot.add_trace(hline(
                1.0,
                last,
                *share,
                &format!("class {c} share {share:.2}"),
            ));
        }
    }
    // Softmax outputs lie in [0, 1]: a fixed axis keeps a converged flat
    // line flat instead of magnifying rounding noise.
    let mut l = layout(
        &format!("Toy net, {run}: mean softmax output per epoch"),
        "epoch",
        "mean softmax output",
    );
    l = l.y_axis(
        Axis::new()
            .title(Title::with_text("mean softmax output"))
            .range(vec![0.0, 1.0]),
    );
    plot.set_layout(l);
    plot
}

/// One line per toy run of a per-epoch quantity.
fn toy_series(report: &ToyReport, title: &str, y: &str, value: impl Fn(&ToyEpoch) -> f64) -> Plot {
    let mut plot = Plot::new();
    for r in &report.runs {
        plot.add_trace(line(
            r.epochs.iter().map(|e| e.epoch as f64).collect(),
            r.epochs.iter().map(&value).collect(),
            &r.name,
        ));
    }
    plot.set_layout(layout(title, "epoch", y));
    plot
}

/// Figure 2 (bottom): the gradient's global L2 norm per epoch, all runs.
pub fn toy_grad_norm(report: &ToyReport) -> Plot {
    toy_series(
        report,
        "Toy net: gradient magnitude",
        "mean ‖∇J‖₂ per step",
        |e| e.grad_norm,
    )
}

/// Bundle entropy `H^L` of the last hidden layer per epoch, all runs.
pub fn toy_bundle_entropy(report: &ToyReport) -> Plot {
    toy_series(
        report,
        "Toy net: bundle entropy of the last hidden layer",
        "H^L (nats)",
        |e| e.bundle_entropy,
    )
}

/// Figure 3: per-input gradients of the trained toy nets against white noise.
pub fn toy_gradient_correlation(report: &ToyReport) -> Plot {
    let mut plot = Plot::new();
    let n = report.white_noise.len();
    let xs: Vec<f64> = (0..n).map(|i| i as f64 / (n.max(2) - 1) as f64).collect();
    let scale = |v: &[f64]| {
        let m = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        v.iter()
            .map(|x| if m > 0.0 { x / m } else { 0.0 })
            .collect::<Vec<_>>()
    };
    for r in &report.runs {
        plot.add_trace(line(
            xs.clone(),
            scale(&r.gradient),
            &format!("{} (lag-1 corr {:.2})", r.name, r.gradient_autocorrelation),
        ));
    }
    plot.add_trace(line(
        xs,
        scale(&report.white_noise),
        &format!(
            "white noise (lag-1 corr {:.2})",
            report.white_noise_autocorrelation
        ),
    ));
    plot.set_layout(layout(
        "Gradients of conflicting bundles vs white noise",
        "input x",
        "∂J/∂W^L[0,0] (scaled to max |·| = 1)",
    ));
    plot
}

/// Figure 1: test accuracy over width × depth (coloured squares on log
/// axes) with the conflict boundary (first conflicting layer per width).
pub fn accuracy_heatmap(report: &FcSweepReport) -> Plot {
    use plotly::common::{ColorBar, ColorScale, ColorScalePalette, Marker, MarkerSymbol};
    let cells = &report.cells;
    let mut plot = Plot::new();
    plot.add_trace(
        Scatter::new(
            cells.iter().map(|c| c.width as f64).collect(),
            cells.iter().map(|c| c.depth as f64).collect(),
        )
        .mode(Mode::Markers)
        .name("test accuracy [%]")
        .text_array(
            cells
                .iter()
                .map(|c| format!("{:.1}%", 100.0 * c.test_accuracy))
                .collect(),
        )
        .marker(
            Marker::new()
                .symbol(MarkerSymbol::Square)
                .size(26)
                .color_array(cells.iter().map(|c| 100.0 * c.test_accuracy).collect())
                .color_scale(ColorScale::Palette(ColorScalePalette::Viridis))
                .show_scale(true)
                .color_bar(ColorBar::new().title("test acc. [%]")),
        ),
    );
    // The median first conflicting layer per width, bars from the lowest to
    // the highest over its seeds; widths where no seed's net conflicts up to
    // the measured depth are left out.
    let b: Vec<_> = report
        .boundary_by_width()
        .into_iter()
        .filter_map(|b| Some((b.median_layer()?, b.range()?, b.width)))
        .collect();
    let by: Vec<f64> = b.iter().map(|(m, _, _)| *m).collect();
    // The boundary's depths are written at its points rather than added to
    // the depth axis, whose ticks stay the grid's (mixed, they crowd).
    plot.add_trace(
        Scatter::new(b.iter().map(|(_, _, w)| *w as f64).collect(), by.clone())
            .mode(Mode::LinesMarkersText)
            .text_array(
                b.iter()
                    .map(|(m, (lo, hi), _)| match lo == hi {
                        true => format!("{m}"),
                        false => format!("{m} ({lo}-{hi})"),
                    })
                    .collect(),
            )
            .text_position(plotly::common::Position::TopLeft)
            .error_y(
                plotly::common::ErrorData::new(plotly::common::ErrorType::Data)
                    .symmetric(false)
                    .array(b.iter().map(|(m, (_, hi), _)| *hi as f64 - m).collect())
                    .array_minus(b.iter().map(|(m, (lo, _), _)| m - *lo as f64).collect()),
            )
            .name("conflict boundary: first conflicting layer (median, range over seeds)"),
    );
    // Ticks only at the values that occur, so the log axes stay readable.
    let log_axis = |t: &str, mut ticks: Vec<f64>| {
        ticks.sort_by(f64::total_cmp);
        ticks.dedup();
        Axis::new()
            .title(Title::with_text(t))
            .type_(plotly::layout::AxisType::Log)
            .tick_mode(plotly::common::TickMode::Array)
            .tick_text(ticks.iter().map(|v| v.to_string()).collect())
            .tick_values(ticks)
    };
    let depth_ticks: Vec<f64> = report.config.depths.iter().map(|&d| d as f64).collect();
    plot.set_layout(
        Layout::new()
            .title(Title::with_text(
                "MNIST, fully connected: test accuracy and conflict boundary",
            ))
            .x_axis(log_axis(
                "width (neurons per layer, log scale)",
                report.config.widths.iter().map(|&w| w as f64).collect(),
            ))
            .y_axis(log_axis("depth (hidden layers, log scale)", depth_ticks))
            // Above the plot: below it, the legend covered the x-axis title.
            .legend(
                plotly::layout::Legend::new()
                    .orientation(plotly::common::Orientation::Horizontal)
                    .x(0.0)
                    .y(1.02)
                    .y_anchor(plotly::common::Anchor::Bottom),
            ),
    );
    plot
}

/// Figure 4: `H^l` of every hidden layer (vertical) over the training steps
/// (horizontal) of one traced net, as a heat map.
pub fn layer_entropy_over_time(trace: &TrainReport) -> Plot {
    let mut plot = Plot::new();
    plot.add_trace(entropy_heatmap(trace));
    plot.set_layout(layout(
        &format!("{}: bundle entropy per layer during training", trace.label),
        "training step",
        "layer l",
    ));
    plot
}

/// Figure 4 for several traced nets in one chart: one heat map per net, two
/// per row, each titled by its net on its step axis, one colour scale (the
/// first 8 nets: the panels plotly's layout has axes for).
pub fn layer_entropy_over_time_all(traces: &[TrainReport]) -> Plot {
    heatmap_grid(
        "Bundle entropy per layer during training, per traced net",
        traces,
        entropy_heatmap,
    )
}

/// The batch entropy of every layer over training, per traced net, as
/// [`layer_entropy_over_time_all`] draws `H^l`: one colour scale from 0 (a
/// collapsed layer) to the largest value of any shown net.
pub fn batch_entropy_over_time_all(traces: &[TrainReport]) -> Plot {
    let top = (traces.iter().take(8))
        .flat_map(|t| {
            t.bundles
                .iter()
                .flat_map(|b| b.batch_entropy.iter().copied())
        })
        .filter(|h| h.is_finite())
        .fold(0.0f64, f64::max);
    heatmap_grid(
        "Batch entropy per layer during training, per traced net",
        traces,
        |t| {
            let z = (0..t.num_hidden)
                .map(|l| {
                    (t.bundles.iter())
                        .map(|b| b.batch_entropy.get(l).copied().unwrap_or(f64::NAN))
                        .collect()
                })
                .collect();
            HeatMap::new(steps_of(t), layers_of(t), z)
                .name("batch entropy")
                .zauto(false)
                .zmin(0.0)
                .zmax(top.max(1e-9))
        },
    )
}

fn steps_of(t: &TrainReport) -> Vec<f64> {
    t.bundles.iter().map(|b| b.step as f64).collect()
}

fn layers_of(t: &TrainReport) -> Vec<f64> {
    (1..=t.num_hidden).map(|l| l as f64).collect()
}

/// One heat map per trace (`heat`), two per row, on one colour scale.
fn heatmap_grid(
    title: &str,
    traces: &[TrainReport],
    heat: impl Fn(&TrainReport) -> Box<HeatMap<f64, f64, Vec<f64>>>,
) -> Plot {
    let shown = &traces[..traces.len().min(8)];
    let columns = shown.len().clamp(1, 2);
    let rows = shown.len().div_ceil(columns).max(1);
    let mut layout = Layout::new()
        .title(Title::with_text(title))
        .height(300 * rows + 100)
        .grid(
            plotly::layout::LayoutGrid::new()
                .rows(rows)
                .columns(columns)
                .pattern(plotly::layout::GridPattern::Independent),
        );
    let mut plot = Plot::new();
    for (i, t) in shown.iter().enumerate() {
        let n = if i == 0 {
            String::new()
        } else {
            (i + 1).to_string()
        };
        plot.add_trace(
            heat(t)
                .x_axis(format!("x{n}"))
                .y_axis(format!("y{n}"))
                .show_scale(i == 0),
        );
        let x = Axis::new().title(Title::with_text(format!("{}: training step", t.label)));
        let y = Axis::new().title(Title::with_text("layer l"));
        layout = match i {
            0 => layout.x_axis(x).y_axis(y),
            1 => layout.x_axis2(x).y_axis2(y),
            2 => layout.x_axis3(x).y_axis3(y),
            3 => layout.x_axis4(x).y_axis4(y),
            4 => layout.x_axis5(x).y_axis5(y),
            5 => layout.x_axis6(x).y_axis6(y),
            6 => layout.x_axis7(x).y_axis7(y),
            _ => layout.x_axis8(x).y_axis8(y),
        };
    }
    plot.set_layout(layout);
    plot
}

/// `H^l(t)` of one traced net as a heat map on one colour scale, 0 to
/// `ln C` (a fully conflicting bundle), so a net without conflicts reads as
/// 0, not as a grey block on an auto-scaled -0.5..0.5 bar. C from the
/// softmax means per epoch.
fn entropy_heatmap(trace: &TrainReport) -> Box<HeatMap<f64, f64, Vec<f64>>> {
    let (steps, layers) = (steps_of(trace), layers_of(trace));
    let z: Vec<Vec<f64>> = (0..trace.num_hidden)
        .map(|l| trace.bundles.iter().map(|b| b.entropy[l]).collect())
        .collect();
    let classes = trace
        .epochs
        .first()
        .map_or(10, |e| e.mean_softmax.len().max(2));
    HeatMap::new(steps, layers, z)
        .name("H^l(t)")
        .zauto(false)
        .zmin(0.0)
        .zmax((classes as f64).ln())
}

/// Figure 4 (lines): number of bundles of the last hidden layer over steps
/// for several traced nets.
pub fn bundles_over_time(traces: &[TrainReport]) -> Plot {
    let mut plot = Plot::new();
    for t in traces {
        plot.add_trace(line(
            t.bundles.iter().map(|b| b.step as f64).collect(),
            t.bundles.iter().map(|b| b.last_entropy()).collect(),
            &t.label,
        ));
    }
    plot.set_layout(layout(
        "Bundle entropy of the last hidden layer during training",
        "training step",
        "H^L(t) (nats)",
    ));
    plot
}

/// Figure 5: `H^L` against test accuracy, one point per net.
pub fn entropy_vs_accuracy(report: &FcSweepReport) -> Plot {
    let mut plot = Plot::new();
    for &w in &report.config.widths {
        let cells: Vec<_> = report.cells.iter().filter(|c| c.width == w).collect();
        plot.add_trace(
            Scatter::new(
                cells.iter().map(|c| c.mean_entropy).collect(),
                cells.iter().map(|c| 100.0 * c.test_accuracy).collect(),
            )
            .mode(Mode::Markers)
            .name(format!("width {w}"))
            .text_array(cells.iter().map(|c| format!("depth {}", c.depth)).collect()),
        );
    }
    plot.set_layout(layout(
        "Bundle entropy vs test accuracy (MNIST, FC)",
        "H^L averaged over training (nats)",
        "test accuracy [%]",
    ));
    plot
}

/// One line per architecture of a conv sweep: `value` of each net over depth.
fn conv_series(
    report: &ConvSweepReport,
    title: &str,
    y: &str,
    value: impl Fn(&crate::experiments::conv_sweep::ConvCell) -> f64,
) -> Plot {
    let mut plot = Plot::new();
    for &arch in &report.config.archs {
        let mut cells: Vec<_> = report.cells.iter().filter(|c| c.arch == arch).collect();
        cells.sort_by_key(|c| c.depth);
        plot.add_trace(
            Scatter::new(
                cells.iter().map(|c| c.depth as f64).collect(),
                cells.iter().map(|c| value(c)).collect(),
            )
            .mode(Mode::LinesMarkers)
            .name(arch.to_string()),
        );
    }
    plot.set_layout(layout(
        &format!("{title} ({})", report.config.run.dataset.name()),
        "depth (layers)",
        y,
    ));
    plot
}

/// Figure 6a: test accuracy of VGG and ResNet over depth.
pub fn conv_accuracy_vs_depth(report: &ConvSweepReport) -> Plot {
    conv_series(
        report,
        "Test accuracy over depth",
        "test accuracy [%]",
        |c| 100.0 * c.test_accuracy,
    )
}

/// Figure 6c: `H^L` of VGG and ResNet over depth.
pub fn conv_entropy_vs_depth(report: &ConvSweepReport) -> Plot {
    let mut plot = conv_series(
        report,
        "Bundle entropy of the last layer over depth",
        "H^L at the end of training (nats)",
        |c| c.final_entropy,
    );
    let depths = &report.config.depths;
    let (lo, hi) = (
        *depths.iter().min().unwrap_or(&0) as f64,
        *depths.iter().max().unwrap_or(&0) as f64,
    );
    plot.add_trace(hline(lo, hi, (10f64).ln(), "ln 10 (fully conflicting)"));
    plot
}

/// `H^l` over the hidden layers `l = 1..L` of one or more nets (bars).
pub fn entropy_per_layer(title: &str, profiles: &[(String, Vec<f64>)]) -> Plot {
    let mut plot = Plot::new();
    for (name, h) in profiles {
        plot.add_trace(
            plotly::Bar::new((1..=h.len()).map(|l| l as f64).collect(), h.clone()).name(name),
        );
    }
    plot.set_layout(layout(
        title,
        "hidden row l (1 = stem, then the blocks' rows, the pooled features last)",
        "H^l (nats)",
    ));
    plot
}

/// `H^l` and the number of bundles of every hidden layer at a trained net's
/// last measurement (bars: `H^l`, left axis; line: bundles, right axis).
pub fn layer_profile(report: &TrainReport) -> Plot {
    let Some(p) = report.bundles.last() else {
        let mut plot = Plot::new();
        plot.set_layout(layout(
            &format!("{}: not measured", report.label),
            "hidden layer l",
            "H^l (nats)",
        ));
        return plot;
    };
    let first = p
        .first_conflicting_layer()
        .map_or("none".to_string(), |l| l.to_string());
    entropy_and_bundles(
        &format!(
            "{}: H^l per layer after {} epoch(s) (first conflicting layer: {first})",
            report.label, p.epoch
        ),
        "hidden layer l",
        "H^l (nats)",
        (1..=p.entropy.len()).map(|l| l.to_string()).collect(),
        p.entropy.clone(),
        &p.num_bundles,
    )
}

/// `cb report`'s chart: `H^l` and bundles of every layer of a model, named
/// as in its file, when `bundle` is selected, and a line per further
/// criterion (on the left axis, with a gap where it does not apply).
pub fn model_report(r: &ModelReport) -> Plot {
    let x: Vec<String> = r
        .layers
        .iter()
        .map(|l| format!("{} {}", l.index, l.name))
        .collect();
    let others: Vec<String> = r.scores().map(|c| r.score_title(c)).collect();
    let mut plot = if r.config.is_some() {
        let first = r
            .first_conflicting()
            .map_or("none".to_string(), |l| format!("{} ({})", l.index, l.name));
        let bundles = r.layers.iter().map(|l| l.bundle.as_ref());
        let y_title = match others.is_empty() {
            true => "H^l (nats)",
            false => "H^l (nats), the other criteria",
        };
        entropy_and_bundles(
            &format!(
                "{}: H^l per layer (first conflicting layer: {first})",
                r.activations
            ),
            "layer",
            y_title,
            x.clone(),
            bundles
                .clone()
                .map(|b| b.map_or(0.0, |b| b.bundle_entropy))
                .collect(),
            &bundles
                .map(|b| b.map_or(0, |b| b.num_bundles))
                .collect::<Vec<_>>(),
        )
    } else {
        let mut plot = Plot::new();
        plot.set_layout(
            layout(
                &format!("{}: {} per layer", r.activations, others.join(", ")),
                "layer",
                "value",
            )
            .x_axis(category_axis("layer")),
        );
        plot
    };
    for c in r.scores() {
        // Not applicable is null in the series: plotly leaves a gap there.
        let y: Vec<Option<f64>> = r.layers.iter().map(|l| l.score(c).flatten()).collect();
        plot.add_trace(
            Scatter::new(x.clone(), y)
                .mode(Mode::LinesMarkers)
                .name(r.score_title(c)),
        );
    }
    plot
}

/// An x axis of names, kept in the given order.
fn category_axis(title: &str) -> Axis {
    Axis::new()
        .title(Title::with_text(title))
        .type_(plotly::layout::AxisType::Category)
}

/// Bars of `H^l` (left axis, titled `y_title`) and a line of bundle counts
/// (right axis) over the layers, labelled `x` (kept in the given order).
fn entropy_and_bundles(
    title: &str,
    x_title: &str,
    y_title: &str,
    x: Vec<String>,
    entropy: Vec<f64>,
    bundles: &[usize],
) -> Plot {
    let mut plot = Plot::new();
    plot.add_trace(plotly::Bar::new(x.clone(), entropy).name("H^l"));
    plot.add_trace(
        Scatter::new(x, bundles.iter().map(|&n| n as f64).collect())
            .mode(Mode::LinesMarkers)
            .name("bundles")
            .y_axis("y2"),
    );
    plot.set_layout(
        layout(title, x_title, y_title)
            .x_axis(category_axis(x_title))
            .y_axis2(
                Axis::new()
                    .title(Title::with_text("bundles"))
                    .overlaying("y")
                    .side(plotly::common::AxisSide::Right),
            ),
    );
    plot
}

/// Auto-tune, step by step: the `H^l` profile that triggered each pruning of
/// one run (bars per row, one series per architecture change), then the
/// final net's at the end of its training.
pub fn autotune_changes(report: &AutotuneReport, seed: u64) -> Plot {
    let mut profiles: Vec<(String, Vec<f64>)> = Vec::new();
    for r in report.runs.iter().filter(|r| r.seed == seed) {
        for c in &r.changes {
            let name = format!(
                "{} after its epoch {} (cut at row {})",
                c.from, c.net_epoch, c.first_conflicting_layer
            );
            profiles.push((name, c.entropy.clone()));
        }
        let last = &r.autotuned;
        if !last.final_profile.is_empty() {
            let name = format!(
                "final {} after {} epochs",
                last.spec,
                last.epoch_accuracy.len()
            );
            profiles.push((name, last.final_profile.clone()));
        }
    }
    entropy_per_layer(
        &format!(
            "Auto-tune run {seed}: H^l per row that triggered each pruning, and the final net's"
        ),
        &profiles,
    )
}

/// Test accuracy after each epoch of auto-tune's final net and of the
/// baseline, per run (Table 1 averages the last five of these).
pub fn autotune_accuracy(report: &AutotuneReport) -> Plot {
    let mut plot = Plot::new();
    for run in &report.runs {
        for (name, net) in [("auto-tune", &run.autotuned), ("baseline", &run.baseline)] {
            let x = (1..=net.epoch_accuracy.len()).map(|e| e as f64).collect();
            let y = net.epoch_accuracy.iter().map(|a| a * 100.0).collect();
            let label = format!("{name} {} (run {})", net.spec, run.seed);
            plot.add_trace(line(x, y, &label).mode(Mode::LinesMarkers));
        }
    }
    plot.set_layout(layout(
        "Test accuracy per epoch: the pruned net and the baseline",
        "epoch (auto-tune: the final net's own epochs)",
        "test accuracy [%]",
    ));
    plot
}

/// `H^L` after each epoch of every net auto-tune trained (each pruned net
/// up to the epoch whose conflict pruned it, then the final net) and of the
/// baseline, per run: where the checks found conflicts.
pub fn autotune_entropy(report: &AutotuneReport) -> Plot {
    let mut plot = Plot::new();
    for run in &report.runs {
        let nets = (run.changes.iter())
            .map(|c| (c.from, &c.epoch_entropy))
            .chain([
                (run.autotuned.spec, &run.autotuned.epoch_entropy),
                (run.baseline.spec, &run.baseline.epoch_entropy),
            ]);
        for (spec, h) in nets {
            let x = (1..=h.len()).map(|e| e as f64).collect();
            let label = format!("{spec} (run {})", run.seed);
            plot.add_trace(line(x, h.clone(), &label).mode(Mode::LinesMarkers));
        }
    }
    plot.set_layout(layout(
        "H^L after each epoch of every net of the search, and of the baseline",
        "epoch of that net",
        "H^L (nats)",
    ));
    plot
}

/// Table 1 as bars with ± std error bars: `column` of each method.
pub fn table1_bars(
    report: &AutotuneReport,
    column: &str,
    y: &str,
    pick: fn(&Table1Row) -> MeanStd,
) -> Plot {
    use plotly::common::ErrorData;
    use plotly::common::ErrorType;
    let rows = report.table();
    let mut plot = Plot::new();
    plot.add_trace(
        plotly::Bar::new(
            rows.iter().map(|r| r.method.clone()).collect(),
            rows.iter().map(|r| pick(r).mean).collect(),
        )
        .error_y(ErrorData::new(ErrorType::Data).array(rows.iter().map(|r| pick(r).std).collect()))
        .name(column),
    );
    plot.set_layout(layout(
        &format!(
            "Table 1 ({}, {} runs): {column}",
            report.config.run.dataset.name(),
            report.runs.len()
        ),
        "method",
        y,
    ));
    plot
}

/// The lesion study, single drops: test accuracy with each block dropped
/// alone, conflicting blocks and the others as separate bars, the intact
/// net's accuracy as a dashed line.
pub fn lesion_single(report: &LesionReport) -> Plot {
    let mut plot = Plot::new();
    let Some(net) = &report.net else {
        return plot;
    };
    for (conflicting, name, color) in [
        (true, "conflicting block", "#d62728"),
        (false, "non-conflicting block", "#1f77b4"),
    ] {
        let (x, y): (Vec<f64>, Vec<f64>) = (report.single.iter())
            .filter(|s| net.blocks[s.block - 1].conflicting == conflicting)
            .map(|s| (s.block as f64, 100.0 * s.accuracy))
            .unzip();
        plot.add_trace(
            plotly::Bar::new(x, y)
                .name(name)
                .marker(plotly::common::Marker::new().color(color)),
        );
    }
    let n = net.blocks.len() as f64;
    plot.add_trace(intact_line(0.5, n + 0.5, net.test_accuracy));
    plot.set_layout(layout(
        &format!(
            "Lesion study of a trained {}: one block dropped ({} of {} conflicting)",
            net.spec,
            net.conflicting(),
            net.blocks.len()
        ),
        "block dropped (1 = first)",
        "test accuracy [%]",
    ));
    plot
}

/// The intact net's test accuracy over `[x0, x1]`: dashed, in black, apart
/// from the curves' colours.
fn intact_line(x0: f64, x1: f64, accuracy: f64) -> Box<Scatter<f64, f64>> {
    hline(x0, x1, 100.0 * accuracy, "intact net").line(
        plotly::common::Line::new()
            .dash(plotly::common::DashType::Dash)
            .color("black"),
    )
}

/// The lesion study, k blocks dropped at once: mean test accuracy (± std
/// over the draws) against k, drawing from the conflicting blocks, the
/// non-conflicting ones and all, as the authors' `lesion.py`.
pub fn lesion_curves(report: &LesionReport) -> Plot {
    use plotly::common::{ErrorData, ErrorType};
    let mut plot = Plot::new();
    let Some(net) = &report.net else {
        return plot;
    };
    let mut k_max = 1.0f64;
    for curve in &report.curves {
        let k: Vec<f64> = curve.points.iter().map(|p| p.k as f64).collect();
        k_max = k.iter().copied().fold(k_max, f64::max);
        let mean = curve.points.iter().map(|p| 100.0 * p.mean).collect();
        let std = curve.points.iter().map(|p| 100.0 * p.std).collect();
        let color = match curve.kind {
            DrawKind::Conflicting => "#d62728",
            DrawKind::NonConflicting => "#1f77b4",
            DrawKind::Arbitrary => "#7f7f7f",
        };
        plot.add_trace(
            line(
                k,
                mean,
                &format!("{} blocks ({})", curve.kind, net.pool(curve.kind).len()),
            )
            .mode(Mode::LinesMarkers)
            .error_y(ErrorData::new(ErrorType::Data).array(std))
            .line(plotly::common::Line::new().color(color)),
        );
    }
    plot.add_trace(intact_line(0.0, k_max, net.test_accuracy));
    plot.set_layout(layout(
        &format!(
            "Lesion study of a trained {}: k blocks dropped (mean ± std of {} draws)",
            net.spec, report.config.draws
        ),
        "blocks dropped k",
        "test accuracy [%]",
    ));
    plot
}

/// One colour per removal rule, the same in every criteria chart.
fn rule_color(rule: Rule) -> &'static str {
    match rule {
        Rule::Bundle => "#d62728",
        Rule::BatchEntropy => "#2ca02c",
        Rule::BlockInfluence => "#1f77b4",
        Rule::AngularDistance => "#9467bd",
        Rule::Autotune => "#7f7f7f",
    }
}

/// The criteria comparison: per net, the test accuracy intact and without
/// each rule's layers (a rule with no accuracy, no bar).
pub fn criteria_accuracy(report: &CriteriaReport) -> Plot {
    let mut plot = Plot::new();
    let nets: Vec<String> = report.nets.iter().map(|r| r.net.to_string()).collect();
    let intact = report
        .nets
        .iter()
        .map(|r| 100.0 * r.test_accuracy)
        .collect();
    plot.add_trace(
        plotly::Bar::new(nets.clone(), intact)
            .name("intact")
            .marker(plotly::common::Marker::new().color("black")),
    );
    for rule in Rule::ALL {
        let y = (report.nets.iter())
            .map(|r| {
                let a = r.removal(rule).and_then(|m| m.test_accuracy);
                a.map_or(f64::NAN, |a| 100.0 * a)
            })
            .collect();
        plot.add_trace(
            plotly::Bar::new(nets.clone(), y)
                .name(rule.to_string())
                .marker(plotly::common::Marker::new().color(rule_color(rule))),
        );
    }
    plot.set_layout(
        layout(
            "Test accuracy with each criterion's k layers removed (no retraining)",
            "net",
            "test accuracy [%]",
        )
        .bar_mode(plotly::layout::BarMode::Group),
    );
    plot
}

/// One net of the criteria comparison: every criterion's score per layer,
/// each divided by its largest (so the four share an axis), with the
/// layers each criterion removes marked on its line.
pub fn criteria_layers(r: &NetCriteria) -> Plot {
    let mut plot = Plot::new();
    for rule in Rule::CRITERIA {
        let score = |l: &LayerScores| l.score(rule);
        let max = (r.layers.iter().filter_map(score)).fold(0.0f64, f64::max);
        let scale = if max > 0.0 { 1.0 / max } else { 1.0 };
        let (x, y): (Vec<f64>, Vec<f64>) = (r.layers.iter())
            .filter_map(|l| score(l).map(|s| (l.layer as f64, s * scale)))
            .unzip();
        let color = rule_color(rule);
        plot.add_trace(
            line(x, y, &format!("{rule} (÷ {max:.3})"))
                .line(plotly::common::Line::new().color(color)),
        );
        let removed = r.removal(rule).map_or(&[][..], |m| m.layers.as_slice());
        let (x, y): (Vec<f64>, Vec<f64>) = (r.layers.iter())
            .filter(|l| removed.contains(&l.layer))
            .filter_map(|l| score(l).map(|s| (l.layer as f64, s * scale)))
            .unzip();
        plot.add_trace(
            Scatter::new(x, y)
                .mode(Mode::Markers)
                .name(format!("removed by {rule}"))
                .marker(plotly::common::Marker::new().color(color).size(9)),
        );
    }
    plot.set_layout(layout(
        &format!(
            "{}: the criteria per layer (each ÷ its largest), k = {} removed by each",
            r.net, r.k
        ),
        "layer (FC: hidden layer; conv: block)",
        "score ÷ largest",
    ));
    plot
}

/// One colour per float format, the same in every precision chart.
fn format_color(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "#1f77b4",
        Precision::F16 => "#ff7f0e",
        Precision::Bf16 => "#2ca02c",
    }
}

/// Beyond the paper: the first conflicting layer of every net in
/// every format, at initialisation (open markers) and after training
/// (filled). A net without a conflicting layer in a format is drawn one
/// above its last hidden layer and labelled "none"; a dash marks each net's
/// number of hidden layers.
pub fn precision_boundary(report: &PrecisionReport) -> Plot {
    use plotly::common::{Marker, MarkerSymbol, Position};
    let mut plot = Plot::new();
    let formats = &report.config.precisions;
    let nets = &report.nets;
    // Each net at x = its index; its formats side by side around it, init
    // just left of trained, so equal layers do not hide one another.
    let offset = |fi: usize, stage: Stage| {
        let spread = 0.6 / formats.len().max(1) as f64;
        (fi as f64 - (formats.len() as f64 - 1.0) / 2.0) * spread
            + match stage {
                Stage::Init => -0.06,
                Stage::Trained => 0.06,
            }
    };
    for (fi, &p) in formats.iter().enumerate() {
        for stage in Stage::ALL {
            let (mut x, mut y, mut text) = (vec![], vec![], vec![]);
            for (i, r) in nets.iter().enumerate() {
                let Some(f) = r.at(stage).format(p) else {
                    continue;
                };
                x.push(i as f64 + offset(fi, stage));
                match f.first_conflicting_layer {
                    Some(l) => {
                        y.push(l as f64);
                        text.push(String::new());
                    }
                    None => {
                        y.push((r.num_hidden + 1) as f64);
                        text.push("none".into());
                    }
                }
            }
            // "none" of init to the left, of trained to the right: the two
            // markers sit side by side and centred labels would overlap.
            let (symbol, side) = match stage {
                Stage::Init => (MarkerSymbol::CircleOpen, Position::TopLeft),
                Stage::Trained => (MarkerSymbol::Circle, Position::TopRight),
            };
            plot.add_trace(
                Scatter::new(x, y)
                    .mode(Mode::MarkersText)
                    .text_array(text)
                    .text_position(side)
                    .marker(Marker::new().symbol(symbol).size(11).color(format_color(p)))
                    .name(format!("{p}, {}", stage.name())),
            );
        }
    }
    plot.add_trace(
        Scatter::new(
            (0..nets.len()).map(|i| i as f64).collect(),
            nets.iter().map(|r| r.num_hidden as f64).collect(),
        )
        .mode(Mode::Markers)
        .marker(
            Marker::new()
                .symbol(MarkerSymbol::LineEWOpen)
                .size(40)
                .color("#888888"),
        )
        .name("hidden layers L (none: drawn at L + 1)"),
    );
    plot.set_layout(
        layout(
            "First conflicting layer per float format: at initialisation (open) and after training (filled)",
            "net",
            "first conflicting layer (log scale)",
        )
        .x_axis(
            Axis::new()
                .title(Title::with_text("net"))
                .zero_line(false)
                .range(vec![-0.5, nets.len() as f64 - 0.5])
                .tick_mode(plotly::common::TickMode::Array)
                .tick_values((0..nets.len()).map(|i| i as f64).collect())
                .tick_text(nets.iter().map(|r| r.net.to_string()).collect()),
        )
        .y_axis(
            Axis::new()
                .title(Title::with_text("first conflicting layer (log scale)"))
                .type_(plotly::layout::AxisType::Log),
        ),
    );
    plot
}

/// Beyond the paper: `H^l` over the hidden layers of one net in
/// every format, after training (solid) and at initialisation (dotted).
pub fn precision_layers(report: &PrecisionReport, net: PrecisionNet) -> Plot {
    let mut plot = Plot::new();
    let Some(r) = report.net(net) else {
        plot.set_layout(layout(
            &format!("{net}: not measured"),
            "hidden layer l",
            "H^l (nats)",
        ));
        return plot;
    };
    let layers: Vec<f64> = (1..=r.num_hidden).map(|l| l as f64).collect();
    for stage in [Stage::Trained, Stage::Init] {
        let s = r.at(stage);
        for f in &s.formats {
            let mut dash = plotly::common::Line::new().color(format_color(f.precision));
            if stage == Stage::Init {
                dash = dash.dash(plotly::common::DashType::Dot);
            }
            plot.add_trace(
                line(
                    layers.clone(),
                    f.entropy.clone(),
                    &format!("{}, {} (step {})", f.precision, stage.name(), s.step),
                )
                .line(dash),
            );
        }
    }
    let last = r.num_hidden.max(1) as f64;
    plot.add_trace(hline(1.0, last, (10f64).ln(), "ln 10 (fully conflicting)"));
    plot.set_layout(layout(
        &format!("{net}: H^l per layer in each float format"),
        "hidden layer l",
        "H^l (nats)",
    ));
    plot
}

/// Writes `plot` as a standalone HTML page (plotly.js from its CDN, so that
/// a sweep's many pages stay small), atomically.
pub fn save_html(plot: &Plot, path: &std::path::Path) -> anyhow::Result<()> {
    let mut plot = plot.clone();
    plot.use_cdn_js();
    crate::util::write_atomic(path, plot.to_html().as_bytes())
}

/// A standalone HTML page that works offline: plotly.js embedded (about
/// 4.6 MB, from the `plotly` crate), `plot` drawn, then `body` (HTML).
pub fn offline_page(title: &str, plot: &Plot, body: &str) -> String {
    // The crate's offline sources are plotly.js and then MathJax (2 MB more);
    // no chart here writes LaTeX, so only the first script is kept.
    let sources = Plot::offline_js_sources();
    let plotly_js = sources
        .find("</script>")
        .map_or(sources.as_str(), |end| &sources[..end + "</script>".len()]);
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n{}\n</head>\n<body>\n{}\n{body}\n</body>\n</html>\n",
        crate::table::escape(title),
        plotly_js,
        plot.to_inline_html(Some("chart")),
    )
}

/// The batch-entropy study: each plain net's test accuracy without and with
/// the regulariser (grouped bars, chance dashed).
pub fn lbe_accuracy(report: &LbeStudyReport) -> Plot {
    let mut plot = Plot::new();
    let nets: Vec<String> = report.config.nets.iter().map(|n| n.to_string()).collect();
    for (regularised, name) in [(false, "without"), (true, "with the regulariser")] {
        let y: Vec<f64> = (report.config.nets.iter())
            .map(|&n| {
                report
                    .run(n, regularised)
                    .map_or(f64::NAN, |r| 100.0 * r.test_accuracy)
            })
            .collect();
        plot.add_trace(plotly::Bar::new(nets.clone(), y).name(name));
    }
    plot.set_layout(layout(
        "Plain nets without and with the batch-entropy regulariser",
        "net",
        "test accuracy [%] (chance: 10)",
    ));
    plot
}

/// The batch-entropy study at the end of training: each run's batch
/// entropy (solid) and bundle entropy `H^l` (dotted) per hidden layer.
pub fn lbe_layers(report: &LbeStudyReport) -> Plot {
    // One colour per run, so that its two lines read as a pair.
    const COLOURS: [&str; 8] = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f",
    ];
    let mut plot = Plot::new();
    for (i, r) in report.runs.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let x: Vec<f64> = (1..=r.batch_entropy.len()).map(|l| l as f64).collect();
        plot.add_trace(
            line(
                x,
                r.batch_entropy.clone(),
                &format!("{}: batch entropy", r.label()),
            )
            .line(plotly::common::Line::new().color(colour)),
        );
        let h = (r.trace.bundles.last()).map_or(vec![], |b| b.entropy.clone());
        let x: Vec<f64> = (1..=h.len()).map(|l| l as f64).collect();
        plot.add_trace(
            line(x, h, &format!("{}: H^l", r.label())).line(
                plotly::common::Line::new()
                    .color(colour)
                    .dash(plotly::common::DashType::Dot),
            ),
        );
    }
    plot.set_layout(layout(
        "Batch entropy and bundle entropy per layer at the end of training",
        "hidden layer l",
        "nats",
    ));
    plot
}
