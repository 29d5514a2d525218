//! Search as a feedback loop for evolutionary AutoML, with the techniques of unified
//! functional hashing.
//!
//! An [`Algorithm`] proposes candidates of a [`SearchSpace`] and receives feedback
//! (candidate, fitness); it never calls an [`Evaluator`], a [`CandidateHasher`] or a
//! cache (PyGlove's propose/feedback). The techniques of the paper wrap that loop in
//! the driver, so every algorithm gets every technique:
//!
//! * the functional equivalence cache ([`FunctionalEquivalenceCache`], Method 5),
//!   optionally bounded (LRU), forgetful (Method 8) or aggregating (FEA, Method 9);
//! * functional change mutation ([`FcmConfig`], Method 6);
//! * the tabulist ([`TabulistConfig`], Method 7).
//!
//! The driver ([`Search`]) owns a simulated clock: each evaluation and each hash
//! costs simulated seconds, and the budget is spent on both. It runs serially,
//! on N asynchronous workers simulated with an event queue (cache hits finish early
//! and so reorder arrivals, Section 6.2.1), or in real parallel on rayon for
//! evaluators that really compute. A counterfactual audit ([`AuditConfig`]) counts
//! the cache hits whose fresh evaluation would have differed (collisions).
//!
//! Evaluation noise and cache forgetting draw from streams of their own (each
//! candidate's evaluator stream depends on its proposal index alone), so with
//! serial evaluation, a deterministic evaluator and no collisions, a search with
//! FEC proposes exactly the candidates the search without it proposes (Section 6.2
//! of the paper), and a parallel search gives the same record on any number of
//! threads. Records ([`SearchRecord`]) hold every event, the best-so-far curve, AUC
//! and cache counters, and write CSV and JSON.
//!
//! # Example
//!
//! A search of your own: a candidate type, its probe outputs
//! ([`HashableOutputs`](ufh_core::HashableOutputs), hashed by [`SpecHasher`]), its
//! training ([`Evaluator`]) and its space; regularized evolution with FEC. The
//! full program is `examples/my_space.rs`.
//!
//! ```
//! use rand::Rng;
//! use ufh_core::{HashSpec, HashableOutputs, MantissaBits, Probe};
//! use ufh_search::{Budget, Evaluation, Evaluator, EvolutionConfig, Mode, Search};
//! use ufh_search::{SearchRng, SearchSpace, SpecHasher, Techniques};
//!
//! /// `x ↦ a·x`, with a dead second field: 10 functions among 100 candidates.
//! #[derive(Clone)]
//! struct Line(u8, u8);
//! impl HashableOutputs for Line {
//!     type Error = std::convert::Infallible;
//!     fn emit_hashable_outputs(&self, p: &mut Probe<'_>) -> Result<(), Self::Error> {
//!         Ok((0..p.n_examples()).for_each(|x| p.push_f64(f64::from(self.0) * x as f64)))
//!     }
//! }
//! struct Lines;
//! impl SearchSpace for Lines {
//!     type Candidate = Line;
//!     fn sample(&self, rng: &mut SearchRng) -> Line { Line(rng.random_range(0..10), rng.random_range(0..10)) }
//!     fn mutate(&self, p: &Line, rng: &mut SearchRng) -> Line {
//!         let a = if rng.random() { p.0 } else { rng.random_range(0..10) };
//!         Line(a, rng.random_range(0..10))
//!     }
//! }
//! struct Train;
//! impl Evaluator<Line> for Train {
//!     fn evaluate(&self, c: &Line, _: &mut SearchRng) -> Evaluation {
//!         Evaluation { validation: f64::from(c.0), test: f64::from(c.0), cost_s: 100.0 }
//!     }
//! }
//!
//! let hasher = SpecHasher::new(HashSpec::new(MantissaBits::f64(24)?, 4, vec![0])?, 1.0);
//! let found = Search::new(&Lines, &Train, Budget::SimulatedSeconds(5_000.0), 42)
//!     .hasher(&hasher)
//!     .techniques(Techniques::FEC)?
//!     .run(&mut EvolutionConfig::regularized(10, 3).build()?, Mode::Serial)?;
//! assert_eq!(found.best.unwrap().validation, 9.0);
//! assert!(found.record.hit_rate().unwrap() > 0.5); // only 10 distinct functions exist
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod algorithm;
mod audit;
mod bananas;
mod checkpoint;
mod driver;
mod encoding;
mod fcm;
mod fec;
mod local_search;
mod mu_plus_lambda;
mod ppo;
mod record;
#[cfg(feature = "redis")]
pub mod redis;
mod space;
mod spec_hasher;
mod store;
#[cfg(feature = "redb")]
mod store_redb;
pub mod symbolic;
mod tabulist;
#[cfg(test)]
mod testutil;

