//! Fitness over a set of tasks, and the functional hash of a program.

use rand::{Rng, SeedableRng};
use ufh_core::{FunctionalHash, HashSpec, HashableOutputs, MantissaBits, Probe, functional_hash};
use ufh_search::{CandidateHasher, Evaluation, Evaluator, SearchRng};

use super::interpreter::{Limits, Memory, TaskOutcome, run_task};
use super::liveness::live_code;
use super::program::{MemoryLayout, Program};
use super::task::Task;

/// Settings of the functional hash of programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProgramHashConfig {
    /// Mantissa bits kept of every error (f64: 1..=52).
    pub mantissa_bits: u32,
    /// Training examples per task whose errors are hashed; the same number of
    /// validation examples follows.
    pub n_examples: usize,
    /// The fixed seed the programs' random ops draw from while hashing.
    pub seed: u64,
}

impl ProgramHashConfig {
    /// The paper's setting: the errors of the first 10 training steps and 10
    /// validation examples of every task, 24 mantissa bits (as every ufh setup
    /// uses), one fixed seed.
    pub const PAPER: ProgramHashConfig = ProgramHashConfig {
        mantissa_bits: 24,
        n_examples: 10,
        seed: 235_732_282,
    };
}

/// Why a [`ProgramEvaluator`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluatorError {
    /// No task to evaluate on.
    #[error("an AutoML-Zero evaluator needs at least one task")]
    NoTasks,
    /// A task lacks training or validation examples.
    #[error(
        "task {task} ({name}) has {train} training and {valid} validation examples; both must be at least 1"
    )]
    EmptyTask {
        /// Position of the task.
        task: usize,
        /// Its name.
        name: String,
        /// Its training examples.
        train: usize,
        /// Its validation examples.
        valid: usize,
    },
    /// The hash settings are out of range.
    #[error("functional hash of programs: {0}")]
    Hash(ufh_core::HashError),
}

// By hand rather than `#[from]`, which would also make the error the source and
// so print it twice under `{:#}`.
impl From<ufh_core::HashError> for EvaluatorError {
    fn from(e: ufh_core::HashError) -> Self {
        Self::Hash(e)
    }
}

/// The evaluation of a program on every task, with what the search does not see.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramEvaluation {
    /// Mean validation fitness over the tasks (a diverged task scores 0).
    pub validation: f64,
    /// Mean test fitness over the tasks; NaN when the tasks have no test examples.
    pub test: f64,
    /// Training steps executed, over all tasks.
    pub train_steps: u64,
    /// Each task's outcome, in task order.
    pub tasks: Vec<TaskOutcome>,
}

/// Evaluates programs on a fixed set of tasks with feature size `F`, and hashes
/// them: both [`Evaluator`] and [`CandidateHasher`] of `ufh-search`.
///
/// Fitness is AutoML-Zero's: the mean over tasks of each task's validation fitness
/// after one epoch of training (a task whose errors diverge, NaN or above 100,
/// scores AutoML-Zero's minimum fitness 0). Evaluation is deterministic: the
/// program's random ops draw from each task's own seed, so the search's evaluator
/// stream is not used. Costs are in training steps: `cost_s` counts one per
/// example trained on, the compute unit AutoML-Zero budgets by; hashing costs
/// `n_examples` steps per task.
///
/// A program that does not fit the memory layout or the feature size is a failed
/// evaluation; such programs all share one hash.
#[derive(Debug, Clone)]
pub struct ProgramEvaluator<const F: usize> {
    tasks: Vec<Task<F>>,
    layout: MemoryLayout,
    hash: ProgramHashConfig,
    spec: HashSpec,
}

/// What every program that cannot run hashes to.
const UNRUNNABLE: u64 = 0x756e_7275_6e6e_6162; // "unrunnab"

impl<const F: usize> ProgramEvaluator<F> {
    /// An evaluator over `tasks` for programs of `layout`.
    pub fn new(
        tasks: Vec<Task<F>>,
        layout: MemoryLayout,
        hash: ProgramHashConfig,
    ) -> Result<Self, EvaluatorError> {
        if tasks.is_empty() {
            return Err(EvaluatorError::NoTasks);
        }
        if let Some((task, t)) = tasks
            .iter()
            .enumerate()
            .find(|(_, t)| t.train.is_empty() || t.valid.is_empty())
        {
            return Err(EvaluatorError::EmptyTask {
                task,
                name: t.name.clone(),
                train: t.train.len(),
                valid: t.valid.len(),
            });
        }
        let spec = HashSpec::new(
            MantissaBits::f64(hash.mantissa_bits)?,
            hash.n_examples,
            vec![hash.seed],
        )?;
        Ok(Self {
            tasks,
            layout,
            hash,
            spec,
        })
    }

