//! Functional hashing throughput against XXH3-64 over the same bytes.
//!
//! The baseline hashes the raw little-endian bytes of the values, prepared outside
//! the timed loop; `ufh` starts from the float slice, truncates every value to its
//! canonical word and mixes the words with XXH3. The ratio of the two is the cost of
//! truncation and canonicalisation.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use twox_hash::XxHash3_64;
use ufh_core::{FunctionalHasher, MantissaBits};

const SIZES: [usize; 4] = [4, 64, 4096, 1 << 20];

/// Exactly representable, varied values: no NaN, mixed signs and exponents.
fn values(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i as f64) * 0.618_033_988_75).fract() * 2.0 - 1.0 + (i % 13) as f64)
        .collect()
}

fn hash_f64(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash_f64");
    let m = MantissaBits::f64(24).expect("24 bits fit an f64");
    for n in SIZES {
        let xs = values(n);
        let bytes: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("xxh3_64", n), &bytes, |b, bytes| {
            b.iter(|| XxHash3_64::oneshot(black_box(bytes)))
        });
        group.bench_with_input(BenchmarkId::new("ufh_64", n), &xs, |b, xs| {
            b.iter(|| {
                let mut hasher = FunctionalHasher::new(m);
                hasher.push_f64s(black_box(xs));
                hasher.finish()
            })
        });
        group.bench_with_input(BenchmarkId::new("ufh_128", n), &xs, |b, xs| {
            b.iter(|| {
                let mut hasher = FunctionalHasher::new_128(m);
                hasher.push_f64s(black_box(xs));
                hasher.finish()
            })
        });
    }
    group.finish();
}

fn hash_f32(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash_f32");
    let m = MantissaBits::f32(12).expect("12 bits fit an f32");
    for n in SIZES {
        let xs: Vec<f32> = values(n).into_iter().map(|x| x as f32).collect();
        let bytes: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("xxh3_64", n), &bytes, |b, bytes| {
            b.iter(|| XxHash3_64::oneshot(black_box(bytes)))
        });
        group.bench_with_input(BenchmarkId::new("ufh_64", n), &xs, |b, xs| {
            b.iter(|| {
                let mut hasher = FunctionalHasher::new(m);
                hasher.push_f32s(black_box(xs));
                hasher.finish()
            })
        });
    }
    group.finish();
}

/// One value at a time, as a candidate emitting outputs in its inner loop would.
fn hash_f64_one_by_one(c: &mut Criterion) {
    let mut group = c.benchmark_group("hash_f64_one_by_one");
    let m = MantissaBits::f64(24).expect("24 bits fit an f64");
    let n = 4096;
    let xs = values(n);
    group.throughput(Throughput::Bytes(8 * n as u64));
    group.bench_function(BenchmarkId::new("ufh_64_push_each", n), |b| {
        b.iter(|| {
            let mut hasher = FunctionalHasher::new(m);
            for &x in black_box(&xs) {
                hasher.push_f64(x);
            }
            hasher.finish()
        })
    });
    group.finish();
}

criterion_group!(benches, hash_f64, hash_f32, hash_f64_one_by_one);
