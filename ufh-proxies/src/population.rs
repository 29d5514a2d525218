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
use crate::tree::{Node, Tree};

/// A subtree's value on one instance, or the fact that it fails there.
type Memo<'t> = FxHashMap<&'t [Node], Option<Rc<Tensor>>>;

/// Work done: node evaluations performed and the elements they produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Nodes evaluated (memoised look-ups excluded).
    pub nodes: u64,
    /// Elements of the values those nodes produced.
    pub elements: u64,
}

/// The value of the subtree at `at` and its end; with a memo, every subtree is
/// computed once per instance.
fn eval<'t>(
    nodes: &'t [Node],
    at: usize,
    instance: &[Rc<Tensor>],
    mut memo: Option<&mut Memo<'t>>,
    work: &mut Work,
) -> (Option<Rc<Tensor>>, usize) {
    let end = subtree_end(nodes, at);
    let key = &nodes[at..end];
    if let Some(value) = memo.as_ref().and_then(|m| m.get(key)) {
        return (value.clone(), end);
    }
    let value = match nodes[at] {
        Node::Arg(stat) => {
            let t = &instance[stat.index()];
            t.is_finite().then(|| Rc::clone(t))
        }
        Node::Op(op) => {
            let (a, next) = eval(nodes, at + 1, instance, memo.as_deref_mut(), work);
            let b = if op.arity() == 2 {
                eval(nodes, next, instance, memo.as_deref_mut(), work).0
            } else {
                Some(Rc::new(Tensor::scalar(0.0)))
            };
            match (a, b) {
                (Some(a), Some(b)) => apply(op, &a, &b, work),
                _ => None,
            }
        }
    };
    if let Some(memo) = memo {
        memo.insert(key, value.clone());
    }
    (value, end)
}

fn apply(op: Op, a: &Tensor, b: &Tensor, work: &mut Work) -> Option<Rc<Tensor>> {
    let out = op.apply(a, b).ok()?;
    work.nodes += 1;
    work.elements += out.numel() as u64;
    out.is_finite().then(|| Rc::new(out))
}

fn subtree_end(nodes: &[Node], start: usize) -> usize {
    let mut open = 1usize;
    let mut at = start;
    while open > 0 {
        open -= 1;
        if let Node::Op(op) = nodes[at] {
            open += op.arity();
        }
        at += 1;
    }
    at
}

/// Every tree's score of `network` (`None` where the tree is invalid on it), equal
/// to [`Tree::score`]'s, and the work done.
pub fn score_population(trees: &[Tree], network: &Network) -> (Vec<Option<f64>>, Work) {
    let mut totals: Vec<Option<f64>> = vec![Some(0.0); trees.len()];
    let mut work = Work::default();
    for instance in &network.instances {
        let instance: Vec<Rc<Tensor>> = instance.iter().cloned().map(Rc::new).collect();
        let mut memo: Memo<'_> = FxHashMap::default();
        for (tree, total) in trees.iter().zip(&mut totals) {
            let Some(sum) = total else { continue };
            let (value, _) = eval(tree.nodes(), 0, &instance, Some(&mut memo), &mut work);
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
        let instance: Vec<Rc<Tensor>> = instance.iter().cloned().map(Rc::new).collect();
        for tree in trees {
            eval(tree.nodes(), 0, &instance, None, &mut work);
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
