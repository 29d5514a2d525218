//! Checkpoints and resumption: a run stopped at any point and resumed ends with
//! the record of a run never stopped, in every mode, in process (a panic) and as
//! a real child process killed with SIGKILL.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use super::*;
use crate::testutil::{IntSpace, PeriodicEvaluator, PeriodicHasher};
use crate::{EvolutionConfig, FcmConfig, LocalSearchConfig, Replacement};

type Evo = crate::Evolution<u32>;

fn evolution() -> Evo {
    let config = EvolutionConfig {
        population_size: 12,
        tournament_size: 4,
        replacement: Replacement::Oldest,
    };
    config.build().unwrap()
}

/// Every technique that keeps state: FEC with forgetting and FEA, FCM, the
/// tabulist and the audit, over a noisy evaluator.
fn techniques() -> Techniques {
    Techniques {
        fec: Some(FecConfig {
            capacity: NonZeroUsize::new(40),
            forgetting: crate::Forgetting::Fixed(0.2),
            max_evals: std::num::NonZeroU32::new(2).unwrap(),
        }),
        fcm: Some(FcmConfig { max_tries: 3 }),
        tabulist: Some(TabulistConfig {
            max_occurrences: 4,
            max_tries: 2,
        }),
        audit: Some(AuditConfig { tolerance: 1e-9 }),
    }
}

/// An evaluator that panics on its `crash_at`-th evaluation (counted from 1), as
/// a killed process would stop; `u64::MAX` never panics.
struct Crashing {
    inner: PeriodicEvaluator,
    count: AtomicU64,
    crash_at: u64,
    /// Wall time per evaluation, so that a child process can be killed midway.
    sleep: std::time::Duration,
}

impl Crashing {
    fn new(crash_at: u64) -> Self {
        Self {
            inner: PeriodicEvaluator::new(23, 5.0, 0.05),
            count: AtomicU64::new(0),
            crash_at,
            sleep: std::time::Duration::ZERO,
        }
    }
}

