//! `cb merge`: the shard files of a sweep run with `--shard I/N` put
//! together into its usual report and charts.

use std::fmt::Display;
use std::path::PathBuf;

use anyhow::{bail, Result};
use conflicting_bundles::experiments::autotune::AutotuneReport;
use conflicting_bundles::experiments::conv_sweep::ConvSweepReport;
use conflicting_bundles::experiments::criteria::CriteriaReport;
use conflicting_bundles::experiments::fc_sweep::FcSweepReport;
use conflicting_bundles::experiments::lbe::LbeStudyReport;
use conflicting_bundles::experiments::lesion::LesionReport;
use conflicting_bundles::experiments::merge::{merge, sweep_in};
use conflicting_bundles::experiments::precision::PrecisionReport;
use conflicting_bundles::experiments::shard::ShardedReport;
use conflicting_bundles::experiments::write_json;
use conflicting_bundles::figures::{write_figures, Figures};
use conflicting_bundles::lock::OutLock;

#[derive(clap::Args)]
pub struct Args {
    /// The sweep's --out: the folder holding its shard-I-of-N folders; it
    /// receives the usual report (fc_sweep.json, ...) and charts
    #[arg(long)]
    out: PathBuf,
    /// Write the report of the units done even when some are missing (they
    /// are listed on stderr) instead of failing
    #[arg(long)]
    partial: bool,
}

pub fn run(a: Args) -> Result<()> {
    let sweep = sweep_in(&a.out)?;
    match sweep.as_str() {
        "fc_sweep" => merge_as::<FcSweepReport>(&a),
        "conv_sweep" => merge_as::<ConvSweepReport>(&a),
        "autotune" => merge_as::<AutotuneReport>(&a),
        "lesion" => merge_as::<LesionReport>(&a),
        "lbe" => merge_as::<LbeStudyReport>(&a),
        "criteria" => merge_as::<CriteriaReport>(&a),
        "precision_sweep" => merge_as::<PrecisionReport>(&a),
        other => bail!(
            "{}: shards of {other:?}, which this cb does not know",
            a.out.display()
        ),
    }
}

fn merge_as<R: ShardedReport + Figures + Display>(a: &Args) -> Result<()> {
    // The merged report is one more writer in --out (shards lock only their
    // own folders): one merge at a time, and never beside an unsharded run.
    let _lock = OutLock::acquire(&a.out)?;
    let merged = merge::<R>(&a.out)?;
    let missing = merged.missing_line();
    if let (Some(line), false) = (&missing, a.partial) {
        bail!(
            "{}: {line}; rerun those shards (they resume), or merge with --partial",
            a.out.display()
        );
    }
    let name = format!("{}.json", R::SWEEP);
    write_json(&a.out, &name, &merged.report)?;
    write_figures(&a.out, &merged.report.figures())?;
    outln!("{}", merged.report)?;
    if let Some(line) = missing {
        eprintln!("warning: partial report: {line}");
    }
    outln!(
        "merged {} of {} units into {} and charts (*.html)",
        merged.planned - merged.missing.len(),
        merged.planned,
        a.out.join(name).display()
    )?;
    Ok(())
}
