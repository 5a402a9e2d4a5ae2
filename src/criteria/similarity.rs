//! Similarity between two layers' outputs for the same samples, the
//! criteria depth-pruning work removes layers by:
//!
//! - block influence (ShortGPT, Men et al. 2024): `BI = 1 - E_i[cos(x_i, y_i)]`
//!   with `x` a layer's input and `y` its output, low for a layer that
//!   barely changes its input;
//! - angular distance (Gromov et al. 2024): `E_i[arccos(cos(x_i, y_i)) / π]`
//!   between the outputs of layers `l` and `l + n`, low where the `n` layers
//!   after `l` could go.
//!
//! Both need the same number of values per sample; the expectation is the
//! mean over samples. A sample whose row is zero in one array has no angle:
//! we count cos = 1 when both rows are zero (the same output) and cos = 0
//! when only one is (a ReLU layer can output all zeros).

/// Per-sample cosine between the rows of `a` and `b` (`n` samples each), in
/// `f64`, with the zero-row convention of the module docs.
fn cosines(a: &[f32], b: &[f32], n: usize) -> anyhow::Result<Vec<f64>> {
    let da = super::row_len(a, n, "first layer")?;
    let db = super::row_len(b, n, "second layer")?;
    if da != db {
        anyhow::bail!(
            "the layers differ in width ({da} and {db} values per sample): no cosine between them"
        );
    }
    if da == 0 {
        return Ok(vec![1.0; n]);
    }
    Ok(a.chunks_exact(da)
        .zip(b.chunks_exact(db))
        .map(|(x, y)| {
            let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
            for (&p, &q) in x.iter().zip(y) {
                let (p, q) = (p as f64, q as f64);
                xy += p * q;
                xx += p * p;
                yy += q * q;
            }
            match (xx == 0.0, yy == 0.0) {
                (true, true) => 1.0,
                (true, false) | (false, true) => 0.0,
                _ => (xy / (xx.sqrt() * yy.sqrt())).clamp(-1.0, 1.0),
            }
        })
        .collect())
}

/// Mean over samples of the cosine between the rows of `a` and `b`.
pub fn mean_cosine(a: &[f32], b: &[f32], n: usize) -> anyhow::Result<f64> {
    let c = cosines(a, b, n)?;
    Ok(c.iter().sum::<f64>() / n as f64)
}

/// ShortGPT's block influence of a layer with input `input` and output `output`.
pub fn block_influence(input: &[f32], output: &[f32], n: usize) -> anyhow::Result<f64> {
    Ok(1.0 - mean_cosine(input, output, n)?)
}

/// Gromov et al.'s angular distance between two layers' outputs, in `[0, 1]`.
pub fn angular_distance(a: &[f32], b: &[f32], n: usize) -> anyhow::Result<f64> {
    let c = cosines(a, b, n)?;
    Ok(c.iter()
        .map(|c| c.acos() / std::f64::consts::PI)
        .sum::<f64>()
        / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_orthogonal_and_opposite_rows() {
        let a = [1.0, 0.0, 0.0, 2.0];
        assert_eq!(block_influence(&a, &a, 2).unwrap(), 0.0);
        assert_eq!(angular_distance(&a, &a, 2).unwrap(), 0.0);
        let b = [0.0, 1.0, 0.0, -2.0]; // row 0 orthogonal, row 1 opposite
        assert!((angular_distance(&a, &b, 2).unwrap() - 0.75).abs() < 1e-12);
        assert!((block_influence(&a, &b, 2).unwrap() - 1.5).abs() < 1e-12);
    }

    #[test]
    fn zero_rows_and_mismatched_widths() {
        let z = [0.0, 0.0];
        assert_eq!(mean_cosine(&z, &z, 1).unwrap(), 1.0);
        assert_eq!(mean_cosine(&z, &[1.0, 0.0], 1).unwrap(), 0.0);
        assert!(mean_cosine(&[1.0, 2.0], &[1.0, 2.0, 3.0], 1).is_err());
    }
}
