//! Resolution-mode bundling: equality of `v = w_max - (lr * a) / batch_size`
//! in f32, by hashing bit patterns (O(N·D) expected).

use std::collections::HashMap;

use super::{is_finite_bits, Assignment};

/// Samples per chunk of the mapping: long enough to vectorize, short enough
/// to stay in registers/L1.
const CHUNK: usize = 64;

/// The f32 mapping of resolution mode, op for op: `w_max - ((lr * a) / bs)`.
/// Adding `+0.0` turns `-0.0` into `+0.0` so equal values have equal bits.
#[inline(always)]
fn map(a: f32, w_max: f32, lr: f32, bs: f32) -> u32 {
    (w_max - (lr * a) / bs + 0.0).to_bits()
}

/// Maps one chunk into `out` and reports whether every input was finite.
#[inline(always)]
fn map_chunk(a: &[f32], out: &mut [u32], w_max: f32, lr: f32, bs: f32) -> bool {
    let mut finite = true;
    for (o, &x) in out.iter_mut().zip(a) {
        *o = map(x, w_max, lr, bs);
        finite &= is_finite_bits(x.to_bits());
    }
    finite
}

/// Hash of one sample's mapped row, or `None` when an activation is non-finite.
fn row_hash(row: &[f32], w_max: f32, lr: f32, bs: f32) -> Option<u64> {
    // Four independent multiply-xor lanes hide the multiply latency.
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut lanes = [
        0x243F_6A88_85A3_08D3u64,
        0x1319_8A2E_0370_7344,
        0xA409_3822_299F_31D0,
        0x082E_FA98_EC4E_6C89,
    ];
    let mut buf = [0u32; CHUNK];
    let mut finite = true;
    for chunk in row.chunks(CHUNK) {
        let out = &mut buf[..chunk.len()];
        finite &= map_chunk(chunk, out, w_max, lr, bs);
        for quad in out.chunks(8) {
            for (j, pair) in quad.chunks(2).enumerate() {
                let w = pair[0] as u64 | (*pair.get(1).unwrap_or(&0) as u64) << 32;
                lanes[j] = (lanes[j] ^ w).wrapping_mul(K);
            }
        }
    }
    if !finite {
        return None;
    }
    let mut h = row.len() as u64;
    for l in lanes {
        h = (h ^ l ^ (l >> 29)).wrapping_mul(K);
    }
    Some(h ^ (h >> 32))
}

/// True when two rows map to the same values (compared as canonical bits).
fn rows_equal(a: &[f32], b: &[f32], w_max: f32, lr: f32, bs: f32) -> bool {
    a.iter()
        .zip(b)
        .all(|(&x, &y)| map(x, w_max, lr, bs) == map(y, w_max, lr, bs))
}

/// Groups the `n` rows of `acts` (row-major, `acts.len() / n` values each)
/// into resolution bundles.
pub fn resolution_bundles(
    acts: &[f32],
    n: usize,
    w_max: f32,
    lr: f32,
    batch_size: usize,
) -> Assignment {
    let bs = batch_size as f32;
    let dim = acts.len().checked_div(n).unwrap_or(0);
    let row = |i: usize| &acts[i * dim..(i + 1) * dim];
    let mut bundle_of = Vec::with_capacity(n);
    let mut non_finite = 0;
    let mut next = 0u32;
    // hash -> (first sample, bundle id) of every bundle with that hash; more
    // than one entry only on a 64-bit hash collision between different rows.
    let mut seen: HashMap<u64, Vec<(usize, u32)>> = HashMap::with_capacity(n);
    for i in 0..n {
        let id = match row_hash(row(i), w_max, lr, bs) {
            None => {
                non_finite += 1;
                None
            }
            Some(h) => {
                let entry = seen.entry(h).or_default();
                let found = entry
                    .iter()
                    .find(|(rep, _)| rows_equal(row(*rep), row(i), w_max, lr, bs))
                    .map(|&(_, id)| id);
                if found.is_none() {
                    entry.push((i, next));
                }
                found
            }
        };
        bundle_of.push(id.unwrap_or_else(|| {
            next += 1;
            next - 1
        }));
    }
    Assignment {
        bundle_of,
        num_bundles: next as usize,
        non_finite,
    }
}
