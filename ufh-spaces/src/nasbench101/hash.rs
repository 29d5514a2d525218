//! NAS-Bench-101's functional hash: the paper's read-out of a model's short-budget
//! training from a [`TabularBenchmark`], never its fitness.

use ufh_core::{FunctionalHash, HashSpec, HashableOutputs, MantissaBits, Probe, functional_hash};
use ufh_search::{CandidateHasher, Harness, SpecHasher};

use super::Cell;
use super::evaluate::TableConfigError;
use super::table::{ModelView, TabularBenchmark};

/// What a [`TableHasher`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HashSource {
    /// The paper's hash: repeat 0 at the shortest budget (4 epochs in
    /// NAS-Bench-101), final train, halfway train, final validation and halfway
    /// validation accuracy.
    ShortBudget {
        /// The budget read.
        epochs: u32,
    },
    /// The table has one budget only (the 108-epoch-only NAS-Bench-101 file), and it
    /// is the fitness budget: repeat 0's final train, halfway train and halfway
    /// validation accuracy. The final validation and test accuracies are left out
    /// because they are what the search's fitness and re-evaluation read.
    FitnessBudgetWithoutFitness {
        /// The budget read.
        epochs: u32,
    },
}

/// Settings of a [`TableHasher`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableHasherConfig {
    /// Mantissa bits kept of each accuracy (f64): 24 in the paper.
    pub mantissa_bits: MantissaBits,
    /// Simulated seconds charged per hash: 10 in the paper.
    pub cost_s: f64,
}

impl TableHasherConfig {
    /// The paper's setting: 24 mantissa bits, 10 simulated seconds.
    pub const PAPER: TableHasherConfig = TableHasherConfig {
        mantissa_bits: MantissaBits::DEFAULT_F64,
        cost_s: 10.0,
    };

    /// Checks the settings against `table`.
    pub fn build<T: TabularBenchmark + ?Sized>(
        self,
        table: &T,
    ) -> Result<TableHasher<'_, T>, TableConfigError> {
        let epochs = *table.budgets().first().ok_or(TableConfigError::NoBudgets)?;
        if !(self.cost_s >= 0.0 && self.cost_s.is_finite()) {
            return Err(TableConfigError::Cost(self.cost_s));
        }
        let source = if table.budgets().len() > 1 {
            HashSource::ShortBudget { epochs }
        } else {
            HashSource::FitnessBudgetWithoutFitness { epochs }
        };
        Ok(TableHasher {
            table,
            config: self,
            source,
            inner: SpecHasher::with_harness(
                HashSpec::bare(self.mantissa_bits, 1, 0).expect("one seed"),
                self.cost_s,
                TableReadOut { table, source },
            ),
        })
    }
}

/// The paper's functional hash of a NAS-Bench-101 cell, read from a table (the
/// numbers a short training run would produce), truncated and mixed by
/// `ufh-core`.
///
/// An invalid cell, or one the table lacks, hashes to the hash of no outputs, which
/// no valid cell has: all such cells compute the same thing (a failure).
///
/// The hash is the unified one: a cell bound to the table ([`TableReadOut`])
/// emits its read-out as [`HashableOutputs`], hashed bare (one run, no count
/// word) by [`SpecHasher`], which this hasher holds ([`TableHasher::spec_hasher`]).
/// It keeps no memo of models' hashes: hashing a cell costs its pruning, the
/// table's structural look-up and truncating and mixing four numbers, and a memo
/// of every model's hash measured no faster (15.08 µs against 15.03 µs for 64
/// cells, `cargo bench -p ufh-bench --bench bench_main --
/// nasbench101_hash/functional_hash`, one sitting on an otherwise idle 2-core
/// machine, December 7 2026). Threads share a hasher freely.
#[derive(Debug)]
pub struct TableHasher<'t, T: TabularBenchmark + ?Sized> {
    table: &'t T,
    config: TableHasherConfig,
    source: HashSource,
    inner: SpecHasher<TableReadOut<'t, T>>,
}

/// A table as what cells run on: a cell's hashable outputs are the table's
/// read-out of its model (the numbers a short training run would produce), as
/// [`HashSource`] says. An invalid cell, or one the table lacks, cannot run.
#[derive(Debug)]
pub struct TableReadOut<'t, T: ?Sized> {
    table: &'t T,
    source: HashSource,
}

/// The error of a cell that cannot be read out: invalid, or not in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInTable;

/// A cell bound to a table.
#[derive(Debug)]
pub struct CellReadOut<'a, T: ?Sized> {
    table: &'a T,
    source: HashSource,
    cell: &'a Cell,
}

impl<T: TabularBenchmark + ?Sized> Harness<Cell> for TableReadOut<'_, T> {
    type Run<'a>
        = CellReadOut<'a, T>
    where
        Self: 'a;

    fn bind<'a>(&'a self, cell: &'a Cell) -> CellReadOut<'a, T> {
        CellReadOut {
            table: self.table,
            source: self.source,
            cell,
        }
    }
}

