//! Evaluation workers on many machines: a coordinator hands candidates out
//! through a Redis Stream and a consumer group, workers evaluate them and answer.
//!
//! Keys, per namespace `NS`:
//! * `ufh:NS:jobs`, a stream of jobs with the consumer group `workers`;
//! * `ufh:NS:answers`, a hash from job id to its answer, written once (`HSETNX`):
//!   the first answer of a job is the one every reader sees.
//!
//! A job's id is a digest of its candidate and its evaluator stream, which a
//! search seeds by its seed and proposal index: a coordinator that resumes from
//! a checkpoint sends the same ids again and finds the answers of jobs done while
//! it was away.
//!
//! Failures: a worker killed mid-evaluation leaves its job pending in the group;
//! another worker claims it (`XAUTOCLAIM`) once it has been idle for
//! [`WorkerConfig::reclaim_after`] and evaluates it (a live worker's heartbeat
//! keeps its job from going idle). A worker that finds a job
//! already answered acknowledges it without evaluating, and the coordinator takes
//! one answer per id, so nothing is lost and nothing is counted twice. A job not
//! answered within [`RedisEvaluator::resend_after`] is sent again (for a server
//! restarted without its append-only file).

use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use redis::Value;
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Link;
use super::presence::{self, Presence, Role};
use crate::store::{FecStore, Namespace, StoreError, StoredEvaluation};
use crate::{CandidateHasher, Evaluation, Evaluator, InfrastructureError, SearchRng};

const GROUP: &str = "workers";

/// One candidate to evaluate, as a job message carries it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Job<C> {
    /// The job's id.
    pub id: u64,
    /// The candidate.
    pub candidate: C,
    /// The evaluator stream it is evaluated with.
    pub rng: SearchRng,
}

/// A worker's answer to a job.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobResult {
    /// The evaluation.
    pub evaluation: Evaluation,
    /// Whether the worker found it in the FEC store instead of evaluating.
    pub from_cache: bool,
}

/// The id of the job evaluating `candidate` (its postcard bytes) with `rng`: a digest of
/// both, so that two searches never share an answer unless they evaluate the same
/// candidate on the same stream.
fn job_id(candidate_bytes: &[u8], rng: &SearchRng) -> u64 {
    let mut bytes = rng.clone().next_u64().to_le_bytes().to_vec();
    bytes.extend_from_slice(candidate_bytes);
    crate::store::digest(&bytes) as u64
}

fn jobs_key(ns: &Namespace) -> String {
    format!("ufh:{ns}:jobs")
}

fn answers_key(ns: &Namespace) -> String {
    format!("ufh:{ns}:answers")
}

/// Counts of a coordinator's traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoordinatorStats {
    /// Jobs sent (resends included).
    pub sent: u64,
    /// Jobs sent again after [`RedisEvaluator::resend_after`].
    pub resent: u64,
    /// Answers taken.
    pub answered: u64,
    /// Answers that arrived unreadable (a worker of another version); each is taken
    /// as a failed evaluation.
    pub unreadable: u64,
}

/// The coordinator's side: an [`Evaluator`] whose batches are evaluated by worker
/// processes. Hand it to a [`Search`](crate::Search) and run
/// [`Mode::Parallel`](crate::Mode::Parallel): each generation goes
/// out as one batch of jobs and comes back in proposal order, so the record is
/// the one an in-process run of the same evaluator gives.
#[derive(Debug)]
pub struct RedisEvaluator<C> {
    link: Link,
    namespace: Namespace,
    /// How long a job may stay unanswered before it is sent again.
    pub resend_after: Duration,
    /// How long a batch may wait in all before the coordinator gives up (no
    /// worker running, say); the batch's missing jobs then count as failures and
    /// the error is kept in [`Self::error`].
    pub give_up_after: Duration,
    /// Told, once per batch that has waited [`presence::LEASE`] without an
    /// answer, why no worker answers when the reason is visible: no worker runs,
    /// or workers run for other namespaces (other settings).
    pub on_stall: Option<fn(&str)>,
    stats: Mutex<CoordinatorStats>,
    error: Mutex<Option<StoreError>>,
    candidate: PhantomData<fn(&C)>,
}