pub use algorithm::{
    Algorithm, Best, Evolution, EvolutionConfig, Feedback, Proposal, ProposeContext, RandomSearch,
    Replacement,
};
pub use audit::{AuditConfig, AuditCounters};
pub use bananas::{Acquisition, Bananas, BananasConfig};
pub use checkpoint::{Checkpoints, DamagedFile, read_sealed, seal, unseal, write_atomically};
pub use driver::{Budget, Mode, NoHasher, Search, SearchResult, Techniques, evaluation_id};
pub use encoding::{Crossover, DiscreteEncoding, FeatureEncoding, Neighbourhood};
pub use fcm::FcmConfig;
pub use fec::{CacheCounters, FecConfig, Forgetting, FunctionalEquivalenceCache, Lookup};
pub use local_search::{LocalSearch, LocalSearchConfig, Move};
pub use mu_plus_lambda::{MuPlusLambda, MuPlusLambdaConfig};
pub use ppo::{Ppo, PpoConfig};
pub use record::{BestPoint, CsvEventSink, Event, EventSink, Outcome, SearchRecord};
#[cfg(feature = "redis")]
pub use redis::{RedisEvaluator, RedisStore};
pub use space::{
    CandidateHasher, CostUnit, Evaluation, Evaluator, InfrastructureError, SearchRng, SearchSpace,
};
pub use spec_hasher::{Harness, SpecHasher};
pub use store::{
    CacheEntry, FecStore, MemoryStore, Namespace, StoreError, StoredEntry, StoredEvaluation,
};
#[cfg(feature = "redb")]
pub use store_redb::RedbStore;
pub use tabulist::TabulistConfig;

/// Errors of search configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// A setting is out of range; the message names it and its value.
    #[error("invalid search configuration: {0}")]
    InvalidConfig(String),
    /// The event sink failed to take an event (a full disk, a closed pipe).
    #[error("writing search events failed: {0}")]
    EventSink(String),
    /// The FEC store failed and the search stopped; what was computed before is in
    /// the store and in any checkpoint.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The evaluator's machinery failed (no worker answered, a timeout): the run
    /// stopped before caching or feeding back anything of the batch it hit.
    #[error("evaluation infrastructure failed: {0}")]
    Infrastructure(#[from] InfrastructureError),
    /// A technique needs functional hashes and the search has no hasher
    /// ([`Search::hasher`]).
    #[error("{technique} needs functional hashes: give the search a hasher (Search::hasher)")]
    NoHasher {
        /// The technique that needs one ("FEC", "FCM", "the tabulist").
        technique: &'static str,
    },
    /// A checkpoint could not be written, read or used; the message names the
    /// file and what was wrong.
    #[error("checkpoint {0}")]
    Checkpoint(String),
}

#[cfg(test)]
/// Whether the slow test tier runs: tests that kill processes, restart Redis,
/// train networks or run whole figures check `UFH_SLOW_TESTS=1` (which `.ci/run`
/// sets) and otherwise return at once, so that `cargo test` alone runs the fast
/// tier.
pub(crate) fn slow_tier() -> bool {
    let on = std::env::var_os("UFH_SLOW_TESTS").is_some_and(|v| v == "1");
    if !on {
        eprintln!("slow tier: skipped (UFH_SLOW_TESTS=1 runs it)");
    }
    on
}
