//! The NAS settings the figures and `table-stats` share.

use ufh_search::{EvolutionConfig, Replacement};
use ufh_spaces::nasbench101::TabularBenchmark;

/// NAS-Bench-101's mean 108-epoch training time, roughly, in seconds.
const NASBENCH_MEAN_TRAINING_S: f64 = 2300.0;

/// The paper's budget (5e6 s) and hashing cost (10 s) scaled to `table`: both
/// multiplied by the table's mean full-budget training time over NAS-Bench-101's,
/// so a search buys as many trainings as in the paper.
pub(crate) fn scaled_budget(table: &dyn TabularBenchmark) -> (f64, f64) {
    let full = table.budgets().len() - 1;
    let mut total = 0.0;
    let mut count = 0usize;
    for i in 0..table.len() {
        for run in table.model_at(i).runs(full) {
            total += run.end.training_time;
            count += 1;
        }
    }
    let scale = total / count as f64 / NASBENCH_MEAN_TRAINING_S;
    (5e6 * scale, 10.0 * scale)
}

/// The paper's regularized evolution on NAS-Bench-101: population 100,
/// tournament 10.
pub(crate) const PAPER_EVOLUTION: EvolutionConfig = EvolutionConfig {
    population_size: 100,
    tournament_size: 10,
    replacement: Replacement::Oldest,
};
