//! The two AutoML-Zero setups ufh ships: the demo that rediscovers linear
//! regression, and projected binary classification on the digits.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Instant;

use ufh_search::{
    Budget, Checkpoints, EvolutionConfig, Mode, Replacement, Search, SearchError, SearchRecord,
    Techniques,
};

use super::evaluate::{EvaluatorError, ProgramEvaluator};
use super::hash::ProgramHashConfig;
use super::op::Op;
use super::program::{Instruction, MemoryLayout, Program};
use super::space::{
    InitialProgram, Mutation, ProgramSpace, ProgramSpaceConfig, SizeBounds, SpaceError,
};
use super::task::{
    SEARCH_PAIRS, SplitSizes, Task, all_digit_pairs, linear_regression_tasks,
    projected_digits_tasks,
};

/// Feature size of the linear-regression demo.
pub const DEMO_FEATURES: usize = 4;

/// AutoML-Zero's demo that rediscovers linear regression trained by SGD, with the
/// settings of its `run_demo.sh` (google-research/automl_zero).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearRegressionDemo {
    /// Addresses: 4 scalars, 3 vectors, 1 matrix.
    pub layout: MemoryLayout,
    /// Fixed sizes: Setup 10, Predict 2, Learn 8.
    pub sizes: [usize; 3],
    /// The six ops allowed in all three component functions.
    pub ops: [Op; 6],
    /// Population size: 1,000.
    pub population_size: usize,
    /// Tournament size: 10, drawn with replacement.
    pub tournament_size: usize,
    /// Probability of mutating a child: 0.9.
    pub mutate_prob: f64,
    /// Search tasks per experiment: 10.
    pub search_tasks: usize,
    /// Examples per search task: 100 training, 100 validation (and no test).
    pub search_sizes: SplitSizes,
    /// Selection tasks: 100.
    pub selection_tasks: usize,
    /// Examples per selection task: 1,000 training, 100 validation.
    pub selection_sizes: SplitSizes,
    /// Training steps after which an experiment ends: 2 × 10⁸.
    pub max_train_steps: f64,
    /// Selection fitness that ends the run: 0.9999.
    pub sufficient_fitness: f64,
}

/// The demo's settings.
pub const LINEAR_REGRESSION_DEMO: LinearRegressionDemo = LinearRegressionDemo {
    layout: MemoryLayout {
        scalars: 4,
        vectors: 3,
        matrices: 1,
    },
    sizes: [10, 2, 8],
    ops: [
        Op::ScalarConstSet,
        Op::VectorInnerProduct,
        Op::ScalarDiff,
        Op::ScalarProduct,
        Op::ScalarVectorProduct,
        Op::VectorSum,
    ],
    population_size: 1000,
    tournament_size: 10,
    mutate_prob: 0.9,
    search_tasks: 10,
    search_sizes: SplitSizes {
        train: 100,
        valid: 100,
        test: 0,
    },
    selection_tasks: 100,
    selection_sizes: SplitSizes {
        train: 1000,
        valid: 100,
        test: 0,
    },
    max_train_steps: 2e8,
    sufficient_fitness: 0.9999,
};

/// The program the demo rediscovers: SGD on a linear model with `learning_rate`,
/// in the demo's addresses (weights `v1`, learning rate `s2`).
///
/// ```text
/// def Setup():   s2 = learning_rate
/// def Predict(): s1 = dot(v1, v0)
/// def Learn():   s3 = s0 - s1; s3 = s2 * s3; v2 = s3 * v0; v1 = v1 + v2
/// ```
pub fn sgd_program(learning_rate: f64) -> Program {
    Program {
        setup: vec![Instruction::scalar_constant(2, learning_rate)],
        predict: vec![Instruction::new(Op::VectorInnerProduct, &[1, 0], 1)],
        learn: vec![
            Instruction::new(Op::ScalarDiff, &[0, 1], 3),
            Instruction::new(Op::ScalarProduct, &[2, 3], 3),
            Instruction::new(Op::ScalarVectorProduct, &[3, 0], 2),
            Instruction::new(Op::VectorSum, &[1, 2], 1),
        ],
    }
}

