//! Fitness of a program over a set of tasks: the evaluator.

use std::sync::Mutex;

use rand::SeedableRng;
use rustc_hash::FxHashMap;
use ufh_core::{FunctionalHash, HashSpec, MantissaBits};
use ufh_search::{Evaluation, Evaluator, SearchRng};

use super::hash::{ProgramHashConfig, runnable};
use super::interpreter::{Lane, Limits, Memory, TaskOutcome, in_task_order, run_tasks};
use super::program::{MemoryLayout, Program};
use super::task::Task;

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
/// them: both [`Evaluator`] and [`CandidateHasher`](ufh_search::CandidateHasher) of
/// `ufh-search` (the hash is in `hash.rs`).
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
///
/// The functional hash of a program is a function of its live code alone (the
/// probe runs nothing else), so the hasher remembers the hashes of the last live
/// codes it ran, keyed by a 128-bit digest of the fields their ops read
/// ([`live_code_key`](super::live_code_key)): a child whose mutation touched only dead code, or left
/// the program as it was, gets its parent's hash without a run. This changes no
/// hash and no record; it only skips work.
#[derive(Debug)]
pub struct ProgramEvaluator<const F: usize> {
    pub(super) tasks: Vec<Task<F>>,
    pub(super) layout: MemoryLayout,
    pub(super) hash: ProgramHashConfig,
    pub(super) spec: HashSpec,
    pub(super) memo: Mutex<FxHashMap<u128, FunctionalHash>>,
    /// Workspaces of finished runs, reused: one memory is 42 KiB at F = 4, and
    /// zeroing a fresh one cost more than a hash run of a short program.
    pub(super) workspaces: Mutex<Vec<Workspace<F>>>,
}

/// What one hash or evaluation works in: the runs' buffers and the program's
/// live code, reused from one candidate to the next so that neither allocates.
#[derive(Debug)]
pub(super) struct Workspace<const F: usize> {
    pub(super) runs: Runs<F>,
    /// Scratch of the liveness analysis.
    pub(super) keep: Vec<bool>,
    /// The live code of the program at hand.
    pub(super) live: Program,
}

/// What one run over every task works in: a memory and an error list per task.
#[derive(Debug)]
pub(super) struct Runs<const F: usize> {
    memories: Vec<Memory<F>>,
    errors: Vec<Vec<f64>>,
}

impl<const F: usize> Runs<F> {
    /// The lanes of a run of every task in `tasks`, task `i`'s random ops drawing
    /// from the seed `seed(i)`.
    pub(super) fn lanes<'a>(
        &'a mut self,
        tasks: &'a [Task<F>],
        mut seed: impl FnMut(usize) -> u64,
    ) -> Vec<Lane<'a, F>> {
        tasks
            .iter()
            .zip(self.memories.iter_mut())
            .zip(self.errors.iter_mut())
            .enumerate()
            .map(|(i, ((task, mem), errors))| {
                Lane::new(i, task, mem, SearchRng::seed_from_u64(seed(i)), errors)
            })
            .collect()
    }
}

impl<const F: usize> Clone for ProgramEvaluator<F> {
    /// A copy with an empty memo.
    fn clone(&self) -> Self {
        Self {
            tasks: self.tasks.clone(),
            layout: self.layout,
            hash: self.hash,
            spec: self.spec.clone(),
            memo: Mutex::default(),
            workspaces: Mutex::default(),
        }
    }
}

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
            memo: Mutex::default(),
            workspaces: Mutex::default(),
        })
    }

    /// The tasks.
    pub fn tasks(&self) -> &[Task<F>] {
        &self.tasks
    }

    /// Runs `program` on every task; `None` if it does not fit the layout.
    pub fn evaluate_program(&self, program: &Program) -> Option<ProgramEvaluation> {
        program.check(self.layout, F).ok()?;
        let mut workspace = self.take_workspace();
        let Workspace { runs, keep, live } = &mut workspace;
        let program = runnable(program, keep, live);
        let with_test = self.tasks.iter().all(|t| !t.test.is_empty());
        let mut lanes = runs.lanes(&self.tasks, |i| self.tasks[i].rng_seed);
        let limits = Limits {
            n_train: usize::MAX,
            n_valid: usize::MAX,
            test: with_test,
            record_errors: false,
            score: true,
        };
        run_tasks(program, &mut lanes, limits);
        in_task_order(&mut lanes);
        let tasks: Vec<TaskOutcome> = lanes.iter().map(|lane| lane.outcome).collect();
        drop(lanes);
        self.give_back_workspace(workspace);
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

    /// A workspace for a run: a reused one, or a new one (runs wipe its memories
    /// first).
    pub(super) fn take_workspace(&self) -> Workspace<F> {
        let reused = self
            .workspaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        reused.unwrap_or_else(|| Workspace {
            runs: Runs {
                memories: self
                    .tasks
                    .iter()
                    .map(|_| Memory::new(self.layout))
                    .collect(),
                errors: vec![Vec::new(); self.tasks.len()],
            },
            keep: Vec::new(),
            live: Program::default(),
        })
    }

    pub(super) fn give_back_workspace(&self, workspace: Workspace<F>) {
        self.workspaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(workspace);
    }
}

impl<const F: usize> Evaluator<Program> for ProgramEvaluator<F> {
    fn cost_unit(&self) -> ufh_search::CostUnit {
        ufh_search::CostUnit::TrainingSteps
    }

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
