//! Setup B of the paper: AutoML-Zero (Real et al., ICML 2020), evolving whole
//! learning algorithms as code, with the functional hash of programs.
//!
//! # Programs
//!
//! A candidate ([`Program`]) is three component functions, each a sequence of
//! [`Instruction`]s: **Setup** runs once on zeroed memory, **Predict** runs on every
//! example and leaves its prediction in `s1`, **Learn** runs after Predict on every
//! training example. Instructions read and write a small virtual memory of `f64`
//! scalars (`s`), F-element vectors (`v`) and F × F matrices (`m`), sized by a
//! [`MemoryLayout`]. Reserved addresses:
//!
//! | address | constant | meaning |
//! |---|---|---|
//! | `s0` | [`LABEL`] | the label: 0 during Predict, the example's label during Learn |
//! | `s1` | [`PREDICTION`] | the prediction Predict leaves |
//! | `v0` | [`FEATURES`] | the example's features, written before Predict and Learn |
//!
//! No instruction writes `s0` or `v0`. The linear-regression demo's memory has 4
//! scalars, 3 vectors and 1 matrix; the digits setup's 5, 9 and 2.
//!
//! # Instruction set
//!
//! The 65 ops of AutoML-Zero, with its IDs ([`Op`]); `a`, `b` are inputs.
//!
//! | ID | op | ID | op | ID | op |
//! |---|---|---|---|---|---|
//! | 0 | no-op | 22 | `v = abs(v_a)` | 44 | `s = min(s_a, s_b)` |
//! | 1 | `s = s_a + s_b` | 23 | `v = v_a + v_b` | 45 | `v = min(v_a, v_b)` |
//! | 2 | `s = s_a - s_b` | 24 | `v = v_a - v_b` | 46 | `m = min(m_a, m_b)` |
//! | 3 | `s = s_a * s_b` | 25 | `v = v_a .* v_b` | 47 | `s = max(s_a, s_b)` |
//! | 4 | `s = s_a / s_b` | 26 | `v = v_a ./ v_b` | 48 | `v = max(v_a, v_b)` |
//! | 5 | `s = abs(s_a)` | 27 | `s = dot(v_a, v_b)` | 49 | `m = max(m_a, m_b)` |
//! | 6 | `s = 1 / s_a` | 28 | `m = outer(v_a, v_b)` | 50 | `s = mean(v_a)` |
//! | 7 | `s = sin(s_a)` | 29 | `m = s_a * m_b` | 51 | `s = mean(m_a)` |
//! | 8 | `s = cos(s_a)` | 30 | `m = 1 ./ m_a` | 52 | `v = row_mean(m_a)` |
//! | 9 | `s = tan(s_a)` | 31 | `v = m_a @ v_b` | 53 | `v = row_stdev(m_a)` |
//! | 10 | `s = arcsin(s_a)` | 32 | `m[i][j] = v_a[i]` | 54 | `s = stdev(v_a)` |
//! | 11 | `s = arccos(s_a)` | 33 | `m[i][j] = v_a[j]` | 55 | `s = stdev(m_a)` |
//! | 12 | `s = arctan(s_a)` | 34 | `s = norm(m_a)` (Frobenius) | 56 | `s = c` |
//! | 13 | `s = exp(s_a)` | 35 | `v = column_norm(m_a)` | 57 | `v[i] = c` |
//! | 14 | `s = ln(s_a)` | 36 | `v = row_norm(m_a)` | 58 | `m[i][j] = c` |
//! | 15 | `s = heaviside(s_a)` (≥ 0) | 37 | `m = transpose(m_a)` | 59 | `s ~ U(a, b)` |
//! | 16 | `v = heaviside(v_a)` (> 0) | 38 | `m = abs(m_a)` | 60 | `v ~ U(a, b)` |
//! | 17 | `m = heaviside(m_a)` (> 0) | 39 | `m = m_a + m_b` | 61 | `m ~ U(a, b)` |
//! | 18 | `v = s_a * v_b` | 40 | `m = m_a - m_b` | 62 | `s ~ N(μ, σ)` |
//! | 19 | `v = broadcast(s_a)` | 41 | `m = m_a .* m_b` | 63 | `v ~ N(μ, σ)` |
//! | 20 | `v = 1 ./ v_a` | 42 | `m = m_a ./ m_b` | 64 | `m ~ N(μ, σ)` |
//! | 21 | `s = norm(v_a)` | 43 | `m = m_a @ m_b` | | |
//!
//! Standard deviations are population ones; `min` and `max` follow C++'s
//! `std::min`/`std::max` on NaN. Constants are drawn from U(−1, 1); uniform bounds
//! are two sorted U(−1, 1) draws; a Gaussian's mean is U(−1, 1) and its standard
//! deviation U(0, 1).
//!
//! # Execution and fitness
//!
//! The [`interpreter`] runs a program on a [`Task`] as AutoML-Zero's executor
//! does: wipe the memory, run Setup; for each training example (one epoch) set
//! `v0` and `s0 = 0`, run Predict (through a sigmoid for accuracy tasks), and stop
//! as diverged if `|label − s1|` is NaN or above 100; then set `s0 = label` and run
//! Learn. Validation runs Predict only. Regression fitness is
//! `1 − (2/π)·atan(rmse)`, classification fitness the accuracy; a diverged task
//! scores 0, and a program's fitness is the mean over the tasks. Memory is
//! allocated once per evaluation, with vectors and matrices as fixed-size arrays
//! (F is a const generic); no instruction allocates. A program that does not fit
//! the layout is a failed evaluation, never a panic.
//!
//! # Functional hash
//!
//! As in the paper and AutoML-Zero's own FEC: for each task, the absolute errors
//! of the first 10 training steps and of the first 10 validation examples, with
//! the programs' random ops drawing from a fixed seed, mixed by `ufh-core` at a
//! configurable number of mantissa bits ([`ProgramHashConfig`]). Dead code, an
//! instruction whose result is overwritten before it is read, and reordered
//! independent instructions change no error, so they change no hash.
//!
//! # Setups
//!
//! * [`LINEAR_REGRESSION_DEMO`]: the C++ demo that rediscovers linear regression
//!   with SGD, with its settings; [`LinearRegressionDemo::run`] runs it (also
//!   `cargo xtask automl-zero`).
//! * [`PROJECTED_DIGITS`]: the search from empty code of the paper's Setup B, on
//!   projected binary classification of the 8×8 digits.
//!
//! ```
//! use ufh_spaces::automl_zero::{
//!     LINEAR_REGRESSION_DEMO, ProgramEvaluator, ProgramHashConfig, linear_regression_tasks,
//!     sgd_program,
//! };
//!
//! // SGD on a linear model, learning rate 0.2: the program the demo rediscovers.
//! // One epoch of 100 examples takes it just past the demo's 0.9999.
//! let sgd = sgd_program(0.2);
//! println!("{sgd}");
//! let demo = LINEAR_REGRESSION_DEMO;
//! let tasks = linear_regression_tasks::<4>(10, demo.search_sizes, 1);
//! let evaluator = ProgramEvaluator::new(tasks, demo.layout, ProgramHashConfig::PAPER)?;
//! let fitness = evaluator.evaluate_program(&sgd).unwrap().validation;
//! assert!(fitness > 0.9999, "{fitness}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod evaluate;
mod hash;
pub mod interpreter;
mod liveness;
mod op;
mod program;
mod setups;
mod space;
mod task;

pub use evaluate::{EvaluatorError, ProgramEvaluation, ProgramEvaluator};
pub use hash::{ProgramHashConfig, live_code_key};
pub use interpreter::{Divergence, MAX_ABS_ERROR, MIN_FITNESS, Memory, TaskOutcome};
pub use liveness::live_code;
pub use op::{DataKind, Kind, Op};
pub use program::{Component, FEATURES, Instruction, LABEL, MemoryLayout, PREDICTION, Program};
pub use setups::{
    DEMO_FEATURES, DIGITS_FEATURES, DemoCheckpoints, DemoError, DemoOptions, DemoReport, DigitsRun,
    Evolved, ExperimentReport, LINEAR_REGRESSION_DEMO, LinearRegressionDemo, PROJECTED_DIGITS,
    ProjectedDigitsSetup, evolve, evolve_with, sgd_program,
};
pub use space::{
    InitialProgram, Mutation, ProgramSpace, ProgramSpaceConfig, SizeBounds, SpaceError,
};
pub use task::{
    EvalType, Examples, SEARCH_PAIRS, SplitSizes, Task, all_digit_pairs, linear_regression_tasks,
    projected_digits_tasks,
};
