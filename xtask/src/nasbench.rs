//! `cargo xtask nasbench`: load NAS-Bench-101 files and write synthetic ones.

use crate::say;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ufh_spaces::nasbench101::{NasBench101, NasBench101Writer, enumerate_unique_cells};
use ufh_spaces::tabular::{EpochMetrics, RepeatMetrics, TabularBenchmark};

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
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Load { path, cache } => load(&path, cache),
        Command::Synth {
            out,
            max_vertices,
            force,
        } => synth(&out, usize::from(max_vertices), force),
    }
}

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
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
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    if let Some(error) = report.cache_write_error {
        say!("cache not written: {error}");
    }
    Ok(())
}

fn synth(out: &Path, max_vertices: usize, force: bool) -> anyhow::Result<()> {
    let start = Instant::now();
    let cells = enumerate_unique_cells(max_vertices, 9);
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
    let mut writer = NasBench101Writer::new(BufWriter::with_capacity(1 << 20, file));
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
                writer.write_run(cell, epochs, 1_000_000 + model as i32, &run)?;
            }
        }
    }
    writer.into_inner()?;
    let size = std::fs::metadata(out)?.len();
    say!(
        "wrote {} models × 4 budgets × 3 repeats to {} ({:.1} MB) in {:.1} s",
        cells.len(),
        PathBuf::from(out).display(),
        size as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
