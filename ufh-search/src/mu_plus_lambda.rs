//! Generational (μ + λ) evolution with DEAP's `varOr` variation, as EZNAS's genetic
//! program runs it (EZNAS Algorithm 1, §3.5 and §8.7), in propose/feedback form.
//!
//! Generation 0 proposes `population_size` random samples. Every later generation
//! proposes, in this order: each parent again when `reevaluate_parents` is set
//! (EZNAS invalidates every fitness each generation, because its fitness draws
//! fresh rounds of networks), then `lambda − random_offspring` children of
//! `varOr` — with probability `crossover_probability` the first child of a
//! crossover of two distinct random parents, with `mutation_probability` a
//! mutation of a random parent, otherwise a copy of a random parent — and then
//! `random_offspring` fresh samples (EZNAS completes each generation with new
//! random trees). When every proposal of the generation has its fitness, `mu`
//! tournaments of `tournament_size` (drawn with replacement, as DEAP's
//! `selTournament` draws) over the parents and the offspring pick the next
//! parents.
//!
//! Under several workers a proposal may be asked for before the generation's
//! last fitness arrives: the next generation is then planned from the parents
//! as they are, and every fitness that arrives joins the pool of the generation
//! being closed.

use std::collections::VecDeque;

use rand::Rng;

use crate::{Algorithm, Crossover, Feedback, Proposal, SearchError, SearchRng};

/// Settings of [`MuPlusLambda`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MuPlusLambdaConfig {
    /// Random samples of generation 0.
    pub population_size: usize,
    /// Parents kept by selection each generation.
    pub mu: usize,
    /// Offspring per generation (`varOr`'s and the fresh samples together).
    pub lambda: usize,
    /// Of the offspring, how many are fresh random samples.
    pub random_offspring: usize,
    /// Probability that a `varOr` child comes from crossover.
    pub crossover_probability: f64,
    /// Probability that a `varOr` child comes from mutation.
    pub mutation_probability: f64,
    /// Contestants per selection tournament.
    pub tournament_size: usize,
    /// Whether every generation evaluates its parents again.
    pub reevaluate_parents: bool,
}

impl MuPlusLambdaConfig {
    /// EZNAS's settings (§8.7): population 50, μ 25, λ 50 of which n/2 = 25 fresh
    /// samples, crossover 0.4, mutation 0.4, tournament 4, parents re-evaluated.
    pub const EZNAS: MuPlusLambdaConfig = MuPlusLambdaConfig {
        population_size: 50,
        mu: 25,
        lambda: 50,
        random_offspring: 25,
        crossover_probability: 0.4,
        mutation_probability: 0.4,
        tournament_size: 4,
        reevaluate_parents: true,
    };

    /// Proposals of generation `g`: the population in generation 0; then λ
    /// offspring, after the parents again when they are re-evaluated (all of
    /// generation 0 in generation 1, the μ selected ones later).
    pub fn generation_size(&self, g: usize) -> usize {
        match (g, self.reevaluate_parents) {
            (0, _) => self.population_size,
            (_, false) => self.lambda,
            (1, true) => self.population_size + self.lambda,
            (_, true) => self.mu + self.lambda,
        }
    }

    /// Checks the settings.
    pub fn build<C>(self) -> Result<MuPlusLambda<C>, SearchError> {
        let invalid = |m: String| Err(SearchError::InvalidConfig(m));
        if self.population_size == 0 || self.mu == 0 || self.tournament_size == 0 {
            return invalid(format!(
                "population size {}, mu {} and tournament size {} must be at least 1",
                self.population_size, self.mu, self.tournament_size
            ));
        }
        if self.random_offspring > self.lambda {
            return invalid(format!(
                "{} random offspring exceed lambda {}",
                self.random_offspring, self.lambda
            ));
        }
        let (cx, mutation) = (self.crossover_probability, self.mutation_probability);
        if !(0.0..=1.0).contains(&cx) || !(0.0..=1.0).contains(&mutation) || cx + mutation > 1.0 {
            return invalid(format!(
                "crossover probability {cx} and mutation probability {mutation} must be in [0, 1] and sum to at most 1"
            ));
        }
        Ok(MuPlusLambda {
            config: self,
            parents: Vec::new(),
            planned: VecDeque::new(),
            pool: Vec::new(),
            expected: 0,
            generation: 0,
            started: false,
        })
    }
}

