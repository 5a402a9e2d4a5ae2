//! CIFAR-10 (binary), SVHN (MATLAB v5) and Imagenette (JPEG folders): small
//! files written in the real formats by tests/it/support/formats.rs, loaded
//! through `load`, and every way they can be missing or damaged.

use std::path::Path;

use crate::support::formats::*;
use conflicting_bundles::data::mat::{read_mat, MatClass, MatData};
use conflicting_bundles::data::{
    load, load_mnist, load_with, DataError, Dataset, DatasetKind, LoadOptions, Split,
    IMAGENETTE_CLASSES,
};
use proptest::prelude::*;

/// The error of loading `split` of `kind` from `dir`, checked to be one line
/// naming `file` and the fetch command.
fn load_err(dir: &Path, kind: DatasetKind, split: Split, file: &str) -> (DataError, String) {
    let err = load(dir, kind, split).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert!(msg.contains(file), "does not name {file}: {msg}");
    let cmd = format!("cb data fetch {} --data-dir {}", kind.name(), dir.display());
    assert!(msg.contains(&cmd), "does not name `{cmd}`: {msg}");
    (err, msg)
}

// ================================================================== CIFAR-10

#[test]
fn cifar10_train_and_test() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path(), 3);
    let train = load(dir.path(), DatasetKind::Cifar10, Split::Train).unwrap();
    assert_eq!(train.len(), 15);
    assert_eq!(
        (train.channels, train.rows, train.cols, train.num_classes),
        (3, 32, 32, 10)
    );
    // Files in order data_batch_1..5, records in order.
    for i in 0..5 {
        for j in 0..3 {
            let s = i * 3 + j;
            assert_eq!(train.labels[s] as usize, (i + j) % 10);
            let img = train.image(s);
            // Channels first as stored: k = ch * 1024 + row * 32 + col.
            for k in [0, 1, 31, 32, 1023, 1024, 2048, 3071] {
                assert_eq!(img[k], f32::from(cifar_pixel(i * 100 + j, k)) / 255.0);
            }
        }
    }
    let test = load(dir.path(), DatasetKind::Cifar10, Split::Test).unwrap();
    assert_eq!(test.len(), 3);
    assert_eq!(test.labels, vec![5, 6, 7]);
    assert_eq!(
        test.image(2)[1500],
        f32::from(cifar_pixel(502, 1500)) / 255.0
    );
    // load_mnist dispatches too.
    assert_eq!(
        load_mnist(dir.path(), DatasetKind::Cifar10, Split::Test).unwrap(),
        test
    );
}

#[test]
fn cifar10_bad_record_length() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path(), 2);
    let f = dir.path().join("cifar-10-batches-bin/data_batch_3.bin");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.pop();
    std::fs::write(&f, &bytes).unwrap();
    let (err, msg) = load_err(
        dir.path(),
        DatasetKind::Cifar10,
        Split::Train,
        "data_batch_3.bin",
    );
    assert!(matches!(err, DataError::Invalid { .. }), "{err:?}");
    assert!(
        msg.contains("6145 bytes") && msg.contains("3073-byte records"),
        "{msg}"
    );
    // Empty is an error too; the test split is unaffected.
    std::fs::write(&f, b"").unwrap();
    let (_, msg) = load_err(
        dir.path(),
        DatasetKind::Cifar10,
        Split::Train,
        "data_batch_3.bin",
    );
    assert!(msg.contains("empty"), "{msg}");
    assert!(load(dir.path(), DatasetKind::Cifar10, Split::Test).is_ok());
}

#[test]
fn cifar10_bad_label_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_dir(dir.path(), 2);
    let f = dir.path().join("cifar-10-batches-bin/test_batch.bin");
    let mut bytes = cifar_file(5, 2);
    bytes[3073] = 10;
    std::fs::write(&f, &bytes).unwrap();
    let (_, msg) = load_err(
        dir.path(),
        DatasetKind::Cifar10,
        Split::Test,
        "test_batch.bin",
    );
    assert!(msg.contains("record 1 has label 10"), "{msg}");
    std::fs::remove_file(&f).unwrap();
    let (err, msg) = load_err(
        dir.path(),
        DatasetKind::Cifar10,
        Split::Test,
        "test_batch.bin",
    );
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    assert!(msg.contains("not found"), "{msg}");
    // No folder at all.
    let empty = tempfile::tempdir().unwrap();
    load_err(
        empty.path(),
        DatasetKind::Cifar10,
        Split::Train,
        "cifar-10-batches-bin/data_batch_1.bin",
    );
}

