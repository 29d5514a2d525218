//! `cargo xtask distributed` (the coordinator) and `cargo xtask worker`: one
//! search over the embedded NAS table whose evaluations run in worker processes,
//! on this machine or others, through Redis.
//!
//! Each evaluation is the table's look-up plus `--cost-ms` of wall time, which
//! stands for training the model on the worker. The coordinator holds the
//! algorithm (regularized evolution) and FEC, whose entries live in Redis, so
//! every search of the same settings on any machine hits what the others
//! evaluated. `--in-process` runs the same search without Redis: its record is
//! the one the distributed run must reproduce.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ufh_search::Mode;
use ufh_search::redis::presence::{self, Presence, Role};
use ufh_search::redis::{LocalRedis, RedisEvaluator, RedisStore, Worker, WorkerConfig};
use ufh_search::{
    Budget, Checkpoints, Evaluation, Evaluator, EvolutionConfig, FecStore, MemoryStore, Namespace,
    RedbStore, Replacement, Search, SearchRecord, SearchRng, Techniques,
};
use ufh_spaces::nasbench101::Cell;
use ufh_spaces::nasbench101::embedded::EmbeddedTable;
use ufh_spaces::nasbench101::{
    ModelTable, RepeatChoice, TableEvaluator, TableEvaluatorConfig, TableHasher, TableHasherConfig,
};

use crate::say;

/// The search's settings that decide its results (and so its namespace).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Setup {
    /// The embedded NAS table: small (2,532 cells) or large (64,542 cells).
    #[arg(long, default_value = "large")]
    table: String,
    /// Wall milliseconds each evaluation takes on a worker (standing for
    /// training; at most one hour).
    #[arg(long, default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    cost_ms: u64,
}

/// The evaluator: the table's look-up after `cost` of wall time.
struct Paced<'t> {
    inner: TableEvaluator<'t, ModelTable>,
    cost: Duration,
}

impl Evaluator<Cell> for Paced<'_> {
    fn evaluate(&self, candidate: &Cell, rng: &mut SearchRng) -> Evaluation {
        std::thread::sleep(self.cost);
        self.inner.evaluate(candidate, rng)
    }
}

const EVALUATOR: TableEvaluatorConfig = TableEvaluatorConfig {
    repeat: RepeatChoice::Random,
    ..TableEvaluatorConfig::PAPER
};

const EVOLUTION: EvolutionConfig = EvolutionConfig {
    population_size: 50,
    tournament_size: 10,
    replacement: Replacement::Oldest,
};

/// The loaded setup: table, evaluator settings, namespace.
struct Loaded {
    table: EmbeddedTable,
    namespace: Namespace,
    cost: Duration,
}

impl Setup {
    fn load(&self) -> anyhow::Result<Loaded> {
        let table = EmbeddedTable::named(&self.table)
            .with_context(|| format!("--table {:?}: expected small or large", self.table))?;
        // The wall cost changes no result, so workers of any pace share it.
        let settings = serde_json::to_string(&(
            "ufh nas-table evolution",
            &self.table,
            table.metadata(),
            EVALUATOR,
            TableHasherConfig::PAPER,
        ))?;
        Ok(Loaded {
            namespace: Namespace::of_text(&settings),
            cost: Duration::from_millis(self.cost_ms),
            table,
        })
    }
}

impl Loaded {
    fn evaluator(&self) -> anyhow::Result<Paced<'_>> {
        Ok(Paced {
            inner: EVALUATOR.build(self.table.table())?,
            cost: self.cost,
        })
    }

    fn hasher(&self) -> anyhow::Result<TableHasher<'_, ModelTable>> {
        Ok(TableHasherConfig::PAPER.build(self.table.table())?)
    }
}

/// `cargo xtask worker`.
#[derive(Debug, clap::Args)]
pub(crate) struct WorkerArgs {
    /// The Redis server, e.g. redis://10.0.0.5:6379/0 or, with a password,
    /// redis://:PASSWORD@10.0.0.5:6379/0 (better given in UFH_REDIS_URL, which
    /// other users of the machine cannot read from the process list).
    #[arg(long, env = "UFH_REDIS_URL", hide_env_values = true)]
    redis: String,
    #[command(flatten)]
    setup: Setup,
    /// This worker's name in the consumer group (default: host name and pid).
    #[arg(long)]
    name: Option<String>,
    /// Seconds a stopped worker's job waits before this one takes it (a live
    /// worker's heartbeat keeps its job, however long it evaluates).
    #[arg(long, default_value_t = 30.0)]
    reclaim_after_s: f64,
    /// Exit after this many seconds without a job (default: never).
    #[arg(long)]
    idle_exit_s: Option<f64>,
    /// Exit after this many jobs.
    #[arg(long)]
    max_jobs: Option<u64>,
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "host".into(), |h| h.trim().to_string())
}

