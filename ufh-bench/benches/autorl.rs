//! AutoRL: steps per second of CartPole and of the dynamic-obstacles gridworld
//! under a fixed cycle of actions (resets included), one DQN evaluation of DQN's
//! loss graph, one functional hash of it with each hasher, and one batch's loss
//! and gradient through the graph beside DQN's loss by hand, and one DQN update
//! at evolving-RL's 256 × 256 network and at the scaled 32 × 32 (the numpy DQN's
//! time for the same update comes from `ufh-bench/reference/dqn_numpy.py
//! update`, run in the same sitting).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use ufh_core::MantissaBits;
use ufh_search::CandidateHasher;
use ufh_spaces::autorl::dqn::{
    DqnConfig, DqnLearner, DqnLoss, LossInputs, TdLoss, Transition, train_dqn,
};
use ufh_spaces::autorl::graph::LossGraph;
use ufh_spaces::autorl::{CartPole, CartPoleVersion, DynamicObstacles, Environment};
use ufh_spaces::autorl::{EvolvingRlHasher, UfhLossHasher};

const STEPS: u64 = 10_000;

fn run(env: &mut dyn Environment, actions: usize) -> f64 {
    let mut total = 0.0;
    let mut episode = 0;
    env.reset(episode);
    for i in 0..STEPS as usize {
        let step = env.step((i / 3) % actions);
        total += step.reward + f64::from(step.observation[0]);
        if step.done() {
            episode += 1;
            env.reset(episode);
        }
    }
    total
}

fn environments(c: &mut Criterion) {
    let mut group = c.benchmark_group("autorl_env");
    group.throughput(Throughput::Elements(STEPS));
    group.bench_function("cartpole_v0_steps", |b| {
        let mut env = CartPole::new(CartPoleVersion::V0);
        b.iter(|| black_box(run(&mut env, 2)))
    });
    group.bench_function("dynamic_obstacles_6x6_steps", |b| {
        let mut env = DynamicObstacles::new();
        b.iter(|| black_box(run(&mut env, 3)))
    });
    group.finish();
}

/// One full evaluation of DQN's loss graph: a DQN run on CartPole-v0 at the
/// scaled settings (150 episodes, a 32 × 32 network), seed 1.
fn dqn(c: &mut Criterion) {
    let mut group = c.benchmark_group("autorl_dqn");
    group.sample_size(10);
    let graph = LossGraph::dqn();
    group.bench_function("cartpole_dqn_graph_scaled", |b| {
        b.iter(|| {
            let run = train_dqn(
                &mut CartPole::new(CartPoleVersion::V0),
                &graph,
                &DqnConfig::scaled(),
                1,
            );
            black_box(run.score)
        })
    });
    group.finish();
}

/// One functional hash of DQN's graph: the paper's (4,096 fake transitions,
/// 16 mantissa bits of an f32) beside evolving-RL's (10 transitions, a rounded
/// sum).
fn hash(c: &mut Criterion) {
    let graph = LossGraph::dqn();
    let ufh = UfhLossHasher::new(MantissaBits::f32(16).expect("16 bits fit an f32"), 0.0);
    let evolving = EvolvingRlHasher::new(0.0);
    let mut group = c.benchmark_group("autorl_hash");
    group.bench_function("ufh_4096_transitions", |b| {
        b.iter(|| black_box(ufh.hash(&graph)))
    });
    group.bench_function("evolving_rl_10_transitions", |b| {
        b.iter(|| black_box(evolving.hash(&graph)))
    });
    group.finish();
}

/// The loss of one training batch (32 transitions, 2 actions) with its gradient:
/// DQN's graph through the generic evaluator and reverse pass, beside DQN's loss
/// written by hand, so the graph machinery's overhead per DQN step shows.
fn loss(c: &mut Criterion) {
    let (b, a) = (32, 2);
    let values = |k: usize| -> Vec<f32> {
        (0..k)
            .map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0)
            .collect()
    };
    let (q_prev, q_next, target_prev, target_next) = (
        values(b * a),
        values(b * a + 1)[1..].to_vec(),
        values(b * a),
        values(b * a),
    );
    let action: Vec<usize> = (0..b).map(|i| i % a).collect();
    let reward = values(b);
    let discount = vec![0.99f32; b];
    let inputs = LossInputs {
        batch: b,
        actions: a,
        q_prev: &q_prev,
        q_next: &q_next,
        target_prev: &target_prev,
        target_next: &target_next,
        action: &action,
        reward: &reward,
        discount: &discount,
        noise_seed: 0,
    };
    let graph = LossGraph::dqn();
    let mut group = c.benchmark_group("autorl_loss_batch32");
    group.bench_function("dqn_graph", |bench| {
        bench.iter(|| black_box(graph.loss(&inputs)))
    });
    group.bench_function("dqn_by_hand", |bench| {
        bench.iter(|| black_box(DqnLoss.loss(&inputs)))
    });
    group.finish();
}

/// One DQN update with DQN's loss graph, as `dqn_numpy.py update` times numpy's:
/// a batch of 32 CartPole-shaped transitions drawn from 10,000, the passes the
/// loss reads, the backward pass and an Adam step.
fn update(c: &mut Criterion) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let replay: Vec<Transition> = (0..10_000)
        .map(|_| Transition {
            state: (0..4).map(|_| rng.random_range(-1.0f32..1.0)).collect(),
            action: rng.random_range(0..2),
            reward: 1.0,
            next_state: (0..4).map(|_| rng.random_range(-1.0f32..1.0)).collect(),
            terminal: rng.random::<f64>() < 0.05,
        })
        .collect();
    let graph = LossGraph::dqn();
    let mut group = c.benchmark_group("autorl_dqn_update");
    for (name, config) in [
        ("hidden_32x32", DqnConfig::scaled()),
        ("hidden_256x256", DqnConfig::evolving_rl()),
    ] {
        let mut learner = DqnLearner::new(4, 2, &config, &mut rng);
        group.bench_function(name, |b| {
            b.iter(|| {
                let batch: Vec<&Transition> = (0..32)
                    .map(|_| &replay[rng.random_range(0..replay.len())])
                    .collect();
                black_box(learner.update(&batch, &graph, 7))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, environments, dqn, hash, loss, update);
