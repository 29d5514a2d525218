//! The table of trained models a tabular benchmark holds: rows keyed by their cell,
//! the trait every table implements ([`TabularBenchmark`]) and its builder.
//!
//! Two tables implement [`TabularBenchmark`]: the NAS-Bench-101 data file
//! ([`NasBench101`](super::NasBench101)) and the embedded table that ufh trains
//! itself. Both store their rows in a [`ModelTable`], which also has a compact,
//! checksummed binary form ([`ModelTable::write_binary`], in `table/binary.rs`).

use rustc_hash::FxHashMap;

use super::{Cell, ModuleHash};
pub use crate::nn::train::{EpochMetrics, RepeatMetrics};

mod binary;
#[cfg(test)]
pub(crate) mod tests;

pub use binary::{BinaryTableError, ExampleCounts};

/// One model of a table, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct ModelView<'a> {
    /// The structural hash of the pruned cell.
    pub key: ModuleHash,
    /// The pruned cell.
    pub cell: Cell,
    /// Trainable parameters of the network built from the cell.
    pub trainable_parameters: u64,
    /// Runs, budget-major: budget `b`'s repeats are `runs[offsets[b]..offsets[b + 1]]`.
    runs: &'a [RepeatMetrics],
    offsets: &'a [usize],
}

impl<'a> ModelView<'a> {
    /// The repeats at the budget with index `budget_index` (into
    /// [`TabularBenchmark::budgets`]).
    ///
    /// # Panics
    /// If `budget_index` is out of range.
    pub fn runs(&self, budget_index: usize) -> &'a [RepeatMetrics] {
        &self.runs[self.offsets[budget_index]..self.offsets[budget_index + 1]]
    }
}

/// A table of trained models: every model trained at every epoch budget, with the
/// same number of repeats per budget for every model (a budget may have fewer
/// repeats than another: ufh's large embedded table trains its short, hashed budget
/// once and its fitness budget three times).
///
/// Required methods give the table's shape and its rows by position; lookup by cell
/// is provided.
pub trait TabularBenchmark: Sync {
    /// Epoch budgets, ascending (NAS-Bench-101: 4, 12, 36, 108, or 108 alone).
    fn budgets(&self) -> &[u32];

    /// Repeats per model at the budget with index `budget_index` (3 in
    /// NAS-Bench-101).
    ///
    /// # Panics
    /// If `budget_index` is out of range.
    fn repeats(&self, budget_index: usize) -> usize;

    /// Number of models.
    fn len(&self) -> usize;

    /// Position of the model with this key.
    fn position(&self, key: &ModuleHash) -> Option<usize>;

    /// The model at `index`, `0..len()`.
    ///
    /// # Panics
    /// If `index` is out of range.
    fn model_at(&self, index: usize) -> ModelView<'_>;

    /// Whether the table has no model.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The model with this key.
    fn model(&self, key: &ModuleHash) -> Option<ModelView<'_>> {
        self.position(key).map(|index| self.model_at(index))
    }

    /// Position of the model a pruned cell is. By default through the module
    /// hash (MD5, about 10 µs for a 7-vertex cell); tables with a faster structural index override it.
    fn position_of_pruned(&self, pruned: &Cell) -> Option<usize> {
        self.position(&pruned.module_hash())
    }

    /// The model a raw cell denotes: pruned, keyed, looked up. `None` when the cell
    /// is invalid or not in the table.
    fn lookup(&self, cell: &Cell) -> Option<ModelView<'_>> {
        let pruned = cell.prune().ok()?;
        self.position_of_pruned(&pruned)
            .map(|index| self.model_at(index))
    }

    /// Most vertices of a cell in the table (0 when empty): the bound a search
    /// space over the table must keep to (see
    /// [`SpaceConfig::max_vertices`](crate::nasbench101::SpaceConfig::max_vertices)).
    fn vertex_bound(&self) -> usize {
        (0..self.len())
            .map(|i| self.model_at(i).cell.num_vertices())
            .max()
            .unwrap_or(0)
    }

    /// Index of the budget with `epochs` epochs.
    fn budget_index(&self, epochs: u32) -> Option<usize> {
        self.budgets().iter().position(|&b| b == epochs)
    }
}

