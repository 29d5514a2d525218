//! MiniGrid's `Dynamic-Obstacles-6x6`.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::{Environment, Step};

/// Side of the grid, walls included.
const SIZE: i32 = 6;
/// Free cells per side inside the walls.
const INNER: i32 = SIZE - 2;
const OBSTACLES: usize = 3;
const MAX_STEPS: u32 = 4 * (SIZE * SIZE) as u32;
const START: (i32, i32) = (1, 1);
const GOAL: (i32, i32) = (SIZE - 2, SIZE - 2);
/// MiniGrid's `place_obj` attempts before it gives up (the ball then stays).
const PLACE_TRIES: usize = 100;

/// Where the agent faces, in MiniGrid's order (0 = east, clockwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    /// +x.
    East,
    /// +y.
    South,
    /// −x.
    West,
    /// −y.
    North,
}

impl Direction {
    const ALL: [Direction; 4] = [
        Direction::East,
        Direction::South,
        Direction::West,
        Direction::North,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn vector(self) -> (i32, i32) {
        match self {
            Direction::East => (1, 0),
            Direction::South => (0, 1),
            Direction::West => (-1, 0),
            Direction::North => (0, -1),
        }
    }

    fn turned(self, by: i32) -> Direction {
        Direction::ALL[(self.index() as i32 + by).rem_euclid(4) as usize]
    }
}

/// The three actions of the environment (MiniGrid's first three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridAction {
    /// Turn counter-clockwise.
    Left = 0,
    /// Turn clockwise.
    Right = 1,
    /// Move one cell ahead.
    Forward = 2,
}

/// `Dynamic-Obstacles-6x6` as MiniGrid defines it: a 6×6 grid walled around, the
/// agent starting at (1, 1) facing east, the goal at (4, 4), three balls placed
/// uniformly on free cells. Every step, before the agent acts, each ball moves to
/// a uniform free cell of its 3×3 neighbourhood (not a wall, ball, the goal or the
/// agent; after 100 failed draws it stays). Moving forward when, before the balls
/// moved, the cell ahead held a ball or a wall gives −1 and ends the episode;
/// reaching the goal gives 1 − 0.9 · (steps / 144) and ends it; the 144th step
/// truncates it (also when it ends it). Actions: 0 left, 1 right, 2 forward.
///
/// Observation (ufh's choice, a named difference from evolving-RL): 36 values,
/// fully observed — the agent's cell one-hot over the 16 free cells
/// (row-major), its direction one-hot over 4, and the 16 free cells' ball
/// occupancy (1 where a ball is). Evolving-RL observed the grid through its
/// `FullyObsWrapperV3`: the 6 × 6 × 3 = 108 (object, colour, state) codes of
/// every cell, normalised. Both are fully observed and carry the same
/// information: the walls and the goal never move, each object has one colour,
/// and the agent's cell holds its direction. The one-hot form is kept as the
/// same states without the codes that never change; how a network learns from
/// either was not compared.
#[derive(Debug, Clone)]
pub struct DynamicObstacles {
    agent: (i32, i32),
    direction: Direction,
    balls: [(i32, i32); OBSTACLES],
    steps: u32,
    running: bool,
    rng: Xoshiro256PlusPlus,
}

impl Default for DynamicObstacles {
    fn default() -> Self {
        Self::new()
    }
}

impl DynamicObstacles {
    /// The environment; call [`Environment::reset`] to start.
    pub fn new() -> Self {
        Self {
            agent: START,
            direction: Direction::East,
            balls: [(2, 2), (3, 3), (2, 3)],
            steps: 0,
            running: false,
            rng: Xoshiro256PlusPlus::seed_from_u64(0),
        }
    }

    /// Steps before truncation: 4 · 6².
    pub const MAX_STEPS: u32 = MAX_STEPS;

    /// The agent's cell and direction.
    pub fn agent(&self) -> ((i32, i32), Direction) {
        (self.agent, self.direction)
    }

