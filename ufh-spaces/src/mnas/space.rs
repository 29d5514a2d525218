//! MNAS's space: the blocks' choices, the architecture they make, sampling and
//! mutation.

use std::fmt;

use rand::Rng;
use ufh_search::{DiscreteEncoding, SearchRng, SearchSpace};

/// Blocks of the scaled skeleton.
pub const BLOCKS: usize = 5;
/// Each block's middle repeat count `r` (it chooses r − 1, r or r + 1).
pub const BASE_REPEATS: [usize; BLOCKS] = [1, 2, 2, 2, 1];
/// Each block's filters before the multiplier.
pub const BASE_FILTERS: [usize; BLOCKS] = [8, 12, 16, 24, 32];
/// Each block's stride (of its first layer).
pub const STRIDES: [usize; BLOCKS] = [1, 2, 1, 2, 1];
/// Channels of the stem.
pub const STEM_FILTERS: usize = 8;

/// The eight choices of a block, in decision order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Choice {
    /// r − 1, r, r + 1.
    Repeats,
    /// Regular conv, depthwise-separable conv, MBConv.
    Op,
    /// 1, 3, 6.
    Expansion,
    /// 3, 5.
    Kernel,
    /// 0, 0.25.
    SeRatio,
    /// Sigmoid, hard sigmoid.
    SeGate,
    /// × 0.75, 1, 1.25.
    Filters,
    /// None, identity.
    Skip,
}

impl Choice {
    /// Every choice, in decision order.
    pub const ALL: [Choice; 8] = [
        Choice::Repeats,
        Choice::Op,
        Choice::Expansion,
        Choice::Kernel,
        Choice::SeRatio,
        Choice::SeGate,
        Choice::Filters,
        Choice::Skip,
    ];

    /// Number of options.
    pub fn options(self) -> usize {
        match self {
            Choice::Repeats | Choice::Op | Choice::Expansion | Choice::Filters => 3,
            Choice::Kernel | Choice::SeRatio | Choice::SeGate | Choice::Skip => 2,
        }
    }
}

/// A block's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// k×k convolution, BN, ReLU.
    Conv,
    /// k×k depthwise, BN, ReLU, 1×1 convolution, BN.
    Depthwise,
    /// The inverted bottleneck.
    MbConv,
}

/// Expansion ratios.
pub const EXPANSIONS: [usize; 3] = [1, 3, 6];
/// Kernel sizes.
pub const KERNELS: [usize; 2] = [3, 5];
/// Filter multipliers, in quarters (3/4, 4/4, 5/4).
pub const FILTER_QUARTERS: [usize; 3] = [3, 4, 5];

/// One block's choices decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockSpec {
    /// Layers.
    pub repeats: usize,
    /// Operation.
    pub op: Op,
    /// MBConv's expansion ratio (chosen for every op, read by MBConv alone).
    pub expansion: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Whether a squeeze-excite branch (ratio 0.25) is present.
    pub squeeze_excite: bool,
    /// Whether its gate is the hard sigmoid (else the sigmoid).
    pub hard_gate: bool,
    /// Output channels.
    pub filters: usize,
    /// Whether layers that can have an identity skip have one.
    pub skip: bool,
}

/// A point of the space: one option index per choice per block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Architecture {
    /// `blocks[b][c]`: the option of choice `Choice::ALL[c]` of block `b`.
    pub blocks: [[u8; 8]; BLOCKS],
}

impl Architecture {
    /// The reference network: middle repeats, MBConv with expansion 3, 3×3
    /// kernels, no SE, filters × 1, identity skips.
    pub const REFERENCE: Architecture = Architecture {
        blocks: [[1, 2, 1, 0, 0, 0, 1, 1]; BLOCKS],
    };

    /// The option index of `choice` in `block`.
    pub fn get(&self, block: usize, choice: Choice) -> usize {
        usize::from(self.blocks[block][choice as usize])
    }

    /// This architecture with `choice` of `block` set to option `option`.
    ///
    /// # Panics
    /// If `block` or `option` is out of range.
    #[must_use]
    pub fn with(mut self, block: usize, choice: Choice, option: usize) -> Self {
        assert!(
            option < choice.options(),
            "{choice:?} has {} options",
            choice.options()
        );
        self.blocks[block][choice as usize] = option as u8;
        self
    }

