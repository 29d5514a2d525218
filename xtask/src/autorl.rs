//! `cargo xtask autorl`: evolve RL loss graphs (the paper's Setup C) with
//! regularized evolution, DQN on CartPole-v0 and the dynamic-obstacles gridworld,
//! and report what the functional hash did.

use std::num::NonZeroUsize;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use ufh_core::MantissaBits;
use ufh_search::{
    AuditConfig, Budget, CandidateHasher, EvolutionConfig, FecConfig, Mode, Replacement, Search,
    Techniques,
};
use ufh_spaces::autorl::dqn::DqnConfig;
use ufh_spaces::autorl::graph::LossGraph;
use ufh_spaces::autorl::{
    EvolvingRlHasher, LossEvaluator, LossGraphSpace, LossSpaceConfig, UfhLossHasher,
};

use crate::common::progress::{Progress, report_cache};
use crate::say;

/// Environment steps charged per hash of the paper's hash (see `run`).
pub(crate) const HASH_STEPS: f64 = 3.0;

/// Candidates proposed, hashed and evaluated together: the record depends on it,
/// never on the thread count.
const GENERATION: NonZeroUsize = NonZeroUsize::new(16).expect("non-zero");

/// Which functional hash keys the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Hasher {
    /// The paper's: outputs on 4,096 fake transitions, mantissa-truncated.
    Ufh,
    /// evolving-RL's: the rounded sum of the outputs on 10 random transitions.
    EvolvingRl,
}

/// DQN's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Dqn {
    /// `DqnConfig::scaled`: 32 × 32, Adam at 1e−3, 150 episodes (about a second
    /// per CartPole training).
    Scaled,
    /// `DqnConfig::evolving_rl`: the paper's 256 × 256, Adam at 1e−4, 400
    /// episodes (about a minute and a half per training here).
    EvolvingRl,
}

/// The first graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Start {
    /// `LossSpaceConfig::PAPER`: DQN's loss and 7 free nodes.
    Dqn,
    /// `LossSpaceConfig::RANDOM_START`: random graphs of 1 to 20 nodes.
    Random,
}

/// `cargo xtask autorl`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Candidates of the search (its budget, unless --steps is given).
    #[arg(long, default_value_t = 300)]
    candidates: u64,
    /// Budget in environment steps instead of candidates (every training charged,
    /// and each hash 3 steps).
    #[arg(long, value_name = "STEPS")]
    steps: Option<f64>,
    /// DQN's settings.
    #[arg(long, value_enum, default_value_t = Dqn::Scaled)]
    dqn: Dqn,
    /// Where the search starts: from DQN's loss with 7 free nodes (the paper's,
    /// as evolving-RL's) or from random graphs.
    #[arg(long, value_enum, default_value_t = Start::Dqn)]
    start: Start,
    /// Instead of a search: train DQN's, DQNReg's and DQNClipped's losses at
    /// seeds 1..=N (evolving-RL's fitness: CartPole-v0, the gridworld past the
    /// hurdle) and report their scores and how many seeds miss the hurdle.
    #[arg(long, value_name = "N", conflicts_with_all = ["audit", "no_fec", "steps"])]
    named_losses: Option<u64>,
    /// Population (the paper: 300, scaled to this machine).
    #[arg(long, default_value_t = 50)]
    population: usize,
    /// Tournament (the paper: 25).
    #[arg(long, default_value_t = 10)]
    tournament: usize,
    /// Seed of the search.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The functional hash.
    #[arg(long, value_enum, default_value_t = Hasher::Ufh)]
    hasher: Hasher,
    /// Mantissa bits of the paper's hash (of an f32).
    #[arg(long, default_value_t = 16)]
    mantissa_bits: u32,
    /// Run without the cache (the baseline).
    #[arg(long)]
    no_fec: bool,
    /// Evaluate every cache hit anyway and count those whose fitness differs by
    /// more than this (training then uses one fixed seed, so that fitness is a
    /// function of the graph).
    #[arg(long, value_name = "TOLERANCE")]
    audit: Option<f64>,
    /// Evaluation threads [default: all cores]; the record does not depend on it.
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let space = match args.start {
        Start::Dqn => LossSpaceConfig::PAPER,
        Start::Random => LossSpaceConfig::RANDOM_START,
    }
    .build()
    .expect("the shipped settings are valid");
    let mut evaluator = LossEvaluator::scaled();
    if args.dqn == Dqn::EvolvingRl {
        evaluator.dqn = DqnConfig::evolving_rl();
    }
    if let Some(seeds) = args.named_losses {
        return named_losses(&evaluator, seeds, args.jobs);
    }
    if args.audit.is_some() {
        evaluator.fixed_seed = Some(args.seed);
    }
    let bits = MantissaBits::f32(args.mantissa_bits).context("--mantissa-bits")?;
    // The simulated clock counts environment steps. One DQN step with training
    // costs about 30 µs (criterion autorl_dqn: 0.198 s for a run of 6,500 steps)
    // and one hash of a graph on 4,096 transitions about 65 µs (autorl_hash; both
    // 8 December 2026, this project's 2-core VM), so a hash is charged 3 steps,
    // an upper bound (2 until the day DQN's step got faster than its hash).
    let ufh = UfhLossHasher::new(bits, HASH_STEPS);
    let evolving = EvolvingRlHasher::new(1.0);
    match args.hasher {
        Hasher::Ufh => search(&args, &space, &evaluator, &ufh),
        Hasher::EvolvingRl => search(&args, &space, &evaluator, &evolving),
    }
}

