//! Hostile and damaged dataset files: property-based fuzzing of every
//! parser, and fixed cases for the worst inputs known (a gzip bomb, JPEG
//! bombs, folders and link loops where files should be, huge MAT sizes).
//!
//! The fuzzing starts from small valid files written by
//! tests/it/support/formats.rs (IDX raw and gzip, CIFAR binary, MATLAB v5 plain
//! and compressed, JPEG baseline and progressive) and mutates them: bytes
//! flipped, the file cut, declared sizes set to huge values, pieces spliced
//! in, bytes appended. Every parse must give a correct value or an error of
//! one line, never panic, and finish quickly: sizes are checked before
//! anything is allocated, so nothing large is.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::formats::*;
use conflicting_bundles::data::cifar::MAX_CIFAR_FILE;
use conflicting_bundles::data::idx::{
    parse_images, parse_labels, read_idx, IMAGES_MAGIC, LABELS_MAGIC, MAX_IDX_BYTES,
};
use conflicting_bundles::data::image::{decode_jpeg, MAX_JPEG_PIXELS};
use conflicting_bundles::data::mat::{read_mat, MAX_ELEMENT_BYTES};
use conflicting_bundles::data::{DataError, Dataset};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use proptest::collection::vec;
use proptest::prelude::*;

/// How long any one parse of these small (or hostile) files may take: a
/// guard against hangs (a parse that loops or grows with a hostile size
/// field), not a speed target. Wall time, since the parsers use rayon's
/// threads; the tests share one process with the training tests, which can
/// keep both cores of a CI machine busy, and the machine may run other work
/// beside the suite, so a parse of well under a second alone can take much
/// longer (2.8 s seen with the suite alone; 18 s for the big SVHN file with
/// notebooks executing beside it). A hang never finishes, so a bound well
/// above those still catches it.
const BOUND: Duration = Duration::from_secs(60);

/// Run `parse` and check that it finished within [`BOUND`] and that an error
/// is one line; the value, or the error's message.
fn timed<T>(what: &str, parse: impl FnOnce() -> Result<T, DataError>) -> Result<T, String> {
    let start = Instant::now();
    let result = parse();
    let took = start.elapsed();
    assert!(took < BOUND, "{what}: took {took:?}");
    result.map_err(|e| {
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{what}: not one line: {msg}");
        msg
    })
}

/// [`timed`]; the value, if any.
fn bounded<T>(what: &str, parse: impl FnOnce() -> Result<T, DataError>) -> Option<T> {
    timed(what, parse).ok()
}

/// [`timed`] for a parse that must fail; its message.
fn refused<T: std::fmt::Debug>(what: &str, parse: impl FnOnce() -> Result<T, DataError>) -> String {
    timed(what, parse).expect_err(what)
}

/// A file `name` in a fresh temporary folder holding `bytes`.
fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

// ================================================================== mutations

/// One change to a file; positions are taken modulo its length.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR the byte at `at` with `mask`.
    Flip { at: usize, mask: u8 },
    /// Cut the file at `at` (modulo the length + 1).
    Cut { at: usize },
    /// Overwrite the `width`-byte (2 or 4) field at `at` with `value`.
    Field {
        at: usize,
        value: u32,
        width: usize,
        big: bool,
    },
    /// Insert a copy of `len` bytes from `from` at `to`.
    Splice { from: usize, to: usize, len: usize },
    /// Append bytes.
    Append(Vec<u8>),
}

/// Sizes that break careless arithmetic or allocation.
fn huge() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(u32::MAX),
        Just(0x8000_0000),
        Just(0x7fff_ffff),
        Just(0x0100_0000),
        Just(65_500),
        Just(0),
        any::<u32>(),
    ]
}

