//! `cb bundles` end to end: output format and one-line errors.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn cb(args: &[&str]) -> (i32, String, String) {
    output(Command::new(env!("CARGO_BIN_EXE_cb")).args(args))
}

/// `cb` with its address space limited to 2 GiB on Linux, so that a huge
/// allocation fails the test at once instead of swapping the machine. Two
/// threads and malloc arenas keep the usual reservations well under it.
fn cb_limited(args: &[&str]) -> (i32, String, String) {
    if !cfg!(target_os = "linux") {
        return cb(args);
    }
    output(
        Command::new("sh")
            .args(["-c", "ulimit -v 2097152 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_cb"))
            .args(args)
            .env("RAYON_NUM_THREADS", "2")
            .env("MALLOC_ARENA_MAX", "2"),
    )
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn files(dir: &Path) -> (String, String) {
    // 4 samples of shape (2, 2): samples 0 and 1 equal (labels 0, 1), 2 and 3 distinct.
    let acts: Vec<f32> = [
        [1., 2., 3., 4.],
        [1., 2., 3., 4.],
        [0., 0., 0., 1.],
        [5., 5., 5., 5.],
    ]
    .concat();
    let a = dir.join("a.npy");
    let y = dir.join("y.npy");
    write_npy(&a, "<f4", &[4, 2, 2], &f32_bytes(&acts));
    write_npy(&y, "|u1", &[4], &[0, 1, 1, 2]);
    (a.to_str().unwrap().into(), y.to_str().unwrap().into())
}

fn base<'a>(a: &'a str, y: &'a str) -> Vec<&'a str> {
    vec![
        "bundles",
        "--activations",
        a,
        "--labels",
        y,
        "--classes",
        "3",
        "--lr",
        "0.001",
        "--batch-size",
        "64",
    ]
}

#[test]
fn prints_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let (a, y) = files(dir.path());
    let mut args = base(&a, &y);
    args.extend(["--max-weight", "0.5", "--sizes"]);
    let (code, out, err) = cb(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["num_samples"], 4);
    assert_eq!(v["num_bundles"], 3);
    assert_eq!(v["non_finite"], 0);
    assert_eq!(v["bundle_sizes"], serde_json::json!([2, 1, 1]));
    let h = -(0.5f64 * (0.5f64 + 1e-5).ln()) * 2.0 * 2.0 / 4.0;
    assert!((v["bundle_entropy"].as_f64().unwrap() - h).abs() < 1e-12);
    assert_eq!(out.trim().lines().count(), 1);
}

#[test]
fn threshold_mode_and_f64_and_wide_int_labels() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.npy");
    let y = dir.path().join("y.npy");
    write_npy(&a, "<f8", &[3, 1], &f64_bytes(&[0.0, 1e-4, 10.0]));
    let labels: Vec<u8> = [0i64, 1, 1].iter().flat_map(|x| x.to_le_bytes()).collect();
    write_npy(&y, "<i8", &[3], &labels);
    let (a, y) = (a.to_str().unwrap(), y.to_str().unwrap());
    let mut args = base(a, y);
    args.extend(["--gamma", "1e-8"]);
    let (code, out, err) = cb(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["num_bundles"], 2);
    assert!(v.get("bundle_sizes").is_none());
}

