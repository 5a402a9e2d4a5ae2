//! The metric on dfdx tensors, generic over the device.

use std::any::TypeId;

use dfdx::prelude::*;
use rayon::prelude::*;

use super::device::resolution_bundles_on_device;
use super::{measure_layers, report, BundleConfig, BundleError, Criterion, LayerReport, Precision};

/// Measures every hidden layer given as N × D_l tensors (on any device).
///
/// On the CPU the activations are read in place by the host algorithm. On
/// other devices resolution mode does its per-sample work there (see
/// [`resolution_bundles_on_device`]) in f32; f16/bf16 resolution and
/// threshold mode copy each layer to the host (the device path's exact
/// fingerprints are f32 tensor ops; the threshold's greedy pairwise scan has
/// no cheap reduction).
pub fn measure_tensors<D: Device<f32>>(
    layers: &[Tensor<(usize, usize), f32, D>],
    labels: &[usize],
    cfg: &BundleConfig,
) -> Result<Vec<LayerReport>, BundleError> {
    match cfg.criterion {
        Criterion::Resolution {
            precision: Precision::F32,
            ..
        } if TypeId::of::<D>() != TypeId::of::<Cpu>() => {
            measure_tensors_on_device(layers, labels, cfg)
        }
        _ => {
            let host: Vec<Vec<f32>> = layers.iter().map(|t| t.as_vec()).collect();
            let views: Vec<&[f32]> = host.iter().map(|v| v.as_slice()).collect();
            measure_layers(&views, labels, cfg)
        }
    }
}

/// Like [`measure_tensors`] but always takes the device path in f32
/// resolution mode (also on the CPU, where it serves to test that path).
pub fn measure_tensors_on_device<D: Device<f32>>(
    layers: &[Tensor<(usize, usize), f32, D>],
    labels: &[usize],
    cfg: &BundleConfig,
) -> Result<Vec<LayerReport>, BundleError> {
    cfg.validate(labels)?;
    let Criterion::Resolution {
        w_max,
        precision: Precision::F32,
    } = cfg.criterion
    else {
        return measure_tensors(layers, labels, cfg);
    };
    for t in layers {
        if t.shape().0 != labels.len() {
            return Err(BundleError::ShapeMismatch {
                values: t.shape().0 * t.shape().1,
                samples: labels.len(),
            });
        }
    }
    Ok(layers
        .iter()
        .map(|t| resolution_bundles_on_device(t, w_max, cfg.lr, cfg.batch_size))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|a| report(a, labels))
        .collect())
}