/// (μ + λ) evolution with `varOr` (see the module docs).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MuPlusLambda<C> {
    config: MuPlusLambdaConfig,
    /// The parents with their fitness.
    parents: Vec<(C, f64)>,
    /// Proposals of the generation not yet handed out.
    planned: VecDeque<Proposal<C>>,
    /// Fitness received for the generation being closed.
    pool: Vec<(C, f64)>,
    /// Fitness values that close it.
    expected: usize,
    /// Generations closed.
    generation: usize,
    started: bool,
}

impl<C: Clone> MuPlusLambda<C> {
    /// The parents, with their fitness.
    pub fn parents(&self) -> impl Iterator<Item = (&C, f64)> {
        self.parents.iter().map(|(c, f)| (c, *f))
    }

    /// Generations closed so far (generation 0 included).
    pub fn generations(&self) -> usize {
        self.generation
    }

    fn plan<S: Crossover<Candidate = C>>(&mut self, space: &S, rng: &mut SearchRng) {
        let config = self.config;
        if !self.started || self.parents.is_empty() {
            self.started = true;
            for _ in 0..config.population_size {
                self.planned.push_back(Proposal::sample(space.sample(rng)));
            }
            self.expected += config.population_size;
            return;
        }
        let mut planned = 0;
        if config.reevaluate_parents {
            for (parent, _) in &self.parents {
                self.planned
                    .push_back(Proposal::child(parent.clone(), parent.clone(), None));
            }
            planned += self.parents.len();
        } else {
            // Already evaluated: they join the pool as they are.
            self.pool.extend(self.parents.iter().cloned());
            self.expected += self.parents.len();
        }
        let n = self.parents.len();
        for _ in 0..config.lambda - config.random_offspring {
            let r: f64 = rng.random();
            let proposal = if r < config.crossover_probability && n >= 2 {
                let picks = rand::seq::index::sample(rng, n, 2);
                let (a, b) = (
                    &self.parents[picks.index(0)].0,
                    &self.parents[picks.index(1)].0,
                );
                Proposal::child(space.crossover(a, b, rng).0, a.clone(), None)
            } else if r < config.crossover_probability + config.mutation_probability {
                let parent = &self.parents[rng.random_range(0..n)].0;
                Proposal::child(space.mutate(parent, rng), parent.clone(), None)
            } else {
                let parent = &self.parents[rng.random_range(0..n)].0;
                Proposal::child(parent.clone(), parent.clone(), None)
            };
            self.planned.push_back(proposal);
            planned += 1;
        }
        for _ in 0..config.random_offspring {
            self.planned.push_back(Proposal::sample(space.sample(rng)));
            planned += 1;
        }
        self.expected += planned;
    }

    /// `mu` tournaments over the pool, with replacement; fitness NaN ranks last.
    fn select(&mut self, rng: &mut SearchRng) {
        let order = |f: f64| if f.is_nan() { f64::NEG_INFINITY } else { f };
        let pool = std::mem::take(&mut self.pool);
        let mut parents = Vec::with_capacity(self.config.mu);
        for _ in 0..self.config.mu {
            let mut winner = rng.random_range(0..pool.len());
            for _ in 1..self.config.tournament_size {
                let i = rng.random_range(0..pool.len());
                if order(pool[i].1) > order(pool[winner].1) {
                    winner = i;
                }
            }
            parents.push(pool[winner].clone());
        }
        self.parents = parents;
    }
}

impl<S: Crossover> Algorithm<S> for MuPlusLambda<S::Candidate> {
    fn propose(&mut self, space: &S, rng: &mut SearchRng) -> Proposal<S::Candidate> {
        if self.planned.is_empty() {
            // Selection needs randomness, and feedback gets none: a generation
            // whose every fitness is in is closed here, before the next is planned.
            if self.started && self.pool.len() >= self.expected && !self.pool.is_empty() {
                if self.generation == 0 {
                    self.parents = std::mem::take(&mut self.pool);
                } else {
                    self.select(rng);
                }
                self.generation += 1;
                self.expected = 0;
            }
            self.plan(space, rng);
        }
        self.planned
            .pop_front()
            .expect("a generation plans at least one proposal")
    }

