//! The NAS-Bench-101 data files, read natively: TFRecord frames, a JSON row per
//! record, base64 of a protobuf of metrics.
//!
//! # Pointing ufh at the real data
//!
//! Download `nasbench_only108.tfrecord` (about 500 MB, the 108-epoch budget) or
//! `nasbench_full.tfrecord` (about 2 GB, budgets 4, 12, 36 and 108) from the
//! NAS-Bench-101 project, then pass its path: `cargo xtask figures --nasbench
//! PATH`, or [`NasBench101::open_cached`] from code. The first load parses the
//! file and writes a binary cache beside it (`PATH.ufh-table`); later loads read
//! the cache when the file's content still matches (XXH3-64 and size; any
//! spelling of the path finds it). A file with no records, or with fewer models
//! than NAS-Bench-101's space of its vertex bound holds
//! ([`MODELS_BY_MAX_VERTICES`]), is rejected: it was cut short. Metric values a
//! training run cannot have (accuracies outside [0, 1], negative or non-finite
//! times, 0 epochs or parameters) are rejected naming the record and field. Only the full
//! file holds the 4-epoch budget that the paper's functional hash reads; with the
//! 108-epoch-only file the hash falls back as [`crate::nasbench101::HashSource`] says.
//!
//! # Record format
//!
//! Each record is one repeat of one budget of one model: the JSON array
//! `[module_hash, epochs, adjacency, operations, metrics]`, with `adjacency` the
//! `V×V` 0/1 digits row-major, `operations` the comma-separated op names, and
//! `metrics` the base64 of a `ModelMetrics` protobuf whose `evaluation_data` holds
//! three points (start, halfway, end). Repeats are numbered in file order.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost::Message as _;
use rayon::prelude::*;

use super::cell::{Cell, CellError, InvalidCell};
use super::module_hash::{ModuleHash, ParseModuleHashError};
use super::tfrecord::{FrameError, RecordPosition, TfRecordReader, TfRecordWriter};
use crate::nasbench101::{
    BinaryTableError, EpochMetrics, ModelTable, ModelTableBuilder, RepeatMetrics, TableError,
    TabularBenchmark,
};

/// Repeats per model and budget in NAS-Bench-101.
pub const REPEATS: usize = 3;

/// The metrics protobuf of one record (`ModelMetrics` in NAS-Bench-101's
/// `model_metrics.proto`, proto2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelMetrics {
    /// Points of the training run: start, halfway, end.
    #[prost(message, repeated, tag = "1")]
    pub evaluation_data: Vec<EvaluationData>,
    /// Trainable parameters of the network.
    #[prost(int32, optional, tag = "2")]
    pub trainable_parameters: Option<i32>,
    /// Total wall time, evaluation included.
    #[prost(double, optional, tag = "3")]
    pub total_time: Option<f64>,
}

/// One evaluation point of a training run (`EvaluationData`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct EvaluationData {
    /// Epoch of this point.
    #[prost(double, optional, tag = "1")]
    pub current_epoch: Option<f64>,
    /// Training time so far, evaluation excluded.
    #[prost(double, optional, tag = "2")]
    pub training_time: Option<f64>,
    /// Train accuracy.
    #[prost(double, optional, tag = "3")]
    pub train_accuracy: Option<f64>,
    /// Validation accuracy.
    #[prost(double, optional, tag = "4")]
    pub validation_accuracy: Option<f64>,
    /// Test accuracy.
    #[prost(double, optional, tag = "5")]
    pub test_accuracy: Option<f64>,
    /// Checkpoint path of the original run.
    #[prost(string, optional, tag = "6")]
    pub checkpoint_path: Option<String>,
}

