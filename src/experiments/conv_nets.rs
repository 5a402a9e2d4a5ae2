//! Conv-net plumbing shared by the conv sweep and auto-tune: which typed net
//! a dataset's images feed, and the image data those nets train on.

use std::path::Path;

use anyhow::{bail, Result};

use crate::data::{load, DatasetKind, ImageShape, Split};
use crate::layers::ConvDevice;
use crate::models::convnet::{
    ConvModel, ConvSpec, GrayConvNet, Rgb64ConvNet, RgbConvNet, DIVISORS,
};
use crate::train::trainer::measure_hidden;
use crate::train::{train, BundlePoint, RunOptions, Samples, TrainConfig, TrainReport};
use crate::with_widths;

/// Something to do with a freshly built conv net (Rust closures cannot be
/// generic over the net's type, so jobs are types).
pub trait ConvJob<D: ConvDevice> {
    type Output;
    fn run<const IN: usize, M: ConvModel<IN, D>>(self, model: M) -> Result<Self::Output>;
}

/// Builds the net for `image`-shaped inputs with the widths of `divisor`,
/// initialised from `seed`, and hands it to `job`. Supported inputs:
/// 1×32×32 (MNIST / Fashion-MNIST padded), 3×32×32 (CIFAR-10, SVHN) and
/// 3×64×64 (Imagenette at the loader's default size).
pub fn with_conv_net<D: ConvDevice, J: ConvJob<D>>(
    dev: &D,
    image: ImageShape,
    divisor: usize,
    spec: ConvSpec,
    seed: u64,
    job: J,
) -> Result<J::Output> {
    check_divisor(divisor)?;
    let side = (image.rows, image.cols);
    with_widths!(divisor, W => match (image.channels, image.rows, image.cols) {
        (1, 32, 32) => job.run(GrayConvNet::<W, D>::new(dev, spec, side, seed)),
        (3, 32, 32) => job.run(RgbConvNet::<W, D>::new(dev, spec, side, seed)),
        (3, 64, 64) => job.run(Rgb64ConvNet::<W, D>::new(dev, spec, side, seed)),
        (c, r, w) => bail!(
            "no conv net takes {c}x{r}x{w} images (supported: 1x32x32, 3x32x32, 3x64x64)"
        ),
    })
    .expect("divisor checked above")
}

/// Fails unless there is a [`Widths`](crate::models::convnet::Widths) type for `divisor`.
pub fn check_divisor(divisor: usize) -> Result<()> {
    if !DIVISORS.contains(&divisor) {
        bail!("width divisor {divisor} is not one of {DIVISORS:?}");
    }
    Ok(())
}

/// Trains a conv net built by [`with_conv_net`] on `train_set`.
pub struct TrainJob<'a, D> {
    pub dev: &'a D,
    pub train_set: &'a Samples,
    pub test_set: Option<&'a Samples>,
    pub config: &'a TrainConfig,
    pub run: RunOptions,
}

impl<D: ConvDevice> ConvJob<D> for TrainJob<'_, D> {
    type Output = TrainReport;
    fn run<const IN: usize, M: ConvModel<IN, D>>(self, mut model: M) -> Result<TrainReport> {
        train(
            self.dev,
            &mut model,
            self.train_set,
            self.test_set,
            self.config,
            &self.run,
        )
    }
}

/// Trains one conv net of `spec` on `train_set` (its image shape picks the net).
#[allow(clippy::too_many_arguments)]
pub fn train_conv<D: ConvDevice>(
    dev: &D,
    divisor: usize,
    spec: ConvSpec,
    train_set: &Samples,
    test_set: Option<&Samples>,
    cfg: &TrainConfig,
    run: RunOptions,
) -> Result<TrainReport> {
    let Some(image) = train_set.image else {
        bail!("the training samples carry no image shape");
    };
    let job = TrainJob {
        dev,
        train_set,
        test_set,
        config: cfg,
        run,
    };
    with_conv_net(dev, image, divisor, spec, cfg.seed, job)
}

/// Train and test images for the conv nets, normalized, optionally cut to the
/// first `n` samples; MNIST and Fashion-MNIST are zero-padded to 32×32.
pub fn load_images(
    kind: DatasetKind,
    data_dir: &Path,
    train_samples: Option<usize>,
    test_samples: Option<usize>,
) -> Result<(Samples, Samples)> {
    let (mean, std) = kind.mean_std();
    let get = |split, n: Option<usize>| -> Result<Samples> {
        let mut d = load(data_dir, kind, split)?;
        if let Some(n) = n.filter(|&n| n < d.len()) {
            d = d.subset(&(0..n).collect::<Vec<_>>());
        }
        if matches!(kind, DatasetKind::Mnist | DatasetKind::FashionMnist) {
            d = d.padded(32, 32);
        }
        Ok(Samples::from(&d).normalized(mean, std))
    };
    Ok((
        get(Split::Train, train_samples)?,
        get(Split::Test, test_samples)?,
    ))
}

/// Measures every hidden layer of a conv net built by [`with_conv_net`].
struct MeasureJob<'a, D> {
    dev: &'a D,
    samples: &'a Samples,
    config: &'a TrainConfig,
}

impl<D: ConvDevice> ConvJob<D> for MeasureJob<'_, D> {
    type Output = BundlePoint;
    fn run<const IN: usize, M: ConvModel<IN, D>>(self, model: M) -> Result<BundlePoint> {
        let lr = self.config.optimizer.lr as f32;
        measure_hidden(self.dev, &model, self.samples, lr, self.config.batch_size)
    }
}

/// `H^l` of every hidden layer of a freshly initialised net of `spec` (seed
/// `cfg.seed`) on `samples`, in inference mode as during training: what the
/// net does to the data before any step.
pub fn measure_untrained<D: ConvDevice>(
    dev: &D,
    divisor: usize,
    spec: ConvSpec,
    samples: &Samples,
    cfg: &TrainConfig,
) -> Result<BundlePoint> {
    let Some(image) = samples.image else {
        bail!("the samples carry no image shape");
    };
    let job = MeasureJob {
        dev,
        samples,
        config: cfg,
    };
    with_conv_net(dev, image, divisor, spec, cfg.seed, job)
}