/// Mutations of a file whose size fields (of `width` bytes, byte order `big`)
/// lie at `fields`; other positions are drawn too.
fn mutation(fields: Vec<usize>, width: usize, big: bool) -> impl Strategy<Value = Mutation> {
    let at = prop_oneof![proptest::sample::select(fields), any::<usize>()];
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<usize>().prop_map(|at| Mutation::Cut { at }),
        (at, huge()).prop_map(move |(at, value)| Mutation::Field {
            at,
            value,
            width,
            big
        }),
        (any::<usize>(), any::<usize>(), 1usize..64).prop_map(|(from, to, len)| Mutation::Splice {
            from,
            to,
            len
        }),
        vec(any::<u8>(), 1..32).prop_map(Mutation::Append),
    ]
}

/// `bytes` with `mutations` applied in order.
fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len();
        match m {
            Mutation::Append(extra) => bytes.extend(extra),
            _ if n == 0 => {}
            Mutation::Flip { at, mask } => bytes[at % n] ^= mask,
            Mutation::Cut { at } => bytes.truncate(at % (n + 1)),
            Mutation::Field {
                at,
                value,
                width,
                big,
            } => {
                let word = if *big {
                    value.to_be_bytes()
                } else {
                    value.to_le_bytes()
                };
                // The low `width` bytes, in the byte order asked for.
                let field = if *big {
                    &word[4 - width..]
                } else {
                    &word[..*width]
                };
                let at = at % n;
                let end = (at + width).min(n);
                bytes[at..end].copy_from_slice(&field[..end - at]);
            }
            Mutation::Splice { from, to, len } => {
                let from = from % n;
                let piece = bytes[from..(from + len).min(n)].to_vec();
                let to = to % (n + 1);
                bytes.splice(to..to, piece);
            }
        }
    }
    bytes
}

/// Decompress a small gzip file independently of the reader under test (the
/// oracle for what a successful read must return).
fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(1 << 24)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

// ================================================================== IDX

/// Offsets of an IDX header's magic number and dimensions (big-endian 32-bit).
const IDX_FIELDS: [usize; 4] = [0, 4, 8, 12];

/// The length an IDX content's own header implies (unsigned bytes), if it can.
fn idx_len(content: &[u8]) -> Option<usize> {
    let header = 4 + 4 * usize::from(*content.get(3)?);
    content
        .get(4..header)?
        .chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]) as usize)
        .try_fold(1usize, |acc, d| acc.checked_mul(d))?
        .checked_add(header)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Images or labels, raw or gzip, mutated before or after compression.
    #[test]
    fn idx_fuzzed(
        labels: bool,
        gzip: bool,
        after: bool,
        mutations in vec(mutation(IDX_FIELDS.to_vec(), 4, true), 0..4),
    ) {
        let (magic, valid) = if labels {
            (LABELS_MAGIC, idx_labels(&[1, 2, 3]))
        } else {
            (IMAGES_MAGIC, idx_images(3, 4, 5))
        };
        let (file, content) = match (gzip, after) {
            (false, _) => {
                let b = mutate(valid, &mutations);
                (b.clone(), Some(b))
            }
            (true, false) => {
                let b = mutate(valid, &mutations);
                (gz(&b), Some(b))
            }
            (true, true) => {
                let z = mutate(gz(&valid), &mutations);
                let content = gunzip(&z);
                (z, content)
            }
        };
        let (_dir, path) = temp_file("x-idx-ubyte", &file);
        let Some((_, got)) = bounded("IDX", || read_idx(&path, magic)) else {
            return Ok(());
        };
        // Read whole and exact: what an independent reader gets, as long as
        // its header says, with the magic asked for.
        let content = content.expect("a read succeeded where gzip fails");
        prop_assert_eq!(&got, &content);
        prop_assert_eq!(Some(got.len()), idx_len(&got));
        prop_assert_eq!(u32::from_be_bytes([got[0], got[1], got[2], got[3]]), magic);
        if labels {
            prop_assert_eq!(parse_labels(&path, &got).unwrap(), &got[8..]);
        } else {
            let images = parse_images(&path, &got).unwrap();
            prop_assert_eq!(images.count * images.rows * images.cols, got.len() - 16);
        }
    }
}

