//! NAS-Bench-101 (the paper's Setup D, Section 4.4), without TensorFlow or Python.
//!
//! * [`Cell`]: a DAG of at most 7 vertices and 9 edges, convertible to and from the
//!   benchmark's upper-triangular matrix and op list and to `petgraph`; pruned and
//!   validated exactly as NAS-Bench-101 does.
//! * [`Cell::module_hash`]: the benchmark's structural graph hash, bit for bit (the
//!   data file is keyed by it; it is also the structural-equivalence baseline the
//!   functional hash is compared against).
//! * [`NasBench101Space`]: random cells and the benchmark's mutation, behind
//!   `ufh-search`'s [`SearchSpace`](ufh_search::SearchSpace).
//! * [`NasBench101`]: the data file, read natively (TFRecord, CRC32C, JSON, base64,
//!   protobuf), with a binary cache.
//!
//! Fitness and the functional hash come from any
//! [`TabularBenchmark`] through
//! [`TableEvaluator`] and
//! [`TableHasher`].

mod cell;
#[cfg(feature = "embedded")]
pub mod embedded;
mod evaluate;
mod file;
mod hash;
mod module_hash;
mod network;
mod space;
pub(crate) mod table;
pub mod tfrecord;

pub use cell::{Cell, CellError, InvalidCell, MAX_EDGES, MAX_VERTICES, Op, UnknownOp};
pub use evaluate::{RepeatChoice, TableConfigError, TableEvaluator, TableEvaluatorConfig};
pub use file::{
    EvaluationData, LoadReport, MODELS_BY_MAX_VERTICES, ModelMetrics, NasBench101,
    NasBench101Writer, NasBenchError, NasBenchErrorKind, REPEATS,
};
pub use hash::{CellReadOut, HashSource, NotInTable, TableHasher, TableHasherConfig, TableReadOut};
pub use module_hash::{ModuleHash, ParseModuleHashError};
pub use network::{
    BlockStatistics, CellNetwork, LossGradientScores, StatTensor, TrainConfig, TrainedRun,
    train_cell,
};
pub use space::{NasBench101Space, SpaceConfig, SpaceError, enumerate_unique_cells};
pub use table::{
    BinaryTableError, EpochMetrics, ExampleCounts, ModelTable, ModelTableBuilder, ModelView,
    RepeatMetrics, TableError, TabularBenchmark,
};