    fn feedback(&mut self, feedback: Feedback<S::Candidate>) {
        self.pool.push((feedback.candidate, feedback.fitness));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{IntSpace, rng};

    impl Crossover for IntSpace {
        fn crossover(&self, a: &u32, b: &u32, _rng: &mut SearchRng) -> (u32, u32) {
            // The high half of one and the low half of the other.
            let mask = 0xff;
            ((a & !mask) | (b & mask), (b & !mask) | (a & mask))
        }
    }

    /// Runs `generations` generations serially with fitness `f(candidate)`;
    /// returns every proposal.
    fn run(
        config: MuPlusLambdaConfig,
        generations: usize,
        seed: u64,
    ) -> (Vec<Proposal<u32>>, MuPlusLambda<u32>) {
        let space = IntSpace::new(1 << 16);
        let mut algo = config.build().unwrap();
        let mut r = rng(seed);
        let mut proposals = Vec::new();
        let total: usize = (0..generations).map(|g| config.generation_size(g)).sum();
        for index in 0..total {
            let p = Algorithm::<IntSpace>::propose(&mut algo, &space, &mut r);
            Algorithm::<IntSpace>::feedback(
                &mut algo,
                Feedback {
                    proposal_index: index as u64,
                    candidate: p.candidate,
                    fitness: f64::from(p.candidate % 1000),
                    replaced: false,
                    cache_hit: false,
                },
            );
            proposals.push(p);
        }
        (proposals, algo)
    }

    #[test]
    fn generations_follow_eznas_algorithm_one() {
        let config = MuPlusLambdaConfig::EZNAS;
        let (proposals, algo) = run(config, 4, 1);
        // Generation 0: 50 samples.
        assert!(proposals[..50].iter().all(|p| p.parent.is_none()));
        // Generation 1 (closed by the first proposal of generation 2): the 50
        // first members are re-evaluated in order, then 25 varOr children, then
        // 25 samples.
        let generation_1 = &proposals[50..150];
        for (p, q) in generation_1[..50].iter().zip(&proposals[..50]) {
            assert_eq!(p.candidate, q.candidate, "generation 0 is kept whole");
        }
        assert!(generation_1[50..75].iter().all(|p| p.parent.is_some()));
        assert!(generation_1[75..].iter().all(|p| p.parent.is_none()));
        // From generation 2 on, mu parents are re-evaluated.
        let generation_2 = &proposals[150..225];
        assert!(
            generation_2[..25]
                .iter()
                .all(|p| p.parent == Some(p.candidate))
        );
        assert_eq!(algo.generations(), 3);
        assert_eq!(algo.parents().count(), 25);
        // Selection favours fitness: the parents beat the average sample.
        let mean_parent = algo.parents().map(|(_, f)| f).sum::<f64>() / 25.0;
        assert!(mean_parent > 600.0, "{mean_parent}");
        // Seeded.
        assert_eq!(run(config, 4, 1).0, proposals);
        assert_ne!(run(config, 4, 2).0, proposals);
    }

    #[test]
    fn without_reevaluation_parents_keep_their_fitness() {
        let config = MuPlusLambdaConfig {
            reevaluate_parents: false,
            ..MuPlusLambdaConfig::EZNAS
        };
        let (proposals, algo) = run(config, 3, 4);
        assert_eq!(proposals.len(), 50 + 50 + 50);
        assert!(proposals[50..75].iter().all(|p| p.parent.is_some()));
        assert_eq!(algo.generations(), 2);
    }

    #[test]
    fn bad_settings_are_errors() {
        let bad = [
            MuPlusLambdaConfig {
                mu: 0,
                ..MuPlusLambdaConfig::EZNAS
            },
            MuPlusLambdaConfig {
                random_offspring: 51,
                ..MuPlusLambdaConfig::EZNAS
            },
            MuPlusLambdaConfig {
                crossover_probability: 0.7,
                ..MuPlusLambdaConfig::EZNAS
            },
            MuPlusLambdaConfig {
                mutation_probability: -0.1,
                ..MuPlusLambdaConfig::EZNAS
            },
        ];
        for config in bad {
            assert!(
                matches!(config.build::<u32>(), Err(SearchError::InvalidConfig(_))),
                "{config:?}"
            );
        }
    }
}
