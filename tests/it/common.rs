//! Helpers shared by integration tests.
#![allow(dead_code)]

use std::path::Path;

/// Writes a C-order .npy (format 1.0) by hand, independent of the reader.
pub fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    std::fs::write(path, npy_bytes(descr, shape, data)).unwrap();
}

/// The bytes of a C-order .npy (format 1.0), made by hand.
pub fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    npy_raw(header.as_bytes(), data)
}

/// A .npy with any header text: format 1.0 where its length fits 16 bits,
/// else 2.0 (a length over 32 bits is cut; write such a file by hand).
pub fn npy_raw(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut bytes = b"\x93NUMPY".to_vec();
    match u16::try_from(header.len()) {
        Ok(len) => {
            bytes.extend([1, 0]);
            bytes.extend(len.to_le_bytes());
        }
        Err(_) => {
            bytes.extend([2, 0]);
            bytes.extend((header.len() as u32).to_le_bytes());
        }
    }
    bytes.extend(header);
    bytes.extend(data);
    bytes
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `value` as JSON without its wall times (`seconds`, `inference_ms`): what
/// two runs of one configuration must agree on bit for bit.
pub fn numbers<R: serde::Serialize>(value: &R) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("seconds");
                m.remove("inference_ms");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(value).unwrap();
    strip(&mut v);
    v
}

/// Runs `sweep` as two shards into one folder, merges them, and checks the
/// merged report has every unit and `whole`'s numbers (an unsharded run's).
pub fn two_shards_merge_to<S>(sweep: &S, data: &Path, whole: &S::Report)
where
    S: conflicting_bundles::experiments::runner::Sweep,
    S::Report: serde::Serialize + serde::de::DeserializeOwned,
{
    use conflicting_bundles::experiments::runner::{self, RunOptions};
    use conflicting_bundles::experiments::shard::Shard;
    let dev = dfdx::tensor::Cpu::default();
    let sharded = tempfile::tempdir().unwrap();
    for index in 0..2 {
        let opts = RunOptions {
            out: Some(sharded.path()),
            shard: Some(Shard { index, count: 2 }),
            progress: conflicting_bundles::train::ProgressMode::Off,
            jobs: None,
        };
        runner::run(&dev, sweep, data, &opts).unwrap();
    }
    let merged =
        conflicting_bundles::experiments::merge::merge::<S::Report>(sharded.path()).unwrap();
    assert_eq!(merged.missing_line(), None);
    assert_eq!(numbers(&merged.report), numbers(whole));
}

/// `cb <sweep> --preset quick --set SET` for each `(SET, EXPECT)`: a
/// non-zero exit with one line on stderr that contains EXPECT, and no
/// output folder.
pub fn bad_sets_stop_in_one_line(sweep: &str, data: &Path, cases: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    for (set, expect) in cases {
        let out = dir.path().join("out");
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_cb"))
            .args([sweep, "--preset", "quick", "--set", set, "--out"])
            .arg(&out)
            .arg("--data-dir")
            .arg(data)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{set}");
        assert!(err.contains(expect), "{set}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{set}: {err}");
        assert!(!out.exists(), "{set}");
    }
}
