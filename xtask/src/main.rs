//! `cargo xtask`: the project's reproducible tasks.
//!
//! * `cargo xtask figures` reproduces the paper's NAS-Bench and AutoML-Zero figures (see
//!   `figures/mod.rs` for the flags and the budget scaling).
//! * `cargo xtask automl-zero` runs AutoML-Zero's linear-regression demo.
//! * `cargo xtask golden` checks ufh-core's golden vectors and prints any row whose
//!   hash differs from the committed one; `--bless` rewrites the committed hashes
//!   after a deliberate change to the hash.
//! * `cargo xtask bench-table` trains an embedded NAS benchmark, resumably.
//! * `cargo xtask nasbench load PATH` loads a NAS-Bench-101 data file and reports
//!   its size, load time and peak memory; `nasbench synth OUT` writes a synthetic
//!   file in the same format to measure the reader without the real data.
//!
//! Command lines are parsed by `clap`: every task and subcommand answers `--help`,
//! and an unknown flag or a missing value is an error, never a file name.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod automl_zero;
mod autorl;
mod bench_table;
mod common;
mod distributed;
mod eznas;
mod fault_trials;
mod figures;
mod golden;
mod mnas;
mod nasbench;
mod table_stats;
mod tidy;
mod zoo_table;

/// The project's reproducible tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Reproduce the paper's figures (PNG, SVG, CSV and a summary): NAS on an
    /// embedded table or on NAS-Bench-101, and AutoML-Zero.
    Figures(figures::Args),
    /// AutoML-Zero's demo: evolve linear regression from random code; prints
    /// candidates/s, the FEC hit rate and the individuals needed.
    AutomlZero(automl_zero::Args),
    /// AutoRL: evolve RL loss graphs trained by DQN on CartPole and a gridworld;
    /// prints the FEC hit rate, the audit's collisions and the best graph.
    Autorl(autorl::Args),
    /// EZNAS: evolve zero-cost proxies as expression trees over network
    /// statistics, with and without FEC; prints held-out Kendall tau and Spearman rho.
    Eznas(eznas::Args),
    /// MNAS: evolve mobile CNNs on the digits under a latency-aware reward, or
    /// measure the per-layer latency table.
    Mnas(mnas::Args),
    /// Check (or rewrite) ufh-core's golden hash vectors.
    Golden(golden::Args),
    /// Train an embedded NAS benchmark (resumable; see ufh_spaces::embedded).
    BenchTable(bench_table::Args),
    /// Train the seeded sample of a proxy-zoo space (NAS-Bench-201-style cells or
    /// the chain grid) and write its accuracy table into ufh-spaces (resumable).
    ZooTable(zoo_table::Args),
    /// Models, accuracy quantiles, cost and functional-hash collisions of a table
    /// file (default: the embedded default table).
    TableStats(table_stats::Args),
    /// Load NAS-Bench-101 files, write synthetic ones.
    Nasbench(nasbench::Args),
    /// Coordinate one NAS search whose evaluations run in worker processes through
    /// Redis (or, with --in-process, the same search without Redis).
    Distributed(distributed::Args),
    /// Evaluate the jobs of `distributed` coordinators, on this machine or another.
    Worker(distributed::WorkerArgs),
    /// Measure README's failure table: kill the coordinator, a worker or Redis
    /// mid-run at seeded random moments and compare each final record with the
    /// uninterrupted run's.
    FaultTrials(fault_trials::Args),
    /// Check the workspace's shape: setups that import no other, one layout per
    /// setup, no source file over 900 lines.
    Tidy(tidy::Args),
}

/// `f(r, base + r)` for `r` in `0..count` on the current rayon pool, one `r` per
/// job, results in order of `r`. Searches and trainings vary in cost, and rayon's
/// default splitting can leave a core idle behind a run of them that no other
/// thread may steal; one per job costs nothing beside a search.
pub(crate) fn per_seed<T: Send>(
    count: usize,
    base: u64,
    f: impl Fn(usize, u64) -> T + Sync + Send,
) -> Vec<T> {
    use rayon::prelude::*;
    (0..count)
        .into_par_iter()
        .with_max_len(1)
        .map(|r| f(r, base.wrapping_add(r as u64)))
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Figures(args) => figures::run(args),
        Task::AutomlZero(args) => automl_zero::run(args),
        Task::Autorl(args) => autorl::run(args),
        Task::Eznas(args) => eznas::run(args),
        Task::Mnas(args) => mnas::run(args),
        Task::Golden(args) => golden::golden(args),
        Task::BenchTable(args) => bench_table::run(args),
        Task::ZooTable(args) => zoo_table::run(args),
        Task::TableStats(args) => table_stats::run(args),
        Task::Nasbench(args) => nasbench::run(args),
        Task::Distributed(args) => distributed::run(args),
        Task::Worker(args) => distributed::worker(args),
        Task::FaultTrials(args) => fault_trials::run(args),
        Task::Tidy(args) => tidy::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether an error is a write to a closed pipe (`xtask … | head -1`): the reader
/// has what it wanted, so that is a normal exit.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` that returns the error instead of panicking when stdout is closed,
/// so that `cargo xtask … | head -1` ends quietly (see [`is_broken_pipe`]).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))?
    };
}
pub(crate) use say;

pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")
}

/// The `--jobs` of a task: the number given, or every core.
pub(crate) fn threads(jobs: Option<std::num::NonZeroUsize>) -> usize {
    jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::num::NonZeroUsize::get,
    )
}

/// Peak resident memory of this process, from /proc (Linux), in MiB.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Checks, before any work, that a file can be written at `path` (given by the
/// command-line flag `flag`): its folder exists and takes a new file. The probe
/// file is removed again.
pub(crate) fn check_writable(path: &Path, flag: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        anyhow::bail!("{flag} {}: is a folder, not a file", path.display());
    }
    let probe = dir.join(format!(".ufh-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| {
        anyhow::anyhow!(
            "{flag} {}: cannot write in {}: {e}",
            path.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Checks, before any work, a `--checkpoint` file: writable, and not an
/// existing checkpoint unless the run resumes it.
pub(crate) fn check_checkpoint(path: &Path, resume: bool) -> anyhow::Result<()> {
    check_writable(path, "--checkpoint")?;
    if path.exists() && !resume {
        anyhow::bail!(
            "{} holds a checkpoint: pass --resume to go on from it, or give another file",
            path.display()
        );
    }
    Ok(())
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// `--help` prints help and never runs a task (it once wrote a 468 MB file
    /// named `--help`); unknown flags are rejected.
    #[test]
    fn help_is_help_and_unknown_flags_are_errors() {
        for task in [
            vec!["figures"],
            vec!["automl-zero"],
            vec!["autorl"],
            vec!["eznas"],
            vec!["mnas"],
            vec!["mnas", "search"],
            vec!["mnas", "latency"],
            vec!["golden"],
            vec!["bench-table"],
            vec!["table-stats"],
            vec!["zoo-table"],
            vec!["nasbench"],
            vec!["nasbench", "load"],
            vec!["nasbench", "synth"],
            vec!["distributed"],
            vec!["worker"],
        ] {
            let mut help = vec!["xtask"];
            help.extend(&task);
            help.push("--help");
            let err = Cli::try_parse_from(&help).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{help:?}");
            let mut bad = vec!["xtask"];
            bad.extend(&task);
            bad.push("--no-such-flag");
            let err = Cli::try_parse_from(&bad).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{bad:?}"
            );
        }
    }
}
