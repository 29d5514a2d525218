//! Tabular NAS benchmarks: a table of trained models keyed by their cell, the trait
//! every table implements, the evaluator that reads fitness from it and the hasher
//! that reads the paper's functional hash from it.
//!
//! Two tables implement [`TabularBenchmark`]: the NAS-Bench-101 data file
//! ([`crate::nasbench101::NasBench101`]) and the embedded table that ufh trains
//! itself. Both store their rows in a [`ModelTable`], which also has a compact,
//! checksummed binary form ([`ModelTable::write_binary`]).

use std::io::{self, Write};

use rand::Rng;
use rustc_hash::FxHashMap;
use ufh_core::{FunctionalHash, HashSpec, HashableOutputs, MantissaBits, Probe, functional_hash};
use ufh_search::{CandidateHasher, Evaluation, Evaluator, Harness, SearchRng, SpecHasher};

use crate::gaussian::standard_normal;
use crate::nasbench101::{Cell, ModuleHash};

/// Accuracies and training time at one point of one training run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// Training time up to this point, in seconds (evaluation excluded).
    pub training_time: f64,
    /// Accuracy on the training set.
    pub train_accuracy: f64,
    /// Accuracy on the validation set.
    pub validation_accuracy: f64,
    /// Accuracy on the test set.
    pub test_accuracy: f64,
}

impl EpochMetrics {
    fn to_array(self) -> [f64; 4] {
        [
            self.training_time,
            self.train_accuracy,
            self.validation_accuracy,
            self.test_accuracy,
        ]
    }

    fn from_array(values: [f64; 4]) -> Self {
        Self {
            training_time: values[0],
            train_accuracy: values[1],
            validation_accuracy: values[2],
            test_accuracy: values[3],
        }
    }
}

/// One training run (one repeat at one epoch budget): its halfway point and its end.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RepeatMetrics {
    /// Metrics after half the epochs.
    pub halfway: EpochMetrics,
    /// Metrics at the end of the budget.
    pub end: EpochMetrics,
}

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

/// Magic bytes of the binary table format.
const MAGIC: &[u8; 8] = b"UFHTABLE";
/// Version of the binary table format with `f64` runs ([`ModelTable::write_binary`]).
const FORMAT_VERSION: u32 = 1;
/// Version of the compact format with counted accuracies ([`ModelTable::write_compact`]).
const COMPACT_VERSION: u32 = 2;

/// Examples in the sets a table's accuracies are measured on: every accuracy of a
/// table ufh trains is a count of correct examples over one of these, which
/// [`ModelTable::write_compact`] stores exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExampleCounts {
    /// Training examples.
    pub train: u32,
    /// Validation examples.
    pub validation: u32,
    /// Test examples.
    pub test: u32,
}

