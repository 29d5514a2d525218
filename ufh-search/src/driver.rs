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
use crate::record::{Event, Outcome, SearchRecord, SharedEventSink};
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

/// The id under which the evaluation of proposal `index` of the search `seed` is
/// stored (two searches share a store): a resumed search, or a job evaluated twice
/// by two workers, records it once.
pub fn evaluation_id(seed: u64, index: u64) -> u64 {
    mix(mix(seed).wrapping_add(index))
}

/// A number no other run draws (almost surely): the clock, the process and the
/// standard library's per-process random keys, mixed.
fn fresh_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(t.as_nanos());
    }
    mix(hasher.finish())
}

/// SplitMix64's finaliser, a bijection of `u64`.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The inverse of [`mix`].
fn unmix(mut z: u64) -> u64 {
    z ^= (z >> 31) ^ (z >> 62);
    z = z.wrapping_mul(0x3196_42B2_D24D_8EC3);
    z ^= (z >> 27) ^ (z >> 54);
    z = z.wrapping_mul(0x96DE_1B17_3F11_9089);
    z ^ (z >> 30) ^ (z >> 60)
}

/// The proposal index whose [`evaluation_id`] under `seed` is `id` (every id is
/// one index's under every seed; the id of another search's evaluation gives a
/// meaningless index, almost surely far outside any run's range).
pub(crate) fn evaluation_index(seed: u64, id: u64) -> u64 {
    unmix(id).wrapping_sub(mix(seed))
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
struct SinkRef<'a>(&'a (dyn SharedEventSink + 'a));

impl std::fmt::Debug for SinkRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SinkRef(..)")
    }
}

/// A candidate whose hash and cache lookup are done and whose evaluation, if it
/// needs one, is not yet.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Started<C> {
    index: u64,
    candidate: C,
    hash: Option<FunctionalHash>,
    start_s: f64,
    /// Simulated seconds spent hashing.
    hash_cost_s: f64,
    lookup: Option<Lookup>,
    /// Whether a technique (FCM, tabulist) replaced the proposed candidate.
    replaced: bool,
}

/// A candidate with its evaluation (absent for a cache hit without audit).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Finished<C> {
    started: Started<C>,
    evaluation: Option<Evaluation>,
    end_s: f64,
}

