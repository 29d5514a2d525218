//! The space of expression trees, with EZNAS's variation operators as DEAP performs
//! them (EZNAS §3.5 and §8.7): half-and-half initialisation, uniform subtree
//! mutation and one-point subtree crossover, under a static depth limit.
//!
//! * Initialisation: a depth drawn uniformly from `min_depth..=max_depth`, then with
//!   probability ½ a *full* tree (every leaf at that depth) and otherwise a *grown*
//!   one (below the minimum depth a node is an operation; at the depth it is a
//!   leaf; in between it is a leaf with probability 22 / (22 + 34), DEAP's ratio
//!   of terminals to all primitives).
//! * Mutation: a uniformly chosen node's subtree is replaced by a new
//!   half-and-half tree of depth `0..=mutation_depth`.
//! * Crossover: a uniformly chosen non-root node of each parent, and the two
//!   subtrees swapped; EZNAS keeps the first child.
//! * A child deeper than `depth_limit` is replaced by its (first) parent, as
//!   DEAP's `staticLimit` decorator does.
//!
//! Operations and statistics are drawn uniformly: trees are untyped, so most
//! random trees are invalid on real statistics (a shape mismatch, a NaN); the GP
//! screens them (EZNAS §3.5.1).

use rand::Rng;
use ufh_search::{Crossover, SearchRng, SearchSpace};

use crate::ops::Op;
use crate::tensor::Tensor;
use crate::tree::{Node, Stat, Tree};

/// Settings of the tree space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeSpace {
    /// Least depth of an initial tree.
    pub min_depth: usize,
    /// Greatest depth of an initial tree.
    pub max_depth: usize,
    /// Greatest depth of a subtree grown by mutation.
    pub mutation_depth: usize,
    /// No child deeper than this survives (it is replaced by its parent).
    pub depth_limit: usize,
}

impl TreeSpace {
    /// EZNAS's settings: initial depth 2..=6, mutation subtrees of depth 0..=5,
    /// static depth limit 10.
    pub const EZNAS: TreeSpace = TreeSpace {
        min_depth: 2,
        max_depth: 6,
        mutation_depth: 5,
        depth_limit: 10,
    };

    /// A half-and-half tree of depth `min..=max`.
    fn half_and_half(&self, min: usize, max: usize, rng: &mut SearchRng) -> Vec<Node> {
        let depth = rng.random_range(min..=max);
        let full = rng.random_bool(0.5);
        let mut nodes = Vec::new();
        grow(&mut nodes, 0, min, depth, full, rng);
        nodes
    }

    fn limit(&self, child: Tree, parent: &Tree) -> Tree {
        if child.depth() > self.depth_limit {
            parent.clone()
        } else {
            child
        }
    }
}

impl Crossover for TreeSpace {
    /// One-point subtree crossover of `a` and `b`: both children, each checked
    /// against the depth limit (a child too deep is its parent again). A parent of
    /// one node has no non-root point and is returned as it is.
    fn crossover(&self, a: &Tree, b: &Tree, rng: &mut SearchRng) -> (Tree, Tree) {
        if a.nodes().len() < 2 || b.nodes().len() < 2 {
            return (a.clone(), b.clone());
        }
        let ra = a.subtree(rng.random_range(1..a.nodes().len()));
        let rb = b.subtree(rng.random_range(1..b.nodes().len()));
        let splice = |into: &Tree, range: std::ops::Range<usize>, from: &[Node]| {
            let mut nodes = into.nodes()[..range.start].to_vec();
            nodes.extend_from_slice(from);
            nodes.extend_from_slice(&into.nodes()[range.end..]);
            Tree::new(nodes).expect("a subtree replaced by a subtree is a tree")
        };
        let first = splice(a, ra.clone(), &b.nodes()[rb.clone()]);
        let second = splice(b, rb, &a.nodes()[ra]);
        (self.limit(first, a), self.limit(second, b))
    }
}

/// Appends a tree whose root is at `depth` (0 for the root): DEAP's `genFull` when
/// `full`, else `genGrow`, with leaves at `height` at the latest.
fn grow(
    nodes: &mut Vec<Node>,
    depth: usize,
    min: usize,
    height: usize,
    full: bool,
    rng: &mut SearchRng,
) {
    let terminals = Stat::ALL.len() as f64;
    let ratio = terminals / (terminals + Op::ALL.len() as f64);
    let leaf = depth == height || (!full && depth >= min && rng.random_bool(ratio));
    if leaf {
        nodes.push(Node::Arg(Stat::ALL[rng.random_range(0..Stat::ALL.len())]));
        return;
    }
    let op = Op::ALL[rng.random_range(0..Op::ALL.len())];
    nodes.push(Node::Op(op));
    for _ in 0..op.arity() {
        grow(nodes, depth + 1, min, height, full, rng);
    }
}

impl SearchSpace for TreeSpace {
    type Candidate = Tree;

    fn sample(&self, rng: &mut SearchRng) -> Tree {
        Tree::new(self.half_and_half(self.min_depth, self.max_depth, rng))
            .expect("grown nodes form a tree")
    }

    fn mutate(&self, parent: &Tree, rng: &mut SearchRng) -> Tree {
        let range = parent.subtree(rng.random_range(0..parent.nodes().len()));
        let mut nodes = parent.nodes()[..range.start].to_vec();
        nodes.extend(self.half_and_half(0, self.mutation_depth, rng));
        nodes.extend_from_slice(&parent.nodes()[range.end..]);
        let child = Tree::new(nodes).expect("a subtree replaced by a subtree is a tree");
        self.limit(child, parent)
    }
}

