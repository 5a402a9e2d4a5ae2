//! A `.safetensors` file: an 8-byte little-endian header length, a JSON
//! header `{NAME: {"dtype", "shape", "data_offsets": [BEGIN, END]}, ...,
//! "__metadata__": {...}}`, then the tensors' little-endian bytes, offsets
//! relative to the end of the header.
//!
//! Parsed here rather than by the `safetensors` crate, which wants the
//! whole file in memory (or a memory map); this reads the header, checks it
//! against the file's length, and reads one tensor's bytes with a seek.
//! Tensors are listed whatever their dtype; [`SafeTensors::read`] converts
//! F32, F64 (rounded to the nearest f32), F16 and BF16 (exactly), and
//! refuses the rest naming the tensor.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use half::{bf16, f16};
use serde::Deserialize;

use super::{layer_error, shown, LayerFileError, LayerInfo};

/// Largest header accepted, in bytes: the `safetensors` crate's own limit.
const MAX_HEADER_LEN: u64 = 100_000_000;

/// What `read` converts, as its error says it.
const EXPECTED: &str = "expected F16, BF16, F32 or F64";

pub(super) struct SafeTensors {
    file: BufReader<File>,
    tensors: Vec<Tensor>,
}

/// Where a tensor's bytes are and how to decode them.
struct Tensor {
    dtype: Option<Float>,
    /// Absolute offset of its first byte in the file.
    start: u64,
    /// Its length in bytes: shape × width, checked at `open`.
    len: u64,
}

/// The dtypes `read` converts.
#[derive(Clone, Copy)]
enum Float {
    F16,
    Bf16,
    F32,
    F64,
}

impl Float {
    fn width(self) -> u64 {
        match self {
            Float::F16 | Float::Bf16 => 2,
            Float::F32 => 4,
            Float::F64 => 8,
        }
    }
}

