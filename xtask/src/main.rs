//! `cargo xtask`: the project's reproducible tasks.
//!
//! * `cargo xtask figures` reproduces the paper's NAS-Bench and AutoML-Zero figures (see
//!   `figures/mod.rs` for the flags and the budget scaling).
//! * `cargo xtask automl-zero` runs AutoML-Zero's linear-regression demo.
//! * `cargo xtask golden` checks ufh-core's golden vectors and prints any row whose
//!   hash differs from the committed one; `--bless` rewrites the committed hashes
//!   after a deliberate change to the hash.
//! * `cargo xtask bench-table` trains the embedded NAS benchmark, resumably.
//! * `cargo xtask nasbench load PATH` loads a NAS-Bench-101 data file and reports
//!   its size, load time and peak memory; `nasbench synth OUT` writes a synthetic
//!   file in the same format to measure the reader without the real data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;

mod automl_zero;
mod bench_table;
mod figures;
mod golden;
mod nasbench;
mod table_stats;

pub(crate) const USAGE: &str = "usage: cargo xtask <task>

tasks:
  figures [--quick] [--nasbench PATH] [--out DIR] [--only NAME...] [--repeats N]
          [--seed S] [--jobs N]
                     reproduce the paper's figures (PNG, SVG, CSV and a summary):
                     NAS on the embedded table, or on NAS-Bench-101 at PATH, and
                     AutoML-Zero (--only names: fig5 ... fig13, automl-zero)
  automl-zero [--seed S] [--no-fec] [--jobs N] [--experiments N] [--mantissa-bits M]
                     AutoML-Zero's demo: evolve linear regression from random
                     code; prints candidates/s, FEC hit rate, individuals needed
  golden [--bless]   check (or rewrite) ufh-core's golden hash vectors
  bench-table [--jobs N] [--limit N] [--journal PATH] [--out PATH]
                     train ufh's embedded NAS benchmark (resumable; see
                     ufh_spaces::embedded)
  table-stats [PATH] models, accuracy range, cost and functional-hash collisions
                     of a table file (default: the embedded one)
  nasbench load PATH [--cache]
                     load a NAS-Bench-101 file; print models, time and peak memory
  nasbench synth OUT [--max-vertices N]
                     write a synthetic file in NAS-Bench-101's exact format: every
                     model of at most N (default 6) vertices, budgets 4/12/36/108,
                     3 repeats, made-up accuracies (for measuring the reader)";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> anyhow::Result<()> {
    let Some((task, rest)) = args.split_first() else {
        bail!("no task given\n\n{USAGE}");
    };
    match task.as_str() {
        "golden" => golden::golden(rest),
        "automl-zero" => automl_zero::run(rest),
        "bench-table" => bench_table::run(rest),
        "table-stats" => table_stats::run(rest),
        "figures" => figures::run(rest),
        "nasbench" => nasbench::run(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
