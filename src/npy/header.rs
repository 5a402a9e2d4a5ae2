//! The `.npy` preamble and header: magic, version, header length, and the
//! Python dict literal `{'descr': ..., 'fortran_order': ..., 'shape': ...}`.
//!
//! Parsed here rather than by a general Python-literal parser so that a
//! hostile file costs bounded work: the header is at most [`MAX_HEADER_LEN`]
//! bytes, read only after its declared length is checked, and parsed in one
//! pass with nesting at most [`MAX_DEPTH`] deep.

use std::io::{self, Read};

/// Largest header accepted, in bytes: numpy's own default `max_header_size`
/// for `np.load` (headers it writes for plain dtypes are ~128 bytes).
pub const MAX_HEADER_LEN: usize = 10_000;

/// Deepest nesting of brackets in the header. A plain dtype needs 2 (dict,
/// shape tuple); structured dtypes a few more.
pub const MAX_DEPTH: usize = 32;

/// Most dimensions a shape may have (numpy 2's `NPY_MAXDIMS`).
pub const MAX_DIMS: usize = 64;

/// Characters of file content an error message quotes before `...`.
const QUOTE_LEN: usize = 80;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Why a header could not be read: the file, or what it says.
#[derive(Debug)]
pub enum Problem {
    Io(io::Error),
    Format(String),
}

impl From<io::Error> for Problem {
    fn from(e: io::Error) -> Self {
        Problem::Io(e)
    }
}

fn bad<T>(reason: impl Into<String>) -> Result<T, Problem> {
    Err(Problem::Format(reason.into()))
}

/// Byte order of a dtype's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

/// A dtype given by a type string such as `<f4`: kind character and width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plain {
    pub endian: Endian,
    pub kind: char,
    pub size: usize,
}

/// The `descr` entry: a plain type string, or anything else (a structured
/// dtype, an unknown string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Descr {
    Plain(Plain),
    Other,
}

/// What a header says about the array that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub descr: Descr,
    /// The descr as written, clipped by [`quote`], for error messages.
    pub descr_text: String,
    /// The dtype for listings: a type string without its quotes (`<f4`),
    /// anything else as [`Header::descr_text`]; clipped likewise.
    pub dtype: String,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Bytes from the start of the file to the first value.
    pub data_offset: u64,
}

/// Reads the preamble and header, leaving `r` at the first value.
pub fn read(r: &mut impl Read) -> Result<Header, Problem> {
    let (header_len, len_bytes) = preamble(r)?;
    let mut text = vec![0u8; header_len];
    let got = read_up_to(r, &mut text)?;
    if got < header_len {
        return bad(format!(
            "header truncated: {header_len} bytes declared, {got} present"
        ));
    }
    let mut header = parse(&text)?;
    header.data_offset = (MAGIC.len() + 2 + len_bytes + header_len) as u64;
    Ok(header)
}

/// Magic and version, then the header length (checked against
/// [`MAX_HEADER_LEN`] before anything is allocated for it) and the width of
/// its length field.
fn preamble(r: &mut impl Read) -> Result<(usize, usize), Problem> {
    let mut start = [0u8; 8];
    let got = read_up_to(r, &mut start)?;
    if got < MAGIC.len() || &start[..MAGIC.len()] != MAGIC {
        return bad("no \\x93NUMPY magic at the start");
    }
    if got < start.len() {
        return bad("file ends inside the preamble");
    }
    let (major, minor) = (start[6], start[7]);
    let len_bytes = match major {
        1 => 2,
        2 | 3 => 4,
        _ => return bad(format!("unsupported format version {major}.{minor}")),
    };
    let mut len = [0u8; 4];
    if read_up_to(r, &mut len[..len_bytes])? < len_bytes {
        return bad("file ends inside the header length");
    }
    let header_len = u32::from_le_bytes(len) as usize;
    if header_len > MAX_HEADER_LEN {
        return bad(format!(
            "header of {header_len} bytes is over the {MAX_HEADER_LEN}-byte limit \
             (numpy's default max_header_size)"
        ));
    }
    Ok((header_len, len_bytes))
}

