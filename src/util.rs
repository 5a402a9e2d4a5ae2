//! Small pieces every layer of the crate may use: the shape of an image row
//! and the one way files are written (atomically).

use std::path::Path;

use anyhow::{Context, Result};

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

/// Writes `bytes` to `path` through a sibling temp file and a rename, so a
/// reader (or a run killed half-way) never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    let result = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("{}: cannot write", path.display()))
}
