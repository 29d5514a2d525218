//! Entry point of the `ufh` benchmarks: one module per topic.

use criterion::criterion_main;

mod hashing;
mod nasbench;
mod search_loop;

criterion_main!(hashing::benches, nasbench::benches, search_loop::benches);
