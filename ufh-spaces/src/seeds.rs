//! Deriving one seed from several.

/// SplitMix64's finaliser: a bijective 64-bit mix, for deriving one seed from
/// several.
#[cfg(any(feature = "embedded", feature = "zoo", feature = "automl-zero"))]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
