//! The streaming functional hasher and the hash values it produces.

use std::fmt;
use std::str::FromStr;

use crate::truncate::{
    Masks, canonical_bf16, canonical_f16, canonical_f32, canonical_f64, write_bf16s, write_f16s,
    write_f32s, write_f64s,
};
use crate::xxh3::{Lanes, Xxh3};
use crate::{HashError, MantissaBits};

/// A 64-bit functional hash: the fingerprint of what a candidate computes.
///
/// Displayed and serialized as 16 lowercase hexadecimal digits, which survive JSON
/// and CSV readers that would round a large integer to a double.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionalHash(pub u64);

/// A 128-bit functional hash, for searches large enough that 64-bit collisions
/// matter (about 2^32 distinct functions for an even chance of one collision).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionalHash128(pub u128);

macro_rules! hash_text {
    ($ty:ident, $int:ty, $digits:expr) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:0width$x}", self.0, width = $digits)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($ty))
            }
        }

        impl FromStr for $ty {
            type Err = HashError;
            /// Parses exactly the digits that `Display` writes.
            fn from_str(text: &str) -> Result<Self, HashError> {
                let invalid = || HashError::InvalidHex {
                    text: text.to_owned(),
                    digits: $digits,
                };
                if text.len() != $digits || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid());
                }
                <$int>::from_str_radix(text, 16)
                    .map($ty)
                    .map_err(|_| invalid())
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hash_text!(FunctionalHash, u64, 16);
hash_text!(FunctionalHash128, u128, 32);

mod sealed {
    pub trait Sealed {}
}

/// The width of a functional hash: [`Bits64`] or [`Bits128`].
///
/// Sealed: the mixing is part of the specification, so only the two documented
/// widths exist.
pub trait HashWidth: sealed::Sealed {
    /// The hash this width produces.
    type Hash: Copy + Eq + std::hash::Hash + Ord + fmt::Debug + fmt::Display + Send + Sync;
    #[doc(hidden)]
    const WIDE: bool;
    #[doc(hidden)]
    fn from_bits(bits: u128) -> Self::Hash;
}

/// 64-bit hashes: XXH3-64 of the canonical stream.
#[derive(Debug, Clone, Copy)]
pub enum Bits64 {}

/// 128-bit hashes: XXH3-128 of the canonical stream.
#[derive(Debug, Clone, Copy)]
pub enum Bits128 {}

impl sealed::Sealed for Bits64 {}
impl sealed::Sealed for Bits128 {}

impl HashWidth for Bits64 {
    type Hash = FunctionalHash;
    const WIDE: bool = false;
    fn from_bits(bits: u128) -> FunctionalHash {
        FunctionalHash(bits as u64)
    }
}

impl HashWidth for Bits128 {
    type Hash = FunctionalHash128;
    const WIDE: bool = true;
    fn from_bits(bits: u128) -> FunctionalHash128 {
        FunctionalHash128(bits)
    }
}

/// Where hashable outputs go: the object-safe face of a [`FunctionalHasher`] of any
/// width, used by [`Probe`](crate::Probe).
///
/// Every method appends canonical words to one ordered stream; see the crate docs
/// for the exact bytes each method contributes.
pub trait OutputSink {
    /// Appends one f64 value.
    fn push_f64(&mut self, x: f64);
    /// Appends one f32 value.
    fn push_f32(&mut self, x: f32);
    /// Appends f64 values in order.
    fn push_f64s(&mut self, xs: &[f64]);
    /// Appends f32 values in order.
    fn push_f32s(&mut self, xs: &[f32]);
    /// Appends IEEE binary16 values given by their bit patterns.
    fn push_f16_bits(&mut self, bits: &[u16]);
    /// Appends bfloat16 values given by their bit patterns.
    fn push_bf16_bits(&mut self, bits: &[u16]);
    /// Appends an integer output (a predicted label, a count); never truncated.
    fn push_u64(&mut self, x: u64);
    /// Appends integer outputs in order; never truncated.
    fn push_u32s(&mut self, xs: &[u32]);
    /// Number of values appended so far.
    fn n_values(&self) -> u64;
}

/// Streams hashable outputs into a [`FunctionalHash`] (or, with [`Bits128`], a
/// [`FunctionalHash128`]) without allocating.
///
/// The hash depends on the order of the values and on nothing else about how they
/// were pushed: pushing a slice, or its values one at a time, or in any split,
/// gives the same hash.
///
/// ```
/// use ufh_core::{FunctionalHasher, MantissaBits};
///
/// let m = MantissaBits::f64(24)?;
/// let mut whole = FunctionalHasher::new(m);
/// whole.push_f64s(&[0.25, -1.5, 3.0]);
/// let mut pieces = FunctionalHasher::new(m);
/// pieces.push_f64(0.25);
/// pieces.push_f64s(&[-1.5, 3.0]);
/// assert_eq!(whole.finish(), pieces.finish());
/// # Ok::<(), ufh_core::HashError>(())
/// ```
#[derive(Clone)]
pub struct FunctionalHasher<W: HashWidth = Bits64> {
    masks: Masks,
    mantissa_bits: MantissaBits,
    state: Xxh3,
    /// `8 − N` summed over the words of `N < 8` bytes pushed: the stream's
    /// value count is `(bytes + short_fall) / 8`, so an 8-byte push updates
    /// no counter of its own (a second chain through memory in a push loop).
    short_fall: u64,
    width: std::marker::PhantomData<W>,
}

