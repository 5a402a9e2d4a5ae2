//! The metric on dfdx tensors, generic over the device.

use dfdx::prelude::*;

use super::{measure_layers, BundleConfig, BundleError, LayerReport};

/// Measures every hidden layer given as N × D_l tensors (on any device).
///
/// The activations are copied to the host once per layer; labels stay on the
/// host. Returns one report per layer, in order.
pub fn measure_tensors<D: Device<f32>>(
    layers: &[Tensor<(usize, usize), f32, D>],
    labels: &[usize],
    cfg: &BundleConfig,
) -> Result<Vec<LayerReport>, BundleError> {
    let host: Vec<Vec<f32>> = layers.iter().map(|t| t.as_vec()).collect();
    let views: Vec<&[f32]> = host.iter().map(|v| v.as_slice()).collect();
    measure_layers(&views, labels, cfg)
}
