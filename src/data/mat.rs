//! A minimal MATLAB level-5 MAT-file reader: enough for numeric arrays such as
//! SVHN's `X` and `y`. Never panics on bad input.
//!
//! Format (MathWorks, "MAT-File Format"): a 128-byte header (descriptive text,
//! subsystem offset, version 0x0100, endian indicator `IM`/`MI`), then data
//! elements, each an 8-byte tag (type, byte count) and its data, padded to 8
//! bytes inside a matrix; a tag whose upper 16 bits are non-zero is the
//! small-element format (count and type in 4 bytes, up to 4 data bytes). A
//! variable is an `miMATRIX` element (array flags, dimensions, name, real part,
//! optional imaginary part) or an `miCOMPRESSED` element: a zlib stream holding
//! one `miMATRIX` element. Numeric data are stored column-major, possibly in a
//! smaller type than the array's class (e.g. a double array as `miUINT8`).

use std::path::{Path, PathBuf};

use flate2::{Decompress, FlushDecompress, Status};

use super::error::{invalid, DataError};

const WHAT: &str = "MATLAB v5 file";
const HEADER_LEN: usize = 128;
/// Largest decompressed element: SVHN's biggest, the training set's `X`, is
/// 225 MB; the bound keeps a zlib bomb from filling memory.
pub const MAX_ELEMENT_BYTES: usize = 1 << 30;

// Data types of data elements.
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// Array class (the low byte of the array flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatClass {
    Cell,
    Struct,
    Object,
    Char,
    Sparse,
    Double,
    Single,
    Int8,
    Uint8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Uint64,
    Other(u8),
}

impl MatClass {
    fn from_code(code: u8) -> MatClass {
        match code {
            1 => MatClass::Cell,
            2 => MatClass::Struct,
            3 => MatClass::Object,
            4 => MatClass::Char,
            5 => MatClass::Sparse,
            6 => MatClass::Double,
            7 => MatClass::Single,
            8 => MatClass::Int8,
            9 => MatClass::Uint8,
            10 => MatClass::Int16,
            11 => MatClass::Uint16,
            12 => MatClass::Int32,
            13 => MatClass::Uint32,
            14 => MatClass::Int64,
            15 => MatClass::Uint64,
            c => MatClass::Other(c),
        }
    }

    /// Whether arrays of this class hold plain numbers.
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            MatClass::Double
                | MatClass::Single
                | MatClass::Int8
                | MatClass::Uint8
                | MatClass::Int16
                | MatClass::Uint16
                | MatClass::Int32
                | MatClass::Uint32
                | MatClass::Int64
                | MatClass::Uint64
        )
    }
}

/// The values of a numeric array, column-major.
#[derive(Debug, Clone, PartialEq)]
pub enum MatData {
    /// Stored as `miUINT8`: the bytes as they are.
    U8(Vec<u8>),
    /// Any other storage type, converted to f64.
    F64(Vec<f64>),
}

