//! The driver's tests: modes, budgets, techniques, hashing and records.

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

pub(super) fn evolution(p: usize, s: usize) -> crate::Evolution<u32> {
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
