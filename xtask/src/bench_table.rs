//! `cargo xtask bench-table`: trains ufh's embedded NAS benchmark.
//!
//! Every finished model is appended, as one line, to a journal
//! (`~/.ufh/bench-table/journal.tsv` unless `--journal` says otherwise: outside the
//! work tree, so a fresh checkout on the same machine resumes it) and flushed,
//! so a killed run loses only the models in flight; the next run reads the journal
//! and continues. `--limit N` trains at most N more models, to spread the work over
//! several runs. When every model is in the journal, the table is written in ufh's
//! compact binary format to `ufh-spaces/data/` (`nasbench-digits-6v.ufhtable` for
//! `--table large`, the default; `nasbench-digits.ufhtable` for `--table small`)
//! or to `--out`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;
use ufh_spaces::digits;
use ufh_spaces::nasbench101::embedded::{TableSettings, TableSpec, train_model};
use ufh_spaces::nasbench101::{Cell, ModuleHash, enumerate_unique_cells};
use ufh_spaces::nasbench101::{EpochMetrics, ExampleCounts, ModelTableBuilder, RepeatMetrics};

use crate::common::journal::{journal_lines, open_for_append};
use crate::common::progress::progress_bar;
use crate::say;
use crate::workspace_root;

/// `cargo xtask bench-table`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Which embedded table: `large` (every cell of at most 6 vertices, the
    /// figures' default) or `small` (at most 5 vertices).
    #[arg(long, default_value = "large", value_parser = ["large", "small"])]
    table: String,
    /// The journal of finished models [default: ~/.ufh/bench-table/TABLE.tsv,
    /// outside the work tree so that a fresh checkout resumes it].
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// Where the finished table is written [default: the crate's data file].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Training threads [default: all cores].
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
    /// Train at most this many more models in this run.
    #[arg(long)]
    limit: Option<usize>,
    /// Measure instead of generating: train this many cells drawn uniformly (seed 0)
    /// from the table's space and report the cost per cell and the accuracies.
    #[arg(long, value_name = "N")]
    probe: Option<usize>,
    /// With --probe: channels C of the network.
    #[arg(long, requires = "probe")]
    channels: Option<usize>,
    /// With --probe: the two epoch budgets, short and long.
    #[arg(long, requires = "probe", num_args = 2, value_names = ["SHORT", "LONG"])]
    epochs: Option<Vec<u32>>,
    /// With --probe: training images.
    #[arg(long, requires = "probe")]
    train_images: Option<usize>,
    /// With --probe: the vertex bound of the sampled cells.
    #[arg(long, requires = "probe")]
    max_vertices: Option<usize>,
    /// With --probe: batch size.
    #[arg(long, requires = "probe")]
    batch_size: Option<usize>,
    /// With --probe: peak learning rate.
    #[arg(long, requires = "probe")]
    learning_rate: Option<f32>,
    /// With --probe: training runs at the short budget.
    #[arg(long, requires = "probe")]
    short_repeats: Option<usize>,
    /// With --probe: side of the images the network sees (8, or 4 for 2×2 means).
    #[arg(long, requires = "probe", value_parser = ["4", "8"])]
    input_side: Option<String>,
}

struct Options {
    journal: PathBuf,
    out: PathBuf,
    jobs: usize,
    limit: Option<usize>,
}

fn parse(args: Args, spec: &TableSpec) -> Options {
    let root = workspace_root();
    let journal = format!("{}.tsv", spec.name);
    Options {
        journal: args.journal.unwrap_or_else(|| {
            std::env::var_os("HOME").map_or_else(
                || root.join("target/bench-table").join(&journal),
                |home| PathBuf::from(home).join(".ufh/bench-table").join(&journal),
            )
        }),
        out: args
            .out
            .unwrap_or_else(|| root.join("ufh-spaces/data").join(spec.file_name)),
        jobs: crate::threads(args.jobs),
        limit: args.limit,
    }
}

