//! What every NAS figure shares: the benchmark and its scaled budget, the
//! conditions, the journal that makes a figures run resumable, one search's
//! curves ([`Run`]) and the [`Experiment`] that runs and draws them.

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
    Mode, Namespace, PpoConfig, Search, SearchRecord, TabulistConfig, Techniques,
};
use ufh_spaces::nasbench101::embedded::EmbeddedTable;
use ufh_spaces::nasbench101::{NasBench101, NasBench101Space, SpaceConfig};
use ufh_spaces::nasbench101::{
    RepeatChoice, TableEvaluatorConfig, TableHasherConfig, TabularBenchmark,
};

use plot::{Axes, Line};

use super::*;

/// The benchmark, its space and the scaled budget.
pub(super) struct Bench {
    pub(super) table: Box<dyn TabularBenchmark>,
    pub(super) space: NasBench101Space,
    pub(super) name: String,
    pub(super) budget_s: f64,
    pub(super) hash_cost_s: f64,
}

impl Bench {
    pub(super) fn load(options: &Options) -> anyhow::Result<Self> {
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

/// The search algorithm of a condition.
#[derive(Debug, Clone)]
pub(super) enum Algo {
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
pub(super) const BANANAS_REPEATS: usize = 50;

/// One experimental condition, run over the repeats.
#[derive(Debug, Clone)]
pub(super) struct Condition {
    pub(super) label: String,
    pub(super) algo: Algo,
    pub(super) techniques: Techniques,
    pub(super) noise_sd: f64,
    pub(super) mantissa_bits: u32,
    pub(super) workers: usize,
}

impl Condition {
    /// Repeats of this condition when the base count is `repeats`: the paper runs
    /// PPO 1,000 times and the evolutions 500 times, so PPO gets twice the repeats.
    pub(super) fn repeats(&self, repeats: usize) -> usize {
        match self.algo {
            Algo::Ppo => 2 * repeats,
            Algo::Evolution(_) | Algo::LocalSearch(_) => repeats,
            Algo::Bananas(_) => repeats.div_ceil(2).min(BANANAS_REPEATS),
        }
    }

    pub(super) fn new(label: &str, techniques: Techniques) -> Self {
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

pub(super) fn fcm() -> Techniques {
    Techniques {
        fcm: Some(FcmConfig { max_tries: 100 }),
        ..Techniques::NONE
    }
}

pub(super) fn tabulist() -> Techniques {
    Techniques {
        tabulist: Some(TabulistConfig {
            max_occurrences: 1,
            max_tries: 100,
        }),
        ..Techniques::NONE
    }
}

pub(super) fn fea(max_evals: u32) -> Techniques {
    Techniques {
        fec: Some(FecConfig {
            max_evals: std::num::NonZeroU32::new(max_evals).expect("positive"),
            ..FecConfig::PLAIN
        }),
        ..Techniques::NONE
    }
}

pub(super) fn forgetful(probability: f64) -> Techniques {
    Techniques {
        fec: Some(FecConfig {
            forgetting: Forgetting::Fixed(probability),
            ..FecConfig::PLAIN
        }),
        ..Techniques::NONE
    }
}

pub(super) struct Experiment<'a> {
    pub(super) bench: &'a Bench,
    pub(super) options: &'a Options,
    pub(super) repeats: usize,
    pub(super) out: PathBuf,
    pub(super) summary: Vec<Comparison>,
    /// Lines for the summary's header: settings of figures whose budget or repeats
    /// differ from the benchmark's.
    pub(super) notes: Vec<String>,
    /// Records of conditions already run, keyed by the condition (label aside) and
    /// the repeat count, so figures that share a condition share its searches.
    pub(super) memo: HashMap<String, Vec<Run>>,
    /// Where finished figures and conditions are journalled.
    pub(super) journal: Journal,
}

/// The journal of a run, in `OUT/.resume/`: one file per finished figure (its
/// summary lines and notes) and one per finished condition (its runs), each
/// written atomically and stamped with the run's settings. `--resume` reads them
/// back, so an interrupted run loses at most the condition it was in, and the
/// summary it ends with is the one an uninterrupted run writes, byte for byte.
pub(super) struct Journal {
    pub(super) dir: PathBuf,
    pub(super) stamp: String,
}

/// A finished figure in the journal.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct FigureEntry {
    pub(super) stamp: String,
    pub(super) summary: Vec<Comparison>,
    pub(super) notes: Vec<String>,
}

/// A finished condition in the journal.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct ConditionEntry {
    pub(super) stamp: String,
    pub(super) key: String,
    pub(super) runs: Vec<Run>,
}

impl Journal {
    pub(super) fn open(options: &Options, bench_name: &str) -> anyhow::Result<Self> {
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

    pub(super) fn path(&self, kind: &str, name: &str) -> PathBuf {
        let digest = Namespace::of_text(name);
        self.dir
            .join(format!("{kind}-{}.bin", &digest.as_str()[..16]))
    }

    pub(super) fn read<T: serde::de::DeserializeOwned>(
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

    pub(super) fn write(&self, path: &Path, entry: &impl serde::Serialize) -> anyhow::Result<()> {
        let bytes = ufh_search::seal(postcard::to_stdvec(entry)?);
        ufh_search::write_atomically(path, &bytes)
            .with_context(|| format!("writing {}", path.display()))
    }

    pub(super) fn figure(&self, figure: &str) -> anyhow::Result<Option<FigureEntry>> {
        self.read(&self.path("figure", figure), |e: &FigureEntry| &e.stamp)
    }

    pub(super) fn condition(&self, key: &str) -> anyhow::Result<Option<Vec<Run>>> {
        Ok(self
            .read(&self.path("condition", key), |e: &ConditionEntry| &e.stamp)?
            .filter(|e| e.key == key)
            .map(|e| e.runs))
    }
}

/// What the figures keep of one search: full records of converged searches hold
/// hundreds of thousands of cache-hit events, far too many to keep for every repeat.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Run {
    /// Best-so-far validation and test accuracy on the time grid.
    pub(super) validation: Vec<f64>,
    pub(super) test: Vec<f64>,
    /// Area under the best-so-far validation curve over the budget, per second.
    pub(super) auc: f64,
    pub(super) final_validation: f64,
    pub(super) final_test: f64,
    /// Per time bin of [`HIT_BINS`]: full cache hits and candidates started.
    pub(super) hit_bins: Vec<(usize, usize)>,
    /// Real seconds the algorithm itself spent (BANANAS's predictors), apart
    /// from the simulated clock; 0 for the others.
    pub(super) algorithm_s: f64,
}

/// Bins of the hit-rate figure.
pub(super) const HIT_BINS: usize = 50;

impl Run {
    pub(super) fn new(record: &SearchRecord, grid: &[f64], budget_s: f64) -> Self {
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
    pub(super) fn hit_rate(&self) -> f64 {
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
pub(super) struct TimeAxis<'a> {
    pub(super) grid: &'a [f64],
    pub(super) x: &'a str,
    pub(super) metric: &'a str,
    pub(super) column: &'a str,
}

/// One line of the summary.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Comparison {
    pub(super) figure: String,
    pub(super) comparison: String,
    pub(super) metric: String,
    pub(super) treatment_mean: f64,
    pub(super) baseline_mean: f64,
    pub(super) ratio: f64,
    pub(super) mann_whitney_u: f64,
    pub(super) p_value: f64,
    pub(super) repeats: usize,
}

impl Experiment<'_> {
    pub(super) fn run(
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

    pub(super) fn run_fresh(
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

    pub(super) fn run_all(
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

    pub(super) fn bar(&self, figure: &str, total: usize) -> ProgressBar {
        ProgressBar::new(total as u64).with_style(
            ProgressStyle::with_template(&format!(
                "{figure:>5} {{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} searches"
            ))
            .expect("valid template")
            .progress_chars("=> "),
        )
    }

    pub(super) fn grid(&self) -> Vec<f64> {
        (1..=GRID)
            .map(|i| self.bench.budget_s * i as f64 / GRID as f64)
            .collect()
    }

    pub(super) fn compare(
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
    pub(super) fn curves(
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
    pub(super) fn curves_on(
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

    pub(super) fn aucs(&self, runs: &[Run]) -> Vec<f64> {
        runs.iter().map(|r| r.auc).collect()
    }
}
