//! Recorded runs: an experiment's report together with how it was made (the
//! command, the source commit, the machine, the wall time), as committed under
//! `results/`. A notebook charts one at once (`recorded("conv_sweep/lesson")`)
//! and a reader of `docs/results.md` can see where every number came from.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::write_json;

/// A report and the run that made it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recorded<R> {
    /// The command line, as run (`cb conv-sweep --preset lesson ...`).
    pub command: String,
    /// `git describe --always --dirty` of the source tree that ran it.
    pub commit: String,
    /// Cores, CPU model and memory.
    pub machine: String,
    /// When the run ended, UTC (`YYYY-MM-DDTHH:MM:SSZ`).
    pub finished: String,
    /// Wall time of the whole run, data loading included.
    pub wall_seconds: f64,
    pub report: R,
}

/// Where a run began: the time and the source commit, read at the start so
/// that edits to the tree while a long run goes on do not show in its record.
pub struct RunStart {
    at: Instant,
    commit: String,
}

impl RunStart {
    pub fn now() -> Self {
        Self {
            at: Instant::now(),
            commit: commit(),
        }
    }
}

impl<R> Recorded<R> {
    /// Where the report came from, in two lines: the command, then the
    /// commit, machine, wall time and end.
    pub fn provenance(&self) -> String {
        format!(
            "recorded run: `{}`\n  commit {}, {}, {:.1} min, finished {}",
            self.command,
            self.commit,
            self.machine,
            self.wall_seconds / 60.0,
            self.finished
        )
    }
}

impl<R: Serialize> Recorded<R> {
    /// The report of the run of this process that began at `start`.
    pub fn new(report: R, start: &RunStart) -> Self {
        let args: Vec<String> = std::env::args().collect();
        let program = args.first().map_or("cb", |a| {
            Path::new(a)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(a)
        });
        let command = std::iter::once(program.to_string())
            .chain(args.iter().skip(1).cloned())
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            command,
            commit: start.commit.clone(),
            machine: machine(),
            finished: utc_now(),
            wall_seconds: start.at.elapsed().as_secs_f64(),
            report,
        }
    }

    /// Writes it as pretty JSON to `path` (atomically, creating the folder).
    pub fn write(&self, path: &Path) -> Result<()> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        write_json(parent(path), name, self)
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The project's recorded runs: `results/` in the source tree.
pub fn results_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("results")
}

/// The recorded run `results/{name}.json`, for example
/// `recorded::<ConvSweepReport>("conv_sweep/lesson")`.
pub fn recorded<R: DeserializeOwned>(name: &str) -> Result<Recorded<R>> {
    read(&results_dir().join(format!("{name}.json")))
}

/// A recorded run from a file.
pub fn read<R: DeserializeOwned>(path: &Path) -> Result<Recorded<R>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a recorded run of this version", path.display()))
}

fn commit() -> String {
    Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_string())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let field = |file: &str, key: &str| {
        std::fs::read_to_string(file).ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
    };
    let cpu = field("/proc/cpuinfo", "model name").unwrap_or_else(|| std::env::consts::ARCH.into());
    let mem = field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(String::new, |kb| {
            format!(", {:.0} GiB", kb / (1024.0 * 1024.0))
        });
    format!("{cores} cores, {cpu}{mem}")
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ` (UTC), from the Unix time (civil-from-days,
/// proleptic Gregorian calendar).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_371_199), "2026-12-04T07:59:59Z");
    }
}
