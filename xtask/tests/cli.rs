//! The xtask binary as a user runs it: help never acts, a closed pipe is a normal
//! end.

mod support;
use std::io::Read as _;
use std::process::{Command, Stdio};

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// Runs `command` and returns its standard output, failing the test with its
/// standard error if it did not succeed.
fn stdout_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `nasbench synth --help` once wrote a 468 MB file named `--help`.
#[test]
fn help_prints_help_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("ufh-cli-help-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = xtask()
        .args(["nasbench", "synth", "--help"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(
        help.contains("Usage:") && help.contains("--force"),
        "{help}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "help wrote a file"
    );

    // synth refuses to overwrite an existing file without --force.
    std::fs::write(dir.join("exists.tfrecord"), "keep me").unwrap();
    let output = xtask()
        .args([
            "nasbench",
            "synth",
            "exists.tfrecord",
            "--max-vertices",
            "3",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(
        err.contains("exists.tfrecord exists; pass --force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.join("exists.tfrecord")).unwrap(),
        b"keep me"
    );

    let output = xtask().args(["figures", "--repeat", "3"]).output().unwrap();
    assert!(!output.status.success(), "a misspelt flag is an error");
    // Only the two embedded tables exist, and a table and a data file exclude
    // each other.
    for args in [
        &["figures", "--table", "medium"][..],
        &["figures", "--table", "small", "--nasbench", "x.tfrecord"][..],
        &["table-stats", "--table", "small", "x.ufhtable"][..],
    ] {
        let output = xtask().args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        let err = String::from_utf8(output.stderr).unwrap();
        assert!(err.contains("--table"), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `cargo xtask table-stats | head -0`: stdout is a pipe whose reader is already
/// gone, so the very first line meets EPIPE; the task ends without a panic and
/// with success.
#[test]
fn a_closed_pipe_ends_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = xtask()
        .arg("table-stats")
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status:?}: {stderr}");
}

/// A short AutoRL search reports its hit rate and best graph; a bad setting is an
/// error that names the flag.
#[test]
fn autorl_searches_and_reports() {
    if !support::slow_tier() {
        return;
    }
    let out = stdout_of(xtask().args([
        "autorl",
        "--candidates",
        "24",
        "--population",
        "8",
        "--tournament",
        "3",
        "--jobs",
        "1",
    ]));
    assert!(out.contains("24 candidates"), "{out}");
    assert!(out.contains("FEC hit rate"), "{out}");
    assert!(out.contains("best fitness"), "{out}");

    let output = xtask()
        .args(["autorl", "--mantissa-bits", "40"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(err.contains("--mantissa-bits"), "{err}");
}

/// A short MNAS search with FCM, the tabulist and the audit reports its hit rate, collisions and best
/// network, the same on 1 and 2 threads; a bad mantissa width is an error that
/// names the flag.
#[test]
fn mnas_searches_and_reports_the_same_on_any_thread_count() {
    if !support::slow_tier() {
        return;
    }
    let run = |jobs: &str| {
        stdout_of(xtask().args([
            "mnas",
            "search",
            "--candidates",
            "24",
            "--epochs",
            "1",
            "--audit",
            "0",
            "--fcm",
            "--tabulist",
            "2",
            "--jobs",
            jobs,
        ]))
    };
    let one = run("1");
    assert!(one.contains("24 candidates"), "{one}");
    assert!(one.contains("FEC hit rate"), "{one}");
    assert!(
        one.contains("audit: ") && one.contains(" 0 collisions"),
        "{one}"
    );
    assert!(one.contains("best reward"), "{one}");
    let results = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| !l.contains(" s, "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(results(&one), results(&run("2")));

    let output = xtask()
        .args([
            "mnas",
            "search",
            "--hasher",
            "truncated",
            "--mantissa-bits",
            "40",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(err.contains("--mantissa-bits"), "{err}");
}

/// A short EZNAS run evolves proxies on the large table's cells with and without
/// FEC, validates them on held-out cells and the same seed prints the same results.
#[test]
fn eznas_evolves_and_validates_proxies() {
    if !support::slow_tier() {
        return;
    }
    let stats = std::env::temp_dir().join(format!("ufh-eznas-{}.ufhstats", std::process::id()));
    let _ = std::fs::remove_file(&stats);
    let stats_arg = stats.to_str().unwrap().to_string();
    let args = [
        "eznas",
        "--networks",
        "24",
        "--held-out",
        "40",
        "--generations",
        "2",
        "--batch",
        "4",
        "--stats",
        &stats_arg,
    ];
    let run = || stdout_of(xtask().args(args));
    let out = run();
    assert!(out.contains("GP without FEC: 225 candidates"), "{out}");
    assert!(out.contains("GP with FEC: 225 candidates"), "{out}");
    for space in [
        "40 NAS-Bench-101 cells",
        "40 nb201 networks",
        "40 chain networks",
    ] {
        assert!(out.contains(&format!("held out: {space}")), "{out}");
    }
    assert!(out.contains("EZNAS-A"), "{out}");
    assert!(out.contains("baseline naswot: Kendall tau"), "{out}");
    assert!(out.contains("baseline snip: Kendall tau"), "{out}");
    for baseline in ["grasp", "fisher", "synflow"] {
        assert!(
            out.contains(&format!("baseline {baseline}: Kendall tau")),
            "{out}"
        );
    }
    // Timings aside, the output is the seed's.
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains("Kendall tau"))
            .map(str::to_string)
            .collect()
    };
    // The second run reads the statistics the first wrote, and finds the same.
    let again = run();
    assert!(again.contains("read from the file"), "{again}");
    assert_eq!(strip(&out), strip(&again));
    // A damaged statistics file is a cache miss: computed again with a warning,
    // rewritten, and read back whole by the next run.
    let mut bytes = std::fs::read(&stats).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&stats, &bytes).unwrap();
    let output = xtask().args(args).output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let rebuilt = String::from_utf8_lossy(&output.stdout);
    assert!(
        stderr.contains("warning") && stderr.contains("computed again"),
        "{stderr}"
    );
    assert!(!rebuilt.contains("read from the file"), "{rebuilt}");
    assert_eq!(strip(&out), strip(&rebuilt));
    assert!(run().contains("read from the file"));
    std::fs::remove_file(&stats).unwrap();

    // --npz writes the evolution set and every held-out space for NumPy.
    let npz = std::env::temp_dir().join(format!("ufh-eznas-{}.npz", std::process::id()));
    stdout_of(
        xtask()
            .args(&args[..args.len() - 2])
            .args(["--npz", npz.to_str().unwrap()]),
    );
    let file = std::fs::File::open(&npz).unwrap();
    let (networks, groups, metadata) = ufh_proxies::npz::read_npz(file).unwrap();
    assert_eq!(networks.len(), 24 + 3 * 40);
    let count = |g: u32| groups.iter().filter(|&&x| x == g).count();
    assert_eq!([count(0), count(1), count(2), count(3)], [24, 40, 40, 40]);
    assert!(metadata.contains("held out: chain networks"), "{metadata}");
    assert!(
        networks
            .iter()
            .all(|n| n.instances.iter().all(|i| i.len() == 22))
    );
    std::fs::remove_file(&npz).unwrap();
}

#[test]
fn meaningless_settings_are_refused_up_front_by_name_without_a_panic() {
    let missing = std::env::temp_dir().join(format!("ufh-no-such-folder-{}", std::process::id()));
    let in_missing = missing.join("out.csv");
    let in_missing = in_missing.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["eznas", "--batch", "0"], "--batch 0"),
        (&["eznas", "--networks", "4"], "--networks 4"),
        (&["bench-table", "--probe", "0"], "--probe 0"),
        (
            &["bench-table", "--probe", "2", "--channels", "0"],
            "--channels 0",
        ),
        (
            &["bench-table", "--probe", "1", "--batch-size", "0"],
            "--batch-size 0",
        ),
        (
            &["bench-table", "--probe", "1", "--epochs", "0", "0"],
            "--epochs",
        ),
        (
            &["bench-table", "--probe", "1", "--learning-rate", "NaN"],
            "--learning-rate",
        ),
        (
            &["zoo-table", "--space", "chain", "--probe", "0"],
            "--probe 0",
        ),
        (
            &[
                "zoo-table",
                "--space",
                "chain",
                "--probe",
                "1",
                "--batch-size",
                "0",
            ],
            "--batch-size 0",
        ),
        (&["nasbench", "race", "--repeats", "0"], "--repeats"),
        (&["mnas", "search", "--epochs", "0"], "--epochs"),
        (
            &["mnas", "search", "--mantissa-bits", "8"],
            "--mantissa-bits 8",
        ),
        (&["mnas", "latency", "--runs", "0"], "--runs"),
        (&["mnas", "latency", "--out", in_missing], "does not exist"),
        (
            &["mnas", "search", "--checkpoint", in_missing],
            "does not exist",
        ),
        (
            &[
                "automl-zero",
                "--checkpoint",
                in_missing,
                "--checkpoint-every-s",
                "NaN",
            ],
            "--checkpoint-every-s",
        ),
        (
            &["distributed", "--in-process", "--record", in_missing],
            "does not exist",
        ),
        (
            &[
                "distributed",
                "--in-process",
                "--cost-ms",
                "18446744073709551615",
            ],
            "--cost-ms",
        ),
    ];
    for (args, expected) in cases {
        let output = xtask().args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(expected) && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        !missing.exists(),
        "a refused run created {}",
        missing.display()
    );
}
