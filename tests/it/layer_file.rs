//! `LayerFile`: many layers in a .npz (stored and deflated, zip64 too), a
//! .safetensors file or a folder of .npy files, listed in the file's order
//! and read one at a time with exact values; every bad input class a
//! one-line error naming the file and the layer.
//!
//! The valid files are made independently of the reader: .npy by hand
//! (`common::npy_bytes`), archives by the `zip` crate's writer (and one
//! zip64 archive byte by byte), .safetensors by the `safetensors` crate or
//! by hand where the crate would not write what is tested.

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use crate::common::*;
use conflicting_bundles::layer_file::{LayerFile, LayerFileError, LayerInfo};
use half::{bf16, f16};
use safetensors::tensor::{Dtype, TensorView};
use zip::write::FileOptions;
use zip::CompressionMethod;

// ---------- writers ----------

/// A zip of `(entry name, bytes)` in the given order.
fn zip_bytes(entries: &[(&str, Vec<u8>)], method: CompressionMethod, zip64: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = FileOptions::default()
        .compression_method(method)
        .large_file(zip64);
    for (name, bytes) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A stored zip64 archive written byte by byte, the way numpy's zipfile
/// writes an entry over 4 GiB: local and central headers with sizes
/// 0xFFFFFFFF and the real ones in zip64 extra fields, then a zip64 end of
/// central directory record and locator before the classic end record.
fn zip64_by_hand(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = {
        let mut c = flate2::Crc::new();
        c.update(data);
        c.sum()
    };
    let size = data.len() as u64;
    let mut z = Vec::new();
    let u16le = |z: &mut Vec<u8>, v: u16| z.extend(v.to_le_bytes());
    let u32le = |z: &mut Vec<u8>, v: u32| z.extend(v.to_le_bytes());
    // Local header.
    u32le(&mut z, 0x04034b50);
    u16le(&mut z, 45); // version needed: zip64
    u16le(&mut z, 0); // flags
    u16le(&mut z, 0); // stored
    u16le(&mut z, 0); // time
    u16le(&mut z, 0x21); // date
    u32le(&mut z, crc);
    u32le(&mut z, u32::MAX);
    u32le(&mut z, u32::MAX);
    u16le(&mut z, name.len() as u16);
    u16le(&mut z, 20);
    z.extend(name.as_bytes());
    u16le(&mut z, 1);
    u16le(&mut z, 16);
    z.extend(size.to_le_bytes());
    z.extend(size.to_le_bytes());
    z.extend(data);
    // Central directory.
    let cd_start = z.len() as u64;
    u32le(&mut z, 0x02014b50);
    u16le(&mut z, 45);
    u16le(&mut z, 45);
    u16le(&mut z, 0);
    u16le(&mut z, 0);
    u16le(&mut z, 0);
    u16le(&mut z, 0x21);
    u32le(&mut z, crc);
    u32le(&mut z, u32::MAX);
    u32le(&mut z, u32::MAX);
    u16le(&mut z, name.len() as u16);
    u16le(&mut z, 28); // extra: sizes and offset
    u16le(&mut z, 0); // comment
    u16le(&mut z, 0); // disk
    u16le(&mut z, 0); // internal attributes
    u32le(&mut z, 0); // external attributes
    u32le(&mut z, u32::MAX); // offset, in the extra field
    z.extend(name.as_bytes());
    u16le(&mut z, 1);
    u16le(&mut z, 24);
    z.extend(size.to_le_bytes());
    z.extend(size.to_le_bytes());
    z.extend(0u64.to_le_bytes());
    let cd_size = z.len() as u64 - cd_start;
    // Zip64 end of central directory record and locator.
    let eocd64 = z.len() as u64;
    u32le(&mut z, 0x06064b50);
    z.extend(44u64.to_le_bytes());
    u16le(&mut z, 45);
    u16le(&mut z, 45);
    u32le(&mut z, 0);
    u32le(&mut z, 0);
    z.extend(1u64.to_le_bytes());
    z.extend(1u64.to_le_bytes());
    z.extend(cd_size.to_le_bytes());
    z.extend(cd_start.to_le_bytes());
    u32le(&mut z, 0x07064b50);
    u32le(&mut z, 0);
    z.extend(eocd64.to_le_bytes());
    u32le(&mut z, 1);
    // Classic end record, every field deferring to zip64.
    u32le(&mut z, 0x06054b50);
    u16le(&mut z, 0);
    u16le(&mut z, 0);
    u16le(&mut z, u16::MAX);
    u16le(&mut z, u16::MAX);
    u32le(&mut z, u32::MAX);
    u32le(&mut z, u32::MAX);
    u16le(&mut z, 0);
    z
}

fn safetensors_bytes(tensors: &[(&str, Dtype, &[usize], &[u8])]) -> Vec<u8> {
    let views = tensors
        .iter()
        .map(|&(name, dtype, shape, data)| {
            (name, TensorView::new(dtype, shape.to_vec(), data).unwrap())
        })
        .collect::<Vec<_>>();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::tensor::serialize(views, &Some(meta)).unwrap()
}

/// A .safetensors file with any header text.
fn safetensors_raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn info(name: &str, shape: &[u64], dtype: &str) -> LayerInfo {
    LayerInfo {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: dtype.into(),
    }
}

/// The message of an error, checked to be one line naming `path`.
fn message(e: LayerFileError, path: &Path) -> String {
    let m = e.to_string();
    assert!(!m.contains('\n'), "not one line: {m:?}");
    assert!(m.contains(&path.display().to_string()), "{m}");
    m
}

fn open_error(path: &Path) -> String {
    match LayerFile::open(path) {
        Ok(f) => panic!("{} opened: {:?}", path.display(), f.layers()),
        Err(e) => message(e, path),
    }
}

fn read_error(file: &mut LayerFile, i: usize) -> String {
    let path = file.path().to_path_buf();
    match file.read(i) {
        Ok(a) => panic!("layer {i} read: {:?}", a.shape),
        Err(e) => message(e, &path),
    }
}

// ---------- values that exercise each conversion ----------

/// f32 values including the edges: signed zeros, subnormals, infinities.
fn f32_values(n: usize) -> Vec<f32> {
    let edges = [0.0, -0.0, 1e-45, -3.4e38, f32::INFINITY, f32::MIN_POSITIVE];
    (0..n)
        .map(|i| edges.get(i).copied().unwrap_or(i as f32 * 0.37 - 1.5))
        .collect()
}

/// f64 values, some not representable in f32 (they round to nearest).
fn f64_values(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.1 * i as f64 - 1e-300 + 1e40 * (i == 3) as u8 as f64)
        .collect()
}

