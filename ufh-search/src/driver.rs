//! The serial driver: owns the simulated clock, the budget and the techniques.

use rand::SeedableRng;
use rustc_hash::FxHashMap;
use ufh_core::FunctionalHash;

use crate::record::{Event, Outcome, SearchRecord};
use crate::{
    Algorithm, CandidateHasher, Evaluator, FecConfig, Lookup, SearchError, SearchRng, SearchSpace,
};

/// When a search stops.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Budget {
    /// Stop starting candidates once the simulated clock (evaluation plus hashing
    /// costs, seeding counted) reaches this many seconds; the candidate in flight
    /// finishes.
    SimulatedSeconds(f64),
    /// Stop after this many candidates (cache hits included).
    Candidates(u64),
}

impl Budget {
    fn exhausted(self, clock_s: f64, n_candidates: u64) -> bool {
        match self {
            Budget::SimulatedSeconds(limit) => clock_s >= limit,
            Budget::Candidates(limit) => n_candidates >= limit,
        }
    }
}

/// Functional change mutation (Method 6): re-mutate a child whose hash equals its
/// parent's, at most `max_tries` times, then take it as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FcmConfig {
    /// Retries before the child is accepted unchanged.
    pub max_tries: u32,
}

/// Tabulist (Method 7): re-mutate a child whose hash has been seen more than
/// `max_occurrences` times, at most `max_tries` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TabulistConfig {
    /// K: a hash seen more than K times is taboo.
    pub max_occurrences: u32,
    /// Retries before the child is accepted anyway.
    pub max_tries: u32,
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
}

impl Techniques {
    /// No technique: the baseline.
    pub const NONE: Techniques = Techniques {
        fec: None,
        fcm: None,
        tabulist: None,
    };

    fn need_hash(&self) -> bool {
        self.fec.is_some() || self.fcm.is_some() || self.tabulist.is_some()
    }
}

/// Seeds of the three independent streams of a search. Keeping evaluation noise
/// and cache forgetting off the search's own stream is what makes FEC leave a
/// serial, deterministic search's proposals unchanged.
const EVALUATOR_STREAM: u64 = 0x6576_616c_7561_7465; // "evaluate"
const CACHE_STREAM: u64 = 0x6361_6368_6566_6f72; // "cachefor"

