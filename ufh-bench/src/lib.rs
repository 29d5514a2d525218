//! Criterion benchmarks of the `ufh` crates. The benchmarks live in `benches/`:
//! `bench_main.rs` gathers one file per topic, and every group measures a baseline
//! beside the `ufh` code it compares against.
//!
//! Run them all with `cargo bench -p ufh-bench`, or quickly (as CI does) with
//! `cargo bench -p ufh-bench -- --quick`.
