//! IDX files (LeCun's MNIST format), raw or gzip-compressed: locating, reading,
//! decompressing and parsing headers. Never panics on bad input.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::error::{one_line, DataError, Hint};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Upper bound of the capacity reserved up front from a gzip trailer.
const MAX_PREALLOC: usize = 256 << 20;

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
    if base.extension().is_some_and(|e| e == "gz") {
        return base.is_file().then(|| base.to_path_buf());
    }
    [gz_path(base), base.to_path_buf()]
        .into_iter()
        .find(|p| p.is_file())
}

/// Read `base.gz` or `base` (see [`locate`]) and decompress it if it is gzip
/// (by magic bytes, whatever its name). Returns the path read and the content.
pub fn read_idx(base: &Path) -> Result<(PathBuf, Vec<u8>), DataError> {
    let missing = || DataError::Missing {
        path: base.to_path_buf(),
        hint: Hint::none(),
    };
    let path = locate(base).ok_or_else(missing)?;
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => missing(),
        _ => DataError::Read {
            path: path.clone(),
            source,
            hint: Hint::none(),
        },
    })?;
    let content = decompress(&path, bytes)?;
    Ok((path, content))
}

/// Decompress `bytes` if they are gzip, else return them unchanged; `path`
/// names the source in errors.
pub fn decompress(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    // The gzip trailer holds the uncompressed size mod 2^32: a capacity hint only.
    let hint = match bytes.len() {
        n if n >= 18 => {
            u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]) as usize
        }
        _ => 0,
    };
    let mut out = Vec::with_capacity(hint.min(MAX_PREALLOC));
    MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            path: path.to_path_buf(),
            reason: one_line(e),
            hint: Hint::none(),
        })?;
    Ok(out)
}

/// Parse an images file (magic 0x00000803).
pub fn parse_images<'a>(path: &Path, bytes: &'a [u8]) -> Result<IdxImages<'a>, DataError> {
    let (dims, pixels) = parse(path, bytes, IMAGES_MAGIC, "images")?;
    Ok(IdxImages {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels,
    })
}

/// Parse a labels file (magic 0x00000801); returns one byte per label.
pub fn parse_labels<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], DataError> {
    parse(path, bytes, LABELS_MAGIC, "labels").map(|(_, labels)| labels)
}

/// Check magic and length; return the dimensions and the payload.
fn parse<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    what: &'static str,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let ndim = (magic & 0xff) as usize;
    let header = 4 + 4 * ndim;
    let short = |expected: usize| DataError::Length {
        path: path.to_path_buf(),
        expected: expected as u64,
        actual: bytes.len() as u64,
        hint: Hint::none(),
    };
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if bytes.len() < 4 {
        return Err(short(header));
    }
    let found = word(0);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            what,
            found,
            expected: magic,
            hint: Hint::none(),
        });
    }
    if bytes.len() < header {
        return Err(short(header));
    }
    let dims: Vec<usize> = (0..ndim).map(|d| word(4 + 4 * d) as usize).collect();
    let payload = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_add(header))
        .ok_or_else(|| DataError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("dimensions {dims:?} overflow"),
            hint: Hint::none(),
        })?;
    if bytes.len() != payload {
        return Err(short(payload));
    }
    Ok((dims, &bytes[header..]))
}
