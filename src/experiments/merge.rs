//! `cb merge`: the shard files of one sweep ([`super::shard`]) put back
//! together into the report an unsharded run writes, with what is missing.
//! Shards of different configurations or shard counts are refused, never
//! mixed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::shard::{
    check_layout, read_shard_file, shard_folders, short, Shard, ShardedReport, SHARD_FILE,
};

/// The shards' results put together.
#[derive(Debug)]
pub struct Merged<R> {
    pub report: R,
    /// Units of the plan no shard file holds, in the plan's order.
    pub missing: Vec<String>,
    /// Units in the plan.
    pub planned: usize,
    /// Shards without a file in `out` (not started, or nothing finished).
    pub absent: Vec<Shard>,
}

impl<R> Merged<R> {
    /// One line on what is missing, `None` when the sweep is complete.
    pub fn missing_line(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let absent = match self.absent.len() {
            0 => String::new(),
            _ => format!(
                " (no file from shard {})",
                self.absent
                    .iter()
                    .map(Shard::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Some(format!(
            "missing {} of {} units{absent}: {}",
            self.missing.len(),
            self.planned,
            self.missing.join(", ")
        ))
    }
}

/// The sweep (`fc_sweep`, ...) whose shard files lie in `out`, checking
/// that every shard folder there belongs to one run of one configuration:
/// the same shard count, and one sweep and configuration hash in every file.
pub fn sweep_in(out: &Path) -> Result<String> {
    Ok(check(out)?.sweep)
}

/// What [`check`] found in a sweep's folder.
struct Checked {
    sweep: String,
    plan: Vec<String>,
    /// Shards in all (N).
    count: usize,
    /// The shards with a file, and its path.
    files: Vec<(Shard, PathBuf)>,
}

/// The files of `out`'s shards, checked as [`sweep_in`] says.
fn check(out: &Path) -> Result<Checked> {
    let folders = shard_folders(out)?;
    let Some((first, _)) = folders.first() else {
        bail!(
            "{}: no shard folders (shard-I-of-N); run the sweep with --shard I/N and this --out first",
            out.display()
        );
    };
    let count = first.count;
    if let Some((other, _)) = folders.iter().find(|(s, _)| s.count != count) {
        bail!(
            "{}: shards of {count} and of {} shards ({} and {}); one sweep per folder",
            out.display(),
            other.count,
            first.folder_name(),
            other.folder_name()
        );
    }
    let mut files = vec![];
    let mut seen: Option<(PathBuf, String, String, Vec<String>)> = None;
    for (shard, dir) in folders {
        let path = dir.join(SHARD_FILE);
        if !path.exists() {
            continue;
        }
        let header = read_shard_file::<serde::de::IgnoredAny>(&path)?;
        if header.shard != shard {
            bail!(
                "{}: holds shard {}, not {shard}; was it moved?",
                path.display(),
                header.shard
            );
        }
        match &seen {
            None => seen = Some((path.clone(), header.sweep, header.config_hash, header.plan)),
            Some((p, sweep, hash, plan)) => {
                if *sweep != header.sweep || *hash != header.config_hash || *plan != header.plan {
                    bail!(
                        "shards of different configurations: {} ({sweep} {}) and {} ({} {}); merge only shards of one run",
                        p.display(),
                        short(hash),
                        path.display(),
                        header.sweep,
                        short(&header.config_hash)
                    );
                }
            }
        }
        files.push((shard, path));
    }
    let Some((_, sweep, _, plan)) = seen else {
        bail!(
            "{}: no shard has written its file ({SHARD_FILE}) yet; nothing to merge",
            out.display()
        );
    };
    Ok(Checked {
        sweep,
        plan,
        count,
        files,
    })
}

/// Merges the shard files of sweep `R` in `out` (checked as [`sweep_in`]
/// says): the report holds every unit any shard finished.
pub fn merge<R: ShardedReport>(out: &Path) -> Result<Merged<R>> {
    let Checked {
        sweep,
        plan,
        count,
        files,
    } = check(out)?;
    if sweep != R::SWEEP {
        bail!(
            "{}: the shards are of {sweep}, not {}",
            out.display(),
            R::SWEEP
        );
    }
    let mut parts = vec![];
    for (_, path) in &files {
        let file = read_shard_file::<R>(path)?;
        check_layout(path, &file)?;
        parts.push(file.report);
    }
    let config = parts[0].config().clone();
    let done: HashSet<String> = parts.iter().flat_map(|p| p.units_done()).collect();
    let missing = plan
        .iter()
        .filter(|u| !done.contains(*u))
        .cloned()
        .collect();
    let absent = (0..count)
        .map(|index| Shard { index, count })
        .filter(|s| files.iter().all(|(f, _)| f != s))
        .collect();
    Ok(Merged {
        report: R::assemble(config, parts),
        missing,
        planned: plan.len(),
        absent,
    })
}