/// f16 bit patterns covering normals, subnormals, infinities and NaN.
fn f16_bits(n: usize) -> Vec<u16> {
    let edges = [
        0x0000, 0x8000, 0x0001, 0x03ff, 0x3c00, 0x7bff, 0xfc00, 0x7e00,
    ];
    (0..n)
        .map(|i| edges.get(i).copied().unwrap_or(0x3000 + 37 * i as u16))
        .collect()
}

fn u16_bytes(v: &[u16], big: bool) -> Vec<u8> {
    v.iter()
        .flat_map(|x| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        })
        .collect()
}

// ---------- .npz ----------

/// Four arrays of different dtypes, in a deliberately unsorted order.
fn npz_entries() -> Vec<(&'static str, Vec<u8>)> {
    let be: Vec<u8> = f32_values(8).iter().flat_map(|x| x.to_be_bytes()).collect();
    vec![
        (
            "z_first.npy",
            npy_bytes("<f4", &[3, 2], &f32_bytes(&f32_values(6))),
        ),
        (
            "a_second.npy",
            npy_bytes("<f8", &[2, 5], &f64_bytes(&f64_values(10))),
        ),
        (
            "m.npy",
            npy_bytes("<f2", &[4, 2], &u16_bytes(&f16_bits(8), false)),
        ),
        ("big.npy", npy_bytes(">f4", &[2, 2, 2], &be)),
        (
            "h_be.npy",
            npy_bytes(">f2", &[8], &u16_bytes(&f16_bits(8), true)),
        ),
    ]
}