/// The in-memory rows of a tabular benchmark, struct-of-arrays.
///
/// Memory per model: 16 (key) + 16 (cell) + 8 (parameters) + 64 bytes per run
/// (the sum of the budgets' repeats), plus about 24 for the index: 256 bytes with
/// one budget and 3 repeats, 832 with four budgets.
#[derive(Debug, Clone)]
pub struct ModelTable {
    budgets: Vec<u32>,
    /// Repeats per budget.
    repeats: Vec<usize>,
    /// Start of each budget's runs within a model's block, and the block's length
    /// last (`budgets.len() + 1` entries).
    offsets: Vec<usize>,
    keys: Vec<ModuleHash>,
    cells: Vec<Cell>,
    parameters: Vec<u64>,
    runs: Vec<RepeatMetrics>,
    index: FxHashMap<ModuleHash, u32>,
    /// Models by [`Cell::structure_key`], when no two models share one (checked
    /// when the table is made); `None` sends look-ups through the module hash.
    by_structure: Option<FxHashMap<u64, u32>>,
}

/// The index of models by structure key, or `None` if two models share a key.
fn structure_index(cells: &[Cell]) -> Option<FxHashMap<u64, u32>> {
    let mut index = FxHashMap::default();
    index.reserve(cells.len());
    for (position, cell) in cells.iter().enumerate() {
        if index
            .insert(cell.structure_key(), position as u32)
            .is_some()
        {
            return None;
        }
    }
    Some(index)
}

/// How many vertices carry each op.
fn op_counts(cell: &Cell) -> [u8; 5] {
    let mut counts = [0u8; 5];
    for op in cell.ops() {
        counts[op as usize] += 1;
    }
    counts
}

/// Why rows cannot form a [`ModelTable`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// A model is missing runs.
    #[error("model {key} has {found} of {expected} repeats at {epochs} epochs")]
    Incomplete {
        /// The model.
        key: ModuleHash,
        /// The budget.
        epochs: u32,
        /// Runs found.
        found: usize,
        /// Runs expected.
        expected: usize,
    },
    /// A model has more runs than the table's repeat count.
    #[error("model {key} has more than {expected} repeats at {epochs} epochs")]
    ExtraRepeat {
        /// The model.
        key: ModuleHash,
        /// The budget.
        epochs: u32,
        /// Repeats expected.
        expected: usize,
    },
    /// Two rows with one key disagree on the cell or the parameter count.
    #[error("model {key} appears with two different {field}")]
    Inconsistent {
        /// The model.
        key: ModuleHash,
        /// What differs.
        field: &'static str,
    },
    /// A cell whose structural hash is not its key.
    #[error("model {key}: its cell hashes to {actual}")]
    KeyMismatch {
        /// The key given.
        key: ModuleHash,
        /// The hash of the cell.
        actual: ModuleHash,
    },
    /// No budgets, no repeats, or a table with too many models.
    #[error("invalid table shape: {0}")]
    Shape(String),
    /// A value no training run can have: an accuracy outside [0, 1], a negative
    /// or non-finite training time, 0 epochs or 0 parameters.
    #[error("model {key} at {epochs} epochs: {field} is {value}, {expected}")]
    OutOfRange {
        /// The model.
        key: ModuleHash,
        /// The budget.
        epochs: u32,
        /// The field, with its point (`halfway` or `end`).
        field: &'static str,
        /// The value found.
        value: f64,
        /// What it must be.
        expected: &'static str,
    },
}

/// Checks that a model has trainable parameters.
fn check_parameters(key: ModuleHash, epochs: u32, parameters: u64) -> Result<(), TableError> {
    if parameters == 0 {
        return Err(TableError::OutOfRange {
            key,
            epochs,
            field: "trainable_parameters",
            value: 0.0,
            expected: "at least 1",
        });
    }
    Ok(())
}

/// Checks that one run holds values a training run can have.
fn check_run(key: ModuleHash, epochs: u32, run: &RepeatMetrics) -> Result<(), TableError> {
    let out_of_range = |field, value, expected| TableError::OutOfRange {
        key,
        epochs,
        field,
        value,
        expected,
    };
    if epochs == 0 {
        return Err(out_of_range("epochs", 0.0, "at least 1"));
    }
    let (h, e) = (&run.halfway, &run.end);
    let times = [
        ("halfway training_time", h.training_time),
        ("end training_time", e.training_time),
    ];
    for (field, value) in times {
        if !(value.is_finite() && value >= 0.0) {
            return Err(out_of_range(field, value, "a finite time of at least 0 s"));
        }
    }
    let accuracies = [
        ("halfway train_accuracy", h.train_accuracy),
        ("halfway validation_accuracy", h.validation_accuracy),
        ("halfway test_accuracy", h.test_accuracy),
        ("end train_accuracy", e.train_accuracy),
        ("end validation_accuracy", e.validation_accuracy),
        ("end test_accuracy", e.test_accuracy),
    ];
    for (field, value) in accuracies {
        if !(0.0..=1.0).contains(&value) {
            return Err(out_of_range(field, value, "an accuracy in [0, 1]"));
        }
    }
    Ok(())
}

