//! Datasets: MNIST / Fashion-MNIST (IDX), CIFAR-10 (binary), SVHN (MATLAB v5)
//! and Imagenette (JPEG folders): loading, fetching, augmentation.
//!
//! - [`load()`] / [`load_with`] read a split of any [`DatasetKind`] from a data
//!   directory (see [`resolve_data_dir`]) as a [`Dataset`]: channels-first f32
//!   images in [0, 1] and labels `0..10`. [`load_mnist`] is the IDX loader,
//!   which also verifies the content against the canonical SHA-256.
//! - [`load_prepared`] / [`train_test`]: the one call the CLI, the experiments
//!   and the notebooks use: a split, a subset, padded or resized, normalised.
//! - [`Dataset::padded`] and [`Dataset::to_channels`] adapt shapes (e.g. MNIST
//!   to 3×32×32 for the models built for CIFAR).
//! - [`fetch()`] downloads a dataset (`cb data fetch`): every file through one
//!   path: resumable `.part` download, SHA-256 check, atomic install.
//! - [`Augmenter`] applies the random augmentation of §3.1 to a batch.
//! - [`shuffled_batches`] and [`gather`] make mini-batches.
//!
//! Every error is a [`DataError`]: one line naming the file and, for missing or
//! damaged dataset files, the `cb data fetch …` command that repairs them.

pub mod augment;
pub mod batch;
pub mod checksum;
pub mod cifar;
pub mod dataset;
pub mod dir;
mod download;
pub mod error;
pub mod fetch;
pub mod idx;
pub mod image;
pub mod imagenette;
pub mod kind;
pub mod load;
pub mod mat;
pub mod prepare;
pub mod remote;
pub mod svhn;

pub use augment::{augment, normalize, AugmentConfig, Augmenter};
pub use batch::{
    epoch_seed, gather, gather_into, sequential_batches, shuffled_batches, Batch, Batches,
};
pub use cifar::load_cifar10;
pub use dataset::{load_mnist, Dataset, ImageShape};
pub use dir::{default_data_dir, resolve_data_dir, DATA_DIR_ENV};
pub use error::{DataError, Hint};
pub use fetch::{fetch, fetch_from, FetchOutcome, FetchReport, FetchedFile};
pub use imagenette::{load_imagenette, DEFAULT_IMAGE_SIZE, IMAGENETTE_CLASSES};
pub use kind::{DatasetKind, IdxFile, RemoteFile, Split};
pub use load::{load, load_with, LoadOptions};
pub use prepare::{load_prepared, train_test, Prepare};
pub use remote::fetch_remote;
pub use svhn::load_svhn;
