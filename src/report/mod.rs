//! A bundle report for any network (`cb report`): the metric on every layer
//! of a model whose activations were saved by any framework (a `.npz`, a
//! `.safetensors` file or a folder of `.npy` files, see [`crate::layer_file`]),
//! layer by layer so that a file larger than memory works.
//!
//! The output is what layer-diagnostic tools give for weights, here for the
//! bundle entropy: a per-layer table (features, bundles, the largest
//! bundle's share of the samples, `H^l`, conflicting or not), the first
//! conflicting layer with a one-line reading, and the same as JSON and CSV
//! (its chart is `plots::model_report`).

use std::path::Path;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::bundle::{measure_layer, BundleConfig, Criterion};
use crate::layer_file::LayerFile;
use crate::table::Table;

/// One layer's line of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerRow {
    /// 1-based position in the file.
    pub index: usize,
    pub name: String,
    /// Values per sample (the product of the trailing dimensions).
    pub features: usize,
    pub num_bundles: usize,
    /// The largest bundle's share of the samples (1/N: no two samples
    /// bundled; 1: all collapsed into one).
    pub largest_bundle_share: f64,
    /// `H^l` (eq. 3), in nats.
    pub bundle_entropy: f64,
    /// `H^l > 0`: some bundle holds samples of different classes.
    pub conflicting: bool,
    /// Samples with a NaN or ±Inf activation in this layer.
    pub non_finite: usize,
}

/// The metric on every layer of one model for one set of samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// The activations' file (as given).
    pub activations: String,
    pub labels: String,
    pub num_samples: usize,
    pub config: BundleConfig,
    /// Where resolution mode's `w_max` came from (`--max-weight`, or the
    /// weights file and the tensors that were included).
    pub w_max_source: Option<String>,
    pub layers: Vec<LayerRow>,
}

impl ModelReport {
    /// The first layer whose bundles hold samples of different classes.
    pub fn first_conflicting(&self) -> Option<&LayerRow> {
        self.layers.iter().find(|l| l.conflicting)
    }

    /// What the table says, in one line.
    pub fn reading(&self) -> String {
        let ln_c = (self.config.num_classes as f64).ln();
        let Some(first) = self.first_conflicting() else {
            return format!(
                "no layer bundles samples of different classes (H^l = 0 in all {} layer(s)): \
                 no conflicting bundles at this resolution",
                self.layers.len()
            );
        };
        let last = self.layers.last().expect("a conflicting layer exists");
        let conflicting = self.layers.iter().filter(|l| l.conflicting).count();
        let tail = self.layers.len() - first.index + 1;
        let collapsed = ln_c > 0.0 && last.bundle_entropy >= 0.9 * ln_c;
        let which = if conflicting == tail {
            format!(
                "layers {}-{} ({} to {})",
                first.index, last.index, first.name, last.name
            )
        } else {
            format!(
                "{conflicting} of {} layers, the first layer {} ({}),",
                self.layers.len(),
                first.index,
                first.name
            )
        };
        let which = if first.index == last.index {
            format!("layer {} ({})", first.index, first.name)
        } else {
            which
        };
        let mut line = format!("{which} bundle samples of different classes");
        if conflicting == tail && first.index > 1 {
            line += ": candidates for removal, see auto-tune (cb autotune)";
        }
        if collapsed {
            line += &format!(
                "; the last layer's H^L = {:.2} is near ln C = {ln_c:.2}, so its output \
                 cannot tell the classes apart",
                last.bundle_entropy
            );
        }
        line
    }

    /// The per-layer table with the reading under it.
    pub fn tables(&self) -> Vec<Table> {
        let mut t = Table::new(
            format!(
                "Bundle report: {} ({} samples, {} classes, {})",
                self.activations,
                self.num_samples,
                self.config.num_classes,
                criterion_text(&self.config)
            ),
            &[
                "layer",
                "name",
                "features",
                "bundles",
                "largest",
                "H^l",
                "conflicting",
            ],
        );
        for l in &self.layers {
            t.row(vec![
                l.index.to_string(),
                l.name.clone(),
                l.features.to_string(),
                l.num_bundles.to_string(),
                crate::table::percent(l.largest_bundle_share),
                format!("{:.4}", l.bundle_entropy),
                if l.conflicting { "yes" } else { "no" }.into(),
            ]);
        }
        t.note(format!(
            "first conflicting layer: {}",
            self.first_conflicting()
                .map_or("none".into(), |l| format!("{} ({})", l.index, l.name))
        ));
        t.note(self.reading());
        if self.layers.iter().any(|l| l.non_finite > 0) {
            t.note("some layers hold NaN or ±Inf activations: each such sample is a bundle of its own (see non_finite in report.json)");
        }
        vec![t]
    }

    /// One line per layer, with a header; names are quoted (RFC 4180).
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "index,name,features,num_bundles,largest_bundle_share,bundle_entropy,conflicting,non_finite\n",
        );
        for l in &self.layers {
            s += &format!(
                "{},\"{}\",{},{},{},{},{},{}\n",
                l.index,
                l.name.replace('"', "\"\""),
                l.features,
                l.num_bundles,
                l.largest_bundle_share,
                l.bundle_entropy,
                l.conflicting,
                l.non_finite
            );
        }
        s
    }
}

crate::show_tables!(ModelReport);

/// `resolution f32, w_max 0.25, lr 0.001, batch 64` and the like.
fn criterion_text(c: &BundleConfig) -> String {
    match c.criterion {
        Criterion::Resolution { w_max, precision } => format!(
            "resolution {precision}, w_max {w_max}, lr {}, batch {}",
            c.lr, c.batch_size
        ),
        Criterion::Threshold { gamma } => {
            format!(
                "threshold gamma {gamma}, lr {}, batch {}",
                c.lr, c.batch_size
            )
        }
    }
}

