//! IDX files (LeCun's MNIST format), raw or gzip-compressed: locating, reading,
//! decompressing and parsing headers. Never panics on bad input.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::error::{check_file, one_line, DataError, Hint};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Largest IDX content read (decompressed, header included): MNIST's and
/// Fashion-MNIST's biggest file, the training images, is 47 MB. A header that
/// declares more is taken for damage rather than read.
pub const MAX_IDX_BYTES: usize = 256 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Deflate's largest expansion (258 bytes from a 2-bit code, about 1032:1): a
/// gzip file cannot decompress to more than this many times its size.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// An images file: `count` images of `rows × cols` bytes, row-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdxImages<'a> {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: &'a [u8],
}

/// Whether `bytes` start like a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Whether the file at `path` starts like a gzip stream.
pub fn file_is_gzip(path: &Path) -> std::io::Result<bool> {
    let mut magic = Vec::with_capacity(GZIP_MAGIC.len());
    std::fs::File::open(path)?
        .take(GZIP_MAGIC.len() as u64)
        .read_to_end(&mut magic)?;
    Ok(is_gzip(&magic))
}

/// `base` with `.gz` appended.
pub fn gz_path(base: &Path) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".gz");
    PathBuf::from(s)
}

/// The file to read for `base`: `base.gz` if present, else `base`; a `base`
/// that already ends in `.gz` is taken as is.
pub fn locate(base: &Path) -> Option<PathBuf> {
    candidates(base).into_iter().find(|p| p.is_file())
}

/// The paths [`locate`] tries, in order.
fn candidates(base: &Path) -> Vec<PathBuf> {
    if base.extension().is_some_and(|e| e == "gz") {
        return vec![base.to_path_buf()];
    }
    vec![gz_path(base), base.to_path_buf()]
}

/// Read `base.gz` or `base` (see [`locate`]; where neither is a file, the error
/// says what is there), an IDX file whose magic number must be `magic`
/// ([`IMAGES_MAGIC`] or [`LABELS_MAGIC`]), decompressing it if it is gzip (by
/// magic bytes, whatever its name). Only as many bytes as the header declares
/// (at most [`MAX_IDX_BYTES`]) are read, plus one to tell a longer content, so
/// a decompression bomb or trailing data is refused after that much. Returns
/// the path read and the content, header included.
pub fn read_idx(base: &Path, magic: u32) -> Result<(PathBuf, Vec<u8>), DataError> {
    let path = pick(base)?;
    let file_len = check_file(&path)?;
    let read_err = |source| DataError::Read {
        path: path.clone(),
        source,
        hint: Hint::none(),
    };
    let mut file = BufReader::new(std::fs::File::open(&path).map_err(read_err)?);
    let gzip = is_gzip(file.fill_buf().map_err(read_err)?);
    let content = if gzip {
        let gzip_err = |e| DataError::Gzip {
            path: path.clone(),
            reason: one_line(e),
            hint: Hint::none(),
        };
        let most = file_len.saturating_mul(MAX_DEFLATE_RATIO);
        read_content(&path, MultiGzDecoder::new(file), most, magic, &gzip_err)
    } else {
        read_content(&path, file, file_len, magic, &read_err)
    }?;
    Ok((path, content))
}

/// The path to read for `base`: the first of [`candidates`] that is a file,
/// else the first that is there at all (to say what it is), else an error.
fn pick(base: &Path) -> Result<PathBuf, DataError> {
    let paths = candidates(base);
    let is_there = |p: &&PathBuf| p.symlink_metadata().is_ok();
    let found = paths
        .iter()
        .find(|p| p.is_file())
        .or_else(|| paths.iter().find(is_there));
    found.cloned().ok_or_else(|| DataError::Missing {
        path: base.to_path_buf(),
        hint: Hint::none(),
    })
}

