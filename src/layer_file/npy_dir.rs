//! A folder of `.npy` files, one layer each: every `*.npy` file directly in
//! the folder, in natural order of file names (`layer2.npy` before
//! `layer10.npy`), named by file stem. Other files and sub-folders are
//! ignored. Errors about one file come from `crate::npy` and name that file.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::{natural::natural_cmp, npy_values, LayerFileError, LayerInfo};
use crate::npy::{NpyError, NpyStream};

pub(super) struct NpyDir {
    /// One file per layer, in the layers' order.
    files: Vec<PathBuf>,
}

impl NpyDir {
    pub(super) fn open(dir: &Path) -> Result<(Self, Vec<LayerInfo>), LayerFileError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |err| LayerFileError::Io { path, err }
        };
        let mut named = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let path = entry.map_err(io_err(dir))?.path();
            if path
                .extension()
                .is_none_or(|e| !e.eq_ignore_ascii_case("npy"))
            {
                continue;
            }
            // Followed through links: a link to a missing file is an error,
            // not silently one layer fewer.
            let meta = std::fs::metadata(&path).map_err(|err| match err.kind() {
                std::io::ErrorKind::NotFound => NpyError::BrokenLink { path: path.clone() }.into(),
                _ => io_err(&path)(err),
            })?;
            if meta.is_file() {
                let name = path.file_name().unwrap_or_default();
                named.push((name.to_string_lossy().into_owned(), path));
            }
        }
        if named.is_empty() {
            return Err(LayerFileError::Format {
                path: dir.into(),
                reason: "the folder holds no .npy files".into(),
            });
        }
        named.sort_by(|(a, _), (b, _)| natural_cmp(a, b));
        let files: Vec<PathBuf> = named.into_iter().map(|(_, p)| p).collect();
        let mut layers = Vec::with_capacity(files.len());
        for path in &files {
            let stream = open_stream(path)?;
            let stem = path.file_stem().unwrap_or_default();
            layers.push(LayerInfo {
                name: stem.to_string_lossy().into_owned(),
                shape: stream.shape().to_vec(),
                dtype: stream.dtype().to_string(),
            });
        }
        Ok((NpyDir { files }, layers))
    }

    pub(super) fn read(&self, i: usize, info: &LayerInfo) -> Result<Vec<f32>, LayerFileError> {
        let path = &self.files[i];
        let changed = || {
            LayerFileError::Npy(NpyError::Shape {
                path: path.clone(),
                reason: "header changed since the folder was opened".into(),
            })
        };
        npy_values(open_stream(path)?, info, LayerFileError::Npy, changed)
    }
}

/// Opens `path` as a `.npy` stream of the file's length, header checked.
fn open_stream(path: &Path) -> Result<NpyStream<BufReader<File>>, LayerFileError> {
    let io_err = LayerFileError::io(path);
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    Ok(NpyStream::new(BufReader::new(file), len, path)?)
}
