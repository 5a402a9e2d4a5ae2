//! Reading activations and labels from NumPy `.npy` files.
//!
//! Any file, however malformed, gives a value or a one-line [`NpyError`] in
//! bounded time and memory: the header is size- and depth-limited
//! (`header.rs`), and the size its shape declares is computed with overflow
//! checks and compared with the bytes the file holds before anything is
//! allocated for the values.

mod header;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use header::{Descr, Endian, Header, Plain, Problem};
pub use header::{MAX_DEPTH, MAX_DIMS, MAX_HEADER_LEN};

/// Why a `.npy` file could not be used. Every message names the file and is
/// one line; text quoted from the file is clipped.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: file not found")]
    Missing { path: PathBuf },
    #[error("{path}: symbolic link to a missing file")]
    BrokenLink { path: PathBuf },
    #[error("{path}: is a directory, not a .npy file")]
    Directory { path: PathBuf },
    // `err`, not `source`: the message already says it, and a source would
    // be printed a second time by `{:#}`.
    #[error("{path}: cannot read: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{path}: not a .npy file ({reason})")]
    NotNpy { path: PathBuf, reason: String },
    #[error("{path}: unsupported dtype {dtype} ({expected})")]
    Dtype {
        path: PathBuf,
        dtype: String,
        expected: &'static str,
    },
    #[error("{path}: {reason}")]
    Shape { path: PathBuf, reason: String },
}

/// Activations as f32 with the array's shape (first axis = samples).
#[derive(Debug, Clone, PartialEq)]
pub struct Activations {
    pub data: Vec<f32>,
    pub shape: Vec<u64>,
}

impl Activations {
    pub fn num_samples(&self) -> usize {
        self.shape.first().copied().unwrap_or(0) as usize
    }
}

/// Reads an f32 or f64 array of shape `(N, ...)`. f64 values are rounded to
/// the nearest f32, because the metric is defined on f32 resolution.
pub fn read_activations(path: &Path) -> Result<Activations, NpyError> {
    const EXPECTED: &str = "expected float32 or float64";
    let mut npy = Npy::open(path)?;
    if npy.header.shape.is_empty() {
        return Err(npy.shape_error("a 0-d array has no sample axis; expected shape (N, ...)"));
    }
    let data = match npy.plain(EXPECTED)? {
        ('f', 4) => npy.values(|x: f32| x)?,
        ('f', 8) => npy.values(|x: f64| x as f32)?,
        _ => return Err(npy.unsupported(EXPECTED)),
    };
    Ok(Activations {
        data,
        shape: npy.header.shape,
    })
}

/// Reads a 1-d integer array of labels (any signed or unsigned width).
pub fn read_labels(path: &Path) -> Result<Vec<i64>, NpyError> {
    const EXPECTED: &str = "expected an integer type";
    let mut npy = Npy::open(path)?;
    if npy.header.shape.len() != 1 {
        let got = format!("labels must have shape (N,), got {:?}", npy.header.shape);
        return Err(npy.shape_error(&got));
    }
    match npy.plain(EXPECTED)? {
        ('i', 1) => npy.values::<i8, _>(i64::from),
        ('i', 2) => npy.values::<i16, _>(i64::from),
        ('i', 4) => npy.values::<i32, _>(i64::from),
        ('i', 8) => npy.values(|x: i64| x),
        ('u', 1) => npy.values::<u8, _>(i64::from),
        ('u', 2) => npy.values::<u16, _>(i64::from),
        ('u', 4) => npy.values::<u32, _>(i64::from),
        // Labels beyond i64::MAX are out of any class range; saturate so the
        // range check reports them.
        ('u', 8) => npy.values(|x: u64| x.min(i64::MAX as u64) as i64),
        _ => Err(npy.unsupported(EXPECTED)),
    }
}

/// An open `.npy` file positioned at its first value, its header checked
/// against the file's size.
struct Npy<'a> {
    path: &'a Path,
    reader: BufReader<File>,
    header: Header,
    /// Number of values the shape declares.
    count: usize,
    /// Whether the file's size is known to match the shape, so that space
    /// for `count` values may be reserved up front.
    size_checked: bool,
}

