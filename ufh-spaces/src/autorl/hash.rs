//! The functional hashes of a loss graph: the unified hash on fake transitions and
//! evolving-RL's own rounded-sum key, the baseline the paper compares it with.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use ufh_core::{FunctionalHash, HashSpec, HashableOutputs, MantissaBits, Probe};
use ufh_search::{CandidateHasher, Harness, SpecHasher};

use super::dqn::{OwnedInputs, QNetwork};
use super::graph::LossGraph;

/// The discounts of fake transitions.
#[derive(Debug, Clone, Copy)]
enum Discounts {
    /// 0.99 everywhere: the batch of [`EvolvingRlHasher`], the baseline, kept as
    /// it was.
    Constant,
    /// Every input a loss can read: a quarter terminal (γ = 0), a quarter
    /// CartPole's γ = 0.99 and half uniform in [0, 1), each transition drawn.
    EpisodeEnds,
}

/// Fake transitions for hashing: states and rewards uniform in [−100, 100],
/// actions uniform, `discounts`, and the Q-values of fixed random online and
/// target networks (32 × 32, initialised as DQN's).
fn fake_batch(
    batch: usize,
    observation: usize,
    actions: usize,
    seed: u64,
    discounts: Discounts,
) -> OwnedInputs {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let online = QNetwork::new(observation, &[32, 32], actions, &mut rng);
    let target = QNetwork::new(observation, &[32, 32], actions, &mut rng);
    let mut uniform =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-100.0f32..100.0)).collect() };
    let prev = uniform(batch * observation);
    let next = uniform(batch * observation);
    let reward = uniform(batch);
    let action = (0..batch).map(|_| rng.random_range(0..actions)).collect();
    let discount = match discounts {
        Discounts::Constant => vec![0.99; batch],
        Discounts::EpisodeEnds => (0..batch)
            .map(|_| match rng.random_range(0..4u8) {
                0 => 0.0,
                1 => 0.99,
                _ => rng.random_range(0.0f32..1.0),
            })
            .collect(),
    };
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
        discount,
        noise_seed: seed,
    }
}

/// The paper's functional hash of a loss graph: its per-transition outputs on
/// 4,096 fake CartPole transitions (4-value states and rewards uniform in
/// [−100, 100], actions uniform over 2, the Q-values of fixed random 32 × 32
/// networks, and discounts that include episode ends: a quarter 0, a quarter
/// 0.99, half uniform in [0, 1)), truncated to `mantissa_bits` of an f32 and
/// mixed by `ufh-core`.
///
/// The discounts are ufh's choice; the paper says only "fake transitions". With
/// 0.99 everywhere (ufh before 8 December 2026) a loss that differs from DQN's
/// only on terminal transitions, such as DQN's times γ/(γ + 1e−10), hashed as
/// DQN's, and FEC would have given it DQN's fitness.
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
            batch: fake_batch(Self::TRANSITIONS, 4, 2, Self::SEED, Discounts::EpisodeEnds),
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
            batch: fake_batch(10, 4, 2, 0x0E70_1E12, Discounts::Constant),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autorl::LossSpaceConfig;
    use crate::autorl::graph::Op;
    use crate::autorl::graph::input::*;
    use crate::autorl::graph::tests::graph;
    use rand::SeedableRng;
    use ufh_search::{SearchRng, SearchSpace};

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

    /// Losses that differ from DQN's only on terminal transitions (γ = 0),
    /// through d = γ / (γ + 1e−10), which is 0 there and 1 in f32 elsewhere.
    /// With 0.99 as every fake discount they all hashed as DQN's, even at 23
    /// mantissa bits.
    #[test]
    fn losses_that_differ_only_at_episode_ends_hash_apart() {
        let dqn = LossGraph::dqn();
        // Nodes 7..=11 are DQN's: Q_target(s), max, γ·max, Y = r + γ·max and
        // Q(s_prev); 12 is Q(s_prev, a).
        let dqn_parts = [
            (Op::QValues, [TARGET_PARAMS, STATE]),
            (Op::MaxList, [7, 0]),
            (Op::Mul, [DISCOUNT, 8]),
            (Op::Add, [REWARD, 9]),
            (Op::QValues, [PARAMS, PREV_STATE]),
            (Op::Select, [11, ACTION]),
            (Op::Div, [DISCOUNT, DISCOUNT]),
        ];
        let with = |tail: &[(Op, [usize; 2])]| {
            let mut nodes = dqn_parts.to_vec();
            nodes.extend_from_slice(tail);
            graph(&nodes)
        };
        let pairs = [
            // DQN's loss times d: no loss at all on terminal transitions.
            (
                "loss·d",
                with(&[(Op::L2Distance, [12, 10]), (Op::Mul, [14, 13])]),
            ),
            // The reward dropped on terminal transitions: Y = r·d + γ·max.
            (
                "r·d",
                with(&[
                    (Op::Mul, [REWARD, 13]),
                    (Op::Add, [14, 9]),
                    (Op::L2Distance, [12, 15]),
                ]),
            ),
            // Q(s_prev, a) zeroed on terminal transitions.
            (
                "Q·d",
                with(&[(Op::Mul, [12, 13]), (Op::L2Distance, [14, 10])]),
            ),
        ];
        for bits in [16, 23] {
            let h = UfhLossHasher::new(MantissaBits::f32(bits).unwrap(), 0.0);
            let base = h.hash(&dqn);
            // The shared nodes with DQN's own ending are DQN: d is dead there.
            assert_eq!(h.hash(&with(&[(Op::L2Distance, [12, 10])])), base);
            for (name, g) in &pairs {
                assert_ne!(h.hash(g), base, "{name} at {bits} bits: {g}");
            }
        }
        // Away from episode ends (γ ≥ 0.5, where d is exactly 1) the three
        // compute DQN's loss bit for bit: only terminal transitions tell them
        // apart.
        let hasher = ufh();
        let inputs = &hasher.spec_hasher().harness().batch;
        let terminal: Vec<bool> = inputs.discount.iter().map(|&g| g == 0.0).collect();
        assert!(terminal.iter().filter(|&&t| t).count() > 800);
        let base = dqn.outputs(&inputs.inputs());
        for (name, g) in &pairs {
            let out = g.outputs(&inputs.inputs());
            for (i, (a, b)) in out.iter().zip(&base).enumerate() {
                if !terminal[i] && inputs.discount[i] >= 0.5 {
                    assert_eq!(a, b, "{name} at transition {i}");
                }
            }
        }
    }

    #[test]
    fn the_hash_is_pinned() {
        // Golden values: a change here changes every cached hash.
        assert_eq!(
            ufh().hash(&LossGraph::dqn()).to_string(),
            "c79c221dda3123d6"
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
        let space = LossSpaceConfig::PAPER
            .build()
            .expect("the paper's settings are valid");
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
}
