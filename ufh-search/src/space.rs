//! The search space, the evaluator and the hasher: the three things the loop calls.

use rand_xoshiro::Xoshiro256PlusPlus;
use ufh_core::FunctionalHash;

/// The random number generator of every search: a seeded, portable stream.
pub type SearchRng = Xoshiro256PlusPlus;

/// A space of candidates that can be sampled and mutated.
pub trait SearchSpace {
    /// One point of the space (a cell, a program, a loss graph).
    type Candidate: Clone;

    /// A random candidate.
    fn sample(&self, rng: &mut SearchRng) -> Self::Candidate;

    /// A mutated copy of `parent`; it may equal the parent.
    fn mutate(&self, parent: &Self::Candidate, rng: &mut SearchRng) -> Self::Candidate;
}

/// What the simulated clock counts: the unit of every cost an evaluator and a
/// hasher charge ([`Evaluation::cost_s`], [`CandidateHasher::cost_s`]), of a
/// [`Budget::SimulatedSeconds`](crate::Budget) and of the times in a record. An
/// evaluator declares it ([`Evaluator::cost_unit`]); records carry it, and their
/// CSV columns are named by it (`start_s` for seconds, `start_training_steps`
/// for training steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum CostUnit {
    /// Simulated seconds (a table's training time, a latency model's seconds).
    #[default]
    SimulatedSeconds,
    /// Training steps (AutoML-Zero's budget).
    TrainingSteps,
    /// Environment steps (AutoRL's budget).
    EnvironmentSteps,
}

impl CostUnit {
    /// The unit's suffix in column names: `s`, `training_steps`,
    /// `environment_steps`.
    pub fn suffix(self) -> &'static str {
        match self {
            CostUnit::SimulatedSeconds => "s",
            CostUnit::TrainingSteps => "training_steps",
            CostUnit::EnvironmentSteps => "environment_steps",
        }
    }
}

impl std::fmt::Display for CostUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CostUnit::SimulatedSeconds => "simulated seconds",
            CostUnit::TrainingSteps => "training steps",
            CostUnit::EnvironmentSteps => "environment steps",
        })
    }
}

/// The result of evaluating one candidate.
///
/// A candidate that fails (a NaN loss, an invalid graph, diverged training) is an
/// evaluation like any other, built with [`Evaluation::failed`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Fitness on validation data: what the search maximises.
    pub validation: f64,
    /// Fitness on test data, never seen by the search; for re-evaluation only. NaN
    /// where the evaluator has no test data (records holding NaN then compare
    /// unequal under `==`, as floats do).
    pub test: f64,
    /// Cost of the evaluation on the simulated clock, in the evaluator's
    /// [`CostUnit`] (seconds unless it declares another).
    pub cost_s: f64,
}

impl Evaluation {
    /// The fitness given to a candidate that failed to evaluate.
    pub const FAILURE_FITNESS: f64 = f64::NEG_INFINITY;

    /// The evaluation of a candidate that failed after spending `cost_s`.
    pub fn failed(cost_s: f64) -> Self {
        Self {
            validation: Self::FAILURE_FITNESS,
            test: Self::FAILURE_FITNESS,
            cost_s,
        }
    }

    /// Whether this is a failure.
    pub fn is_failure(&self) -> bool {
        self.validation == Self::FAILURE_FITNESS || self.validation.is_nan()
    }
}

/// A failure of the machinery that evaluates, not of the candidate: no worker
/// answered in time, the job queue is gone. It is never a fitness: a search that
/// gets one stops with [`SearchError::Infrastructure`](crate::SearchError) and
/// caches nothing of the batch it hit, so a later run (or the same one resumed)
/// evaluates those candidates for real.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InfrastructureError(pub String);

/// Turns candidates into evaluations: the costly step the techniques avoid.
///
/// A candidate that fails (NaN, an invalid graph, diverged training) is an
/// [`Evaluation::failed`], a fitness outcome. An evaluator that can fail for
/// reasons outside the candidate (remote workers, a timeout) also implements
/// [`Evaluator::try_evaluate`] and [`Evaluator::try_evaluate_batch`], which the
/// search calls, so that such a failure stops the run instead of being scored.
pub trait Evaluator<C> {
    /// Evaluates `candidate`. `rng` is the evaluator's own stream (for noise, random
    /// repeats); the search's stream is never passed here, so that skipping an
    /// evaluation cannot change what the search proposes.
    fn evaluate(&self, candidate: &C, rng: &mut SearchRng) -> Evaluation;

    /// The unit of the costs this evaluator charges (and of its hasher's, and of
    /// the search's budget); records carry it. Simulated seconds unless an
    /// evaluator declares another.
    fn cost_unit(&self) -> CostUnit {
        CostUnit::SimulatedSeconds
    }

    /// Evaluates a batch of candidates, each with its own stream, as
    /// [`Mode::Parallel`](crate::Mode::Parallel) does one batch of a
    /// generation. The answer must be what [`Evaluator::evaluate`] gives each job,
    /// in order; by default the jobs are spread over rayon's pool. An evaluator
    /// overrides it to share work across the batch (the proxy GP computes the
    /// subtrees that several trees share once per network).
    fn evaluate_batch(&self, jobs: &mut [(&C, SearchRng)]) -> Vec<Evaluation>
    where
        Self: Sync,
        C: Sync,
    {
        use rayon::prelude::*;
        jobs.par_iter_mut()
            .with_max_len(1)
            .map(|(candidate, rng)| self.evaluate(candidate, rng))
            .collect()
    }

    /// [`Evaluator::evaluate`], or the infrastructure's failure. The search calls
    /// this; by default it cannot fail.
    fn try_evaluate(
        &self,
        candidate: &C,
        rng: &mut SearchRng,
    ) -> Result<Evaluation, InfrastructureError> {
        Ok(self.evaluate(candidate, rng))
    }

    /// [`Evaluator::evaluate_batch`], or the infrastructure's failure (then no
    /// evaluation of the batch is used). The search calls this; by default it
    /// cannot fail.
    fn try_evaluate_batch(
        &self,
        jobs: &mut [(&C, SearchRng)],
    ) -> Result<Vec<Evaluation>, InfrastructureError>
    where
        Self: Sync,
        C: Sync,
    {
        Ok(self.evaluate_batch(jobs))
    }
}

/// A closure `|candidate, rng| evaluation` is an evaluator (of simulated
/// seconds; a type of your own declares another [`CostUnit`]).
///
/// ```
/// use ufh_search::{Evaluation, Evaluator, SearchRng};
/// use rand::SeedableRng;
///
/// let train = |x: &u32, _: &mut SearchRng| Evaluation {
///     validation: f64::from(*x),
///     test: f64::from(*x),
///     cost_s: 1.0,
/// };
/// assert_eq!(train.evaluate(&3, &mut SearchRng::seed_from_u64(0)).validation, 3.0);
/// ```
impl<C, F> Evaluator<C> for F
where
    F: Fn(&C, &mut SearchRng) -> Evaluation,
{
    fn evaluate(&self, candidate: &C, rng: &mut SearchRng) -> Evaluation {
        self(candidate, rng)
    }
}

/// Gives a candidate's functional hash and what computing it costs.
pub trait CandidateHasher<C> {
    /// The functional hash of `candidate`.
    fn hash(&self, candidate: &C) -> FunctionalHash;

    /// What one hash costs on the simulated clock, in the evaluator's
    /// [`CostUnit`] (the paper's NAS-Bench-101 setup charges 10 s).
    fn cost_s(&self) -> f64;
}
