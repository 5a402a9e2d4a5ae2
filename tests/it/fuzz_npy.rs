//! The `.npy` reader on hostile input: random and mutated headers and
//! payloads give either values that match the declared shape or a one-line
//! error of bounded length, quickly, never a panic. Then the worst inputs
//! known, each as a fixed case.

use crate::support::mutation;

use std::time::{Duration, Instant};

use crate::common::*;
use conflicting_bundles::npy::{read_activations, read_labels, Activations, MAX_HEADER_LEN};
use mutation::Mutation;
use proptest::prelude::*;

/// Generous robustness bounds, not performance targets.
const MAX_TIME: Duration = Duration::from_secs(2);
const MAX_MESSAGE: usize = 2048;

struct Read {
    acts: Result<Activations, String>,
    labels: Result<Vec<i64>, String>,
}

/// Reads `bytes` as activations and as labels, checking what must hold for
/// any input: bounded time, one-line bounded errors, values that fill the
/// declared shape exactly.
fn read_both(bytes: &[u8]) -> Read {
    thread_local! {
        // One directory per test thread: a fresh one per case costs more
        // than the reads under test.
        static DIR: tempfile::TempDir = tempfile::tempdir().unwrap();
    }
    let path = DIR.with(|d| d.path().join("x.npy"));
    std::fs::write(&path, bytes).unwrap();
    let start = Instant::now();
    let acts = read_activations(&path).map_err(|e| e.to_string());
    let labels = read_labels(&path).map_err(|e| e.to_string());
    assert!(start.elapsed() < MAX_TIME, "took {:?}", start.elapsed());
    for msg in [acts.as_ref().err(), labels.as_ref().err()]
        .into_iter()
        .flatten()
    {
        assert!(!msg.contains('\n'), "not one line: {msg:?}");
        assert!(msg.len() <= MAX_MESSAGE, "{} bytes: {msg:.200}", msg.len());
    }
    if let Ok(a) = &acts {
        let values: u128 = a.shape.iter().map(|&d| u128::from(d)).product();
        assert_eq!(a.data.len() as u128, values, "shape {:?}", a.shape);
        // float16, the narrowest float read, takes 2 bytes a value.
        assert!(a.data.len() * 2 <= bytes.len(), "more values than bytes");
    }
    if let Ok(y) = &labels {
        assert!(y.len() <= bytes.len(), "more labels than bytes");
    }
    Read { acts, labels }
}

// ---------- valid files, and the independent decoding they must give ----------

const DESCRS: &[&str] = &[
    "<f4", "<f8", ">f4", ">f8", "|u1", "|i1", "<i2", ">u2", "<i4", "<u4", "<i8", "<u8", "<f2",
    "|b1", "<c8",
];

fn width(descr: &str) -> usize {
    descr[2..].parse().unwrap()
}

/// Descr, shape and random data of exactly the declared size.
fn valid_file() -> impl Strategy<Value = (&'static str, Vec<usize>, Vec<u8>)> {
    (
        prop::sample::select(DESCRS),
        prop::collection::vec(0usize..4, 0..4),
    )
        .prop_flat_map(|(descr, shape)| {
            let len = shape.iter().product::<usize>() * width(descr);
            (
                Just(descr),
                Just(shape),
                prop::collection::vec(any::<u8>(), len),
            )
        })
}

