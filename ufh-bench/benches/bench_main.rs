//! Entry point of the `ufh` benchmarks: one module per topic.

use criterion::criterion_main;

mod hashing;

criterion_main!(hashing::benches);
