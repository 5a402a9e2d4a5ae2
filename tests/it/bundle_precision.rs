//! Resolution mode in f16 and bf16 against an oracle written from the
//! formats' definitions: every value of a 16-bit format decoded from its bit
//! fields by hand, rounding to nearest (ties to even) by search in that
//! table, and the mapping's steps computed in f64 (products of two 16-bit
//! values are exact there; where a step is not, f64 carries far more than
//! the `p + 2` extra bits that make rounding it again to the format exact).
//! Nothing here calls the `half` crate the library rounds with.

use conflicting_bundles::bundle::*;
use proptest::prelude::*;

/// A 16-bit binary format: exponent and stored mantissa bits.
#[derive(Clone, Copy, Debug)]
struct Format {
    exp_bits: i32,
    man_bits: i32,
}

const F16: Format = Format {
    exp_bits: 5,
    man_bits: 10,
};
const BF16: Format = Format {
    exp_bits: 8,
    man_bits: 7,
};

fn format_of(p: Precision) -> Format {
    match p {
        Precision::F16 => F16,
        Precision::Bf16 => BF16,
        Precision::F32 => unreachable!("f32 is checked by tests/it/bundle_metric.rs"),
    }
}

/// Every finite value >= 0 of the format, in bit order (which is increasing
/// order): subnormals `m · 2^(1 - bias - man)`, normals `(1 + m/2^man) · 2^(e - bias)`.
fn table(f: Format) -> Vec<f64> {
    let bias = (1 << (f.exp_bits - 1)) - 1;
    let mut v = Vec::new();
    for e in 0..(1 << f.exp_bits) - 1 {
        for m in 0..(1 << f.man_bits) {
            let m = m as f64;
            let x = if e == 0 {
                m * 2f64.powi(1 - bias - f.man_bits)
            } else {
                (1.0 + m / 2f64.powi(f.man_bits)) * 2f64.powi(e - bias)
            };
            v.push(x);
        }
    }
    v
}

/// `x` rounded to the nearest value in `t`, ties to the even mantissa (even
/// index: the index is exponent · 2^man + mantissa); at or beyond the largest
/// value plus half its spacing, infinity.
fn round_to(x: f64, t: &[f64]) -> f64 {
    if x.is_nan() || x.is_infinite() {
        return x;
    }
    let ax = x.abs();
    let top = t[t.len() - 1];
    let r = if ax >= top + (top - t[t.len() - 2]) / 2.0 {
        f64::INFINITY
    } else {
        // First index with t[i] > ax; ax lies in [t[i-1], t[i]).
        let i = t.partition_point(|&v| v <= ax);
        if i == t.len() {
            top
        } else {
            let (lo, hi) = (t[i - 1], t[i]);
            let (dlo, dhi) = (ax - lo, hi - ax);
            if dlo < dhi || (dlo == dhi && (i - 1) % 2 == 0) {
                lo
            } else {
                hi
            }
        }
    };
    r.copysign(x)
}

/// The mapping `R(R(w) - R(R(R(lr) · R(a)) / R(bs)))` in f64 with `R` from the table.
fn oracle_v(a: f32, w_max: f32, lr: f32, bs: usize, t: &[f64]) -> f64 {
    let r = |x: f64| round_to(x, t);
    let step = r(r(r(lr as f64) * r(a as f64)) / r(bs as f64));
    r(r(w_max as f64) - step)
}

/// Bundle id per sample, numbered by first sample: rows with a NaN or ±Inf
/// input are singletons; others are bundled when every mapped value is equal.
fn oracle_bundles(rows: &[Vec<f32>], w_max: f32, lr: f32, bs: usize, t: &[f64]) -> Vec<u32> {
    let mapped: Vec<Option<Vec<f64>>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .all(|x| x.is_finite())
                .then(|| r.iter().map(|&a| oracle_v(a, w_max, lr, bs, t)).collect())
        })
        .collect();
    let mut ids: Vec<u32> = Vec::new();
    let mut next = 0;
    for i in 0..rows.len() {
        let same = mapped[i]
            .as_ref()
            .and_then(|mi| (0..i).find(|&j| mapped[j].as_ref().is_some_and(|mj| mj == mi)));
        ids.push(match same {
            Some(j) => ids[j],
            None => {
                next += 1;
                next - 1
            }
        });
    }
    ids
}

