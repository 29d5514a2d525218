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
use ufh_proxies::fitness::{Correlations, KendallFitness, Network, correlations, meta_validate};
use ufh_proxies::hash::TreeHasher;
use ufh_proxies::space::{ScreenedTreeSpace, TreeSpace};
use ufh_proxies::tensor::Tensor;
use ufh_proxies::tree::Tree;
use ufh_search::{Budget, Mode, MuPlusLambdaConfig, Outcome, Search, SearchRecord, Techniques};
use ufh_spaces::digits;
use ufh_spaces::nasbench101::TabularBenchmark;
use ufh_spaces::nasbench101::embedded::EmbeddedTable;
use ufh_spaces::nasbench101::{BlockStatistics, CellNetwork, LossGradientScores};
use ufh_spaces::zoo::{ZooSpace, ZooTable};

use crate::say;

/// `cargo xtask eznas`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Cells the GP evolves on (EZNAS: 80 per space).
    #[arg(long, default_value_t = Settings::DEFAULT.networks)]
    networks: usize,
    /// Held-out cells the best trees are validated on.
    #[arg(long, default_value_t = Settings::DEFAULT.held_out)]
    held_out: usize,
    /// Images per statistics batch (EZNAS evolved with 1, its code uses 16).
    #[arg(long, default_value_t = Settings::DEFAULT.batch)]
    batch: usize,
    /// GP generations after the first (EZNAS: 15).
    #[arg(long, default_value_t = Settings::DEFAULT.generations)]
    generations: u64,
    /// Seed of the sample and of the GP.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep the zoo's statistics in this file (ufh's checksummed statistics
    /// format): read when it was made with the same settings, else computed and
    /// written.
    #[arg(long, value_name = "PATH")]
    stats: Option<std::path::PathBuf>,
    /// Also write every network's statistics and accuracy (the evolution set,
    /// then each held-out space) to this NumPy `.npz` archive (see
    /// `ufh_proxies::npz`).
    #[arg(long, value_name = "PATH")]
    npz: Option<std::path::PathBuf>,
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

/// What an EZNAS experiment is run with.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Cells the GP evolves on.
    pub(crate) networks: usize,
    /// Held-out networks per space.
    pub(crate) held_out: usize,
    /// Images per statistics batch.
    pub(crate) batch: usize,
    /// GP generations after the first.
    pub(crate) generations: u64,
    /// Seed of the samples and of the GP.
    pub(crate) seed: u64,
    /// The statistics file, if any.
    pub(crate) stats: Option<std::path::PathBuf>,
    /// The `.npz` archive to write, if any.
    pub(crate) npz: Option<std::path::PathBuf>,
}

impl Settings {
    /// `cargo xtask eznas`'s defaults, which the figures' panel runs too: EZNAS's
    /// 80 evolution networks and 15 generations, 300 held out per space, batch 8.
    pub(crate) const DEFAULT: Settings = Settings {
        networks: 80,
        held_out: 300,
        batch: 8,
        generations: 15,
        seed: 0,
        stats: None,
        npz: None,
    };
}

/// Trees evaluated at once by the GP's workers: 25 divides every generation of
/// EZNAS's settings (50, then 100, then 75), so each generation is a whole
/// number of batches and its distinct subtrees are computed once per network.
pub(crate) const WORKERS: usize = 25;

/// Held-out networks of one space and every proxy's scores of them.
pub(crate) struct HeldOutSpace {
    /// The space, for example "nb201 networks".
    pub(crate) name: String,
    /// The networks' accuracies.
    pub(crate) accuracies: Vec<f64>,
    /// Per proxy of [`Results::proxies`], its score of each network, `None` where
    /// the proxy is invalid on some network.
    pub(crate) scores: Vec<Option<Vec<f64>>>,
}

impl HeldOutSpace {
    /// Kendall τ-b and Spearman ρ of proxy `p` on this space.
    pub(crate) fn correlations(&self, p: usize) -> Option<Correlations> {
        correlations(self.scores[p].as_deref()?, &self.accuracies)
    }
}

/// What kind of proxy a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A GP run's best tree.
    Evolved,
    /// EZNAS's published program.
    EznasA,
    /// A zero-cost baseline.
    Baseline,
}

