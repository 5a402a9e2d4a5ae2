//! Small pieces every layer of the crate may use: the shape of an image row
//! and the one way files and folders are put in place (atomically): results,
//! checkpoints and plots through [`write_atomic`] / [`AtomicFile`], verified
//! downloads through [`install_file`] and [`install_dir`].

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::{Builder, NamedTempFile, TempDir};

/// Shape of one image, channels first (how the datasets store a row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
}

impl ImageShape {
    pub const fn new(channels: usize, rows: usize, cols: usize) -> Self {
        Self {
            channels,
            rows,
            cols,
        }
    }

    /// Number of values in one image.
    pub fn len(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.rows, self.cols)
    }
}

/// Writes `bytes` to `path` through [`AtomicFile`]: a reader (or a run killed
/// half-way) sees the old file or the new one, never a half-written one.
/// Creates the parent folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let write = || -> io::Result<()> {
        let mut file = AtomicFile::create(path)?;
        file.write_all(bytes)?;
        file.commit()
    };
    write().with_context(|| format!("{}: cannot write", path.display()))
}

/// A file that appears at its path only when [`AtomicFile::commit`]ted: the
/// bytes go to a hidden temporary sibling (`.NAME.XXXXXX.tmp`), which `commit`
/// syncs and renames over the path. Dropped without a commit, the temporary
/// file is removed and the path is left as it was.
pub struct AtomicFile {
    tmp: NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// Starts writing the file that will replace `path`; creates the parent folder.
    pub fn create(path: &Path) -> io::Result<Self> {
        let dir = parent_dir(path);
        fs::create_dir_all(dir)?;
        let mut builder = Builder::new();
        let prefix = format!(".{}.", file_name(path));
        builder.prefix(&prefix).suffix(".tmp");
        // Like `File::create` (the umask applies), not tempfile's owner-only mode.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o666));
        }
        let tmp = builder.tempfile_in(dir)?;
        Ok(AtomicFile {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Syncs the content to disk and renames it over the path.
    pub fn commit(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        crash_point(&format!("before-rename:{}", file_name(&self.path)));
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        sync_dir(parent_dir(&self.path));
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// Puts the finished file `from` (say a verified `NAME.part`) in place at `to`,
/// replacing what is there, in one rename after syncing it. Both paths must lie
/// in the same folder (or at least on the same file system).
pub fn install_file(from: &Path, to: &Path) -> io::Result<()> {
    fs::File::open(from)?.sync_all()?;
    fs::rename(from, to)?;
    sync_dir(parent_dir(to));
    Ok(())
}

/// Puts the finished folder `staged` in place at `target` (same file system),
/// replacing a folder or file that is there: the old one is renamed aside into
/// a hidden temporary folder, `staged` renamed to `target`, and the old one
/// then deleted. If the second rename fails the old one is moved back.
pub fn install_dir(staged: &Path, target: &Path) -> io::Result<()> {
    let parent = parent_dir(target);
    let old = if fs::symlink_metadata(target).is_ok() {
        let holder = temp_dir_in(parent, file_name(target), "old")?;
        fs::rename(target, holder.path().join("old"))?;
        Some(holder)
    } else {
        None
    };
    if let Err(e) = fs::rename(staged, target) {
        if let Some(holder) = old {
            if fs::rename(holder.path().join("old"), target).is_err() {
                // Keep the old copy rather than delete the only one.
                let _ = holder.keep();
            }
        }
        return Err(e);
    }
    sync_dir(parent);
    drop(old);
    Ok(())
}

/// A new hidden folder `.{stem}.{tag}-XXXXXX` in `dir`, deleted with all it
/// holds when dropped: where a folder is assembled before [`install_dir`].
pub fn temp_dir_in(dir: &Path, stem: &str, tag: &str) -> io::Result<TempDir> {
    let mut builder = Builder::new();
    let prefix = format!(".{stem}.{tag}-");
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o777));
    }
    builder.tempdir_in(dir)
}

/// The folder `path` lies in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
}

/// Makes a rename in `dir` durable (best effort: not every system or file
/// system can sync a folder).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Runs `f` on one of rayon's worker threads while the caller waits.
///
/// A parallel loop (ours, or dfdx's matmul) started from outside the pool
/// hands its work to the pool and sleeps until it is done: two context
/// switches per loop, which a training step with hundreds of small loops
/// pays hundreds of times (on one thread, most of the step's time went to
/// the scheduler). Started from inside the pool, the loops split among the
/// workers directly, and with one thread they run inline. For a job that
/// is generic over the device, see
/// [`TrainDevice::on_pool`](crate::device::TrainDevice::on_pool).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// A copy of an owned (not broadcast or permuted) tensor's values: one
/// memcpy, where dfdx's `as_vec` walks a strided iterator value by value
/// (3% of a conv training step in params, moments and weights).
pub(crate) fn owned_to_vec<S: dfdx::shapes::Shape, D: dfdx::tensor::CopySlice<f32>>(
    t: &dfdx::tensor::Tensor<S, f32, D>,
) -> Vec<f32> {
    use dfdx::shapes::HasShape;
    let mut data = vec![0.0; t.shape().num_elements()];
    t.copy_into(&mut data);
    data
}

/// Fault injection for the crash tests (`tests/it/crash_resume.rs`): with
/// `CB_CRASH_AT=NAME:N` in the environment, the N-th time this process
/// passes the point `NAME` it aborts on the spot, like `kill -9` (no
/// destructors, no flushing, temporary files left behind). Points:
/// `step` (after each training step), `before-rename:FILE` (an atomic write
/// of FILE is on disk under its temporary name), `after-checkpoint` (the
/// checkpoint is in place, the results not yet). Without the variable, a
/// point costs one atomic load.
pub fn crash_point(name: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static TARGET: OnceLock<Option<(String, usize)>> = OnceLock::new();
    static HITS: AtomicUsize = AtomicUsize::new(0);
    let target = TARGET.get_or_init(|| {
        let spec = std::env::var("CB_CRASH_AT").ok()?;
        let (point, n) = spec.rsplit_once(':')?;
        Some((point.to_string(), n.parse().ok()?))
    });
    if let Some((point, n)) = target {
        if point == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names(&dir.path().join("sub")), ["out.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_ne!(mode & 0o600, 0, "{mode:o}");
        }
        // Not committed: the old content stays, the temporary goes.
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"half").unwrap();
        drop(f);
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names(&dir.path().join("sub")), ["out.json"]);
    }

    #[test]
    fn files_and_folders_are_installed_by_rename() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("a.bin.part");
        fs::write(&part, b"data").unwrap();
        install_file(&part, &dir.path().join("a.bin")).unwrap();
        assert_eq!(names(dir.path()), ["a.bin"]);

        let target = dir.path().join("folder");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.txt"), b"old").unwrap();
        let tmp = temp_dir_in(dir.path(), "folder", "extract").unwrap();
        let staged = tmp.path().join("folder");
        fs::create_dir(&staged).unwrap();
        fs::write(staged.join("new.txt"), b"new").unwrap();
        install_dir(&staged, &target).unwrap();
        drop(tmp);
        assert_eq!(names(&target), ["new.txt"]);
        assert_eq!(names(dir.path()), ["a.bin", "folder"]);
    }
}
