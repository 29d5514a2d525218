//! Homes of the functional equivalence cache outside one search's memory: a store
//! that other threads share ([`MemoryStore`]), one that persists on disk
//! ([`RedbStore`](crate::RedbStore), feature `redb`) and one that other machines
//! share ([`RedisStore`](crate::RedisStore), feature `redis`).
//!
//! A store keeps, per functional hash, the evaluations aggregated so far (each with
//! an id) and the count of full hits since the key was inserted: what FEA's
//! running means and forgetting need. Two rules make a shared store safe:
//!
//! * **Namespaces.** Every key lives in a [`Namespace`] derived from the hash
//!   settings and the evaluator's identity and settings, so two experiments whose
//!   settings differ never share an entry.
//! * **Concurrent writes.** [`FecStore::add_evaluation`] is atomic. An evaluation
//!   whose id the entry already holds is not added again (a resumed search or a
//!   reclaimed job recording the same evaluation twice counts it once), and an entry
//!   never holds more than `max_evals` evaluations: with plain FEC
//!   (`max_evals = 1`) the first result written wins and every later writer gets
//!   that first result back; with FEA the evaluations of concurrent writers are
//!   appended one by one until `max_evals`, and everyone computes the same running
//!   means from them, in the stored order.

use std::fmt;
use std::sync::Mutex;

use rustc_hash::FxHashMap;
use ufh_core::{FunctionalHash, FunctionalHasher, HashSpec, MantissaBits};

use crate::Evaluation;

/// Why a store could not answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{store}: {message}")]
pub struct StoreError {
    /// What failed: a store as [`FecStore::describe`] names it ("FEC store …"),
    /// the job queue, a redis-server.
    pub store: String,
    /// What went wrong.
    pub message: String,
}

impl StoreError {
    /// An error of the store named `store`.
    pub fn new(store: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            store: store.into(),
            message: message.to_string(),
        }
    }
}

/// The experiment a stored entry belongs to: 32 hex digits of a 128-bit functional
/// hash of the hash settings, the evaluator's name and its settings (as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Namespace(String);

impl Namespace {
    /// The namespace of candidates hashed under `spec` and evaluated by the
    /// evaluator called `evaluator` with `settings`.
    pub fn new(spec: &HashSpec, evaluator: &str, settings: &impl serde::Serialize) -> Self {
        let text = serde_json::to_string(&(spec, evaluator, settings))
            .expect("hash specs and plain settings serialise to JSON");
        Self::of_text(&text)
    }

    /// The namespace of a description that already names everything the results
    /// depend on (for evaluators without a [`HashSpec`]).
    pub fn of_text(text: &str) -> Self {
        Self(format!("{:032x}", digest(text.as_bytes())))
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 128-bit digest of `bytes` (length, then 8-byte little-endian words) by the
/// crate's own XXH3 through `ufh-core`.
pub(crate) fn digest(bytes: &[u8]) -> u128 {
    let mut hasher = FunctionalHasher::new_128(MantissaBits::full(ufh_core::FloatFormat::F64));
    hasher.push_u64(bytes.len() as u64);
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hasher.push_u64(u64::from_le_bytes(word));
    }
    hasher.finish().0
}

/// One evaluation as a store keeps it. Its `id` identifies the evaluation (for a
/// search, its seed and proposal index), so that recording it twice counts once.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredEvaluation {
    /// Identity of the evaluation.
    pub id: u64,
    /// Validation fitness.
    pub validation: f64,
    /// Test fitness.
    pub test: f64,
    /// Cost in simulated seconds.
    pub cost_s: f64,
}

impl StoredEvaluation {
    /// `evaluation` under the id `id`.
    pub fn new(id: u64, evaluation: &Evaluation) -> Self {
        Self {
            id,
            validation: evaluation.validation,
            test: evaluation.test,
            cost_s: evaluation.cost_s,
        }
    }

    /// Bytes of the binary form: id, validation, test, cost, each little-endian.
    pub const BYTES: usize = 32;

    /// The binary form stores keep.
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        out[0..8].copy_from_slice(&self.id.to_le_bytes());
        out[8..16].copy_from_slice(&self.validation.to_le_bytes());
        out[16..24].copy_from_slice(&self.test.to_le_bytes());
        out[24..32].copy_from_slice(&self.cost_s.to_le_bytes());
        out
    }

    /// Reads the binary form; `None` unless `bytes` has exactly [`Self::BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let word = |i: usize| <[u8; 8]>::try_from(&bytes[i..i + 8]).expect("8 bytes");
        Some(Self {
            id: u64::from_le_bytes(word(0)),
            validation: f64::from_le_bytes(word(8)),
            test: f64::from_le_bytes(word(16)),
            cost_s: f64::from_le_bytes(word(24)),
        })
    }
}