/// Collects runs into a [`ModelTable`], in any order, checking that every model
/// ends up with every run.
#[derive(Debug)]
pub struct ModelTableBuilder {
    repeats: usize,
    /// Budgets with their own repeat count.
    repeat_overrides: Vec<(u32, usize)>,
    budgets: Vec<u32>,
    /// Repeats of each budget slot.
    slot_repeats: Vec<usize>,
    keys: Vec<ModuleHash>,
    cells: Vec<Cell>,
    parameters: Vec<u64>,
    /// Per budget slot (in order of first appearance): runs and counts per model.
    runs: Vec<Vec<RepeatMetrics>>,
    counts: Vec<Vec<u8>>,
    index: FxHashMap<ModuleHash, u32>,
}

const EMPTY_EPOCH: EpochMetrics = EpochMetrics {
    training_time: f64::NAN,
    train_accuracy: f64::NAN,
    validation_accuracy: f64::NAN,
    test_accuracy: f64::NAN,
};
const EMPTY_RUN: RepeatMetrics = RepeatMetrics {
    halfway: EMPTY_EPOCH,
    end: EMPTY_EPOCH,
};

impl ModelTableBuilder {
    /// A builder for a table with `repeats` runs per model and budget.
    pub fn new(repeats: usize) -> Self {
        Self {
            repeats,
            repeat_overrides: Vec::new(),
            budgets: Vec::new(),
            slot_repeats: Vec::new(),
            keys: Vec::new(),
            cells: Vec::new(),
            parameters: Vec::new(),
            runs: Vec::new(),
            counts: Vec::new(),
            index: FxHashMap::default(),
        }
    }

    /// Gives the budget of `epochs` epochs `repeats` runs per model instead of the
    /// builder's default; call it before adding that budget's first run.
    #[must_use]
    pub fn repeats_at(mut self, epochs: u32, repeats: usize) -> Self {
        self.repeat_overrides.retain(|&(e, _)| e != epochs);
        self.repeat_overrides.push((epochs, repeats));
        self
    }

    fn repeats_for(&self, epochs: u32) -> usize {
        self.repeat_overrides
            .iter()
            .find(|&&(e, _)| e == epochs)
            .map_or(self.repeats, |&(_, r)| r)
    }

    /// Number of distinct models added so far.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no model was added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds the next repeat of `key` at `epochs`: repeats are numbered in the order
    /// they are added. `cell` must be the pruned cell whose structural hash is
    /// `key` (checked by the callers that read files).
    pub fn add_run(
        &mut self,
        key: ModuleHash,
        cell: Cell,
        trainable_parameters: u64,
        epochs: u32,
        run: RepeatMetrics,
    ) -> Result<(), TableError> {
        check_run(key, epochs, &run)?;
        check_parameters(key, epochs, trainable_parameters)?;
        let slot = match self.budgets.iter().position(|&b| b == epochs) {
            Some(slot) => slot,
            None => {
                let repeats = self.repeats_for(epochs);
                self.budgets.push(epochs);
                self.slot_repeats.push(repeats);
                self.runs.push(vec![EMPTY_RUN; self.keys.len() * repeats]);
                self.counts.push(vec![0; self.keys.len()]);
                self.budgets.len() - 1
            }
        };
        let model = match self.index.get(&key) {
            Some(&model) => {
                let model = model as usize;
                if self.cells[model] != cell {
                    return Err(TableError::Inconsistent {
                        key,
                        field: "cells",
                    });
                }
                if self.parameters[model] != trainable_parameters {
                    return Err(TableError::Inconsistent {
                        key,
                        field: "parameter counts",
                    });
                }
                model
            }
            None => {
                let model = self.keys.len();
                let id = u32::try_from(model)
                    .map_err(|_| TableError::Shape("more than 2^32 models".into()))?;
                self.index.insert(key, id);
                self.keys.push(key);
                self.cells.push(cell);
                self.parameters.push(trainable_parameters);
                for ((runs, counts), &repeats) in self
                    .runs
                    .iter_mut()
                    .zip(&mut self.counts)
                    .zip(&self.slot_repeats)
                {
                    runs.extend(std::iter::repeat_n(EMPTY_RUN, repeats));
                    counts.push(0);
                }
                model
            }
        };
        let repeats = self.slot_repeats[slot];
        let count = &mut self.counts[slot][model];
        if usize::from(*count) >= repeats {
            return Err(TableError::ExtraRepeat {
                key,
                epochs,
                expected: repeats,
            });
        }
        self.runs[slot][model * repeats + usize::from(*count)] = run;
        *count += 1;
        Ok(())
    }

