//! Datasets served as whole files (CIFAR-10, SVHN, Imagenette): the
//! archive side of the one download path of [`super::fetch`]. A tar.gz
//! archive is extracted into a hidden temporary folder that is renamed into
//! place whole (and the archive removed); the extracted folder carries a
//! manifest of its files' SHA-256, so a later fetch can tell that it is intact.
//!
//! On any failure nothing is left at the final path: a damaged download is
//! deleted, an interrupted one stays as `<name>.part` for the next run to
//! resume, and temporary folders are removed.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::checksum::file_sha256;
use super::download::Progress;
use super::error::{invalid, one_line, DataError, Hint};
pub use super::fetch::part_path;
use super::fetch::{fetch_one, FetchedFile, Item};
use super::kind::RemoteFile;
use crate::util::{install_dir, temp_dir_in};

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
    fetch_one(&Item::Remote(file), dir, mirrors, Progress::new(progress))
}

/// `Ok` if the folder `target` holds an intact extraction of the archive
/// `file` (by its manifest); `Err(why)` if not.
pub(crate) fn installed_archive(file: &RemoteFile<'_>, target: &Path) -> Result<(), String> {
    if !target.is_dir() {
        return Err("not a folder".to_string());
    }
    let text = fs::read_to_string(target.join(MANIFEST))
        .map_err(|_| format!("no {MANIFEST} (not extracted by cb data fetch)"))?;
    let mut lines = text.lines();
    if lines.next() != Some(manifest_header(file).as_str()) {
        return Err(format!(
            "{MANIFEST} names another archive than {} (sha256 {})",
            file.name, file.sha256
        ));
    }
    for line in lines.filter(|l| !l.is_empty()) {
        let (sha, rel) = line
            .split_once("  ")
            .ok_or_else(|| format!("{MANIFEST}: unreadable line `{line}`"))?;
        let (_, actual) =
            file_sha256(&target.join(rel)).map_err(|e| format!("{rel}: {}", one_line(e)))?;
        if actual != sha {
            return Err(format!("{rel}: changed or damaged (sha256 {actual})"));
        }
    }
    Ok(())
}

fn manifest_header(file: &RemoteFile<'_>) -> String {
    format!("# extracted from {} (sha256 {})", file.name, file.sha256)
}

/// Extract the tar.gz `archive` (entries all under `folder/`) into `dir/folder`
/// atomically, writing the manifest; `origin` names the archive in errors
/// about its content (the mirror's copy, or the download).
pub(crate) fn extract(
    file: &RemoteFile<'_>,
    archive: &Path,
    origin: &Path,
    dir: &Path,
    folder: &str,
) -> Result<(), DataError> {
    let bad = |reason: String| invalid(origin, ARCHIVE, reason);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Write { path, source }
    };
    let tmp = temp_dir_in(dir, folder, "extract").map_err(write_err(dir))?;
    let staged = tmp.path().join(folder);
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
    // Swap into place; `tmp` (now empty) is removed when dropped.
    let target = dir.join(folder);
    install_dir(&staged, &target).map_err(write_err(&target))
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
