//! `cargo xtask fault-trials`: the rows of README's failure table, measured. Each
//! trial runs the distributed search of `cargo xtask distributed` as real
//! processes (this binary), injects one fault at a seeded random moment (SIGKILL
//! of the coordinator, of a worker, or of Redis, which is then restarted from its
//! append-only file) and compares the record the run ends with, byte for byte,
//! with the record of the same search run uninterrupted in one process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rand::{Rng as _, SeedableRng as _};
use ufh_search::SearchRng;
use ufh_search::redis::LocalRedis;

use crate::say;

/// `cargo xtask fault-trials`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Trials per fault.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    trials: u64,
    /// Seed of the moments the faults are injected at.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only the faults whose name contains this (coordinator, redb, memory,
    /// redis, worker).
    #[arg(long)]
    only: Option<String>,
    /// Where the trials' files go [default: a fresh folder in the temp dir].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The xtask binary whose processes are tested [default: this one]: another
    /// build (an older commit, say) is measured the same way, for a
    /// before-and-after in one sitting.
    #[arg(long, value_name = "PATH")]
    xtask: Option<PathBuf>,
}

/// The search of every trial: the small table, 160 candidates in batches of 4,
/// 40 ms of wall time per evaluation (the wall cost changes no result).
const SEARCH: [&str; 8] = [
    "--table",
    "small",
    "--cost-ms",
    "40",
    "--candidates",
    "160",
    "--batch",
    "4",
];

/// The faults, as README's table names them.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The coordinator (FEC in Redis) killed and resumed from its checkpoint.
    CoordinatorRedis,
    /// The coordinator with its cache in a redb file killed and resumed.
    CoordinatorRedb,
    /// The in-process coordinator (cache in memory) killed and resumed.
    CoordinatorMemory,
    /// Redis killed and restarted from its AOF (appendfsync always) mid-run.
    RedisRestart,
    /// One of two workers killed mid-run.
    WorkerKill,
    /// The coordinator (FEC in a redb file) resumed from a checkpoint taken
    /// mid-run, its cache holding every entry of the rest of the run: a kill
    /// between a batch's store writes and its checkpoint, at its extreme.
    BehindStoreRedb,
    /// The same with the cache in Redis and the evaluations on workers.
    BehindStoreRedis,
}

impl Fault {
    const ALL: [Fault; 7] = [
        Fault::CoordinatorRedis,
        Fault::CoordinatorRedb,
        Fault::CoordinatorMemory,
        Fault::RedisRestart,
        Fault::WorkerKill,
        Fault::BehindStoreRedb,
        Fault::BehindStoreRedis,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::CoordinatorRedis => "coordinator killed, FEC in Redis",
            Fault::CoordinatorRedb => "coordinator killed, FEC in a redb file",
            Fault::CoordinatorMemory => "coordinator killed, FEC in memory",
            Fault::RedisRestart => "redis killed and restarted (AOF, appendfsync always)",
            Fault::WorkerKill => "worker killed",
            Fault::BehindStoreRedb => {
                "coordinator resumed behind its store (a mid-run checkpoint), FEC in a redb file"
            }
            Fault::BehindStoreRedis => {
                "coordinator resumed behind its store (a mid-run checkpoint), FEC in Redis"
            }
        }
    }
}

/// How a fault's trials went.
#[derive(Debug, Default)]
struct Tally {
    trials: u64,
    /// Trials whose fault landed mid-run (a run may end before its fault).
    landed: u64,
    /// Trials whose final record equals the uninterrupted one.
    matched: u64,
    failures: Vec<String>,
}

/// The binary under test, set once by [`run`].
static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn xtask() -> anyhow::Result<Command> {
    let binary = match BINARY.get() {
        Some(path) => path.clone(),
        None => std::env::current_exe().context("the xtask binary")?,
    };
    Ok(Command::new(binary))
}

/// Starts `command` with its output in `log` (standard output) and beside it.
fn start(command: &mut Command, log: &Path) -> anyhow::Result<Child> {
    let out = std::fs::File::create(log)?;
    let mut err_path = log.as_os_str().to_owned();
    err_path.push(".err");
    let err = std::fs::File::create(PathBuf::from(err_path))?;
    ufh_search::redis::die_with_parent(command)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .context("starting a process of the trial")
}

fn wait_ok(mut child: Child, what: &str, log: &Path) -> anyhow::Result<()> {
    let status = child.wait()?;
    if !status.success() {
        let mut err_path = log.as_os_str().to_owned();
        err_path.push(".err");
        let stderr = std::fs::read_to_string(PathBuf::from(err_path)).unwrap_or_default();
        bail!("{what} failed ({status}): {}", stderr.trim());
    }
    Ok(())
}

