//! Loss graphs: evolving-RL's typed programs over DQN's inputs, evaluated on a
//! batch with a reverse-mode gradient into the online Q-values.
//!
//! A graph is a list of nodes after the seven inputs (Q-network parameters,
//! action, s_{t−1}, target parameters, s_t, reward, discount), each an op with
//! input indices of earlier nodes. Values are per transition: a [`Ty::Float`] is
//! one number, a [`Ty::List`] or [`Ty::Prob`] one number per action. States and
//! parameters are read only by [`Op::QValues`], which looks up the batch's
//! Q-values of the online or target network at s_{t−1} or s_t, so the graph's
//! gradient stops at the online network's Q-values and [`TdLoss`] carries it
//! into the network. The loss is the batch mean of the output node.
//!
//! Gradients follow each op's formula; ops without one (argmax, comparisons of
//! max and min at the unchosen input, constants) pass none. Ties of max, min and
//! argmax go to the first input or action.

use std::fmt;

use super::dqn::{LossGradient, LossInputs, QReads, TdLoss};

mod backward;
use backward::backward;

/// The type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Ty {
    /// Network parameters (online or target).
    Params,
    /// A state.
    State,
    /// An action.
    Action,
    /// A float per transition.
    Float,
    /// A float per action per transition.
    List,
    /// A probability distribution over actions per transition.
    Prob,
}

/// An operation of a loss graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// `Q(params, state)`: the Q-values of every action.
    QValues,
    /// The value of the list at the action.
    Select,
    /// Maximum over the actions.
    MaxList,
    /// Sum over the actions.
    SumList,
    /// log Σ exp over the actions.
    LogSumExp,
    /// The first best action.
    ArgMax,
    /// Softmax over the actions.
    Softmax,
    /// Σ p log(p + 1e−8) of a distribution, as evolving-RL computes its
    /// "entropy" op: the negative entropy.
    Entropy,
    /// KL divergence Σ p (log p − log q).
    Kl,
    /// Euclidean norm over the actions.
    L2Norm,
    /// Dot product over the actions.
    Dot,
    /// `x + y`.
    Add,
    /// `x − y`.
    Sub,
    /// `x · y`.
    Mul,
    /// `x / (y + 1e−10)`.
    Div,
    /// `max(x, y)`.
    Max,
    /// `min(x, y)`.
    Min,
    /// `|x|`.
    Abs,
    /// `log(|x| + 1e−12)`.
    Log,
    /// `exp(x)`, clipped to at most 1e10.
    Exp,
    /// `0.1 · x`.
    Scale01,
    /// `0.5 (x − y)²`.
    L2Distance,
    /// The batch mean of a float, for every transition.
    BatchMean,
    /// The batch standard deviation of a float, for every transition.
    BatchStd,
    /// `x + ε`, ε ~ N(0, 1) (evolving-RL's `GaussianNoise(1)`) drawn per element from the batch's noise seed
    /// ([`LossInputs::noise_seed`]) and the op's rank among the graph's noise
    /// ops: seeded, so a batch and a graph give the same values every time.
    /// Its gradient with respect to `x` is 1.
    Noise,
    /// The constant 0.5.
    Const05,
    /// The constant 0.2.
    Const02,
    /// The constant 0.1.
    Const01,
    /// The constant 0.01.
    Const001,
}

impl Op {
    /// Every op, in a fixed order (sampling draws from it).
    pub const ALL: [Op; 29] = [
        Op::QValues,
        Op::Select,
        Op::MaxList,
        Op::SumList,
        Op::LogSumExp,
        Op::ArgMax,
        Op::Softmax,
        Op::Entropy,
        Op::Kl,
        Op::L2Norm,
        Op::Dot,
        Op::Add,
        Op::Sub,
        Op::Mul,
        Op::Div,
        Op::Max,
        Op::Min,
        Op::Abs,
        Op::Log,
        Op::Exp,
        Op::Scale01,
        Op::L2Distance,
        Op::BatchMean,
        Op::BatchStd,
        Op::Noise,
        Op::Const05,
        Op::Const02,
        Op::Const01,
        Op::Const001,
    ];

