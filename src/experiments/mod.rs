//! Experiment drivers: one library call per experiment of the paper, shared
//! by the `cb` CLI and the notebooks. Each returns a serde report.

pub mod fc_sweep;
pub mod toy;
pub mod widths;

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::train::checkpoint::write_atomic;

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
