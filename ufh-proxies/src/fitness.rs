//! EZNAS's fitness of a proxy (§3.5.2, §3.6): over `rounds` rounds, pick one design
//! space uniformly, score `networks_per_round` of its networks drawn uniformly
//! without replacement, and take Kendall τ-b between the scores and the networks'
//! accuracies; the fitness is the minimum over the rounds. A tree that is invalid
//! on any network scored, or whose scores are constant (τ undefined), fails.
//!
//! Simulated cost: one second per network scored, so that a search's budget counts
//! network evaluations (the unit EZNAS's cost scales with).

use rand::Rng;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use ufh_search::{Evaluation, Evaluator, SearchRng};

use crate::population::score_population;

use crate::rank::kendall_tau_b;
use crate::tensor::Tensor;
use crate::tree::Tree;

/// One network of the zoo: the statistics of its ReLU-Conv-BN instances and its
/// trained accuracy.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Per instance, the 22 statistics in [`crate::tree::Stat::ALL`]'s order.
    pub instances: Vec<Vec<Tensor>>,
    /// The accuracy the proxy should rank by.
    pub accuracy: f64,
}

impl Network {
    /// The tree's score of this network, or `None` if the tree is invalid on it.
    pub fn score(&self, tree: &Tree) -> Option<f64> {
        tree.score(self.instances.iter().map(Vec::as_slice)).ok()
    }
}

/// Why a fitness cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FitnessError {
    /// A space with fewer networks than a round scores.
    #[error("space {space} has {networks} networks, fewer than the {per_round} a round scores")]
    SmallSpace {
        /// Which space.
        space: usize,
        /// Networks it has.
        networks: usize,
        /// Networks a round needs.
        per_round: usize,
    },
    /// No space, no round, or rounds of fewer than two networks.
    #[error("a fitness needs a space, a round and two networks a round")]
    Empty,
}

/// EZNAS's minimum-over-rounds Kendall τ fitness.
#[derive(Debug, Clone)]
pub struct KendallFitness {
    spaces: Vec<Vec<Network>>,
    rounds: usize,
    networks_per_round: usize,
}

impl KendallFitness {
    /// EZNAS's setting: 4 rounds of 20 networks.
    pub fn eznas(spaces: Vec<Vec<Network>>) -> Result<Self, FitnessError> {
        Self::new(spaces, 4, 20)
    }

    /// `rounds` rounds of `networks_per_round` networks over `spaces`.
    pub fn new(
        spaces: Vec<Vec<Network>>,
        rounds: usize,
        networks_per_round: usize,
    ) -> Result<Self, FitnessError> {
        if spaces.is_empty() || rounds == 0 || networks_per_round < 2 {
            return Err(FitnessError::Empty);
        }
        if let Some((space, networks)) = spaces
            .iter()
            .enumerate()
            .find(|(_, s)| s.len() < networks_per_round)
        {
            return Err(FitnessError::SmallSpace {
                space,
                networks: networks.len(),
                per_round: networks_per_round,
            });
        }
        Ok(Self {
            spaces,
            rounds,
            networks_per_round,
        })
    }

    /// The spaces the rounds are drawn from.
    pub fn spaces(&self) -> &[Vec<Network>] {
        &self.spaces
    }

    /// Kendall τ-b of the tree's scores against accuracy over `networks`, or
    /// `None` if the tree is invalid on one of them or scores them all alike.
    pub fn tau(tree: &Tree, networks: &[&Network]) -> Option<f64> {
        let mut scores = Vec::with_capacity(networks.len());
        for network in networks {
            scores.push(network.score(tree)?);
        }
        let accuracies: Vec<f64> = networks.iter().map(|n| n.accuracy).collect();
        kendall_tau_b(&scores, &accuracies).ok()
    }
}

/// How well a proxy ranks a whole space: EZNAS's meta-validation of its best trees
/// on every network of the held-out spaces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correlations {
    /// Kendall τ-b of score against accuracy.
    pub kendall_tau: f64,
    /// Spearman ρ of score against accuracy.
    pub spearman_rho: f64,
}

/// Scores every network of `space` with `tree` and correlates the scores with the
/// accuracies; `None` if the tree is invalid on a network or the correlation is
/// undefined (constant scores).
pub fn meta_validate(tree: &Tree, space: &[Network]) -> Option<Correlations> {
    correlate(space, |network| network.score(tree))
}

