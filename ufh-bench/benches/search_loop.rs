//! The search loop's own overhead per candidate: propose, hash lookup, feedback and
//! record, with an evaluator and a hasher that cost nothing. Regularized evolution
//! without FEC is the baseline beside the same search with FEC.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rand::Rng;
use ufh_core::FunctionalHash;
use ufh_search::{
    Budget, CandidateHasher, Evaluation, Evaluator, EvolutionConfig, Mode, Replacement, Search,
    SearchRng, SearchSpace, Techniques,
};

/// Integers below 10,000 computing `c mod 1000`; mutation adds a small step.
struct Ints;

impl SearchSpace for Ints {
    type Candidate = u32;
    fn sample(&self, rng: &mut SearchRng) -> u32 {
        rng.random_range(0..10_000)
    }
    fn mutate(&self, parent: &u32, rng: &mut SearchRng) -> u32 {
        (parent + rng.random_range(1..20)) % 10_000
    }
}

struct Free;

impl Evaluator<u32> for Free {
    fn evaluate(&self, c: &u32, _: &mut SearchRng) -> Evaluation {
        let f = f64::from(c % 1000) / 1000.0;
        Evaluation {
            validation: f,
            test: f,
            cost_s: 1.0,
        }
    }
}

impl CandidateHasher<u32> for Free {
    fn hash(&self, c: &u32) -> FunctionalHash {
        FunctionalHash(u64::from(c % 1000).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
    fn cost_s(&self) -> f64 {
        0.1
    }
}

const CANDIDATES: u64 = 10_000;

fn search_loop(c: &mut Criterion) {
    let mut group = c.benchmark_group("search_loop");
    group.throughput(Throughput::Elements(CANDIDATES));
    for (name, techniques) in [("re", Techniques::NONE), ("re_fec", Techniques::FEC)] {
        let search = Search::new(&Ints, &Free, Budget::Candidates(CANDIDATES), 1)
            .hasher(&Free)
            .techniques(techniques)
            .expect("valid techniques");
        group.bench_function(BenchmarkId::new(name, CANDIDATES), |b| {
            b.iter(|| {
                let mut algorithm = EvolutionConfig {
                    population_size: 100,
                    tournament_size: 10,
                    replacement: Replacement::Oldest,
                }
                .build()
                .expect("valid sizes");
                black_box(
                    search
                        .run(&mut algorithm, Mode::Serial)
                        .expect("search runs")
                        .record,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, search_loop);
