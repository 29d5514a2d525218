//! The compact, checksummed binary form of a [`ModelTable`].

use std::io::{self, Write};

use super::*;

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
    pub(super) fn from_parts(
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
