//! `cargo xtask figures`: the paper's tabular-NAS experiments (Sections 5–6 and
//! Supplementary S3), on the embedded table or on NAS-Bench-101, and its
//! AutoML-Zero panel of Fig. 5 / S3 (`automl_zero.rs`, with its own budget in
//! training steps and its own repeat count).
//!
//! Every figure is written as PNG and SVG with a CSV of every plotted number; a
//! summary (Markdown and JSON) gives, per comparison, the AUC ratio and the
//! two-sided Mann–Whitney U p-value over repeats. Repeats run in parallel; each
//! repeat `r` of every condition uses the seed `--seed + r`, so conditions are
//! compared on the same seeds and a run is reproducible to the byte.
//!
//! Repeats: the paper's 500 per condition (1,000 for PPO) by default; the grid of
//! Fig. 7 and the sweep of Fig. 10 use at most 100 per point; `--quick` uses 8
//! (and smaller grids), `--repeats N` sets the base count.
//!
//! Budget scaling: the paper's NAS-Bench-101 budget of 5e6 simulated seconds and
//! its 10 s hashing cost are kept with `--nasbench`. On the embedded table both are
//! multiplied by `r` = (mean full-budget training time of the embedded table) /
//! (2,300 s, about NAS-Bench-101's mean 108-epoch training time), so a search buys
//! the same number of trainings (about 2,200) and hashing costs the same fraction of
//! a training as in the paper.

mod automl_zero;
mod autorl;
mod eznas;
mod mnas;
mod plot;
mod stats;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use ufh_core::MantissaBits;
use ufh_search::{
    BananasConfig, Budget, EvolutionConfig, FcmConfig, FecConfig, Forgetting, LocalSearchConfig,
    Mode, Namespace, PpoConfig, Replacement, Search, SearchRecord, TabulistConfig, Techniques,
};
use ufh_spaces::nasbench101::embedded::EmbeddedTable;
use ufh_spaces::nasbench101::{NasBench101, NasBench101Space, SpaceConfig};
use ufh_spaces::nasbench101::{
    RepeatChoice, TableEvaluatorConfig, TableHasherConfig, TabularBenchmark,
};

use crate::say;
use crate::workspace_root;
use plot::{Axes, Line};

/// NAS-Bench-101's mean 108-epoch training time, roughly, in seconds.
const NASBENCH_MEAN_TRAINING_S: f64 = 2300.0;
/// Points of the time grid on which curves are averaged.
const GRID: usize = 200;

/// Every figure, in the order they run.
const FIGURES: [&str; 13] = [
    "fig5",
    "fig6",
    "fig7",
    "fig8",
    "fig9",
    "fig10",
    "fig11",
    "fig12",
    "fig13",
    "automl-zero",
    "autorl",
    "eznas",
    "mnas",
];

/// `cargo xtask figures`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A smoke run: 8 repeats, smaller grids, short AutoML-Zero searches.
    #[arg(long)]
    quick: bool,
    /// Search NAS-Bench-101 from its data file instead of an embedded table.
    #[arg(long, value_name = "PATH", conflicts_with = "table")]
    nasbench: Option<PathBuf>,
    /// Which embedded table: `large` (every cell of at most 6 vertices, in
    /// NAS-Bench-101's regime) or `small` (the 2,532 cells of at most 5).
    #[arg(long, default_value = "large", value_parser = ["large", "small"])]
    table: String,
    /// Directory the figures are written to [default: figures/ in the workspace].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Only these figures.
    #[arg(long, value_name = "NAME", num_args = 1.., value_parser = clap::builder::PossibleValuesParser::new(FIGURES))]
    only: Vec<String>,
    /// Repeats per condition [default: 500, or 8 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    repeats: Option<u64>,
    /// Base seed: repeat r of every condition uses seed + r.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads [default: all cores].
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
    /// Go on from the journal of an interrupted run into the same --out: figures
    /// and conditions already done are read back, not run again.
    #[arg(long)]
    resume: bool,
}

/// The checked options of a run.
struct Options {
    resume: bool,
    quick: bool,
    nasbench: Option<PathBuf>,
    table: String,
    out: PathBuf,
    only: Vec<String>,
    repeats: Option<usize>,
    seed: u64,
    jobs: usize,
}

impl Options {
    fn from_args(args: Args) -> anyhow::Result<Self> {
        Ok(Self {
            resume: args.resume,
            quick: args.quick,
            nasbench: args.nasbench,
            table: args.table,
            out: args.out.unwrap_or_else(|| workspace_root().join("figures")),
            only: args.only,
            repeats: args
                .repeats
                .map(usize::try_from)
                .transpose()
                .context("--repeats")?,
            seed: args.seed,
            jobs: crate::threads(args.jobs),
        })
    }
}

/// Writes one output file; the error names it (a bare "Is a directory" says
/// nothing of which file).
fn write_file(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let path = path.as_ref();
    ufh_search::write_atomically(path, contents.as_ref())
        .with_context(|| format!("writing {}", path.display()))
}

/// The benchmark, its space and the scaled budget.
struct Bench {
    table: Box<dyn TabularBenchmark>,
    space: NasBench101Space,
    name: String,
    budget_s: f64,
    hash_cost_s: f64,
}

impl Bench {
    fn load(options: &Options) -> anyhow::Result<Self> {
        match &options.nasbench {
            None => {
                let table = EmbeddedTable::named(&options.table).context("--table")?;
                let (budget_s, hash_cost_s) = scaled_budget(&table);
                let settings = table.spec().settings;
                Ok(Self {
                    space: table.space(),
                    name: format!(
                        "embedded {} table (digits at {side}x{side}, the {} cells of at most {} vertices)",
                        options.table,
                        table.len(),
                        settings.max_vertices,
                        side = settings.train.input_side,
                    ),
                    table: Box::new(table),
                    budget_s,
                    hash_cost_s,
                })
            }
            Some(path) => {
                let (table, report) = NasBench101::open_cached(path, None)?;
                if let Some(error) = report.cache_write_error {
                    eprintln!("note: binary cache not written: {error}");
                }
                // NAS-Bench-101's rule with the file's own vertex bound: 7×7 raw
                // cells, those that prune beyond the bound redrawn, so a file of
                // cells of at most 6 vertices is searched without failures.
                let space = SpaceConfig::nasbench101_bounded(table.vertex_bound()).build()?;
                Ok(Self {
                    table: Box::new(table),
                    space,
                    name: format!("NAS-Bench-101 ({})", path.display()),
                    budget_s: 5e6,
                    hash_cost_s: 10.0,
                })
            }
        }
    }
}

