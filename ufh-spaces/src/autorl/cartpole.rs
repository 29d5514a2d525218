//! gymnasium's classic-control CartPole.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::{Environment, Step};

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_CART + MASS_POLE;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLE_MASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE: f64 = 10.0;
const TAU: f64 = 0.02;
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

/// Which registered CartPole: the step limit of its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CartPoleVersion {
    /// `CartPole-v0`: 200 steps (the evolving-RL paper's).
    V0,
    /// `CartPole-v1`: 500 steps.
    V1,
}

impl CartPoleVersion {
    /// Steps before the episode is truncated.
    pub fn max_steps(self) -> u32 {
        match self {
            CartPoleVersion::V0 => 200,
            CartPoleVersion::V1 => 500,
        }
    }
}

/// The physical state: cart position and velocity, pole angle (radians from
/// upright) and angular velocity.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CartPoleState {
    /// Cart position.
    pub x: f64,
    /// Cart velocity.
    pub x_dot: f64,
    /// Pole angle.
    pub theta: f64,
    /// Pole angular velocity.
    pub theta_dot: f64,
}

/// CartPole as gymnasium defines it: gravity 9.8, cart 1.0 kg, pole 0.1 kg of
/// half-length 0.5, force ±10 N, τ = 0.02 s, explicit Euler (positions advance
/// with the old velocities); the episode terminates once |x| > 2.4 or
/// |θ| > 12°, is truncated on its last allowed step (terminated or not, as
/// gymnasium's `TimeLimit`), every step (the last included) rewards 1, and a
/// reset draws the four
/// state values from U(−0.05, 0.05). Action 0 pushes left, 1 right. The
/// observation is the state as four f32 values (gymnasium keeps the state in f64
/// and returns it as f32, as here).
#[derive(Debug, Clone)]
pub struct CartPole {
    version: CartPoleVersion,
    state: CartPoleState,
    steps: u32,
    running: bool,
    rng: Xoshiro256PlusPlus,
}

impl CartPole {
    /// A CartPole of `version`; call [`Environment::reset`] to start.
    pub fn new(version: CartPoleVersion) -> Self {
        Self {
            version,
            state: CartPoleState {
                x: 0.0,
                x_dot: 0.0,
                theta: 0.0,
                theta_dot: 0.0,
            },
            steps: 0,
            running: false,
            rng: Xoshiro256PlusPlus::seed_from_u64(0),
        }
    }

    /// The state.
    pub fn state(&self) -> CartPoleState {
        self.state
    }

    /// Puts the pole in `state` and starts an episode there (step count 0), so
    /// that steps can be checked against reference values.
    pub fn set_state(&mut self, state: CartPoleState) {
        self.state = state;
        self.steps = 0;
        self.running = true;
    }

    fn observation(&self) -> Vec<f32> {
        let s = self.state;
        vec![
            s.x as f32,
            s.x_dot as f32,
            s.theta as f32,
            s.theta_dot as f32,
        ]
    }
}

impl Environment for CartPole {
    fn observation_len(&self) -> usize {
        4
    }

    fn actions(&self) -> usize {
        2
    }

    fn return_range(&self) -> (f64, f64) {
        (0.0, f64::from(self.version.max_steps()))
    }

    fn reset(&mut self, seed: u64) -> Vec<f32> {
        self.rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut draw = || self.rng.random_range(-0.05..0.05);
        self.state = CartPoleState {
            x: draw(),
            x_dot: draw(),
            theta: draw(),
            theta_dot: draw(),
        };
        self.steps = 0;
        self.running = true;
        self.observation()
    }

