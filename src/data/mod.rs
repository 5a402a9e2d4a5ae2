//! Datasets: IDX (MNIST, Fashion-MNIST) loading, fetching, augmentation.
//!
//! - [`load_mnist`] reads a split from a data directory (see [`resolve_data_dir`]),
//!   verifying the decompressed content against the canonical SHA-256.
//! - [`fetch()`] downloads the four files of a dataset (`cb data fetch`).
//! - [`Augmenter`] applies the random augmentation of §3.1 to a batch.
//! - [`shuffled_batches`] and [`gather`] make mini-batches.
//!
//! Every error is a [`DataError`]: one line naming the file and, for missing or
//! damaged dataset files, the `cb data fetch …` command that repairs them.

pub mod augment;
pub mod batch;
pub mod checksum;
pub mod dataset;
pub mod dir;
mod download;
pub mod error;
pub mod fetch;
pub mod idx;
pub mod kind;

pub use augment::{augment, normalize, AugmentConfig, Augmenter};
pub use batch::{
    epoch_seed, gather, gather_into, sequential_batches, shuffled_batches, Batch, Batches,
};
pub use dataset::{load_mnist, Dataset, ImageShape};
pub use dir::{default_data_dir, resolve_data_dir, DATA_DIR_ENV};
pub use error::{DataError, Hint};
pub use fetch::{fetch, fetch_from, FetchOutcome, FetchReport, FetchedFile};
pub use kind::{DatasetKind, IdxFile, Split};