/// The paper's budget (5e6 s) and hashing cost (10 s) scaled to `table`: both
/// multiplied by the table's mean full-budget training time over NAS-Bench-101's,
/// so a search buys as many trainings as in the paper.
pub(crate) fn scaled_budget(table: &dyn TabularBenchmark) -> (f64, f64) {
    let full = table.budgets().len() - 1;
    let mut total = 0.0;
    let mut count = 0usize;
    for i in 0..table.len() {
        for run in table.model_at(i).runs(full) {
            total += run.end.training_time;
            count += 1;
        }
    }
    let scale = total / count as f64 / NASBENCH_MEAN_TRAINING_S;
    (5e6 * scale, 10.0 * scale)
}

/// The search algorithm of a condition.
#[derive(Debug, Clone)]
enum Algo {
    Evolution(EvolutionConfig),
    Ppo,
    LocalSearch(LocalSearchConfig),
    /// With FEC, BANANAS also keeps its pool and training set free of known
    /// functions, through the driver (its queries charged and counted).
    Bananas(BananasConfig),
}

/// At most this many repeats of a BANANAS condition, and at most half the base
/// count: its predictors cost real time (about 3 ms per candidate, some 5 s per
/// search of the scaled budget).
const BANANAS_REPEATS: usize = 50;

/// One experimental condition, run over the repeats.
#[derive(Debug, Clone)]
struct Condition {
    label: String,
    algo: Algo,
    techniques: Techniques,
    noise_sd: f64,
    mantissa_bits: u32,
    workers: usize,
}

pub(crate) const PAPER_EVOLUTION: EvolutionConfig = EvolutionConfig {
    population_size: 100,
    tournament_size: 10,
    replacement: Replacement::Oldest,
};

impl Condition {
    /// Repeats of this condition when the base count is `repeats`: the paper runs
    /// PPO 1,000 times and the evolutions 500 times, so PPO gets twice the repeats.
    fn repeats(&self, repeats: usize) -> usize {
        match self.algo {
            Algo::Ppo => 2 * repeats,
            Algo::Evolution(_) | Algo::LocalSearch(_) => repeats,
            Algo::Bananas(_) => repeats.div_ceil(2).min(BANANAS_REPEATS),
        }
    }

    fn new(label: &str, techniques: Techniques) -> Self {
        Self {
            label: label.into(),
            algo: Algo::Evolution(PAPER_EVOLUTION),
            techniques,
            noise_sd: 0.0,
            mantissa_bits: 24,
            workers: 1,
        }
    }
}

fn fcm() -> Techniques {
    Techniques {
        fcm: Some(FcmConfig { max_tries: 100 }),
        ..Techniques::NONE
    }
}

fn tabulist() -> Techniques {
    Techniques {
        tabulist: Some(TabulistConfig {
            max_occurrences: 1,
            max_tries: 100,
        }),
        ..Techniques::NONE
    }
}

fn fea(max_evals: u32) -> Techniques {
    Techniques {
        fec: Some(FecConfig {
            max_evals: std::num::NonZeroU32::new(max_evals).expect("positive"),
            ..FecConfig::PLAIN
        }),
        ..Techniques::NONE
    }
}

fn forgetful(probability: f64) -> Techniques {
    Techniques {
        fec: Some(FecConfig {
            forgetting: Forgetting::Fixed(probability),
            ..FecConfig::PLAIN
        }),
        ..Techniques::NONE
    }
}

struct Experiment<'a> {
    bench: &'a Bench,
    options: &'a Options,
    repeats: usize,
    out: PathBuf,
    summary: Vec<Comparison>,
    /// Lines for the summary's header: settings of figures whose budget or repeats
    /// differ from the benchmark's.
    notes: Vec<String>,
    /// Records of conditions already run, keyed by the condition (label aside) and
    /// the repeat count, so figures that share a condition share its searches.
    memo: HashMap<String, Vec<Run>>,
    /// Where finished figures and conditions are journalled.
    journal: Journal,
}

/// The journal of a run, in `OUT/.resume/`: one file per finished figure (its
/// summary lines and notes) and one per finished condition (its runs), each
/// written atomically and stamped with the run's settings. `--resume` reads them
/// back, so an interrupted run loses at most the condition it was in, and the
/// summary it ends with is the one an uninterrupted run writes, byte for byte.
struct Journal {
    dir: PathBuf,
    stamp: String,
}

/// A finished figure in the journal.
#[derive(serde::Serialize, serde::Deserialize)]
struct FigureEntry {
    stamp: String,
    summary: Vec<Comparison>,
    notes: Vec<String>,
}

/// A finished condition in the journal.
#[derive(serde::Serialize, serde::Deserialize)]
struct ConditionEntry {
    stamp: String,
    key: String,
    runs: Vec<Run>,
}

impl Journal {
    fn open(options: &Options, bench_name: &str) -> anyhow::Result<Self> {
        let dir = options.out.join(".resume");
        // Everything the figures' numbers depend on; not the threads.
        let stamp = format!(
            "{bench_name} quick={} nasbench={:?} table={} repeats={:?} seed={}",
            options.quick, options.nasbench, options.table, options.repeats, options.seed
        );
        if !options.resume && dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir, stamp })
    }

    fn path(&self, kind: &str, name: &str) -> PathBuf {
        let digest = Namespace::of_text(name);
        self.dir
            .join(format!("{kind}-{}.bin", &digest.as_str()[..16]))
    }

    fn read<T: serde::de::DeserializeOwned>(
        &self,
        path: &Path,
        stamp_of: impl Fn(&T) -> &str,
    ) -> anyhow::Result<Option<T>> {
        let Ok(bytes) = std::fs::read(path) else {
            return Ok(None);
        };
        let payload = ufh_search::unseal(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{}: a journal entry is {e}; delete it (its condition is then run again) or run without --resume",
                path.display()
            )
        })?;
        let entry: T = postcard::from_bytes(payload)
            .with_context(|| format!("{}: a damaged journal entry (unreadable)", path.display()))?;
        if stamp_of(&entry) != self.stamp {
            bail!(
                "{}: the journal of another run ({}); this run is {}: run without --resume",
                path.display(),
                stamp_of(&entry),
                self.stamp
            );
        }
        Ok(Some(entry))
    }

    fn write(&self, path: &Path, entry: &impl serde::Serialize) -> anyhow::Result<()> {
        let bytes = ufh_search::seal(postcard::to_stdvec(entry)?);
        ufh_search::write_atomically(path, &bytes)
            .with_context(|| format!("writing {}", path.display()))
    }

    fn figure(&self, figure: &str) -> anyhow::Result<Option<FigureEntry>> {
        self.read(&self.path("figure", figure), |e: &FigureEntry| &e.stamp)
    }

    fn condition(&self, key: &str) -> anyhow::Result<Option<Vec<Run>>> {
        Ok(self
            .read(&self.path("condition", key), |e: &ConditionEntry| &e.stamp)?
            .filter(|e| e.key == key)
            .map(|e| e.runs))
    }
}

