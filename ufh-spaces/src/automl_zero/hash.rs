//! The functional hash of a program: its live code run on the probe's tasks, with
//! a memo of the live codes already run.

use std::cell::RefCell;

use rand::Rng;
use rustc_hash::FxHashMap;
use ufh_core::{
    Bits128, FunctionalHash, FunctionalHasher, HashableOutputs, MantissaBits, Probe,
    functional_hash,
};
use ufh_search::CandidateHasher;

use super::evaluate::{ProgramEvaluator, Runs, Workspace};
use super::interpreter::{Limits, in_task_order, run_tasks};
use super::liveness::live_code_into;
use super::op::{DataKind, Op};
use super::program::Program;

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
    /// The hash settings.
    pub fn hash_config(&self) -> ProgramHashConfig {
        self.hash
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
    pub(super) fn run_hash(&self, program: &Program, runs: &mut Runs<F>) -> FunctionalHash {
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
pub(super) fn runnable<'p>(
    program: &'p Program,
    keep: &mut Vec<bool>,
    live: &'p mut Program,
) -> &'p Program {
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

impl<const F: usize> CandidateHasher<Program> for ProgramEvaluator<F> {
    fn hash(&self, program: &Program) -> FunctionalHash {
        self.hash_program(program)
    }

    fn cost_s(&self) -> f64 {
        (self.tasks.len() * self.hash.n_examples) as f64
    }
}