/// What is wrong with a NAS-Bench-101 file.
///
/// Each message says its cause once: a variant either prints the error it wraps
/// or returns it from `source()`, never both, so `{:#}` (which prints the whole
/// chain) repeats nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NasBenchErrorKind {
    /// The file could not be opened or read.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The path is a directory, not a file.
    #[error("is a directory, not a NAS-Bench-101 file")]
    IsDirectory,
    /// A bad TFRecord frame: truncation or a CRC mismatch.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The payload is not the expected JSON array.
    #[error("malformed JSON row: {0}")]
    Json(String),
    /// The module hash field is not 32 hex digits.
    #[error(transparent)]
    ModuleHash(#[from] ParseModuleHashError),
    /// The metrics field is not base64.
    #[error("malformed base64 in metrics: {0}")]
    Base64(String),
    /// The metrics are not a `ModelMetrics` protobuf.
    #[error("malformed metrics protobuf: {0}")]
    Protobuf(String),
    /// A metrics field is missing or out of range.
    #[error("metrics field {field}: {problem}")]
    Metrics {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The adjacency and ops do not form a cell (includes unknown ops).
    #[error("impossible cell: {0}")]
    Cell(CellError),
    /// The cell is well formed but not a valid model.
    #[error("invalid cell: {0}")]
    InvalidCell(InvalidCell),
    /// The module hash does not match the cell.
    #[error("module hash {stored} does not match the cell, which hashes to {computed}")]
    HashMismatch {
        /// In the record.
        stored: ModuleHash,
        /// Of the cell.
        computed: ModuleHash,
    },
    /// The rows do not form a complete table.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The file holds no record at all (an empty file, or not a TFRecord file).
    #[error("holds no records")]
    Empty,
    /// Fewer models than NAS-Bench-101's space of that many vertices holds: the
    /// file was cut short (at a model boundary, or it would not have parsed).
    #[error(
        "holds {models} models of at most {max_vertices} vertices, but NAS-Bench-101's space of \
         such cells has {expected}: the file is incomplete"
    )]
    Incomplete {
        /// Models read.
        models: usize,
        /// Most vertices of a model read.
        max_vertices: usize,
        /// Models of the complete space.
        expected: usize,
    },
    /// The binary cache is corrupt.
    #[error("binary cache: {0}")]
    Cache(BinaryTableError),
}

impl From<CellError> for NasBenchErrorKind {
    fn from(e: CellError) -> Self {
        Self::Cell(e)
    }
}

impl From<InvalidCell> for NasBenchErrorKind {
    fn from(e: InvalidCell) -> Self {
        Self::InvalidCell(e)
    }
}

impl From<BinaryTableError> for NasBenchErrorKind {
    fn from(e: BinaryTableError) -> Self {
        Self::Cache(e)
    }
}

/// Unique models of NAS-Bench-101's space by most vertices (index), after pruning
/// and structural dedup (at most 9 edges): NAS-Bench-101's own counts.
pub const MODELS_BY_MAX_VERTICES: [usize; 8] = [0, 0, 1, 7, 91, 2_532, 64_542, 423_624];

/// An error reading a NAS-Bench-101 file, naming the file and, for errors in a
/// record, the record's index and byte offset.
#[derive(Debug)]
pub struct NasBenchError {
    /// The file.
    pub path: PathBuf,
    /// The record, where the error is in one.
    pub record: Option<RecordPosition>,
    /// What is wrong.
    pub kind: NasBenchErrorKind,
}

impl fmt::Display for NasBenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(position) = self.record {
            write!(f, ": record {} at byte {}", position.index, position.offset)?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for NasBenchError {
    /// The kind is part of this error's own message, so the chain continues
    /// with the kind's source.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// One parsed record.
#[derive(Debug, Clone)]
struct Row {
    key: ModuleHash,
    epochs: u32,
    cell: Cell,
    parameters: u64,
    run: RepeatMetrics,
}

fn parse_row(payload: &[u8]) -> Result<Row, NasBenchErrorKind> {
    let (hash, epochs, adjacency, operations, metrics): (String, u32, String, String, String) =
        serde_json::from_slice(payload).map_err(|e| NasBenchErrorKind::Json(e.to_string()))?;
    let key: ModuleHash = hash.parse()?;
    let raw = Cell::from_strings(&adjacency, &operations)?;
    let cell = raw.prune()?;
    let bytes = BASE64
        .decode(metrics.as_bytes())
        .map_err(|e| NasBenchErrorKind::Base64(e.to_string()))?;
    let metrics =
        ModelMetrics::decode(&bytes[..]).map_err(|e| NasBenchErrorKind::Protobuf(e.to_string()))?;
    let points = &metrics.evaluation_data;
    if points.len() != 3 {
        return Err(NasBenchErrorKind::Metrics {
            field: "evaluation_data",
            problem: format!("{} points, expected 3 (start, halfway, end)", points.len()),
        });
    }
    let parameters = metrics
        .trainable_parameters
        .ok_or(NasBenchErrorKind::Metrics {
            field: "trainable_parameters",
            problem: "missing".into(),
        })?;
    let parameters = u64::try_from(parameters).map_err(|_| NasBenchErrorKind::Metrics {
        field: "trainable_parameters",
        problem: format!("negative: {parameters}"),
    })?;
    Ok(Row {
        key,
        epochs,
        cell,
        parameters,
        run: RepeatMetrics {
            halfway: epoch_metrics(&points[1])?,
            end: epoch_metrics(&points[2])?,
        },
    })
}

fn epoch_metrics(point: &EvaluationData) -> Result<EpochMetrics, NasBenchErrorKind> {
    let get = |value: Option<f64>, field: &'static str| {
        value.ok_or(NasBenchErrorKind::Metrics {
            field,
            problem: "missing".into(),
        })
    };
    Ok(EpochMetrics {
        training_time: get(point.training_time, "training_time")?,
        train_accuracy: get(point.train_accuracy, "train_accuracy")?,
        validation_accuracy: get(point.validation_accuracy, "validation_accuracy")?,
        test_accuracy: get(point.test_accuracy, "test_accuracy")?,
    })
}

/// How a load went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Records parsed (0 when the cache was used).
    pub records: u64,
    /// Whether the table came from the binary cache.
    pub from_cache: bool,
    /// Why the cache could not be written, if it could not (the table is still
    /// returned).
    pub cache_write_error: Option<String>,
    /// Wall time of the load.
    pub elapsed: Duration,
}

