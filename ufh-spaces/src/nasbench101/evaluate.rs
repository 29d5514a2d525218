//! NAS-Bench-101's evaluator: fitness read from a [`TabularBenchmark`] at one
//! epoch budget, as the paper's searches read it.

use rand::Rng;
use ufh_search::{Evaluation, Evaluator, SearchRng};

use super::Cell;
use super::table::TabularBenchmark;
use crate::gaussian::standard_normal;

/// Which repeat gives a candidate's fitness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RepeatChoice {
    /// A uniformly random repeat per evaluation: the benchmark's training noise (the
    /// paper's default).
    Random,
    /// Always this repeat: a deterministic benchmark.
    Fixed(usize),
}

/// Settings of a [`TableEvaluator`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableEvaluatorConfig {
    /// Which repeat is read.
    pub repeat: RepeatChoice,
    /// Standard deviation of Gaussian noise added to validation accuracy only
    /// (Section 6.4's homoscedastic noise); 0 for none.
    pub noise_sd: f64,
    /// The budget read, in epochs; `None` for the table's longest.
    pub budget_epochs: Option<u32>,
}

impl TableEvaluatorConfig {
    /// The paper's setting: random repeat, no extra noise, the longest budget.
    pub const PAPER: TableEvaluatorConfig = TableEvaluatorConfig {
        repeat: RepeatChoice::Random,
        noise_sd: 0.0,
        budget_epochs: None,
    };

    /// Checks the settings against `table`.
    pub fn build<T: TabularBenchmark + ?Sized>(
        self,
        table: &T,
    ) -> Result<TableEvaluator<'_, T>, TableConfigError> {
        let budget_index = match self.budget_epochs {
            None => table
                .budgets()
                .len()
                .checked_sub(1)
                .ok_or(TableConfigError::NoBudgets)?,
            Some(epochs) => {
                table
                    .budget_index(epochs)
                    .ok_or_else(|| TableConfigError::UnknownBudget {
                        epochs,
                        available: table.budgets().to_vec(),
                    })?
            }
        };
        if let RepeatChoice::Fixed(repeat) = self.repeat
            && repeat >= table.repeats(budget_index)
        {
            return Err(TableConfigError::Repeat {
                repeat,
                repeats: table.repeats(budget_index),
            });
        }
        if !(self.noise_sd >= 0.0 && self.noise_sd.is_finite()) {
            return Err(TableConfigError::Noise(self.noise_sd));
        }
        Ok(TableEvaluator {
            table,
            config: self,
            budget_index,
        })
    }
}

/// Settings that do not fit a table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TableConfigError {
    /// The table has no budget.
    #[error("the table has no epoch budget")]
    NoBudgets,
    /// A budget the table does not hold.
    #[error("the table has no {epochs}-epoch budget (it has {available:?})")]
    UnknownBudget {
        /// Asked for.
        epochs: u32,
        /// Available.
        available: Vec<u32>,
    },
    /// A repeat out of range.
    #[error("repeat {repeat} does not exist: the table has {repeats} repeats")]
    Repeat {
        /// Asked for.
        repeat: usize,
        /// Available.
        repeats: usize,
    },
    /// A negative or non-finite noise level.
    #[error("noise_sd must be finite and non-negative, got {0}")]
    Noise(f64),
    /// A hashing cost that is negative or not finite.
    #[error("hashing cost must be finite and non-negative, got {0}")]
    Cost(f64),
}

/// Reads fitness from a table: validation accuracy at the end of the budget of
/// the chosen repeat (plus optional noise), test accuracy of the same repeat, and
/// that repeat's training time as the cost.
///
/// A cell that is invalid or not in the table is a failed evaluation that cost
/// nothing (the benchmark would not train it).
#[derive(Debug, Clone)]
pub struct TableEvaluator<'t, T: TabularBenchmark + ?Sized> {
    table: &'t T,
    config: TableEvaluatorConfig,
    budget_index: usize,
}

impl<T: TabularBenchmark + ?Sized> TableEvaluator<'_, T> {
    /// The settings.
    pub fn config(&self) -> &TableEvaluatorConfig {
        &self.config
    }

    /// The budget read, in epochs.
    pub fn budget_epochs(&self) -> u32 {
        self.table.budgets()[self.budget_index]
    }
}