    /// Inputs the op reads.
    pub fn arity(self) -> usize {
        match self {
            Op::Const05 | Op::Const02 | Op::Const01 | Op::Const001 => 0,
            Op::MaxList
            | Op::SumList
            | Op::LogSumExp
            | Op::ArgMax
            | Op::Softmax
            | Op::Entropy
            | Op::L2Norm
            | Op::Abs
            | Op::Log
            | Op::Exp
            | Op::Scale01
            | Op::Noise
            | Op::BatchMean
            | Op::BatchStd => 1,
            _ => 2,
        }
    }

    /// The output type for inputs of types `inputs`, or `None` if the op does
    /// not take them.
    pub fn output(self, inputs: &[Ty]) -> Option<Ty> {
        use Ty::*;
        let numeric = |t: Ty| matches!(t, Float | List);
        match (self, inputs) {
            (Op::QValues, [Params, State]) => Some(List),
            (Op::Select, [List, Action]) => Some(Float),
            (Op::MaxList | Op::SumList | Op::LogSumExp | Op::L2Norm, [List]) => Some(Float),
            (Op::ArgMax, [List]) => Some(Action),
            (Op::Softmax, [List]) => Some(Prob),
            (Op::Entropy, [Prob]) => Some(Float),
            (Op::Kl, [Prob, Prob]) => Some(Float),
            (Op::Dot, [List, List]) => Some(Float),
            (Op::L2Distance, [Float, Float]) => Some(Float),
            (Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Max | Op::Min, [a, b])
                if a == b && numeric(*a) =>
            {
                Some(*a)
            }
            (Op::Abs | Op::Log | Op::Exp | Op::Scale01 | Op::Noise, [a]) if numeric(*a) => Some(*a),
            (Op::BatchMean | Op::BatchStd, [Float]) => Some(Float),
            (Op::Const05 | Op::Const02 | Op::Const01 | Op::Const001, []) => Some(Float),
            _ => None,
        }
    }

    /// The op's name in formulas.
    pub fn name(self) -> &'static str {
        match self {
            Op::QValues => "Q",
            Op::Select => "select",
            Op::MaxList => "max_a",
            Op::SumList => "sum_a",
            Op::LogSumExp => "logsumexp",
            Op::ArgMax => "argmax",
            Op::Softmax => "softmax",
            Op::Entropy => "entropy",
            Op::Kl => "kl",
            Op::L2Norm => "norm",
            Op::Dot => "dot",
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Max => "max",
            Op::Min => "min",
            Op::Abs => "abs",
            Op::Log => "log",
            Op::Exp => "exp",
            Op::Scale01 => "0.1*",
            Op::L2Distance => "l2",
            Op::BatchMean => "batch_mean",
            Op::BatchStd => "batch_std",
            Op::Noise => "noise",
            Op::Const05 => "0.5",
            Op::Const02 => "0.2",
            Op::Const01 => "0.1",
            Op::Const001 => "0.01",
        }
    }
}

/// The seven inputs, by index.
pub mod input {
    /// Online Q-network parameters θ.
    pub const PARAMS: usize = 0;
    /// The action a.
    pub const ACTION: usize = 1;
    /// The state s_{t−1}.
    pub const PREV_STATE: usize = 2;
    /// Target network parameters θ'.
    pub const TARGET_PARAMS: usize = 3;
    /// The state s_t.
    pub const STATE: usize = 4;
    /// The reward r.
    pub const REWARD: usize = 5;
    /// The discount γ (0 at a terminal s_t).
    pub const DISCOUNT: usize = 6;
    /// How many.
    pub const COUNT: usize = 7;
}

/// Types of the seven inputs.
pub const INPUT_TYPES: [Ty; input::COUNT] = [
    Ty::Params,
    Ty::Action,
    Ty::State,
    Ty::Params,
    Ty::State,
    Ty::Float,
    Ty::Float,
];

const INPUT_NAMES: [&str; input::COUNT] = ["θ", "a", "s_prev", "θ_target", "s", "r", "γ"];

/// One node: an op and the indices of its inputs (unused slots 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Node {
    /// The op.
    pub op: Op,
    /// Indices of earlier nodes (inputs count first, from 0).
    pub inputs: [usize; 2],
}

