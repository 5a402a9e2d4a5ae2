//! The catalogue: which datasets exist, their files, canonical checksums,
//! mirrors and normalisation statistics.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::error::{DataError, Hint};

/// One of the four IDX files of a dataset, as the canonical distribution names it
/// (without `.gz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdxFile {
    /// Canonical name without `.gz`, e.g. `train-images-idx3-ubyte`.
    pub name: &'static str,
    /// SHA-256 of the *decompressed* content (the canonical raw IDX file). It does
    /// not depend on how a mirror compressed the file, so one value fits all copies.
    pub raw_sha256: &'static str,
    /// Length in bytes of the decompressed content.
    pub raw_len: u64,
}

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
}

/// Which part of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    Train,
    Test,
}

// Order of both tables: train images, train labels, test images, test labels.

/// MNIST: digests of the canonical raw files (shared/data/mnist/RAW-CHECKSUMS;
/// their md5s match the published raw md5s of the canonical distribution).
const MNIST_FILES: [IdxFile; 4] = [
    IdxFile {
        name: "train-images-idx3-ubyte",
        raw_sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        raw_len: 47_040_016,
    },
    IdxFile {
        name: "train-labels-idx1-ubyte",
        raw_sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        raw_len: 60_008,
    },
    IdxFile {
        name: "t10k-images-idx3-ubyte",
        raw_sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        raw_len: 7_840_016,
    },
    IdxFile {
        name: "t10k-labels-idx1-ubyte",
        raw_sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        raw_len: 10_008,
    },
];

/// Fashion-MNIST: sha256 computed from the decompressed files of Debian's package
/// `dataset-fashion-mnist` 0.0~git20200523.55506a9-1, whose raw md5s
/// (f4a8712d…, 9018921c…, 8181f547…, 15d48437…) equal the raw md5s published for
/// the canonical Zalando files. Debian re-compressed the archives, so — as for
/// MNIST — only the decompressed content is compared.
const FASHION_FILES: [IdxFile; 4] = [
    IdxFile {
        name: "train-images-idx3-ubyte",
        raw_sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        raw_len: 47_040_016,
    },
    IdxFile {
        name: "train-labels-idx1-ubyte",
        raw_sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        raw_len: 60_008,
    },
    IdxFile {
        name: "t10k-images-idx3-ubyte",
        raw_sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        raw_len: 7_840_016,
    },
    IdxFile {
        name: "t10k-labels-idx1-ubyte",
        raw_sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        raw_len: 10_008,
    },
];

const MNIST_MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

const FASHION_MIRRORS: [&str; 1] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"];

impl DatasetKind {
    pub const ALL: [DatasetKind; 2] = [DatasetKind::Mnist, DatasetKind::FashionMnist];

    /// The name used on the command line: `mnist` or `fashion-mnist`.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }

    /// The four files: train images, train labels, test images, test labels.
    pub fn files(self) -> &'static [IdxFile; 4] {
        match self {
            DatasetKind::Mnist => &MNIST_FILES,
            DatasetKind::FashionMnist => &FASHION_FILES,
        }
    }

    pub fn images_file(self, split: Split) -> &'static IdxFile {
        &self.files()[split.offset()]
    }

    pub fn labels_file(self, split: Split) -> &'static IdxFile {
        &self.files()[split.offset() + 1]
    }

    /// Canonical download locations (base URLs, file names appended), in the order tried.
    pub fn mirrors(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Mnist => &MNIST_MIRRORS,
            DatasetKind::FashionMnist => &FASHION_MIRRORS,
        }
    }

    pub fn num_classes(self) -> usize {
        10
    }

    /// Per-pixel mean and standard deviation of the training images, scaled to [0, 1].
    pub fn mean_std(self) -> (f32, f32) {
        match self {
            DatasetKind::Mnist => (0.1307, 0.3081),
            DatasetKind::FashionMnist => (0.2860, 0.3530),
        }
    }

    /// Whether horizontal flips are a valid augmentation (§3.1: "flip (except for Mnist)").
    pub fn flips(self) -> bool {
        match self {
            DatasetKind::Mnist => false,
            DatasetKind::FashionMnist => true,
        }
    }

    /// The command that fetches this dataset into `dir`.
    pub fn fetch_command(self, dir: &Path) -> String {
        let dir = dir.display().to_string();
        let dir = if dir.is_empty() || dir.contains(char::is_whitespace) {
            format!("'{dir}'")
        } else {
            dir
        };
        format!("cb data fetch {} --data-dir {dir}", self.name())
    }

    pub fn fetch_hint(self, dir: &Path) -> Hint {
        Hint::command(self.fetch_command(dir))
    }
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    fn offset(self) -> usize {
        match self {
            Split::Train => 0,
            Split::Test => 2,
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "mnist" => Ok(DatasetKind::Mnist),
            "fashion-mnist" | "fashionmnist" => Ok(DatasetKind::FashionMnist),
            _ => Err(DataError::Unknown {
                what: "dataset",
                given: s.to_string(),
                expected: "mnist, fashion-mnist",
            }),
        }
    }
}

impl FromStr for Split {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "test" | "t10k" => Ok(Split::Test),
            _ => Err(DataError::Unknown {
                what: "split",
                given: s.to_string(),
                expected: "train, test",
            }),
        }
    }
}
