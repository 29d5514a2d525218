//! The one Gaussian of this crate, shared by every setup: evaluation noise of the
//! tabular benchmarks, weight initialisation in `nn`, AutoML-Zero's Gaussian ops and
//! tasks, and the noise op and the DQN initialisation of AutoRL. (Seed mixing is in `seeds.rs`.)

use std::f64::consts::TAU;

use rand::Rng;

/// A standard normal draw (Box–Muller), portable and seeded.
pub(crate) fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 - U is in (0, 1], so its logarithm is finite.
    let radius = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
    radius * (TAU * rng.random::<f64>()).cos()
}
