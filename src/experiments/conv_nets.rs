//! Conv-net plumbing shared by the conv sweep and auto-tune: the image data
//! those nets train on, and building a net for a dataset's image shape; and
//! the data of sweeps that train FC and conv nets side by side ([`NetData`]).

use std::path::Path;

use anyhow::Result;

use super::settings::RunSettings;
use crate::data::{train_test, Dataset, DatasetKind, Prepare};
use crate::layers::ConvDevice;
use crate::models::convnet::{ConvNet, ConvSpec, Widths};
use crate::train::{measure_hidden, BundlePoint, TrainConfig, TrainReport, Trainer};

/// A 10-class VGG or ResNet for `data`'s images, initialised from `seed`.
pub fn conv_net<D: ConvDevice>(
    dev: &D,
    spec: ConvSpec,
    widths: Widths,
    data: &Dataset,
    seed: u64,
) -> Result<ConvNet<10, D>> {
    ConvNet::new(dev, spec, widths, data.shape(), seed)
}

/// Trains one conv net of `spec` on `train_set` (initialised from the
/// trainer's seed).
pub fn train_conv<D: ConvDevice>(
    dev: &D,
    spec: ConvSpec,
    widths: Widths,
    train_set: &Dataset,
    test_set: Option<&Dataset>,
    trainer: &Trainer,
) -> Result<TrainReport> {
    let mut net = conv_net(dev, spec, widths, train_set, trainer.config.seed)?;
    trainer.fit(dev, &mut net, train_set, test_set)
}

/// Train and test images for the conv nets, normalized, optionally cut to the
/// first `n` samples; MNIST and Fashion-MNIST are zero-padded to 32×32.
pub fn load_images(
    kind: DatasetKind,
    data_dir: &Path,
    train_samples: Option<usize>,
    test_samples: Option<usize>,
) -> Result<(Dataset, Dataset)> {
    let mut how = Prepare::default();
    if matches!(kind, DatasetKind::Mnist | DatasetKind::FashionMnist) {
        how = how.side(32);
    }
    Ok(train_test(
        data_dir,
        kind,
        &how,
        train_samples,
        test_samples,
    )?)
}

/// `H^l` of every hidden layer of a freshly initialised net of `spec` (seed
/// `cfg.seed`) on `samples`, in inference mode as during training: what the
/// net does to the data before any step.
pub fn measure_untrained<D: ConvDevice>(
    dev: &D,
    spec: ConvSpec,
    widths: Widths,
    samples: &Dataset,
    cfg: &TrainConfig,
) -> Result<BundlePoint> {
    let net = conv_net(dev, spec, widths, samples, cfg.seed)?;
    measure_hidden(dev, &net, samples, cfg.optimizer.lr as f32, cfg.batch_size)
}

/// The data of a sweep of FC and conv nets (the precision sweep, the
/// criteria comparison): the FC nets take the 28×28 rows, the conv nets the
/// same images padded to 32×32 (the same samples in the same order, so the
/// same bundle subset); each loaded only when a net needs it.
pub struct NetData {
    pub rows: Option<(Dataset, Dataset)>,
    pub images: Option<(Dataset, Dataset)>,
}

impl NetData {
    /// The splits `run` names, as rows if `rows`, as images if `images`.
    pub fn load(run: &RunSettings, rows: bool, images: bool, data_dir: &Path) -> Result<Self> {
        let (train, test) = (run.train_samples, run.test_samples);
        let rows = rows
            .then(|| train_test(data_dir, run.dataset, &Prepare::default(), train, test))
            .transpose()?;
        let images = images
            .then(|| load_images(run.dataset, data_dir, train, test))
            .transpose()?;
        Ok(Self { rows, images })
    }
}
