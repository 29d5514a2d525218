//! AutoRL (the paper's Setup C, after Co-Reyes et al., "Evolving Reinforcement
//! Learning Algorithms"): the environments its loss graphs are trained on.
//!
//! * [`CartPole`]: gymnasium's classic-control CartPole, v0 (200 steps, the
//!   paper's) or v1 (500 steps).
//! * [`DynamicObstacles`]: MiniGrid's `Dynamic-Obstacles-6x6`.
//!
//! LunarLander, the third environment of the evolving-RL paper, is left out: it
//! needs Box2D's rigid-body physics, which no pure-Rust crate reproduces.
//!
//! Every environment owns its random stream, seeded by [`Environment::reset`], so
//! an episode is a function of its seed and actions on any machine. The streams
//! are Xoshiro256++, not NumPy's PCG64: episodes follow the same rules and
//! distributions as gymnasium's and MiniGrid's, not the same draws.

mod cartpole;
pub mod dqn;
mod evaluate;
pub mod graph;
mod gridworld;
mod hash;
mod space;

pub use cartpole::{CartPole, CartPoleState, CartPoleVersion};
pub use evaluate::LossEvaluator;
pub use gridworld::{Direction, DynamicObstacles, GridAction};
pub use hash::{EvolvingRlHasher, FakeTransitions, LossRun, UfhLossHasher};
pub use space::{LossGraphSpace, LossSpaceConfig, LossSpaceError, LossStart};

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The observation after the step.
    pub observation: Vec<f32>,
    /// The reward of the step.
    pub reward: f64,
    /// The episode ended in a terminal state (the pole fell, the agent hit an
    /// obstacle or reached the goal).
    pub terminated: bool,
    /// The episode was cut at its step limit.
    pub truncated: bool,
}

impl Step {
    /// Whether the episode is over, either way.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// An episodic environment with discrete actions and a flat observation.
pub trait Environment {
    /// Length of every observation.
    fn observation_len(&self) -> usize;

    /// Number of actions; actions are `0..actions()`.
    fn actions(&self) -> usize;

    /// The return range that normalises a score to `[0, 1]` (evolving-RL's
    /// clipping bounds): CartPole `[0, steps]`, the gridworld `[-1, 1]`.
    fn return_range(&self) -> (f64, f64);

    /// Starts an episode from `seed` and gives its first observation.
    fn reset(&mut self, seed: u64) -> Vec<f32>;

    /// Takes `action`.
    ///
    /// # Panics
    /// If `action` is not below [`Environment::actions`], or no episode is
    /// running (call [`Environment::reset`] first, and again after it ends).
    fn step(&mut self, action: usize) -> Step;
}