/// One GP run.
pub(crate) struct GpRun {
    /// "without FEC" or "with FEC".
    pub(crate) label: &'static str,
    /// Its record (every event kept).
    pub(crate) record: SearchRecord,
    /// Wall time of the search.
    pub(crate) seconds: f64,
    /// Its best tree and that tree's fitness.
    pub(crate) best: (Tree, f64),
    /// Per generation: candidates so far, the generation's best fitness, and the
    /// FEC hit rate of the generation's candidates (`None` without FEC).
    pub(crate) generations: Vec<(u64, f64, Option<f64>)>,
}

/// The NAS-Bench-101 cells' statistics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ZooSummary {
    /// Cells the GP evolves on.
    pub(crate) evolution: usize,
    /// Held-out cells.
    pub(crate) held_out: usize,
    /// Seconds taken to compute or read them.
    pub(crate) seconds: f64,
    /// Their size in MiB.
    pub(crate) mib: f64,
    /// Whether they were read from the statistics file.
    pub(crate) from_file: bool,
}

/// What an EZNAS experiment measured.
pub(crate) struct Results {
    /// The NAS-Bench-101 cells' statistics.
    pub(crate) zoo: ZooSummary,
    /// The GP without and with FEC.
    pub(crate) gp: Vec<GpRun>,
    /// Every proxy validated: its name and kind.
    pub(crate) proxies: Vec<(String, Kind)>,
    /// The held-out spaces.
    pub(crate) spaces: Vec<HeldOutSpace>,
    /// Index into `proxies` (and `gp`) of the best evolved proxy: of the two
    /// runs' best trees, the one of higher Kendall τ on the whole evolution set
    /// (chosen without the held-out networks).
    pub(crate) best_evolved: usize,
}

