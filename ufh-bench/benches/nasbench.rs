//! NAS-Bench-101: the structural hash, the functional hash read from a table, and
//! the data-file reader.
//!
//! * `module_hash` of a 7-vertex cell (about 57 MD5 digests) beside the table
//!   hasher's functional hash of the same cell (prune, structural key, look-up,
//!   4 values through ufh-core): the structural key dominates the functional hash
//!   of a tabular benchmark.
//! * The UFH reference's search workload (regularized evolution, population 100,
//!   tournament 10, 7×7 raw cells kept to the table's bound), with and without
//!   FEC, through the table's structural index beside the same search looking
//!   every cell up by its MD5 module hash (the path before the index), in
//!   candidates per second.
//! * BANANAS on the same table, with and without FEC (and the functional hash
//!   keeping its pool and training set free of equivalent candidates), in
//!   candidates per second: the predictor updates dominate.
//! * Reading a file in NAS-Bench-101's format (frames, CRCs, JSON, base64,
//!   protobuf, per-model hash checks) beside the TFRecord framing and CRC checks
//!   alone, in bytes per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use rand::SeedableRng;
use ufh_search::{
    BananasConfig, Budget, CandidateHasher, EvolutionConfig, FecConfig, LocalSearchConfig, Mode,
    Replacement, Search, SearchRng, SearchSpace, Techniques,
};
use ufh_spaces::nasbench101::tfrecord::TfRecordReader;
use ufh_spaces::nasbench101::{
    EpochMetrics, ModelView, RepeatMetrics, TableEvaluatorConfig, TableHasherConfig,
    TabularBenchmark,
};
use ufh_spaces::nasbench101::{
    ModuleHash, NasBench101, NasBench101Writer, SpaceConfig, enumerate_unique_cells,
};

fn synthetic_file(max_vertices: usize) -> Vec<u8> {
    let mut writer = NasBench101Writer::new(Vec::new());
    for (i, (_, cell)) in enumerate_unique_cells(max_vertices, 9).iter().enumerate() {
        for epochs in [4, 108] {
            for repeat in 0..3 {
                let at = |f: f64| EpochMetrics {
                    training_time: f64::from(epochs) * f + f64::from(repeat),
                    train_accuracy: f64::from((0.5 + 0.4 * f * (i % 97) as f64 / 97.0) as f32),
                    validation_accuracy: f64::from((0.5 + 0.3 * f) as f32),
                    test_accuracy: f64::from((0.5 + 0.3 * f) as f32),
                };
                let run = RepeatMetrics {
                    halfway: at(0.5),
                    end: at(1.0),
                };
                writer
                    .write_run(cell, epochs, 1000, &run)
                    .expect("writing to memory");
            }
        }
    }
    writer.into_inner().expect("writing to memory")
}

fn hashes(c: &mut Criterion) {
    let bytes = synthetic_file(5);
    let table = NasBench101::from_reader("bench.tfrecord", &bytes[..]).expect("valid file");
    let space = SpaceConfig {
        raw_vertices: 5,
        max_vertices: 5,
        ..SpaceConfig::NASBENCH101
    }
    .build()
    .expect("valid space");
    let mut rng = SearchRng::seed_from_u64(0);
    let cells: Vec<_> = (0..64).map(|_| space.sample(&mut rng)).collect();
    let seven = SpaceConfig::NASBENCH101.build().expect("valid space");
    let sevens: Vec<_> = (0..64)
        .map(|_| seven.sample(&mut rng).prune().expect("samples are valid"))
        .collect();
    let hasher = TableHasherConfig::PAPER
        .build(&table)
        .expect("valid hasher");

    let mut group = c.benchmark_group("nasbench101_hash");
    group.throughput(Throughput::Elements(64));
    group.bench_function("module_hash_7_vertices", |b| {
        b.iter(|| {
            for cell in &sevens {
                black_box(cell.module_hash());
            }
        })
    });
    group.bench_function("structure_key_7_vertices", |b| {
        b.iter(|| {
            for cell in &sevens {
                black_box(cell.structure_key());
            }
        })
    });
    group.bench_function("functional_hash_from_table", |b| {
        b.iter(|| {
            for cell in &cells {
                black_box(hasher.hash(cell));
            }
        })
    });
    group.finish();
}

/// A table looked up through the trait's default: the MD5 module hash of every
/// cell, as every look-up went before the structural index.
struct ByModuleHash<'t>(&'t NasBench101);

impl TabularBenchmark for ByModuleHash<'_> {
    fn budgets(&self) -> &[u32] {
        self.0.budgets()
    }
    fn repeats(&self, budget_index: usize) -> usize {
        self.0.repeats(budget_index)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn position(&self, key: &ModuleHash) -> Option<usize> {
        self.0.position(key)
    }
    fn model_at(&self, index: usize) -> ModelView<'_> {
        self.0.model_at(index)
    }
}

