//! Mini-batches: seeded shuffled index batches, and gathering a batch into flat
//! buffers ready for a tensor.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::dataset::Dataset;

/// Iterator over batches of sample indices.
#[derive(Debug, Clone)]
pub struct Batches {
    order: Vec<usize>,
    batch_size: usize,
    drop_last: bool,
    pos: usize,
}

/// Indices `0..n` shuffled with `seed`, in batches of `batch_size`. With
/// `drop_last`, a final short batch is dropped (as the authors' pipeline does).
/// A `batch_size` of 0 yields nothing. Use a different seed per epoch, e.g.
/// [`epoch_seed`].
pub fn shuffled_batches(n: usize, batch_size: usize, seed: u64, drop_last: bool) -> Batches {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut SmallRng::seed_from_u64(seed));
    Batches {
        order,
        batch_size,
        drop_last,
        pos: 0,
    }
}

/// Indices `0..n` in order, in batches of `batch_size`, the last one possibly short.
pub fn sequential_batches(n: usize, batch_size: usize) -> Batches {
    Batches {
        order: (0..n).collect(),
        batch_size,
        drop_last: false,
        pos: 0,
    }
}

/// A seed for epoch `epoch` of a run seeded with `seed` (SplitMix64 mixing).
pub fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    let mut z = seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Batches {
    /// Number of batches still to come.
    pub fn remaining(&self) -> usize {
        if self.batch_size == 0 {
            return 0;
        }
        let left = self.order.len() - self.pos;
        if self.drop_last {
            left / self.batch_size
        } else {
            left.div_ceil(self.batch_size)
        }
    }
}

impl Iterator for Batches {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        if self.remaining() == 0 {
            return None;
        }
        let end = (self.pos + self.batch_size).min(self.order.len());
        let batch = self.order[self.pos..end].to_vec();
        self.pos = end;
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Batches {}

/// A batch copied out of a [`Dataset`]: images one after another, labels as `usize`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<usize>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Copy the samples at `indices` out of `dataset`. Panics on an out-of-range index.
pub fn gather(dataset: &Dataset, indices: &[usize]) -> Batch {
    let mut batch = Batch::default();
    gather_into(dataset, indices, &mut batch);
    batch
}

/// Like [`gather`], reusing `batch`'s buffers.
pub fn gather_into(dataset: &Dataset, indices: &[usize], batch: &mut Batch) {
    batch.images.clear();
    batch.labels.clear();
    batch.images.reserve(indices.len() * dataset.image_len());
    for &i in indices {
        batch.images.extend_from_slice(dataset.image(i));
        batch.labels.push(dataset.labels[i] as usize);
    }
}
