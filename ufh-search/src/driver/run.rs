//! One run's mutable state and its step: propose (with FCM and the tabulist),
//! hash, look up, evaluate, complete (cache, audit, feedback, record).

use super::*;

/// A candidate whose hash and cache lookup are done and whose evaluation, if it
/// needs one, is not yet.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Started<C> {
    pub(super) index: u64,
    pub(super) candidate: C,
    pub(super) hash: Option<FunctionalHash>,
    pub(super) start_s: f64,
    /// Simulated seconds spent hashing.
    pub(super) hash_cost_s: f64,
    pub(super) lookup: Option<Lookup>,
    /// Whether a technique (FCM, tabulist) replaced the proposed candidate.
    pub(super) replaced: bool,
}

/// A candidate with its evaluation (absent for a cache hit without audit).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Finished<C> {
    pub(super) started: Started<C>,
    pub(super) evaluation: Option<Evaluation>,
    pub(super) end_s: f64,
}

/// The mutable state of one run.
pub(super) struct Run<'a, S: SearchSpace, E, H> {
    pub(super) search: &'a Search<'a, S, E, H>,
    /// The seed of the ids its evaluations are stored under: the search's seed,
    /// or for a resumable run that and a nonce of its own.
    pub(super) id_seed: u64,
    pub(super) search_rng: SearchRng,
    pub(super) cache_rng: SearchRng,
    pub(super) cache: Option<FunctionalEquivalenceCache>,
    pub(super) tabu: Tabulist,
    pub(super) audit: Option<AuditCounters>,
    pub(super) record: SearchRecord,
    pub(super) n_started: u64,
    /// Started candidates that need an evaluation (all but full cache hits).
    pub(super) n_evaluations: u64,
    /// Full cache hits started since the last candidate that needed evaluating.
    pub(super) hits_in_a_row: u64,
    /// Whether a candidate has reached the search's target fitness.
    pub(super) reached_target: bool,
    /// The first error of the event sink; the run reports it when it finishes.
    pub(super) sink_error: Option<std::io::Error>,
    /// The fittest candidate fed back so far.
    pub(super) best: Option<Best<S::Candidate>>,
    /// The hashes of recent proposals' candidates, for FCM's comparison of a
    /// child with its parent.
    pub(super) live_hashes: ParentHashes,
}

/// The stream a started candidate's evaluation draws from, or `None` where it
/// needs none: a full hit is not evaluated unless audited (then off the clock, on
/// the audit stream); anything else gets a fresh evaluation.
pub(super) fn evaluation_stream<C>(
    started: &Started<C>,
    audit: bool,
    seed: u64,
) -> Option<SearchRng> {
    match started.lookup {
        Some(Lookup::Hit(_)) => audit.then(|| candidate_rng(seed, AUDIT_STREAM, started.index)),
        _ => Some(candidate_rng(seed, EVALUATOR_STREAM, started.index)),
    }
}

/// A started candidate with the evaluation it got (if it needed one).
pub(super) fn finish<C>(started: Started<C>, evaluation: Option<Evaluation>) -> Finished<C> {
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
    pub(super) fn allows_start(&self, clock_s: f64) -> bool {
        self.allowed_at(clock_s, self.n_started)
    }

    /// The first candidate of each of `workers` workers, at time 0.
    pub(super) fn first_starts<A: Algorithm<S>>(
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
    pub(super) fn snapshot(
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
    pub(super) fn allowed_at(&self, clock_s: f64, index: u64) -> bool {
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
    pub(super) fn propose<A: Algorithm<S>>(
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
    pub(super) fn remember_hash(&mut self, index: u64, hash: FunctionalHash) {
        if self.search.techniques.fcm.is_some() {
            self.live_hashes.remember(index, hash);
        }
    }

    /// Looks a candidate up by its hash, after `n_hashes` hashes were spent on it
    /// (FCM and the tabulist retry), and counts it as a hit or an evaluation.
    pub(super) fn look_up(
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
    pub(super) fn start<A: Algorithm<S>>(
        &mut self,
        algorithm: &mut A,
        start_s: f64,
    ) -> Started<S::Candidate> {
        let search = self.search;
        let (index, proposal, queries) = self.propose(algorithm);
        let crate::Proposal {
            mut candidate,
            parent,
            parent_index,
        } = proposal;
        if !search.techniques.need_hash() {
            // Without FEC there is no cache, so `is_known` hashes nothing.
            debug_assert_eq!(queries, 0);
            self.n_evaluations += 1;
            return Started {
                index,
                candidate,
                hash: None,
                start_s,
                hash_cost_s: 0.0,
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

    pub(super) fn evaluate(
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
    pub(super) fn complete<A: Algorithm<S>>(
        &mut self,
        algorithm: &mut A,
        finished: Finished<S::Candidate>,
    ) {
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

    pub(super) fn finish(mut self) -> Result<SearchResult<S::Candidate>, SearchError> {
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

/// A finished candidate ordered for the min-heap of arrivals: earliest finish
/// first, then earliest proposal.
pub(super) struct Arrival<C>(pub(super) Finished<C>);

impl<C> Arrival<C> {
    pub(super) fn key(&self) -> (f64, u64) {
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
