//! DQN with a pluggable temporal-difference loss: the trainer that evaluates an
//! evolved loss (evolving-RL's DQN settings, scaled where measured).
//!
//! The Q-network is an MLP of ReLU hidden layers on `ufh-spaces::nn`'s
//! fixed-order kernels, trained by Adam on mini-batches from a uniform replay
//! buffer, with a target network copied every `target_update` steps and a linear
//! ε-greedy schedule. The loss is a [`TdLoss`]: given the batch's Q-values it
//! gives the mean loss and its gradient with respect to the online network's
//! Q-values, which back-propagate into the network. A non-finite loss or
//! Q-value ends the run as diverged: a fitness outcome, not a panic.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::{Environment, Step};
use crate::nn::kernels::{matmul_acc, matmul_at_acc, matmul_bt_acc};

/// One transition of the replay buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The state acted in, s_{t−1}.
    pub state: Vec<f32>,
    /// The action taken.
    pub action: usize,
    /// The reward received.
    pub reward: f32,
    /// The state reached, s_t.
    pub next_state: Vec<f32>,
    /// Whether s_t is terminal (no bootstrapping from it; a truncated episode's
    /// last state is not terminal).
    pub terminal: bool,
}

/// A ring buffer of transitions, sampled uniformly with replacement.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    capacity: usize,
    items: Vec<Transition>,
    next: usize,
}

impl ReplayBuffer {
    /// An empty buffer of at most `capacity` transitions (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            items: Vec::new(),
            next: 0,
        }
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds `t`, overwriting the oldest once full.
    pub fn push(&mut self, t: Transition) {
        if self.items.len() < self.capacity {
            self.items.push(t);
        } else {
            self.items[self.next] = t;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    /// `n` transitions drawn uniformly with replacement.
    ///
    /// # Panics
    /// If the buffer is empty.
    pub fn sample<'a>(&'a self, n: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<&'a Transition> {
        assert!(!self.items.is_empty(), "sampling an empty replay buffer");
        (0..n)
            .map(|_| &self.items[rng.random_range(0..self.items.len())])
            .collect()
    }
}

/// ε of the ε-greedy policy: linear from `start` to `end` over `decay_steps`
/// environment steps, then `end`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpsilonSchedule {
    /// ε at step 0.
    pub start: f64,
    /// ε from `decay_steps` on.
    pub end: f64,
    /// Steps of the linear decay.
    pub decay_steps: u64,
}

impl EpsilonSchedule {
    /// ε at environment step `step`.
    pub fn at(&self, step: u64) -> f64 {
        if step >= self.decay_steps {
            return self.end;
        }
        self.start + (self.end - self.start) * step as f64 / self.decay_steps as f64
    }
}

/// The Q-values a loss sees for a batch of `batch` transitions and `actions`
/// actions, each row-major `[batch × actions]`.
#[derive(Debug, Clone)]
pub struct LossInputs<'a> {
    /// Transitions in the batch.
    pub batch: usize,
    /// Actions per state.
    pub actions: usize,
    /// Online network at s_{t−1} (differentiated).
    pub q_prev: &'a [f32],
    /// Online network at s_t (differentiated).
    pub q_next: &'a [f32],
    /// Target network at s_{t−1}.
    pub target_prev: &'a [f32],
    /// Target network at s_t.
    pub target_next: &'a [f32],
    /// Actions taken.
    pub action: &'a [usize],
    /// Rewards.
    pub reward: &'a [f32],
    /// γ, or 0 where s_t is terminal.
    pub discount: &'a [f32],
    /// Seed of the batch's noise ([`Op::Noise`](super::graph::Op::Noise)): the
    /// training loop derives one per gradient step from its run's seed and the
    /// step's number (drawing nothing from the run's stream), the hashes fix it.
    pub noise_seed: u64,
}

/// A batch's loss inputs held by value: the fake batches of the hashes, and
/// test batches.
#[derive(Debug, Clone)]
pub(crate) struct OwnedInputs {
    pub(crate) batch: usize,
    pub(crate) actions: usize,
    /// Online at s_{t−1}, online at s_t, target at s_{t−1}, target at s_t.
    pub(crate) q: [Vec<f32>; 4],
    pub(crate) action: Vec<usize>,
    pub(crate) reward: Vec<f32>,
    pub(crate) discount: Vec<f32>,
    pub(crate) noise_seed: u64,
}

