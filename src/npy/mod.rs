//! Reading activations and labels from NumPy `.npy` files, or from a `.npy`
//! in any byte stream whose length is known ([`NpyStream`], e.g. an entry of
//! a `.npz` archive).
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

use half::f16;

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

impl NpyError {
    /// The file (or stream name) the message names.
    pub fn path(&self) -> &Path {
        match self {
            NpyError::Missing { path }
            | NpyError::BrokenLink { path }
            | NpyError::Directory { path }
            | NpyError::Io { path, .. }
            | NpyError::NotNpy { path, .. }
            | NpyError::Dtype { path, .. }
            | NpyError::Shape { path, .. } => path,
        }
    }

    /// The message without its leading `path: `, for a caller that names
    /// the source its own way (an archive and its entry).
    pub fn reason(&self) -> String {
        let full = self.to_string();
        // Every variant's message starts with `{path}: `.
        let prefix = format!("{}: ", self.path().display());
        match full.strip_prefix(&prefix) {
            Some(rest) => rest.to_string(),
            None => full,
        }
    }
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

/// Float dtypes the activation readers accept, as error messages say it.
const FLOATS: &str = "expected float16, float32 or float64";

/// Reads an f16, f32 or f64 array of shape `(N, ...)`. f16 values convert to
/// f32 exactly; f64 values are rounded to the nearest f32, because the metric
/// is defined on f32 resolution.
pub fn read_activations(path: &Path) -> Result<Activations, NpyError> {
    Npy::open(path)?.activations()
}

/// Reads a 1-d integer array of labels (any signed or unsigned width).
pub fn read_labels(path: &Path) -> Result<Vec<i64>, NpyError> {
    Npy::open(path)?.labels()
}

/// A `.npy` array in a byte stream whose total length (preamble, header and
/// data) is known, such as an entry of a zip archive: the header is read
/// and its shape checked against that length when it is opened, the values
/// when one of the `read_` methods consumes it. The same checks as for a
/// file apply: bounded header, size compared before allocating, data
/// shorter or longer than the shape refused.
pub struct NpyStream<R: Read> {
    npy: Npy<R>,
}

impl<R: Read> NpyStream<R> {
    /// Reads the header from `reader`, positioned at the start of the
    /// `.npy`, which holds `len` bytes in all. `name` is what error messages
    /// name (a path, or an archive entry). Layouts and dtypes the `read_`
    /// methods refuse are refused only there, so that a stream can be
    /// listed whatever it holds.
    pub fn new(reader: R, len: u64, name: &Path) -> Result<Self, NpyError> {
        let io_err = |err| NpyError::Io {
            path: name.into(),
            err,
        };
        let mut npy = Npy::start(reader, name, io_err)?;
        let data_len = len.saturating_sub(npy.header.data_offset);
        npy.check_size(Some(data_len))?;
        Ok(NpyStream { npy })
    }

    /// The shape as the header declares it.
    pub fn shape(&self) -> &[u64] {
        &self.npy.header.shape
    }

    /// The dtype as the header writes it (`<f4`, `|u1`; a structured dtype
    /// as its text), clipped and escaped to stay one short line.
    pub fn dtype(&self) -> &str {
        &self.npy.header.dtype
    }

    /// The values of an f16, f32 or f64 array of shape `(N, ...)`, as
    /// [`read_activations`] gives them.
    pub fn read_activations(self) -> Result<Activations, NpyError> {
        self.npy.activations()
    }

    /// The values of an f16, f32 or f64 array of any shape, 0-d included,
    /// converted as [`read_activations`] does, in row-major order.
    pub fn read_floats(mut self) -> Result<Vec<f32>, NpyError> {
        self.npy.refuse_fortran()?;
        self.npy.floats()
    }

