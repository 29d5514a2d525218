//! `cargo xtask mnas`: search MnasNet's scaled space on the digits (the paper's
//! Setup A) with regularized evolution, and measure the shipped latency table.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use ufh_core::MantissaBits;
use ufh_search::{
    AuditConfig, Budget, Checkpoints, EvolutionConfig, FcmConfig, FecConfig, Mode, Namespace,
    Replacement, Search, TabulistConfig, Techniques,
};
use ufh_spaces::mnas::{
    Architecture, MnasEvaluator, MnasHash, MnasHasher, MnasSpace, TrainSettings,
    measure_latency_table,
};

use crate::common::progress::Progress;
use crate::say;

/// Candidates proposed, hashed and evaluated together: the record depends on it,
/// never on the thread count.
pub(crate) const GENERATION: NonZeroUsize = NonZeroUsize::new(8).expect("non-zero");

/// The population and tournament of ufh's MNAS searches. The paper's are lost
/// from its text; these are regularized evolution's usual ratio (AmoebaNet's
/// 100 and 25, MnasNet-style searches' 50–100 and 10–25) scaled to runs of a few
/// hundred candidates.
pub(crate) const EVOLUTION: EvolutionConfig = EvolutionConfig {
    population_size: 20,
    tournament_size: 5,
    replacement: Replacement::Oldest,
};

/// `cargo xtask mnas`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Which functional hash keys the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Hasher {
    /// The paper's: softmax outputs rounded to four decimals.
    Rounded,
    /// Softmax outputs truncated to --mantissa-bits of an f32.
    Truncated,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Regularized evolution with FEC (or without, --no-fec), FCM and the
    /// tabulist if asked; prints the hit rate, the audit's collisions and the best
    /// architecture.
    Search {
        /// Candidates of the search.
        #[arg(long, default_value_t = 200)]
        candidates: u64,
        /// Population.
        #[arg(long, default_value_t = EVOLUTION.population_size)]
        population: usize,
        /// Tournament.
        #[arg(long, default_value_t = EVOLUTION.tournament_size)]
        tournament: usize,
        /// Seed of the search.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The functional hash.
        #[arg(long, value_enum, default_value_t = Hasher::Rounded)]
        hasher: Hasher,
        /// Mantissa bits of the truncated hash [default: 10]; only with
        /// `--hasher truncated` (the rounded hash has none).
        #[arg(long)]
        mantissa_bits: Option<u32>,
        /// Run without the cache (the baseline).
        #[arg(long, conflicts_with = "audit")]
        no_fec: bool,
        /// Functional change mutation: re-mutate a child whose hash is its
        /// parent's (at most 100 tries).
        #[arg(long)]
        fcm: bool,
        /// The tabulist: re-mutate a child whose hash was seen more than K times
        /// (at most 100 tries).
        #[arg(long, value_name = "K")]
        tabulist: Option<u32>,
        /// Train every cache hit anyway and count those whose fitness differs by
        /// more than this (fitness is a function of the architecture).
        #[arg(long, value_name = "TOLERANCE")]
        audit: Option<f64>,
        /// Training epochs per candidate (at least 1).
        #[arg(long, default_value_t = TrainSettings::DEFAULT.epochs,
              value_parser = clap::value_parser!(u32).range(1..))]
        epochs: u32,
        /// Evaluation threads [default: all cores]; the record does not depend on it.
        #[arg(long)]
        jobs: Option<NonZeroUsize>,
        /// Checkpoint the search to this file after every generation (at most every
        /// 5 s); an existing file is not overwritten without --resume.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Go on from --checkpoint: the search ends as an uninterrupted one would.
        #[arg(long, requires = "checkpoint")]
        resume: bool,
    },
    /// Measure every layer of the space on this machine and write the latency
    /// table (the shipped one is ufh-spaces/data/mnas_latency.csv).
    Latency {
        /// Where to write it.
        #[arg(long, default_value = "ufh-spaces/data/mnas_latency.csv")]
        out: PathBuf,
        /// Timed runs per layer (their median is kept; at least 1).
        #[arg(long, default_value_t = 15,
              value_parser = clap::value_parser!(u64).range(1..))]
        runs: u64,
    },
}

