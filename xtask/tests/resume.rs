//! Long xtask commands killed with SIGKILL and run again with --resume end as an
//! uninterrupted run does.

mod support;
use std::process::{Command, Stdio};
use std::time::Duration;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// The lines of an `automl-zero` report, wall times taken out.
fn without_times(report: &str) -> Vec<String> {
    report
        .lines()
        .map(|line| {
            let line = match (line.find(" in "), line.find("/s), ")) {
                (Some(a), Some(b)) if a < b => format!("{}{}", &line[..a], &line[b + 4..]),
                _ => line.to_string(),
            };
            match line.find(" candidates/s over all searches") {
                Some(at) => line[..line[..at].rfind(',').unwrap_or(at)].to_string(),
                None => line,
            }
        })
        .collect()
}

/// Starts `command`, waits until `ready()` (at most a minute) and `grace` more,
/// and kills it with SIGKILL; fails if it ended by itself first.
fn kill_mid_run(mut command: Command, ready: impl Fn() -> bool, grace: Duration) {
    let mut child = command.stdout(Stdio::null()).spawn().unwrap();
    let started = std::time::Instant::now();
    while !ready() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(grace);
    let finished_early = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!finished_early, "the run ended before it could be killed");
}

/// `command` fails, asking for --resume: checkpoints are not overwritten.
fn refused_without_resume(mut command: Command) {
    let refused = command.output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--resume"));
}

#[test]
fn automl_zero_killed_and_resumed_reports_as_an_uninterrupted_run() {
    if !support::slow_tier() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ufh-resume-az-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Whole experiments (--check-at-end), so that a run lasts seconds rather
    // than the second it takes to stop at the first solving candidate.
    let whole = xtask()
        .args(["automl-zero", "--seed", "3", "--check-at-end"])
        .output()
        .unwrap();
    assert!(whole.status.success());
    let expected = without_times(&String::from_utf8(whole.stdout).unwrap());
    let args = |resume: bool| {
        let mut c = xtask();
        c.args(["automl-zero", "--seed", "3", "--check-at-end"])
            .args(["--checkpoint-every-s", "0.2"])
            .arg("--checkpoint")
            .arg(&dir);
        if resume {
            c.arg("--resume");
        }
        c
    };
    let first = dir.join("experiment-0.json");
    kill_mid_run(args(false), || first.exists(), Duration::from_millis(300));
    assert!(dir.join("experiment-0.json").exists());
    // A folder of checkpoints is not overwritten by mistake, nor resumed by a
    // search of other hash settings.
    refused_without_resume(args(false));
    let other = args(true).args(["--mantissa-bits", "16"]).output().unwrap();
    assert!(!other.status.success(), "resumed with other mantissa bits");
    assert!(String::from_utf8_lossy(&other.stderr).contains("another search"));
    let resumed = args(true).output().unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(
        without_times(&String::from_utf8(resumed.stdout).unwrap()),
        expected
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every file of a figures run but the journal, by name.
fn outputs(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            let name = e.file_name().into_string().unwrap();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn figures_killed_mid_figure_and_resumed_write_the_files_of_an_uninterrupted_run() {
    if !support::slow_tier() {
        return;
    }
    use std::io::BufRead as _;
    let root = std::env::temp_dir().join(format!("ufh-resume-figures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let figures = |out: &std::path::Path| {
        let mut c = xtask();
        c.args(["figures", "--quick", "--repeats", "30", "--jobs", "1"])
            .args(["--only", "fig5", "fig6", "fig7", "--out"])
            .arg(out);
        c
    };
    let whole = root.join("whole");
    assert!(
        figures(&whole)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let killed = root.join("killed");
    let mut first = figures(&killed).stdout(Stdio::piped()).spawn().unwrap();
    // Kill it as soon as fig5 is done: fig6 and fig7 are then under way.
    let lines = std::io::BufReader::new(first.stdout.take().unwrap()).lines();
    for line in lines {
        if line.unwrap().starts_with("fig5 done") {
            break;
        }
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        !killed.join("summary.md").exists(),
        "the run ended before it was killed"
    );
    // A journal entry with one flipped bit is refused by name, not read.
    let entry = std::fs::read_dir(killed.join(".resume"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "bin"))
        .expect("a journal entry");
    let good = std::fs::read(&entry).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 3] ^= 0x04;
    std::fs::write(&entry, &bad).unwrap();
    let refused = figures(&killed).arg("--resume").output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a damaged journal was read");
    assert!(
        stderr.contains("damaged") && stderr.contains(entry.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );
    std::fs::write(&entry, &good).unwrap();
    let resumed = figures(&killed).arg("--resume").output().unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let report = String::from_utf8(resumed.stdout).unwrap();
    assert!(
        report.contains("fig5 read back from the journal"),
        "{report}"
    );
    assert_eq!(outputs(&killed), outputs(&whole));
    std::fs::remove_dir_all(root).unwrap();
}

/// `mnas search` killed with SIGKILL mid-search and resumed from its checkpoint
/// prints what an uninterrupted search prints (wall time aside); an existing
/// checkpoint is not overwritten without --resume.
#[test]
fn mnas_search_killed_and_resumed_reports_as_an_uninterrupted_run() {
    if !support::slow_tier() {
        return;
    }
    let path = std::env::temp_dir().join(format!("ufh-resume-mnas-{}.ckpt", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let base = [
        "mnas",
        "search",
        "--candidates",
        "96",
        "--epochs",
        "1",
        "--seed",
        "2",
        "--jobs",
        "1",
    ];
    let results = |out: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(out)
            .lines()
            .filter(|l| !l.contains(" s, "))
            .map(str::to_string)
            .collect()
    };
    let whole = xtask().args(base).output().unwrap();
    assert!(whole.status.success());
    let args = |resume: bool| {
        let mut c = xtask();
        c.args(base).arg("--checkpoint").arg(&path);
        if resume {
            c.arg("--resume");
        }
        c
    };
    kill_mid_run(args(false), || path.exists(), Duration::from_millis(300));
    assert!(path.exists(), "a checkpoint was written");
    refused_without_resume(args(false));
    // A checkpoint is resumed only by the search that wrote it.
    for other in [
        &["--epochs", "2"][..],
        &["--hasher", "truncated"],
        &["--population", "16"],
        &["--tournament", "3"],
    ] {
        let mut c = xtask();
        // The first of base's flags replaced by `other`'s where they overlap.
        let mut flags: Vec<&str> = base.to_vec();
        if let Some(at) = flags.iter().position(|f| *f == other[0]) {
            flags.drain(at..at + 2);
        }
        c.args(&flags)
            .args(other)
            .arg("--checkpoint")
            .arg(&path)
            .arg("--resume");
        let refused = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success(),
            "{other:?} resumed another's checkpoint"
        );
        assert!(stderr.contains("another search"), "{other:?}: {stderr}");
    }
    let resumed = args(true).output().unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(results(&resumed.stdout), results(&whole.stdout));
    std::fs::remove_file(path).unwrap();
}