/// Why a graph is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A node reads a node that is not before it.
    #[error("node {node} reads node {input}, which is not before it")]
    Order {
        /// The node (index among all nodes, inputs first).
        node: usize,
        /// The input it reads.
        input: usize,
    },
    /// A node's op does not take its inputs' types.
    #[error("node {node}: {op:?} does not take {inputs:?}")]
    Types {
        /// The node.
        node: usize,
        /// Its op.
        op: Op,
        /// Its inputs' types.
        inputs: Vec<Ty>,
    },
    /// The output is not a float.
    #[error("the output is {0:?}, not a float")]
    Output(Ty),
    /// The output does not depend on the online Q-network.
    #[error("the output does not depend on the Q-network's parameters")]
    NoParameters,
    /// The graph has no nodes after its inputs.
    #[error("the graph has no nodes")]
    Empty,
}

/// A loss graph; the last node is the output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LossGraph {
    nodes: Vec<Node>,
}

/// A computed value: `data` holds one float per transition (`Float`), one per
/// action per transition (`List`, `Prob`), or the action indices (`Action`, as
/// floats).
#[derive(Debug, Clone)]
struct Value {
    ty: Ty,
    data: Vec<f32>,
    /// For `QValues`: which of the four batches (prev online, next online,
    /// prev target, next target).
    q: Option<usize>,
}

const EPS_LOG: f32 = 1e-12;
/// The ε inside the entropy op's log, evolving-RL's.
const EPS_ENTROPY: f32 = 1e-8;
const EPS_DIV: f32 = 1e-10;
const EXP_CLIP: f32 = 1e10;

impl LossGraph {
    /// A graph of `nodes` after the seven inputs, checked.
    pub fn new(nodes: Vec<Node>) -> Result<Self, GraphError> {
        let graph = Self { nodes };
        graph.check()?;
        Ok(graph)
    }

    /// The nodes after the inputs.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Types of every node (inputs first), or the first type error.
    pub fn types(&self) -> Result<Vec<Ty>, GraphError> {
        let mut types = INPUT_TYPES.to_vec();
        for (k, node) in self.nodes.iter().enumerate() {
            let index = input::COUNT + k;
            let arity = node.op.arity();
            for &i in &node.inputs[..arity] {
                if i >= index {
                    return Err(GraphError::Order {
                        node: index,
                        input: i,
                    });
                }
            }
            let inputs: Vec<Ty> = node.inputs[..arity].iter().map(|&i| types[i]).collect();
            let ty = node.op.output(&inputs).ok_or(GraphError::Types {
                node: index,
                op: node.op,
                inputs,
            })?;
            types.push(ty);
        }
        Ok(types)
    }

    fn check(&self) -> Result<(), GraphError> {
        if self.nodes.is_empty() {
            return Err(GraphError::Empty);
        }
        let types = self.types()?;
        let out = *types.last().expect("non-empty");
        if out != Ty::Float {
            return Err(GraphError::Output(out));
        }
        if !self.live()[input::PARAMS] {
            return Err(GraphError::NoParameters);
        }
        Ok(())
    }

    /// Which nodes (inputs first) the output depends on.
    pub fn live(&self) -> Vec<bool> {
        let n = input::COUNT + self.nodes.len();
        let mut live = vec![false; n];
        live[n - 1] = true;
        for index in (input::COUNT..n).rev() {
            if live[index] {
                let node = self.nodes[index - input::COUNT];
                for &i in &node.inputs[..node.op.arity()] {
                    live[i] = true;
                }
            }
        }
        live
    }

    /// DQN's loss: `l2(select(Q(θ, s_prev), a), r + γ · max_a Q(θ_target, s))`.
    pub fn dqn() -> Self {
        let mut nodes = Vec::new();
        let (q, y, _) = dqn_parts(&mut nodes);
        push(&mut nodes, Op::L2Distance, [q, y]);
        Self::new(nodes).expect("DQN's graph is valid")
    }