// ================================================================== SVHN

fn write_svhn(dir: &Path, split: Split, bytes: &[u8]) {
    let name = match split {
        Split::Train => "train_32x32.mat",
        Split::Test => "test_32x32.mat",
    };
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn check_svhn(ds: &Dataset, n: usize, labels: &[u8]) {
    assert_eq!(ds.len(), n);
    assert_eq!(
        (ds.channels, ds.rows, ds.cols, ds.num_classes),
        (3, 32, 32, 10)
    );
    assert_eq!(ds.labels, labels);
    for i in 0..n {
        let img = ds.image(i);
        for (ch, r, c) in [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 5, 9), (2, 31, 30)] {
            assert_eq!(
                img[(ch * 32 + r) * 32 + c],
                f32::from(svhn_pixel(r, c, ch, i)) / 255.0,
                "image {i} ch {ch} row {r} col {c}"
            );
        }
    }
}

/// A variable that is not asked for, to be skipped.
fn other_var(mat: &Mat) -> Var {
    Var {
        name: "extra".into(),
        class: MX_DOUBLE,
        dims: vec![1, 3],
        data_type: MI_DOUBLE,
        data: mat.f64s(&[1.5, 2.5, 3.5]),
    }
}

#[test]
fn svhn_uncompressed_with_double_labels() {
    let mat = Mat { big_endian: false };
    let bytes = mat.file(
        &[
            other_var(&mat),
            svhn_x(3),
            svhn_y_f64(&mat, &[10.0, 1.0, 5.0]),
        ],
        false,
    );
    let dir = tempfile::tempdir().unwrap();
    write_svhn(dir.path(), Split::Train, &bytes);
    let ds = load(dir.path(), DatasetKind::Svhn, Split::Train).unwrap();
    check_svhn(&ds, 3, &[0, 1, 5]);
}

#[test]
fn svhn_compressed_with_uint8_labels() {
    let mat = Mat { big_endian: false };
    let labels = [3u8, 10, 10, 9];
    let bytes = mat.file(&[svhn_x(4), svhn_y_u8(&labels), other_var(&mat)], true);
    let dir = tempfile::tempdir().unwrap();
    write_svhn(dir.path(), Split::Test, &bytes);
    let ds = load(dir.path(), DatasetKind::Svhn, Split::Test).unwrap();
    check_svhn(&ds, 4, &[3, 0, 0, 9]);
    // The same content uncompressed and big-endian gives the same dataset.
    let be = Mat { big_endian: true };
    let plain = be.file(&[svhn_x(4), svhn_y_u8(&labels)], false);
    write_svhn(dir.path(), Split::Test, &plain);
    assert_eq!(
        load(dir.path(), DatasetKind::Svhn, Split::Test).unwrap(),
        ds
    );
}

#[test]
fn mat_reader_returns_asked_variables() {
    let mat = Mat { big_endian: true };
    let bytes = mat.file(&[other_var(&mat), svhn_y_f64(&mat, &[1.0, 2.0])], true);
    let mut f = read_mat(Path::new("m.mat"), bytes, &["extra"]).unwrap();
    assert_eq!(f.names, vec!["extra", "y"]);
    let a = f.take("extra").unwrap();
    assert_eq!((a.class, a.dims.clone()), (MatClass::Double, vec![1, 3]));
    assert_eq!(a.data, MatData::F64(vec![1.5, 2.5, 3.5]));
    let msg = f.take("y").unwrap_err().to_string();
    assert!(
        msg.contains("m.mat") && msg.contains("no variable `y`"),
        "{msg}"
    );
}

#[test]
fn svhn_bad_header() {
    let mat = Mat { big_endian: false };
    let dir = tempfile::tempdir().unwrap();
    let good = mat.file(&[svhn_x(1), svhn_y_u8(&[1])], false);
    // Wrong endian indicator.
    let mut bad = good.clone();
    bad[126..128].copy_from_slice(b"XX");
    write_svhn(dir.path(), Split::Train, &bad);
    let (err, msg) = load_err(
        dir.path(),
        DatasetKind::Svhn,
        Split::Train,
        "train_32x32.mat",
    );
    assert!(matches!(err, DataError::Invalid { .. }), "{err:?}");
    assert!(
        msg.contains("MATLAB v5 file") && msg.contains("endian"),
        "{msg}"
    );
    // Shorter than the header; not a MAT-file at all; wrong version.
    for (bytes, says) in [
        (good[..100].to_vec(), "too short"),
        (
            [b"PK\x03\x04".as_slice(), &good[4..]].concat(),
            "does not start with",
        ),
        (
            [&good[..124], [0x00u8, 0x02].as_slice(), &good[126..]].concat(),
            "version",
        ),
    ] {
        write_svhn(dir.path(), Split::Train, &bytes);
        let (_, msg) = load_err(
            dir.path(),
            DatasetKind::Svhn,
            Split::Train,
            "train_32x32.mat",
        );
        assert!(msg.contains(says), "{says}: {msg}");
    }
}

