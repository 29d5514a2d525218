//! The functional equivalence cache (FEC, Method 5) with its forgetful (Method 8)
//! and aggregating (FEA, Method 9) variants.

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use ufh_core::FunctionalHash;

use crate::store::{CacheEntry, FecStore, StoreError, StoredEntry, StoredEvaluation};
use crate::{Evaluation, SearchError, SearchRng};

/// When a cache forgets a key after a full hit (Method 8).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Forgetting {
    /// Never: plain FEC.
    Never,
    /// With fixed probability `p` after each full hit.
    Fixed(f64),
    /// With probability `1/(n+1)` on the n-th full hit since the key was inserted.
    Harmonic,
    /// Always on the n-th full hit since the key was inserted: AutoML-Zero's own
    /// FEC forgets an entry after 100 hits, so a fitness is re-measured now and then.
    AfterHits(NonZeroU32),
}

/// Settings of a [`FunctionalEquivalenceCache`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FecConfig {
    /// Most keys kept; the least recently used goes first. `None`: unbounded.
    pub capacity: Option<NonZeroUsize>,
    /// Forgetting after full hits.
    pub forgetting: Forgetting,
    /// Evaluations aggregated per key before hits are full (FEA); 1 is plain FEC.
    pub max_evals: NonZeroU32,
}

impl FecConfig {
    /// Plain FEC: unbounded, never forgetting, one evaluation per key.
    pub const PLAIN: FecConfig = FecConfig {
        capacity: None,
        forgetting: Forgetting::Never,
        max_evals: NonZeroU32::MIN,
    };

    /// AutoML-Zero's own FEC: the 100,000 most recently used keys, each forgotten on
    /// its 100th full hit.
    pub const AUTOML_ZERO: FecConfig = FecConfig {
        capacity: NonZeroUsize::new(100_000),
        forgetting: Forgetting::AfterHits(NonZeroU32::new(100).expect("positive")),
        max_evals: NonZeroU32::MIN,
    };

    /// Checks the forgetting probability and builds an empty cache.
    pub fn build(self) -> Result<FunctionalEquivalenceCache, SearchError> {
        if let Forgetting::Fixed(p) = self.forgetting
            && !(0.0..=1.0).contains(&p)
        {
            return Err(SearchError::InvalidConfig(format!(
                "forgetting probability {p} is outside [0, 1]"
            )));
        }
        Ok(FunctionalEquivalenceCache {
            config: self,
            entries: FxHashMap::default(),
            recency: BTreeMap::new(),
            tick: 0,
            counters: CacheCounters::default(),
            store: None,
            store_error: None,
            replay: None,
        })
    }

    /// Builds a cache whose entries live in `store` (which may already hold
    /// entries of earlier searches or of other machines) instead of this process's
    /// memory. A store keeps every key: bound it in the store itself (Redis's
    /// `maxmemory`), so a capacity here is refused. Forgetting counts the hits
    /// held in the store, which all its users share.
    pub fn build_with_store(
        self,
        store: Arc<dyn FecStore>,
    ) -> Result<FunctionalEquivalenceCache, SearchError> {
        if let Some(capacity) = self.capacity {
            return Err(SearchError::InvalidConfig(format!(
                "a cache of capacity {capacity} cannot live in the store {}: a store keeps every key",
                store.describe()
            )));
        }
        let mut cache = self.build()?;
        cache.store = Some(store);
        Ok(cache)
    }
}

/// The outcome of looking a hash up.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Lookup {
    /// Unknown hash: evaluate, then [`FunctionalEquivalenceCache::record`].
    Miss,
    /// Known, but with fewer than `max_evals` evaluations (FEA): evaluate again and
    /// record; select on the mean that `record` returns.
    PartialHit,
    /// Known and complete: use these values, skip the evaluation.
    Hit(CacheEntry),
}

/// Counts of cache outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheCounters {
    /// Lookups of unknown hashes.
    pub misses: u64,
    /// Lookups of known hashes still aggregating evaluations.
    pub partial_hits: u64,
    /// Lookups answered from the cache.
    pub full_hits: u64,
    /// Keys removed by forgetting.
    pub forgotten: u64,
    /// Keys removed by the capacity limit.
    pub evicted: u64,
}