    /// DQNReg (evolving-RL's discovery): `0.1 · Q(s, a) + δ²`, δ = Q(s, a) − Y.
    pub fn dqn_reg() -> Self {
        let mut nodes = Vec::new();
        let (q, y, _) = dqn_parts(&mut nodes);
        let delta = push(&mut nodes, Op::Sub, [q, y]);
        let square = push(&mut nodes, Op::Mul, [delta, delta]);
        let reg = push(&mut nodes, Op::Scale01, [q, 0]);
        push(&mut nodes, Op::Add, [reg, square]);
        Self::new(nodes).expect("DQNReg's graph is valid")
    }

    /// DQNClipped (evolving-RL's discovery): `max(Q(s, a), δ² + Y) + max(δ, γ ·
    /// (max_a' Q_target(s', a'))²)`.
    pub fn dqn_clipped() -> Self {
        let mut nodes = Vec::new();
        let (q, y, best) = dqn_parts(&mut nodes);
        let delta = push(&mut nodes, Op::Sub, [q, y]);
        let square = push(&mut nodes, Op::Mul, [delta, delta]);
        let left_in = push(&mut nodes, Op::Add, [square, y]);
        let left = push(&mut nodes, Op::Max, [q, left_in]);
        let best_sq = push(&mut nodes, Op::Mul, [best, best]);
        let right_in = push(&mut nodes, Op::Mul, [input::DISCOUNT, best_sq]);
        let right = push(&mut nodes, Op::Max, [delta, right_in]);
        push(&mut nodes, Op::Add, [left, right]);
        Self::new(nodes).expect("DQNClipped's graph is valid")
    }

    /// The batch's per-transition output values (the hash reads these) and, if
    /// `grad` is asked for, the gradient of their mean.
    fn run(&self, x: &LossInputs<'_>, want_grad: bool) -> (Vec<f32>, Option<LossGradient>) {
        let (b, a) = (x.batch, x.actions);
        let mut values: Vec<Value> = Vec::with_capacity(input::COUNT + self.nodes.len());
        for (i, &ty) in INPUT_TYPES.iter().enumerate() {
            let data = match i {
                input::ACTION => x.action.iter().map(|&v| v as f32).collect(),
                input::REWARD => x.reward.to_vec(),
                input::DISCOUNT => x.discount.to_vec(),
                _ => Vec::new(),
            };
            values.push(Value { ty, data, q: None });
        }
        let mut noise_rank = 0u64;
        for node in &self.nodes {
            let v = if node.op == Op::Noise {
                noise_rank += 1;
                let mut v = values[node.inputs[0]].clone();
                v.q = None;
                add_noise(&mut v.data, x.noise_seed, noise_rank);
                v
            } else {
                forward(node, &values, x, b, a)
            };
            values.push(v);
        }
        let out = values.last().expect("a node").data.clone();
        if !want_grad {
            return (out, None);
        }
        // Reverse pass.
        let live = self.live();
        let mut grads: Vec<Vec<f32>> = values.iter().map(|v| vec![0.0; v.data.len()]).collect();
        let last = grads.len() - 1;
        grads[last].fill(1.0 / b as f32);
        let mut gradient = LossGradient {
            q_prev: vec![0.0; b * a],
            q_next: vec![0.0; b * a],
        };
        for k in (0..self.nodes.len()).rev() {
            let index = input::COUNT + k;
            if !live[index] {
                continue;
            }
            let node = self.nodes[k];
            let g = std::mem::take(&mut grads[index]);
            if node.op == Op::QValues {
                match values[index].q {
                    Some(0) => add_into(&mut gradient.q_prev, &g),
                    Some(1) => add_into(&mut gradient.q_next, &g),
                    _ => {}
                }
                continue;
            }
            backward(node, &values, index, &g, &mut grads, b, a);
        }
        (out, Some(gradient))
    }

    /// The per-transition outputs on a batch, for the functional hash.
    pub fn outputs(&self, x: &LossInputs<'_>) -> Vec<f32> {
        self.run(x, false).0
    }
}

impl TdLoss for LossGraph {
    /// The Q-value batches of the graph's live `QValues` nodes.
    fn reads(&self) -> QReads {
        let live = self.live();
        let mut reads = QReads {
            q_prev: false,
            q_next: false,
            target_prev: false,
            target_next: false,
        };
        for (k, node) in self.nodes.iter().enumerate() {
            if node.op == Op::QValues && live[input::COUNT + k] {
                // As `forward` picks the batch.
                let online = node.inputs[0] == input::PARAMS;
                let prev = node.inputs[1] == input::PREV_STATE;
                match (online, prev) {
                    (true, true) => reads.q_prev = true,
                    (true, false) => reads.q_next = true,
                    (false, true) => reads.target_prev = true,
                    (false, false) => reads.target_next = true,
                }
            }
        }
        reads
    }