fn assert_one_line_error(args: &[&str], needle: &str) {
    let (code, out, err) = cb_limited(args);
    assert_ne!(code, 0, "expected failure for {args:?}");
    assert!(out.is_empty(), "stdout must stay empty: {out}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (a, y) = files(dir.path());
    let d = dir.path();
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();

    let missing = p("nope.npy");
    let mut args = base(&missing, &y);
    args.extend(["--max-weight", "1"]);
    assert_one_line_error(&args, "nope.npy: file not found");

    std::fs::write(p("text.npy"), "hello").unwrap();
    let text = p("text.npy");
    let mut args = base(&text, &y);
    args.extend(["--max-weight", "1"]);
    assert_one_line_error(&args, "not a .npy file");

    write_npy(&d.join("i.npy"), "<i4", &[4, 1], &[0u8; 16]);
    let ints = p("i.npy");
    let mut args = base(&ints, &y);
    args.extend(["--max-weight", "1"]);
    assert_one_line_error(&args, "unsupported dtype");

    write_npy(
        &d.join("yf.npy"),
        "<f4",
        &[4],
        &f32_bytes(&[0., 1., 1., 2.]),
    );
    let yf = p("yf.npy");
    let mut args = base(&a, &yf);
    args.extend(["--max-weight", "1"]);
    assert_one_line_error(&args, "unsupported dtype");

    write_npy(&d.join("y3.npy"), "|u1", &[3], &[0, 1, 2]);
    let y3 = p("y3.npy");
    let mut args = base(&a, &y3);
    args.extend(["--max-weight", "1"]);
    assert_one_line_error(&args, "has 3 labels but");

    write_npy(&d.join("yneg.npy"), "|i1", &[4], &[0, 1, 0xff, 2]);
    let yneg = p("yneg.npy");
    let mut args = base(&a, &yneg);
    args.extend(["--max-weight", "1"]);
    assert_one_line_error(&args, "label -1 of sample 2 is outside 0..3");

    write_npy(&d.join("y9.npy"), "|u1", &[4], &[0, 1, 9, 2]);
    let y9 = p("y9.npy");
    let mut args = base(&a, &y9);
    args.extend(["--max-weight", "1"]);
    assert_one_line_error(&args, "label 9 of sample 2 is outside 0..3");

    write_npy(&d.join("empty.npy"), "<f4", &[0, 3], &[]);
    write_npy(&d.join("yempty.npy"), "|u1", &[0], &[]);
    let (e, ye) = (p("empty.npy"), p("yempty.npy"));
    let mut args = base(&e, &ye);
    args.extend(["--max-weight", "1"]);
    assert_one_line_error(&args, "N = 0");

    let mut args = base(&a, &y);
    args[6] = "0";
    args.extend(["--max-weight", "1"]);
    assert_one_line_error(&args, "--classes must be at least 1");

    assert_one_line_error(&base(&a, &y), "required arguments were not provided");
    let mut args = base(&a, &y);
    args.extend(["--max-weight", "1", "--gamma", "1e-8"]);
    assert_one_line_error(&args, "cannot be used with");
}

#[test]
fn huge_class_counts_give_the_same_result_without_huge_memory() {
    // Nothing is sized or allocated per class (a count near usize::MAX would
    // overflow or exhaust memory): classes without samples add nothing to H.
    let dir = tempfile::tempdir().unwrap();
    let (a, y) = files(dir.path());
    let mut args = base(&a, &y);
    args.extend(["--max-weight", "0.5"]);
    let (code, want, err) = cb(&args);
    assert_eq!(code, 0, "{err}");
    for classes in [
        "18446744073709551615",
        "2305843009213693952",
        "4294967296",
        "1000000000",
    ] {
        args[6] = classes;
        let start = std::time::Instant::now();
        let (code, out, err) = cb_limited(&args);
        assert_eq!((code, out.as_str(), err.as_str()), (0, want.as_str(), ""));
        assert!(start.elapsed().as_secs() < 20, "--classes {classes}");
    }
    args[6] = "2";
    assert_one_line_error(&args, "label 2 of sample 3 is outside 0..2");
}

#[test]
fn hostile_npy_files_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (a, y) = files(dir.path());
    let d = dir.path();
    let bad = |name: &str, bytes: Vec<u8>| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let dict = |descr: &str, shape: &str| {
        format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}\n")
    };
    let nested = format!("{}'<f4'{}", "[".repeat(100), "]".repeat(100));
    let mut huge_header = b"\x93NUMPY\x02\x00".to_vec();
    huge_header.extend(u32::MAX.to_le_bytes());
    let long = dict("'<f4'", &format!("(4, {})", "1".repeat(2_000_000)));
    let cases = [
        (
            bad(
                "nested.npy",
                npy_raw(dict(&nested, "(4, 1)").as_bytes(), &[0; 16]),
            ),
            "nested more than 32 deep",
        ),
        (
            bad("huge_header.npy", huge_header),
            "header of 4294967295 bytes is over the 10000-byte limit",
        ),
        (
            bad("long.npy", npy_raw(long.as_bytes(), &[])),
            "bytes is over the 10000-byte limit",
        ),
        (
            bad(
                "wrap.npy",
                npy_raw(dict("'<f4'", "(2, 9223372036854775808)").as_bytes(), &[]),
            ),
            "needs 2^64 bytes or more",
        ),
        (
            bad(
                "wrap4.npy",
                npy_raw(
                    dict("'<f4'", "(4, 4611686018427387905)").as_bytes(),
                    &[0; 16],
                ),
            ),
            "needs 2^64 bytes or more",
        ),
        (
            d.to_str().unwrap().to_string(),
            "is a directory, not a .npy file",
        ),
    ];
    for (acts, needle) in &cases {
        let mut args = base(acts, &y);
        args.extend(["--max-weight", "1"]);
        assert_one_line_error(&args, needle);
        let mut args = base(&a, acts);
        args.extend(["--max-weight", "1"]);
        assert_one_line_error(&args, needle);
    }
}

#[test]
fn shipped_example_shows_a_conflicting_bundle() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (a, y) = (
        format!("{root}/examples/activations/layer.npy"),
        format!("{root}/examples/activations/labels.npy"),
    );
    let (code, out, err) = cb(&[
        "bundles",
        "--activations",
        &a,
        "--labels",
        &y,
        "--classes",
        "10",
        "--max-weight",
        "0.5",
        "--sizes",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["num_samples"], 512);
    assert_eq!(v["bundle_sizes"][0], 138, "the dead-ReLU bundle");
    assert!(v["bundle_entropy"].as_f64().unwrap() > 0.4);
}