/// Runs a serial search: one candidate at a time, each fully processed (hashed,
/// looked up, evaluated if needed) before the next is proposed.
///
/// `hasher` may be `None` only when no technique is on.
pub fn run_serial<S, A, E, H>(
    space: &S,
    algorithm: &mut A,
    evaluator: &E,
    hasher: Option<&H>,
    techniques: &Techniques,
    budget: Budget,
    seed: u64,
) -> Result<SearchRecord, SearchError>
where
    S: SearchSpace,
    A: Algorithm<S>,
    E: Evaluator<S::Candidate>,
    H: CandidateHasher<S::Candidate>,
{
    let hasher = match (hasher, techniques.need_hash()) {
        (None, true) => return Err(SearchError::MissingHasher),
        (hasher, _) => hasher,
    };
    let mut search_rng = SearchRng::seed_from_u64(seed);
    let mut evaluator_rng = SearchRng::seed_from_u64(seed ^ EVALUATOR_STREAM);
    let mut cache_rng = SearchRng::seed_from_u64(seed ^ CACHE_STREAM);
    let mut cache = techniques.fec.map(FecConfig::build).transpose()?;
    let mut tabu: FxHashMap<FunctionalHash, u32> = FxHashMap::default();
    let mut record = SearchRecord {
        events: Vec::new(),
        cache: None,
        n_hashes: 0,
    };
    let mut clock_s = 0.0;
    let mut index = 0u64;
    while !budget.exhausted(clock_s, index) {
        let start_s = clock_s;
        let proposal = algorithm.propose(space, &mut search_rng);
        let mut child = proposal.candidate;
        let mut hash = None;
        if let Some(hasher) = hasher.filter(|_| techniques.need_hash()) {
            let mut hash_of = |candidate: &S::Candidate, clock_s: &mut f64| {
                record.n_hashes += 1;
                *clock_s += hasher.cost_s();
                hasher.hash(candidate)
            };
            let mut h = hash_of(&child, &mut clock_s);
            let retry = |rng: &mut SearchRng| match &proposal.parent {
                Some(parent) => space.mutate(parent, rng),
                None => space.sample(rng),
            };
            if let (Some(fcm), Some(parent)) = (techniques.fcm, &proposal.parent) {
                let parent_hash = hash_of(parent, &mut clock_s);
                for _ in 0..fcm.max_tries {
                    if h != parent_hash {
                        break;
                    }
                    child = retry(&mut search_rng);
                    h = hash_of(&child, &mut clock_s);
                }
            }
            if let Some(tabulist) = techniques.tabulist {
                for _ in 0..tabulist.max_tries {
                    if tabu.get(&h).copied().unwrap_or(0) <= tabulist.max_occurrences {
                        break;
                    }
                    child = retry(&mut search_rng);
                    h = hash_of(&child, &mut clock_s);
                }
                *tabu.entry(h).or_insert(0) += 1;
            }
            hash = Some(h);
        }
        let (validation, test, outcome) = match (&mut cache, hash) {
            (Some(cache), Some(h)) => match cache.lookup(h, &mut cache_rng) {
                Lookup::Hit(entry) => (entry.validation, entry.test, Outcome::Hit),
                lookup => {
                    let evaluation = evaluator.evaluate(&child, &mut evaluator_rng);
                    clock_s += evaluation.cost_s;
                    let mean = cache.record(h, &evaluation);
                    let outcome = match lookup {
                        Lookup::Miss => Outcome::Miss,
                        _ => Outcome::PartialHit,
                    };
                    (mean.validation, mean.test, outcome)
                }
            },
            _ => {
                let evaluation = evaluator.evaluate(&child, &mut evaluator_rng);
                clock_s += evaluation.cost_s;
                (evaluation.validation, evaluation.test, Outcome::Evaluated)
            }
        };
        algorithm.feedback(child, validation);
        record.events.push(Event {
            index,
            start_s,
            end_s: clock_s,
            hash,
            validation,
            test,
            outcome,
        });
        index += 1;
    }
    record.cache = cache.map(|c| c.counters());
    Ok(record)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testutil::{IntSpace, PeriodicEvaluator, PeriodicHasher};
    use crate::{EvolutionConfig, Replacement};

    fn evolution(p: usize, s: usize) -> crate::Evolution<u32> {
        EvolutionConfig {
            population_size: p,
            tournament_size: s,
            replacement: Replacement::Oldest,
        }
        .build()
        .unwrap()
    }

    fn search(techniques: &Techniques, budget: Budget, seed: u64, period: u32) -> SearchRecord {
        let evaluator = PeriodicEvaluator {
            period,
            cost_s: 100.0,
            noise: 0.0,
        };
        let hasher = PeriodicHasher::new(period, 1.0);
        run_serial(
            &IntSpace::new(200),
            &mut evolution(20, 5),
            &evaluator,
            Some(&hasher),
            techniques,
            budget,
            seed,
        )
        .unwrap()
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
            fn feedback(&mut self, candidate: u32, fitness: f64) {
                self.1.push(candidate);
                Algorithm::<IntSpace>::feedback(&mut self.0, candidate, fitness);
            }
        }
        let run = |techniques: &Techniques| {
            let mut algorithm = Logged(evolution(10, 3), Vec::new());
            let evaluator = PeriodicEvaluator {
                period: 7,
                cost_s: 50.0,
                noise: 0.0,
            };
            let hasher = PeriodicHasher::new(7, 2.0);
            run_serial(
                &IntSpace::new(100),
                &mut algorithm,
                &evaluator,
                Some(&hasher),
                techniques,
                Budget::SimulatedSeconds(10_000.0),
                9,
            )
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
            fn feedback(&mut self, candidate: u32, fitness: f64) {
                self.1.push((self.2, candidate));
                Algorithm::<IntSpace>::feedback(&mut self.0, candidate, fitness);
            }
        }
        let mut algorithm = Pairs(evolution(10, 3), Vec::new(), None);
        let evaluator = PeriodicEvaluator {
            period,
            cost_s: 10.0,
            noise: 0.0,
        };
        run_serial(
            &IntSpace::new(100),
            &mut algorithm,
            &evaluator,
            Some(&hasher),
            &fcm,
            Budget::Candidates(300),
            3,
        )
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
        // 20 seeds hash once; 10 children hash child + parent + 4 retries.
        assert_eq!(record.n_hashes, 20 + 10 * 6);
        assert_eq!(record.events.len(), 30);
    }

    #[test]
    fn tabulist_keeps_over_seen_hashes_out() {
        // Random search retries by sampling the whole space (50 functions), so the
        // tabulist always finds a hash seen at most K times.
        let k = 2;
        let counts = |techniques: &Techniques| {
            let evaluator = PeriodicEvaluator {
                period: 50,
                cost_s: 10.0,
                noise: 0.0,
            };
            let hasher = PeriodicHasher::new(50, 1.0);
            let record = run_serial(
                &IntSpace::new(200),
                &mut crate::RandomSearch,
                &evaluator,
                Some(&hasher),
                techniques,
                Budget::Candidates(120),
                4,
            )
            .unwrap();
            let mut seen: FxHashMap<FunctionalHash, u32> = FxHashMap::default();
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
        let evaluator = PeriodicEvaluator {
            period: 3,
            cost_s: 10.0,
            noise: 0.2,
        };
        let hasher = PeriodicHasher::new(3, 1.0);
        let techniques = Techniques {
            fec: Some(FecConfig {
                max_evals: std::num::NonZeroU32::new(4).unwrap(),
                ..FecConfig::PLAIN
            }),
            ..Techniques::NONE
        };
        let record = run_serial(
            &IntSpace::new(30),
            &mut evolution(5, 2),
            &evaluator,
            Some(&hasher),
            &techniques,
            Budget::Candidates(200),
            8,
        )
        .unwrap();
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
    fn techniques_without_a_hasher_are_an_error() {
        let evaluator = PeriodicEvaluator {
            period: 3,
            cost_s: 10.0,
            noise: 0.0,
        };
        let err = run_serial::<_, _, _, PeriodicHasher>(
            &IntSpace::new(30),
            &mut evolution(5, 2),
            &evaluator,
            None,
            &Techniques {
                fec: Some(FecConfig::PLAIN),
                ..Techniques::NONE
            },
            Budget::Candidates(5),
            0,
        )
        .unwrap_err();
        assert_eq!(err, SearchError::MissingHasher);
    }
}