impl<C: Serialize> RedisEvaluator<C> {
    /// A coordinator on the server at `url`, for the workers of `namespace`.
    pub fn open(url: &str, namespace: &Namespace) -> Result<Self, StoreError> {
        let evaluator = Self {
            link: Link::new(url, super::DEFAULT_PATIENCE)?.labelled("job queue"),
            namespace: namespace.clone(),
            resend_after: Duration::from_secs(600),
            give_up_after: Duration::from_secs(24 * 3600),
            on_stall: None,
            stats: Mutex::new(CoordinatorStats::default()),
            error: Mutex::new(None),
            candidate: PhantomData,
        };
        ensure_group(&evaluator.link, namespace)?;
        Ok(evaluator)
    }

    /// Traffic so far.
    pub fn stats(&self) -> CoordinatorStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first error, if a batch could not be completed.
    pub fn error(&self) -> Option<StoreError> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Deletes the namespace's jobs and answers (a fresh start).
    pub fn clear(&self) -> Result<(), StoreError> {
        self.link.run("clear", |c| {
            redis::cmd("DEL")
                .arg(jobs_key(&self.namespace))
                .arg(answers_key(&self.namespace))
                .query::<()>(c)
        })?;
        ensure_group(&self.link, &self.namespace)
    }

    fn send(&self, jobs: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let key = jobs_key(&self.namespace);
        self.link.run("XADD jobs", |c| {
            let mut pipe = redis::pipe();
            for (_, message) in jobs {
                pipe.cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg("job")
                    .arg(message)
                    .ignore();
            }
            pipe.query::<()>(c)
        })?;
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).sent += jobs.len() as u64;
        Ok(())
    }

    /// Sends `jobs` and waits for their answers, in order.
    fn run_batch(&self, jobs: &[(&C, SearchRng)]) -> Result<Vec<Evaluation>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let messages: Vec<(u64, Vec<u8>)> = jobs
            .iter()
            .map(|(candidate, rng)| {
                let encoded = postcard::to_stdvec(candidate).map_err(|e| {
                    StoreError::new(
                        self.link.label(),
                        format!("a candidate does not serialise: {e}"),
                    )
                })?;
                let id = job_id(&encoded, rng);
                let job = Job {
                    id,
                    candidate: *candidate,
                    rng: rng.clone(),
                };
                let bytes = postcard::to_stdvec(&job).map_err(|e| {
                    StoreError::new(
                        self.link.label(),
                        format!("a candidate does not serialise: {e}"),
                    )
                })?;
                Ok((id, bytes))
            })
            .collect::<Result<_, StoreError>>()?;
        let mut answers: FxHashMap<u64, Evaluation> = FxHashMap::default();
        let missing = |answers: &FxHashMap<u64, Evaluation>| -> Vec<(u64, Vec<u8>)> {
            messages
                .iter()
                .filter(|(id, _)| !answers.contains_key(id))
                .cloned()
                .collect()
        };
        let distinct = messages
            .iter()
            .map(|(id, _)| id)
            .collect::<rustc_hash::FxHashSet<_>>()
            .len();
        // Jobs answered before (by a run this one resumes) are not sent again.
        self.collect(&messages, &mut answers)?;
        self.send(&missing(&answers))?;
        let started = Instant::now();
        let mut sent_at = Instant::now();
        let mut answered_at = Instant::now();
        let mut told = false;
        let mut pause = Duration::from_micros(200);
        while answers.len() < distinct {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
            if self.collect(&messages, &mut answers)? {
                pause = Duration::from_micros(200);
                answered_at = Instant::now();
            }
            if let Some(tell) = self.on_stall
                && !told
                && answered_at.elapsed() > presence::LEASE
            {
                told = true;
                if let Some(why) =
                    presence::absent_from(self.link.url(), &self.namespace, Role::Worker)?
                {
                    tell(&why);
                }
            }
            if sent_at.elapsed() > self.resend_after {
                let again = missing(&answers);
                self.send(&again)?;
                self.stats.lock().unwrap_or_else(|e| e.into_inner()).resent += again.len() as u64;
                sent_at = Instant::now();
            }
            if started.elapsed() > self.give_up_after {
                return Err(StoreError::new(
                    self.link.label(),
                    format!(
                        "{} of {} jobs unanswered after {:?}: are workers running for namespace {}?",
                        messages.len() - answers.len(),
                        messages.len(),
                        self.give_up_after,
                        self.namespace
                    ),
                ));
            }
        }
        Ok(messages.iter().map(|(id, _)| answers[id]).collect())
    }

    /// Reads the answers of the jobs not yet answered; whether any arrived.
    fn collect(
        &self,
        messages: &[(u64, Vec<u8>)],
        answers: &mut FxHashMap<u64, Evaluation>,
    ) -> Result<bool, StoreError> {
        let wanted: Vec<u64> = messages
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !answers.contains_key(id))
            .collect();
        if wanted.is_empty() {
            return Ok(false);
        }
        let replies: Vec<Option<Vec<u8>>> = self.link.run("HMGET answers", |c| {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(answers_key(&self.namespace));
            for id in &wanted {
                cmd.arg(id);
            }
            cmd.query(c)
        })?;
        let mut any = false;
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        for (id, reply) in wanted.into_iter().zip(replies) {
            let Some(bytes) = reply else { continue };
            let evaluation = match postcard::from_bytes::<JobResult>(&bytes) {
                Ok(result) => result.evaluation,
                Err(_) => {
                    stats.unreadable += 1;
                    Evaluation::failed(0.0)
                }
            };
            stats.answered += 1;
            answers.insert(id, evaluation);
            any = true;
        }
        Ok(any)
    }
}

