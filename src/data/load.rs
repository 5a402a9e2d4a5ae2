//! One entry point for every dataset: [`load`] / [`load_with`].

use std::path::Path;

use super::cifar::load_cifar10;
use super::dataset::{load_mnist, Dataset};
use super::error::DataError;
use super::imagenette::{load_imagenette, DEFAULT_IMAGE_SIZE};
use super::kind::{DatasetKind, Split};
use super::svhn::load_svhn;

/// How to load datasets whose images have no fixed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadOptions {
    /// Side of Imagenette's square images (centre crop, then bilinear resize);
    /// ignored by the fixed-size datasets. Default 64.
    pub image_size: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            image_size: DEFAULT_IMAGE_SIZE,
        }
    }
}

/// Load `split` of `kind` from the data directory `dir` (as laid out by
/// `cb data fetch`), with default [`LoadOptions`]. Images are channels-first
/// with values in [0, 1]: MNIST and Fashion-MNIST 1×28×28 (content verified
/// against the canonical SHA-256), CIFAR-10 and SVHN 3×32×32, Imagenette
/// 3×64×64. Labels are `0..10`. Every error is one line naming the file and
/// the `cb data fetch …` command that repairs it.
pub fn load(dir: &Path, kind: DatasetKind, split: Split) -> Result<Dataset, DataError> {
    load_with(dir, kind, split, &LoadOptions::default())
}

/// [`load`] with explicit options.
pub fn load_with(
    dir: &Path,
    kind: DatasetKind,
    split: Split,
    options: &LoadOptions,
) -> Result<Dataset, DataError> {
    match kind {
        DatasetKind::Mnist | DatasetKind::FashionMnist => load_mnist(dir, kind, split),
        DatasetKind::Cifar10 => load_cifar10(dir, split),
        DatasetKind::Svhn => load_svhn(dir, split),
        DatasetKind::Imagenette => load_imagenette(dir, split, options.image_size),
    }
}