/// Fitness cached by functional hash, so that a candidate equivalent to one already
/// evaluated is not evaluated again.
///
/// Its entries live in this process's memory ([`FecConfig::build`]) or in a
/// [`FecStore`] ([`FecConfig::build_with_store`]). The two differ in one case:
/// equivalent candidates in flight together (workers, a parallel generation) all
/// miss, and when their evaluations come back the in-memory cache aggregates every
/// one into the key's running means (as the paper's figures were made), while a
/// store keeps the first `max_evals` and answers those (the first result wins, as
/// it must between machines). A store that fails (a server
/// gone for longer than it retries) turns lookups into misses and keeps its first
/// error ([`FunctionalEquivalenceCache::store_error`]): a search stops starting
/// candidates and reports it, and nothing it computed is lost.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FunctionalEquivalenceCache {
    config: FecConfig,
    entries: FxHashMap<FunctionalHash, CacheEntry>,
    /// Last-use tick → key, for least-recently-used eviction; kept only when the
    /// cache has a capacity, so that an unbounded lookup is one map probe.
    recency: BTreeMap<u64, FunctionalHash>,
    tick: u64,
    counters: CacheCounters,
    /// Not in a checkpoint: the entries are in the store, which the resumed search
    /// attaches again ([`FunctionalEquivalenceCache::attach_store`]).
    #[serde(skip)]
    store: Option<Arc<dyn FecStore>>,
    #[serde(skip)]
    store_error: Option<StoreError>,
    /// While a resumed search replays from its checkpoint: the store's
    /// evaluations that its interrupted run wrote after the checkpoint.
    #[serde(skip)]
    replay: Option<Replay>,
}

/// The evaluations a resumed search must not see yet: those of its own proposals
/// that were not recorded when its checkpoint was written (proposal `from` on,
/// and the candidates then in flight), until the replay records them again. The
/// interrupted run wrote them to the store after the checkpoint; seen early, they
/// would turn the replay's misses into hits and its record would differ from an
/// uninterrupted run's. A search's evaluation ids are a bijection of its proposal
/// indices ([`crate::evaluation_id`]), so an id tells which proposal it is.
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    seed: u64,
    from: u64,
    /// Ids of the candidates in flight at the checkpoint.
    pending: FxHashSet<u64>,
    /// Ids recorded since the resume.
    recorded: FxHashSet<u64>,
}

impl Replay {
    /// Proposals at most this far past the checkpoint count as the search's own:
    /// another search's id falls in the window with probability 2^-32.
    const WINDOW: u64 = 1 << 32;

    pub(crate) fn new(seed: u64, from: u64, pending: impl IntoIterator<Item = u64>) -> Self {
        Self {
            seed,
            from,
            pending: pending.into_iter().collect(),
            recorded: FxHashSet::default(),
        }
    }

    fn hides(&self, id: u64) -> bool {
        let index = crate::driver::evaluation_index(self.seed, id);
        let unrecorded = index.wrapping_sub(self.from) < Self::WINDOW || self.pending.contains(&id);
        unrecorded && !self.recorded.contains(&id)
    }

    /// `stored` without the evaluations not to be seen yet (`None` if none is left).
    fn visible(&self, mut stored: StoredEntry) -> Option<StoredEntry> {
        stored.evaluations.retain(|e| !self.hides(e.id));
        (!stored.evaluations.is_empty()).then_some(stored)
    }
}

impl FunctionalEquivalenceCache {
    /// Looks `hash` up; a full hit may make the cache forget the key afterwards.
    /// `rng` decides forgetting only.
    pub fn lookup(&mut self, hash: FunctionalHash, rng: &mut SearchRng) -> Lookup {
        if let Some(store) = self.store.clone() {
            return self.lookup_in(&*store, hash, rng).unwrap_or_else(|e| {
                self.store_error.get_or_insert(e);
                self.counters.misses += 1;
                Lookup::Miss
            });
        }
        let Some(entry) = self.entries.get_mut(&hash) else {
            self.counters.misses += 1;
            return Lookup::Miss;
        };
        if self.config.capacity.is_some() {
            self.tick += 1;
            self.recency.remove(&entry.last_used);
            entry.last_used = self.tick;
            self.recency.insert(self.tick, hash);
        }
        if entry.n_evals < self.config.max_evals.get() {
            self.counters.partial_hits += 1;
            return Lookup::PartialHit;
        }
        entry.n_hits += 1;
        self.counters.full_hits += 1;
        let found = *entry;
        if self.forgets(found.n_hits, rng) {
            self.remove(hash);
            self.counters.forgotten += 1;
        }
        Lookup::Hit(found)
    }

