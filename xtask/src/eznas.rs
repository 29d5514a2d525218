//! `cargo xtask eznas`: EZNAS's genetic program on the first space of its zoo, the
//! large embedded NAS table's cells, with and without FEC; reports the hit rate
//! and the wall time, and the Kendall τ and Spearman ρ of the best trees, EZNAS-A
//! and every baseline on held-out networks of each of the zoo's three spaces (the
//! table's cells and `ufh_spaces::zoo`'s NB201 cells and chain networks).
//!
//! Every network is built at initialisation: a table cell by `CellNetwork::new`
//! (seeded by its index in the table), a zoo network from the seed its shipped
//! training run started from. Statistics are taken on the first `--batch`
//! training digits, the loss-gradient baselines on the first 64. A cell's
//! accuracy is the table's mean validation accuracy over the three repeats of the
//! fitness budget, a zoo network's its table's validation accuracy. New trees are
//! screened on the statistics of two of the evolution cells (at most 100 draws
//! each), as EZNAS screens them.

use std::time::Instant;

use anyhow::Context;
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use ufh_core::MantissaBits;
use ufh_proxies::baselines::BASELINES;
use ufh_proxies::file::{read_stats, write_stats};
use ufh_proxies::fitness::{
    Correlations, KendallFitness, Network, correlate, correlations, meta_validate,
};
use ufh_proxies::hash::TreeHasher;
use ufh_proxies::space::{ScreenedTreeSpace, TreeSpace};
use ufh_proxies::tensor::Tensor;
use ufh_proxies::tree::Tree;
use ufh_search::{Budget, KeepBest, MuPlusLambdaConfig, Search, Techniques};
use ufh_spaces::digits;
use ufh_spaces::embedded::EmbeddedTable;
use ufh_spaces::nasbench101::{BlockStatistics, CellNetwork, LossGradientScores};
use ufh_spaces::tabular::TabularBenchmark;
use ufh_spaces::zoo::{ZooSpace, ZooTable};

use crate::say;

/// `cargo xtask eznas`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Cells the GP evolves on (EZNAS: 80 per space).
    #[arg(long, default_value_t = 80)]
    networks: usize,
    /// Held-out cells the best trees are validated on.
    #[arg(long, default_value_t = 300)]
    held_out: usize,
    /// Images per statistics batch (EZNAS evolved with 1, its code uses 16).
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// GP generations after the first (EZNAS: 15).
    #[arg(long, default_value_t = 15)]
    generations: u64,
    /// Seed of the sample and of the GP.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep the zoo's statistics in this file (ufh's checksummed statistics
    /// format): read when it was made with the same settings, else computed and
    /// written.
    #[arg(long, value_name = "PATH")]
    stats: Option<std::path::PathBuf>,
}

/// One of the loss-gradient scores.
type LossScore = fn(&LossGradientScores) -> f64;

/// A proxy network from its blocks' statistics and its accuracy.
fn network(blocks: Vec<BlockStatistics>, accuracy: f64) -> Network {
    let instances = blocks
        .into_iter()
        .map(|b| {
            b.tensors
                .into_iter()
                .map(|t| Tensor::new(t.shape, t.data))
                .collect()
        })
        .collect();
    Network {
        instances,
        accuracy,
    }
}

/// The statistics of `cells` as proxy networks.
fn zoo(table: &EmbeddedTable, picks: &[usize], batch: usize) -> Vec<Network> {
    let config = table.spec().settings.train;
    let data = digits::split().train.first(batch).pixels;
    picks
        .par_iter()
        .with_max_len(1)
        .map(|&index| {
            let model = table.model_at(index);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(index as u64);
            let mut cell = CellNetwork::new(&model.cell, config, &mut rng);
            let blocks = cell.statistics_seeded(&data, batch, index as u64 ^ 0x5eed);
            let runs = model.runs(1);
            let accuracy =
                runs.iter().map(|r| r.end.validation_accuracy).sum::<f64>() / runs.len() as f64;
            network(blocks, accuracy)
        })
        .collect()
}

/// The loss-gradient scores of `picks` at initialisation (the same seeds as
/// [`zoo`]), on the first 64 training digits.
fn loss_gradient_scores(table: &EmbeddedTable, picks: &[usize]) -> Vec<LossGradientScores> {
    let config = table.spec().settings.train;
    let batch = digits::split().train.first(64);
    picks
        .par_iter()
        .with_max_len(1)
        .map(|&index| {
            let model = table.model_at(index);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(index as u64);
            CellNetwork::new(&model.cell, config, &mut rng)
                .loss_gradient_scores(&batch.pixels, &batch.labels)
        })
        .collect()
}

