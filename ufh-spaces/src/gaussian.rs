//! The one Gaussian of this crate, shared by every setup: evaluation noise of the
//! tabular benchmarks, weight initialisation in `nn`, AutoML-Zero's Gaussian ops and
//! tasks, and the noise op of AutoRL's loss graphs.

use std::f64::consts::TAU;

use rand::Rng;

/// A standard normal draw (Box–Muller), portable and seeded.
pub(crate) fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 - U is in (0, 1], so its logarithm is finite.
    let radius = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
    radius * (TAU * rng.random::<f64>()).cos()
}

/// SplitMix64's finaliser: a bijective 64-bit mix, for deriving one seed from
/// several.
#[cfg(any(feature = "embedded", feature = "zoo"))]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
