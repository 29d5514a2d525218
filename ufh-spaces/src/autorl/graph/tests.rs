use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::*;
use crate::autorl::dqn::{DqnConfig, DqnLoss, OwnedInputs, train_dqn};
use crate::autorl::{CartPole, CartPoleVersion};

fn random_batch(seed: u64, b: usize, a: usize) -> OwnedInputs {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut v = |n: usize| -> Vec<f32> { (0..n).map(|_| r.random_range(-2.0..2.0)).collect() };
    let q = [v(b * a), v(b * a), v(b * a), v(b * a)];
    let reward = v(b);
    let mut r = Xoshiro256PlusPlus::seed_from_u64(seed + 1);
    OwnedInputs {
        batch: b,
        actions: a,
        q,
        action: (0..b).map(|_| r.random_range(0..a)).collect(),
        reward,
        discount: (0..b)
            .map(|i| if i % 3 == 0 { 0.0 } else { 0.99 })
            .collect(),
        noise_seed: seed,
    }
}

/// A valid graph of `(op, inputs)` nodes.
pub(crate) fn graph(nodes: &[(Op, [usize; 2])]) -> LossGraph {
    LossGraph::new(
        nodes
            .iter()
            .map(|&(op, inputs)| Node { op, inputs })
            .collect(),
    )
    .expect("a valid graph")
}

#[test]
fn dqns_graph_is_dqns_loss() {
    let batch = random_batch(1, 8, 3);
    let (graph_value, graph_grad) = LossGraph::dqn().loss(&batch.inputs());
    let (value, grad) = DqnLoss.loss(&batch.inputs());
    assert!((graph_value - value).abs() < 1e-6 * value.abs().max(1.0));
    for (x, y) in graph_grad.q_prev.iter().zip(&grad.q_prev) {
        assert!((x - y).abs() < 1e-6, "{x} vs {y}");
    }
    assert!(graph_grad.q_next.iter().all(|&g| g == 0.0));
}

#[test]
fn named_losses_print_as_formulas() {
    assert_eq!(
        LossGraph::dqn().to_string(),
        "l2(select(Q(θ, s_prev), a), (r + (γ * max_a(Q(θ_target, s)))))"
    );
    assert_eq!(
        LossGraph::dqn_reg().to_string(),
        "(0.1*select(Q(θ, s_prev), a) + ((select(Q(θ, s_prev), a) - (r + (γ * max_a(Q(θ_target, s))))) * (select(Q(θ, s_prev), a) - (r + (γ * max_a(Q(θ_target, s)))))))"
    );
    assert!(
        LossGraph::dqn_clipped()
            .to_string()
            .starts_with("(max(select(Q(θ, s_prev), a), ")
    );
}

#[test]
fn invalid_graphs_are_named() {
    let node = |op, inputs| Node { op, inputs };
    assert_eq!(LossGraph::new(vec![]), Err(GraphError::Empty));
    assert!(matches!(
        LossGraph::new(vec![node(Op::Add, [input::REWARD, input::STATE])]),
        Err(GraphError::Types { node: 7, .. })
    ));
    assert_eq!(
        LossGraph::new(vec![node(Op::Add, [input::REWARD, input::DISCOUNT])]),
        Err(GraphError::NoParameters)
    );
    assert_eq!(
        LossGraph::new(vec![node(Op::QValues, [input::PARAMS, input::STATE])]),
        Err(GraphError::Output(Ty::List))
    );
    assert_eq!(
        LossGraph::new(vec![node(Op::Abs, [8, 0])]),
        Err(GraphError::Order { node: 7, input: 8 })
    );
}

/// A graph that feeds `op` from the online Q-values at both states (as lists,
/// selected floats or distributions, by the op's input types) and reduces its
/// output to a float.
fn probe(op: Op) -> Option<LossGraph> {
    let mut nodes = Vec::new();
    let q_prev = push(&mut nodes, Op::QValues, [input::PARAMS, input::PREV_STATE]);
    let q_next = push(&mut nodes, Op::QValues, [input::PARAMS, input::STATE]);
    let f_prev = push(&mut nodes, Op::Select, [q_prev, input::ACTION]);
    let f_next = push(&mut nodes, Op::MaxList, [q_next, 0]);
    let p_prev = push(&mut nodes, Op::Softmax, [q_prev, 0]);
    let p_next = push(&mut nodes, Op::Softmax, [q_next, 0]);
    let candidates: [(Ty, usize, usize); 3] = [
        (Ty::Float, f_prev, f_next),
        (Ty::List, q_prev, q_next),
        (Ty::Prob, p_prev, p_next),
    ];
    for (ty, x, y) in candidates {
        let types = vec![ty; op.arity()];
        let Some(out) = op.output(&types) else {
            continue;
        };
        let node = push(&mut nodes, op, [x, y]);
        match out {
            Ty::Float => {}
            Ty::List => {
                push(&mut nodes, Op::SumList, [node, 0]);
            }
            Ty::Prob => {
                push(&mut nodes, Op::Entropy, [node, 0]);
            }
            _ => return None,
        }
        return LossGraph::new(nodes).ok();
    }
    None
}