    /// Whether the cache holds an evaluation of `hash`, without counting a hit,
    /// touching recency or forgetting (a store that fails answers `false`, and
    /// the run stops with its error).
    pub(crate) fn knows(&mut self, hash: FunctionalHash) -> bool {
        let Some(store) = self.store.clone() else {
            return self.entries.contains_key(&hash);
        };
        match store.get(hash) {
            Ok(stored) => match &self.replay {
                Some(replay) => stored.and_then(|s| replay.visible(s)).is_some(),
                None => stored.is_some(),
            },
            Err(e) => {
                self.store_error.get_or_insert(e);
                false
            }
        }
    }

    /// Whether a key is forgotten on its `n_hits`-th full hit.
    fn forgets(&self, n_hits: u32, rng: &mut SearchRng) -> bool {
        match self.config.forgetting {
            Forgetting::Never => false,
            Forgetting::Fixed(p) => bernoulli(rng, p),
            Forgetting::Harmonic => bernoulli(rng, 1.0 / (f64::from(n_hits) + 1.0)),
            Forgetting::AfterHits(n) => n_hits >= n.get(),
        }
    }

    /// [`Self::lookup`] in a store.
    fn lookup_in(
        &mut self,
        store: &dyn FecStore,
        hash: FunctionalHash,
        rng: &mut SearchRng,
    ) -> Result<Lookup, StoreError> {
        let stored = store.get(hash)?;
        let stored = match &self.replay {
            Some(replay) => stored.and_then(|s| replay.visible(s)),
            None => stored,
        };
        let Some(stored) = stored else {
            self.counters.misses += 1;
            return Ok(Lookup::Miss);
        };
        let mut found = stored.entry();
        if found.n_evals < self.config.max_evals.get() {
            self.counters.partial_hits += 1;
            return Ok(Lookup::PartialHit);
        }
        self.counters.full_hits += 1;
        if self.config.forgetting != Forgetting::Never {
            // Hit counts matter only to forgetting: plain FEC's hits stay reads.
            found.n_hits = store.add_hit(hash)?;
            if self.forgets(found.n_hits, rng) {
                store.remove(hash)?;
                self.counters.forgotten += 1;
            }
        }
        Ok(Lookup::Hit(found))
    }

    /// Adds an evaluation of `hash` and returns the entry's new running means.
    /// In a store the evaluation's id is the cache's own count of records; a
    /// search records through [`Self::record_evaluation`] with its own ids.
    pub fn record(&mut self, hash: FunctionalHash, evaluation: &Evaluation) -> CacheEntry {
        let id = self.tick + 1;
        self.record_evaluation(hash, evaluation, id)
    }

    /// Adds the evaluation `id` of `hash` and returns the entry's new running
    /// means. A store counts an id once (see [`FecStore::add_evaluation`]); in
    /// memory the id is not kept.
    pub fn record_evaluation(
        &mut self,
        hash: FunctionalHash,
        evaluation: &Evaluation,
        id: u64,
    ) -> CacheEntry {
        self.tick += 1;
        if let Some(store) = &self.store {
            let stored = StoredEvaluation::new(id, evaluation);
            if let Some(replay) = &mut self.replay {
                replay.recorded.insert(id);
            }
            return match store.add_evaluation(hash, stored, self.config.max_evals.get()) {
                Ok(entry) => match &self.replay {
                    // Only another search's write, at once, could fill the entry
                    // with evaluations this one does not see yet.
                    Some(replay) => replay.visible(entry).map_or_else(
                        || {
                            let mut alone = CacheEntry::empty();
                            alone.add(evaluation);
                            alone
                        },
                        |visible| visible.entry(),
                    ),
                    None => entry.entry(),
                },
                Err(e) => {
                    self.store_error.get_or_insert(e);
                    let mut alone = CacheEntry::empty();
                    alone.add(evaluation);
                    alone
                }
            };
        }
        let tick = self.tick;
        let entry = self.entries.entry(hash).or_insert(CacheEntry {
            last_used: tick,
            ..CacheEntry::empty()
        });
        if self.config.capacity.is_some() {
            self.recency.remove(&entry.last_used);
        }
        entry.last_used = tick;
        entry.add(evaluation);
        let result = *entry;
        if let Some(capacity) = self.config.capacity {
            self.recency.insert(tick, hash);
            while self.entries.len() > capacity.get() {
                let (_, oldest) = self.recency.pop_first().expect("recency tracks every key");
                self.entries.remove(&oldest);
                self.counters.evicted += 1;
            }
        }
        result
    }