/// Why a binary table could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BinaryTableError {
    /// Reading failed (the cause is the source, not repeated in this message).
    #[error("reading the table failed")]
    Io(#[from] io::Error),
    /// Not a ufh table, or a version this build cannot read.
    #[error("not a ufh table of format version {FORMAT_VERSION} or {COMPACT_VERSION}: {0}")]
    Format(String),
    /// The checksum does not match: the file is corrupt or truncated.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC32C stored in the file.
        stored: u32,
        /// CRC32C of the bytes read.
        computed: u32,
    },
    /// The file ends before the byte offset needed.
    #[error("truncated at byte {offset}: {needed} more bytes needed")]
    Truncated {
        /// Where reading stopped.
        offset: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// Model `index` holds an impossible cell.
    #[error("model {index}: {reason}")]
    Model {
        /// Model index.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The rows do not form a table.
    #[error(transparent)]
    Table(#[from] TableError),
}

impl ModelTable {
    fn from_parts(
        budgets: Vec<u32>,
        repeats: Vec<usize>,
        keys: Vec<ModuleHash>,
        cells: Vec<Cell>,
        parameters: Vec<u64>,
        runs: Vec<RepeatMetrics>,
    ) -> Result<Self, TableError> {
        if budgets.is_empty() && !keys.is_empty() {
            return Err(TableError::Shape("models without budgets".into()));
        }
        if repeats.len() != budgets.len() {
            return Err(TableError::Shape(format!(
                "{} repeat counts for {} budgets",
                repeats.len(),
                budgets.len()
            )));
        }
        if let Some(zero) = repeats.iter().position(|&r| r == 0) {
            return Err(TableError::Shape(format!(
                "0 repeats at {} epochs",
                budgets[zero]
            )));
        }
        let mut offsets = Vec::with_capacity(budgets.len() + 1);
        offsets.push(0);
        for &r in &repeats {
            offsets.push(offsets.last().copied().unwrap_or(0) + r);
        }
        let per_model = *offsets.last().expect("at least the 0");
        if Some(runs.len()) != keys.len().checked_mul(per_model) {
            return Err(TableError::Shape(format!(
                "{} runs for {} models × {per_model} runs ({} budgets, repeats {repeats:?})",
                runs.len(),
                keys.len(),
                budgets.len()
            )));
        }
        // The invariants every table holds, however it was made (built from rows
        // or read from a file): values a training run can have.
        for (model, key) in keys.iter().enumerate() {
            check_parameters(
                *key,
                budgets.first().copied().unwrap_or(0),
                parameters[model],
            )?;
            for (b, &epochs) in budgets.iter().enumerate() {
                let start = model * per_model + offsets[b];
                for run in &runs[start..start + repeats[b]] {
                    check_run(*key, epochs, run)?;
                }
            }
        }
        let mut index = FxHashMap::default();
        index.reserve(keys.len());
        for (position, key) in keys.iter().enumerate() {
            if index.insert(*key, position as u32).is_some() {
                return Err(TableError::Inconsistent {
                    key: *key,
                    field: "rows (duplicate key)",
                });
            }
        }
        let by_structure = structure_index(&cells);
        Ok(Self {
            budgets,
            repeats,
            offsets,
            keys,
            cells,
            parameters,
            runs,
            index,
            by_structure,
        })
    }

    /// Writes the table in ufh's binary format, with `metadata` (free text, such as
    /// the generator and its settings) in the header.
    ///
    /// Format, little-endian: `UFHTABLE`, format version (u32), metadata length
    /// (u32) and UTF-8 bytes, budget count (u32) and budgets (u32 each), repeats
    /// (u32), model count (u64); per model the key (16 bytes), the cell (15 bytes:
    /// vertex count, 7 row bitmasks, 7 op codes) and the parameter count (u64);
    /// then every run as 8 f64 (halfway then end, each training time, train,
    /// validation, test accuracy), model-major, then budget, then repeat; and last
    /// the CRC32C of everything before it (u32).
    pub fn write_binary<W: Write>(&self, writer: W, metadata: &str) -> io::Result<()> {
        let mut out = CrcWriter {
            inner: io::BufWriter::new(writer),
            crc: 0,
        };
        out.write_all(MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        let metadata_len = u32::try_from(metadata.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "metadata over 4 GiB"))?;
        out.write_all(&metadata_len.to_le_bytes())?;
        out.write_all(metadata.as_bytes())?;
        out.write_all(&(self.budgets.len() as u32).to_le_bytes())?;
        for budget in &self.budgets {
            out.write_all(&budget.to_le_bytes())?;
        }
        let repeats = self.uniform_repeats().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "format version 1 holds one repeat count for every budget, not {:?}: write_compact",
                    self.repeats
                ),
            )
        })?;
        out.write_all(&(repeats as u32).to_le_bytes())?;
        out.write_all(&(self.keys.len() as u64).to_le_bytes())?;
        for ((key, cell), parameters) in self.keys.iter().zip(&self.cells).zip(&self.parameters) {
            out.write_all(&key.0)?;
            out.write_all(&cell.to_bytes())?;
            out.write_all(&parameters.to_le_bytes())?;
        }
        for run in &self.runs {
            for value in run.halfway.to_array().into_iter().chain(run.end.to_array()) {
                out.write_all(&value.to_le_bytes())?;
            }
        }
        let crc = out.crc;
        out.inner.write_all(&crc.to_le_bytes())?;
        out.inner.flush()
    }

    /// Writes the table in ufh's compact binary format (version 2), with
    /// `metadata` in the header: about 20 bytes per run instead of 64, for tables
    /// whose accuracies are counts of correct examples over the sets `examples`
    /// describes, as every table ufh trains has. Accuracies are stored as those
    /// counts, so they read back bit for bit; training times are stored as `f32`.
    ///
    /// Format, little-endian: `UFHTABLE`, format version 2 (u32), metadata length
    /// (u32) and UTF-8 bytes, budget count (u32), budgets (u32 each), repeats per
    /// budget (u32 each), train, validation and test example counts (u32 each),
    /// model count (u64); per model the key (16 bytes), the cell (15 bytes, as in
    /// version 1) and the parameter count (u32); then every run, model-major, then
    /// budget, then repeat, as halfway then end, each the training time (f32) and
    /// the train, validation and test counts (u16 each); and last the CRC32C of
    /// everything before it (u32).
    ///
    /// # Errors
    /// `InvalidInput` naming the model and field where an accuracy is not a count
    /// over its set's examples, a time is not finite, a count does not fit 16 bits
    /// or a parameter count does not fit 32 bits; and any error of `writer`.
    pub fn write_compact<W: Write>(
        &self,
        writer: W,
        metadata: &str,
        examples: ExampleCounts,
    ) -> io::Result<()> {
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
        let mut out = CrcWriter {
            inner: io::BufWriter::new(writer),
            crc: 0,
        };
        out.write_all(MAGIC)?;
        out.write_all(&COMPACT_VERSION.to_le_bytes())?;
        let metadata_len =
            u32::try_from(metadata.len()).map_err(|_| invalid("metadata over 4 GiB".into()))?;
        out.write_all(&metadata_len.to_le_bytes())?;
        out.write_all(metadata.as_bytes())?;
        out.write_all(&(self.budgets.len() as u32).to_le_bytes())?;
        for budget in &self.budgets {
            out.write_all(&budget.to_le_bytes())?;
        }
        for &repeats in &self.repeats {
            out.write_all(&(repeats as u32).to_le_bytes())?;
        }
        let sets = [examples.train, examples.validation, examples.test];
        for n in sets {
            if n == 0 || n > u32::from(u16::MAX) {
                return Err(invalid(format!(
                    "example counts {examples:?}: each must be in 1..=65535"
                )));
            }
            out.write_all(&n.to_le_bytes())?;
        }
        out.write_all(&(self.keys.len() as u64).to_le_bytes())?;
        for ((key, cell), &parameters) in self.keys.iter().zip(&self.cells).zip(&self.parameters) {
            let parameters = u32::try_from(parameters)
                .map_err(|_| invalid(format!("model {key}: {parameters} parameters exceed u32")))?;
            out.write_all(&key.0)?;
            out.write_all(&cell.to_bytes())?;
            out.write_all(&parameters.to_le_bytes())?;
        }
        let per_model = *self.offsets.last().expect("offsets are never empty");
        for (index, run) in self.runs.iter().enumerate() {
            let key = self.keys[index / per_model];
            for (point, metrics) in [("halfway", run.halfway), ("end", run.end)] {
                let time = metrics.training_time as f32;
                if !time.is_finite() {
                    return Err(invalid(format!(
                        "model {key}, {point} training_time {} is not a finite f32",
                        metrics.training_time
                    )));
                }
                out.write_all(&time.to_le_bytes())?;
                let accuracies = [
                    ("train_accuracy", metrics.train_accuracy),
                    ("validation_accuracy", metrics.validation_accuracy),
                    ("test_accuracy", metrics.test_accuracy),
                ];
                for ((field, accuracy), n) in accuracies.into_iter().zip(sets) {
                    let count = (accuracy * f64::from(n)).round();
                    if !(0.0..=f64::from(n)).contains(&count) || count / f64::from(n) != accuracy {
                        return Err(invalid(format!(
                            "model {key}, {point} {field} {accuracy} is not a count over {n} examples"
                        )));
                    }
                    out.write_all(&(count as u16).to_le_bytes())?;
                }
            }
        }
        let crc = out.crc;
        out.inner.write_all(&crc.to_le_bytes())?;
        out.inner.flush()
    }

    /// The one repeat count of every budget, if they agree.
    fn uniform_repeats(&self) -> Option<usize> {
        match self.repeats.split_first() {
            None => Some(1),
            Some((&first, rest)) => rest.iter().all(|&r| r == first).then_some(first),
        }
    }

    /// Reads a table written by [`ModelTable::write_binary`] (format version 1) or
    /// [`ModelTable::write_compact`] (version 2), returning it and its metadata.
    /// Every byte is checksummed and every cell re-checked; the keys are trusted
    /// (the checksum guards them), so reading is fast.
    pub fn read_binary(bytes: &[u8]) -> Result<(ModelTable, String), BinaryTableError> {
        if bytes.len() < MAGIC.len() + 4 || &bytes[..8] != MAGIC {
            return Err(BinaryTableError::Format("missing UFHTABLE magic".into()));
        }
        let (body, stored) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(stored.try_into().expect("4 bytes"));
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(BinaryTableError::Checksum { stored, computed });
        }
        let mut reader = ByteReader {
            bytes: body,
            offset: 8,
        };
        let version = reader.u32()?;
        if version != FORMAT_VERSION && version != COMPACT_VERSION {
            return Err(BinaryTableError::Format(format!(
                "file has version {version}"
            )));
        }
        let compact = version == COMPACT_VERSION;
        let metadata_len = reader.u32()? as usize;
        let metadata = String::from_utf8(reader.take(metadata_len)?.to_vec())
            .map_err(|_| BinaryTableError::Format("metadata is not UTF-8".into()))?;
        let n_budgets = reader.u32()? as usize;
        let mut budgets = Vec::with_capacity(n_budgets.min(64));
        for _ in 0..n_budgets {
            budgets.push(reader.u32()?);
        }
        if budgets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(BinaryTableError::Format(format!(
                "budgets {budgets:?} are not strictly ascending"
            )));
        }
        let (repeats, sets) = if compact {
            let mut repeats = Vec::with_capacity(n_budgets);
            for _ in 0..n_budgets {
                repeats.push(reader.u32()? as usize);
            }
            let mut sets = [0u32; 3];
            for n in &mut sets {
                *n = reader.u32()?;
                if *n == 0 {
                    return Err(BinaryTableError::Format(
                        "an example count is 0 (train, validation and test must each have examples)"
                            .into(),
                    ));
                }
            }
            (repeats, sets)
        } else {
            (vec![reader.u32()? as usize; n_budgets], [0; 3])
        };
        let n_models = usize::try_from(reader.u64()?)
            .map_err(|_| BinaryTableError::Format("model count overflows".into()))?;
        let parameter_bytes = if compact { 4 } else { 8 };
        let per_model = 16 + 15 + parameter_bytes;
        reader.check(n_models.saturating_mul(per_model))?;
        let mut keys = Vec::with_capacity(n_models);
        let mut cells = Vec::with_capacity(n_models);
        let mut parameters = Vec::with_capacity(n_models);
        for index in 0..n_models {
            let record = reader.take(per_model)?;
            keys.push(ModuleHash(record[..16].try_into().expect("16 bytes")));
            let cell = Cell::from_bytes(record[16..31].try_into().expect("15 bytes")).map_err(
                |error| BinaryTableError::Model {
                    index,
                    reason: error.to_string(),
                },
            )?;
            cells.push(cell);
            parameters.push(if compact {
                u64::from(u32::from_le_bytes(
                    record[31..35].try_into().expect("4 bytes"),
                ))
            } else {
                u64::from_le_bytes(record[31..39].try_into().expect("8 bytes"))
            });
        }
        let n_runs = repeats
            .iter()
            .try_fold(0usize, |total, &r| total.checked_add(r))
            .and_then(|per_model| n_models.checked_mul(per_model))
            .ok_or_else(|| BinaryTableError::Format("run count overflows".into()))?;
        let run_size = if compact { 20 } else { 64 };
        let run_bytes = reader.take(n_runs.saturating_mul(run_size))?;
        let runs = run_bytes
            .chunks_exact(run_size)
            .map(|chunk| {
                if compact {
                    let point = |bytes: &[u8]| {
                        let count = |at: usize| {
                            f64::from(u16::from_le_bytes(
                                bytes[at..at + 2].try_into().expect("2 bytes"),
                            ))
                        };
                        EpochMetrics {
                            training_time: f64::from(f32::from_le_bytes(
                                bytes[..4].try_into().expect("4 bytes"),
                            )),
                            train_accuracy: count(4) / f64::from(sets[0]),
                            validation_accuracy: count(6) / f64::from(sets[1]),
                            test_accuracy: count(8) / f64::from(sets[2]),
                        }
                    };
                    RepeatMetrics {
                        halfway: point(&chunk[..10]),
                        end: point(&chunk[10..]),
                    }
                } else {
                    let mut values = [0f64; 8];
                    for (value, bytes) in values.iter_mut().zip(chunk.chunks_exact(8)) {
                        *value = f64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                    }
                    RepeatMetrics {
                        halfway: EpochMetrics::from_array(values[..4].try_into().expect("4")),
                        end: EpochMetrics::from_array(values[4..].try_into().expect("4")),
                    }
                }
            })
            .collect();
        if reader.offset != body.len() {
            return Err(BinaryTableError::Format(format!(
                "{} trailing bytes",
                body.len() - reader.offset
            )));
        }
        let table = ModelTable::from_parts(budgets, repeats, keys, cells, parameters, runs)?;
        Ok((table, metadata))
    }

    /// Checks that every cell hashes to its key (about 10 µs per model).
    pub fn verify_keys(&self) -> Result<(), TableError> {
        for (key, cell) in self.keys.iter().zip(&self.cells) {
            let actual = cell.module_hash();
            if actual != *key {
                return Err(TableError::KeyMismatch { key: *key, actual });
            }
        }
        Ok(())
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

struct CrcWriter<W: Write> {
    inner: W,
    crc: u32,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct ByteReader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> ByteReader<'a> {
    fn check(&self, needed: usize) -> Result<(), BinaryTableError> {
        let available = self.bytes.len() - self.offset;
        if needed > available {
            return Err(BinaryTableError::Truncated {
                offset: self.bytes.len(),
                needed: needed - available,
            });
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BinaryTableError> {
        self.check(n)?;
        let slice = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32, BinaryTableError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, BinaryTableError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

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

/// Implements [`TabularBenchmark`] for a type by delegating to its [`ModelTable`]
/// field.
macro_rules! delegate_tabular_benchmark {
    ($type:ty, $field:ident) => {
        impl $crate::tabular::TabularBenchmark for $type {
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

            fn model_at(&self, index: usize) -> $crate::tabular::ModelView<'_> {
                self.$field.model_at(index)
            }

            fn position_of_pruned(&self, pruned: &$crate::nasbench101::Cell) -> Option<usize> {
                self.$field.position_of_pruned(pruned)
            }
        }
    };
}
pub(crate) use delegate_tabular_benchmark;

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
    pub fn paper() -> Self {
        Self {
            mantissa_bits: MantissaBits::f64(24).expect("24 is in 1..=52"),
            cost_s: 10.0,
        }
    }

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
pub(crate) mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::nasbench101::enumerate_unique_cells;

    /// A table over every cell of at most 4 vertices with `budgets` (epochs,
    /// repeats): `point(model, epochs, repeat, fraction)` gives the metrics at
    /// `fraction` of a run (0.5 halfway, 1 at the end); model `m` has `base + m`
    /// parameters.
    fn table_of(
        mut builder: ModelTableBuilder,
        budgets: &[(u32, usize)],
        base: u64,
        point: impl Fn(usize, u32, usize, f64) -> EpochMetrics,
    ) -> ModelTable {
        for (model, (key, cell)) in enumerate_unique_cells(4, 9).into_iter().enumerate() {
            for &(epochs, repeats) in budgets {
                for repeat in 0..repeats {
                    let run = RepeatMetrics {
                        halfway: point(model, epochs, repeat, 0.5),
                        end: point(model, epochs, repeat, 1.0),
                    };
                    builder
                        .add_run(key, cell, base + model as u64, epochs, run)
                        .unwrap();
                }
            }
        }
        builder.finish().unwrap()
    }

    /// A synthetic table over every cell of at most 4 vertices: accuracies derived
    /// from the model index, so tests can predict them.
    pub(crate) fn synthetic_table(budgets: &[u32]) -> ModelTable {
        let budgets: Vec<(u32, usize)> = budgets.iter().map(|&e| (e, 3)).collect();
        table_of(
            ModelTableBuilder::new(3),
            &budgets,
            1000,
            |model, epochs, repeat, fraction| {
                let base = 0.5 + model as f64 / 1000.0 + f64::from(epochs) / 1e4;
                EpochMetrics {
                    training_time: f64::from(epochs) * fraction * 10.0 + repeat as f64,
                    train_accuracy: base + 0.01 * fraction,
                    validation_accuracy: base + 0.001 * repeat as f64,
                    test_accuracy: base - 0.001,
                }
            },
        )
    }

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
        let hasher = TableHasherConfig::paper().build(&table).unwrap();
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
    fn builder_orders_budgets_and_numbers_repeats() {
        let table = synthetic_table(&[108, 4]);
        assert_eq!(table.budgets(), &[4, 108]);
        assert_eq!(table.len(), 91);
        table.verify_keys().unwrap();
        let model = table.model_at(5);
        assert_eq!(model.runs(1)[2].end.training_time, 1080.0 + 2.0);
        assert_eq!(model.runs(0)[0].end.training_time, 40.0);
        assert_eq!(table.model(&model.key).unwrap().cell, model.cell);
    }

    #[test]
    fn builder_refuses_incomplete_and_extra_runs() {
        let (key, cell) = enumerate_unique_cells(3, 9)[1];
        let point = EpochMetrics {
            training_time: 1.0,
            train_accuracy: 0.5,
            validation_accuracy: 0.5,
            test_accuracy: 0.5,
        };
        let run = RepeatMetrics {
            halfway: point,
            end: point,
        };
        let mut builder = ModelTableBuilder::new(2);
        builder.add_run(key, cell, 7, 108, run).unwrap();
        let err = builder.finish().unwrap_err();
        assert_eq!(
            err,
            TableError::Incomplete {
                key,
                epochs: 108,
                found: 1,
                expected: 2
            }
        );
        let mut builder = ModelTableBuilder::new(1);
        builder.add_run(key, cell, 7, 108, run).unwrap();
        assert!(matches!(
            builder.add_run(key, cell, 7, 108, run),
            Err(TableError::ExtraRepeat { .. })
        ));
        assert!(matches!(
            builder.add_run(key, cell, 8, 4, run),
            Err(TableError::Inconsistent { .. })
        ));
    }

    #[test]
    fn binary_round_trip_and_corruption() {
        let table = synthetic_table(&[4, 108]);
        let mut bytes = Vec::new();
        table.write_binary(&mut bytes, "synthetic v1").unwrap();
        let (back, metadata) = ModelTable::read_binary(&bytes).unwrap();
        assert_eq!(metadata, "synthetic v1");
        assert_eq!(back.budgets(), table.budgets());
        for i in 0..table.len() {
            assert_eq!(back.model_at(i).key, table.model_at(i).key);
            assert_eq!(back.model_at(i).runs(1), table.model_at(i).runs(1));
        }
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert!(matches!(
            ModelTable::read_binary(&flipped),
            Err(BinaryTableError::Checksum { .. })
        ));
        assert!(ModelTable::read_binary(&bytes[..bytes.len() - 10]).is_err());
        assert!(matches!(
            ModelTable::read_binary(b"not a table at all"),
            Err(BinaryTableError::Format(_))
        ));
    }

    /// A table whose accuracies are counts over 400 / 397 / 400 examples, with one
    /// repeat at the short budget and three at the long one, as the large embedded
    /// table has.
    fn counted_table() -> ModelTable {
        let builder = ModelTableBuilder::new(3).repeats_at(2, 1);
        table_of(
            builder,
            &[(4, 3), (2, 1)],
            100,
            |model, epochs, repeat, fraction| {
                let correct = (model * 7 + repeat * 3 + epochs as usize) % 397;
                EpochMetrics {
                    training_time: f64::from(epochs) * fraction * 0.037 + repeat as f64,
                    train_accuracy: (correct as f64 + fraction).floor() / 400.0,
                    validation_accuracy: correct as f64 / 397.0,
                    test_accuracy: (400 - correct) as f64 / 400.0,
                }
            },
        )
    }

    const COUNTED: ExampleCounts = ExampleCounts {
        train: 400,
        validation: 397,
        test: 400,
    };

    #[test]
    fn budgets_may_have_their_own_repeat_counts() {
        let table = counted_table();
        assert_eq!(table.budgets(), &[2, 4]);
        assert_eq!((table.repeats(0), table.repeats(1)), (1, 3));
        let model = table.model_at(9);
        assert_eq!(model.runs(0).len(), 1);
        assert_eq!(model.runs(1).len(), 3);
        assert_eq!(model.runs(1)[2].end.training_time, 4.0 * 0.037 + 2.0);
        let fixed = |repeat| TableEvaluatorConfig {
            repeat: RepeatChoice::Fixed(repeat),
            ..TableEvaluatorConfig::PAPER
        };
        assert!(
            fixed(2).build(&table).is_ok(),
            "the long budget has 3 repeats"
        );
        let short = TableEvaluatorConfig {
            budget_epochs: Some(2),
            ..fixed(1)
        };
        assert_eq!(
            short.build(&table).unwrap_err(),
            TableConfigError::Repeat {
                repeat: 1,
                repeats: 1
            }
        );
        let mut bytes = Vec::new();
        let error = table.write_binary(&mut bytes, "v1").unwrap_err();
        assert!(error.to_string().contains("write_compact"), "{error}");
    }

    #[test]
    fn compact_round_trip_keeps_accuracies_bit_for_bit_and_rejects_damage() {
        let table = counted_table();
        let mut bytes = Vec::new();
        table
            .write_compact(&mut bytes, "counted v2", COUNTED)
            .unwrap();
        let mut wide = Vec::new();
        synthetic_table(&[4, 108])
            .write_binary(&mut wide, "")
            .unwrap();
        assert!(
            bytes.len() * 2 < wide.len(),
            "{} compact bytes, {} in version 1",
            bytes.len(),
            wide.len()
        );
        let (back, metadata) = ModelTable::read_binary(&bytes).unwrap();
        assert_eq!(metadata, "counted v2");
        assert_eq!(back.budgets(), table.budgets());
        assert_eq!((back.repeats(0), back.repeats(1)), (1, 3));
        for i in 0..table.len() {
            let (a, b) = (table.model_at(i), back.model_at(i));
            assert_eq!(
                (a.key, a.cell, a.trainable_parameters),
                (b.key, b.cell, b.trainable_parameters)
            );
            for budget in 0..2 {
                for (x, y) in a.runs(budget).iter().zip(b.runs(budget)) {
                    for (p, q) in [(x.halfway, y.halfway), (x.end, y.end)] {
                        let bits = |e: EpochMetrics| {
                            [e.train_accuracy, e.validation_accuracy, e.test_accuracy]
                                .map(f64::to_bits)
                        };
                        assert_eq!(bits(p), bits(q), "model {i}");
                        assert_eq!(p.training_time as f32, q.training_time as f32);
                    }
                }
            }
        }
        // Damage anywhere is caught by the checksum; a cut file too.
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 4;
        assert!(matches!(
            ModelTable::read_binary(&flipped),
            Err(BinaryTableError::Checksum { .. })
        ));
        for cut in [bytes.len() - 1, bytes.len() / 3, 12] {
            assert!(
                ModelTable::read_binary(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // A file with a consistent checksum but too few run bytes names the shortfall.
        let mut short = bytes[..bytes.len() - 4 - 20].to_vec();
        let crc = crc32c::crc32c(&short);
        short.extend_from_slice(&crc.to_le_bytes());
        let error = ModelTable::read_binary(&short).unwrap_err();
        assert!(
            matches!(error, BinaryTableError::Truncated { needed: 20, .. }),
            "{error}"
        );
        // An accuracy that is not a count over its set cannot be written.
        let error = synthetic_table(&[4])
            .write_compact(&mut Vec::new(), "", COUNTED)
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("is not a count over"), "{message}");
        assert!(message.contains("model "), "{message}");
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

    #[test]
    fn hasher_reads_the_short_budget_and_never_the_fitness() {
        let table = synthetic_table(&[4, 108]);
        let hasher = TableHasherConfig::paper().build(&table).unwrap();
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
        let hasher = TableHasherConfig::paper().build(&only_full).unwrap();
        assert_eq!(
            hasher.source(),
            HashSource::FitnessBudgetWithoutFitness { epochs: 108 }
        );
        // Changing the final validation accuracy (the fitness) leaves the hash as is.
        let model = only_full.model_at(7);
        let before = hasher.hash_model(&model);
        let mut altered = only_full.clone();
        let per_model = 3;
        altered.runs[7 * per_model].end.validation_accuracy += 0.1;
        altered.runs[7 * per_model].end.test_accuracy += 0.1;
        let altered_hasher = TableHasherConfig::paper().build(&altered).unwrap();
        assert_eq!(altered_hasher.hash_model(&altered.model_at(7)), before);
    }
}