    /// Block `b` decoded.
    pub fn block(&self, b: usize) -> BlockSpec {
        let get = |c| self.get(b, c);
        BlockSpec {
            repeats: BASE_REPEATS[b] + get(Choice::Repeats) - 1,
            op: [Op::Conv, Op::Depthwise, Op::MbConv][get(Choice::Op)],
            expansion: EXPANSIONS[get(Choice::Expansion)],
            kernel: KERNELS[get(Choice::Kernel)],
            squeeze_excite: get(Choice::SeRatio) == 1,
            hard_gate: get(Choice::SeGate) == 1,
            filters: BASE_FILTERS[b] * FILTER_QUARTERS[get(Choice::Filters)] / 4,
            skip: get(Choice::Skip) == 1,
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in 0..BLOCKS {
            let s = self.block(b);
            if b > 0 {
                f.write_str(" | ")?;
            }
            let op = match s.op {
                Op::Conv => "conv".to_string(),
                Op::Depthwise => "sep".to_string(),
                Op::MbConv => format!("mb{}", s.expansion),
            };
            write!(f, "{}×{op} k{} c{}", s.repeats, s.kernel, s.filters)?;
            if s.squeeze_excite {
                f.write_str(if s.hard_gate { " se(hard)" } else { " se" })?;
            }
            if s.skip {
                f.write_str(" +id")?;
            }
        }
        Ok(())
    }
}

/// The scaled MnasNet space ([module docs](crate::mnas)).
#[derive(Debug, Clone, Copy, Default)]
pub struct MnasSpace;

impl SearchSpace for MnasSpace {
    type Candidate = Architecture;

    fn sample(&self, rng: &mut SearchRng) -> Architecture {
        let mut arch = Architecture::REFERENCE;
        for b in 0..BLOCKS {
            for choice in Choice::ALL {
                arch = arch.with(b, choice, rng.random_range(0..choice.options()));
            }
        }
        arch
    }

    fn mutate(&self, parent: &Architecture, rng: &mut SearchRng) -> Architecture {
        let b = rng.random_range(0..BLOCKS);
        let choice = Choice::ALL[rng.random_range(0..Choice::ALL.len())];
        // Another option, uniformly: skip over the current one.
        let current = parent.get(b, choice);
        let mut option = rng.random_range(0..choice.options() - 1);
        if option >= current {
            option += 1;
        }
        parent.with(b, choice, option)
    }
}

impl DiscreteEncoding for MnasSpace {
    fn cardinalities(&self) -> Vec<usize> {
        (0..BLOCKS)
            .flat_map(|_| Choice::ALL.map(Choice::options))
            .collect()
    }

    fn decode(&self, choices: &[usize]) -> Architecture {
        let mut arch = Architecture::REFERENCE;
        for (i, &option) in choices.iter().enumerate().take(BLOCKS * 8) {
            arch = arch.with(i / 8, Choice::ALL[i % 8], option);
        }
        arch
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn mutation_changes_exactly_one_choice_of_one_block() {
        let mut rng = SearchRng::seed_from_u64(5);
        let space = MnasSpace;
        let mut parent = space.sample(&mut rng);
        let mut changed = [[0usize; 8]; BLOCKS];
        for _ in 0..4_000 {
            let child = space.mutate(&parent, &mut rng);
            let differences: Vec<(usize, usize)> = (0..BLOCKS)
                .flat_map(|b| (0..8).map(move |c| (b, c)))
                .filter(|&(b, c)| child.blocks[b][c] != parent.blocks[b][c])
                .collect();
            assert_eq!(differences.len(), 1, "{parent} -> {child}");
            let (b, c) = differences[0];
            changed[b][c] += 1;
            parent = child;
        }
        // Uniform over 40 (block, choice) pairs: 100 each on average.
        for (b, row) in changed.iter().enumerate() {
            for (c, &n) in row.iter().enumerate() {
                assert!((50..160).contains(&n), "block {b} choice {c}: {n}");
            }
        }
    }

    #[test]
    fn decoding_reads_every_choice() {
        let space = MnasSpace;
        let cards = space.cardinalities();
        assert_eq!(cards.len(), 40);
        let choices: Vec<usize> = cards.iter().map(|&c| c - 1).collect();
        let arch = space.decode(&choices);
        for b in 0..BLOCKS {
            let s = arch.block(b);
            assert_eq!(s.repeats, BASE_REPEATS[b] + 1);
            assert_eq!((s.op, s.expansion, s.kernel), (Op::MbConv, 6, 5));
            assert!(s.squeeze_excite && s.hard_gate && s.skip);
            assert_eq!(s.filters, BASE_FILTERS[b] * 5 / 4);
        }
        assert_eq!(
            Architecture::REFERENCE.to_string(),
            "1×mb3 k3 c8 +id | 2×mb3 k3 c12 +id | 2×mb3 k3 c16 +id | 2×mb3 k3 c24 +id | 1×mb3 k3 c32 +id"
        );
    }
}
