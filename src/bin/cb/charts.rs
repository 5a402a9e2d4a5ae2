//! `cb charts`: an experiment's charts from its report or a recorded run,
//! without training anything (the gallery, `scripts/figures.sh`, uses it).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use conflicting_bundles::experiments::autotune::AutotuneReport;
use conflicting_bundles::experiments::conv_sweep::ConvSweepReport;
use conflicting_bundles::experiments::criteria::CriteriaReport;
use conflicting_bundles::experiments::fc_sweep::FcSweepReport;
use conflicting_bundles::experiments::lbe::LbeStudyReport;
use conflicting_bundles::experiments::lesion::LesionReport;
use conflicting_bundles::experiments::precision::PrecisionReport;
use conflicting_bundles::experiments::toy::ToyReport;
use conflicting_bundles::figures::{write_figures, Figures};
use conflicting_bundles::report::ModelReport;
use serde::de::DeserializeOwned;

#[derive(clap::Args)]
pub struct Args {
    /// A report (toy.json, fc_sweep.json, conv_sweep.json, autotune.json,
    /// lesion.json, lbe.json, criteria.json, precision_sweep.json, report.json of `cb report`) or a recorded run
    /// (results/<experiment>/<preset>.json)
    file: PathBuf,
    /// Output folder for the charts (<name>.html)
    #[arg(long)]
    out: PathBuf,
}

const EXPERIMENTS: [&str; 9] = [
    "toy",
    "fc_sweep",
    "conv_sweep",
    "autotune",
    "lesion",
    "lbe",
    "criteria",
    "precision_sweep",
    "report",
];

pub fn run(a: Args) -> Result<()> {
    let experiment = experiment(&a.file)?;
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("{}: cannot read", a.file.display()))?;
    let mut json: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not JSON", a.file.display()))?;
    // A recorded run holds the report under "report", beside its command.
    if json.get("command").is_some() {
        if let Some(report) = json.get_mut("report") {
            json = report.take();
        }
    }
    let charts = match experiment {
        "toy" => figures::<ToyReport>(json),
        "fc_sweep" => figures::<FcSweepReport>(json),
        "conv_sweep" => figures::<ConvSweepReport>(json),
        "precision_sweep" => figures::<PrecisionReport>(json),
        "report" => figures::<ModelReport>(json),
        "lesion" => figures::<LesionReport>(json),
        "lbe" => figures::<LbeStudyReport>(json),
        "criteria" => figures::<CriteriaReport>(json),
        _ => figures::<AutotuneReport>(json),
    }
    .with_context(|| format!("{}: not a {experiment} report", a.file.display()))?;
    write_figures(&a.out, &charts)?;
    for (name, _) in &charts {
        outln!("{}", a.out.join(format!("{name}.html")).display())?;
    }
    Ok(())
}

fn figures<R: DeserializeOwned + Figures>(
    json: serde_json::Value,
) -> Result<Vec<(String, plotly::Plot)>> {
    Ok(serde_json::from_value::<R>(json)?.figures())
}

/// The experiment a file belongs to: its name (`fc_sweep.json`) or, for a
/// recorded run, its folder's (`results/fc_sweep/lesson.json`).
fn experiment(file: &Path) -> Result<&'static str> {
    let name = |p: Option<&std::ffi::OsStr>| {
        let p = p.and_then(|s| s.to_str())?;
        EXPERIMENTS.into_iter().find(|e| *e == p)
    };
    match name(file.file_stem()).or_else(|| name(file.parent().and_then(|d| d.file_name()))) {
        Some(e) => Ok(e),
        None => bail!(
            "{}: cannot tell the experiment; name the file or its folder one of {}",
            file.display(),
            EXPERIMENTS.join(", ")
        ),
    }
}
