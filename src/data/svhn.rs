//! SVHN, format 2 (cropped 32×32 digits): `train_32x32.mat` and
//! `test_32x32.mat`, MATLAB level-5 files holding `X`, a 32×32×3×N uint8
//! array (rows, columns, channels, images; column-major), and `y`, N×1 labels
//! 1..=10 where 10 stands for the digit 0.

use std::path::Path;

use rayon::prelude::*;

use super::dataset::Dataset;
use super::error::{invalid, read_file, DataError};
use super::kind::{DatasetKind, Split};
use super::mat::{read_mat, MatData};

/// Training file name (in the data directory and on the mirrors).
pub const SVHN_TRAIN: &str = "train_32x32.mat";
/// Test file name.
pub const SVHN_TEST: &str = "test_32x32.mat";

const WHAT: &str = "SVHN MAT-file";
/// Largest file read: `train_32x32.mat` is 182 MiB (73 257 images); the extra
/// set (1.3 GiB) is not one of the splits.
pub const MAX_SVHN_FILE: u64 = 1 << 30;

/// File name of `split`.
pub fn svhn_file(split: Split) -> &'static str {
    match split {
        Split::Train => SVHN_TRAIN,
        Split::Test => SVHN_TEST,
    }
}

/// Load `split` of SVHN from `dir` (labels mapped to 0..=9, 10 → 0). The file's
/// structure is checked (its digests were checked when fetched). Errors name
/// the file and the `cb data fetch svhn` command.
pub fn load_svhn(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    Dataset::from_svhn_mat(&dir.join(svhn_file(split)))
        .map_err(|e| e.with_hint(DatasetKind::Svhn.fetch_hint(dir)))
}

impl Dataset {
    /// Read an SVHN-style MAT-file: `X` is rows × cols × channels × N (channels
    /// 1 or 3; uint8, or any numeric type with values in 0..=255) and `y` holds N
    /// labels in 0..=10, 10 meaning 0. Images become channels-first, row-major.
    pub fn from_svhn_mat(path: &Path) -> Result<Dataset, DataError> {
        let bytes = read_file(path, MAX_SVHN_FILE, WHAT)?;
        let mut mat = read_mat(path, bytes, &["X", "y"])?;
        let x = mat.take("X")?;
        let y = mat.take("y")?;
        let err = |reason: String| invalid(path, WHAT, reason);
        let (rows, cols, channels, n) = match x.dims[..] {
            [r, c, ch, n] => (r, c, ch, n),
            // MATLAB drops trailing singleton dimensions: one image.
            [r, c, ch] => (r, c, ch, 1),
            _ => {
                return Err(err(format!(
                    "`X` has dimensions {:?}, expected rows × cols × channels × images",
                    x.dims
                )))
            }
        };
        if n == 0 {
            return Err(err(format!(
                "`X` holds no images (dimensions {:?})",
                x.dims
            )));
        }
        if channels != 1 && channels != 3 {
            return Err(err(format!(
                "`X` has {channels} channels (dimensions {:?}), expected 1 or 3",
                x.dims
            )));
        }
        if y.data.len() != n || y.dims.iter().filter(|&&d| d != 1).count() > 1 {
            return Err(err(format!(
                "`y` has dimensions {:?} but `X` holds {n} images",
                y.dims
            )));
        }
        let labels = (0..n)
            .map(|i| {
                let v = y.data.get(i);
                if v.fract() == 0.0 && (0.0..=10.0).contains(&v) {
                    Ok((v as u8) % 10)
                } else {
                    Err(err(format!("label {v} at index {i} is not in 1..=10")))
                }
            })
            .collect::<Result<Vec<u8>, _>>()?;
        let plane = rows * cols;
        if plane == 0 {
            return Err(err(format!(
                "`X` has empty images (dimensions {:?})",
                x.dims
            )));
        }
        let image_len = channels * plane;
        let mut images = vec![0f32; n * image_len];
        match &x.data {
            MatData::U8(v) => images
                .par_chunks_mut(image_len)
                .zip(v.par_chunks(image_len))
                .for_each(|(out, src)| transpose(out, src, rows, cols, |b| f32::from(b) / 255.0)),
            MatData::F64(v) => {
                if let Some(bad) = v
                    .iter()
                    .find(|&&p| !(0.0..=255.0).contains(&p) || p.is_nan())
                {
                    return Err(err(format!("`X` holds {bad}, outside 0..=255")));
                }
                images
                    .par_chunks_mut(image_len)
                    .zip(v.par_chunks(image_len))
                    .for_each(|(out, src)| transpose(out, src, rows, cols, |p| (p / 255.0) as f32));
            }
        }
        Ok(Dataset {
            images,
            labels,
            channels,
            rows,
            cols,
            num_classes: 10,
        })
    }
}

/// One image: column-major planes (`src[ch][col][row]`) to row-major (`out[ch][row][col]`).
fn transpose<T: Copy>(out: &mut [f32], src: &[T], rows: usize, cols: usize, f: impl Fn(T) -> f32) {
    let plane = rows * cols;
    for (o, s) in out.chunks_exact_mut(plane).zip(src.chunks_exact(plane)) {
        for c in 0..cols {
            for r in 0..rows {
                o[r * cols + c] = f(s[c * rows + r]);
            }
        }
    }
}