fn search<H: CandidateHasher<LossGraph> + Sync>(
    args: &Args,
    space: &LossGraphSpace,
    evaluator: &LossEvaluator,
    hasher: &H,
) -> anyhow::Result<()> {
    let techniques = Techniques {
        fec: (!args.no_fec).then_some(FecConfig::PLAIN),
        audit: args.audit.map(|tolerance| AuditConfig { tolerance }),
        ..Techniques::NONE
    };
    let evolution = EvolutionConfig {
        population_size: args.population,
        tournament_size: args.tournament,
        replacement: Replacement::Oldest,
    };
    say!(
        "AutoRL: regularized evolution (population {}, tournament {}), {}, start {:?}, DQN {:?}, \
         hash {:?}{}, seed {}",
        args.population,
        args.tournament,
        match args.steps {
            Some(steps) => format!("{steps:e} environment steps"),
            None => format!("{} candidates", args.candidates),
        },
        args.start,
        evaluator.dqn.hidden,
        args.hasher,
        if args.no_fec { " (no FEC)" } else { "" },
        args.seed
    );
    let bar = ProgressBar::new(if args.steps.is_some() {
        0
    } else {
        args.candidates
    })
    .with_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} candidates")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let progress = Progress(bar.clone());
    let budget = match args.steps {
        Some(steps) => Budget::SimulatedSeconds(steps),
        None => Budget::Candidates(args.candidates),
    };
    let search = Search::new(space, evaluator, budget, args.seed)
        .hasher(hasher)
        .techniques(techniques)?
        .stream_events(&progress);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(crate::threads(args.jobs))
        .build()?;
    let start = Instant::now();
    let mut algorithm = evolution.build()?;
    let found = pool.install(|| search.run(&mut algorithm, Mode::Parallel(GENERATION)))?;
    let record = &found.record;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    say!("{:.1} s, {} candidates", seconds, record.n_events);
    report_cache(record)?;
    if let Some(best) = &found.best {
        say!("best fitness {:.3}: {}", best.validation, best.candidate);
    }
    Ok(())
}

/// `--named-losses N`: each named loss's fitness at seeds 1..=N.
fn named_losses(
    evaluator: &LossEvaluator,
    seeds: u64,
    jobs: Option<NonZeroUsize>,
) -> anyhow::Result<()> {
    anyhow::ensure!(seeds > 0, "--named-losses needs at least one seed");
    let losses = [
        ("DQN", LossGraph::dqn()),
        ("DQNReg", LossGraph::dqn_reg()),
        ("DQNClipped", LossGraph::dqn_clipped()),
    ];
    say!(
        "AutoRL: the named losses at seeds 1..={seeds}, DQN {:?} at learning rate {}, {} episodes, hurdle {}",
        evaluator.dqn.hidden,
        evaluator.dqn.learning_rate,
        evaluator.dqn.episodes,
        evaluator.hurdle
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(crate::threads(jobs))
        .build()?;
    let start = Instant::now();
    let work: Vec<(usize, u64)> = (0..losses.len())
        .flat_map(|l| (1..=seeds).map(move |seed| (l, seed)))
        .collect();
    let bar = ProgressBar::new(work.len() as u64);
    let fitness: Vec<f64> = pool.install(|| {
        work.par_iter()
            .map(|&(l, seed)| {
                let (fitness, _) = evaluator.fitness(&losses[l].1, seed);
                bar.inc(1);
                fitness
            })
            .collect()
    });
    bar.finish_and_clear();
    say!("{:.1} s", start.elapsed().as_secs_f64());
    for (l, (name, _)) in losses.iter().enumerate() {
        let f = &fitness[l * seeds as usize..(l + 1) * seeds as usize];
        let n = f.len() as f64;
        let mean = f.iter().sum::<f64>() / n;
        let sem = (f.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt()
            / n.sqrt();
        let cleared: Vec<String> = (1..=seeds)
            .zip(f)
            .filter(|&(_, &x)| x >= evaluator.hurdle)
            .map(|(seed, _)| seed.to_string())
            .collect();
        say!(
            "{name:>10}: fitness {mean:.3} ± {sem:.3} (mean ± SEM), {} of {seeds} seeds below the \
             hurdle {}; cleared at seeds [{}]",
            f.len() - cleared.len(),
            evaluator.hurdle,
            cleared.join(", ")
        );
    }
    Ok(())
}