impl<'a> Npy<'a> {
    fn open(path: &'a Path) -> Result<Self, NpyError> {
        let io_err = |err: std::io::Error| match err.kind() {
            std::io::ErrorKind::NotFound if path.symlink_metadata().is_ok() => {
                NpyError::BrokenLink { path: path.into() }
            }
            std::io::ErrorKind::NotFound => NpyError::Missing { path: path.into() },
            _ => NpyError::Io {
                path: path.into(),
                err,
            },
        };
        // `File::open` succeeds on a directory; reading it then fails with a
        // message that does not say what the path is.
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            return Err(NpyError::Directory { path: path.into() });
        }
        let mut reader = BufReader::new(File::open(path).map_err(io_err)?);
        let header = header::read(&mut reader).map_err(|p| match p {
            Problem::Io(e) => io_err(e),
            Problem::Format(reason) => NpyError::NotNpy {
                path: path.into(),
                reason,
            },
        })?;
        // Regular files are checked against their size now; other kinds
        // (pipes) only as they are read, without reserving what they declare.
        let mut npy = Npy {
            path,
            reader,
            header,
            count: 0,
            size_checked: meta.is_file(),
        };
        if npy.header.fortran_order && npy.header.shape.len() > 1 {
            return Err(npy.shape_error(
                "Fortran-ordered arrays are not supported; save with np.ascontiguousarray",
            ));
        }
        let data_len = meta.len().saturating_sub(npy.header.data_offset);
        npy.count = npy.checked_count(npy.size_checked.then_some(data_len))?;
        Ok(npy)
    }

    /// The number of values the shape declares, if it and their size in
    /// bytes fit in memory's address range and, where `data_len` is known,
    /// the size equals it exactly. A file with bytes to spare is refused too:
    /// its shape does not describe its data.
    fn checked_count(&self, data_len: Option<u64>) -> Result<usize, NpyError> {
        let width = match self.header.descr {
            Descr::Plain(p) => p.size as u64,
            Descr::Other => return Ok(0), // refused by `plain` before any read
        };
        // Any 0 makes the array empty however large the other dimensions
        // are, as in numpy; otherwise every partial product must fit.
        let shape = &self.header.shape;
        let count = if shape.contains(&0) {
            Some(0)
        } else {
            shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
        };
        let bytes = count.and_then(|c| c.checked_mul(width));
        let (Some(count), Some(bytes)) = (count, bytes) else {
            return Err(self.shape_error(&format!(
                "shape {} needs 2^64 bytes or more",
                self.shape_text()
            )));
        };
        if let Some(have) = data_len.filter(|&have| have != bytes) {
            return Err(self.shape_error(&format!(
                "shape {} of {} needs {bytes} bytes of data, the file holds {have}",
                self.shape_text(),
                self.header.descr_text,
            )));
        }
        usize::try_from(bytes)
            .map(|_| count as usize)
            .map_err(|_| self.shape_error("array too large for this machine's address space"))
    }

    fn shape_text(&self) -> String {
        let dims: Vec<String> = self.header.shape.iter().map(u64::to_string).collect();
        format!("({})", dims.join(", "))
    }

    fn shape_error(&self, reason: &str) -> NpyError {
        NpyError::Shape {
            path: self.path.into(),
            reason: reason.into(),
        }
    }

    fn unsupported(&self, expected: &'static str) -> NpyError {
        NpyError::Dtype {
            path: self.path.into(),
            dtype: self.header.descr_text.clone(),
            expected,
        }
    }

    /// Kind and width of a plain dtype; anything else is unsupported.
    fn plain(&self, expected: &'static str) -> Result<(char, usize), NpyError> {
        match self.header.descr {
            Descr::Plain(Plain { kind, size, .. }) => Ok((kind, size)),
            Descr::Other => Err(self.unsupported(expected)),
        }
    }

    /// Reads all `count` values as `E` and converts each, in chunks, so that
    /// memory holds the result and one chunk, never more than the file has.
    fn values<E: Element, T>(&mut self, convert: impl Fn(E) -> T) -> Result<Vec<T>, NpyError> {
        const CHUNK: usize = 1 << 16;
        let little = match self.header.descr {
            Descr::Plain(p) => p.endian == Endian::Little,
            Descr::Other => return Err(self.unsupported("a plain dtype")),
        };
        let reserve = if self.size_checked {
            self.count
        } else {
            self.count.min(CHUNK)
        };
        let mut out = Vec::with_capacity(reserve);
        let mut buf = vec![0u8; self.count.min(CHUNK) * E::WIDTH];
        let mut left = self.count;
        while left > 0 {
            let n = left.min(CHUNK);
            let bytes = &mut buf[..n * E::WIDTH];
            self.reader
                .read_exact(bytes)
                .map_err(|e| self.data_error(e))?;
            out.extend(
                bytes
                    .chunks_exact(E::WIDTH)
                    .map(|b| convert(E::decode(b, little))),
            );
            left -= n;
        }
        let mut extra = [0u8; 1];
        if self
            .reader
            .read(&mut extra)
            .map_err(|e| self.data_error(e))?
            > 0
        {
            return Err(self.shape_error(&format!(
                "the file holds more data than shape {} declares",
                self.shape_text()
            )));
        }
        Ok(out)
    }

    fn data_error(&self, e: std::io::Error) -> NpyError {
        let reason = match e.kind() {
            std::io::ErrorKind::UnexpectedEof => format!(
                "data ends before the {} values of shape {}",
                self.count,
                self.shape_text()
            ),
            _ => format!("data unreadable: {e}"),
        };
        NpyError::NotNpy {
            path: self.path.into(),
            reason,
        }
    }
}

/// A number type stored in `.npy` data, decoded from its bytes.
trait Element {
    const WIDTH: usize;
    /// `bytes` is exactly `WIDTH` long.
    fn decode(bytes: &[u8], little: bool) -> Self;
}

macro_rules! element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            fn decode(bytes: &[u8], little: bool) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                if little {
                    <$t>::from_le_bytes(a)
                } else {
                    <$t>::from_be_bytes(a)
                }
            }
        }
    )*};
}

element!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);
