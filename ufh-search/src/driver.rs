//! The driver: owns the simulated clock, the budget and the techniques, and runs
//! the loop serially, on N simulated asynchronous workers, or in real parallel.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ufh_core::FunctionalHash;

use crate::checkpoint::{self, Checkpoints};

use crate::algorithm::fitness_order;
use crate::fcm::ParentHashes;
use crate::record::{Event, EventSink, Outcome, SearchRecord};
use crate::tabulist::Tabulist;
use crate::{
    Algorithm, AuditConfig, AuditCounters, Best, CandidateHasher, Evaluation, Evaluator, FcmConfig,
    FecConfig, FecStore, Feedback, FunctionalEquivalenceCache, Lookup, ProposeContext, SearchError,
    SearchRng, SearchSpace, TabulistConfig,
};

/// When a search stops.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Budget {
    /// Start no candidate once the simulated clock (evaluation plus hashing costs,
    /// seeding counted) has reached this much, in the evaluator's
    /// [`CostUnit`](crate::CostUnit) (seconds unless it declares training or
    /// environment steps); candidates in flight finish.
    /// A search whose last [`Budget::MAX_HITS_IN_A_ROW`] candidates were all full
    /// cache hits has stopped finding new functions and also stops: when hits cost
    /// little simulated time it could otherwise propose millions of them. Its
    /// best-so-far curve is flat from there to the end of the budget.
    SimulatedSeconds(f64),
    /// Start no more than this many candidates (cache hits included).
    Candidates(u64),
    /// Start no candidate once this many evaluations have been started (cache
    /// hits are free; FEA's repeated evaluations count). Since hits spend nothing,
    /// a search that has run out of new functions would never finish: it also
    /// stops after [`Budget::MAX_HITS_IN_A_ROW`] consecutive full cache hits.
    Evaluations(u64),
}

impl Budget {
    /// Consecutive full cache hits after which a [`Budget::SimulatedSeconds`] or
    /// [`Budget::Evaluations`] search stops.
    pub const MAX_HITS_IN_A_ROW: u64 = 10_000;

    fn allows_start(
        self,
        clock_s: f64,
        n_started: u64,
        n_evaluations: u64,
        hits_in_a_row: u64,
    ) -> bool {
        match self {
            Budget::SimulatedSeconds(limit) => {
                clock_s < limit && hits_in_a_row < Self::MAX_HITS_IN_A_ROW
            }
            Budget::Candidates(limit) => n_started < limit,
            Budget::Evaluations(limit) => {
                n_evaluations < limit && hits_in_a_row < Self::MAX_HITS_IN_A_ROW
            }
        }
    }
}

/// The techniques wrapped around an algorithm; any combination is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Techniques {
    /// Functional equivalence cache.
    pub fec: Option<FecConfig>,
    /// Functional change mutation.
    pub fcm: Option<FcmConfig>,
    /// Tabulist.
    pub tabulist: Option<TabulistConfig>,
    /// Counterfactual audit of cache hits (needs `fec`).
    pub audit: Option<AuditConfig>,
}

impl Techniques {
    /// No technique: the baseline.
    pub const NONE: Techniques = Techniques {
        fec: None,
        fcm: None,
        tabulist: None,
        audit: None,
    };

    /// Plain FEC alone.
    pub const FEC: Techniques = Techniques {
        fec: Some(FecConfig::PLAIN),
        ..Techniques::NONE
    };

    fn need_hash(&self) -> bool {
        self.fec.is_some() || self.fcm.is_some() || self.tabulist.is_some()
    }
}

/// Seeds of the independent streams of a search. Keeping evaluation noise and cache
/// forgetting off the search's own stream is what makes FEC leave a serial,
/// deterministic search's proposals unchanged; giving each candidate its own
/// evaluator stream makes results independent of evaluation order and threads.
const EVALUATOR_STREAM: u64 = 0x6576_616c_7561_7465; // "evaluate"
const AUDIT_STREAM: u64 = 0x6175_6469_7473_6565; // "auditsee"
const CACHE_STREAM: u64 = 0x6361_6368_6566_6f72; // "cachefor"