/// Fills as much of `buf` as the reader has, returning how much that was.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Interprets the header text (after the length field). `data_offset` is
/// left 0 for the caller.
pub fn parse(text: &[u8]) -> Result<Header, Problem> {
    let mut p = Parser { src: text, pos: 0 };
    let dict = p.value(0)?;
    p.skip_space();
    if p.pos < text.len() {
        return p.fail("unexpected text after the header dict");
    }
    let Literal::Dict(entries) = dict else {
        return bad(format!("header is not a dict: {}", quote(text)));
    };
    let entry = |key: &str| entries.iter().find(|(k, _, _)| k == key);
    let (
        Some((_, descr, descr_text)),
        Some((_, fortran_order, fortran_text)),
        Some((_, shape, shape_text)),
        3,
    ) = (
        entry("descr"),
        entry("fortran_order"),
        entry("shape"),
        entries.len(),
    )
    else {
        return bad(format!(
            "header must have exactly the keys descr, fortran_order, shape: {}",
            quote(text)
        ));
    };
    let Literal::Bool(fortran_order) = *fortran_order else {
        return bad(format!(
            "fortran_order is not True or False: {}",
            quote(fortran_text)
        ));
    };
    Ok(Header {
        descr: match descr {
            Literal::Str(s) => plain(s).map_or(Descr::Other, Descr::Plain),
            _ => Descr::Other,
        },
        descr_text: quote(descr_text),
        dtype: match descr {
            Literal::Str(s) => quote(s.as_bytes()),
            _ => quote(descr_text),
        },
        fortran_order,
        shape: shape_of(shape, shape_text)?,
        data_offset: 0,
    })
}

/// `<f4`, `>i8`, `|u1`, ...: byte order, kind, width in bytes. `|` (order
/// irrelevant) and `=` (native) mean this machine's order.
fn plain(s: &str) -> Option<Plain> {
    let mut chars = s.chars();
    let endian = match chars.next()? {
        '<' => Endian::Little,
        '>' => Endian::Big,
        '|' | '=' if cfg!(target_endian = "little") => Endian::Little,
        '|' | '=' => Endian::Big,
        _ => return None,
    };
    let kind = chars.next()?;
    let digits = chars.as_str();
    if !kind.is_ascii_alphabetic() || digits.is_empty() || digits.len() > 3 {
        return None;
    }
    let size = digits.parse().ok()?;
    Some(Plain { endian, kind, size })
}

fn shape_of(value: &Literal, text: &[u8]) -> Result<Vec<u64>, Problem> {
    let Literal::Tuple(dims) = value else {
        return bad(format!("shape is not a tuple: {}", quote(text)));
    };
    if dims.len() > MAX_DIMS {
        return bad(format!(
            "shape has {} dimensions, more than {MAX_DIMS}",
            dims.len()
        ));
    }
    dims.iter()
        .map(|d| match d {
            Literal::Int(i) if (0..=u64::MAX as i128).contains(i) => Ok(*i as u64),
            _ => bad(format!(
                "shape entries must be integers >= 0: {}",
                quote(text)
            )),
        })
        .collect()
}

/// A clipped, escaped excerpt of file content for an error message: at most
/// [`QUOTE_LEN`] characters, control characters escaped so that the message
/// stays one line, `...` when cut.
pub fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for c in text.chars().take(QUOTE_LEN) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if text.chars().nth(QUOTE_LEN).is_some() {
        out.push_str("...");
    }
    out
}

/// The Python literals a header may hold. Dict entries keep their value's
/// source text for error messages; list items are checked, not kept (no
/// header entry this reader uses is a list).
#[derive(Debug)]
enum Literal {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List,
    Dict(Vec<(String, Literal, Vec<u8>)>),
}