/// What a store holds of one functional hash.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct StoredEntry {
    /// The evaluations aggregated, in the order they were stored.
    pub evaluations: Vec<StoredEvaluation>,
    /// Full hits since the key was inserted.
    pub n_hits: u32,
}

impl StoredEntry {
    /// The running means over the evaluations, in stored order, by the same
    /// arithmetic as the in-memory cache (so both give the same bits).
    pub fn entry(&self) -> CacheEntry {
        let mut entry = CacheEntry::empty();
        for e in &self.evaluations {
            entry.add(&Evaluation {
                validation: e.validation,
                test: e.test,
                cost_s: e.cost_s,
            });
        }
        entry.n_hits = self.n_hits;
        entry
    }

    /// Adds `evaluation` unless its id is already here or the entry holds
    /// `max_evals` evaluations; the rule every store applies atomically.
    pub fn add(&mut self, evaluation: StoredEvaluation, max_evals: u32) {
        if self.evaluations.len() < max_evals as usize
            && self.evaluations.iter().all(|e| e.id != evaluation.id)
        {
            self.evaluations.push(evaluation);
        }
    }

    /// The binary form: hit count (u32), then each evaluation's 32 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + StoredEvaluation::BYTES * self.evaluations.len());
        out.extend_from_slice(&self.n_hits.to_le_bytes());
        for e in &self.evaluations {
            out.extend_from_slice(&e.to_bytes());
        }
        out
    }

    /// Reads the binary form; `None` if its length does not fit it.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (hits, rest) = bytes.split_at_checked(4)?;
        if rest.len() % StoredEvaluation::BYTES != 0 {
            return None;
        }
        Some(Self {
            n_hits: u32::from_le_bytes(hits.try_into().expect("4 bytes")),
            evaluations: rest
                .chunks(StoredEvaluation::BYTES)
                .map(|c| StoredEvaluation::from_bytes(c).expect("32 bytes"))
                .collect(),
        })
    }
}

/// A home for the functional equivalence cache's entries that outlives a search or
/// is shared between searches, threads or machines. Every method is one atomic
/// step of the store; a store that can fail for a while (a restarted server)
/// retries inside the call and returns an error only when it gives up.
pub trait FecStore: Send + Sync + fmt::Debug {
    /// What the store is, for messages: its kind, location and namespace.
    fn describe(&self) -> String;

    /// The entry of `key`, if any.
    fn get(&self, key: FunctionalHash) -> Result<Option<StoredEntry>, StoreError>;

    /// The entries of `keys`, in order; stores that talk to a server send them as
    /// one round trip.
    fn get_many(&self, keys: &[FunctionalHash]) -> Result<Vec<Option<StoredEntry>>, StoreError> {
        keys.iter().map(|&k| self.get(k)).collect()
    }

    /// Adds `evaluation` to the entry of `key` (created if absent) by the rule of
    /// [`StoredEntry::add`], atomically, and returns the entry as it is after.
    fn add_evaluation(
        &self,
        key: FunctionalHash,
        evaluation: StoredEvaluation,
        max_evals: u32,
    ) -> Result<StoredEntry, StoreError>;

    /// Counts a full hit of `key` and returns the entry's hit count after it.
    fn add_hit(&self, key: FunctionalHash) -> Result<u32, StoreError>;

    /// Forgets `key`.
    fn remove(&self, key: FunctionalHash) -> Result<(), StoreError>;

    /// Keys held in this store's namespace.
    fn len(&self) -> Result<u64, StoreError>;

    /// Whether the namespace holds no key.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Every entry, sorted by key, if the store lives only in this process's
    /// memory, so that a checkpoint of a search must hold them to resume it
    /// ([`MemoryStore`]); `None` (the default) for a store that keeps its entries
    /// by itself (a file, a server).
    fn checkpoint_entries(&self) -> Option<Vec<(FunctionalHash, StoredEntry)>> {
        None
    }

    /// Replaces every entry by `entries`, those [`FecStore::checkpoint_entries`]
    /// gave when a checkpoint was written. Only stores that give them can.
    fn restore_checkpoint_entries(
        &self,
        entries: Vec<(FunctionalHash, StoredEntry)>,
    ) -> Result<(), StoreError> {
        let _ = entries;
        Err(StoreError::new(
            self.describe(),
            "this store keeps its entries itself; a checkpoint holds none of them",
        ))
    }
}

