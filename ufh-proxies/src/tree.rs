//! Expression trees over a layer's 22 network statistics, as EZNAS evolves them: the
//! leaves read statistics, the inner nodes apply [`Op`]s, a tree is applied to every
//! ReLU-Conv-BN instance of a network, the root's output is reduced to a scalar by
//! its mean (`to_scalar`), and the network's score is the mean over its instances.
//!
//! A tree is stored in prefix order (each op followed by its operands' subtrees), so
//! that a subtree is a contiguous range: crossover and mutation splice ranges.

use std::borrow::Cow;
use std::fmt;

use crate::ops::Op;
use crate::tensor::{ShapeError, Tensor};

/// The 22 statistics of one ReLU-Conv-BN instance (EZNAS §3.2), for the three
/// inputs D (a data batch), N (standard normal noise of the data's shape) and P
/// (data plus √0.01 · noise): T1 the ReLU's input, T2 the conv's input (the ReLU's
/// output), T3 the conv weight, T4 the batch norm's output, and `G` the gradient
/// of the sum of the network's outputs with respect to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[allow(missing_docs)] // reason: the names are the paper's, documented on the type
pub enum Stat {
    T1D,
    T1N,
    T1P,
    T2D,
    T2N,
    T2P,
    T3,
    T4D,
    T4N,
    T4P,
    T1GD,
    T1GN,
    T1GP,
    T2GD,
    T2GN,
    T2GP,
    T3GD,
    T3GN,
    T3GP,
    T4GD,
    T4GN,
    T4GP,
}

impl Stat {
    /// Every statistic, in the order of an instance's tensors.
    pub const ALL: [Stat; 22] = [
        Stat::T1D,
        Stat::T1N,
        Stat::T1P,
        Stat::T2D,
        Stat::T2N,
        Stat::T2P,
        Stat::T3,
        Stat::T4D,
        Stat::T4N,
        Stat::T4P,
        Stat::T1GD,
        Stat::T1GN,
        Stat::T1GP,
        Stat::T2GD,
        Stat::T2GN,
        Stat::T2GP,
        Stat::T3GD,
        Stat::T3GN,
        Stat::T3GP,
        Stat::T4GD,
        Stat::T4GN,
        Stat::T4GP,
    ];

    /// The statistic's position in an instance.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One node of a tree in prefix order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// A leaf: this statistic of the instance.
    Arg(Stat),
    /// An operation on the subtrees that follow.
    Op(Op),
}

/// Why a tree has no score: a fitness outcome, never a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// An operation could not take its operands' shapes.
    #[error("{op:?}: {source}")]
    Shape {
        /// The operation.
        op: Op,
        /// What was wrong.
        source: ShapeError,
    },
    /// A value became NaN or infinite.
    #[error("{0} produced a NaN or an infinity")]
    NotFinite(String),
    /// The network has no instance to score.
    #[error("no ReLU-Conv-BN instance to score")]
    NoInstances,
    /// An instance without the 22 statistics.
    #[error("an instance holds {0} tensors, not 22")]
    Statistics(usize),
}

/// Why nodes do not form a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The nodes end before every operation has its operands.
    #[error("the prefix sequence ends before every operation has its operands")]
    Incomplete,
    /// Nodes after the tree is complete.
    #[error("{0} nodes after the tree is complete")]
    Trailing(usize),
}

