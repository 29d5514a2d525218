//! `cargo xtask zoo-table`: trains the seeded sample of one proxy-zoo space
//! (`ufh_spaces::zoo`) and writes its table of accuracies into the crate.
//!
//! Resumable as `bench-table` is: every finished network is one line of a journal
//! outside the work tree (`~/.ufh/zoo/SPACE.tsv`), a killed run loses only the
//! networks in flight, and the next run trains only what the journal lacks. The
//! table is written once every network of the sample is in the journal.

use std::collections::BTreeMap;
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use rayon::prelude::*;
use ufh_spaces::digits;
use ufh_spaces::zoo::table::ZooMetadata;
use ufh_spaces::zoo::{self, ZooRecord, ZooSettings, ZooSpace, ZooTable};

use crate::common::journal::{journal_lines, open_for_append};
use crate::common::progress::progress_bar;
use crate::{say, workspace_root};

/// The generator named in the tables' metadata.
const GENERATOR: &str = "ufh xtask zoo-table v1";

/// `cargo xtask zoo-table`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Which space: `nb201` (NAS-Bench-201's cells) or `chain` (the chain grid).
    #[arg(long, value_parser = ["nb201", "chain"])]
    space: String,
    /// The journal of finished networks [default: ~/.ufh/zoo/SPACE.tsv].
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// Where the finished table is written [default: the crate's data file].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Training threads [default: all cores].
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
    /// Train at most this many more networks in this run.
    #[arg(long)]
    limit: Option<usize>,
    /// Measure instead of generating: train the first N networks of the sample and
    /// report the cost per network and the accuracies.
    #[arg(long, value_name = "N")]
    probe: Option<usize>,
    /// With --probe: the width C.
    #[arg(long, requires = "probe")]
    channels: Option<usize>,
    /// With --probe: epochs.
    #[arg(long, requires = "probe")]
    epochs: Option<u32>,
    /// With --probe: training images.
    #[arg(long, requires = "probe")]
    train_images: Option<usize>,
    /// With --probe: peak learning rate.
    #[arg(long, requires = "probe")]
    learning_rate: Option<f32>,
    /// With --probe: batch size.
    #[arg(long, requires = "probe")]
    batch_size: Option<usize>,
    /// With --probe: side of the images the network sees (8, or 4 for 2×2 means).
    #[arg(long, requires = "probe", value_parser = ["4", "8"])]
    input_side: Option<String>,
}

/// One journal line: index, parameters, correct train / validation / test
/// predictions, training seconds, diverged (0 or 1), tab-separated.
fn format_line(r: &ZooRecord) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        r.index,
        r.parameters,
        r.correct[0],
        r.correct[1],
        r.correct[2],
        r.training_seconds,
        u8::from(r.diverged)
    )
}

fn parse_line(line: &str) -> Option<ZooRecord> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 7 {
        return None;
    }
    Some(ZooRecord {
        index: f[0].parse().ok()?,
        parameters: f[1].parse().ok()?,
        correct: [f[2].parse().ok()?, f[3].parse().ok()?, f[4].parse().ok()?],
        training_seconds: f[5].parse().ok()?,
        diverged: match f[6] {
            "0" => false,
            "1" => true,
            _ => return None,
        },
    })
}

/// The journal's finished networks by index (see [`journal_lines`]).
fn read_journal(path: &Path) -> anyhow::Result<BTreeMap<usize, ZooRecord>> {
    Ok(journal_lines(path, parse_line)?
        .into_iter()
        .map(|r| (r.index, r))
        .collect())
}

