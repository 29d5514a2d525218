//! Local search, as White et al. ("Local search is state of the art for NAS
//! benchmarks", 2020) and seed 002's Algorithm 1 give it: stand on a candidate,
//! evaluate its neighbours (the candidates one edit away) in a seeded random order,
//! move to a better one, and restart from a random candidate at a local optimum.

use rand::seq::SliceRandom;
use rustc_hash::FxHashMap;

use crate::{Algorithm, Feedback, Neighbourhood, Proposal, SearchError, SearchRng};

/// Where local search moves from its current candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Move {
    /// To the first neighbour, in the shuffled order, that beats the current
    /// candidate: the rest of the neighbourhood is never evaluated.
    FirstImprovement,
    /// To the best of all neighbours, once every one has been evaluated, if it
    /// beats the current candidate (seed 002's Algorithm 1).
    BestNeighbour,
}

/// Settings of [`LocalSearch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LocalSearchConfig {
    /// Random candidates evaluated at each start and restart; the search starts
    /// from the best of them. 1 is seed 002's Algorithm 1.
    pub initial_samples: usize,
    /// How the search moves.
    pub moves: Move,
}

impl LocalSearchConfig {
    /// One random start, first improvement.
    pub const DEFAULT: LocalSearchConfig = LocalSearchConfig {
        initial_samples: 1,
        moves: Move::FirstImprovement,
    };

    /// Checks the settings (`initial_samples >= 1`) and builds the algorithm.
    pub fn build<C>(self) -> Result<LocalSearch<C>, SearchError> {
        if self.initial_samples == 0 {
            return Err(SearchError::InvalidConfig(
                "local search needs at least 1 initial sample".into(),
            ));
        }
        Ok(LocalSearch {
            config: self,
            current: None,
            queue: Vec::new(),
            needs_neighbours: false,
            epoch: 0,
            outstanding: 0,
            start_received: 0,
            best_seen_in_phase: None,
            epoch_of: FxHashMap::default(),
            proposals: 0,
            moves_made: 0,
            restarts: 0,
        })
    }
}

/// A candidate, its fitness and its proposal index.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Scored<C> {
    candidate: C,
    fitness: f64,
    index: u64,
}

/// Local search over a [`Neighbourhood`], in propose/feedback form.
///
/// The search is a sequence of *phases*: a start (random samples, of which the best
/// becomes the current candidate) or the evaluation of one neighbourhood. Feedback
/// is matched to its phase by proposal index, so the algorithm also works when
/// feedback arrives out of order (asynchronous workers): a late answer from an
/// earlier phase still moves the search if it beats the current candidate, and
/// a worker that asks while the phase waits for answers gets a random sample.
/// Revisits are frequent (a neighbour's neighbour is often the candidate itself),
/// which is what the functional equivalence cache absorbs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LocalSearch<C> {
    config: LocalSearchConfig,
    /// The candidate the search stands on; `None` while starting.
    current: Option<Scored<C>>,
    /// Neighbours of `current` not yet proposed; the next is at the end.
    queue: Vec<C>,
    /// Whether `queue` must be filled (and shuffled) at the next proposal.
    needs_neighbours: bool,
    /// The phase being run.
    epoch: u64,
    /// Proposals of this phase still without feedback.
    outstanding: usize,
    /// Feedback received in this start phase.
    start_received: usize,
    /// The best answer of this phase (start: the best sample; neighbourhood: the
    /// best neighbour).
    best_seen_in_phase: Option<Scored<C>>,
    /// Phase of each proposal awaiting feedback.
    epoch_of: FxHashMap<u64, u64>,
    proposals: u64,
    moves_made: u64,
    restarts: u64,
}

impl<C: Clone> LocalSearch<C> {
    /// The candidate the search stands on and its fitness, if it has one.
    pub fn current(&self) -> Option<(&C, f64)> {
        self.current.as_ref().map(|s| (&s.candidate, s.fitness))
    }

    /// Moves to a better neighbour made so far.
    pub fn moves_made(&self) -> u64 {
        self.moves_made
    }

    /// Restarts from a random candidate (after a local optimum) so far.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    fn new_phase(&mut self) {
        self.epoch += 1;
        self.outstanding = 0;
        self.best_seen_in_phase = None;
        self.queue.clear();
    }

    fn stand_on(&mut self, scored: Scored<C>) {
        self.current = Some(scored);
        self.new_phase();
        self.needs_neighbours = true;
    }

    fn restart(&mut self) {
        self.current = None;
        self.new_phase();
        self.needs_neighbours = false;
        self.start_received = 0;
        self.restarts += 1;
    }

    fn beats_current(&self, fitness: f64) -> bool {
        self.current.as_ref().is_some_and(|c| fitness > c.fitness)
    }
}

