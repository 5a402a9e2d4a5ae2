//! Bundle entropy (eqs. 2 and 3) from a bundle assignment.

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
pub fn bundle_entropy(a: &Assignment, labels: &[usize], num_classes: usize) -> f64 {
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
    let mut fill = start.clone();
    let mut by_bundle = vec![0usize; n];
    for (i, &b) in a.bundle_of.iter().enumerate() {
        by_bundle[fill[b as usize]] = labels[i];
        fill[b as usize] += 1;
    }
    let mut counts = vec![0usize; num_classes];
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
