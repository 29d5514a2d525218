//! Search algorithms: they propose candidates and receive feedback, nothing more.

use std::collections::VecDeque;

use rand::Rng;

use crate::{SearchError, SearchRng, SearchSpace};

/// A proposed candidate, with the parent it was mutated from, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal<C> {
    /// The candidate to evaluate.
    pub candidate: C,
    /// The parent it was mutated from; `None` for a random sample.
    pub parent: Option<C>,
}

/// The fitness of one proposal, as the algorithm receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback<C> {
    /// Which proposal this answers: 0 for the first `propose` call, 1 for the
    /// second, and so on. Serial searches answer in proposal order; distributed
    /// ones in completion order.
    pub proposal_index: u64,
    /// The candidate that was evaluated: the proposed one, or the replacement a
    /// technique (FCM, tabulist) mutated in its place.
    pub candidate: C,
    /// Its validation fitness (a running mean under FEA).
    pub fitness: f64,
}

/// A search algorithm in PyGlove's propose/feedback form: it never evaluates, hashes
/// or caches; it sees candidates and their fitness only.
pub trait Algorithm<S: SearchSpace> {
    /// The next candidate to evaluate.
    fn propose(&mut self, space: &S, rng: &mut SearchRng) -> Proposal<S::Candidate>;

    /// The fitness of a candidate this algorithm proposed.
    fn feedback(&mut self, feedback: Feedback<S::Candidate>);
}

/// Which member a new child replaces once the population is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Replacement {
    /// The oldest member dies: regularized (aging) evolution, Method 1 of the paper.
    Oldest,
    /// The worst member dies: classic (elitist) tournament selection.
    Worst,
}

/// Settings of [`Evolution`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvolutionConfig {
    /// Population size P (100 in the NAS-Bench-101 setup).
    pub population_size: usize,
    /// Tournament size S, sampled without replacement (10 in NAS-Bench-101).
    pub tournament_size: usize,
    /// Who dies when a child enters a full population.
    pub replacement: Replacement,
}

impl EvolutionConfig {
    /// Checks the sizes: `1 <= tournament_size <= population_size`.
    pub fn build<C>(self) -> Result<Evolution<C>, SearchError> {
        if self.population_size == 0 || self.tournament_size == 0 {
            return Err(SearchError::InvalidConfig(format!(
                "population size {} and tournament size {} must be at least 1",
                self.population_size, self.tournament_size
            )));
        }
        if self.tournament_size > self.population_size {
            return Err(SearchError::InvalidConfig(format!(
                "tournament size {} exceeds population size {}",
                self.tournament_size, self.population_size
            )));
        }
        Ok(Evolution {
            config: self,
            population: VecDeque::with_capacity(self.population_size),
            proposed: 0,
        })
    }
}

/// Tournament-based evolution: regularized evolution or classic tournament
/// selection, depending on [`Replacement`].
///
/// The first `population_size` proposals are random samples (seeding); after that,
/// each proposal is a mutation of the fittest of `tournament_size` members sampled
/// without replacement (ties go to the first sampled).
#[derive(Debug, Clone)]
pub struct Evolution<C> {
    config: EvolutionConfig,
    /// Members with their fitness, oldest first.
    population: VecDeque<(C, f64)>,
    proposed: usize,
}

impl<C> Evolution<C> {
    /// The current population, oldest first.
    pub fn population(&self) -> impl Iterator<Item = (&C, f64)> {
        self.population.iter().map(|(c, f)| (c, *f))
    }
}

impl<S: SearchSpace> Algorithm<S> for Evolution<S::Candidate> {
    fn propose(&mut self, space: &S, rng: &mut SearchRng) -> Proposal<S::Candidate> {
        self.proposed += 1;
        if self.proposed <= self.config.population_size || self.population.is_empty() {
            return Proposal {
                candidate: space.sample(rng),
                parent: None,
            };
        }
        let size = self.config.tournament_size.min(self.population.len());
        let contestants = rand::seq::index::sample(rng, self.population.len(), size);
        let mut winner = contestants.index(0);
        for i in contestants.iter().skip(1) {
            if fitness_order(self.population[i].1) > fitness_order(self.population[winner].1) {
                winner = i;
            }
        }
        let parent = self.population[winner].0.clone();
        Proposal {
            candidate: space.mutate(&parent, rng),
            parent: Some(parent),
        }
    }