    fn step(&mut self, action: usize) -> Step {
        assert!(action < 2, "CartPole has actions 0 and 1, not {action}");
        assert!(
            self.running,
            "CartPole stepped outside an episode: reset it first"
        );
        let CartPoleState {
            x,
            x_dot,
            theta,
            theta_dot,
        } = self.state;
        let force = if action == 1 { FORCE } else { -FORCE };
        let (sin, cos) = theta.sin_cos();
        // Squares first, as gymnasium's `np.square`: `(0.1·cos)·cos` differs from
        // `0.1·cos²` in the last bit for some angles.
        let temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sin) / TOTAL_MASS;
        let theta_acc = (GRAVITY * sin - cos * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * (cos * cos) / TOTAL_MASS));
        let x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos / TOTAL_MASS;
        self.state = CartPoleState {
            x: x + TAU * x_dot,
            x_dot: x_dot + TAU * x_acc,
            theta: theta + TAU * theta_dot,
            theta_dot: theta_dot + TAU * theta_acc,
        };
        self.steps += 1;
        let s = self.state;
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&s.x)
            || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&s.theta);
        // gymnasium's TimeLimit truncates at the limit whether or not the
        // episode also terminated there.
        let truncated = self.steps >= self.version.max_steps();
        self.running = !(terminated || truncated);
        Step {
            observation: self.observation(),
            reward: 1.0,
            terminated,
            truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn still() -> CartPoleState {
        CartPoleState {
            x: 0.0,
            x_dot: 0.0,
            theta: 0.0,
            theta_dot: 0.0,
        }
    }

    #[test]
    fn one_step_matches_the_euler_step_by_hand() {
        // From rest, pushed right: temp = 10 / 1.1; θ'' = (0 − temp) /
        // (0.5 (4/3 − 0.1 / 1.1)); x'' = temp − 0.05 θ'' / 1.1. Positions move with
        // the old (zero) velocities, velocities by τ times the accelerations.
        let mut env = CartPole::new(CartPoleVersion::V0);
        env.set_state(still());
        let step = env.step(1);
        let temp = 10.0 / 1.1;
        let theta_acc = -temp / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
        let x_acc = temp - 0.05 * theta_acc / 1.1;
        let s = env.state();
        assert_eq!((s.x, s.theta), (0.0, 0.0));
        assert!((s.x_dot - 0.02 * x_acc).abs() < 1e-15);
        assert!((s.theta_dot - 0.02 * theta_acc).abs() < 1e-15);
        assert!(
            (s.x_dot - 0.195_121_951_219_512_2).abs() < 1e-12,
            "{}",
            s.x_dot
        );
        assert!(
            (s.theta_dot + 0.292_682_926_829_268_3).abs() < 1e-12,
            "{}",
            s.theta_dot
        );
        assert_eq!(step.reward, 1.0);
        assert!(!step.done());

        // A tilted, moving pole pushed left, against the formulas with sin and cos.
        let start = CartPoleState {
            x: 0.1,
            x_dot: -0.3,
            theta: 0.05,
            theta_dot: 0.4,
        };
        env.set_state(start);
        env.step(0);
        let (sin, cos) = (0.05f64.sin(), 0.05f64.cos());
        let temp = (-10.0 + 0.05 * 0.16 * sin) / 1.1;
        let theta_acc = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos * cos / 1.1));
        let x_acc = temp - 0.05 * theta_acc * cos / 1.1;
        let s = env.state();
        assert!((s.x - (0.1 - 0.02 * 0.3)).abs() < 1e-15);
        assert!((s.theta - (0.05 + 0.02 * 0.4)).abs() < 1e-15);
        assert!((s.x_dot - (-0.3 + 0.02 * x_acc)).abs() < 1e-15);
        assert!((s.theta_dot - (0.4 + 0.02 * theta_acc)).abs() < 1e-15);
        assert_eq!(
            step_observation(&mut env),
            [
                s.x as f32,
                s.x_dot as f32,
                s.theta as f32,
                s.theta_dot as f32
            ]
        );
    }

    fn step_observation(env: &mut CartPole) -> [f32; 4] {
        let o = env.observation();
        [o[0], o[1], o[2], o[3]]
    }

    #[test]
    fn episodes_end_at_the_thresholds_and_the_time_limit() {
        let mut env = CartPole::new(CartPoleVersion::V0);
        // Past 2.4 m after one step of +0.02·x_dot.
        env.set_state(CartPoleState {
            x: 2.399,
            x_dot: 1.0,
            ..still()
        });
        let step = env.step(1);
        assert!(step.terminated && !step.truncated && step.reward == 1.0);
        // Past 12° after one step.
        env.set_state(CartPoleState {
            theta: THETA_THRESHOLD - 0.001,
            theta_dot: 1.0,
            ..still()
        });
        assert!(env.step(1).terminated);
        // At the limit of each version: a pole balanced by alternating pushes
        // from rest survives 200 (500) steps and is truncated on the last.
        for version in [CartPoleVersion::V0, CartPoleVersion::V1] {
            let mut env = CartPole::new(version);
            env.set_state(still());
            let mut steps = 0;
            let mut total = 0.0;
            loop {
                // Push against the pole's lean (and its motion).
                let s = env.state();
                let action = usize::from(s.theta + 0.5 * s.theta_dot > 0.0);
                let step = env.step(action);
                steps += 1;
                total += step.reward;
                if step.done() {
                    assert!(
                        step.truncated && !step.terminated,
                        "{version:?} fell at {steps}"
                    );
                    break;
                }
            }
            assert_eq!(steps, version.max_steps());
            assert_eq!(total, f64::from(version.max_steps()));
        }
    }

    /// gymnasium 1.4's trajectories (`ufh-bench/reference/cartpole_trajectories.py`
    /// wrote the file): 200 episodes per version from their initial states and
    /// actions, every step's f64 state, f32 observation and reward bit for bit
    /// (through the same FNV-1a digest), the step count and the final flags.
    #[test]
    fn replays_gymnasium_trajectories_bit_for_bit() {
        const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
        const FNV_PRIME: u64 = 0x0100_0000_01B3;
        fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
            for &b in bytes {
                h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
            h
        }
        fn state(field: &str) -> CartPoleState {
            let v: Vec<f64> = field
                .split(' ')
                .map(|w| f64::from_bits(u64::from_str_radix(w, 16).unwrap()))
                .collect();
            CartPoleState {
                x: v[0],
                x_dot: v[1],
                theta: v[2],
                theta_dot: v[3],
            }
        }
        let data = include_str!("../../data/autorl/cartpole-gymnasium.tsv");
        let mut matched = [0, 0];
        let mut departed = Vec::new();
        for line in data.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 9, "{line}");
            let version = match f[0] {
                "v0" => CartPoleVersion::V0,
                "v1" => CartPoleVersion::V1,
                other => panic!("version {other}"),
            };
            let mut env = CartPole::new(version);
            env.set_state(state(f[2]));
            let mut h = FNV_OFFSET;
            let (mut steps, mut last) = (0, None);
            for action in f[3].bytes() {
                let step = env.step(usize::from(action - b'0'));
                let s = env.state();
                for v in [s.x, s.x_dot, s.theta, s.theta_dot] {
                    h = fnv(h, &v.to_le_bytes());
                }
                for v in &step.observation {
                    h = fnv(h, &v.to_le_bytes());
                }
                h = fnv(h, &step.reward.to_le_bytes());
                steps += 1;
                let done = step.done();
                last = Some(step);
                if done {
                    break;
                }
            }
            let last = last.expect("an episode has a step");
            let same = steps.to_string() == f[4]
                && u8::from(last.terminated).to_string() == f[5]
                && u8::from(last.truncated).to_string() == f[6]
                && env.state() == state(f[7])
                && format!("{h:016x}") == f[8];
            if same {
                matched[usize::from(version == CartPoleVersion::V1)] += 1;
            } else {
                departed.push(format!("{} seed {}", f[0], f[1]));
            }
        }
        assert_eq!(matched, [200, 200], "departed from gymnasium: {departed:?}");
    }

    #[test]
    fn falling_on_the_last_allowed_step_is_terminated_and_truncated() {
        for version in [CartPoleVersion::V0, CartPoleVersion::V1] {
            let mut env = CartPole::new(version);
            env.set_state(CartPoleState {
                x: 2.399,
                x_dot: 1.0,
                ..still()
            });
            env.steps = version.max_steps() - 1;
            let step = env.step(1);
            assert!(step.terminated && step.truncated, "{version:?}");
        }
    }

    #[test]
    fn resets_draw_small_states_from_the_seed() {
        let mut env = CartPole::new(CartPoleVersion::V1);
        let first = env.reset(3);
        assert!(first.iter().all(|v| v.abs() < 0.05));
        assert_eq!(env.reset(3), first);
        assert_ne!(env.reset(4), first);
        // Always pushing right tips the pole within a few dozen steps.
        env.reset(5);
        let steps = (1..).find(|_| env.step(1).terminated).unwrap();
        assert!((5..60).contains(&steps), "{steps}");
    }

    #[test]
    fn stepping_after_the_end_is_a_caller_error() {
        let mut env = CartPole::new(CartPoleVersion::V0);
        env.set_state(CartPoleState {
            x: 2.4,
            x_dot: 1.0,
            ..still()
        });
        assert!(env.step(1).terminated);
        let stepped_again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| env.step(1)));
        let message = stepped_again.expect_err("a step after the end panics");
        let message = message
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| message.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(message.contains("reset it first"), "{message}");
    }
}