impl Evaluator<u32> for Crashing {
    fn evaluate(&self, candidate: &u32, rng: &mut SearchRng) -> Evaluation {
        let n = self.count.fetch_add(1, AtomicOrdering::SeqCst) + 1;
        assert!(n != self.crash_at, "crash at evaluation {n}");
        if !self.sleep.is_zero() {
            std::thread::sleep(self.sleep);
        }
        self.inner.evaluate(candidate, rng)
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ufh-resume-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const BUDGET: Budget = Budget::Candidates(300);

fn nz(k: usize) -> NonZeroUsize {
    NonZeroUsize::new(k).unwrap()
}

/// Runs the test search in `mode`, checkpointing every 7 candidates to `path`.
fn run(
    mode: Mode,
    evaluator: &Crashing,
    path: &Path,
    resume: bool,
) -> Result<(SearchResult<u32>, Evo), SearchError> {
    let space = IntSpace::new(200);
    let hasher = PeriodicHasher::new(23, 0.5);
    let search = Search::new(&space, evaluator, BUDGET, 11)
        .hasher(&hasher)
        .techniques(techniques())?;
    let checkpoints = Checkpoints::new(path).every_candidates(7).resume(resume);
    search.run_resumable(evolution(), mode, &checkpoints)
}

fn uninterrupted(mode: Mode) -> SearchResult<u32> {
    let space = IntSpace::new(200);
    let hasher = PeriodicHasher::new(23, 0.5);
    let evaluator = Crashing::new(u64::MAX);
    let search = Search::new(&space, &evaluator, BUDGET, 11)
        .hasher(&hasher)
        .techniques(techniques())
        .unwrap();
    let mut algorithm = evolution();
    search.run(&mut algorithm, mode).unwrap()
}

#[test]
fn a_run_crashed_and_resumed_ends_as_if_never_stopped_in_every_mode() {
    for mode in [Mode::Serial, Mode::Workers(nz(3)), Mode::Parallel(nz(4))] {
        let expected = uninterrupted(mode);
        assert!(
            expected.record.cache.unwrap().full_hits > 10,
            "the test must exercise hits"
        );
        let dir = temp_dir(&format!("{mode:?}"));
        let path = dir.join("run.json");
        // Crash three times at different points, resuming each time.
        for crash_at in [5, 40, 90] {
            let evaluator = Crashing::new(crash_at);
            let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(mode, &evaluator, &path, true)
            }));
            assert!(crashed.is_err(), "{mode:?}: no crash at {crash_at}");
        }
        let (record, algorithm) = run(mode, &Crashing::new(u64::MAX), &path, true).unwrap();
        assert_eq!(record, expected, "{mode:?}");
        assert!(record.best.is_some());
        let _ = algorithm;
        // Resuming a finished run returns its record at once.
        let (again, _) = run(mode, &Crashing::new(1), &path, true).unwrap();
        assert_eq!(again, expected, "{mode:?}: a finished checkpoint");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_checkpoint_of_another_search_or_a_damaged_one_is_refused_by_name() {
    let dir = temp_dir("refused");
    let path = dir.join("run.json");
    run(Mode::Serial, &Crashing::new(u64::MAX), &path, true).unwrap();
    let err = run(Mode::Workers(nz(2)), &Crashing::new(u64::MAX), &path, true).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("run.json") && message.contains("another search"),
        "{message}"
    );
    // Starting afresh overwrites it.
    run(Mode::Workers(nz(2)), &Crashing::new(u64::MAX), &path, false).unwrap();
    std::fs::write(&path, b"{\"format\": 3").unwrap();
    let err = run(Mode::Workers(nz(2)), &Crashing::new(u64::MAX), &path, true).unwrap_err();
    assert!(
        err.to_string().contains("run.json") && err.to_string().contains("damaged"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_checkpoint_with_any_flipped_bit_is_refused_as_damaged() {
    let dir = temp_dir("bitflip");
    let path = dir.join("run.ckpt");
    // Stopped midway, so that the checkpoint holds a population and candidates.
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(Mode::Workers(nz(3)), &Crashing::new(60), &path, true)
    }));
    assert!(crashed.is_err());
    let good = std::fs::read(&path).unwrap();
    let mut rng = SearchRng::seed_from_u64(5);
    for _ in 0..64 {
        use rand::Rng;
        let mut bad = good.clone();
        let bit = rng.random_range(0..bad.len() * 8);
        bad[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&path, &bad).unwrap();
        let err = run(Mode::Workers(nz(3)), &Crashing::new(u64::MAX), &path, true).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("run.ckpt") && message.contains("damaged"),
            "bit {bit}: {message}"
        );
    }
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let err = run(Mode::Workers(nz(3)), &Crashing::new(u64::MAX), &path, true).unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_checkpoint_of_other_evaluator_settings_is_refused() {
    let dir = temp_dir("settings");
    let path = dir.join("run.ckpt");
    let space = IntSpace::new(200);
    let hasher = PeriodicHasher::new(23, 0.5);
    let evaluator = Crashing::new(u64::MAX);
    let go = |settings: &str, hasher: &PeriodicHasher| {
        let search = Search::new(&space, &evaluator, BUDGET, 11)
            .hasher(hasher)
            .techniques(Techniques::FEC)
            .unwrap();
        let checkpoints = Checkpoints::new(&path)
            .every_candidates(7)
            .settings(crate::Namespace::of_text(settings));
        search.run_resumable(evolution(), Mode::Serial, &checkpoints)
    };
    let (first, _) = go("table small", &hasher).unwrap();
    let err = go("table large", &hasher).unwrap_err().to_string();
    assert!(
        err.contains("run.ckpt") && err.contains("settings"),
        "{err}"
    );
    // A hasher of another cost moves the clock: refused too.
    let err = go("table small", &PeriodicHasher::new(23, 0.25))
        .unwrap_err()
        .to_string();
    assert!(err.contains("hash's cost"), "{err}");
    let (again, _) = go("table small", &hasher).unwrap();
    assert_eq!(again, first);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A store that keeps its entries itself, as a redb file or a Redis server does:
/// they outlive a crash of the search, and a checkpoint holds none of them.
#[derive(Debug, Default)]
struct Persistent(crate::MemoryStore);

impl crate::FecStore for Persistent {
    fn describe(&self) -> String {
        "persistent test store".into()
    }
    fn get(&self, key: FunctionalHash) -> Result<Option<crate::StoredEntry>, crate::StoreError> {
        self.0.get(key)
    }
    fn add_evaluation(
        &self,
        key: FunctionalHash,
        evaluation: crate::StoredEvaluation,
        max_evals: u32,
    ) -> Result<crate::StoredEntry, crate::StoreError> {
        self.0.add_evaluation(key, evaluation, max_evals)
    }
    fn add_hit(&self, key: FunctionalHash) -> Result<u32, crate::StoreError> {
        self.0.add_hit(key)
    }
    fn remove(&self, key: FunctionalHash) -> Result<(), crate::StoreError> {
        self.0.remove(key)
    }
    fn len(&self) -> Result<u64, crate::StoreError> {
        self.0.len()
    }
}

/// FEA (two evaluations per key) with FCM, the tabulist and the audit: every
/// technique a store can hold exactly.
fn store_techniques() -> Techniques {
    Techniques {
        fec: Some(FecConfig {
            capacity: None,
            forgetting: crate::Forgetting::Never,
            max_evals: std::num::NonZeroU32::new(2).unwrap(),
        }),
        ..techniques()
    }
}

fn run_in_store(
    mode: Mode,
    evaluator: &Crashing,
    store: &Arc<dyn crate::FecStore>,
    path: Option<&Path>,
) -> Result<SearchResult<u32>, SearchError> {
    let space = IntSpace::new(200);
    let hasher = PeriodicHasher::new(23, 0.5);
    let search = Search::new(&space, evaluator, BUDGET, 11)
        .hasher(&hasher)
        .techniques(store_techniques())?
        .cache_store(Arc::clone(store));
    let Some(path) = path else {
        let mut algorithm = evolution();
        return search.run(&mut algorithm, mode);
    };
    let checkpoints = Checkpoints::new(path).every_candidates(7);
    search
        .run_resumable(evolution(), mode, &checkpoints)
        .map(|(record, _)| record)
}

#[test]
fn a_run_with_its_cache_in_a_store_resumes_to_the_uninterrupted_record() {
    for persistent in [false, true] {
        for mode in [Mode::Serial, Mode::Workers(nz(3)), Mode::Parallel(nz(4))] {
            let fresh = || -> Arc<dyn crate::FecStore> {
                if persistent {
                    Arc::new(Persistent::default())
                } else {
                    Arc::new(crate::MemoryStore::new())
                }
            };
            let expected = run_in_store(mode, &Crashing::new(u64::MAX), &fresh(), None).unwrap();
            let counters = expected.record.cache.unwrap();
            assert!(
                counters.full_hits > 10 && counters.partial_hits > 5,
                "{counters:?}"
            );
            let dir = temp_dir(&format!("store-{persistent}-{mode:?}"));
            let path = dir.join("run.ckpt");
            // A memory store dies with its process: each crash starts a new one,
            // which the checkpoint fills. A persistent one keeps what the crashed
            // run wrote after its checkpoint.
            let mut store = fresh();
            for crash_at in [5, 40, 41, 90] {
                let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_in_store(mode, &Crashing::new(crash_at), &store, Some(&path))
                }));
                assert!(crashed.is_err(), "{mode:?}: no crash at {crash_at}");
                if !persistent {
                    store = fresh();
                }
            }
            let record = run_in_store(mode, &Crashing::new(u64::MAX), &store, Some(&path)).unwrap();
            assert_eq!(record, expected, "persistent {persistent}, {mode:?}");
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}

