//! Resolution-mode bundling: equality of `v = w_max - (lr * a) / batch_size`
//! in a float format (f32 by default; see `precision.rs` for f16 and bf16),
//! by hashing bit patterns (O(N·D) expected).

use std::collections::HashMap;
use std::marker::PhantomData;

use super::precision::{Bf16, Precision, Round, F16, F32};
use super::{is_finite_bits, Assignment};

/// Samples per chunk of the mapping: long enough to vectorize, short enough
/// to stay in registers/L1.
const CHUNK: usize = 64;

/// The mapping of resolution mode in the format `R` rounds to, op for op:
/// `w_max - ((lr * a) / bs)`, every input and every step's result rounded
/// (`w_max`, `lr` and `bs` are rounded once, in [`Mapping::new`]). The value
/// is kept as the f32 that holds it exactly, so equal values in `R` have
/// equal f32 bits once `+0.0` has turned `-0.0` into `+0.0`.
struct Mapping<R> {
    w_max: f32,
    lr: f32,
    bs: f32,
    format: PhantomData<R>,
}

impl<R: Round> Mapping<R> {
    fn new(w_max: f32, lr: f32, batch_size: usize) -> Self {
        Mapping {
            w_max: R::round(w_max),
            lr: R::round(lr),
            bs: R::round(batch_size as f32),
            format: PhantomData,
        }
    }

    #[inline(always)]
    fn map(&self, a: f32) -> u32 {
        let step = R::round(R::round(self.lr * R::round(a)) / self.bs);
        (R::round(self.w_max - step) + 0.0).to_bits()
    }
}

/// Maps one chunk into `out` and reports whether every input was finite.
#[inline(always)]
fn map_chunk<R: Round>(a: &[f32], out: &mut [u32], m: &Mapping<R>) -> bool {
    let mut finite = true;
    for (o, &x) in out.iter_mut().zip(a) {
        *o = m.map(x);
        finite &= is_finite_bits(x.to_bits());
    }
    finite
}

/// Hash of one sample's mapped row, or `None` when an activation is non-finite.
fn row_hash<R: Round>(row: &[f32], m: &Mapping<R>) -> Option<u64> {
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
        finite &= map_chunk(chunk, out, m);
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
fn rows_equal<R: Round>(a: &[f32], b: &[f32], m: &Mapping<R>) -> bool {
    a.iter().zip(b).all(|(&x, &y)| m.map(x) == m.map(y))
}

/// Groups the `n` rows of `acts` (row-major, `acts.len() / n` values each)
/// into resolution bundles, computing and comparing in `precision`.
pub fn resolution_bundles(
    acts: &[f32],
    n: usize,
    w_max: f32,
    lr: f32,
    batch_size: usize,
    precision: Precision,
) -> Assignment {
    match precision {
        Precision::F32 => bundles(acts, n, &Mapping::<F32>::new(w_max, lr, batch_size)),
        Precision::F16 => bundles(acts, n, &Mapping::<F16>::new(w_max, lr, batch_size)),
        Precision::Bf16 => bundles(acts, n, &Mapping::<Bf16>::new(w_max, lr, batch_size)),
    }
}

fn bundles<R: Round>(acts: &[f32], n: usize, m: &Mapping<R>) -> Assignment {
    let dim = acts.len().checked_div(n).unwrap_or(0);
    let row = |i: usize| &acts[i * dim..(i + 1) * dim];
    let mut bundle_of = Vec::with_capacity(n);
    let mut non_finite = 0;
    let mut next = 0u32;
    // hash -> (first sample, bundle id) of every bundle with that hash; more
    // than one entry only on a 64-bit hash collision between different rows.
    let mut seen: HashMap<u64, Vec<(usize, u32)>> = HashMap::with_capacity(n);
    for i in 0..n {
        let id = match row_hash(row(i), m) {
            None => {
                non_finite += 1;
                None
            }
            Some(h) => {
                let entry = seen.entry(h).or_default();
                let found = entry
                    .iter()
                    .find(|(rep, _)| rows_equal(row(*rep), row(i), m))
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