/// The search algorithm of a bench.
#[derive(Clone, Copy)]
enum Algo {
    Evolution,
    LocalSearch,
    Bananas,
}

fn search<T: TabularBenchmark>(table: &T, fec: bool, candidates: u64) -> usize {
    search_with(table, fec, candidates, Algo::Evolution)
}

fn search_with<T: TabularBenchmark>(table: &T, fec: bool, candidates: u64, algo: Algo) -> usize {
    let space = SpaceConfig::nasbench101_bounded(table.vertex_bound())
        .build()
        .expect("valid space");
    let evaluator = TableEvaluatorConfig::PAPER
        .build(table)
        .expect("valid evaluator");
    let hasher = TableHasherConfig::PAPER.build(table).expect("valid hasher");
    let techniques = if fec {
        Techniques {
            fec: Some(FecConfig::PLAIN),
            ..Techniques::NONE
        }
    } else {
        Techniques::NONE
    };
    let search = Search::new(&space, &evaluator, Budget::Candidates(candidates), 1)
        .hasher(&hasher)
        .techniques(techniques)
        .expect("valid techniques");
    let record = match algo {
        Algo::Evolution => {
            let mut evolution = EvolutionConfig {
                population_size: 100,
                tournament_size: 10,
                replacement: Replacement::Oldest,
            }
            .build()
            .expect("valid evolution");
            search.run(&mut evolution, Mode::Serial)
        }
        Algo::LocalSearch => {
            let mut local = LocalSearchConfig::DEFAULT
                .build()
                .expect("valid local search");
            search.run(&mut local, Mode::Serial)
        }
        Algo::Bananas => {
            // With FEC it asks the driver which candidates are known.
            let mut bananas = BananasConfig::paper().build(1).expect("valid BANANAS");
            search.run(&mut bananas, Mode::Serial)
        }
    };
    record.expect("search runs").record.events.len()
}

fn search_loop(c: &mut Criterion) {
    let bytes = synthetic_file(5);
    let table = NasBench101::from_reader("bench.tfrecord", &bytes[..]).expect("valid file");
    let baseline = ByModuleHash(&table);
    const CANDIDATES: u64 = 2_000;
    let mut group = c.benchmark_group("nasbench101_search");
    group.throughput(Throughput::Elements(CANDIDATES));
    group.sample_size(20);
    for fec in [false, true] {
        let label = if fec { "fec" } else { "no_fec" };
        group.bench_function(format!("structure_index_{label}"), |b| {
            b.iter(|| black_box(search(&table, fec, CANDIDATES)))
        });
        group.bench_function(format!("module_hash_baseline_{label}"), |b| {
            b.iter(|| black_box(search(&baseline, fec, CANDIDATES)))
        });
        // The loop's overhead per candidate under local search (neighbourhoods
        // built and shuffled, the structure index as above).
        group.bench_function(format!("local_search_{label}"), |b| {
            b.iter(|| black_box(search_with(&table, fec, CANDIDATES, Algo::LocalSearch)))
        });
    }
    group.finish();

    // BANANAS: per candidate, one tenth of a predictor update (5 predictors of
    // 200 Adam steps, a pool of 100 mutants scored) and the loop's own work.
    const BANANAS_CANDIDATES: u64 = 300;
    let mut group = c.benchmark_group("nasbench101_bananas");
    group.throughput(Throughput::Elements(BANANAS_CANDIDATES));
    group.sample_size(10);
    for fec in [false, true] {
        let label = if fec { "fec_dedup" } else { "no_fec" };
        group.bench_function(format!("search_{label}"), |b| {
            b.iter(|| black_box(search_with(&table, fec, BANANAS_CANDIDATES, Algo::Bananas)))
        });
    }
    group.finish();
}

fn reader(c: &mut Criterion) {
    let bytes = synthetic_file(4);
    let mut group = c.benchmark_group("nasbench101_read");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    group.bench_function("framing_and_crc_only", |b| {
        b.iter(|| {
            let mut frames = TfRecordReader::new(&bytes[..]);
            let mut payload = Vec::new();
            let mut n = 0;
            while frames
                .next_record(&mut payload)
                .expect("valid file")
                .is_some()
            {
                n += 1;
            }
            black_box(n)
        })
    });
    group.bench_function("full_parse", |b| {
        b.iter(|| black_box(NasBench101::from_reader("bench.tfrecord", &bytes[..]).expect("valid")))
    });
    group.finish();
}

criterion_group!(benches, hashes, search_loop, reader);