#[test]
fn forgetting_in_a_persistent_store_is_refused_for_a_resumable_run() {
    let space = IntSpace::new(200);
    let hasher = PeriodicHasher::new(23, 0.5);
    let evaluator = Crashing::new(u64::MAX);
    let dir = temp_dir("forget");
    let mut techniques = store_techniques();
    techniques.fec.as_mut().unwrap().forgetting = crate::Forgetting::Fixed(0.1);
    let search = Search::new(&space, &evaluator, BUDGET, 11)
        .hasher(&hasher)
        .techniques(techniques)
        .unwrap()
        .cache_store(Arc::new(Persistent::default()));
    let err = search
        .run_resumable(
            evolution(),
            Mode::Serial,
            &Checkpoints::new(dir.join("run.ckpt")),
        )
        .unwrap_err();
    assert!(err.to_string().contains("cannot forget"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// An evaluator whose machinery fails at its `fail_at`-th call (a batch, or one
/// candidate): no worker answered.
struct Flaky {
    inner: PeriodicEvaluator,
    calls: AtomicU64,
    fail_at: u64,
}

impl Evaluator<u32> for Flaky {
    fn evaluate(&self, candidate: &u32, rng: &mut SearchRng) -> Evaluation {
        self.inner.evaluate(candidate, rng)
    }
    fn try_evaluate(
        &self,
        candidate: &u32,
        rng: &mut SearchRng,
    ) -> Result<Evaluation, crate::InfrastructureError> {
        let n = self.calls.fetch_add(1, AtomicOrdering::SeqCst) + 1;
        if n >= self.fail_at {
            return Err(crate::InfrastructureError("no worker answered".into()));
        }
        Ok(self.evaluate(candidate, rng))
    }
    fn try_evaluate_batch(
        &self,
        jobs: &mut [(&u32, SearchRng)],
    ) -> Result<Vec<Evaluation>, crate::InfrastructureError> {
        let n = self.calls.fetch_add(1, AtomicOrdering::SeqCst) + 1;
        if n >= self.fail_at {
            return Err(crate::InfrastructureError("no worker answered".into()));
        }
        Ok(self.evaluate_batch(jobs))
    }
}

#[test]
fn an_infrastructure_failure_stops_the_run_and_is_never_cached() {
    for mode in [Mode::Serial, Mode::Workers(nz(3)), Mode::Parallel(nz(4))] {
        let store: Arc<dyn crate::FecStore> = Arc::new(Persistent::default());
        let dir = temp_dir(&format!("flaky-{mode:?}"));
        let path = dir.join("run.ckpt");
        let space = IntSpace::new(200);
        let hasher = PeriodicHasher::new(23, 0.5);
        let flaky = Flaky {
            inner: PeriodicEvaluator::new(23, 5.0, 0.05),
            calls: AtomicU64::new(0),
            fail_at: 20,
        };
        let search = Search::new(&space, &flaky, BUDGET, 11)
            .hasher(&hasher)
            .techniques(store_techniques())
            .unwrap()
            .cache_store(Arc::clone(&store));
        let checkpoints = Checkpoints::new(&path).every_candidates(7);
        let err = search
            .run_resumable(evolution(), mode, &checkpoints)
            .unwrap_err();
        assert!(
            matches!(err, SearchError::Infrastructure(_)),
            "{mode:?}: {err}"
        );
        assert!(err.to_string().contains("no worker answered"), "{err}");
        // Nothing the failure touched is in the cache: every stored evaluation
        // is a real one.
        let stored = (0..200u32)
            .filter_map(|c| store.get(hasher.hash(&c)).unwrap())
            .flat_map(|e| e.evaluations)
            .collect::<Vec<_>>();
        assert!(!stored.is_empty());
        assert!(
            stored.iter().all(|e| e.validation.is_finite()),
            "{stored:?}"
        );
        // Resumed with working machinery, the run is the uninterrupted one.
        let record = run_in_store(mode, &Crashing::new(u64::MAX), &store, Some(&path)).unwrap();
        let expected = run_in_store(
            mode,
            &Crashing::new(u64::MAX),
            &(Arc::new(Persistent::default()) as Arc<dyn crate::FecStore>),
            None,
        )
        .unwrap();
        assert_eq!(record, expected, "{mode:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn local_search_resumes_too() {
    let space = IntSpace::new(200);
    let hasher = PeriodicHasher::new(23, 0.5);
    let config = LocalSearchConfig::DEFAULT;
    let dir = temp_dir("local");
    let path = dir.join("run.json");
    let go = |evaluator: &Crashing| {
        let search = Search::new(&space, evaluator, Budget::Candidates(200), 3)
            .hasher(&hasher)
            .techniques(Techniques::FEC)
            .unwrap();
        let checkpoints = Checkpoints::new(&path).every_candidates(5);
        search.run_resumable(
            config.build::<u32>().unwrap(),
            Mode::Workers(NonZeroUsize::new(2).unwrap()),
            &checkpoints,
        )
    };
    let crashing = Crashing::new(12);
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| go(&crashing))).is_err());
    let (resumed, _) = go(&Crashing::new(u64::MAX)).unwrap();
    std::fs::remove_file(&path).unwrap();
    let (fresh, _) = go(&Crashing::new(u64::MAX)).unwrap();
    assert_eq!(resumed, fresh);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The environment variable that turns [`sigkill_child`] into the child search.
const CHILD: &str = "UFH_RESUME_CHILD_DIR";

/// The child process of [`a_run_killed_with_sigkill_and_resumed_ends_as_if_never_killed`]:
/// runs the search on 3 simulated workers with checkpoints in the folder named
/// by `UFH_RESUME_CHILD_DIR` and writes its final record there.
#[test]
fn sigkill_child() {
    // The child process of the SIGKILL test, which runs it with `CHILD` set; in
    // any other run (`--include-ignored` too) there is nothing to do.
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut evaluator = Crashing::new(u64::MAX);
    evaluator.sleep = std::time::Duration::from_millis(2);
    let (record, _) = run(
        Mode::Workers(nz(3)),
        &evaluator,
        &dir.join("run.json"),
        true,
    )
    .unwrap();
    let bytes = serde_json::to_vec(&record).unwrap();
    crate::write_atomically(&dir.join("record.json"), &bytes).unwrap();
}

#[test]
fn a_run_killed_with_sigkill_and_resumed_ends_as_if_never_killed() {
    if !crate::slow_tier() {
        return;
    }
    use rand::Rng;
    let dir = temp_dir("sigkill");
    let expected = uninterrupted(Mode::Workers(nz(3)));
    let child = || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "driver::resume_tests::sigkill_child"])
            .args(["--test-threads", "1", "--quiet"])
            .env(CHILD, &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // The run takes about 0.6 s of evaluations; kill it at random points (seeded)
    // until it finishes, and count the kills that landed mid-run.
    let mut rng = SearchRng::seed_from_u64(7);
    let mut kills = 0;
    for _ in 0..40 {
        let mut process = child();
        let delay = std::time::Duration::from_millis(rng.random_range(20..250));
        std::thread::sleep(delay);
        match process.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "the child failed: {status}");
                break;
            }
            None => {
                process.kill().unwrap(); // SIGKILL
                process.wait().unwrap();
                if dir.join("record.json").exists() {
                    break;
                }
                kills += 1;
            }
        }
    }
    if !dir.join("record.json").exists() {
        // The last resume runs to the end.
        assert!(child().wait().unwrap().success());
    }
    assert!(kills >= 3, "only {kills} kills landed mid-run");
    let result: SearchResult<u32> =
        serde_json::from_slice(&std::fs::read(dir.join("record.json")).unwrap()).unwrap();
    assert_eq!(result, expected);
    std::fs::remove_dir_all(dir).unwrap();
}
