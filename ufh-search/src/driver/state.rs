//! What a checkpoint holds and how it is written: the run's state between two
//! steps, the fingerprint a resumed search must match, and the writer that
//! writes them when due.

use serde::Serialize;
use ufh_core::FunctionalHash;

use super::Finished;
use crate::checkpoint::{self, Checkpoints};
use crate::{
    AuditCounters, Best, Budget, FunctionalEquivalenceCache, SearchError, SearchRecord, SearchRng,
    Techniques,
};

/// What a checkpoint must match to be resumed: the search's settings and mode.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Fingerprint {
    /// The caller's digest of the evaluator's and hasher's settings.
    pub(super) settings: Option<crate::Namespace>,
    /// The simulated cost of one hash, in bits (it moves the clock).
    pub(super) hash_cost_s: u64,
    pub(super) mode: String,
    pub(super) workers: usize,
    pub(super) seed: u64,
    pub(super) budget: Budget,
    pub(super) techniques: Techniques,
    pub(super) target: Option<f64>,
    pub(super) in_store: bool,
}

impl Fingerprint {
    /// The fields where `self` (a checkpoint's) and `this` (the search's) differ.
    pub(super) fn differences(&self, this: &Fingerprint) -> String {
        let (Ok(serde_json::Value::Object(saved)), Ok(serde_json::Value::Object(now))) =
            (serde_json::to_value(self), serde_json::to_value(this))
        else {
            return format!("it has {self:?}, this search is {this:?}");
        };
        let mut out = Vec::new();
        for (field, value) in &saved {
            let current = now.get(field).unwrap_or(&serde_json::Value::Null);
            if current != value {
                let name = match field.as_str() {
                    "settings" => "settings (evaluator, hasher or data)",
                    "hash_cost_s" => "the hash's cost",
                    other => other,
                };
                out.push(format!("{name}: checkpoint {value}, this search {current}"));
            }
        }
        out.join("; ")
    }
}

/// The state of a run between two steps.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct RunState<C> {
    pub(super) search_rng: SearchRng,
    pub(super) cache_rng: SearchRng,
    pub(super) cache: Option<FunctionalEquivalenceCache>,
    pub(super) tabu: Vec<(FunctionalHash, u32)>,
    pub(super) audit: Option<AuditCounters>,
    pub(super) record: SearchRecord,
    pub(super) n_started: u64,
    pub(super) n_evaluations: u64,
    pub(super) hits_in_a_row: u64,
    pub(super) reached_target: bool,
    pub(super) best: Option<Best<C>>,
    pub(super) live_hashes: Vec<(u64, FunctionalHash)>,
    pub(super) clock_s: f64,
    pub(super) in_flight: Vec<Finished<C>>,
    /// The seed of the run's evaluation ids ([`Run::id_seed`]).
    pub(super) id_seed: u64,
    /// The entries of a store that lives only in this process's memory
    /// ([`FecStore::checkpoint_entries`]).
    pub(super) store_entries: Option<Vec<(FunctionalHash, crate::StoredEntry)>>,
}

/// A checkpoint file.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct CheckpointFile<A, C> {
    pub(super) format: String,
    pub(super) fingerprint: Fingerprint,
    pub(super) algorithm: A,
    pub(super) state: RunState<C>,
}

/// The head of a checkpoint file, read first to check it belongs to the search.
#[derive(serde::Deserialize)]
pub(super) struct CheckpointHead {
    pub(super) format: String,
    pub(super) fingerprint: Fingerprint,
}

/// Writes checkpoints when they are due.
pub(super) struct CheckpointWriter<'c> {
    pub(super) config: &'c Checkpoints,
    pub(super) fingerprint: Fingerprint,
    pub(super) events_at_last: u64,
    pub(super) last: std::time::Instant,
}

impl<'c> CheckpointWriter<'c> {
    /// A writer whose last checkpoint is the start (a resumed run sets
    /// `events_at_last` to its checkpoint's count).
    pub(super) fn new(config: &'c Checkpoints, fingerprint: Fingerprint) -> Self {
        Self {
            config,
            fingerprint,
            events_at_last: 0,
            last: std::time::Instant::now(),
        }
    }

    pub(super) fn due(&self, n_events: u64) -> bool {
        n_events
            >= self
                .events_at_last
                .saturating_add(self.config.every_candidates)
            || self.last.elapsed() >= self.config.every
    }

    pub(super) fn write<A: Serialize, C: Serialize>(
        &mut self,
        algorithm: &A,
        state: &RunState<C>,
    ) -> Result<(), SearchError> {
        #[derive(serde::Serialize)]
        struct Borrowed<'x, A, C> {
            format: &'x str,
            fingerprint: &'x Fingerprint,
            algorithm: &'x A,
            state: &'x RunState<C>,
        }
        let path = &self.config.path;
        let bytes = postcard::to_stdvec(&Borrowed {
            format: checkpoint::FORMAT,
            fingerprint: &self.fingerprint,
            algorithm,
            state,
        })
        .map_err(|e| checkpoint::error(path, format!("cannot serialise the state: {e}")))?;
        checkpoint::write_atomically(path, &checkpoint::seal(bytes))
            .map_err(|e| checkpoint::error(path, e))?;
        self.events_at_last = state.record.n_events;
        self.last = std::time::Instant::now();
        Ok(())
    }
}
