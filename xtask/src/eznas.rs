//! `cargo xtask eznas`: EZNAS's genetic program on the first space of its zoo, the
//! large embedded NAS table's cells, with and without FEC; reports the best tree's
//! Kendall τ and Spearman ρ on held-out cells beside EZNAS-A's, the hit rate and
//! the wall time.
//!
//! Every network is built by `CellNetwork::new` at initialisation (seeded by its
//! index in the table), its statistics taken on the first `--batch` training
//! digits; its accuracy is the table's mean validation accuracy over the three
//! repeats of the fitness budget. New trees are screened on the statistics of two
//! of the evolution cells (at most 100 draws each), as EZNAS screens them.

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
use ufh_spaces::nasbench101::CellNetwork;
use ufh_spaces::tabular::TabularBenchmark;

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

/// The statistics of `cells` as proxy networks.
fn zoo(table: &EmbeddedTable, picks: &[usize], batch: usize) -> Vec<Network> {
    let config = table.spec().settings.train;
    let data = digits::split().train.first(batch).pixels;
    picks
        .par_iter()
        .map(|&index| {
            let model = table.model_at(index);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(index as u64);
            let mut network = CellNetwork::new(&model.cell, config, &mut rng);
            let blocks = network.statistics_seeded(&data, batch, index as u64 ^ 0x5eed);
            let instances = blocks
                .into_iter()
                .map(|b| {
                    b.tensors
                        .into_iter()
                        .map(|t| Tensor::new(t.shape, t.data))
                        .collect()
                })
                .collect();
            let runs = model.runs(1);
            let accuracy =
                runs.iter().map(|r| r.end.validation_accuracy).sum::<f64>() / runs.len() as f64;
            Network {
                instances,
                accuracy,
            }
        })
        .collect()
}

/// grad_norm and snip of `picks` at initialisation (the same seeds as [`zoo`]), on
/// the first 64 training digits.
fn loss_gradient_scores(table: &EmbeddedTable, picks: &[usize]) -> Vec<(f64, f64)> {
    let config = table.spec().settings.train;
    let batch = digits::split().train.first(64);
    picks
        .par_iter()
        .map(|&index| {
            let model = table.model_at(index);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(index as u64);
            let scores = CellNetwork::new(&model.cell, config, &mut rng)
                .loss_gradient_scores(&batch.pixels, &batch.labels);
            (scores.grad_norm, scores.snip)
        })
        .collect()
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
    // One line per proxy validated on the held-out cells.
    let report = |name: &str, c: Option<Correlations>, what: &str| -> anyhow::Result<()> {
        match c {
            Some(c) => say!(
                "{name}: Kendall tau {:.3}, Spearman rho {:.3} on {} held-out cells{what}",
                c.kendall_tau,
                c.spearman_rho,
                held_out.len()
            ),
            None => say!("{name}: invalid, undefined or constant on the held-out cells{what}"),
        }
        Ok(())
    };
    let report_tree = |name: &str, tree: &Tree| {
        report(name, meta_validate(tree, &held_out), &format!(": {tree}"))
    };
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
            "GP {label}: {} candidates in {:.1} s, hit rate {}, best fitness {:.3}",
            record.events.len(),
            started.elapsed().as_secs_f64(),
            record
                .hit_rate()
                .map_or("-".into(), |r| format!("{:.1}%", 100.0 * r)),
            best.fitness
        );
        report_tree(&format!("best tree {label}"), &best.candidate)?;
    }
    report_tree("EZNAS-A", &Tree::eznas_a())?;
    for (name, baseline) in BASELINES {
        report(
            &format!("baseline {name}"),
            correlate(&held_out, baseline),
            "",
        )?;
    }
    let loss_scores = loss_gradient_scores(&table, &sample[args.networks..]);
    let accuracies: Vec<f64> = held_out.iter().map(|n| n.accuracy).collect();
    let grad_norm: Vec<f64> = loss_scores.iter().map(|s| s.0).collect();
    let snip: Vec<f64> = loss_scores.iter().map(|s| s.1).collect();
    for (name, scores) in [("grad_norm", grad_norm), ("snip", snip)] {
        report(
            &format!("baseline {name}"),
            correlations(&scores, &accuracies),
            "",
        )?;
    }
    Ok(())
}