/// One journal line: key, then per run (budget-major, repeat-minor) epochs,
/// parameters, diverged flag and the 8 metrics, tab-separated, floats in Rust's
/// shortest round-trip form, and a closing `end` field (a line cut short by a kill
/// never parses, even where its last number would).
fn format_line(key: &ModuleHash, runs: &[(u32, ufh_spaces::nasbench101::TrainedRun)]) -> String {
    let mut line = key.to_string();
    for (epochs, run) in runs {
        let m = run.metrics;
        line.push_str(&format!(
            "\t{epochs}\t{}\t{}",
            run.trainable_parameters,
            u8::from(run.diverged)
        ));
        for e in [m.halfway, m.end] {
            for v in [
                e.training_time,
                e.train_accuracy,
                e.validation_accuracy,
                e.test_accuracy,
            ] {
                line.push_str(&format!("\t{v:?}"));
            }
        }
    }
    line.push_str("\tend");
    line
}

struct JournalRow {
    parameters: u64,
    runs: Vec<(u32, RepeatMetrics)>,
}

fn parse_line(line: &str, expected_runs: usize) -> Option<(ModuleHash, JournalRow)> {
    let mut fields = line.split('\t');
    let key: ModuleHash = fields.next()?.parse().ok()?;
    let mut runs = Vec::with_capacity(expected_runs);
    let mut parameters = 0;
    for _ in 0..expected_runs {
        let epochs: u32 = fields.next()?.parse().ok()?;
        parameters = fields.next()?.parse().ok()?;
        let _diverged: u8 = fields.next()?.parse().ok()?;
        let mut values = [0f64; 8];
        for v in &mut values {
            *v = fields.next()?.parse().ok()?;
        }
        let epoch = |o: usize| EpochMetrics {
            training_time: values[o],
            train_accuracy: values[o + 1],
            validation_accuracy: values[o + 2],
            test_accuracy: values[o + 3],
        };
        runs.push((
            epochs,
            RepeatMetrics {
                halfway: epoch(0),
                end: epoch(4),
            },
        ));
    }
    if fields.next() != Some("end") || fields.next().is_some() {
        return None;
    }
    Some((key, JournalRow { parameters, runs }))
}

/// Reads the finished models of a journal; a last line cut short by a kill is
/// ignored (and cut off by [`open_for_append`] before the next line is written).
fn read_journal(
    path: &Path,
    expected_runs: usize,
) -> anyhow::Result<HashMap<ModuleHash, JournalRow>> {
    Ok(journal_lines(path, |line| parse_line(line, expected_runs))?
        .into_iter()
        .collect())
}