/// The noise op draws the same values for the same batch seed, others for
/// another seed, with the documented spread; two noise ops draw apart.
#[test]
fn noise_is_seeded_and_has_its_spread() {
    let mut nodes = Vec::new();
    let reward_noise = push(&mut nodes, Op::Noise, [input::REWARD, 0]);
    let twice = push(&mut nodes, Op::Noise, [reward_noise, 0]);
    // r + noise, plus 0·Q(s, a) so that the graph depends on the Q-network.
    let q_all = push(&mut nodes, Op::QValues, [input::PARAMS, input::PREV_STATE]);
    let q = push(&mut nodes, Op::Select, [q_all, input::ACTION]);
    let zero = push(&mut nodes, Op::Mul, [q, input::DISCOUNT]);
    let z = push(&mut nodes, Op::Sub, [zero, zero]);
    push(&mut nodes, Op::Add, [reward_noise, z]);
    let graph = LossGraph::new(nodes.clone()).unwrap();
    nodes.push(Node {
        op: Op::Add,
        inputs: [twice, z],
    });
    let second = LossGraph::new(nodes).unwrap();
    let batch = random_batch(5, 4000, 2);
    let values = graph.outputs(&batch.inputs());
    assert_eq!(
        values,
        graph.outputs(&batch.inputs()),
        "same seed, same draws"
    );
    let mut other = batch.clone();
    other.noise_seed += 1;
    assert_ne!(values, graph.outputs(&other.inputs()));
    let eps: Vec<f64> = values
        .iter()
        .zip(&batch.reward)
        .map(|(v, r)| f64::from(v - r))
        .collect();
    let mean = eps.iter().sum::<f64>() / eps.len() as f64;
    let sd = (eps.iter().map(|e| (e - mean) * (e - mean)).sum::<f64>() / eps.len() as f64).sqrt();
    let sigma = f64::from(NOISE_SD);
    assert!(
        mean.abs() < 0.06 * sigma && (sd - sigma).abs() < 0.05 * sigma,
        "mean {mean}, sd {sd}"
    );
    // The second noise op adds draws of its own: r + ε₁ + ε₂, not r + 2ε₁.
    let both = second.outputs(&batch.inputs());
    let doubled = values.iter().zip(&batch.reward).map(|(v, r)| 2.0 * v - r);
    let differ = both
        .iter()
        .zip(doubled)
        .filter(|(a, b)| (**a - b).abs() > 1e-3)
        .count();
    assert!(differ > 3900, "{differ} of 4000 differ");
}

#[test]
fn every_differentiable_op_matches_finite_differences() {
    let mut checked = Vec::new();
    for op in Op::ALL {
        let Some(graph) = probe(op) else { continue };
        let batch = random_batch(3, 5, 3);
        let (_, grad) = graph.loss(&batch.inputs());
        for (which, analytic) in [(0, &grad.q_prev), (1, &grad.q_next)] {
            for j in [0, 4, 7, 14] {
                let h = 1e-2f32;
                let value = |delta: f32| {
                    let mut b = random_batch(3, 5, 3);
                    b.q[which][j] += delta;
                    f64::from(graph.loss(&b.inputs()).0)
                };
                let numeric = (value(h) - value(-h)) / (2.0 * f64::from(h));
                let tolerance = 2e-2 * numeric.abs().max(1.0);
                assert!(
                    (numeric - f64::from(analytic[j])).abs() < tolerance,
                    "{op:?} d/dq{which}[{j}]: numeric {numeric}, analytic {}",
                    analytic[j]
                );
            }
        }
        checked.push(op);
    }
    // Every op but QValues' own inputs, Select's action, ArgMax and the
    // constants is reachable this way.
    assert!(checked.len() >= 18, "{checked:?}");
}

#[test]
fn dqns_graph_learns_cartpole() {
    if !crate::slow_tier() {
        return;
    }
    let run = train_dqn(
        &mut CartPole::new(CartPoleVersion::V0),
        &LossGraph::dqn(),
        &DqnConfig::scaled(),
        // One of the 7 seeds of 30 at which DQN clears the hurdle at these
        // settings (`cargo xtask autorl --named-losses 30`).
        2,
    );
    assert!(run.score >= 0.6, "{}", run.score);
}