/// One pass over the header text; every byte is looked at a bounded number
/// of times, and recursion stops at [`MAX_DEPTH`].
struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn fail<T>(&self, what: &str) -> Result<T, Problem> {
        bad(format!(
            "malformed header: {what} at byte {}: {}",
            self.pos,
            quote(&self.src[self.pos.min(self.src.len())..])
        ))
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, Problem> {
        self.skip_space();
        match self.peek() {
            Some(b'{' | b'(' | b'[') if depth >= MAX_DEPTH => {
                self.fail(&format!("brackets nested more than {MAX_DEPTH} deep"))
            }
            Some(b'{') => self.dict(depth + 1),
            Some(b'(') => self.seq(b')', depth + 1).map(Literal::Tuple),
            Some(b'[') => self.seq(b']', depth + 1).map(|_| Literal::List),
            Some(q @ (b'\'' | b'"')) => self.string(q).map(Literal::Str),
            Some(c) if c == b'-' || c == b'+' || c.is_ascii_digit() => self.int(),
            Some(c) if c.is_ascii_alphabetic() => self.word(),
            Some(_) => self.fail("unexpected character"),
            None => self.fail("header ends where a value should be"),
        }
    }

    /// Comma-separated values up to `close`, a trailing comma allowed. The
    /// opening bracket is at `pos`.
    fn seq(&mut self, close: u8, depth: usize) -> Result<Vec<Literal>, Problem> {
        self.pos += 1;
        let mut items = Vec::new();
        while !self.closes(close)? {
            items.push(self.value(depth)?);
            self.comma_or(close)?;
        }
        Ok(items)
    }

    fn dict(&mut self, depth: usize) -> Result<Literal, Problem> {
        self.pos += 1;
        let mut entries: Vec<(String, Literal, Vec<u8>)> = Vec::new();
        while !self.closes(b'}')? {
            let Literal::Str(key) = self.value(depth)? else {
                return self.fail("dict key is not a string");
            };
            if entries.iter().any(|(k, _, _)| *k == key) {
                return self.fail("duplicate dict key");
            }
            self.skip_space();
            if self.peek() != Some(b':') {
                return self.fail("expected ':'");
            }
            self.pos += 1;
            self.skip_space();
            let start = self.pos;
            let value = self.value(depth)?;
            entries.push((key, value, self.src[start..self.pos].to_vec()));
            self.comma_or(b'}')?;
        }
        Ok(Literal::Dict(entries))
    }

    /// Skips space; consumes `close` and says so if it is next.
    fn closes(&mut self, close: u8) -> Result<bool, Problem> {
        self.skip_space();
        match self.peek() {
            Some(c) if c == close => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => self.fail(&format!("header ends before '{}'", close as char)),
        }
    }

    /// After an item: a comma, or the closing bracket (left for `closes`).
    fn comma_or(&mut self, close: u8) -> Result<(), Problem> {
        self.skip_space();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(())
            }
            Some(c) if c == close => Ok(()),
            _ => self.fail(&format!("expected ',' or '{}'", close as char)),
        }
    }

    /// A quoted string; backslash escapes the next character.
    fn string(&mut self, quote_char: u8) -> Result<String, Problem> {
        self.pos += 1;
        let mut bytes = Vec::new();
        loop {
            match self.peek() {
                None => return self.fail("unterminated string"),
                Some(c) if c == quote_char => break,
                Some(b'\\') if self.pos + 1 < self.src.len() => {
                    bytes.push(self.src[self.pos + 1]);
                    self.pos += 2;
                }
                Some(c) => {
                    bytes.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A decimal integer; Python 2's `L` suffix (old numpy headers) allowed.
    fn int(&mut self) -> Result<Literal, Problem> {
        let negative = self.peek() == Some(b'-');
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        let digits_start = self.pos;
        let mut magnitude: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            magnitude = match magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(c - b'0')))
            {
                Some(m) => m,
                None => return self.fail("integer larger than 2^64 - 1"),
            };
            self.pos += 1;
        }
        if self.pos == digits_start {
            return self.fail("expected digits");
        }
        if matches!(self.peek(), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        let value = i128::from(magnitude);
        Ok(Literal::Int(if negative { -value } else { value }))
    }

    fn word(&mut self) -> Result<Literal, Problem> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.pos += 1;
        }
        match &self.src[start..self.pos] {
            b"True" => Ok(Literal::Bool(true)),
            b"False" => Ok(Literal::Bool(false)),
            b"None" => Ok(Literal::None),
            _ => {
                self.pos = start;
                self.fail("unknown name")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(dict: &str) -> Result<Header, Problem> {
        parse(dict.as_bytes())
    }

    fn reason(r: Result<Header, Problem>) -> String {
        match r {
            Err(Problem::Format(s)) => s,
            other => panic!("expected a format problem, got {other:?}"),
        }
    }

    #[test]
    fn reads_what_numpy_writes() {
        let h =
            header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }      \n").unwrap();
        let want = Plain {
            endian: Endian::Little,
            kind: 'f',
            size: 4,
        };
        assert_eq!(h.descr, Descr::Plain(want));
        assert_eq!((h.fortran_order, h.shape), (false, vec![3, 4]));
        let h = header("{\"shape\": (5L,), \"fortran_order\": True, \"descr\": \">i8\"}").unwrap();
        assert_eq!(h.shape, vec![5]);
        assert!(h.fortran_order);
        assert_eq!(h.descr_text, "\">i8\"");
        assert_eq!(
            header("{'descr': '<f8', 'fortran_order': False, 'shape': ()}")
                .unwrap()
                .shape,
            Vec::<u64>::new()
        );
    }

    #[test]
    fn structured_dtypes_are_kept_as_text() {
        let h = header(
            "{'descr': [('a', '<f4', (2, 3)), ('b', '|u1')], 'fortran_order': False, 'shape': (2,)}",
        )
        .unwrap();
        assert_eq!(h.descr, Descr::Other);
        assert_eq!(h.descr_text, "[('a', '<f4', (2, 3)), ('b', '|u1')]");
    }

    #[test]
    fn deep_nesting_is_refused_quickly() {
        let deep = format!(
            "{{'descr': {}'<f4'{}, 'fortran_order': False, 'shape': (1,)}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let t = std::time::Instant::now();
        let r = reason(header(&deep));
        assert!(r.contains("nested more than 32 deep"), "{r}");
        assert!(t.elapsed().as_secs_f64() < 1.0);
        assert!(r.len() < 200, "{r}");
    }

    #[test]
    fn bad_headers_are_one_line_errors() {
        let cases = [
            ("", "header ends"),
            (
                "{'descr': '<f4', 'fortran_order': False}",
                "exactly the keys",
            ),
            (
                "{'descr': '<f4', 'descr': '<f4', 'shape': (1,)}",
                "duplicate dict key",
            ),
            (
                "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
                "fortran_order",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
                "not a tuple",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
                ">= 0",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
                "larger than 2^64",
            ),
            ("{'descr': '<f4' 'fortran_order': False}", "expected ','"),
            ("{'descr': '<f4\n", "unterminated string"),
            ("{'descr': nan}", "unknown name"),
            ("[1, 2] junk", "unexpected text"),
            ("(1,)", "not a dict"),
        ];
        for (text, needle) in cases {
            let r = reason(header(text));
            assert!(r.contains(needle), "{text:?}: {r}");
            assert!(!r.contains('\n'), "{r}");
        }
    }

    #[test]
    fn quotes_are_clipped_and_escaped() {
        let q = quote(&[b'x'; 5000]);
        assert_eq!(q, format!("{}...", "x".repeat(80)));
        assert_eq!(quote(b"a\nb"), "a\\nb");
    }

    #[test]
    fn preamble_limits_the_header_before_reading_it() {
        let mut file = b"\x93NUMPY\x02\x00".to_vec();
        file.extend(u32::MAX.to_le_bytes());
        let r = match read(&mut &file[..]) {
            Err(Problem::Format(s)) => s,
            other => panic!("{other:?}"),
        };
        assert!(
            r.contains("4294967295 bytes is over the 10000-byte limit"),
            "{r}"
        );
        for short in [&b"\x93NUM"[..], b"\x93NUMPY\x01", b"\x93NUMPY\x01\x00\x10"] {
            assert!(matches!(read(&mut &short[..]), Err(Problem::Format(_))));
        }
        let mut v9 = b"\x93NUMPY\x09\x00".to_vec();
        v9.extend([0, 0]);
        assert!(matches!(read(&mut &v9[..]), Err(Problem::Format(s)) if s.contains("version 9.0")));
    }
}
