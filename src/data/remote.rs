//! Fetching datasets served as whole files (CIFAR-10, SVHN, Imagenette):
//! resumable download into `<name>.part`, verification of length, SHA-256
//! and MD5, then an atomic install: a plain file is renamed into place, a
//! tar.gz archive is extracted into a hidden temporary folder that is renamed
//! into place whole (and the archive removed). An extracted folder carries a
//! manifest of its files' SHA-256, so a later fetch can tell that it is intact.
//!
//! On any failure nothing is left at the final path: a damaged download is
//! deleted, an interrupted one stays as `<name>.part` for the next run to
//! resume, and temporary folders are removed.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::checksum::file_digests;
use super::download::{download_resumable, join_url, local_dir, Progress};
use super::error::{invalid, one_line, DataError, Hint};
use super::fetch::{FetchOutcome, FetchedFile};
use super::kind::RemoteFile;

/// Name of the manifest written into an extracted folder: `sha256  path` lines
/// (`sha256sum -c` reads it), after one `#` line naming the archive.
pub const MANIFEST: &str = ".cb-manifest.sha256";

const ARCHIVE: &str = "tar.gz archive";

/// Fetch one [`RemoteFile`] into `dir` from `mirrors` (base URLs, or local
/// folders holding the file), tried in order; an installed copy that is still
/// intact is kept without any request. `progress` as for [`super::fetch()`].
pub fn fetch_remote(
    file: &RemoteFile<'_>,
    dir: &Path,
    mirrors: &[&str],
    progress: bool,
) -> Result<FetchedFile, DataError> {
    fs::create_dir_all(dir).map_err(|source| DataError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    fetch_one(file, dir, mirrors, Progress::new(progress))
}

pub(crate) fn fetch_one(
    file: &RemoteFile<'_>,
    dir: &Path,
    mirrors: &[&str],
    progress: Progress,
) -> Result<FetchedFile, DataError> {
    let target = dir.join(file.installed_name());
    let done = |outcome| FetchedFile {
        name: file.name.to_string(),
        path: target.clone(),
        outcome,
    };
    match installed(file, &target) {
        Ok(()) => {
            progress.note(&format!("{}: present and valid", target.display()));
            return Ok(done(FetchOutcome::AlreadyValid));
        }
        Err(Some(why)) => progress.note(&format!("{}: {why}; fetching again", target.display())),
        Err(None) => {}
    }
    let mut failures = Vec::new();
    for mirror in mirrors {
        if let Some(folder) = local_dir(mirror) {
            let src = folder.join(file.name);
            let location = src.display().to_string();
            match verify(&src, file) {
                Ok(()) => {
                    install(file, &src, &target, dir, false, progress)?;
                    return Ok(done(FetchOutcome::Downloaded {
                        source: location,
                        bytes: file.len,
                        resumed_from: 0,
                    }));
                }
                Err(why) => failures.push(format!("{location}: {why}")),
            }
            continue;
        }
        let url = join_url(mirror, file.name);
        let part = part_path(dir, file.name);
        let verified = download_resumable(&url, &part, file.len, progress).and_then(|t| {
            verify(&part, file).map(|()| t).map_err(|why| {
                let _ = fs::remove_file(&part);
                format!("{why}; the download was deleted")
            })
        });
        match verified {
            Ok(t) => {
                progress.note(&format!(
                    "{}: fetched from {url} ({} bytes{}), verified",
                    file.name,
                    t.bytes,
                    if t.resumed_from > 0 {
                        format!(", resumed at byte {}", t.resumed_from)
                    } else {
                        String::new()
                    }
                ));
                install(file, &part, &target, dir, true, progress)?;
                return Ok(done(FetchOutcome::Downloaded {
                    source: url,
                    bytes: t.bytes,
                    resumed_from: t.resumed_from,
                }));
            }
            Err(why) => {
                progress.note(&format!("{url}: {why}"));
                failures.push(format!("{url}: {why}"));
            }
        }
    }
    if failures.is_empty() {
        failures.push("no mirror given".to_string());
    }
    Err(DataError::Fetch {
        name: file.name.to_string(),
        dir: dir.to_path_buf(),
        attempts: failures.join("; "),
    })
}

/// Where a download of `name` into `dir` is kept until verified.
pub fn part_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.part"))
}

