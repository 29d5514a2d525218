//! MNAS: training one candidate (the reference network and a large one) as the
//! evaluator does, beside one functional hash of each with both hashes, so the
//! hash's cost shows as a fraction of the training it saves.

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use ufh_core::MantissaBits;
use ufh_search::{CandidateHasher, Evaluator, SearchRng};
use ufh_spaces::mnas::{
    Architecture, BLOCKS, Choice, MnasEvaluator, MnasHash, MnasHasher, TrainSettings,
};

use rand::SeedableRng;

/// The reference network, and every block at r + 1 repeats of MBConv ×6 with
/// 5×5 kernels, SE and filters × 1.25: the costliest of the space.
fn architectures() -> [(&'static str, Architecture); 2] {
    let large = (0..BLOCKS).fold(Architecture::REFERENCE, |a, b| {
        a.with(b, Choice::Repeats, 2)
            .with(b, Choice::Expansion, 2)
            .with(b, Choice::Kernel, 1)
            .with(b, Choice::SeRatio, 1)
            .with(b, Choice::Filters, 2)
    });
    [("reference", Architecture::REFERENCE), ("largest", large)]
}

fn train(c: &mut Criterion) {
    let evaluator = MnasEvaluator::new(TrainSettings::DEFAULT);
    let mut group = c.benchmark_group("mnas_train");
    group.sample_size(10);
    for (name, arch) in architectures() {
        group.bench_function(name, |b| {
            let mut rng = SearchRng::seed_from_u64(0);
            b.iter(|| black_box(evaluator.evaluate(&arch, &mut rng)))
        });
    }
    group.finish();
}

fn hash(c: &mut Criterion) {
    let evaluator = MnasEvaluator::new(TrainSettings::DEFAULT);
    let rounded = MnasHasher::new(MnasHash::RoundedSoftmax, &evaluator);
    let truncated = MnasHasher::new(
        MnasHash::Truncated(MantissaBits::f32(10).expect("10 bits fit an f32")),
        &evaluator,
    );
    let mut group = c.benchmark_group("mnas_hash");
    for (name, arch) in architectures() {
        group.bench_function(format!("rounded_softmax_{name}"), |b| {
            b.iter(|| black_box(rounded.hash(&arch)))
        });
        group.bench_function(format!("truncated_softmax_{name}"), |b| {
            b.iter(|| black_box(truncated.hash(&arch)))
        });
    }
    group.finish();
}

criterion_group!(benches, train, hash);
