//! Scoring a whole population of trees on a network at once, with every subtree
//! that several trees share (or that one tree repeats) computed once per
//! ReLU-Conv-BN instance, and no statistic copied per use.
//!
//! Trees of one generation share much: crossover and mutation copy subtrees between
//! them, and reproduction copies whole trees. [`score_population`] walks each tree
//! as [`Tree::score`] does but keeps, per instance, the value of every subtree it
//! has computed, keyed by the subtree's nodes, so the results are the same values,
//! bit for bit (a test compares every score with the plain interpreter's).

use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::fitness::Network;
use crate::ops::Op;
use crate::tensor::Tensor;
use crate::tree::{Node, Tree, subtree_end};

/// A subtree's value on one instance: a statistic of the instance itself, or an
/// operation's output shared between the trees that reuse the subtree.
#[derive(Clone)]
enum Value<'i> {
    Stat(&'i Tensor),
    Out(Rc<Tensor>),
}

impl std::ops::Deref for Value<'_> {
    type Target = Tensor;

    fn deref(&self) -> &Tensor {
        match self {
            Value::Stat(t) => t,
            Value::Out(t) => t,
        }
    }
}

/// A subtree's value on one instance, or `None` where it fails there.
type Memo<'t, 'i> = FxHashMap<&'t [Node], Option<Value<'i>>>;

/// Work done: node evaluations performed and the elements they produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Nodes evaluated (memoised look-ups excluded).
    pub nodes: u64,
    /// Elements of the values those nodes produced.
    pub elements: u64,
}

/// The value of the subtree at `at` and its end; with a memo, every subtree is
/// computed once per instance. As in [`Tree::evaluate`], a unary operation gets
/// its operand again as the unused second input.
fn eval<'t, 'i>(
    nodes: &'t [Node],
    at: usize,
    instance: &'i [Tensor],
    mut memo: Option<&mut Memo<'t, 'i>>,
    work: &mut Work,
) -> (Option<Value<'i>>, usize) {
    let end = subtree_end(nodes, at).expect("a tree's nodes form whole subtrees");
    let key = &nodes[at..end];
    if let Some(value) = memo.as_ref().and_then(|m| m.get(key)) {
        return (value.clone(), end);
    }
    let value = match nodes[at] {
        Node::Arg(stat) => {
            let t = &instance[stat.index()];
            t.is_finite().then_some(Value::Stat(t))
        }
        Node::Op(op) => {
            let (a, next) = eval(nodes, at + 1, instance, memo.as_deref_mut(), work);
            let b =
                (op.arity() == 2).then(|| eval(nodes, next, instance, memo.as_deref_mut(), work).0);
            match (a, b) {
                (Some(a), None) => apply(op, &a, &a, work),
                (Some(a), Some(Some(b))) => apply(op, &a, &b, work),
                _ => None,
            }
        }
    };
    if let Some(memo) = memo {
        memo.insert(key, value.clone());
    }
    (value, end)
}

fn apply<'i>(op: Op, a: &Tensor, b: &Tensor, work: &mut Work) -> Option<Value<'i>> {
    let out = op.apply(a, b).ok()?;
    work.nodes += 1;
    work.elements += out.numel() as u64;
    out.is_finite().then(|| Value::Out(Rc::new(out)))
}

/// Every tree's score of `network` (`None` where the tree is invalid on it), equal
/// to [`Tree::score`]'s, and the work done.
pub fn score_population<T: std::borrow::Borrow<Tree>>(
    trees: &[T],
    network: &Network,
) -> (Vec<Option<f64>>, Work) {
    let mut totals: Vec<Option<f64>> = vec![Some(0.0); trees.len()];
    let mut work = Work::default();
    for instance in &network.instances {
        let mut memo: Memo<'_, '_> = FxHashMap::default();
        for (tree, total) in trees.iter().zip(&mut totals) {
            let Some(sum) = total else { continue };
            let (value, _) = eval(
                tree.borrow().nodes(),
                0,
                instance,
                Some(&mut memo),
                &mut work,
            );
            *total = value.filter(|v| v.numel() > 0).map(|v| {
                let mean = v.data().iter().map(|&x| f64::from(x)).sum::<f64>() / v.numel() as f64;
                *sum + mean
            });
        }
    }
    let n = network.instances.len();
    let scores = totals
        .into_iter()
        .map(|t| t.filter(|_| n > 0).map(|sum| sum / n as f64))
        .collect();
    (scores, work)
}

/// The work the plain interpreter ([`Tree::score`]) does for the same population:
/// every node of every tree on every instance, nothing shared.
pub fn plain_work(trees: &[Tree], network: &Network) -> Work {
    let mut work = Work::default();
    for instance in &network.instances {
        for tree in trees {
            eval(tree.nodes(), 0, instance, None, &mut work);
        }
    }
    work
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use ufh_search::{Crossover, SearchRng, SearchSpace};

    use super::*;
    use crate::fitness::tests::zoo;
    use crate::space::TreeSpace;

    #[test]
    fn shared_subtrees_give_the_plain_interpreters_scores_with_less_work() {
        let space = TreeSpace::EZNAS;
        let mut rng = SearchRng::seed_from_u64(9);
        // A generation-like population: samples, their mutants and crossovers.
        let mut trees: Vec<Tree> = (0..30).map(|_| space.sample(&mut rng)).collect();
        for i in 0..30 {
            trees.push(space.mutate(&trees[i], &mut rng));
            let j = (i + 7) % 30;
            trees.push(space.crossover(&trees[i], &trees[j], &mut rng).0);
        }
        let networks = zoo(5, 3);
        let mut valid = 0;
        for network in &networks {
            let (scores, work) = score_population(&trees, network);
            for (tree, score) in trees.iter().zip(&scores) {
                let plain = network.score(tree);
                assert_eq!(score.map(f64::to_bits), plain.map(f64::to_bits), "{tree}");
                valid += usize::from(plain.is_some());
            }
            let plain = plain_work(&trees, network);
            assert!(work.nodes < plain.nodes, "{work:?} vs {plain:?}");
        }
        assert!(valid > 0, "some trees are valid");
    }
}
