//! The one error type of the data layer. Every message is a single line that
//! names the file involved and, where a re-download would fix it, the command.

use std::fmt;
use std::path::{Path, PathBuf};

/// How to repair a missing or damaged dataset file: the `cb data fetch …`
/// command, or nothing when the file is not one of the known datasets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hint(Option<String>);

impl Hint {
    /// No repair command is known (a file that is not part of a dataset).
    pub fn none() -> Self {
        Hint(None)
    }

    /// Suggest running `command` (e.g. `cb data fetch mnist --data-dir data`).
    pub fn command(command: impl Into<String>) -> Self {
        Hint(Some(command.into()))
    }

    /// The suggested command, if any.
    pub fn as_command(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(cmd) => write!(f, "; run `{cmd}` to fetch it"),
            None => Ok(()),
        }
    }
}

/// Errors from reading, verifying and fetching datasets.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: file not found (neither it nor its .gz exists){hint}", .path.display())]
    Missing { path: PathBuf, hint: Hint },

    /// A file or folder of a dataset that is not an IDX file is missing.
    #[error("{}: {what} not found{hint}", .path.display())]
    NotFound {
        path: PathBuf,
        /// `file` or `folder`.
        what: &'static str,
        hint: Hint,
    },

    #[error("{}: cannot read: {source}{hint}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
        hint: Hint,
    },

    #[error("{}: corrupt or truncated gzip data ({reason}){hint}", .path.display())]
    Gzip {
        path: PathBuf,
        reason: String,
        hint: Hint,
    },

    #[error(
        "{}: not an IDX {what} file (magic 0x{found:08x}, expected 0x{expected:08x}){hint}",
        .path.display()
    )]
    BadMagic {
        path: PathBuf,
        what: &'static str,
        found: u32,
        expected: u32,
        hint: Hint,
    },

    #[error(
        "{}: wrong length: the IDX header implies {expected} bytes but the content has {actual} (truncated or damaged){hint}",
        .path.display()
    )]
    Length {
        path: PathBuf,
        expected: u64,
        actual: u64,
        hint: Hint,
    },

    #[error("{}: corrupt IDX data: {reason}{hint}", .path.display())]
    Corrupt {
        path: PathBuf,
        reason: String,
        hint: Hint,
    },

    /// A file (or folder) that is there but is not what its format requires.
    #[error("{}: invalid {what}: {reason}{hint}", .path.display())]
    Invalid {
        path: PathBuf,
        /// What it should be, e.g. `CIFAR-10 binary file`, `MATLAB v5 file`, `JPEG image`.
        what: &'static str,
        reason: String,
        hint: Hint,
    },

    #[error(
        "{}: content sha256 mismatch (expected {expected}, got {actual}){hint}",
        .path.display()
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
        hint: Hint,
    },

    #[error(
        "{} has {n_images} images but {} has {n_labels} labels{hint}",
        .images.display(), .labels.display()
    )]
    CountMismatch {
        images: PathBuf,
        n_images: usize,
        labels: PathBuf,
        n_labels: usize,
        hint: Hint,
    },

    /// Every mirror failed. The message says how else to get the file (the
    /// `cb` command line adds its `--mirror` flag to it).
    #[error(
        "could not fetch {name} into {dir}: {attempts} (the dataset's files can be put into {dir} by hand or fetched from another source; the data folder is set by `data_dir` or the {env} environment variable)",
        dir = .dir.display(),
        env = super::dir::DATA_DIR_ENV
    )]
    Fetch {
        name: String,
        dir: PathBuf,
        /// `source: what went wrong` for every mirror tried, in order, `; `-separated.
        attempts: String,
    },

    #[error("{}: cannot write: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("unknown {what} `{given}` (expected one of: {expected})")]
    Unknown {
        what: &'static str,
        given: String,
        expected: &'static str,
    },
}

impl DataError {
    /// Attach a repair command to errors about a dataset file.
    pub fn with_hint(mut self, new: Hint) -> Self {
        match &mut self {
            DataError::Missing { hint, .. }
            | DataError::NotFound { hint, .. }
            | DataError::Invalid { hint, .. }
            | DataError::Read { hint, .. }
            | DataError::Gzip { hint, .. }
            | DataError::BadMagic { hint, .. }
            | DataError::Length { hint, .. }
            | DataError::Corrupt { hint, .. }
            | DataError::Checksum { hint, .. }
            | DataError::CountMismatch { hint, .. } => *hint = new,
            DataError::Fetch { .. } | DataError::Write { .. } | DataError::Unknown { .. } => {}
        }
        self
    }

    /// The file the error is about (the images file for a count mismatch).
    pub fn path(&self) -> Option<&Path> {
        match self {
            DataError::Missing { path, .. }
            | DataError::NotFound { path, .. }
            | DataError::Invalid { path, .. }
            | DataError::Read { path, .. }
            | DataError::Gzip { path, .. }
            | DataError::BadMagic { path, .. }
            | DataError::Length { path, .. }
            | DataError::Corrupt { path, .. }
            | DataError::Checksum { path, .. }
            | DataError::Write { path, .. } => Some(path),
            DataError::CountMismatch { images, .. } => Some(images),
            DataError::Fetch { .. } | DataError::Unknown { .. } => None,
        }
    }
}

/// Squash a message onto one line (for errors from other crates).
pub(crate) fn one_line(s: impl fmt::Display) -> String {
    s.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`DataError::Invalid`] without a hint.
pub(crate) fn invalid(path: &Path, what: &'static str, reason: impl Into<String>) -> DataError {
    DataError::Invalid {
        path: path.to_path_buf(),
        what,
        reason: reason.into(),
        hint: Hint::none(),
    }
}

/// [`DataError::NotFound`] without a hint; `what` is `file` or `folder`.
pub(crate) fn not_found(path: &Path, what: &'static str) -> DataError {
    DataError::NotFound {
        path: path.to_path_buf(),
        what,
        hint: Hint::none(),
    }
}

/// Read a whole file; a missing file is [`DataError::NotFound`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => not_found(path, "file"),
        _ => DataError::Read {
            path: path.to_path_buf(),
            source,
            hint: Hint::none(),
        },
    })
}
