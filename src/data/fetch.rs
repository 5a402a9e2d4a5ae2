//! `cb data fetch`: download a dataset's files, verify them against the
//! catalogue, and move each into place atomically. Every file, small IDX file
//! or large archive, takes the same path ([`fetch_one`]): it is streamed into
//! `<name>.part` next to its target (an interrupted HTTP download is resumed
//! with a `Range` request by the next run; a local-directory mirror is copied),
//! its length (where the catalogue knows it) and SHA-256 are checked, and only
//! then is it installed: a plain file by renaming the `.part` into place, a
//! tar.gz archive by extracting it into a hidden temporary folder that is
//! renamed into place (see [`super::remote`]). A file that fails verification
//! is deleted; nothing is ever left at the target but a verified file.

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use super::checksum::{content_sha256, file_sha256};
use super::download::{copy_to_part, download_resumable, join_url, local_dir, Progress, Transfer};
use super::error::{one_line, DataError, Hint};
use super::idx::{file_is_gzip, gz_path, locate};
use super::kind::{DatasetKind, IdxFile, RemoteFile};
use super::remote::{extract, installed_archive};
use crate::util::install_file;

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
/// Files already present and valid are skipped. (Fashion-)MNIST end up as
/// four `.gz` files, CIFAR-10 and Imagenette extracted
/// (`cifar-10-batches-bin/`, `imagenette2-160/`), SVHN as its two `.mat`
/// files; an interrupted download of any of them is resumed by the next call.
/// `progress` shows a bar on a terminal and one-line messages otherwise.
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
    let items = kind
        .files()
        .iter()
        .map(Item::Idx)
        .chain(kind.remote_files().iter().map(Item::Remote));
    let files = items
        .map(|item| fetch_one(&item, data_dir, mirrors, progress))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FetchReport {
        kind,
        dir: data_dir.to_path_buf(),
        files,
    })
}

/// One file of the catalogue, as the download path sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'a> {
    /// An IDX file: asked for as `NAME.gz`, checked by its decompressed
    /// content, stored as `NAME.gz` (gzip) or `NAME` (raw), as it came.
    Idx(&'a IdxFile),
    /// A file served as is: checked whole, stored as is or extracted.
    Remote(&'a RemoteFile<'a>),
}

impl Item<'_> {
    /// The canonical name reported in [`FetchedFile::name`].
    fn name(&self) -> &str {
        match self {
            Item::Idx(f) => f.name,
            Item::Remote(f) => f.name,
        }
    }

    /// The name asked of a mirror (appended to a base URL).
    fn remote_name(&self) -> Cow<'_, str> {
        match self {
            Item::Idx(f) => Cow::Owned(format!("{}.gz", f.name)),
            Item::Remote(f) => Cow::Borrowed(f.name),
        }
    }

    /// The file to copy from a local mirror `folder` (IDX: `NAME.gz`, else a raw `NAME`).
    fn local_source(&self, folder: &Path) -> PathBuf {
        match self {
            Item::Idx(f) => {
                let raw = folder.join(f.name);
                let gz = gz_path(&raw);
                if gz.is_file() || !raw.is_file() {
                    gz
                } else {
                    raw
                }
            }
            Item::Remote(f) => folder.join(f.name),
        }
    }

    /// The download's length, where the catalogue knows it (the IDX digests
    /// are of the decompressed content, whose compressed length varies).
    fn len(&self) -> Option<u64> {
        match self {
            Item::Idx(_) => None,
            Item::Remote(f) => Some(f.len),
        }
    }

    /// Whether the file at `path` is the catalogue's: its length (where known),
    /// then its SHA-256 (IDX: of the content, decompressed if gzip).
    fn verify(&self, path: &Path) -> Result<(), String> {
        match self {
            Item::Idx(f) => {
                let (len, sha) = content_sha256(path, f.raw_len)?;
                if len > f.raw_len {
                    return Err(format!(
                        "content is longer than {} bytes (wrong file)",
                        f.raw_len
                    ));
                }
                if len != f.raw_len {
                    return Err(format!(
                        "content is {len} bytes, expected {} (truncated or wrong file)",
                        f.raw_len
                    ));
                }
                if sha != f.raw_sha256 {
                    return Err(format!(
                        "content sha256 mismatch (expected {}, got {sha})",
                        f.raw_sha256
                    ));
                }
                Ok(())
            }
            Item::Remote(f) => {
                let len = fs::metadata(path).map_err(one_line)?.len();
                if len != f.len {
                    return Err(format!(
                        "{len} bytes, expected {} (truncated or wrong file)",
                        f.len
                    ));
                }
                let (_, sha) = file_sha256(path).map_err(one_line)?;
                if !sha.eq_ignore_ascii_case(f.sha256) {
                    return Err(format!(
                        "sha256 mismatch (expected {}, got {sha})",
                        f.sha256
                    ));
                }
                Ok(())
            }
        }
    }

    /// `Ok(path)` if an intact copy is installed in `dir`; `Err(None)` if
    /// nothing is there, `Err(Some((path, why)))` if something damaged or foreign is.
    fn installed(&self, dir: &Path) -> Result<PathBuf, Option<(PathBuf, String)>> {
        match self {
            Item::Idx(f) => {
                let path = locate(&dir.join(f.name)).ok_or(None)?;
                match self.verify(&path) {
                    Ok(()) => Ok(path),
                    Err(why) => Err(Some((path, why))),
                }
            }
            Item::Remote(f) => {
                let target = dir.join(f.installed_name());
                if fs::symlink_metadata(&target).is_err() {
                    return Err(None);
                }
                let checked = match f.extract_to {
                    None => self.verify(&target),
                    Some(_) => installed_archive(f, &target),
                };
                match checked {
                    Ok(()) => Ok(target),
                    Err(why) => Err(Some((target, why))),
                }
            }
        }
    }

    /// Put the verified download `part` in place in `dir`; returns where it
    /// now is. `origin` names the source in errors about its content.
    fn install(
        &self,
        part: &Path,
        origin: &Path,
        dir: &Path,
        progress: Progress,
    ) -> Result<PathBuf, DataError> {
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DataError::Write { path, source }
        };
        match self {
            Item::Idx(f) => {
                let base = dir.join(f.name);
                let gz = gz_path(&base);
                let gzip = file_is_gzip(part).map_err(|source| DataError::Read {
                    path: part.to_path_buf(),
                    source,
                    hint: Hint::none(),
                })?;
                let target = if gzip { gz.clone() } else { base };
                install_file(part, &target).map_err(write_err(&target))?;
                // A raw file would be shadowed by a stale `.gz` (see `locate`).
                if target != gz && gz.is_file() {
                    fs::remove_file(&gz).map_err(write_err(&gz))?;
                }
                Ok(target)
            }
            Item::Remote(f) => {
                let target = dir.join(f.installed_name());
                match f.extract_to {
                    None => install_file(part, &target).map_err(write_err(&target))?,
                    Some(folder) => {
                        progress.note(&format!("extracting {} into {}", f.name, target.display()));
                        extract(f, part, origin, dir, folder)?;
                        fs::remove_file(part).map_err(write_err(part))?;
                    }
                }
                Ok(target)
            }
        }
    }
}