fn better<C: Clone>(best: &mut Option<Scored<C>>, candidate: &C, fitness: f64, index: u64) {
    if best.as_ref().is_none_or(|b| fitness > b.fitness) {
        *best = Some(Scored {
            candidate: candidate.clone(),
            fitness,
            index,
        });
    }
}

impl<S: Neighbourhood> Algorithm<S> for LocalSearch<S::Candidate> {
    fn propose(&mut self, space: &S, rng: &mut SearchRng) -> Proposal<S::Candidate> {
        if let Some(current) = self.current.as_ref().filter(|_| self.needs_neighbours) {
            self.queue = space.neighbours(&current.candidate);
            self.queue.shuffle(rng);
            self.needs_neighbours = false;
        }
        // A neighbourhood fully answered without a move is a local optimum.
        if self.current.is_some() && self.queue.is_empty() && self.outstanding == 0 {
            self.restart();
        }
        let index = self.proposals;
        self.proposals += 1;
        let proposal = match (&self.current, self.queue.pop()) {
            (Some(current), Some(neighbour)) => {
                Proposal::child(neighbour, current.candidate.clone(), Some(current.index))
            }
            // Starting, or waiting on the last answers of a neighbourhood: a sample.
            _ => Proposal::sample(space.sample(rng)),
        };
        let filler = self.current.is_some() && proposal.parent.is_none();
        if !filler {
            self.outstanding += 1;
            self.epoch_of.insert(index, self.epoch);
        }
        proposal
    }