impl<T: TabularBenchmark + ?Sized> Evaluator<Cell> for TableEvaluator<'_, T> {
    fn evaluate(&self, candidate: &Cell, rng: &mut SearchRng) -> Evaluation {
        let Some(model) = self.table.lookup(candidate) else {
            return Evaluation::failed(0.0);
        };
        let runs = model.runs(self.budget_index);
        let repeat = match self.config.repeat {
            RepeatChoice::Fixed(repeat) => repeat,
            RepeatChoice::Random => rng.random_range(0..runs.len() as u32) as usize,
        };
        let run = runs[repeat].end;
        let mut validation = run.validation_accuracy;
        if self.config.noise_sd > 0.0 {
            validation += self.config.noise_sd * standard_normal(rng);
        }
        Evaluation {
            validation,
            test: run.test_accuracy,
            cost_s: run.training_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::nasbench101::table::tests::synthetic_table;
    use crate::nasbench101::*;

    /// NAS-Bench-101's rule on a table of cells of at most 4 vertices: 7×7 raw
    /// cells, those that prune beyond the table's bound redrawn. No candidate of
    /// a search is outside the table; with the bound left at 7, many are.
    #[test]
    fn a_bounded_space_evaluates_no_cell_outside_its_table() {
        use ufh_search::{Budget, EvolutionConfig, Mode, Replacement, Search, Techniques};

        use crate::nasbench101::SpaceConfig;
        let table = synthetic_table(&[4, 108]);
        assert_eq!(table.vertex_bound(), 4);
        let evaluator = TableEvaluatorConfig {
            repeat: RepeatChoice::Fixed(0),
            ..TableEvaluatorConfig::PAPER
        }
        .build(&table)
        .unwrap();
        let hasher = TableHasherConfig::PAPER.build(&table).unwrap();
        let failures = |config: SpaceConfig| {
            let space = config.build().unwrap();
            let record = Search::new(&space, &evaluator, Budget::Candidates(400), 3)
                .hasher(&hasher)
                .techniques(Techniques::NONE)
                .unwrap()
                .run(
                    &mut EvolutionConfig {
                        population_size: 20,
                        tournament_size: 5,
                        replacement: Replacement::Oldest,
                    }
                    .build()
                    .unwrap(),
                    Mode::Serial,
                )
                .unwrap()
                .record;
            assert_eq!(record.events.len(), 400);
            record
                .events
                .iter()
                .filter(|e| e.validation == f64::NEG_INFINITY)
                .count()
        };
        let bounded = SpaceConfig::nasbench101_bounded(table.vertex_bound());
        assert_eq!(bounded.raw_vertices, 7);
        assert_eq!(failures(bounded), 0);
        assert!(
            failures(SpaceConfig::NASBENCH101) > 40,
            "the unbounded space leaves the table"
        );
    }

    #[test]
    fn evaluator_reads_the_chosen_repeat_and_fails_unknown_cells() {
        let table = synthetic_table(&[4, 108]);
        let model = table.model_at(10);
        let mut rng = SearchRng::seed_from_u64(0);
        let fixed = TableEvaluatorConfig {
            repeat: RepeatChoice::Fixed(2),
            ..TableEvaluatorConfig::PAPER
        }
        .build(&table)
        .unwrap();
        let e = fixed.evaluate(&model.cell, &mut rng);
        assert_eq!(e.validation, model.runs(1)[2].end.validation_accuracy);
        assert_eq!(e.test, model.runs(1)[2].end.test_accuracy);
        assert_eq!(e.cost_s, model.runs(1)[2].end.training_time);

        let random = TableEvaluatorConfig::PAPER.build(&table).unwrap();
        let seen: std::collections::BTreeSet<u64> = (0..100)
            .map(|_| random.evaluate(&model.cell, &mut rng).cost_s as u64)
            .collect();
        assert_eq!(seen.len(), 3, "every repeat is drawn");

        // A 5-vertex cell is not in this table of at most 4 vertices.
        let big = enumerate_unique_cells(5, 9).last().unwrap().1;
        assert!(random.evaluate(&big, &mut rng).is_failure());

        assert!(matches!(
            TableEvaluatorConfig {
                budget_epochs: Some(12),
                ..TableEvaluatorConfig::PAPER
            }
            .build(&table),
            Err(TableConfigError::UnknownBudget { epochs: 12, .. })
        ));
    }

    #[test]
    fn noise_touches_validation_only_with_the_asked_spread() {
        let table = synthetic_table(&[4, 108]);
        let model = table.model_at(3);
        let noisy = TableEvaluatorConfig {
            repeat: RepeatChoice::Fixed(0),
            noise_sd: 0.01,
            budget_epochs: None,
        }
        .build(&table)
        .unwrap();
        let mut rng = SearchRng::seed_from_u64(9);
        let truth = model.runs(1)[0].end;
        let deviations: Vec<f64> = (0..4000)
            .map(|_| {
                let e = noisy.evaluate(&model.cell, &mut rng);
                assert_eq!(e.test, truth.test_accuracy);
                e.validation - truth.validation_accuracy
            })
            .collect();
        let mean = deviations.iter().sum::<f64>() / 4000.0;
        let sd = (deviations.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / 3999.0).sqrt();
        assert!(mean.abs() < 0.001, "{mean}");
        assert!((sd - 0.01).abs() < 0.0005, "{sd}");
    }
}