/// Correlates `score` of every network of `space` with the accuracies; `None` if
/// a score is undefined or all are equal.
pub fn correlate(
    space: &[Network],
    score: impl Fn(&Network) -> Option<f64>,
) -> Option<Correlations> {
    let mut scores = Vec::with_capacity(space.len());
    for network in space {
        scores.push(score(network)?);
    }
    let accuracies: Vec<f64> = space.iter().map(|n| n.accuracy).collect();
    correlations(&scores, &accuracies)
}

/// Kendall τ-b and Spearman ρ of `scores` against `accuracies`; `None` where
/// either is undefined.
pub fn correlations(scores: &[f64], accuracies: &[f64]) -> Option<Correlations> {
    Some(Correlations {
        kendall_tau: kendall_tau_b(scores, accuracies).ok()?,
        spearman_rho: crate::rank::spearman_rho(scores, accuracies).ok()?,
    })
}

impl KendallFitness {
    /// The networks of one round, drawn as EZNAS draws them: a space uniformly,
    /// then `networks_per_round` of its networks without replacement.
    fn draw_round(&self, rng: &mut SearchRng) -> (usize, Vec<usize>) {
        let space = rng.random_range(0..self.spaces.len());
        let picks =
            rand::seq::index::sample(rng, self.spaces[space].len(), self.networks_per_round);
        (space, picks.into_vec())
    }

    /// Kendall τ-b of one round's scores against its networks' accuracies, or
    /// `None` if a score is missing (the tree is invalid there) or τ is undefined.
    fn round_tau(
        &self,
        (space, picks): &(usize, Vec<usize>),
        scores: Option<Vec<f64>>,
    ) -> Option<f64> {
        let accuracies: Vec<f64> = picks
            .iter()
            .map(|&i| self.spaces[*space][i].accuracy)
            .collect();
        kendall_tau_b(&scores?, &accuracies).ok()
    }

    /// The evaluation of a tree whose rounds gave `taus` (stopping at the first
    /// that failed).
    fn outcome(&self, taus: impl IntoIterator<Item = Option<f64>>) -> Evaluation {
        let mut worst = f64::INFINITY;
        let mut scored = 0usize;
        for tau in taus {
            scored += self.networks_per_round;
            match tau {
                Some(tau) => worst = worst.min(tau),
                None => return Evaluation::failed(scored as f64),
            }
        }
        Evaluation {
            validation: worst,
            // No held-out accuracy inside the GP: meta-validation re-scores the best
            // trees on whole held-out spaces afterwards.
            test: worst,
            cost_s: scored as f64,
        }
    }
}

/// One network of a round, the jobs that need it, and each job's score on it.
type NetworkScores = ((usize, usize), Vec<usize>, Vec<Option<f64>>);

impl Evaluator<Tree> for KendallFitness {
    /// The plain path: each network scored by [`Tree::score`], a round at a time,
    /// stopping at the first round that fails.
    fn evaluate(&self, tree: &Tree, rng: &mut SearchRng) -> Evaluation {
        self.outcome((0..self.rounds).map(|_| {
            let round = self.draw_round(rng);
            // Stops at the first network the tree is invalid on.
            let scores = round
                .1
                .iter()
                .map(|&i| self.spaces[round.0][i].score(tree))
                .collect();
            self.round_tau(&round, scores)
        }))
    }

