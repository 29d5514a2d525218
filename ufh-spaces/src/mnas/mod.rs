//! MNAS: MnasNet's factorised hierarchical space of mobile CNNs, scaled to the
//! 8×8 digits and trained on them, with MnasNet's latency-aware reward (the
//! paper's Setup A).
//!
//! # The space
//! A fixed stem (3×3 convolution to 8 channels, batch norm, ReLU), then
//! [`BLOCKS`] blocks, then global average pooling and a dense classifier. Each
//! block makes eight choices ([`Choice`]), and all layers of a block are
//! identical (only the first has the block's stride):
//!
//! | choice | options |
//! |---|---|
//! | repeats | r − 1, r, r + 1 (r of [`BASE_REPEATS`]) |
//! | op | regular conv, depthwise-separable conv, MBConv |
//! | expansion | 1, 3, 6 (MBConv's; the other ops have none) |
//! | kernel | 3, 5 |
//! | squeeze-excite ratio | 0, 0.25 |
//! | squeeze-excite gate | sigmoid, hard sigmoid |
//! | filters | × 0.75, 1, 1.25 of [`BASE_FILTERS`] |
//! | skip | none, identity (on layers of stride 1 whose input and output widths agree) |
//!
//! The ops, per layer of `in` → `out` channels at stride `s`:
//! * regular conv: k×k conv (stride s) → BN → ReLU → (SE) (`out` channels);
//! * depthwise-separable conv: k×k depthwise (stride s) → BN → ReLU → (SE) →
//!   1×1 conv to `out` → BN;
//! * MBConv (the inverted bottleneck): 1×1 conv to `e · in` → BN → ReLU (none
//!   when e = 1), k×k depthwise (stride s) → BN → ReLU → (SE) → 1×1 conv to
//!   `out` → BN.
//!
//! (SE), there when the ratio is 0.25, squeezes its `C` channels to
//! `max(1, ⌊C · ratio⌋)` and gates them.
//!
//! # Scaling from MnasNet
//! MnasNet's seven blocks (repeats 1, 2, 3, 4, 3, 3, 1; filters 16 … 320;
//! strides 1, 2, 2, 2, 1, 2, 1) serve 224×224 images, halved five times. The
//! digits are 8×8 and can be halved twice before they are 2×2, so ufh keeps
//! five blocks with two strides of 2 ([`STRIDES`]), the reference's shape of
//! repeats (one at each end, more in the middle: [`BASE_REPEATS`]) and widths
//! growing by about 1.4 per block from a stem of 8 channels ([`BASE_FILTERS`]: 8,
//! 12, 16, 24, 32, where MnasNet grows 1.5 per block from 32). With r − 1, the
//! first and the last block can vanish, as MnasNet's can.
//!
//! One choice is not in the reference: the squeeze-excite gate. It makes the
//! paper's second example of equivalence real: with a ratio of 0 there is no SE
//! branch, whatever its gate.
//!
//! # Search
//! Sampling draws every choice uniformly. Mutation (the paper's) picks one block
//! and one of its choices uniformly and gives the choice another of its options,
//! uniformly; the child's genotype always differs from its parent's, while many
//! children compute the parent's function (the choices of a block whose repeats
//! are 0, an expansion outside MBConv, a gate without SE, a skip that cannot
//! apply): these are what the functional hash finds.
//!
//! # Fitness and hash
//! [`MnasEvaluator`]: MnasNet's reward `ACC × (LAT / T)^w` with `w = −0.07`,
//! ACC the validation accuracy after training with fixed seeds, LAT from the
//! shipped per-layer [`LatencyTable`]. [`MnasHasher`]: the softmax outputs on
//! canonical examples after a few canonical training steps, rounded to four
//! decimals (the paper's) or truncated to `m` mantissa bits by `ufh-core`.

mod evaluate;
mod hash;
mod latency;
mod network;
mod space;

pub use evaluate::{MnasEvaluator, MnasOutcome, TrainSettings};
pub use hash::{MnasHash, MnasHasher, MnasProbe, MnasRun};
pub use latency::{LatencyError, LatencyTable, LayerKey, measure_latency_table};
pub use space::{
    Architecture, BASE_FILTERS, BASE_REPEATS, BLOCKS, BlockSpec, Choice, EXPANSIONS,
    FILTER_QUARTERS, KERNELS, MnasSpace, Op, STEM_FILTERS, STRIDES,
};