impl OwnedInputs {
    /// The batch as a loss sees it.
    pub(crate) fn inputs(&self) -> LossInputs<'_> {
        LossInputs {
            batch: self.batch,
            actions: self.actions,
            q_prev: &self.q[0],
            q_next: &self.q[1],
            target_prev: &self.q[2],
            target_next: &self.q[3],
            action: &self.action,
            reward: &self.reward,
            discount: &self.discount,
            noise_seed: self.noise_seed,
        }
    }
}

/// The gradient a loss gives back, shaped as the differentiated inputs.
#[derive(Debug, Clone)]
pub struct LossGradient {
    /// d loss / d `q_prev`.
    pub q_prev: Vec<f32>,
    /// d loss / d `q_next`.
    pub q_next: Vec<f32>,
}

/// A temporal-difference loss: the mean over the batch and its gradient.
pub trait TdLoss {
    /// The batch's mean loss, and its gradient with respect to the online
    /// network's Q-values.
    fn loss(&self, inputs: &LossInputs<'_>) -> (f32, LossGradient);

    /// Which of the four Q-value batches the loss reads: a DQN update computes
    /// only those (the others reach the loss as zeros). All four unless a loss
    /// says otherwise.
    fn reads(&self) -> QReads {
        QReads::ALL
    }
}

/// Which Q-value batches of [`LossInputs`] a loss reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QReads {
    /// `q_prev`, the online network at s_{t−1}.
    pub q_prev: bool,
    /// `q_next`, the online network at s_t.
    pub q_next: bool,
    /// `target_prev`, the target network at s_{t−1}.
    pub target_prev: bool,
    /// `target_next`, the target network at s_t.
    pub target_next: bool,
}

impl QReads {
    /// All four.
    pub const ALL: QReads = QReads {
        q_prev: true,
        q_next: true,
        target_prev: true,
        target_next: true,
    };
}

/// DQN's own loss: the mean of 0.5 · δ², δ = Q(s_{t−1}, a) − (r + γ · max_a'
/// Q_target(s_t, a')) (evolving-RL's L2 distance of the TD error).
#[derive(Debug, Clone, Copy, Default)]
pub struct DqnLoss;

impl TdLoss for DqnLoss {
    fn reads(&self) -> QReads {
        QReads {
            q_prev: true,
            q_next: false,
            target_prev: false,
            target_next: true,
        }
    }

    fn loss(&self, x: &LossInputs<'_>) -> (f32, LossGradient) {
        let a = x.actions;
        let mut grad = LossGradient {
            q_prev: vec![0.0; x.batch * a],
            q_next: vec![0.0; x.batch * a],
        };
        let mut total = 0.0f32;
        for i in 0..x.batch {
            let best_next = x.target_next[i * a..(i + 1) * a]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            let target = x.reward[i] + x.discount[i] * best_next;
            let delta = x.q_prev[i * a + x.action[i]] - target;
            total += 0.5 * delta * delta;
            grad.q_prev[i * a + x.action[i]] = delta / x.batch as f32;
        }
        (total / x.batch as f32, grad)
    }
}

