//! A layer report for any network (`cb report`): per-layer criteria on every
//! layer of a model whose activations were saved by any framework (a `.npz`,
//! a `.safetensors` file or a folder of `.npy` files, see
//! [`crate::layer_file`]), streamed layer by layer so that a file larger
//! than memory works.
//!
//! The criteria ([`LayerCriterion`], `--criteria`): the bundle metric (the
//! default, alone), batch entropy, the angular distance between layers `l`
//! and `l + n`, and block influence (a layer's input is the previous layer's
//! output in the file), from [`crate::criteria`]. The two similarities need
//! earlier layers: at most the last `n + 1` layers' values are in memory.
//!
//! The output is what layer-diagnostic tools give for weights, here for the
//! bundle entropy: a per-layer table (features, bundles, the largest
//! bundle's share of the samples, `H^l`, conflicting or not, a column per
//! further criterion), the first conflicting layer with a one-line reading,
//! and the same as JSON and CSV (its chart is `plots::model_report`).

use std::collections::VecDeque;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Result};
use serde::{Deserialize, Deserializer, Serialize};

use crate::bundle::{measure_layer, BundleConfig, Criterion};
use crate::layer_file::LayerFile;
use crate::table::Table;

/// A per-layer criterion of the report (`--criteria`, in this order in
/// every output whatever the order given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerCriterion {
    /// The bundle entropy `H^l` and the bundles (needs the metric's configuration).
    Bundle,
    /// [`crate::criteria::batch_entropy`] of the layer's outputs.
    BatchEntropy,
    /// [`crate::criteria::angular_distance`] between layers `l` and `l + n`.
    Angular,
    /// [`crate::criteria::block_influence`], the layer's input being layer `l - 1`'s output.
    BlockInfluence,
}

impl LayerCriterion {
    pub const ALL: [LayerCriterion; 4] = [
        LayerCriterion::Bundle,
        LayerCriterion::BatchEntropy,
        LayerCriterion::Angular,
        LayerCriterion::BlockInfluence,
    ];

    /// The name `--criteria` takes.
    pub fn name(self) -> &'static str {
        match self {
            LayerCriterion::Bundle => "bundle",
            LayerCriterion::BatchEntropy => "batch-entropy",
            LayerCriterion::Angular => "angular",
            LayerCriterion::BlockInfluence => "block-influence",
        }
    }

    /// Its key in report.json's layers and its CSV column (a score: not
    /// for `Bundle`, which has several columns).
    fn key(self) -> &'static str {
        match self {
            LayerCriterion::Bundle => "bundle_entropy",
            LayerCriterion::BatchEntropy => "batch_entropy",
            LayerCriterion::Angular => "angular_distance",
            LayerCriterion::BlockInfluence => "block_influence",
        }
    }
}

impl FromStr for LayerCriterion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|c| c.name()).collect();
                format!("unknown criterion '{s}' (expected {})", names.join(", "))
            })
    }
}

/// The bundle metric's numbers for one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerBundles {
    pub num_bundles: usize,
    /// The largest bundle's share of the samples (1/N: no two samples
    /// bundled; 1: all collapsed into one).
    pub largest_bundle_share: f64,
    /// `H^l` (eq. 3), in nats.
    pub bundle_entropy: f64,
    /// `H^l > 0`: some bundle holds samples of different classes.
    pub conflicting: bool,
}

/// One layer's line of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerRow {
    /// 1-based position in the file.
    pub index: usize,
    pub name: String,
    /// Values per sample (the product of the trailing dimensions).
    pub features: usize,
    /// The bundle metric, when `bundle` was selected (flattened: report.json
    /// keeps the fields of the reports written before `--criteria`).
    #[serde(flatten)]
    pub bundle: Option<LayerBundles>,
    /// Samples with a NaN or ±Inf activation in this layer.
    pub non_finite: usize,
    /// Batch entropy (nats), when selected; absent from older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_entropy: Option<f64>,
    /// Angular distance to layer `index + angular_skip`, when selected;
    /// `Some(None)` (null) where not applicable: no such layer, or another width.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "selected"
    )]
    pub angular_distance: Option<Option<f64>>,
    /// Block influence from the previous layer's output, when selected;
    /// `Some(None)` (null) for the first layer and where the widths differ.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "selected"
    )]
    pub block_influence: Option<Option<f64>>,
}

