//! AutoML-Zero's linear-regression demo: candidates evaluated per second on one
//! core in its search phase, with FEC beside the baseline without it; and the two
//! costs behind that rate, one full evaluation and one functional hash.
//!
//! Each search starts from scratch with the demo's settings (population 1,000 of
//! random programs, tournament 10, mutate probability 0.9, 10 tasks of 100 + 100
//! examples) and runs 20,000 candidates: 1,000 random ones, then 19,000 children.
//! The C++ implementation evolves about 40,000 candidates per second per core with
//! its FEC on this demo (`../shared/REFERENCE.md` §2).

use std::hint::black_box;
use std::num::NonZeroUsize;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use ufh_search::{Budget, FecConfig, KeepBest, Search, Techniques};
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
        let search = Search::new(
            &space,
            &evaluator,
            &evaluator,
            Budget::Candidates(CANDIDATES),
            1,
        )
        .techniques(techniques)
        .expect("valid techniques");
        group.bench_function(BenchmarkId::new(name, CANDIDATES), |b| {
            b.iter(|| {
                let evolution = demo
                    .evolution()
                    .build()
                    .expect("valid")
                    .draws_with_replacement();
                let mut algorithm = KeepBest::new(evolution);
                let record = search
                    .run_workers(&mut algorithm, NonZeroUsize::MIN)
                    .expect("the search runs");
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
        b.iter(|| black_box(evaluator.hash_program(black_box(&sgd))))
    });
    group.finish();
}

criterion_group!(benches, demo_search);
