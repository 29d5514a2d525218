//! The space of loss graphs: sampling and mutation as evolving-RL does them.

use rand::Rng;
use ufh_search::{SearchRng, SearchSpace};

use super::graph::{INPUT_TYPES, LossGraph, Node, Op, Ty, input};

/// Where a search's first graphs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LossStart {
    /// Random graphs of 1 to `max_nodes` nodes.
    Random,
    /// DQN's loss with `free_nodes` random nodes between its body and its output
    /// node: dead at first, free to be wired in by mutation (evolving-RL's
    /// `existingdqn_nofreeze` start, DQN's nodes mutable too).
    Dqn {
        /// Random nodes added to DQN's seven.
        free_nodes: usize,
    },
}

/// Settings of a [`LossGraphSpace`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossSpaceConfig {
    /// Most nodes after the seven inputs (the paper: 20).
    pub max_nodes: usize,
    /// Probability that a mutation changes one node; otherwise the child is a
    /// fresh random graph (evolving-RL: 0.95).
    pub node_mutation_probability: f64,
    /// The first graphs.
    pub start: LossStart,
}

impl LossSpaceConfig {
    /// The paper's setup, "identical to" evolving-RL's: at most 20 nodes,
    /// mutation probability 0.95, and the search starts from DQN's loss with 7
    /// free nodes (14 op nodes after the 7 inputs, as evolving-RL's
    /// `pre_graph_6_existingdqn_nofreeze`).
    pub const PAPER: LossSpaceConfig = LossSpaceConfig {
        max_nodes: 20,
        node_mutation_probability: 0.95,
        start: LossStart::Dqn { free_nodes: 7 },
    };

    /// [`LossSpaceConfig::PAPER`] from random graphs instead of DQN's.
    pub const RANDOM_START: LossSpaceConfig = LossSpaceConfig {
        start: LossStart::Random,
        ..LossSpaceConfig::PAPER
    };

    /// Checks the settings and gives their space.
    pub fn build(self) -> Result<LossGraphSpace, LossSpaceError> {
        if self.max_nodes == 0 {
            return Err(LossSpaceError::NoNodes);
        }
        if !(0.0..=1.0).contains(&self.node_mutation_probability) {
            return Err(LossSpaceError::Probability(self.node_mutation_probability));
        }
        if let LossStart::Dqn { free_nodes } = self.start {
            let nodes = LossGraph::dqn().nodes().len() + free_nodes;
            if nodes > self.max_nodes {
                return Err(LossSpaceError::StartTooLarge {
                    nodes,
                    max_nodes: self.max_nodes,
                });
            }
        }
        Ok(LossGraphSpace { config: self })
    }
}

/// Why a [`LossSpaceConfig`] gives no space.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LossSpaceError {
    /// `max_nodes` is 0: a loss graph needs at least one node.
    #[error("max_nodes is 0: a loss graph needs at least one node")]
    NoNodes,
    /// `node_mutation_probability` is outside `[0, 1]` (or NaN).
    #[error("node_mutation_probability {0} is outside [0, 1]")]
    Probability(f64),
    /// DQN's start with its free nodes has more nodes than `max_nodes`.
    #[error(
        "the start of DQN's loss with its free nodes has {nodes} nodes, over max_nodes {max_nodes}"
    )]
    StartTooLarge {
        /// DQN's nodes plus the free ones.
        nodes: usize,
        /// The bound.
        max_nodes: usize,
    },
}

/// Loss graphs, sampled and mutated as evolving-RL does it.
///
/// * Sampling, from [`LossStart::Random`]: a length uniform in `1..=max_nodes`;
///   each node a uniform op among those with a type-valid input choice, with
///   inputs uniform among the valid earlier nodes; redrawn until the graph is
///   valid (float output depending on θ). From [`LossStart::Dqn`]: DQN's graph
///   with the free nodes, each drawn as above with any type, before its output
///   node (so every first graph computes DQN's loss).
/// * Mutation: with probability `node_mutation_probability`, one node, drawn
///   uniformly, becomes a uniform type-valid op with uniform valid inputs; a node
///   other nodes read keeps its type (a leaf may change it, the output stays a
///   float); redrawn until the child is valid. Otherwise a fresh random graph.
#[derive(Debug, Clone)]
pub struct LossGraphSpace {
    config: LossSpaceConfig,
}

