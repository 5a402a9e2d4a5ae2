//! Threshold-mode bundling (eq. 1), greedy in sample order as in the paper's
//! published code: O(N·k·D) for k bundles.

use super::{is_finite_bits, Assignment};

/// Groups the `n` rows of `acts` greedily: the first unassigned sample opens
/// a bundle and every later unassigned sample `j` with
/// `(lr / batch_size) * max_k |a_ik - a_jk| <= gamma` joins it.
///
/// Precision: f32 throughout; `lr / batch_size` is computed once, then
/// multiplied by the f32 max-abs difference.
pub fn threshold_bundles(
    acts: &[f32],
    n: usize,
    gamma: f32,
    lr: f32,
    batch_size: usize,
) -> Assignment {
    let dim = acts.len().checked_div(n).unwrap_or(0);
    let scale = lr / batch_size as f32;
    let row = |i: usize| &acts[i * dim..(i + 1) * dim];
    let finite: Vec<bool> = (0..n)
        .map(|i| row(i).iter().all(|x| is_finite_bits(x.to_bits())))
        .collect();
    const UNSET: u32 = u32::MAX;
    let mut bundle_of = vec![UNSET; n];
    let mut next = 0u32;
    for i in 0..n {
        if bundle_of[i] != UNSET {
            continue;
        }
        bundle_of[i] = next;
        if finite[i] {
            let first = row(i);
            for j in i + 1..n {
                if bundle_of[j] == UNSET && finite[j] && within(first, row(j), scale, gamma) {
                    bundle_of[j] = next;
                }
            }
        }
        next += 1;
    }
    Assignment {
        bundle_of,
        num_bundles: next as usize,
        non_finite: finite.iter().filter(|f| !**f).count(),
    }
}

#[inline]
fn within(a: &[f32], b: &[f32], scale: f32, gamma: f32) -> bool {
    let max = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (&x, &y)| m.max((x - y).abs()));
    scale * max <= gamma
}