    /// The balls' cells.
    pub fn balls(&self) -> [(i32, i32); OBSTACLES] {
        self.balls
    }

    /// Starts an episode from a given layout (step count 0) with the ball moves
    /// drawn from `seed`, so that rules can be checked on chosen positions.
    ///
    /// # Panics
    /// If a position is outside the free cells, on the goal, or shared.
    pub fn set_layout(
        &mut self,
        agent: (i32, i32),
        direction: Direction,
        balls: [(i32, i32); OBSTACLES],
        seed: u64,
    ) {
        let mut all = vec![agent];
        all.extend(balls);
        for (i, &p) in all.iter().enumerate() {
            assert!(Self::inside(p), "{p:?} is not a free cell");
            assert!(i == 0 || p != GOAL, "a ball on the goal at {p:?}");
            assert!(!all[..i].contains(&p), "two objects at {p:?}");
        }
        self.agent = agent;
        self.direction = direction;
        self.balls = balls;
        self.steps = 0;
        self.running = true;
        self.rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    }

    fn inside((x, y): (i32, i32)) -> bool {
        (1..=INNER).contains(&x) && (1..=INNER).contains(&y)
    }

    fn has_ball(&self, p: (i32, i32)) -> bool {
        self.balls.contains(&p)
    }

    fn observation(&self) -> Vec<f32> {
        let cell = |(x, y): (i32, i32)| ((y - 1) * INNER + (x - 1)) as usize;
        let mut o = vec![0.0f32; 36];
        o[cell(self.agent)] = 1.0;
        o[16 + self.direction.index()] = 1.0;
        for &b in &self.balls {
            o[20 + cell(b)] = 1.0;
        }
        o
    }

    /// MiniGrid's `place_obj(ball, top = old − (1, 1), size = (3, 3))`: uniform
    /// draws over the neighbourhood clipped to the grid, rejecting occupied
    /// cells (walls, the goal, balls — the ball's own old cell included — and
    /// the agent).
    fn move_ball(&mut self, i: usize) {
        let (ox, oy) = self.balls[i];
        let (x0, y0) = ((ox - 1).max(0), (oy - 1).max(0));
        let (x1, y1) = ((ox + 2).min(SIZE), (oy + 2).min(SIZE));
        for _ in 0..PLACE_TRIES {
            let p = (self.rng.random_range(x0..x1), self.rng.random_range(y0..y1));
            if Self::inside(p) && p != GOAL && !self.has_ball(p) && p != self.agent {
                self.balls[i] = p;
                return;
            }
        }
    }
}

impl Environment for DynamicObstacles {
    fn observation_len(&self) -> usize {
        36
    }

    fn actions(&self) -> usize {
        3
    }

    fn return_range(&self) -> (f64, f64) {
        (-1.0, 1.0)
    }

    fn reset(&mut self, seed: u64) -> Vec<f32> {
        self.rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        self.agent = START;
        self.direction = Direction::East;
        self.steps = 0;
        self.running = true;
        // Balls one by one on uniform free cells (not the agent's or the goal's).
        let mut placed = 0;
        while placed < OBSTACLES {
            let p = (
                self.rng.random_range(1..=INNER),
                self.rng.random_range(1..=INNER),
            );
            if p != START && p != GOAL && !self.balls[..placed].contains(&p) {
                self.balls[placed] = p;
                placed += 1;
            }
        }
        self.observation()
    }

