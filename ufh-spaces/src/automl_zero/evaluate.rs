//! Fitness over a set of tasks, and the functional hash of a program.

use std::cell::RefCell;
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rustc_hash::FxHashMap;
use ufh_core::{
    Bits128, FunctionalHash, FunctionalHasher, HashSpec, HashableOutputs, MantissaBits, Probe,
    functional_hash,
};
use ufh_search::{CandidateHasher, Evaluation, Evaluator, SearchRng};

use super::interpreter::{Lane, Limits, Memory, TaskOutcome, in_task_order, run_tasks};
use super::liveness::live_code_into;
use super::op::{DataKind, Op};
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
///
/// The functional hash of a program is a function of its live code alone (the
/// probe runs nothing else), so the hasher remembers the hashes of the last live
/// codes it ran, keyed by a 128-bit digest of the fields their ops read
/// ([`live_code_key`]): a child whose mutation touched only dead code, or left
/// the program as it was, gets its parent's hash without a run. This changes no
/// hash and no record; it only skips work.
#[derive(Debug)]
pub struct ProgramEvaluator<const F: usize> {
    tasks: Vec<Task<F>>,
    layout: MemoryLayout,
    hash: ProgramHashConfig,
    spec: HashSpec,
    memo: Mutex<FxHashMap<u128, FunctionalHash>>,
    /// Workspaces of finished runs, reused: one memory is 42 KiB at F = 4, and
    /// zeroing a fresh one cost more than a hash run of a short program.
    workspaces: Mutex<Vec<Workspace<F>>>,
}

/// What one hash or evaluation works in: the runs' buffers and the program's
/// live code, reused from one candidate to the next so that neither allocates.
#[derive(Debug)]
struct Workspace<const F: usize> {
    runs: Runs<F>,
    /// Scratch of the liveness analysis.
    keep: Vec<bool>,
    /// The live code of the program at hand.
    live: Program,
}

/// What one run over every task works in: a memory and an error list per task.
#[derive(Debug)]
struct Runs<const F: usize> {
    memories: Vec<Memory<F>>,
    errors: Vec<Vec<f64>>,
}