fn check_npz_layers(file: &mut LayerFile) {
    assert_eq!(
        file.layers(),
        [
            info("z_first", &[3, 2], "<f4"),
            info("a_second", &[2, 5], "<f8"),
            info("m", &[4, 2], "<f2"),
            info("big", &[2, 2, 2], ">f4"),
            info("h_be", &[8], ">f2"),
        ]
    );
    // Out of order, and twice, to see each read seeks to its own entry.
    let f16_want: Vec<f32> = f16_bits(8)
        .iter()
        .map(|&b| f16::from_bits(b).to_f32())
        .collect();
    for i in [2, 0, 4, 1, 3, 2] {
        let a = file.read(i).unwrap();
        assert_eq!(a.shape, file.layers()[i].shape);
        let want: Vec<f32> = match i {
            0 => f32_values(6),
            1 => f64_values(10).iter().map(|&x| x as f32).collect(),
            2 | 4 => f16_want.clone(),
            _ => f32_values(8),
        };
        assert_eq!(bits(&a.data), bits(&want), "layer {i}");
    }
    // f16 converts exactly: every f16 is an f32.
    assert_eq!(f16_want[2], 2f32.powi(-24));
    assert!(f16_want[7].is_nan() && f16_want[6] == f32::NEG_INFINITY);
    assert_eq!(file.index_of("big"), Some(3));
}

#[test]
fn npz_stored_and_deflated_read_back_exactly_in_archive_order() {
    let dir = tempfile::tempdir().unwrap();
    for (method, zip64) in [
        (CompressionMethod::Stored, false),
        (CompressionMethod::Deflated, false),
        // numpy's savez writes every entry this way (force_zip64).
        (CompressionMethod::Stored, true),
        (CompressionMethod::Deflated, true),
    ] {
        let path = write(
            dir.path(),
            "acts.npz",
            &zip_bytes(&npz_entries(), method, zip64),
        );
        let mut file = LayerFile::open(&path).unwrap();
        assert_eq!(file.path(), path);
        check_npz_layers(&mut file);
    }
}

#[test]
fn npz_with_a_zip64_central_directory_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let values = f32_values(12);
    let npy = npy_bytes("<f4", &[4, 3], &f32_bytes(&values));
    let path = write(dir.path(), "z64.npz", &zip64_by_hand("layer.npy", &npy));
    let mut file = LayerFile::open(&path).unwrap();
    assert_eq!(file.layers(), [info("layer", &[4, 3], "<f4")]);
    assert_eq!(bits(&file.read(0).unwrap().data), bits(&values));
}

/// The offset of the `n`-th central directory header in a zip.
fn central_header(zip: &[u8], n: usize) -> usize {
    zip.windows(4)
        .enumerate()
        .filter(|(_, w)| *w == 0x02014b50u32.to_le_bytes())
        .nth(n)
        .unwrap()
        .0
}

