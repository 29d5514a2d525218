//! Mantissa truncation and the canonical forms of zero and NaN.
//!
//! Every function here maps a float's bit pattern to its *canonical truncated word*:
//!
//! 1. Any NaN (exponent all ones, mantissa non-zero, either sign, any payload)
//!    becomes the format's canonical quiet NaN: `0x7FF8_0000_0000_0000` (f64),
//!    `0x7FC0_0000` (f32), `0x7E00` (f16), `0x7FC0` (bf16).
//! 2. Otherwise the word keeps the sign, the exponent and the top `k` mantissa bits
//!    and clears the rest; no rounding, as in the paper.
//! 3. A result of negative zero (`-0.0` itself, or a tiny negative subnormal whose
//!    kept bits are all zero) becomes positive zero.
//!
//! Infinities keep their sign. The canonical NaN survives truncation to any `k ≥ 1`,
//! so truncating a canonical word again is the identity.

use std::mem::MaybeUninit;

use crate::{FloatFormat, MantissaBits};

macro_rules! canonical_fn {
    ($(#[$doc:meta])* $name:ident, $ty:ty, sign = $sign:expr, exponent = $exp:expr, nan = $nan:expr) => {
        $(#[$doc])*
        #[inline(always)]
        pub(crate) fn $name(bits: $ty, mask: $ty) -> $ty {
            // Branch-free so that the slice loops vectorise.
            let magnitude = bits & !$sign;
            let kept = bits & mask;
            let kept = if kept == $sign { 0 } else { kept };
            if magnitude > $exp { $nan } else { kept }
        }
    };
}

canonical_fn!(
    /// Canonical truncated word of an f64 bit pattern under `mask`.
    canonical_f64, u64, sign = 0x8000_0000_0000_0000, exponent = 0x7FF0_0000_0000_0000,
    nan = 0x7FF8_0000_0000_0000
);
canonical_fn!(
    /// Canonical truncated word of an f32 bit pattern under `mask`.
    canonical_f32, u32, sign = 0x8000_0000, exponent = 0x7F80_0000, nan = 0x7FC0_0000
);
canonical_fn!(
    /// Canonical truncated word of an f16 bit pattern under `mask`.
    canonical_f16, u16, sign = 0x8000, exponent = 0x7C00, nan = 0x7E00
);
canonical_fn!(
    /// Canonical truncated word of a bf16 bit pattern under `mask`.
    canonical_bf16, u16, sign = 0x8000, exponent = 0x7F80, nan = 0x7FC0
);

/// The and-masks of every format for one [`MantissaBits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Masks {
    pub(crate) f64: u64,
    pub(crate) f32: u32,
    pub(crate) f16: u16,
    pub(crate) bf16: u16,
}

/// Sign, exponent and the top `kept` of `width` mantissa bits of a `total`-bit word.
const fn mask_bits(total: u32, width: u32, kept: u32) -> u64 {
    let all = if total == 64 {
        u64::MAX
    } else {
        (1u64 << total) - 1
    };
    let mantissa = (1u64 << width) - 1;
    let dropped = (1u64 << (width - kept)) - 1;
    all & !(mantissa & dropped)
}

impl Masks {
    pub(crate) const fn new(m: MantissaBits) -> Self {
        Self {
            f64: mask_bits(64, 52, m.bits_for(FloatFormat::F64)),
            f32: mask_bits(32, 23, m.bits_for(FloatFormat::F32)) as u32,
            f16: mask_bits(16, 10, m.bits_for(FloatFormat::F16)) as u16,
            bf16: mask_bits(16, 7, m.bits_for(FloatFormat::Bf16)) as u16,
        }
    }
}

/// The canonical truncated bits of an f64 (see the crate docs, "Truncation").
///
/// ```
/// use ufh_core::{truncate_f64, MantissaBits};
///
/// let m = MantissaBits::f64(1)?;
/// // 1.75 = 1.11b: one kept mantissa bit leaves 1.1b = 1.5.
/// assert_eq!(f64::from_bits(truncate_f64(1.75, m)), 1.5);
/// assert_eq!(truncate_f64(-0.0, m), 0);
/// # Ok::<(), ufh_core::HashError>(())
/// ```
pub fn truncate_f64(x: f64, m: MantissaBits) -> u64 {
    canonical_f64(x.to_bits(), Masks::new(m).f64)
}

/// The canonical truncated bits of an f32 (see the crate docs, "Truncation").
pub fn truncate_f32(x: f32, m: MantissaBits) -> u32 {
    canonical_f32(x.to_bits(), Masks::new(m).f32)
}

/// The canonical truncated bits of an IEEE binary16 value given by its bit pattern.
pub fn truncate_f16_bits(bits: u16, m: MantissaBits) -> u16 {
    canonical_f16(bits, Masks::new(m).f16)
}

/// The canonical truncated bits of a bfloat16 value given by its bit pattern.
pub fn truncate_bf16_bits(bits: u16, m: MantissaBits) -> u16 {
    canonical_bf16(bits, Masks::new(m).bf16)
}

macro_rules! slice_kernel {
    ($name:ident, $avx2:ident, $portable:ident, $src:ty, $word:ty, $canon:ident, $to_bits:expr) => {
        /// Writes the canonical words of `src`, in little-endian byte order, into
        /// `dst`, which has exactly one word per value and may be uninitialised.
        #[inline]
        pub(crate) fn $name(src: &[$src], mask: $word, dst: &mut [MaybeUninit<$word>]) {
            debug_assert_eq!(dst.len(), src.len());
            // A few values are cheaper inline than behind a feature check and a
            // call (both loops give the same words).
            if src.len() <= 16 {
                $portable(src, mask, dst);
                return;
            }
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked on the line above.
                    unsafe { $avx2(src, mask, dst) };
                    return;
                }
            }
            $portable(src, mask, dst);
        }

        /// The same loop compiled with AVX2 enabled (64-bit integer compares are
        /// AVX2 instructions); integer operations only, so its results are
        /// bit-identical to the portable loop.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2(src: &[$src], mask: $word, dst: &mut [MaybeUninit<$word>]) {
            $portable(src, mask, dst);
        }

        #[inline(always)]
        fn $portable(src: &[$src], mask: $word, dst: &mut [MaybeUninit<$word>]) {
            let to_bits: fn($src) -> $word = $to_bits;
            for (out, &x) in dst.iter_mut().zip(src) {
                out.write($canon(to_bits(x), mask).to_le());
            }
        }
    };
}