/// The NAS-Bench-101 benchmark, loaded from its data file.
#[derive(Debug, Clone)]
pub struct NasBench101 {
    table: ModelTable,
    source: PathBuf,
}

/// Records parsed per parallel batch.
const BATCH: usize = 8192;

impl NasBench101 {
    /// Parses a NAS-Bench-101 TFRecord file. Every frame's CRCs, every row and
    /// every model's hash are checked, and every model must have all three repeats
    /// of every budget; the first problem is returned, naming the file and record.
    pub fn open(path: impl AsRef<Path>) -> Result<(Self, LoadReport), NasBenchError> {
        let path = path.as_ref();
        let start = Instant::now();
        let error = |kind: NasBenchErrorKind| NasBenchError {
            path: path.to_owned(),
            record: None,
            kind,
        };
        if path.is_dir() {
            return Err(error(NasBenchErrorKind::IsDirectory));
        }
        let file = File::open(path).map_err(|e| error(e.into()))?;
        let (table, records) = Self::parse(path, BufReader::with_capacity(1 << 20, file))?;
        let report = LoadReport {
            records,
            from_cache: false,
            cache_write_error: None,
            elapsed: start.elapsed(),
        };
        Ok((
            Self {
                table,
                source: path.to_owned(),
            },
            report,
        ))
    }

    /// Parses TFRecord bytes from any reader; `name` is used in errors.
    pub fn from_reader(name: impl AsRef<Path>, reader: impl Read) -> Result<Self, NasBenchError> {
        let name = name.as_ref();
        let (table, _) = Self::parse(name, reader)?;
        Ok(Self {
            table,
            source: name.to_owned(),
        })
    }

    /// Loads from the binary cache at `cache` (default: `PATH.ufh-table`) when it
    /// was written from a file of exactly this content (its XXH3-64 checksum and
    /// size, read in full each time: a few GB/s, so well under the parse time;
    /// sizes and timestamps alone miss a changed byte); otherwise parses the file
    /// and writes the cache. The key holds no path, so any spelling of the path
    /// finds the cache. A cache that cannot be written is reported, not fatal.
    pub fn open_cached(
        path: impl AsRef<Path>,
        cache: Option<&Path>,
    ) -> Result<(Self, LoadReport), NasBenchError> {
        let path = path.as_ref();
        let start = Instant::now();
        let cache_path = cache.map_or_else(
            || {
                let mut name = path.as_os_str().to_owned();
                name.push(".ufh-table");
                PathBuf::from(name)
            },
            Path::to_owned,
        );
        let error = |kind: NasBenchErrorKind| NasBenchError {
            path: path.to_owned(),
            record: None,
            kind,
        };
        if path.is_dir() {
            return Err(error(NasBenchErrorKind::IsDirectory));
        }
        let stamp = source_stamp(path).map_err(|e| error(e.into()))?;
        if let Ok(bytes) = std::fs::read(&cache_path)
            && let Ok((table, metadata)) = ModelTable::read_binary(&bytes)
            && metadata == stamp
        {
            let report = LoadReport {
                records: 0,
                from_cache: true,
                cache_write_error: None,
                elapsed: start.elapsed(),
            };
            let benchmark = Self {
                table,
                source: path.to_owned(),
            };
            return Ok((benchmark, report));
        }
        let (benchmark, mut report) = Self::open(path)?;
        if let Err(e) = write_atomically(&cache_path, |w| benchmark.table.write_binary(w, &stamp)) {
            report.cache_write_error = Some(format!("{}: {e}", cache_path.display()));
        }
        report.elapsed = start.elapsed();
        Ok((benchmark, report))
    }

