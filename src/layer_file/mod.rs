//! Many layers' activations (or a model's weights) in one file, listed up
//! front and read one layer at a time, so that memory holds one layer.
//!
//! Three layouts, told apart by what the path is:
//!
//! - a `.npz` archive (numpy's `savez`, entries stored, or
//!   `savez_compressed`, entries deflated): one array per entry `NAME.npy`,
//!   in the archive's order, which is the order numpy was given them in
//!   (`npz.rs`);
//! - a `.safetensors` file: tensors in natural order of their names (the
//!   format's writers sort tensors by dtype and name, so the file's order is
//!   not the model's), names as written (`safetensors.rs`);
//! - a folder of `.npy` files: every `*.npy` file in it, in natural order of
//!   file names (`layer2.npy` before `layer10.npy`), each named by its file
//!   stem; other files are ignored (`npy_dir.rs`, order in `natural.rs`).
//!
//! [`LayerFile::open`] reads every layer's header (name, shape, dtype) and
//! checks each layer's size against the bytes the file holds for it, so
//! that [`LayerFile::read`] never allocates more than the file justifies.
//! What a file holds but this reader cannot convert (an integer dtype, a
//! 0-d array for [`LayerFile::read`], a Fortran-ordered array) is listed by
//! `open` and refused by `read`, naming the layer: a model's weights file
//! can hold integer counters beside the float tensors wanted.
//!
//! Every error is one line naming the file and, where one is involved, the
//! layer; no input, however malformed, panics.

mod natural;
mod npy_dir;
mod npz;
mod safetensors;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::npy::{Activations, NpyError, NpyStream};

pub use natural::natural_cmp;

/// One layer (or tensor) as the file's header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The array's name: the entry name without `.npy` (`.npz`), the tensor
    /// name (`.safetensors`), the file stem (folder of `.npy`).
    pub name: String,
    pub shape: Vec<u64>,
    /// As the file writes it: `<f4`, `>f8`, `<f2` (`.npy`, `.npz`); `F32`,
    /// `BF16` (`.safetensors`).
    pub dtype: String,
}

impl LayerFileError {
    /// An I/O error of the file at `path` (for `map_err`).
    pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> Self + Copy + '_ {
        move |err| LayerFileError::Io {
            path: path.into(),
            err,
        }
    }

    /// A format error of the file at `path`, with its reason.
    pub(crate) fn format(path: &Path) -> impl Fn(String) -> Self + Copy + '_ {
        move |reason| LayerFileError::Format {
            path: path.into(),
            reason,
        }
    }
}

impl LayerInfo {
    /// Whether its dtype is one [`LayerFile::read`] converts (f16, bf16,
    /// f32, f64), told from the header alone: callers can refuse a file
    /// before reading any layer.
    pub fn is_float(&self) -> bool {
        let t = self.dtype.trim_start_matches(['<', '>', '=', '|']);
        matches!(t, "f2" | "f4" | "f8" | "F16" | "BF16" | "F32" | "F64")
    }
}

