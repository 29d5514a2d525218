//! NAS-Bench-201's cell space at the digits' scale.

use std::fmt;

use super::network::{Builder, EdgeOp};
use crate::nn::pool::AvgPool;

/// An operation on one edge of a NAS-Bench-201 cell, in the benchmark's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nb201Op {
    /// No edge.
    None,
    /// The identity.
    SkipConnect,
    /// ReLU, 1×1 conv, BN.
    NorConv1x1,
    /// ReLU, 3×3 conv, BN.
    NorConv3x3,
    /// 3×3 average pool, stride 1, padding excluded from the mean.
    AvgPool3x3,
}

impl Nb201Op {
    /// The five operations, in NAS-Bench-201's order (an op's index is its digit
    /// in [`Nb201Cell::index`]).
    pub const ALL: [Nb201Op; 5] = [
        Nb201Op::None,
        Nb201Op::SkipConnect,
        Nb201Op::NorConv1x1,
        Nb201Op::NorConv3x3,
        Nb201Op::AvgPool3x3,
    ];

    /// NAS-Bench-201's name.
    pub fn name(self) -> &'static str {
        match self {
            Nb201Op::None => "none",
            Nb201Op::SkipConnect => "skip_connect",
            Nb201Op::NorConv1x1 => "nor_conv_1x1",
            Nb201Op::NorConv3x3 => "nor_conv_3x3",
            Nb201Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }
}

/// A NAS-Bench-201 cell: four nodes, node `j` the sum of an operation on every
/// earlier node. The six edges are in the benchmark's order: (1←0), (2←0),
/// (2←1), (3←0), (3←1), (3←2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nb201Cell {
    /// The operation of each edge.
    pub ops: [Nb201Op; 6],
}

/// The edges' `(to, from)`, in [`Nb201Cell::ops`]' order.
const EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

impl Nb201Cell {
    /// Cells in the space: 5⁶.
    pub const COUNT: usize = 15_625;

    /// The cell of `index` (edge `e`'s op is digit `e` of `index` in base 5,
    /// least significant first), or `None` past [`Nb201Cell::COUNT`].
    pub fn from_index(index: usize) -> Option<Self> {
        (index < Self::COUNT).then(|| {
            let mut ops = [Nb201Op::None; 6];
            let mut rest = index;
            for op in &mut ops {
                *op = Nb201Op::ALL[rest % 5];
                rest /= 5;
            }
            Self { ops }
        })
    }

    /// The inverse of [`Nb201Cell::from_index`].
    pub fn index(&self) -> usize {
        self.ops.iter().rev().fold(0, |acc, op| {
            acc * 5 + Nb201Op::ALL.iter().position(|o| o == op).expect("listed")
        })
    }

    /// Adds one cell at the channels and side of node `input`; returns its output
    /// node.
    pub(crate) fn build(&self, b: &mut Builder<'_>, input: usize) -> usize {
        let (channels, side) = b.shape(input);
        let nodes = [
            input,
            b.node(channels, side),
            b.node(channels, side),
            b.node(channels, side),
        ];
        for (&(to, from), &op) in EDGES.iter().zip(&self.ops) {
            let (from, to) = (nodes[from], nodes[to]);
            match op {
                Nb201Op::None => {}
                Nb201Op::SkipConnect => b.edge(from, to, EdgeOp::Identity),
                Nb201Op::NorConv1x1 => b.block(1, from, to),
                Nb201Op::NorConv3x3 => b.block(3, from, to),
                Nb201Op::AvgPool3x3 => b.edge(from, to, EdgeOp::Pool(AvgPool::same3())),
            }
        }
        nodes[3]
    }
}

/// NAS-Bench-201's reduction (a ResNet basic block) from node `input` to twice its
/// channels on half its side; returns its output node. Kernels here have stride 1,
/// so the stride is a 2×2 average pool first: the output is
/// `rcb3(rcb3(pool(x))) + rcb1(pool(x))`, where NAS-Bench-201 has a stride-2
/// ReLU-Conv-BN, a ReLU-Conv-BN and a shortcut of a 2×2 average pool and a 1×1
/// convolution.
pub(crate) fn reduction(b: &mut Builder<'_>, input: usize) -> usize {
    let (channels, side) = b.shape(input);
    let pooled = b.node(channels, side / 2);
    b.edge(input, pooled, EdgeOp::Pool(AvgPool::down2()));
    let a = b.node(2 * channels, side / 2);
    b.block(3, pooled, a);
    let out = b.node(2 * channels, side / 2);
    b.block(3, a, out);
    b.block(1, pooled, out);
    out
}

impl fmt::Display for Nb201Cell {
    /// NAS-Bench-201's architecture string, for example
    /// `|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut e = 0;
        for to in 1..4 {
            if to > 1 {
                write!(f, "+")?;
            }
            write!(f, "|")?;
            for from in 0..to {
                write!(f, "{}~{from}|", self.ops[e].name())?;
                e += 1;
            }
        }
        Ok(())
    }
}
