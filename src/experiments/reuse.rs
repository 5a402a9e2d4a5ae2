//! What a notebook's run cell calls: a sweep's recorded run when the
//! configuration is one that was recorded (the lesson preset, as the
//! notebooks open), else a run of it in a folder of its own.
//!
//! The folder is named after the configuration (`out/fc_sweep-1a2b3c4d`,
//! the first 8 hex digits of [`config_hash`]), so a changed knob never meets
//! a report of another configuration: it trains in its own folder, and
//! running the same configuration again resumes what that folder holds.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::recorded::{read, results_dir, Recorded};
use super::runner::{self, Sweep, SweepDevice};
use super::shard::{config_hash, ShardedReport};
use crate::train::ProgressMode;

/// The report of `sweep`: its recorded run if one under `results/` has
/// this configuration, else [`runner::run_in`] into
/// `out/<sweep>-<hash>` of the source tree ([`out_dir_for`]).
pub fn recorded_or_run<S: Sweep, D: SweepDevice>(
    dev: &D,
    sweep: &S,
    data_dir: &Path,
    progress: ProgressMode,
) -> Result<S::Report> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("out");
    recorded_or_run_in(dev, sweep, data_dir, &root, progress)
}

/// [`recorded_or_run`] with the run's folder under `out_root`.
pub fn recorded_or_run_in<S: Sweep, D: SweepDevice>(
    dev: &D,
    sweep: &S,
    data_dir: &Path,
    out_root: &Path,
    progress: ProgressMode,
) -> Result<S::Report> {
    if let Some(run) = find_recorded::<S::Report>(sweep.config())? {
        progress.line(&run.provenance());
        return Ok(run.report);
    }
    let out = out_dir_for::<S::Report>(out_root, sweep.config());
    progress.line(&format!(
        "not a recorded configuration: running it in {} (a rerun resumes there)",
        out.display()
    ));
    runner::run_in(dev, sweep, data_dir, Some(&out), progress)
}

/// The folder a configuration runs in: `<out_root>/<sweep>-<8 hex digits of
/// its hash>`.
pub fn out_dir_for<R: ShardedReport>(out_root: &Path, config: &R::Config) -> PathBuf {
    out_root.join(format!("{}-{}", R::SWEEP, &config_hash(config)[..8]))
}

/// The recorded run of `results/<sweep>/*.json` made with `config`, if any.
pub fn find_recorded<R: ShardedReport>(config: &R::Config) -> Result<Option<Recorded<R>>> {
    let dir = results_dir().join(R::SWEEP);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(None);
    };
    let mut files: Vec<PathBuf> = (entries.filter_map(|e| e.ok()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let run: Recorded<R> = read(&path)?;
        if run.report.config() == config {
            return Ok(Some(run));
        }
    }
    Ok(None)
}