/// What the figures keep of one search: full records of converged searches hold
/// hundreds of thousands of cache-hit events, far too many to keep for every repeat.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Run {
    /// Best-so-far validation and test accuracy on the time grid.
    validation: Vec<f64>,
    test: Vec<f64>,
    /// Area under the best-so-far validation curve over the budget, per second.
    auc: f64,
    final_validation: f64,
    final_test: f64,
    /// Per time bin of [`HIT_BINS`]: full cache hits and candidates started.
    hit_bins: Vec<(usize, usize)>,
    /// Real seconds the algorithm itself spent (BANANAS's predictors), apart
    /// from the simulated clock; 0 for the others.
    algorithm_s: f64,
}

/// Bins of the hit-rate figure.
const HIT_BINS: usize = 50;

impl Run {
    fn new(record: &SearchRecord, grid: &[f64], budget_s: f64) -> Self {
        let best = record.best_so_far();
        let (validation, test) = stats::curve_on_grid(best, grid);
        let last = best.last();
        let width = budget_s / HIT_BINS as f64;
        let mut hit_bins = vec![(0, 0); HIT_BINS];
        for event in &record.events {
            let bin = ((event.start_s / width) as usize).min(HIT_BINS - 1);
            hit_bins[bin].1 += 1;
            hit_bins[bin].0 += usize::from(matches!(event.outcome, ufh_search::Outcome::Hit));
        }
        Self {
            validation,
            test,
            auc: record.auc(budget_s),
            final_validation: last.map_or(f64::NAN, |p| p.validation),
            final_test: last.map_or(f64::NAN, |p| p.test),
            hit_bins,
            algorithm_s: 0.0,
        }
    }

    /// Full cache hits per candidate over the whole search.
    fn hit_rate(&self) -> f64 {
        let (hits, total) = self
            .hit_bins
            .iter()
            .fold((0, 0), |(h, t), &(bh, bt)| (h + bh, t + bt));
        hits as f64 / total.max(1) as f64
    }
}

/// The time axis of best-so-far curves: the grid they are sampled on, its unit
/// (as the charts' x label and as the CSV's column name), and what the fitness
/// measures.
#[derive(Clone, Copy)]
struct TimeAxis<'a> {
    grid: &'a [f64],
    x: &'a str,
    metric: &'a str,
    column: &'a str,
}

/// One line of the summary.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Comparison {
    figure: String,
    comparison: String,
    metric: String,
    treatment_mean: f64,
    baseline_mean: f64,
    ratio: f64,
    mann_whitney_u: f64,
    p_value: f64,
    repeats: usize,
}

