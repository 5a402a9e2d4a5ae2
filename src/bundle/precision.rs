//! The float format resolution mode computes and compares in.
//!
//! The paper's argument is about f32 resolution; training today also runs in
//! bf16 and f16. In a format `F` the mapping of resolution mode is
//!
//! ```text
//! v = R(R(w) - R(R(R(lr) * R(a)) / R(bs)))
//! ```
//!
//! where `R` rounds to the nearest value of `F`, ties to even (values beyond
//! `F`'s largest finite one become ±Inf, tiny ones subnormal or ±0): every
//! input is first rounded to `F`, then every step's result. Each step is
//! computed in f32 and then rounded to `F`: for inputs that `F` represents
//! that is the correctly rounded `F` result, because f32 carries at least
//! `p + 2` more significand bits than `F`'s `p` (11 for f16, 8 for bf16) in
//! every binade the results can land in, so the double rounding is innocuous
//! (Figueroa, "When is double rounding innocuous?", 1995). For f32, `R` is
//! the identity and the mapping is the paper's.
//!
//! A finite f32 activation that `F` cannot hold (|a| > 65504 in f16) maps to
//! ±Inf like every other such activation of that sign: at that resolution
//! they are equal. Only activations that are NaN or ±Inf in the input count
//! as non-finite.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A float format of resolution mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// IEEE binary32 (24 significand bits): the paper's setting.
    #[default]
    F32,
    /// IEEE binary16 (11 significand bits, largest finite value 65504).
    F16,
    /// bfloat16 (8 significand bits, f32's exponent range).
    Bf16,
}

impl Precision {
    /// Every format, widest first.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F16, Precision::Bf16];

    /// Its name as the CLI and the reports write it.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// Significand bits, the implicit one included.
    pub fn significand_bits(self) -> u32 {
        match self {
            Precision::F32 => 24,
            Precision::F16 => 11,
            Precision::Bf16 => 8,
        }
    }

    /// The spacing of the format's values just above 1.0 (machine epsilon).
    pub fn epsilon(self) -> f64 {
        (2.0f64).powi(1 - self.significand_bits() as i32)
    }

    /// `x` rounded to the nearest value of this format, ties to even,
    /// returned as the f32 that holds it exactly.
    #[inline(always)]
    pub fn round(self, x: f32) -> f32 {
        match self {
            Precision::F32 => x,
            Precision::F16 => F16::round(x),
            Precision::Bf16 => Bf16::round(x),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown precision '{s}': expected f32, f16 or bf16"))
    }
}

/// Rounding to one format as a type, so the bundling loop is compiled once
/// per format with the rounding inlined (and vanishing for f32).
pub(crate) trait Round {
    fn round(x: f32) -> f32;
}

pub(crate) struct F32;
pub(crate) struct F16;
pub(crate) struct Bf16;

impl Round for F32 {
    #[inline(always)]
    fn round(x: f32) -> f32 {
        x
    }
}

impl Round for F16 {
    #[inline(always)]
    fn round(x: f32) -> f32 {
        half::f16::from_f32(x).to_f32()
    }
}

impl Round for Bf16 {
    #[inline(always)]
    fn round(x: f32) -> f32 {
        half::bf16::from_f32(x).to_f32()
    }
}
