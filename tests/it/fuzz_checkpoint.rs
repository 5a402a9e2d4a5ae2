//! Checkpoints are read from disk on every resume: a damaged or hostile file
//! (flipped bytes, a truncated tail, a header that claims more than the file
//! holds) gives an error of one line or a correct value, never a panic, and
//! nothing is allocated beyond what the file holds.

use std::collections::HashMap;

use conflicting_bundles::train::checkpoint;
use proptest::prelude::*;

/// A small valid checkpoint: two tensors and a progress record.
fn valid() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    let tensors = vec![
        ("w".to_string(), vec![1.0f32, -2.0, 3.5]),
        ("ranger/m".to_string(), vec![0.25f32; 5]),
    ];
    let meta = HashMap::from([("report".to_string(), "{\"epochs\":[]}".to_string())]);
    checkpoint::save(&path, &tensors, meta).unwrap();
    std::fs::read(path).unwrap()
}

fn load(bytes: &[u8]) -> anyhow::Result<checkpoint::Contents> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.safetensors");
    std::fs::write(&path, bytes).unwrap();
    checkpoint::load(&path)
}

fn check(bytes: &[u8]) {
    match load(bytes) {
        Ok((tensors, _)) => {
            // Whatever loads is what the file holds: no more values than bytes.
            let values: usize = tensors.values().map(Vec::len).sum();
            assert!(values * 4 <= bytes.len());
        }
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }
}

#[test]
fn the_valid_file_loads() {
    let (t, meta) = load(&valid()).unwrap();
    assert_eq!(t["w"], vec![1.0, -2.0, 3.5]);
    assert!(meta.contains_key("report"));
}

#[test]
fn a_header_longer_than_the_file_is_refused() {
    let mut bytes = valid();
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(load(&bytes).is_err());
    assert!(load(&(1u64 << 40).to_le_bytes()).is_err());
    assert!(load(&[]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn damaged_checkpoints_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = valid();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        check(&bytes);
    }
}
