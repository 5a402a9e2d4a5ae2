//! The bundle metric against an O(N²) oracle written from the definitions
//! (paper §2.3, made exact as `src/bundle/mod.rs` states it), plus pinned
//! edge cases.

use conflicting_bundles::bundle::*;
use proptest::prelude::*;

// ---------- the oracle: brute force, straight from the definitions ----------

fn oracle_v(a: f32, w_max: f32, lr: f32, bs: usize) -> f32 {
    let scaled: f32 = lr * a;
    let step: f32 = scaled / bs as f32;
    w_max - step
}

fn finite_row(r: &[f32]) -> bool {
    r.iter().all(|x| x.is_finite())
}

/// Bundle id per sample: sample i joins the bundle of the first earlier
/// sample j whose mapped vector is equal (f32 `==`, so +0 == -0).
fn oracle_resolution(rows: &[Vec<f32>], w_max: f32, lr: f32, bs: usize) -> Vec<usize> {
    let mut ids: Vec<usize> = Vec::new();
    let mut next = 0;
    for i in 0..rows.len() {
        let mut id = None;
        if finite_row(&rows[i]) {
            for j in 0..i {
                if finite_row(&rows[j])
                    && rows[i]
                        .iter()
                        .zip(&rows[j])
                        .all(|(&x, &y)| oracle_v(x, w_max, lr, bs) == oracle_v(y, w_max, lr, bs))
                {
                    id = Some(ids[j]);
                    break;
                }
            }
        }
        ids.push(id.unwrap_or_else(|| {
            next += 1;
            next - 1
        }));
    }
    ids
}

fn oracle_threshold(rows: &[Vec<f32>], gamma: f32, lr: f32, bs: usize) -> Vec<usize> {
    let n = rows.len();
    let mut ids: Vec<Option<usize>> = vec![None; n];
    let mut next = 0;
    for i in 0..n {
        if ids[i].is_some() {
            continue;
        }
        ids[i] = Some(next);
        if finite_row(&rows[i]) {
            for j in i + 1..n {
                if ids[j].is_none() && finite_row(&rows[j]) {
                    let mut m = 0.0f32;
                    for (x, y) in rows[i].iter().zip(&rows[j]) {
                        m = m.max((x - y).abs());
                    }
                    if (lr / bs as f32) * m <= gamma {
                        ids[j] = Some(next);
                    }
                }
            }
        }
        next += 1;
    }
    ids.into_iter().map(|x| x.unwrap()).collect()
}

fn oracle_entropy(ids: &[usize], labels: &[usize], classes: usize) -> f64 {
    let k = ids.iter().max().map_or(0, |m| m + 1);
    let mut total = 0.0;
    for b in 0..k {
        let members: Vec<usize> = (0..ids.len()).filter(|&i| ids[i] == b).collect();
        let mut h = 0.0f64;
        for c in 0..classes {
            let p =
                members.iter().filter(|&&i| labels[i] == c).count() as f64 / members.len() as f64;
            h += -p * (p + 1e-5).ln();
        }
        total += members.len() as f64 * h.max(0.0);
    }
    total / ids.len() as f64
}

fn flat(rows: &[Vec<f32>]) -> Vec<f32> {
    rows.iter().flatten().copied().collect()
}

fn cfg(classes: usize, criterion: Criterion) -> BundleConfig {
    BundleConfig {
        lr: 1e-3,
        batch_size: 64,
        num_classes: classes,
        criterion,
    }
}

// ---------- pinned semantics ----------

#[test]
fn sub_resolution_differences_are_bundled_and_larger_ones_are_not() {
    // lr/bs = 1.5625e-5: one ulp of 1.0 (1.2e-7) shrinks to ~2e-12, far below
    // the resolution of w_max = 1.0, so the two rows map to the same v.
    let a = 1.0f32;
    let rows = vec![
        vec![a, 2.0],
        vec![f32::from_bits(a.to_bits() + 1), 2.0],
        vec![1.5, 2.0],
    ];
    let r = measure_layer(
        &flat(&rows),
        &[0, 1, 0],
        &cfg(2, Criterion::resolution(1.0)),
    )
    .unwrap();
    assert_eq!(r.num_bundles, 2);
    assert_eq!(r.bundle_sizes, vec![2, 1]);
    // The pair {class 0, class 1}: H = -2 · 0.5 ln(0.5 + 1e-5), weighted 2/3.
    let h = -(0.5f64 * (0.5f64 + 1e-5).ln()) * 2.0;
    assert!((r.bundle_entropy - 2.0 / 3.0 * h).abs() < 1e-12);
}

