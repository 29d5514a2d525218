//! The space of loss graphs, their functional hashes and their evaluator.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use ufh_core::{FunctionalHash, HashSpec, HashableOutputs, MantissaBits, Probe};
use ufh_search::{
    CandidateHasher, Evaluation, Evaluator, Harness, SearchRng, SearchSpace, SpecHasher,
};

use super::dqn::{DqnConfig, OwnedInputs, QNetwork, train_dqn};
use super::graph::{INPUT_TYPES, LossGraph, Node, Op, Ty, input};
use super::{CartPole, CartPoleVersion, DynamicObstacles};

/// Settings of a [`LossGraphSpace`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossSpaceConfig {
    /// Most nodes after the seven inputs (the paper: 20).
    pub max_nodes: usize,
    /// Probability that a mutation changes one node; otherwise the child is a
    /// fresh random graph (evolving-RL: 0.95).
    pub node_mutation_probability: f64,
}

impl LossSpaceConfig {
    /// The paper's bound of 20 nodes and evolving-RL's 0.95.
    pub const PAPER: LossSpaceConfig = LossSpaceConfig {
        max_nodes: 20,
        node_mutation_probability: 0.95,
    };
}

/// Loss graphs, sampled and mutated as evolving-RL does it.
///
/// * Sampling: a length uniform in `1..=max_nodes`; each node a uniform op among
///   those with a type-valid input choice, with inputs uniform among the valid
///   earlier nodes; redrawn until the graph is valid (float output depending on
///   θ).
/// * Mutation: with probability `node_mutation_probability`, one node, drawn
///   uniformly, becomes a uniform type-valid op with uniform valid inputs; a node
///   other nodes read keeps its type (a leaf may change it, the output stays a
///   float); redrawn until the child is valid. Otherwise a fresh random graph.
#[derive(Debug, Clone)]
pub struct LossGraphSpace {
    config: LossSpaceConfig,
}

impl LossGraphSpace {
    /// The space of `config`; at least one node.
    pub fn new(config: LossSpaceConfig) -> Self {
        Self {
            config: LossSpaceConfig {
                max_nodes: config.max_nodes.max(1),
                ..config
            },
        }
    }

    /// A random node for position `index` (inputs count first) over `types`, of
    /// type `want` if given; `None` if no op fits.
    fn random_node(
        types: &[Ty],
        index: usize,
        want: Option<Ty>,
        rng: &mut SearchRng,
    ) -> Option<(Node, Ty)> {
        let earlier = &types[..index];
        // (op, every valid input choice) for the ops that have one.
        let mut options: Vec<(Op, Vec<[usize; 2]>)> = Vec::new();
        for op in Op::ALL {
            let mut choices = Vec::new();
            match op.arity() {
                0 => {
                    if want.is_none_or(|w| op.output(&[]) == Some(w)) {
                        choices.push([0, 0]);
                    }
                }
                1 => {
                    for (i, &ty) in earlier.iter().enumerate() {
                        if let Some(t) = op.output(&[ty])
                            && want.is_none_or(|w| t == w)
                        {
                            choices.push([i, 0]);
                        }
                    }
                }
                _ => {
                    for i in 0..earlier.len() {
                        for j in 0..earlier.len() {
                            if let Some(t) = op.output(&[earlier[i], earlier[j]])
                                && want.is_none_or(|w| t == w)
                            {
                                choices.push([i, j]);
                            }
                        }
                    }
                }
            }
            if !choices.is_empty() {
                options.push((op, choices));
            }
        }
        if options.is_empty() {
            return None;
        }
        let (op, choices) = &options[rng.random_range(0..options.len())];
        let inputs = choices[rng.random_range(0..choices.len())];
        let ty = {
            let args: Vec<Ty> = inputs[..op.arity()].iter().map(|&i| earlier[i]).collect();
            op.output(&args).expect("a valid choice")
        };
        Some((Node { op: *op, inputs }, ty))
    }

