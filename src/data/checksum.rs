//! SHA-256 of content and files, compared against the catalogue. Every file
//! of every dataset has one (see [`super::kind`]), so no other digest is kept.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::error::{one_line, DataError, Hint};
use super::idx::file_is_gzip;

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Length and lower-case hex SHA-256 of everything `reader` yields.
pub fn sha256_reader(mut reader: impl Read) -> std::io::Result<(u64, String)> {
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hex(&sha.finalize())))
}

/// Length and lower-case hex SHA-256 of a file.
pub fn file_sha256(path: &Path) -> std::io::Result<(u64, String)> {
    sha256_reader(File::open(path)?)
}

/// Length and SHA-256 of a file's content: decompressed if it is gzip (by its
/// magic bytes), as is otherwise. At most `limit + 1` bytes of content are
/// hashed, so a longer (or endless) stream shows up as too long; a gzip stream
/// that is too long is still read on (up to 256 MiB more, discarded) so that
/// damage to it is reported as such. `Err` is one line.
pub fn content_sha256(path: &Path, limit: u64) -> Result<(u64, String), String> {
    const DRAIN: u64 = 256 << 20;
    let gzip = file_is_gzip(path).map_err(one_line)?;
    let file = File::open(path).map_err(one_line)?;
    if !gzip {
        return sha256_reader(file.take(limit + 1)).map_err(one_line);
    }
    let corrupt = |e: std::io::Error| format!("corrupt or truncated gzip data ({})", one_line(e));
    let mut content = MultiGzDecoder::new(BufReader::new(file)).take(limit + 1);
    let (len, sha) = sha256_reader(&mut content).map_err(corrupt)?;
    if len > limit {
        std::io::copy(&mut content.into_inner().take(DRAIN), &mut std::io::sink())
            .map_err(corrupt)?;
    }
    Ok((len, sha))
}

/// Check that `content` (already decompressed) hashes to `expected`; `path` names
/// the file in the error.
pub fn verify_sha256(path: &Path, content: &[u8], expected: &str) -> Result<(), DataError> {
    let actual = sha256_hex(content);
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_ascii_lowercase(),
            actual,
            hint: Hint::none(),
        })
    }
}