    fn remove(&mut self, hash: FunctionalHash) {
        if let Some(entry) = self.entries.remove(&hash) {
            self.recency.remove(&entry.last_used);
        }
    }

    /// Keys held in memory (a cache in a store holds none itself).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is held in memory.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The in-memory entry of `hash`, without touching recency or counters.
    pub fn peek(&self, hash: FunctionalHash) -> Option<&CacheEntry> {
        self.entries.get(&hash)
    }

    /// Attaches `store` to a cache restored from a checkpoint (whose store is not
    /// in the checkpoint), with the `replay` that hides what the interrupted run
    /// stored after it, if the store kept that.
    pub(crate) fn attach_store(
        &mut self,
        store: Option<Arc<dyn FecStore>>,
        replay: Option<Replay>,
    ) {
        self.store = store;
        self.replay = replay;
    }

    /// The store the entries live in, if not in memory.
    pub fn store(&self) -> Option<&Arc<dyn FecStore>> {
        self.store.as_ref()
    }

    /// The first error of the store, if it failed.
    pub fn store_error(&self) -> Option<&StoreError> {
        self.store_error.as_ref()
    }

    /// Outcome counts so far.
    pub fn counters(&self) -> CacheCounters {
        self.counters
    }
}

/// Draws `true` with probability `p` (clamped to [0, 1]).
fn bernoulli(rng: &mut SearchRng, p: f64) -> bool {
    p > 0.0 && rand::Rng::random::<f64>(rng) < p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::rng;

    fn eval(v: f64) -> Evaluation {
        Evaluation {
            validation: v,
            test: v / 2.0,
            cost_s: 10.0 * v,
        }
    }

    #[test]
    fn plain_fec_hits_after_one_evaluation() {
        let mut fec = FecConfig::PLAIN.build().unwrap();
        let mut rng = rng(0);
        let h = FunctionalHash(7);
        assert_eq!(fec.lookup(h, &mut rng), Lookup::Miss);
        fec.record(h, &eval(0.5));
        let Lookup::Hit(entry) = fec.lookup(h, &mut rng) else {
            panic!("expected a hit")
        };
        assert_eq!(
            (entry.validation, entry.test, entry.n_evals),
            (0.5, 0.25, 1)
        );
        assert_eq!(fec.counters().full_hits, 1);
        assert_eq!(fec.counters().misses, 1);
    }

    #[test]
    fn fea_keeps_running_means_until_max_evals() {
        let config = FecConfig {
            max_evals: NonZeroU32::new(3).unwrap(),
            ..FecConfig::PLAIN
        };
        let mut fec = config.build().unwrap();
        let mut rng = rng(0);
        let h = FunctionalHash(1);
        assert_eq!(fec.lookup(h, &mut rng), Lookup::Miss);
        fec.record(h, &eval(0.2));
        assert_eq!(fec.lookup(h, &mut rng), Lookup::PartialHit);
        let mean = fec.record(h, &eval(0.4));
        assert!((mean.validation - 0.3).abs() < 1e-12);
        assert_eq!(fec.lookup(h, &mut rng), Lookup::PartialHit);
        let mean = fec.record(h, &eval(0.9));
        assert!((mean.validation - 0.5).abs() < 1e-12);
        assert!((mean.cost_s - 5.0).abs() < 1e-12);
        assert!(matches!(fec.lookup(h, &mut rng), Lookup::Hit(e) if e.n_evals == 3));
        assert_eq!(fec.counters().partial_hits, 2);
    }

    #[test]
    fn fixed_forgetting_removes_keys_at_its_rate() {
        let p = 0.3;
        let config = FecConfig {
            forgetting: Forgetting::Fixed(p),
            ..FecConfig::PLAIN
        };
        let mut fec = config.build().unwrap();
        let mut rng = rng(11);
        let trials = 20_000;
        for i in 0..trials {
            let h = FunctionalHash(i);
            fec.record(h, &eval(0.1));
            assert!(matches!(fec.lookup(h, &mut rng), Lookup::Hit(_)));
        }
        let rate = fec.counters().forgotten as f64 / trials as f64;
        // Binomial standard deviation at 20,000 trials is 0.0032; allow 5 of them.
        assert!((rate - p).abs() < 0.017, "forgetting rate {rate}");
        assert_eq!(fec.len() as u64, trials - fec.counters().forgotten);
    }

    #[test]
    fn harmonic_forgetting_follows_one_over_n_plus_one() {
        let config = FecConfig {
            forgetting: Forgetting::Harmonic,
            ..FecConfig::PLAIN
        };
        let mut fec = config.build().unwrap();
        let mut rng = rng(5);
        let trials = 20_000u64;
        let mut forgotten_at = [0u64; 3];
        for i in 0..trials {
            let h = FunctionalHash(i);
            fec.record(h, &eval(0.1));
            for slot in &mut forgotten_at {
                fec.lookup(h, &mut rng);
                if fec.peek(h).is_none() {
                    *slot += 1;
                    break;
                }
            }
        }
        // P(first hit forgets) = 1/2; P(second) = 1/2 · 1/3; P(third) = 1/2 · 2/3 · 1/4.
        let expected = [0.5, 1.0 / 6.0, 1.0 / 12.0];
        for (count, p) in forgotten_at.iter().zip(expected) {
            let rate = *count as f64 / trials as f64;
            assert!((rate - p).abs() < 0.02, "rate {rate} vs {p}");
        }
    }

    #[test]
    fn capacity_evicts_the_least_recently_used() {
        let config = FecConfig {
            capacity: NonZeroUsize::new(2),
            ..FecConfig::PLAIN
        };
        let mut fec = config.build().unwrap();
        let mut rng = rng(0);
        fec.record(FunctionalHash(1), &eval(0.1));
        fec.record(FunctionalHash(2), &eval(0.2));
        fec.lookup(FunctionalHash(1), &mut rng); // 1 is now the most recent
        fec.record(FunctionalHash(3), &eval(0.3));
        assert!(fec.peek(FunctionalHash(1)).is_some());
        assert!(fec.peek(FunctionalHash(2)).is_none());
        assert_eq!(fec.counters().evicted, 1);
    }

    #[test]
    fn counted_forgetting_forgets_on_the_nth_hit() {
        let mut fec = FecConfig {
            forgetting: Forgetting::AfterHits(NonZeroU32::new(3).unwrap()),
            ..FecConfig::PLAIN
        }
        .build()
        .unwrap();
        let mut rng = rng(2);
        let h = FunctionalHash(9);
        fec.record(h, &eval(0.4));
        for _ in 0..3 {
            assert!(matches!(fec.lookup(h, &mut rng), Lookup::Hit(_)));
        }
        assert_eq!(fec.lookup(h, &mut rng), Lookup::Miss, "forgotten on hit 3");
        assert_eq!(fec.counters().forgotten, 1);
        assert_eq!(FecConfig::AUTOML_ZERO.capacity.unwrap().get(), 100_000);
    }

    #[test]
    fn bad_probability_is_an_error() {
        let config = FecConfig {
            forgetting: Forgetting::Fixed(1.5),
            ..FecConfig::PLAIN
        };
        assert_eq!(
            config.build().unwrap_err().to_string(),
            "invalid search configuration: forgetting probability 1.5 is outside [0, 1]"
        );
    }
}