    /// The values of a 1-d integer array, as [`read_labels`] gives them.
    pub fn read_labels(self) -> Result<Vec<i64>, NpyError> {
        self.npy.labels()
    }
}

/// An open `.npy` file or stream positioned at its first value, its header
/// checked against the file's size.
struct Npy<R: Read> {
    path: PathBuf,
    reader: R,
    header: Header,
    /// Number of values the shape declares.
    count: usize,
    /// Whether the file's size is known to match the shape, so that space
    /// for `count` values may be reserved up front.
    size_checked: bool,
}

impl Npy<BufReader<File>> {
    fn open(path: &Path) -> Result<Self, NpyError> {
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
        let reader = BufReader::new(File::open(path).map_err(io_err)?);
        let mut npy = Npy::start(reader, path, io_err)?;
        npy.refuse_fortran()?;
        // Regular files are checked against their size now; other kinds
        // (pipes) only as they are read, without reserving what they declare.
        let data_len = meta.len().saturating_sub(npy.header.data_offset);
        npy.check_size(meta.is_file().then_some(data_len))?;
        Ok(npy)
    }
}

impl<R: Read> Npy<R> {
    /// Reads the header; the size is checked by [`Npy::check_size`].
    fn start(
        mut reader: R,
        path: &Path,
        io_err: impl Fn(std::io::Error) -> NpyError,
    ) -> Result<Self, NpyError> {
        let header = header::read(&mut reader).map_err(|p| match p {
            Problem::Io(e) => io_err(e),
            Problem::Format(reason) => NpyError::NotNpy {
                path: path.into(),
                reason,
            },
        })?;
        Ok(Npy {
            path: path.into(),
            reader,
            header,
            count: 0,
            size_checked: false,
        })
    }

    fn refuse_fortran(&self) -> Result<(), NpyError> {
        if self.header.fortran_order && self.header.shape.len() > 1 {
            return Err(self.shape_error(
                "Fortran-ordered arrays are not supported; save with np.ascontiguousarray",
            ));
        }
        Ok(())
    }

    /// Sets `count` from the shape, checked against `data_len` where it is
    /// known (see [`Npy::checked_count`]).
    fn check_size(&mut self, data_len: Option<u64>) -> Result<(), NpyError> {
        self.size_checked = data_len.is_some();
        self.count = self.checked_count(data_len)?;
        Ok(())
    }

    fn activations(mut self) -> Result<Activations, NpyError> {
        if self.header.shape.is_empty() {
            return Err(self.shape_error("a 0-d array has no sample axis; expected shape (N, ...)"));
        }
        self.refuse_fortran()?;
        let data = self.floats()?;
        Ok(Activations {
            data,
            shape: self.header.shape,
        })
    }

    /// All values of a float array as f32: f16 exactly, f64 rounded to
    /// nearest.
    fn floats(&mut self) -> Result<Vec<f32>, NpyError> {
        match self.plain(FLOATS)? {
            ('f', 2) => self.values(|x: u16| f16::from_bits(x).to_f32()),
            ('f', 4) => self.values(|x: f32| x),
            ('f', 8) => self.values(|x: f64| x as f32),
            _ => Err(self.unsupported(FLOATS)),
        }
    }

    fn labels(mut self) -> Result<Vec<i64>, NpyError> {
        const EXPECTED: &str = "expected an integer type";
        if self.header.shape.len() != 1 {
            let got = format!("labels must have shape (N,), got {:?}", self.header.shape);
            return Err(self.shape_error(&got));
        }
        match self.plain(EXPECTED)? {
            ('i', 1) => self.values::<i8, _>(i64::from),
            ('i', 2) => self.values::<i16, _>(i64::from),
            ('i', 4) => self.values::<i32, _>(i64::from),
            ('i', 8) => self.values(|x: i64| x),
            ('u', 1) => self.values::<u8, _>(i64::from),
            ('u', 2) => self.values::<u16, _>(i64::from),
            ('u', 4) => self.values::<u32, _>(i64::from),
            // Labels beyond i64::MAX are out of any class range; saturate so the
            // range check reports them.
            ('u', 8) => self.values(|x: u64| x.min(i64::MAX as u64) as i64),
            _ => Err(self.unsupported(EXPECTED)),
        }
    }

    /// The number of values the shape declares, if it and their size in
    /// bytes fit in memory's address range and, where `data_len` is known,
    /// the size equals it exactly. A file with bytes to spare is refused too:
    /// its shape does not describe its data.
    fn checked_count(&self, data_len: Option<u64>) -> Result<usize, NpyError> {
        let width = match self.header.descr {
            // numpy's unicode strings count characters of 4 bytes each.
            Descr::Plain(p) if p.kind == 'U' => p.size as u64 * 4,
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
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn unsupported(&self, expected: &'static str) -> NpyError {
        NpyError::Dtype {
            path: self.path.clone(),
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
            path: self.path.clone(),
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