#[test]
fn svhn_wrong_variable() {
    let mat = Mat { big_endian: false };
    let mut x = svhn_x(2);
    x.name = "Z".into();
    let dir = tempfile::tempdir().unwrap();
    write_svhn(
        dir.path(),
        Split::Train,
        &mat.file(&[x, svhn_y_u8(&[1, 2])], true),
    );
    let (_, msg) = load_err(
        dir.path(),
        DatasetKind::Svhn,
        Split::Train,
        "train_32x32.mat",
    );
    assert!(msg.contains("no variable `X` (it has: Z, y)"), "{msg}");
    // X of a non-numeric class.
    let mut x = svhn_x(1);
    x.class = MX_CHAR;
    write_svhn(
        dir.path(),
        Split::Train,
        &mat.file(&[x, svhn_y_u8(&[1])], false),
    );
    let (_, msg) = load_err(
        dir.path(),
        DatasetKind::Svhn,
        Split::Train,
        "train_32x32.mat",
    );
    assert!(msg.contains("`X` is a Char array"), "{msg}");
    // Counts that disagree: 2 images, 3 labels; data shorter than the dimensions.
    write_svhn(
        dir.path(),
        Split::Train,
        &mat.file(&[svhn_x(2), svhn_y_u8(&[1, 2, 3])], false),
    );
    let (_, msg) = load_err(
        dir.path(),
        DatasetKind::Svhn,
        Split::Train,
        "train_32x32.mat",
    );
    assert!(msg.contains("`X` holds 2 images"), "{msg}");
    let mut x = svhn_x(2);
    x.dims[3] = 3;
    write_svhn(
        dir.path(),
        Split::Train,
        &mat.file(&[x, svhn_y_u8(&[1, 2, 3])], false),
    );
    let (_, msg) = load_err(
        dir.path(),
        DatasetKind::Svhn,
        Split::Train,
        "train_32x32.mat",
    );
    assert!(
        msg.contains("6144 values") && msg.contains("imply 9216"),
        "{msg}"
    );
    // A label outside 1..=10.
    write_svhn(
        dir.path(),
        Split::Train,
        &mat.file(&[svhn_x(2), svhn_y_u8(&[1, 11])], false),
    );
    let (_, msg) = load_err(
        dir.path(),
        DatasetKind::Svhn,
        Split::Train,
        "train_32x32.mat",
    );
    assert!(msg.contains("label 11 at index 1"), "{msg}");
}

#[test]
fn svhn_truncated_and_corrupt_zlib() {
    let mat = Mat { big_endian: false };
    let dir = tempfile::tempdir().unwrap();
    // A compressed element whose zlib stream ends early (its tag agrees).
    let mut bytes = mat.header();
    bytes.extend(mat.compressed(&svhn_x(2), 40));
    bytes.extend(mat.compressed(&svhn_y_u8(&[1, 2]), 0));
    write_svhn(dir.path(), Split::Test, &bytes);
    let (_, msg) = load_err(dir.path(), DatasetKind::Svhn, Split::Test, "test_32x32.mat");
    assert!(msg.contains("truncated zlib stream"), "{msg}");
    // Flipped bytes inside the stream.
    let mut bytes = mat.header();
    let mut x = mat.compressed(&svhn_x(2), 0);
    let mid = x.len() / 2;
    x[mid..mid + 8].iter_mut().for_each(|b| *b ^= 0x5a);
    bytes.extend(x);
    write_svhn(dir.path(), Split::Test, &bytes);
    let (_, msg) = load_err(dir.path(), DatasetKind::Svhn, Split::Test, "test_32x32.mat");
    assert!(msg.contains("zlib") || msg.contains("compressed"), "{msg}");
    // The file cut in the middle of an element.
    let whole = mat.file(&[svhn_x(2), svhn_y_u8(&[1, 2])], true);
    write_svhn(dir.path(), Split::Test, &whole[..whole.len() - 10]);
    let (_, msg) = load_err(dir.path(), DatasetKind::Svhn, Split::Test, "test_32x32.mat");
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn svhn_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let (err, _) = load_err(
        dir.path(),
        DatasetKind::Svhn,
        Split::Train,
        "train_32x32.mat",
    );
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mat_reader_never_panics(
        compress: bool, big: bool, cut in 0usize..700, flips in proptest::collection::vec((0usize..700, any::<u8>()), 0..4),
    ) {
        let mat = Mat { big_endian: big };
        let mut x = svhn_x(1);
        x.dims = vec![4, 4, 3, 1];
        x.data.truncate(48);
        let mut bytes = mat.file(&[x, svhn_y_u8(&[1])], compress);
        for (at, v) in flips {
            if at < bytes.len() { bytes[at] ^= v; }
        }
        bytes.truncate(cut.max(1).min(bytes.len()));
        let _ = read_mat(Path::new("x"), bytes, &["X", "y"]);
    }
}

