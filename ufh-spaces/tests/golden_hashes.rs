//! Golden functional hashes of every setup, through the shared adapter
//! (`ufh_search::SpecHasher`) and through each setup's own hasher. The values
//! were computed by the hand-written hashers before the setups moved onto
//! `HashableOutputs`, and must not change: a change of any of them changes what
//! every cache, record and figure of that setup holds.

use rand::SeedableRng;
use ufh_core::MantissaBits;
use ufh_search::{CandidateHasher, SearchRng, SearchSpace};
use ufh_spaces::autorl::UfhLossHasher;
use ufh_spaces::autorl::graph::LossGraph;
use ufh_spaces::mnas::{MnasEvaluator, MnasHash, MnasHasher, MnasSpace, TrainSettings};
use ufh_spaces::nasbench101::TableHasherConfig;
use ufh_spaces::nasbench101::embedded::EmbeddedTable;

/// The first `n` candidates `space` samples from seed 0.
fn sampled<S: SearchSpace>(space: &S, n: usize) -> Vec<S::Candidate> {
    let mut rng = SearchRng::seed_from_u64(0);
    (0..n).map(|_| space.sample(&mut rng)).collect()
}

fn hex<C>(hasher: &impl CandidateHasher<C>, candidates: &[C]) -> Vec<String> {
    candidates
        .iter()
        .map(|c| hasher.hash(c).to_string())
        .collect()
}

#[test]
fn nas_bench_101_cells_hash_to_their_golden_values() {
    let table = EmbeddedTable::small();
    let hasher = TableHasherConfig::PAPER.build(table.table()).unwrap();
    let cells = sampled(&table.space(), 4);
    let golden = [
        "7ea3c7198b06a34d",
        "45d95b4355ccbaf3",
        "2ba739a5f4c5de32",
        "da43b9e31536a186",
    ];
    assert_eq!(hex(hasher.spec_hasher(), &cells), golden);
    assert_eq!(hex(&hasher, &cells), golden);
    // A cell's hash, found by the structural look-up, is its model's read-out
    // hashed directly, for every model of the table.
    use ufh_spaces::nasbench101::TabularBenchmark;
    let models = table.table();
    for index in 0..models.len() {
        let model = models.model_at(index);
        assert_eq!(hasher.hash(&model.cell), hasher.hash_model(&model));
    }
}

#[test]
fn autorl_loss_graphs_hash_to_their_golden_values() {
    let hasher = UfhLossHasher::new(MantissaBits::f32(16).unwrap(), 0.0);
    let graphs = [
        LossGraph::dqn(),
        LossGraph::dqn_reg(),
        LossGraph::dqn_clipped(),
    ];
    // Changed on 8 December 2026: the fake transitions gained episode ends
    // (discounts 0, 0.99 and uniform), so that losses that differ there hash
    // apart, and their fixed Q-networks are initialised as DQN's now is
    // (Sonnet's truncated normal). Before: cfac62013963e4d1, 7eeab1ab73d59cf0,
    // e39220f2a004877a.
    let golden = ["c79c221dda3123d6", "4aa98682b9883ed5", "d688d268f69bfc20"];
    assert_eq!(hex(hasher.spec_hasher(), &graphs), golden);
    assert_eq!(hex(&hasher, &graphs), golden);
}

#[test]
fn mnas_architectures_hash_to_their_golden_values() {
    let evaluator = MnasEvaluator::new(TrainSettings::DEFAULT);
    let architectures = sampled(&MnasSpace, 2);
    for (kind, golden) in [
        (
            MnasHash::RoundedSoftmax,
            ["2af6ea1335295e03", "41dbf9fc2461dd24"],
        ),
        (
            MnasHash::Truncated(MantissaBits::f32(10).unwrap()),
            ["17b38c12768c7e80", "d3d861282172ca21"],
        ),
    ] {
        let hasher = MnasHasher::new(kind, &evaluator);
        assert_eq!(
            hex(hasher.spec_hasher(), &architectures),
            golden,
            "{kind:?}"
        );
        assert_eq!(hex(&hasher, &architectures), golden, "{kind:?}");
    }
}