/// Each generation's candidates so far, best fitness and hit rate (with FEC),
/// from a record that kept every event.
fn per_generation(record: &SearchRecord, sizes: &[usize]) -> Vec<(u64, f64, Option<f64>)> {
    let fec = record.cache.is_some();
    let mut out = Vec::with_capacity(sizes.len());
    let mut start = 0usize;
    for &size in sizes {
        let end = (start + size).min(record.events.len());
        let events = &record.events[start..end];
        let best = events
            .iter()
            .map(|e| e.validation)
            .filter(|v| v.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        let hits = events.iter().filter(|e| e.outcome == Outcome::Hit).count();
        let rate = (fec && !events.is_empty()).then(|| hits as f64 / events.len() as f64);
        out.push((end as u64, best, rate));
        start = end;
    }
    out
}

/// Writes the evolution set (group 0) and every held-out space (groups 1, 2, …)
/// to a `.npz` archive, the groups named in its metadata.
fn write_archive(
    path: &std::path::Path,
    evolution: &[Network],
    held_out: &[(String, Vec<Network>, Vec<LossGradientScores>)],
    metadata: &str,
) -> anyhow::Result<()> {
    let mut networks: Vec<&Network> = evolution.iter().collect();
    let mut groups = vec![0u32; evolution.len()];
    let mut names = vec!["evolution: NAS-Bench-101 cells".to_string()];
    for (g, (name, space, _)) in held_out.iter().enumerate() {
        networks.extend(space);
        groups.extend(std::iter::repeat_n(g as u32 + 1, space.len()));
        names.push(format!("held out: {name}"));
    }
    let text = serde_json::json!({ "statistics": metadata, "groups": names }).to_string();
    // Built in memory and written whole: a full disk leaves no half archive.
    let mut archive = std::io::Cursor::new(Vec::new());
    ufh_proxies::npz::write_npz(&mut archive, &networks, &groups, &text)
        .with_context(|| format!("writing {}", path.display()))?;
    ufh_search::write_atomically(path, archive.get_ref())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Runs the experiment: the statistics, the GP without and with FEC, and the
/// validation of every proxy on every held-out space. `progress` is told of each
/// stage.
pub(crate) fn experiment(
    settings: &Settings,
    progress: &mut dyn FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<Results> {
    let table = EmbeddedTable::large();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed);
    let indices: Vec<usize> = (0..table.len()).collect();
    let sample: Vec<usize> = indices
        .choose_multiple(&mut rng, settings.networks + settings.held_out)
        .copied()
        .collect();
    let started = Instant::now();
    let metadata = serde_json::json!({
        "zoo": "large embedded table, CellNetwork at initialisation",
        "generator": table.spec().generator,
        "networks": settings.networks,
        "held_out": settings.held_out,
        "batch": settings.batch,
        "seed": settings.seed,
    })
    .to_string();
    // The statistics file is a cache: one that is damaged or of other settings
    // is computed again (with a warning) and rewritten.
    let cached = match &settings.stats {
        Some(path) if path.exists() => {
            let read = std::fs::read(path)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| read_stats(&bytes).map_err(anyhow::Error::from));
            match read {
                Ok((networks, made_with)) => (made_with == metadata).then_some(networks),
                Err(e) => {
                    eprintln!(
                        "warning: {}: {e:#}; the statistics are computed again and the file rewritten",
                        path.display()
                    );
                    None
                }
            }
        }
        _ => None,
    };
    let from_file = cached.is_some();
    let mut all = match cached {
        Some(networks) => networks,
        None => zoo(&table, &sample, settings.batch),
    };
    if let (Some(path), false) = (&settings.stats, from_file) {
        let mut bytes = Vec::new();
        write_stats(&mut bytes, &all, &metadata)
            .with_context(|| format!("writing {}", path.display()))?;
        ufh_search::write_atomically(path, &bytes)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let held_out = all.split_off(settings.networks);
    let evolution = all;
    let floats: usize = evolution
        .iter()
        .chain(&held_out)
        .flat_map(|n| n.instances.iter().flatten())
        .map(Tensor::numel)
        .sum();
    let zoo_summary = ZooSummary {
        evolution: evolution.len(),
        held_out: held_out.len(),
        seconds: started.elapsed().as_secs_f64(),
        mib: floats as f64 * 4.0 / (1 << 20) as f64,
        from_file,
    };
    progress("statistics taken")?;
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
    let evolution = &fitness.spaces()[0];
    let config = MuPlusLambdaConfig::EZNAS;
    let sizes: Vec<usize> = (0..=settings.generations as usize)
        .map(|g| config.generation_size(g))
        .collect();
    let candidates = sizes.iter().sum::<usize>() as u64;
    let mut held_out_spaces: Vec<(String, Vec<Network>, Vec<LossGradientScores>)> = vec![(
        "NAS-Bench-101 cells".into(),
        held_out,
        loss_gradient_scores(&table, &sample[settings.networks..]),
    )];
    for space in ZooSpace::ALL {
        let (networks, scores) = zoo_space(space, settings.held_out, settings.batch, settings.seed);
        held_out_spaces.push((format!("{} networks", space.name()), networks, scores));
    }
    if let Some(path) = &settings.npz {
        write_archive(path, evolution, &held_out_spaces, &metadata)?;
    }
    progress("held-out networks built")?;
    let mut gp = Vec::new();
    for (label, techniques) in [
        ("without FEC", Techniques::NONE),
        ("with FEC", Techniques::FEC),
    ] {
        let started = Instant::now();
        let found = Search::new(
            &space,
            &fitness,
            Budget::Candidates(candidates),
            settings.seed,
        )
        .hasher(&hasher)
        .techniques(techniques)?
        .keep_events(true)
        .run(&mut config.build()?, Mode::parallel(WORKERS)?)?;
        let seconds = started.elapsed().as_secs_f64();
        let best = found.best.context("no valid tree")?;
        let record = found.record;
        let generations = per_generation(&record, &sizes);
        gp.push(GpRun {
            label,
            best: (best.candidate, best.validation),
            seconds,
            generations,
            record,
        });
        progress(&format!("GP {label} done"))?;
    }
    let mut proxies: Vec<(String, Kind)> = gp
        .iter()
        .map(|run| (format!("best tree {}", run.label), Kind::Evolved))
        .collect();
    proxies.push(("EZNAS-A".into(), Kind::EznasA));
    let mut trees: Vec<Tree> = gp.iter().map(|run| run.best.0.clone()).collect();
    trees.push(Tree::eznas_a());
    proxies.extend(
        BASELINES
            .iter()
            .map(|(n, _)| ((*n).to_string(), Kind::Baseline)),
    );
    let named: [(&str, LossScore); 5] = [
        ("grad_norm", |s| s.grad_norm),
        ("snip", |s| s.snip),
        ("grasp", |s| s.grasp),
        ("fisher", |s| s.fisher),
        ("synflow", |s| s.synflow),
    ];
    proxies.extend(
        named
            .iter()
            .map(|(n, _)| ((*n).to_string(), Kind::Baseline)),
    );
    let spaces = held_out_spaces
        .into_iter()
        .map(|(name, networks, loss_scores)| {
            let all = |score: &dyn Fn(&Network) -> Option<f64>| -> Option<Vec<f64>> {
                networks.iter().map(score).collect()
            };
            let mut scores: Vec<Option<Vec<f64>>> =
                trees.iter().map(|tree| all(&|n| n.score(tree))).collect();
            scores.extend(BASELINES.iter().map(|(_, baseline)| all(baseline)));
            scores.extend(named.iter().map(|(_, get)| {
                loss_scores
                    .iter()
                    .map(|s| Some(get(s)).filter(|v| v.is_finite()))
                    .collect()
            }));
            HeldOutSpace {
                name,
                accuracies: networks.iter().map(|n| n.accuracy).collect(),
                scores,
            }
        })
        .collect();
    // The GP's fitness is a minimum over random rounds, and without FEC a tree's
    // best fitness is the luckiest of its re-evaluations: the two best trees are
    // compared by Kendall τ on every evolution network instead. Ties, and a tree
    // undefined there, go to the run without FEC.
    let evolution_tau = |run: &GpRun| {
        meta_validate(&run.best.0, evolution).map_or(f64::NEG_INFINITY, |c| c.kendall_tau)
    };
    let best_evolved = usize::from(evolution_tau(&gp[1]) > evolution_tau(&gp[0]));
    Ok(Results {
        zoo: zoo_summary,
        gp,
        proxies,
        spaces,
        best_evolved,
    })
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    // Checked before any statistics are computed or written.
    anyhow::ensure!(
        args.batch >= 1,
        "--batch {}: expected at least 1 image",
        args.batch
    );
    anyhow::ensure!(
        args.networks >= 20,
        "--networks {}: EZNAS's fitness scores rounds of 20 networks; give at least 20",
        args.networks
    );
    anyhow::ensure!(
        args.held_out >= 2,
        "--held-out {}: a rank correlation needs at least 2 networks",
        args.held_out
    );
    for path in [&args.stats, &args.npz].into_iter().flatten() {
        crate::check_writable(path, "--stats/--npz")?;
    }
    let settings = Settings {
        networks: args.networks,
        held_out: args.held_out,
        batch: args.batch,
        generations: args.generations,
        seed: args.seed,
        stats: args.stats,
        npz: args.npz,
    };
    let results = experiment(&settings, &mut |_| Ok(()))?;
    let zoo = results.zoo;
    say!(
        "statistics of {} + {} cells (batch {}{}): {:.1} s, {:.0} MiB",
        zoo.evolution,
        zoo.held_out,
        settings.batch,
        if zoo.from_file {
            ", read from the file"
        } else {
            ""
        },
        zoo.seconds,
        zoo.mib,
    );
    for run in &results.gp {
        say!(
            "GP {}: {} candidates in {:.1} s, hit rate {}, best fitness {:.3}: {}",
            run.label,
            run.record.events.len(),
            run.seconds,
            run.record
                .hit_rate()
                .map_or("-".into(), |r| format!("{:.1}%", 100.0 * r)),
            run.best.1,
            run.best.0
        );
    }
    say!(
        "best evolved proxy (of higher Kendall tau on the whole evolution set): {}",
        results.proxies[results.best_evolved].0
    );
    for space in &results.spaces {
        say!("held out: {} {}", space.accuracies.len(), space.name);
        for (p, (name, kind)) in results.proxies.iter().enumerate() {
            let name = match kind {
                Kind::Baseline => format!("baseline {name}"),
                _ => name.clone(),
            };
            match space.correlations(p) {
                Some(c) => say!(
                    "  {name}: Kendall tau {:.3}, Spearman rho {:.3}",
                    c.kendall_tau,
                    c.spearman_rho
                ),
                None => say!("  {name}: invalid, undefined or constant"),
            }
        }
    }
    Ok(())
}
