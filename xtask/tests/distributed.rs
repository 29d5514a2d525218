//! Fault tests of the distributed search with real processes and a real Redis on
//! loopback: a worker killed with SIGKILL, Redis killed and restarted, the
//! coordinator killed and resumed. Each run must end with the record of the same
//! search run in one process, byte for byte: nothing lost, nothing counted twice.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ufh_search::redis::LocalRedis;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// A folder of this test's own, empty.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ufh-dist-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The search every test runs: the small table, 25 ms per evaluation.
const SEARCH: [&str; 8] = [
    "--table",
    "small",
    "--cost-ms",
    "25",
    "--candidates",
    "160",
    "--batch",
    "4",
];

/// The in-process record of [`SEARCH`].
fn expected_record(dir: &Path) -> Vec<u8> {
    let path = dir.join("in-process.json");
    let status = xtask()
        .arg("distributed")
        .arg("--in-process")
        .args(SEARCH)
        .arg("--record")
        .arg(&path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(path).unwrap()
}

fn coordinator(url: &str, record: &Path, extra: &[&str]) -> Child {
    xtask()
        .args(["distributed", "--redis", url])
        .args(SEARCH)
        .arg("--record")
        .arg(record)
        .args(["--give-up-after-s", "120"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn worker(url: &str, name: &str) -> Child {
    xtask()
        .args([
            "worker",
            "--redis",
            url,
            "--table",
            "small",
            "--cost-ms",
            "25",
        ])
        .args([
            "--name",
            name,
            "--reclaim-after-s",
            "1",
            "--idle-exit-s",
            "4",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for `child` and returns its standard output; fails on an error exit.
fn finish(child: Child) -> String {
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn kill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// `redis-cli` against the test's server.
fn redis_cli(redis: &LocalRedis, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "--raw"])
        .args(args)
        .output()
        .expect("redis-cli (the distribution's redis-tools) is installed");
    String::from_utf8(output.stdout).unwrap()
}

/// Jobs taken by a worker and not yet acknowledged.
fn pending_jobs(redis: &LocalRedis) -> u64 {
    let keys = redis_cli(redis, &["--scan", "--pattern", "ufh:*:jobs"]);
    let Some(key) = keys.lines().next() else {
        return 0;
    };
    let summary = redis_cli(redis, &["XPENDING", key, "workers"]);
    summary
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// The number after `label` in a worker's summary line.
fn count_after(text: &str, label: &str) -> u64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"));
    text[at + label.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_worker_killed_mid_evaluation_loses_nothing_and_counts_nothing_twice() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("worker-kill");
    let expected = expected_record(&dir);
    let redis = LocalRedis::start(dir.join("redis"), true).unwrap();
    let url = redis.url(0);
    let record = dir.join("distributed.json");
    let run = coordinator(&url, &record, &["--fresh"]);
    // Kill the first worker while it holds a job; if it happened to be between
    // jobs, start another and try again.
    let started = Instant::now();
    loop {
        let mut doomed = worker(&url, "doomed");
        std::thread::sleep(Duration::from_millis(300));
        let holding = pending_jobs(&redis) > 0;
        kill(&mut doomed);
        if holding && pending_jobs(&redis) > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never caught a worker mid-job"
        );
    }
    let survivor = worker(&url, "survivor");
    let coordinator_out = finish(run);
    let survivor_out = finish(survivor);
    assert!(
        count_after(&survivor_out, "reclaimed") >= 1,
        "{survivor_out}"
    );
    assert_eq!(
        std::fs::read(&record).unwrap(),
        expected,
        "{coordinator_out}"
    );
    // Every job was answered once.
    assert_eq!(
        count_after(&coordinator_out, "sent"),
        count_after(&coordinator_out, "answers taken"),
        "{coordinator_out}"
    );
    drop(redis);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_redis_killed_and_restarted_mid_run_with_aof_loses_nothing() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("redis-restart");
    let expected = expected_record(&dir);
    let mut redis = LocalRedis::start(dir.join("redis"), true).unwrap();
    let url = redis.url(0);
    let record = dir.join("distributed.json");
    let workers = [worker(&url, "a"), worker(&url, "b")];
    let run = coordinator(&url, &record, &["--fresh"]);
    std::thread::sleep(Duration::from_millis(700));
    redis.kill();
    assert!(!record.exists(), "the run ended before Redis was killed");
    std::thread::sleep(Duration::from_millis(1_000));
    redis.restart().unwrap();
    let coordinator_out = finish(run);
    for w in workers {
        finish(w);
    }
    assert_eq!(
        std::fs::read(&record).unwrap(),
        expected,
        "{coordinator_out}"
    );
    drop(redis);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_coordinator_killed_and_resumed_ends_as_if_never_killed() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("coordinator-kill");
    let expected = expected_record(&dir);
    let redis = LocalRedis::start(dir.join("redis"), true).unwrap();
    let url = redis.url(0);
    let record = dir.join("distributed.json");
    let checkpoint = dir.join("run.ckpt");
    let ckpt = checkpoint.to_str().unwrap();
    let workers = [worker(&url, "a"), worker(&url, "b")];
    let mut first = coordinator(&url, &record, &["--fresh", "--checkpoint", ckpt]);
    std::thread::sleep(Duration::from_millis(600));
    kill(&mut first);
    assert!(
        checkpoint.exists(),
        "no checkpoint was written before the kill: {:?}",
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    assert!(!record.exists(), "the run finished before it was killed");
    let resumed = coordinator(&url, &record, &["--checkpoint", ckpt, "--resume"]);
    let out = finish(resumed);
    for w in workers {
        finish(w);
    }
    assert_eq!(std::fs::read(&record).unwrap(), expected, "{out}");
    drop(redis);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_cache_in_a_redb_file_outlives_the_run_that_filled_it() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("fec-file");
    let file = dir.join("fec.redb");
    let run = || {
        let output = xtask()
            .args([
                "distributed",
                "--in-process",
                "--table",
                "small",
                "--cost-ms",
                "1",
            ])
            .args(["--candidates", "100", "--fec-file"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let first = run();
    let second = run();
    assert!(!first.contains(", 0 evaluations"), "{first}");
    // The same search again finds every function in the file: nothing is
    // evaluated, and it finds the same best model.
    assert!(
        second.contains(", 0 evaluations") && second.contains("hit rate 100.0%"),
        "{second}"
    );
    let best = |report: &str| {
        report
            .lines()
            .find(|l| l.starts_with("best"))
            .map(str::to_string)
    };
    assert_eq!(best(&first), best(&second));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_live_worker_slower_than_the_reclaim_timeout_keeps_its_jobs() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("slow");
    let redis = LocalRedis::start(dir.join("redis"), false).unwrap();
    let url = redis.url(0);
    // Each evaluation takes 1.2 s, above the workers' 1 s reclaim timeout; one job
    // at a time, so the other worker is idle and looking for stalled jobs.
    let slow = [
        "--table",
        "small",
        "--cost-ms",
        "1200",
        "--candidates",
        "3",
        "--batch",
        "1",
    ];
    let worker = |name: &str| {
        xtask()
            .args([
                "worker",
                "--redis",
                &url,
                "--table",
                "small",
                "--cost-ms",
                "1200",
            ])
            .args([
                "--name",
                name,
                "--reclaim-after-s",
                "1",
                "--idle-exit-s",
                "2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let workers = [worker("a"), worker("b")];
    let coordinator = xtask()
        .args(["distributed", "--redis", &url, "--fresh"])
        .args(slow)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let report = finish(coordinator);
    assert_eq!(count_after(&report, "sent again"), 0, "{report}");
    for w in workers {
        let out = finish(w);
        assert_eq!(count_after(&out, "reclaimed"), 0, "{out}");
        assert_eq!(count_after(&out, "duplicates skipped"), 0, "{out}");
    }
    drop(redis);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Keys of FEC entries in the test's server.
fn stored_entries(redis: &LocalRedis) -> usize {
    redis_cli(redis, &["--scan", "--pattern", "ufh:*:fec:*"])
        .lines()
        .count()
}

#[test]
fn a_coordinator_that_gives_up_fails_and_stores_nothing() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("give-up");
    let expected = expected_record(&dir);
    let redis = LocalRedis::start(dir.join("redis"), false).unwrap();
    let url = redis.url(0);
    let record = dir.join("distributed.json");
    // No worker runs: the first batch is never answered.
    let output = xtask()
        .args(["distributed", "--redis", &url, "--fresh"])
        .args(SEARCH)
        .arg("--record")
        .arg(&record)
        .args(["--give-up-after-s", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit 0 after giving up: {stderr}");
    assert!(
        stderr.contains("unanswered") && stderr.contains("job queue"),
        "{stderr}"
    );
    assert!(!record.exists(), "a record was written after giving up");
    assert_eq!(stored_entries(&redis), 0, "a give-up was cached");
    // A later run in the same namespace, with workers, is the in-process run.
    let workers = [worker(&url, "a"), worker(&url, "b")];
    let out = finish(coordinator(&url, &record, &[]));
    for w in workers {
        finish(w);
    }
    assert_eq!(std::fs::read(&record).unwrap(), expected, "{out}");
    drop(redis);
    std::fs::remove_dir_all(dir).unwrap();
}

fn in_process(record: &Path, extra: &[&str]) -> Child {
    xtask()
        .args(["distributed", "--in-process"])
        .args(SEARCH)
        .arg("--record")
        .arg(record)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn an_in_process_run_killed_and_resumed_keeps_its_cache() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("in-process-kill");
    let expected = expected_record(&dir);
    let record = dir.join("resumed.json");
    let checkpoint = dir.join("run.ckpt");
    let ckpt = checkpoint.to_str().unwrap();
    let mut kills = 0;
    let mut delay = 300;
    let mut extra = vec!["--checkpoint", ckpt];
    loop {
        let mut run = in_process(&record, &extra);
        std::thread::sleep(Duration::from_millis(delay));
        if run.try_wait().unwrap().is_some() {
            finish(run);
            break;
        }
        kill(&mut run);
        kills += 1;
        delay += 150;
        extra = vec!["--checkpoint", ckpt, "--resume"];
    }
    assert!(kills >= 2, "only {kills} kills landed mid-run");
    assert_eq!(std::fs::read(&record).unwrap(), expected);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_checkpoint_is_neither_overwritten_nor_resumed_by_another_search() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("checkpoint-guard");
    let checkpoint = dir.join("run.ckpt");
    let ckpt = checkpoint.to_str().unwrap();
    let record = dir.join("record.json");
    let run = |extra: &[&str]| {
        xtask()
            .args(["distributed", "--in-process", "--cost-ms", "0"])
            .args(["--candidates", "40", "--checkpoint", ckpt])
            .args(extra)
            .arg("--record")
            .arg(&record)
            .output()
            .unwrap()
    };
    assert!(run(&["--table", "small"]).status.success());
    let before = std::fs::read(&checkpoint).unwrap();
    let again = run(&["--table", "small"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    assert_eq!(std::fs::read(&checkpoint).unwrap(), before, "overwritten");
    let other = run(&["--table", "large", "--resume"]);
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(
        !other.status.success(),
        "resumed another table's checkpoint"
    );
    assert!(
        stderr.contains("another search") && stderr.contains("settings"),
        "{stderr}"
    );
    // A damaged checkpoint is refused by name.
    let mut damaged = before.clone();
    damaged[before.len() / 2] ^= 0x10;
    std::fs::write(&checkpoint, &damaged).unwrap();
    let refused = run(&["--table", "small", "--resume"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("run.ckpt") && stderr.contains("damaged"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Processes still running whose command line contains `needle` or whose
/// working folder is `cwd` (a redis-server works in its --dir).
fn survivors(needle: &str, cwd: &Path) -> Vec<String> {
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let in_dir = std::fs::read_link(path.join("cwd")).is_ok_and(|d| d == cwd);
        if cmdline.contains(needle) || in_dir {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn a_killed_local_redis_coordinator_leaves_nothing_running_and_resumes_its_cache() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("local-redis");
    let expected = expected_record(&dir);
    let record = dir.join("resumed.json");
    let checkpoint = dir.join("run.ckpt");
    let ckpt = checkpoint.to_str().unwrap();
    let redis_dir = dir.join("run.ckpt.redis");
    let local = |extra: &[&str]| {
        xtask()
            .args(["distributed", "--local-redis", "--spawn-workers", "2"])
            // SEARCH at 100 ms an evaluation (the wall cost changes no result),
            // so that the kill lands mid-run.
            .args(["--table", "small", "--cost-ms", "100"])
            .args(["--candidates", "160", "--batch", "4"])
            .arg("--record")
            .arg(&record)
            .args(["--checkpoint", ckpt])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = local(&[]);
    let pid = first.id();
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(
        first.try_wait().unwrap().is_none(),
        "the run ended too soon"
    );
    kill(&mut first);
    // Its redis-server and workers die with it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let workers = format!("local-{pid}-");
    while !survivors(&workers, &redis_dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            survivors(&workers, &redis_dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(checkpoint.exists() && !record.exists());
    // Resumed on the server files beside the checkpoint, it ends as the
    // uninterrupted run.
    let out = finish(local(&["--resume"]));
    assert_eq!(std::fs::read(&record).unwrap(), expected, "{out}");
    // Without those files a resume is refused: the cache would be gone.
    std::fs::remove_dir_all(&redis_dir).unwrap();
    let refused = local(&["--resume"]).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("run.ckpt.redis") && stderr.contains("gone"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fresh_refuses_a_namespace_in_use_and_mismatched_settings_are_named() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("in-use");
    let redis = LocalRedis::start(dir.join("redis"), false).unwrap();
    let url = redis.url(0);
    // A coordinator of the small table, whose only worker serves the large one.
    let first = xtask()
        .args(["distributed", "--redis", &url, "--fresh"])
        .args(SEARCH)
        .args(["--give-up-after-s", "13"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stray = xtask()
        .args(["worker", "--redis", &url, "--table", "large"])
        .args(["--name", "stray", "--idle-exit-s", "12"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first coordinator has announced itself, a second one may not
    // wipe the namespace it uses.
    let started = Instant::now();
    while redis_cli(&redis, &["--scan", "--pattern", "ufh:*:coordinator:*"])
        .trim()
        .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the coordinator never announced itself"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = xtask()
        .args(["distributed", "--redis", &url, "--fresh"])
        .args(SEARCH)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "--fresh wiped a namespace in use");
    assert!(stderr.contains("in use by the coordinator"), "{stderr}");
    // Both sides say why nothing happens, naming the other namespace.
    let first = first.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success());
    assert!(
        stderr.contains("no worker runs for namespace") && stderr.contains("other settings"),
        "{stderr}"
    );
    let stray = stray.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&stray.stderr);
    assert!(
        stderr.contains("no coordinator runs for namespace") && stderr.contains("other settings"),
        "{stderr}"
    );
    drop(redis);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs `command` to its end, keeping a copy of the checkpoint `checkpoint` as
/// it was some way into the run: the state of a coordinator killed then, whose
/// cache went on to hold every entry of the rest of the run.
fn run_keeping_an_early_checkpoint(mut command: Command, checkpoint: &Path) -> Vec<u8> {
    let mut run = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut early = None;
    while run.try_wait().unwrap().is_none() {
        if early.is_none()
            && started.elapsed() > Duration::from_millis(600)
            && let Ok(bytes) = std::fs::read(checkpoint)
        {
            early = Some(bytes);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = run.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    early.expect("the run lasted past its first checkpoints")
}

#[test]
fn a_coordinator_resumed_behind_its_store_ends_as_if_never_killed() {
    if !support::slow_tier() {
        return;
    }
    let dir = temp_dir("behind-store");
    let expected = expected_record(&dir);
    let record = dir.join("resumed.json");
    let checkpoint = dir.join("run.ckpt");
    let ckpt = checkpoint.to_str().unwrap();
    let fec = dir.join("fec.redb");
    let fec = fec.to_str().unwrap();
    // The cache in a redb file.
    let mut first = xtask();
    first
        .args(["distributed", "--in-process", "--fec-file", fec])
        .args(SEARCH)
        .args(["--checkpoint", ckpt]);
    let early = run_keeping_an_early_checkpoint(first, &checkpoint);
    std::fs::write(&checkpoint, &early).unwrap();
    let out = finish(in_process(
        &record,
        &["--fec-file", fec, "--checkpoint", ckpt, "--resume"],
    ));
    assert_eq!(std::fs::read(&record).unwrap(), expected, "redb: {out}");
    // The cache in Redis, the evaluations on workers.
    let redis = LocalRedis::start(dir.join("redis"), false).unwrap();
    let url = redis.url(0);
    let _ = std::fs::remove_file(&checkpoint);
    let _ = std::fs::remove_file(&record);
    let workers = [worker(&url, "a"), worker(&url, "b")];
    let mut first = xtask();
    first
        .args(["distributed", "--redis", &url, "--fresh"])
        .args(SEARCH)
        .args(["--checkpoint", ckpt]);
    let early = run_keeping_an_early_checkpoint(first, &checkpoint);
    std::fs::write(&checkpoint, &early).unwrap();
    let out = finish(coordinator(
        &url,
        &record,
        &["--checkpoint", ckpt, "--resume"],
    ));
    for w in workers {
        finish(w);
    }
    assert_eq!(std::fs::read(&record).unwrap(), expected, "redis: {out}");
    drop(redis);
    std::fs::remove_dir_all(dir).unwrap();
}