    fn loss(&self, x: &LossInputs<'_>) -> (f32, LossGradient) {
        let (out, grad) = self.run(x, true);
        let mean = out.iter().sum::<f32>() / out.len().max(1) as f32;
        (mean, grad.expect("asked for"))
    }
}

fn push(nodes: &mut Vec<Node>, op: Op, inputs: [usize; 2]) -> usize {
    nodes.push(Node { op, inputs });
    input::COUNT + nodes.len() - 1
}

/// Pushes Y = r + γ · max_a Q(θ_target, s) and Q(θ, s_prev)[a]; returns the
/// nodes of Q(s, a), Y and max_a Q(θ_target, s).
fn dqn_parts(nodes: &mut Vec<Node>) -> (usize, usize, usize) {
    let target = push(nodes, Op::QValues, [input::TARGET_PARAMS, input::STATE]);
    let best = push(nodes, Op::MaxList, [target, 0]);
    let discounted = push(nodes, Op::Mul, [input::DISCOUNT, best]);
    let y = push(nodes, Op::Add, [input::REWARD, discounted]);
    let q_all = push(nodes, Op::QValues, [input::PARAMS, input::PREV_STATE]);
    let q = push(nodes, Op::Select, [q_all, input::ACTION]);
    (q, y, best)
}

fn add_into(into: &mut [f32], g: &[f32]) {
    for (a, b) in into.iter_mut().zip(g) {
        *a += b;
    }
}

fn constant(op: Op) -> f32 {
    match op {
        Op::Const05 => 0.5,
        Op::Const02 => 0.2,
        Op::Const01 => 0.1,
        _ => 0.01,
    }
}

/// Standard deviation of [`Op::Noise`]: evolving-RL's `GaussianNoise(1)`.
const NOISE_SD: f32 = 1.0;

/// Adds N(0, NOISE_SD²) to every element, drawn from a stream seeded by the
/// batch's seed and the noise op's rank (1 for the graph's first noise op).
fn add_noise(data: &mut [f32], seed: u64, rank: u64) {
    use rand::SeedableRng;
    let stream = seed ^ rank.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut rng = ufh_search::SearchRng::seed_from_u64(stream);
    for v in data {
        *v += NOISE_SD * crate::gaussian::standard_normal(&mut rng) as f32;
    }
}