fn flat(rows: &[Vec<f32>]) -> Vec<f32> {
    rows.iter().flatten().copied().collect()
}

#[test]
fn rounding_matches_the_tables_at_every_value_and_every_tie() {
    for p in [Precision::F16, Precision::Bf16] {
        let t = table(format_of(p));
        // Every value, every midpoint (a tie), and the f32 neighbours of each
        // midpoint (just below and above a tie), with both signs.
        let mut xs: Vec<f32> = Vec::new();
        for w in t.windows(2) {
            let mid = ((w[0] + w[1]) / 2.0) as f32;
            assert_eq!(mid as f64, (w[0] + w[1]) / 2.0, "a midpoint is an f32");
            xs.extend([w[0] as f32, mid, mid.next_down(), mid.next_up()]);
        }
        let top = t[t.len() - 1];
        let overflow = (top + (top - t[t.len() - 2]) / 2.0) as f32;
        xs.extend([
            top as f32,
            overflow,
            overflow.next_down(),
            f32::MAX,
            f32::INFINITY,
        ]);
        for x in xs.clone() {
            xs.push(-x);
        }
        for x in xs {
            assert_eq!(p.round(x) as f64, round_to(x as f64, &t), "{p}: {x:e}");
        }
    }
}

#[test]
fn rounding_matches_the_tables_on_random_f32s() {
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for p in [Precision::F16, Precision::Bf16] {
        let t = table(format_of(p));
        for _ in 0..200_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let x = f32::from_bits(rng as u32);
            if x.is_nan() {
                assert!(p.round(x).is_nan());
                continue;
            }
            assert_eq!(p.round(x) as f64, round_to(x as f64, &t), "{p}: {x:e}");
        }
    }
}

#[test]
fn f32_is_the_identity() {
    for x in [0.0f32, -0.0, 1.0, 1.0e-40, f32::MAX, 0.1] {
        assert_eq!(Precision::F32.round(x).to_bits(), x.to_bits());
    }
}

#[test]
fn a_difference_f32_resolves_vanishes_in_f16_and_bf16() {
    // w_max = 1, lr/bs = 1e-3/64: the step for a = 1 is about 1.6e-5, which
    // moves 1.0 in f32 (spacing 6e-8 below 1) but not in f16 (spacing 4.9e-4)
    // or bf16 (3.9e-3). Two samples of different labels: one bundle of two
    // classes (H = ln 2) in the 16-bit formats, two singletons in f32.
    let cfg = |precision| BundleConfig {
        lr: 1e-3,
        batch_size: 64,
        num_classes: 2,
        criterion: Criterion::Resolution {
            w_max: 1.0,
            precision,
        },
    };
    let f32r = measure_layer(&[0.0, 1.0], &[0, 1], &cfg(Precision::F32)).unwrap();
    assert_eq!(f32r.num_bundles, 2);
    for p in [Precision::F16, Precision::Bf16] {
        let r = measure_layer(&[0.0, 1.0], &[0, 1], &cfg(p)).unwrap();
        assert_eq!(r.num_bundles, 1, "{p}");
        assert!((r.bundle_entropy - 2f64.ln()).abs() < 1e-4, "{p}");
    }
}