/// Why a layer file, or one of its layers, could not be used. Every message
/// is one line naming the file, and the layer where one is involved.
#[derive(Debug, thiserror::Error)]
pub enum LayerFileError {
    #[error("{path}: file not found")]
    Missing { path: PathBuf },
    #[error("{path}: not a .npz, a .safetensors file or a folder of .npy files")]
    Kind { path: PathBuf },
    // `err`, not `source`: the message already says it (as in `NpyError`).
    #[error("{path}: cannot read: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    /// The file as a whole is malformed.
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    /// One layer is malformed, or holds what cannot be read as floats.
    #[error("{path}: layer {layer}: {reason}")]
    Layer {
        path: PathBuf,
        /// The name as [`shown`] writes it.
        layer: String,
        reason: String,
    },
    #[error("{path}: no layer {index}: the file has {count}")]
    Index {
        path: PathBuf,
        index: usize,
        count: usize,
    },
    /// A file of a folder of `.npy` files: its message names that file,
    /// whose stem is the layer.
    #[error(transparent)]
    Npy(#[from] NpyError),
}

/// Characters of a name an error message shows before `...`.
const NAME_LEN: usize = 200;

/// A name from a file as an error message shows it: control characters
/// escaped so that the message stays one line, clipped to [`NAME_LEN`]
/// characters (zip and safetensors names can be kilobytes long).
pub fn shown(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().take(NAME_LEN) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if name.chars().nth(NAME_LEN).is_some() {
        out.push_str("...");
    }
    out
}

/// An open layer file: its layers listed, their values read on demand.
pub struct LayerFile {
    path: PathBuf,
    layers: Vec<LayerInfo>,
    source: Source,
}

enum Source {
    Npz(npz::Npz),
    SafeTensors(safetensors::SafeTensors),
    NpyDir(npy_dir::NpyDir),
}

impl LayerFile {
    /// Opens a `.npz`, a `.safetensors` file or a folder of `.npy` files (by
    /// what the path is and its extension, in any letter case; anything else
    /// is refused) and reads every layer's header (name, shape, dtype)
    /// without reading values. Two layers of one name are refused.
    pub fn open(path: &Path) -> Result<Self, LayerFileError> {
        let meta = std::fs::metadata(path).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => LayerFileError::Missing { path: path.into() },
            _ => LayerFileError::Io {
                path: path.into(),
                err,
            },
        })?;
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        let (source, layers) = match ext.as_deref() {
            _ if meta.is_dir() => {
                let (s, l) = npy_dir::NpyDir::open(path)?;
                (Source::NpyDir(s), l)
            }
            Some("npz") => {
                let (s, l) = npz::Npz::open(path)?;
                (Source::Npz(s), l)
            }
            Some("safetensors") => {
                let (s, l) = safetensors::SafeTensors::open(path)?;
                (Source::SafeTensors(s), l)
            }
            _ => return Err(LayerFileError::Kind { path: path.into() }),
        };
        let mut names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(LayerFileError::Format {
                path: path.into(),
                reason: format!("two layers are named {}", shown(w[0])),
            });
        }
        Ok(LayerFile {
            path: path.into(),
            layers,
            source,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every layer, in the file's order (see the module documentation).
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The index of the layer named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name == name)
    }

    /// Reads layer `i`'s values as f32, row-major, with its shape `(N, ...)`
    /// (first axis = samples; the trailing axes, any number of them, are one
    /// sample's features). Any rank from 1 up is read (a 1-d weight vector
    /// too); a 0-d array is refused, as it has no sample axis.
    pub fn read(&mut self, i: usize) -> Result<Activations, LayerFileError> {
        let info = self.info(i)?;
        if info.shape.is_empty() {
            let reason = "a 0-d array has no sample axis; expected shape (N, ...)";
            return Err(self.layer_error(i, reason));
        }
        let shape = info.shape.clone();
        let data = self.read_values(i)?;
        Ok(Activations { data, shape })
    }

    /// Reads layer `i`'s values as f32, row-major, whatever its rank (a 0-d
    /// array gives one value): for weights, where only the values matter.
    /// f16 and bf16 convert exactly, f64 rounds to the nearest f32; other
    /// dtypes are refused.
    pub fn read_values(&mut self, i: usize) -> Result<Vec<f32>, LayerFileError> {
        let info = self.info(i)?.clone();
        let data = match &mut self.source {
            Source::Npz(s) => s.read(i, &self.path, &info)?,
            Source::SafeTensors(s) => s.read(i, &self.path, &info)?,
            Source::NpyDir(s) => s.read(i, &info)?,
        };
        // Each reader sizes its result from the checked shape; a mismatch
        // here would be a bug in one of them, not a malformed file.
        debug_assert_eq!(data.len() as u128, count(&info.shape));
        Ok(data)
    }

    fn info(&self, i: usize) -> Result<&LayerInfo, LayerFileError> {
        self.layers.get(i).ok_or_else(|| LayerFileError::Index {
            path: self.path.clone(),
            index: i,
            count: self.layers.len(),
        })
    }

    fn layer_error(&self, i: usize, reason: &str) -> LayerFileError {
        layer_error(&self.path, &self.layers[i].name, reason)
    }
}

fn count(shape: &[u64]) -> u128 {
    shape.iter().map(|&d| u128::from(d)).product()
}

fn layer_error(path: &Path, name: &str, reason: impl Into<String>) -> LayerFileError {
    LayerFileError::Layer {
        path: path.into(),
        layer: shown(name),
        reason: reason.into(),
    }
}

/// Reads the values of a `.npy` stream that `open` listed as `info`,
/// refusing one whose header has changed since (the file was rewritten).
/// `wrap` names the source in errors.
fn npy_values<R: Read>(
    stream: NpyStream<R>,
    info: &LayerInfo,
    wrap: impl Fn(NpyError) -> LayerFileError,
    changed: impl Fn() -> LayerFileError,
) -> Result<Vec<f32>, LayerFileError> {
    if stream.shape() != info.shape.as_slice() || stream.dtype() != info.dtype {
        return Err(changed());
    }
    stream.read_floats().map_err(wrap)
}
