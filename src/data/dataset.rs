//! An in-memory image classification dataset and the MNIST-style loader.

use std::path::Path;

use super::checksum::verify_sha256;
use super::error::{DataError, Hint};
use super::idx::{parse_images, parse_labels, read_idx};
use super::kind::{DatasetKind, Split};

/// Shape of one image, channels first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageShape {
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
}

impl ImageShape {
    /// Number of values in one image.
    pub fn len(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Images and labels in memory. Image `i` is
/// `images[i * image_len() .. (i + 1) * image_len()]`, laid out (channels, rows, cols),
/// with pixel values scaled to [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub channels: usize,
    pub rows: usize,
    pub cols: usize,
    pub num_classes: usize,
}

/// Expected raw checksums of an (images, labels) pair.
type PairChecksums<'a> = Option<(&'a str, &'a str)>;

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn shape(&self) -> ImageShape {
        ImageShape {
            channels: self.channels,
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Values per image (channels × rows × cols).
    pub fn image_len(&self) -> usize {
        self.shape().len()
    }

    /// Image `i`. Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// A new dataset holding the samples at `indices`, in that order (repeats allowed).
    /// Panics if an index is out of range, like slice indexing.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            channels: self.channels,
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        }
    }

    /// How many samples each class has (at least `num_classes` entries).
    pub fn class_counts(&self) -> Vec<usize> {
        let max = self
            .labels
            .iter()
            .map(|&l| l as usize + 1)
            .max()
            .unwrap_or(0);
        let mut counts = vec![0; self.num_classes.max(max)];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Load an IDX images/labels pair (each raw or gzip; `base` or `base.gz` is
    /// read), without checksum verification. Labels must be `< num_classes`.
    pub fn from_idx_files(
        images: &Path,
        labels: &Path,
        num_classes: usize,
    ) -> Result<Dataset, DataError> {
        load_pair(images, labels, num_classes, None)
    }
}

/// Load `split` of `kind` from `dir` (canonical file names, `.gz` or raw),
/// verifying the SHA-256 of the decompressed content against the canonical value.
/// Errors name the file and the `cb data fetch …` command that repairs it.
pub fn load_mnist(dir: &Path, kind: DatasetKind, split: Split) -> Result<Dataset, DataError> {
    let (img, lbl) = (kind.images_file(split), kind.labels_file(split));
    load_pair(
        &dir.join(img.name),
        &dir.join(lbl.name),
        kind.num_classes(),
        Some((img.raw_sha256, lbl.raw_sha256)),
    )
    .map_err(|e| e.with_hint(kind.fetch_hint(dir)))
}

fn load_pair(
    images: &Path,
    labels: &Path,
    num_classes: usize,
    checksums: PairChecksums<'_>,
) -> Result<Dataset, DataError> {
    let (img_path, img_bytes) = read_idx(images)?;
    let idx = parse_images(&img_path, &img_bytes)?;
    let (lbl_path, lbl_bytes) = read_idx(labels)?;
    let lbl = parse_labels(&lbl_path, &lbl_bytes)?;
    if idx.count != lbl.len() {
        return Err(DataError::CountMismatch {
            images: img_path,
            n_images: idx.count,
            labels: lbl_path,
            n_labels: lbl.len(),
            hint: Hint::none(),
        });
    }
    if let Some((img_sha, lbl_sha)) = checksums {
        verify_sha256(&img_path, &img_bytes, img_sha)?;
        verify_sha256(&lbl_path, &lbl_bytes, lbl_sha)?;
    }
    if let Some(pos) = lbl.iter().position(|&l| l as usize >= num_classes) {
        return Err(DataError::Corrupt {
            path: lbl_path,
            reason: format!(
                "label {} at index {pos} is not below {num_classes}",
                lbl[pos]
            ),
            hint: Hint::none(),
        });
    }
    Ok(Dataset {
        images: idx.pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
        labels: lbl.to_vec(),
        channels: 1,
        rows: idx.rows,
        cols: idx.cols,
        num_classes,
    })
}