impl LossGraphSpace {
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

    /// DQN's nodes, then `free` random ones, then DQN's output node.
    fn bootstrapped(free: usize, rng: &mut SearchRng) -> LossGraph {
        let dqn = LossGraph::dqn();
        let (output, body) = dqn.nodes().split_last().expect("DQN has nodes");
        let mut nodes = body.to_vec();
        // The body's types: DQN's, without its output node's.
        let mut types = dqn.types().expect("DQN's graph is valid");
        types.pop();
        for _ in 0..free {
            let index = types.len();
            let (node, ty) =
                Self::random_node(&types, index, None, rng).expect("an op fits any inputs");
            nodes.push(node);
            types.push(ty);
        }
        nodes.push(*output);
        LossGraph::new(nodes).expect("DQN's output node still reads DQN's body")
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
        match self.config.start {
            LossStart::Random => self.random_graph(rng),
            LossStart::Dqn { free_nodes } => Self::bootstrapped(free_nodes, rng),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_refuses_what_samples_nothing() {
        assert!(LossSpaceConfig::PAPER.build().is_ok());
        let none = LossSpaceConfig {
            max_nodes: 0,
            ..LossSpaceConfig::PAPER
        };
        assert_eq!(none.build().unwrap_err(), LossSpaceError::NoNodes);
        for p in [-0.1, 1.5, f64::NAN] {
            let bad = LossSpaceConfig {
                node_mutation_probability: p,
                ..LossSpaceConfig::PAPER
            };
            let message = bad.build().unwrap_err().to_string();
            assert!(message.contains("node_mutation_probability"), "{message}");
        }
    }

    #[test]
    fn the_paper_starts_from_dqn_with_free_nodes() {
        use rand::SeedableRng;
        use ufh_core::MantissaBits;
        use ufh_search::CandidateHasher;

        let space = LossSpaceConfig::PAPER.build().unwrap();
        let hasher = super::super::UfhLossHasher::new(MantissaBits::f32(16).unwrap(), 0.0);
        let dqn = LossGraph::dqn();
        let mut rng = SearchRng::seed_from_u64(4);
        let firsts: Vec<LossGraph> = (0..20).map(|_| space.sample(&mut rng)).collect();
        for g in &firsts {
            // 14 op nodes, DQN's loss whatever the free nodes are.
            assert_eq!(g.nodes().len(), 14, "{g}");
            assert_eq!(g.nodes().last(), dqn.nodes().last());
            assert_eq!(hasher.hash(g), hasher.hash(&dqn), "{g}");
            assert_eq!(g.to_string(), dqn.to_string());
        }
        assert!(firsts.iter().any(|g| g.nodes() != firsts[0].nodes()));
        // Mutation can wire a free node in: some children differ from DQN.
        let changed = (0..200)
            .filter(|_| hasher.hash(&space.mutate(&firsts[0], &mut rng)) != hasher.hash(&dqn))
            .count();
        assert!(changed > 20, "{changed}");
        // The random start samples graphs of every size.
        let random = LossSpaceConfig::RANDOM_START.build().unwrap();
        assert!((0..50).any(|_| random.sample(&mut rng).nodes().len() != 14));
        let tight = LossSpaceConfig {
            max_nodes: 10,
            ..LossSpaceConfig::PAPER
        };
        assert_eq!(
            tight.build().unwrap_err(),
            LossSpaceError::StartTooLarge {
                nodes: 14,
                max_nodes: 10
            }
        );
    }
}