#[test]
fn npz_bad_archives_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = zip_bytes(&npz_entries(), CompressionMethod::Stored, false);

    let e = open_error(&write(d, "empty.npz", b""));
    assert!(e.ends_with("empty file, not a zip archive"), "{e}");
    let e = open_error(&write(d, "text.npz", b"hello, not a zip"));
    assert!(e.contains("not a zip archive"), "{e}");
    let e = open_error(&write(d, "cut.npz", &good[..good.len() / 2]));
    assert!(e.contains("not a zip archive"), "{e}");
    let empty_zip = zip_bytes(&[], CompressionMethod::Stored, false);
    let e = open_error(&write(d, "none.npz", &empty_zip));
    assert!(e.ends_with("the archive holds no arrays"), "{e}");

    let mut entries = npz_entries();
    entries.insert(1, ("readme.txt", b"notes".to_vec()));
    let e = open_error(&write(
        d,
        "txt.npz",
        &zip_bytes(&entries, CompressionMethod::Stored, false),
    ));
    assert!(e.contains("entry readme.txt is not a .npy array"), "{e}");

    // The shape declares 100 values, the entry holds 4.
    let lying = [("x.npy", npy_bytes("<f4", &[100], &f32_bytes(&[1.0; 4])))];
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let e = open_error(&write(d, "lie.npz", &zip_bytes(&lying, method, false)));
        assert!(
            e.contains("layer x: shape (100) of '<f4' needs 400 bytes of data, the file holds 16"),
            "{e}"
        );
    }
    let e = open_error(&write(
        d,
        "junk.npz",
        &zip_bytes(
            &[("j.npy", b"junk".to_vec())],
            CompressionMethod::Stored,
            false,
        ),
    ));
    assert!(
        e.contains("layer j: not a .npy file (no \\x93NUMPY magic"),
        "{e}"
    );

    // Sizes in the central directory that the archive cannot back: patched
    // (compressed size at +20, uncompressed at +24 of a central header).
    let patch = |zip: &[u8], at: usize, value: u32| {
        let mut z = zip.to_vec();
        z[at..at + 4].copy_from_slice(&value.to_le_bytes());
        z
    };
    let c = central_header(&good, 1);
    let both = patch(&patch(&good, c + 20, 0x7fff_0000), c + 24, 0x7fff_0000);
    let e = open_error(&write(d, "past.npz", &both));
    assert!(
        e.contains("layer a_second: 2147418112 bytes of data at offset")
            && e.contains("run past the end of the archive"),
        "{e}"
    );
    let e = open_error(&write(d, "size.npz", &patch(&good, c + 24, 0x7fff_0000)));
    assert!(
        e.contains("layer a_second: stored entry declares 2147418112 bytes but holds"),
        "{e}"
    );
    let deflated = zip_bytes(&npz_entries(), CompressionMethod::Deflated, false);
    let c = central_header(&deflated, 0);
    let e = open_error(&write(
        d,
        "bomb.npz",
        &patch(&deflated, c + 24, 0x7fff_0000),
    ));
    assert!(
        e.contains("layer z_first: entry declares 2147418112 bytes uncompressed from")
            && e.contains("more than deflate can expand to"),
        "{e}"
    );
}

#[test]
fn npz_corrupt_data_is_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let values = f32_values(6);
    let npy = npy_bytes("<f4", &[3, 2], &f32_bytes(&values));
    let mut zip = zip_bytes(&[("w.npy", npy)], CompressionMethod::Stored, false);
    // Change one value in place: same sizes, wrong CRC.
    let at = zip
        .windows(4)
        .position(|w| w == values[4].to_le_bytes())
        .unwrap();
    zip[at] ^= 1;
    let path = write(dir.path(), "crc.npz", &zip);
    let mut file = LayerFile::open(&path).unwrap();
    let e = read_error(&mut file, 0);
    assert!(
        e.contains("layer w: not a .npy file (data unreadable: CRC-32") && e.contains("is not the"),
        "{e}"
    );
}

