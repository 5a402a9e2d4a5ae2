//! The catalogue: which datasets exist, their files, canonical checksums,
//! mirrors, normalisation statistics and whether flips are a valid augmentation.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::dataset::ImageShape;
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

/// A file that a dataset's mirrors serve as is (the non-IDX datasets): the
/// length and SHA-256 of the canonical download, both checked before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteFile<'a> {
    /// Name on the mirrors (appended to a base URL) and, for a plain file, in the
    /// data directory.
    pub name: &'a str,
    /// Length in bytes.
    pub len: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: &'a str,
    /// `Some(folder)`: a gzip-compressed tar archive whose entries all lie under
    /// `folder/`; fetching extracts it into the data directory as `folder` and
    /// removes the archive. `None`: the file is stored as `name`.
    pub extract_to: Option<&'a str>,
}

impl RemoteFile<'_> {
    /// What ends up in the data directory: `extract_to`, else `name`.
    pub fn installed_name(&self) -> &str {
        self.extract_to.unwrap_or(self.name)
    }
}

/// Which dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// MNIST digits, 1×28×28, IDX files.
    Mnist,
    /// Fashion-MNIST, 1×28×28, IDX files.
    FashionMnist,
    /// CIFAR-10, 3×32×32, binary version (`cifar-10-batches-bin/`).
    Cifar10,
    /// SVHN cropped digits, 3×32×32, `train_32x32.mat` / `test_32x32.mat`.
    Svhn,
    /// Imagenette (`imagenette2-160/`), JPEGs resized to a square (default 64).
    Imagenette,
}

/// Which part of a dataset. Imagenette's `val` folder is its [`Split::Test`].
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

// Digests of the non-IDX downloads: lengths and SHA-256 as TensorFlow Datasets
// registers them (url_checksums/{cifar10,svhn_cropped,imagenette}.txt). Every
// file of the catalogue (IDX ones included) has a SHA-256; nothing else is checked.

/// CIFAR-10 binary version, from the authors' page.
const CIFAR10_FILES: [RemoteFile<'static>; 1] = [RemoteFile {
    name: "cifar-10-binary.tar.gz",
    len: 170_052_171,
    sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    extract_to: Some(super::cifar::CIFAR10_DIR),
}];

/// SVHN, format 2 (cropped digits): train and test (not `extra`).
const SVHN_FILES: [RemoteFile<'static>; 2] = [
    RemoteFile {
        name: super::svhn::SVHN_TRAIN,
        len: 182_040_794,
        sha256: "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
        extract_to: None,
    },
    RemoteFile {
        name: super::svhn::SVHN_TEST,
        len: 64_275_384,
        sha256: "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
        extract_to: None,
    },
];

/// Imagenette v2, shortest side 160 px.
const IMAGENETTE_FILES: [RemoteFile<'static>; 1] = [RemoteFile {
    name: "imagenette2-160.tgz",
    len: 98_948_031,
    sha256: "88daccb09b6fce93f45e6c09ddeb269cce705549e6bff322092a2a5a11489863",
    extract_to: Some(super::imagenette::IMAGENETTE_DIR),
}];

const CIFAR10_MIRRORS: [&str; 1] = ["https://www.cs.toronto.edu/~kriz/"];
const SVHN_MIRRORS: [&str; 1] = ["http://ufldl.stanford.edu/housenumbers/"];
const IMAGENETTE_MIRRORS: [&str; 1] = ["https://s3.amazonaws.com/fast-ai-imageclas/"];

// Per-channel statistics of the training images in [0, 1], as commonly
// published (ImageNet's for Imagenette). The scalar `mean_std` is over all
// values of all channels: mean of the channel means; the standard deviation
// combines the within-channel variances and the spread of the channel means.
const CIFAR10_CHANNEL_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
const CIFAR10_CHANNEL_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
const SVHN_CHANNEL_MEAN: [f32; 3] = [0.4377, 0.4438, 0.4728];
const SVHN_CHANNEL_STD: [f32; 3] = [0.1980, 0.2010, 0.1970];
const IMAGENET_CHANNEL_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_CHANNEL_STD: [f32; 3] = [0.229, 0.224, 0.225];
const MNIST_CHANNEL: ([f32; 1], [f32; 1]) = ([0.1307], [0.3081]);
const FASHION_CHANNEL: ([f32; 1], [f32; 1]) = ([0.2860], [0.3530]);

