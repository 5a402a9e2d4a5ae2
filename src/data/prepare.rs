//! The one data call the CLI, the experiments and the notebooks share: load
//! a split, optionally cut it to a (seeded) subset, pad or resize the
//! images, and normalise them.

use std::path::Path;

use rand::{seq::SliceRandom, SeedableRng};
use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::error::DataError;
use super::kind::{DatasetKind, Split};
use super::load::{load_with, LoadOptions};

/// How a split is prepared. `Default`: all samples, native size, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Prepare {
    /// Keep this many samples (all when `None` or more than there are).
    pub samples: Option<usize>,
    /// `None`: the first `samples`; `Some(seed)`: a random subset drawn with `seed`.
    pub subset_seed: Option<u64>,
    /// Square side in pixels: MNIST-style images are zero-padded around the
    /// centre (28 → 32 for the conv nets), Imagenette is resized to it.
    pub side: Option<usize>,
    /// Keep raw [0, 1] pixels instead of standardising with the dataset's
    /// mean and standard deviation (the paper normalizes).
    pub raw: bool,
}

impl Prepare {
    /// The first `n` samples (or all), native size, normalised.
    pub fn first(n: Option<usize>) -> Self {
        Self {
            samples: n,
            ..Self::default()
        }
    }

    /// Images padded (or resized) to `side × side`.
    pub fn side(self, side: usize) -> Self {
        Self {
            side: Some(side),
            ..self
        }
    }
}

/// `split` of `kind` from the data folder `dir`, prepared as `how` says.
/// Errors are one line naming the file and the `cb data fetch …` that repairs it.
pub fn load_prepared(
    dir: &Path,
    kind: DatasetKind,
    split: Split,
    how: &Prepare,
) -> Result<Dataset, DataError> {
    let mut options = LoadOptions::default();
    if let (DatasetKind::Imagenette, Some(side)) = (kind, how.side) {
        options.image_size = side;
    }
    let mut d = load_with(dir, kind, split, &options)?;
    if let Some(n) = how.samples.filter(|&n| n < d.len()) {
        d = match how.subset_seed {
            None => d.take(n),
            Some(seed) => {
                let mut idx: Vec<usize> = (0..d.len()).collect();
                idx.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(seed));
                idx.truncate(n);
                d.subset(&idx)
            }
        };
    }
    if let Some(side) = how.side.filter(|&s| (d.rows, d.cols) != (s, s)) {
        d = d.padded(side, side);
    }
    if !how.raw {
        let (mean, std) = kind.mean_std();
        d = d.normalized(mean, std);
    }
    Ok(d)
}

/// The training and test splits of `kind`, each prepared as `how` says but
/// with `train_samples` / `test_samples` samples.
pub fn train_test(
    dir: &Path,
    kind: DatasetKind,
    how: &Prepare,
    train_samples: Option<usize>,
    test_samples: Option<usize>,
) -> Result<(Dataset, Dataset), DataError> {
    let get = |split, samples| load_prepared(dir, kind, split, &Prepare { samples, ..*how });
    Ok((
        get(Split::Train, train_samples)?,
        get(Split::Test, test_samples)?,
    ))
}