fn seconds(flag: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("{flag} {s}: not a duration"))
}

/// `UFH_REDIS_CA`, if set: the PEM file of the certificate authority that
/// `rediss://` servers' certificates are checked against (else the system's).
fn trust_ca_from_env() -> anyhow::Result<()> {
    if let Some(path) = std::env::var_os("UFH_REDIS_CA") {
        let pem = std::fs::read(&path)
            .with_context(|| format!("UFH_REDIS_CA {}", PathBuf::from(&path).display()))?;
        ufh_search::redis::trust_certificate_authority(pem);
    }
    Ok(())
}

pub(crate) fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    trust_ca_from_env()?;
    let loaded = args.setup.load()?;
    let evaluator = loaded.evaluator()?;
    let name = args
        .name
        .unwrap_or_else(|| format!("{}-{}", host_name(), std::process::id()));
    let config = WorkerConfig {
        name: name.clone(),
        reclaim_after: seconds("--reclaim-after-s", args.reclaim_after_s)?,
        idle_exit: args
            .idle_exit_s
            .map(|s| seconds("--idle-exit-s", s))
            .transpose()?,
        max_jobs: args.max_jobs,
        on_stall: Some(|why| eprintln!("worker: waiting for jobs: {why}")),
    };
    eprintln!(
        "worker {name}: namespace {} on {}",
        loaded.namespace,
        ufh_search::redis::redacted(&args.redis)
    );
    let stats = Worker::new(&args.redis, &loaded.namespace, &evaluator, config)?.run()?;
    say!(
        "worker {name}: evaluated {}, reclaimed {}, duplicates skipped {}, unreadable {}",
        stats.evaluated,
        stats.reclaimed,
        stats.duplicates,
        stats.unreadable
    );
    Ok(())
}

/// `cargo xtask distributed`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The Redis server, e.g. redis://10.0.0.5:6379/0.
    #[arg(long, conflicts_with_all = ["local_redis", "in_process"])]
    redis: Option<String>,
    /// Start a redis-server of this machine's packages on loopback for the run.
    #[arg(long, conflicts_with = "in_process")]
    local_redis: bool,
    /// Run the same search in this process, without Redis (the baseline).
    #[arg(long)]
    in_process: bool,
    /// With --in-process: keep the cache in this redb file, so that a later run
    /// (of any seed) finds what this one evaluated.
    #[arg(long, value_name = "PATH", requires = "in_process")]
    fec_file: Option<PathBuf>,
    /// Worker processes to start on this machine (0: workers run elsewhere).
    #[arg(long, default_value_t = 0)]
    spawn_workers: usize,
    #[command(flatten)]
    setup: Setup,
    /// Candidates in the search.
    #[arg(long, default_value_t = 400)]
    candidates: u64,
    /// Candidates proposed and evaluated together (the record depends on it).
    #[arg(long, default_value_t = NonZeroUsize::new(4).expect("non-zero"))]
    batch: NonZeroUsize,
    /// Threads of the in-process run (its record does not depend on them).
    #[arg(long, default_value_t = NonZeroUsize::MIN)]
    jobs: NonZeroUsize,
    /// The search's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The baseline: no functional equivalence cache.
    #[arg(long)]
    no_fec: bool,
    /// Checkpoint to this file after every batch.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Continue from --checkpoint.
    #[arg(long, requires = "checkpoint")]
    resume: bool,
    /// Delete the namespace's cache entries, jobs and answers first.
    #[arg(long, conflicts_with = "resume")]
    fresh: bool,
    /// Write the final record here as JSON.
    #[arg(long)]
    record: Option<PathBuf>,
    /// Give up (an error) when a batch has waited this many seconds for workers.
    #[arg(long, default_value_t = 86_400.0)]
    give_up_after_s: f64,
    /// Send a job again when it has waited this many seconds without an answer
    /// (a job lost with a Redis that lost writes).
    #[arg(long, default_value_t = 600.0)]
    resend_after_s: f64,
}