impl DatasetKind {
    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Cifar10,
        DatasetKind::Svhn,
        DatasetKind::Imagenette,
    ];

    /// The name used on the command line and in serde: `mnist`, `fashion-mnist`,
    /// `cifar10`, `svhn`, `imagenette`.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Svhn => "svhn",
            DatasetKind::Imagenette => "imagenette",
        }
    }

    /// Whether the dataset is four IDX files (MNIST, Fashion-MNIST).
    pub fn is_idx(self) -> bool {
        matches!(self, DatasetKind::Mnist | DatasetKind::FashionMnist)
    }

    /// The four IDX files (train images, train labels, test images, test
    /// labels); empty for the other datasets (see [`DatasetKind::remote_files`]).
    pub fn files(self) -> &'static [IdxFile] {
        match self {
            DatasetKind::Mnist => &MNIST_FILES,
            DatasetKind::FashionMnist => &FASHION_FILES,
            DatasetKind::Cifar10 | DatasetKind::Svhn | DatasetKind::Imagenette => &[],
        }
    }

    /// The IDX images file of `split`; `None` for a dataset that is not IDX.
    pub fn images_file(self, split: Split) -> Option<&'static IdxFile> {
        self.files().get(split.offset())
    }

    /// The IDX labels file of `split`; `None` for a dataset that is not IDX.
    pub fn labels_file(self, split: Split) -> Option<&'static IdxFile> {
        self.files().get(split.offset() + 1)
    }

    /// The downloads of a dataset that is not IDX; empty for IDX datasets.
    pub fn remote_files(self) -> &'static [RemoteFile<'static>] {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => &[],
            DatasetKind::Cifar10 => &CIFAR10_FILES,
            DatasetKind::Svhn => &SVHN_FILES,
            DatasetKind::Imagenette => &IMAGENETTE_FILES,
        }
    }

    /// Canonical download locations (base URLs, file names appended), in the order tried.
    pub fn mirrors(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Mnist => &MNIST_MIRRORS,
            DatasetKind::FashionMnist => &FASHION_MIRRORS,
            DatasetKind::Cifar10 => &CIFAR10_MIRRORS,
            DatasetKind::Svhn => &SVHN_MIRRORS,
            DatasetKind::Imagenette => &IMAGENETTE_MIRRORS,
        }
    }

    pub fn num_classes(self) -> usize {
        10
    }

    /// Channels of the loaded images: 1 for (Fashion-)MNIST, 3 otherwise.
    pub fn channels(self) -> usize {
        if self.is_idx() {
            1
        } else {
            3
        }
    }

    /// Shape of one loaded image ([`super::load()`]); Imagenette's side is
    /// `image_size` (see [`super::LoadOptions`]), the others have a fixed size.
    pub fn image_shape(self, image_size: usize) -> ImageShape {
        let side = match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => 28,
            DatasetKind::Cifar10 | DatasetKind::Svhn => 32,
            DatasetKind::Imagenette => image_size,
        };
        ImageShape {
            channels: self.channels(),
            rows: side,
            cols: side,
        }
    }

    /// Mean and standard deviation of all pixel values (all channels) of the
    /// training images, scaled to [0, 1]: what [`super::AugmentConfig`] uses.
    pub fn mean_std(self) -> (f32, f32) {
        match self {
            DatasetKind::Mnist => (MNIST_CHANNEL.0[0], MNIST_CHANNEL.1[0]),
            DatasetKind::FashionMnist => (FASHION_CHANNEL.0[0], FASHION_CHANNEL.1[0]),
            DatasetKind::Cifar10 | DatasetKind::Svhn | DatasetKind::Imagenette => {
                let (mean, std) = self.channel_mean_std();
                pooled(mean, std)
            }
        }
    }

    /// Per-channel mean and standard deviation of the training images in [0, 1]
    /// (one entry per channel of [`DatasetKind::channels`]).
    pub fn channel_mean_std(self) -> (&'static [f32], &'static [f32]) {
        match self {
            DatasetKind::Mnist => (&MNIST_CHANNEL.0, &MNIST_CHANNEL.1),
            DatasetKind::FashionMnist => (&FASHION_CHANNEL.0, &FASHION_CHANNEL.1),
            DatasetKind::Cifar10 => (&CIFAR10_CHANNEL_MEAN, &CIFAR10_CHANNEL_STD),
            DatasetKind::Svhn => (&SVHN_CHANNEL_MEAN, &SVHN_CHANNEL_STD),
            DatasetKind::Imagenette => (&IMAGENET_CHANNEL_MEAN, &IMAGENET_CHANNEL_STD),
        }
    }

    /// Whether horizontal flips are a valid augmentation (§3.1: "flip (except
    /// for Mnist)"): not for digits (MNIST, SVHN), yes for the others.
    pub fn flips(self) -> bool {
        match self {
            DatasetKind::Mnist | DatasetKind::Svhn => false,
            DatasetKind::FashionMnist | DatasetKind::Cifar10 | DatasetKind::Imagenette => true,
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

/// Mean and standard deviation of the union of equally sized channels.
fn pooled(mean: &[f32], std: &[f32]) -> (f32, f32) {
    let n = mean.len() as f64;
    let m = mean.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = mean
        .iter()
        .zip(std)
        .map(|(&mu, &sd)| f64::from(sd).powi(2) + (f64::from(mu) - m).powi(2))
        .sum::<f64>()
        / n;
    (m as f32, var.sqrt() as f32)
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
            "cifar10" | "cifar-10" => Ok(DatasetKind::Cifar10),
            "svhn" => Ok(DatasetKind::Svhn),
            "imagenette" => Ok(DatasetKind::Imagenette),
            _ => Err(DataError::Unknown {
                what: "dataset",
                given: s.to_string(),
                expected: "mnist, fashion-mnist, cifar10, svhn, imagenette",
            }),
        }
    }
}

