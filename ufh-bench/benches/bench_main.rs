//! Entry point of the `ufh` benchmarks: one module per topic.

use criterion::criterion_main;

mod automl_zero;
mod autorl;
mod hashing;
mod mnas;
mod nasbench;
mod proxies;
mod search_loop;
mod stores;

criterion_main!(
    automl_zero::benches,
    autorl::benches,
    hashing::benches,
    mnas::benches,
    nasbench::benches,
    proxies::benches,
    search_loop::benches,
    stores::benches
);