impl Experiment<'_> {
    fn run(
        &mut self,
        condition: &Condition,
        repeats: usize,
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<Run>> {
        let key = format!(
            "{:?} {:?} {} {} {} {repeats}",
            condition.algo,
            condition.techniques,
            condition.noise_sd,
            condition.mantissa_bits,
            condition.workers
        );
        if let Some(records) = self.memo.get(&key) {
            bar.inc(repeats as u64);
            return Ok(records.clone());
        }
        if let Some(records) = self.journal.condition(&key)? {
            bar.inc(repeats as u64);
            self.memo.insert(key, records.clone());
            return Ok(records);
        }
        let started = Instant::now();
        let records = self.run_fresh(condition, repeats, bar)?;
        self.journal.write(
            &self.journal.path("condition", &key),
            &ConditionEntry {
                stamp: self.journal.stamp.clone(),
                key: key.clone(),
                runs: records.clone(),
            },
        )?;
        if std::env::var_os("UFH_FIGURES_TRACE").is_some() {
            let candidates: usize = records
                .iter()
                .map(|r| r.hit_bins.iter().map(|b| b.1).sum::<usize>())
                .sum();
            eprintln!(
                "{}: {repeats} searches, {:.0} candidates each, {:.2} s",
                condition.label,
                candidates as f64 / repeats as f64,
                started.elapsed().as_secs_f64()
            );
        }
        self.memo.insert(key, records.clone());
        Ok(records)
    }

    fn run_fresh(
        &self,
        condition: &Condition,
        repeats: usize,
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<Run>> {
        let bench = self.bench;
        let grid = self.grid();
        let evaluator = TableEvaluatorConfig {
            repeat: RepeatChoice::Random,
            noise_sd: condition.noise_sd,
            budget_epochs: None,
        }
        .build(bench.table.as_ref())?;
        let hasher = TableHasherConfig {
            mantissa_bits: MantissaBits::f64(condition.mantissa_bits)?,
            cost_s: bench.hash_cost_s,
        }
        .build(bench.table.as_ref())?;
        crate::per_seed(repeats, self.options.seed, |_, seed| {
            let search = Search::new(
                &bench.space,
                &evaluator,
                Budget::SimulatedSeconds(bench.budget_s),
                seed,
            )
            .hasher(&hasher)
            .techniques(condition.techniques)?;
            let workers = NonZeroUsize::new(condition.workers).expect("at least one worker");
            let mut algorithm_s = 0.0;
            let record = match &condition.algo {
                Algo::Evolution(config) => {
                    search
                        .run(&mut config.build()?, Mode::Workers(workers))?
                        .record
                }
                Algo::Ppo => {
                    search
                        .run(
                            &mut PpoConfig::DEFAULT.build(&bench.space)?,
                            Mode::Workers(workers),
                        )?
                        .record
                }
                Algo::LocalSearch(config) => {
                    search
                        .run(&mut config.build()?, Mode::Workers(workers))?
                        .record
                }
                Algo::Bananas(config) => {
                    // With FEC, BANANAS asks the driver which pool candidates
                    // are known (each query a hash on the clock) and keeps cache
                    // hits out of its training set.
                    let mut bananas = config.build(seed)?;
                    let record = search.run(&mut bananas, Mode::Workers(workers))?.record;
                    algorithm_s = bananas.predictor_seconds();
                    record
                }
            };
            bar.inc(1);
            let mut run = Run::new(&record, &grid, bench.budget_s);
            run.algorithm_s = algorithm_s;
            Ok(run)
        })
        .into_iter()
        .collect()
    }

    fn run_all(
        &mut self,
        conditions: &[Condition],
        bar: &ProgressBar,
    ) -> anyhow::Result<Vec<Vec<Run>>> {
        let repeats = self.repeats;
        conditions
            .iter()
            .map(|c| self.run(c, c.repeats(repeats), bar))
            .collect()
    }

    fn bar(&self, figure: &str, total: usize) -> ProgressBar {
        ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template(&format!(
                "{figure:>5} {{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} searches"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        )
    }

    fn grid(&self) -> Vec<f64> {
        (1..=GRID)
            .map(|i| self.bench.budget_s * i as f64 / GRID as f64)
            .collect()
    }

    fn compare(
        &mut self,
        figure: &str,
        comparison: &str,
        metric: &str,
        treatment: &[f64],
        baseline: &[f64],
    ) {
        let (t, _) = stats::mean_sem(treatment);
        let (b, _) = stats::mean_sem(baseline);
        let (u, p) = stats::mann_whitney(treatment, baseline);
        self.summary.push(Comparison {
            figure: figure.into(),
            comparison: comparison.into(),
            metric: metric.into(),
            treatment_mean: t,
            baseline_mean: b,
            ratio: t / b,
            mann_whitney_u: u,
            p_value: p,
            repeats: treatment.len().min(baseline.len()),
        });
    }

    /// Best-so-far curves of several conditions: `stem_validation` and `stem_test`
    /// charts and one CSV with every plotted number.
    fn curves(
        &self,
        stem: &str,
        title: &str,
        labels: &[String],
        records: &[Vec<Run>],
    ) -> anyhow::Result<()> {
        let time = TimeAxis {
            grid: &self.grid(),
            x: "simulated time (s)",
            metric: "accuracy",
            column: "time_s",
        };
        self.curves_on(stem, title, labels, records, &time)
    }

    /// [`Experiment::curves`] on any time axis.
    fn curves_on(
        &self,
        stem: &str,
        title: &str,
        labels: &[String],
        records: &[Vec<Run>],
        time: &TimeAxis<'_>,
    ) -> anyhow::Result<()> {
        let TimeAxis {
            grid,
            x,
            metric,
            column,
        } = *time;
        let mut csv = format!(
            "condition,{column},validation_mean,validation_sem,test_mean,test_sem,repeats\n"
        );
        let line = |label: &String, band: &[(f64, f64)]| Line {
            name: label.clone(),
            points: grid
                .iter()
                .zip(band)
                .map(|(&x, &(m, s))| (x, m, s))
                .collect(),
        };
        let mut validation_lines = Vec::new();
        let mut test_lines = Vec::new();
        for (label, runs) in labels.iter().zip(records) {
            let validation: Vec<&[f64]> = runs.iter().map(|r| r.validation.as_slice()).collect();
            let test: Vec<&[f64]> = runs.iter().map(|r| r.test.as_slice()).collect();
            let v = stats::band(&validation);
            let t = stats::band(&test);
            for (i, &time) in grid.iter().enumerate() {
                writeln!(
                    csv,
                    "{label},{time},{},{},{},{},{}",
                    v[i].0,
                    v[i].1,
                    t[i].0,
                    t[i].1,
                    runs.len()
                )?;
            }
            validation_lines.push(line(label, &v));
            test_lines.push(line(label, &t));
        }
        write_file(self.out.join(format!("{stem}.csv")), csv)?;
        let charts = [
            (
                "validation",
                format!("best validation {metric}"),
                format!("best validation {metric} (mean ± 2 SEM)"),
                validation_lines,
            ),
            (
                "test",
                format!("test {metric} of the best"),
                format!("test {metric} of best-by-validation (mean ± 2 SEM)"),
                test_lines,
            ),
        ];
        for (suffix, what, y, lines) in charts {
            plot::lines(
                &self.out.join(format!("{stem}_{suffix}")),
                &Axes {
                    title: &format!("{title}: {what}"),
                    x,
                    y: &y,
                },
                &lines,
                true,
            )?;
        }
        Ok(())
    }

    fn aucs(&self, runs: &[Run]) -> Vec<f64> {
        runs.iter().map(|r| r.auc).collect()
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let options = Options::from_args(args)?;
    let start = Instant::now();
    if options.out.exists() && !options.out.is_dir() {
        bail!(
            "--out {} is not a directory; give a directory for the figures",
            options.out.display()
        );
    }
    let bench = Bench::load(&options)?;
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let repeats = options
        .repeats
        .unwrap_or(if options.quick { 8 } else { 500 });
    rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .build_global()
        .ok();
    say!(
        "{}: {} models; budget {:.1} simulated s, hashing {:.4} s; {repeats} repeats; output in {}",
        bench.name,
        bench.table.len(),
        bench.budget_s,
        bench.hash_cost_s,
        options.out.display()
    );
    let journal = Journal::open(&options, &bench.name)?;
    let mut context = Experiment {
        journal,
        bench: &bench,
        options: &options,
        repeats,
        out: options.out.clone(),
        summary: Vec::new(),
        notes: Vec::new(),
        memo: HashMap::new(),
    };
    for figure in FIGURES {
        if !options.only.is_empty() && !options.only.iter().any(|o| o == figure) {
            continue;
        }
        let figure_start = Instant::now();
        if let Some(done) = context.journal.figure(figure)? {
            context.summary.extend(done.summary);
            context.notes.extend(done.notes);
            say!("{figure} read back from the journal (--resume)");
            continue;
        }
        let (summary_before, notes_before) = (context.summary.len(), context.notes.len());
        match figure {
            "fig5" => fig5(&mut context)?,
            "fig6" => fig6(&mut context)?,
            "fig7" => fig7(&mut context)?,
            "fig8" => fig8(&mut context)?,
            "fig9" => fig9(&mut context)?,
            "fig10" => fig10(&mut context)?,
            "fig11" => fig11(&mut context)?,
            "fig12" => fig12(&mut context)?,
            "fig13" => fig13(&mut context)?,
            "automl-zero" => automl_zero::figure(&mut context)?,
            "autorl" => autorl::figure(&mut context)?,
            "eznas" => eznas::figure(&mut context)?,
            "mnas" => mnas::figure(&mut context)?,
            _ => unreachable!("FIGURES lists only these"),
        }
        context.journal.write(
            &context.journal.path("figure", figure),
            &FigureEntry {
                stamp: context.journal.stamp.clone(),
                summary: context.summary[summary_before..].to_vec(),
                notes: context.notes[notes_before..].to_vec(),
            },
        )?;
        say!(
            "{figure} done in {:.1} s",
            figure_start.elapsed().as_secs_f64()
        );
    }
    write_summary(&context)?;
    if options.only.is_empty() {
        for file in expected_files(&options.out) {
            let size = std::fs::metadata(&file).map_or(0, |m| m.len());
            if size == 0 {
                bail!("{} is missing or empty", file.display());
            }
        }
        say!(
            "checked: all {} expected files exist and are non-empty",
            expected_files(&options.out).len()
        );
    }
    say!("all done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn write_summary(context: &Experiment<'_>) -> anyhow::Result<()> {
    let mut md = format!(
        "# ufh figures summary\n\nBenchmark: {}. Budget {:.1} simulated s, hashing cost {:.4} s, {} repeats, seed {}.\n\n\
         | figure | comparison | metric | treatment | baseline | ratio | Mann–Whitney U | p (two-sided) |\n|---|---|---|---|---|---|---|---|\n",
        context.bench.name,
        context.bench.budget_s,
        context.bench.hash_cost_s,
        context.repeats,
        context.options.seed
    );
    if !context.notes.is_empty() {
        let at = md
            .find("| figure |")
            .expect("the table header is written above");
        let notes: String = context.notes.iter().map(|n| format!("{n}\n\n")).collect();
        md.insert_str(at, &notes);
    }
    for c in &context.summary {
        writeln!(
            md,
            "| {} | {} | {} | {:.5} | {:.5} | {:.4} | {:.1} | {:.3e} |",
            c.figure,
            c.comparison,
            c.metric,
            c.treatment_mean,
            c.baseline_mean,
            c.ratio,
            c.mann_whitney_u,
            c.p_value
        )?;
    }
    write_file(context.out.join("summary.md"), md)?;
    write_file(
        context.out.join("summary.json"),
        serde_json::to_string_pretty(&context.summary)?,
    )?;
    Ok(())
}

/// The four conditions of Figs. 5 and 6: the baseline and each technique alone.
fn technique_conditions() -> [Condition; 4] {
    [
        Condition::new("baseline", Techniques::NONE),
        Condition::new("FEC", Techniques::FEC),
        Condition::new("FCM", fcm()),
        Condition::new("tabulist", tabulist()),
    ]
}

/// Fig. 5 and S1–S2: baseline, FEC, FCM and tabulist.
fn fig5(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let conditions = technique_conditions();
    let bar = context.bar("fig5", conditions.len() * context.repeats);
    let records = context.run_all(&conditions, &bar)?;
    bar.finish_and_clear();
    let labels: Vec<String> = conditions.iter().map(|c| c.label.clone()).collect();
    context.curves("fig5", "Regularized evolution", &labels, &records)?;
    let baseline = context.aucs(&records[0]);
    write_file(
        context.out.join("fig5_auc.csv"),
        auc_csv(&labels, &records)?,
    )?;
    for (label, runs) in labels.iter().zip(&records).skip(1) {
        let treatment = context.aucs(runs);
        context.compare(
            "fig5",
            &format!("{label} vs baseline"),
            "AUC of best validation",
            &treatment,
            &baseline,
        );
    }
    Ok(())
}

/// Fig. 6: test accuracy (unseen by the search) of the best-by-validation candidate.
fn fig6(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let conditions = technique_conditions();
    let bar = context.bar("fig6", conditions.len() * context.repeats);
    let records = context.run_all(&conditions, &bar)?;
    bar.finish_and_clear();
    best_test_groups(
        context,
        "fig6",
        &Axes {
            title: "Re-evaluation of the best candidate on test data",
            x: "technique",
            y: "test accuracy of best-by-validation",
        },
        "",
        &conditions,
        &records,
    )
}

/// The test accuracy of each condition's best-by-validation candidate, one column of
/// dots per condition, each compared with the first condition: Figs. 6 and 11.
fn best_test_groups(
    context: &mut Experiment<'_>,
    figure: &str,
    axes: &Axes<'_>,
    comparison_suffix: &str,
    conditions: &[Condition],
    records: &[Vec<Run>],
) -> anyhow::Result<()> {
    let mut groups = Vec::new();
    let mut csv = String::from("condition,noise_sd,repeat,test_accuracy_of_best\n");
    for (condition, runs) in conditions.iter().zip(records) {
        let values: Vec<f64> = runs.iter().map(|r| r.final_test).collect();
        for (r, v) in values.iter().enumerate() {
            writeln!(csv, "{},{},{r},{v}", condition.label, condition.noise_sd)?;
        }
        groups.push((condition.label.clone(), values));
    }
    write_file(context.out.join(format!("{figure}.csv")), csv)?;
    plot::groups(&context.out.join(figure), axes, &groups)?;
    for (label, values) in groups.iter().skip(1) {
        let baseline = groups[0].1.clone();
        context.compare(
            figure,
            &format!("{label} vs {}{comparison_suffix}", groups[0].0),
            "test accuracy of the best",
            values,
            &baseline,
        );
    }
    Ok(())
}

/// Fig. 7: FEC's AUC improvement over a grid of population and tournament sizes.
fn fig7(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let (populations, tournaments): (Vec<usize>, Vec<usize>) = if context.options.quick {
        (vec![20, 100], vec![5, 10])
    } else {
        (vec![20, 50, 100, 200], vec![2, 5, 10, 25])
    };
    let repeats = if context.options.quick {
        context.repeats
    } else {
        context.repeats.min(100)
    };
    let bar = context.bar("fig7", populations.len() * tournaments.len() * 2 * repeats);
    let mut values = Vec::new();
    let mut csv =
        String::from("population,tournament,baseline_auc,fec_auc,ratio,p_value,repeats\n");
    for &tournament in &tournaments {
        let mut row = Vec::new();
        for &population in &populations {
            let config = EvolutionConfig {
                population_size: population,
                tournament_size: tournament.min(population),
                replacement: Replacement::Oldest,
            };
            let mut base = Condition::new("baseline", Techniques::NONE);
            base.algo = Algo::Evolution(config);
            let mut fec = Condition::new("FEC", Techniques::FEC);
            fec.algo = Algo::Evolution(config);
            let b = context.run(&base, repeats, &bar)?;
            let b = context.aucs(&b);
            let f = context.run(&fec, repeats, &bar)?;
            let f = context.aucs(&f);
            let ratio = stats::mean_sem(&f).0 / stats::mean_sem(&b).0;
            let (_, p) = stats::mann_whitney(&f, &b);
            writeln!(
                csv,
                "{population},{tournament},{},{},{ratio},{p},{repeats}",
                stats::mean_sem(&b).0,
                stats::mean_sem(&f).0
            )?;
            context.compare(
                "fig7",
                &format!("FEC vs baseline, P={population}, T={tournament}"),
                "AUC of best validation",
                &f,
                &b,
            );
            row.push(ratio);
        }
        values.push(row);
    }
    bar.finish_and_clear();
    write_file(context.out.join("fig7.csv"), csv)?;
    let xs: Vec<String> = populations.iter().map(|p| p.to_string()).collect();
    let ys: Vec<String> = tournaments.iter().map(|t| t.to_string()).collect();
    plot::heatmap(
        &context.out.join("fig7"),
        &Axes {
            title: "FEC / baseline AUC ratio",
            x: "population size",
            y: "tournament size",
        },
        &xs,
        &ys,
        &values,
    )
}

/// Each base condition without and with FEC: curves of all, and the AUC of each
/// FEC variant compared with its base. Figs. 8 and 9.
fn with_and_without_fec(
    context: &mut Experiment<'_>,
    figure: &str,
    title: &str,
    bases: Vec<Condition>,
) -> anyhow::Result<()> {
    let mut conditions = Vec::new();
    for base in bases {
        let mut fec = base.clone();
        fec.label = format!("{} + FEC", base.label);
        fec.techniques = Techniques::FEC;
        conditions.push(base);
        conditions.push(fec);
    }
    let total: usize = conditions.iter().map(|c| c.repeats(context.repeats)).sum();
    let bar = context.bar(figure, total);
    let records = context.run_all(&conditions, &bar)?;
    bar.finish_and_clear();
    let labels: Vec<String> = conditions.iter().map(|c| c.label.clone()).collect();
    context.curves(figure, title, &labels, &records)?;
    let hit_rates: Vec<String> = records
        .chunks(2)
        .zip(labels.chunks(2))
        .map(|(runs, names)| {
            let (hits, started) = runs[1]
                .iter()
                .flat_map(|run| &run.hit_bins)
                .fold((0, 0), |(h, s), &(bin_h, bin_s)| (h + bin_h, s + bin_s));
            format!(
                "{} {:.1}%",
                names[1],
                100.0 * hits as f64 / started.max(1) as f64
            )
        })
        .collect();
    context.notes.push(format!(
        "{figure}: FEC hit rate over all repeats: {}.",
        hit_rates.join(", ")
    ));
    for (runs, names) in records.chunks(2).zip(labels.chunks(2)) {
        let (b, f) = (context.aucs(&runs[0]), context.aucs(&runs[1]));
        context.compare(
            figure,
            &format!("{} vs {}", names[1], names[0]),
            "AUC of best validation",
            &f,
            &b,
        );
    }
    Ok(())
}

/// The techniques of Fig. 5's panels, each against the baseline first.
fn fig5_conditions() -> [(&'static str, Techniques); 4] {
    [
        ("baseline", Techniques::NONE),
        ("FEC", Techniques::FEC),
        ("FCM", fcm()),
        ("tabulist", tabulist()),
    ]
}

/// Every condition's `repeats` searches (`search(techniques, seed)`, repeat `r`
/// at seed `base_seed + r`, repeats in parallel) as runs on `grid` over `budget`;
/// a failed search's error names `setup`, the condition and the repeat.
fn run_conditions(
    setup: &str,
    conditions: &[(&str, Techniques)],
    repeats: usize,
    base_seed: u64,
    (grid, budget): (&[f64], f64),
    bar: &ProgressBar,
    search: impl Fn(Techniques, u64) -> anyhow::Result<SearchRecord> + Sync,
) -> anyhow::Result<Vec<Vec<Run>>> {
    conditions
        .iter()
        .map(|(label, techniques)| {
            crate::per_seed(repeats, base_seed, |r, seed| {
                let record = search(*techniques, seed)
                    .with_context(|| format!("{setup} {label}, repeat {r}"))?;
                bar.inc(1);
                Ok(Run::new(&record, grid, budget))
            })
            .into_iter()
            .collect()
        })
        .collect()
}

/// [`GRID`] evenly spaced times up to `budget`.
fn time_grid(budget: f64) -> Vec<f64> {
    (1..=GRID)
        .map(|i| budget * i as f64 / GRID as f64)
        .collect()
}

/// Per condition and repeat: AUC, final validation and final test.
fn auc_csv(labels: &[String], records: &[Vec<Run>]) -> anyhow::Result<String> {
    let mut csv = String::from("condition,repeat,auc_validation,final_validation,final_test\n");
    for (label, runs) in labels.iter().zip(records) {
        for (r, run) in runs.iter().enumerate() {
            writeln!(
                csv,
                "{label},{r},{},{},{}",
                run.auc, run.final_validation, run.final_test
            )?;
        }
    }
    Ok(csv)
}

/// Fig. 8: FEC with regularized evolution, classic tournament selection, PPO,
/// local search (first improvement from one random start) and BANANAS (at most
/// half the repeats and at most [`BANANAS_REPEATS`]; its predictors' real time is
/// printed).
fn fig8(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let classic = EvolutionConfig {
        replacement: Replacement::Worst,
        ..PAPER_EVOLUTION
    };
    let bases = [
        ("RE", Algo::Evolution(PAPER_EVOLUTION)),
        ("TS", Algo::Evolution(classic)),
        ("PPO", Algo::Ppo),
        ("LS", Algo::LocalSearch(LocalSearchConfig::DEFAULT)),
        ("BANANAS", Algo::Bananas(BananasConfig::paper())),
    ]
    .map(|(name, algo)| Condition {
        algo,
        ..Condition::new(name, Techniques::NONE)
    });
    with_and_without_fec(context, "fig8", "FEC across algorithms", bases.to_vec())?;
    let bananas = bases
        .iter()
        .find(|c| matches!(c.algo, Algo::Bananas(_)))
        .expect("Fig. 8 runs BANANAS");
    for fec in [false, true] {
        let mut condition = bananas.clone();
        if fec {
            condition.techniques = Techniques::FEC;
        }
        let repeats = condition.repeats(context.repeats);
        let runs = context.run(&condition, repeats, &ProgressBar::hidden())?;
        let seconds: Vec<f64> = runs.iter().map(|r| r.algorithm_s).collect();
        let (mean, sem) = stats::mean_sem(&seconds);
        // Real time varies from run to run, so it goes to the console, not into
        // the summary (which a run reproduces to the byte).
        say!(
            "fig8: BANANAS{}: predictors {mean:.2} ± {sem:.2} s of real time per search over {repeats} repeats (not on the simulated clock)",
            if fec { " + FEC" } else { "" }
        );
    }
    Ok(())
}

/// Fig. 9: serial and distributed (16 asynchronous workers), with and without FEC.
fn fig9(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let bases = [("serial", 1), ("16 workers", 16)].map(|(name, workers)| Condition {
        workers,
        ..Condition::new(name, Techniques::NONE)
    });
    with_and_without_fec(context, "fig9", "Serial vs distributed", bases.to_vec())
}

/// Fig. 10: mantissa bits from 1 upward: models per hash over the table, and search
/// quality with a plain and a forgetful cache.
fn fig10(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let bits: Vec<u32> = if context.options.quick {
        vec![1, 4, 8, 24]
    } else {
        vec![1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32, 52]
    };
    let table = context.bench.table.as_ref();
    let mut models_per_hash = Vec::new();
    for &m in &bits {
        let hasher = TableHasherConfig {
            mantissa_bits: MantissaBits::f64(m)?,
            cost_s: 0.0,
        }
        .build(table)?;
        models_per_hash.push(table.len() as f64 / hasher.group_models().len() as f64);
    }
    let repeats = if context.options.quick {
        context.repeats
    } else {
        context.repeats.min(100)
    };
    let bar = context.bar("fig10", bits.len() * 2 * repeats + repeats);
    let baseline = context.run(&Condition::new("baseline", Techniques::NONE), repeats, &bar)?;
    let baseline_final: Vec<f64> = baseline.iter().map(|r| r.final_validation).collect();
    let baseline_auc = context.aucs(&baseline);
    let mut plain = Vec::new();
    let mut forget = Vec::new();
    let mut csv = String::from(
        "mantissa_bits,models_per_hash,fec_final_validation_mean,fec_final_validation_sem,forgetful_final_validation_mean,forgetful_final_validation_sem,baseline_final_validation_mean,repeats\n",
    );
    for (i, &m) in bits.iter().enumerate() {
        let mut c = Condition::new("FEC", Techniques::FEC);
        c.mantissa_bits = m;
        let f = context.run(&c, repeats, &bar)?;
        let mut c = Condition::new("forgetful FEC", forgetful(0.1));
        c.mantissa_bits = m;
        let g = context.run(&c, repeats, &bar)?;
        let fv: Vec<f64> = f.iter().map(|r| r.final_validation).collect();
        let gv: Vec<f64> = g.iter().map(|r| r.final_validation).collect();
        let (fm, fs) = stats::mean_sem(&fv);
        let (gm, gs) = stats::mean_sem(&gv);
        writeln!(
            csv,
            "{m},{},{fm},{fs},{gm},{gs},{},{repeats}",
            models_per_hash[i],
            stats::mean_sem(&baseline_final).0
        )?;
        plain.push((f64::from(m), fm, fs));
        forget.push((f64::from(m), gm, gs));
        context.compare(
            "fig10",
            &format!("FEC at {m} bits vs baseline"),
            "AUC of best validation",
            &context.aucs(&f),
            &baseline_auc,
        );
        context.compare(
            "fig10",
            &format!("forgetful FEC at {m} bits vs baseline"),
            "AUC of best validation",
            &context.aucs(&g),
            &baseline_auc,
        );
    }
    bar.finish_and_clear();
    write_file(context.out.join("fig10.csv"), csv)?;
    let (bm, bs) = stats::mean_sem(&baseline_final);
    let base_line: Vec<(f64, f64, f64)> = bits.iter().map(|&m| (f64::from(m), bm, bs)).collect();
    plot::lines(
        &context.out.join("fig10_quality"),
        &Axes {
            title: "Search quality vs mantissa bits",
            x: "mantissa bits kept",
            y: "final best validation accuracy (mean ± 2 SEM)",
        },
        &[
            Line {
                name: "FEC".into(),
                points: plain,
            },
            Line {
                name: "forgetful FEC (p = 0.1)".into(),
                points: forget,
            },
            Line {
                name: "baseline (no cache)".into(),
                points: base_line,
            },
        ],
        true,
    )?;
    plot::lines(
        &context.out.join("fig10_collisions"),
        &Axes {
            title: "Models per functional hash",
            x: "mantissa bits kept",
            y: "models per distinct hash",
        },
        &[Line {
            name: "models / distinct hashes".into(),
            points: bits
                .iter()
                .zip(&models_per_hash)
                .map(|(&m, &v)| (f64::from(m), v, 0.0))
                .collect(),
        }],
        false,
    )
}

/// Fig. 11 (right): evaluation noise; baseline, FEC and FEA. The best candidates are
/// re-evaluated without noise (mean validation accuracy over the repeats).
fn fig11(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let table = context.bench.table.as_ref();
    let full = table.budgets().len() - 1;
    // Noise as large as the spread of accuracies between the table's repeats.
    let mut spread = Vec::new();
    for i in 0..table.len() {
        let runs = table.model_at(i).runs(full);
        let v: Vec<f64> = runs.iter().map(|r| r.end.validation_accuracy).collect();
        spread.push(stats::mean_sem(&v).1 * (v.len() as f64).sqrt());
    }
    let noise = stats::mean_sem(&spread).0;
    let mut conditions = vec![
        Condition::new("baseline", Techniques::NONE),
        Condition::new("FEC", Techniques::FEC),
        Condition::new("FEA (3 evals)", fea(3)),
        Condition::new("FEA (10 evals)", fea(10)),
    ];
    for c in &mut conditions {
        c.noise_sd = noise;
    }
    let bar = context.bar("fig11", conditions.len() * context.repeats);
    let records = context.run_all(&conditions, &bar)?;
    bar.finish_and_clear();
    // Re-evaluation of the best-by-noisy-validation candidate: the test accuracy of
    // its training run, which the noise never touches (the noise is added to
    // validation accuracy only).
    best_test_groups(
        context,
        "fig11",
        &Axes {
            title: &format!("Noisy evaluation (σ = {noise:.4}): best candidates re-evaluated"),
            x: "technique",
            y: "test accuracy of best-by-noisy-validation",
        },
        &format!(" (noise {noise:.4})"),
        &conditions,
        &records,
    )
}

/// Fig. 12: cache hit rate over the experiment.
fn fig12(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let bar = context.bar("fig12", context.repeats);
    let repeats = context.repeats;
    let runs = context.run(&Condition::new("FEC", Techniques::FEC), repeats, &bar)?;
    bar.finish_and_clear();
    let width = context.bench.budget_s / HIT_BINS as f64;
    let mut per_bin: Vec<Vec<f64>> = vec![Vec::new(); HIT_BINS];
    for run in &runs {
        for (b, &(hits, total)) in run.hit_bins.iter().enumerate() {
            if total > 0 {
                per_bin[b].push(hits as f64 / total as f64);
            }
        }
    }
    let mut csv = String::from("time_s,hit_rate_mean,hit_rate_sem,repeats\n");
    let mut points = Vec::new();
    for (b, values) in per_bin.iter().enumerate() {
        let (m, s) = stats::mean_sem(values);
        let t = (b as f64 + 0.5) * width;
        writeln!(csv, "{t},{m},{s},{}", values.len())?;
        points.push((t, m, s));
    }
    write_file(context.out.join("fig12.csv"), csv)?;
    plot::lines(
        &context.out.join("fig12"),
        &Axes {
            title: "FEC cache hit rate over the experiment",
            x: "simulated time (s)",
            y: "fraction of candidates that hit the cache",
        },
        &[Line {
            name: "FEC hit rate".into(),
            points,
        }],
        true,
    )
}

/// Fig. 13 analogue: equivalences the functional hash finds that the structural hash
/// misses — distinct pruned cells that share a functional hash.
fn fig13(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let table = context.bench.table.as_ref();
    let bits: Vec<u32> = vec![4, 8, 12, 16, 20, 24, 32, 52];
    let mut csv = String::from(
        "mantissa_bits,distinct_cells,distinct_functional_hashes,cells_sharing_a_hash,structural_misses\n",
    );
    let mut points = Vec::new();
    let mut pairs_text = String::new();
    for &m in &bits {
        let hasher = TableHasherConfig {
            mantissa_bits: MantissaBits::f64(m)?,
            cost_s: 0.0,
        }
        .build(table)?;
        let buckets = hasher.group_models();
        let sharing: usize = buckets.iter().filter(|v| v.len() > 1).map(Vec::len).sum();
        // Each bucket of k distinct pruned cells is k - 1 equivalences that the
        // structural hash, which keeps them apart, misses.
        let misses: usize = buckets.iter().map(|v| v.len() - 1).sum();
        writeln!(
            csv,
            "{m},{},{},{sharing},{misses}",
            table.len(),
            buckets.len()
        )?;
        points.push((f64::from(m), misses as f64, 0.0));
        // Concrete examples from the widest hash that still merges distinct cells.
        if buckets.iter().any(|v| v.len() > 1) {
            pairs_text.clear();
            writeln!(pairs_text, "at {m} mantissa bits:")?;
            for members in buckets.iter().filter(|v| v.len() > 1).take(5) {
                writeln!(
                    pairs_text,
                    "functional hash shared by {} cells:",
                    members.len()
                )?;
                for &i in members.iter().take(3) {
                    let model = table.model_at(i);
                    writeln!(
                        pairs_text,
                        "  module {} ({} parameters)\n{}",
                        model.key,
                        model.trainable_parameters,
                        indent(&model.cell.to_string())
                    )?;
                }
            }
        }
    }
    write_file(context.out.join("fig13.csv"), csv)?;
    write_file(
        context.out.join("fig13_pairs.txt"),
        if pairs_text.is_empty() {
            "no two distinct cells share a functional hash at any width tried\n".to_string()
        } else {
            pairs_text
        },
    )?;
    plot::lines(
        &context.out.join("fig13"),
        &Axes {
            title: "Equivalences missed by the structural hash",
            x: "mantissa bits kept",
            y: "distinct cells merged by the functional hash",
        },
        &[Line {
            name: "functional equivalences".into(),
            points,
        }],
        false,
    )
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every file a full run of `figures` writes.
fn expected_files(out: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for stem in [
        "fig5_validation",
        "fig5_test",
        "fig6",
        "fig7",
        "fig8_validation",
        "fig8_test",
        "fig9_validation",
        "fig9_test",
        "fig10_quality",
        "fig10_collisions",
        "fig11",
        "fig12",
        "fig13",
        "fig5_automl_zero_validation",
        "fig5_automl_zero_test",
        "fig5_automl_zero_held_out",
        "fig5_autorl_validation",
        "fig5_autorl_test",
        "fig11_autorl",
        "eznas_scatter_evolved",
        "eznas_scatter_baseline",
        "eznas_gp",
        "fig5_mnas_validation",
        "fig5_mnas_test",
        "fig6_mnas",
    ] {
        files.push(out.join(format!("{stem}.png")));
        files.push(out.join(format!("{stem}.svg")));
    }
    for csv in [
        "fig5",
        "fig5_auc",
        "fig6",
        "fig7",
        "fig8",
        "fig9",
        "fig10",
        "fig11",
        "fig12",
        "fig13",
        "fig5_automl_zero",
        "fig5_automl_zero_auc",
        "fig5_autorl",
        "fig5_autorl_auc",
        "fig11_autorl",
        "eznas_correlations",
        "eznas_scatter_evolved",
        "eznas_scatter_baseline",
        "eznas_gp",
        "fig5_mnas",
        "fig5_mnas_auc",
        "fig6_mnas",
        "mnas_hash_audit",
    ] {
        files.push(out.join(format!("{csv}.csv")));
    }
    files.extend(
        [
            "fig13_pairs.txt",
            "fig5_automl_zero_programs.txt",
            "eznas_correlations.md",
            "summary.md",
            "summary.json",
        ]
        .map(|f| out.join(f)),
    );
    files
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    /// Every I/O error names its path: a directory where a CSV should go, and an
    /// `--out` that is a regular file.
    #[test]
    fn write_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("ufh-figures-out-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("fig6.csv")).unwrap();
        let err = write_file(dir.join("fig6.csv"), "x").unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("fig6.csv") && text.contains("writing"),
            "{text}"
        );

        let file = dir.join("a-file");
        std::fs::write(&file, "").unwrap();
        let cli =
            Cli::try_parse_from(["figures", "--out", file.to_str().unwrap(), "--quick"]).unwrap();
        let err = run(cli.args).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("a-file") && text.contains("not a directory"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
