//! A small, deterministic neural-network substrate: hand-written forward and
//! backward passes for the layers NAS-Bench-101 cells use, on `f32` slices.
//!
//! Chosen over candle and burn by measurement on this workload (tiny convolutional
//! cells on 8×8 inputs, batch training on one core); the numbers are in
//! ARCHITECTURE.md. Besides speed, it gives bit-identical results on every machine:
//! no kernel reassociates a sum and none dispatches on CPU features.

pub(crate) mod kernels;
#[cfg(any(feature = "nasbench101", feature = "mnas", feature = "zoo"))]
pub(crate) mod layers;
#[cfg(feature = "mnas")]
pub(crate) mod mobile;
#[cfg(any(feature = "nasbench101", feature = "zoo"))]
pub(crate) mod net;
#[cfg(any(feature = "nasbench101", feature = "zoo"))]
pub(crate) mod pool;
#[cfg(any(feature = "nasbench101", feature = "zoo"))]
pub(crate) mod train;
