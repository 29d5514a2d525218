//! The homes of the functional equivalence cache: lookups and inserts per second
//! in memory (the cache's own map, the baseline, and `MemoryStore`), in a redb
//! file (each insert a durable transaction) and in Redis on loopback: one call per
//! lookup, and batched (`get_many`: one read transaction in redb, one pipelined
//! round trip in Redis).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rand::SeedableRng;
use ufh_core::FunctionalHash;
use ufh_search::redis::{LocalRedis, RedisStore};
use ufh_search::{
    Evaluation, FecConfig, FecStore, Lookup, MemoryStore, Namespace, RedbStore, SearchRng,
    StoredEvaluation,
};

const KEYS: u64 = 1_000;
/// Inserts per measured iteration (redb's are fsynced one by one).
const INSERTS: u64 = 50;

fn key(i: u64) -> FunctionalHash {
    FunctionalHash(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn evaluation(i: u64) -> Evaluation {
    Evaluation {
        validation: (i % 97) as f64 / 97.0,
        test: 0.5,
        cost_s: 10.0,
    }
}

/// Lookups of present keys and inserts of new ones in `store`.
fn bench_store(c: &mut Criterion, name: &str, store: Arc<dyn FecStore>, batched: bool) {
    for i in 0..KEYS {
        store
            .add_evaluation(key(i), StoredEvaluation::new(i, &evaluation(i)), 1)
            .unwrap();
    }
    let keys: Vec<FunctionalHash> = (0..KEYS).map(key).collect();
    let mut group = c.benchmark_group("fec_store_lookup");
    group.throughput(Throughput::Elements(KEYS));
    group.bench_function(BenchmarkId::new(name, KEYS), |b| {
        b.iter(|| {
            for &k in &keys {
                black_box(store.get(k).unwrap());
            }
        })
    });
    if batched {
        group.bench_function(BenchmarkId::new(format!("{name}_batched"), KEYS), |b| {
            b.iter(|| black_box(store.get_many(&keys).unwrap()))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("fec_store_insert");
    group.throughput(Throughput::Elements(INSERTS));
    let mut next = KEYS;
    group.bench_function(BenchmarkId::new(name, INSERTS), |b| {
        b.iter(|| {
            for _ in 0..INSERTS {
                next += 1;
                black_box(
                    store
                        .add_evaluation(
                            key(next),
                            StoredEvaluation::new(next, &evaluation(next)),
                            1,
                        )
                        .unwrap(),
                );
            }
        })
    });
    group.finish();
}

/// The cache's own in-memory map: the baseline every other home is measured by.
fn bench_in_cache(c: &mut Criterion) {
    let mut cache = FecConfig::PLAIN.build().unwrap();
    for i in 0..KEYS {
        cache.record(key(i), &evaluation(i));
    }
    let mut rng = SearchRng::seed_from_u64(0);
    let mut group = c.benchmark_group("fec_store_lookup");
    group.throughput(Throughput::Elements(KEYS));
    group.bench_function(BenchmarkId::new("cache_map", KEYS), |b| {
        b.iter(|| {
            for i in 0..KEYS {
                assert!(matches!(cache.lookup(key(i), &mut rng), Lookup::Hit(_)));
            }
        })
    });
    group.finish();
    let mut group = c.benchmark_group("fec_store_insert");
    group.throughput(Throughput::Elements(INSERTS));
    let mut next = KEYS;
    group.bench_function(BenchmarkId::new("cache_map", INSERTS), |b| {
        b.iter(|| {
            for _ in 0..INSERTS {
                next += 1;
                black_box(cache.record(key(next), &evaluation(next)));
            }
        })
    });
    group.finish();
}

fn stores(c: &mut Criterion) {
    bench_in_cache(c);
    bench_store(c, "memory_store", Arc::new(MemoryStore::new()), false);
    let dir = std::env::temp_dir().join(format!("ufh-bench-stores-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ns = Namespace::of_text("bench");
    let redb = RedbStore::open(dir.join("fec.redb"), &ns).unwrap();
    bench_store(c, "redb", Arc::new(redb), true);
    // Redis as the distribution packages it, on loopback, without AOF (its
    // durability is the server's setting, not the client's cost).
    let server = LocalRedis::start(dir.join("redis"), false)
        .expect("redis-server is installed (.ci/run installs it)");
    let redis = RedisStore::open(&server.url(0), &ns).unwrap();
    bench_store(c, "redis", Arc::new(redis), true);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, stores);