#[test]
fn positive_and_negative_zero_are_equal() {
    // With w_max = -0.0: a = +0 maps to -0.0 - 0 = -0.0, a = -0 maps to +0.0.
    let rows = vec![vec![0.0f32], vec![-0.0f32]];
    assert_ne!(
        oracle_v(0.0, -0.0, 1e-3, 64).to_bits(),
        oracle_v(-0.0, -0.0, 1e-3, 64).to_bits(),
        "the test needs the two signs of zero"
    );
    let r = measure_layer(&flat(&rows), &[0, 1], &cfg(2, Criterion::resolution(-0.0))).unwrap();
    assert_eq!(r.num_bundles, 1);
}

#[test]
fn mapping_follows_the_specified_op_order() {
    // Find activations where `w_max - (lr*a)/bs` bundles two values that the
    // other orders (`lr*(a/bs)`, `a*(lr/bs)`) keep apart, or vice versa; the
    // metric must agree with the specified order in every such case.
    let (lr, bs, w_max) = (3e-3f32, 48usize, 0.37f32);
    let other = |a: f32| w_max - a * (lr / bs as f32);
    let mut disagreements = 0;
    let mut a = 1.0f32;
    for _ in 0..200_000 {
        let b = f32::from_bits(a.to_bits() + 1);
        let spec_eq = oracle_v(a, w_max, lr, bs) == oracle_v(b, w_max, lr, bs);
        if spec_eq != (other(a) == other(b)) {
            disagreements += 1;
            let c = BundleConfig {
                lr,
                batch_size: bs,
                num_classes: 2,
                criterion: Criterion::resolution(w_max),
            };
            let r = measure_layer(&[a, b], &[0, 1], &c).unwrap();
            assert_eq!(r.num_bundles == 1, spec_eq, "a = {a:e}, b = {b:e}");
        }
        a = f32::from_bits(a.to_bits() + 977);
    }
    assert!(
        disagreements > 0,
        "no case found where the op order matters"
    );
}

#[test]
fn threshold_mode_is_greedy_against_the_first_sample() {
    // scale = lr/bs = 1.5625e-5; gamma = 1e-8 allows |Δ| <= 6.4e-4.
    let rows = vec![vec![0.0f32], vec![5e-4], vec![9e-4]];
    let c = cfg(3, Criterion::Threshold { gamma: 1e-8 });
    let r = measure_layer(&flat(&rows), &[0, 1, 2], &c).unwrap();
    // 0 and 5e-4 join; 9e-4 is within reach of 5e-4 but not of the opener 0.
    assert_eq!(r.num_bundles, 2);
    assert_eq!(r.bundle_sizes, vec![2, 1]);
    // Order matters: starting from the middle sample, all three join.
    let rows = vec![vec![5e-4f32], vec![0.0], vec![9e-4]];
    assert_eq!(
        measure_layer(&flat(&rows), &[0, 1, 2], &c)
            .unwrap()
            .num_bundles,
        1
    );
}

#[test]
fn fully_conflicting_bundle_has_entropy_ln_c() {
    let n = 1000;
    let labels: Vec<usize> = (0..n).map(|i| i % 10).collect();
    let acts = vec![0.25f32; n * 7];
    let r = measure_layer(&acts, &labels, &cfg(10, Criterion::resolution(0.5))).unwrap();
    assert_eq!(r.num_bundles, 1);
    // -Σ 0.1 ln(0.1 + 1e-5) = ln 10 - 1e-4 (to first order).
    let expected = -(0.1f64 * (0.1f64 + 1e-5).ln()) * 10.0;
    assert!((r.bundle_entropy - expected).abs() < 1e-12);
    assert!((r.bundle_entropy - 10f64.ln()).abs() < 2e-4);
}

#[test]
fn same_label_bundles_and_singletons_have_zero_entropy() {
    let acts = vec![1.0f32, 1.0, 1.0, 2.0];
    let r = measure_layer(&acts, &[3, 3, 3, 0], &cfg(4, Criterion::resolution(1.0))).unwrap();
    assert_eq!((r.num_bundles, r.bundle_entropy), (2, 0.0));
}