impl<W: HashWidth> fmt::Debug for FunctionalHasher<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionalHasher")
            .field("mantissa_bits", &self.mantissa_bits)
            .field("n_values", &self.n_values())
            .finish_non_exhaustive()
    }
}

impl FunctionalHasher<Bits64> {
    /// A 64-bit hasher keeping `mantissa_bits` of every float.
    #[inline(always)]
    pub fn new(mantissa_bits: MantissaBits) -> Self {
        Self::with_width(mantissa_bits)
    }
}

impl FunctionalHasher<Bits128> {
    /// A 128-bit hasher keeping `mantissa_bits` of every float.
    #[inline]
    pub fn new_128(mantissa_bits: MantissaBits) -> Self {
        Self::with_width(mantissa_bits)
    }
}

impl<W: HashWidth> FunctionalHasher<W> {
    /// A hasher of the width `W` keeping `mantissa_bits` of every float.
    #[inline(always)]
    pub fn with_width(mantissa_bits: MantissaBits) -> Self {
        Self {
            masks: Masks::new(mantissa_bits),
            mantissa_bits,
            state: Xxh3::new(),
            short_fall: 0,
            width: std::marker::PhantomData,
        }
    }

    /// The truncation this hasher applies.
    pub fn mantissa_bits(&self) -> MantissaBits {
        self.mantissa_bits
    }

    /// The hash of every value pushed so far, in order. It takes `&self` so that
    /// the hasher (about 370 bytes) is never moved to be finished: a move is a
    /// `memcpy` that cost more than hashing a short stream.
    #[inline(always)]
    pub fn finish(&self) -> W::Hash {
        if W::WIDE {
            W::from_bits(self.state.finish_128())
        } else {
            W::from_bits(self.state.finish_64() as u128)
        }
    }

    #[inline]
    fn push_word<const N: usize>(&mut self, bytes: [u8; N]) {
        self.state.write_word(bytes);
        self.short_fall += (8 - N) as u64;
    }

    /// Appends the canonical words of `values`: runs of whole stripes go through
    /// the fused bulk loop (when `lanes` offers one), the rest is truncated by
    /// `kernel` straight into the buffer, and `one` serves when the buffer is not
    /// aligned to the word (after pushes of a narrower type).
    ///
    /// `kernel(values, mask, out)` must write every element of `out` (its
    /// callers pass slices of equal length): the buffer's words count as
    /// initialised once it returns.
    #[inline(always)]
    fn push_slice<'a, T: Copy, Word: bytemuck::Pod, M: Copy>(
        &mut self,
        mut values: &'a [T],
        mask: M,
        lanes: Option<fn(&'a [T], M) -> Lanes<'a>>,
        kernel: fn(&[T], M, &mut [std::mem::MaybeUninit<Word>]),
        one: fn(&mut Self, T),
    ) {
        while !values.is_empty() {
            if let Some(lanes) = lanes {
                let consumed = self.state.bulk(lanes(values, mask));
                self.short_fall += (consumed * (8 - size_of::<Word>())) as u64;
                values = &values[consumed..];
            }
            let Some(free) = self.state.free_words::<Word>() else {
                values.iter().for_each(|&x| one(self, x));
                return;
            };
            let take = free.len().min(values.len());
            kernel(&values[..take], mask, &mut free[..take]);
            // SAFETY: `kernel` wrote all of `free[..take]`, the first `take`
            // words of what `free_words` just returned, and `take <= free.len()`.
            unsafe { self.state.commit_words::<Word>(take) };
            self.short_fall += (take * (8 - size_of::<Word>())) as u64;
            values = &values[take..];
        }
    }

    /// Appends one f64 value.
    #[inline]
    pub fn push_f64(&mut self, x: f64) {
        self.state
            .write_u64(canonical_f64(x.to_bits(), self.masks.f64));
    }

    /// Appends one f32 value.
    #[inline]
    pub fn push_f32(&mut self, x: f32) {
        self.push_word(canonical_f32(x.to_bits(), self.masks.f32).to_le_bytes());
    }

    /// Appends f64 values in order.
    #[inline]
    pub fn push_f64s(&mut self, xs: &[f64]) {
        if self.state.try_write_f64s(xs, self.masks.f64) {
            return;
        }
        self.push_slice(
            xs,
            self.masks.f64,
            Some(Lanes::F64),
            write_f64s,
            Self::push_f64,
        );
    }

    /// Appends f32 values in order.
    pub fn push_f32s(&mut self, xs: &[f32]) {
        self.push_slice(
            xs,
            self.masks.f32,
            Some(Lanes::F32),
            write_f32s,
            Self::push_f32,
        );
    }

