//! The AutoML-Zero panel of Fig. 5 and Supplementary S3: baseline against FEC, FCM
//! and tabulist, over repeats, in the setting of AutoML-Zero's demo (evolve linear
//! regression from random programs; `ufh_spaces::automl_zero::LINEAR_REGRESSION_DEMO`).
//!
//! Time is AutoML-Zero's unit of compute, training steps (one example through
//! Predict and Learn): a full evaluation costs the steps it trained on its 10
//! tasks (1,000 unless it diverged), a functional hash 100. Budget: the demo's 2e8
//! steps per search (`--quick`: 5e7), 20 repeats per condition (`--quick`: 4; at
//! most `--repeats`). Repeat `r` of every condition uses seed `--seed + r` for
//! the search and for the search tasks, so conditions meet the same tasks; each
//! task has 100 test examples beyond the demo's, for the test curves. The
//! best program of each search is re-evaluated on the demo's 100 selection tasks
//! (meta-validation: tasks the search never saw).
//!
//! Why not projected digits: searching from empty code with all 65 ops, as the
//! paper's Setup B does, needs far more compute than a figure run has. Measured:
//! after 2e7 steps per search the best programs reach 0.57–0.63 accuracy on the
//! search pairs and chance (0.49–0.51) on held-out pairs, at 150 s for a quick
//! run. The setup is in the library (`PROJECTED_DIGITS`) for longer runs.

use std::fmt::Write as _;

use std::num::NonZeroUsize;
use ufh_search::Budget;

use ufh_search::Search;
use ufh_spaces::automl_zero::{
    DEMO_FEATURES, LINEAR_REGRESSION_DEMO, ProgramEvaluator, ProgramHashConfig, SplitSizes, evolve,
    linear_regression_tasks, live_code,
};

use super::panel::Panel;
use super::plot::{self, Axes};
use super::{Experiment, fig5_conditions, write_file};

/// What a search keeps beside its curves: its best program and that program's
/// meta-validation.
struct Kept {
    held_out: f64,
    program: String,
}

pub(super) fn figure(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let quick = context.options.quick;
    let budget = if quick { 5e7 } else { 2e8 };
    let repeats = context.repeats.min(if quick { 4 } else { 20 });
    let demo = LINEAR_REGRESSION_DEMO;
    let space = demo.space().build()?;
    let held_out = ProgramEvaluator::new(
        demo.selection_tasks(),
        demo.layout,
        ProgramHashConfig::PAPER,
    )?;
    let panel = Panel {
        setup: "AutoML-Zero",
        bar: "amz",
        stem: "fig5_automl_zero",
        title: "AutoML-Zero (linear-regression demo)",
        x: "training steps (simulated time)",
        metric: "fitness",
        column: "training_steps",
        compared: "AUC of best validation",
        budget,
        repeats,
    };
    let runs = panel.run(context, &fig5_conditions(), |techniques, seed| {
        // The demo's tasks, with 100 test examples each drawn after its
        // training and validation examples, for the test curves.
        let sizes = SplitSizes {
            test: 100,
            ..demo.search_sizes
        };
        let tasks = linear_regression_tasks::<DEMO_FEATURES>(demo.search_tasks, sizes, seed);
        let evaluator = ProgramEvaluator::new(tasks, demo.layout, ProgramHashConfig::PAPER)?;
        let search = Search::new(&space, &evaluator, Budget::SimulatedSeconds(budget), seed)
            .hasher(&evaluator)
            .techniques(techniques)?;
        let result = evolve(&search, demo.evolution(), NonZeroUsize::MIN)?;
        let best = &result.best.candidate;
        let program = live_code(best).unwrap_or_else(|| best.without_no_ops());
        let kept = Kept {
            held_out: held_out
                .evaluate_program(best)
                .map_or(f64::NEG_INFINITY, |e| e.validation),
            program: program.to_string(),
        };
        Ok((result.record, kept))
    })?;
    let labels = &runs.labels;

    let mut csv =
        String::from("condition,repeat,auc_validation,final_validation,held_out_fitness\n");
    let mut texts = format!(
        "Best program of each search (its live code), AutoML-Zero's linear-regression demo, \
         budget {budget:e} training steps. Fitness 1 - (2/pi) atan(rmse).\n"
    );
    for ((label, rs), kept) in labels.iter().zip(&runs.records).zip(&runs.kept) {
        for (r, (f, run)) in rs.iter().zip(kept).enumerate() {
            writeln!(
                csv,
                "{label},{r},{},{},{}",
                f.auc, f.final_validation, run.held_out
            )?;
            writeln!(
                texts,
                "\n## {label}, repeat {r}: search fitness {:.6}, selection tasks {:.6}\n{}",
                f.final_validation, run.held_out, run.program
            )?;
        }
    }
    write_file(context.out.join("fig5_automl_zero_auc.csv"), csv)?;
    write_file(context.out.join("fig5_automl_zero_programs.txt"), texts)?;

    let held_out_groups: Vec<(String, Vec<f64>)> = labels
        .iter()
        .zip(&runs.kept)
        .map(|(l, rs)| (l.clone(), rs.iter().map(|r| r.held_out).collect()))
        .collect();
    plot::groups(
        &context.out.join("fig5_automl_zero_held_out"),
        &Axes {
            title: "AutoML-Zero: best program on 100 unseen tasks",
            x: "technique",
            y: "fitness on the selection tasks",
        },
        &held_out_groups,
    )?;

    context.notes.push(format!(
        "fig5 AutoML-Zero rows: AutoML-Zero's linear-regression demo, {budget:e} training \
         steps per search, {repeats} repeats per condition; the unseen tasks are the demo's \
         100 selection tasks."
    ));
    panel.compare_aucs(context, &runs, |context, i| {
        context.compare(
            "fig5 AutoML-Zero",
            &format!("{} vs baseline", runs.labels[i]),
            "unseen-task fitness of the best",
            &held_out_groups[i].1,
            &held_out_groups[0].1,
        );
    });
    Ok(())
}