/// The in-memory home as a store: a map behind a mutex, for several searches or
/// threads of one process, and the model the other homes are tested against.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<FxHashMap<FunctionalHash, StoredEntry>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, FxHashMap<FunctionalHash, StoredEntry>> {
        // A panic while the lock was held cannot leave an entry half-written: each
        // method changes one entry by one assignment.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FecStore for MemoryStore {
    fn describe(&self) -> String {
        "FEC store in memory".into()
    }

    fn get(&self, key: FunctionalHash) -> Result<Option<StoredEntry>, StoreError> {
        Ok(self.map().get(&key).cloned())
    }

    fn add_evaluation(
        &self,
        key: FunctionalHash,
        evaluation: StoredEvaluation,
        max_evals: u32,
    ) -> Result<StoredEntry, StoreError> {
        let mut map = self.map();
        let entry = map.entry(key).or_default();
        entry.add(evaluation, max_evals);
        Ok(entry.clone())
    }

    fn add_hit(&self, key: FunctionalHash) -> Result<u32, StoreError> {
        let mut map = self.map();
        let entry = map.entry(key).or_default();
        entry.n_hits += 1;
        Ok(entry.n_hits)
    }

    fn remove(&self, key: FunctionalHash) -> Result<(), StoreError> {
        self.map().remove(&key);
        Ok(())
    }

    fn len(&self) -> Result<u64, StoreError> {
        Ok(self.map().len() as u64)
    }

    fn checkpoint_entries(&self) -> Option<Vec<(FunctionalHash, StoredEntry)>> {
        let mut entries: Vec<_> = self.map().iter().map(|(k, e)| (*k, e.clone())).collect();
        entries.sort_unstable_by_key(|(k, _)| *k);
        Some(entries)
    }

    fn restore_checkpoint_entries(
        &self,
        entries: Vec<(FunctionalHash, StoredEntry)>,
    ) -> Result<(), StoreError> {
        *self.map() = entries.into_iter().collect();
        Ok(())
    }
}

/// Tests every store must pass, shared by the homes' own test modules.
/// What the cache knows of one functional hash: running means over its evaluations.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheEntry {
    /// Mean validation fitness.
    pub validation: f64,
    /// Mean test fitness.
    pub test: f64,
    /// Mean evaluation cost in simulated seconds.
    pub cost_s: f64,
    /// Evaluations aggregated.
    pub n_evals: u32,
    /// Full hits since insertion.
    pub n_hits: u32,
    pub(crate) last_used: u64,
}

impl CacheEntry {
    /// An entry before its first evaluation.
    pub(crate) fn empty() -> Self {
        CacheEntry {
            validation: 0.0,
            test: 0.0,
            cost_s: 0.0,
            n_evals: 0,
            n_hits: 0,
            last_used: 0,
        }
    }

    /// Adds one evaluation to the running means.
    pub(crate) fn add(&mut self, evaluation: &Evaluation) {
        self.n_evals += 1;
        if self.n_evals == 1 {
            // The first evaluation is taken as it is, a failure's infinite fitness too.
            self.validation = evaluation.validation;
            self.test = evaluation.test;
            self.cost_s = evaluation.cost_s;
        } else {
            let n = f64::from(self.n_evals);
            self.validation += (evaluation.validation - self.validation) / n;
            self.test += (evaluation.test - self.test) / n;
            self.cost_s += (evaluation.cost_s - self.cost_s) / n;
        }
    }
}

#[cfg(test)]
pub(crate) mod contract {
    use super::*;
    use std::sync::Arc;

    fn eval(id: u64, v: f64) -> StoredEvaluation {
        StoredEvaluation {
            id,
            validation: v,
            test: v / 2.0,
            cost_s: 1.0 + v,
        }
    }

