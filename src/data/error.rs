//! The one error type of the data layer. Every message is a single line that
//! names the file involved and, where a re-download would fix it, the command.

use std::fmt;
use std::io::Read;
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

    /// Something is at the path but not what should be there (a folder where a
    /// file should be, a broken symbolic link, a named pipe, ...).
    #[error("{}: is {found}, not a {expected}{hint}", .path.display())]
    WrongType {
        path: PathBuf,
        /// What is there, e.g. `a directory`, `a broken symbolic link (to x)`.
        found: String,
        /// `file` or `folder`.
        expected: &'static str,
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

    /// The content goes on past the length its header implies. Reading stops
    /// there, so how much longer it is stays unknown (it may be a
    /// decompression bomb).
    #[error(
        "{}: wrong length: the content is longer than the {expected} bytes the IDX header implies (trailing data or damaged){hint}",
        .path.display()
    )]
    TooLong {
        path: PathBuf,
        expected: u64,
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
            | DataError::WrongType { hint, .. }
            | DataError::Read { hint, .. }
            | DataError::Gzip { hint, .. }
            | DataError::BadMagic { hint, .. }
            | DataError::Length { hint, .. }
            | DataError::TooLong { hint, .. }
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
            | DataError::WrongType { path, .. }
            | DataError::Read { path, .. }
            | DataError::Gzip { path, .. }
            | DataError::BadMagic { path, .. }
            | DataError::Length { path, .. }
            | DataError::TooLong { path, .. }
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

/// Check that `path` is a regular file (following symbolic links) before it
/// is opened, and return its length. Reading a folder, a device or a named
/// pipe as a file fails oddly, never ends or blocks forever, and "not found"
/// would hide what is really there: the error says what it is instead. A
/// symbolic-link loop is a [`DataError::Read`] ("too many levels of symbolic
/// links").
pub(crate) fn check_file(path: &Path) -> Result<u64, DataError> {
    check_kind(path, "file").map(|meta| meta.len())
}

/// Check that `path` is a folder (following symbolic links); errors as
/// [`check_file`]'s.
pub(crate) fn check_folder(path: &Path) -> Result<(), DataError> {
    check_kind(path, "folder").map(|_| ())
}

/// The metadata of `path` if it is a `file` or a `folder` (`expected`).
fn check_kind(path: &Path, expected: &'static str) -> Result<std::fs::Metadata, DataError> {
    let wrong = |found: String| DataError::WrongType {
        path: path.to_path_buf(),
        found,
        expected,
        hint: Hint::none(),
    };
    match std::fs::metadata(path) {
        Ok(meta) if expected == "file" && meta.is_file() => Ok(meta),
        Ok(meta) if expected == "folder" && meta.is_dir() => Ok(meta),
        Ok(meta) => Err(wrong(describe(&meta.file_type()).to_string())),
        // The path itself may be there: a symbolic link to nothing.
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::read_link(path) {
                Ok(target) => Err(wrong(format!(
                    "a broken symbolic link (to {}, which does not exist)",
                    target.display()
                ))),
                Err(_) => Err(not_found(path, expected)),
            }
        }
        Err(source) => Err(DataError::Read {
            path: path.to_path_buf(),
            source,
            hint: Hint::none(),
        }),
    }
}

/// What a file type is, for messages (symbolic links are already followed).
fn describe(ty: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ty.is_fifo() {
            return "a named pipe";
        }
        if ty.is_socket() {
            return "a socket";
        }
        if ty.is_block_device() || ty.is_char_device() {
            return "a device";
        }
    }
    if ty.is_dir() {
        "a directory"
    } else if ty.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Read a whole regular file of at most `limit` bytes (see [`check_file`]);
/// `what` names the format in the error for a longer one. The limit is checked
/// before anything is allocated, and reading stops past it should the file
/// grow meanwhile.
pub(crate) fn read_file(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, DataError> {
    let len = check_file(path)?;
    let too_long = |len: u64| {
        invalid(
            path,
            what,
            format!("{len} bytes, more than the {limit} such a file may have (wrong file?)"),
        )
    };
    if len > limit {
        return Err(too_long(len));
    }
    let read = |source| DataError::Read {
        path: path.to_path_buf(),
        source,
        hint: Hint::none(),
    };
    let mut bytes = Vec::with_capacity(len as usize);
    std::fs::File::open(path)
        .map_err(read)?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    match bytes.len() as u64 {
        n if n > limit => Err(too_long(n)),
        _ => Ok(bytes),
    }
}
