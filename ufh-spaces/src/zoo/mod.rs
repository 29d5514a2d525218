//! The proxy zoo: two more design spaces of networks, beside NAS-Bench-101's
//! cells, on which zero-cost proxies are evolved and tested (EZNAS's central claim
//! is that a proxy evolved on one space ranks the networks of others).
//!
//! * [`nb201`]: NAS-Bench-201's cell space: 15,625 cells of four
//!   nodes and six edges, each edge one of none, skip_connect, nor_conv_1x1,
//!   nor_conv_3x3 and avg_pool_3x3.
//! * [`chain`]: a plain chain of ReLU-Conv-BN blocks in three stages, each stage
//!   of its own depth (1–3), width (4, 8, 16) and kernel (1, 3): 5,832 networks.
//!
//! Both are built at the digits' scale from the same layers as NAS-Bench-101's
//! cells, and trained by the same loop ([`train`]), so one network trains in
//! about a second. Their trained accuracies ship as [`table::ZooTable`]s made by
//! `cargo xtask zoo-table`.
//!
//! # NAS-Bench-201 at the digits' scale
//! The macro skeleton keeps NAS-Bench-201's shape with one cell per stage where
//! the benchmark has five: a 3×3 conv-BN stem to `C` channels, a cell at `C`, a
//! reduction to `2C` on half the side, a cell at `2C`, a reduction to `4C`, a cell
//! at `4C`, then ReLU, global average pooling and a dense layer (the benchmark's
//! head has a batch norm before the ReLU). The reduction is the benchmark's ResNet
//! basic block with its stride realised as a 2×2 average pool first, since the
//! crate's convolutions have stride 1 (see [`nb201`]). A node whose every incoming
//! edge is none is all zeros, as in the benchmark.
//!
//! # The chain grid
//! The same stem to 8 channels, stage one's blocks on the input's side, a 2×2
//! average pool, stage two's, another pool, stage three's, and the same head. Each
//! stage's first block changes the width; every block is ReLU, conv, BN.
//!
//! # EZNAS's statistics
//! Every ReLU-Conv-BN block (NAS-Bench-201's nor_conv edges and reduction convs,
//! the chain's blocks) is one statistics instance; its four tensors map as EZNAS
//! §3.2 gives them (see [`BlockStatistics`]). The stem, a
//! conv-BN without a ReLU, is not an instance. Every zoo network has at least one
//! instance: a NAS-Bench-201 cell of pools, skips and nones still has its
//! reductions' blocks, and every chain stage has a block.

pub mod chain;
pub mod nb201;
mod network;
pub mod table;

use rand::SeedableRng;
use rand::seq::index;
use rand_xoshiro::Xoshiro256PlusPlus;

pub use crate::nn::net::{BlockStatistics, LossGradientScores, StatTensor, TrainedRun};
pub use crate::nn::train::TrainConfig;
pub use chain::{ChainNet, Stage};
pub use nb201::{Nb201Cell, Nb201Op};
pub use network::ZooNetwork;
pub use table::{ZooRecord, ZooTable, ZooTableError};

use crate::digits::DigitsSplit;
use crate::nn::net;

/// A design space of the zoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ZooSpace {
    /// NAS-Bench-201's cells ([`Nb201Cell`]).
    Nb201,
    /// The chain grid ([`ChainNet`]).
    Chain,
}

impl ZooSpace {
    /// Both spaces.
    pub const ALL: [ZooSpace; 2] = [ZooSpace::Nb201, ZooSpace::Chain];

    /// `nb201` or `chain`.
    pub fn name(self) -> &'static str {
        match self {
            ZooSpace::Nb201 => "nb201",
            ZooSpace::Chain => "chain",
        }
    }

    /// The space of [`ZooSpace::name`].
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Architectures in the space.
    pub fn len(self) -> usize {
        match self {
            ZooSpace::Nb201 => Nb201Cell::COUNT,
            ZooSpace::Chain => ChainNet::COUNT,
        }
    }

    /// Never: both spaces hold architectures.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The architecture of `index`, or `None` past [`ZooSpace::len`].
    pub fn architecture(self, index: usize) -> Option<Architecture> {
        match self {
            ZooSpace::Nb201 => Nb201Cell::from_index(index).map(Architecture::Nb201),
            ZooSpace::Chain => ChainNet::from_index(index).map(Architecture::Chain),
        }
    }

    /// The settings the shipped tables were trained with.
    pub fn settings(self) -> ZooSettings {
        ZooSettings::DIGITS
    }

    /// A seeded uniform sample of `count` distinct indices (all of them when
    /// `count` is at least [`ZooSpace::len`]), ascending.
    pub fn sample(self, count: usize, seed: u64) -> Vec<usize> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut picks = index::sample(&mut rng, self.len(), count.min(self.len())).into_vec();
        picks.sort_unstable();
        picks
    }

    /// The seed of the training run (and of the initial weights) of `index`.
    pub fn run_seed(self, index: usize) -> u64 {
        let tag = match self {
            ZooSpace::Nb201 => 0x201,
            ZooSpace::Chain => 0xC4A1,
        };
        crate::seeds::mix((tag << 32) ^ index as u64)
    }
}

