//! `cargo xtask automl-zero`: AutoML-Zero's demo that rediscovers linear regression,
//! with the settings of its C++ `run_demo.sh`, on ufh's search loop.

use crate::say;
use std::num::NonZeroUsize;

use anyhow::{Context, bail};

use ufh_search::{FecConfig, Techniques};
use ufh_spaces::automl_zero::{DemoOptions, LINEAR_REGRESSION_DEMO, ProgramHashConfig, live_code};

/// `cargo xtask automl-zero`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seed of the search.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the baseline without the functional equivalence cache.
    #[arg(long)]
    no_fec: bool,
    /// Evaluation threads.
    #[arg(long, default_value_t = NonZeroUsize::MIN)]
    jobs: NonZeroUsize,
    /// Most search experiments (each of 2e8 training steps) before giving up.
    #[arg(long, default_value_t = 10)]
    experiments: usize,
    /// Mantissa bits of the functional hash.
    #[arg(long)]
    mantissa_bits: Option<u32>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
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
        workers: args.jobs,
        max_experiments: args.experiments,
        hash: ProgramHashConfig::PAPER,
    };
    if let Some(bits) = args.mantissa_bits {
        options.hash.mantissa_bits = bits;
    }
    let demo = LINEAR_REGRESSION_DEMO;
    say!(
        "AutoML-Zero linear-regression demo: population {}, tournament {}, mutate prob {}, \
         {} tasks of {}+{} examples, selection on {} tasks, stop at {} ({}, {} worker(s), seed {})",
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
        options.seed,
    );
    let report = demo.run(&options, |e| {
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
