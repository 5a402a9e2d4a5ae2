//! SHA-256 of decompressed content, compared against the catalogue.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::{DataError, Hint};

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