impl<T: TabularBenchmark + ?Sized> HashableOutputs for CellReadOut<'_, T> {
    type Error = NotInTable;

    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), NotInTable> {
        let index = self
            .cell
            .prune()
            .ok()
            .and_then(|pruned| self.table.position_of_pruned(&pruned))
            .ok_or(NotInTable)?;
        push_read_out(&self.table.model_at(index), self.source, probe);
        Ok(())
    }
}

/// A model's read-out: repeat 0 at the hashed budget, in the paper's order.
fn push_read_out(model: &ModelView<'_>, source: HashSource, probe: &mut Probe<'_>) {
    let run = model.runs(0)[0];
    match source {
        HashSource::ShortBudget { .. } => probe.push_f64s(&[
            run.end.train_accuracy,
            run.halfway.train_accuracy,
            run.end.validation_accuracy,
            run.halfway.validation_accuracy,
        ]),
        HashSource::FitnessBudgetWithoutFitness { .. } => probe.push_f64s(&[
            run.end.train_accuracy,
            run.halfway.train_accuracy,
            run.halfway.validation_accuracy,
        ]),
    }
}

impl<'t, T: TabularBenchmark + ?Sized> TableHasher<'t, T> {
    /// What the hash reads.
    pub fn source(&self) -> HashSource {
        self.source
    }

    /// The functional hash of the model at `index` of the table.
    pub fn hash_model(&self, model: &ModelView<'_>) -> FunctionalHash {
        let source = self.source;
        let read_out = ufh_core::FromFn(|probe: &mut Probe<'_>| {
            push_read_out(model, source, probe);
            Ok::<(), std::convert::Infallible>(())
        });
        match functional_hash(&read_out, self.inner.spec()) {
            Ok(hash) => hash,
            Err(never) => match never {},
        }
    }

    /// The shared adapter this hasher is: [`SpecHasher`] over the table's
    /// read-out.
    pub fn spec_hasher(&self) -> &SpecHasher<TableReadOut<'t, T>> {
        &self.inner
    }

    /// The table's models grouped by functional hash: one group of model indices
    /// (ascending) per distinct hash, groups in ascending hash order. Two models in
    /// one group are equivalent as far as this hash can tell.
    pub fn group_models(&self) -> Vec<Vec<usize>> {
        let mut groups: std::collections::BTreeMap<FunctionalHash, Vec<usize>> =
            std::collections::BTreeMap::new();
        for index in 0..self.table.len() {
            groups
                .entry(self.hash_model(&self.table.model_at(index)))
                .or_default()
                .push(index);
        }
        groups.into_values().collect()
    }

    /// The hash every invalid or unknown cell gets (the hash of no outputs).
    pub fn failure_hash(&self) -> FunctionalHash {
        self.inner.failure_hash()
    }
}

impl<T: TabularBenchmark + ?Sized> CandidateHasher<Cell> for TableHasher<'_, T> {
    fn hash(&self, candidate: &Cell) -> FunctionalHash {
        self.inner.hash(candidate)
    }

    fn cost_s(&self) -> f64 {
        self.config.cost_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nasbench101::table::tests::synthetic_table;

    #[test]
    fn hasher_reads_the_short_budget_and_never_the_fitness() {
        let table = synthetic_table(&[4, 108]);
        let hasher = TableHasherConfig::PAPER.build(&table).unwrap();
        assert_eq!(hasher.source(), HashSource::ShortBudget { epochs: 4 });
        let model = table.model_at(7);
        let run = model.runs(0)[0];
        let mut expected = ufh_core::FunctionalHasher::new(MantissaBits::f64(24).unwrap());
        expected.push_f64s(&[
            run.end.train_accuracy,
            run.halfway.train_accuracy,
            run.end.validation_accuracy,
            run.halfway.validation_accuracy,
        ]);
        assert_eq!(hasher.hash(&model.cell), expected.finish());
        assert_eq!(hasher.cost_s(), 10.0);
        // Synthetic accuracies differ per model: 24 bits keep every model apart, one
        // bit merges many, and every model is in exactly one group.
        assert_eq!(hasher.group_models().len(), table.len());
        let coarse = TableHasherConfig {
            mantissa_bits: MantissaBits::f64(1).unwrap(),
            cost_s: 0.0,
        }
        .build(&table)
        .unwrap()
        .group_models();
        assert!(coarse.len() < table.len() / 2, "{}", coarse.len());
        let mut all: Vec<usize> = coarse.into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, (0..table.len()).collect::<Vec<_>>());

        let only_full = synthetic_table(&[108]);
        let hasher = TableHasherConfig::PAPER.build(&only_full).unwrap();
        assert_eq!(
            hasher.source(),
            HashSource::FitnessBudgetWithoutFitness { epochs: 108 }
        );
        // Changing the final validation accuracy (the fitness) leaves the hash as is.
        let model = only_full.model_at(7);
        let before = hasher.hash_model(&model);
        let mut altered = only_full.clone();
        let per_model = 3;
        altered.runs_mut()[7 * per_model].end.validation_accuracy += 0.1;
        altered.runs_mut()[7 * per_model].end.test_accuracy += 0.1;
        let altered_hasher = TableHasherConfig::PAPER.build(&altered).unwrap();
        assert_eq!(altered_hasher.hash_model(&altered.model_at(7)), before);
    }
}