// ================================================================== CIFAR

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cifar_fuzzed(mutations in vec(mutation(vec![0, 3073], 4, true), 0..4)) {
        let bytes = mutate(cifar_file(0, 2), &mutations);
        let (_dir, path) = temp_file("data_batch_1.bin", &bytes);
        let Some(ds) = bounded("CIFAR", || Dataset::from_cifar_files(std::slice::from_ref(&path), 10)) else {
            return Ok(());
        };
        // Whole records, each a label below 10 and 3072 pixels.
        prop_assert!(!bytes.is_empty() && bytes.len().is_multiple_of(3073));
        prop_assert_eq!(ds.len(), bytes.len() / 3073);
        for (i, rec) in bytes.chunks(3073).enumerate() {
            prop_assert_eq!(ds.labels[i], rec[0]);
            prop_assert!(rec[0] < 10);
            let img = ds.image(i);
            prop_assert!(rec[1..].iter().zip(img).all(|(&b, &v)| v == f32::from(b) / 255.0));
        }
    }
}

// ================================================================== MATLAB v5

/// A small SVHN-like file's variables: `X` 4×4×3×2 uint8, `y` 2 labels.
fn small_svhn() -> Vec<Var> {
    let mut x = svhn_x(2);
    x.dims = vec![4, 4, 3, 2];
    x.data.truncate(96);
    vec![x, svhn_y_u8(&[3, 10])]
}

/// 4-aligned offsets where the tags' types and lengths and the dimensions lie:
/// in a file (the header's end, then `X` and `y`), or in an element alone.
fn mat_fields(in_element: bool) -> Vec<usize> {
    match in_element {
        true => (0..72).step_by(4).collect(),
        false => (120..336).step_by(4).collect(),
    }
}