/// Seed of the selection tasks (fixed across experiments).
const SELECTION_SEED: u64 = 0x005e_1ec7;

/// How to run the demo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoOptions {
    /// Seed of the whole run: search seeds and task seeds derive from it.
    pub seed: u64,
    /// Techniques (the demo runs with `FecConfig::AUTOML_ZERO`, the C++ demo's FEC).
    pub techniques: Techniques,
    /// Workers: 1 runs serially; more run each generation on rayon's pool.
    pub workers: NonZeroUsize,
    /// Experiments before giving up.
    pub max_experiments: usize,
    /// Mantissa bits and examples of the functional hash.
    pub hash: ProgramHashConfig,
    /// Whether each experiment's record keeps its events; without them a long
    /// run's memory stays flat (the summaries and counts are kept either way).
    pub keep_events: bool,
    /// Whether an experiment stops at its first candidate whose search fitness
    /// reaches the target (`true`, ufh's default), or runs its whole budget and
    /// checks its best program on the selection tasks only at the end, as
    /// AutoML-Zero's C++ demo does (`false`), for a like-for-like time to
    /// solution.
    pub stop_early: bool,
}

/// Where and how often [`LinearRegressionDemo::run_resumable`] checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCheckpoints {
    /// The folder of the experiments' checkpoints.
    pub dir: PathBuf,
    /// Wall time between checkpoints of a search.
    pub every: std::time::Duration,
}

/// One experiment of the demo: a search on fresh tasks, then selection.
#[derive(Debug, Clone)]
pub struct ExperimentReport {
    /// Experiment number, from 0.
    pub experiment: usize,
    /// Candidates proposed (cache hits included).
    pub candidates: u64,
    /// Candidates that were evaluated (all but full cache hits).
    pub evaluations: u64,
    /// Full cache hits over candidates; 0 without FEC.
    pub hit_rate: f64,
    /// Wall-clock seconds of the search.
    pub search_s: f64,
    /// The fittest program of the search.
    pub best: Program,
    /// Its fitness on the search tasks.
    pub search_fitness: f64,
    /// Candidates proposed in this experiment up to and including the best.
    pub candidates_to_best: u64,
    /// Its fitness on the selection tasks.
    pub selection_fitness: f64,
    /// The search's record.
    pub record: SearchRecord,
}

/// The outcome of the demo.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Every experiment run.
    pub experiments: Vec<ExperimentReport>,
    /// Whether an experiment's best program passed selection.
    pub solved: bool,
    /// Candidates proposed in all experiments up to the program that passed
    /// selection: the solving experiment counts up to its solution when it
    /// stopped there, and whole when it ran its budget (or every experiment
    /// whole, if none solved).
    pub candidates_to_solution: u64,
}

impl DemoReport {
    /// Candidates per wall-clock second over all searches.
    pub fn candidates_per_s(&self) -> f64 {
        let n: u64 = self.experiments.iter().map(|e| e.candidates).sum();
        let s: f64 = self.experiments.iter().map(|e| e.search_s).sum();
        n as f64 / s
    }

