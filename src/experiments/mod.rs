//! Experiment drivers: one library call per experiment of the paper, shared
//! by the `cb` CLI and the notebooks. Each returns a serde report.

pub mod autotune;
pub mod conv_nets;
pub mod conv_sweep;
pub mod criteria;
pub mod exercises;
pub mod fc_sweep;
pub mod lbe;
pub mod lesion;
pub mod merge;
pub mod overrides;
pub mod precision;
pub mod recorded;
pub mod reuse;
pub mod runner;
pub mod settings;
pub mod shard;
pub mod toy;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

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

/// How large an experiment runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Minutes on 2 CPU cores, for CI: the pipeline runs end to end, the
    /// accuracies mean little.
    Quick,
    /// A notebook's default: at most 20 minutes on a 2-core CPU, on MNIST,
    /// trained long enough that the paper's contrast shows in the accuracies.
    Lesson,
    /// The paper's scale (GPU work).
    Full,
}

impl Preset {
    /// The notebooks' preset: `Quick` when `CB_QUICK` is set (CI), else `Lesson`.
    pub fn from_env() -> Self {
        if quick_mode() {
            Self::Quick
        } else {
            Self::Lesson
        }
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "quick" => Ok(Self::Quick),
            "lesson" => Ok(Self::Lesson),
            "full" => Ok(Self::Full),
            _ => Err(format!(
                "unknown preset {s:?} (expected quick, lesson or full)"
            )),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Quick => "quick",
            Self::Lesson => "lesson",
            Self::Full => "full",
        })
    }
}

/// An experiment's configuration at each [`Preset`]; start from one and
/// override fields.
pub trait Presets: Sized {
    fn quick() -> Self;
    fn lesson() -> Self;
    fn full() -> Self;
    fn preset(p: Preset) -> Self {
        match p {
            Preset::Quick => Self::quick(),
            Preset::Lesson => Self::lesson(),
            Preset::Full => Self::full(),
        }
    }
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