slice_kernel!(
    write_f64s,
    write_f64s_avx2,
    write_f64s_portable,
    f64,
    u64,
    canonical_f64,
    f64::to_bits
);
slice_kernel!(
    write_f32s,
    write_f32s_avx2,
    write_f32s_portable,
    f32,
    u32,
    canonical_f32,
    f32::to_bits
);
slice_kernel!(
    write_f16s,
    write_f16s_avx2,
    write_f16s_portable,
    u16,
    u16,
    canonical_f16,
    |b| b
);
slice_kernel!(
    write_bf16s,
    write_bf16s_avx2,
    write_bf16s_portable,
    u16,
    u16,
    canonical_bf16,
    |b| b
);

#[cfg(test)]
mod tests {
    use super::*;

    fn m(format: FloatFormat, bits: u32) -> MantissaBits {
        MantissaBits::new(format, bits).unwrap()
    }

    #[test]
    fn f64_masks_keep_sign_exponent_and_top_bits() {
        assert_eq!(Masks::new(m(FloatFormat::F64, 52)).f64, u64::MAX);
        assert_eq!(
            Masks::new(m(FloatFormat::F64, 1)).f64,
            0xFFF8_0000_0000_0000
        );
        assert_eq!(
            Masks::new(m(FloatFormat::F64, 24)).f64,
            0xFFFF_FFFF_F000_0000
        ); // 12 + 24 = 36 kept bits.
        assert_eq!(Masks::new(m(FloatFormat::F32, 23)).f32, u32::MAX);
        assert_eq!(Masks::new(m(FloatFormat::F32, 3)).f32, 0xFFF0_0000);
        assert_eq!(Masks::new(m(FloatFormat::F16, 2)).f16, 0xFF00);
        assert_eq!(Masks::new(m(FloatFormat::Bf16, 7)).bf16, 0xFFFF);
        assert_eq!(Masks::new(m(FloatFormat::Bf16, 3)).bf16, 0xFFF0);
    }