/// Whether `path` is the catalogue's file: length, then SHA-256 and MD5.
fn verify(path: &Path, file: &RemoteFile<'_>) -> Result<(), String> {
    let len = fs::metadata(path).map_err(one_line)?.len();
    if len != file.len {
        return Err(format!(
            "{len} bytes, expected {} (truncated or wrong file)",
            file.len
        ));
    }
    let (_, sha, md5) = file_digests(path).map_err(one_line)?;
    if !sha.eq_ignore_ascii_case(file.sha256) {
        return Err(format!(
            "sha256 mismatch (expected {}, got {sha})",
            file.sha256
        ));
    }
    if !md5.eq_ignore_ascii_case(file.md5) {
        return Err(format!("md5 mismatch (expected {}, got {md5})", file.md5));
    }
    Ok(())
}

/// `Ok` if `target` holds an intact install of `file`; `Err(None)` if nothing
/// is there, `Err(Some(why))` if something damaged or foreign is.
fn installed(file: &RemoteFile<'_>, target: &Path) -> Result<(), Option<String>> {
    if fs::symlink_metadata(target).is_err() {
        return Err(None);
    }
    if file.extract_to.is_none() {
        return verify(target, file).map_err(Some);
    }
    if !target.is_dir() {
        return Err(Some("not a folder".to_string()));
    }
    let text = fs::read_to_string(target.join(MANIFEST))
        .map_err(|_| Some(format!("no {MANIFEST} (not extracted by cb data fetch)")))?;
    let mut lines = text.lines();
    if lines.next() != Some(manifest_header(file).as_str()) {
        return Err(Some(format!(
            "{MANIFEST} names another archive than {} (sha256 {})",
            file.name, file.sha256
        )));
    }
    for line in lines.filter(|l| !l.is_empty()) {
        let (sha, rel) = line
            .split_once("  ")
            .ok_or_else(|| Some(format!("{MANIFEST}: unreadable line `{line}`")))?;
        let actual = file_digests(&target.join(rel))
            .map(|(_, s, _)| s)
            .map_err(|e| Some(format!("{rel}: {}", one_line(e))))?;
        if actual != sha {
            return Err(Some(format!("{rel}: changed or damaged (sha256 {actual})")));
        }
    }
    Ok(())
}

fn manifest_header(file: &RemoteFile<'_>) -> String {
    format!("# extracted from {} (sha256 {})", file.name, file.sha256)
}