/// The mutable state of one run.
struct Run<'a, S: SearchSpace, E, H> {
    search: &'a Search<'a, S, E, H>,
    /// The seed of the ids its evaluations are stored under: the search's seed,
    /// or for a resumable run that and a nonce of its own.
    id_seed: u64,
    search_rng: SearchRng,
    cache_rng: SearchRng,
    cache: Option<FunctionalEquivalenceCache>,
    tabu: Tabulist,
    audit: Option<AuditCounters>,
    record: SearchRecord,
    n_started: u64,
    /// Started candidates that need an evaluation (all but full cache hits).
    n_evaluations: u64,
    /// Full cache hits started since the last candidate that needed evaluating.
    hits_in_a_row: u64,
    /// Whether a candidate has reached the search's target fitness.
    reached_target: bool,
    /// The first error of the event sink; the run reports it when it finishes.
    sink_error: Option<std::io::Error>,
    /// The fittest candidate fed back so far.
    best: Option<Best<S::Candidate>>,
    /// The hashes of recent proposals' candidates, for FCM's comparison of a
    /// child with its parent.
    live_hashes: ParentHashes,
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
    /// # use std::sync::Mutex;
    /// # use ufh_search::{CsvEventSink, Search, SearchSpace, Evaluator, CandidateHasher, Budget};
    /// # fn f<S: SearchSpace, E: Evaluator<S::Candidate>, H: CandidateHasher<S::Candidate>>(
    /// #     space: &S, evaluator: &E, hasher: &H) {
    /// let sink = Mutex::new(CsvEventSink::new(Vec::new()));
    /// let search = Search::new(space, evaluator, Budget::Candidates(10), 0).hasher(hasher)
    ///     .keep_events(false)
    ///     .stream_events(&sink);
    /// # }
    /// ```
    pub fn stream_events(mut self, sink: &'a (dyn SharedEventSink + 'a)) -> Self {
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

/// The stream a started candidate's evaluation draws from, or `None` where it
/// needs none: a full hit is not evaluated unless audited (then off the clock, on
/// the audit stream); anything else gets a fresh evaluation.
fn evaluation_stream<C>(started: &Started<C>, audit: bool, seed: u64) -> Option<SearchRng> {
    match started.lookup {
        Some(Lookup::Hit(_)) => audit.then(|| candidate_rng(seed, AUDIT_STREAM, started.index)),
        _ => Some(candidate_rng(seed, EVALUATOR_STREAM, started.index)),
    }
}

/// A started candidate with the evaluation it got (if it needed one).
fn finish<C>(started: Started<C>, evaluation: Option<Evaluation>) -> Finished<C> {
    let begin = started.start_s + started.hash_cost_s;
    let end_s = match (&started.lookup, &evaluation) {
        (Some(Lookup::Hit(_)), _) | (_, None) => begin,
        (_, Some(e)) => begin + e.cost_s,
    };
    Finished {
        started,
        evaluation,
        end_s,
    }
}

impl<S, E, H> Run<'_, S, E, H>
where
    S: SearchSpace,
    E: Evaluator<S::Candidate>,
    H: CandidateHasher<S::Candidate>,
{
    fn allows_start(&self, clock_s: f64) -> bool {
        self.allowed_at(clock_s, self.n_started)
    }

    /// The first candidate of each of `workers` workers, at time 0.
    fn first_starts<A: Algorithm<S>>(
        &mut self,
        algorithm: &mut A,
        workers: NonZeroUsize,
    ) -> Result<BinaryHeap<Arrival<S::Candidate>>, SearchError> {
        let mut in_flight = BinaryHeap::new();
        for _ in 0..workers.get() {
            if !self.allows_start(0.0) {
                break;
            }
            let started = self.start(algorithm, 0.0);
            in_flight.push(Arrival(self.evaluate(started)?));
        }
        Ok(in_flight)
    }

    /// The run's state for a checkpoint.
    fn snapshot(
        &self,
        clock_s: f64,
        in_flight: Vec<Finished<S::Candidate>>,
    ) -> RunState<S::Candidate> {
        let tabu = self.tabu.to_sorted();
        RunState {
            search_rng: self.search_rng.clone(),
            cache_rng: self.cache_rng.clone(),
            cache: self.cache.clone(),
            tabu,
            audit: self.audit,
            record: self.record.clone(),
            n_started: self.n_started,
            n_evaluations: self.n_evaluations,
            hits_in_a_row: self.hits_in_a_row,
            reached_target: self.reached_target,
            best: self.best.clone(),
            live_hashes: self.live_hashes.to_sorted(),
            clock_s,
            in_flight,
            id_seed: self.id_seed,
            store_entries: self
                .cache
                .as_ref()
                .and_then(|c| c.store())
                .and_then(|store| store.checkpoint_entries()),
        }
    }

    /// Whether the budget allowed starting the candidate of proposal `index`, with
    /// the counters as they are: for proposals made ahead of their lookups.
    fn allowed_at(&self, clock_s: f64, index: u64) -> bool {
        !self.reached_target
            && self
                .cache
                .as_ref()
                .is_none_or(|c| c.store_error().is_none())
            && self.search.budget.allows_start(
                clock_s,
                index,
                self.n_evaluations,
                self.hits_in_a_row,
            )
    }

    /// Proposes the next candidate, counting it as started; with the number of
    /// hashes the algorithm's [`ProposeContext::is_known`] queries spent.
    fn propose<A: Algorithm<S>>(
        &mut self,
        algorithm: &mut A,
    ) -> (u64, crate::Proposal<S::Candidate>, u64) {
        let index = self.n_started;
        self.n_started += 1;
        let search = self.search;
        let hasher = search.hasher;
        let cache = &mut self.cache;
        let mut queries = 0u64;
        let mut asked = rustc_hash::FxHashSet::default();
        let mut known = |candidate: &S::Candidate| match (hasher, cache.as_mut()) {
            (Some(hasher), Some(cache)) => {
                queries += 1;
                let hash = hasher.hash(candidate);
                !asked.insert(hash) || cache.knows(hash)
            }
            _ => false,
        };
        let mut cx = ProposeContext::new(search.space, &mut self.search_rng, &mut known);
        let proposal = algorithm.propose_with(&mut cx);
        (index, proposal, queries)
    }

    /// Remembers the hash of the candidate of proposal `index` for FCM, which
    /// compares a child with its parent.
    fn remember_hash(&mut self, index: u64, hash: FunctionalHash) {
        if self.search.techniques.fcm.is_some() {
            self.live_hashes.remember(index, hash);
        }
    }

    /// Looks a candidate up by its hash, after `n_hashes` hashes were spent on it
    /// (FCM and the tabulist retry), and counts it as a hit or an evaluation.
    fn look_up(
        &mut self,
        index: u64,
        candidate: S::Candidate,
        hash: FunctionalHash,
        n_hashes: u64,
        start_s: f64,
    ) -> Started<S::Candidate> {
        self.record.n_hashes += n_hashes;
        let lookup = self
            .cache
            .as_mut()
            .map(|cache| cache.lookup(hash, &mut self.cache_rng));
        if matches!(lookup, Some(Lookup::Hit(_))) {
            self.hits_in_a_row += 1;
        } else {
            self.n_evaluations += 1;
            self.hits_in_a_row = 0;
        }
        Started {
            index,
            candidate,
            hash: Some(hash),
            start_s,
            hash_cost_s: n_hashes as f64 * self.search.hash_cost_s(),
            lookup,
            replaced: false,
        }
    }

    /// Proposes, applies FCM and the tabulist, hashes and looks up.
    fn start<A: Algorithm<S>>(&mut self, algorithm: &mut A, start_s: f64) -> Started<S::Candidate> {
        let search = self.search;
        let (index, proposal, queries) = self.propose(algorithm);
        let crate::Proposal {
            mut candidate,
            parent,
            parent_index,
        } = proposal;
        if !search.techniques.need_hash() {
            self.n_evaluations += 1;
            self.record.n_hashes += queries;
            return Started {
                index,
                candidate,
                hash: None,
                start_s,
                hash_cost_s: queries as f64 * search.hash_cost_s(),
                lookup: None,
                replaced: false,
            };
        }
        let mut n_hashes = queries;
        let mut hash_of = |c: &S::Candidate| {
            n_hashes += 1;
            search.the_hasher().hash(c)
        };
        let retry = |rng: &mut SearchRng| match &parent {
            Some(parent) => search.space.mutate(parent, rng),
            None => search.space.sample(rng),
        };
        let mut hash = hash_of(&candidate);
        let mut replaced = false;
        if let (Some(fcm), Some(parent)) = (search.techniques.fcm, &parent) {
            // The parent was hashed when it was started, and the paper keeps that
            // hash with it: the driver remembers it by proposal index. A parent
            // whose index the algorithm does not give (or one too old) is hashed
            // again, counted and charged.
            let remembered = parent_index.and_then(|i| self.live_hashes.get(i));
            let parent_hash = remembered.unwrap_or_else(|| hash_of(parent));
            let rng = &mut self.search_rng;
            replaced |= fcm.apply(
                parent_hash,
                &mut candidate,
                &mut hash,
                || retry(rng),
                &mut hash_of,
            );
        }
        if let Some(tabulist) = search.techniques.tabulist {
            let rng = &mut self.search_rng;
            replaced |= self.tabu.apply(
                tabulist,
                &mut candidate,
                &mut hash,
                || retry(rng),
                &mut hash_of,
            );
        }
        self.remember_hash(index, hash);
        let mut started = self.look_up(index, candidate, hash, n_hashes, start_s);
        started.replaced = replaced;
        started
    }

    fn evaluate(
        &mut self,
        started: Started<S::Candidate>,
    ) -> Result<Finished<S::Candidate>, SearchError> {
        let search = self.search;
        let evaluation =
            evaluation_stream(&started, search.techniques.audit.is_some(), search.seed)
                .map(|mut rng| search.evaluator.try_evaluate(&started.candidate, &mut rng))
                .transpose()?;
        Ok(finish(started, evaluation))
    }

    /// Caches the evaluation, audits a hit, feeds back and records.
    fn complete<A: Algorithm<S>>(&mut self, algorithm: &mut A, finished: Finished<S::Candidate>) {
        let Finished {
            started,
            evaluation,
            end_s,
        } = finished;
        let (validation, test, outcome) = match (started.lookup, evaluation) {
            (Some(Lookup::Hit(entry)), audited) => {
                if let (Some(counters), Some(fresh), Some(audit)) =
                    (self.audit.as_mut(), audited, self.search.techniques.audit)
                {
                    counters.audit(audit, entry.validation, fresh.validation);
                }
                (entry.validation, entry.test, Outcome::Hit)
            }
            (Some(lookup), Some(evaluation)) => {
                let cache = self.cache.as_mut().expect("a lookup implies a cache");
                let hash = started.hash.expect("a lookup implies a hash");
                let id = evaluation_id(self.id_seed, started.index);
                let mean = cache.record_evaluation(hash, &evaluation, id);
                let outcome = match lookup {
                    Lookup::Miss => Outcome::Miss,
                    _ => Outcome::PartialHit,
                };
                (mean.validation, mean.test, outcome)
            }
            (None, Some(evaluation)) => {
                (evaluation.validation, evaluation.test, Outcome::Evaluated)
            }
            (_, None) => unreachable!("every candidate but a cache hit is evaluated"),
        };
        if self
            .search
            .target
            .is_some_and(|target| validation >= target)
        {
            self.reached_target = true;
        }
        let event = Event {
            index: started.index,
            start_s: started.start_s,
            end_s,
            hash: started.hash,
            validation,
            test,
            outcome,
        };
        if let Some(SinkRef(sink)) = self.search.sink
            && self.sink_error.is_none()
            && let Err(e) = sink.event(&event)
        {
            self.sink_error = Some(e);
        }
        self.record.push(event, self.search.keep_events);
        if self
            .best
            .as_ref()
            .is_none_or(|b| fitness_order(validation) > fitness_order(b.validation))
        {
            self.best = Some(Best {
                candidate: started.candidate.clone(),
                validation,
                test,
                proposal_index: started.index,
            });
        }
        algorithm.feedback(Feedback {
            proposal_index: started.index,
            candidate: started.candidate,
            fitness: validation,
            replaced: started.replaced,
            cache_hit: outcome == Outcome::Hit,
        });
    }

    fn finish(mut self) -> Result<SearchResult<S::Candidate>, SearchError> {
        if let Some(e) = self.sink_error {
            return Err(SearchError::EventSink(e.to_string()));
        }
        if let Some(e) = self.cache.as_ref().and_then(|c| c.store_error()) {
            return Err(SearchError::Store(e.clone()));
        }
        self.record.cache = self.cache.map(|c| c.counters());
        self.record.audit = self.audit;
        Ok(SearchResult {
            best: self.best,
            record: self.record,
        })
    }
}

/// What a checkpoint must match to be resumed: the search's settings and mode.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Fingerprint {
    /// The caller's digest of the evaluator's and hasher's settings.
    settings: Option<crate::Namespace>,
    /// The simulated cost of one hash, in bits (it moves the clock).
    hash_cost_s: u64,
    mode: String,
    workers: usize,
    seed: u64,
    budget: Budget,
    techniques: Techniques,
    target: Option<f64>,
    in_store: bool,
}