    /// The table, if every model has every repeat at every budget.
    pub fn finish(self) -> Result<ModelTable, TableError> {
        let all_repeats = std::iter::once(self.repeats).chain(self.slot_repeats.iter().copied());
        for repeats in all_repeats {
            if repeats == 0 || repeats > usize::from(u8::MAX) {
                return Err(TableError::Shape(format!("{repeats} repeats")));
            }
        }
        let mut order: Vec<usize> = (0..self.budgets.len()).collect();
        order.sort_by_key(|&slot| self.budgets[slot]);
        for &slot in &order {
            let repeats = self.slot_repeats[slot];
            if let Some(model) = self.counts[slot]
                .iter()
                .position(|&c| usize::from(c) != repeats)
            {
                return Err(TableError::Incomplete {
                    key: self.keys[model],
                    epochs: self.budgets[slot],
                    found: usize::from(self.counts[slot][model]),
                    expected: repeats,
                });
            }
        }
        let per_model: usize = self.slot_repeats.iter().sum();
        let mut runs = Vec::with_capacity(self.keys.len() * per_model);
        for model in 0..self.keys.len() {
            for &slot in &order {
                let repeats = self.slot_repeats[slot];
                let start = model * repeats;
                runs.extend_from_slice(&self.runs[slot][start..start + repeats]);
            }
        }
        let budgets = order.iter().map(|&slot| self.budgets[slot]).collect();
        let repeats = order.iter().map(|&slot| self.slot_repeats[slot]).collect();
        ModelTable::from_parts(
            budgets,
            repeats,
            self.keys,
            self.cells,
            self.parameters,
            runs,
        )
    }
}

impl TabularBenchmark for ModelTable {
    fn budgets(&self) -> &[u32] {
        &self.budgets
    }

    fn repeats(&self, budget_index: usize) -> usize {
        self.repeats[budget_index]
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn position(&self, key: &ModuleHash) -> Option<usize> {
        self.index.get(key).map(|&i| i as usize)
    }

    fn position_of_pruned(&self, pruned: &Cell) -> Option<usize> {
        let Some(by_structure) = &self.by_structure else {
            return self.position(&pruned.module_hash());
        };
        let index = *by_structure.get(&pruned.structure_key())? as usize;
        // A cell of another shape whose key collides with a model's (possible
        // only for a cell outside the table, as the table's own keys are
        // distinct) is caught by its size and ops.
        let model = &self.cells[index];
        let same_shape = model.num_vertices() == pruned.num_vertices()
            && model.num_edges() == pruned.num_edges()
            && op_counts(model) == op_counts(pruned);
        same_shape.then_some(index)
    }

    fn model_at(&self, index: usize) -> ModelView<'_> {
        let per_model = *self.offsets.last().expect("offsets are never empty");
        ModelView {
            key: self.keys[index],
            cell: self.cells[index],
            trainable_parameters: self.parameters[index],
            runs: &self.runs[index * per_model..(index + 1) * per_model],
            offsets: &self.offsets,
        }
    }
}

#[cfg(test)]
impl ModelTable {
    /// Every run, in place: tests alter rows to show what a reader never reads.
    pub(super) fn runs_mut(&mut self) -> &mut [RepeatMetrics] {
        &mut self.runs
    }
}

/// Implements [`TabularBenchmark`] for a type by delegating to its [`ModelTable`]
/// field.
macro_rules! delegate_tabular_benchmark {
    ($type:ty, $field:ident) => {
        impl $crate::nasbench101::TabularBenchmark for $type {
            fn budgets(&self) -> &[u32] {
                self.$field.budgets()
            }

            fn repeats(&self, budget_index: usize) -> usize {
                self.$field.repeats(budget_index)
            }

            fn len(&self) -> usize {
                self.$field.len()
            }

            fn position(&self, key: &$crate::nasbench101::ModuleHash) -> Option<usize> {
                self.$field.position(key)
            }

            fn model_at(&self, index: usize) -> $crate::nasbench101::ModelView<'_> {
                self.$field.model_at(index)
            }

            fn position_of_pruned(&self, pruned: &$crate::nasbench101::Cell) -> Option<usize> {
                self.$field.position_of_pruned(pruned)
            }
        }
    };
}
pub(crate) use delegate_tabular_benchmark;