/// A tree space that offers only trees valid on a few screening instances, as
/// EZNAS's GP screens every new tree on a small subset of the statistics before
/// it enters the population (§3.5.1): sampling, mutation and crossover draw again
/// until the tree is valid there, at most `tries` times (then the last draw is
/// kept, and the fitness fails it).
#[derive(Debug, Clone)]
pub struct ScreenedTreeSpace {
    /// The underlying space.
    pub space: TreeSpace,
    /// The screening instances, each the 22 statistics of one block.
    pub screen: Vec<Vec<Tensor>>,
    /// Draws before giving up.
    pub tries: usize,
}

impl ScreenedTreeSpace {
    fn valid(&self, tree: &Tree) -> bool {
        self.screen.iter().all(|i| tree.instance_score(i).is_ok())
    }

    fn draw(&self, mut next: impl FnMut() -> Tree) -> Tree {
        let mut tree = next();
        for _ in 1..self.tries {
            if self.valid(&tree) {
                break;
            }
            tree = next();
        }
        tree
    }
}

impl SearchSpace for ScreenedTreeSpace {
    type Candidate = Tree;

    fn sample(&self, rng: &mut SearchRng) -> Tree {
        self.draw(|| self.space.sample(rng))
    }

    fn mutate(&self, parent: &Tree, rng: &mut SearchRng) -> Tree {
        self.draw(|| self.space.mutate(parent, rng))
    }
}

impl Crossover for ScreenedTreeSpace {
    /// Crossover drawn again until the first child (the one EZNAS keeps) is valid.
    fn crossover(&self, a: &Tree, b: &Tree, rng: &mut SearchRng) -> (Tree, Tree) {
        let mut children = self.space.crossover(a, b, rng);
        for _ in 1..self.tries {
            if self.valid(&children.0) {
                break;
            }
            children = self.space.crossover(a, b, rng);
        }
        children
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn initial_trees_keep_to_their_depths_and_are_seeded() {
        let space = TreeSpace::EZNAS;
        let mut rng = SearchRng::seed_from_u64(3);
        let trees: Vec<Tree> = (0..300).map(|_| space.sample(&mut rng)).collect();
        for tree in &trees {
            assert!(
                (2..=6).contains(&tree.depth()),
                "{tree}: depth {}",
                tree.depth()
            );
        }
        // Every depth of the range occurs.
        let depths: std::collections::BTreeSet<usize> = trees.iter().map(Tree::depth).collect();
        assert_eq!(depths.len(), 5, "{depths:?}");
        let mut again = SearchRng::seed_from_u64(3);
        assert_eq!(space.sample(&mut again), trees[0]);
    }

    #[test]
    fn a_screened_space_offers_trees_valid_on_its_screen() {
        let screen: Vec<Vec<Tensor>> = crate::fitness::tests::zoo(6, 2)
            .into_iter()
            .flat_map(|n| n.instances)
            .collect();
        let screened = ScreenedTreeSpace {
            space: TreeSpace::EZNAS,
            screen: screen.clone(),
            tries: 100,
        };
        let valid = |t: &Tree| screen.iter().all(|i| t.instance_score(i).is_ok());
        let mut rng = SearchRng::seed_from_u64(8);
        let plain = (0..100)
            .filter(|_| valid(&TreeSpace::EZNAS.sample(&mut rng)))
            .count();
        let trees: Vec<Tree> = (0..100).map(|_| screened.sample(&mut rng)).collect();
        assert!(trees.iter().all(valid), "every screened sample is valid");
        assert!(
            plain < 90,
            "{plain} of 100 plain samples were valid already"
        );
        let child = screened.mutate(&trees[0], &mut rng);
        assert!(valid(&child));
        let (first, _) = screened.crossover(&trees[1], &trees[2], &mut rng);
        assert!(valid(&first));
    }

    #[test]
    fn mutation_and_crossover_keep_trees_within_the_limit() {
        let space = TreeSpace::EZNAS;
        let mut rng = SearchRng::seed_from_u64(5);
        let mut changed = 0;
        for _ in 0..300 {
            let a = space.sample(&mut rng);
            let b = space.sample(&mut rng);
            let child = space.mutate(&a, &mut rng);
            assert!(child.depth() <= 10);
            changed += usize::from(child != a);
            let (c, d) = space.crossover(&a, &b, &mut rng);
            assert!(c.depth() <= 10 && d.depth() <= 10);
            // Without a binding limit the two children hold the parents' nodes
            // between them, and the first starts as its first parent does.
            let loose = TreeSpace {
                depth_limit: usize::MAX,
                ..space
            };
            let (c, d) = loose.crossover(&a, &b, &mut rng);
            assert_eq!(
                c.nodes().len() + d.nodes().len(),
                a.nodes().len() + b.nodes().len()
            );
            assert_eq!(c.nodes()[0], a.nodes()[0]);
        }
        assert!(changed > 250, "{changed} of 300 mutations changed the tree");
        // A tree at the limit grown further returns the parent.
        let tight = TreeSpace {
            depth_limit: 2,
            ..TreeSpace::EZNAS
        };
        let parent = Tree::new(vec![
            Node::Op(Op::Abs),
            Node::Op(Op::Abs),
            Node::Arg(Stat::T1D),
        ])
        .unwrap();
        for _ in 0..50 {
            assert!(tight.mutate(&parent, &mut rng).depth() <= 2);
        }
    }
}
