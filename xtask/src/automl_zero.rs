//! `cargo xtask automl-zero`: AutoML-Zero's demo that rediscovers linear regression,
//! with the settings of its C++ `run_demo.sh`, on ufh's search loop.

use std::num::NonZeroUsize;

use anyhow::{Context, bail};
use ufh_search::{FecConfig, Techniques};
use ufh_spaces::automl_zero::{DemoOptions, LINEAR_REGRESSION_DEMO, ProgramHashConfig, live_code};

use crate::say;

/// `cargo xtask automl-zero`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seed of the search.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the baseline without the functional equivalence cache.
    #[arg(long)]
    no_fec: bool,
    /// Candidates per generation: 1 is AutoML-Zero's steady-state evolution, run
    /// serially; G > 1 proposes G children at a time, hashes and evaluates them
    /// on the thread pool and feeds them back together. The record depends on G,
    /// never on --jobs.
    #[arg(long, default_value_t = NonZeroUsize::MIN)]
    generation: NonZeroUsize,
    /// Threads for generations of more than one candidate [default: all cores].
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
    /// Most search experiments (each of 2e8 training steps) before giving up.
    #[arg(long, default_value_t = 10)]
    experiments: usize,
    /// Mantissa bits of the functional hash.
    #[arg(long)]
    mantissa_bits: Option<u32>,
    /// Run each experiment's whole budget and check its best program only at the
    /// end, as AutoML-Zero's C++ demo does (default: stop at the first candidate
    /// that reaches the target).
    #[arg(long)]
    check_at_end: bool,
    /// Measure instead: one search of exactly N candidates on the demo's first
    /// experiment (no early stop, --generation and --jobs apply), then print its
    /// candidates per second and peak resident memory.
    #[arg(long, value_name = "N")]
    measure_memory: Option<u64>,
    /// With --measure-memory: keep every event in memory, as records did before
    /// they could stream.
    #[arg(long, requires = "measure_memory")]
    keep_events: bool,
    /// Checkpoint each experiment's search into this folder (every 30 s and at
    /// its end); run again with the same folder and --resume to go on.
    #[arg(long, value_name = "DIR", conflicts_with = "measure_memory")]
    checkpoint: Option<std::path::PathBuf>,
    /// Continue from the checkpoints in --checkpoint.
    #[arg(long, requires = "checkpoint")]
    resume: bool,
    /// Seconds between checkpoints.
    #[arg(long, default_value_t = 30.0, requires = "checkpoint")]
    checkpoint_every_s: f64,
}

