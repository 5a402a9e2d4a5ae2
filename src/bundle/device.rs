//! Resolution-mode bundling with the per-sample work on the tensor's device,
//! so a GPU measurement brings back a few numbers per sample instead of
//! every activation.
//!
//! On the device, with dfdx tensor ops (so it runs on any device):
//! 1. the mapping `v = w_max - (lr * a) / bs`, op for op as on the host
//!    (`(-x) + w` is IEEE-identical to `w - x`);
//! 2. a non-finite flag per row: `Σ_k 0·a_k` is NaN iff some `a_k` is NaN/±Inf;
//! 3. `K` fingerprints per row that are *exact integers*: each element is
//!    hashed to an integer in [-A, A], A <= 100 (`sin` of a salted multiple, rounded
//!    by the ±1.5·2^23 trick), then summed. A·D < 2^24, so the sums are exact
//!    in f32 whatever the reduction order, so equal rows always get equal
//!    fingerprints on a given device;
//! 4. for rows sharing all fingerprints, `max_k |v_ik - v_rk|` against the
//!    group's first row `r` (a max is exact in any order): 0 means equal.
//!
//! On the host: grouping by fingerprint and bundle numbering. The rare rows
//! whose fingerprints collide without being equal (and rows whose mapping
//! overflowed) are copied back and bundled by the exact host algorithm, so
//! the result equals [`resolution_bundles`](super::resolution_bundles).

use std::collections::HashMap;

use dfdx::prelude::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::{resolution_bundles, Assignment, Precision};

/// Fingerprints per row.
const K: usize = 3;
/// Rounds |x| < 2^22 to the nearest integer: (x + M) - M in f32.
const ROUND: f32 = 12_582_912.0;

/// Bundles the rows of `a` (N × D) in resolution mode in f32, on `a`'s
/// device.
pub fn resolution_bundles_on_device<D: Device<f32>>(
    a: &Tensor<(usize, usize), f32, D>,
    w_max: f32,
    lr: f32,
    batch_size: usize,
) -> Assignment {
    let (n, d) = *a.shape();
    // Per-element hashes in [-amp, amp] keep every row sum below 2^24.
    let amp = (100.0f64)
        .min(((1u32 << 24) - 1) as f64 / d.max(1) as f64)
        .floor() as f32;
    if n == 0 || d == 0 || amp < 1.0 {
        return resolution_bundles(&a.as_vec(), n, w_max, lr, batch_size, Precision::F32);
    }
    let dev = a.device();
    let v = ((a.clone() * lr) / batch_size as f32).negate() + w_max;
    let finite: Vec<bool> = (a.clone() * 0.0)
        .sum::<(usize,), Axis<1>>()
        .as_vec()
        .iter()
        .map(|x| x.is_finite())
        .collect();

    let mut rng = SmallRng::seed_from_u64(0xF1_4E_E9);
    let fps: Vec<Vec<f32>> = (0..K)
        .map(|j| {
            let salt: Vec<f32> = (0..d).map(|_| rng.gen_range(-3.0f32..3.0)).collect();
            let salt: Tensor<(usize,), f32, D> = dev.tensor_from_vec(salt, (d,));
            let scale = [1.0e3f32, 7.3e5, 2.9e7][j];
            let h = ((v.clone() * scale + salt.broadcast_like::<(usize, usize), Axis<0>>(&(n, d)))
                .sin()
                * amp
                + ROUND)
                - ROUND;
            h.sum::<(usize,), Axis<1>>().as_vec()
        })
        .collect();

    // Group finite rows by fingerprint; rows with a non-finite fingerprint
    // (the mapping overflowed) go to the host.
    let mut host_rows: Vec<usize> = Vec::new();
    let mut groups: HashMap<[u32; K], Vec<usize>> = HashMap::new();
    for i in (0..n).filter(|&i| finite[i]) {
        let key: [f32; K] = std::array::from_fn(|j| fps[j][i]);
        if key.iter().all(|x| x.is_finite()) {
            groups
                .entry(key.map(|x| (x + 0.0).to_bits()))
                .or_default()
                .push(i);
        } else {
            host_rows.push(i);
        }
    }

    // Verify every multi-row group against its first row on the device.
    let (rows, reps): (Vec<usize>, Vec<usize>) = groups
        .values()
        .filter(|g| g.len() > 1)
        .flat_map(|g| g[1..].iter().map(move |&i| (i, g[0])))
        .unzip();
    let mut rep_of: Vec<usize> = (0..n).collect();
    if !rows.is_empty() {
        let m = rows.len();
        let take = |idx: &[usize]| {
            v.clone()
                .gather(dev.tensor_from_vec(idx.to_vec(), (idx.len(),)))
        };
        let diff: Vec<f32> = (take(&rows) - take(&reps))
            .abs()
            .max::<(usize,), Axis<1>>()
            .as_vec();
        let mut collided: HashMap<usize, ()> = HashMap::new();
        for k in 0..m {
            if diff[k] == 0.0 {
                rep_of[rows[k]] = reps[k];
            } else {
                collided.insert(reps[k], ());
            }
        }
        // A group with a collision is rebundled exactly on the host.
        for g in groups.values().filter(|g| collided.contains_key(&g[0])) {
            g.iter().for_each(|&i| rep_of[i] = i);
            host_rows.extend(g);
        }
    }
    if !host_rows.is_empty() {
        host_rows.sort_unstable();
        let sub = a
            .clone()
            .gather(dev.tensor_from_vec(host_rows.clone(), (host_rows.len(),)))
            .as_vec();
        let local =
            resolution_bundles(&sub, host_rows.len(), w_max, lr, batch_size, Precision::F32);
        let mut first: HashMap<u32, usize> = HashMap::new();
        for (k, &b) in local.bundle_of.iter().enumerate() {
            rep_of[host_rows[k]] = *first.entry(b).or_insert(host_rows[k]);
        }
    }

    // Number bundles by their first sample, as the host algorithm does.
    let mut id_of_rep: HashMap<usize, u32> = HashMap::new();
    let bundle_of: Vec<u32> = (0..n)
        .map(|i| {
            let next = id_of_rep.len() as u32;
            *id_of_rep.entry(rep_of[i]).or_insert(next)
        })
        .collect();
    Assignment {
        num_bundles: id_of_rep.len(),
        non_finite: finite.iter().filter(|f| !**f).count(),
        bundle_of,
    }
}