#[test]
fn activations_beyond_f16s_range_bundle_as_infinity() {
    // 1e5 and 2e5 are finite in f32 and bf16 but beyond f16's 65504: in f16
    // both round to +Inf and map to -Inf, so they bundle; NaN stays alone and
    // is the only non-finite sample.
    let cfg = |precision| BundleConfig {
        lr: 1.0,
        batch_size: 1,
        num_classes: 2,
        criterion: Criterion::Resolution {
            w_max: 0.0,
            precision,
        },
    };
    let acts = [1.0e5f32, 2.0e5, f32::NAN];
    let r16 = measure_layer(&acts, &[0, 1, 0], &cfg(Precision::F16)).unwrap();
    assert_eq!((r16.num_bundles, r16.non_finite), (2, 1));
    let rb = measure_layer(&acts, &[0, 1, 0], &cfg(Precision::Bf16)).unwrap();
    assert_eq!((rb.num_bundles, rb.non_finite), (3, 1));
}

#[test]
fn precision_names_parse_and_print() {
    for p in Precision::ALL {
        assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        assert_eq!(
            p.to_string().to_uppercase().parse::<Precision>().unwrap(),
            p
        );
    }
    let e = "f8".parse::<Precision>().unwrap_err();
    assert!(e.contains("f8") && e.contains("bf16"), "{e}");
    assert_eq!(Precision::F16.epsilon(), 2f64.powi(-10));
    assert_eq!(Precision::Bf16.epsilon(), 2f64.powi(-7));
}

#[test]
fn configs_stored_before_precision_existed_read_as_f32() {
    let c: Criterion = serde_json::from_str(r#"{"resolution":{"w_max":0.5}}"#).unwrap();
    assert_eq!(c, Criterion::resolution(0.5));
}

/// Rows near each other at magnitudes where each format's resolution bites:
/// prototypes scaled by 2^k, copies nudged by a few f32 ulps or by a relative
/// amount around each 16-bit format's spacing, some beyond f16's range, some
/// NaN or ±Inf.
fn rows_strategy() -> impl Strategy<Value = (Vec<Vec<f32>>, f32, f32, usize)> {
    (
        1usize..30,
        prop::sample::select(vec![1usize, 2, 7]),
        1usize..4,
    )
        .prop_flat_map(|(n, d, protos)| {
            (
                prop::collection::vec(prop::collection::vec(-1.0f32..1.0, d), protos),
                prop::collection::vec((0..protos, 0u8..7, 1u32..40, 0..d, -20i32..22), n),
                prop::sample::select(vec![0.0f32, 0.05, 1.0, 3.5, -700.0]),
                prop::sample::select(vec![1e-3f32, 0.1, 1.0]),
                prop::sample::select(vec![1usize, 64, 100]),
            )
                .prop_map(|(protos, picks, w_max, lr, bs)| {
                    let rows = picks
                        .into_iter()
                        .map(|(p, how, k, j, exp)| {
                            let mut r: Vec<f32> =
                                protos[p].iter().map(|x| x * 2f32.powi(exp)).collect();
                            match how {
                                0 => r[j] = f32::from_bits(r[j].to_bits().wrapping_add(k)),
                                1 => r[j] *= 1.0 + k as f32 * 2f32.powi(-12),
                                2 => r[j] *= 1.0 + k as f32 * 2f32.powi(-9),
                                3 => r[j] = 6.0e4 + 1.0e3 * k as f32,
                                4 if k == 1 => r[j] = f32::NAN,
                                4 if k == 2 => r[j] = f32::NEG_INFINITY,
                                _ => {}
                            }
                            r
                        })
                        .collect();
                    (rows, w_max, lr, bs)
                })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn sixteen_bit_bundles_match_the_oracle(
        (rows, w_max, lr, bs) in rows_strategy(),
        p in prop::sample::select(vec![Precision::F16, Precision::Bf16]),
    ) {
        let t = table(format_of(p));
        let want = oracle_bundles(&rows, w_max, lr, bs, &t);
        let got = resolution_bundles(&flat(&rows), rows.len(), w_max, lr, bs, p);
        prop_assert_eq!(got.bundle_of, want);
        prop_assert_eq!(got.non_finite, rows.iter().filter(|r| r.iter().any(|x| !x.is_finite())).count());
    }
}