    fn feedback(&mut self, feedback: Feedback<S::Candidate>) {
        let Feedback {
            proposal_index,
            candidate,
            fitness,
            ..
        } = feedback;
        let phase = self.epoch_of.remove(&proposal_index);
        if phase != Some(self.epoch) {
            // From an earlier phase, or a filler sample: it moves the search only
            // if it beats where the search stands.
            if self.beats_current(fitness) {
                self.moves_made += 1;
                self.stand_on(Scored {
                    candidate,
                    fitness,
                    index: proposal_index,
                });
            }
            return;
        }
        self.outstanding -= 1;
        if self.current.is_none() {
            self.start_received += 1;
            better(
                &mut self.best_seen_in_phase,
                &candidate,
                fitness,
                proposal_index,
            );
            if self.start_received >= self.config.initial_samples {
                let start = self.best_seen_in_phase.take().expect("one answer at least");
                self.stand_on(start);
            }
            return;
        }
        match self.config.moves {
            Move::FirstImprovement => {
                if self.beats_current(fitness) {
                    self.moves_made += 1;
                    self.stand_on(Scored {
                        candidate,
                        fitness,
                        index: proposal_index,
                    });
                }
            }
            Move::BestNeighbour => {
                better(
                    &mut self.best_seen_in_phase,
                    &candidate,
                    fitness,
                    proposal_index,
                );
                if self.queue.is_empty() && self.outstanding == 0 {
                    let best = self.best_seen_in_phase.take().expect("one answer at least");
                    if self.beats_current(best.fitness) {
                        self.moves_made += 1;
                        self.stand_on(best);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SearchSpace;
    use crate::testutil::rng;

    /// Integers 0..size on a line: neighbours are ±1; samples are uniform, or
    /// always `.1` when it is given.
    struct Line(u32, Option<u32>);

    impl SearchSpace for Line {
        type Candidate = u32;
        fn sample(&self, rng: &mut SearchRng) -> u32 {
            self.1
                .unwrap_or_else(|| rand::Rng::random_range(rng, 0..self.0))
        }
        fn mutate(&self, parent: &u32, _rng: &mut SearchRng) -> u32 {
            *parent
        }
    }

    impl Neighbourhood for Line {
        fn neighbours(&self, c: &u32) -> Vec<u32> {
            [c.checked_sub(1), Some(c + 1).filter(|&n| n < self.0)]
                .into_iter()
                .flatten()
                .collect()
        }
    }

    /// Two hills: a local one at 20 (height 0.5) and the global one at 70.
    fn fitness(c: u32) -> f64 {
        let c = f64::from(c);
        (0.5 - (c - 20.0).abs() / 40.0).max(1.0 - (c - 70.0).abs() / 40.0)
    }

    fn drive(search: &mut LocalSearch<u32>, space: &Line, steps: u64, seed: u64) -> Vec<u32> {
        let mut rng = rng(seed);
        (0..steps)
            .map(|i| {
                let p = Algorithm::<Line>::propose(search, space, &mut rng);
                Algorithm::<Line>::feedback(
                    search,
                    Feedback {
                        proposal_index: i,
                        candidate: p.candidate,
                        fitness: fitness(p.candidate),
                        replaced: false,
                        cache_hit: false,
                    },
                );
                p.candidate
            })
            .collect()
    }

    #[test]
    fn climbs_to_a_hilltop_and_restarts_there() {
        for moves in [Move::FirstImprovement, Move::BestNeighbour] {
            let space = Line(100, None);
            let config = LocalSearchConfig {
                initial_samples: 1,
                moves,
            };
            let mut search = config.build().unwrap();
            let visited = drive(&mut search, &space, 400, 3);
            // It reaches the global optimum within its restarts.
            assert!(visited.contains(&70), "{moves:?}");
            assert!(search.restarts() >= 1, "{moves:?}: a hilltop ends a climb");
            assert!(search.moves_made() > 10);
            // Every proposal after a start is a neighbour of where it stood.
            let mut search = config.build().unwrap();
            let mut rng = rng(9);
            for i in 0..200 {
                let p = Algorithm::<Line>::propose(&mut search, &space, &mut rng);
                if let Some(parent) = p.parent {
                    assert_eq!(p.candidate.abs_diff(parent), 1);
                }
                Algorithm::<Line>::feedback(
                    &mut search,
                    Feedback {
                        proposal_index: i,
                        candidate: p.candidate,
                        fitness: fitness(p.candidate),
                        replaced: false,
                        cache_hit: false,
                    },
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_walk() {
        let space = Line(100, None);
        let walk = |seed| {
            drive(
                &mut LocalSearchConfig::DEFAULT.build().unwrap(),
                &space,
                300,
                seed,
            )
        };
        assert_eq!(walk(5), walk(5));
        assert_ne!(walk(5), walk(6));
    }

    #[test]
    fn late_answers_from_an_earlier_phase_move_only_if_better() {
        // Starting at 40 on the global hill's slope: 41 is better, 39 worse.
        let space = Line(100, Some(40));
        let mut search: LocalSearch<u32> = LocalSearchConfig::DEFAULT.build().unwrap();
        let mut rng = rng(1);
        let tell = |search: &mut LocalSearch<u32>, index, candidate: u32| {
            Algorithm::<Line>::feedback(
                search,
                Feedback {
                    proposal_index: index,
                    candidate,
                    fitness: fitness(candidate),
                    replaced: false,
                    cache_hit: false,
                },
            );
        };
        let start = Algorithm::<Line>::propose(&mut search, &space, &mut rng);
        tell(&mut search, 0, start.candidate);
        assert_eq!(search.current().map(|(c, _)| *c), Some(40));
        // Both neighbours in flight at once, as two workers would hold them.
        let a = Algorithm::<Line>::propose(&mut search, &space, &mut rng).candidate;
        let b = Algorithm::<Line>::propose(&mut search, &space, &mut rng).candidate;
        let mut pair = [a, b];
        pair.sort_unstable();
        assert_eq!(pair, [39, 41]);
        // A third request while both are out: a filler sample, not a neighbour.
        assert!(
            Algorithm::<Line>::propose(&mut search, &space, &mut rng)
                .parent
                .is_none()
        );
        let index_of = |c| if a == c { 1 } else { 2 };
        tell(&mut search, index_of(41), 41);
        assert_eq!(search.current().map(|(c, _)| *c), Some(41));
        // 39 now answers a phase that is over, and is worse than 41: no move.
        tell(&mut search, index_of(39), 39);
        assert_eq!(search.current().map(|(c, _)| *c), Some(41));
        assert_eq!(search.moves_made(), 1);
        // The filler's answer (40) is worse too.
        tell(&mut search, 3, 40);
        assert_eq!(search.current().map(|(c, _)| *c), Some(41));
        // An answer that beats the current candidate moves the search, also when
        // it is a replacement a technique evaluated in the proposal's place.
        let next = Algorithm::<Line>::propose(&mut search, &space, &mut rng);
        assert_eq!(next.parent, Some(41));
        tell(&mut search, 4, 70);
        assert_eq!(search.current().map(|(c, _)| *c), Some(70));
    }

    #[test]
    fn zero_initial_samples_is_an_error() {
        let config = LocalSearchConfig {
            initial_samples: 0,
            moves: Move::FirstImprovement,
        };
        assert!(config.build::<u32>().is_err());
    }
}
