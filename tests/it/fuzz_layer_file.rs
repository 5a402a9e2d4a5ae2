//! `LayerFile` on hostile input: valid .npz (stored, deflated, zip64
//! local headers) and .safetensors files read back exactly, and any byte
//! mutation or truncation of them gives values that fill the listed shapes
//! or a one-line error of bounded length, quickly, never a panic.

use crate::support::mutation;

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::*;
use conflicting_bundles::layer_file::LayerFile;
use mutation::Mutation;
use proptest::prelude::*;
use safetensors::tensor::{Dtype, TensorView};
use zip::write::FileOptions;
use zip::CompressionMethod;

/// Generous robustness bounds, not performance targets.
const MAX_TIME: Duration = Duration::from_secs(2);
const MAX_MESSAGE: usize = 2048;

/// One array: a dtype (numpy descr, or safetensors name), shape and bytes.
#[derive(Debug, Clone)]
struct Array {
    dtype: usize,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// Dtypes of each format, with their widths; the last of each cannot be
/// read as floats. An array's data is sized for the .npy dtype and cut to
/// the safetensors one (`>f4` and BF16 differ).
const NPY: &[&str] = &["<f4", "<f8", "<f2", ">f4", "<i4"];
const WIDTH: &[usize] = &[4, 8, 2, 4, 4];
const ST: &[Dtype] = &[Dtype::F32, Dtype::F64, Dtype::F16, Dtype::BF16, Dtype::I32];
const ST_WIDTH: &[usize] = &[4, 8, 2, 2, 4];

impl Array {
    /// The bytes of the safetensors tensor of the same shape.
    fn st_data(&self) -> &[u8] {
        &self.data[..self.shape.iter().product::<usize>() * ST_WIDTH[self.dtype]]
    }
}

fn array() -> impl Strategy<Value = Array> {
    (0..NPY.len(), prop::collection::vec(0usize..4, 0..3)).prop_flat_map(|(dtype, shape)| {
        let len = shape.iter().product::<usize>() * WIDTH[dtype];
        prop::collection::vec(any::<u8>(), len).prop_map(move |data| Array {
            dtype,
            shape: shape.clone(),
            data,
        })
    })
}

const NAMES: &[&str] = &["conv1", "layer.2", "b", "fc_out"];

fn npz(arrays: &[Array], method: CompressionMethod, zip64: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = FileOptions::default()
        .compression_method(method)
        .large_file(zip64);
    for (a, name) in arrays.iter().zip(NAMES) {
        w.start_file(format!("{name}.npy"), options).unwrap();
        w.write_all(&npy_bytes(NPY[a.dtype], &a.shape, &a.data))
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn safetensors_file(arrays: &[Array]) -> Vec<u8> {
    let views = arrays.iter().zip(NAMES).map(|(a, name)| {
        let view = TensorView::new(ST[a.dtype], a.shape.clone(), a.st_data()).unwrap();
        (*name, view)
    });
    safetensors::tensor::serialize(views, &None).unwrap()
}

/// The values `a` holds, decoded from its bytes by the dtype rules (not by
/// the reader), or None for a dtype read refuses.
fn values(a: &Array, safetensors: bool) -> Option<Vec<u32>> {
    let (w, data) = if safetensors {
        (ST_WIDTH[a.dtype], a.st_data())
    } else {
        (WIDTH[a.dtype], &a.data[..])
    };
    let big = !safetensors && NPY[a.dtype].starts_with('>');
    let f = data.chunks_exact(w).map(|b| {
        let mut x = [0u8; 8];
        x[..w].copy_from_slice(b);
        if big {
            x[..w].reverse();
        }
        let u = u64::from_le_bytes(x);
        match (a.dtype, safetensors) {
            (0, _) | (3, false) => f32::from_bits(u as u32),
            (1, _) => f64::from_bits(u) as f32,
            (2, _) => half::f16::from_bits(u as u16).to_f32(),
            (3, true) => half::bf16::from_bits(u as u16).to_f32(),
            _ => 0.0, // an integer dtype: not read
        }
    });
    let readable = if safetensors {
        a.dtype != 4
    } else {
        a.dtype < 4
    };
    readable.then(|| f.map(f32::to_bits).collect())
}

/// Opens `bytes` as a file named `name` and reads every layer, checking what
/// must hold for any input; each layer's name and values as bits (None where
/// its read failed), or None where the open failed.
fn read_all(bytes: &[u8], name: &str) -> Option<Vec<(String, Option<Vec<u32>>)>> {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().unwrap();
    }
    let path: PathBuf = DIR.with(|d| d.path().join(name));
    std::fs::write(&path, bytes).unwrap();
    let start = Instant::now();
    let check = |e: &dyn std::fmt::Display| {
        let m = e.to_string();
        assert!(!m.contains('\n'), "not one line: {m:?}");
        assert!(m.len() <= MAX_MESSAGE, "{} bytes: {m:.200}", m.len());
        assert!(m.contains(&path.display().to_string()), "{m}");
    };
    let mut file = match LayerFile::open(&path) {
        Ok(f) => f,
        Err(e) => {
            check(&e);
            return None;
        }
    };
    let mut out = Vec::new();
    for i in 0..file.layers().len() {
        let shape = file.layers()[i].shape.clone();
        let count: u128 = shape.iter().map(|&d| u128::from(d)).product();
        match file.read_values(i) {
            Ok(v) => {
                assert_eq!(v.len() as u128, count, "{shape:?}");
                out.push((
                    name_of(&file, i),
                    Some(v.iter().map(|x| x.to_bits()).collect()),
                ));
            }
            Err(e) => {
                check(&e);
                out.push((name_of(&file, i), None));
            }
        }
        match file.read(i) {
            Ok(a) => assert_eq!((a.data.len() as u128, &a.shape), (count, &shape)),
            Err(e) => check(&e),
        }
    }
    assert!(start.elapsed() < MAX_TIME, "took {:?}", start.elapsed());
    Some(out)
}

fn name_of(file: &LayerFile, i: usize) -> String {
    file.layers()[i].name.clone()
}

/// A size-like value written over 4 bytes (zip sizes and offsets,
/// safetensors' header length).
fn word(bytes: &mut [u8], &(i, w): &(prop::sample::Index, u32)) {
    let i = i.index(bytes.len());
    let end = (i + 4).min(bytes.len());
    bytes[i..end].copy_from_slice(&w.to_le_bytes()[..end - i]);
}

fn mutation() -> impl Strategy<Value = Mutation<(prop::sample::Index, u32)>> {
    let word = prop_oneof![
        Just(0u32),
        Just(u32::MAX),
        Just(0x7fff_ffff),
        0u32..300,
        any::<u32>()
    ];
    mutation::mutation((any::<prop::sample::Index>(), word))
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation<(prop::sample::Index, u32)>) {
    mutation::apply(bytes, m, |b, x| word(b, x))
}

fn method(deflate: bool) -> CompressionMethod {
    if deflate {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn valid_files_read_back_exactly(
        arrays in prop::collection::vec(array(), 1..4),
        deflate in any::<bool>(),
        zip64 in any::<bool>(),
    ) {
        let got = read_all(&npz(&arrays, method(deflate), zip64), "v.npz").unwrap();
        let want: Vec<_> = arrays
            .iter()
            .zip(NAMES)
            .map(|(a, name)| (name.to_string(), values(a, false)))
            .collect();
        prop_assert_eq!(got, want);

        // The listing is in natural order of the names, not the order the
        // arrays were given in: compare by name.
        let got = read_all(&safetensors_file(&arrays), "v.safetensors").unwrap();
        prop_assert_eq!(got.len(), arrays.len());
        for (name, values) in got {
            let k = NAMES.iter().position(|n| *n == name).unwrap();
            prop_assert_eq!(values, self::values(&arrays[k], true), "{}", name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_npz_never_panics(
        arrays in prop::collection::vec(array(), 1..4),
        deflate in any::<bool>(),
        zip64 in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = npz(&arrays, method(deflate), zip64);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        read_all(&bytes, "m.npz");
    }

    #[test]
    fn mutated_safetensors_never_panic(
        arrays in prop::collection::vec(array(), 1..4),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = safetensors_file(&arrays);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        read_all(&bytes, "m.safetensors");
    }
}