#[test]
fn unreadable_layers_are_listed_and_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let fortran = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n";
    let structured = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n";
    let entries = vec![
        ("ints.npy", npy_bytes("<i4", &[2, 2], &[0; 16])),
        ("flags.npy", npy_bytes("|b1", &[3], &[0, 1, 0])),
        ("text.npy", npy_bytes("<U2", &[1], &[0; 8])),
        ("objects.npy", npy_bytes("|O", &[1], &[0; 8])),
        ("rec.npy", npy_raw(structured.as_bytes(), &[0; 8])),
        (
            "fortran.npy",
            npy_raw(fortran.as_bytes(), &f32_bytes(&[1., 2., 3., 4.])),
        ),
        ("scalar.npy", npy_bytes("<f8", &[], &f64_bytes(&[2.5]))),
        (
            "weights.npy",
            npy_bytes("<f4", &[3], &f32_bytes(&[1., -7., 2.])),
        ),
        ("empty.npy", npy_bytes("<f4", &[0, 5], &[])),
    ];
    let path = write(
        dir.path(),
        "mixed.npz",
        &zip_bytes(&entries, CompressionMethod::Deflated, false),
    );
    let mut file = LayerFile::open(&path).unwrap();
    let names: Vec<String> = file.layers().iter().map(|l| l.name.clone()).collect();
    assert_eq!(
        names,
        ["ints", "flags", "text", "objects", "rec", "fortran", "scalar", "weights", "empty"]
    );
    assert_eq!(file.layers()[4].dtype, "[('a', '<f4')]");
    let unsupported = "(expected float16, float32 or float64)";
    for (i, dtype) in [
        (0, "'<i4'"),
        (1, "'|b1'"),
        (2, "'<U2'"),
        (3, "'|O'"),
        (4, "[('a'"),
    ] {
        let e = read_error(&mut file, i);
        let want = format!("layer {}: unsupported dtype {dtype}", names[i]);
        assert!(e.contains(&want) && e.contains(unsupported), "{e}");
    }
    let e = read_error(&mut file, 5);
    assert!(
        e.contains("layer fortran: Fortran-ordered arrays are not supported"),
        "{e}"
    );
    let e = read_error(&mut file, 6);
    assert!(
        e.contains("layer scalar: a 0-d array has no sample axis"),
        "{e}"
    );
    // Weights: any rank from 1 up by `read`, a 0-d one by `read_values`.
    assert_eq!(file.read_values(6).unwrap(), [2.5]);
    let w = file.read(7).unwrap();
    assert_eq!((w.data, w.shape), (vec![1., -7., 2.], vec![3]));
    let empty = file.read(8).unwrap();
    assert_eq!((empty.data.len(), empty.num_samples()), (0, 0));
    let e = file.read(9).unwrap_err().to_string();
    assert!(e.ends_with("mixed.npz: no layer 9: the file has 9"), "{e}");
}

// ---------- .safetensors ----------

#[test]
fn safetensors_read_back_exactly_in_natural_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let f32s = f32_values(6);
    let f64s = f64_values(4);
    let halfs = f16_bits(6);
    let bf16s: Vec<u16> = halfs.iter().map(|b| b.rotate_left(3)).collect();
    let (a, b, c, d) = (
        f32_bytes(&f32s),
        f64_bytes(&f64s),
        u16_bytes(&halfs, false),
        u16_bytes(&bf16s, false),
    );
    let bytes = safetensors_bytes(&[
        ("fc.weight", Dtype::F32, &[2, 3], &a),
        ("fc.bias", Dtype::F64, &[4], &b),
        ("conv.h", Dtype::F16, &[3, 1, 2], &c),
        ("conv.b", Dtype::BF16, &[6], &d),
        ("steps", Dtype::I64, &[], &[7, 0, 0, 0, 0, 0, 0, 0]),
    ]);
    let path = write(dir.path(), "model.safetensors", &bytes);
    let mut file = LayerFile::open(&path).unwrap();

    // The listing is in natural order of the names (writers sort by dtype
    // and name, so the data's order says nothing of the model's).
    let names: Vec<&str> = file.layers().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["conv.b", "conv.h", "fc.bias", "fc.weight", "steps"]);

    let i = |name| file.index_of(name).unwrap();
    let (w, bias, h, bf, steps) = (
        i("fc.weight"),
        i("fc.bias"),
        i("conv.h"),
        i("conv.b"),
        i("steps"),
    );
    assert_eq!(file.layers()[h], info("conv.h", &[3, 1, 2], "F16"));
    assert_eq!(file.layers()[steps], info("steps", &[], "I64"));
    assert!(file.layers()[h].is_float() && file.layers()[bf].is_float());
    assert!(
        !file.layers()[steps].is_float(),
        "an integer tensor is not float"
    );
    let got = file.read(w).unwrap();
    assert_eq!((bits(&got.data), got.shape), (bits(&f32s), vec![2, 3]));
    let want: Vec<f32> = f64s.iter().map(|&x| x as f32).collect();
    assert_eq!(bits(&file.read(bias).unwrap().data), bits(&want));
    let want: Vec<f32> = halfs.iter().map(|&x| f16::from_bits(x).to_f32()).collect();
    assert_eq!(bits(&file.read(h).unwrap().data), bits(&want));
    let want: Vec<f32> = bf16s.iter().map(|&x| bf16::from_bits(x).to_f32()).collect();
    assert_eq!(bits(&file.read_values(bf).unwrap()), bits(&want));
    // bf16 is the top half of an f32: exact.
    assert_eq!(want[4].to_bits(), u32::from(bf16s[4]) << 16);
    let e = read_error(&mut file, steps);
    assert!(
        e.contains("layer steps: a 0-d array has no sample axis"),
        "{e}"
    );
    let e = file.read_values(steps).unwrap_err();
    let e = message(e, &path);
    assert!(
        e.contains("layer steps: unsupported dtype I64 (expected F16, BF16, F32 or F64)"),
        "{e}"
    );
}