    /// Get, add, dedup by id, the `max_evals` cap, hits, removal and length.
    pub(crate) fn basic(store: &dyn FecStore) {
        let k = FunctionalHash(0xdead_beef);
        assert_eq!(store.get(k).unwrap(), None);
        assert!(store.is_empty().unwrap());
        let after = store.add_evaluation(k, eval(1, 0.5), 3).unwrap();
        assert_eq!(after.evaluations, vec![eval(1, 0.5)]);
        // The same id again counts once.
        let after = store.add_evaluation(k, eval(1, 0.9), 3).unwrap();
        assert_eq!(after.evaluations, vec![eval(1, 0.5)]);
        store.add_evaluation(k, eval(2, 0.25), 3).unwrap();
        store.add_evaluation(k, eval(3, 1.0), 3).unwrap();
        // Full: a fourth is not kept.
        let after = store.add_evaluation(k, eval(4, 7.0), 3).unwrap();
        assert_eq!(after.evaluations.len(), 3);
        let mean = after.entry();
        assert_eq!(mean.n_evals, 3);
        assert!((mean.validation - (0.5 + 0.25 + 1.0) / 3.0).abs() < 1e-15);
        assert_eq!(store.add_hit(k).unwrap(), 1);
        assert_eq!(store.add_hit(k).unwrap(), 2);
        assert_eq!(store.get(k).unwrap().unwrap().n_hits, 2);
        let other = FunctionalHash(u64::MAX);
        store
            .add_evaluation(other, eval(9, f64::NEG_INFINITY), 1)
            .unwrap();
        assert_eq!(
            store.get_many(&[k, FunctionalHash(3), other]).unwrap(),
            vec![store.get(k).unwrap(), None, store.get(other).unwrap()]
        );
        assert_eq!(store.len().unwrap(), 2);
        store.remove(k).unwrap();
        assert_eq!(store.get(k).unwrap(), None);
        assert_eq!(store.len().unwrap(), 1);
        // A failure's infinite fitness comes back bit for bit.
        let failed = store.get(other).unwrap().unwrap().evaluations[0];
        assert_eq!(failed.validation, f64::NEG_INFINITY);
    }

    /// Four writers race on the same keys: each key ends with exactly
    /// `max_evals` evaluations (no more, none twice), and every writer's answer is
    /// a prefix of the final list, so all agree on the first result.
    pub(crate) fn concurrent_writers(store: Arc<dyn FecStore>, max_evals: u32) {
        let keys: Vec<FunctionalHash> = (0..20).map(|i| FunctionalHash(1000 + i)).collect();
        let answers: Vec<Vec<StoredEntry>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4u64)
                .map(|w| {
                    let store = Arc::clone(&store);
                    let keys = &keys;
                    scope.spawn(move || {
                        keys.iter()
                            .map(|&k| {
                                // Each writer records two evaluations of its own.
                                store
                                    .add_evaluation(k, eval(w * 2, w as f64), max_evals)
                                    .unwrap();
                                store
                                    .add_evaluation(k, eval(w * 2 + 1, w as f64 + 0.5), max_evals)
                                    .unwrap()
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, &k) in keys.iter().enumerate() {
            let last = store.get(k).unwrap().unwrap();
            assert_eq!(last.evaluations.len(), max_evals as usize);
            let mut ids: Vec<u64> = last.evaluations.iter().map(|e| e.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), max_evals as usize, "an evaluation stored twice");
            for answer in &answers {
                let seen = &answer[i].evaluations;
                assert!(!seen.is_empty());
                assert_eq!(seen[..], last.evaluations[..seen.len()]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn memory_store_keeps_the_contract() {
        contract::basic(&MemoryStore::new());
    }

    #[test]
    fn memory_store_first_result_wins_and_fea_aggregates_atomically() {
        contract::concurrent_writers(Arc::new(MemoryStore::new()), 1);
        contract::concurrent_writers(Arc::new(MemoryStore::new()), 5);
    }

    #[test]
    fn binary_forms_round_trip_and_reject_bad_lengths() {
        let entry = StoredEntry {
            evaluations: vec![
                StoredEvaluation::new(7, &Evaluation::failed(2.0)),
                StoredEvaluation {
                    id: u64::MAX,
                    validation: 0.1,
                    test: -0.0,
                    cost_s: 3.5,
                },
            ],
            n_hits: 9,
        };
        let bytes = entry.to_bytes();
        assert_eq!(bytes.len(), 4 + 64);
        assert_eq!(StoredEntry::from_bytes(&bytes), Some(entry));
        assert_eq!(StoredEntry::from_bytes(&bytes[..10]), None);
        assert_eq!(StoredEntry::from_bytes(&[1, 2]), None);
    }

    #[test]
    fn namespaces_separate_settings() {
        let spec = HashSpec::new(MantissaBits::f64(8).unwrap(), 4, vec![1, 2]).unwrap();
        let a = Namespace::new(&spec, "nasbench101", &("cost", 1.0));
        assert_eq!(a, Namespace::new(&spec, "nasbench101", &("cost", 1.0)));
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, Namespace::new(&spec, "nasbench101", &("cost", 2.0)));
        assert_ne!(a, Namespace::new(&spec, "automl-zero", &("cost", 1.0)));
        let coarser = spec.with_mantissa_bits(MantissaBits::f64(4).unwrap());
        assert_ne!(a, Namespace::new(&coarser, "nasbench101", &("cost", 1.0)));
    }
}
