//! Sweeps split across machines: `--shard I/N` runs one share of
//! a sweep's units (its nets, or auto-tune's seeds), and `cb merge` puts the
//! shares back together ([`super::merge`]). A scheduler (Slurm job arrays,
//! `scripts/slurm/`) starts the shards; nothing here talks to a scheduler.
//!
//! **Assignment.** Shards are numbered from 0: `--shard I/N` with
//! `0 <= I < N`, so that Slurm's `$SLURM_ARRAY_TASK_ID` of `--array=0-(N-1)`
//! is `I` as it is. The sweep plans its units in the order an unsharded run
//! trains them, and deals them out in snake order: unit `u` is in round
//! `r = u / N` at place `p = u % N`, and goes to shard `p` in even rounds and
//! to shard `N - 1 - p` in odd ones (0, 1, 2, 2, 1, 0, 0, 1, ... for N = 3).
//! Every shard gets `floor` or `ceil` of units / N. Dealt, not cut into
//! contiguous blocks: the plans list depths in ascending order inside each
//! width or architecture, and a net's cost grows with its depth, so blocks
//! would give one shard all the deep nets; snake rather than plain round
//! robin because with N equal to the number of depths, plain round robin
//! gives the last shard the deepest net of every width (the quick conv
//! sweep's three depths on three shards). The plan depends only on the
//! configuration (and, for the FC sweep, the training set's length), so
//! every shard computes the same plan and the same assignment on its own.
//!
//! **Same results.** Each unit is seeded from the configuration alone (the
//! net's initialisation and data order come from the sweep's seed, or the
//! boundary net's or auto-tune run's own seed), never from what ran before
//! it, so a unit trained in a shard gives what the unsharded run gives for
//! it, bit for bit on the same device (wall times aside).
//!
//! **Files.** Shards share one `--out` (a network file system) but each
//! writes only its own folder `<out>/shard-I-of-N/`, which it locks
//! ([`OutLock`]): shards never wait on each other, and two runs of the same
//! shard are refused as two runs of one sweep are. The folder holds
//! [`SHARD_FILE`] (a [`ShardFile`]: the sweep's name, its configuration, the
//! configuration's hash, the shard, the whole plan, and the shard's part of
//! the usual report), written after every unit, so a killed shard resumes
//! where it stopped; auto-tune's run folders go there too.
//!
//! **Hash.** [`config_hash`]: SHA-256 (hex) of the configuration's compact
//! serde JSON. Serde writes a struct's fields in declaration order, so the
//! hash is stable for one version of the configuration; any change of a
//! setting changes it. A shard refuses to start next to shard files of
//! another hash or shard count, and `cb merge` refuses to mix them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{open_report, write_json};
use crate::data::checksum::sha256_hex;
use crate::lock::OutLock;

/// One shard's file inside its folder.
pub const SHARD_FILE: &str = "shard.json";

/// Shard `index` of `count` (0-based), see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether this shard trains unit `unit` (its position in the plan),
    /// dealt in snake order (see the module docs).
    pub fn owns(&self, unit: usize) -> bool {
        let (round, place) = (unit / self.count, unit % self.count);
        let shard = if round % 2 == 0 {
            place
        } else {
            self.count - 1 - place
        };
        shard == self.index
    }

    /// `shard-I-of-N`: the shard's folder inside the sweep's `--out`.
    pub fn folder_name(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// The shard of a folder named by [`Shard::folder_name`], if it is one.
    pub fn from_folder_name(name: &str) -> Option<Self> {
        let (i, n) = name.strip_prefix("shard-")?.split_once("-of-")?;
        let shard = Self {
            index: i.parse().ok()?,
            count: n.parse().ok()?,
        };
        (shard.index < shard.count && shard.folder_name() == name).then_some(shard)
    }
}

impl FromStr for Shard {
    type Err = String;
    /// `I/N` with `0 <= I < N`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || {
            "expected I/N with 0 <= I < N, e.g. 0/3 (shards count from 0, as Slurm's array index)"
                .to_string()
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// SHA-256 (hex) of `config`'s compact JSON: equal for equal configurations.
pub fn config_hash<C: Serialize>(config: &C) -> String {
    sha256_hex(&serde_json::to_vec(config).expect("a configuration serialises"))
}

/// A sweep's report, as the shards and `cb merge` handle it: which units it
/// holds, and how parts of it add up to what an unsharded run writes.
pub trait ShardedReport: Serialize + DeserializeOwned + Sized {
    type Config: Serialize + DeserializeOwned + PartialEq + Clone;
    /// The sweep's name: its report is `<SWEEP>.json`.
    const SWEEP: &'static str;
    fn config(&self) -> &Self::Config;
    /// The labels (as in the plan) of the units this report holds results of.
    fn units_done(&self) -> Vec<String>;
    /// The report of `config` holding every result of `parts`, each in the
    /// order an unsharded run writes them.
    fn assemble(config: Self::Config, parts: Vec<Self>) -> Self;
}

/// [`SHARD_FILE`]: one shard's part of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardFile<R> {
    /// [`ShardedReport::SWEEP`].
    pub sweep: String,
    /// [`config_hash`] of the report's configuration.
    pub config_hash: String,
    pub shard: Shard,
    /// Every unit of the sweep (all shards'), in the unsharded run's order:
    /// what `cb merge` checks for completeness.
    pub plan: Vec<String>,
    /// The usual report, holding this shard's units only.
    pub report: R,
}