/// The evaluator's RNG for the candidate of proposal `index` of the search `seed`.
fn candidate_rng(seed: u64, stream: u64, index: u64) -> SearchRng {
    SearchRng::seed_from_u64(
        (seed ^ stream).wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    )
}

/// How a search runs its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// One candidate at a time, each fully processed (hashed, looked up, evaluated
    /// if needed, fed back) before the next is proposed.
    Serial,
    /// N asynchronous workers on the simulated clock (Section 6.2.1 of the
    /// paper): whenever a worker finishes, its result is fed back and it starts
    /// the next proposal. A cache hit finishes after its hashing cost alone, so
    /// hits reorder arrivals; a result enters the cache when its evaluation
    /// finishes. Ties in finish time go to the earlier proposal, so a run is
    /// deterministic for its seed. One worker is [`Mode::Serial`].
    Workers(NonZeroUsize),
    /// Real parallelism, for evaluators that really compute: generations of up
    /// to N proposals are hashed and looked up in order, evaluated as one batch
    /// ([`Evaluator::try_evaluate_batch`], on rayon's pool by default) and fed
    /// back in proposal order. Each candidate's evaluator stream depends on its
    /// proposal index alone, so the result is the same on any number of threads.
    /// On the simulated clock a generation ends when its slowest candidate does.
    Parallel(NonZeroUsize),
}

impl Mode {
    /// Candidates in flight at once: 1 serially.
    fn width(self) -> NonZeroUsize {
        match self {
            Mode::Serial => NonZeroUsize::MIN,
            Mode::Workers(n) | Mode::Parallel(n) => n,
        }
    }

    /// `workers` simulated asynchronous workers; 0 is refused.
    pub fn workers(workers: usize) -> Result<Self, SearchError> {
        NonZeroUsize::new(workers)
            .map(Mode::Workers)
            .ok_or_else(|| SearchError::InvalidConfig("0 workers cannot run a search".into()))
    }

    /// Generations of `batch` candidates evaluated in real parallel; 0 is refused.
    pub fn parallel(batch: usize) -> Result<Self, SearchError> {
        NonZeroUsize::new(batch).map(Mode::Parallel).ok_or_else(|| {
            SearchError::InvalidConfig("a parallel generation of 0 candidates".into())
        })
    }
}

/// What a search found: the fittest candidate with its evaluation, and the
/// record of every step.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchResult<C> {
    /// The fittest candidate fed back (the first of equals), with its validation
    /// and test fitness as fed back (running means under FEA, the cached
    /// evaluation for a cache hit); `None` if no candidate was started.
    pub best: Option<Best<C>>,
    /// Every event, the best-so-far curve, AUC and cache counters.
    pub record: SearchRecord,
}

/// The hasher type of a search without one ([`Search::new`] until
/// [`Search::hasher`]): no value of it exists, so it is never called.
#[derive(Debug, Clone, Copy)]
pub enum NoHasher {}

impl<C> CandidateHasher<C> for NoHasher {
    fn hash(&self, _: &C) -> FunctionalHash {
        match *self {}
    }

    fn cost_s(&self) -> f64 {
        match *self {}
    }
}

/// A search: space, evaluator, techniques, budget and seed, and the hasher the
/// techniques need. Run it with [`Search::run`] (or [`Search::run_resumable`]).
///
/// The hasher is optional: a search with no technique (the baseline) runs
/// without one, and a run with a technique but no hasher is refused with
/// [`SearchError::NoHasher`]. It is called only when a technique needs
/// functional hashes, or the algorithm asks whether a candidate is known
/// ([`ProposeContext::is_known`](crate::ProposeContext::is_known)).
#[derive(Debug, Clone)]
pub struct Search<'a, S, E, H = NoHasher> {
    space: &'a S,
    evaluator: &'a E,
    hasher: Option<&'a H>,
    techniques: Techniques,
    budget: Budget,
    seed: u64,
    target: Option<f64>,
    /// Whether [`Mode::Parallel`] may hash a generation on the pool (off only
    /// in tests, to compare with one-at-a-time hashing).
    parallel_hashing: bool,
    /// Whether the record keeps every event (its summaries are always kept).
    keep_events: bool,
    /// Where events are streamed as they happen.
    sink: Option<SinkRef<'a>>,
    /// Where FEC's entries live, if not in the run's memory.
    store: Option<Arc<dyn FecStore>>,
}

