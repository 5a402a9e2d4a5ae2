//! An in-memory image classification dataset, the MNIST-style loader, and
//! shape helpers (padding, channel conversion, statistics).

use std::path::Path;

use super::checksum::verify_sha256;
use super::error::{DataError, Hint};
use super::idx::{parse_images, parse_labels, read_idx, IMAGES_MAGIC, LABELS_MAGIC};
use super::kind::{DatasetKind, Split};

pub use crate::util::ImageShape;

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

    /// Rows of `dim` features that are not images (shape `1×1×dim`), e.g. the
    /// toy problem's one-number inputs. Panics unless `rows` holds
    /// `labels.len() × dim` values.
    pub fn from_rows(rows: Vec<f32>, labels: Vec<u8>, dim: usize, num_classes: usize) -> Dataset {
        assert_eq!(
            rows.len(),
            labels.len() * dim,
            "{} values are not {} rows of {dim}",
            rows.len(),
            labels.len()
        );
        Dataset {
            images: rows,
            labels,
            channels: 1,
            rows: 1,
            cols: dim,
            num_classes,
        }
    }

    /// Labels as `usize`, as the metric and the loss take them.
    pub fn labels_usize(&self) -> Vec<usize> {
        self.labels.iter().map(|&l| l as usize).collect()
    }

    /// The first `n` samples (all, if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images[..n * self.image_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
            channels: self.channels,
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        }
    }

    /// Standardises every value: `(x - mean) / std` (the paper normalizes inputs).
    pub fn normalized(mut self, mean: f32, std: f32) -> Dataset {
        super::normalize(&mut self.images, mean, std);
        self
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

    /// The same images zero-padded (or, along an axis that shrinks, cropped)
    /// around the centre to `rows × cols`, e.g. MNIST 28×28 → 32×32: the old
    /// image starts at offset `floor((new - old) / 2)`, so an odd amount of
    /// padding puts the extra row (column) at the bottom (right).
    pub fn padded(&self, rows: usize, cols: usize) -> Dataset {
        let (r0, c0) = (self.rows, self.cols);
        // Offsets of the old image in the new one (negative: cropped).
        let dy = (rows as isize - r0 as isize).div_euclid(2);
        let dx = (cols as isize - c0 as isize).div_euclid(2);
        let ys: Vec<(usize, usize)> = (0..rows)
            .filter_map(|y| {
                let src = y as isize - dy;
                (0..r0 as isize).contains(&src).then_some((y, src as usize))
            })
            .collect();
        let x_lo = dx.max(0) as usize;
        let x_hi = (dx + c0 as isize).clamp(0, cols as isize) as usize;
        let src_x = (x_lo as isize - dx) as usize;
        let width = x_hi.saturating_sub(x_lo);
        let new_len = self.channels * rows * cols;
        let mut images = vec![0f32; self.len() * new_len];
        if width > 0 && new_len > 0 {
            for (i, out) in images.chunks_exact_mut(new_len).enumerate() {
                let img = self.image(i);
                for ch in 0..self.channels {
                    for &(y, sy) in &ys {
                        let d = (ch * rows + y) * cols + x_lo;
                        let s = (ch * r0 + sy) * c0 + src_x;
                        out[d..d + width].copy_from_slice(&img[s..s + width]);
                    }
                }
            }
        }
        Dataset {
            images,
            labels: self.labels.clone(),
            channels: self.channels,
            rows,
            cols,
            num_classes: self.num_classes,
        }
    }

    /// The same images with `channels` channels: a copy if unchanged, a gray
    /// image repeated into every channel (1 → 3 for RGB models), or all
    /// channels averaged into one (→ 1).
    ///
    /// Panics for other conversions (e.g. 3 → 2) or `channels == 0`.
    pub fn to_channels(&self, channels: usize) -> Dataset {
        assert!(channels > 0, "to_channels(0)");
        let plane = self.rows * self.cols;
        let images = if channels == self.channels {
            self.images.clone()
        } else if self.channels == 1 {
            let mut out = Vec::with_capacity(self.images.len() * channels);
            if plane > 0 {
                for img in self.images.chunks_exact(plane) {
                    for _ in 0..channels {
                        out.extend_from_slice(img);
                    }
                }
            }
            out
        } else if channels == 1 {
            let n = self.image_len();
            let scale = 1.0 / self.channels as f32;
            let mut out = vec![0f32; self.len() * plane];
            if n > 0 {
                for (img, o) in self.images.chunks_exact(n).zip(out.chunks_exact_mut(plane)) {
                    for ch in img.chunks_exact(plane) {
                        o.iter_mut().zip(ch).for_each(|(a, &b)| *a += b);
                    }
                    o.iter_mut().for_each(|a| *a *= scale);
                }
            }
            out
        } else {
            panic!(
                "to_channels: cannot convert {} channels to {channels}",
                self.channels
            );
        };
        Dataset {
            images,
            labels: self.labels.clone(),
            channels,
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        }
    }

    /// Mean and standard deviation of all values (every channel), computed in
    /// f64; `(0, 0)` when empty.
    pub fn mean_std(&self) -> (f32, f32) {
        stats(self.images.iter().copied())
    }

    /// Mean and standard deviation of each channel's values.
    pub fn channel_mean_std(&self) -> (Vec<f32>, Vec<f32>) {
        let plane = self.rows * self.cols;
        let n = self.image_len();
        (0..self.channels)
            .map(|ch| {
                stats(
                    self.images
                        .chunks_exact(n.max(1))
                        .flat_map(|img| img[ch * plane..(ch + 1) * plane].iter().copied()),
                )
            })
            .unzip()
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

/// Mean and population standard deviation of `values`, accumulated in f64.
fn stats(values: impl Iterator<Item = f32>) -> (f32, f32) {
    let (mut n, mut sum, mut sq) = (0u64, 0f64, 0f64);
    for v in values {
        let v = f64::from(v);
        n += 1;
        sum += v;
        sq += v * v;
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / n as f64;
    let var = (sq / n as f64 - mean * mean).max(0.0);
    (mean as f32, var.sqrt() as f32)
}

/// Load `split` of an IDX dataset (MNIST, Fashion-MNIST) from `dir` (canonical
/// file names, `.gz` or raw), verifying the SHA-256 of the decompressed content
/// against the canonical value. Errors name the file and the `cb data fetch …`
/// command that repairs it. Any other `kind` is loaded as [`super::load()`] does.
pub fn load_mnist(dir: &Path, kind: DatasetKind, split: Split) -> Result<Dataset, DataError> {
    let (Some(img), Some(lbl)) = (kind.images_file(split), kind.labels_file(split)) else {
        return super::load::load(dir, kind, split);
    };
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
    let (img_path, img_bytes) = read_idx(images, IMAGES_MAGIC)?;
    let idx = parse_images(&img_path, &img_bytes)?;
    let (lbl_path, lbl_bytes) = read_idx(labels, LABELS_MAGIC)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` images of `channels × rows × cols`, value `i*1000 + ch*100 + y*10 + x`.
    fn numbered(n: usize, channels: usize, rows: usize, cols: usize) -> Dataset {
        let mut images = Vec::new();
        for i in 0..n {
            for ch in 0..channels {
                for y in 0..rows {
                    for x in 0..cols {
                        images.push((i * 1000 + ch * 100 + y * 10 + x) as f32);
                    }
                }
            }
        }
        Dataset {
            images,
            labels: (0..n as u8).collect(),
            channels,
            rows,
            cols,
            num_classes: 10,
        }
    }

    #[test]
    fn padded_centres_with_zeros() {
        let ds = numbered(2, 2, 2, 3);
        let p = ds.padded(4, 5);
        assert_eq!((p.len(), p.channels, p.rows, p.cols), (2, 2, 4, 5));
        assert_eq!(p.labels, ds.labels);
        assert_eq!(p.images.len(), 2 * 2 * 4 * 5);
        let img = p.image(1);
        for ch in 0..2 {
            for y in 0..4 {
                for x in 0..5 {
                    let v = img[(ch * 4 + y) * 5 + x];
                    let want = if (1..3).contains(&y) && (1..4).contains(&x) {
                        (1000 + ch * 100 + (y - 1) * 10 + (x - 1)) as f32
                    } else {
                        0.0
                    };
                    assert_eq!(v, want, "ch {ch} y {y} x {x}");
                }
            }
        }
    }

    #[test]
    fn padded_mnist_to_32_and_odd_and_crop() {
        let ds = numbered(1, 1, 28, 28);
        let p = ds.padded(32, 32);
        assert_eq!(p.image(0)[2 * 32 + 2], 0.0); // image's (0, 0) is at (2, 2)
        assert_eq!(p.image(0)[2 * 32 + 3], 1.0);
        assert_eq!(p.image(0)[3 * 32 + 2], 10.0);
        assert_eq!(p.images.iter().filter(|&&v| v != 0.0).count(), 28 * 28 - 1);
        // Odd padding: the extra column goes to the right.
        let odd = numbered(1, 1, 1, 2).padded(1, 5);
        assert_eq!(odd.images, vec![0.0, 0.0, 1.0, 0.0, 0.0]);
        // Same size is a copy; a smaller size crops around the centre.
        assert_eq!(ds.padded(28, 28), ds);
        let c = p.padded(28, 28);
        assert_eq!(c.images, ds.images);
        // Padding to nothing yields empty images but keeps the labels.
        let z = ds.padded(0, 3);
        assert_eq!((z.images.len(), z.labels.len()), (0, 1));
    }

    #[test]
    fn to_channels_repeats_gray_and_averages() {
        let ds = numbered(2, 1, 2, 2);
        let rgb = ds.to_channels(3);
        assert_eq!((rgb.channels, rgb.rows, rgb.cols, rgb.len()), (3, 2, 2, 2));
        for i in 0..2 {
            let img = rgb.image(i);
            for ch in 0..3 {
                assert_eq!(&img[ch * 4..ch * 4 + 4], ds.image(i));
            }
        }
        assert_eq!(rgb.labels, ds.labels);
        assert_eq!(rgb.to_channels(1), ds);
        assert_eq!(ds.to_channels(1), ds);
        let two = numbered(1, 2, 1, 2).to_channels(1);
        assert_eq!(two.images, vec![50.0, 51.0]);
        // MNIST-like to the CIFAR shape.
        let cifar_like = numbered(3, 1, 28, 28).padded(32, 32).to_channels(3);
        assert_eq!(cifar_like.shape().len(), 3 * 32 * 32);
    }

    #[test]
    #[should_panic(expected = "cannot convert 3 channels to 2")]
    fn to_channels_rejects_other_conversions() {
        numbered(1, 3, 1, 1).to_channels(2);
    }

    #[test]
    fn statistics() {
        let ds = Dataset {
            images: vec![0.0, 1.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5],
            labels: vec![0, 1],
            channels: 2,
            rows: 1,
            cols: 2,
            num_classes: 2,
        };
        assert_eq!(ds.mean_std(), (0.5, (0.125f32).sqrt()));
        let (m, s) = ds.channel_mean_std();
        assert_eq!(m, vec![0.5, 0.5]);
        assert_eq!(s, vec![0.5, 0.0]);
    }
}
