//! Search spaces and their evaluators for `ufh`, each with the hashable outputs its
//! functional hash uses.
//!
//! * [`nasbench101`]: NAS-Bench-101 cells, the benchmark's structural hash and
//!   mutation, a native reader of its data files, tabular benchmarks (a table of
//!   trained models behind the [`TabularBenchmark`](nasbench101::TabularBenchmark)
//!   trait), the evaluator that reads fitness from a table, the hasher that reads
//!   the paper's functional hash, and the embedded tables ([`nasbench101::embedded`]).
//! * [`automl_zero`]: AutoML-Zero programs (Setup, Predict, Learn over a virtual
//!   memory), their interpreter, mutations, tasks, evaluator and functional hash,
//!   and the demo that rediscovers linear regression.
//! * [`autorl`]: the environments of AutoRL's evolved losses: CartPole and
//!   MiniGrid's dynamic-obstacles gridworld.
//! * [`mnas`]: MnasNet's factorised hierarchical space of mobile CNNs scaled to
//!   the 8×8 digits, trained on them, with a shipped per-layer latency table and
//!   MnasNet's latency-aware reward.
//! * [`zoo`]: the proxy zoo's two further design spaces, NAS-Bench-201's cells and
//!   a chain grid of ReLU-Conv-BN blocks, with shipped tables of trained networks.
//!
//! Every setup module has the same rooms: `space.rs` (the candidate, sampling and
//! mutation), `evaluate.rs` (the evaluator and its config), `hash.rs` (the probe and
//! the hasher), its own data and environments in named submodules, and a `mod.rs`
//! that re-exports them. What the setups share (the neural-network substrate, the
//! digits, the seed mixer) sits outside every setup and imports none.
//!
//! The crate knows no concrete search algorithm: it implements `ufh-search`'s
//! traits, and any algorithm and technique runs on it.
//!
//! # Features
//!
//! Each setup is a cargo feature, all on by default, so that a user of one setup
//! compiles only its code and dependencies
//! (`default-features = false, features = ["autorl"]`):
//!
//! * `nasbench101`: [`nasbench101`] (the data-file reader, the tables, the
//!   structural hash and the CNN trainer);
//! * `embedded`: the two embedded tables of [`nasbench101::embedded`] (about 8.5 MB
//!   compiled in; implies `nasbench101`);
//! * `automl-zero`: [`automl_zero`];
//! * `autorl`: [`autorl`];
//! * `mnas`: [`mnas`] (the digits and the substrate's layers, not NAS-Bench-101);
//! * `zoo`: [`zoo`] (the digits and the substrate's training, not NAS-Bench-101).
//!
//! # Example
//!
//! A regularized-evolution search with FEC on a tiny table written and read back in
//! NAS-Bench-101's own file format:
//!
//! ```
//! use ufh_search::{Budget, EvolutionConfig, Mode, Replacement, Search, Techniques};
//! use ufh_spaces::nasbench101::{NasBench101, NasBench101Writer, SpaceConfig, enumerate_unique_cells};
//! use ufh_spaces::nasbench101::{EpochMetrics, RepeatMetrics, TableEvaluatorConfig, TableHasherConfig};
//!
//! // Every model of at most 4 vertices, with made-up accuracies, at 4 and 108 epochs.
//! let mut writer = NasBench101Writer::new(Vec::new());
//! for (i, (_, cell)) in enumerate_unique_cells(4, 9).iter().enumerate() {
//!     for epochs in [4, 108] {
//!         for _repeat in 0..3 {
//!             let at = |f: f64| EpochMetrics {
//!                 training_time: f64::from(epochs) * f,
//!                 train_accuracy: 0.5 + (i % 7) as f64 * 0.05 * f,
//!                 validation_accuracy: 0.5 + (i % 7) as f64 * 0.04 * f,
//!                 test_accuracy: 0.5 + (i % 7) as f64 * 0.04 * f,
//!             };
//!             writer.write_run(cell, epochs, 1000, &RepeatMetrics { halfway: at(0.5), end: at(1.0) })?;
//!         }
//!     }
//! }
//! let bytes = writer.into_inner()?;
//! let table = NasBench101::from_reader("tiny.tfrecord", &bytes[..])?;
//!
//! let space = SpaceConfig { raw_vertices: 4, max_vertices: 4, max_edges: 9, mutation_rate: 1.0 }.build()?;
//! let evaluator = TableEvaluatorConfig::PAPER.build(&table)?;
//! let hasher = TableHasherConfig::PAPER.build(&table)?;
//! let config = EvolutionConfig { population_size: 10, tournament_size: 3, replacement: Replacement::Oldest };
//! let record = Search::new(&space, &evaluator, Budget::Candidates(300), 1).hasher(&hasher)
//!     .techniques(Techniques::FEC)?
//!     .run(&mut config.build()?, Mode::Serial)?.record;
//! assert!(record.hit_rate().unwrap() > 0.5); // 91 models, only 7 distinct functions
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

#[cfg(feature = "automl-zero")]
pub mod automl_zero;
#[cfg(feature = "autorl")]
pub mod autorl;
#[cfg(any(
    feature = "nasbench101",
    feature = "automl-zero",
    feature = "mnas",
    feature = "zoo"
))]
pub mod digits;
mod gaussian;
#[cfg(feature = "mnas")]
pub mod mnas;
#[cfg(feature = "nasbench101")]
pub mod nasbench101;
#[cfg(any(
    feature = "nasbench101",
    feature = "autorl",
    feature = "mnas",
    feature = "zoo"
))]
mod nn;
mod seeds;
#[cfg(feature = "zoo")]
pub mod zoo;

#[cfg(all(test, any(feature = "embedded", feature = "autorl", feature = "mnas")))]
/// Whether the slow test tier runs: tests that kill processes, restart Redis,
/// train networks or run whole figures check `UFH_SLOW_TESTS=1` (which `.ci/run`
/// sets) and otherwise return at once, so that `cargo test` alone runs the fast
/// tier.
pub(crate) fn slow_tier() -> bool {
    let on = std::env::var_os("UFH_SLOW_TESTS").is_some_and(|v| v == "1");
    if !on {
        eprintln!("slow tier: skipped (UFH_SLOW_TESTS=1 runs it)");
    }
    on
}