impl FromStr for Split {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "test" | "t10k" | "val" => Ok(Split::Test),
            _ => Err(DataError::Unknown {
                what: "split",
                given: s.to_string(),
                expected: "train, test (or val)",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_serialize() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.name().parse::<DatasetKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<DatasetKind>(&json).unwrap(), kind);
        }
        assert_eq!(
            "CIFAR-10".parse::<DatasetKind>().unwrap(),
            DatasetKind::Cifar10
        );
        assert_eq!("val".parse::<Split>().unwrap(), Split::Test);
    }

    #[test]
    fn catalogue_is_consistent() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.is_idx(), !kind.files().is_empty());
            assert_eq!(kind.is_idx(), kind.remote_files().is_empty());
            assert_eq!(kind.images_file(Split::Test).is_some(), kind.is_idx());
            assert!(!kind.mirrors().is_empty());
            let (mean, std) = kind.channel_mean_std();
            assert_eq!(mean.len(), kind.channels());
            assert_eq!(std.len(), kind.channels());
            for f in kind.remote_files() {
                assert_eq!(f.sha256.len(), 64);
                assert!(f.len > 1 << 20);
            }
        }
        assert!(!DatasetKind::Svhn.flips() && !DatasetKind::Mnist.flips());
        assert!(DatasetKind::Cifar10.flips() && DatasetKind::Imagenette.flips());
        let s = DatasetKind::Imagenette.image_shape(96);
        assert_eq!((s.channels, s.rows, s.cols), (3, 96, 96));
    }

    #[test]
    fn pooled_statistics() {
        assert_eq!(DatasetKind::Mnist.mean_std(), (0.1307, 0.3081));
        let (m, s) = DatasetKind::Cifar10.mean_std();
        assert!(
            (m - 0.4734).abs() < 1e-4 && (s - 0.2516).abs() < 1e-3,
            "{m} {s}"
        );
        // Equal channels pool to themselves.
        assert_eq!(pooled(&[0.5, 0.5], &[0.2, 0.2]), (0.5, 0.2));
    }
}
