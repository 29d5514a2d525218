//! A plain chain of ReLU-Conv-BN blocks: three stages, each of its own depth,
//! width and kernel (an AnyNet-like grid).

use std::fmt;

use super::network::{Builder, EdgeOp};
use crate::nn::pool::AvgPool;

/// One stage of a [`ChainNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stage {
    /// Blocks: 1, 2 or 3.
    pub depth: usize,
    /// Channels of every block: 4, 8 or 16.
    pub width: usize,
    /// Kernel of every block: 1 or 3.
    pub kernel: usize,
}

/// Depths, widths and kernels a stage takes.
const DEPTHS: [usize; 3] = [1, 2, 3];
const WIDTHS: [usize; 3] = [4, 8, 16];
const KERNELS: [usize; 2] = [1, 3];
/// Stage choices: 18.
const STAGE_CHOICES: usize = DEPTHS.len() * WIDTHS.len() * KERNELS.len();

/// A chain network: the stem, three stages of ReLU-Conv-BN blocks with a 2×2
/// average pool between stages, and the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainNet {
    /// The stages, input first.
    pub stages: [Stage; 3],
}

impl ChainNet {
    /// Networks in the grid: 18³.
    pub const COUNT: usize = STAGE_CHOICES * STAGE_CHOICES * STAGE_CHOICES;

    /// The network of `index` (stage `s` is digit `s` in base 18, least
    /// significant first; within a digit the kernel varies fastest, then the
    /// width, then the depth), or `None` past [`ChainNet::COUNT`].
    pub fn from_index(index: usize) -> Option<Self> {
        (index < Self::COUNT).then(|| {
            let mut rest = index;
            let stages = [(); 3].map(|()| {
                let digit = rest % STAGE_CHOICES;
                rest /= STAGE_CHOICES;
                Stage {
                    kernel: KERNELS[digit % 2],
                    width: WIDTHS[digit / 2 % 3],
                    depth: DEPTHS[digit / 6],
                }
            });
            Self { stages }
        })
    }

    /// The inverse of [`ChainNet::from_index`].
    pub fn index(&self) -> usize {
        self.stages.iter().rev().fold(0, |acc, s| {
            let at = |list: &[usize], v| list.iter().position(|&x| x == v).expect("in the grid");
            acc * STAGE_CHOICES
                + at(&DEPTHS, s.depth) * 6
                + at(&WIDTHS, s.width) * 2
                + at(&KERNELS, s.kernel)
        })
    }

    /// Adds the stages after node `input`; returns the last node.
    pub(crate) fn build(&self, b: &mut Builder<'_>, input: usize) -> usize {
        let mut x = input;
        for (s, stage) in self.stages.iter().enumerate() {
            if s > 0 {
                let (channels, side) = b.shape(x);
                let pooled = b.node(channels, side / 2);
                b.edge(x, pooled, EdgeOp::Pool(AvgPool::down2()));
                x = pooled;
            }
            for _ in 0..stage.depth {
                let side = b.shape(x).1;
                let next = b.node(stage.width, side);
                b.block(stage.kernel, x, next);
                x = next;
            }
        }
        x
    }
}

impl fmt::Display for ChainNet {
    /// Each stage as `depth×width k kernel`, for example `2x8k3-1x16k1-3x4k3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (s, stage) in self.stages.iter().enumerate() {
            if s > 0 {
                write!(f, "-")?;
            }
            write!(f, "{}x{}k{}", stage.depth, stage.width, stage.kernel)?;
        }
        Ok(())
    }
}