/// The content of an IDX file from `reader`, which yields at most `most`
/// bytes: the header, then as many bytes as it declares; one byte more is asked
/// for, to refuse a longer content. `io_err` makes a read failure an error.
fn read_content(
    path: &Path,
    mut reader: impl Read,
    most: u64,
    magic: u32,
    io_err: &dyn Fn(std::io::Error) -> DataError,
) -> Result<Vec<u8>, DataError> {
    // Read onto `bytes` until they are `n` long or the input ends.
    let mut read_upto = |bytes: &mut Vec<u8>, n: usize| {
        let want = n.saturating_sub(bytes.len()) as u64;
        (&mut reader).take(want).read_to_end(bytes).map_err(io_err)
    };
    let mut bytes = Vec::with_capacity(header_len(magic));
    read_upto(&mut bytes, 4)?;
    check_magic(path, &bytes, magic)?;
    read_upto(&mut bytes, header_len(magic))?;
    let (_, len) = header(path, &bytes, magic)?;
    // Reserve what the header declares (bounded by MAX_IDX_BYTES), but not
    // more than the input can hold: a small file is not worth a large buffer.
    let room = (len + 1).min(usize::try_from(most).unwrap_or(usize::MAX));
    bytes.reserve_exact(room.saturating_sub(bytes.len()));
    read_upto(&mut bytes, len + 1)?;
    match bytes.len() {
        n if n > len => Err(DataError::TooLong {
            path: path.to_path_buf(),
            expected: len as u64,
            hint: Hint::none(),
        }),
        n if n < len => Err(length_error(path, len, n)),
        _ => Ok(bytes),
    }
}

/// Parse an images file (magic 0x00000803).
pub fn parse_images<'a>(path: &Path, bytes: &'a [u8]) -> Result<IdxImages<'a>, DataError> {
    let (dims, pixels) = parse(path, bytes, IMAGES_MAGIC)?;
    Ok(IdxImages {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels,
    })
}

/// Parse a labels file (magic 0x00000801); returns one byte per label.
pub fn parse_labels<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], DataError> {
    parse(path, bytes, LABELS_MAGIC).map(|(_, labels)| labels)
}

/// Check magic and length; return the dimensions and the payload.
fn parse<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    check_magic(path, bytes, magic)?;
    let (dims, len) = header(path, bytes, magic)?;
    if bytes.len() != len {
        return Err(length_error(path, len, bytes.len()));
    }
    Ok((dims, &bytes[header_len(magic)..]))
}

/// Bytes in the header of an IDX file with `magic`: the magic number and one
/// 32-bit size per dimension (the low byte of the magic).
fn header_len(magic: u32) -> usize {
    4 + 4 * (magic & 0xff) as usize
}

/// What the file with `magic` holds, for messages.
fn kind_name(magic: u32) -> &'static str {
    match magic {
        IMAGES_MAGIC => "images",
        _ => "labels",
    }
}

/// Check that `bytes` start with `magic` (an error too if they are shorter).
fn check_magic(path: &Path, bytes: &[u8], magic: u32) -> Result<(), DataError> {
    let Some(&[a, b, c, d]) = bytes.get(..4) else {
        return Err(length_error(path, header_len(magic), bytes.len()));
    };
    let found = u32::from_be_bytes([a, b, c, d]);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            what: kind_name(magic),
            found,
            expected: magic,
            hint: Hint::none(),
        });
    }
    Ok(())
}

/// The dimensions in the header at the start of `bytes` and the length of the
/// whole file they imply (unsigned bytes), checked for overflow and against
/// [`MAX_IDX_BYTES`] before anything that size is allocated.
fn header(path: &Path, bytes: &[u8], magic: u32) -> Result<(Vec<usize>, usize), DataError> {
    let len = header_len(magic);
    let Some(words) = bytes.get(4..len) else {
        return Err(length_error(path, len, bytes.len()));
    };
    let dims: Vec<usize> = words
        .chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]) as usize)
        .collect();
    let corrupt = |reason: String| DataError::Corrupt {
        path: path.to_path_buf(),
        reason,
        hint: Hint::none(),
    };
    let total = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_add(len))
        .ok_or_else(|| corrupt(format!("dimensions {dims:?} overflow")))?;
    if total > MAX_IDX_BYTES {
        return Err(corrupt(format!(
            "dimensions {dims:?} make {total} bytes, more than the {MAX_IDX_BYTES} an IDX file may have (damaged header?)"
        )));
    }
    Ok((dims, total))
}

/// The content is `actual` bytes where the header implies `expected`.
fn length_error(path: &Path, expected: usize, actual: usize) -> DataError {
    DataError::Length {
        path: path.to_path_buf(),
        expected: expected as u64,
        actual: actual as u64,
        hint: Hint::none(),
    }
}
