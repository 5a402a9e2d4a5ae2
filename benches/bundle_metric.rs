//! Speed of the bundle metric: 120 layers of N = 2048 samples against a
//! memcpy of the same bytes (the floor), and the fast resolution path against
//! the greedy O(N·k·D) algorithm of the paper's published code.
//!
//! `cargo bench --bench bundle_metric`; numbers go in docs/benchmarks.md.

use conflicting_bundles::bundle::{
    measure_layers, resolution_bundles, threshold_bundles, BundleConfig, Precision,
};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{rngs::SmallRng, Rng, SeedableRng};

const N: usize = 2048;
const LAYERS: usize = 120;

/// ReLU-like activations: a third exact zeros, the rest uniform; every
/// sample distinct, so each forms its own bundle (the worst case for greedy).
fn layer(rng: &mut SmallRng, dim: usize) -> Vec<f32> {
    (0..N * dim)
        .map(|_| {
            if rng.gen_bool(0.33) {
                0.0
            } else {
                rng.gen_range(0.0f32..4.0)
            }
        })
        .collect()
}

fn all_layers(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(7);
    let labels: Vec<usize> = (0..N).map(|i| i % 10).collect();
    let cfg = BundleConfig::resolution(10, 0.7);
    let mut group = c.benchmark_group("120_layers");
    group.sample_size(10);
    for dim in [512usize, 4096] {
        let layers: Vec<Vec<f32>> = (0..LAYERS).map(|_| layer(&mut rng, dim)).collect();
        let views: Vec<&[f32]> = layers.iter().map(|v| v.as_slice()).collect();
        let mut dst: Vec<Vec<f32>> = layers.iter().map(|l| vec![0.0; l.len()]).collect();
        group.bench_with_input(BenchmarkId::new("memcpy_floor", dim), &dim, |b, _| {
            b.iter(|| {
                for (d, s) in dst.iter_mut().zip(&layers) {
                    d.copy_from_slice(black_box(s));
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("measure_layers", dim), &dim, |b, _| {
            b.iter(|| measure_layers(black_box(&views), &labels, &cfg).unwrap())
        });
    }
    group.finish();
}

fn fast_vs_greedy(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(11);
    let mut group = c.benchmark_group("one_layer_distinct");
    group.sample_size(10);
    for dim in [512usize, 4096] {
        let acts = layer(&mut rng, dim);
        group.bench_with_input(BenchmarkId::new("resolution_fast", dim), &dim, |b, _| {
            b.iter(|| resolution_bundles(black_box(&acts), N, 0.7, 1e-3, 64, Precision::F32))
        });
        group.bench_with_input(BenchmarkId::new("greedy_paper", dim), &dim, |b, _| {
            b.iter(|| threshold_bundles(black_box(&acts), N, 1e-8, 1e-3, 64))
        });
    }
    group.finish();
}

criterion_group!(benches, all_layers, fast_vs_greedy);
criterion_main!(benches);