    /// Appends IEEE binary16 values given by their bit patterns.
    pub fn push_f16_bits(&mut self, bits: &[u16]) {
        let one = |h: &mut Self, b: u16| h.push_word(canonical_f16(b, h.masks.f16).to_le_bytes());
        self.push_slice(bits, self.masks.f16, None, write_f16s, one);
    }

    /// Appends bfloat16 values given by their bit patterns.
    pub fn push_bf16_bits(&mut self, bits: &[u16]) {
        let one = |h: &mut Self, b: u16| h.push_word(canonical_bf16(b, h.masks.bf16).to_le_bytes());
        self.push_slice(bits, self.masks.bf16, None, write_bf16s, one);
    }

    /// Appends an integer output (a predicted label, a count); never truncated.
    #[inline]
    pub fn push_u64(&mut self, x: u64) {
        self.state.write_u64(x);
    }

    /// Appends integer outputs in order; never truncated.
    pub fn push_u32s(&mut self, xs: &[u32]) {
        for &x in xs {
            self.push_word(x.to_le_bytes());
        }
    }

    /// Number of values pushed so far.
    pub fn n_values(&self) -> u64 {
        (self.state.total() + self.short_fall) / 8
    }
}

impl<W: HashWidth> OutputSink for FunctionalHasher<W> {
    fn push_f64(&mut self, x: f64) {
        FunctionalHasher::push_f64(self, x);
    }
    fn push_f32(&mut self, x: f32) {
        FunctionalHasher::push_f32(self, x);
    }
    fn push_f64s(&mut self, xs: &[f64]) {
        FunctionalHasher::push_f64s(self, xs);
    }
    fn push_f32s(&mut self, xs: &[f32]) {
        FunctionalHasher::push_f32s(self, xs);
    }
    fn push_f16_bits(&mut self, bits: &[u16]) {
        FunctionalHasher::push_f16_bits(self, bits);
    }
    fn push_bf16_bits(&mut self, bits: &[u16]) {
        FunctionalHasher::push_bf16_bits(self, bits);
    }
    fn push_u64(&mut self, x: u64) {
        FunctionalHasher::push_u64(self, x);
    }
    fn push_u32s(&mut self, xs: &[u32]) {
        FunctionalHasher::push_u32s(self, xs);
    }
    fn n_values(&self) -> u64 {
        FunctionalHasher::n_values(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_xxh3_of_canonical_little_endian_words() {
        let m = MantissaBits::f64(52).unwrap();
        let values = [1.0f64, -2.5, 1e300];
        let mut hasher = FunctionalHasher::new(m);
        hasher.push_f64s(&values);
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|x| x.to_bits().to_le_bytes())
            .collect();
        assert_eq!(
            hasher.finish(),
            FunctionalHash(twox_hash::XxHash3_64::oneshot(&bytes))
        );
        let mut wide = FunctionalHasher::new_128(m);
        wide.push_f64s(&values);
        assert_eq!(
            wide.finish(),
            FunctionalHash128(twox_hash::XxHash3_128::oneshot(&bytes))
        );
    }

    #[test]
    fn long_streams_cross_the_stage_boundary_identically() {
        let m = MantissaBits::f32(10).unwrap();
        let values: Vec<f32> = (0..5000).map(|i| (i as f32).sin()).collect();
        let mut whole = FunctionalHasher::new(m);
        whole.push_f32s(&values);
        let mut single = FunctionalHasher::new(m);
        for &x in &values {
            single.push_f32(x);
        }
        assert_eq!(single.n_values(), 5000);
        assert_eq!(whole.finish(), single.finish());
    }

    /// Words written one at a time into the (at first uninitialised) buffer
    /// survive a later slice that borrows the rest of it, at every offset.
    #[test]
    fn single_words_then_slices_hash_as_one_slice() {
        let m = MantissaBits::f64(20).unwrap();
        let values: Vec<f64> = (0..200).map(|i| (i as f64 * 0.37).cos()).collect();
        for head in 0..40 {
            let mut whole = FunctionalHasher::new(m);
            whole.push_f64s(&values);
            let mut split = FunctionalHasher::new(m);
            for &x in &values[..head] {
                split.push_f64(x);
            }
            split.push_f64s(&values[head..]);
            assert_eq!(whole.finish(), split.finish(), "{head} single words first");
        }
    }

    #[test]
    fn hex_text_round_trips_and_rejects_garbage() {
        let h = FunctionalHash(0x00ab_cdef_0123_4567);
        assert_eq!(h.to_string(), "00abcdef01234567");
        assert_eq!("00abcdef01234567".parse::<FunctionalHash>().unwrap(), h);
        let err = "+0abcdef01234567".parse::<FunctionalHash>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid functional hash \"+0abcdef01234567\": expected 16 hexadecimal digits"
        );
        assert!("abc".parse::<FunctionalHash128>().is_err());
        let wide = FunctionalHash128(u128::MAX - 5);
        assert_eq!(wide.to_string().parse::<FunctionalHash128>().unwrap(), wide);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_hex_text() {
        let h = FunctionalHash(42);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, "\"000000000000002a\"");
        assert_eq!(serde_json::from_str::<FunctionalHash>(&json).unwrap(), h);
    }
}