/// One value of `descr` from its bytes, as an f64 bit-exact enough for f32
/// comparison (floats) or as an i64 (integers); written from the dtype
/// rules, not from the reader.
fn decode(descr: &str, b: &[u8]) -> (Option<f32>, Option<i64>) {
    let be = descr.starts_with('>');
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    if be {
        a[..b.len()].reverse();
    }
    let u = u64::from_le_bytes(a);
    let bits = 8 * b.len() as u32;
    let signed = ((u << (64 - bits)) as i64) >> (64 - bits);
    match &descr[1..] {
        "f4" => (Some(f32::from_bits(u as u32)), None),
        "f8" => (Some(f64::from_bits(u) as f32), None),
        "f2" => (Some(half::f16::from_bits(u as u16).to_f32()), None),
        "u1" | "u2" | "u4" => (None, Some(u as i64)),
        "u8" => (None, Some(u.min(i64::MAX as u64) as i64)),
        "i1" | "i2" | "i4" | "i8" => (None, Some(signed)),
        _ => (None, None),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_files_read_back_exactly((descr, shape, data) in valid_file()) {
        let r = read_both(&npy_bytes(descr, &shape, &data));
        let values: Vec<_> = data.chunks_exact(width(descr)).map(|b| decode(descr, b)).collect();
        let floats: Option<Vec<f32>> = values.iter().map(|v| v.0).collect();
        let ints: Option<Vec<i64>> = values.iter().map(|v| v.1).collect();
        let is_float = matches!(&descr[1..], "f2" | "f4" | "f8");
        let is_int = !is_float && decode(descr, &[0; 8][..width(descr)]).1.is_some();
        match (&r.acts, is_float && !shape.is_empty()) {
            (Ok(a), true) => {
                let got: Vec<u32> = a.data.iter().map(|x| x.to_bits()).collect();
                let want: Vec<u32> = floats.unwrap().iter().map(|x| x.to_bits()).collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(&a.shape, &shape.iter().map(|&d| d as u64).collect::<Vec<_>>());
            }
            (Err(_), false) => {}
            (other, _) => prop_assert!(false, "{descr} {shape:?}: {other:?}"),
        }
        match (&r.labels, is_int && shape.len() == 1) {
            (Ok(y), true) => prop_assert_eq!(y, &ints.unwrap()),
            (Err(_), false) => {}
            (other, _) => prop_assert!(false, "{descr} {shape:?}: {other:?}"),
        }
    }
}

// ---------- mutations of valid files ----------

/// Text that, put into a header, exercises the parser's edges.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    "'",
    "\"",
    ",",
    ":",
    " ",
    "\n",
    "\\",
    "True",
    "False",
    "None",
    "-1",
    "0",
    "99999999999999999999",
    "18446744073709551615",
    "9223372036854775808",
    "L",
    "'descr'",
    "'shape'",
    "'fortran_order'",
    "'<f4'",
    "[[[[[[[[[[[[[[[[",
    "((((((((((((((((",
    "\u{e9}",
    "\u{0}",
    "\u{93}NUMPY",
];

/// A token spliced in, mostly into the header, where the parser is.
fn splice(bytes: &mut Vec<u8>, &(i, t): &(prop::sample::Index, &'static str)) {
    let i = i.index(bytes.len().min(140));
    bytes.splice(i..i, t.bytes());
}

fn mutation() -> impl Strategy<Value = Mutation<(prop::sample::Index, &'static str)>> {
    mutation::mutation((any::<prop::sample::Index>(), prop::sample::select(TOKENS)))
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation<(prop::sample::Index, &'static str)>) {
    mutation::apply(bytes, m, splice)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_files_never_panic(
        (descr, shape, data) in valid_file(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let mut bytes = npy_bytes(descr, &shape, &data);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        read_both(&bytes);
    }

    #[test]
    fn random_headers_never_panic(
        parts in prop::collection::vec(prop::sample::select(TOKENS), 0..40),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}}}", parts.concat());
        read_both(&npy_raw(header.as_bytes(), &data));
        read_both(&npy_raw(parts.concat().as_bytes(), &data));
    }

    #[test]
    fn lying_header_lengths_never_panic(
        version in 0u8..5,
        len in prop_oneof![any::<u32>(), 0u32..200, Just(u32::MAX)],
        rest in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.extend([version, 0]);
        bytes.extend(len.to_le_bytes());
        bytes.extend(rest);
        let r = read_both(&bytes);
        let declared = if version == 1 { len & 0xffff } else { len };
        if declared as usize > MAX_HEADER_LEN && (1..=3).contains(&version) {
            prop_assert!(r.acts.unwrap_err().contains("-byte limit"));
        }
    }
}

// ---------- shapes whose size overflows or disagrees with the data ----------

const DIMS: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    1 << 31,
    1 << 32,
    (1 << 32) + 1,
    (1 << 62) + 1,
    1 << 63,
    u64::MAX,
];

