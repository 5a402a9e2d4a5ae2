//! Reading activations and labels from NumPy `.npy` files (via `npyz`).

use std::path::{Path, PathBuf};

use npyz::{DType, NpyFile, Order, TypeChar};

/// Why a `.npy` file could not be used. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: file not found")]
    Missing { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
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

fn open(path: &Path) -> Result<NpyFile<std::io::BufReader<std::fs::File>>, NpyError> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => NpyError::Missing { path: path.into() },
        _ => NpyError::Io {
            path: path.into(),
            source: e,
        },
    })?;
    let npy = NpyFile::new(std::io::BufReader::new(file)).map_err(|e| NpyError::NotNpy {
        path: path.into(),
        reason: e.to_string(),
    })?;
    if npy.order() == Order::Fortran && npy.shape().len() > 1 {
        return Err(NpyError::Shape {
            path: path.into(),
            reason: "Fortran-ordered arrays are not supported; save with np.ascontiguousarray"
                .into(),
        });
    }
    Ok(npy)
}

fn plain(path: &Path, dtype: &DType, expected: &'static str) -> Result<(TypeChar, u64), NpyError> {
    match dtype {
        DType::Plain(ts) => Ok((ts.type_char(), ts.size_field())),
        other => Err(unsupported(path, other, expected)),
    }
}

fn unsupported(path: &Path, dtype: &DType, expected: &'static str) -> NpyError {
    NpyError::Dtype {
        path: path.into(),
        dtype: dtype.descr(),
        expected,
    }
}

fn data_err(path: &Path) -> impl Fn(std::io::Error) -> NpyError + '_ {
    move |e| NpyError::NotNpy {
        path: path.into(),
        reason: format!("data unreadable: {e}"),
    }
}

/// Reads an f32 or f64 array of shape `(N, ...)`. f64 values are rounded to
/// the nearest f32, because the metric is defined on f32 resolution.
pub fn read_activations(path: &Path) -> Result<Activations, NpyError> {
    const EXPECTED: &str = "expected float32 or float64";
    let npy = open(path)?;
    let shape = npy.shape().to_vec();
    if shape.is_empty() {
        return Err(NpyError::Shape {
            path: path.into(),
            reason: "a 0-d array has no sample axis; expected shape (N, ...)".into(),
        });
    }
    let dtype = npy.dtype();
    let data = match plain(path, &dtype, EXPECTED)? {
        (TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(data_err(path))?,
        (TypeChar::Float, 8) => npy
            .into_vec::<f64>()
            .map_err(data_err(path))?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        _ => return Err(unsupported(path, &dtype, EXPECTED)),
    };
    Ok(Activations { data, shape })
}

/// Reads a 1-d integer array of labels (any signed or unsigned width).
pub fn read_labels(path: &Path) -> Result<Vec<i64>, NpyError> {
    const EXPECTED: &str = "expected an integer type";
    let npy = open(path)?;
    if npy.shape().len() != 1 {
        return Err(NpyError::Shape {
            path: path.into(),
            reason: format!("labels must have shape (N,), got {:?}", npy.shape()),
        });
    }
    let dtype = npy.dtype();
    // Widens any integer column to i64 (one generic read per width).
    fn widen<T: npyz::Deserialize + Into<i64>, R: std::io::Read>(
        npy: NpyFile<R>,
        path: &Path,
    ) -> Result<Vec<i64>, NpyError> {
        Ok(npy
            .into_vec::<T>()
            .map_err(data_err(path))?
            .into_iter()
            .map(Into::into)
            .collect())
    }
    Ok(match plain(path, &dtype, EXPECTED)? {
        (TypeChar::Int, 1) => widen::<i8, _>(npy, path)?,
        (TypeChar::Int, 2) => widen::<i16, _>(npy, path)?,
        (TypeChar::Int, 4) => widen::<i32, _>(npy, path)?,
        (TypeChar::Int, 8) => widen::<i64, _>(npy, path)?,
        (TypeChar::Uint, 1) => widen::<u8, _>(npy, path)?,
        (TypeChar::Uint, 2) => widen::<u16, _>(npy, path)?,
        (TypeChar::Uint, 4) => widen::<u32, _>(npy, path)?,
        // Labels beyond i64::MAX are out of any class range; saturate so the
        // range check reports them.
        (TypeChar::Uint, 8) => npy
            .into_vec::<u64>()
            .map_err(data_err(path))?
            .into_iter()
            .map(|x| x.min(i64::MAX as u64) as i64)
            .collect(),
        _ => return Err(unsupported(path, &dtype, EXPECTED)),
    })
}