/// A present key is a selected criterion, `null` included (serde would read
/// `null` as an unselected `None`); an absent key falls to `default`.
fn selected<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

impl LayerRow {
    /// A criterion other than `Bundle`: `None` when not selected, `Some(None)`
    /// where not applicable.
    pub fn score(&self, c: LayerCriterion) -> Option<Option<f64>> {
        match c {
            LayerCriterion::Bundle => self.bundle.as_ref().map(|b| Some(b.bundle_entropy)),
            LayerCriterion::BatchEntropy => self.batch_entropy.map(Some),
            LayerCriterion::Angular => self.angular_distance,
            LayerCriterion::BlockInfluence => self.block_influence,
        }
    }
}

/// The criteria per layer of one model for one set of samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// The activations' file (as given).
    pub activations: String,
    pub labels: String,
    pub num_samples: usize,
    /// The selected criteria, in [`LayerCriterion`]'s order (absent from
    /// report.json when only `bundle`, as before `--criteria`).
    #[serde(default = "bundle_only", skip_serializing_if = "is_bundle_only")]
    pub criteria: Vec<LayerCriterion>,
    /// The angular distance's `n`, when selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub angular_skip: Option<usize>,
    /// The bundle metric's configuration, when `bundle` is selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BundleConfig>,
    /// Where resolution mode's `w_max` came from (`--max-weight`, or the
    /// weights file and the tensors that were included).
    pub w_max_source: Option<String>,
    pub layers: Vec<LayerRow>,
}

fn bundle_only() -> Vec<LayerCriterion> {
    vec![LayerCriterion::Bundle]
}

fn is_bundle_only(c: &[LayerCriterion]) -> bool {
    c == [LayerCriterion::Bundle]
}

/// What [`measure_file`] computes.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Any order, repeats allowed (the report keeps each once, in order).
    pub criteria: Vec<LayerCriterion>,
    /// The angular distance's `n` (layers `l` and `l + n`); at least 1.
    pub angular_skip: usize,
    /// The bundle metric's configuration: given exactly when `bundle` is selected.
    pub bundle: Option<BundleConfig>,
    /// Where `w_max` came from, for the report.
    pub w_max_source: Option<String>,
}

impl Plan {
    /// The default: the bundle metric alone.
    pub fn bundle(cfg: BundleConfig, w_max_source: Option<String>) -> Self {
        Plan {
            criteria: bundle_only(),
            angular_skip: 1,
            bundle: Some(cfg),
            w_max_source,
        }
    }

    /// The selected criteria once each, in order; an error for a plan that
    /// cannot run (bundle without its configuration or the reverse, n = 0).
    fn selected(&self) -> Result<Vec<LayerCriterion>> {
        let mut c = self.criteria.clone();
        c.sort();
        c.dedup();
        if c.is_empty() {
            bail!("no criterion selected");
        }
        match (c.contains(&LayerCriterion::Bundle), &self.bundle) {
            (true, None) => {
                bail!("the bundle criterion needs its configuration (--max-weight, --weights or --gamma)")
            }
            (false, Some(_)) => {
                bail!("a bundle configuration was given but the bundle criterion is not selected")
            }
            _ => {}
        }
        if c.contains(&LayerCriterion::Angular) && self.angular_skip == 0 {
            bail!("the angular distance's layer skip must be at least 1");
        }
        Ok(c)
    }
}

impl ModelReport {
    /// The first layer whose bundles hold samples of different classes.
    pub fn first_conflicting(&self) -> Option<&LayerRow> {
        self.layers
            .iter()
            .find(|l| l.bundle.as_ref().is_some_and(|b| b.conflicting))
    }