/// One search of `candidates` candidates with the demo's settings; prints its peak
/// resident memory.
fn measure_memory(args: &Args, candidates: u64) -> anyhow::Result<()> {
    let (keep_events, fec) = (args.keep_events, !args.no_fec);
    use ufh_search::Budget;
    use ufh_spaces::automl_zero::ProgramEvaluator;
    let demo = LINEAR_REGRESSION_DEMO;
    let space = demo.space().build()?;
    let evaluator = ProgramEvaluator::new(
        demo.search_tasks(1, 0),
        demo.layout,
        ProgramHashConfig::PAPER,
    )?;
    let techniques = if fec {
        Techniques {
            fec: Some(FecConfig::AUTOML_ZERO),
            ..Techniques::NONE
        }
    } else {
        Techniques::NONE
    };
    let before = crate::peak_rss_mib().unwrap_or(f64::NAN);
    let search = ufh_search::Search::new(&space, &evaluator, Budget::Candidates(candidates), 1)
        .hasher(&evaluator)
        .techniques(techniques)?
        .keep_events(keep_events);
    let start = std::time::Instant::now();
    let threads = crate::threads(args.jobs);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let result = pool
        .install(|| ufh_spaces::automl_zero::evolve(&search, demo.evolution(), args.generation))?;
    let seconds = start.elapsed().as_secs_f64();
    say!(
        "{} candidates ({} events kept), {}, {}: \
         peak resident memory {:.1} MiB (before the search {before:.1}), {seconds:.1} s \
         ({:.0} candidates/s, FEC hit rate {:.1}%), best fitness {:.6}",
        result.record.n_events,
        result.record.events.len(),
        if fec { "FEC" } else { "no FEC" },
        if args.generation.get() == 1 {
            "serially".to_string()
        } else {
            format!("generations of {} on {threads} thread(s)", args.generation)
        },
        crate::peak_rss_mib().unwrap_or(f64::NAN),
        result.record.n_events as f64 / seconds,
        100.0 * result.record.hit_rate().unwrap_or(0.0),
        result.best.validation
    );
    Ok(())
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if let Some(candidates) = args.measure_memory {
        return measure_memory(&args, candidates);
    }
    let mut options = DemoOptions {
        seed: args.seed,
        techniques: if args.no_fec {
            Techniques::NONE
        } else {
            Techniques {
                fec: Some(FecConfig::AUTOML_ZERO),
                ..Techniques::NONE
            }
        },
        workers: args.generation,
        max_experiments: args.experiments,
        hash: ProgramHashConfig::PAPER,
        keep_events: false,
        stop_early: !args.check_at_end,
    };
    if let Some(bits) = args.mantissa_bits {
        options.hash.mantissa_bits = bits;
    }
    let demo = LINEAR_REGRESSION_DEMO;
    let threads = crate::threads(args.jobs);
    say!(
        "AutoML-Zero linear-regression demo: population {}, tournament {}, mutate prob {}, \
         {} tasks of {}+{} examples, selection on {} tasks, stop at {} ({}, generations of {}{}, seed {})",
        demo.population_size,
        demo.tournament_size,
        demo.mutate_prob,
        demo.search_tasks,
        demo.search_sizes.train,
        demo.search_sizes.valid,
        demo.selection_tasks,
        demo.sufficient_fitness,
        if options.techniques.fec.is_some() {
            "FEC"
        } else {
            "no FEC"
        },
        options.workers,
        if options.workers.get() > 1 {
            format!(" on {threads} thread(s)")
        } else {
            String::new()
        },
        options.seed,
    );
    // The whole run executes on the pool, so that the thread proposing and feeding
    // back is one of its workers and takes its share of each generation.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    // Checked before anything is created.
    let every = std::time::Duration::try_from_secs_f64(args.checkpoint_every_s)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| {
            format!(
                "--checkpoint-every-s {}: expected a positive number of seconds",
                args.checkpoint_every_s
            )
        })?;
    if let Some(dir) = &args.checkpoint {
        let has_any = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
        if has_any && !args.resume {
            bail!(
                "{} holds checkpoints: pass --resume to go on from them, or give another folder",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let checkpoints =
        args.checkpoint
            .as_ref()
            .map(|dir| ufh_spaces::automl_zero::DemoCheckpoints {
                dir: dir.clone(),
                every,
            });
    let report = pool.install(|| {
        demo.run_resumable(&options, checkpoints.as_ref(), |e| {
        // A closed stdout must not stop the search; the final report sees it.
        let _ = crate::write_stdout(format_args!(
            "experiment {}: {} candidates in {:.1} s ({:.0}/s), {} evaluated, FEC hit rate {:.1}%, \
             best search fitness {:.6} after {} candidates, selection fitness {:.6}",
            e.experiment,
            e.candidates,
            e.search_s,
            e.candidates as f64 / e.search_s,
            e.evaluations,
            100.0 * e.hit_rate,
            e.search_fitness,
            e.candidates_to_best,
            e.selection_fitness,
        ));
    })
    })?;
    let best = report.program().context("the demo ran no experiment")?;
    let program = live_code(best).unwrap_or_else(|| best.without_no_ops());
    say!(
        "\n{}: {} individuals to the solution, {:.0} candidates/s over all searches",
        if report.solved {
            "solved"
        } else {
            "NOT solved"
        },
        report.candidates_to_solution,
        report.candidates_per_s(),
    );
    say!("best program (its live code: instructions that can reach a prediction):\n{program}");
    if !report.solved {
        bail!("no experiment's best program passed selection");
    }
    Ok(())
}