/// Checks that every layer of `file` holds `n` samples, before any is read.
pub fn check_layers(file: &LayerFile, n: usize) -> Result<()> {
    if file.layers().is_empty() {
        bail!("{}: holds no layers", file.path().display());
    }
    for l in file.layers() {
        match l.shape.first() {
            None => bail!(
                "{}: layer '{}' is a 0-d array; expected shape (N, ...)",
                file.path().display(),
                l.name
            ),
            _ if !l.is_float() => bail!(
                "{}: layer '{}' has dtype {}, not a float array (expected float16, bfloat16, float32 or float64)",
                file.path().display(),
                l.name,
                l.dtype
            ),
            Some(&m) if m != n as u64 => bail!(
                "{}: layer '{}' has {m} samples, the labels {n}",
                file.path().display(),
                l.name
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Measures every layer of `file`, one at a time (only one layer's values
/// are in memory), calling `progress(done, total, row)` after each.
pub fn measure_file(
    file: &mut LayerFile,
    labels_path: &Path,
    labels: &[usize],
    cfg: &BundleConfig,
    w_max_source: Option<String>,
    mut progress: impl FnMut(usize, usize, &LayerRow),
) -> Result<ModelReport> {
    check_layers(file, labels.len())?;
    let total = file.layers().len();
    let mut layers = Vec::with_capacity(total);
    for i in 0..total {
        let name = file.layers()[i].name.clone();
        let acts = file.read(i)?;
        let r = measure_layer(&acts.data, labels, cfg)
            .map_err(|e| anyhow::anyhow!("{}: layer '{name}': {e}", file.path().display()))?;
        let row = LayerRow {
            index: i + 1,
            name,
            features: acts.data.len() / labels.len(),
            num_bundles: r.num_bundles,
            largest_bundle_share: r.bundle_sizes.first().copied().unwrap_or(0) as f64
                / labels.len() as f64,
            bundle_entropy: r.bundle_entropy,
            conflicting: r.bundle_entropy > 0.0,
            non_finite: r.non_finite,
        };
        progress(i + 1, total, &row);
        layers.push(row);
    }
    Ok(ModelReport {
        activations: file.path().display().to_string(),
        labels: labels_path.display().to_string(),
        num_samples: labels.len(),
        config: *cfg,
        w_max_source,
        layers,
    })
}

/// The largest absolute value over the tensors of `file` whose names pass
/// `include`, and how many tensors that was (resolution mode's `w_max`: the
/// paper takes it over the hidden layers' weights).
pub fn max_abs_weight(
    file: &mut LayerFile,
    include: impl Fn(&str) -> bool,
) -> Result<(f32, usize)> {
    let mut max = 0.0f32;
    let mut count = 0;
    for i in 0..file.layers().len() {
        if !include(&file.layers()[i].name) {
            continue;
        }
        let values = file.read_values(i)?;
        for &x in &values {
            if !x.is_finite() {
                bail!(
                    "{}: tensor '{}' holds a non-finite weight ({x})",
                    file.path().display(),
                    file.layers()[i].name
                );
            }
            max = max.max(x.abs());
        }
        count += 1;
    }
    if count == 0 {
        bail!(
            "{}: no tensor matches the --weights-include patterns",
            file.path().display()
        );
    }
    Ok((max, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(entropy: &[f64]) -> ModelReport {
        ModelReport {
            activations: "acts.npz".into(),
            labels: "y.npy".into(),
            num_samples: 10,
            config: BundleConfig::resolution(10, 0.5),
            w_max_source: None,
            layers: entropy
                .iter()
                .enumerate()
                .map(|(i, &h)| LayerRow {
                    index: i + 1,
                    name: format!("l{i}"),
                    features: 3,
                    num_bundles: 5,
                    largest_bundle_share: 0.5,
                    bundle_entropy: h,
                    conflicting: h > 0.0,
                    non_finite: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn readings_say_where_conflicts_are_and_what_they_mean() {
        let none = report(&[0.0, 0.0]).reading();
        assert!(
            none.starts_with("no layer bundles") && none.contains("2 layer(s)"),
            "{none}"
        );

        let tail = report(&[0.0, 0.1, 0.5, 2.2]).reading();
        assert!(
            tail.starts_with("layers 2-4 (l1 to l3) bundle samples"),
            "{tail}"
        );
        assert!(tail.contains("candidates for removal"), "{tail}");
        assert!(tail.contains("H^L = 2.20 is near ln C = 2.30"), "{tail}");

        let scattered = report(&[0.0, 0.3, 0.0, 0.1]).reading();
        assert!(
            scattered.starts_with("2 of 4 layers, the first layer 2 (l1),"),
            "{scattered}"
        );
        assert!(
            !scattered.contains("removal") && !scattered.contains("ln C"),
            "{scattered}"
        );

        let first = report(&[0.4, 0.4]).reading();
        assert!(
            !first.contains("removal"),
            "the first layer cannot be cut: {first}"
        );
    }

    #[test]
    fn csv_quotes_names_and_has_a_line_per_layer() {
        let mut r = report(&[0.0, 0.7]);
        r.layers[1].name = "a \"b\", c".into();
        let csv = r.to_csv();
        assert_eq!(csv.lines().count(), 3);
        assert!(
            csv.lines()
                .nth(2)
                .unwrap()
                .starts_with("2,\"a \"\"b\"\", c\",3,5,0.5,0.7,true,0"),
            "{csv}"
        );
        assert_eq!(r.first_conflicting().map(|l| l.index), Some(2));
        assert!(r.to_string().contains("first conflicting layer: 2"));
    }
}
