//! Byte mutations for the fuzz tests of file readers: a flipped byte, a
//! truncation, inserted bytes, and one mutation of the caller's own that
//! aims at its format (tokens spliced into a `.npy` header, size-like words
//! written over a zip's or a safetensors file's sizes and offsets).

use proptest::prelude::*;

#[derive(Debug, Clone)]
pub enum Mutation<X> {
    Flip(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
    /// The format's own mutation, applied by the caller's function.
    Aimed(X),
}

/// Any of the three generic mutations, or one drawn from `aimed`.
pub fn mutation<X: Clone + std::fmt::Debug>(
    aimed: impl Strategy<Value = X> + 'static,
) -> impl Strategy<Value = Mutation<X>> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        (at(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        at().prop_map(Mutation::Truncate),
        (at(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        aimed.prop_map(Mutation::Aimed),
    ]
}

/// Applies `m` to `bytes` (nothing to an empty file); `aimed` applies the
/// format's own mutation to a non-empty file.
pub fn apply<X>(bytes: &mut Vec<u8>, m: &Mutation<X>, aimed: impl Fn(&mut Vec<u8>, &X)) {
    if bytes.is_empty() {
        return;
    }
    match m {
        Mutation::Flip(i, x) => {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::Insert(i, b) => {
            let i = i.index(bytes.len());
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Aimed(x) => aimed(bytes, x),
    }
}