/// Where a download of `name` into `dir` is kept until verified.
pub fn part_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.part"))
}

/// The one download path: fetch `item` into `dir` from `mirrors` (base URLs,
/// or local folders holding the file), tried in order; an installed copy that
/// is intact is kept without any request. See the module documentation.
pub(crate) fn fetch_one(
    item: &Item<'_>,
    dir: &Path,
    mirrors: &[&str],
    progress: Progress,
) -> Result<FetchedFile, DataError> {
    let done = |path, outcome| FetchedFile {
        name: item.name().to_string(),
        path,
        outcome,
    };
    match item.installed(dir) {
        Ok(path) => {
            progress.note(&format!("{}: present and valid", path.display()));
            return Ok(done(path, FetchOutcome::AlreadyValid));
        }
        Err(Some((path, why))) => {
            progress.note(&format!("{}: {why}; fetching again", path.display()))
        }
        Err(None) => {}
    }
    let remote_name = item.remote_name();
    let mut failures = Vec::new();
    for mirror in mirrors {
        let (location, origin, part, got) = match local_dir(mirror) {
            Some(folder) => {
                let src = item.local_source(&folder);
                let name = src.file_name().map(|n| n.to_string_lossy().into_owned());
                let part = part_path(dir, name.as_deref().unwrap_or(&remote_name));
                let got = copy_to_part(&src, &part).map(|t| (t, false));
                (src.display().to_string(), src, part, got)
            }
            None => {
                let url = join_url(mirror, &remote_name);
                let part = part_path(dir, &remote_name);
                let got = get_http(item, &url, &part, progress);
                (url, part.clone(), part, got)
            }
        };
        let verified = got.and_then(|(t, verified)| {
            if verified {
                return Ok(t);
            }
            item.verify(&part).map(|()| t).map_err(|why| {
                let _ = fs::remove_file(&part);
                format!("{why}; the download was deleted")
            })
        });
        let t = match verified {
            Ok(t) => t,
            Err(why) => {
                progress.note(&format!("{location}: {why}"));
                failures.push(format!("{location}: {why}"));
                continue;
            }
        };
        progress.note(&format!(
            "{}: fetched from {location} ({} bytes{}), verified",
            item.name(),
            t.bytes,
            if t.resumed_from > 0 {
                format!(", resumed at byte {}", t.resumed_from)
            } else {
                String::new()
            }
        ));
        let installed = item.install(&part, &origin, dir, progress);
        if installed.is_err() {
            let _ = fs::remove_file(&part);
        }
        let usual_part = part_path(dir, &remote_name);
        if installed.is_ok() && part != usual_part {
            // A raw IDX file was copied: an interrupted `NAME.gz` download is stale.
            let _ = fs::remove_file(usual_part);
        }
        return Ok(done(
            installed?,
            FetchOutcome::Downloaded {
                source: location,
                bytes: t.bytes,
                resumed_from: t.resumed_from,
            },
        ));
    }
    if failures.is_empty() {
        failures.push("no mirror given".to_string());
    }
    Err(DataError::Fetch {
        name: remote_name.into_owned(),
        dir: dir.to_path_buf(),
        attempts: failures.join("; "),
    })
}

/// Download `url` into `part`, continuing a `part` left by an earlier run.
/// `(transfer, true)`: `part` was already complete and verified (no request).
fn get_http(
    item: &Item<'_>,
    url: &str,
    part: &Path,
    progress: Progress,
) -> Result<(Transfer, bool), String> {
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let complete = have > 0
        && match item.len() {
            Some(len) => have == len,
            // Unknown length: complete if it verifies; else resume it.
            None => item.verify(part).is_ok(),
        };
    if complete {
        progress.note_lines(&format!("{}: complete, verifying", part.display()));
        let t = Transfer {
            bytes: 0,
            resumed_from: have,
        };
        return Ok((t, item.len().is_none()));
    }
    download_resumable(url, part, item.len(), progress).map(|t| (t, false))
}