/// The search calls [`Evaluator::try_evaluate_batch`]: a batch the workers do not
/// answer within [`RedisEvaluator::give_up_after`] stops the search with an
/// error, and nothing of it is cached. The infallible [`Evaluator::evaluate`] and
/// [`Evaluator::evaluate_batch`] (for callers outside a search) answer such a
/// batch with failures and keep the error in [`RedisEvaluator::error`]; never
/// cache what they return while that error is set.
impl<C: Serialize + Sync> Evaluator<C> for RedisEvaluator<C> {
    fn try_evaluate(
        &self,
        candidate: &C,
        rng: &mut SearchRng,
    ) -> Result<Evaluation, InfrastructureError> {
        let mut jobs = [(candidate, rng.clone())];
        Ok(self
            .try_evaluate_batch(&mut jobs)?
            .pop()
            .expect("one answer for one job"))
    }

    fn try_evaluate_batch(
        &self,
        jobs: &mut [(&C, SearchRng)],
    ) -> Result<Vec<Evaluation>, InfrastructureError> {
        self.run_batch(jobs).map_err(|e| {
            self.error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(e.clone());
            InfrastructureError(e.to_string())
        })
    }

    fn evaluate(&self, candidate: &C, rng: &mut SearchRng) -> Evaluation {
        let mut jobs = [(candidate, rng.clone())];
        self.evaluate_batch(&mut jobs)
            .pop()
            .expect("one answer for one job")
    }

    fn evaluate_batch(&self, jobs: &mut [(&C, SearchRng)]) -> Vec<Evaluation> {
        match self.run_batch(jobs) {
            Ok(evaluations) => evaluations,
            Err(e) => {
                self.error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
                jobs.iter().map(|_| Evaluation::failed(0.0)).collect()
            }
        }
    }
}

/// Creates the jobs stream and its consumer group if they do not exist.
fn ensure_group(link: &Link, ns: &Namespace) -> Result<(), StoreError> {
    link.run("XGROUP CREATE", |c| {
        match redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(jobs_key(ns))
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query::<()>(c)
        {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    })
}

/// Settings of a [`Worker`].
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The consumer's name in the group (unique per worker: host and pid, say).
    pub name: String,
    /// How long another worker's job may stay unclaimed before this one takes it.
    /// A live worker claims its job again every third of this while it evaluates,
    /// so only a stopped worker's jobs are taken, however long evaluations are.
    pub reclaim_after: Duration,
    /// Stop after this long without a job (`None`: never).
    pub idle_exit: Option<Duration>,
    /// Stop after this many jobs (`None`: never).
    pub max_jobs: Option<u64>,
    /// Told, once per idle spell of [`presence::LEASE`], why no job comes when
    /// the reason is visible: no coordinator runs for this worker's namespace,
    /// or coordinators run for other namespaces (other settings).
    pub on_stall: Option<fn(&str)>,
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Jobs evaluated.
    pub evaluated: u64,
    /// Jobs answered from the FEC store without evaluating.
    pub from_cache: u64,
    /// Jobs claimed from a worker that stopped answering.
    pub reclaimed: u64,
    /// Jobs found already answered and acknowledged without work.
    pub duplicates: u64,
    /// Job messages that could not be read, or whose id is not the digest of
    /// their candidate and stream (acknowledged and not answered).
    pub unreadable: u64,
}