/// Trains `n` cells drawn uniformly from the space of `settings` and reports what a
/// table with these settings would cost and hold.
fn probe(n: usize, settings: &TableSettings, jobs: usize) -> anyhow::Result<()> {
    use rand::SeedableRng;
    use rand::seq::IndexedRandom;
    let cells = enumerate_unique_cells(settings.max_vertices, settings.max_edges);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
    let sample: Vec<&(ModuleHash, Cell)> = cells.choose_multiple(&mut rng, n).collect();
    let data = settings.data(&digits::split());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    let start = Instant::now();
    let rows: Vec<Vec<(u32, ufh_spaces::nasbench101::TrainedRun)>> = pool.install(|| {
        sample
            .par_iter()
            .with_max_len(1)
            .map(|(key, cell)| train_model(key, cell, &data, settings))
            .collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let long = settings.budgets[1];
    let mut means: Vec<f64> = Vec::new();
    let mut spread = 0.0;
    for row in &rows {
        let v: Vec<f64> = row
            .iter()
            .filter(|(e, _)| *e == long)
            .map(|(_, r)| r.metrics.end.validation_accuracy)
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        spread += v.iter().map(|x| (x - mean).abs()).sum::<f64>() / v.len() as f64;
        means.push(mean);
    }
    means.sort_by(f64::total_cmp);
    let q = |p: f64| means[((means.len() - 1) as f64 * p).round() as usize];
    say!(
        "{n} of {} cells; {:.3} s per cell on one thread ({:.3} s wall on {jobs}); the whole space: {:.0} min on {jobs} threads",
        cells.len(),
        wall * jobs as f64 / n as f64,
        wall / n as f64,
        wall / n as f64 * cells.len() as f64 / 60.0
    );
    say!(
        "mean validation accuracy at {long} epochs: min {:.4}, q10 {:.4}, median {:.4}, q90 {:.4}, q99 {:.4}, max {:.4}; mean |repeat - mean| {:.4}",
        q(0.0),
        q(0.1),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0),
        spread / rows.len() as f64
    );
    Ok(())
}

/// Rejects probe settings that cannot train, naming the flag and its value.
fn check_probe(n: usize, settings: &TableSettings) -> anyhow::Result<()> {
    let train = &settings.train;
    let counts = [
        ("--probe", n),
        ("--channels", train.channels),
        ("--batch-size", train.batch_size),
        ("--epochs (short)", settings.budgets[0] as usize),
        ("--epochs (long)", settings.budgets[1] as usize),
        ("--short-repeats", settings.short_repeats.unwrap_or(1)),
        ("--train-images", settings.train_images.unwrap_or(1)),
    ];
    for (flag, value) in counts {
        anyhow::ensure!(value >= 1, "{flag} {value}: expected at least 1");
    }
    anyhow::ensure!(
        settings.max_vertices >= 2,
        "--max-vertices {}: a cell needs its input and output (at least 2)",
        settings.max_vertices
    );
    anyhow::ensure!(
        train.learning_rate.is_finite() && train.learning_rate > 0.0,
        "--learning-rate {}: expected a positive number",
        train.learning_rate
    );
    Ok(())
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let spec = TableSpec::named(&args.table).expect("clap checks the table name");
    if let Some(n) = args.probe {
        let mut settings = spec.settings;
        if let Some(v) = args.max_vertices {
            settings.max_vertices = v;
        }
        if let Some(c) = args.channels {
            settings.train.channels = c;
        }
        if let Some(b) = args.batch_size {
            settings.train.batch_size = b;
        }
        if let Some(side) = &args.input_side {
            settings.train.input_side = side.parse()?;
        }
        if let Some(lr) = args.learning_rate {
            settings.train.learning_rate = lr;
        }
        settings.short_repeats = args.short_repeats.or(settings.short_repeats);
        if let Some(e) = &args.epochs {
            settings.budgets = [e[0], e[1]];
        }
        settings.train_images = args.train_images.or(settings.train_images);
        check_probe(n, &settings)?;
        let jobs = parse(args, &spec).jobs;
        return probe(n, &settings, jobs);
    }
    let options = parse(args, &spec);
    let settings = spec.settings;
    let expected_runs = settings.runs_per_model();
    let cells: Vec<(ModuleHash, Cell)> =
        enumerate_unique_cells(settings.max_vertices, settings.max_edges);
    let done = read_journal(&options.journal, expected_runs)?;
    let todo: Vec<&(ModuleHash, Cell)> = cells
        .iter()
        .filter(|(key, _)| !done.contains_key(key))
        .take(options.limit.unwrap_or(usize::MAX))
        .collect();
    say!(
        "{} unique cells of at most {} vertices; {} in the journal {}; training {} now on {} threads",
        cells.len(),
        settings.max_vertices,
        done.len(),
        options.journal.display(),
        todo.len(),
        options.jobs
    );
    let journal = open_for_append(&options.journal)?;
    let journal = Mutex::new(journal);
    let data = settings.data(&digits::split());
    let bar = progress_bar(todo.len(), "models");
    let start = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .build()?;
    pool.install(|| {
        // One model per rayon job: with rayon's default splitting a thread can be
        // left with a long run of models that no idle thread may steal, and the
        // first generation spent its last quarter on one core.
        todo.par_iter()
            .with_max_len(1)
            .try_for_each(|(key, cell)| -> anyhow::Result<()> {
                let runs = train_model(key, cell, &data, &settings);
                let line = format_line(key, &runs);
                let mut journal = journal
                    .lock()
                    .expect("no thread panics holding the journal");
                writeln!(journal, "{line}")?;
                journal.flush()?;
                bar.inc(1);
                Ok(())
            })
    })?;
    bar.finish();
    say!(
        "trained {} models in {:.1} s",
        todo.len(),
        start.elapsed().as_secs_f64()
    );

    let done = read_journal(&options.journal, expected_runs)?;
    let missing = cells
        .iter()
        .filter(|(key, _)| !done.contains_key(key))
        .count();
    if missing > 0 {
        say!("{missing} models still to train; run again to continue");
        return Ok(());
    }
    let mut builder = ModelTableBuilder::new(settings.repeats)
        .repeats_at(settings.budgets[0], settings.repeats_at(0));
    for (key, cell) in &cells {
        let row = &done[key];
        for (epochs, run) in &row.runs {
            builder.add_run(*key, *cell, row.parameters, *epochs, *run)?;
        }
    }
    let table = builder.finish()?;
    if let Some(parent) = options.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = File::create(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let examples = ExampleCounts {
        train: data.train.len() as u32,
        validation: data.validation.len() as u32,
        test: data.test.len() as u32,
    };
    table.write_compact(file, &spec.metadata(), examples)?;
    say!(
        "wrote {} models to {} ({} bytes)",
        cells.len(),
        options.out.display(),
        std::fs::metadata(&options.out)?.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use ufh_spaces::nasbench101::TrainedRun;

    use super::*;

    #[test]
    fn journal_lines_round_trip_and_a_cut_line_is_rejected() {
        let key: ModuleHash = "28cfc7874f6d200472e1a9dcd8650aa0".parse().unwrap();
        let at = |x: f64| EpochMetrics {
            training_time: x,
            train_accuracy: x / 3.0,
            validation_accuracy: 0.1 + x / 7.0,
            test_accuracy: 1.0 / 3.0,
        };
        let runs: Vec<(u32, TrainedRun)> = [(2, 0.25), (8, 0.5)]
            .into_iter()
            .map(|(epochs, x)| {
                let run = TrainedRun {
                    metrics: RepeatMetrics {
                        halfway: at(x),
                        end: at(2.0 * x),
                    },
                    trainable_parameters: 1234,
                    diverged: false,
                };
                (epochs, run)
            })
            .collect();
        let line = format_line(&key, &runs);
        let (parsed_key, row) = parse_line(&line, 2).unwrap();
        assert_eq!(parsed_key, key);
        assert_eq!(row.parameters, 1234);
        for ((epochs, run), (parsed_epochs, parsed)) in runs.iter().zip(&row.runs) {
            assert_eq!(epochs, parsed_epochs);
            assert_eq!(run.metrics, *parsed, "floats survive the text form exactly");
        }
        for cut in 1..line.len() {
            assert!(
                parse_line(&line[..cut], 2).is_none(),
                "a line cut at {cut} parsed"
            );
        }
        assert!(parse_line(&format!("{line}\t1"), 2).is_none());
    }

    /// A journal cut mid-line, then appended to by a resumed run, still reads:
    /// the torn tail is cut off instead of left in the middle of the file.
    #[test]
    fn a_torn_journal_line_is_cut_off_before_appending() {
        let dir = std::env::temp_dir().join(format!("ufh-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal.tsv");
        let key = |i: u8| ModuleHash([i; 16]);
        let run = TrainedRun {
            metrics: RepeatMetrics {
                halfway: EpochMetrics {
                    training_time: 1.0,
                    train_accuracy: 0.5,
                    validation_accuracy: 0.5,
                    test_accuracy: 0.5,
                },
                end: EpochMetrics {
                    training_time: 2.0,
                    train_accuracy: 0.75,
                    validation_accuracy: 0.75,
                    test_accuracy: 0.75,
                },
            },
            trainable_parameters: 10,
            diverged: false,
        };
        let line = |i: u8| format_line(&key(i), &[(2, run)]);
        let second = line(2);
        std::fs::write(
            &path,
            format!("{}\n{}", line(1), &second[..second.len() / 2]),
        )
        .unwrap();
        assert_eq!(
            read_journal(&path, 1).unwrap().len(),
            1,
            "a torn last line is ignored"
        );
        for resumed in 0..2 {
            let mut journal = open_for_append(&path).unwrap();
            writeln!(journal, "{}", line(3 + resumed)).unwrap();
            drop(journal);
            let done = read_journal(&path, 1).unwrap();
            assert_eq!(done.len(), 2 + usize::from(resumed), "run {resumed}");
            assert!(done.contains_key(&key(3)));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
