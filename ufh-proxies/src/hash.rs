//! The functional hash of an expression tree, which no other GP engine has: the
//! tree's per-instance scores on a fixed, canonical set of ReLU-Conv-BN instances,
//! mantissa-truncated and mixed by `ufh-core`. Two trees that compute the same
//! function — bloat, identities such as `relu(relu(x))`, `abs(abs(x))` or
//! `x · ones_like(x)`, commuted operands — get one hash, so FEC, FCM and the
//! tabulist work on trees as they do on cells and programs.

use ufh_core::{FunctionalHash, HashSpec, HashableOutputs, MantissaBits, Probe};
use ufh_search::{CandidateHasher, Harness, SpecHasher};

use crate::tensor::Tensor;
use crate::tree::{Stat, Tree};

/// Why instances cannot serve as a hasher's canonical inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HasherError {
    /// No instance at all.
    #[error("a tree hasher needs at least one instance")]
    NoInstances,
    /// An instance without the 22 statistics.
    #[error("instance {index} holds {found} tensors, not 22")]
    Statistics {
        /// Which instance.
        index: usize,
        /// Tensors it holds.
        found: usize,
    },
}

/// Hashes trees by their scores on canonical instances.
///
/// It is the unified hash: [`SpecHasher`] over [`Instances`], one bare run (no
/// count word); a tree that fails on an instance gets the failure hash.
#[derive(Debug, Clone)]
pub struct TreeHasher {
    inner: SpecHasher<Instances>,
}

/// The canonical instances a tree runs on when it is hashed ([`TreeHasher`]'s
/// harness).
#[derive(Debug, Clone)]
pub struct Instances(Vec<Vec<Tensor>>);

/// A tree bound to the canonical instances.
#[derive(Debug)]
pub struct TreeRun<'a> {
    instances: &'a [Vec<Tensor>],
    tree: &'a Tree,
}

impl Harness<Tree> for Instances {
    type Run<'a> = TreeRun<'a>;

    fn bind<'a>(&'a self, tree: &'a Tree) -> TreeRun<'a> {
        TreeRun {
            instances: &self.0,
            tree,
        }
    }
}

impl HashableOutputs for TreeRun<'_> {
    type Error = crate::tree::TreeError;

    /// The tree's score on every instance, in order.
    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Self::Error> {
        for instance in self.instances {
            probe.push_f64(self.tree.instance_score(instance)?);
        }
        Ok(())
    }
}

impl TreeHasher {
    /// A hasher over `instances` (each the 22 statistics of one ReLU-Conv-BN
    /// instance, for example every instance of a few fixed networks), keeping
    /// `mantissa_bits` of every score, charging `cost_s` per hash.
    pub fn new(
        instances: Vec<Vec<Tensor>>,
        mantissa_bits: MantissaBits,
        cost_s: f64,
    ) -> Result<Self, HasherError> {
        if instances.is_empty() {
            return Err(HasherError::NoInstances);
        }
        if let Some((index, instance)) = instances
            .iter()
            .enumerate()
            .find(|(_, i)| i.len() != Stat::ALL.len())
        {
            return Err(HasherError::Statistics {
                index,
                found: instance.len(),
            });
        }
        let spec = HashSpec::bare(mantissa_bits, instances.len(), 0).expect("one seed");
        Ok(Self {
            inner: SpecHasher::with_harness(spec, cost_s, Instances(instances)),
        })
    }

    /// The hash every invalid tree gets (the hash of no values; a valid tree
    /// always hashes at least one).
    pub fn failure_hash(&self) -> FunctionalHash {
        self.inner.failure_hash()
    }

    /// The shared adapter this hasher is.
    pub fn spec_hasher(&self) -> &SpecHasher<Instances> {
        &self.inner
    }
}

impl CandidateHasher<Tree> for TreeHasher {
    fn hash(&self, tree: &Tree) -> FunctionalHash {
        self.inner.hash(tree)
    }

