//! Permanence: a short seeded run of each algorithm, folded into one number that
//! must not change by accident. A deliberate change of an algorithm, of the RNG
//! streams or of the `rand` version updates these constants in the same commit.

use std::num::NonZeroUsize;

use rand::Rng;
use ufh_core::{FunctionalHash, FunctionalHasher, MantissaBits};
use ufh_search::{
    Algorithm, BananasConfig, Budget, CandidateHasher, DiscreteEncoding, Evaluation, Evaluator,
    EvolutionConfig, FeatureEncoding, LocalSearchConfig, Mode, Move, Neighbourhood, PpoConfig,
    RandomSearch, Replacement, Search, SearchRecord, SearchRng, SearchSpace, Techniques,
};

/// Three decisions of four options, as a vector; fitness rewards large sums.
struct Digits;

impl SearchSpace for Digits {
    type Candidate = Vec<usize>;
    fn sample(&self, rng: &mut SearchRng) -> Vec<usize> {
        (0..3).map(|_| rng.random_range(0..4)).collect()
    }
    fn mutate(&self, parent: &Vec<usize>, rng: &mut SearchRng) -> Vec<usize> {
        let mut child = parent.clone();
        let position = rng.random_range(0..3);
        child[position] = rng.random_range(0..4);
        child
    }
}

impl DiscreteEncoding for Digits {
    fn cardinalities(&self) -> Vec<usize> {
        vec![4; 3]
    }
    fn decode(&self, choices: &[usize]) -> Vec<usize> {
        choices.to_vec()
    }
}

/// Neighbours: one decision changed to another option.
impl Neighbourhood for Digits {
    fn neighbours(&self, c: &Vec<usize>) -> Vec<Vec<usize>> {
        let mut neighbours = Vec::new();
        for position in 0..3 {
            for option in (0..4).filter(|&o| o != c[position]) {
                let mut n = c.clone();
                n[position] = option;
                neighbours.push(n);
            }
        }
        neighbours
    }
}

/// One-hot features of the three decisions.
impl FeatureEncoding for Digits {
    fn feature_len(&self) -> usize {
        12
    }
    fn encode(&self, c: &Vec<usize>, out: &mut [f64]) {
        out.fill(0.0);
        for (position, &option) in c.iter().enumerate() {
            out[4 * position + option] = 1.0;
        }
    }
}

struct Noisy;

impl Evaluator<Vec<usize>> for Noisy {
    fn evaluate(&self, c: &Vec<usize>, rng: &mut SearchRng) -> Evaluation {
        let f = c.iter().sum::<usize>() as f64 / 9.0;
        Evaluation {
            validation: f + rng.random_range(-0.05..0.05),
            test: f,
            cost_s: 10.0 + c[0] as f64,
        }
    }
}

/// The sum is the function: permutations hash equal.
struct SumHash;

impl CandidateHasher<Vec<usize>> for SumHash {
    fn hash(&self, c: &Vec<usize>) -> FunctionalHash {
        FunctionalHash(c.iter().sum::<usize>() as u64)
    }
    fn cost_s(&self) -> f64 {
        1.0
    }
}

/// Every event's index, times and fitness, folded by the functional hash itself.
fn fold(record: &SearchRecord) -> String {
    let mut hasher = FunctionalHasher::new(MantissaBits::f64(52).expect("52 bits"));
    for e in &record.events {
        hasher.push_u64(e.index);
        hasher.push_f64s(&[e.start_s, e.end_s, e.validation, e.test]);
    }
    hasher.finish().to_string()
}

fn run<A: Algorithm<Digits>>(mut algorithm: A, workers: usize) -> String {
    let search = Search::new(&Digits, &Noisy, Budget::Candidates(200), 2024)
        .hasher(&SumHash)
        .techniques(Techniques::FEC)
        .expect("valid techniques");
    let record = search
        .run(
            &mut algorithm,
            Mode::Workers(NonZeroUsize::new(workers).expect("non-zero")),
        )
        .expect("search runs")
        .record;
    assert_eq!(record.events.len(), 200);
    fold(&record)
}

fn evolution(replacement: Replacement) -> ufh_search::Evolution<Vec<usize>> {
    EvolutionConfig {
        population_size: 20,
        tournament_size: 5,
        replacement,
    }
    .build()
    .expect("valid sizes")
}

#[test]
fn regularized_evolution_is_permanent() {
    assert_eq!(run(evolution(Replacement::Oldest), 1), "a9ffcfa3c6225feb");
}

#[test]
fn tournament_selection_is_permanent() {
    assert_eq!(run(evolution(Replacement::Worst), 1), "6516918cf875a6e7");
}

#[test]
fn random_search_is_permanent() {
    assert_eq!(run(RandomSearch, 1), "b0f5bc0c6e28cc1c");
}

#[test]
fn ppo_is_permanent() {
    let ppo = PpoConfig::DEFAULT.build(&Digits).expect("valid settings");
    assert_eq!(run(ppo, 1), "6564b2f48cb12581");
}

#[test]
fn distributed_regularized_evolution_is_permanent() {
    assert_eq!(run(evolution(Replacement::Oldest), 4), "29a1a3a37a75ad0b");
}

#[test]
fn local_search_is_permanent() {
    let first = LocalSearchConfig::DEFAULT.build().expect("valid settings");
    assert_eq!(run(first, 1), "ca867281fc3422a4");
    let best = LocalSearchConfig {
        initial_samples: 3,
        moves: Move::BestNeighbour,
    }
    .build()
    .expect("valid settings");
    assert_eq!(run(best, 1), "dd2cf65a4dc03883");
    let on_workers = LocalSearchConfig::DEFAULT.build().expect("valid settings");
    assert_eq!(run(on_workers, 4), "1c2a5e0fddf64f2f");
}

#[test]
fn bananas_is_permanent() {
    let mut config = BananasConfig::paper();
    config.steps = 20;
    let plain = config.build(7).expect("valid settings").without_dedup();
    assert_eq!(run(plain, 1), "1b834692003c2bd3");
    // Asking the driver which pool candidates are known (each query a charged
    // hash) and keeping cache hits out of the training set.
    let deduplicated = config.build(7).expect("valid settings");
    assert_eq!(run(deduplicated, 1), "6d4bc63253d5e32e");
}

#[test]
fn bananas_runs_deterministically_for_a_seed() {
    let mut config = BananasConfig::paper();
    config.steps = 20;
    let once = |seed| run(config.build(seed).expect("valid settings"), 1);
    assert_eq!(once(3), once(3));
    assert_ne!(once(3), once(4));
}