/// One dense layer, weights `[in × out]` row-major.
#[derive(Debug, Clone)]
struct Dense {
    inputs: usize,
    outputs: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// Adam's moments of one layer.
#[derive(Debug, Clone)]
struct AdamState {
    m_w: Vec<f32>,
    v_w: Vec<f32>,
    m_b: Vec<f32>,
    v_b: Vec<f32>,
}

/// A standard normal draw truncated to [−2, 2] by drawing again, as
/// TensorFlow's `truncated_normal`.
fn truncated_normal(rng: &mut Xoshiro256PlusPlus) -> f64 {
    loop {
        let z = crate::gaussian::standard_normal(rng);
        if z.abs() <= 2.0 {
            return z;
        }
    }
}

/// An MLP from observations to one Q-value per action.
#[derive(Debug, Clone)]
pub struct QNetwork {
    layers: Vec<Dense>,
}

impl QNetwork {
    /// Sonnet's default initialisation, as evolving-RL's MLPs have it: weights
    /// from a normal of σ = 1/√fan_in truncated at 2σ (a draw outside is drawn
    /// again), zero biases, drawn from `rng`.
    pub fn new(
        inputs: usize,
        hidden: &[usize],
        actions: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Self {
        let mut widths = vec![inputs];
        widths.extend_from_slice(hidden);
        widths.push(actions);
        let layers = widths
            .windows(2)
            .map(|w| {
                let sigma = 1.0 / (w[0] as f64).sqrt();
                Dense {
                    inputs: w[0],
                    outputs: w[1],
                    weights: (0..w[0] * w[1])
                        .map(|_| (sigma * truncated_normal(rng)) as f32)
                        .collect(),
                    bias: vec![0.0; w[1]],
                }
            })
            .collect();
        Self { layers }
    }

    /// Actions (outputs per state).
    pub fn actions(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// Activations of every layer for `rows` observations (row-major), ReLU after
    /// each hidden layer; the last entry is the Q-values.
    fn forward(&self, x: &[f32], rows: usize) -> Vec<Vec<f32>> {
        let mut outputs: Vec<Vec<f32>> = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let input = outputs.last().map_or(x, Vec::as_slice);
            let mut z = vec![0.0f32; rows * layer.outputs];
            matmul_acc(
                &mut z,
                input,
                &layer.weights,
                rows,
                layer.inputs,
                layer.outputs,
            );
            for row in z.chunks_exact_mut(layer.outputs) {
                for (v, b) in row.iter_mut().zip(&layer.bias) {
                    *v += b;
                    if l + 1 < self.layers.len() {
                        *v = v.max(0.0);
                    }
                }
            }
            outputs.push(z);
        }
        outputs
    }

    /// Q-values of `rows` observations.
    pub fn q_values(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.forward(x, rows).pop().unwrap_or_default()
    }

    /// Gradients (per layer: weights, bias) of `Σ grad · Q(x)` given the forward
    /// activations, accumulated into `into`.
    fn backward(
        &self,
        x: &[f32],
        rows: usize,
        activations: &[Vec<f32>],
        grad_q: &[f32],
        into: &mut [(Vec<f32>, Vec<f32>)],
    ) {
        let mut grad = grad_q.to_vec();
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let input = if l == 0 { x } else { &activations[l - 1] };
            let (gw, gb) = &mut into[l];
            matmul_at_acc(gw, input, &grad, rows, layer.inputs, layer.outputs);
            for row in grad.chunks_exact(layer.outputs) {
                for (b, g) in gb.iter_mut().zip(row) {
                    *b += g;
                }
            }
            if l > 0 {
                let mut back = vec![0.0f32; rows * layer.inputs];
                matmul_bt_acc(
                    &mut back,
                    &grad,
                    &layer.weights,
                    rows,
                    layer.inputs,
                    layer.outputs,
                );
                for (g, &a) in back.iter_mut().zip(&activations[l - 1]) {
                    if a <= 0.0 {
                        *g = 0.0;
                    }
                }
                grad = back;
            }
        }
    }
}

/// DQN's settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DqnConfig {
    /// Hidden layer widths of the Q-network.
    pub hidden: Vec<usize>,
    /// Adam's learning rate.
    pub learning_rate: f32,
    /// Transitions per gradient step.
    pub batch: usize,
    /// Environment steps between target-network copies.
    pub target_update: u64,
    /// Transitions collected before learning starts.
    pub learning_starts: usize,
    /// Replay buffer capacity.
    pub replay_capacity: usize,
    /// The exploration schedule.
    pub epsilon: EpsilonSchedule,
    /// Discount γ.
    pub gamma: f32,
    /// Training episodes.
    pub episodes: usize,
    /// Episodes at the end whose returns make the score.
    pub score_episodes: usize,
}

impl DqnConfig {
    /// evolving-RL's settings for CartPole: MLP 256 × 256, Adam at 1e−4, batch
    /// 32, target copied every 100 steps, learning after 1,000 transitions, ε
    /// from 1.0 to 0.02 over 1,000 steps, γ = 0.99, 400 episodes, the score over
    /// the last 50.
    pub fn evolving_rl() -> Self {
        Self {
            hidden: vec![256, 256],
            learning_rate: 1e-4,
            batch: 32,
            target_update: 100,
            learning_starts: 1_000,
            replay_capacity: 100_000,
            epsilon: EpsilonSchedule {
                start: 1.0,
                end: 0.02,
                decay_steps: 1_000,
            },
            gamma: 0.99,
            episodes: 400,
            score_episodes: 50,
        }
    }
}

impl DqnConfig {
    /// The settings ufh's searches use: [`DqnConfig::evolving_rl`] with a
    /// 32 × 32 network, Adam at 1e−3 and 150 episodes. Measured on CartPole-v0
    /// with DQN's loss (release build, this project's 2-core VM, early December
    /// 2026, the other core busy, Glorot-uniform initialisation before the
    /// change to Sonnet's on 8 December; over 30 seeds after it, see
    /// `cargo xtask autorl --named-losses 30`): the paper's settings score 1.000 at seed 1 in 86 s;
    /// 64 × 64 at 1e−4 scores 0.30 (1.9 s), at 1e−3 1.000 (13.7 s, 400
    /// episodes); 32 × 32 at 1e−3 scores 0.94 and 1.00 at seeds 1 and 2 in 0.9 s
    /// with 150 episodes (0.96 and 0.92 with 250, 2.5 s), and 64 × 64 at 150
    /// episodes only 0.65 and 0.54. A candidate must train in about a second for
    /// a search on two cores, so these.
    pub fn scaled() -> Self {
        Self {
            hidden: vec![32, 32],
            learning_rate: 1e-3,
            episodes: 150,
            ..Self::evolving_rl()
        }
    }
}

