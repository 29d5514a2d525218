//! AutoML-Zero's linear-regression demo: candidates evaluated per second on one
//! core in its search phase, with FEC beside the baseline without it; and the two
//! costs behind that rate, one full evaluation and one functional hash.
//!
//! Each search starts from scratch with the demo's settings (population 1,000 of
//! random programs, tournament 10, mutate probability 0.9, 10 tasks of 100 + 100
//! examples) and runs 20,000 candidates: 1,000 random ones, then 19,000 children.
//! `hash_sgd_mixing_only`
//! beside `hash_sgd` gives the hash's own share of a candidate's probe run.

use std::hint::black_box;
use std::num::NonZeroUsize;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use ufh_search::{Budget, FecConfig, Mode, Search, Techniques};
use ufh_spaces::automl_zero::{
    LINEAR_REGRESSION_DEMO, ProgramEvaluator, ProgramHashConfig, sgd_program,
};

const CANDIDATES: u64 = 20_000;

fn demo_search(c: &mut Criterion) {
    let demo = LINEAR_REGRESSION_DEMO;
    let space = demo.space().build().expect("the demo's space is valid");
    let evaluator = ProgramEvaluator::new(
        demo.search_tasks(1, 0),
        demo.layout,
        ProgramHashConfig::PAPER,
    )
    .expect("the demo's tasks are valid");
    let mut group = c.benchmark_group("automl_zero_demo_search");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CANDIDATES));
    let fec = Techniques {
        fec: Some(FecConfig::AUTOML_ZERO),
        ..Techniques::NONE
    };
    for (name, techniques) in [("baseline", Techniques::NONE), ("fec", fec)] {
        group.bench_function(BenchmarkId::new(name, CANDIDATES), |b| {
            b.iter(|| {
                // A fresh evaluator each time, so that no hash is remembered from
                // an earlier iteration.
                let evaluator = evaluator.clone();
                let search = Search::new(&space, &evaluator, Budget::Candidates(CANDIDATES), 1)
                    .hasher(&evaluator)
                    .techniques(techniques)
                    .expect("valid techniques");
                let evolution = demo
                    .evolution()
                    .build()
                    .expect("valid")
                    .draws_with_replacement();
                let mut algorithm = evolution;
                let record = search
                    .run(&mut algorithm, Mode::Workers(NonZeroUsize::MIN))
                    .expect("the search runs")
                    .record;
                black_box(record.events.len())
            });
        });
    }
    group.finish();

    // The two costs a candidate can incur: a full evaluation (10 tasks, 100 training
    // steps and 100 validation examples each) or a hash (10 + 10 per task).
    let sgd = sgd_program(0.05);
    let mut group = c.benchmark_group("automl_zero_program");
    group.throughput(Throughput::Elements(1));
    group.bench_function("evaluate_sgd", |b| {
        b.iter(|| black_box(evaluator.evaluate_program(black_box(&sgd))))
    });
    group.bench_function("hash_sgd", |b| {
        b.iter(|| black_box(evaluator.hash_program_uncached(black_box(&sgd))))
    });
    // A child whose live code was hashed before: the memo's lookup.
    group.bench_function("hash_sgd_remembered", |b| {
        b.iter(|| black_box(evaluator.hash_program(black_box(&sgd))))
    });
    // The hash's own share of `hash_sgd`: truncating and mixing its 200 errors
    // (10 tasks × 20 examples), pushed one at a time as the probe pushes them.
    let errors: Vec<f64> = (0..200).map(|i| 0.01 * f64::from(i) + 0.003).collect();
    let m = ufh_core::MantissaBits::f64(24).expect("24 bits fit an f64");
    group.bench_function("hash_sgd_mixing_only", |b| {
        b.iter(|| {
            let mut hasher = ufh_core::FunctionalHasher::new(m);
            for &e in black_box(&errors) {
                hasher.push_f64(e);
            }
            hasher.finish()
        })
    });
    group.finish();
}

criterion_group!(benches, demo_search);
