//! `cb data fetch`: download a dataset's files, verify them against the
//! catalogue, and move each into place atomically. IDX datasets (four small
//! files, checked by decompressed content) are handled here; the others by
//! [`super::remote`] (resumable, archives extracted).

use std::borrow::Cow;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::checksum::sha256_hex;
use super::download::{get, Progress};
use super::error::DataError;
use super::idx::{decompress, gz_path, is_gzip, locate};
use super::kind::{DatasetKind, IdxFile};
use super::remote::fetch_one;

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    pub kind: DatasetKind,
    pub dir: PathBuf,
    pub files: Vec<FetchedFile>,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// Canonical name (IDX: without `.gz`; others: the downloaded file's name).
    pub name: String,
    /// Where the verified file now is.
    pub path: PathBuf,
    pub outcome: FetchOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A valid copy was already there; nothing was downloaded.
    AlreadyValid,
    /// Downloaded from `source` (URL or path): `bytes` transferred by this run,
    /// after `resumed_from` bytes kept from an earlier, interrupted run.
    Downloaded {
        source: String,
        bytes: u64,
        resumed_from: u64,
    },
}

impl FetchReport {
    /// How many files were downloaded.
    pub fn downloaded(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.outcome, FetchOutcome::Downloaded { .. }))
            .count()
    }

    /// How many files were already present and valid.
    pub fn already_valid(&self) -> usize {
        self.files.len() - self.downloaded()
    }
}

/// Fetch `kind` into `data_dir` from `mirror` (a base URL, or a local directory
/// holding the files) or, without one, from the canonical mirrors in order.
/// Files already present and valid are skipped. CIFAR-10 and Imagenette end up
/// extracted (`cifar-10-batches-bin/`, `imagenette2-160/`), SVHN as its two
/// `.mat` files; an interrupted download of those is resumed by the next call. `progress` shows a bar on a
/// terminal and one-line messages otherwise.
pub fn fetch(
    kind: DatasetKind,
    data_dir: &Path,
    mirror: Option<&str>,
    progress: bool,
) -> Result<FetchReport, DataError> {
    match mirror {
        Some(m) => fetch_from(kind, data_dir, &[m], progress),
        None => fetch_from(kind, data_dir, kind.mirrors(), progress),
    }
}

/// [`fetch`] from an explicit list of mirrors, tried in order for each file.
pub fn fetch_from(
    kind: DatasetKind,
    data_dir: &Path,
    mirrors: &[&str],
    progress: bool,
) -> Result<FetchReport, DataError> {
    let progress = Progress::new(progress);
    fs::create_dir_all(data_dir).map_err(|source| DataError::Write {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let files = if kind.is_idx() {
        kind.files()
            .iter()
            .map(|file| fetch_file(data_dir, file, mirrors, progress))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        kind.remote_files()
            .iter()
            .map(|file| fetch_one(file, data_dir, mirrors, progress))
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(FetchReport {
        kind,
        dir: data_dir.to_path_buf(),
        files,
    })
}

fn fetch_file(
    dir: &Path,
    file: &'static IdxFile,
    mirrors: &[&str],
    progress: Progress,
) -> Result<FetchedFile, DataError> {
    let base = dir.join(file.name);
    if let Some(path) = locate(&base) {
        match fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| check(&b, file))
        {
            Ok(()) => {
                progress.note(&format!("{}: present and valid", path.display()));
                return Ok(FetchedFile {
                    name: file.name.to_string(),
                    path,
                    outcome: FetchOutcome::AlreadyValid,
                });
            }
            Err(why) => progress.note(&format!("{}: {why}; fetching again", path.display())),
        }
    }
    let mut failures = Vec::new();
    for mirror in mirrors {
        let attempt = get(mirror, file.name, progress);
        let verified = attempt.result.and_then(|b| check(&b, file).map(|()| b));
        match verified {
            Ok(bytes) => {
                let path = store(&base, &bytes)?;
                progress.note(&format!(
                    "{}: fetched from {} ({} bytes), verified",
                    path.display(),
                    attempt.location,
                    bytes.len()
                ));
                return Ok(FetchedFile {
                    name: file.name.to_string(),
                    path,
                    outcome: FetchOutcome::Downloaded {
                        source: attempt.location,
                        bytes: bytes.len() as u64,
                        resumed_from: 0,
                    },
                });
            }
            Err(why) => {
                progress.note(&format!("{}: {why}", attempt.location));
                failures.push(format!("{}: {why}", attempt.location));
            }
        }
    }
    if failures.is_empty() {
        failures.push("no mirror given".to_string());
    }
    Err(DataError::Fetch {
        name: format!("{}.gz", file.name),
        dir: dir.to_path_buf(),
        attempts: failures.join("; "),
    })
}

/// Whether `bytes` (gzip or raw) decompress to the catalogue's content.
fn check(bytes: &[u8], file: &IdxFile) -> Result<(), String> {
    let content = if is_gzip(bytes) {
        Cow::Owned(
            decompress(Path::new(file.name), bytes.to_vec()).map_err(|e| match e {
                DataError::Gzip { reason, .. } => {
                    format!("corrupt or truncated gzip data ({reason})")
                }
                other => other.to_string(),
            })?,
        )
    } else {
        Cow::Borrowed(bytes)
    };
    if content.len() as u64 != file.raw_len {
        return Err(format!(
            "content is {} bytes, expected {} (truncated or wrong file)",
            content.len(),
            file.raw_len
        ));
    }
    let actual = sha256_hex(&content);
    if actual != file.raw_sha256 {
        return Err(format!(
            "content sha256 mismatch (expected {}, got {actual})",
            file.raw_sha256
        ));
    }
    Ok(())
}

/// Write verified bytes as `base.gz` (gzip) or `base` (raw), atomically; a raw
/// file also removes a stale `base.gz` that would shadow it.
fn store(base: &Path, bytes: &[u8]) -> Result<PathBuf, DataError> {
    let gz = gz_path(base);
    let target = if is_gzip(bytes) {
        gz.clone()
    } else {
        base.to_path_buf()
    };
    write_atomic(&target, bytes)?;
    if target != gz && gz.is_file() {
        fs::remove_file(&gz).map_err(|source| DataError::Write { path: gz, source })?;
    }
    Ok(target)
}

/// Write to a temporary file next to `target`, sync, rename over `target`.
/// The temporary file is removed on any failure.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), DataError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(
        ".{file_name}.part-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let guard = TempGuard(Some(tmp.clone()));
    let written = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&tmp, target));
    match written {
        Ok(()) => {
            guard.disarm();
            Ok(())
        }
        Err(source) => Err(DataError::Write {
            path: target.to_path_buf(),
            source,
        }),
    }
}

/// Removes the file at its path when dropped, unless disarmed.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}