    fn cost_s(&self) -> f64 {
        self.inner.cost_s()
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;
    use crate::ops::Op;
    use crate::tree::Node;

    /// Seeded instances with the shapes of a small network's statistics:
    /// activations `[2, 3, 4, 4]`, a 3×3 conv weight `[3, 3, 3, 3]`.
    fn instances(seed: u64, count: usize) -> Vec<Vec<Tensor>> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..count)
            .map(|_| {
                Stat::ALL
                    .iter()
                    .map(|stat| {
                        let shape = match stat {
                            Stat::T3 | Stat::T3GD | Stat::T3GN | Stat::T3GP => vec![3, 3, 3, 3],
                            _ => vec![2, 3, 4, 4],
                        };
                        let n = shape.iter().product();
                        Tensor::new(shape, (0..n).map(|_| rng.random_range(-2.0..2.0)).collect())
                    })
                    .collect()
            })
            .collect()
    }

    fn tree(nodes: &[Node]) -> Tree {
        Tree::new(nodes.to_vec()).unwrap()
    }

    use Node::{Arg, Op as O};

    #[test]
    fn equivalent_trees_hash_equal_and_different_ones_do_not() {
        let hasher = TreeHasher::new(instances(1, 6), MantissaBits::f64(24).unwrap(), 0.0).unwrap();
        let x = Arg(Stat::T1GD);
        let relu = tree(&[O(Op::Relu), x]);
        let pairs = [
            (tree(&[O(Op::Relu), O(Op::Relu), x]), relu.clone()),
            (tree(&[O(Op::Abs), O(Op::Abs), x]), tree(&[O(Op::Abs), x])),
            (tree(&[O(Op::Product), x, O(Op::OnesLike), x]), tree(&[x])),
            (
                tree(&[O(Op::Sum), Arg(Stat::T2D), Arg(Stat::T4D)]),
                tree(&[O(Op::Sum), Arg(Stat::T4D), Arg(Stat::T2D)]),
            ),
            // Bloat: adding zeros shaped like another statistic.
            (
                tree(&[O(Op::Sum), x, O(Op::ZerosLike), Arg(Stat::T2N)]),
                tree(&[x]),
            ),
        ];
        for (i, (a, b)) in pairs.iter().enumerate() {
            assert_eq!(hasher.hash(a), hasher.hash(b), "pair {i}: {a} vs {b}");
        }
        // Different functions differ.
        assert_ne!(hasher.hash(&relu), hasher.hash(&tree(&[O(Op::Abs), x])));
        assert_ne!(
            hasher.hash(&tree(&[O(Op::Difference), Arg(Stat::T2D), Arg(Stat::T4D)])),
            hasher.hash(&tree(&[O(Op::Difference), Arg(Stat::T4D), Arg(Stat::T2D)]))
        );
        // EZNAS-A's log-determinant of sign matrices is −∞ wherever one is
        // singular: then the tree is invalid, and hashes as every invalid tree.
        let valid = hasher
            .spec_hasher()
            .harness()
            .0
            .iter()
            .all(|i| Tree::eznas_a().instance_score(i).is_ok());
        assert_eq!(
            hasher.hash(&Tree::eznas_a()) == hasher.failure_hash(),
            !valid
        );
    }

    #[test]
    fn invalid_trees_share_the_failure_hash() {
        let hasher = TreeHasher::new(instances(2, 3), MantissaBits::f64(24).unwrap(), 0.5).unwrap();
        // An activation and a weight do not broadcast; 1/0 is infinite.
        let mismatch = tree(&[O(Op::Sum), Arg(Stat::T1D), Arg(Stat::T3)]);
        let infinite = tree(&[O(Op::Invert), O(Op::ZerosLike), Arg(Stat::T1D)]);
        assert_eq!(hasher.hash(&mismatch), hasher.failure_hash());
        assert_eq!(hasher.hash(&infinite), hasher.failure_hash());
        assert_eq!(hasher.cost_s(), 0.5);
        assert_eq!(
            TreeHasher::new(Vec::new(), MantissaBits::f64(24).unwrap(), 0.0).unwrap_err(),
            HasherError::NoInstances
        );
        let mut short = instances(3, 2);
        short[1].pop();
        assert_eq!(
            TreeHasher::new(short, MantissaBits::f64(24).unwrap(), 0.0).unwrap_err(),
            HasherError::Statistics {
                index: 1,
                found: 21
            }
        );
    }

    /// Permanence: the hash of a compound tree on seeded instances does not
    /// change between runs, machines or releases without notice.
    #[test]
    fn golden_hash() {
        let hasher = TreeHasher::new(instances(7, 4), MantissaBits::f64(24).unwrap(), 0.0).unwrap();
        let tree = tree(&[
            O(Op::FrobeniusNorm),
            O(Op::Sum),
            Arg(Stat::T1GD),
            O(Op::Relu),
            Arg(Stat::T4D),
        ]);
        let hash = hasher.hash(&tree);
        assert_ne!(hash, hasher.failure_hash());
        assert_eq!(format!("{hash}"), GOLDEN);
        // Through the shared adapter, built by hand.
        let adapter = ufh_search::SpecHasher::with_harness(
            HashSpec::bare(MantissaBits::f64(24).unwrap(), 4, 0).unwrap(),
            0.0,
            Instances(instances(7, 4)),
        );
        assert_eq!(format!("{}", adapter.hash(&tree)), GOLDEN);
    }

    const GOLDEN: &str = "a74ad3f5654e6bf7";
}
