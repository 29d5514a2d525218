//! The EZNAS engine: zero-cost proxies for neural architecture scoring, evolved as
//! expression trees over network statistics and scored by Kendall τ, with `ufh-core`
//! recognising trees that compute the same function.
//!
//! Modules:
//! * [`rank`]: the rank correlations that score a proxy (Kendall τ-b, EZNAS's
//!   fitness, and Spearman ρ, its meta-validation), with ties handled as
//!   `scipy.stats` handles them;
//! * [`tensor`] and [`ops`]: the values trees compute on and the 34 operations of
//!   EZNAS's Table 5, with their semantics written out for every shape;
//! * [`tree`]: expression trees over a layer's 22 statistics, scored per
//!   ReLU-Conv-BN instance and averaged over a network, with invalid trees (a
//!   shape mismatch, a NaN or an infinity anywhere) as errors; EZNAS-A as a named
//!   tree;
//! * [`hash`]: the functional hash of a tree, its per-instance scores on canonical
//!   instances truncated through `ufh-core`, as a `ufh-search` `CandidateHasher`;
//! * [`space`]: the tree space with EZNAS's (DEAP's) half-and-half initialisation,
//!   uniform subtree mutation, one-point crossover and static depth limit;
//! * [`fitness`]: EZNAS's fitness, the minimum Kendall τ over rounds of networks
//!   drawn from the zoo's spaces, as a `ufh-search` `Evaluator` whose batch path
//!   scores a whole generation on all cores; with `ufh_search::MuPlusLambda` it is
//!   the GP, and FEC, FCM and the tabulist apply;
//! * [`population`]: a whole generation scored on a network with every shared
//!   subtree computed once per instance, bit-identical to the plain interpreter;
//! * [`baselines`]: the zero-cost baselines a network's statistics determine
//!   (params, FLOPs, NASWOT, jacob_cov);
//! * [`file`](mod@file): a versioned, checksummed file of a zoo's statistics and
//!   accuracies;
//! * `npz` (feature `npz`, on by default): the same as a NumPy `.npz` archive.
//!
//! The networks themselves (and the loss-gradient baselines, which need them) are
//! built by `ufh-spaces`; this crate depends only on `ufh-core` and `ufh-search`.

#![deny(missing_docs)]

pub mod baselines;
pub mod file;
pub mod fitness;
pub mod hash;
#[cfg(feature = "npz")]
pub mod npz;
pub mod ops;
pub mod population;
pub mod rank;
pub mod space;
pub mod tensor;
pub mod tree;