fn kill(child: &mut Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

fn worker(url: &str, name: &str, log: &Path) -> anyhow::Result<Child> {
    start(
        // On loopback without a password, the URL may go on the command line
        // (which every build of the worker takes).
        xtask()?
            .args([
                "worker",
                "--redis",
                url,
                "--table",
                "small",
                "--cost-ms",
                "40",
            ])
            .args([
                "--name",
                name,
                "--reclaim-after-s",
                "1",
                "--idle-exit-s",
                "3",
            ]),
        log,
    )
}

fn coordinator(extra: &[&str], record: &Path, log: &Path) -> anyhow::Result<Child> {
    start(
        xtask()?
            .arg("distributed")
            .args(SEARCH)
            .arg("--record")
            .arg(record)
            .args(["--give-up-after-s", "60"])
            .args(extra),
        log,
    )
}

/// Runs the resumed coordinator (`args` end with `--resume`) to its end.
fn resume(args: &[&str], record: &Path, log: &Path) -> anyhow::Result<()> {
    wait_ok(
        coordinator(args, record, log)?,
        "the resumed coordinator",
        log,
    )
}

/// Sleeps `delay`, then whether `child` is still running (the fault can land).
fn still_running_after(child: &mut Child, delay: Duration) -> anyhow::Result<bool> {
    std::thread::sleep(delay);
    Ok(child.try_wait()?.is_none())
}

/// One trial of `fault` in `dir`: whether the fault landed mid-run, and the
/// final record.
fn trial(fault: Fault, dir: &Path, delay: Duration) -> anyhow::Result<(bool, Vec<u8>)> {
    let record = dir.join("record.json");
    let checkpoint = dir.join("run.ckpt");
    let ckpt = checkpoint.to_str().context("a UTF-8 temp folder")?;
    let log = |name: &str| dir.join(format!("{name}.log"));
    let landed = match fault {
        Fault::CoordinatorMemory | Fault::CoordinatorRedb => {
            let fec_file = dir.join("fec.redb");
            let fec = fec_file.to_str().context("a UTF-8 temp folder")?;
            let mut args = vec!["--in-process", "--checkpoint", ckpt];
            if matches!(fault, Fault::CoordinatorRedb) {
                args.extend(["--fec-file", fec]);
            }
            let mut first = coordinator(&args, &record, &log("first"))?;
            let landed = still_running_after(&mut first, delay)?;
            kill(&mut first);
            if !record.exists() {
                args.push("--resume");
                resume(&args, &record, &log("resumed"))?;
            }
            landed
        }
        Fault::CoordinatorRedis => {
            let redis = LocalRedis::start(dir.join("redis"), true)?;
            let url = redis.url(0);
            let workers = [
                worker(&url, "a", &log("worker-a"))?,
                worker(&url, "b", &log("worker-b"))?,
            ];
            let mut first = coordinator(
                &["--redis", &url, "--fresh", "--checkpoint", ckpt],
                &record,
                &log("first"),
            )?;
            let landed = still_running_after(&mut first, delay)?;
            kill(&mut first);
            if !record.exists() {
                let args = ["--redis", &url, "--checkpoint", ckpt, "--resume"];
                resume(&args, &record, &log("resumed"))?;
            }
            for (w, name) in workers.into_iter().zip(["worker-a", "worker-b"]) {
                wait_ok(w, "a worker", &log(name))?;
            }
            landed
        }
        Fault::RedisRestart => {
            let mut redis = LocalRedis::start(dir.join("redis"), true)?;
            let url = redis.url(0);
            let workers = [
                worker(&url, "a", &log("worker-a"))?,
                worker(&url, "b", &log("worker-b"))?,
            ];
            let mut run = coordinator(&["--redis", &url, "--fresh"], &record, &log("run"))?;
            let landed = still_running_after(&mut run, delay)?;
            redis.kill();
            std::thread::sleep(Duration::from_millis(500));
            redis.restart()?;
            wait_ok(run, "the coordinator", &log("run"))?;
            for (w, name) in workers.into_iter().zip(["worker-a", "worker-b"]) {
                wait_ok(w, "a worker", &log(name))?;
            }
            landed
        }
        Fault::BehindStoreRedb | Fault::BehindStoreRedis => {
            let fec_file = dir.join("fec.redb");
            let fec = fec_file.to_str().context("a UTF-8 temp folder")?;
            let redis = match fault {
                Fault::BehindStoreRedis => Some(LocalRedis::start(dir.join("redis"), true)?),
                _ => None,
            };
            let url = redis.as_ref().map(|r| r.url(0));
            let mut workers = Vec::new();
            let mut args: Vec<&str> = match &url {
                Some(url) => {
                    workers.push(worker(url, "a", &log("worker-a"))?);
                    workers.push(worker(url, "b", &log("worker-b"))?);
                    vec!["--redis", url]
                }
                None => vec!["--in-process", "--fec-file", fec],
            };
            args.extend(["--checkpoint", ckpt]);
            let mut first = coordinator(&args, &dir.join("first.json"), &log("first"))?;
            // The checkpoint as it was `delay` into the run; the run goes on to
            // its end, storing every entry.
            let landed = still_running_after(&mut first, delay)?;
            let early = std::fs::read(&checkpoint).context("the mid-run checkpoint")?;
            wait_ok(first, "the first coordinator", &log("first"))?;
            std::fs::write(&checkpoint, early)?;
            args.push("--resume");
            resume(&args, &record, &log("resumed"))?;
            for w in workers {
                wait_ok(w, "a worker", &log("worker"))?;
            }
            drop(redis);
            landed
        }
        Fault::WorkerKill => {
            let redis = LocalRedis::start(dir.join("redis"), true)?;
            let url = redis.url(0);
            let mut doomed = worker(&url, "doomed", &log("worker-doomed"))?;
            let survivor = worker(&url, "survivor", &log("worker-survivor"))?;
            let mut run = coordinator(&["--redis", &url, "--fresh"], &record, &log("run"))?;
            let landed = still_running_after(&mut run, delay)?;
            kill(&mut doomed);
            wait_ok(run, "the coordinator", &log("run"))?;
            wait_ok(survivor, "the surviving worker", &log("worker-survivor"))?;
            landed
        }
    };
    let bytes = std::fs::read(&record).with_context(|| format!("{}", record.display()))?;
    Ok((landed, bytes))
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    if let Some(binary) = &args.xtask {
        anyhow::ensure!(
            binary.is_file(),
            "--xtask {}: no such binary",
            binary.display()
        );
        let _ = BINARY.set(binary.clone());
    }
    let root = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("ufh-fault-trials-{}", std::process::id())),
    };
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let expected_path = root.join("uninterrupted.json");
    wait_ok(
        coordinator(
            &["--in-process"],
            &expected_path,
            &root.join("uninterrupted.log"),
        )?,
        "the uninterrupted run",
        &root.join("uninterrupted.log"),
    )?;
    let expected = std::fs::read(&expected_path)?;
    let mut rng = SearchRng::seed_from_u64(args.seed);
    let started = Instant::now();
    let faults: Vec<Fault> = Fault::ALL
        .into_iter()
        .filter(|f| {
            args.only
                .as_ref()
                .is_none_or(|o| f.name().contains(o.as_str()))
        })
        .collect();
    let mut rows = Vec::new();
    for fault in faults {
        let mut tally = Tally::default();
        for t in 0..args.trials {
            let dir = root.join(format!("{fault:?}-{t}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            // The runs take about 1.5-3 s: faults land anywhere in their first
            // 1.5 s, after the processes have started.
            let delay = Duration::from_millis(rng.random_range(300..1_800));
            tally.trials += 1;
            match trial(fault, &dir, delay) {
                Ok((landed, record)) => {
                    tally.landed += u64::from(landed);
                    if record == expected {
                        tally.matched += 1;
                        let _ = std::fs::remove_dir_all(&dir);
                    } else {
                        tally.failures.push(format!(
                            "trial {t}: a different record (kept in {})",
                            dir.display()
                        ));
                    }
                }
                Err(e) => tally
                    .failures
                    .push(format!("trial {t}: {e:#} (files in {})", dir.display())),
            }
            eprintln!(
                "{}: trial {}/{}, {} matched so far",
                fault.name(),
                t + 1,
                args.trials,
                tally.matched
            );
        }
        rows.push((fault, tally));
    }
    say!("| fault | trials | fault landed mid-run | record equal to the uninterrupted run's |");
    say!("| --- | --- | --- | --- |");
    for (fault, tally) in &rows {
        say!(
            "| {} | {} | {} | {} of {} |",
            fault.name(),
            tally.trials,
            tally.landed,
            tally.matched,
            tally.trials
        );
    }
    say!(
        "({} s; the search: {}; seed {}; binary {})",
        started.elapsed().as_secs(),
        SEARCH.join(" "),
        args.seed,
        xtask()?.get_program().to_string_lossy()
    );
    let failures: Vec<&String> = rows.iter().flat_map(|(_, t)| &t.failures).collect();
    for failure in &failures {
        eprintln!("{failure}");
    }
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&root);
        Ok(())
    } else {
        bail!(
            "{} trial(s) did not end as the uninterrupted run",
            failures.len()
        )
    }
}