// ================================================================== Imagenette

/// A distinct colour per class.
fn colour(label: usize) -> [u8; 3] {
    [
        (label * 25) as u8,
        (250 - label * 20) as u8,
        ((label * 70) % 256) as u8,
    ]
}

/// `imagenette2-160/{train,val}/<wnid>/`: two images per class in train (a
/// 40×30 and a 30×50 uniform image), one in val; class 3's first train image is
/// grayscale and class 4's CMYK.
fn write_imagenette(dir: &Path) {
    for (split, count) in [("train", 2), ("val", 1)] {
        for (label, wnid) in IMAGENETTE_CLASSES.iter().enumerate() {
            let folder = dir.join("imagenette2-160").join(split).join(wnid);
            std::fs::create_dir_all(&folder).unwrap();
            for j in 0..count {
                let bytes = match (label, j, split) {
                    (3, 0, "train") => jpeg_gray(40, 30, 128),
                    (4, 0, "train") => jpeg_cmyk(40, 30, [0, 255, 255, 0]),
                    (_, 0, _) => jpeg_rgb(40, 30, |_, _| colour(label)),
                    _ => jpeg_rgb(30, 50, |_, _| colour(label)),
                };
                std::fs::write(folder.join(format!("{wnid}_{j}.JPEG")), bytes).unwrap();
            }
        }
    }
}

fn assert_uniform(img: &[f32], rgb: [u8; 3], what: &str) {
    let plane = img.len() / 3;
    for (ch, &want) in rgb.iter().enumerate() {
        for &v in &img[ch * plane..(ch + 1) * plane] {
            assert!(
                (v * 255.0 - f32::from(want)).abs() <= 3.0,
                "{what}: channel {ch} is {} not {want}",
                v * 255.0
            );
        }
    }
}

#[test]
fn imagenette_train_and_val() {
    let dir = tempfile::tempdir().unwrap();
    write_imagenette(dir.path());
    let opts = LoadOptions { image_size: 16 };
    let train = load_with(dir.path(), DatasetKind::Imagenette, Split::Train, &opts).unwrap();
    assert_eq!(train.len(), 20);
    assert_eq!(
        (train.channels, train.rows, train.cols, train.num_classes),
        (3, 16, 16, 10)
    );
    let labels: Vec<u8> = (0..10).flat_map(|l| [l, l]).collect();
    assert_eq!(train.labels, labels);
    for (i, &label) in train.labels.iter().enumerate() {
        let want = match (label, i % 2) {
            (3, 0) => [128; 3],
            (4, 0) => [255, 0, 0],
            (l, _) => colour(l as usize),
        };
        assert_uniform(train.image(i), want, &format!("image {i}"));
    }
    // Default size 64; val is the test split.
    let val = load(dir.path(), DatasetKind::Imagenette, Split::Test).unwrap();
    assert_eq!((val.len(), val.rows, val.cols), (10, 64, 64));
    assert_eq!(val.labels, (0..10).collect::<Vec<u8>>());
    assert_uniform(val.image(7), colour(7), "val 7");
}