/// Byte order, compression, whether to mutate inside the compressed stream,
/// and the mutations (size fields in the file's byte order).
fn mat_case() -> impl Strategy<Value = (bool, bool, bool, Vec<Mutation>)> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_flat_map(|(big, compress, inside)| {
        let fields = mat_fields(compress && inside);
        let mutations = vec(mutation(fields, 4, big), 0..4);
        (Just(big), Just(compress), Just(inside), mutations)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Plain or compressed, big- or little-endian; compressed elements mutated
    /// before compression (their declared sizes) or after.
    #[test]
    fn mat_fuzzed((big, compress, inside, mutations) in mat_case()) {
        let mat = Mat { big_endian: big };
        let bytes = if compress && inside {
            // Mutate the first element, then compress it: the inflated tag and
            // sizes are what is damaged.
            let vars = small_svhn();
            let element = mutate(mat.matrix(&vars[0]), &mutations);
            let mut b = mat.header();
            b.extend(mat.compress_element(&element, 0));
            b.extend(mat.compressed(&vars[1], 0));
            b
        } else {
            mutate(mat.file(&small_svhn(), compress), &mutations)
        };
        let (_dir, path) = temp_file("train_32x32.mat", &bytes);
        if let Some(mut file) = bounded("MAT", || read_mat(&path, bytes.clone(), &["X", "y"])) {
            for name in ["X", "y"] {
                if let Ok(a) = file.take(name) {
                    prop_assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
                }
            }
        }
        let Some(ds) = bounded("SVHN", || Dataset::from_svhn_mat(&path)) else {
            return Ok(());
        };
        prop_assert_eq!(ds.images.len(), ds.len() * ds.channels * ds.rows * ds.cols);
        prop_assert!(ds.images.iter().all(|v| (0.0..=1.0).contains(v)));
        prop_assert!(ds.labels.iter().all(|&l| l < 10));
        if mutations.is_empty() {
            prop_assert_eq!((ds.len(), ds.rows, ds.cols, ds.channels), (2, 4, 4, 3));
            prop_assert_eq!(&ds.labels, &[3, 0]);
        }
    }
}

// ================================================================== JPEG

/// A 16×12 gradient.
fn gradient(x: u16, y: u16) -> [u8; 3] {
    [(x * 15) as u8, (y * 20) as u8, 128]
}

/// A style, the valid JPEG of [`gradient`] in it, and mutations (size fields
/// at its frame header's height and width).
fn jpeg_case() -> impl Strategy<Value = (JpegStyle, Vec<u8>, Vec<Mutation>)> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_flat_map(
        |(progressive, subsampled, restart)| {
            let style = JpegStyle {
                progressive,
                subsampled,
                restart,
            };
            let valid = jpeg_styled(16, 12, style, gradient);
            let sof = jpeg_sof(&valid);
            let mutations = vec(mutation(vec![sof + 5, sof + 7], 2, true), 0..4);
            (Just(style), Just(valid), mutations)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Baseline or progressive, 4:4:4 or 4:2:0, with or without restart
    /// markers; declared sizes are the frame header's height and width.
    #[test]
    fn jpeg_fuzzed((style, valid, mutations) in jpeg_case()) {
        let bytes = mutate(valid, &mutations);
        let Some(img) = bounded("JPEG", || decode_jpeg(Path::new("x.jpg"), &bytes)) else {
            return Ok(());
        };
        prop_assert_eq!(img.pixels.len(), img.width * img.height * 3);
        prop_assert!((img.width * img.height) as u64 <= MAX_JPEG_PIXELS);
        if mutations.is_empty() {
            prop_assert_eq!((img.width, img.height), (16, 12));
            // Quality 100: close to the source, chroma subsampling aside.
            let tolerance = if style.subsampled { 40 } else { 8 };
            for (i, px) in img.pixels.chunks(3).enumerate() {
                let want = gradient((i % 16) as u16, (i / 16) as u16);
                for (&got, &want) in px.iter().zip(&want) {
                    prop_assert!(got.abs_diff(want) <= tolerance, "pixel {i}: {px:?} vs {want:?}");
                }
            }
        }
    }
}

// ================================================================== reproducers

/// `header`, then `mib` MiB of zero bytes, gzip-compressed as members of 1 MiB
/// each: one compressed member repeated, so any size is cheap to make.
fn gzip_bomb(header: &[u8], mib: usize) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let mut out = gz(&[header, &zeros].concat());
    let member = gz(&zeros);
    for _ in 1..mib {
        out.extend_from_slice(&member);
    }
    out
}

/// A gzip bomb: 6 MiB that inflate to 6 GiB. Reading stops one byte past
/// the length the header declares, so no more than that is ever inflated.
#[test]
fn idx_gzip_bomb_is_refused_past_the_declared_length() {
    let header = idx_images(3, 4, 5);
    let dir = tempfile::tempdir().unwrap();
    // 6 GiB once inflated, in 6 MiB.
    let bomb = gzip_bomb(&header, 6 << 10);
    assert!(bomb.len() < 8 << 20, "{}", bomb.len());
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), &bomb).unwrap();
    let msg = refused("gzip bomb", || {
        conflicting_bundles::data::load_mnist(
            dir.path(),
            conflicting_bundles::data::DatasetKind::Mnist,
            conflicting_bundles::data::Split::Test,
        )
    });
    assert!(
        msg.contains("t10k-images-idx3-ubyte.gz: wrong length: the content is longer than the 76 bytes the IDX header implies"),
        "{msg}"
    );
    assert!(msg.contains("cb data fetch mnist"), "{msg}");
    // One deflate stream rather than members: 256 MiB of zeros in 256 KiB.
    let mut z = GzEncoder::new(Vec::new(), Compression::fast());
    z.write_all(&header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        z.write_all(&zeros).unwrap();
    }
    let (_dir, path) = temp_file("x.gz", &z.finish().unwrap());
    let msg = refused("one-stream bomb", || read_idx(&path, IMAGES_MAGIC));
    assert!(msg.contains("longer than the 76 bytes"), "{msg}");
    // A raw file far longer than declared (sparse: nothing is written).
    let (_dir, path) = temp_file("raw", &header);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let msg = refused("long raw file", || read_idx(&path, IMAGES_MAGIC));
    assert!(msg.contains("longer than the 76 bytes"), "{msg}");
}