    fn step(&mut self, action: usize) -> Step {
        assert!(
            action < 3,
            "DynamicObstacles has actions 0, 1 and 2, not {action}"
        );
        assert!(
            self.running,
            "DynamicObstacles stepped outside an episode: reset it first"
        );
        let (dx, dy) = self.direction.vector();
        let front = (self.agent.0 + dx, self.agent.1 + dy);
        let blocked = !Self::inside(front) || self.has_ball(front);
        for i in 0..OBSTACLES {
            self.move_ball(i);
        }
        self.steps += 1;
        let mut reward = 0.0;
        let mut terminated = false;
        match action {
            0 => self.direction = self.direction.turned(-1),
            1 => self.direction = self.direction.turned(1),
            _ => {
                // The agent moves if the cell ahead is free now (a ball may have
                // left or entered it).
                if Self::inside(front) && !self.has_ball(front) {
                    self.agent = front;
                    if front == GOAL {
                        // MiniGrid's `1 - 0.9 * (step_count / max_steps)`: the
                        // quotient first (without the brackets 28 of the 144
                        // rewards differ in the last bit).
                        reward = 1.0 - 0.9 * (f64::from(self.steps) / f64::from(MAX_STEPS));
                        terminated = true;
                    }
                }
                if blocked {
                    reward = -1.0;
                    terminated = true;
                }
            }
        }
        // MiniGrid truncates at the limit whether or not the step also ended the
        // episode.
        let truncated = self.steps >= MAX_STEPS;
        self.running = !(terminated || truncated);
        Step {
            observation: self.observation(),
            reward,
            terminated,
            truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORWARD: usize = GridAction::Forward as usize;
    const LEFT: usize = GridAction::Left as usize;
    const RIGHT: usize = GridAction::Right as usize;

    #[test]
    fn walking_into_a_wall_or_a_ball_ends_the_episode_with_minus_one() {
        let mut env = DynamicObstacles::new();
        env.set_layout((1, 1), Direction::North, [(4, 1), (1, 4), (3, 4)], 0);
        let step = env.step(FORWARD);
        assert_eq!((step.reward, step.terminated), (-1.0, true));
        assert_eq!(env.agent().0, (1, 1));
        // A ball straight ahead: whatever the balls do this step, -1 and the end.
        for seed in 0..20 {
            env.set_layout((1, 1), Direction::East, [(2, 1), (4, 2), (1, 4)], seed);
            let step = env.step(FORWARD);
            assert_eq!((step.reward, step.terminated), (-1.0, true), "seed {seed}");
        }
    }

    #[test]
    fn the_goal_pays_by_how_fast_it_is_reached() {
        let mut env = DynamicObstacles::new();
        // The agent beside the goal; balls cannot enter the goal's cell.
        env.set_layout((3, 4), Direction::East, [(4, 1), (3, 1), (4, 2)], 1);
        let step = env.step(FORWARD);
        assert!(step.terminated && !step.truncated);
        assert_eq!(step.reward, 1.0 - 0.9 * 1.0 / 144.0);
        // After turning twice first: three steps.
        env.set_layout((3, 4), Direction::West, [(4, 1), (3, 1), (4, 2)], 1);
        env.step(LEFT);
        env.step(LEFT);
        let step = env.step(FORWARD);
        assert_eq!(step.reward, 1.0 - 0.9 * 3.0 / 144.0);
    }

    /// MiniGrid's reward bits at the 28 step counts where `1 − 0.9·t/144` would
    /// differ from its `1 − 0.9·(t/144)` in the last bit (printed by Python).
    #[test]
    fn the_goal_reward_has_minigrid_bits_at_every_step_count() {
        const MINIGRID: [(u32, u64); 28] = [
            (37, 0x3fe8_9999_9999_999a),
            (51, 0x3fe5_cccc_cccc_cccc),
            (56, 0x3fe4_cccc_cccc_cccc),
            (64, 0x3fe3_3333_3333_3334),
            (71, 0x3fe1_cccc_cccc_cccc),
            (74, 0x3fe1_3333_3333_3334),
            (81, 0x3fdf_9999_9999_999a),
            (83, 0x3fde_cccc_cccc_ccce),
            (86, 0x3fdd_9999_9999_999a),
            (91, 0x3fdb_9999_9999_999a),
            (96, 0x3fd9_9999_9999_999a),
            (97, 0x3fd9_3333_3333_3332),
            (101, 0x3fd7_9999_9999_999a),
            (102, 0x3fd7_3333_3333_3332),
            (107, 0x3fd5_3333_3333_3332),
            (112, 0x3fd3_3333_3333_3332),
            (115, 0x3fd1_ffff_ffff_fffe),
            (117, 0x3fd1_3333_3333_3332),
            (121, 0x3fcf_3333_3333_3334),
            (123, 0x3fcd_9999_9999_999c),
            (126, 0x3fcb_3333_3333_3334),
            (128, 0x3fc9_9999_9999_999c),
            (131, 0x3fc7_3333_3333_3334),
            (136, 0x3fc3_3333_3333_3334),
            (141, 0x3fbe_6666_6666_6668),
            (142, 0x3fbc_cccc_cccc_ccc8),
            (143, 0x3fbb_3333_3333_3330),
            (144, 0x3fb9_9999_9999_9998),
        ];
        let mut env = DynamicObstacles::new();
        for t in 1..=MAX_STEPS {
            // Beside the goal and facing it, t − 1 steps into the episode.
            env.set_layout(
                (3, 4),
                Direction::East,
                [(4, 1), (3, 1), (4, 2)],
                u64::from(t),
            );
            env.steps = t - 1;
            let step = env.step(FORWARD);
            assert!(step.terminated, "step {t}");
            assert_eq!(step.truncated, t == MAX_STEPS, "step {t}");
            let expected = MINIGRID
                .iter()
                .find(|&&(at, _)| at == t)
                .map_or(1.0 - 0.9 * (f64::from(t) / 144.0), |&(_, bits)| {
                    f64::from_bits(bits)
                });
            assert_eq!(step.reward.to_bits(), expected.to_bits(), "step {t}");
        }
    }

    #[test]
    fn turning_in_place_times_out_at_144_steps() {
        let mut env = DynamicObstacles::new();
        env.reset(7);
        for i in 1..=144 {
            let step = env.step(if i % 2 == 0 { LEFT } else { RIGHT });
            assert_eq!(step.reward, 0.0);
            assert!(!step.terminated);
            assert_eq!(step.truncated, i == 144);
        }
    }

    #[test]
    fn balls_move_within_their_neighbourhood_onto_free_cells() {
        let mut env = DynamicObstacles::new();
        let mut moved = 0;
        for seed in 0..50 {
            env.reset(seed);
            for _ in 0..30 {
                let before = env.balls();
                let step = env.step(LEFT);
                let after = env.balls();
                for (b, a) in before.iter().zip(&after) {
                    assert!((b.0 - a.0).abs() <= 1 && (b.1 - a.1).abs() <= 1);
                    assert!(DynamicObstacles::inside(*a) && *a != GOAL && *a != env.agent().0);
                    moved += usize::from(a != b);
                }
                for i in 0..3 {
                    assert!(!after[i + 1..].contains(&after[i]), "{after:?}");
                }
                if step.done() {
                    break;
                }
            }
        }
        assert!(moved > 2_000, "{moved}");
    }

    #[test]
    fn observations_encode_agent_direction_and_balls() {
        let mut env = DynamicObstacles::new();
        env.set_layout((2, 3), Direction::South, [(1, 2), (4, 1), (3, 3)], 0);
        let o = env.observation();
        let ones: Vec<usize> = (0..36).filter(|&i| o[i] == 1.0).collect();
        // Agent (2,3): row 2, column 1 → 9; south → 16 + 1; balls (1,2) → 4,
        // (4,1) → 3, (3,3) → 10, each offset by 20.
        assert_eq!(ones, vec![9, 17, 23, 24, 30]);
        let first = env.reset(11);
        assert_eq!(first.iter().filter(|&&v| v == 1.0).count(), 5);
        assert_eq!(env.reset(11), first);
    }
}
