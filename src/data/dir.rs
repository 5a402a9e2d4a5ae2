//! Where datasets live on disk.

use std::path::{Path, PathBuf};

/// Environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "CB_DATA_DIR";

/// The data directory: `cli` (the `--data-dir` flag) if given, else `$CB_DATA_DIR`
/// if set and non-empty, else [`default_data_dir`].
pub fn resolve_data_dir(cli: Option<&Path>) -> PathBuf {
    if let Some(dir) = cli {
        return dir.to_path_buf();
    }
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => default_data_dir(),
    }
}

/// `data/` under the project root (the crate's manifest directory at build time).
pub fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}