/// Declared sizes beyond the limit, or that overflow, are refused from the
/// header alone.
#[test]
fn idx_huge_headers_are_refused_unread() {
    let set_dims = |dims: [u32; 3]| {
        let mut b = idx_images(3, 4, 5);
        for (i, d) in dims.iter().enumerate() {
            b[4 + 4 * i..8 + 4 * i].copy_from_slice(&d.to_be_bytes());
        }
        b
    };
    for (dims, says) in [
        (
            [60_000, 65_535, 65_535],
            format!("more than the {MAX_IDX_BYTES} an IDX file may have"),
        ),
        ([u32::MAX; 3], "overflow".to_string()),
    ] {
        for bytes in [set_dims(dims), gz(&set_dims(dims))] {
            let (_dir, path) = temp_file("x", &bytes);
            let msg = refused("huge header", || read_idx(&path, IMAGES_MAGIC));
            assert!(msg.contains(&says), "{msg}");
        }
    }
    // The labels file: one dimension.
    let mut b = idx_labels(&[1, 2]);
    b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    let (_dir, path) = temp_file("x", &gz(&b));
    let msg = refused("huge labels", || read_idx(&path, LABELS_MAGIC));
    assert!(
        msg.contains("make 4294967303 bytes, more than the"),
        "{msg}"
    );
}

/// A 40×30 JPEG whose frame header is made to declare `width × height`, cut
/// to `keep` of its bytes.
fn patched_jpeg(width: u16, height: u16, keep: f64) -> Vec<u8> {
    let mut bytes = jpeg_rgb(40, 30, |x, y| [(x * 6) as u8, (y * 8) as u8, 0]);
    let sof = jpeg_sof(&bytes);
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes.truncate((bytes.len() as f64 * keep) as usize);
    bytes
}

/// JPEG bombs: an Imagenette JPEG whose header claims 65500×65500 pixels over
/// truncated data (decoding it would take more than 10 GB), and one of
/// 65500×8000. Both are refused from the header, before the decoder allocates.
#[test]
fn jpeg_bombs_are_refused_from_the_header() {
    for (w, h) in [(65_500u16, 65_500u16), (65_500, 8_000)] {
        let bytes = patched_jpeg(w, h, 0.7);
        let path = Path::new("n01440764_0.JPEG");
        let msg = refused("JPEG bomb", || decode_jpeg(path, &bytes));
        assert!(
            msg.contains(&format!(
                "n01440764_0.JPEG: invalid JPEG image: {w}×{h} pixels, more than the {MAX_JPEG_PIXELS} an image may have"
            )),
            "{msg}"
        );
    }
    // Through the folder loader: the file is named.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::write(
        dir.path().join("a/bomb.jpg"),
        patched_jpeg(65_500, 65_500, 0.7),
    )
    .unwrap();
    let msg = refused("JPEG bomb in a folder", || {
        Dataset::from_image_folder(dir.path(), None, 8)
    });
    assert!(
        msg.contains("bomb.jpg") && msg.contains("65500×65500"),
        "{msg}"
    );
}

