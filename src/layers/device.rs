//! What a device must provide for the conv nets: im2col, and batch
//! normalization fused with what follows it in a block (a residual add, a
//! ReLU).
//!
//! Every method but `im2col` has a default built from dfdx ops, which runs
//! (and differentiates) on every device; the CPU overrides them with fused,
//! multi-threaded kernels (`layers::cpu`), and CUDA overrides the convolution
//! with cuDNN's when built with the `cudnn` feature (`layers::cudnn`). The
//! defaults stay the reference those kernels are tested against.

use dfdx::prelude::*;

use super::batchnorm::BN_EPS;
use super::im2col::{Maps, Patches, Window};
use crate::device::TrainDevice;

/// One channel vector (`(channels,)`).
pub type Channels<D> = Tensor<(usize,), f32, D>;

/// Per-channel statistics a batch norm normalizes with.
#[derive(Clone, Debug)]
pub enum Stats<D: Device<f32>> {
    /// Training mode: the batch's own mean and biased variance, through which
    /// the gradient flows.
    Batch,
    /// Inference mode: given (running) mean and variance, constants.
    Given { mean: Channels<D>, var: Channels<D> },
}

/// `y = act((x - mean) / sqrt(var + eps) * scale + bias [+ skip])`, with the
/// batch's `(mean, biased var)` when they were computed (training mode).
pub type NormOut<D, T> = (Maps<D, T>, Option<(Channels<D>, Channels<D>)>);

/// Devices the project's conv, pool and batch-norm layers run on.
pub trait ConvDevice: TrainDevice {
    /// Patches of `x` under `window`; padding reads as `pad_value`.
    fn im2col<T: Tape<f32, Self>>(
        x: Maps<Self, T>,
        window: Window,
        pad_value: f32,
    ) -> Patches<Self, T>;

    /// A bias-free convolution: `im2col(x) · weight` with the weight's rows
    /// ordered `(ky, kx, c_in)`, as `(batch, out_rows, out_cols, c_out)` maps.
    fn conv2d<T: Tape<f32, Self>>(
        x: Maps<Self, T>,
        weight: &Tensor<(usize, usize), f32, Self>,
        window: Window,
    ) -> Maps<Self, T> {
        conv2d_by_ops(x, weight, window)
    }

    /// Batch normalization over the channels of `x` (statistics over batch and
    /// pixels), then `+ skip` if given, then ReLU if `relu`.
    fn batch_norm<T: Tape<f32, Self>>(
        x: Maps<Self, T>,
        scale: &Channels<Self>,
        bias: &Channels<Self>,
        stats: &Stats<Self>,
        skip: Option<Maps<Self, T>>,
        relu: bool,
    ) -> NormOut<Self, T> {
        batch_norm_by_ops(x, scale, bias, stats, skip, relu)
    }
}

/// [`ConvDevice::conv2d`] as `D::im2col`, a dfdx matmul and a reshape.
pub fn conv2d_by_ops<D: ConvDevice, T: Tape<f32, D>>(
    x: Maps<D, T>,
    weight: &Tensor<(usize, usize), f32, D>,
    window: Window,
) -> Maps<D, T> {
    let (b, h, w, _) = *x.shape();
    let shape = (b, window.out_size(h), window.out_size(w), weight.shape().1);
    D::im2col(x, window, 0.0)
        .matmul(weight.retaped::<T>())
        .reshape_like(&shape)
}

/// [`ConvDevice::batch_norm`] as a chain of dfdx ops. In this op order per
/// element: `((x - mean) * inv_std) * scale + bias`, then `+ skip`, then ReLU,
/// with `inv_std = 1 / sqrt(var + eps)`; batch statistics are dfdx `mean`s
/// (f32 sums) of `x` and of `(x - mean)^2`.
pub fn batch_norm_by_ops<D: Device<f32>, T: Tape<f32, D>>(
    x: Maps<D, T>,
    scale: &Channels<D>,
    bias: &Channels<D>,
    stats: &Stats<D>,
    skip: Option<Maps<D, T>>,
    relu: bool,
) -> NormOut<D, T> {
    let shape = *x.shape();
    let rows = (shape.0 * shape.1 * shape.2, shape.3);
    let x = x.reshape_like(&rows);
    let (normalized, batch) = match stats {
        Stats::Batch => {
            // Each taped tensor is consumed exactly once (its tape holds the
            // backward ops); the returned statistics are tape-free copies.
            let mean = x.retaped::<T>().mean::<(usize,), Axis<0>>();
            let mean_value = mean.retaped::<NoneTape>();
            let centered = x - mean.broadcast_like::<_, Axis<0>>(&rows);
            let var = centered.retaped::<T>().square().mean::<(usize,), Axis<0>>();
            let var_value = var.retaped::<NoneTape>();
            let inv_std = (var + BN_EPS).sqrt().recip();
            let y = centered * inv_std.broadcast_like::<_, Axis<0>>(&rows);
            (y, Some((mean_value, var_value)))
        }
        Stats::Given { mean, var } => {
            let inv_std = (var.clone() + BN_EPS).sqrt().recip();
            let y = (x - mean.clone().broadcast_like::<_, Axis<0>>(&rows))
                * inv_std.broadcast_like::<_, Axis<0>>(&rows);
            (y, None)
        }
    };
    let y = normalized * scale.retaped::<T>().broadcast_like::<_, Axis<0>>(&rows)
        + bias.retaped::<T>().broadcast_like::<_, Axis<0>>(&rows);
    let y = y.reshape_like(&shape);
    let y = match skip {
        Some(s) => y + s,
        None => y,
    };
    (if relu { y.relu() } else { y }, batch)
}

/// How [`Cuda`] convolves in this build, for reports and benchmark tables.
#[cfg(feature = "cuda")]
pub const CUDA_CONV: &str = if cfg!(feature = "cudnn") {
    "cuDNN (f32, FMA math)"
} else {
    "im2col gather + cuBLAS"
};

#[cfg(feature = "cuda")]
impl ConvDevice for Cuda {
    fn im2col<T: Tape<f32, Self>>(
        x: Maps<Self, T>,
        window: Window,
        pad_value: f32,
    ) -> Patches<Self, T> {
        // dfdx's CUDA gather (atomic-add backward) is already a device kernel.
        super::im2col::im2col_by_gather(x, window, pad_value)
    }

    /// cuDNN's convolution; without the `cudnn` feature the default
    /// (`conv2d_by_ops`: the gather above and a cuBLAS product).
    #[cfg(feature = "cudnn")]
    fn conv2d<T: Tape<f32, Self>>(
        x: Maps<Self, T>,
        weight: &Tensor<(usize, usize), f32, Self>,
        window: Window,
    ) -> Maps<Self, T> {
        super::cudnn::conv2d(x, weight, window)
    }
}