#[test]
fn non_finite_rows_are_singletons_and_counted() {
    let rows = vec![
        vec![f32::NAN, 1.0],
        vec![f32::NAN, 1.0],
        vec![f32::INFINITY, 0.0],
        vec![f32::NEG_INFINITY, 0.0],
        vec![1.0, 1.0],
        vec![1.0, 1.0],
    ];
    let labels = [0, 1, 0, 1, 0, 1];
    for criterion in [
        Criterion::resolution(1.0),
        Criterion::Threshold { gamma: 1.0 },
    ] {
        let r = measure_layer(&flat(&rows), &labels, &cfg(2, criterion)).unwrap();
        assert_eq!(r.non_finite, 4, "{criterion:?}");
        assert_eq!(r.num_bundles, 5, "{criterion:?}");
        assert!(r.bundle_entropy.is_finite());
        assert!((r.bundle_entropy - oracle_entropy(&[0, 1, 2, 3, 4, 4], &labels, 2)).abs() < 1e-12);
    }
}

#[test]
fn zero_width_rows_all_bundle_together() {
    let r = measure_layer(&[], &[0, 1], &cfg(2, Criterion::resolution(1.0))).unwrap();
    assert_eq!(r.num_bundles, 1);
}

#[test]
fn all_layers_in_one_call_match_layer_by_layer() {
    let labels: Vec<usize> = (0..64).map(|i| i % 4).collect();
    let layers: Vec<Vec<f32>> = (0..5)
        .map(|l| {
            (0..64 * (l + 1))
                .map(|i| ((i * 7919) % (3 + 10 * l)) as f32)
                .collect()
        })
        .collect();
    let views: Vec<&[f32]> = layers.iter().map(|v| v.as_slice()).collect();
    let c = cfg(4, Criterion::resolution(1.0));
    let all = measure_layers(&views, &labels, &c).unwrap();
    assert_eq!(all.len(), 5);
    for (l, r) in views.iter().zip(&all) {
        assert_eq!(&measure_layer(l, &labels, &c).unwrap(), r);
    }
    assert!(
        all[0].bundle_entropy > 0.0,
        "layer 0 has only 3 distinct rows"
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let c = cfg(2, Criterion::resolution(1.0));
    assert_eq!(measure_layer(&[], &[], &c), Err(BundleError::NoSamples));
    assert_eq!(
        measure_layer(&[1.0], &[0], &cfg(0, c.criterion)),
        Err(BundleError::NoClasses)
    );
    assert_eq!(
        measure_layer(&[1.0, 2.0], &[0, 2], &c),
        Err(BundleError::LabelOutOfRange {
            index: 1,
            label: 2,
            classes: 2
        })
    );
    assert_eq!(
        measure_layer(&[1.0, 2.0, 3.0], &[0, 1], &c),
        Err(BundleError::ShapeMismatch {
            values: 3,
            samples: 2
        })
    );
    let bad = BundleConfig { batch_size: 0, ..c };
    assert!(matches!(
        measure_layer(&[1.0], &[0], &bad),
        Err(BundleError::BadParameter(_))
    ));
    let bad = cfg(2, Criterion::Threshold { gamma: f32::NAN });
    assert!(matches!(
        measure_layer(&[1.0], &[0], &bad),
        Err(BundleError::BadParameter(_))
    ));
}

#[test]
fn tensors_on_a_device_match_host_slices() {
    use dfdx::prelude::*;
    let dev: Cpu = Default::default();
    let data: Vec<f32> = (0..40).map(|i| (i % 6) as f32).collect();
    let t: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(data.clone(), (10, 4));
    let labels: Vec<usize> = (0..10).map(|i| i % 3).collect();
    let c = cfg(3, Criterion::resolution(1.0));
    let r = measure_tensors(&[t], &labels, &c).unwrap();
    assert_eq!(r[0], measure_layer(&data, &labels, &c).unwrap());
}

// ---------- property tests: fast path == oracle ----------

/// Rows drawn from a few prototypes (planted duplicates), some nudged by a
/// few ulps (below resolution for typical w_max) or by a visible amount, and
/// some made non-finite.
fn layer_strategy() -> impl Strategy<Value = (Vec<Vec<f32>>, Vec<usize>, f32)> {
    (
        1usize..40,
        prop::sample::select(vec![1usize, 2, 5, 63, 64, 65, 130]),
        1usize..5,
    )
        .prop_flat_map(|(n, d, protos)| {
            (
                prop::collection::vec(prop::collection::vec(-4.0f32..4.0, d), protos),
                prop::collection::vec((0..protos, 0u8..6, 0u32..4, 0..d, 0usize..3), n),
                prop::sample::select(vec![0.0f32, -0.0, 0.05, 1.0, 3.5]),
            )
                .prop_map(|(protos, picks, w_max)| {
                    let mut rows = Vec::new();
                    let mut labels = Vec::new();
                    for (p, how, ulps, k, label) in picks {
                        let mut r = protos[p].clone();
                        match how {
                            0 => r[k] = f32::from_bits(r[k].to_bits().wrapping_add(ulps)),
                            1 => r[k] += 1e-3 * ulps as f32,
                            2 if ulps == 0 => r[k] = f32::NAN,
                            2 if ulps == 1 => r[k] = f32::INFINITY,
                            _ => {}
                        }
                        rows.push(r);
                        labels.push(label);
                    }
                    (rows, labels, w_max)
                })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn resolution_fast_path_matches_oracle((rows, labels, w_max) in layer_strategy()) {
        let ids = oracle_resolution(&rows, w_max, 1e-3, 64);
        let a = resolution_bundles(&flat(&rows), rows.len(), w_max, 1e-3, 64, Precision::F32);
        let got: Vec<usize> = a.bundle_of.iter().map(|&b| b as usize).collect();
        prop_assert_eq!(&got, &ids);
        let r = measure_layer(&flat(&rows), &labels, &cfg(3, Criterion::resolution(w_max))).unwrap();
        prop_assert!((r.bundle_entropy - oracle_entropy(&ids, &labels, 3)).abs() < 1e-12);
        prop_assert_eq!(r.non_finite, rows.iter().filter(|r| !finite_row(r)).count());
    }

    #[test]
    fn threshold_mode_matches_oracle((rows, labels, _w) in layer_strategy(), gamma in prop::sample::select(vec![0.0f32, 1e-9, 1e-8, 1e-7])) {
        let ids = oracle_threshold(&rows, gamma, 1e-3, 64);
        let r = measure_layer(&flat(&rows), &labels, &cfg(3, Criterion::Threshold { gamma })).unwrap();
        prop_assert_eq!(r.num_bundles, ids.iter().max().unwrap() + 1);
        prop_assert!((r.bundle_entropy - oracle_entropy(&ids, &labels, 3)).abs() < 1e-12);
    }
}

// ---------- the device path (run here on the CPU device) == the host path ----------

fn device_assignment(rows: &[Vec<f32>], w_max: f32, lr: f32) -> Vec<u32> {
    use dfdx::prelude::*;
    let dev: Cpu = Default::default();
    let d = rows.first().map_or(0, |r| r.len());
    let t: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(flat(rows), (rows.len(), d));
    resolution_bundles_on_device(&t, w_max, lr, 64).bundle_of
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn device_path_matches_host_path((rows, _labels, w_max) in layer_strategy()) {
        let host = resolution_bundles(&flat(&rows), rows.len(), w_max, 1e-3, 64, Precision::F32);
        prop_assert_eq!(device_assignment(&rows, w_max, 1e-3), host.bundle_of);
    }
}

#[test]
fn device_path_handles_overflowing_mapping_and_full_collapse() {
    // lr * a overflows to inf for finite a: such rows still bundle exactly.
    let rows = vec![
        vec![3e38f32, 1.0],
        vec![3e38, 1.0],
        vec![2e38, 1.0],
        vec![1.0, 1.0],
    ];
    let host = resolution_bundles(&flat(&rows), 4, 0.5, 10.0, 64, Precision::F32);
    assert_eq!(device_assignment(&rows, 0.5, 10.0), host.bundle_of);
    // Everything in one bundle; and all distinct.
    let same = vec![vec![0.25f32; 300]; 50];
    assert_eq!(device_assignment(&same, 0.5, 1e-3), vec![0; 50]);
    let distinct: Vec<Vec<f32>> = (0..50)
        .map(|i| (0..300).map(|k| (i * 300 + k) as f32).collect())
        .collect();
    assert_eq!(
        device_assignment(&distinct, 0.5, 1e-3),
        (0..50).collect::<Vec<u32>>()
    );
}

#[test]
fn measure_tensors_on_device_matches_measure_layers() {
    use dfdx::prelude::*;
    let dev: Cpu = Default::default();
    let labels: Vec<usize> = (0..64).map(|i| i % 4).collect();
    let data: Vec<Vec<f32>> = (0..3)
        .map(|l| {
            (0..64 * 20)
                .map(|i| ((i / 20 * 7) % (5 + 20 * l)) as f32 + (i % 20) as f32)
                .collect()
        })
        .collect();
    let c = cfg(4, Criterion::resolution(1.0));
    let tensors: Vec<Tensor<(usize, usize), f32, Cpu>> = data
        .iter()
        .map(|v| dev.tensor_from_vec(v.clone(), (64, 20)))
        .collect();
    let views: Vec<&[f32]> = data.iter().map(|v| v.as_slice()).collect();
    assert_eq!(
        measure_tensors_on_device(&tensors, &labels, &c).unwrap(),
        measure_layers(&views, &labels, &c).unwrap()
    );
}