/// An expression tree in prefix order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// A tree from nodes in prefix order, checked to form exactly one tree.
    pub fn new(nodes: Vec<Node>) -> Result<Self, ParseError> {
        let end = subtree_end(&nodes, 0).ok_or(ParseError::Incomplete)?;
        if end != nodes.len() {
            return Err(ParseError::Trailing(nodes.len() - end));
        }
        Ok(Self { nodes })
    }

    /// EZNAS-A, the seed's discovered proxy: `frobenius_norm(sigmoid(logdet(sign(T1G_D))))`.
    pub fn eznas_a() -> Self {
        Self::new(vec![
            Node::Op(Op::FrobeniusNorm),
            Node::Op(Op::Sigmoid),
            Node::Op(Op::LogDeterminant),
            Node::Op(Op::Sign),
            Node::Arg(Stat::T1GD),
        ])
        .expect("EZNAS-A is a tree")
    }

    /// The nodes, in prefix order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The end (exclusive) of the subtree rooted at node `start`.
    ///
    /// # Panics
    /// If `start` is not a node of the tree.
    pub fn subtree(&self, start: usize) -> std::ops::Range<usize> {
        start..subtree_end(&self.nodes, start).expect("a valid tree")
    }

    /// Edges on the longest path from the root to a leaf (a lone leaf has depth 0).
    pub fn depth(&self) -> usize {
        fn walk(nodes: &[Node], at: usize) -> (usize, usize) {
            match nodes[at] {
                Node::Arg(_) => (0, at + 1),
                Node::Op(op) => {
                    let mut next = at + 1;
                    let mut deepest = 0;
                    for _ in 0..op.arity() {
                        let (d, end) = walk(nodes, next);
                        deepest = deepest.max(d);
                        next = end;
                    }
                    (deepest + 1, next)
                }
            }
        }
        walk(&self.nodes, 0).0
    }

    /// The root's output on one instance (its 22 statistics, in [`Stat::ALL`]'s
    /// order), before `to_scalar`.
    pub fn evaluate(&self, instance: &[Tensor]) -> Result<Tensor, TreeError> {
        self.root(instance).map(Cow::into_owned)
    }

    /// The root's output, borrowed when the tree is a lone statistic.
    fn root<'i>(&self, instance: &'i [Tensor]) -> Result<Cow<'i, Tensor>, TreeError> {
        if instance.len() != Stat::ALL.len() {
            return Err(TreeError::Statistics(instance.len()));
        }
        Ok(self.eval_at(0, instance)?.0)
    }

    /// The value of the subtree at `at` and its end. Statistics are borrowed, not
    /// copied, and a unary operation gets its operand again as the unused second
    /// input, so the only allocations are the operations' outputs.
    fn eval_at<'i>(
        &self,
        at: usize,
        instance: &'i [Tensor],
    ) -> Result<(Cow<'i, Tensor>, usize), TreeError> {
        match self.nodes[at] {
            Node::Arg(stat) => {
                let value = &instance[stat.index()];
                if !value.is_finite() {
                    return Err(TreeError::NotFinite(format!("{stat:?}")));
                }
                Ok((Cow::Borrowed(value), at + 1))
            }
            Node::Op(op) => {
                let (a, next) = self.eval_at(at + 1, instance)?;
                let (b, next) = if op.arity() == 2 {
                    let (b, next) = self.eval_at(next, instance)?;
                    (Some(b), next)
                } else {
                    (None, next)
                };
                let out = op
                    .apply(&a, b.as_deref().unwrap_or(&a))
                    .map_err(|source| TreeError::Shape { op, source })?;
                if !out.is_finite() {
                    return Err(TreeError::NotFinite(format!("{op:?}")));
                }
                Ok((Cow::Owned(out), next))
            }
        }
    }

    /// The tree's score of one instance: the mean of its output (`to_scalar`).
    pub fn instance_score(&self, instance: &[Tensor]) -> Result<f64, TreeError> {
        let out = self.root(instance)?;
        if out.numel() == 0 {
            return Err(TreeError::Shape {
                op: match self.nodes[0] {
                    Node::Op(op) => op,
                    Node::Arg(_) => Op::OnesLike,
                },
                source: ShapeError::Empty(out.shape().to_vec()),
            });
        }
        let mean = out.data().iter().map(|&v| f64::from(v)).sum::<f64>() / out.numel() as f64;
        Ok(mean)
    }

    /// The network's score: the mean of the instance scores over its instances.
    pub fn score<'a>(
        &self,
        instances: impl IntoIterator<Item = &'a [Tensor]>,
    ) -> Result<f64, TreeError> {
        let (mut total, mut count) = (0.0, 0usize);
        for instance in instances {
            total += self.instance_score(instance)?;
            count += 1;
        }
        if count == 0 {
            return Err(TreeError::NoInstances);
        }
        Ok(total / count as f64)
    }
}

/// The end of the subtree at `start`, or `None` if the nodes end first.
pub(crate) fn subtree_end(nodes: &[Node], start: usize) -> Option<usize> {
    let mut open = 1usize;
    let mut at = start;
    while open > 0 {
        let node = nodes.get(at)?;
        open -= 1;
        if let Node::Op(op) = node {
            open += op.arity();
        }
        at += 1;
    }
    Some(at)
}