/// Width in bytes of each dtype the format defines, so that every
/// tensor's size is checked whether or not it can be read.
fn width(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// One header entry as the format defines it; other keys are ignored.
#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

impl SafeTensors {
    pub(super) fn open(path: &Path) -> Result<(Self, Vec<LayerInfo>), LayerFileError> {
        let io_err = LayerFileError::io(path);
        let format = LayerFileError::format(path);
        let file = File::open(path).map_err(io_err)?;
        let file_len = file.metadata().map_err(io_err)?.len();
        let mut file = BufReader::new(file);
        if file_len < 8 {
            return Err(format(format!(
                "not a .safetensors file: {file_len} bytes, fewer than the 8-byte header length"
            )));
        }
        let mut len = [0u8; 8];
        file.read_exact(&mut len).map_err(io_err)?;
        let header_len = u64::from_le_bytes(len);
        if header_len > MAX_HEADER_LEN {
            return Err(format(format!(
                "header of {header_len} bytes is over the {MAX_HEADER_LEN}-byte limit"
            )));
        }
        if header_len > file_len - 8 {
            return Err(format(format!(
                "header of {header_len} bytes runs past the end of the file ({file_len} bytes)"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header).map_err(io_err)?;
        let data_start = 8 + header_len;
        let data_len = file_len - data_start;

        let entries: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
            .map_err(|e| {
            format(format!(
                "header is not a JSON object: {}",
                shown(&e.to_string())
            ))
        })?;
        let mut listed = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            if name == "__metadata__" {
                continue;
            }
            let err = |reason: String| layer_error(path, &name, reason);
            let entry: Entry = serde_json::from_value(value)
                .map_err(|e| err(format!("malformed header entry: {}", shown(&e.to_string()))))?;
            let (begin, end) = entry.data_offsets;
            if begin > end || end > data_len {
                return Err(err(format!(
                    "data_offsets [{begin}, {end}] are not within the {data_len} bytes of data"
                )));
            }
            if let Some(w) = width(&entry.dtype) {
                let bytes = entry.shape.iter().try_fold(w, |acc, &d| acc.checked_mul(d));
                if bytes != Some(end - begin) {
                    let need = match bytes {
                        Some(b) => format!("{b} bytes"),
                        None => "2^64 bytes or more".into(),
                    };
                    return Err(err(format!(
                        "shape {:?} of {} needs {need}, data_offsets [{begin}, {end}] hold {}",
                        entry.shape,
                        entry.dtype,
                        end - begin
                    )));
                }
            }
            let dtype = match entry.dtype.as_str() {
                "F16" => Some(Float::F16),
                "BF16" => Some(Float::Bf16),
                "F32" => Some(Float::F32),
                "F64" => Some(Float::F64),
                _ => None,
            };
            let tensor = Tensor {
                dtype,
                start: data_start + begin,
                len: end - begin,
            };
            let info = LayerInfo {
                name,
                shape: entry.shape,
                dtype: entry.dtype,
            };
            listed.push((begin, end, info, tensor));
        }
        // The file's order is that of the data; the format wants the data
        // covered exactly, without gaps or overlaps (as the `safetensors`
        // crate checks), so that no tensor's bytes are another's.
        listed.sort_by(|a, b| (a.0, a.1, &a.2.name).cmp(&(b.0, b.1, &b.2.name)));
        let mut covered = 0;
        for (begin, end, info, _) in &listed {
            if *begin != covered {
                return Err(layer_error(
                    path,
                    &info.name,
                    format!(
                        "data_offsets [{begin}, {end}] do not start where the previous tensor ends ({covered})"
                    ),
                ));
            }
            covered = *end;
        }
        if covered != data_len {
            return Err(format(format!(
                "{} bytes of data after the last tensor's end ({covered})",
                data_len - covered
            )));
        }
        // Listed in natural order of the names, not the data's: writers
        // (the `safetensors` packages) sort tensors by dtype and name, so
        // the offsets carry no model order, and natural order puts
        // `layers.2` before `layers.10` as a model numbers its layers.
        listed.sort_by(|a, b| super::natural_cmp(&a.2.name, &b.2.name));
        let (layers, tensors) = listed.into_iter().map(|(_, _, l, t)| (l, t)).unzip();
        Ok((SafeTensors { file, tensors }, layers))
    }

    pub(super) fn read(
        &mut self,
        i: usize,
        path: &Path,
        info: &LayerInfo,
    ) -> Result<Vec<f32>, LayerFileError> {
        let tensor = &self.tensors[i];
        let err = |reason: String| layer_error(path, &info.name, reason);
        let Some(dtype) = tensor.dtype else {
            return Err(err(format!(
                "unsupported dtype {} ({EXPECTED})",
                shown(&info.dtype)
            )));
        };
        let w = dtype.width() as usize;
        // `len` was checked against the file's length at `open`.
        let count = (tensor.len / dtype.width()) as usize;
        self.file
            .seek(SeekFrom::Start(tensor.start))
            .map_err(|e| err(format!("cannot read: {e}")))?;
        const CHUNK: usize = 1 << 16;
        let mut out = Vec::with_capacity(count);
        let mut buf = vec![0u8; count.min(CHUNK) * w];
        let mut left = count;
        while left > 0 {
            let n = left.min(CHUNK);
            let bytes = &mut buf[..n * w];
            self.file.read_exact(bytes).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    err("data ends early: the file was shortened since it was opened".into())
                }
                _ => err(format!("cannot read: {e}")),
            })?;
            let two = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]);
            match dtype {
                Float::F16 => out.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|b| f16::from_bits(two(b)).to_f32()),
                ),
                Float::Bf16 => out.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|b| bf16::from_bits(two(b)).to_f32()),
                ),
                Float::F32 => out.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                ),
                Float::F64 => out.extend(bytes.chunks_exact(8).map(|b| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    f64::from_le_bytes(a) as f32
                })),
            }
            left -= n;
        }
        Ok(out)
    }
}
