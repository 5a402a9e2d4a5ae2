//! Bundle entropy (eqs. 2 and 3) from a bundle assignment.

use std::borrow::Cow;

/// Which bundle each sample belongs to. Bundle ids are dense, numbered in
/// order of each bundle's first sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub bundle_of: Vec<u32>,
    pub num_bundles: usize,
    /// Samples with a non-finite activation (each is a singleton bundle).
    pub non_finite: usize,
}

impl Assignment {
    /// Size of each bundle, indexed by bundle id.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0usize; self.num_bundles];
        for &b in &self.bundle_of {
            sizes[b as usize] += 1;
        }
        sizes
    }
}

/// Numerical-stability epsilon of eq. (2).
pub const ENTROPY_EPS: f64 = 1e-5;

/// `(1/N) Σ_D |D| · max(0, -Σ_n p(n) ln(p(n) + ε))`, in f64.
///
/// Op order: per bundle, classes are summed in increasing class index; bundles
/// are summed in id order; the total is divided by N last. Singleton bundles
/// contribute `max(0, -ln(1 + ε)) = 0` and are skipped.
///
/// Takes no class count: a class without samples adds nothing to any sum, so
/// only the classes present matter, and sizing per-class storage by them keeps
/// it at most N slots whatever class count or label values a caller has.
pub fn bundle_entropy(a: &Assignment, labels: &[usize]) -> f64 {
    let n = labels.len();
    if n == 0 {
        return 0.0;
    }
    // Counting sort of samples by bundle, so each bundle's labels are contiguous.
    let sizes = a.sizes();
    let mut start = Vec::with_capacity(sizes.len() + 1);
    let mut acc = 0usize;
    start.push(0);
    for &s in &sizes {
        acc += s;
        start.push(acc);
    }
    let (slots, num_slots) = class_slots(labels);
    let mut fill = start.clone();
    let mut by_bundle = vec![0usize; n];
    for (i, &b) in a.bundle_of.iter().enumerate() {
        by_bundle[fill[b as usize]] = slots[i];
        fill[b as usize] += 1;
    }
    let mut counts = vec![0usize; num_slots];
    let mut total = 0.0f64;
    for b in 0..sizes.len() {
        let size = sizes[b];
        if size < 2 {
            continue;
        }
        let members = &by_bundle[start[b]..start[b + 1]];
        for &y in members {
            counts[y] += 1;
        }
        let mut h = 0.0f64;
        for c in counts.iter_mut() {
            if *c > 0 {
                let p = *c as f64 / size as f64;
                h -= p * (p + ENTROPY_EPS).ln();
            }
            *c = 0;
        }
        total += size as f64 * h.max(0.0);
    }
    total / n as f64
}

/// Each sample's class as an index into per-class storage of at most N slots,
/// and the number of slots. Labels below N are used as they are (the common
/// case, C <= N); larger ones are renumbered by rank among the labels present,
/// which keeps classes in increasing order, so sums over classes are unchanged.
fn class_slots(labels: &[usize]) -> (Cow<'_, [usize]>, usize) {
    let max = labels.iter().copied().max().unwrap_or(0);
    if max < labels.len() {
        return (Cow::Borrowed(labels), max + 1);
    }
    let mut present = labels.to_vec();
    present.sort_unstable();
    present.dedup();
    let rank = |y: &usize| present.partition_point(|p| p < y);
    (Cow::Owned(labels.iter().map(rank).collect()), present.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_bundle(n: usize) -> Assignment {
        Assignment {
            bundle_of: vec![0; n],
            num_bundles: 1,
            non_finite: 0,
        }
    }

    #[test]
    fn huge_labels_need_no_per_class_storage_beyond_n() {
        let a = one_bundle(4);
        let small = bundle_entropy(&a, &[0, 1, 1, 2]);
        let huge = bundle_entropy(&a, &[7, usize::MAX - 1, usize::MAX - 1, usize::MAX]);
        assert_eq!(small.to_bits(), huge.to_bits());
    }

    #[test]
    fn slots_keep_class_order() {
        let (slots, k) = class_slots(&[50, 3, 50, 9]);
        assert_eq!((&*slots, k), (&[2, 0, 2, 1][..], 3));
        let (slots, k) = class_slots(&[1, 0, 3, 3]);
        assert!(matches!(slots, Cow::Borrowed(_)));
        assert_eq!(k, 4);
    }
}