/// The hasher `kind` names, at `bits` mantissa bits when truncated.
pub(crate) fn hasher(
    kind: Hasher,
    bits: Option<u32>,
    evaluator: &MnasEvaluator,
) -> anyhow::Result<MnasHasher> {
    let hash = match (kind, bits) {
        (Hasher::Rounded, None) => MnasHash::RoundedSoftmax,
        (Hasher::Rounded, Some(bits)) => bail!(
            "--mantissa-bits {bits} with --hasher rounded: the rounded hash has no mantissa \
             bits to set; give --hasher truncated, or leave --mantissa-bits out"
        ),
        (Hasher::Truncated, bits) => {
            MnasHash::Truncated(MantissaBits::f32(bits.unwrap_or(10)).context("--mantissa-bits")?)
        }
    };
    Ok(MnasHasher::new(hash, evaluator))
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Latency { out, runs } => {
            let out = crate::workspace_root().join(out);
            crate::check_writable(&out, "--out")?;
            let runs = usize::try_from(runs).context("--runs")?;
            let bar = ProgressBar::new(0);
            let start = Instant::now();
            let table = measure_latency_table(runs, |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            });
            bar.finish_and_clear();
            ufh_search::write_atomically(&out, table.to_csv().as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            say!(
                "{} entries in {:.1} s, written to {}",
                table.len(),
                start.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(())
        }
        Command::Search {
            candidates,
            population,
            tournament,
            seed,
            hasher: kind,
            mantissa_bits,
            no_fec,
            fcm,
            tabulist,
            audit,
            epochs,
            jobs,
            checkpoint,
            resume,
        } => {
            if let Some(path) = &checkpoint {
                crate::check_checkpoint(path, resume)?;
            }
            let evaluator = MnasEvaluator::new(TrainSettings {
                epochs,
                ..TrainSettings::DEFAULT
            });
            let hasher = hasher(kind, mantissa_bits, &evaluator)?;
            let techniques = Techniques {
                fec: (!no_fec).then_some(FecConfig::PLAIN),
                fcm: fcm.then_some(FcmConfig { max_tries: 100 }),
                tabulist: tabulist.map(|max_occurrences| TabulistConfig {
                    max_occurrences,
                    max_tries: 100,
                }),
                audit: audit.map(|tolerance| AuditConfig { tolerance }),
            };
            let evolution = EvolutionConfig {
                population_size: population,
                tournament_size: tournament,
                replacement: Replacement::Oldest,
            };
            say!(
                "MNAS: regularized evolution (population {population}, tournament {tournament}), \
                 {candidates} candidates, {epochs} epochs each, hash {kind:?}{}, T = {:.2} µs, seed {seed}",
                if no_fec { " (no FEC)" } else { "" },
                evaluator.target_us
            );
            let bar = ProgressBar::new(candidates).with_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} candidates")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            let progress = Progress(bar.clone());
            let search = Search::new(&MnasSpace, &evaluator, Budget::Candidates(candidates), seed)
                .hasher(&hasher)
                .techniques(techniques)?
                .stream_events(&progress);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(crate::threads(jobs))
                .build()?;
            let start = Instant::now();
            let algorithm = evolution.build()?;
            let found = match &checkpoint {
                None => {
                    pool.install(|| search.run(&mut { algorithm }, Mode::Parallel(GENERATION)))?
                }
                Some(path) => {
                    // Everything the results depend on beyond seed, budget and
                    // techniques: a checkpoint of other settings is refused.
                    let settings = Namespace::of_text(&format!(
                        "xtask mnas search: epochs {epochs}, hasher {kind:?}, mantissa bits {mantissa_bits:?}, \
                         population {population}, tournament {tournament}, evaluator {:?}",
                        TrainSettings {
                            epochs,
                            ..TrainSettings::DEFAULT
                        }
                    ));
                    let checkpoints = Checkpoints::new(path.clone())
                        .every_candidates(GENERATION.get() as u64)
                        .every(Duration::from_secs(5))
                        .settings(settings);
                    pool.install(|| {
                        search.run_resumable(algorithm, Mode::Parallel(GENERATION), &checkpoints)
                    })?
                    .0
                }
            };
            let record = &found.record;
            bar.finish_and_clear();
            say!(
                "{:.1} s, {} candidates, {} trainings",
                start.elapsed().as_secs_f64(),
                record.n_events,
                record.n_evaluations()
            );
            crate::common::progress::report_cache(record)?;
            if let Some(best) = &found.best {
                let arch: &Architecture = &best.candidate;
                let outcome = evaluator.outcome(arch);
                say!(
                    "best reward {:.4} (validation accuracy {:.4}, test {:.4}, latency {:.2} µs, {} parameters): {arch}",
                    best.validation,
                    outcome.validation_accuracy,
                    outcome.test_accuracy,
                    evaluator.latency_us(arch),
                    outcome.parameters
                );
            }
            Ok(())
        }
    }
}