impl Fingerprint {
    /// The fields where `self` (a checkpoint's) and `this` (the search's) differ.
    fn differences(&self, this: &Fingerprint) -> String {
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
struct RunState<C> {
    search_rng: SearchRng,
    cache_rng: SearchRng,
    cache: Option<FunctionalEquivalenceCache>,
    tabu: Vec<(FunctionalHash, u32)>,
    audit: Option<AuditCounters>,
    record: SearchRecord,
    n_started: u64,
    n_evaluations: u64,
    hits_in_a_row: u64,
    reached_target: bool,
    best: Option<Best<C>>,
    live_hashes: Vec<(u64, FunctionalHash)>,
    clock_s: f64,
    in_flight: Vec<Finished<C>>,
    /// The seed of the run's evaluation ids ([`Run::id_seed`]).
    id_seed: u64,
    /// The entries of a store that lives only in this process's memory
    /// ([`FecStore::checkpoint_entries`]).
    store_entries: Option<Vec<(FunctionalHash, crate::StoredEntry)>>,
}

/// A checkpoint file.
#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointFile<A, C> {
    format: String,
    fingerprint: Fingerprint,
    algorithm: A,
    state: RunState<C>,
}

/// The head of a checkpoint file, read first to check it belongs to the search.
#[derive(serde::Deserialize)]
struct CheckpointHead {
    format: String,
    fingerprint: Fingerprint,
}

/// Writes checkpoints when they are due.
struct CheckpointWriter<'c> {
    config: &'c Checkpoints,
    fingerprint: Fingerprint,
    events_at_last: u64,
    last: std::time::Instant,
}

impl<'c> CheckpointWriter<'c> {
    /// A writer whose last checkpoint is the start (a resumed run sets
    /// `events_at_last` to its checkpoint's count).
    fn new(config: &'c Checkpoints, fingerprint: Fingerprint) -> Self {
        Self {
            config,
            fingerprint,
            events_at_last: 0,
            last: std::time::Instant::now(),
        }
    }

    fn due(&self, n_events: u64) -> bool {
        n_events
            >= self
                .events_at_last
                .saturating_add(self.config.every_candidates)
            || self.last.elapsed() >= self.config.every
    }

    fn write<A: Serialize, C: Serialize>(
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

/// A finished candidate ordered for the min-heap of arrivals: earliest finish
/// first, then earliest proposal.
struct Arrival<C>(Finished<C>);

impl<C> Arrival<C> {
    fn key(&self) -> (f64, u64) {
        (self.0.end_s, self.0.started.index)
    }
}

impl<C> PartialEq for Arrival<C> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<C> Eq for Arrival<C> {}

impl<C> PartialOrd for Arrival<C> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<C> Ord for Arrival<C> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        let (a_end, a_index) = self.key();
        let (b_end, b_index) = other.key();
        b_end.total_cmp(&a_end).then(b_index.cmp(&a_index))
    }
}

