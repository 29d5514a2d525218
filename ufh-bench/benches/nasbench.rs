//! NAS-Bench-101: the structural hash, the functional hash read from a table, and
//! the data-file reader.
//!
//! * `module_hash` of a 7-vertex cell (about 57 MD5 digests) beside the table
//!   hasher's functional hash of the same cell (prune, structural key, look-up,
//!   4 values through ufh-core): the structural key dominates the functional hash
//!   of a tabular benchmark.
//! * Reading a file in NAS-Bench-101's format (frames, CRCs, JSON, base64,
//!   protobuf, per-model hash checks) beside the TFRecord framing and CRC checks
//!   alone, in bytes per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use rand::SeedableRng;
use ufh_search::{CandidateHasher, SearchRng, SearchSpace};
use ufh_spaces::nasbench101::tfrecord::TfRecordReader;
use ufh_spaces::nasbench101::{
    NasBench101, NasBench101Writer, SpaceConfig, enumerate_unique_cells,
};
use ufh_spaces::tabular::{EpochMetrics, RepeatMetrics, TableHasherConfig};

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
    let hasher = TableHasherConfig::paper()
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
    group.bench_function("functional_hash_from_table", |b| {
        b.iter(|| {
            for cell in &cells {
                black_box(hasher.hash(cell));
            }
        })
    });
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

criterion_group!(benches, hashes, reader);
