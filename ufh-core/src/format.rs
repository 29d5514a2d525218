//! Float formats and the checked number of mantissa bits a hash keeps.

use std::fmt;

use crate::HashError;

/// The IEEE-754 binary formats whose values a [`FunctionalHasher`](crate::FunctionalHasher) accepts.
///
/// `F16` and `Bf16` values are pushed as their raw 16-bit patterns, so `ufh-core`
/// needs no half-precision crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum FloatFormat {
    /// binary64: 1 sign, 11 exponent, 52 mantissa bits.
    F64,
    /// binary32: 1 sign, 8 exponent, 23 mantissa bits.
    F32,
    /// binary16: 1 sign, 5 exponent, 10 mantissa bits.
    F16,
    /// bfloat16: 1 sign, 8 exponent, 7 mantissa bits.
    Bf16,
}

impl FloatFormat {
    /// All formats, widest first.
    pub const ALL: [FloatFormat; 4] = [Self::F64, Self::F32, Self::F16, Self::Bf16];

    /// Number of explicit mantissa (fraction) bits of the format.
    pub const fn mantissa_width(self) -> u32 {
        match self {
            Self::F64 => 52,
            Self::F32 => 23,
            Self::F16 => 10,
            Self::Bf16 => 7,
        }
    }
}

impl fmt::Display for FloatFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F64 => "f64",
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        })
    }
}

/// How many leading mantissa bits the hash keeps (the paper's `m`), checked against
/// the float format in which the candidate computes.
///
/// The paper (Section 6.5) bounds `m` by the precision of the computation: at most
/// 52 for f64, 23 for f32, 10 for f16 and 7 for bf16, and at least 1. A value is
/// built once, checked, and then trusted everywhere (parse, don't validate).
///
/// Values of a format other than [`MantissaBits::format`] keep
/// `min(bits, that format's width)` bits: the count is a count of leading mantissa
/// bits, the same for every format, capped by what the format holds.
///
/// ```
/// use ufh_core::{FloatFormat, MantissaBits};
///
/// let m = MantissaBits::new(FloatFormat::F32, 12)?;
/// assert_eq!(m.bits(), 12);
/// assert!(MantissaBits::new(FloatFormat::F32, 24).is_err());
/// # Ok::<(), ufh_core::HashError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "RawMantissaBits", into = "RawMantissaBits")
)]
pub struct MantissaBits {
    format: FloatFormat,
    bits: u8,
}

impl MantissaBits {
    /// The reference implementation's default for NAS-Bench-101: 24 bits of an f64.
    pub const DEFAULT_F64: MantissaBits = MantissaBits {
        format: FloatFormat::F64,
        bits: 24,
    };

    /// Checks `bits` against `format`: valid values are `1..=format.mantissa_width()`.
    pub fn new(format: FloatFormat, bits: u32) -> Result<Self, HashError> {
        let max = format.mantissa_width();
        if bits == 0 || bits > max {
            return Err(HashError::MantissaBitsOutOfRange { format, bits, max });
        }
        Ok(Self {
            format,
            bits: bits as u8,
        })
    }

    /// Shorthand for [`MantissaBits::new`] with [`FloatFormat::F64`].
    pub fn f64(bits: u32) -> Result<Self, HashError> {
        Self::new(FloatFormat::F64, bits)
    }

    /// Shorthand for [`MantissaBits::new`] with [`FloatFormat::F32`].
    pub fn f32(bits: u32) -> Result<Self, HashError> {
        Self::new(FloatFormat::F32, bits)
    }

    /// The full precision of `format`: truncation keeps every bit, only the
    /// canonical forms of zero and NaN remain.
    pub const fn full(format: FloatFormat) -> Self {
        Self {
            format,
            bits: format.mantissa_width() as u8,
        }
    }

    /// The number of kept mantissa bits.
    pub const fn bits(self) -> u32 {
        self.bits as u32
    }

    /// The format the number was checked against.
    pub const fn format(self) -> FloatFormat {
        self.format
    }

    /// Bits kept for values of `format`: `min(self.bits(), format.mantissa_width())`.
    pub const fn bits_for(self, format: FloatFormat) -> u32 {
        let width = format.mantissa_width();
        if (self.bits as u32) < width {
            self.bits as u32
        } else {
            width
        }
    }
}

impl fmt::Display for MantissaBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bits of {}", self.bits, self.format)
    }
}

/// The unchecked form that serde reads, checked by `TryFrom`.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct RawMantissaBits {
    format: FloatFormat,
    bits: u32,
}

#[cfg(feature = "serde")]
impl TryFrom<RawMantissaBits> for MantissaBits {
    type Error = HashError;
    fn try_from(raw: RawMantissaBits) -> Result<Self, HashError> {
        Self::new(raw.format, raw.bits)
    }
}

#[cfg(feature = "serde")]
impl From<MantissaBits> for RawMantissaBits {
    fn from(m: MantissaBits) -> Self {
        Self {
            format: m.format,
            bits: m.bits(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_paper() {
        for (format, max) in [
            (FloatFormat::F64, 52),
            (FloatFormat::F32, 23),
            (FloatFormat::F16, 10),
            (FloatFormat::Bf16, 7),
        ] {
            assert!(MantissaBits::new(format, 1).is_ok());
            assert!(MantissaBits::new(format, max).is_ok());
            assert_eq!(
                MantissaBits::new(format, max + 1),
                Err(HashError::MantissaBitsOutOfRange {
                    format,
                    bits: max + 1,
                    max
                })
            );
            assert!(MantissaBits::new(format, 0).is_err());
        }
    }

    #[test]
    fn error_names_value_and_range() {
        let err = MantissaBits::f32(30).unwrap_err().to_string();
        assert_eq!(
            err,
            "mantissa bits 30 out of range for f32: expected 1..=23"
        );
    }

    #[test]
    fn bits_for_caps_at_the_format_width() {
        let m = MantissaBits::f64(24).unwrap();
        assert_eq!(m.bits_for(FloatFormat::F64), 24);
        assert_eq!(m.bits_for(FloatFormat::F32), 23);
        assert_eq!(m.bits_for(FloatFormat::Bf16), 7);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_round_trip_and_rejects_out_of_range() {
        let m = MantissaBits::f32(12).unwrap();
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, r#"{"format":"f32","bits":12}"#);
        assert_eq!(serde_json::from_str::<MantissaBits>(&text).unwrap(), m);
        let bad = serde_json::from_str::<MantissaBits>(r#"{"format":"bf16","bits":8}"#);
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("out of range for bf16")
        );
    }
}