impl<const F: usize> Runs<F> {
    /// The lanes of a run of every task in `tasks`, task `i`'s random ops drawing
    /// from the seed `seed(i)`.
    fn lanes<'a>(
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

/// Live codes whose hashes the evaluator remembers; the memo is emptied when it
/// is full (about 1.5 MiB), which bounds memory and costs only repeated runs.
const MEMO_CAPACITY: usize = 1 << 16;

/// A 128-bit digest of exactly what running `program` depends on: per
/// instruction, its op, the input and output addresses and element indices the
/// op uses (indices modulo F) and the data it reads, bit for bit; unused fields
/// are left out, so instructions that differ only there share the key.
pub fn live_code_key<const F: usize>(program: &Program) -> u128 {
    let mut digest = FunctionalHasher::<Bits128>::with_width(
        MantissaBits::f64(52).expect("52 mantissa bits fit an f64"),
    );
    for (component, code) in [&program.setup, &program.predict, &program.learn]
        .into_iter()
        .enumerate()
    {
        // Component boundaries are part of the key: (a; b) in Setup differs from
        // a in Setup and b in Predict.
        digest.push_u64(u64::MAX - component as u64);
        for ins in code {
            let op = ins.op;
            let mut word = u64::from(op.id());
            let addresses = op.inputs().len();
            if addresses >= 1 {
                word |= u64::from(ins.in1) << 8;
            }
            if addresses >= 2 {
                word |= u64::from(ins.in2) << 16;
            }
            if op.output().is_some() {
                word |= u64::from(ins.out) << 24;
            }
            match op {
                Op::VectorConstSet => word |= ((usize::from(ins.index[0]) % F) as u64) << 32,
                Op::MatrixConstSet => {
                    word |= ((usize::from(ins.index[0]) % F) as u64) << 32;
                    word |= ((usize::from(ins.index[1]) % F) as u64) << 40;
                }
                _ => {}
            }
            digest.push_u64(word);
            match op.data() {
                DataKind::None => {}
                DataKind::Constant => digest.push_u64(ins.data[0].to_bits()),
                DataKind::Uniform | DataKind::Gaussian => {
                    digest.push_u64(ins.data[0].to_bits());
                    digest.push_u64(ins.data[1].to_bits());
                }
            }
        }
    }
    digest.finish().0
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
            memo: Mutex::default(),
            workspaces: Mutex::default(),
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

    /// The functional hash of `program`.
    pub fn hash_program(&self, program: &Program) -> FunctionalHash {
        self.hash_with(program, true)
    }

    /// The functional hash of `program` computed by running it, without the memo.
    pub fn hash_program_uncached(&self, program: &Program) -> FunctionalHash {
        self.hash_with(program, false)
    }

    fn hash_with(&self, program: &Program, remember: bool) -> FunctionalHash {
        if program.check(self.layout, F).is_err() {
            return FunctionalHash(UNRUNNABLE);
        }
        let mut workspace = self.take_workspace();
        let Workspace { runs, keep, live } = &mut workspace;
        let program = runnable(program, keep, live);
        let key = remember.then(|| live_code_key::<F>(program));
        let remembered = key.and_then(|key| self.memo().get(&key).copied());
        let hash = remembered.unwrap_or_else(|| self.run_hash(program, runs));
        self.give_back_workspace(workspace);
        if let (Some(key), None) = (key, remembered) {
            let mut memo = self.memo();
            if memo.len() >= MEMO_CAPACITY {
                memo.clear();
            }
            memo.insert(key, hash);
        }
        hash
    }

    /// Runs the probe on a checked program (its live code, when it has one).
    fn run_hash(&self, program: &Program, runs: &mut Runs<F>) -> FunctionalHash {
        let probe = HashRun {
            program,
            evaluator: self,
            runs: RefCell::new(runs),
        };
        match functional_hash(&probe, &self.spec) {
            Ok(hash) => hash,
            Err(never) => match never {},
        }
    }

    /// A workspace for a run: a reused one, or a new one (runs wipe its memories
    /// first).
    fn take_workspace(&self) -> Workspace<F> {
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

    fn give_back_workspace(&self, workspace: Workspace<F>) {
        self.workspaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(workspace);
    }

    /// The memo; a poisoned lock (a panic while another thread held it) still
    /// holds only correct hashes.
    fn memo(&self) -> std::sync::MutexGuard<'_, FxHashMap<u128, FunctionalHash>> {
        self.memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A checked program bound to the tasks it is hashed on.
struct HashRun<'a, const F: usize> {
    program: &'a Program,
    evaluator: &'a ProgramEvaluator<F>,
    runs: RefCell<&'a mut Runs<F>>,
}

/// What runs of a checked `program`: its live code, written into `live` (the
/// program itself when liveness cannot analyse it).
fn runnable<'p>(program: &'p Program, keep: &mut Vec<bool>, live: &'p mut Program) -> &'p Program {
    if live_code_into(program, keep, live) {
        live
    } else {
        program
    }
}

impl<const F: usize> HashableOutputs for HashRun<'_, F> {
    type Error = std::convert::Infallible;

    /// For each task in order: the absolute errors of the first `n` training steps
    /// and then of the first `n` validation examples, as AutoML-Zero's FEC
    /// collects them; a task that diverges stops there and pushes one NaN. The
    /// program's random ops draw from a stream seeded per task from the probe's
    /// RNG.
    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Self::Error> {
        let evaluator = self.evaluator;
        let program = self.program;
        let n = probe.n_examples();
        // Drawn in task order, as a task-by-task run would draw them.
        let seeds: Vec<u64> = evaluator
            .tasks
            .iter()
            .map(|_| probe.rng().random())
            .collect();
        let mut runs = self.runs.borrow_mut();
        let mut lanes = runs.lanes(&evaluator.tasks, |i| seeds[i]);
        let limits = Limits {
            n_train: n,
            n_valid: n,
            test: false,
            record_errors: true,
            score: false,
        };
        run_tasks(program, &mut lanes, limits);
        in_task_order(&mut lanes);
        for lane in &lanes {
            probe.push_f64s(lane.errors);
            if lane.outcome.diverged.is_some() {
                probe.push_f64(f64::NAN);
            }
        }
        Ok(())
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

impl<const F: usize> CandidateHasher<Program> for ProgramEvaluator<F> {
    fn hash(&self, program: &Program) -> FunctionalHash {
        self.hash_program(program)
    }

    fn cost_s(&self) -> f64 {
        (self.tasks.len() * self.hash.n_examples) as f64
    }
}
