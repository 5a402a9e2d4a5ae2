//! Random data augmentation as in §3.1 of the paper: "We normalize and randomly
//! crop, flip (except for Mnist) and adapt the brightness of images."
//!
//! Per image, in this order: random crop of the zero-padded image back to its
//! size (content shifted by up to `pad` pixels), left-right flip with
//! probability 1/2, one brightness delta added to every pixel, then
//! normalisation `(x - mean) / std`. Crop and brightness act on [0, 1] pixels so
//! the padding is black, as in the authors' MNIST pipeline. Deterministic for a
//! given seed, configuration and sequence of batches.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::dataset::ImageShape;
use super::kind::DatasetKind;

/// What [`Augmenter`] does.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentConfig {
    /// Subtracted from every pixel last.
    pub mean: f32,
    /// Divides every pixel after the mean is subtracted.
    pub std: f32,
    /// Zero padding on each side before the random crop; 0 disables cropping.
    pub pad: usize,
    /// Flip left-right with probability 1/2.
    pub flip: bool,
    /// Maximum brightness delta, in [0, 1] pixel units; 0 disables it.
    pub brightness: f32,
}

impl AugmentConfig {
    /// Training augmentation for `kind`: its mean/std, padding 4, flips unless
    /// MNIST, brightness ±0.25 (the `max_delta` of the authors' code).
    pub fn train(kind: DatasetKind) -> Self {
        let (mean, std) = kind.mean_std();
        AugmentConfig {
            mean,
            std,
            pad: 4,
            flip: kind.flips(),
            brightness: 0.25,
        }
    }

    /// Evaluation: normalisation only.
    pub fn eval(kind: DatasetKind) -> Self {
        let (mean, std) = kind.mean_std();
        AugmentConfig {
            mean,
            std,
            ..Self::identity()
        }
    }

    /// Leaves images unchanged.
    pub fn identity() -> Self {
        AugmentConfig {
            mean: 0.0,
            std: 1.0,
            pad: 0,
            flip: false,
            brightness: 0.0,
        }
    }
}

/// Applies an [`AugmentConfig`] with its own seeded random stream.
#[derive(Debug, Clone)]
pub struct Augmenter {
    config: AugmentConfig,
    rng: SmallRng,
    scratch: Vec<f32>,
}

impl Augmenter {
    pub fn new(config: AugmentConfig, seed: u64) -> Self {
        Augmenter {
            config,
            rng: SmallRng::seed_from_u64(seed),
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &AugmentConfig {
        &self.config
    }

    /// Augment, in place, the images stored one after another in `batch`, each
    /// laid out as `shape` (channels, rows, cols).
    ///
    /// Panics if `batch.len()` is not a multiple of `shape.len()`.
    pub fn apply(&mut self, batch: &mut [f32], shape: ImageShape) {
        let n = shape.len();
        if n == 0 {
            return;
        }
        assert!(
            batch.len().is_multiple_of(n),
            "batch of {} values is not a whole number of {n}-value images",
            batch.len()
        );
        let c = self.config;
        let scale = 1.0 / c.std;
        for image in batch.chunks_exact_mut(n) {
            if c.pad > 0 {
                let pad = c.pad as isize;
                let dy = self.rng.gen_range(-pad..=pad);
                let dx = self.rng.gen_range(-pad..=pad);
                shift(image, &mut self.scratch, shape, dy, dx);
            }
            if c.flip && self.rng.gen::<bool>() {
                image
                    .chunks_exact_mut(shape.cols)
                    .for_each(<[f32]>::reverse);
            }
            let delta = if c.brightness > 0.0 {
                self.rng.gen_range(-c.brightness..=c.brightness)
            } else {
                0.0
            };
            let offset = delta - c.mean;
            image.iter_mut().for_each(|v| *v = (*v + offset) * scale);
        }
    }
}

/// One-shot: augment `batch` with a fresh [`Augmenter`] seeded by `seed`.
pub fn augment(batch: &mut [f32], shape: ImageShape, config: AugmentConfig, seed: u64) {
    Augmenter::new(config, seed).apply(batch, shape);
}

/// `(x - mean) / std` for every value.
pub fn normalize(values: &mut [f32], mean: f32, std: f32) {
    let scale = 1.0 / std;
    values.iter_mut().for_each(|v| *v = (*v - mean) * scale);
}

/// `out[c][y][x] = in[c][y + dy][x + dx]`, zero outside the image: the crop at
/// offset (pad + dy, pad + dx) of the image zero-padded by `pad`.
fn shift(image: &mut [f32], scratch: &mut Vec<f32>, shape: ImageShape, dy: isize, dx: isize) {
    scratch.clear();
    scratch.extend_from_slice(image);
    image.fill(0.0);
    let (rows, cols) = (shape.rows as isize, shape.cols as isize);
    let (x0, x1) = (0.max(-dx), cols.min(cols - dx));
    if x0 >= x1 {
        return;
    }
    let width = (x1 - x0) as usize;
    for ch in 0..shape.channels {
        let plane = ch * shape.rows * shape.cols;
        for y in 0.max(-dy)..rows.min(rows - dy) {
            let dst = plane + (y * cols + x0) as usize;
            let src = plane + ((y + dy) * cols + x0 + dx) as usize;
            image[dst..dst + width].copy_from_slice(&scratch[src..src + width]);
        }
    }
}
