//! Experiment drivers: one library call per experiment of the paper, shared
//! by the `cb` CLI and the notebooks. Each returns a serde report.

pub mod autotune;
pub mod conv_nets;
pub mod conv_sweep;
pub mod fc_sweep;
pub mod toy;

use std::path::Path;

use anyhow::{bail, Result};
use serde::{de::DeserializeOwned, Serialize};

use crate::train::ProgressMode;
use crate::util::write_atomic;

/// Writes `value` as pretty JSON to `dir/name` (atomically), creating `dir`.
pub fn write_json<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    write_atomic(
        &dir.join(name),
        serde_json::to_string_pretty(value)?.as_bytes(),
    )
}

/// True when the environment asks for quick mode (`CB_QUICK=1`, as the
/// notebooks' CI run sets): drivers then pick their CPU-minutes configs.
pub fn quick_mode() -> bool {
    std::env::var("CB_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The report `dir/name` left by an earlier run, if there is one; it must
/// pass `same_config` (a resumed run continues the same experiment).
pub fn open_report<R: DeserializeOwned>(
    dir: Option<&Path>,
    name: &str,
    same_config: impl Fn(&R) -> bool,
) -> Result<Option<R>> {
    let Some(path) = dir.map(|d| d.join(name)).filter(|p| p.exists()) else {
        return Ok(None);
    };
    let old: R = serde_json::from_slice(&std::fs::read(&path)?)
        .map_err(|e| anyhow::anyhow!("{}: not a readable report ({e})", path.display()))?;
    if !same_config(&old) {
        bail!(
            "{}: written by a run with another configuration; use another --out",
            path.display()
        );
    }
    Ok(Some(old))
}

/// A progress line between nets (see [`ProgressMode::line`]).
pub fn note(progress: ProgressMode, line: &str) {
    progress.line(line)
}