/// Truncated JPEGs are errors: a header promising more pixels than the data
/// can hold (even with the end marker present), and a file cut short.
#[test]
fn truncated_jpegs_are_refused() {
    let path = Path::new("x.jpg");
    let msg = refused("2000×2000 on 40×30 data", || {
        decode_jpeg(path, &patched_jpeg(2000, 2000, 1.0))
    });
    assert!(
        msg.contains("truncated: a 2000×2000 image needs at least 23438 bytes of coded data"),
        "{msg}"
    );
    let msg = refused("cut", || decode_jpeg(path, &patched_jpeg(40, 30, 0.8)));
    assert!(
        msg.contains("truncated: the file ends before the image does"),
        "{msg}"
    );
    let msg = refused("cut in the header", || {
        decode_jpeg(path, &patched_jpeg(40, 30, 0.05))
    });
    assert!(msg.contains("truncated"), "{msg}");
    let msg = refused("empty", || decode_jpeg(path, &patched_jpeg(0, 30, 1.0)));
    assert!(msg.contains("empty image (0×30)"), "{msg}");
    // The same file whole decodes.
    let img = decode_jpeg(path, &patched_jpeg(40, 30, 1.0)).unwrap();
    assert_eq!((img.width, img.height), (40, 30));
}

/// A folder or a symbolic-link loop where a file should be: the error says
/// what is there, not "file not found", which would send the user looking for
/// a missing file.
#[cfg(unix)]
#[test]
fn folders_and_links_where_files_should_be() {
    use conflicting_bundles::data::{load, DatasetKind, Split};
    use std::os::unix::fs::symlink;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let load_msg = |kind| refused("load", || load(d, kind, Split::Test));
    // IDX: a folder, a loop, a broken link.
    let idx = d.join("t10k-images-idx3-ubyte");
    std::fs::create_dir(&idx).unwrap();
    let msg = load_msg(DatasetKind::Mnist);
    assert!(
        msg.contains("t10k-images-idx3-ubyte: is a directory, not a file"),
        "{msg}"
    );
    std::fs::remove_dir(&idx).unwrap();
    let gz = d.join("t10k-images-idx3-ubyte.gz");
    symlink(&gz, &gz).unwrap();
    let msg = load_msg(DatasetKind::Mnist);
    assert!(
        msg.contains("t10k-images-idx3-ubyte.gz: cannot read: Too many levels of symbolic links"),
        "{msg}"
    );
    std::fs::remove_file(&gz).unwrap();
    symlink(d.join("nowhere"), &gz).unwrap();
    let msg = load_msg(DatasetKind::Mnist);
    assert!(msg.contains("is a broken symbolic link (to "), "{msg}");
    // CIFAR: a folder; a named pipe, which a reader would wait on forever.
    let cifar = d.join("cifar-10-batches-bin");
    std::fs::create_dir_all(cifar.join("test_batch.bin")).unwrap();
    let msg = load_msg(DatasetKind::Cifar10);
    assert!(
        msg.contains("test_batch.bin: is a directory, not a file"),
        "{msg}"
    );
    std::fs::remove_dir(cifar.join("test_batch.bin")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(cifar.join("test_batch.bin"))
        .status();
    if fifo.is_ok_and(|s| s.success()) {
        let msg = load_msg(DatasetKind::Cifar10);
        assert!(
            msg.contains("test_batch.bin: is a named pipe, not a file"),
            "{msg}"
        );
    }
    // SVHN: a loop through two links.
    symlink(d.join("b.mat"), d.join("test_32x32.mat")).unwrap();
    symlink(d.join("test_32x32.mat"), d.join("b.mat")).unwrap();
    let msg = load_msg(DatasetKind::Svhn);
    assert!(
        msg.contains("test_32x32.mat: cannot read: Too many levels of symbolic links"),
        "{msg}"
    );
    // Image folders: a folder named like an image; a class folder that is a
    // loop; a file where the root folder should be.
    let root = d.join("images");
    std::fs::create_dir_all(root.join("a/x.jpg")).unwrap();
    let msg = refused("folder", || Dataset::from_image_folder(&root, None, 8));
    assert!(msg.contains("x.jpg: is a directory, not a file"), "{msg}");
    let classes = ["a", "b"];
    symlink(root.join("b"), root.join("b")).unwrap();
    let msg = refused("loop", || {
        Dataset::from_image_folder(&root, Some(&classes), 8)
    });
    assert!(msg.contains("cannot read: Too many levels"), "{msg}");
    let file = d.join("not-a-folder");
    std::fs::write(&file, b"").unwrap();
    let msg = refused("file", || Dataset::from_image_folder(&file, None, 8));
    assert!(msg.contains("is a regular file, not a folder"), "{msg}");
}

/// MAT-file sizes (declared lengths, dimensions, the length of a compressed
/// element once inflated) are checked before anything that size is allocated.
#[test]
fn mat_declared_sizes_are_checked_before_allocating() {
    let mat = Mat { big_endian: false };
    let with = |elements: &[Vec<u8>]| [mat.header(), elements.concat()].concat();
    let read = |what: &str, bytes: Vec<u8>| {
        let (_dir, path) = temp_file("m.mat", &bytes);
        refused(what, || read_mat(&path, bytes, &["y"])?.take("y"))
    };
    // A compressed matrix claiming 2 GiB: refused after its tag.
    let mut element = mat.matrix(&svhn_y_u8(&[1, 2]));
    element[4..8].copy_from_slice(&0x8000_0000u32.to_le_bytes());
    let msg = read("2 GiB claim", with(&[mat.compress_element(&element, 0)]));
    assert!(
        msg.contains(&format!(
            "its matrix claims 2147483648 bytes, more than the {MAX_ELEMENT_BYTES}"
        )),
        "{msg}"
    );
    // A zlib bomb: an honest small matrix, then 64 MiB of zeros in its stream.
    let element = [mat.matrix(&svhn_y_u8(&[1, 2])), vec![0; 64 << 20]].concat();
    let msg = read("zlib bomb", with(&[mat.compress_element(&element, 0)]));
    assert!(msg.contains("inflates to more than the"), "{msg}");
    // Dimensions whose product overflows; dimensions far beyond the data.
    let mut y = svhn_y_u8(&[1, 2]);
    y.dims = vec![i32::MAX, i32::MAX, i32::MAX, 2];
    let msg = read("overflow", with(&[mat.matrix(&y)]));
    assert!(msg.contains("overflow"), "{msg}");
    y.dims = vec![65_535, 65_535];
    for compress in [false, true] {
        let msg = read(
            "huge dims",
            mat.file(&[svhn_y_u8(&[1]), y.clone()], compress),
        );
        assert!(
            msg.contains(
                "has 2 values of type 2 but its dimensions [65535, 65535] imply 4294836225"
            ),
            "{msg}"
        );
    }
    // A variable name from the file is shown on one line.
    let mut odd = svhn_y_u8(&[1]);
    odd.name = "a\nb".into();
    let msg = read("odd name", with(&[mat.matrix(&odd)]));
    assert!(msg.contains("no variable `y` (it has: a\\nb)"), "{msg}");
    // A plain element claiming more than the file holds.
    let mut plain = mat.matrix(&svhn_y_u8(&[1, 2]));
    plain[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let msg = read("long claim", with(&[plain]));
    assert!(msg.contains("claims 4294967295 bytes"), "{msg}");
}

/// Files over a format's size limit are refused from their length, unread
/// (sparse files: nothing is written).
#[test]
fn oversized_files_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data_batch_1.bin");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(MAX_CIFAR_FILE + 3073).unwrap();
    let msg = refused("huge CIFAR file", || {
        Dataset::from_cifar_files(std::slice::from_ref(&path), 10)
    });
    assert!(
        msg.contains(&format!(
            "{} bytes, more than the {MAX_CIFAR_FILE}",
            MAX_CIFAR_FILE + 3073
        )),
        "{msg}"
    );
}