    fn parse(path: &Path, reader: impl Read) -> Result<(ModelTable, u64), NasBenchError> {
        let error = |record: Option<RecordPosition>, kind: NasBenchErrorKind| NasBenchError {
            path: path.to_owned(),
            record,
            kind,
        };
        let mut frames = TfRecordReader::new(reader);
        let mut builder = ModelTableBuilder::new(REPEATS);
        let mut batch: Vec<(RecordPosition, Vec<u8>)> = Vec::with_capacity(BATCH);
        let mut spare: Vec<Vec<u8>> = Vec::new();
        let mut records = 0u64;
        loop {
            // Read a batch of frames sequentially (CRCs checked), parse it in parallel.
            while batch.len() < BATCH {
                let mut payload = spare.pop().unwrap_or_default();
                match frames.next_record(&mut payload) {
                    Ok(Some(position)) => batch.push((position, payload)),
                    Ok(None) => break,
                    Err(e) => return Err(error(Some(frames.position()), e.into())),
                }
            }
            if batch.is_empty() {
                break;
            }
            let rows: Vec<Result<Row, NasBenchErrorKind>> = batch
                .par_iter()
                .map(|(_, payload)| parse_row(payload))
                .collect();
            let first_new = builder.len();
            let mut new_models: Vec<(RecordPosition, ModuleHash, Cell)> = Vec::new();
            for ((position, _), row) in batch.iter().zip(rows) {
                let row = row.map_err(|kind| error(Some(*position), kind))?;
                let before = builder.len();
                builder
                    .add_run(row.key, row.cell, row.parameters, row.epochs, row.run)
                    .map_err(|kind| error(Some(*position), kind.into()))?;
                if builder.len() > before {
                    new_models.push((*position, row.key, row.cell));
                }
            }
            debug_assert_eq!(builder.len() - first_new, new_models.len());
            // Each model's hash is checked once, in parallel, at its first record.
            let mismatch = new_models
                .par_iter()
                .map(|(position, key, cell)| (position, key, cell.module_hash()))
                .find_first(|(_, key, computed)| key != &computed);
            if let Some((position, key, computed)) = mismatch {
                return Err(error(
                    Some(*position),
                    NasBenchErrorKind::HashMismatch {
                        stored: *key,
                        computed,
                    },
                ));
            }
            records += batch.len() as u64;
            let done = batch.len() < BATCH;
            spare.extend(batch.drain(..).map(|(_, payload)| payload));
            if done {
                break;
            }
        }
        if records == 0 {
            return Err(error(None, NasBenchErrorKind::Empty));
        }
        let table = builder.finish().map_err(|kind| error(None, kind.into()))?;
        check_complete(&table).map_err(|kind| error(None, kind))?;
        Ok((table, records))
    }

    /// The table of models.
    pub fn table(&self) -> &ModelTable {
        &self.table
    }

    /// The file it was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }
}

crate::nasbench101::table::delegate_tabular_benchmark!(NasBench101, table);

/// NAS-Bench-101's files hold every unique cell of at most V vertices: a file
/// with fewer models than that space was cut short, even when every record in it
/// is whole.
fn check_complete(table: &ModelTable) -> Result<(), NasBenchErrorKind> {
    let max_vertices = table.vertex_bound();
    let expected = MODELS_BY_MAX_VERTICES[max_vertices.min(7)];
    if table.len() < expected {
        return Err(NasBenchErrorKind::Incomplete {
            models: table.len(),
            max_vertices,
            expected,
        });
    }
    Ok(())
}