    /// The last experiment's best program: the solution if solved.
    pub fn program(&self) -> Option<&Program> {
        self.experiments.last().map(|e| &e.best)
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The space settings are invalid.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// The evaluator settings are invalid.
    #[error(transparent)]
    Evaluator(#[from] EvaluatorError),
    /// The search settings are invalid.
    #[error(transparent)]
    Search(#[from] SearchError),
}

fn experiment_seed(seed: u64, experiment: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (experiment as u64).wrapping_add(1)
}

impl LinearRegressionDemo {
    /// The search space: random initial programs, fixed sizes, the six ops in every
    /// component function, mutations {alter argument, randomize instruction,
    /// randomize component function}.
    pub fn space(&self) -> ProgramSpaceConfig {
        let [setup, predict, learn] = self.sizes;
        ProgramSpaceConfig {
            features: DEMO_FEATURES,
            layout: self.layout,
            setup_ops: self.ops.to_vec(),
            predict_ops: self.ops.to_vec(),
            learn_ops: self.ops.to_vec(),
            setup_size: SizeBounds::fixed(setup),
            predict_size: SizeBounds::fixed(predict),
            learn_size: SizeBounds::fixed(learn),
            mutations: vec![
                Mutation::AlterParam,
                Mutation::RandomizeInstruction,
                Mutation::RandomizeComponent,
            ],
            mutate_prob: self.mutate_prob,
            initial: InitialProgram::Random,
        }
    }

    /// Regularized evolution with tournaments drawn with replacement.
    pub fn evolution(&self) -> EvolutionConfig {
        EvolutionConfig {
            population_size: self.population_size,
            tournament_size: self.tournament_size,
            replacement: Replacement::Oldest,
        }
    }

    /// The search tasks of experiment `experiment` of run `seed`: fresh seeds each
    /// experiment, as the demo's `--randomize_task_seeds`.
    pub fn search_tasks(&self, seed: u64, experiment: usize) -> Vec<Task<DEMO_FEATURES>> {
        linear_regression_tasks(
            self.search_tasks,
            self.search_sizes,
            experiment_seed(seed, experiment),
        )
    }

    /// The selection tasks.
    pub fn selection_tasks(&self) -> Vec<Task<DEMO_FEATURES>> {
        linear_regression_tasks(self.selection_tasks, self.selection_sizes, SELECTION_SEED)
    }

    /// Runs experiments until one's best program passes selection: each searches
    /// fresh tasks with regularized evolution until a candidate's search fitness
    /// reaches `sufficient_fitness` or `max_train_steps` are spent, then its best
    /// program is evaluated on the selection tasks. `on_experiment` sees each
    /// experiment as it ends.
    ///
    /// Unlike the C++ demo, which spends the whole training-step budget of every
    /// experiment, an experiment here stops at its first sufficient candidate:
    /// the count of candidates to the solution is the same, the wait is shorter.
    pub fn run(
        &self,
        options: &DemoOptions,
        on_experiment: impl FnMut(&ExperimentReport),
    ) -> Result<DemoReport, DemoError> {
        self.run_resumable(options, None, on_experiment)
    }

    /// [`Self::run`] with each experiment's search checkpointed to
    /// `DIR/experiment-K.json` (every so often and at its end): run again with
    /// the same folder, the demo goes on from where it stopped, finished
    /// experiments read back whole, and it ends with the same report (its wall
    /// times aside).
    pub fn run_resumable(
        &self,
        options: &DemoOptions,
        checkpoints: Option<&DemoCheckpoints>,
        mut on_experiment: impl FnMut(&ExperimentReport),
    ) -> Result<DemoReport, DemoError> {
        let space = self.space().build()?;
        let selection = ProgramEvaluator::new(self.selection_tasks(), self.layout, options.hash)?;
        let mut report = DemoReport {
            experiments: Vec::new(),
            solved: false,
            candidates_to_solution: 0,
        };
        for experiment in 0..options.max_experiments {
            let evaluator = ProgramEvaluator::new(
                self.search_tasks(options.seed, experiment),
                self.layout,
                options.hash,
            )?;
            let search_seed = experiment_seed(options.seed, experiment) ^ 0x5eed;
            let search = Search::new(
                &space,
                &evaluator,
                Budget::SimulatedSeconds(self.max_train_steps),
                search_seed,
            )
            .hasher(&evaluator)
            .techniques(options.techniques)?
            .keep_events(options.keep_events);
            let search = if options.stop_early {
                search.stop_at_fitness(self.sufficient_fitness)?
            } else {
                search
            };
            let checkpoint = checkpoints.map(|c| {
                // The demo's setup and the hash's settings decide the results: a
                // checkpoint of other settings is refused.
                let settings = ufh_search::Namespace::of_text(&format!(
                    "automl-zero demo: {self:?}; hash {:?}; stop early {}",
                    options.hash, options.stop_early
                ));
                Checkpoints::new(c.dir.join(format!("experiment-{experiment}.json")))
                    .every_candidates(u64::MAX)
                    .every(c.every)
                    .settings(settings)
            });
            let result = evolve_with(
                &search,
                self.evolution(),
                options.workers,
                checkpoint.as_ref(),
            )?;
            let selection_fitness = selection
                .evaluate_program(&result.best.candidate)
                .map_or(f64::NEG_INFINITY, |e| e.validation);
            let solved = selection_fitness > self.sufficient_fitness;
            let experiment_report = ExperimentReport {
                experiment,
                candidates: result.record.n_events,
                evaluations: result.record.n_evaluations(),
                hit_rate: result.record.hit_rate().unwrap_or(0.0),
                search_s: result.wall_s,
                search_fitness: result.best.validation,
                candidates_to_best: result.best.proposal_index + 1,
                best: result.best.candidate,
                selection_fitness,
                record: result.record,
            };
            on_experiment(&experiment_report);
            // A solving experiment that stopped at its solution counts up to the
            // solution; one that ran its whole budget counts all of it, as the C++
            // demo's experiment does.
            let stopped_at_solution =
                options.stop_early && experiment_report.search_fitness >= self.sufficient_fitness;
            report.candidates_to_solution += if solved && stopped_at_solution {
                experiment_report.candidates_to_best
            } else {
                experiment_report.candidates
            };
            report.experiments.push(experiment_report);
            if solved {
                report.solved = true;
                break;
            }
        }
        Ok(report)
    }
}

/// A finished search with its best program and its wall-clock time.
#[derive(Debug, Clone)]
pub struct Evolved {
    /// The search's record (costs in training steps).
    pub record: SearchRecord,
    /// The fittest program fed back.
    pub best: ufh_search::Best<Program>,
    /// Wall-clock seconds of the search.
    pub wall_s: f64,
}

/// Runs `search` with AutoML-Zero's regularized evolution (`evolution`, tournaments
/// drawn with replacement), serially for one worker or a generation of `workers`
/// at a time on rayon, keeping the best program.
pub fn evolve<const F: usize>(
    search: &Search<'_, ProgramSpace, ProgramEvaluator<F>, ProgramEvaluator<F>>,
    evolution: EvolutionConfig,
    workers: NonZeroUsize,
) -> Result<Evolved, SearchError> {
    evolve_with(search, evolution, workers, None)
}

/// [`evolve`], checkpointing to `checkpoints` and resuming from it if it asks.
pub fn evolve_with<const F: usize>(
    search: &Search<'_, ProgramSpace, ProgramEvaluator<F>, ProgramEvaluator<F>>,
    evolution: EvolutionConfig,
    workers: NonZeroUsize,
    checkpoints: Option<&Checkpoints>,
) -> Result<Evolved, SearchError> {
    let algorithm = evolution.build()?.draws_with_replacement();
    let mode = if workers.get() == 1 {
        Mode::Serial
    } else {
        Mode::Parallel(workers)
    };
    let start = Instant::now();
    let result = match checkpoints {
        Some(checkpoints) => search.run_resumable(algorithm, mode, checkpoints)?.0,
        None => search.run(&mut { algorithm }, mode)?,
    };
    let wall_s = start.elapsed().as_secs_f64();
    let record = result.record;
    let best = result
        .best
        .ok_or_else(|| SearchError::InvalidConfig("the search ran no candidate".into()))?;
    Ok(Evolved {
        record,
        best,
        wall_s,
    })
}

/// Feature size of the projected digits setup.
pub const DIGITS_FEATURES: usize = 8;

/// Setup B of the paper on a dataset that ships with ufh: AutoML-Zero's search
/// "with minimal human input" (its Section 4.2; settings of its `run_baseline.sh`)
/// on projected binary classification of the 8×8 digits instead of CIFAR-10.
///
/// Programs start as single no-ops ("from empty code") and may use all 65 ops in
/// every component function; sizes grow by insertion to at most 7 / 11 / 23
/// instructions; memory has 5 scalars, 9 vectors and 2 matrices; F = 8. Search
/// tasks classify AutoML-Zero's nine search pairs of classes (one task per pair,
/// then more with fresh projections); the other 36 pairs are held out for
/// meta-validation of the best programs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProjectedDigitsSetup {
    /// Addresses.
    pub layout: MemoryLayout,
    /// Size bounds of Setup, Predict and Learn.
    pub sizes: [SizeBounds; 3],
    /// Population size.
    pub population_size: usize,
    /// Tournament size.
    pub tournament_size: usize,
    /// Probability of mutating a child.
    pub mutate_prob: f64,
    /// Search tasks.
    pub search_tasks: usize,
    /// Seed of the tasks' projections.
    pub task_seed: u64,
}

/// The projected digits setup.
pub const PROJECTED_DIGITS: ProjectedDigitsSetup = ProjectedDigitsSetup {
    layout: MemoryLayout {
        scalars: 5,
        vectors: 9,
        matrices: 2,
    },
    sizes: [
        SizeBounds {
            init: 1,
            min: 1,
            max: 7,
        },
        SizeBounds {
            init: 1,
            min: 1,
            max: 11,
        },
        SizeBounds {
            init: 1,
            min: 1,
            max: 23,
        },
    ],
    population_size: 100,
    tournament_size: 10,
    mutate_prob: 0.9,
    search_tasks: 10,
    task_seed: 0x00d1_6175,
};

impl ProjectedDigitsSetup {
    /// The search space.
    pub fn space(&self) -> ProgramSpaceConfig {
        let [setup, predict, learn] = self.sizes;
        ProgramSpaceConfig {
            features: DIGITS_FEATURES,
            layout: self.layout,
            setup_ops: Op::ALL.to_vec(),
            predict_ops: Op::ALL.to_vec(),
            learn_ops: Op::ALL.to_vec(),
            setup_size: setup,
            predict_size: predict,
            learn_size: learn,
            mutations: vec![
                Mutation::AlterParam,
                Mutation::RandomizeComponent,
                Mutation::InsertInstruction,
                Mutation::RemoveInstruction,
            ],
            mutate_prob: self.mutate_prob,
            initial: InitialProgram::NoOp,
        }
    }

    /// Regularized evolution (drawn with replacement by [`evolve`]).
    pub fn evolution(&self) -> EvolutionConfig {
        EvolutionConfig {
            population_size: self.population_size,
            tournament_size: self.tournament_size,
            replacement: Replacement::Oldest,
        }
    }

    /// The search tasks.
    pub fn search_tasks(&self) -> Vec<Task<DIGITS_FEATURES>> {
        projected_digits_tasks(&SEARCH_PAIRS, self.search_tasks, self.task_seed)
    }

    /// The 36 held-out pairs, one task each: meta-validation.
    pub fn held_out_tasks(&self) -> Vec<Task<DIGITS_FEATURES>> {
        let held_out: Vec<(u8, u8)> = all_digit_pairs()
            .into_iter()
            .filter(|p| !SEARCH_PAIRS.contains(p))
            .collect();
        projected_digits_tasks(&held_out, held_out.len(), self.task_seed ^ 0x4e1d)
    }

    /// Runs one search of this setup with `budget` in training steps and returns
    /// its record, its best program and that program's mean accuracy on the
    /// held-out tasks.
    pub fn run(
        &self,
        evaluator: &ProgramEvaluator<DIGITS_FEATURES>,
        held_out: &ProgramEvaluator<DIGITS_FEATURES>,
        techniques: Techniques,
        budget: Budget,
        seed: u64,
    ) -> Result<DigitsRun, DemoError> {
        let space = self.space().build()?;
        let search = Search::new(&space, evaluator, budget, seed)
            .hasher(evaluator)
            .techniques(techniques)?;
        let result = evolve(&search, self.evolution(), NonZeroUsize::MIN)?;
        let held_out_fitness = held_out
            .evaluate_program(&result.best.candidate)
            .map_or(f64::NEG_INFINITY, |e| e.validation);
        Ok(DigitsRun {
            record: result.record,
            best: result.best.candidate,
            held_out_fitness,
        })
    }
}

/// One search of the projected digits setup.
#[derive(Debug, Clone)]
pub struct DigitsRun {
    /// The search's record (costs in training steps).
    pub record: SearchRecord,
    /// Its fittest program.
    pub best: Program,
    /// That program's mean accuracy on the held-out pairs (meta-validation).
    pub held_out_fitness: f64,
}