impl MatData {
    pub fn len(&self) -> usize {
        match self {
            MatData::U8(v) => v.len(),
            MatData::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` as f64. Panics if `i >= len()`.
    pub fn get(&self, i: usize) -> f64 {
        match self {
            MatData::U8(v) => f64::from(v[i]),
            MatData::F64(v) => v[i],
        }
    }
}

/// A real numeric array: its name, class, dimensions and values (column-major:
/// the first index varies fastest).
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    pub name: String,
    pub class: MatClass,
    pub dims: Vec<usize>,
    pub data: MatData,
}

/// The variables asked for from one MAT-file.
#[derive(Debug, Clone, PartialEq)]
pub struct MatFile {
    /// The file, for error messages.
    pub path: PathBuf,
    /// Names of all variables in the file, in order.
    pub names: Vec<String>,
    /// The variables asked for that were found, in file order.
    pub arrays: Vec<MatArray>,
}

impl MatFile {
    /// Remove and return the variable `name`; an error naming the file and the
    /// variables it has if there is none.
    pub fn take(&mut self, name: &str) -> Result<MatArray, DataError> {
        match self.arrays.iter().position(|a| a.name == name) {
            Some(i) => Ok(self.arrays.remove(i)),
            None => Err(invalid(
                &self.path,
                WHAT,
                format!(
                    "no variable `{name}` (it has: {})",
                    if self.names.is_empty() {
                        "none".to_string()
                    } else {
                        // Names come from the file: escaped, so that the
                        // message stays one line whatever they hold.
                        let names: Vec<String> = self
                            .names
                            .iter()
                            .map(|n| n.escape_debug().to_string())
                            .collect();
                        names.join(", ")
                    }
                ),
            )),
        }
    }
}

/// Parse a level-5 MAT-file and return the numeric arrays named in `wanted`
/// (others are skipped without decoding their data). `path` names the file in
/// errors. A wanted variable that is not a real numeric array is an error.
pub fn read_mat(path: &Path, bytes: Vec<u8>, wanted: &[&str]) -> Result<MatFile, DataError> {
    let err = |reason: String| invalid(path, WHAT, reason);
    let endian = header(&bytes).map_err(err)?;
    let mut file = MatFile {
        path: path.to_path_buf(),
        names: Vec::new(),
        arrays: Vec::new(),
    };
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < 8 {
            // Trailing padding after the last element is harmless.
            if rest.iter().all(|&b| b == 0) {
                break;
            }
            return Err(err(format!("truncated data element tag at byte {pos}")));
        }
        let (ty, n) = (endian.u32(&rest[0..4]), endian.u32(&rest[4..8]) as usize);
        if ty >> 16 != 0 {
            // A small element at top level: 8 bytes, nothing we read.
            pos += 8;
            continue;
        }
        let Some(body) = rest.get(8..).and_then(|r| r.get(..n)) else {
            return Err(err(format!(
                "truncated: the data element at byte {pos} claims {n} bytes but {} remain",
                rest.len().saturating_sub(8)
            )));
        };
        match ty {
            MI_MATRIX => {
                if let Some(m) = matrix(endian, body, pos + 8).map_err(err)? {
                    file.names.push(m.name.clone());
                    if wanted.contains(&m.name.as_str()) {
                        let data = m.owned_data(endian, body).map_err(err)?;
                        file.arrays.push(m.into_array(data));
                    }
                }
            }
            MI_COMPRESSED => {
                let inner = inflate_element(body, endian, MAX_ELEMENT_BYTES)
                    .map_err(|why| err(format!("compressed element at byte {pos}: {why}")))?;
                if let Some(m) = matrix(endian, &inner[8..], pos).map_err(err)? {
                    file.names.push(m.name.clone());
                    if wanted.contains(&m.name.as_str()) {
                        let values = m.owned_data_from(endian, inner, 8).map_err(err)?;
                        file.arrays.push(m.into_array(values));
                    }
                }
            }
            _ => {}
        }
        pos += 8 + n;
    }
    Ok(file)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }

    fn u16(self, b: &[u8]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes([b[0], b[1]]),
            Endian::Big => u16::from_be_bytes([b[0], b[1]]),
        }
    }
}

/// Check the 128-byte header; return the byte order.
fn header(bytes: &[u8]) -> Result<Endian, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "{} bytes, too short for the 128-byte MAT-file header (truncated?)",
            bytes.len()
        ));
    }
    if bytes.starts_with(b"MATLAB 7.3") || bytes[HEADER_LEN..].starts_with(b"\x89HDF") {
        return Err("a MATLAB 7.3 (HDF5) file; only level-5 MAT-files are supported".into());
    }
    let endian = match &bytes[126..128] {
        b"IM" => Endian::Little,
        b"MI" => Endian::Big,
        other => {
            return Err(format!(
                "not a level-5 MAT-file (endian indicator {:?}, expected \"IM\" or \"MI\")",
                String::from_utf8_lossy(other)
            ))
        }
    };
    if !bytes.starts_with(b"MATLAB") {
        return Err("not a MAT-file (the header text does not start with \"MATLAB\")".into());
    }
    let version = endian.u16(&bytes[124..126]);
    if version != 0x0100 {
        return Err(format!(
            "unsupported MAT-file version 0x{version:04x} (expected 0x0100)"
        ));
    }
    Ok(endian)
}

/// A parsed miMATRIX header: where its real part lies in the body.
struct Matrix {
    name: String,
    class: MatClass,
    dims: Vec<usize>,
    count: usize,
    complex: bool,
    /// Data type and byte range of the real part, relative to the body.
    real: Option<(u32, std::ops::Range<usize>)>,
    /// Offset of the body in the file (for messages).
    at: usize,
}

impl Matrix {
    fn into_array(self, data: MatData) -> MatArray {
        MatArray {
            name: self.name,
            class: self.class,
            dims: self.dims,
            data,
        }
    }

    fn check(&self) -> Result<(u32, std::ops::Range<usize>), String> {
        let name = &self.name;
        if !self.class.is_numeric() {
            return Err(format!(
                "variable `{name}` is a {:?} array, expected a numeric one",
                self.class
            ));
        }
        if self.complex {
            return Err(format!(
                "variable `{name}` is complex; only real arrays are supported"
            ));
        }
        let (ty, range) = self
            .real
            .clone()
            .ok_or_else(|| format!("variable `{name}` has no data"))?;
        let size = elem_size(ty)
            .ok_or_else(|| format!("variable `{name}` stores its data as unsupported type {ty}"))?;
        let have = range.len() / size;
        if range.len() % size != 0 || have != self.count {
            return Err(format!(
                "variable `{name}` (at byte {}) has {have} values of type {ty} but its dimensions {:?} imply {}",
                self.at, self.dims, self.count
            ));
        }
        Ok((ty, range))
    }

    /// The values, copied out of `body`.
    fn owned_data(&self, endian: Endian, body: &[u8]) -> Result<MatData, String> {
        let (ty, range) = self.check()?;
        Ok(match ty {
            MI_UINT8 => MatData::U8(body[range].to_vec()),
            _ => MatData::F64(decode(endian, ty, &body[range])),
        })
    }

    /// The values out of `buf`, in which the body starts at `offset`; `miUINT8`
    /// data reuse `buf` instead of being copied.
    fn owned_data_from(
        &self,
        endian: Endian,
        mut buf: Vec<u8>,
        offset: usize,
    ) -> Result<MatData, String> {
        let (ty, range) = self.check()?;
        let range = range.start + offset..range.end + offset;
        Ok(match ty {
            MI_UINT8 => {
                buf.truncate(range.end);
                buf.drain(..range.start);
                MatData::U8(buf)
            }
            _ => MatData::F64(decode(endian, ty, &buf[range])),
        })
    }
}

/// Decode `raw`, data of type `ty` (any numeric type but `miUINT8`), to f64.
fn decode(endian: Endian, ty: u32, raw: &[u8]) -> Vec<f64> {
    let size = elem_size(ty).unwrap_or(1);
    let f = |c: &[u8]| -> f64 {
        let mut b = [0u8; 8];
        b[..size].copy_from_slice(c);
        if endian == Endian::Big {
            b[..size].reverse();
        }
        match ty {
            MI_INT8 => f64::from(b[0] as i8),
            MI_UINT8 => f64::from(b[0]),
            MI_INT16 => f64::from(i16::from_le_bytes([b[0], b[1]])),
            MI_UINT16 => f64::from(u16::from_le_bytes([b[0], b[1]])),
            MI_INT32 => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            MI_UINT32 => f64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            MI_SINGLE => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            MI_DOUBLE => f64::from_le_bytes(b),
            MI_INT64 => i64::from_le_bytes(b) as f64,
            MI_UINT64 => u64::from_le_bytes(b) as f64,
            _ => f64::NAN,
        }
    };
    raw.chunks_exact(size).map(f).collect()
}

fn elem_size(ty: u32) -> Option<usize> {
    match ty {
        MI_INT8 | MI_UINT8 => Some(1),
        MI_INT16 | MI_UINT16 => Some(2),
        MI_INT32 | MI_UINT32 | MI_SINGLE => Some(4),
        MI_DOUBLE | MI_INT64 | MI_UINT64 => Some(8),
        _ => None,
    }
}

/// One sub-element of a matrix: its type and byte range within `body`; advances `pos`.
fn sub_element(
    endian: Endian,
    body: &[u8],
    pos: &mut usize,
    at: usize,
) -> Result<(u32, std::ops::Range<usize>), String> {
    let start = *pos;
    let tag = body.get(start..start + 8).ok_or_else(|| {
        format!("matrix at byte {at} is truncated: no room for a sub-element tag at offset {start}")
    })?;
    let word = endian.u32(&tag[0..4]);
    if word >> 16 != 0 {
        // Small data element: type in the low half, byte count in the high half.
        let (ty, n) = (word & 0xffff, (word >> 16) as usize);
        if n > 4 {
            return Err(format!(
                "matrix at byte {at}: small data element at offset {start} claims {n} bytes (at most 4)"
            ));
        }
        *pos = start + 8;
        return Ok((ty, start + 4..start + 4 + n));
    }
    let n = endian.u32(&tag[4..8]) as usize;
    let data = start + 8;
    let end = data
        .checked_add(n)
        .filter(|&e| e <= body.len())
        .ok_or_else(|| {
            format!(
                "matrix at byte {at} is truncated: a sub-element at offset {start} claims {n} bytes \
                 but {} remain",
                body.len().saturating_sub(data)
            )
        })?;
    *pos = data + n.div_ceil(8) * 8;
    Ok((word, data..end))
}

/// Parse a miMATRIX body (after its tag); `None` for an empty matrix element.
fn matrix(endian: Endian, body: &[u8], at: usize) -> Result<Option<Matrix>, String> {
    if body.is_empty() {
        return Ok(None);
    }
    let mut pos = 0;
    let (ty, flags) = sub_element(endian, body, &mut pos, at)?;
    if ty != MI_UINT32 || flags.len() != 8 {
        return Err(format!(
            "matrix at byte {at}: array flags are type {ty}, {} bytes (expected miUINT32, 8 bytes)",
            flags.len()
        ));
    }
    let word = endian.u32(&body[flags.start..flags.start + 4]);
    let class = MatClass::from_code((word & 0xff) as u8);
    let complex = word & 0x800 != 0;
    let (ty, dims_range) = sub_element(endian, body, &mut pos, at)?;
    if ty != MI_INT32 || dims_range.len() % 4 != 0 || dims_range.len() < 8 {
        return Err(format!(
            "matrix at byte {at}: dimensions are type {ty}, {} bytes (expected miINT32, at least 2)",
            dims_range.len()
        ));
    }
    let dims: Vec<usize> = body[dims_range]
        .chunks_exact(4)
        .map(|c| endian.u32(c) as i32)
        .map(|d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect();
    if dims.contains(&usize::MAX) {
        return Err(format!(
            "matrix at byte {at}: negative dimension in {dims:?}"
        ));
    }
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("matrix at byte {at}: dimensions {dims:?} overflow"))?;
    let (ty, name_range) = sub_element(endian, body, &mut pos, at)?;
    if ty != MI_INT8 && ty != MI_UINT8 {
        return Err(format!(
            "matrix at byte {at}: array name is type {ty} (expected miINT8)"
        ));
    }
    let name = String::from_utf8_lossy(&body[name_range]).into_owned();
    let real = if class.is_numeric() && pos < body.len() {
        Some(sub_element(endian, body, &mut pos, at)?)
    } else {
        None
    };
    Ok(Some(Matrix {
        name,
        class,
        dims,
        count,
        complex,
        real,
        at,
    }))
}

/// Inflate `src`, the zlib stream of a compressed element, which holds one
/// miMATRIX element: first its tag, then only as many bytes as the tag says (at
/// most `limit`), so a stream that inflates to far more (a zlib bomb) is refused
/// once that much is out, and nothing is reserved that the stream has not
/// produced. Returns the element, tag included; an error if the stream is
/// corrupt, ends early or holds more than a little beyond the element.
fn inflate_element(src: &[u8], endian: Endian, limit: usize) -> Result<Vec<u8>, String> {
    // Decoded bytes past the element that are tolerated (and dropped), as a
    // reader that inflates the whole stream first (scipy's) would ignore them.
    const SLACK: usize = 1 << 20;
    let mut z = Inflater {
        d: Decompress::new(true),
        src,
    };
    let mut out = Vec::new();
    z.fill(&mut out, 8)?;
    if out.len() < 8 {
        return Err(format!("holds {} bytes, less than a tag", out.len()));
    }
    let (ty, n) = (endian.u32(&out[0..4]), endian.u32(&out[4..8]) as usize);
    if ty != MI_MATRIX {
        return Err(format!("holds data type {ty}, expected miMATRIX (14)"));
    }
    if n > limit {
        return Err(format!(
            "its matrix claims {n} bytes, more than the {limit} an element may have"
        ));
    }
    let ended = z.fill(&mut out, 8 + n + SLACK)?;
    if out.len() < 8 + n {
        return Err(format!(
            "is truncated: its matrix claims {n} bytes but {} were decompressed",
            out.len() - 8
        ));
    }
    if !ended {
        return Err(format!(
            "inflates to more than the {n} bytes its matrix claims (damaged?)"
        ));
    }
    out.truncate(8 + n);
    Ok(out)
}

/// A zlib stream being inflated from a slice.
struct Inflater<'a> {
    d: Decompress,
    src: &'a [u8],
}

impl Inflater<'_> {
    /// Inflate onto `out` until it holds `upto` bytes or the stream ends;
    /// whether it ended. `out` grows geometrically as the stream fills it, never
    /// past `upto`.
    fn fill(&mut self, out: &mut Vec<u8>, upto: usize) -> Result<bool, String> {
        while out.len() < upto {
            let start = out.len();
            out.resize(upto.min(start + start.max(1 << 16)), 0);
            let (i0, o0) = (self.d.total_in(), self.d.total_out());
            let rest = &self.src[(i0 as usize).min(self.src.len())..];
            let status = self
                .d
                .decompress(rest, &mut out[start..], FlushDecompress::None);
            let written = (self.d.total_out() - o0) as usize;
            out.truncate(start + written);
            if status.map_err(|e| format!("corrupt zlib data ({e})"))? == Status::StreamEnd {
                return Ok(true);
            }
            if written == 0 && self.d.total_in() == i0 {
                return Err(if rest.is_empty() {
                    format!(
                        "truncated zlib stream (ended after {} compressed bytes)",
                        self.src.len()
                    )
                } else {
                    "corrupt zlib data (no progress)".to_string()
                });
            }
        }
        Ok(false)
    }
}