    #[test]
    fn truncation_does_not_round() {
        let two_bits = m(FloatFormat::F64, 2);
        // 1.875 = 1.111b; two kept bits give 1.11b = 1.75, not 2.0.
        assert_eq!(f64::from_bits(truncate_f64(1.875, two_bits)), 1.75);
        assert_eq!(f64::from_bits(truncate_f64(-1.875, two_bits)), -1.75);
    }

    #[test]
    fn zero_and_nan_have_one_form() {
        let bits = m(FloatFormat::F64, 10);
        assert_eq!(truncate_f64(-0.0, bits), truncate_f64(0.0, bits));
        // A negative subnormal whose kept bits are all zero is also zero.
        assert_eq!(truncate_f64(-f64::from_bits(1), bits), 0);
        let payload_nan = f64::from_bits(0xFFF0_0000_0000_0001);
        assert_eq!(truncate_f64(payload_nan, bits), 0x7FF8_0000_0000_0000);
        assert_eq!(truncate_f64(f64::NAN, bits), 0x7FF8_0000_0000_0000);
        assert_eq!(truncate_f32(-f32::NAN, m(FloatFormat::F32, 1)), 0x7FC0_0000);
        assert_eq!(truncate_f16_bits(0xFC01, m(FloatFormat::F16, 3)), 0x7E00);
        assert_eq!(truncate_bf16_bits(0xFF81, m(FloatFormat::Bf16, 3)), 0x7FC0);
        assert_eq!(truncate_f16_bits(0x8000, m(FloatFormat::F16, 3)), 0);
    }

    #[test]
    fn infinities_keep_their_sign() {
        let bits = m(FloatFormat::F64, 1);
        assert_eq!(
            f64::from_bits(truncate_f64(f64::INFINITY, bits)),
            f64::INFINITY
        );
        assert_eq!(
            f64::from_bits(truncate_f64(f64::NEG_INFINITY, bits)),
            f64::NEG_INFINITY
        );
        assert_eq!(
            truncate_f32(f32::NEG_INFINITY, m(FloatFormat::F32, 1)),
            0xFF80_0000
        );
    }

    /// The words a slice kernel writes for `src`.
    fn run_kernel<T, W: Copy + Default>(
        kernel: impl Fn(&[T], W, &mut [MaybeUninit<W>]),
        src: &[T],
        mask: W,
    ) -> Vec<W> {
        let mut words = vec![MaybeUninit::new(W::default()); src.len()];
        kernel(src, mask, &mut words);
        // SAFETY: every word was initialised above (and overwritten by the kernel).
        words
            .into_iter()
            .map(|w| unsafe { w.assume_init() })
            .collect()
    }

    #[test]
    fn slice_kernels_agree_with_scalar() {
        let values: Vec<f64> = (0..1000)
            .map(|i| match i % 7 {
                0 => -0.0,
                1 => f64::from_bits(0x7FF0_0000_0000_0000 | i as u64),
                2 => f64::NEG_INFINITY,
                _ => (i as f64 - 500.0) / 3.0,
            })
            .collect();
        let bits = m(FloatFormat::F64, 9);
        let words = run_kernel(write_f64s, &values, Masks::new(bits).f64);
        let portable = run_kernel(write_f64s_portable, &values, Masks::new(bits).f64);
        assert_eq!(words, portable);
        for (&word, &x) in words.iter().zip(&values) {
            assert_eq!(u64::from_le(word), truncate_f64(x, bits));
        }
        let singles: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        let bits32 = m(FloatFormat::F32, 5);
        let words32 = run_kernel(write_f32s, &singles, Masks::new(bits32).f32);
        for (&word, &x) in words32.iter().zip(&singles) {
            assert_eq!(u32::from_le(word), truncate_f32(x, bits32));
        }
    }
}