#[cfg(test)]
mod resume_tests;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testutil::{IntSpace, PeriodicEvaluator, PeriodicHasher, function_of};
    use crate::{EvolutionConfig, RandomSearch as RandomSearchOf, Replacement};

    proptest! {
        #[test]
        fn an_evaluation_id_gives_back_its_proposal_index(seed in any::<u64>(), index in any::<u64>()) {
            prop_assert_eq!(evaluation_index(seed, evaluation_id(seed, index)), index);
            prop_assert_eq!(unmix(mix(index)), index);
        }
    }

    #[test]
    fn evaluation_ids_keep_their_golden_values() {
        // Ids are stored in shared caches: a change would split old and new runs.
        assert_eq!(evaluation_id(0, 0), 0);
        assert_eq!(evaluation_id(11, 300), 0xd043_78ea_8573_7eba);
    }

    fn evolution(p: usize, s: usize) -> crate::Evolution<u32> {
        EvolutionConfig {
            population_size: p,
            tournament_size: s,
            replacement: Replacement::Oldest,
        }
        .build()
        .unwrap()
    }

    /// A hasher that counts its calls.
    struct Counting {
        inner: PeriodicHasher,
        calls: std::sync::atomic::AtomicU64,
    }

    impl CandidateHasher<u32> for Counting {
        fn hash(&self, c: &u32) -> FunctionalHash {
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.hash(c)
        }
        fn cost_s(&self) -> f64 {
            self.inner.cost_s()
        }
    }

    /// FCM compares each child with its parent's hash, which the driver kept
    /// from when the parent was started: every call of the hasher is a counted,
    /// charged hash, and none hashes a parent again.
    #[test]
    fn fcm_hashes_each_parent_at_most_once() {
        let space = IntSpace::new(300);
        let evaluator = PeriodicEvaluator::new(7, 10.0, 0.0);
        let hasher = Counting {
            inner: PeriodicHasher::new(7, 1.0),
            calls: Default::default(),
        };
        let techniques = Techniques {
            fcm: Some(FcmConfig { max_tries: 5 }),
            ..Techniques::FEC
        };
        for mode in [Mode::Serial, Mode::workers(4).unwrap()] {
            hasher.calls.store(0, std::sync::atomic::Ordering::Relaxed);
            let found = Search::new(&space, &evaluator, Budget::Candidates(400), 3)
                .hasher(&hasher)
                .techniques(techniques)
                .unwrap()
                .run(&mut evolution(20, 5), mode)
                .unwrap();
            let calls = hasher.calls.load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(calls, found.record.n_hashes, "{mode:?}");
            // Every candidate is hashed once, and retries add one each: more
            // hashes than candidates shows FCM at work.
            assert!(calls > 400, "{mode:?}: {calls}");
            // The clock charged every one of them.
            let charged: f64 = found
                .record
                .events
                .iter()
                .map(|e| e.end_s - e.start_s)
                .sum();
            assert!(charged >= calls as f64 * 1.0, "{mode:?}");
        }
    }

    /// An algorithm that asks the driver whether three mutants of its proposal
    /// are known: its queries are hashes, counted and charged to the candidate
    /// it proposes.
    struct Asking {
        known: Vec<bool>,
    }

    impl Algorithm<IntSpace> for Asking {
        fn propose(&mut self, space: &IntSpace, rng: &mut SearchRng) -> crate::Proposal<u32> {
            crate::Proposal::sample(space.sample(rng))
        }

        fn propose_with(&mut self, cx: &mut ProposeContext<'_, IntSpace>) -> crate::Proposal<u32> {
            let space = cx.space();
            let candidate = space.sample(cx.rng());
            for step in 0..3 {
                let known = cx.is_known(&(candidate + 7 * step));
                self.known.push(known);
            }
            crate::Proposal::sample(candidate)
        }

        fn feedback(&mut self, _: Feedback<u32>) {}
    }

    #[test]
    fn known_queries_are_charged_and_counted() {
        let space = IntSpace::new(300);
        let evaluator = PeriodicEvaluator::new(7, 10.0, 0.0);
        let hasher = Counting {
            inner: PeriodicHasher::new(7, 2.0),
            calls: Default::default(),
        };
        let mut asking = Asking { known: Vec::new() };
        let found = Search::new(&space, &evaluator, Budget::Candidates(50), 3)
            .hasher(&hasher)
            .techniques(Techniques::FEC)
            .unwrap()
            .run(&mut asking, Mode::Serial)
            .unwrap();
        let calls = hasher.calls.load(std::sync::atomic::Ordering::Relaxed);
        // 50 candidates, each hashed once and asked about three times.
        assert_eq!(calls, 50 * 4);
        assert_eq!(found.record.n_hashes, calls);
        for e in &found.record.events {
            assert!(e.end_s - e.start_s >= 4.0 * 2.0, "{e:?}");
        }
        // Candidate + 7k computes the candidate's function: the second and
        // third queries of a proposal are known (asked before), and once the
        // first 7 functions are cached, every query is.
        assert!(asking.known.chunks(3).all(|q| q[1] && q[2]));
        assert!(asking.known[asking.known.len() - 3..].iter().all(|k| *k));
        // Without FEC the driver knows nothing and hashes nothing.
        let mut asking = Asking { known: Vec::new() };
        let baseline = Search::new(&space, &evaluator, Budget::Candidates(50), 3)
            .hasher(&hasher)
            .run(&mut asking, Mode::Serial)
            .unwrap();
        assert_eq!(baseline.record.n_hashes, 0);
        assert!(asking.known.iter().all(|k| !k));
    }

    /// An evaluator's declared cost unit reaches the record, its JSON and the
    /// names of its CSV time columns.
    #[test]
    fn a_record_carries_the_evaluators_cost_unit() {
        struct Steps(PeriodicEvaluator);
        impl Evaluator<u32> for Steps {
            fn evaluate(&self, c: &u32, rng: &mut SearchRng) -> Evaluation {
                self.0.evaluate(c, rng)
            }
            fn cost_unit(&self) -> crate::CostUnit {
                crate::CostUnit::EnvironmentSteps
            }
        }
        let space = IntSpace::new(30);
        let steps = Steps(PeriodicEvaluator::new(7, 500.0, 0.0));
        let record = Search::new(&space, &steps, Budget::Candidates(5), 1)
            .run(&mut evolution(3, 2), Mode::Serial)
            .unwrap()
            .record;
        assert_eq!(record.cost_unit, crate::CostUnit::EnvironmentSteps);
        let mut csv = Vec::new();
        record.write_events_csv(&mut csv).unwrap();
        let header = String::from_utf8(csv).unwrap();
        assert!(
            header.starts_with("index,start_environment_steps,end_environment_steps,"),
            "{header}"
        );
        let mut json = Vec::new();
        record.write_json(&mut json).unwrap();
        let back: SearchRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(back.cost_unit, crate::CostUnit::EnvironmentSteps);
        // The default stays seconds, and the CSV of seconds is unchanged.
        let seconds = Search::new(&space, &steps.0, Budget::Candidates(5), 1)
            .run(&mut evolution(3, 2), Mode::Serial)
            .unwrap()
            .record;
        let mut csv = Vec::new();
        seconds.write_events_csv(&mut csv).unwrap();
        assert!(csv.starts_with(b"index,start_s,end_s,hash,"));
    }

    /// A baseline needs no hasher: it runs, hashes nothing, and its result holds
    /// the fittest candidate with the fitness the record saw.
    #[test]
    fn a_search_without_a_hasher_runs_and_returns_its_best() {
        let space = IntSpace::new(300);
        let evaluator = PeriodicEvaluator::new(50, 10.0, 0.0);
        for mode in [
            Mode::Serial,
            Mode::workers(4).unwrap(),
            Mode::parallel(3).unwrap(),
        ] {
            let found = Search::new(&space, &evaluator, Budget::Candidates(200), 5)
                .run(&mut evolution(20, 5), mode)
                .unwrap();
            assert_eq!(found.record.n_events, 200, "{mode:?}");
            assert_eq!(found.record.n_hashes, 0, "{mode:?}");
            let best = found.best.expect("a candidate ran");
            let top = found
                .record
                .events
                .iter()
                .map(|e| e.validation)
                .fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(best.validation, top, "{mode:?}");
            assert_eq!(best.validation, function_of(best.candidate, 50));
            assert_eq!(
                found.record.events[best.proposal_index as usize].validation,
                top
            );
        }
    }

    /// A technique needs hashes: without a hasher the run is refused with an
    /// error that names it, before anything is evaluated.
    #[test]
    fn a_technique_without_a_hasher_is_a_typed_error_naming_it() {
        let space = IntSpace::new(300);
        let evaluator = PeriodicEvaluator::new(50, 10.0, 0.0);
        let cases = [
            (Techniques::FEC, "FEC"),
            (
                Techniques {
                    fcm: Some(FcmConfig { max_tries: 3 }),
                    ..Techniques::NONE
                },
                "FCM",
            ),
            (
                Techniques {
                    tabulist: Some(TabulistConfig {
                        max_occurrences: 2,
                        max_tries: 3,
                    }),
                    ..Techniques::NONE
                },
                "the tabulist",
            ),
        ];
        for (techniques, name) in cases {
            let search = Search::new(&space, &evaluator, Budget::Candidates(10), 5)
                .techniques(techniques)
                .unwrap();
            let err = search.run(&mut evolution(5, 2), Mode::Serial).unwrap_err();
            assert_eq!(err, SearchError::NoHasher { technique: name });
            assert!(err.to_string().contains(name), "{err}");
            let dir = std::env::temp_dir().join(format!("ufh-nohasher-{}", std::process::id()));
            let err = search
                .run_resumable(evolution(5, 2), Mode::Serial, &Checkpoints::new(&dir))
                .unwrap_err();
            assert_eq!(err, SearchError::NoHasher { technique: name });
            assert!(!dir.exists(), "a refused run writes no checkpoint");
        }
    }

    fn search(techniques: &Techniques, budget: Budget, seed: u64, period: u32) -> SearchRecord {
        let evaluator = PeriodicEvaluator {
            period,
            cost_s: 100.0,
            noise: 0.0,
        };
        let hasher = PeriodicHasher::new(period, 1.0);
        Search::new(&IntSpace::new(200), &evaluator, budget, seed)
            .hasher(&hasher)
            .techniques(*techniques)
            .unwrap()
            .run(&mut evolution(20, 5), Mode::Serial)
            .unwrap()
            .record
    }

    /// A record whose events were streamed, not kept, has the same summaries, and
    /// the stream holds exactly the kept record's events; on one worker, on four
    /// simulated workers, and on the pool.
    #[test]
    fn streamed_records_equal_kept_ones() {
        let evaluator = PeriodicEvaluator::new(7, 100.0, 0.05);
        let hasher = PeriodicHasher::new(7, 1.0);
        let space = IntSpace::new(300);
        let techniques = Techniques {
            fec: Some(FecConfig::PLAIN),
            ..Techniques::NONE
        };
        let search = || {
            Search::new(&space, &evaluator, Budget::Candidates(500), 11)
                .hasher(&hasher)
                .techniques(techniques)
                .unwrap()
        };
        for mode in 0..3 {
            let run = |search: Search<'_, _, _, _>| match mode {
                0 => search.run(&mut evolution(20, 5), Mode::Serial),
                1 => search.run(
                    &mut evolution(20, 5),
                    Mode::Workers(NonZeroUsize::new(4).unwrap()),
                ),
                _ => search.run(
                    &mut evolution(20, 5),
                    Mode::Parallel(NonZeroUsize::new(3).unwrap()),
                ),
            };
            let kept = run(search()).unwrap().record;
            let streamed_events = std::sync::Mutex::new(Vec::new());
            let sink = std::sync::Mutex::new(|e: &Event| {
                streamed_events.lock().unwrap().push(*e);
            });
            let streamed = run(search().keep_events(false).stream_events(&sink))
                .unwrap()
                .record;
            let streamed_events = streamed_events.into_inner().unwrap();
            assert!(streamed.events.is_empty(), "mode {mode}");
            assert_eq!(streamed.n_events, kept.events.len() as u64);
            assert_eq!(streamed.n_events, kept.n_events);
            assert_eq!(streamed.best, kept.best);
            assert_eq!(
                streamed.best,
                SearchRecord::from_events(kept.events.clone()).best
            );
            assert_eq!(
                (streamed.cache, streamed.audit, streamed.n_hashes),
                (kept.cache, kept.audit, kept.n_hashes)
            );
            assert_eq!(streamed_events, kept.events, "mode {mode}");
            // The CSV sink writes what the kept record writes.
            let csv = std::sync::Mutex::new(crate::CsvEventSink::new(Vec::new()));
            run(search().keep_events(false).stream_events(&csv)).unwrap();
            let mut expected = Vec::new();
            kept.write_events_csv(&mut expected).unwrap();
            let written = csv.into_inner().unwrap().into_inner().unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    /// A sink that fails ends the run with an error that says so.
    #[test]
    fn a_failing_sink_is_an_error() {
        struct Full;
        impl crate::EventSink for Full {
            fn event(&mut self, _: &Event) -> std::io::Result<()> {
                Err(std::io::Error::other("no space left on device"))
            }
        }
        let evaluator = PeriodicEvaluator::new(7, 100.0, 0.0);
        let hasher = PeriodicHasher::new(7, 1.0);
        let sink = std::sync::Mutex::new(Full);
        let err = Search::new(&IntSpace::new(50), &evaluator, Budget::Candidates(20), 1)
            .hasher(&hasher)
            .stream_events(&sink)
            .run(&mut evolution(5, 2), Mode::Serial)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "writing search events failed: no space left on device"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The paper's guarantee: serial, deterministic, collision-free search with
        /// FEC proposes the baseline's candidates, in order, and more of them.
        #[test]
        fn fec_leaves_a_serial_deterministic_search_unchanged(seed in any::<u64>(), period in 2u32..60) {
            let budget = Budget::SimulatedSeconds(20_000.0);
            let baseline = search(&Techniques::NONE, budget, seed, period);
            let fec = search(&Techniques { fec: Some(FecConfig::PLAIN), ..Techniques::NONE }, budget, seed, period);
            prop_assert!(fec.events.len() >= baseline.events.len());
            for (a, b) in baseline.events.iter().zip(&fec.events) {
                prop_assert_eq!(a.validation, b.validation);
                prop_assert_eq!(a.test, b.test);
            }
            let hits = fec.events.iter().filter(|e| e.outcome == Outcome::Hit).count() as u64;
            prop_assert_eq!(hits, fec.cache.unwrap().full_hits);
        }
    }

    #[test]
    fn fec_and_baseline_agree_candidate_by_candidate() {
        // The proptest compares fitness; here the very candidates are compared,
        // through an algorithm that logs what it is told.
        struct Logged(crate::Evolution<u32>, Vec<u32>);
        impl Algorithm<IntSpace> for Logged {
            fn propose(&mut self, space: &IntSpace, rng: &mut SearchRng) -> crate::Proposal<u32> {
                self.0.propose(space, rng)
            }
            fn feedback(&mut self, feedback: Feedback<u32>) {
                self.1.push(feedback.candidate);
                Algorithm::<IntSpace>::feedback(&mut self.0, feedback);
            }
        }
        let run = |techniques: &Techniques| {
            let mut algorithm = Logged(evolution(10, 3), Vec::new());
            let evaluator = PeriodicEvaluator::new(7, 50.0, 0.0);
            let hasher = PeriodicHasher::new(7, 2.0);
            Search::new(
                &IntSpace::new(100),
                &evaluator,
                Budget::SimulatedSeconds(10_000.0),
                9,
            )
            .hasher(&hasher)
            .techniques(*techniques)
            .unwrap()
            .run(&mut algorithm, Mode::Serial)
            .unwrap();
            algorithm.1
        };
        let baseline = run(&Techniques::NONE);
        let with_fec = run(&Techniques {
            fec: Some(FecConfig::PLAIN),
            ..Techniques::NONE
        });
        assert!(
            with_fec.len() > baseline.len(),
            "FEC saves time: {} vs {}",
            with_fec.len(),
            baseline.len()
        );
        assert_eq!(&with_fec[..baseline.len()], &baseline[..]);
    }

    #[test]
    fn a_search_stops_once_it_reaches_its_target_fitness() {
        let evaluator = PeriodicEvaluator::new(50, 10.0, 0.0);
        let hasher = PeriodicHasher::new(50, 1.0);
        let space = IntSpace::new(200);
        let target = 0.9;
        let record = Search::new(&space, &evaluator, Budget::Candidates(100_000), 3)
            .hasher(&hasher)
            .stop_at_fitness(target)
            .unwrap()
            .run(&mut evolution(20, 5), Mode::Serial)
            .unwrap()
            .record;
        let last = record.events.last().unwrap();
        assert!(
            last.validation >= target,
            "the last candidate is the one that reached it"
        );
        assert!(
            record.events[..record.events.len() - 1]
                .iter()
                .all(|e| e.validation < target),
            "no earlier candidate had reached it"
        );
        assert!(record.events.len() < 100_000);
        let err = Search::new(&space, &evaluator, Budget::Candidates(1), 3)
            .hasher(&hasher)
            .stop_at_fitness(f64::NAN)
            .unwrap_err();
        assert!(err.to_string().contains("NaN"), "{err}");
    }

    #[test]
    fn fcm_children_differ_in_function_from_their_parent() {
        let period = 5;
        let hasher = PeriodicHasher::new(period, 1.0);
        let fcm = Techniques {
            fcm: Some(FcmConfig { max_tries: 50 }),
            ..Techniques::NONE
        };
        // A logging algorithm records (parent, child) pairs.
        struct Pairs(crate::Evolution<u32>, Vec<(Option<u32>, u32)>, Option<u32>);
        impl Algorithm<IntSpace> for Pairs {
            fn propose(&mut self, space: &IntSpace, rng: &mut SearchRng) -> crate::Proposal<u32> {
                let p = self.0.propose(space, rng);
                self.2 = p.parent;
                p
            }
            fn feedback(&mut self, feedback: Feedback<u32>) {
                self.1.push((self.2, feedback.candidate));
                Algorithm::<IntSpace>::feedback(&mut self.0, feedback);
            }
        }
        let mut algorithm = Pairs(evolution(10, 3), Vec::new(), None);
        let evaluator = PeriodicEvaluator {
            period,
            cost_s: 10.0,
            noise: 0.0,
        };
        Search::new(&IntSpace::new(100), &evaluator, Budget::Candidates(300), 3)
            .hasher(&hasher)
            .techniques(fcm)
            .unwrap()
            .run(&mut algorithm, Mode::Serial)
            .unwrap();
        let mutated: Vec<_> = algorithm
            .1
            .iter()
            .filter_map(|(p, c)| p.map(|p| (p, *c)))
            .collect();
        assert!(mutated.len() > 250);
        for (parent, child) in mutated {
            assert_ne!(
                hasher.hash(&parent),
                hasher.hash(&child),
                "parent {parent} child {child}"
            );
        }
    }

    #[test]
    fn fcm_gives_up_after_max_tries() {
        // Period 1: every candidate computes the same function, so no retry helps.
        let techniques = Techniques {
            fcm: Some(FcmConfig { max_tries: 4 }),
            ..Techniques::NONE
        };
        let record = search(&techniques, Budget::Candidates(30), 1, 1);
        // 20 seeds hash once; 10 children hash child + 4 retries (the parent's
        // hash is known).
        assert_eq!(record.n_hashes, 20 + 10 * 5);
        assert_eq!(record.events.len(), 30);
    }

    /// Feedback says whether the tabulist replaced the proposal, and that flag is
    /// exactly "the candidate fed back is not the one proposed" here (the space's
    /// samples rarely repeat a value).
    #[test]
    fn feedback_flags_replacements_by_techniques() {
        struct Logging(Vec<(u32, u32, bool)>, Option<u32>);
        impl Algorithm<IntSpace> for Logging {
            fn propose(&mut self, space: &IntSpace, rng: &mut SearchRng) -> crate::Proposal<u32> {
                let candidate = space.sample(rng);
                self.1 = Some(candidate);
                crate::Proposal::sample(candidate)
            }
            fn feedback(&mut self, feedback: Feedback<u32>) {
                let proposed = self.1.take().expect("serial: one proposal at a time");
                self.0
                    .push((proposed, feedback.candidate, feedback.replaced));
            }
        }
        let evaluator = PeriodicEvaluator::new(3, 10.0, 0.0);
        let hasher = PeriodicHasher::new(3, 1.0);
        let tabulist = Techniques {
            tabulist: Some(TabulistConfig {
                max_occurrences: 1,
                max_tries: 3,
            }),
            ..Techniques::NONE
        };
        let mut logging = Logging(Vec::new(), None);
        Search::new(
            &IntSpace::new(1 << 30),
            &evaluator,
            Budget::Candidates(60),
            9,
        )
        .hasher(&hasher)
        .techniques(tabulist)
        .unwrap()
        .run(&mut logging, Mode::Serial)
        .unwrap();
        let replaced = logging.0.iter().filter(|(_, _, r)| *r).count();
        assert!(
            replaced > 10,
            "3 functions, each allowed twice: most are replaced"
        );
        for (proposed, fed_back, flag) in &logging.0 {
            assert_eq!(*flag, proposed != fed_back, "{proposed} -> {fed_back}");
        }
    }

    #[test]
    fn tabulist_keeps_over_seen_hashes_out() {
        // Random search retries by sampling the whole space (50 functions), so the
        // tabulist always finds a hash seen at most K times.
        let k = 2;
        let counts = |techniques: &Techniques| {
            let evaluator = PeriodicEvaluator::new(50, 10.0, 0.0);
            let hasher = PeriodicHasher::new(50, 1.0);
            let record = Search::new(&IntSpace::new(200), &evaluator, Budget::Candidates(120), 4)
                .hasher(&hasher)
                .techniques(*techniques)
                .unwrap()
                .run(&mut crate::RandomSearch, Mode::Serial)
                .unwrap()
                .record;
            let mut seen: rustc_hash::FxHashMap<FunctionalHash, u32> = Default::default();
            for event in &record.events {
                *seen.entry(event.hash.expect("hashed")).or_insert(0) += 1;
            }
            seen.into_values().max().unwrap()
        };
        let tabulist = Techniques {
            tabulist: Some(TabulistConfig {
                max_occurrences: k,
                max_tries: 1_000,
            }),
            ..Techniques::NONE
        };
        let fec_only = Techniques {
            fec: Some(FecConfig::PLAIN),
            ..Techniques::NONE
        };
        // A hash may enter once more after being seen K times, never after K + 1.
        assert_eq!(counts(&tabulist), k + 1);
        assert!(
            counts(&fec_only) > k + 1,
            "without the tabulist some hash repeats more"
        );
    }

    #[test]
    fn fea_feeds_back_running_means_under_noise() {
        let evaluator = PeriodicEvaluator::new(3, 10.0, 0.2);
        let hasher = PeriodicHasher::new(3, 1.0);
        let techniques = Techniques {
            fec: Some(FecConfig {
                max_evals: std::num::NonZeroU32::new(4).unwrap(),
                ..FecConfig::PLAIN
            }),
            ..Techniques::NONE
        };
        let record = Search::new(&IntSpace::new(30), &evaluator, Budget::Candidates(200), 8)
            .hasher(&hasher)
            .techniques(techniques)
            .unwrap()
            .run(&mut evolution(5, 2), Mode::Serial)
            .unwrap()
            .record;
        let counters = record.cache.unwrap();
        // Three functions, four evaluations each: 3 misses, 9 partial hits.
        assert_eq!((counters.misses, counters.partial_hits), (3, 9));
        assert_eq!(counters.full_hits, 200 - 12);
        // After aggregation, fitness is the mean of four noisy evaluations: close to
        // the true function, and the same for every hit of a hash.
        let last = record.events.last().unwrap();
        assert!((last.validation - last.test).abs() < 0.2);
    }

    #[test]
    fn audit_needs_fec_and_a_valid_tolerance() {
        let evaluator = PeriodicEvaluator::new(3, 10.0, 0.0);
        let hasher = PeriodicHasher::new(3, 1.0);
        let space = IntSpace::new(30);
        let search = Search::new(&space, &evaluator, Budget::Candidates(5), 0).hasher(&hasher);
        let audit_only = Techniques {
            audit: Some(AuditConfig { tolerance: 0.0 }),
            ..Techniques::NONE
        };
        assert!(matches!(
            search.clone().techniques(audit_only),
            Err(SearchError::InvalidConfig(_))
        ));
        let nan = Techniques {
            audit: Some(AuditConfig {
                tolerance: f64::NAN,
            }),
            ..Techniques::FEC
        };
        let err = search.techniques(nan).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid search configuration: audit tolerance NaN must be a non-negative number"
        );
    }

    fn evo_search<'a>(
        space: &'a IntSpace,
        evaluator: &'a PeriodicEvaluator,
        hasher: &'a PeriodicHasher,
        techniques: Techniques,
        budget: Budget,
    ) -> Search<'a, IntSpace, PeriodicEvaluator, PeriodicHasher> {
        Search::new(space, evaluator, budget, 77)
            .hasher(hasher)
            .techniques(techniques)
            .unwrap()
    }

    #[test]
    fn one_worker_is_the_serial_search() {
        let space = IntSpace::new(100);
        let evaluator = PeriodicEvaluator::new(9, 40.0, 0.05);
        let hasher = PeriodicHasher::new(9, 2.0);
        let search = evo_search(
            &space,
            &evaluator,
            &hasher,
            Techniques::FEC,
            Budget::SimulatedSeconds(5_000.0),
        );
        let serial = search
            .run(&mut evolution(10, 3), Mode::Serial)
            .unwrap()
            .record;
        let workers = search
            .run(&mut evolution(10, 3), Mode::Workers(NonZeroUsize::MIN))
            .unwrap()
            .record;
        assert_eq!(serial, workers);
    }

    #[test]
    fn workers_overlap_and_cache_hits_overtake_evaluations() {
        let space = IntSpace::new(100);
        let evaluator = PeriodicEvaluator::new(9, 40.0, 0.0);
        let hasher = PeriodicHasher::new(9, 2.0);
        let search = evo_search(
            &space,
            &evaluator,
            &hasher,
            Techniques::FEC,
            Budget::SimulatedSeconds(2_000.0),
        );
        let workers = NonZeroUsize::new(4).unwrap();
        let record = search
            .run(&mut evolution(10, 3), Mode::Workers(workers))
            .unwrap()
            .record;
        // Four workers do about four times the serial work in the same time.
        let serial = search
            .run(&mut evolution(10, 3), Mode::Serial)
            .unwrap()
            .record;
        assert!(
            record.events.len() > 3 * serial.events.len() / 2,
            "{} vs {}",
            record.events.len(),
            serial.events.len()
        );
        // Events are recorded in completion order; a hit started after an
        // evaluation finishes before it.
        assert!(record.events.windows(2).all(|w| w[0].end_s <= w[1].end_s));
        assert!(record.events.windows(2).any(|w| w[0].index > w[1].index));
        // Deterministic for its seed.
        assert_eq!(
            record,
            search
                .run(&mut evolution(10, 3), Mode::Workers(workers))
                .unwrap()
                .record
        );
    }

    #[test]
    fn parallel_records_do_not_depend_on_the_thread_count() {
        let space = IntSpace::new(100);
        let evaluator = PeriodicEvaluator::new(13, 40.0, 0.1);
        let hasher = PeriodicHasher::new(13, 2.0);
        let techniques = Techniques {
            fcm: Some(FcmConfig { max_tries: 5 }),
            ..Techniques::FEC
        };
        let search = evo_search(
            &space,
            &evaluator,
            &hasher,
            techniques,
            Budget::Candidates(300),
        );
        let workers = NonZeroUsize::new(8).unwrap();
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                search
                    .run(&mut evolution(20, 5), Mode::Parallel(workers))
                    .unwrap()
                    .record
            })
        };
        let one = on(1);
        assert_eq!(one.events.len(), 300);
        assert_eq!(one, on(2));
        assert_eq!(one, on(4));
    }

    #[test]
    fn hashing_a_generation_on_the_pool_changes_no_record() {
        let space = IntSpace::new(100);
        let evaluator = PeriodicEvaluator::new(13, 40.0, 0.1);
        let hasher = PeriodicHasher::new(13, 2.0);
        let workers = NonZeroUsize::new(8).unwrap();
        // Budgets that end inside a generation: by evaluations, by candidates, by
        // time with hits in a row.
        for budget in [
            Budget::Evaluations(37),
            Budget::Candidates(301),
            Budget::SimulatedSeconds(30_000.0),
        ] {
            let search = evo_search(&space, &evaluator, &hasher, Techniques::FEC, budget);
            let pooled = search
                .run(&mut evolution(20, 5), Mode::Parallel(workers))
                .unwrap()
                .record;
            let one_by_one = Search {
                parallel_hashing: false,
                ..search.clone()
            }
            .run(&mut evolution(20, 5), Mode::Parallel(workers))
            .unwrap()
            .record;
            assert_eq!(pooled, one_by_one, "{budget:?}");
            assert!(pooled.events.len() > 8);
        }
    }

    /// Hashes only `c mod period mod 2`: candidates computing different functions
    /// share a hash, a deliberately colliding hasher.
    struct Colliding(PeriodicHasher);

    impl CandidateHasher<u32> for Colliding {
        fn hash(&self, candidate: &u32) -> FunctionalHash {
            self.0.hash(&(candidate % self.0.period % 2))
        }
        fn cost_s(&self) -> f64 {
            self.0.cost_s()
        }
    }

    #[test]
    fn audit_counts_collisions_of_a_colliding_hasher() {
        let space = IntSpace::new(60);
        let evaluator = PeriodicEvaluator::new(6, 10.0, 0.0);
        let audit = Techniques {
            audit: Some(AuditConfig { tolerance: 1e-9 }),
            ..Techniques::FEC
        };
        let exact = PeriodicHasher::new(6, 1.0);
        let record = Search::new(&space, &evaluator, Budget::Candidates(200), 5)
            .hasher(&exact)
            .techniques(audit)
            .unwrap()
            .run(&mut RandomSearchOf, Mode::Serial)
            .unwrap()
            .record;
        let counters = record.audit.unwrap();
        assert_eq!(counters.audited, record.cache.unwrap().full_hits);
        assert_eq!(counters.collisions, 0, "an exact hasher never collides");

        let colliding = Colliding(PeriodicHasher::new(6, 1.0));
        let record = Search::new(&space, &evaluator, Budget::Candidates(200), 5)
            .hasher(&colliding)
            .techniques(audit)
            .unwrap()
            .run(&mut RandomSearchOf, Mode::Serial)
            .unwrap()
            .record;
        let counters = record.audit.unwrap();
        // Two hashes for six functions: every hit whose candidate computes another
        // function than the cached one is a collision; with uniform sampling that
        // is two thirds of the hits.
        assert_eq!(counters.audited, 198);
        let rate = counters.collision_rate().unwrap();
        assert!((rate - 2.0 / 3.0).abs() < 0.1, "collision rate {rate}");
    }

    #[test]
    fn evaluation_budgets_count_only_real_evaluations() {
        let space = IntSpace::new(100);
        let evaluator = PeriodicEvaluator::new(4, 10.0, 0.0);
        let hasher = PeriodicHasher::new(4, 1.0);
        let search = evo_search(
            &space,
            &evaluator,
            &hasher,
            Techniques::FEC,
            Budget::Evaluations(4),
        );
        let record = search
            .run(&mut evolution(10, 3), Mode::Serial)
            .unwrap()
            .record;
        let evaluated = record
            .events
            .iter()
            .filter(|e| e.outcome != Outcome::Hit)
            .count();
        assert_eq!(
            evaluated, 4,
            "four functions exist and each is evaluated once"
        );
        // The search ends only when a fifth evaluation would start; with four
        // functions that never happens before the hits are spent, so it ran on
        // hits until the last evaluation: at least the four misses.
        assert!(record.events.len() >= 4);
        let baseline = evo_search(
            &space,
            &evaluator,
            &hasher,
            Techniques::NONE,
            Budget::Evaluations(7),
        )
        .run(&mut evolution(10, 3), Mode::Serial)
        .unwrap()
        .record;
        assert_eq!(baseline.events.len(), 7);
    }
}
