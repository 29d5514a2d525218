//! Search algorithms: they propose candidates and receive feedback, nothing more.

use std::collections::VecDeque;

use rand::Rng;

use crate::{SearchError, SearchRng, SearchSpace};

/// A proposed candidate, with the parent it was mutated from, if any.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Proposal<C> {
    /// The candidate to evaluate.
    pub candidate: C,
    /// The parent it was mutated from; `None` for a random sample.
    pub parent: Option<C>,
    /// The parent's proposal index ([`Feedback::proposal_index`]), if the
    /// algorithm knows it: then FCM reuses the hash the driver computed when the
    /// parent was started, instead of hashing the parent again (and charging
    /// that hash).
    pub parent_index: Option<u64>,
}

impl<C> Proposal<C> {
    /// A random sample: no parent.
    pub fn sample(candidate: C) -> Self {
        Self {
            candidate,
            parent: None,
            parent_index: None,
        }
    }

    /// A child of `parent`, the candidate of proposal `parent_index` if known.
    pub fn child(candidate: C, parent: C, parent_index: Option<u64>) -> Self {
        Self {
            candidate,
            parent: Some(parent),
            parent_index,
        }
    }
}

/// What the driver gives an algorithm when it asks for a proposal: the space,
/// the search's random stream, and whether a candidate computes a function the
/// search already knows. An algorithm never sees a hash: it asks
/// [`ProposeContext::is_known`], and the driver hashes, looks up its cache,
/// charges the hash to the simulated clock and counts it.
pub struct ProposeContext<'a, S: SearchSpace> {
    space: &'a S,
    rng: &'a mut SearchRng,
    known: &'a mut dyn FnMut(&S::Candidate) -> bool,
}

impl<S: SearchSpace> std::fmt::Debug for ProposeContext<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProposeContext").finish_non_exhaustive()
    }
}

impl<'a, S: SearchSpace> ProposeContext<'a, S> {
    /// A context that answers [`ProposeContext::is_known`] with `known` (the
    /// driver's; build one by hand to drive an algorithm outside a search).
    pub fn new(
        space: &'a S,
        rng: &'a mut SearchRng,
        known: &'a mut dyn FnMut(&S::Candidate) -> bool,
    ) -> Self {
        Self { space, rng, known }
    }

    /// The search space.
    pub fn space(&self) -> &'a S {
        self.space
    }

    /// The search's random stream.
    pub fn rng(&mut self) -> &mut SearchRng {
        self.rng
    }

    /// Whether `candidate` computes a function the search knows: one its
    /// functional equivalence cache holds, or one asked about before during this
    /// proposal (so a batch of queries also tells duplicates among itself).
    /// Each call costs one hash, charged to the candidate being proposed and
    /// counted in the record's `n_hashes`. Without FEC the answer is `false` and
    /// nothing is hashed.
    pub fn is_known(&mut self, candidate: &S::Candidate) -> bool {
        (self.known)(candidate)
    }
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
    /// Whether `candidate` is a replacement that a technique (FCM, tabulist) made
    /// in place of the proposed candidate. An algorithm that learns from its own
    /// decisions (PPO) must not credit them with a replacement's fitness.
    pub replaced: bool,
    /// Whether the fitness came from the cache (a full hit): `candidate`
    /// computes a function the search had already evaluated.
    pub cache_hit: bool,
}

/// A search algorithm in PyGlove's propose/feedback form: it never evaluates, hashes
/// or caches; it sees candidates and their fitness only.
pub trait Algorithm<S: SearchSpace> {
    /// The next candidate to evaluate.
    fn propose(&mut self, space: &S, rng: &mut SearchRng) -> Proposal<S::Candidate>;

    /// The next candidate to evaluate, with the driver's context: what the
    /// driver calls. By default [`Algorithm::propose`]; an algorithm that needs
    /// to know whether a candidate is already known (BANANAS keeps known
    /// functions out of its pool) overrides it and asks
    /// [`ProposeContext::is_known`].
    fn propose_with(&mut self, cx: &mut ProposeContext<'_, S>) -> Proposal<S::Candidate> {
        let space = cx.space();
        self.propose(space, cx.rng())
    }

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
    /// Regularized (aging) evolution, Method 1 of the paper: the oldest member
    /// dies; tournaments of `tournament_size` drawn without replacement.
    pub fn regularized(population_size: usize, tournament_size: usize) -> Self {
        Self {
            population_size,
            tournament_size,
            replacement: Replacement::Oldest,
        }
    }

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
            draws_with_replacement: false,
        })
    }
}

/// Tournament-based evolution: regularized evolution or classic tournament
/// selection, depending on [`Replacement`].
///
/// The first `population_size` proposals are random samples (seeding); after that,
/// each proposal is a mutation of the fittest of `tournament_size` members sampled
/// without replacement (ties go to the first sampled), or with replacement after
/// [`Evolution::draws_with_replacement`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Evolution<C> {
    config: EvolutionConfig,
    /// Members with their fitness, oldest first.
    population: VecDeque<(C, f64, u64)>,
    proposed: usize,
    draws_with_replacement: bool,
}