fn forward<'v>(node: &Node, values: &'v [Value], x: &LossInputs<'_>, b: usize, a: usize) -> Value {
    let arg = |i: usize| &values[node.inputs[i]];
    let float = |data: Vec<f32>| Value {
        ty: Ty::Float,
        data,
        q: None,
    };
    // Per-transition rows of a list, borrowed (no copy per row).
    let rows = |v: &'v Value| v.data.chunks_exact(a);
    let op = node.op;
    match op {
        Op::QValues => {
            let online = node.inputs[0] == input::PARAMS;
            let prev = node.inputs[1] == input::PREV_STATE;
            let (data, q) = match (online, prev) {
                (true, true) => (x.q_prev, 0),
                (true, false) => (x.q_next, 1),
                (false, true) => (x.target_prev, 2),
                (false, false) => (x.target_next, 3),
            };
            Value {
                ty: Ty::List,
                data: data.to_vec(),
                q: Some(q),
            }
        }
        Op::Select => {
            let (list, action) = (arg(0), arg(1));
            float(
                (0..b)
                    .map(|i| list.data[i * a + action.data[i] as usize])
                    .collect(),
            )
        }
        Op::MaxList => float(
            rows(arg(0))
                .map(|r| r.iter().copied().fold(f32::NEG_INFINITY, f32::max))
                .collect(),
        ),
        Op::SumList => float(rows(arg(0)).map(|r| r.iter().sum()).collect()),
        Op::LogSumExp => float(
            rows(arg(0))
                .map(|r| {
                    let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    m + r.iter().map(|v| (v - m).exp()).sum::<f32>().ln()
                })
                .collect(),
        ),
        Op::ArgMax => Value {
            ty: Ty::Action,
            data: rows(arg(0))
                .map(|r| (0..a).fold(0, |best, i| if r[i] > r[best] { i } else { best }) as f32)
                .collect(),
            q: None,
        },
        Op::Softmax => Value {
            ty: Ty::Prob,
            data: rows(arg(0)).flat_map(softmax).collect(),
            q: None,
        },
        Op::Entropy => float(
            rows(arg(0))
                .map(|p| p.iter().map(|&p| p * (p + EPS_ENTROPY).ln()).sum::<f32>())
                .collect(),
        ),
        Op::Kl => {
            let (p, q) = (rows(arg(0)), rows(arg(1)));
            float(
                p.zip(q)
                    .map(|(p, q)| {
                        p.iter()
                            .zip(q)
                            .map(|(&p, &q)| p * ((p + EPS_LOG).ln() - (q + EPS_LOG).ln()))
                            .sum()
                    })
                    .collect(),
            )
        }
        Op::L2Norm => float(
            rows(arg(0))
                .map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt())
                .collect(),
        ),
        Op::Dot => {
            let (p, q) = (rows(arg(0)), rows(arg(1)));
            float(
                p.zip(q)
                    .map(|(p, q)| p.iter().zip(q).map(|(x, y)| x * y).sum())
                    .collect(),
            )
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Max | Op::Min | Op::L2Distance => {
            let (p, q) = (arg(0), arg(1));
            let data = p
                .data
                .iter()
                .zip(&q.data)
                .map(|(&x, &y)| match op {
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x * y,
                    Op::Div => x / (y + EPS_DIV),
                    Op::Max => x.max(y),
                    Op::Min => x.min(y),
                    _ => 0.5 * (x - y) * (x - y),
                })
                .collect();
            Value {
                ty: if op == Op::L2Distance {
                    Ty::Float
                } else {
                    p.ty
                },
                data,
                q: None,
            }
        }
        Op::Abs | Op::Log | Op::Exp | Op::Scale01 => {
            let p = arg(0);
            let data = p
                .data
                .iter()
                .map(|&v| match op {
                    Op::Abs => v.abs(),
                    Op::Log => (v.abs() + EPS_LOG).ln(),
                    Op::Exp => v.exp().min(EXP_CLIP),
                    _ => 0.1 * v,
                })
                .collect();
            Value {
                ty: p.ty,
                data,
                q: None,
            }
        }
        Op::BatchMean | Op::BatchStd => {
            let v = &arg(0).data;
            let mean = v.iter().sum::<f32>() / b as f32;
            let out = if op == Op::BatchMean {
                mean
            } else {
                (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / b as f32).sqrt()
            };
            float(vec![out; b])
        }
        Op::Const05 | Op::Const02 | Op::Const01 | Op::Const001 => float(vec![constant(op); b]),
        // Its draws depend on the op's rank in the graph, which only the graph's
        // pass knows.
        Op::Noise => unreachable!("LossGraph::run draws the noise op's values"),
    }
}

fn softmax(r: &[f32]) -> Vec<f32> {
    let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = r.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

impl fmt::Display for LossGraph {
    /// The output as a formula over the inputs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text: Vec<String> = INPUT_NAMES.iter().map(|s| (*s).to_string()).collect();
        for node in &self.nodes {
            let args: Vec<&str> = node.inputs[..node.op.arity()]
                .iter()
                .map(|&i| text[i].as_str())
                .collect();
            let t = match (node.op, args.as_slice()) {
                (Op::Add | Op::Sub | Op::Mul | Op::Div, [x, y]) => {
                    format!("({x} {} {y})", node.op.name())
                }
                (Op::Scale01, [x]) => format!("0.1*{x}"),
                (_, []) => node.op.name().to_string(),
                (_, args) => format!("{}({})", node.op.name(), args.join(", ")),
            };
            text.push(t);
        }
        f.write_str(text.last().expect("inputs"))
    }
}

#[cfg(test)]
pub(crate) mod tests;