    fn feedback(&mut self, feedback: Feedback<S::Candidate>) {
        if self.population.len() >= self.config.population_size {
            match self.config.replacement {
                Replacement::Oldest => {
                    self.population.pop_front();
                }
                Replacement::Worst => {
                    let mut worst = 0;
                    for (i, (_, f)) in self.population.iter().enumerate() {
                        if fitness_order(*f) < fitness_order(self.population[worst].1) {
                            worst = i;
                        }
                    }
                    self.population.remove(worst);
                }
            }
        }
        self.population
            .push_back((feedback.candidate, feedback.fitness));
    }
}

/// Fitness as a totally ordered key: NaN ranks below every number.
fn fitness_order(fitness: f64) -> f64 {
    if fitness.is_nan() {
        f64::NEG_INFINITY
    } else {
        fitness
    }
}

/// Random search: every proposal is a fresh sample; feedback is ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomSearch;

impl<S: SearchSpace> Algorithm<S> for RandomSearch {
    fn propose(&mut self, space: &S, rng: &mut SearchRng) -> Proposal<S::Candidate> {
        Proposal {
            candidate: space.sample(rng),
            parent: None,
        }
    }

    fn feedback(&mut self, _feedback: Feedback<S::Candidate>) {}
}

/// Draws `true` with probability `p` (clamped to [0, 1]).
pub(crate) fn bernoulli(rng: &mut SearchRng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{IntSpace, rng};

    fn tell(evo: &mut Evolution<u32>, index: u64, candidate: u32, fitness: f64) {
        Algorithm::<IntSpace>::feedback(
            evo,
            Feedback {
                proposal_index: index,
                candidate,
                fitness,
            },
        );
    }

    #[test]
    fn config_errors_name_the_sizes() {
        let bad = EvolutionConfig {
            population_size: 5,
            tournament_size: 6,
            replacement: Replacement::Oldest,
        };
        let err = bad.build::<u32>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid search configuration: tournament size 6 exceeds population size 5"
        );
    }

    #[test]
    fn regularized_evolution_ages_out_the_oldest() {
        let space = IntSpace::new(1000);
        let mut evo = EvolutionConfig {
            population_size: 3,
            tournament_size: 2,
            replacement: Replacement::Oldest,
        }
        .build()
        .unwrap();
        let mut rng = rng(1);
        for (i, fitness) in [5.0, 9.0, 1.0, 0.0].into_iter().enumerate() {
            let p = Algorithm::<IntSpace>::propose(&mut evo, &space, &mut rng);
            tell(&mut evo, i as u64, p.candidate, fitness);
        }
        let kept: Vec<f64> = evo.population().map(|(_, f)| f).collect();
        assert_eq!(
            kept,
            vec![9.0, 1.0, 0.0],
            "the oldest (5.0) died, not the worst"
        );
    }

    #[test]
    fn tournament_selection_replaces_the_worst() {
        let space = IntSpace::new(1000);
        let mut evo = EvolutionConfig {
            population_size: 3,
            tournament_size: 3,
            replacement: Replacement::Worst,
        }
        .build()
        .unwrap();
        let mut rng = rng(2);
        for (i, fitness) in [5.0, 9.0, 1.0, 7.0].into_iter().enumerate() {
            let p = Algorithm::<IntSpace>::propose(&mut evo, &space, &mut rng);
            tell(&mut evo, i as u64, p.candidate, fitness);
        }
        let mut kept: Vec<f64> = evo.population().map(|(_, f)| f).collect();
        kept.sort_by(f64::total_cmp);
        assert_eq!(kept, vec![5.0, 7.0, 9.0]);
        // With the whole population in the tournament, the parent is the best.
        let p = Algorithm::<IntSpace>::propose(&mut evo, &space, &mut rng);
        let best = evo
            .population()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap()
            .0;
        assert_eq!(p.parent.as_ref(), Some(best));
    }
}