impl<C> Evolution<C> {
    /// The same evolution drawing its tournaments with replacement, as AutoML-Zero's
    /// regularized evolution does (NAS-Bench-101's draws without).
    pub fn draws_with_replacement(mut self) -> Self {
        self.draws_with_replacement = true;
        self
    }

    /// The current population, oldest first.
    pub fn population(&self) -> impl Iterator<Item = (&C, f64)> {
        self.population.iter().map(|(c, f, _)| (c, *f))
    }
}

impl<S: SearchSpace> Algorithm<S> for Evolution<S::Candidate> {
    fn propose(&mut self, space: &S, rng: &mut SearchRng) -> Proposal<S::Candidate> {
        self.proposed += 1;
        if self.proposed <= self.config.population_size || self.population.is_empty() {
            return Proposal::sample(space.sample(rng));
        }
        let n = self.population.len();
        let winner = if self.draws_with_replacement {
            let mut winner = rng.random_range(0..n);
            for _ in 1..self.config.tournament_size {
                let i = rng.random_range(0..n);
                if fitness_order(self.population[i].1) > fitness_order(self.population[winner].1) {
                    winner = i;
                }
            }
            winner
        } else {
            let contestants = rand::seq::index::sample(rng, n, self.config.tournament_size.min(n));
            let mut winner = contestants.index(0);
            for i in contestants.iter().skip(1) {
                if fitness_order(self.population[i].1) > fitness_order(self.population[winner].1) {
                    winner = i;
                }
            }
            winner
        };
        let (parent, _, index) = &self.population[winner];
        let parent = parent.clone();
        let index = *index;
        Proposal::child(space.mutate(&parent, rng), parent, Some(index))
    }

    fn feedback(&mut self, feedback: Feedback<S::Candidate>) {
        if self.population.len() >= self.config.population_size {
            match self.config.replacement {
                Replacement::Oldest => {
                    self.population.pop_front();
                }
                Replacement::Worst => {
                    let mut worst = 0;
                    for (i, (_, f, _)) in self.population.iter().enumerate() {
                        if fitness_order(*f) < fitness_order(self.population[worst].1) {
                            worst = i;
                        }
                    }
                    self.population.remove(worst);
                }
            }
        }
        self.population.push_back((
            feedback.candidate,
            feedback.fitness,
            feedback.proposal_index,
        ));
    }
}

/// The fittest candidate a search fed back, with its evaluation and proposal
/// index ([`SearchResult::best`](crate::SearchResult)).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Best<C> {
    /// The candidate.
    pub candidate: C,
    /// Its validation fitness as fed back (the search maximises it).
    pub validation: f64,
    /// Its test fitness, never seen by the search.
    pub test: f64,
    /// Its proposal index (0-based): `proposal_index + 1` candidates had been
    /// proposed when it was.
    pub proposal_index: u64,
}

/// Fitness as a totally ordered key: NaN ranks below every number.
pub(crate) fn fitness_order(fitness: f64) -> f64 {
    if fitness.is_nan() {
        f64::NEG_INFINITY
    } else {
        fitness
    }
}

/// Random search: every proposal is a fresh sample; feedback is ignored.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct RandomSearch;

impl<S: SearchSpace> Algorithm<S> for RandomSearch {
    fn propose(&mut self, space: &S, rng: &mut SearchRng) -> Proposal<S::Candidate> {
        Proposal::sample(space.sample(rng))
    }

    fn feedback(&mut self, _feedback: Feedback<S::Candidate>) {}
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
                replaced: false,
                cache_hit: false,
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
    fn draws_with_replacement_can_pick_a_member_twice() {
        // With a population of 2 and tournaments of 8, draws without replacement
        // always see both members and pick the better; draws with replacement see
        // only the worse one in 1 of 128 tournaments.
        let space = IntSpace::new(1000);
        let parents = |with_replacement: bool| {
            let mut evo = EvolutionConfig {
                population_size: 2,
                tournament_size: 2,
                replacement: Replacement::Oldest,
            }
            .build()
            .unwrap();
            evo.config.tournament_size = 8;
            if with_replacement {
                evo = evo.draws_with_replacement();
            }
            let mut rng = rng(5);
            let worse = Algorithm::<IntSpace>::propose(&mut evo, &space, &mut rng).candidate;
            tell(&mut evo, 0, worse, 0.0);
            let better = Algorithm::<IntSpace>::propose(&mut evo, &space, &mut rng).candidate;
            tell(&mut evo, 1, better, 1.0);
            let picked_worse = (0..2000)
                .filter(|_| {
                    let p = Algorithm::<IntSpace>::propose(&mut evo, &space, &mut rng);
                    p.parent == Some(worse)
                })
                .count();
            (worse != better).then_some(picked_worse)
        };
        assert_eq!(parents(false), Some(0));
        let picked = parents(true).unwrap();
        assert!(
            (3..=50).contains(&picked),
            "about 2000/128 = 16, got {picked}"
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