/// A borrowed event sink, shown by name in `Debug`.
#[derive(Clone, Copy)]
struct SinkRef<'a>(&'a (dyn EventSink + 'a));

impl std::fmt::Debug for SinkRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SinkRef(..)")
    }
}

impl<'a, S, E> Search<'a, S, E, NoHasher>
where
    S: SearchSpace,
    E: Evaluator<S::Candidate>,
{
    /// A search with no technique (the baseline) and no hasher, until
    /// [`Search::hasher`] and [`Search::techniques`].
    pub fn new(space: &'a S, evaluator: &'a E, budget: Budget, seed: u64) -> Self {
        Self {
            space,
            evaluator,
            hasher: None,
            techniques: Techniques::NONE,
            budget,
            seed,
            target: None,
            parallel_hashing: true,
            keep_events: true,
            sink: None,
            store: None,
        }
    }
}

impl<'a, S, E, H> Search<'a, S, E, H>
where
    S: SearchSpace,
    E: Evaluator<S::Candidate>,
    H: CandidateHasher<S::Candidate>,
{
    /// The same search, hashing candidates with `hasher` (for example a
    /// [`SpecHasher`](crate::SpecHasher)) when a technique or the algorithm needs
    /// a functional hash.
    pub fn hasher<H2: CandidateHasher<S::Candidate>>(self, hasher: &'a H2) -> Search<'a, S, E, H2> {
        Search {
            space: self.space,
            evaluator: self.evaluator,
            hasher: Some(hasher),
            techniques: self.techniques,
            budget: self.budget,
            seed: self.seed,
            target: self.target,
            parallel_hashing: self.parallel_hashing,
            keep_events: self.keep_events,
            sink: self.sink,
            store: self.store,
        }
    }

    /// The hasher, which a run has checked is there when a technique needs it.
    fn the_hasher(&self) -> &'a H {
        self.hasher
            .expect("a run with a technique checks first that it has a hasher")
    }

    /// The simulated cost of one hash (0 without a hasher: nothing is hashed).
    fn hash_cost_s(&self) -> f64 {
        self.hasher.map_or(0.0, |h| h.cost_s())
    }

    /// Refuses a technique without a hasher, naming the technique.
    fn check_hasher(&self) -> Result<(), SearchError> {
        let t = &self.techniques;
        let technique = if self.hasher.is_some() {
            None
        } else if t.fec.is_some() {
            Some("FEC")
        } else if t.fcm.is_some() {
            Some("FCM")
        } else if t.tabulist.is_some() {
            Some("the tabulist")
        } else {
            None
        };
        match technique {
            Some(technique) => Err(SearchError::NoHasher { technique }),
            None => Ok(()),
        }
    }

    /// The same search, whose functional equivalence cache keeps its entries in
    /// `store` (persistent, or shared with other searches and machines) instead of
    /// the run's memory. It takes effect when the techniques include FEC. A store
    /// that fails ends the run with [`SearchError::Store`] once the candidates in
    /// flight are in.
    pub fn cache_store(mut self, store: Arc<dyn FecStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The same search, whose record keeps every event (`true`, the default) or
    /// only their summaries (`false`): event count, best-so-far curve, cache and
    /// audit counts. With `false` a search's memory no longer grows with its
    /// length; stream the events to a sink ([`Search::stream_events`]) to keep
    /// them elsewhere.
    pub fn keep_events(mut self, keep: bool) -> Self {
        self.keep_events = keep;
        self
    }

    /// The same search, which hands every event to `sink` as it is recorded, in
    /// completion order (for example a [`CsvEventSink`](crate::CsvEventSink) on a
    /// file). The first error the sink returns ends the run with
    /// [`SearchError::EventSink`] when it finishes.
    ///
    /// ```
    /// # use ufh_search::{CsvEventSink, Search, SearchSpace, Evaluator, CandidateHasher, Budget};
    /// # fn f<S: SearchSpace, E: Evaluator<S::Candidate>, H: CandidateHasher<S::Candidate>>(
    /// #     space: &S, evaluator: &E, hasher: &H) {
    /// let sink = CsvEventSink::new(Vec::new());
    /// let search = Search::new(space, evaluator, Budget::Candidates(10), 0).hasher(hasher)
    ///     .keep_events(false)
    ///     .stream_events(&sink);
    /// # }
    /// ```
    pub fn stream_events(mut self, sink: &'a (dyn EventSink + 'a)) -> Self {
        self.sink = Some(SinkRef(sink));
        self
    }

    /// The same search, which also stops starting candidates once a candidate's
    /// validation fitness (as fed back, so a cache hit counts) has reached `target`:
    /// a solved problem needs no more budget. Candidates in flight finish.
    pub fn stop_at_fitness(mut self, target: f64) -> Result<Self, SearchError> {
        if target.is_nan() {
            return Err(SearchError::InvalidConfig(
                "target fitness NaN can never be reached".into(),
            ));
        }
        self.target = Some(target);
        Ok(self)
    }

    /// The same search with `techniques`.
    pub fn techniques(mut self, techniques: Techniques) -> Result<Self, SearchError> {
        if techniques.audit.is_some() && techniques.fec.is_none() {
            return Err(SearchError::InvalidConfig(
                "the counterfactual audit checks cache hits and needs fec".into(),
            ));
        }
        if let Some(audit) = techniques.audit
            && (audit.tolerance.is_nan() || audit.tolerance < 0.0)
        {
            return Err(SearchError::InvalidConfig(format!(
                "audit tolerance {} must be a non-negative number",
                audit.tolerance
            )));
        }
        self.techniques = techniques;
        Ok(self)
    }

    /// A run that may be checkpointed: its evaluations are stored under ids of
    /// its own ([`Run::id_seed`]), kept in its checkpoints, so that a resumed run
    /// tells what it wrote itself from what another run (even of the same seed)
    /// wrote to a shared store.
    fn start_resumable_run(&self) -> Result<Run<'_, S, E, H>, SearchError> {
        let mut run = self.start_run()?;
        run.id_seed = self.seed ^ fresh_nonce();
        Ok(run)
    }

    fn start_run(&self) -> Result<Run<'_, S, E, H>, SearchError> {
        Ok(Run {
            id_seed: self.seed,
            search: self,
            search_rng: SearchRng::seed_from_u64(self.seed),
            cache_rng: SearchRng::seed_from_u64(self.seed ^ CACHE_STREAM),
            cache: self
                .techniques
                .fec
                .map(|config| match &self.store {
                    Some(store) => config.build_with_store(Arc::clone(store)),
                    None => config.build(),
                })
                .transpose()?,
            tabu: Tabulist::default(),
            audit: self.techniques.audit.map(|_| AuditCounters::default()),
            record: SearchRecord {
                cost_unit: self.evaluator.cost_unit(),
                ..SearchRecord::new()
            },
            n_started: 0,
            n_evaluations: 0,
            hits_in_a_row: 0,
            reached_target: false,
            sink_error: None,
            best: None,
            live_hashes: ParentHashes::default(),
        })
    }

    /// Runs the search with `algorithm` in `mode` and returns what it found.
    ///
    /// ```
    /// # use ufh_search::{Budget, Evaluation, Evaluator, Mode, RandomSearch, Search, SearchRng, SearchSpace};
    /// # struct Ints;
    /// # impl SearchSpace for Ints {
    /// #     type Candidate = u32;
    /// #     fn sample(&self, rng: &mut SearchRng) -> u32 { rand::Rng::random_range(rng, 0..100) }
    /// #     fn mutate(&self, p: &u32, _: &mut SearchRng) -> u32 { p + 1 }
    /// # }
    /// # struct Train;
    /// # impl Evaluator<u32> for Train {
    /// #     fn evaluate(&self, c: &u32, _: &mut SearchRng) -> Evaluation {
    /// #         Evaluation { validation: f64::from(*c), test: f64::from(*c), cost_s: 1.0 }
    /// #     }
    /// # }
    /// // A baseline needs no hasher.
    /// let search = Search::new(&Ints, &Train, Budget::Candidates(50), 7);
    /// let found = search.run(&mut RandomSearch, Mode::Serial)?;
    /// assert_eq!(found.record.n_events, 50);
    /// assert!(found.best.unwrap().validation >= 90.0);
    /// # Ok::<(), ufh_search::SearchError>(())
    /// ```
    pub fn run<A: Algorithm<S>>(
        &self,
        algorithm: &mut A,
        mode: Mode,
    ) -> Result<SearchResult<S::Candidate>, SearchError>
    where
        S::Candidate: Send + Sync,
        E: Sync,
        H: Sync,
    {
        self.check_hasher()?;
        let mut run = self.start_run()?;
        match mode {
            Mode::Serial | Mode::Workers(_) => {
                let in_flight = run.first_starts(algorithm, mode.width())?;
                Self::drive_workers(&mut run, algorithm, in_flight, |_, _, _, _| Ok(()))?;
            }
            Mode::Parallel(batch) => {
                self.drive_parallel(&mut run, algorithm, batch, 0.0, |_, _, _| Ok(()))?;
            }
        }
        run.finish()
    }

    /// [`Search::run`] with checkpoints: the state is written to
    /// `checkpoints.path` every so many candidates or seconds (between
    /// generations in [`Mode::Parallel`]) and at the end, and a run started with
    /// [`Checkpoints::resume`] on an existing file continues from it (ignoring
    /// `algorithm`, whose state is in the file). A run killed at any moment and
    /// resumed ends with the result of a run never killed. Returns the result and
    /// the algorithm as it ends.
    ///
    /// The checkpoint holds the cache's entries unless they live in a store that
    /// keeps its own ([`Search::cache_store`]); then the entries the killed run
    /// stored after its checkpoint stay unseen until the resumed run stores them
    /// again. Events streamed to a sink after the last checkpoint are streamed
    /// again.
    pub fn run_resumable<A>(
        &self,
        algorithm: A,
        mode: Mode,
        checkpoints: &Checkpoints,
    ) -> Result<(SearchResult<S::Candidate>, A), SearchError>
    where
        A: Algorithm<S> + Serialize + DeserializeOwned,
        S::Candidate: Serialize + DeserializeOwned + Send + Sync,
        E: Sync,
        H: Sync,
    {
        self.check_hasher()?;
        self.check_resumable()?;
        match mode {
            Mode::Serial | Mode::Workers(_) => {
                self.run_workers_resumable(algorithm, mode.width(), checkpoints)
            }
            Mode::Parallel(batch) => self.run_parallel_resumable(algorithm, batch, checkpoints),
        }
    }

    /// The event loop of [`Mode::Workers`], from any state; `safe_point` is
    /// called after each completion, when the state is whole (a checkpoint).
    fn drive_workers<'r, A: Algorithm<S>>(
        run: &mut Run<'r, S, E, H>,
        algorithm: &mut A,
        mut in_flight: BinaryHeap<Arrival<S::Candidate>>,
        mut safe_point: impl FnMut(
            &Run<'r, S, E, H>,
            &A,
            &BinaryHeap<Arrival<S::Candidate>>,
            f64,
        ) -> Result<(), SearchError>,
    ) -> Result<f64, SearchError> {
        let mut clock_s = 0.0;
        while let Some(Arrival(finished)) = in_flight.pop() {
            clock_s = finished.end_s;
            run.complete(algorithm, finished);
            if run.allows_start(clock_s) {
                let started = run.start(algorithm, clock_s);
                in_flight.push(Arrival(run.evaluate(started)?));
            }
            safe_point(run, algorithm, &in_flight, clock_s)?;
        }
        Ok(clock_s)
    }

    /// [`Search::run_resumable`] in [`Mode::Workers`].
    fn run_workers_resumable<A>(
        &self,
        algorithm: A,
        workers: NonZeroUsize,
        checkpoints: &Checkpoints,
    ) -> Result<(SearchResult<S::Candidate>, A), SearchError>
    where
        A: Algorithm<S> + Serialize + DeserializeOwned,
        S::Candidate: Serialize + DeserializeOwned,
    {
        let fingerprint = self.fingerprint("workers", workers, checkpoints);
        let mut writer = CheckpointWriter::new(checkpoints, fingerprint);
        let (mut run, mut algorithm, in_flight) =
            match self.load(checkpoints, &writer.fingerprint)? {
                Some(mut saved) => {
                    let in_flight = std::mem::take(&mut saved.state.in_flight);
                    let pending = in_flight.iter().map(|f| f.started.index);
                    let mut run = self.restore(saved.state, pending)?;
                    let mut algorithm = saved.algorithm;
                    writer.events_at_last = run.record.n_events;
                    // The checkpoint of the start: nothing was started yet.
                    let in_flight = if run.n_started == 0 {
                        run.first_starts(&mut algorithm, workers)?
                    } else {
                        in_flight.into_iter().map(Arrival).collect()
                    };
                    (run, algorithm, in_flight)
                }
                None => {
                    let mut run = self.start_resumable_run()?;
                    let mut algorithm = algorithm;
                    // A first checkpoint before any evaluation, so that a run killed
                    // before its first due checkpoint resumes from the start.
                    writer.write(&algorithm, &run.snapshot(0.0, Vec::new()))?;
                    let in_flight = run.first_starts(&mut algorithm, workers)?;
                    (run, algorithm, in_flight)
                }
            };
        let end_s = Self::drive_workers(
            &mut run,
            &mut algorithm,
            in_flight,
            |run, a, heap, clock_s| {
                if writer.due(run.record.n_events) {
                    let in_flight = heap.iter().map(|arrival| arrival.0.clone()).collect();
                    writer.write(a, &run.snapshot(clock_s, in_flight))?;
                }
                Ok(())
            },
        )?;
        writer.write(&algorithm, &run.snapshot(end_s, Vec::new()))?;
        Ok((run.finish()?, algorithm))
    }

    /// Refuses a resumable run whose replay could not be exact: forgetting in a
    /// store that keeps its own entries counts hits and removes keys there, and
    /// those steps after the checkpoint cannot be undone on resume.
    fn check_resumable(&self) -> Result<(), SearchError> {
        if let (Some(store), Some(fec)) = (&self.store, self.techniques.fec)
            && fec.forgetting != crate::Forgetting::Never
            && store.checkpoint_entries().is_none()
        {
            return Err(SearchError::InvalidConfig(format!(
                "a resumable search cannot forget ({:?}) in the store {}: its hit counts and removals after a checkpoint cannot be replayed; use plain FEC or FEA there, or a MemoryStore",
                fec.forgetting,
                store.describe()
            )));
        }
        Ok(())
    }

    /// What a checkpoint must match to be resumed by this search.
    fn fingerprint(
        &self,
        mode: &str,
        workers: NonZeroUsize,
        checkpoints: &Checkpoints,
    ) -> Fingerprint {
        Fingerprint {
            settings: checkpoints.settings.clone(),
            hash_cost_s: self.hash_cost_s().to_bits(),
            mode: mode.to_string(),
            workers: workers.get(),
            seed: self.seed,
            budget: self.budget,
            techniques: self.techniques,
            target: self.target,
            in_store: self.store.is_some(),
        }
    }

    /// The checkpoint to resume from, if resuming and there is one.
    fn load<A: DeserializeOwned>(
        &self,
        checkpoints: &Checkpoints,
        fingerprint: &Fingerprint,
    ) -> Result<Option<CheckpointFile<A, S::Candidate>>, SearchError>
    where
        S::Candidate: DeserializeOwned,
    {
        let path = &checkpoints.path;
        if !checkpoints.resume || !path.exists() {
            return Ok(None);
        }
        let bytes = checkpoint::read_sealed(path)?;
        let head: CheckpointHead = postcard::from_bytes(&bytes)
            .map_err(|e| checkpoint::error(path, format!("not a checkpoint: {e}")))?;
        if head.format != checkpoint::FORMAT {
            return Err(checkpoint::error(
                path,
                format!(
                    "format {:?}, expected {:?}",
                    head.format,
                    checkpoint::FORMAT
                ),
            ));
        }
        if head.fingerprint != *fingerprint {
            return Err(checkpoint::error(
                path,
                format!(
                    "it is of another search ({}): resume only with the settings it was started with, or start afresh",
                    head.fingerprint.differences(fingerprint)
                ),
            ));
        }
        let saved: CheckpointFile<A, S::Candidate> = postcard::from_bytes(&bytes)
            .map_err(|e| checkpoint::error(path, format!("unreadable state: {e}")))?;
        Ok(Some(saved))
    }

    /// A run from a checkpoint's state (its clock and candidates in flight, of
    /// proposals `pending`, are the caller's). A store that lives in memory gets
    /// the checkpoint's entries back; in a store that keeps its own, the entries
    /// the interrupted run wrote after the checkpoint stay unseen until the
    /// replay writes them again (`fec::Replay`), so the resumed run's record is
    /// the uninterrupted run's.
    fn restore(
        &self,
        state: RunState<S::Candidate>,
        pending: impl Iterator<Item = u64>,
    ) -> Result<Run<'_, S, E, H>, SearchError> {
        let mut cache = state.cache;
        let id_seed = state.id_seed;
        // A store in memory gets the checkpoint's entries back, exactly; one that
        // keeps its own may hold entries written after the checkpoint, which the
        // replay must not see yet.
        let replay = match (&self.store, state.store_entries) {
            (Some(store), Some(entries)) => {
                store.restore_checkpoint_entries(entries)?;
                None
            }
            (Some(_), None) => Some(crate::fec::Replay::new(
                id_seed,
                state.n_started,
                pending.map(|index| evaluation_id(id_seed, index)),
            )),
            (None, _) => None,
        };
        if let Some(cache) = cache.as_mut() {
            cache.attach_store(self.store.clone(), replay);
        }
        Ok(Run {
            id_seed,
            search: self,
            search_rng: state.search_rng,
            cache_rng: state.cache_rng,
            cache,
            tabu: state.tabu.into_iter().collect(),
            audit: state.audit,
            record: state.record,
            n_started: state.n_started,
            n_evaluations: state.n_evaluations,
            hits_in_a_row: state.hits_in_a_row,
            reached_target: state.reached_target,
            sink_error: None,
            best: state.best,
            live_hashes: state.live_hashes.into_iter().collect(),
        })
    }

    /// The generation loop of [`Mode::Parallel`] from any state between
    /// generations; `safe_point` is called after each generation (a checkpoint).
    fn drive_parallel<'r, A: Algorithm<S>>(
        &'r self,
        run: &mut Run<'r, S, E, H>,
        algorithm: &mut A,
        workers: NonZeroUsize,
        mut clock_s: f64,
        mut safe_point: impl FnMut(&Run<'r, S, E, H>, &A, f64) -> Result<(), SearchError>,
    ) -> Result<f64, SearchError>
    where
        S::Candidate: Send + Sync,
        E: Sync,
        H: Sync,
    {
        // With FEC alone, a generation's hashes do not depend on one another (FCM
        // and the tabulist hash inside their retry loops): compute them on the pool,
        // then look them up in proposal order. Hashes are pure, so the record is
        // the same either way.
        let hash_in_parallel = self.parallel_hashing
            && self.techniques.fec.is_some()
            && self.techniques.fcm.is_none()
            && self.techniques.tabulist.is_none();
        while run.allows_start(clock_s) {
            let mut generation = Vec::with_capacity(workers.get());
            if hash_in_parallel {
                let mut proposals = Vec::with_capacity(workers.get());
                while proposals.len() < workers.get() && run.allows_start(clock_s) {
                    proposals.push(run.propose(algorithm));
                }
                let hasher = self.the_hasher();
                let hashes: Vec<FunctionalHash> = proposals
                    .par_iter()
                    .map(|(_, p, _)| hasher.hash(&p.candidate))
                    .collect();
                for ((index, proposal, queries), hash) in proposals.into_iter().zip(hashes) {
                    // Lookups can exhaust a budget that counts evaluations or hits
                    // in a row: the proposals after that point are never started,
                    // as the one-at-a-time path would not have proposed them, and
                    // the run ends.
                    if !run.allowed_at(clock_s, index) {
                        break;
                    }
                    generation.push(run.look_up(
                        index,
                        proposal.candidate,
                        hash,
                        1 + queries,
                        clock_s,
                    ));
                }
            } else {
                while generation.len() < workers.get() && run.allows_start(clock_s) {
                    generation.push(run.start(algorithm, clock_s));
                }
            }
            // An infrastructure failure stops the run here, before anything of
            // this generation is cached or fed back (the last checkpoint stands).
            let finished = self.evaluate_generation(generation)?;
            clock_s = finished.iter().map(|f| f.end_s).fold(clock_s, f64::max);
            for mut f in finished {
                // Fed back together, at the end of the generation.
                f.end_s = clock_s;
                run.complete(algorithm, f);
            }
            safe_point(run, algorithm, clock_s)?;
        }
        Ok(clock_s)
    }

    /// [`Search::run_resumable`] in [`Mode::Parallel`].
    fn run_parallel_resumable<A>(
        &self,
        algorithm: A,
        workers: NonZeroUsize,
        checkpoints: &Checkpoints,
    ) -> Result<(SearchResult<S::Candidate>, A), SearchError>
    where
        A: Algorithm<S> + Serialize + DeserializeOwned,
        S::Candidate: Serialize + DeserializeOwned + Send + Sync,
        E: Sync,
        H: Sync,
    {
        let fingerprint = self.fingerprint("parallel", workers, checkpoints);
        let mut writer = CheckpointWriter::new(checkpoints, fingerprint);
        let (mut run, mut algorithm, clock_s) = match self.load(checkpoints, &writer.fingerprint)? {
            Some(saved) => {
                let clock_s = saved.state.clock_s;
                let run = self.restore(saved.state, std::iter::empty())?;
                writer.events_at_last = run.record.n_events;
                (run, saved.algorithm, clock_s)
            }
            None => {
                let run = self.start_resumable_run()?;
                // A first checkpoint before any evaluation (see above).
                writer.write(&algorithm, &run.snapshot(0.0, Vec::new()))?;
                (run, algorithm, 0.0)
            }
        };
        let end_s = self.drive_parallel(
            &mut run,
            &mut algorithm,
            workers,
            clock_s,
            |run, a, clock_s| {
                if writer.due(run.record.n_events) {
                    writer.write(a, &run.snapshot(clock_s, Vec::new()))?;
                }
                Ok(())
            },
        )?;
        writer.write(&algorithm, &run.snapshot(end_s, Vec::new()))?;
        Ok((run.finish()?, algorithm))
    }

    /// Evaluates one generation of started candidates as one batch
    /// ([`Evaluator::try_evaluate_batch`]), each on its own stream.
    fn evaluate_generation(
        &self,
        generation: Vec<Started<S::Candidate>>,
    ) -> Result<Vec<Finished<S::Candidate>>, SearchError>
    where
        S::Candidate: Sync,
        E: Sync,
    {
        let audit = self.techniques.audit.is_some();
        let mut evaluated = Vec::with_capacity(generation.len());
        let mut jobs: Vec<(&S::Candidate, SearchRng)> = Vec::with_capacity(generation.len());
        for started in &generation {
            let stream = evaluation_stream(started, audit, self.seed);
            evaluated.push(stream.is_some());
            jobs.extend(stream.map(|rng| (&started.candidate, rng)));
        }
        let mut evaluations = self.evaluator.try_evaluate_batch(&mut jobs)?.into_iter();
        drop(jobs);
        let finished = generation
            .into_iter()
            .zip(evaluated)
            .map(|(started, evaluated)| {
                let evaluation = evaluated.then(|| {
                    evaluations
                        .next()
                        .expect("evaluate_batch answers every job")
                });
                finish(started, evaluation)
            })
            .collect();
        assert!(
            evaluations.next().is_none(),
            "evaluate_batch answered more jobs than it was given"
        );
        Ok(finished)
    }
}

mod ids;
#[cfg(test)]
mod resume_tests;
mod run;
#[cfg(test)]
mod sink_tests;
mod state;

pub use ids::evaluation_id;
pub(crate) use ids::evaluation_index;
use ids::fresh_nonce;
#[cfg(test)]
use ids::{mix, unmix};
use run::{Arrival, Finished, Run, Started, evaluation_stream, finish};
use state::{CheckpointFile, CheckpointHead, CheckpointWriter, Fingerprint, RunState};

#[cfg(test)]
mod tests;
