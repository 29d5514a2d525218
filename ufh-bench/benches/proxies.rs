//! EZNAS tree evaluation.
//!
//! `proxies_tree_evaluation`: a generation of trees scored on 8 networks by the
//! plain recursive interpreter (`Tree::score`, tree by tree), by
//! `score_population` (shared subtrees computed once per instance) on one core,
//! and by `score_population` with the networks spread over every core of
//! rayon's pool, in elements of node output per second of the plain
//! interpreter's work.
//!
//! `proxies_gp_generation`: the fitness of one GP generation (75 trees, 4 rounds
//! of 20 of 40 networks): each tree evaluated alone (`Evaluator::evaluate`) and the
//! generation as one batch (`KendallFitness::evaluate_batch`, every distinct
//! network of a round scored once for all trees, on every core).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use ufh_proxies::fitness::{KendallFitness, Network};
use ufh_proxies::population::{plain_work, score_population};
use ufh_proxies::space::TreeSpace;
use ufh_proxies::tensor::Tensor;
use ufh_proxies::tree::{Stat, Tree};
use ufh_search::{Crossover, Evaluator, SearchRng, SearchSpace};

/// A network of `instances` ReLU-Conv-BN instances with batch-16 statistics of
/// `[16, 8, 4, 4]` and `[8, 8, 3, 3]` conv weights, seeded.
fn network(seed: u64, instances: usize) -> Network {
    let mut rng = SearchRng::seed_from_u64(seed);
    let instances = (0..instances)
        .map(|_| {
            Stat::ALL
                .iter()
                .map(|stat| {
                    let shape = match stat {
                        Stat::T3 | Stat::T3GD | Stat::T3GN | Stat::T3GP => vec![8, 8, 3, 3],
                        _ => vec![16, 8, 4, 4],
                    };
                    let n = shape.iter().product();
                    Tensor::new(shape, (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
                })
                .collect()
        })
        .collect();
    Network {
        instances,
        accuracy: 0.5,
    }
}

/// A generation as the GP makes one: 25 parents (re-evaluated), 25 varOr-like
/// children (half mutants, half crossovers) and 25 fresh samples.
fn generation() -> Vec<Tree> {
    let space = TreeSpace::EZNAS;
    let mut rng = SearchRng::seed_from_u64(1);
    let parents: Vec<Tree> = (0..25).map(|_| space.sample(&mut rng)).collect();
    let mut trees = parents.clone();
    for i in 0..25 {
        trees.push(if i % 2 == 0 {
            space.mutate(&parents[i], &mut rng)
        } else {
            space
                .crossover(&parents[i], &parents[(i + 3) % 25], &mut rng)
                .0
        });
    }
    trees.extend((0..25).map(|_| space.sample(&mut rng)));
    trees
}

fn tree_evaluation(c: &mut Criterion) {
    let trees = generation();
    let networks: Vec<Network> = (0..8).map(|s| network(s, 6)).collect();
    let elements: u64 = networks
        .iter()
        .map(|n| plain_work(&trees, n).elements)
        .sum();
    let mut group = c.benchmark_group("proxies_tree_evaluation");
    group.throughput(Throughput::Elements(elements));
    group.bench_function("plain_interpreter", |b| {
        b.iter(|| {
            for network in &networks {
                for tree in &trees {
                    black_box(network.score(tree));
                }
            }
        })
    });
    group.bench_function("shared_subtrees", |b| {
        b.iter(|| {
            for network in &networks {
                black_box(score_population(&trees, network));
            }
        })
    });
    group.bench_function("shared_subtrees_all_cores", |b| {
        b.iter(|| {
            networks.par_iter().with_max_len(1).for_each(|network| {
                black_box(score_population(&trees, network));
            })
        })
    });
    group.finish();
}

fn gp_generation(c: &mut Criterion) {
    let trees = generation();
    let fitness = KendallFitness::eznas(vec![(0..40).map(|s| network(100 + s, 3)).collect()])
        .expect("40 networks make rounds of 20");
    let streams: Vec<SearchRng> = (0..trees.len() as u64)
        .map(SearchRng::seed_from_u64)
        .collect();
    let mut group = c.benchmark_group("proxies_gp_generation");
    group.sample_size(10);
    group.throughput(Throughput::Elements(trees.len() as u64));
    group.bench_function("tree_by_tree", |b| {
        b.iter(|| {
            for (tree, rng) in trees.iter().zip(&streams) {
                black_box(fitness.evaluate(tree, &mut rng.clone()));
            }
        })
    });
    group.bench_function("batch_all_cores", |b| {
        b.iter(|| {
            let mut jobs: Vec<(&Tree, SearchRng)> =
                trees.iter().zip(streams.iter().cloned()).collect();
            black_box(fitness.evaluate_batch(&mut jobs))
        })
    });
    group.finish();
}

criterion_group!(benches, tree_evaluation, gp_generation);