/// The part of a [`ShardFile`] read before knowing the sweep.
#[derive(Deserialize)]
pub struct ShardHeader {
    pub sweep: String,
    pub config_hash: String,
    pub shard: Shard,
    pub plan: Vec<String>,
}

/// Where a sweep run keeps its report: nowhere, the usual `<SWEEP>.json`
/// in its output folder, or one shard's [`ShardFile`] in the shard's folder.
/// Holds that folder's lock for as long as it lives.
pub struct Output {
    dir: Option<PathBuf>,
    shard: Option<Shard>,
    plan: Vec<String>,
    _lock: Option<OutLock>,
}

impl Output {
    /// Locks the folder the run writes: `out`, or `out/shard-I-of-N/` for a
    /// shard (see the module docs). No folder, no lock.
    pub fn lock(out: Option<&Path>, shard: Option<Shard>) -> Result<Self> {
        let dir = match (out, shard) {
            (Some(out), Some(s)) => Some(out.join(s.folder_name())),
            (Some(out), None) => Some(out.to_path_buf()),
            (None, Some(_)) => bail!("a shard needs an output folder (--out)"),
            (None, None) => None,
        };
        let lock = dir.as_deref().map(OutLock::acquire).transpose()?;
        Ok(Self {
            dir,
            shard,
            plan: vec![],
            _lock: lock,
        })
    }

    /// The folder this run writes, if any (a shard's own folder).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Whether this run trains unit `unit` of the plan (all of them unsharded).
    pub fn owns(&self, unit: usize) -> bool {
        self.shard.is_none_or(|s| s.owns(unit))
    }

    /// The report an earlier run of this folder left, which must be of
    /// `config` (a resumed run continues the same experiment), or an empty
    /// one from `empty`; `plan` labels the sweep's units in order. A shard
    /// also refuses to join shards of another configuration or count.
    pub fn resume<R: ShardedReport>(
        &mut self,
        config: &R::Config,
        plan: Vec<String>,
        empty: impl FnOnce() -> R,
    ) -> Result<R> {
        self.plan = plan;
        let Some(shard) = self.shard else {
            let name = format!("{}.json", R::SWEEP);
            let old = open_report(self.dir.as_deref(), &name, |r: &R| r.config() == config)?;
            return Ok(old.unwrap_or_else(empty));
        };
        let dir = self.dir.as_deref().expect("a shard has a folder");
        let out = dir.parent().expect("a shard folder lies in --out");
        let hash = config_hash(config);
        for (path, header) in shard_headers(out)? {
            if header.sweep == R::SWEEP && header.config_hash != hash {
                check_layout(&path, &read_shard_file::<R>(&path)?)?;
            }
            if header.sweep != R::SWEEP || header.config_hash != hash {
                bail!(
                    "{}: a shard of another configuration ({} {}, this run {} {}); use another --out",
                    path.display(),
                    header.sweep,
                    short(&header.config_hash),
                    R::SWEEP,
                    short(&hash)
                );
            }
            if header.shard.count != shard.count {
                bail!(
                    "{}: a shard of {} shards, this run is {shard}; use another --out",
                    path.display(),
                    header.shard.count
                );
            }
        }
        let path = dir.join(SHARD_FILE);
        if !path.exists() {
            // Written at once: a shard that started is known to `cb merge`
            // and its siblings even before (or without) a unit of its own.
            let report = empty();
            self.save(&report)?;
            return Ok(report);
        }
        let file = read_shard_file::<R>(&path)?;
        check_layout(&path, &file)?;
        if file.report.config() != config {
            bail!(
                "{}: written by a run with another configuration; use another --out",
                path.display()
            );
        }
        Ok(file.report)
    }