#[test]
fn images_are_centre_cropped_and_rgb_ordered() {
    // 60×20: red, green, blue thirds; the centre square is the green third.
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("a");
    std::fs::create_dir_all(&class).unwrap();
    let thirds = |x: u16, _| match x / 20 {
        0 => [255, 0, 0],
        1 => [0, 255, 0],
        _ => [0, 0, 255],
    };
    std::fs::write(class.join("x.jpg"), jpeg_rgb(60, 20, thirds)).unwrap();
    // Tall: top half black, bottom half white, 8 wide 16 high → centre rows 4..12.
    let other = dir.path().join("b");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("y.jpeg"),
        jpeg_rgb(8, 16, |_, y| if y < 8 { [0; 3] } else { [255; 3] }),
    )
    .unwrap();
    std::fs::write(other.join("notes.txt"), b"not an image").unwrap();
    let ds = Dataset::from_image_folder(dir.path(), None, 8).unwrap();
    assert_eq!(ds.labels, vec![0, 1]);
    assert_eq!(ds.num_classes, 2);
    let inner: Vec<f32> = {
        let img = ds.image(0);
        (0..3)
            .flat_map(|ch| (2..6).flat_map(move |y| (2..6).map(move |x| img[(ch * 8 + y) * 8 + x])))
            .collect()
    };
    assert_uniform(&inner, [0, 255, 0], "centre of the wide image");
    // The tall image's crop is half black (top), half white (bottom).
    let img = ds.image(1);
    assert!(img[0] < 0.05 && img[7 * 8] > 0.95, "{:?}", &img[..64]);
}

#[test]
fn imagenette_corrupt_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    write_imagenette(dir.path());
    let bad = dir
        .path()
        .join("imagenette2-160/val")
        .join(IMAGENETTE_CLASSES[6])
        .join(format!("{}_0.JPEG", IMAGENETTE_CLASSES[6]));
    let good = std::fs::read(&bad).unwrap();
    std::fs::write(&bad, &good[..good.len() / 3]).unwrap();
    let name = bad.file_name().unwrap().to_str().unwrap().to_string();
    let (err, msg) = load_err(dir.path(), DatasetKind::Imagenette, Split::Test, &name);
    assert!(matches!(err, DataError::Invalid { .. }), "{err:?}");
    assert!(msg.contains("JPEG image"), "{msg}");
    std::fs::write(&bad, b"\xff\xd8 garbage that is not a jpeg").unwrap();
    let (_, msg) = load_err(dir.path(), DatasetKind::Imagenette, Split::Test, &name);
    assert!(msg.contains("cannot decode"), "{msg}");
}

#[test]
fn imagenette_missing_folders() {
    let dir = tempfile::tempdir().unwrap();
    write_imagenette(dir.path());
    let class = dir
        .path()
        .join("imagenette2-160/train")
        .join(IMAGENETTE_CLASSES[9]);
    std::fs::remove_dir_all(&class).unwrap();
    let (err, msg) = load_err(
        dir.path(),
        DatasetKind::Imagenette,
        Split::Train,
        IMAGENETTE_CLASSES[9],
    );
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    assert!(msg.contains("folder not found"), "{msg}");
    // An empty class folder.
    std::fs::create_dir_all(&class).unwrap();
    let (_, msg) = load_err(
        dir.path(),
        DatasetKind::Imagenette,
        Split::Train,
        IMAGENETTE_CLASSES[9],
    );
    assert!(msg.contains("no .JPEG files"), "{msg}");
    // No dataset at all.
    let empty = tempfile::tempdir().unwrap();
    load_err(
        empty.path(),
        DatasetKind::Imagenette,
        Split::Test,
        "imagenette2-160/val",
    );
}

// ================================================================== shapes

#[test]
fn mnist_padded_to_the_cifar_shape() {
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    let ds = load(&mnist, DatasetKind::Mnist, Split::Test).unwrap();
    let rgb = ds.padded(32, 32).to_channels(3);
    assert_eq!(
        (rgb.len(), rgb.channels, rgb.rows, rgb.cols),
        (10_000, 3, 32, 32)
    );
    let cifar = DatasetKind::Cifar10.image_shape(0);
    assert_eq!(rgb.shape(), cifar);
    // Content preserved: the centre 28×28 of every channel is the original.
    let (orig, img) = (ds.image(0), rgb.image(0));
    for ch in 0..3 {
        for y in 0..28 {
            assert_eq!(
                &img[(ch * 32 + y + 2) * 32 + 2..][..28],
                &orig[y * 28..][..28]
            );
        }
    }
    assert_eq!(rgb.labels, ds.labels);
}