/// What identifies a source file's content: its size and XXH3-64 checksum.
fn source_stamp(path: &Path) -> io::Result<String> {
    use std::hash::Hasher as _;
    let mut file = File::open(path)?;
    let mut hasher = twox_hash::XxHash3_64::with_seed(0);
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.write(&buffer[..n]);
        size += n as u64;
    }
    Ok(format!(
        "ufh-spaces nasbench101 cache v2; source xxh3-64 {:016x}; {size} bytes",
        hasher.finish()
    ))
}

/// Writes `path` through a temporary file and a rename, so a reader never sees a
/// half-written file.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    let result = File::create(&temporary).and_then(|mut file| {
        write(&mut file)?;
        file.sync_all()
    });
    // On every failure, the write's or the rename's, the temporary goes.
    match result.and_then(|()| std::fs::rename(&temporary, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            Err(e)
        }
    }
}

/// Writes NAS-Bench-101 files in the exact format: for tests, fixtures and
/// synthetic benchmarks.
#[derive(Debug)]
pub struct NasBench101Writer<W: Write> {
    frames: TfRecordWriter<W>,
}

impl<W: Write> NasBench101Writer<W> {
    /// A writer on `writer`.
    pub fn new(writer: W) -> Self {
        Self {
            frames: TfRecordWriter::new(writer),
        }
    }

    /// The JSON payload of one record; `cell` is written as given, keyed by its
    /// structural hash.
    pub fn payload(
        cell: &Cell,
        epochs: u32,
        trainable_parameters: i32,
        run: &RepeatMetrics,
    ) -> Vec<u8> {
        Self::keyed_payload(&cell.module_hash(), cell, epochs, trainable_parameters, run)
    }

    /// [`NasBench101Writer::payload`] with the cell's structural hash already known
    /// (as from [`crate::nasbench101::enumerate_unique_cells`]): writing a large
    /// file then computes no MD5.
    pub fn keyed_payload(
        key: &ModuleHash,
        cell: &Cell,
        epochs: u32,
        trainable_parameters: i32,
        run: &RepeatMetrics,
    ) -> Vec<u8> {
        let checkpoint = format!("gs://bucket/{key}/model.ckpt");
        let point = |epoch: f64, m: &EpochMetrics| EvaluationData {
            current_epoch: Some(epoch),
            training_time: Some(m.training_time),
            train_accuracy: Some(m.train_accuracy),
            validation_accuracy: Some(m.validation_accuracy),
            test_accuracy: Some(m.test_accuracy),
            checkpoint_path: Some(checkpoint.clone()),
        };
        let start = EpochMetrics {
            training_time: 0.0,
            train_accuracy: 0.1,
            validation_accuracy: 0.1,
            test_accuracy: 0.1,
        };
        let metrics = ModelMetrics {
            evaluation_data: vec![
                point(0.0, &start),
                point(f64::from(epochs) / 2.0, &run.halfway),
                point(f64::from(epochs), &run.end),
            ],
            trainable_parameters: Some(trainable_parameters),
            total_time: Some(run.end.training_time * 1.1),
        };
        let row = (
            key.to_string(),
            epochs,
            cell.matrix_string(),
            cell.ops_string(),
            BASE64.encode(metrics.encode_to_vec()),
        );
        serde_json::to_vec(&row).expect("a tuple of strings and numbers serialises")
    }

    /// Writes one well-formed record.
    pub fn write_run(
        &mut self,
        cell: &Cell,
        epochs: u32,
        trainable_parameters: i32,
        run: &RepeatMetrics,
    ) -> io::Result<()> {
        self.frames
            .write_record(&Self::payload(cell, epochs, trainable_parameters, run))
    }

    /// [`NasBench101Writer::write_run`] with the cell's structural hash known.
    pub fn write_keyed_run(
        &mut self,
        key: &ModuleHash,
        cell: &Cell,
        epochs: u32,
        trainable_parameters: i32,
        run: &RepeatMetrics,
    ) -> io::Result<()> {
        self.frames.write_record(&Self::keyed_payload(
            key,
            cell,
            epochs,
            trainable_parameters,
            run,
        ))
    }

    /// Writes any payload, framed correctly (for corrupt-row fixtures).
    pub fn write_payload(&mut self, payload: &[u8]) -> io::Result<()> {
        self.frames.write_record(payload)
    }

    /// The underlying writer, flushed.
    pub fn into_inner(self) -> io::Result<W> {
        self.frames.into_inner()
    }
}

#[cfg(test)]
mod tests;