    /// The selected criteria other than `bundle`, each a column of its own.
    pub fn scores(&self) -> impl Iterator<Item = LayerCriterion> + '_ {
        self.criteria
            .iter()
            .copied()
            .filter(|&c| c != LayerCriterion::Bundle)
    }

    /// A score's name in the table's header and the chart's legend.
    pub fn score_title(&self, c: LayerCriterion) -> String {
        match c {
            LayerCriterion::Bundle => "H^l".into(),
            LayerCriterion::BatchEntropy => "batch entropy".into(),
            LayerCriterion::Angular => {
                format!("angular (l, l+{})", self.angular_skip.unwrap_or(1))
            }
            LayerCriterion::BlockInfluence => "block influence".into(),
        }
    }

    /// What the bundle columns say, in one line (`None` without them).
    pub fn reading(&self) -> Option<String> {
        let config = self.config.as_ref()?;
        let entropy = |l: &LayerRow| l.bundle.as_ref().map_or(0.0, |b| b.bundle_entropy);
        let ln_c = (config.num_classes as f64).ln();
        let Some(first) = self.first_conflicting() else {
            return Some(format!(
                "no layer bundles samples of different classes (H^l = 0 in all {} layer(s)): \
                 no conflicting bundles at this resolution",
                self.layers.len()
            ));
        };
        let last = self.layers.last().expect("a conflicting layer exists");
        let conflicting = self
            .layers
            .iter()
            .filter(|l| l.bundle.as_ref().is_some_and(|b| b.conflicting))
            .count();
        let tail = self.layers.len() - first.index + 1;
        let collapsed = ln_c > 0.0 && entropy(last) >= 0.9 * ln_c;
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
                entropy(last)
            );
        }
        Some(line)
    }

    /// The per-layer table with the reading under it.
    pub fn tables(&self) -> Vec<Table> {
        let title = match &self.config {
            Some(config) => format!(
                "Bundle report: {} ({} samples, {} classes, {})",
                self.activations,
                self.num_samples,
                config.num_classes,
                criterion_text(config)
            ),
            None => format!(
                "Layer report: {} ({} samples)",
                self.activations, self.num_samples
            ),
        };
        let mut header: Vec<String> = ["layer", "name", "features"].map(String::from).into();
        if self.config.is_some() {
            header.extend(["bundles", "largest", "H^l", "conflicting"].map(String::from));
        }
        header.extend(self.scores().map(|c| self.score_title(c)));
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut t = Table::new(title, &header);
        for l in &self.layers {
            let mut row = vec![l.index.to_string(), l.name.clone(), l.features.to_string()];
            if let Some(b) = &l.bundle {
                row.extend([
                    b.num_bundles.to_string(),
                    crate::table::percent(b.largest_bundle_share),
                    format!("{:.4}", b.bundle_entropy),
                    if b.conflicting { "yes" } else { "no" }.into(),
                ]);
            }
            row.extend(self.scores().map(|c| match l.score(c).flatten() {
                Some(v) => format!("{v:.4}"),
                None => "n/a".into(),
            }));
            t.row(row);
        }
        if let Some(reading) = self.reading() {
            t.note(format!(
                "first conflicting layer: {}",
                self.first_conflicting()
                    .map_or("none".into(), |l| format!("{} ({})", l.index, l.name))
            ));
            t.note(reading);
        }
        let similarities: Vec<&str> = self
            .scores()
            .filter_map(|c| match c {
                LayerCriterion::Angular => {
                    Some("angular: the angular distance between layer l's and layer l+n's outputs")
                }
                LayerCriterion::BlockInfluence => Some(
                    "block influence: 1 - cos between layer l-1's output (layer l's input) and layer l's",
                ),
                _ => None,
            })
            .collect();
        if !similarities.is_empty() {
            t.note(format!(
                "{}; n/a where there is no such layer or the widths differ",
                similarities.join("; ")
            ));
        }
        if self.layers.iter().any(|l| l.non_finite > 0) {
            if self.config.is_some() {
                t.note("some layers hold NaN or ±Inf activations: each such sample is a bundle of its own (see non_finite in report.json)");
            }
            if self.scores().next().is_some() {
                t.note("some layers hold NaN or ±Inf activations: their other criteria are NaN (null in report.json)");
            }
        }
        vec![t]
    }

    /// One line per layer, with a header; names are quoted (RFC 4180), a
    /// criterion that does not apply to a layer is empty.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("index,name,features");
        if self.config.is_some() {
            s += ",num_bundles,largest_bundle_share,bundle_entropy,conflicting";
        }
        s += ",non_finite";
        for c in self.scores() {
            s += ",";
            s += c.key();
        }
        s += "\n";
        for l in &self.layers {
            s += &format!(
                "{},\"{}\",{}",
                l.index,
                l.name.replace('"', "\"\""),
                l.features
            );
            if let Some(b) = &l.bundle {
                s += &format!(
                    ",{},{},{},{}",
                    b.num_bundles, b.largest_bundle_share, b.bundle_entropy, b.conflicting
                );
            }
            s += &format!(",{}", l.non_finite);
            for c in self.scores() {
                s += ",";
                if let Some(v) = l.score(c).flatten() {
                    s += &v.to_string();
                }
            }
            s += "\n";
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

/// Measures every layer of `file` in order, calling `progress(done, total,
/// row)` after each with what is known of it then (its angular distance
/// comes `n` layers later). Only the layers the similarities still need
/// are kept: the last `n` (angular) or 1 (block influence) besides the one
/// being read.
pub fn measure_file(
    file: &mut LayerFile,
    labels_path: &Path,
    labels: &[usize],
    plan: &Plan,
    mut progress: impl FnMut(usize, usize, &LayerRow),
) -> Result<ModelReport> {
    let criteria = plan.selected()?;
    let has = |c| criteria.contains(&c);
    check_layers(file, labels.len())?;
    let n = labels.len();
    if has(LayerCriterion::BatchEntropy) && n < 2 {
        bail!("batch entropy needs at least 2 samples (the labels hold {n})");
    }
    let skip = has(LayerCriterion::Angular).then_some(plan.angular_skip);
    let keep = skip
        .unwrap_or(0)
        .max(has(LayerCriterion::BlockInfluence) as usize);
    // The previous layers' values, oldest first, at most `keep` of them.
    let mut recent: VecDeque<Vec<f32>> = VecDeque::with_capacity(keep);
    let total = file.layers().len();
    let mut layers: Vec<LayerRow> = Vec::with_capacity(total);
    for i in 0..total {
        let name = file.layers()[i].name.clone();
        let acts = file.read(i)?.data;
        let path = file.path().display();
        let in_layer = |e: anyhow::Error| anyhow::anyhow!("{path}: layer '{name}': {e}");
        let features = acts.len() / n;
        let mut non_finite = if features == 0 {
            0
        } else {
            acts.chunks_exact(features)
                .filter(|r| r.iter().any(|x| !x.is_finite()))
                .count()
        };
        let bundle = match &plan.bundle {
            Some(cfg) => {
                let r = measure_layer(&acts, labels, cfg).map_err(|e| in_layer(e.into()))?;
                non_finite = r.non_finite;
                Some(LayerBundles {
                    num_bundles: r.num_bundles,
                    largest_bundle_share: r.bundle_sizes.first().copied().unwrap_or(0) as f64
                        / n as f64,
                    bundle_entropy: r.bundle_entropy,
                    conflicting: r.bundle_entropy > 0.0,
                })
            }
            None => None,
        };
        let batch_entropy = match has(LayerCriterion::BatchEntropy) {
            true => Some(crate::criteria::batch_entropy(&acts, n).map_err(in_layer)?),
            false => None,
        };
        let block_influence = match has(LayerCriterion::BlockInfluence) {
            true => Some(match recent.back() {
                Some(input) => similarity(crate::criteria::block_influence, input, &acts, n)
                    .map_err(in_layer)?,
                None => None,
            }),
            false => None,
        };
        if let Some(skip) = skip {
            // This layer is layer `l + skip` of the layer `skip` back.
            if let Some(l) = i.checked_sub(skip) {
                let a = &recent[recent.len() - skip];
                layers[l].angular_distance = Some(
                    similarity(crate::criteria::angular_distance, a, &acts, n).map_err(in_layer)?,
                );
            }
        }
        let row = LayerRow {
            index: i + 1,
            name,
            features,
            bundle,
            non_finite,
            batch_entropy,
            angular_distance: None,
            block_influence,
        };
        progress(i + 1, total, &row);
        layers.push(row);
        if keep > 0 {
            if recent.len() == keep {
                recent.pop_front();
            }
            recent.push_back(acts);
        }
    }
    if skip.is_some() {
        // The last `skip` layers have no layer `l + skip`.
        for row in layers.iter_mut().filter(|r| r.angular_distance.is_none()) {
            row.angular_distance = Some(None);
        }
    }
    Ok(ModelReport {
        activations: file.path().display().to_string(),
        labels: labels_path.display().to_string(),
        num_samples: n,
        angular_skip: skip,
        config: plan.bundle,
        w_max_source: plan.w_max_source.clone(),
        criteria,
        layers,
    })
}

/// A similarity of two layers' outputs, `None` (not applicable) where their
/// widths differ: there is no cosine between vectors of different lengths.
fn similarity(
    f: fn(&[f32], &[f32], usize) -> Result<f64>,
    a: &[f32],
    b: &[f32],
    n: usize,
) -> Result<Option<f64>> {
    if a.len() != b.len() {
        return Ok(None);
    }
    f(a, b, n).map(Some)
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
            criteria: bundle_only(),
            angular_skip: None,
            config: Some(BundleConfig::resolution(10, 0.5)),
            w_max_source: None,
            layers: entropy
                .iter()
                .enumerate()
                .map(|(i, &h)| LayerRow {
                    index: i + 1,
                    name: format!("l{i}"),
                    features: 3,
                    bundle: Some(LayerBundles {
                        num_bundles: 5,
                        largest_bundle_share: 0.5,
                        bundle_entropy: h,
                        conflicting: h > 0.0,
                    }),
                    non_finite: 0,
                    batch_entropy: None,
                    angular_distance: None,
                    block_influence: None,
                })
                .collect(),
        }
    }

    #[test]
    fn readings_say_where_conflicts_are_and_what_they_mean() {
        let none = report(&[0.0, 0.0]).reading().unwrap();
        assert!(
            none.starts_with("no layer bundles") && none.contains("2 layer(s)"),
            "{none}"
        );

        let tail = report(&[0.0, 0.1, 0.5, 2.2]).reading().unwrap();
        assert!(
            tail.starts_with("layers 2-4 (l1 to l3) bundle samples"),
            "{tail}"
        );
        assert!(tail.contains("candidates for removal"), "{tail}");
        assert!(tail.contains("H^L = 2.20 is near ln C = 2.30"), "{tail}");

        let scattered = report(&[0.0, 0.3, 0.0, 0.1]).reading().unwrap();
        assert!(
            scattered.starts_with("2 of 4 layers, the first layer 2 (l1),"),
            "{scattered}"
        );
        assert!(
            !scattered.contains("removal") && !scattered.contains("ln C"),
            "{scattered}"
        );

        let first = report(&[0.4, 0.4]).reading().unwrap();
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

    #[test]
    fn reports_without_criteria_load_and_scores_round_trip_with_null_for_not_applicable() {
        // A report.json written before --criteria: no criteria keys.
        let old = report(&[0.0, 0.7]);
        let json = serde_json::to_value(&old).unwrap();
        for key in ["criteria", "angular_skip"] {
            assert!(json.get(key).is_none(), "{key} in {json}");
        }
        assert!(json["layers"][0].get("batch_entropy").is_none(), "{json}");
        assert_eq!(json["layers"][1]["bundle_entropy"], 0.7);
        let back: ModelReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, old);

        let mut r = report(&[0.0, 0.7]);
        r.criteria = vec![
            LayerCriterion::BatchEntropy,
            LayerCriterion::Angular,
            LayerCriterion::BlockInfluence,
        ];
        r.angular_skip = Some(1);
        r.config = None;
        for (l, row) in r.layers.iter_mut().enumerate() {
            row.bundle = None;
            row.batch_entropy = Some(1.5);
            row.angular_distance = Some([Some(0.25), None][l]);
            row.block_influence = Some([None, Some(0.125)][l]);
        }
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["layers"][0]["block_influence"].is_null(), "{json}");
        assert!(json["layers"][0].get("bundle_entropy").is_none(), "{json}");
        assert_eq!(json["layers"][0]["angular_distance"], 0.25);
        let back: ModelReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r, "null stays 'not applicable', not 'not selected'");

        let csv = r.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "index,name,features,non_finite,batch_entropy,angular_distance,block_influence"
        );
        assert_eq!(lines[1], "1,\"l0\",3,0,1.5,0.25,");
        assert_eq!(lines[2], "2,\"l1\",3,0,1.5,,0.125");
        let text = r.to_string();
        assert!(
            text.contains("n/a") && !text.contains("first conflicting"),
            "{text}"
        );
        assert!(r.reading().is_none());
    }

    #[test]
    fn criteria_names_parse_and_unknown_ones_are_listed() {
        for c in LayerCriterion::ALL {
            assert_eq!(c.name().parse::<LayerCriterion>(), Ok(c));
        }
        let e = "entropy".parse::<LayerCriterion>().unwrap_err();
        assert!(
            e.contains("'entropy'") && e.contains("block-influence"),
            "{e}"
        );
    }
}
