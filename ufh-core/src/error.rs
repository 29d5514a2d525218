//! Errors of the hash configuration.

use crate::FloatFormat;

/// An invalid hash configuration, found when it is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The number of kept mantissa bits is outside what the float format holds.
    #[error("mantissa bits {bits} out of range for {format}: expected 1..={max}")]
    MantissaBitsOutOfRange {
        /// The float format the bits were checked against.
        format: FloatFormat,
        /// The rejected number of bits.
        bits: u32,
        /// The largest valid number of bits for `format`.
        max: u32,
    },
    /// A hash spec needs at least one canonical example.
    #[error("number of canonical examples must be at least 1, got {0}")]
    NoExamples(usize),
    /// A hash spec needs at least one seed.
    #[error("a hash spec needs at least one seed, got none")]
    NoSeeds,
    /// The same seed appears twice, which would only repeat work.
    #[error("seed {seed} appears twice in the hash spec (positions {first} and {second})")]
    DuplicateSeed {
        /// The repeated seed.
        seed: u64,
        /// Index of its first occurrence.
        first: usize,
        /// Index of its second occurrence.
        second: usize,
    },
    /// [`Framing::Bare`](crate::Framing::Bare) delimits no runs, so it takes
    /// exactly one seed.
    #[error("a bare hash spec (no count after each run) takes exactly one seed, got {0}")]
    BareNeedsOneSeed(usize),
    /// A hexadecimal hash could not be parsed.
    #[error("invalid functional hash {text:?}: expected {digits} hexadecimal digits")]
    InvalidHex {
        /// The rejected text.
        text: String,
        /// How many hex digits were expected.
        digits: usize,
    },
}