#[test]
fn safetensors_order_is_the_names_natural_order_not_the_data_order() {
    let dir = tempfile::tempdir().unwrap();
    let header = r#"{"l10": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "l2": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        "__metadata__": {"k": "v"}}"#;
    let path = write(
        dir.path(),
        "o.safetensors",
        &safetensors_raw(header, &f32_bytes(&[1., 2., 3.])),
    );
    let mut file = LayerFile::open(&path).unwrap();
    assert_eq!(
        file.layers(),
        [info("l2", &[2], "F32"), info("l10", &[1], "F32")]
    );
    assert_eq!(file.read(0).unwrap().data, [2., 3.]);
    assert_eq!(file.read(1).unwrap().data, [1.]);
}

#[test]
fn safetensors_bad_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let one = |shape: &str, offsets: &str| {
        format!(r#"{{"t": {{"dtype": "F32", "shape": {shape}, "data_offsets": {offsets}}}}}"#)
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "empty",
            vec![],
            "0 bytes, fewer than the 8-byte header length",
        ),
        (
            "short",
            vec![1, 0, 0],
            "3 bytes, fewer than the 8-byte header length",
        ),
        (
            "huge",
            u64::MAX.to_le_bytes().to_vec(),
            "header of 18446744073709551615 bytes is over the 100000000-byte limit",
        ),
        (
            "over",
            {
                let mut b = 200u64.to_le_bytes().to_vec();
                b.extend(b"{}");
                b
            },
            "header of 200 bytes runs past the end of the file (10 bytes)",
        ),
        (
            "json",
            safetensors_raw("{not json", &[]),
            "header is not a JSON object",
        ),
        (
            "list",
            safetensors_raw("[1, 2]", &[]),
            "header is not a JSON object",
        ),
        (
            "entry",
            safetensors_raw(r#"{"t": {"dtype": "F32", "shape": "x"}}"#, &[]),
            "layer t: malformed header entry",
        ),
        (
            "offsets",
            safetensors_raw(&one("[2]", "[0, 8]"), &[0; 4]),
            "layer t: data_offsets [0, 8] are not within the 4 bytes of data",
        ),
        (
            "backwards",
            safetensors_raw(&one("[0]", "[4, 0]"), &[0; 4]),
            "layer t: data_offsets [4, 0] are not within",
        ),
        (
            "shape",
            safetensors_raw(&one("[3]", "[0, 8]"), &[0; 8]),
            "layer t: shape [3] of F32 needs 12 bytes, data_offsets [0, 8] hold 8",
        ),
        (
            "overflow",
            safetensors_raw(&one("[4294967296, 4294967296]", "[0, 8]"), &[0; 8]),
            "layer t: shape [4294967296, 4294967296] of F32 needs 2^64 bytes or more",
        ),
        (
            "gap",
            safetensors_raw(&one("[1]", "[4, 8]"), &[0; 8]),
            "layer t: data_offsets [4, 8] do not start where the previous tensor ends (0)",
        ),
        (
            "trailing",
            safetensors_raw(&one("[1]", "[0, 4]"), &[0; 12]),
            "8 bytes of data after the last tensor's end (4)",
        ),
        (
            "name",
            safetensors_raw(
                r#"{"a\nb": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}}"#,
                &[0; 8],
            ),
            "layer a\\nb: shape [1] of F32 needs 4 bytes",
        ),
    ];
    for (name, bytes, want) in cases {
        let e = open_error(&write(d, &format!("{name}.safetensors"), &bytes));
        assert!(e.contains(want), "{name}: {e}");
    }

    // Listed, refused when read: a dtype this reader does not know.
    let header = r#"{"q": {"dtype": "F99", "shape": [2], "data_offsets": [0, 3]}}"#;
    let path = write(d, "odd.safetensors", &safetensors_raw(header, &[0; 3]));
    let mut file = LayerFile::open(&path).unwrap();
    assert_eq!(file.layers(), [info("q", &[2], "F99")]);
    let e = read_error(&mut file, 0);
    assert!(e.contains("layer q: unsupported dtype F99"), "{e}");
}