/// A worker process's loop: takes jobs of one namespace from the group, evaluates
/// them with its evaluator and answers.
pub struct Worker<'a, C, E> {
    link: Link,
    namespace: Namespace,
    config: WorkerConfig,
    evaluator: &'a E,
    cache: Option<(&'a (dyn CandidateHasher<C> + Sync), &'a dyn FecStore, u32)>,
    stats: WorkerStats,
}

impl<C, E> std::fmt::Debug for Worker<'_, C, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("namespace", &self.namespace)
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<'a, C: Serialize + DeserializeOwned, E: Evaluator<C>> Worker<'a, C, E> {
    /// A worker on the server at `url` for the jobs of `namespace`.
    pub fn new(
        url: &str,
        namespace: &Namespace,
        evaluator: &'a E,
        config: WorkerConfig,
    ) -> Result<Self, StoreError> {
        let link = Link::new(url, super::DEFAULT_PATIENCE)?.labelled("job queue");
        ensure_group(&link, namespace)?;
        Ok(Self {
            link,
            namespace: namespace.clone(),
            config,
            evaluator,
            cache: None,
            stats: WorkerStats::default(),
        })
    }

    /// The same worker, which first looks each candidate up in `store` by
    /// `hasher`'s hash and answers a full entry (`max_evals` evaluations) without
    /// evaluating: entries that other machines wrote.
    pub fn with_cache(
        mut self,
        hasher: &'a (dyn CandidateHasher<C> + Sync),
        store: &'a dyn FecStore,
        max_evals: u32,
    ) -> Self {
        self.cache = Some((hasher, store, max_evals));
        self
    }

    /// What it did so far.
    pub fn stats(&self) -> WorkerStats {
        self.stats
    }

    /// Works until [`WorkerConfig::idle_exit`] or [`WorkerConfig::max_jobs`].
    pub fn run(&mut self) -> Result<WorkerStats, StoreError> {
        let _presence = Presence::announce(
            self.link.url(),
            &self.namespace,
            Role::Worker,
            &self.config.name,
        )?;
        let mut idle_since = Instant::now();
        let mut told = false;
        loop {
            if self
                .config
                .max_jobs
                .is_some_and(|n| self.stats.evaluated + self.stats.from_cache >= n)
            {
                return Ok(self.stats);
            }
            match self.next_job()? {
                Some((entry, job, reclaimed)) => {
                    if reclaimed {
                        self.stats.reclaimed += 1;
                    }
                    self.process(&entry, &job)?;
                    idle_since = Instant::now();
                    told = false;
                }
                None => {
                    if let Some(tell) = self.config.on_stall
                        && !told
                        && idle_since.elapsed() > presence::LEASE
                    {
                        told = true;
                        if let Some(why) = presence::absent_from(
                            self.link.url(),
                            &self.namespace,
                            Role::Coordinator,
                        )? {
                            tell(&why);
                        }
                    }
                    if self
                        .config
                        .idle_exit
                        .is_some_and(|d| idle_since.elapsed() >= d)
                    {
                        return Ok(self.stats);
                    }
                }
            }
        }
    }

    /// A job claimed from a stalled worker, else a new one (waiting up to 200 ms).
    fn next_job(&self) -> Result<Option<(String, Vec<u8>, bool)>, StoreError> {
        let key = jobs_key(&self.namespace);
        // A coordinator starting afresh deletes the stream with its group: the
        // group is made again and the worker goes on.
        let mut lost_group = false;
        let claimed: Value = self.link.run("XAUTOCLAIM", |c| {
            regrouping(
                redis::cmd("XAUTOCLAIM")
                    .arg(&key)
                    .arg(GROUP)
                    .arg(&self.config.name)
                    .arg(self.config.reclaim_after.as_millis() as u64)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(1)
                    .query(c),
                &mut lost_group,
            )
        })?;
        if let Value::Array(parts) = &claimed
            && let Some(Value::Array(entries)) = parts.get(1)
            && let Some(entry) = entries.first().and_then(stream_entry)
        {
            return Ok(Some((entry.0, entry.1, true)));
        }
        let read: Value = self.link.run("XREADGROUP", |c| {
            regrouping(
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&self.config.name)
                    .arg("COUNT")
                    .arg(1)
                    .arg("BLOCK")
                    .arg(200)
                    .arg("STREAMS")
                    .arg(&key)
                    .arg(">")
                    .query(c),
                &mut lost_group,
            )
        })?;
        if lost_group {
            ensure_group(&self.link, &self.namespace)?;
            return Ok(None);
        }
        // [[stream, [[id, [field, value]]]]], or nil on timeout.
        if let Value::Array(streams) = &read
            && let Some(Value::Array(stream)) = streams.first()
            && let Some(Value::Array(entries)) = stream.get(1)
            && let Some(entry) = entries.first().and_then(stream_entry)
        {
            return Ok(Some((entry.0, entry.1, false)));
        }
        Ok(None)
    }

    fn process(&mut self, entry: &str, message: &[u8]) -> Result<(), StoreError> {
        let answers = answers_key(&self.namespace);
        let result = match postcard::from_bytes::<Job<C>>(message) {
            Err(_) => {
                self.stats.unreadable += 1;
                None
            }
            // A job whose id is not the digest of its candidate and stream (a
            // forged or garbled message) could answer for another job: refused.
            Ok(job)
                if postcard::to_stdvec(&job.candidate)
                    .map_or(true, |bytes| job_id(&bytes, &job.rng) != job.id) =>
            {
                self.stats.unreadable += 1;
                None
            }
            Ok(job) => {
                let done: bool = self.link.run("HEXISTS", |c| {
                    redis::cmd("HEXISTS").arg(&answers).arg(job.id).query(c)
                })?;
                if done {
                    self.stats.duplicates += 1;
                    None
                } else {
                    Some((job.id, self.answer_with_heartbeat(entry, job)?))
                }
            }
        };
        let key = jobs_key(&self.namespace);
        self.link.run("answer", |c| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            if let Some((id, result)) = &result {
                let bytes = postcard::to_stdvec(result).expect("a result serialises");
                pipe.cmd("HSETNX").arg(&answers).arg(id).arg(bytes).ignore();
            }
            pipe.cmd("XACK").arg(&key).arg(GROUP).arg(entry).ignore();
            pipe.cmd("XDEL").arg(&key).arg(entry).ignore();
            pipe.query::<()>(c)
        })
    }

    /// [`Self::answer`] while a second connection claims the job for this worker
    /// again every third of [`WorkerConfig::reclaim_after`], resetting its idle
    /// time: only the jobs of a worker that stopped are ever reclaimed, however
    /// long an evaluation takes.
    fn answer_with_heartbeat(&mut self, entry: &str, job: Job<C>) -> Result<JobResult, StoreError> {
        let beat = (self.config.reclaim_after / 3).max(Duration::from_millis(10));
        let heart = Link::new(self.link.url(), beat)?;
        let (key, name) = (jobs_key(&self.namespace), self.config.name.clone());
        let (stop, wake) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wake.recv_timeout(beat)
                {
                    // A failed beat is not an error: at worst the job is
                    // evaluated twice, and its first answer counts.
                    let _ = heart.run("XCLAIM", |c| {
                        redis::cmd("XCLAIM")
                            .arg(&key)
                            .arg(GROUP)
                            .arg(&name)
                            .arg(0)
                            .arg(entry)
                            .arg("JUSTID")
                            .query::<Value>(c)
                    });
                }
            });
            let answer = self.answer(job);
            drop(stop);
            answer
        })
    }

    fn answer(&mut self, mut job: Job<C>) -> Result<JobResult, StoreError> {
        if let Some((hasher, store, max_evals)) = self.cache {
            let hash = hasher.hash(&job.candidate);
            if let Some(entry) = store.get(hash)?
                && entry.evaluations.len() >= max_evals as usize
            {
                let mean = entry.entry();
                self.stats.from_cache += 1;
                return Ok(JobResult {
                    evaluation: Evaluation {
                        validation: mean.validation,
                        test: mean.test,
                        cost_s: mean.cost_s,
                    },
                    from_cache: true,
                });
            }
            let evaluation = self.evaluator.evaluate(&job.candidate, &mut job.rng);
            store.add_evaluation(hash, StoredEvaluation::new(job.id, &evaluation), max_evals)?;
            self.stats.evaluated += 1;
            return Ok(JobResult {
                evaluation,
                from_cache: false,
            });
        }
        let evaluation = self.evaluator.evaluate(&job.candidate, &mut job.rng);
        self.stats.evaluated += 1;
        Ok(JobResult {
            evaluation,
            from_cache: false,
        })
    }
}