/// `count` networks of a zoo space's shipped table (seeded by `seed`), each at the
/// initialisation its training run started from: statistics on the first `batch`
/// training digits, loss-gradient scores on the first 64, and the table's
/// validation accuracy.
fn zoo_space(
    space: ZooSpace,
    count: usize,
    batch: usize,
    seed: u64,
) -> (Vec<Network>, Vec<LossGradientScores>) {
    let table = ZooTable::embedded(space);
    let config = table.metadata.settings.train;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x200);
    let records: Vec<_> = table
        .records
        .choose_multiple(&mut rng, count)
        .copied()
        .collect();
    let split = digits::split();
    let (data, labelled) = (split.train.first(batch).pixels, split.train.first(64));
    records
        .par_iter()
        .with_max_len(1)
        .map(|r| {
            let architecture = space.architecture(r.index).expect("the table's space");
            let build = || {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(space.run_seed(r.index));
                architecture.network(config, &mut rng)
            };
            let blocks = build().statistics_seeded(&data, batch, r.index as u64 ^ 0x5eed);
            let scores = build().loss_gradient_scores(&labelled.pixels, &labelled.labels);
            (network(blocks, r.accuracy(1, &table.metadata)), scores)
        })
        .unzip()
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let table = EmbeddedTable::large();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.seed);
    let indices: Vec<usize> = (0..table.len()).collect();
    let sample: Vec<usize> = indices
        .choose_multiple(&mut rng, args.networks + args.held_out)
        .copied()
        .collect();
    let started = Instant::now();
    let metadata = serde_json::json!({
        "zoo": "large embedded table, CellNetwork at initialisation",
        "generator": table.spec().generator,
        "networks": args.networks,
        "held_out": args.held_out,
        "batch": args.batch,
        "seed": args.seed,
    })
    .to_string();
    let cached = match &args.stats {
        Some(path) if path.exists() => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let (networks, made_with) =
                read_stats(&bytes).with_context(|| format!("reading {}", path.display()))?;
            (made_with == metadata).then_some(networks)
        }
        _ => None,
    };
    let from_file = cached.is_some();
    let mut all = match cached {
        Some(networks) => networks,
        None => zoo(&table, &sample, args.batch),
    };
    if let (Some(path), false) = (&args.stats, from_file) {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        write_stats(std::io::BufWriter::new(file), &all, &metadata)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let held_out = all.split_off(args.networks);
    let evolution = all;
    let floats: usize = evolution
        .iter()
        .chain(&held_out)
        .flat_map(|n| n.instances.iter().flatten())
        .map(Tensor::numel)
        .sum();
    say!(
        "statistics of {} + {} cells (batch {}{}): {:.1} s, {:.0} MiB",
        evolution.len(),
        held_out.len(),
        args.batch,
        if from_file {
            ", read from the file"
        } else {
            ""
        },
        started.elapsed().as_secs_f64(),
        floats as f64 * 4.0 / (1 << 20) as f64
    );
    let canonical: Vec<Vec<Tensor>> = evolution[..8.min(evolution.len())]
        .iter()
        .flat_map(|n| n.instances.iter().cloned())
        .collect();
    let hasher = TreeHasher::new(canonical, MantissaBits::f64(24)?, 0.0)?;
    // EZNAS screens every new tree on a small subset of the statistics.
    let space = ScreenedTreeSpace {
        space: TreeSpace::EZNAS,
        screen: evolution[..2.min(evolution.len())]
            .iter()
            .flat_map(|n| n.instances.iter().cloned())
            .collect(),
        tries: 100,
    };
    let fitness = KendallFitness::eznas(vec![evolution]).context("the evolution set")?;
    let config = MuPlusLambdaConfig::EZNAS;
    let candidates = config.population_size as u64
        + (config.population_size + config.lambda) as u64
        + args.generations.saturating_sub(1) * (config.mu + config.lambda) as u64;
    let mut held_out_spaces: Vec<(String, Vec<Network>, Vec<LossGradientScores>)> = vec![(
        "NAS-Bench-101 cells".into(),
        held_out,
        loss_gradient_scores(&table, &sample[args.networks..]),
    )];
    for space in ZooSpace::ALL {
        let (networks, scores) = zoo_space(space, args.held_out, args.batch, args.seed);
        held_out_spaces.push((format!("{} networks", space.name()), networks, scores));
    }
    let mut best_trees = Vec::new();
    for (label, techniques) in [
        ("without FEC", Techniques::NONE),
        ("with FEC", Techniques::FEC),
    ] {
        let started = Instant::now();
        let mut gp = KeepBest::new(config.build()?);
        let record = Search::new(
            &space,
            &fitness,
            &hasher,
            Budget::Candidates(candidates),
            args.seed,
        )
        .techniques(techniques)?
        .run_parallel(&mut gp, std::num::NonZeroUsize::new(16).expect("16"))?;
        let best = gp.best().context("no valid tree")?;
        say!(
            "GP {label}: {} candidates in {:.1} s, hit rate {}, best fitness {:.3}: {}",
            record.events.len(),
            started.elapsed().as_secs_f64(),
            record
                .hit_rate()
                .map_or("-".into(), |r| format!("{:.1}%", 100.0 * r)),
            best.fitness,
            best.candidate
        );
        best_trees.push((format!("best tree {label}"), best.candidate.clone()));
    }
    best_trees.push(("EZNAS-A".into(), Tree::eznas_a()));
    for (space_name, networks, loss_scores) in &held_out_spaces {
        // One line per proxy validated on this space's held-out networks.
        let report = |name: &str, c: Option<Correlations>| -> anyhow::Result<()> {
            match c {
                Some(c) => say!(
                    "  {name}: Kendall tau {:.3}, Spearman rho {:.3}",
                    c.kendall_tau,
                    c.spearman_rho
                ),
                None => say!("  {name}: invalid, undefined or constant"),
            }
            Ok(())
        };
        say!("held out: {} {space_name}", networks.len());
        for (name, tree) in &best_trees {
            report(name, meta_validate(tree, networks))?;
        }
        for (name, baseline) in BASELINES {
            report(&format!("baseline {name}"), correlate(networks, baseline))?;
        }
        let accuracies: Vec<f64> = networks.iter().map(|n| n.accuracy).collect();
        let named: [(&str, LossScore); 5] = [
            ("grad_norm", |s| s.grad_norm),
            ("snip", |s| s.snip),
            ("grasp", |s| s.grasp),
            ("fisher", |s| s.fisher),
            ("synflow", |s| s.synflow),
        ];
        for (name, get) in named {
            let scores: Vec<f64> = loss_scores.iter().map(get).collect();
            report(
                &format!("baseline {name}"),
                correlations(&scores, &accuracies),
            )?;
        }
    }
    Ok(())
}
