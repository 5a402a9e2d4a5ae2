//! Batch entropy (Peer et al. 2022, eq. 2; `batch_entropy` in their code):
//! each of a layer's `D` outputs is taken as Gaussian across the `N` samples
//! of a batch, with the unbiased standard deviation `σ_j` (`torch.std`), and
//!
//! `H = (1/D) Σ_j ½ ln(π e σ_j² + 1)`.
//!
//! The `+ 1` keeps it finite and makes it exactly 0 when a unit does not vary
//! across the batch: a layer with `H = 0` maps every sample of the batch to
//! one output, so the gradient reaching the layers below no longer depends on
//! which sample (and so which label) it came from.

use std::f64::consts::{E, PI};

use dfdx::prelude::*;

/// Batch entropy of `values` (`n` samples, row-major), in `f64`: per unit the
/// mean, then the centred sum of squares over `n - 1` (two passes).
/// Needs `n >= 2`; non-finite values give a non-finite result.
pub fn batch_entropy(values: &[f32], n: usize) -> anyhow::Result<f64> {
    let d = super::row_len(values, n, "batch entropy")?;
    if n < 2 {
        anyhow::bail!("batch entropy needs at least 2 samples (got {n})");
    }
    if d == 0 {
        return Ok(0.0);
    }
    let mut mean = vec![0.0f64; d];
    for row in values.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut ss = vec![0.0f64; d];
    for row in values.chunks_exact(d) {
        for ((s, &v), m) in ss.iter_mut().zip(row).zip(&mean) {
            *s += (v as f64 - m).powi(2);
        }
    }
    let sum: f64 = ss
        .iter()
        .map(|s| 0.5 * (PI * E * s / (n - 1) as f64 + 1.0).ln())
        .sum();
    Ok(sum / d as f64)
}

/// The same batch entropy as a scalar tensor, in `f32` on `x`'s device, in
/// the same order (batch mean, centred squares summed over the batch, `/ (n -
/// 1)`, then the log and the mean over units); on a tape the gradient flows
/// back to `x`. The caller ensures `n >= 2` (with `n = 1` the division by
/// zero gives NaN).
pub fn batch_entropy_tensor<D: Device<f32>, T: Tape<f32, D> + Merge<T>>(
    x: Tensor<(usize, usize), f32, D, T>,
) -> Tensor<Rank0, f32, D, T> {
    let shape = *x.shape();
    let n = shape.0;
    let mean = x.retaped::<T>().mean::<(usize,), Axis<0>>();
    let centred = x - mean.broadcast_like::<_, Axis<0>>(&shape);
    let var = centred.square().sum::<(usize,), Axis<0>>() / (n as f32 - 1.0);
    let h = ((var * (PI * E) as f32) + 1.0).ln() * 0.5;
    h.mean::<Rank0, _>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_units_have_zero_entropy_and_spread_raises_it() {
        // Every sample equal: H = 0 exactly.
        assert_eq!(
            batch_entropy(&[3.0, -1.0, 3.0, -1.0, 3.0, -1.0], 3).unwrap(),
            0.0
        );
        // One unit with σ² = 1 (samples -1, 1 over n - 1 = 1: σ² = 2), one constant.
        let h = batch_entropy(&[-1.0, 5.0, 1.0, 5.0], 2).unwrap();
        let want = 0.5 * (0.5 * (PI * E * 2.0 + 1.0).ln());
        assert!((h - want).abs() < 1e-12, "{h} vs {want}");
    }

    #[test]
    fn bad_layouts_are_refused() {
        assert!(batch_entropy(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(batch_entropy(&[1.0, 2.0], 1).is_err());
        assert!(batch_entropy(&[], 0).is_err());
    }
}