/// `reply`, with the errors of a deleted stream or group (NOGROUP, or UNBLOCKED
/// for a read blocked on it) turned into an empty reply and noted in `lost`.
fn regrouping(reply: redis::RedisResult<Value>, lost: &mut bool) -> redis::RedisResult<Value> {
    match reply {
        Err(e) if matches!(e.code(), Some("NOGROUP" | "UNBLOCKED")) => {
            *lost = true;
            Ok(Value::Nil)
        }
        other => other,
    }
}

/// A stream entry `[id, [field, value, ...]]` as its id and the `job` field.
fn stream_entry(value: &Value) -> Option<(String, Vec<u8>)> {
    let Value::Array(parts) = value else {
        return None;
    };
    let id = match parts.first()? {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
        Value::SimpleString(s) => s.clone(),
        _ => return None,
    };
    let Value::Array(fields) = parts.get(1)? else {
        // A claimed entry deleted meanwhile has no fields.
        return None;
    };
    fields.chunks(2).find_map(|pair| match pair {
        [Value::BulkString(name), Value::BulkString(body)] if name == b"job" => {
            Some((id.clone(), body.clone()))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::PeriodicEvaluator;
    use rand::SeedableRng;

    #[test]
    fn a_job_whose_id_is_not_its_candidates_is_refused() {
        let dir = std::env::temp_dir().join(format!("ufh-redis-forged-{}", std::process::id()));
        let redis = crate::redis::LocalRedis::start(&dir, false).unwrap();
        let url = redis.url(0);
        let namespace = Namespace::of_text("forged jobs");
        let link = Link::new(&url, Duration::from_secs(10)).unwrap();
        ensure_group(&link, &namespace).unwrap();
        let rng = SearchRng::seed_from_u64(3);
        let honest_id = job_id(&postcard::to_stdvec(&7u32).unwrap(), &rng);
        let other_id = job_id(&postcard::to_stdvec(&8u32).unwrap(), &rng);
        // A forged job claims the id of candidate 8's job with candidate 7 in it.
        let forged = Job {
            id: other_id,
            candidate: 7u32,
            rng: rng.clone(),
        };
        let honest = Job {
            id: honest_id,
            candidate: 7u32,
            rng,
        };
        for job in [&forged, &honest] {
            let bytes = postcard::to_stdvec(job).unwrap();
            link.run("XADD", |c| {
                redis::cmd("XADD")
                    .arg(jobs_key(&namespace))
                    .arg("*")
                    .arg("job")
                    .arg(&bytes)
                    .query::<()>(c)
            })
            .unwrap();
        }
        let evaluator = PeriodicEvaluator::new(5, 1.0, 0.0);
        let config = WorkerConfig {
            name: "w".into(),
            reclaim_after: Duration::from_secs(30),
            idle_exit: Some(Duration::from_millis(500)),
            max_jobs: None,
            on_stall: None,
        };
        let stats = Worker::<u32, _>::new(&url, &namespace, &evaluator, config)
            .unwrap()
            .run()
            .unwrap();
        assert_eq!((stats.evaluated, stats.unreadable), (1, 1), "{stats:?}");
        let answered = |id: u64| -> bool {
            link.run("HEXISTS", |c| {
                redis::cmd("HEXISTS")
                    .arg(answers_key(&namespace))
                    .arg(id)
                    .query(c)
            })
            .unwrap()
        };
        assert!(answered(honest_id));
        assert!(!answered(other_id), "a forged job answered for another");
        drop(redis);
        let _ = std::fs::remove_dir_all(dir);
    }
}
