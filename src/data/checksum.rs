//! Digests (SHA-256, MD5) of content and files, compared against the catalogue.

use std::io::Read;
use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::error::{DataError, Hint};

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Lower-case hex MD5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Length, SHA-256 and MD5 (lower-case hex) of a file, read in one pass.
pub fn file_digests(path: &Path) -> std::io::Result<(u64, String, String)> {
    let mut file = std::fs::File::open(path)?;
    let (mut sha, mut md5) = (Sha256::new(), Md5::new());
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hex(&sha.finalize()), hex(&md5.finalize())))
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