    fn random_graph(&self, rng: &mut SearchRng) -> LossGraph {
        loop {
            let n = rng.random_range(1..=self.config.max_nodes);
            let mut types = INPUT_TYPES.to_vec();
            let mut nodes = Vec::with_capacity(n);
            for k in 0..n {
                let want = (k + 1 == n).then_some(Ty::Float);
                let index = types.len();
                let Some((node, ty)) = Self::random_node(&types, index, want, rng) else {
                    break;
                };
                nodes.push(node);
                types.push(ty);
            }
            if let Ok(graph) = LossGraph::new(nodes) {
                return graph;
            }
        }
    }
}

impl SearchSpace for LossGraphSpace {
    type Candidate = LossGraph;

    fn sample(&self, rng: &mut SearchRng) -> LossGraph {
        self.random_graph(rng)
    }

    fn mutate(&self, parent: &LossGraph, rng: &mut SearchRng) -> LossGraph {
        if rng.random::<f64>() >= self.config.node_mutation_probability {
            return self.random_graph(rng);
        }
        let types = parent.types().expect("a valid parent");
        let nodes = parent.nodes();
        let read: Vec<bool> = (0..types.len())
            .map(|i| nodes.iter().any(|n| n.inputs[..n.op.arity()].contains(&i)))
            .collect();
        for _ in 0..100 {
            let k = rng.random_range(0..nodes.len());
            let index = input::COUNT + k;
            let want = if k + 1 == nodes.len() {
                Some(Ty::Float)
            } else if read[index] {
                Some(types[index])
            } else {
                None
            };
            let Some((node, _)) = Self::random_node(&types, index, want, rng) else {
                continue;
            };
            let mut child = nodes.to_vec();
            child[k] = node;
            if let Ok(graph) = LossGraph::new(child) {
                return graph;
            }
        }
        self.random_graph(rng)
    }
}

/// Fake transitions for hashing: states and rewards uniform in [−100, 100],
/// actions uniform, discount 0.99, and the Q-values of fixed random online and
/// target networks (32 × 32, Glorot-uniform).
fn fake_batch(batch: usize, observation: usize, actions: usize, seed: u64) -> OwnedInputs {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let online = QNetwork::new(observation, &[32, 32], actions, &mut rng);
    let target = QNetwork::new(observation, &[32, 32], actions, &mut rng);
    let mut uniform =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-100.0f32..100.0)).collect() };
    let prev = uniform(batch * observation);
    let next = uniform(batch * observation);
    let reward = uniform(batch);
    let action = (0..batch).map(|_| rng.random_range(0..actions)).collect();
    OwnedInputs {
        batch,
        actions,
        q: [
            online.q_values(&prev, batch),
            online.q_values(&next, batch),
            target.q_values(&prev, batch),
            target.q_values(&next, batch),
        ],
        action,
        reward,
        discount: vec![0.99; batch],
        noise_seed: seed,
    }
}

/// The paper's functional hash of a loss graph: its per-transition outputs on
/// 4,096 fake CartPole transitions (4-value states and rewards uniform in
/// [−100, 100], actions uniform over 2, discount 0.99, the Q-values of fixed
/// random 32 × 32 networks),
/// truncated to `mantissa_bits` of an f32 and mixed by `ufh-core`.
///
/// It is the unified hash: [`SpecHasher`] over [`FakeTransitions`], one bare
/// run (no count word) of the 4,096 transitions.
#[derive(Debug, Clone)]
pub struct UfhLossHasher {
    inner: SpecHasher<FakeTransitions>,
}

/// Fake transitions a loss graph runs on when it is hashed ([`UfhLossHasher`]'s
/// harness).
#[derive(Debug, Clone)]
pub struct FakeTransitions {
    batch: OwnedInputs,
}