impl fmt::Display for Tree {
    /// The tree as a formula: `op(operand, …)`, statistics by their paper names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write(
            nodes: &[Node],
            at: usize,
            f: &mut fmt::Formatter<'_>,
        ) -> Result<usize, fmt::Error> {
            match nodes[at] {
                Node::Arg(stat) => {
                    write!(f, "{stat:?}")?;
                    Ok(at + 1)
                }
                Node::Op(op) => {
                    write!(f, "{op:?}(")?;
                    let mut next = at + 1;
                    for i in 0..op.arity() {
                        if i > 0 {
                            write!(f, ", ")?;
                        }
                        next = write(nodes, next, f)?;
                    }
                    write!(f, ")")?;
                    Ok(next)
                }
            }
        }
        write(&self.nodes, 0, f).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instance whose statistic `i` is a 2×2 matrix `[[i+1, 1], [0, i+1]]`.
    fn instance() -> Vec<Tensor> {
        (0..22)
            .map(|i| {
                let d = i as f32 + 1.0;
                Tensor::new(vec![2, 2], vec![d, 1.0, 0.0, d])
            })
            .collect()
    }

    #[test]
    fn trees_parse_in_prefix_order() {
        let sum = vec![Node::Op(Op::Sum), Node::Arg(Stat::T1D), Node::Arg(Stat::T3)];
        let tree = Tree::new(sum.clone()).unwrap();
        assert_eq!(tree.depth(), 1);
        assert_eq!(tree.subtree(2), 2..3);
        assert_eq!(tree.to_string(), "Sum(T1D, T3)");
        assert_eq!(Tree::new(sum[..2].to_vec()), Err(ParseError::Incomplete));
        let mut long = sum;
        long.push(Node::Arg(Stat::T4D));
        assert_eq!(Tree::new(long), Err(ParseError::Trailing(1)));
        assert_eq!(Tree::eznas_a().depth(), 4);
        assert_eq!(
            Tree::eznas_a().to_string(),
            "FrobeniusNorm(Sigmoid(LogDeterminant(Sign(T1GD))))"
        );
    }

    #[test]
    fn a_tree_scores_an_instance_and_a_network() {
        let x = instance();
        // Sum(T1D, T3): [[1,1],[0,1]] + [[7,1],[0,7]] = [[8,2],[0,8]], mean 4.5.
        let tree = Tree::new(vec![
            Node::Op(Op::Sum),
            Node::Arg(Stat::T1D),
            Node::Arg(Stat::T3),
        ])
        .unwrap();
        assert_eq!(tree.instance_score(&x), Ok(4.5));
        // EZNAS-A on T1GD = [[11, 1], [0, 11]]: sign is [[1,1],[0,1]], logdet 0,
        // sigmoid 0.5, Frobenius norm 0.5.
        assert!((Tree::eznas_a().instance_score(&x).unwrap() - 0.5).abs() < 1e-7);
        // The network's score is the mean over instances.
        let mut other = instance();
        other[Stat::T1D.index()] = Tensor::new(vec![2, 2], vec![3.0, 3.0, 2.0, 3.0]);
        let score = tree.score([x.as_slice(), other.as_slice()]).unwrap();
        assert_eq!(score, (4.5 + (10.0 + 4.0 + 2.0 + 10.0) / 4.0) / 2.0);
        assert_eq!(tree.score(std::iter::empty()), Err(TreeError::NoInstances));
    }

    #[test]
    fn invalid_trees_are_failures_not_panics() {
        let mut x = instance();
        x[Stat::T2D.index()] = Tensor::new(vec![3], vec![1.0, 2.0, 3.0]);
        // A shape mismatch.
        let mismatch = Tree::new(vec![
            Node::Op(Op::Sum),
            Node::Arg(Stat::T1D),
            Node::Arg(Stat::T2D),
        ])
        .unwrap();
        assert!(matches!(
            mismatch.instance_score(&x),
            Err(TreeError::Shape { op: Op::Sum, .. })
        ));
        // 1 / (T1D − T1D) is infinite.
        let infinite = Tree::new(vec![
            Node::Op(Op::Invert),
            Node::Op(Op::Difference),
            Node::Arg(Stat::T1D),
            Node::Arg(Stat::T1D),
        ])
        .unwrap();
        assert_eq!(
            infinite.instance_score(&x),
            Err(TreeError::NotFinite("Invert".into()))
        );
        // A NaN statistic.
        x[Stat::T3.index()] = Tensor::scalar(f32::NAN);
        let reads_nan = Tree::new(vec![Node::Op(Op::Abs), Node::Arg(Stat::T3)]).unwrap();
        assert_eq!(
            reads_nan.instance_score(&x),
            Err(TreeError::NotFinite("T3".into()))
        );
        assert_eq!(
            reads_nan.instance_score(&x[..3]),
            Err(TreeError::Statistics(3))
        );
    }
}