/// Worker processes started by the coordinator, killed when it ends.
struct Spawned(Vec<Child>);

impl Drop for Spawned {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    // Everything that can be checked is, before any work.
    trust_ca_from_env()?;
    let give_up_after = seconds("--give-up-after-s", args.give_up_after_s)?;
    let resend_after = seconds("--resend-after-s", args.resend_after_s)?;
    if let Some(path) = &args.record {
        crate::check_writable(path, "--record")?;
    }
    if let Some(path) = &args.checkpoint {
        crate::check_checkpoint(path, args.resume)?;
    }
    let loaded = args.setup.load()?;
    let space = loaded.table.space();
    let hasher = loaded.hasher()?;
    let techniques = if args.no_fec {
        Techniques::NONE
    } else {
        Techniques::FEC
    };
    let budget = Budget::Candidates(args.candidates);
    let bar = crate::common::progress::progress_bar(args.candidates as usize, "candidates");
    let progress = crate::common::progress::Progress(bar.clone());
    let started = Instant::now();
    let (record, coordinator) = if args.in_process {
        let evaluator = loaded.evaluator()?;
        // The cache in a store of this process: the same rule for equivalent
        // candidates in flight together as the Redis store's (the first result
        // written wins), so this run is the exact model of the distributed one.
        let store: Arc<dyn FecStore> = match &args.fec_file {
            Some(path) => Arc::new(RedbStore::open(path, &loaded.namespace)?),
            None => Arc::new(MemoryStore::new()),
        };
        let search = Search::new(&space, &evaluator, budget, args.seed)
            .hasher(&hasher)
            .techniques(techniques)?
            .cache_store(store)
            .stream_events(&progress);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(args.jobs.get())
            .build()?;
        let record = pool.install(|| run_search(&search, &args, &loaded.namespace))?;
        (record, None)
    } else {
        let mut local = None;
        let url = match (&args.redis, args.local_redis) {
            (Some(url), _) => url.clone(),
            (None, true) => {
                let (server, dir) = local_redis(&args)?;
                let url = server.url(0);
                local = Some((server, dir));
                url
            }
            (None, false) => anyhow::bail!("give --redis URL, --local-redis or --in-process"),
        };
        let store = Arc::new(RedisStore::open(&url, &loaded.namespace)?);
        let mut evaluator = RedisEvaluator::<Cell>::open(&url, &loaded.namespace)?;
        evaluator.give_up_after = give_up_after;
        evaluator.resend_after = resend_after;
        evaluator.on_stall = Some(|why| eprintln!("coordinator: waiting for answers: {why}"));
        // Announced for as long as it runs, so that another coordinator's --fresh
        // does not wipe the namespace under it.
        let me = format!("{}-{}", host_name(), std::process::id());
        let presence = Presence::announce(&url, &loaded.namespace, Role::Coordinator, &me)?;
        if args.fresh {
            let others: Vec<String> = presence::present(&url, Role::Coordinator)?
                .into_iter()
                .filter(|(ns, name)| ns == loaded.namespace.as_str() && *name != me)
                .map(|(_, name)| name)
                .collect();
            if !others.is_empty() {
                anyhow::bail!(
                    "--fresh: namespace {} is in use by the coordinator(s) {}; stop them \
                     (or wait {} s after they stopped) before wiping it",
                    loaded.namespace,
                    others.join(", "),
                    presence::LEASE.as_secs()
                );
            }
            store.clear()?;
            evaluator.clear()?;
        }
        let _workers = Spawned(
            (0..args.spawn_workers)
                .map(|i| spawn_worker(&url, &args.setup, i))
                .collect::<anyhow::Result<_>>()?,
        );
        say!(
            "coordinator: namespace {} on {}, {} local worker(s)",
            loaded.namespace,
            ufh_search::redis::redacted(&url),
            args.spawn_workers
        );
        let mut search = Search::new(&space, &evaluator, budget, args.seed)
            .hasher(&hasher)
            .techniques(techniques)?
            .stream_events(&progress);
        if !args.no_fec {
            search = search.cache_store(store);
        }
        let record = run_search(&search, &args, &loaded.namespace).context(
            "the search stopped; its checkpoint (if any) and every stored evaluation are kept",
        )?;
        drop(presence);
        if let Some((server, dir)) = local {
            drop(server);
            // A run with a checkpoint keeps its server's files beside it (a later
            // --resume finds its cache there); a run without one leaves nothing.
            if let LocalDir::Temporary(dir) = dir {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        (record, Some(evaluator.stats()))
    };
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    let counters = record.cache.unwrap_or_default();
    let evaluations = record.n_events - counters.full_hits;
    say!(
        "{} candidates in {wall_s:.2} s: {:.1} candidates/s, {evaluations} evaluations ({:.1}/s), hit rate {}",
        record.n_events,
        record.n_events as f64 / wall_s,
        evaluations as f64 / wall_s,
        record
            .hit_rate()
            .map_or("-".into(), |r| format!("{:.1}%", 100.0 * r))
    );
    if let Some(best) = record.best.last() {
        say!("best validation accuracy {:.4}", best.validation);
    }
    if let Some(stats) = coordinator {
        say!(
            "jobs: sent {}, sent again {}, answers taken {}, unreadable {}",
            stats.sent,
            stats.resent,
            stats.answered,
            stats.unreadable
        );
    }
    if let Some(path) = &args.record {
        ufh_search::write_atomically(path, &serde_json::to_vec(&record)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Where a `--local-redis` server keeps its files.
enum LocalDir {
    /// Removed when the run ends.
    Temporary(PathBuf),
    /// Beside the checkpoint, kept for `--resume`.
    Kept,
}

/// The `--local-redis` server of a run, with its append-only file beside the
/// checkpoint (`CHECKPOINT.redis/`) when there is one, so that a resumed run finds
/// the cache its first run filled; else in a temporary folder.
fn local_redis(args: &Args) -> anyhow::Result<(LocalRedis, LocalDir)> {
    let Some(checkpoint) = &args.checkpoint else {
        let dir = std::env::temp_dir().join(format!("ufh-redis-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        return Ok((LocalRedis::start(&dir, true)?, LocalDir::Temporary(dir)));
    };
    let mut name = checkpoint.as_os_str().to_owned();
    name.push(".redis");
    let dir = PathBuf::from(name);
    if args.resume && checkpoint.exists() && !dir.join("appendonlydir").is_dir() {
        anyhow::bail!(
            "{}: the local Redis of the run to resume (its cache and jobs) is gone; \
             resume needs it, or start afresh without --resume",
            dir.display()
        );
    }
    if !checkpoint.exists() {
        // A fresh run: files of an older run here belong to no checkpoint.
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok((LocalRedis::start(&dir, true)?, LocalDir::Kept))
}

/// Runs `search` in generations of `--batch`, with checkpoints if asked.
fn run_search<E: Evaluator<Cell> + Sync>(
    search: &Search<'_, ufh_spaces::nasbench101::NasBench101Space, E, TableHasher<'_, ModelTable>>,
    args: &Args,
    namespace: &Namespace,
) -> anyhow::Result<SearchRecord> {
    let algorithm = EVOLUTION.build::<Cell>()?;
    Ok(match &args.checkpoint {
        Some(path) => {
            // The table, the evaluator's and the hasher's settings (the namespace)
            // and where the cache lives are part of what a checkpoint must match.
            let home = match (&args.fec_file, args.in_process) {
                (Some(_), _) => "redb file",
                (None, true) => "memory",
                (None, false) => "redis",
            };
            let checkpoints = Checkpoints::new(path)
                .every_candidates(args.batch.get() as u64)
                .resume(args.resume)
                .settings(Namespace::of_text(&format!(
                    "xtask distributed: namespace {namespace}, evolution {EVOLUTION:?}, cache in {home}"
                )));
            search
                .run_resumable(algorithm, Mode::Parallel(args.batch), &checkpoints)?
                .0
                .record
        }
        None => {
            let mut algorithm = algorithm;
            search
                .run(&mut algorithm, Mode::Parallel(args.batch))?
                .record
        }
    })
}

fn spawn_worker(url: &str, setup: &Setup, i: usize) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("the xtask binary")?;
    // The URL (and any password in it) goes in the environment, not on the
    // command line, which every user of the machine can read.
    let mut command = Command::new(exe);
    ufh_search::redis::die_with_parent(&mut command)
        .env("UFH_REDIS_URL", url)
        .args(["worker", "--table", &setup.table])
        .args(["--cost-ms", &setup.cost_ms.to_string()])
        .args(["--name", &format!("local-{}-{i}", std::process::id())])
        .args(["--reclaim-after-s", "5"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting a worker process")
}