/// How the zoo's networks are built and trained.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZooSettings {
    /// The network's width `C` (NAS-Bench-201's; the chain fixes its own) and the
    /// training settings.
    pub train: TrainConfig,
    /// Epochs of the one training run each network gets.
    pub epochs: u32,
    /// Training images: the first this many of the digits' training set.
    pub train_images: usize,
    /// Networks sampled from the space (seeded by [`ZooSettings::sample_seed`]).
    pub networks: usize,
    /// The sample's seed.
    pub sample_seed: u64,
}

impl ZooSettings {
    /// The shipped tables' settings.
    pub const DIGITS: ZooSettings = ZooSettings {
        train: TrainConfig {
            channels: 8,
            batch_size: 25,
            learning_rate: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            input_side: 8,
        },
        epochs: 4,
        train_images: 500,
        networks: 1000,
        sample_seed: 2026,
    };

    /// `split` with its training set cut to [`ZooSettings::train_images`].
    pub fn data(&self, split: &DigitsSplit) -> DigitsSplit {
        DigitsSplit {
            train: split.train.first(self.train_images),
            validation: split.validation.clone(),
            test: split.test.clone(),
        }
    }
}

/// A network of the zoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// A NAS-Bench-201 cell.
    Nb201(Nb201Cell),
    /// A chain network.
    Chain(ChainNet),
}

impl Architecture {
    /// The network at initialisation, weights drawn from `rng`.
    ///
    /// # Panics
    /// If `config.input_side` is neither 8 nor 4.
    pub fn network(&self, config: TrainConfig, rng: &mut Xoshiro256PlusPlus) -> ZooNetwork {
        match self {
            Architecture::Nb201(cell) => ZooNetwork::build(config, config.channels, rng, |b| {
                let x = cell.build(b, 0);
                let x = nb201::reduction(b, x);
                let x = cell.build(b, x);
                let x = nb201::reduction(b, x);
                cell.build(b, x);
            }),
            Architecture::Chain(net) => ZooNetwork::build(config, 8, rng, |b| {
                net.build(b, 0);
            }),
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Architecture::Nb201(cell) => cell.fmt(f),
            Architecture::Chain(net) => net.fmt(f),
        }
    }
}

