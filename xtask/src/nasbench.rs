//! `cargo xtask nasbench`: load NAS-Bench-101 files and write synthetic ones.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ufh_spaces::nasbench101::{EpochMetrics, RepeatMetrics, TabularBenchmark};
use ufh_spaces::nasbench101::{NasBench101, NasBench101Writer, enumerate_unique_cells};

use crate::say;

/// `cargo xtask nasbench`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Load a NAS-Bench-101 file; print models, time and peak memory.
    Load {
        /// The `.tfrecord` file.
        path: PathBuf,
        /// Read (or write) the binary cache beside the file.
        #[arg(long)]
        cache: bool,
    },
    /// Write a synthetic file in NAS-Bench-101's exact format: every model of at
    /// most N vertices, budgets 4/12/36/108, 3 repeats, made-up accuracies (for
    /// measuring the reader).
    Synth {
        /// The file to write.
        out: PathBuf,
        /// Most vertices of a cell.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(2..=7))]
        max_vertices: u8,
        /// Overwrite OUT if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Race the UFH reference implementation's own workload on a file: regularized
    /// evolution (population 100, tournament 10, mutation rate 1), 5e6 simulated s,
    /// 24 mantissa bits, 10 s per hash, a fresh cache per repeat. Prints µs per
    /// candidate and the search statistics, with and without FEC.
    Race {
        /// A NAS-Bench-101-format file [default: `nasbench synth` of every cell of
        /// at most 6 vertices, built in memory].
        path: Option<PathBuf>,
        /// Repeats per condition (at least 1).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
        repeats: u64,
        /// Threads: repeats run side by side, each seeded by its index, so the
        /// statistics are the same for any number [default: 1, as the reference].
        #[arg(long, default_value_t = NonZeroUsize::MIN)]
        jobs: NonZeroUsize,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Load { path, cache } => load(&path, cache),
        Command::Synth {
            out,
            max_vertices,
            force,
        } => synth(&out, usize::from(max_vertices), force),
        Command::Race {
            path,
            repeats,
            jobs,
        } => race(path.as_deref(), repeats, jobs),
    }
}

/// The UFH reference implementation's numbers for this workload, measured on a
/// NAS-Bench-101-format table of every cell of at most 6 vertices (issue 13):
/// µs per candidate without and with FEC.
const REFERENCE_US: [f64; 2] = [890.0, 1149.0];

fn race(path: Option<&Path>, repeats: u64, jobs: NonZeroUsize) -> anyhow::Result<()> {
    use rayon::prelude::*;
    use ufh_search::{Budget, EvolutionConfig, FecConfig, Mode, Replacement, Search, Techniques};
    use ufh_spaces::nasbench101::SpaceConfig;
    use ufh_spaces::nasbench101::{TableEvaluatorConfig, TableHasherConfig};

    let start = Instant::now();
    let benchmark = match path {
        Some(path) => NasBench101::open_cached(path, None)?.0,
        None => {
            let bytes = synth_bytes(6)?;
            NasBench101::from_reader("nasbench synth (6 vertices, in memory)", &bytes[..])?
        }
    };
    say!(
        "{}: {} models, vertex bound {}, loaded in {:.2} s",
        benchmark.source().display(),
        benchmark.len(),
        benchmark.vertex_bound(),
        start.elapsed().as_secs_f64()
    );
    let space = SpaceConfig::nasbench101_bounded(benchmark.vertex_bound()).build()?;
    let evaluator = TableEvaluatorConfig::PAPER.build(&benchmark)?;
    let hasher = TableHasherConfig::PAPER.build(&benchmark)?;
    let evolution = EvolutionConfig {
        population_size: 100,
        tournament_size: 10,
        replacement: Replacement::Oldest,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.get())
        .build()?;
    for (condition, techniques) in [
        ("FEC off", Techniques::NONE),
        (
            "FEC on",
            Techniques {
                fec: Some(FecConfig::PLAIN),
                ..Techniques::NONE
            },
        ),
    ] {
        let begin = Instant::now();
        let outcomes: Vec<[f64; 4]> = pool.install(|| {
            (0..repeats)
                .into_par_iter()
                .map(|repeat| -> anyhow::Result<[f64; 4]> {
                    let record =
                        Search::new(&space, &evaluator, Budget::SimulatedSeconds(5e6), repeat)
                            .hasher(&hasher)
                            .techniques(techniques)?
                            .run(&mut evolution.build()?, Mode::Serial)?
                            .record;
                    let best = record.best_so_far();
                    let last = best.last().context("a search evaluated nothing")?;
                    Ok([
                        record.n_events as f64,
                        record.hit_rate().unwrap_or(0.0),
                        last.validation,
                        last.test,
                    ])
                })
                .collect::<anyhow::Result<_>>()
        })?;
        let column = |i: usize| outcomes.iter().map(|o| o[i]).collect::<Vec<f64>>();
        let (candidates, hit_rates, validation, test) =
            (column(0), column(1), column(2), column(3));
        let seconds = begin.elapsed().as_secs_f64();
        let total: f64 = candidates.iter().sum();
        let us = seconds * 1e6 / total;
        let reference = REFERENCE_US[usize::from(techniques.fec.is_some())];
        say!(
            "{condition}: {us:.2} µs per candidate ({:.0}x the reference's {reference} µs); \
             {repeats} repeats in {seconds:.1} s on {jobs} thread(s); candidates per repeat {}; hit rate {}; \
             best validation {}; its test {}",
            reference / us,
            mean_sd(&candidates, 0),
            mean_sd(&hit_rates, 4),
            mean_sd(&validation, 5),
            mean_sd(&test, 5),
        );
    }
    Ok(())
}

