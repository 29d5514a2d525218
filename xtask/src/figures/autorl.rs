//! The AutoRL panel of Fig. 5 and Supplementary S4 (baseline against FEC, FCM and
//! the tabulist) and the left of Fig. 11 (the evaluation noise: fitness of the
//! same graphs over repeated trainings), for the paper's Setup C
//! (`ufh_spaces::autorl`).
//!
//! Searches: regularized evolution (population 50, tournament 10: the paper's 300
//! and 25, scaled to a figure run) from DQN's loss with 7 free nodes (the
//! paper's start, `LossSpaceConfig::PAPER`), DQN at
//! `DqnConfig::scaled` on CartPole-v0 and then Dynamic-Obstacles past the 0.6
//! hurdle, fitness the sum of the normalised scores, each evaluation at a seed of
//! its own (the paper's noise). Time is environment steps; the paper's hash costs
//! 3 steps (`xtask autorl`'s charge, an upper bound of its measured cost). Budget 5e5 steps per search (`--quick`: 6e4), 6 repeats per
//! condition (`--quick`: 2; at most `--repeats`); repeat `r` uses seed
//! `--seed + r`. Fig. 11: DQN, DQNReg and DQNClipped, each trained at 12 seeds
//! (`--quick`: 4). A quick run of this panel takes about 50 s on 2 cores.

use std::fmt::Write as _;

use ufh_core::MantissaBits;
use ufh_search::{Budget, EvolutionConfig, Mode, Replacement, Search};
use ufh_spaces::autorl::graph::LossGraph;
use ufh_spaces::autorl::{LossEvaluator, LossSpaceConfig, UfhLossHasher};

use super::panel::Panel;
use super::plot::{self, Axes};
use super::{Experiment, fig5_conditions, write_file};

pub(super) fn figure(context: &mut Experiment<'_>) -> anyhow::Result<()> {
    let quick = context.options.quick;
    let budget = if quick { 6e4 } else { 5e5 };
    let repeats = context.repeats.min(if quick { 2 } else { 6 });
    let space = LossSpaceConfig::PAPER
        .build()
        .expect("the paper's settings are valid");
    let evaluator = LossEvaluator::scaled();
    let hasher = UfhLossHasher::new(MantissaBits::f32(16)?, crate::autorl::HASH_STEPS);
    let evolution = EvolutionConfig {
        population_size: 50,
        tournament_size: 10,
        replacement: Replacement::Oldest,
    };
    let panel = Panel {
        setup: "AutoRL",
        bar: "autorl",
        stem: "fig5_autorl",
        title: "AutoRL (DQN loss graphs, CartPole then Dynamic-Obstacles)",
        x: "environment steps (simulated time)",
        metric: "fitness",
        column: "environment_steps",
        compared: "AUC of best fitness",
        budget,
        repeats,
    };
    let runs = panel.run(context, &fig5_conditions(), |techniques, seed| {
        let search = Search::new(&space, &evaluator, Budget::SimulatedSeconds(budget), seed)
            .hasher(&hasher)
            .techniques(techniques)?
            .keep_events(true);
        Ok((
            search.run(&mut evolution.build()?, Mode::Serial)?.record,
            (),
        ))
    })?;
    panel.write_auc_csv(context, &runs)?;
    context.notes.push(format!(
        "fig5 AutoRL rows: regularized evolution of loss graphs (population 50, tournament 10) \
         from DQN's loss with 7 free nodes, DQN at the scaled settings, {budget:e} environment steps per search, {repeats} repeats \
         per condition."
    ));
    panel.compare_aucs(context, &runs, |_, _| {});
    noise(context, &evaluator)
}

/// Fig. 11 (left): the fitness of fixed graphs over repeated evaluations.
fn noise(context: &mut Experiment<'_>, evaluator: &LossEvaluator) -> anyhow::Result<()> {
    let seeds: u64 = if context.options.quick { 4 } else { 12 };
    let graphs = [
        ("DQN", LossGraph::dqn()),
        ("DQNReg", LossGraph::dqn_reg()),
        ("DQNClipped", LossGraph::dqn_clipped()),
    ];
    let mut groups = Vec::new();
    let mut csv = String::from("graph,seed,fitness\n");
    for (name, graph) in &graphs {
        let fitness: Vec<f64> = crate::per_seed(seeds as usize, context.options.seed, |_, seed| {
            evaluator.fitness(graph, seed).0
        });
        for (s, f) in fitness.iter().enumerate() {
            writeln!(csv, "{name},{s},{f}")?;
        }
        groups.push(((*name).to_string(), fitness));
    }
    write_file(context.out.join("fig11_autorl.csv"), csv)?;
    plot::groups(
        &context.out.join("fig11_autorl"),
        &Axes {
            title: "AutoRL: fitness of one graph over repeated trainings",
            x: "loss graph",
            y: "fitness (CartPole + gridworld)",
        },
        &groups,
    )?;
    let summary: Vec<String> = groups
        .iter()
        .map(|(name, f)| {
            let (mean, sem) = super::stats::mean_sem(f);
            format!("{name} {mean:.3} ± {sem:.3}")
        })
        .collect();
    context.notes.push(format!(
        "fig11 AutoRL: fitness over {seeds} trainings of each graph (mean ± SEM): {}.",
        summary.join(", ")
    ));
    Ok(())
}