    /// Writes `report` (atomically): the usual report, or this shard's file.
    pub fn save<R: ShardedReport>(&self, report: &R) -> Result<()> {
        let Some(dir) = self.dir.as_deref() else {
            return Ok(());
        };
        match self.shard {
            None => write_json(dir, &format!("{}.json", R::SWEEP), report),
            Some(shard) => write_json(
                dir,
                SHARD_FILE,
                &ShardFile {
                    sweep: R::SWEEP.to_string(),
                    config_hash: config_hash(report.config()),
                    shard,
                    plan: self.plan.clone(),
                    report,
                },
            ),
        }
    }
}

/// Refuses a shard file whose recorded hash is not the hash of its own
/// configuration as this version computes it: a file of another layout of
/// the configuration (other fields, other order), whose shards cannot be
/// compared with this version's by hash.
pub fn check_layout<R: ShardedReport>(path: &Path, file: &ShardFile<R>) -> Result<()> {
    let now = config_hash(file.report.config());
    if now != file.config_hash {
        bail!(
            "{}: a shard file of another layout of the {} configuration (hash {}, by this cb {}); finish its shards and merge them with the cb that wrote it, or start again in another --out",
            path.display(),
            file.sweep,
            short(&file.config_hash),
            short(&now)
        );
    }
    Ok(())
}

/// The first 12 hex digits of a hash: enough to tell two apart in a message.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// The shard folders (`shard-I-of-N`) directly inside `out`, sorted by
/// count then index; `out` missing reads as none.
pub fn shard_folders(out: &Path) -> Result<Vec<(Shard, PathBuf)>> {
    let entries = match std::fs::read_dir(out) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot list", out.display())),
    };
    let mut found: Vec<(Shard, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((Shard::from_folder_name(e.file_name().to_str()?)?, e.path())))
        .collect();
    found.sort_by_key(|(s, _)| (s.count, s.index));
    Ok(found)
}

/// The headers of the shard files in `out`'s shard folders (folders
/// without a file yet are skipped), each with its path.
pub fn shard_headers(out: &Path) -> Result<Vec<(PathBuf, ShardHeader)>> {
    let mut headers = vec![];
    for (_, dir) in shard_folders(out)? {
        let path = dir.join(SHARD_FILE);
        if path.exists() {
            let header = read_shard_file::<serde::de::IgnoredAny>(&path)?;
            headers.push((
                path,
                ShardHeader {
                    sweep: header.sweep,
                    config_hash: header.config_hash,
                    shard: header.shard,
                    plan: header.plan,
                },
            ));
        }
    }
    Ok(headers)
}

/// Reads a [`ShardFile`], or says in one line why it cannot.
pub fn read_shard_file<R: DeserializeOwned>(path: &Path) -> Result<ShardFile<R>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a readable shard file ({e})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_from_zero_and_name_their_folders() {
        let s: Shard = "2/3".parse().unwrap();
        assert_eq!((s.index, s.count), (2, 3));
        assert_eq!(s.to_string(), "2/3");
        assert_eq!(s.folder_name(), "shard-2-of-3");
        assert_eq!(Shard::from_folder_name("shard-2-of-3"), Some(s));
        for bad in ["3/3", "1/0", "1", "a/3", "-1/3", "1/3/4", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("0 <= I < N") && !err.contains('\n'), "{err}");
        }
        for bad in ["shard-3-of-3", "shard-01-of-3", "shard-1-of-3x", "run0"] {
            assert_eq!(Shard::from_folder_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn snake_order_gives_each_unit_to_one_shard_and_balances_them() {
        let owner = |unit: usize, count: usize| -> Vec<usize> {
            (0..count)
                .filter(|&index| Shard { index, count }.owns(unit))
                .collect()
        };
        let dealt: Vec<usize> = (0..8).map(|u| owner(u, 3)[0]).collect();
        assert_eq!(dealt, [0, 1, 2, 2, 1, 0, 0, 1]);
        for count in 1..7 {
            for units in 0..30 {
                let mut sizes = vec![0; count];
                for unit in 0..units {
                    let owners = owner(unit, count);
                    assert_eq!(owners.len(), 1, "unit {unit} of {count} shards");
                    sizes[owners[0]] += 1;
                }
                let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
                assert!(hi.unwrap() - lo.unwrap() <= 1, "{units} units: {sizes:?}");
            }
        }
    }

    #[test]
    fn the_hash_follows_the_configuration() {
        #[derive(Serialize)]
        struct C {
            a: u32,
            b: Vec<usize>,
        }
        let h = config_hash(&C { a: 1, b: vec![2] });
        assert_eq!(h.len(), 64);
        assert_eq!(h, config_hash(&C { a: 1, b: vec![2] }));
        assert_ne!(h, config_hash(&C { a: 1, b: vec![3] }));
    }
}