    /// The tasks.
    pub fn tasks(&self) -> &[Task<F>] {
        &self.tasks
    }

    /// The hash settings.
    pub fn hash_config(&self) -> ProgramHashConfig {
        self.hash
    }

    /// Runs `program` on every task; `None` if it does not fit the layout.
    pub fn evaluate_program(&self, program: &Program) -> Option<ProgramEvaluation> {
        program.check(self.layout, F).ok()?;
        let live = live_code(program);
        let program = live.as_ref().unwrap_or(program);
        let mut memory = Memory::<F>::new(self.layout);
        let with_test = self.tasks.iter().all(|t| !t.test.is_empty());
        let tasks: Vec<TaskOutcome> = self
            .tasks
            .iter()
            .map(|task| {
                let mut rng = SearchRng::seed_from_u64(task.rng_seed);
                let limits = Limits {
                    n_train: usize::MAX,
                    n_valid: usize::MAX,
                    test: with_test,
                    errors: None,
                };
                run_task(program, task, &mut memory, &mut rng, limits)
            })
            .collect();
        let n = tasks.len() as f64;
        let mean = |f: fn(&TaskOutcome) -> f64| tasks.iter().map(f).sum::<f64>() / n;
        Some(ProgramEvaluation {
            validation: mean(|t| t.validation),
            test: if with_test {
                mean(|t| t.test)
            } else {
                f64::NAN
            },
            train_steps: tasks.iter().map(|t| t.train_steps).sum(),
            tasks,
        })
    }

    /// The functional hash of `program`.
    pub fn hash_program(&self, program: &Program) -> FunctionalHash {
        let probe = HashRun {
            program,
            evaluator: self,
        };
        functional_hash(&probe, &self.spec).unwrap_or(FunctionalHash(UNRUNNABLE))
    }
}

/// A program bound to the tasks it is hashed on.
struct HashRun<'a, const F: usize> {
    program: &'a Program,
    evaluator: &'a ProgramEvaluator<F>,
}

/// The program cannot run in the evaluator's layout.
struct Unrunnable;

impl<const F: usize> HashableOutputs for HashRun<'_, F> {
    type Error = Unrunnable;

    /// For each task in order: the absolute errors of the first `n` training steps
    /// and then of the first `n` validation examples, as AutoML-Zero's FEC
    /// collects them; a task that diverges stops there and pushes one NaN. The
    /// program's random ops draw from a stream seeded per task from the probe's
    /// RNG.
    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Unrunnable> {
        let evaluator = self.evaluator;
        self.program
            .check(evaluator.layout, F)
            .map_err(|_| Unrunnable)?;
        let live = live_code(self.program);
        let program = live.as_ref().unwrap_or(self.program);
        let mut memory = Memory::<F>::new(evaluator.layout);
        let n = probe.n_examples();
        for task in &evaluator.tasks {
            let mut rng = SearchRng::seed_from_u64(probe.rng().random());
            let mut push = |error: f64| probe.push_f64(error);
            let limits = Limits {
                n_train: n,
                n_valid: n,
                test: false,
                errors: Some(&mut push),
            };
            let outcome = run_task(program, task, &mut memory, &mut rng, limits);
            if outcome.diverged.is_some() {
                probe.push_f64(f64::NAN);
            }
        }
        Ok(())
    }
}

impl<const F: usize> Evaluator<Program> for ProgramEvaluator<F> {
    fn evaluate(&self, program: &Program, _rng: &mut SearchRng) -> Evaluation {
        match self.evaluate_program(program) {
            Some(e) => Evaluation {
                validation: e.validation,
                test: e.test,
                cost_s: e.train_steps as f64,
            },
            None => Evaluation::failed(0.0),
        }
    }
}

impl<const F: usize> CandidateHasher<Program> for ProgramEvaluator<F> {
    fn hash(&self, program: &Program) -> FunctionalHash {
        self.hash_program(program)
    }

    fn cost_s(&self) -> f64 {
        (self.tasks.len() * self.hash.n_examples) as f64
    }
}