    /// The generation path, equal to [`KendallFitness::evaluate`] job by job: round
    /// by round, every network that some surviving tree of the batch needs is
    /// scored once for all of them by [`score_population`] (subtrees the trees
    /// share computed once per instance), the networks spread over rayon's pool.
    #[allow(clippy::needless_range_loop)] // a round indexes every job's plan
    fn evaluate_batch(&self, jobs: &mut [(&Tree, SearchRng)]) -> Vec<Evaluation> {
        let plans: Vec<Vec<(usize, Vec<usize>)>> = jobs
            .iter_mut()
            .map(|(_, rng)| (0..self.rounds).map(|_| self.draw_round(rng)).collect())
            .collect();
        let trees: Vec<&Tree> = jobs.iter().map(|(tree, _)| *tree).collect();
        let mut taus: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(self.rounds); jobs.len()];
        for round in 0..self.rounds {
            let alive: Vec<usize> = (0..jobs.len())
                .filter(|&j| taus[j].iter().all(Option::is_some))
                .collect();
            // Which surviving jobs need each network this round, in a fixed order.
            let mut needs: FxHashMap<(usize, usize), Vec<usize>> = FxHashMap::default();
            for &j in &alive {
                let (space, picks) = &plans[j][round];
                for &i in picks {
                    needs.entry((*space, i)).or_default().push(j);
                }
            }
            let mut needs: Vec<((usize, usize), Vec<usize>)> = needs.into_iter().collect();
            needs.sort_unstable_by_key(|(network, _)| *network);
            let scored: Vec<NetworkScores> = needs
                .into_par_iter()
                .with_max_len(1)
                .map(|(network, js)| {
                    let batch: Vec<&Tree> = js.iter().map(|&j| trees[j]).collect();
                    let (scores, _) = score_population(&batch, &self.spaces[network.0][network.1]);
                    (network, js, scores)
                })
                .collect();
            let mut by_job: FxHashMap<(usize, (usize, usize)), Option<f64>> = FxHashMap::default();
            for (network, js, scores) in scored {
                by_job.extend(js.into_iter().map(|j| (j, network)).zip(scores));
            }
            for j in alive {
                let round = &plans[j][round];
                let scores = round
                    .1
                    .iter()
                    .map(|&i| by_job[&(j, (round.0, i))])
                    .collect();
                taus[j].push(self.round_tau(round, scores));
            }
        }
        taus.into_iter().map(|t| self.outcome(t)).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;
    use ufh_core::MantissaBits;
    use ufh_search::{Budget, Mode, MuPlusLambdaConfig, Search, Techniques};

    use super::*;
    use crate::hash::TreeHasher;
    use crate::space::TreeSpace;
    use crate::tree::{Node, Stat};