/// A loss graph bound to the fake transitions.
#[derive(Debug)]
pub struct LossRun<'a> {
    batch: &'a OwnedInputs,
    graph: &'a LossGraph,
}

impl Harness<LossGraph> for FakeTransitions {
    type Run<'a> = LossRun<'a>;

    fn bind<'a>(&'a self, graph: &'a LossGraph) -> LossRun<'a> {
        LossRun {
            batch: &self.batch,
            graph,
        }
    }
}

impl HashableOutputs for LossRun<'_> {
    type Error = std::convert::Infallible;

    /// The graph's loss on every transition, in order.
    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Self::Error> {
        probe.push_f32s(&self.graph.outputs(&self.batch.inputs()));
        Ok(())
    }
}

impl UfhLossHasher {
    /// Fake transitions the hash runs each graph on.
    pub const TRANSITIONS: usize = 4_096;
    /// Seed of the fake transitions.
    pub const SEED: u64 = 0x0A17_0E12;

    /// The paper's hash at `mantissa_bits`, charging `cost_steps` simulated
    /// environment steps per hash.
    pub fn new(mantissa_bits: MantissaBits, cost_steps: f64) -> Self {
        let spec = HashSpec::bare(mantissa_bits, Self::TRANSITIONS, Self::SEED).expect("one seed");
        let transitions = FakeTransitions {
            batch: fake_batch(Self::TRANSITIONS, 4, 2, Self::SEED),
        };
        Self {
            inner: SpecHasher::with_harness(spec, cost_steps, transitions),
        }
    }

    /// The shared adapter this hasher is.
    pub fn spec_hasher(&self) -> &SpecHasher<FakeTransitions> {
        &self.inner
    }
}

impl CandidateHasher<LossGraph> for UfhLossHasher {
    fn hash(&self, graph: &LossGraph) -> FunctionalHash {
        self.inner.hash(graph)
    }

    fn cost_s(&self) -> f64 {
        self.inner.cost_s()
    }
}

/// evolving-RL's own dedup hash, as its code computes it: the **sum** of the
/// graph's outputs on 10 random transitions, rounded to 4 decimals, as the key
/// (one scalar per graph; every non-finite sum shares one key).
///
/// It is not the unified hash and does not go through [`SpecHasher`]: it is the
/// baseline the paper compares the unified hash with, reproduced as its code
/// computes it (a rounded sum, not truncated outputs mixed by XXH3).
#[derive(Debug, Clone)]
pub struct EvolvingRlHasher {
    batch: OwnedInputs,
    cost_steps: f64,
}

impl EvolvingRlHasher {
    /// The hash, charging `cost_steps` per hash.
    pub fn new(cost_steps: f64) -> Self {
        Self {
            batch: fake_batch(10, 4, 2, 0x0E70_1E12),
            cost_steps,
        }
    }
}

impl CandidateHasher<LossGraph> for EvolvingRlHasher {
    fn hash(&self, graph: &LossGraph) -> FunctionalHash {
        let sum: f64 = graph
            .outputs(&self.batch.inputs())
            .iter()
            .map(|&v| f64::from(v))
            .sum();
        if !sum.is_finite() {
            return FunctionalHash(u64::MAX);
        }
        FunctionalHash(((sum * 1e4).round() as i64) as u64)
    }

    fn cost_s(&self) -> f64 {
        self.cost_steps
    }
}

/// Fitness of a loss graph as evolving-RL computes it: DQN with the graph as its
/// loss on CartPole-v0; if that scores at least the hurdle, also on
/// Dynamic-Obstacles-6x6; the sum of the normalised scores. Cost: environment
/// steps. The test value is a second run of the same environments at another
/// seed.
#[derive(Debug, Clone)]
pub struct LossEvaluator {
    /// DQN's settings.
    pub dqn: DqnConfig,
    /// CartPole score needed before the gridworld runs (0.6).
    pub hurdle: f64,
    /// Train every candidate at this seed instead of one drawn from the
    /// evaluator's stream: fitness becomes a function of the graph, so the
    /// counterfactual audit can tell a collision from training noise.
    pub fixed_seed: Option<u64>,
}