/// Trains network `index` of `space` once.
fn train_one(
    space: ZooSpace,
    index: usize,
    settings: &ZooSettings,
    data: &digits::DigitsSplit,
) -> ZooRecord {
    let architecture = space.architecture(index).expect("sampled from the space");
    let run = zoo::train(
        &architecture,
        data,
        settings.epochs,
        space.run_seed(index),
        settings.train,
    );
    let count = |accuracy: f64, n: usize| (accuracy * n as f64).round() as u16;
    let end = run.metrics.end;
    ZooRecord {
        index,
        parameters: run.trainable_parameters as u32,
        correct: [
            count(end.train_accuracy, data.train.len()),
            count(end.validation_accuracy, data.validation.len()),
            count(end.test_accuracy, data.test.len()),
        ],
        training_seconds: end.training_time as f32,
        diverged: run.diverged,
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let space = ZooSpace::named(&args.space).expect("clap checks the space");
    let mut settings = space.settings();
    let jobs = crate::threads(args.jobs);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    let sample = space.sample(settings.networks, settings.sample_seed);
    if let Some(n) = args.probe {
        if let Some(c) = args.channels {
            settings.train.channels = c;
        }
        if let Some(e) = args.epochs {
            settings.epochs = e;
        }
        if let Some(t) = args.train_images {
            settings.train_images = t;
        }
        if let Some(lr) = args.learning_rate {
            settings.train.learning_rate = lr;
        }
        if let Some(b) = args.batch_size {
            settings.train.batch_size = b;
        }
        if let Some(side) = &args.input_side {
            settings.train.input_side = side.parse()?;
        }
        let counts = [
            ("--probe", n),
            ("--channels", settings.train.channels),
            ("--batch-size", settings.train.batch_size),
            ("--epochs", settings.epochs as usize),
            ("--train-images", settings.train_images),
        ];
        for (flag, value) in counts {
            anyhow::ensure!(value >= 1, "{flag} {value}: expected at least 1");
        }
        anyhow::ensure!(
            settings.train.learning_rate.is_finite() && settings.train.learning_rate > 0.0,
            "--learning-rate {}: expected a positive number",
            settings.train.learning_rate
        );
        let data = settings.data(&digits::split());
        let start = Instant::now();
        let records: Vec<ZooRecord> = pool.install(|| {
            sample[..n.min(sample.len())]
                .par_iter()
                .with_max_len(1)
                .map(|&i| train_one(space, i, &settings, &data))
                .collect()
        });
        let wall = start.elapsed().as_secs_f64();
        let mut accuracies: Vec<f64> = records
            .iter()
            .map(|r| f64::from(r.correct[1]) / data.validation.len() as f64)
            .collect();
        accuracies.sort_by(f64::total_cmp);
        let q = |p: f64| accuracies[((accuracies.len() - 1) as f64 * p).round() as usize];
        say!(
            "{} {space:?} networks: {:.3} s each on one thread; the sample of {}: {:.1} min on {jobs} threads",
            records.len(),
            wall * jobs as f64 / records.len() as f64,
            sample.len(),
            wall / records.len() as f64 * sample.len() as f64 / 60.0
        );
        say!(
            "validation accuracy: min {:.3}, q10 {:.3}, median {:.3}, q90 {:.3}, max {:.3}",
            q(0.0),
            q(0.1),
            q(0.5),
            q(0.9),
            q(1.0)
        );
        return Ok(());
    }
    let journal_path = args.journal.unwrap_or_else(|| {
        let name = format!("{}.tsv", space.name());
        std::env::var_os("HOME").map_or_else(
            || workspace_root().join("target/zoo").join(&name),
            |home| PathBuf::from(home).join(".ufh/zoo").join(&name),
        )
    });
    let out = args.out.unwrap_or_else(|| {
        workspace_root()
            .join("ufh-spaces/data")
            .join(format!("zoo-{}.ufhzoo", space.name()))
    });
    let done = read_journal(&journal_path)?;
    let todo: Vec<usize> = sample
        .iter()
        .copied()
        .filter(|i| !done.contains_key(i))
        .take(args.limit.unwrap_or(usize::MAX))
        .collect();
    say!(
        "{} networks sampled from {} of {:?}; {} in the journal {}; training {} now on {jobs} threads",
        sample.len(),
        space.len(),
        space,
        done.len(),
        journal_path.display(),
        todo.len()
    );
    let journal = Mutex::new(open_for_append(&journal_path)?);
    let data = settings.data(&digits::split());
    let bar = progress_bar(todo.len(), "networks");
    let start = Instant::now();
    pool.install(|| {
        todo.par_iter()
            .with_max_len(1)
            .try_for_each(|&index| -> anyhow::Result<()> {
                let line = format_line(&train_one(space, index, &settings, &data));
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
        "trained {} networks in {:.1} s",
        todo.len(),
        start.elapsed().as_secs_f64()
    );
    let done = read_journal(&journal_path)?;
    let records: Vec<ZooRecord> = sample.iter().filter_map(|i| done.get(i).copied()).collect();
    if records.len() < sample.len() {
        say!(
            "{} networks still to train; run again to continue",
            sample.len() - records.len()
        );
        return Ok(());
    }
    let examples = [data.train.len(), data.validation.len(), data.test.len()].map(|n| n as u16);
    let table = ZooTable {
        metadata: ZooMetadata {
            space,
            settings,
            examples,
            generator: GENERATOR.into(),
        },
        records,
    };
    let bytes = table.to_bytes();
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    say!(
        "wrote {} networks to {} ({} bytes)",
        table.records.len(),
        out.display(),
        bytes.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_lines_round_trip_and_damaged_ones_are_rejected() {
        let r = ZooRecord {
            index: 15_000,
            parameters: 1234,
            correct: [900, 300, 310],
            training_seconds: 0.75,
            diverged: true,
        };
        assert_eq!(parse_line(&format_line(&r)), Some(r));
        let line = format_line(&r);
        assert_eq!(parse_line(&line[..line.len() - 2]), None);
        assert_eq!(parse_line(&format!("{}\t2", &line[..line.len() - 2])), None);
    }
}
