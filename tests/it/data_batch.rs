//! Mini-batch index iterators and gathering.

use conflicting_bundles::data::{
    epoch_seed, gather, gather_into, sequential_batches, shuffled_batches, Batch, Dataset,
};

fn tiny() -> Dataset {
    Dataset {
        images: (0..10 * 4).map(|i| i as f32).collect(),
        labels: (0..10).map(|i| (i % 3) as u8).collect(),
        channels: 1,
        rows: 2,
        cols: 2,
        num_classes: 3,
    }
}

#[test]
fn shuffled_batches_cover_everything_once_and_are_seeded() {
    let batches: Vec<Vec<usize>> = shuffled_batches(10, 3, 7, false).collect();
    assert_eq!(
        batches.iter().map(Vec::len).collect::<Vec<_>>(),
        [3, 3, 3, 1]
    );
    let mut all: Vec<usize> = batches.concat();
    assert_ne!(all, (0..10).collect::<Vec<_>>(), "not shuffled");
    all.sort();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    let again: Vec<Vec<usize>> = shuffled_batches(10, 3, 7, false).collect();
    assert_eq!(batches, again);
    let other: Vec<Vec<usize>> = shuffled_batches(10, 3, 8, false).collect();
    assert_ne!(batches, other);
}

#[test]
fn drop_last_and_edge_cases() {
    let it = shuffled_batches(10, 3, 1, true);
    assert_eq!(it.len(), 3);
    assert!(it.into_iter().all(|b| b.len() == 3));
    assert_eq!(shuffled_batches(10, 0, 1, false).count(), 0);
    assert_eq!(shuffled_batches(0, 4, 1, false).count(), 0);
    assert_eq!(shuffled_batches(2, 4, 1, true).count(), 0);
    let seq: Vec<Vec<usize>> = sequential_batches(5, 2).collect();
    assert_eq!(seq, [vec![0, 1], vec![2, 3], vec![4]]);
    assert_ne!(epoch_seed(1, 0), epoch_seed(1, 1));
    assert_ne!(epoch_seed(1, 0), epoch_seed(2, 0));
}

#[test]
fn gather_copies_images_and_labels() {
    let ds = tiny();
    let batch = gather(&ds, &[9, 0]);
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.labels, [0, 0]);
    assert_eq!(batch.images, [36.0, 37.0, 38.0, 39.0, 0.0, 1.0, 2.0, 3.0]);
    let mut reused = Batch::default();
    gather_into(&ds, &[9, 0], &mut reused);
    gather_into(&ds, &[5], &mut reused);
    assert_eq!(reused.labels, [2]);
    assert_eq!(reused.images, ds.image(5));
}