impl LossEvaluator {
    /// [`DqnConfig::scaled`] with the hurdle 0.6.
    pub fn scaled() -> Self {
        Self {
            dqn: DqnConfig::scaled(),
            hurdle: 0.6,
            fixed_seed: None,
        }
    }

    /// The fitness at `seed` and the environment steps it took.
    pub fn fitness(&self, graph: &LossGraph, seed: u64) -> (f64, u64) {
        let cart = train_dqn(
            &mut CartPole::new(CartPoleVersion::V0),
            graph,
            &self.dqn,
            seed,
        );
        let mut steps = cart.steps;
        let mut fitness = cart.score;
        if cart.score >= self.hurdle {
            let grid = train_dqn(
                &mut DynamicObstacles::new(),
                graph,
                &self.dqn,
                seed ^ 0x5A5A,
            );
            steps += grid.steps;
            fitness += grid.score;
        }
        (fitness, steps)
    }
}

impl Evaluator<LossGraph> for LossEvaluator {
    fn cost_unit(&self) -> ufh_search::CostUnit {
        ufh_search::CostUnit::EnvironmentSteps
    }

    fn evaluate(&self, graph: &LossGraph, rng: &mut SearchRng) -> Evaluation {
        let seed: u64 = self.fixed_seed.unwrap_or_else(|| rng.random());
        let (validation, steps) = self.fitness(graph, seed);
        let (test, _) = self.fitness(graph, seed ^ 0x7E57);
        Evaluation {
            validation,
            test,
            cost_s: steps as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autorl::graph::input::*;

    fn graph(nodes: &[(Op, [usize; 2])]) -> LossGraph {
        LossGraph::new(
            nodes
                .iter()
                .map(|&(op, inputs)| Node { op, inputs })
                .collect(),
        )
        .expect("a valid graph")
    }

    fn ufh() -> UfhLossHasher {
        UfhLossHasher::new(MantissaBits::f32(16).unwrap(), 0.0)
    }

    #[test]
    fn equivalent_graphs_hash_equal_and_dqn_variants_do_not() {
        let h = ufh();
        let dqn = LossGraph::dqn();
        // The same function, nodes in another order: the two Q lookups swapped.
        let reordered = graph(&[
            (Op::QValues, [PARAMS, PREV_STATE]),
            (Op::QValues, [TARGET_PARAMS, STATE]),
            (Op::MaxList, [8, 0]),
            (Op::Mul, [DISCOUNT, 9]),
            (Op::Add, [REWARD, 10]),
            (Op::Select, [7, ACTION]),
            (Op::L2Distance, [12, 11]),
        ]);
        // A dead node (an unused entropy) in the middle.
        let with_dead = graph(&[
            (Op::QValues, [TARGET_PARAMS, STATE]),
            (Op::Softmax, [7, 0]),
            (Op::MaxList, [7, 0]),
            (Op::Mul, [DISCOUNT, 9]),
            (Op::Add, [REWARD, 10]),
            (Op::QValues, [PARAMS, PREV_STATE]),
            (Op::Select, [12, ACTION]),
            (Op::L2Distance, [13, 11]),
        ]);
        // Commuted operands: Y = γ·max + r, and l2(Y, Q) (l2 is symmetric).
        let commuted = graph(&[
            (Op::QValues, [TARGET_PARAMS, STATE]),
            (Op::MaxList, [7, 0]),
            (Op::Mul, [8, DISCOUNT]),
            (Op::Add, [9, REWARD]),
            (Op::QValues, [PARAMS, PREV_STATE]),
            (Op::Select, [11, ACTION]),
            (Op::L2Distance, [10, 12]),
        ]);
        // Adding zero (r − r) to Y, and multiplying Q(s, a) by one (0.5 / 0.5).
        let plus_zero_times_one = graph(&[
            (Op::QValues, [TARGET_PARAMS, STATE]),
            (Op::MaxList, [7, 0]),
            (Op::Mul, [DISCOUNT, 8]),
            (Op::Add, [REWARD, 9]),
            (Op::Sub, [REWARD, REWARD]),
            (Op::Add, [10, 11]),
            (Op::QValues, [PARAMS, PREV_STATE]),
            (Op::Select, [13, ACTION]),
            (Op::Const05, [0, 0]),
            (Op::Div, [15, 15]),
            (Op::Mul, [14, 16]),
            (Op::L2Distance, [17, 12]),
        ]);
        let base = h.hash(&dqn);
        for (name, g) in [
            ("reordered", &reordered),
            ("dead node", &with_dead),
            ("commuted", &commuted),
            ("plus zero, times one", &plus_zero_times_one),
        ] {
            assert_eq!(h.hash(g), base, "{name}: {g}");
        }
        assert_ne!(h.hash(&LossGraph::dqn_reg()), base);
        assert_ne!(h.hash(&LossGraph::dqn_clipped()), base);
        assert_ne!(
            h.hash(&LossGraph::dqn_reg()),
            h.hash(&LossGraph::dqn_clipped())
        );
    }

    #[test]
    fn the_hash_is_pinned() {
        // Golden values: a change here changes every cached hash.
        assert_eq!(
            ufh().hash(&LossGraph::dqn()).to_string(),
            "cfac62013963e4d1"
        );
    }

    #[test]
    fn evolving_rls_hash_keys_by_a_rounded_sum() {
        // Its 10 transitions are seeded: two hashers built apart agree.
        let h = EvolvingRlHasher::new(0.0);
        assert_eq!(
            h.hash(&LossGraph::dqn()),
            EvolvingRlHasher::new(1.0).hash(&LossGraph::dqn())
        );
        assert_ne!(h.hash(&LossGraph::dqn()), h.hash(&LossGraph::dqn_reg()));
    }

    #[test]
    fn samples_and_mutants_are_valid_and_explore() {
        let space = LossGraphSpace::new(LossSpaceConfig::PAPER);
        let mut rng = SearchRng::seed_from_u64(4);
        let mut parent = space.sample(&mut rng);
        let mut distinct = std::collections::HashSet::new();
        let h = ufh();
        let mut neutral = 0;
        for _ in 0..300 {
            assert!(parent.nodes().len() <= 20);
            let child = space.mutate(&parent, &mut rng);
            assert!(LossGraph::new(child.nodes().to_vec()).is_ok());
            distinct.insert(h.hash(&child));
            neutral += usize::from(h.hash(&child) == h.hash(&parent));
            parent = child;
        }
        // Many mutations land on dead nodes and leave the function as it was:
        // the redundancy the functional hash removes.
        assert!(distinct.len() > 25, "{}", distinct.len());
        assert!((50..290).contains(&neutral), "{neutral}");
    }

    #[test]
    fn a_graph_that_ignores_q_learns_nothing_and_dqn_clears_the_hurdle() {
        let evaluator = LossEvaluator::scaled();
        let (fitness, steps) = evaluator.fitness(&LossGraph::dqn(), 1);
        // CartPole near 1, then the gridworld's score on top.
        assert!(fitness >= 0.9, "{fitness}");
        assert!(steps > 10_000);
        // The loss Q(s, a)·0.01: minimising it drives Q down, not to the TD target.
        let lazy = graph(&[
            (Op::QValues, [PARAMS, PREV_STATE]),
            (Op::Select, [7, ACTION]),
            (Op::Const001, [0, 0]),
            (Op::Mul, [8, 9]),
        ]);
        let (lazy_fitness, _) = evaluator.fitness(&lazy, 1);
        assert!(lazy_fitness < 0.6, "{lazy_fitness}");
    }
}