// ---------- folder of .npy ----------

#[test]
fn npy_folder_is_read_in_natural_order_of_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (i, name) in ["layer10", "layer2", "layer1", "layer02b"]
        .iter()
        .enumerate()
    {
        let values = [i as f32, -(i as f32)];
        write_npy(
            &d.join(format!("{name}.npy")),
            "<f4",
            &[1, 2],
            &f32_bytes(&values),
        );
    }
    std::fs::write(d.join("notes.txt"), "ignored").unwrap();
    std::fs::create_dir(d.join("sub.npy")).unwrap();
    let mut file = LayerFile::open(d).unwrap();
    let names: Vec<&str> = file.layers().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["layer1", "layer2", "layer02b", "layer10"]);
    assert_eq!(file.layers()[0], info("layer1", &[1, 2], "<f4"));
    assert_eq!(file.read(3).unwrap().data, [0., -0.]);
    assert_eq!(file.read(1).unwrap().data, [1., -1.]);

    // A file that changed since the folder was opened.
    write_npy(&d.join("layer2.npy"), "<f4", &[2, 1], &f32_bytes(&[5., 6.]));
    let e = read_error(&mut file, 1);
    assert!(
        e.contains("layer2.npy: header changed since the folder was opened"),
        "{e}"
    );
    // A file cut short: refused at open, naming the file.
    let path = d.join("layer2.npy");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let e = open_error(&path);
    assert!(
        e.contains("not a .npz, a .safetensors file or a folder"),
        "{e}"
    );
    let e = open_error(d);
    assert!(
        e.contains("layer2.npy: shape (2, 1) of '<f4' needs 8 bytes of data, the file holds 7"),
        "{e}"
    );
}

#[test]
fn folders_without_npy_files_and_other_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let e = open_error(d);
    assert!(e.ends_with("the folder holds no .npy files"), "{e}");
    std::fs::write(d.join("a.txt"), "x").unwrap();
    let e = open_error(d);
    assert!(e.ends_with("the folder holds no .npy files"), "{e}");
    let e = open_error(&d.join("a.txt"));
    assert!(
        e.ends_with("not a .npz, a .safetensors file or a folder of .npy files"),
        "{e}"
    );
    let e = open_error(&d.join("nope.npz"));
    assert!(e.ends_with("nope.npz: file not found"), "{e}");
    write_npy(&d.join("i.npy"), "<i8", &[2], &[0; 16]);
    let mut file = LayerFile::open(d).unwrap();
    let e = read_error(&mut file, 0);
    assert!(e.contains("i.npy: unsupported dtype '<i8'"), "{e}");
}