    /// A synthetic zoo whose networks' accuracy is a noisy function of the spread
    /// of their data-dependent statistics (those of D and P; N's are pure noise): a
    /// proxy exists, and the GP should find one.
    pub(crate) fn zoo(seed: u64, networks: usize) -> Vec<Network> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..networks)
            .map(|_| {
                let spread: f32 = rng.random_range(0.2..2.0);
                let instances: Vec<Vec<Tensor>> = (0..2)
                    .map(|_| {
                        Stat::ALL
                            .iter()
                            .map(|&stat| {
                                let name = format!("{stat:?}");
                                let noise = name.ends_with('N');
                                let scale = if noise { 1.0 } else { spread };
                                let data = (0..12)
                                    .map(|_| scale * rng.random_range(-1.0..1.0f32))
                                    .collect();
                                Tensor::new(vec![3, 4], data)
                            })
                            .collect()
                    })
                    .collect();
                Network {
                    instances,
                    accuracy: f64::from(spread) + rng.random_range(0.0..0.3),
                }
            })
            .collect()
    }

    #[test]
    fn fitness_is_the_worst_round_and_invalid_trees_fail() {
        let fitness = KendallFitness::new(vec![zoo(1, 40), zoo(2, 30)], 4, 20).unwrap();
        let mut rng = SearchRng::seed_from_u64(0);
        let good = Tree::new(vec![Node::Op(Op::L1Norm), Node::Arg(Stat::T4D)]).unwrap();
        let e = fitness.evaluate(&good, &mut rng);
        assert!(e.validation > 0.5, "{e:?}");
        assert_eq!(e.cost_s, 80.0);
        // Unrelated to accuracy: near 0 at best.
        let blind = Tree::new(vec![Node::Op(Op::L1Norm), Node::Arg(Stat::T1N)]).unwrap();
        assert!(fitness.evaluate(&blind, &mut rng).validation < e.validation);
        // Constant scores: τ undefined, a failure.
        let constant =
            Tree::new(vec![Node::Op(Op::NumberOfElements), Node::Arg(Stat::T1D)]).unwrap();
        assert!(
            fitness
                .evaluate(&constant, &mut rng)
                .validation
                .is_infinite()
        );
        assert_eq!(
            KendallFitness::new(vec![zoo(1, 10)], 4, 20).unwrap_err(),
            FitnessError::SmallSpace {
                space: 0,
                networks: 10,
                per_round: 20
            }
        );
    }

    /// A generation scored as one batch (shared subtrees, networks on the pool)
    /// is the plain path's evaluation, job by job, bit for bit, including the
    /// cost of trees that fail in a later round.
    #[test]
    fn a_batch_is_evaluated_as_each_tree_alone() {
        use ufh_search::{Crossover, SearchSpace};
        let fitness = KendallFitness::new(vec![zoo(6, 30), zoo(7, 25)], 4, 10).unwrap();
        let space = TreeSpace::EZNAS;
        let mut rng = SearchRng::seed_from_u64(3);
        let mut trees: Vec<Tree> = (0..20).map(|_| space.sample(&mut rng)).collect();
        for i in 0..20 {
            trees.push(space.mutate(&trees[i], &mut rng));
            trees.push(space.crossover(&trees[i], &trees[(i + 5) % 20], &mut rng).0);
        }
        trees.push(trees[0].clone());
        let streams: Vec<SearchRng> = (0..trees.len() as u64)
            .map(SearchRng::seed_from_u64)
            .collect();
        let mut jobs: Vec<(&Tree, SearchRng)> = trees.iter().zip(streams.clone()).collect();
        let batch = fitness.evaluate_batch(&mut jobs);
        let (mut valid, mut failed) = (0, 0);
        for ((tree, mut rng), got) in trees.iter().zip(streams).zip(&batch) {
            let alone = fitness.evaluate(tree, &mut rng);
            assert_eq!(
                got.validation.to_bits(),
                alone.validation.to_bits(),
                "{tree}"
            );
            assert_eq!(got.cost_s, alone.cost_s, "{tree}");
            if alone.is_failure() {
                failed += 1
            } else {
                valid += 1
            }
        }
        assert!(valid > 5 && failed > 0, "{valid} valid, {failed} failed");
    }

    use crate::ops::Op;

    const GOLDEN_BEST: &str = "FrobeniusNorm(T3GP)";
    const GOLDEN_INDEX: u64 = 703;

    /// A seeded GP run end to end: (mu + lambda) over trees with FEC, the Kendall
    /// fitness and the functional hash; it finds a proxy, hits its cache, and
    /// gives the same record every time.
    #[test]
    fn a_short_gp_run_is_seeded_and_finds_a_proxy() {
        let spaces = vec![zoo(3, 40), zoo(4, 40)];
        let canonical: Vec<Vec<Tensor>> = spaces[0][..4]
            .iter()
            .flat_map(|n| n.instances.iter().cloned())
            .collect();
        let hasher = TreeHasher::new(canonical, MantissaBits::f64(24).unwrap(), 0.0).unwrap();
        let fitness = KendallFitness::eznas(spaces).unwrap();
        let config = MuPlusLambdaConfig::EZNAS;
        let search = || {
            Search::new(&TreeSpace::EZNAS, &fitness, Budget::Candidates(1000), 11)
                .hasher(&hasher)
                .techniques(Techniques::FEC)
                .unwrap()
        };
        let run = || {
            let found = search()
                .run(&mut config.build().unwrap(), Mode::Serial)
                .unwrap();
            (found.record, found.best)
        };
        let (record, best) = run();
        let best = best.expect("a valid tree");
        assert!(
            best.validation > 0.4,
            "{}: {}",
            best.candidate,
            best.validation
        );
        assert!(record.hit_rate().unwrap() > 0.1, "{:?}", record.hit_rate());
        // Permanence: this seed's best tree, found after this many candidates.
        assert_eq!(
            (best.candidate.to_string(), best.proposal_index),
            (GOLDEN_BEST.to_string(), GOLDEN_INDEX)
        );
        let (again, best_again) = run();
        assert_eq!(record.events, again.events);
        // Batches of 25 (which divide every generation: 50, then 25 + 50) score
        // through the batch path; the record does not depend on the threads.
        let parallel = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                search()
                    .run(&mut config.build().unwrap(), Mode::parallel(25).unwrap())
                    .unwrap()
                    .record
            })
        };
        // Debug text, because a hit on a fitness still pending records NaN.
        let one = parallel(1);
        assert_eq!(
            format!("{:?}", one.events),
            format!("{:?}", parallel(2).events)
        );
        assert_eq!(one.events.len(), 1000);
        assert_eq!(
            best_again.map(|b| b.candidate.clone()),
            Some(best.candidate.clone())
        );
        // Meta-validation on a space the GP never saw.
        let held_out = zoo(5, 60);
        let c = meta_validate(&best.candidate, &held_out).expect("valid on the held-out space");
        assert!(
            c.kendall_tau > 0.3 && c.spearman_rho > c.kendall_tau,
            "{c:?}"
        );
    }
}
