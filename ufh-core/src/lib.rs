//! Unified functional hashing (UFH): a fingerprint of what a candidate *computes*,
//! not of how it is written.
//!
//! A candidate of an AutoML search — a compute graph, a program, an expression tree —
//! runs on a small canonical set of inputs with its random number generator reset to
//! fixed seeds. The floating-point values it produces (its *hashable outputs*) are
//! truncated to `m` mantissa bits and mixed into one integer, the
//! [`FunctionalHash`]. Two candidates that compute the same function get the same
//! hash whatever their representation; a search can then skip re-evaluating one it
//! has already seen (the functional equivalence cache, in `ufh-search`).
//!
//! This crate holds only the hash: truncation, mixing, the streaming
//! [`FunctionalHasher`], the checked [`HashSpec`] and the [`HashableOutputs`] trait
//! through which any candidate emits its outputs. It knows nothing of search.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use ufh_core::{functional_hash, HashSpec, HashableOutputs, MantissaBits, Probe};
//!
//! /// y = a·x + b, evaluated on canonical inputs x = 0, 1, 2, …
//! struct Affine { a: f64, b: f64 }
//!
//! impl HashableOutputs for Affine {
//!     type Error = Infallible;
//!     fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Infallible> {
//!         for i in 0..probe.n_examples() {
//!             probe.push_f64(self.a * i as f64 + self.b);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let spec = HashSpec::new(MantissaBits::f64(24)?, 10, vec![0])?;
//! // 2x and (2 + 1e-12)x agree to 24 mantissa bits: the same function.
//! let a = functional_hash(&Affine { a: 2.0, b: 0.0 }, &spec).unwrap();
//! let b = functional_hash(&Affine { a: 2.0 + 1e-12, b: 0.0 }, &spec).unwrap();
//! let c = functional_hash(&Affine { a: 3.0, b: 0.0 }, &spec).unwrap();
//! assert_eq!(a, b);
//! assert_ne!(a, c);
//! # Ok::<(), ufh_core::HashError>(())
//! ```
//!
//! # Specification
//!
//! The hash is specified precisely enough to be reimplemented in another language;
//! the golden vectors in `tests/golden.rs` pin it down, and a change to any of them
//! is a deliberate, breaking change of the hash.
//!
//! **Truncation.** A float value of format F (binary64, binary32, binary16 or
//! bfloat16) with bit pattern `x` becomes one *canonical word* of F's width:
//!
//! 1. if `x` is a NaN (any sign, any payload), the word is F's canonical quiet NaN:
//!    `0x7FF8000000000000`, `0x7FC00000`, `0x7E00` or `0x7FC0` respectively;
//! 2. else the word is `x` with all but the top `k` mantissa bits cleared, where
//!    `k = min(m, mantissa width of F)` and the mantissa widths are 52, 23, 10 and 7;
//!    sign and exponent are kept, nothing is rounded;
//! 3. if that word is negative zero (sign bit alone) it becomes positive zero.
//!
//! Infinities keep their sign. `m` is a [`MantissaBits`], checked against the format
//! in which the candidate computes: 1..=52 (f64), 1..=23 (f32), 1..=10 (f16),
//! 1..=7 (bf16).
//!
//! **Integers.** An integer output (a predicted label) is not truncated: a `u64`
//! contributes its 8 bytes, a `u32` its 4.
//!
//! **Stream.** Each value contributes its canonical word's bytes in little-endian
//! order, in push order, to one byte stream. The type of a value is not written:
//! a candidate kind must push a fixed layout of types.
//!
//! **Mixing.** The 64-bit hash is XXH3-64 (`XXH3_64bits`, seed 0, default secret) of
//! the stream; the 128-bit hash is XXH3-128 (`XXH3_128bits`) of the same stream,
//! as specified by the xxHash project (version 0.8). XXH3 is fast (tens of GB/s),
//! has excellent avalanche behaviour and independent implementations in most
//! languages, which is why `ufh` mixes with it rather than with a home-made mixer.
//! Splitting the stream across calls never changes the hash; the order of values
//! always does.
//!
//! **Unified procedure.** [`functional_hash`] runs a [`HashableOutputs`] candidate
//! once per seed of the [`HashSpec`], in order; before each run the RNG is a fresh
//! `Xoshiro256PlusPlus::seed_from_u64(seed)` (rand_xoshiro); after each run the number
//! of values that run pushed is appended as a `u64`. A spec of one seed may be
//! [`Framing::Bare`]: then no count is appended, and the hash is that of the
//! outputs alone (what a setup that pushes a fixed layout of values, such as a
//! table's read-out, needs no delimiter for).
//!
//! # Design choices
//!
//! * The sign bit is kept (the reference NAS-Bench-101 code dropped it because
//!   accuracies are positive); losses and errors are signed.
//! * `-0.0` and `+0.0` hash equal and all NaNs hash equal, so that harmless
//!   differences in how a value was produced do not split a function in two.
//! * Hashing never allocates: values are staged in a fixed 256-byte buffer inside
//!   the hasher. Long f64 and f32 slices skip the buffer: an XXH3 loop of ufh's own
//!   reads the floats, truncates them in registers and accumulates them, with an
//!   AVX2 version chosen at run time on x86-64. Its output is exactly XXH3 of the
//!   canonical stream (tested against the `twox-hash` crate), so the specification
//!   above stays the whole truth.

#![deny(missing_docs)]

mod error;
mod format;
mod hasher;
mod truncate;
mod unified;
mod xxh3;

pub use error::HashError;
pub use format::{FloatFormat, MantissaBits};
pub use hasher::{
    Bits64, Bits128, FunctionalHash, FunctionalHash128, FunctionalHasher, HashWidth, OutputSink,
};
pub use truncate::{truncate_bf16_bits, truncate_f16_bits, truncate_f32, truncate_f64};
pub use unified::{
    Framing, FromFn, HashSpec, HashSpecConfig, HashableOutputs, Probe, functional_hash,
    functional_hash_128, functional_hash_with,
};
