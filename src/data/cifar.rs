//! CIFAR-10, binary version: `cifar-10-batches-bin/data_batch_{1..5}.bin`
//! (train) and `test_batch.bin` (test). Each file is a run of 3073-byte
//! records: one label byte (0..=9), then the 3×32×32 image, channels first
//! (1024 red, 1024 green, 1024 blue values), rows top to bottom.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::dataset::Dataset;
use super::error::{invalid, read_file, DataError};
use super::kind::{DatasetKind, Split};

/// The folder the archive extracts to, inside the data directory.
pub const CIFAR10_DIR: &str = "cifar-10-batches-bin";
/// Image side length.
pub const CIFAR_SIDE: usize = 32;
/// Values per image (3 × 32 × 32).
pub const CIFAR_IMAGE_LEN: usize = 3 * CIFAR_SIDE * CIFAR_SIDE;
/// Bytes per record: label byte plus image.
pub const CIFAR_RECORD_LEN: usize = 1 + CIFAR_IMAGE_LEN;

const WHAT: &str = "CIFAR-10 binary file";
/// Largest file read: the real ones are 29.3 MiB (10 000 records); anything
/// far bigger is the wrong file, and would take four times its size as f32.
pub const MAX_CIFAR_FILE: u64 = 256 << 20;

/// File names of `split`, in load order.
pub fn cifar10_files(split: Split) -> Vec<String> {
    match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    }
}

/// Load `split` of CIFAR-10 from `dir/cifar-10-batches-bin/`. The files are
/// checked for whole records and labels below 10 (their digests were checked
/// when fetched). Errors name the file and the `cb data fetch cifar10` command.
pub fn load_cifar10(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let folder = dir.join(CIFAR10_DIR);
    let paths: Vec<PathBuf> = cifar10_files(split)
        .iter()
        .map(|n| folder.join(n))
        .collect();
    Dataset::from_cifar_files(&paths, 10)
        .map_err(|e| e.with_hint(DatasetKind::Cifar10.fetch_hint(dir)))
}

impl Dataset {
    /// Concatenate CIFAR binary record files (CIFAR-10 layout: one label byte per
    /// record), in order. Labels must be below `num_classes`.
    pub fn from_cifar_files(paths: &[PathBuf], num_classes: usize) -> Result<Dataset, DataError> {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for path in paths {
            let bytes = read_file(path, MAX_CIFAR_FILE, WHAT)?;
            let n = parse_records(path, &bytes, num_classes)?;
            let start = images.len();
            images.resize(start + n * CIFAR_IMAGE_LEN, 0.0);
            images[start..]
                .par_chunks_mut(CIFAR_IMAGE_LEN)
                .zip(bytes.par_chunks(CIFAR_RECORD_LEN))
                .for_each(|(out, rec)| {
                    for (o, &p) in out.iter_mut().zip(&rec[1..]) {
                        *o = f32::from(p) / 255.0;
                    }
                });
            labels.extend(bytes.chunks(CIFAR_RECORD_LEN).map(|rec| rec[0]));
        }
        Ok(Dataset {
            images,
            labels,
            channels: 3,
            rows: CIFAR_SIDE,
            cols: CIFAR_SIDE,
            num_classes,
        })
    }
}

/// Check that `bytes` is a non-empty run of whole records with valid labels;
/// return the record count.
fn parse_records(path: &Path, bytes: &[u8], num_classes: usize) -> Result<usize, DataError> {
    if bytes.is_empty() {
        return Err(invalid(path, WHAT, "empty (no records)"));
    }
    if !bytes.len().is_multiple_of(CIFAR_RECORD_LEN) {
        return Err(invalid(
            path,
            WHAT,
            format!(
                "{} bytes is not a whole number of {CIFAR_RECORD_LEN}-byte records \
                 (1 label byte + 3×32×32 pixels): truncated or damaged",
                bytes.len()
            ),
        ));
    }
    let bad = bytes
        .chunks(CIFAR_RECORD_LEN)
        .position(|rec| rec[0] as usize >= num_classes);
    if let Some(i) = bad {
        return Err(invalid(
            path,
            WHAT,
            format!(
                "record {i} has label {}, not below {num_classes}",
                bytes[i * CIFAR_RECORD_LEN]
            ),
        ));
    }
    Ok(bytes.len() / CIFAR_RECORD_LEN)
}