/// What one DQN run gives.
#[derive(Debug, Clone, PartialEq)]
pub struct DqnRun {
    /// The return of every episode run.
    pub returns: Vec<f64>,
    /// Environment steps taken.
    pub steps: u64,
    /// Whether a loss or Q-value went non-finite (the run stops there).
    pub diverged: bool,
    /// Score in `[0, 1]`: the mean over the last `score_episodes` returns, each
    /// clipped to the environment's return range and rescaled; 0 if diverged.
    pub score: f64,
}

fn adam_step(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr: f32, c1: f32, c2: f32) {
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-7f32);
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
    }
}

/// DQN's learning state: the online and target Q-networks and Adam's moments.
/// [`train_dqn`] drives it; on its own it lets an update be timed.
#[derive(Debug, Clone)]
pub struct DqnLearner {
    online: QNetwork,
    target: QNetwork,
    adam: Vec<AdamState>,
    updates: u32,
    learning_rate: f32,
    gamma: f32,
    observation_len: usize,
}

impl DqnLearner {
    /// Fresh networks for `observation_len` inputs and `actions` outputs, of
    /// `config`'s widths, drawn from `rng`; the target a copy of the online one.
    pub fn new(
        observation_len: usize,
        actions: usize,
        config: &DqnConfig,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Self {
        let online = QNetwork::new(observation_len, &config.hidden, actions, rng);
        let adam = online
            .layers
            .iter()
            .map(|l| AdamState {
                m_w: vec![0.0; l.weights.len()],
                v_w: vec![0.0; l.weights.len()],
                m_b: vec![0.0; l.bias.len()],
                v_b: vec![0.0; l.bias.len()],
            })
            .collect();
        Self {
            target: online.clone(),
            online,
            adam,
            updates: 0,
            learning_rate: config.learning_rate,
            gamma: config.gamma,
            observation_len,
        }
    }

    /// The online network's first best action at `state`, or `None` if a
    /// Q-value is not finite.
    pub fn greedy(&self, state: &[f32]) -> Option<usize> {
        let q = self.online.q_values(state, 1);
        if !q.iter().all(|v| v.is_finite()) {
            return None;
        }
        // The first best action, so that ties break the same way everywhere.
        Some((0..q.len()).fold(0, |best, i| if q[i] > q[best] { i } else { best }))
    }

    /// Copies the online network into the target network.
    pub fn sync_target(&mut self) {
        self.target.clone_from(&self.online);
    }

    /// One gradient step of `loss` on `batch`: the Q-values the loss reads
    /// ([`TdLoss::reads`]; the others are passed as zeros, which a loss that
    /// does not read them never sees), its gradient back through the online
    /// network, and an Adam step. Returns the loss, or `None` if it is not
    /// finite (nothing is changed then).
    pub fn update(
        &mut self,
        batch: &[&Transition],
        loss: &dyn TdLoss,
        noise_seed: u64,
    ) -> Option<f32> {
        let b = batch.len();
        let (obs_len, actions) = (self.observation_len, self.online.actions());
        let reads = loss.reads();
        let mut prev = Vec::with_capacity(b * obs_len);
        let mut next = Vec::with_capacity(b * obs_len);
        for t in batch {
            prev.extend_from_slice(&t.state);
            next.extend_from_slice(&t.next_state);
        }
        // One zero batch stands for every batch the loss does not read.
        let zeros = vec![0.0f32; b * actions];
        let act_prev = reads.q_prev.then(|| self.online.forward(&prev, b));
        let act_next = reads.q_next.then(|| self.online.forward(&next, b));
        let target_prev = reads.target_prev.then(|| self.target.q_values(&prev, b));
        let target_next = reads.target_next.then(|| self.target.q_values(&next, b));
        // The online Q-values are the last layer's activations, borrowed.
        let q_prev = act_prev
            .as_ref()
            .and_then(|a| a.last())
            .map_or(&zeros[..], Vec::as_slice);
        let q_next = act_next
            .as_ref()
            .and_then(|a| a.last())
            .map_or(&zeros[..], Vec::as_slice);
        let target_prev = target_prev.as_deref().unwrap_or(&zeros);
        let target_next = target_next.as_deref().unwrap_or(&zeros);
        let action: Vec<usize> = batch.iter().map(|t| t.action).collect();
        let reward: Vec<f32> = batch.iter().map(|t| t.reward).collect();
        let discount: Vec<f32> = batch
            .iter()
            .map(|t| if t.terminal { 0.0 } else { self.gamma })
            .collect();
        let (value, grad) = loss.loss(&LossInputs {
            batch: b,
            actions,
            q_prev,
            q_next,
            target_prev,
            target_next,
            action: &action,
            reward: &reward,
            discount: &discount,
            noise_seed,
        });
        if !value.is_finite() {
            return None;
        }
        let mut grads: Vec<(Vec<f32>, Vec<f32>)> = self
            .online
            .layers
            .iter()
            .map(|l| (vec![0.0; l.weights.len()], vec![0.0; l.bias.len()]))
            .collect();
        if let Some(act_prev) = &act_prev {
            self.online
                .backward(&prev, b, act_prev, &grad.q_prev, &mut grads);
        }
        if let Some(act_next) = &act_next
            && grad.q_next.iter().any(|&g| g != 0.0)
        {
            self.online
                .backward(&next, b, act_next, &grad.q_next, &mut grads);
        }
        self.updates += 1;
        let updates = i32::try_from(self.updates).unwrap_or(i32::MAX);
        let c1 = 1.0 - 0.9f32.powi(updates);
        let c2 = 1.0 - 0.999f32.powi(updates);
        for ((layer, state), (gw, gb)) in self
            .online
            .layers
            .iter_mut()
            .zip(&mut self.adam)
            .zip(&grads)
        {
            adam_step(
                &mut layer.weights,
                gw,
                &mut state.m_w,
                &mut state.v_w,
                self.learning_rate,
                c1,
                c2,
            );
            adam_step(
                &mut layer.bias,
                gb,
                &mut state.m_b,
                &mut state.v_b,
                self.learning_rate,
                c1,
                c2,
            );
        }
        Some(value)
    }
}

/// Trains a fresh Q-network on `env` with `loss` for `config.episodes`
/// episodes; every random choice (weights, exploration, replay draws, episode
/// seeds) comes from `seed`.
pub fn train_dqn(
    env: &mut dyn Environment,
    loss: &dyn TdLoss,
    config: &DqnConfig,
    seed: u64,
) -> DqnRun {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut learner = DqnLearner::new(env.observation_len(), env.actions(), config, &mut rng);
    let actions = env.actions();
    let mut replay = ReplayBuffer::new(config.replay_capacity);
    let mut returns = Vec::with_capacity(config.episodes);
    let mut steps = 0u64;
    let mut diverged = false;
    'episodes: for _ in 0..config.episodes {
        let mut state = env.reset(rng.random());
        let mut total = 0.0;
        loop {
            let action = if rng.random::<f64>() < config.epsilon.at(steps) {
                rng.random_range(0..actions)
            } else {
                let Some(action) = learner.greedy(&state) else {
                    diverged = true;
                    break 'episodes;
                };
                action
            };
            let Step {
                observation,
                reward,
                terminated,
                truncated,
            } = env.step(action);
            total += reward;
            steps += 1;
            replay.push(Transition {
                state: std::mem::replace(&mut state, observation.clone()),
                action,
                reward: reward as f32,
                next_state: observation,
                terminal: terminated,
            });
            if replay.len() >= config.learning_starts.max(1) {
                let batch = replay.sample(config.batch, &mut rng);
                let noise_seed = seed.wrapping_add(
                    (u64::from(learner.updates) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                );
                if learner.update(&batch, loss, noise_seed).is_none() {
                    diverged = true;
                    break 'episodes;
                }
            }
            if steps.is_multiple_of(config.target_update.max(1)) {
                learner.sync_target();
            }
            if terminated || truncated {
                break;
            }
        }
        returns.push(total);
    }
    let (lo, hi) = env.return_range();
    let tail = &returns[returns.len().saturating_sub(config.score_episodes)..];
    let score = if diverged || tail.is_empty() {
        0.0
    } else {
        tail.iter()
            .map(|r| (r.clamp(lo, hi) - lo) / (hi - lo))
            .sum::<f64>()
            / tail.len() as f64
    };
    DqnRun {
        returns,
        steps,
        diverged,
        score,
    }
}

#[cfg(test)]
mod tests;
