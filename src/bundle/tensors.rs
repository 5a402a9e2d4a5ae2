//! The metric on dfdx tensors, generic over the device.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::device::resolution_bundles_on_device;
use super::{
    measure_layer, measure_layers, report, BundleConfig, BundleError, Criterion, LayerReport,
    Precision,
};
use crate::device::TrainDevice;

/// Measures every hidden layer given as N × D_l tensors (on any device).
///
/// On the CPU the activations are read in place by the host algorithm. On
/// other devices resolution mode does its per-sample work there (see
/// [`resolution_bundles_on_device`]) in f32; f16/bf16 resolution and
/// threshold mode copy each layer to the host (the device path's exact
/// fingerprints are f32 tensor ops; the threshold's greedy pairwise scan has
/// no cheap reduction).
pub fn measure_tensors<D: TrainDevice>(
    layers: &[Tensor<(usize, usize), f32, D>],
    labels: &[usize],
    cfg: &BundleConfig,
) -> Result<Vec<LayerReport>, BundleError> {
    match cfg.criterion {
        Criterion::Resolution { w_max, .. } => {
            measure_tensors_per_layer(layers, labels, cfg, &vec![w_max; layers.len()])
        }
        Criterion::Threshold { .. } => {
            let host: Vec<Vec<f32>> = layers.iter().map(|t| t.as_vec()).collect();
            let views: Vec<&[f32]> = host.iter().map(|v| v.as_slice()).collect();
            measure_layers(&views, labels, cfg)
        }
    }
}

/// [`measure_tensors`] in resolution mode with layer `l`'s `w_max` replaced
/// by `w_max[l]` (the authors take it per layer; the precision stays
/// `cfg`'s). Threshold mode ignores `w_max`.
pub fn measure_tensors_per_layer<D: TrainDevice>(
    layers: &[Tensor<(usize, usize), f32, D>],
    labels: &[usize],
    cfg: &BundleConfig,
    w_max: &[f32],
) -> Result<Vec<LayerReport>, BundleError> {
    let Criterion::Resolution { precision, .. } = cfg.criterion else {
        return measure_tensors(layers, labels, cfg);
    };
    cfg.validate(labels)?;
    if w_max.len() != layers.len() {
        return Err(BundleError::BadParameter(format!(
            "{} max weights for {} layers",
            w_max.len(),
            layers.len()
        )));
    }
    let cfgs: Vec<BundleConfig> = w_max
        .iter()
        .map(|&w_max| BundleConfig {
            criterion: Criterion::Resolution { w_max, precision },
            ..*cfg
        })
        .collect();
    if precision == Precision::F32 && !D::METRIC_ON_HOST {
        return layers
            .iter()
            .zip(&cfgs)
            .map(|(t, c)| {
                Ok(measure_tensors_on_device(std::slice::from_ref(t), labels, c)?.remove(0))
            })
            .collect();
    }
    let host: Vec<Vec<f32>> = layers.iter().map(|t| t.as_vec()).collect();
    host.par_iter()
        .zip(&cfgs)
        .map(|(acts, c)| measure_layer(acts, labels, c))
        .collect()
}

/// Like [`measure_tensors`] but always takes the device path in f32
/// resolution mode (also on the CPU, where it serves to test that path).
pub fn measure_tensors_on_device<D: TrainDevice>(
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
