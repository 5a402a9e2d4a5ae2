//! One run per output folder. A run that writes into a folder (`cb train
//! --out`, a sweep's `--out`) holds an exclusive advisory lock on the file
//! `.cb.lock` in it, with its PID written inside, for as long as it runs; a
//! second run on the same folder is refused with the holder's PID instead of
//! silently overwriting its files. The operating system drops the lock when
//! the process ends however it ends (`kill -9` included), so a lock file left
//! behind is stale by construction and the next run simply takes it.
//!
//! Taking the lock also proves the folder usable before any work: it is
//! created if missing, and writing and syncing the PID fails at once for a
//! path that is a file, lies under a file, is read-only or on a full disk.
//! Taking it also removes the temporary files a killed writer left
//! ([`OutLock::remove_stale_temp_files`]): no other run writes there.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The lock file's name inside the folder.
pub const LOCK_FILE: &str = ".cb.lock";

/// An exclusive lock on an output folder, released when dropped.
#[derive(Debug)]
pub struct OutLock {
    // Unlocked when dropped (see `Drop`).
    file: File,
    dir: PathBuf,
}

impl OutLock {
    /// Creates `dir` if needed and locks it, or says in one line why not
    /// (another run holds it: its PID; the folder cannot be written: why).
    pub fn acquire(dir: &Path) -> Result<Self> {
        if dir.exists() && !dir.is_dir() {
            bail!("{}: is not a folder", dir.display());
        }
        fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the output folder", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("{}: cannot write in the output folder", dir.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                bail!(
                    "{}: in use by another run (PID {}); wait for it to end or use another output folder",
                    dir.display(),
                    if holder.is_empty() { "unknown" } else { holder }
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("{}: cannot lock", path.display()))
            }
        }
        let write_pid = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.seek(SeekFrom::Start(0))?;
            writeln!(f, "{}", std::process::id())?;
            f.sync_all()
        };
        write_pid(&mut file)
            .with_context(|| format!("{}: cannot write in the output folder", dir.display()))?;
        let lock = Self {
            file,
            dir: dir.to_path_buf(),
        };
        // Holding it, nothing else writes here: what a killed run left goes.
        lock.remove_stale_temp_files()?;
        Ok(lock)
    }

    /// Checks that `dir` can be locked and written now, then lets it go: the
    /// early check of a command that takes the lock later (after loading
    /// its data), so that a bad `--out` costs no work.
    /// A folder this check had to create is removed again, so a command
    /// that fails later on other input leaves nothing behind.
    pub fn check(dir: &Path) -> Result<()> {
        let existed = dir.exists();
        drop(Self::acquire(dir)?);
        if !existed {
            let _ = fs::remove_file(dir.join(LOCK_FILE));
            let _ = fs::remove_dir(dir);
        }
        Ok(())
    }

    /// Removes the temporary files of atomic writes (`.NAME.XXXXXX.tmp`,
    /// see `util::AtomicFile`) that a killed run left in the folder.
    pub fn remove_stale_temp_files(&self) -> Result<()> {
        let entries = fs::read_dir(&self.dir)
            .with_context(|| format!("{}: cannot list", self.dir.display()))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && name.starts_with('.') && name.ends_with(".tmp") {
                fs::remove_file(entry.path()).with_context(|| {
                    format!(
                        "{}: cannot remove a stale temporary file",
                        entry.path().display()
                    )
                })?;
            }
        }
        Ok(())
    }
}

impl Drop for OutLock {
    /// Unlocks before the file is closed: the lock belongs to the open file,
    /// which a child process forked by another thread shares until it execs,
    /// so closing alone could leave the folder locked for that instant and a
    /// run that takes it again at once (auto-tune's fits, one epoch each)
    /// would be refused with this process's own PID. Unlocking frees it
    /// whatever copies exist.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_a_folder_is_refused_with_the_pid_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let held = OutLock::acquire(&out).unwrap();
        let err = OutLock::acquire(&out).unwrap_err().to_string();
        assert!(
            err.contains(&format!("PID {}", std::process::id())),
            "{err}"
        );
        assert!(!err.contains('\n'));
        drop(held);
        OutLock::acquire(&out).unwrap();
    }

    #[test]
    fn unusable_folders_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        let err = OutLock::check(&file).unwrap_err().to_string();
        assert!(err.contains("is not a folder"), "{err}");
        let err = format!("{:#}", OutLock::check(&file.join("under")).unwrap_err());
        assert!(err.contains("cannot create"), "{err}");
        // A good folder passes, and the check leaves no trace of itself.
        let fresh = dir.path().join("fresh");
        OutLock::check(&fresh).unwrap();
        assert!(!fresh.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_dropped_lock_is_free_at_once_while_a_child_holds_a_copy_of_it() {
        use std::os::unix::process::CommandExt;
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let held = OutLock::acquire(&out).unwrap();
        // A child forked by another thread holds a copy of every descriptor
        // of this process until it execs; this one waits half a second first.
        let mut child = std::process::Command::new("true");
        // SAFETY: the closure only sleeps (nanosleep is async-signal-safe).
        unsafe {
            child.pre_exec(|| {
                std::thread::sleep(Duration::from_millis(500));
                Ok(())
            });
        }
        let spawner = std::thread::spawn(move || child.status());
        std::thread::sleep(Duration::from_millis(100));
        drop(held);
        OutLock::acquire(&out).unwrap();
        assert!(spawner.join().unwrap().unwrap().success());
    }

    #[test]
    fn stale_temporary_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let lock = OutLock::acquire(dir.path()).unwrap();
        for name in [".results.json.a1B2c3.tmp", "results.json", ".keep", "x.tmp"] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        lock.remove_stale_temp_files().unwrap();
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".cb.lock", ".keep", "results.json", "x.tmp"]);
    }
}