/// Put the verified `src` in place at `target`; `src_is_part`: `src` is our own
/// download, to be moved (plain file) or removed after extraction.
fn install(
    file: &RemoteFile<'_>,
    src: &Path,
    target: &Path,
    dir: &Path,
    src_is_part: bool,
    progress: Progress,
) -> Result<(), DataError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Write { path, source }
    };
    match file.extract_to {
        None if src_is_part => fs::rename(src, target).map_err(write_err(target)),
        None => copy_atomic(src, target),
        Some(folder) => {
            progress.note(&format!(
                "extracting {} into {}",
                file.name,
                target.display()
            ));
            extract(file, src, dir, folder)?;
            if src_is_part {
                fs::remove_file(src).map_err(write_err(src))?;
            }
            Ok(())
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A hidden, unique name in `dir`: `.{stem}.{tag}-{pid}-{n}`.
fn temp_name(dir: &Path, stem: &str, tag: &str) -> PathBuf {
    dir.join(format!(
        ".{stem}.{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Copy `src` to a temporary file beside `target`, sync, rename over `target`.
fn copy_atomic(src: &Path, target: &Path) -> Result<(), DataError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = temp_name(dir, &name, "part");
    let guard = Guard(Some(tmp.clone()));
    let mut input = File::open(src).map_err(|source| DataError::Read {
        path: src.to_path_buf(),
        source,
        hint: Hint::none(),
    })?;
    File::create(&tmp)
        .and_then(|mut out| {
            std::io::copy(&mut input, &mut out)?;
            out.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, target))
        .map_err(|source| DataError::Write {
            path: target.to_path_buf(),
            source,
        })?;
    guard.disarm();
    Ok(())
}

/// Extract the tar.gz `archive` (entries all under `folder/`) into `dir/folder`
/// atomically, writing the manifest.
fn extract(
    file: &RemoteFile<'_>,
    archive: &Path,
    dir: &Path,
    folder: &str,
) -> Result<(), DataError> {
    let bad = |reason: String| invalid(archive, ARCHIVE, reason);
    let tmp = temp_name(dir, folder, "extract");
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Write { path, source }
    };
    fs::create_dir(&tmp).map_err(write_err(&tmp))?;
    let guard = Guard(Some(tmp.clone()));
    let staged = tmp.join(folder);
    let input = File::open(archive).map_err(|source| DataError::Read {
        path: archive.to_path_buf(),
        source,
        hint: Hint::none(),
    })?;
    let mut tar = tar::Archive::new(MultiGzDecoder::new(BufReader::new(input)));
    let mut manifest: Vec<(String, String)> = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let entries = tar.entries().map_err(|e| bad(one_line(e)))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("unreadable entry: {}", one_line(e))))?;
        let kind = entry.header().entry_type();
        let is_file = kind.is_file() || kind == tar::EntryType::Continuous;
        if !(kind.is_dir() || is_file) {
            // Links, devices and metadata (e.g. a pax global header) are not
            // part of a dataset.
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| bad(format!("unreadable entry name: {}", one_line(e))))?
            .into_owned();
        let rel = relative(&path, folder).map_err(bad)?;
        let dest = staged.join(&rel);
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(write_err(&dest))?;
            continue;
        }
        if rel.as_os_str().is_empty() {
            return Err(bad(format!("`{folder}` is a file, not a folder")));
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
        let mut out = BufWriter::new(File::create(&dest).map_err(write_err(&dest))?);
        let mut sha = Sha256::new();
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(bad(format!(
                        "{}: cannot read (truncated or corrupt: {})",
                        path.display(),
                        one_line(e)
                    )))
                }
            };
            sha.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(write_err(&dest))?;
        }
        out.flush().map_err(write_err(&dest))?;
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let digest: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
        manifest.push((digest, rel));
    }
    if !staged.is_dir() {
        return Err(bad(format!("it holds no `{folder}/` folder")));
    }
    let mut text = manifest_header(file);
    text.push('\n');
    for (sha, rel) in &manifest {
        text.push_str(&format!("{sha}  {rel}\n"));
    }
    let manifest_path = staged.join(MANIFEST);
    fs::write(&manifest_path, text).map_err(write_err(&manifest_path))?;
    // Swap into place: move an old folder aside, rename, then delete the old one.
    let target = dir.join(folder);
    let old = if fs::symlink_metadata(&target).is_ok() {
        let old = temp_name(dir, folder, "old");
        fs::rename(&target, &old).map_err(write_err(&target))?;
        Some(old)
    } else {
        None
    };
    if let Err(source) = fs::rename(&staged, &target) {
        if let Some(old) = &old {
            let _ = fs::rename(old, &target);
        }
        return Err(DataError::Write {
            path: target,
            source,
        });
    }
    if let Some(old) = old {
        remove_any(&old);
    }
    drop(guard);
    Ok(())
}

/// `path` (an archive entry) relative to `folder/`: rejects absolute paths,
/// `..` and anything outside `folder/`.
fn relative(path: &Path, folder: &str) -> Result<PathBuf, String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(p) => {
                if p.to_string_lossy().contains('\n') {
                    return Err(format!(
                        "entry `{}` has a newline in its name",
                        path.display()
                    ));
                }
                parts.push(p.to_os_string());
            }
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "entry `{}` points outside the archive's folder",
                    path.display()
                ))
            }
        }
    }
    match parts.first() {
        Some(first) if first == folder => {}
        _ => {
            return Err(format!(
                "entry `{}` is not under `{folder}/`",
                path.display()
            ))
        }
    }
    Ok(parts[1..].iter().collect())
}

fn remove_any(path: &Path) {
    if path.is_dir() {
        let _ = fs::remove_dir_all(path);
    } else {
        let _ = fs::remove_file(path);
    }
}

/// Removes a temporary file or folder when dropped, unless disarmed.
struct Guard(Option<PathBuf>);

impl Guard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            remove_any(&path);
        }
    }
}