fn header_for(descr: &str, shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| format!("{d},")).collect();
    format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}), }}\n",
        dims.concat()
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Values come back exactly when the shape's size (computed without
    /// overflow) equals the data present; anything else is an error.
    #[test]
    fn huge_shapes_are_exact_or_refused(
        descr in prop::sample::select(&["<f4", "<f8", "|u1"][..]),
        shape in prop::collection::vec(prop::sample::select(DIMS), 1..4),
        len in prop_oneof![0usize..64, Just(16), Just(24)],
    ) {
        let data = vec![0u8; len];
        let r = read_both(&npy_raw(header_for(descr, &shape).as_bytes(), &data));
        let bytes = if shape.contains(&0) {
            Some(0)
        } else {
            shape.iter().try_fold(width(descr) as u64, |acc, &d| acc.checked_mul(d))
        };
        let fits = bytes == Some(len as u64);
        prop_assert_eq!(r.acts.is_ok(), fits && descr != "|u1", "{:?}", r.acts);
        prop_assert_eq!(r.labels.is_ok(), fits && descr == "|u1" && shape.len() == 1, "{:?}", r.labels);
    }

    #[test]
    fn nested_brackets_are_refused_quickly(depth in 0usize..400, open in prop::sample::select(&["[", "(", "{"][..])) {
        let close = match open { "[" => "]", "(" => ")", _ => "}" };
        let header = format!(
            "{{'descr': {}'<f4'{}, 'fortran_order': False, 'shape': (1,)}}",
            open.repeat(depth),
            close.repeat(depth)
        );
        let r = read_both(&npy_raw(header.as_bytes(), &[0; 4]));
        prop_assert_eq!(r.acts.is_ok(), depth == 0);
    }
}

// ---------- the worst inputs known ----------

fn acts_error(bytes: &[u8]) -> String {
    read_both(bytes).acts.unwrap_err()
}

#[test]
fn nesting_100_brackets_deep_is_an_error_not_a_hang() {
    // A descr nested 100 `[` deep, past the parser's limit of 32.
    let header = format!(
        "{{'descr': {}'<f4'{}, 'fortran_order': False, 'shape': (2, 2), }}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let e = acts_error(&npy_raw(header.as_bytes(), &[0; 16]));
    assert!(e.contains("nested more than 32 deep"), "{e}");
    assert!(e.len() < 300, "{e}");
}

#[test]
fn a_4_gib_header_is_refused_before_it_is_read() {
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend(u32::MAX.to_le_bytes());
    assert_eq!(bytes.len(), 12);
    let e = acts_error(&bytes);
    assert!(
        e.contains("header of 4294967295 bytes is over the 10000-byte limit"),
        "{e}"
    );
}

#[test]
fn headers_up_to_the_limit_are_read_and_longer_ones_refused() {
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
    let pad = |len: usize| format!("{dict}{}\n", " ".repeat(len - dict.len() - 1));
    let at_limit = npy_raw(pad(MAX_HEADER_LEN).as_bytes(), &[0; 4]);
    assert!(read_both(&at_limit).acts.is_ok());
    let over = npy_raw(pad(MAX_HEADER_LEN + 1).as_bytes(), &[0; 4]);
    assert!(acts_error(&over).contains("-byte limit"));
}

#[test]
fn long_headers_are_not_echoed_into_the_error() {
    // Refused by length (60 KB, 2 MB), or quoted clipped (under the limit).
    for len in [60_000, 2_000_000, 9_000] {
        let header = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': {}}}",
            "A".repeat(len)
        );
        let e = acts_error(&npy_raw(header.as_bytes(), &[0; 4]));
        assert!(e.len() < 300, "{} bytes: {e:.300}", e.len());
    }
}

#[test]
fn shapes_whose_size_overflows_are_errors() {
    let cases: [(&[u64], usize); 3] = [
        (&[2, 1 << 63], 0),
        (&[4, (1 << 62) + 1], 16),
        (&[1 << 32, 1 << 32, 1], 0),
    ];
    for (shape, len) in cases {
        let e = acts_error(&npy_raw(header_for("<f4", shape).as_bytes(), &vec![0; len]));
        assert!(e.contains("needs 2^64 bytes or more"), "{shape:?}: {e}");
    }
}

#[test]
fn data_shorter_or_longer_than_the_shape_is_an_error() {
    let header = header_for("<f4", &[3, 2]);
    for len in [0, 16, 23, 25, 32] {
        let e = acts_error(&npy_raw(header.as_bytes(), &vec![0; len]));
        assert!(
            e.contains(&format!("needs 24 bytes of data, the file holds {len}")),
            "{e}"
        );
    }
}

#[test]
fn a_directory_or_bad_link_is_reported_as_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let e = read_activations(dir.path()).unwrap_err().to_string();
    assert!(e.ends_with("is a directory, not a .npy file"), "{e}");
    let e = read_labels(&dir.path().join("nope.npy"))
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("nope.npy: file not found"), "{e}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
        symlink(&a, &b).unwrap();
        let e = read_activations(&b).unwrap_err().to_string();
        assert!(e.ends_with("b.npy: symbolic link to a missing file"), "{e}");
        symlink(&b, &a).unwrap();
        let e = read_activations(&a).unwrap_err().to_string();
        assert!(e.contains("a.npy: cannot read: "), "{e}");
        assert!(!e.contains("not found"), "{e}");
    }
}
