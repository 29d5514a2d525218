//! `cargo xtask table-stats [PATH]`: what a tabular benchmark file holds — models,
//! accuracy quantiles, the room above the 99th percentile, the spread between
//! repeats, training cost, how often the paper's functional hash puts two models in
//! one bucket, and how much of the space one search of the figures' scaled budget
//! evaluates.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use anyhow::Context;
use ufh_core::MantissaBits;
use ufh_search::{Budget, Mode, Outcome, Search, Techniques};
use ufh_spaces::nasbench101::SpaceConfig;
use ufh_spaces::nasbench101::embedded::TableSpec;
use ufh_spaces::nasbench101::{
    ModelTable, RepeatChoice, TableEvaluatorConfig, TableHasherConfig, TabularBenchmark,
};

use crate::say;
use crate::workspace_root;

/// `cargo xtask table-stats`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A table file in ufh's binary format [default: the embedded table --table
    /// names].
    path: Option<PathBuf>,
    /// The embedded table read when no PATH is given.
    #[arg(long, default_value = "large", value_parser = ["large", "small"], conflicts_with = "path")]
    table: String,
    /// Searches (regularized evolution, the figures' scaled budget) run to measure
    /// the fraction of the space one search evaluates; 0 skips them.
    #[arg(long, default_value_t = 20)]
    searches: u64,
    /// Threads [default: all cores].
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
}

/// `values` sorted ascending, at quantile `q`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let path = args.path.unwrap_or_else(|| {
        let spec = TableSpec::named(&args.table).expect("clap checks the name");
        workspace_root()
            .join("ufh-spaces/data")
            .join(spec.file_name)
    });
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let (table, metadata) =
        ModelTable::read_binary(&bytes).with_context(|| format!("reading {}", path.display()))?;
    let n_budgets = table.budgets().len();
    say!(
        "{}: {} bytes, {} models, budgets {:?}, repeats {:?}",
        path.display(),
        bytes.len(),
        table.len(),
        table.budgets(),
        (0..n_budgets).map(|b| table.repeats(b)).collect::<Vec<_>>()
    );
    say!("header: {metadata}");
    let full = n_budgets - 1;
    let epochs = table.budgets()[full];
    let mut means = Vec::with_capacity(table.len());
    let mut test_means = Vec::with_capacity(table.len());
    let mut spread = 0.0;
    let mut time_full = 0.0;
    let mut time_all = 0.0;
    let mut full_runs = 0usize;
    for i in 0..table.len() {
        let model = table.model_at(i);
        for budget in 0..n_budgets {
            for run in model.runs(budget) {
                time_all += run.end.training_time;
            }
        }
        let runs = model.runs(full);
        let n = runs.len() as f64;
        let mean = runs.iter().map(|r| r.end.validation_accuracy).sum::<f64>() / n;
        spread += runs
            .iter()
            .map(|r| (r.end.validation_accuracy - mean).abs())
            .sum::<f64>()
            / n;
        means.push(mean);
        test_means.push(runs.iter().map(|r| r.end.test_accuracy).sum::<f64>() / n);
        time_full += runs.iter().map(|r| r.end.training_time).sum::<f64>();
        full_runs += runs.len();
    }
    for (name, values) in [("validation", &mut means), ("test", &mut test_means)] {
        values.sort_by(f64::total_cmp);
        say!(
            "mean final {name} accuracy of a model at {epochs} epochs: min {:.4}, q10 {:.4}, q25 {:.4}, median {:.4}, q75 {:.4}, q90 {:.4}, q99 {:.4}, max {:.4}",
            quantile(values, 0.0),
            quantile(values, 0.1),
            quantile(values, 0.25),
            quantile(values, 0.5),
            quantile(values, 0.75),
            quantile(values, 0.9),
            quantile(values, 0.99),
            quantile(values, 1.0),
        );
    }
    say!(
        "best model's mean validation accuracy {:.4}; best minus 99th percentile {:.4}; mean |repeat - model mean| {:.4}",
        quantile(&means, 1.0),
        quantile(&means, 1.0) - quantile(&means, 0.99),
        spread / table.len() as f64
    );
    say!(
        "recorded training time: {time_all:.0} s in all ({time_full:.0} s at the full budget; mean {:.4} s per full run)",
        time_full / full_runs as f64
    );
    for bits in [1, 2, 4, 8, 16, 24, 52] {
        let config = TableHasherConfig {
            mantissa_bits: MantissaBits::f64(bits)?,
            ..TableHasherConfig::PAPER
        };
        let hasher = config.build(&table)?;
        let buckets = hasher.group_models();
        let colliding: usize = buckets.iter().map(Vec::len).filter(|&n| n > 1).sum();
        say!(
            "{bits:>2} mantissa bits ({:?}): {} distinct hashes, {:.2} models per hash, {colliding} models ({:.2}%) share a hash",
            hasher.source(),
            buckets.len(),
            table.len() as f64 / buckets.len() as f64,
            100.0 * colliding as f64 / table.len() as f64
        );
    }
    if args.searches > 0 {
        search_fraction(&table, args.searches, crate::threads(args.jobs))?;
    }
    Ok(())
}

/// Runs regularized evolution (the paper's settings) for the figures' scaled budget
/// and reports how many trainings one search buys, as a fraction of the space:
/// without FEC every candidate is trained (repeats of one model included, so this
/// bounds the distinct models from above); with FEC each miss is a function not
/// seen before in that search.
fn search_fraction(table: &ModelTable, searches: u64, jobs: usize) -> anyhow::Result<()> {
    let bound = table.vertex_bound();
    let space = SpaceConfig {
        raw_vertices: bound,
        max_vertices: bound,
        max_edges: 9,
        mutation_rate: 1.0,
    }
    .build()?;
    let (budget_s, hash_cost_s) = crate::common::nas::scaled_budget(table);
    let evaluator = TableEvaluatorConfig {
        repeat: RepeatChoice::Random,
        ..TableEvaluatorConfig::PAPER
    }
    .build(table)?;
    let hasher = TableHasherConfig {
        cost_s: hash_cost_s,
        ..TableHasherConfig::PAPER
    }
    .build(table)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    for (label, techniques) in [
        ("without FEC", Techniques::NONE),
        ("with FEC", Techniques::FEC),
    ] {
        let trainings: Vec<usize> = pool.install(|| {
            crate::per_seed(searches as usize, 0, |_, seed| -> anyhow::Result<usize> {
                let record =
                    Search::new(&space, &evaluator, Budget::SimulatedSeconds(budget_s), seed)
                        .hasher(&hasher)
                        .techniques(techniques)?
                        .run(
                            &mut crate::common::nas::PAPER_EVOLUTION.build()?,
                            Mode::Serial,
                        )?
                        .record;
                Ok(record
                    .events
                    .iter()
                    .filter(|e| matches!(e.outcome, Outcome::Evaluated | Outcome::Miss))
                    .count())
            })
            .into_iter()
            .collect::<anyhow::Result<_>>()
        })?;
        let mean = trainings.iter().sum::<usize>() as f64 / trainings.len() as f64;
        say!(
            "one search of the scaled budget ({budget_s:.0} s, {searches} seeds) {label}: {mean:.0} trainings, {:.2}% of the {} models",
            100.0 * mean / table.len() as f64,
            table.len()
        );
    }
    Ok(())
}