/// Trains `architecture` once for `epochs` epochs with every random choice
/// (weights, shuffles) from `seed`, as NAS-Bench-101's cells train.
///
/// # Panics
/// If `epochs` is 0 or the input side is neither 8 nor 4.
pub fn train(
    architecture: &Architecture,
    data: &DigitsSplit,
    epochs: u32,
    seed: u64,
    config: TrainConfig,
) -> TrainedRun {
    net::train(|rng| architecture.network(config, rng), data, epochs, seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digits;

    #[test]
    fn indices_round_trip_and_strings_follow_nasbench201() {
        for index in [0, 1, 4, 5, 777, Nb201Cell::COUNT - 1] {
            let cell = Nb201Cell::from_index(index).unwrap();
            assert_eq!(cell.index(), index);
        }
        assert_eq!(Nb201Cell::from_index(Nb201Cell::COUNT), None);
        let cell = Nb201Cell::from_index(3 + 5 * 4).unwrap();
        assert_eq!(
            cell.to_string(),
            "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|none~1|none~2|"
        );
        for index in [0, 17, 18, 1000, ChainNet::COUNT - 1] {
            assert_eq!(ChainNet::from_index(index).unwrap().index(), index);
        }
        assert_eq!(ChainNet::from_index(ChainNet::COUNT), None);
        assert_eq!(
            ChainNet::from_index(0).unwrap().to_string(),
            "1x4k1-1x4k1-1x4k1"
        );
        let sample = ZooSpace::Nb201.sample(50, 7);
        assert_eq!(sample, ZooSpace::Nb201.sample(50, 7));
        assert!(sample.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(sample, ZooSpace::Nb201.sample(50, 8));
    }

    #[test]
    fn networks_have_their_blocks_train_deterministically_and_learn() {
        let mut config = ZooSettings::DIGITS.train;
        config.channels = 4;
        // All-conv3x3 cells: six blocks per cell and three per reduction.
        let conv = Architecture::Nb201(Nb201Cell {
            ops: [Nb201Op::NorConv3x3; 6],
        });
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let network = conv.network(config, &mut rng);
        assert_eq!(network.block_count(), 3 * 6 + 2 * 3);
        let chain = Architecture::Chain(ChainNet::from_index(1234).unwrap());
        let ChainNet { stages } = ChainNet::from_index(1234).unwrap();
        let network = chain.network(config, &mut rng);
        assert_eq!(
            network.block_count(),
            stages.iter().map(|s| s.depth).sum::<usize>()
        );
        let split = digits::split();
        let data = ZooSettings {
            train_images: 200,
            ..ZooSettings::DIGITS
        }
        .data(&split);
        let a = train(&conv, &data, 2, 5, config);
        let b = train(&conv, &data, 2, 5, config);
        assert_eq!(
            a.metrics.end.validation_accuracy,
            b.metrics.end.validation_accuracy
        );
        assert!(a.metrics.end.validation_accuracy > 0.3, "{a:?}");
        // A cell whose output node has no input is constant: chance accuracy.
        let dead = Architecture::Nb201(Nb201Cell::from_index(0).unwrap());
        let run = train(&dead, &data, 2, 5, config);
        assert!(run.metrics.end.validation_accuracy < 0.2, "{run:?}");
    }

    #[test]
    fn statistics_and_zero_cost_scores_are_finite_and_seeded() {
        let config = ZooSettings::DIGITS.train;
        let split = digits::split();
        let batch = split.train.first(8);
        for arch in [
            Architecture::Nb201(Nb201Cell::from_index(9000).unwrap()),
            Architecture::Chain(ChainNet::from_index(99).unwrap()),
        ] {
            let build = || arch.network(config, &mut Xoshiro256PlusPlus::seed_from_u64(3));
            let blocks = build().statistics_seeded(&batch.pixels, 8, 11);
            assert_eq!(blocks.len(), build().block_count());
            assert!(blocks.iter().all(|b| b.tensors.len() == 22));
            assert_eq!(blocks, build().statistics_seeded(&batch.pixels, 8, 11));
            let scores = build().loss_gradient_scores(&batch.pixels, &batch.labels);
            assert_eq!(
                scores,
                build().loss_gradient_scores(&batch.pixels, &batch.labels)
            );
            for v in [scores.grad_norm, scores.snip, scores.fisher, scores.synflow] {
                assert!(v.is_finite() && v > 0.0, "{arch}: {scores:?}");
            }
            assert!(scores.grasp.is_finite(), "{arch}: {scores:?}");
            assert!(build().flops() > 0 && build().parameter_count() > 0);
        }
    }

    #[test]
    fn tables_round_trip_and_damage_is_named() {
        let table = ZooTable {
            metadata: table::ZooMetadata {
                space: ZooSpace::Chain,
                settings: ZooSettings::DIGITS,
                examples: [500, 397, 400],
                generator: "test".into(),
            },
            records: vec![
                ZooRecord {
                    index: 3,
                    parameters: 100,
                    correct: [400, 300, 301],
                    training_seconds: 0.5,
                    diverged: false,
                },
                ZooRecord {
                    index: 9,
                    parameters: 200,
                    correct: [10, 20, 30],
                    training_seconds: 0.25,
                    diverged: true,
                },
            ],
        };
        let bytes = table.to_bytes();
        assert_eq!(ZooTable::from_bytes(&bytes).unwrap(), table);
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(matches!(
            ZooTable::from_bytes(&flipped),
            Err(ZooTableError::Checksum { .. })
        ));
        assert!(matches!(
            ZooTable::from_bytes(&bytes[..5]),
            Err(ZooTableError::Format(_))
        ));
        let mut bad = table.clone();
        bad.records[1].index = ChainNet::COUNT;
        let err = ZooTable::from_bytes(&bad.to_bytes()).unwrap_err();
        assert!(
            err.to_string()
                .contains("record 1: index 5832 is outside chain"),
            "{err}"
        );
        let mut bad = table.clone();
        bad.records[0].correct[1] = 398;
        let err = ZooTable::from_bytes(&bad.to_bytes()).unwrap_err();
        assert!(err.to_string().contains("398 correct of 397"), "{err}");
    }

    #[test]
    fn shipped_tables_hold_their_seeded_samples_and_retrain_bit_for_bit() {
        let split = digits::split();
        for space in ZooSpace::ALL {
            let table = ZooTable::embedded(space);
            let settings = table.metadata.settings;
            assert_eq!(table.metadata.space, space);
            assert_eq!(settings, space.settings());
            let indices: Vec<usize> = table.records.iter().map(|r| r.index).collect();
            assert_eq!(
                indices,
                space.sample(settings.networks, settings.sample_seed)
            );
            assert!(indices.len() >= 1000, "{space:?}: {}", indices.len());
            // Accuracies spread below saturation: the table ranks networks.
            let mut accuracies: Vec<f64> = table
                .records
                .iter()
                .map(|r| r.accuracy(1, &table.metadata))
                .collect();
            accuracies.sort_by(f64::total_cmp);
            let (q10, q90) = (
                accuracies[accuracies.len() / 10],
                accuracies[accuracies.len() * 9 / 10],
            );
            assert!(
                q90 - q10 > 0.05 && q90 < 0.99,
                "{space:?}: q10 {q10}, q90 {q90}"
            );
            let record = *table.records.iter().min_by_key(|r| r.parameters).unwrap();
            let data = settings.data(&split);
            let architecture = space.architecture(record.index).unwrap();
            let run = train(
                &architecture,
                &data,
                settings.epochs,
                space.run_seed(record.index),
                settings.train,
            );
            assert_eq!(
                run.metrics.end.validation_accuracy,
                record.accuracy(1, &table.metadata),
                "{space:?} {architecture}"
            );
            assert_eq!(run.trainable_parameters, u64::from(record.parameters));
        }
    }
}
