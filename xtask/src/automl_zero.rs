//! `cargo xtask automl-zero`: AutoML-Zero's demo that rediscovers linear regression,
//! with the settings of its C++ `run_demo.sh`, on ufh's search loop.

use std::num::NonZeroUsize;

use anyhow::{Context, bail};
use ufh_search::{FecConfig, Techniques};
use ufh_spaces::automl_zero::{DemoOptions, LINEAR_REGRESSION_DEMO, ProgramHashConfig, live_code};

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut options = DemoOptions {
        seed: 1,
        techniques: Techniques {
            fec: Some(FecConfig::AUTOML_ZERO),
            ..Techniques::NONE
        },
        workers: NonZeroUsize::MIN,
        max_experiments: 10,
        hash: ProgramHashConfig::PAPER,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value"))
                .cloned()
        };
        match arg.as_str() {
            "--seed" => options.seed = value("--seed")?.parse().context("--seed")?,
            "--no-fec" => options.techniques = Techniques::NONE,
            "--jobs" => {
                options.workers = value("--jobs")?
                    .parse()
                    .context("--jobs takes a count >= 1")?;
            }
            "--experiments" => {
                options.max_experiments =
                    value("--experiments")?.parse().context("--experiments")?;
            }
            "--mantissa-bits" => {
                options.hash.mantissa_bits = value("--mantissa-bits")?
                    .parse()
                    .context("--mantissa-bits")?;
            }
            other => bail!("unknown flag {other:?} for automl-zero\n\n{}", crate::USAGE),
        }
    }
    let demo = LINEAR_REGRESSION_DEMO;
    println!(
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
        println!(
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
        );
    })?;
    let best = report.program().context("the demo ran no experiment")?;
    let program = live_code(best).unwrap_or_else(|| best.without_no_ops());
    println!(
        "\n{}: {} individuals to the solution, {:.0} candidates/s over all searches",
        if report.solved {
            "solved"
        } else {
            "NOT solved"
        },
        report.candidates_to_solution,
        report.candidates_per_s(),
    );
    println!("best program (its live code: instructions that can reach a prediction):\n{program}");
    if !report.solved {
        bail!("no experiment's best program passed selection");
    }
    Ok(())
}