/// `mean ± sd` with `digits` decimals.
fn mean_sd(values: &[f64], digits: usize) -> String {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    format!("{mean:.digits$} ± {:.digits$}", var.sqrt())
}

fn load(path: &Path, cache: bool) -> anyhow::Result<()> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let start = Instant::now();
    let (benchmark, report) = if cache {
        NasBench101::open_cached(path, None)?
    } else {
        NasBench101::open(path)?
    };
    let seconds = start.elapsed().as_secs_f64();
    say!(
        "{}: {:.1} MB, {} records, {} models, budgets {:?}",
        path.display(),
        size as f64 / 1e6,
        report.records,
        benchmark.len(),
        benchmark.budgets()
    );
    say!(
        "loaded in {seconds:.2} s ({}), {:.0} MB/s; peak memory {:.0} MiB",
        if report.from_cache {
            "from the binary cache"
        } else {
            "parsed"
        },
        size as f64 / 1e6 / seconds,
        crate::peak_rss_mib().unwrap_or(f64::NAN)
    );
    if let Some(error) = report.cache_write_error {
        say!("cache not written: {error}");
    }
    Ok(())
}

fn synth(out: &Path, max_vertices: usize, force: bool) -> anyhow::Result<()> {
    let start = Instant::now();
    let file = if force {
        File::create(out)
    } else {
        File::create_new(out)
    }
    .with_context(|| {
        if out.exists() && !force {
            format!("{} exists; pass --force to overwrite it", out.display())
        } else {
            format!("creating {}", out.display())
        }
    })?;
    let models = write_synth(BufWriter::with_capacity(1 << 20, file), max_vertices)
        .with_context(|| format!("writing {}", out.display()))?;
    let size = std::fs::metadata(out)?.len();
    say!(
        "wrote {models} models × 4 budgets × 3 repeats to {} ({:.1} MB) in {:.1} s",
        PathBuf::from(out).display(),
        size as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The synthetic file of `nasbench synth`, in memory.
fn synth_bytes(max_vertices: usize) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    write_synth(&mut bytes, max_vertices)?;
    Ok(bytes)
}

/// Writes every model of at most `max_vertices` vertices, budgets 4/12/36/108, 3
/// repeats, with made-up accuracies derived from the key; returns the model count.
fn write_synth(out: impl Write, max_vertices: usize) -> std::io::Result<usize> {
    let cells = enumerate_unique_cells(max_vertices, 9);
    let mut writer = NasBench101Writer::new(out);
    for (model, (key, cell)) in cells.iter().enumerate() {
        for epochs in [4u32, 12, 36, 108] {
            for repeat in 0..3u32 {
                // Accuracies as TensorFlow reports them: f32 values widened to f64,
                // derived from the key so the file is deterministic.
                let noise = f64::from(key.0[(repeat as usize) % 16]) / 255.0;
                let at = |fraction: f64| EpochMetrics {
                    training_time: f64::from(epochs) * 20.0 * fraction + noise,
                    train_accuracy: f64::from((0.6 + 0.39 * fraction * noise) as f32),
                    validation_accuracy: f64::from((0.55 + 0.38 * fraction * noise) as f32),
                    test_accuracy: f64::from((0.55 + 0.37 * fraction * noise) as f32),
                };
                let run = RepeatMetrics {
                    halfway: at(0.5),
                    end: at(1.0),
                };
                writer.write_keyed_run(key, cell, epochs, 1_000_000 + model as i32, &run)?;
            }
        }
    }
    writer.into_inner()?;
    Ok(cells.len())
}
