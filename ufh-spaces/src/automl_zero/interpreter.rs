//! The interpreter: fixed-size memory (F is a const generic), one `match` per
//! instruction, no allocation after the memory is built. A program's tasks run
//! side by side as lanes: each instruction is dispatched once for all of them,
//! and their independent dependency chains overlap in the CPU.

use rand::Rng;
use ufh_search::SearchRng;

use super::op::Op;
use super::program::{FEATURES, Instruction, LABEL, MemoryLayout, PREDICTION, Program};
use super::task::{EvalType, Examples, Task};
use crate::gaussian::standard_normal;

/// AutoML-Zero's early-stopping threshold: an example whose absolute error is NaN
/// or above this ends the task's training as diverged.
pub const MAX_ABS_ERROR: f64 = 100.0;

/// The fitness of a task whose training or validation diverged: AutoML-Zero's
/// `kMinFitness`.
pub const MIN_FITNESS: f64 = 0.0;

/// A vector of F elements.
pub type Vector<const F: usize> = [f64; F];
/// An F × F matrix, row-major: `m[i][j]` is row i, column j.
pub type Matrix<const F: usize> = [[f64; F]; F];

/// Addresses are `u8`, so every address of every kind indexes one of this many
/// slots without a bounds check.
const SLOTS: usize = 256;

/// The virtual memory a program runs on: 256 slots of each kind, so that an
/// instruction's `u8` addresses index it without bounds checks, of which the
/// [`MemoryLayout`]'s first addresses are in use (checked programs touch no
/// others).
#[derive(Debug, Clone)]
pub struct Memory<const F: usize> {
    /// Scalar addresses.
    pub scalars: Box<[f64; SLOTS]>,
    /// Vector addresses.
    pub vectors: Box<[Vector<F>; SLOTS]>,
    /// Matrix addresses.
    pub matrices: Box<[Matrix<F>; SLOTS]>,
    layout: MemoryLayout,
}

/// A zeroed boxed array, built on the heap (a matrix array is 128 KiB at F = 8).
fn zeroed<T: Copy>(zero: T) -> Box<[T; SLOTS]> {
    vec![zero; SLOTS]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("the vector has SLOTS elements"))
}

impl<const F: usize> Memory<F> {
    /// Zeroed memory of `layout`.
    pub fn new(layout: MemoryLayout) -> Self {
        Self {
            scalars: zeroed(0.0),
            vectors: zeroed([0.0; F]),
            matrices: zeroed([[0.0; F]; F]),
            layout,
        }
    }

    /// Zeroes every address of the layout.
    pub fn wipe(&mut self) {
        self.slots().wipe();
    }

    /// The three kinds of slots, borrowed apart.
    pub(crate) fn slots(&mut self) -> Slots<'_, F> {
        Slots {
            s: &mut self.scalars,
            v: &mut self.vectors,
            m: &mut self.matrices,
            layout: self.layout,
        }
    }
}

/// A memory's slots borrowed straight: an instruction reaches a slot through one
/// pointer instead of through the memory and then its box.
pub(crate) struct Slots<'a, const F: usize> {
    s: &'a mut [f64; SLOTS],
    v: &'a mut [Vector<F>; SLOTS],
    m: &'a mut [Matrix<F>; SLOTS],
    layout: MemoryLayout,
}

impl<const F: usize> Slots<'_, F> {
    /// Zeroes every address of the layout.
    fn wipe(&mut self) {
        self.s[..usize::from(self.layout.scalars)].fill(0.0);
        self.v[..usize::from(self.layout.vectors)].fill([0.0; F]);
        self.m[..usize::from(self.layout.matrices)].fill([[0.0; F]; F]);
    }
}

fn map<const F: usize>(a: &Vector<F>, f: impl Fn(f64) -> f64) -> Vector<F> {
    std::array::from_fn(|i| f(a[i]))
}

fn zip<const F: usize>(a: &Vector<F>, b: &Vector<F>, f: impl Fn(f64, f64) -> f64) -> Vector<F> {
    std::array::from_fn(|i| f(a[i], b[i]))
}

fn map_m<const F: usize>(a: &Matrix<F>, f: impl Fn(f64) -> f64) -> Matrix<F> {
    std::array::from_fn(|i| map(&a[i], &f))
}

fn zip_m<const F: usize>(a: &Matrix<F>, b: &Matrix<F>, f: impl Fn(f64, f64) -> f64) -> Matrix<F> {
    std::array::from_fn(|i| zip(&a[i], &b[i], &f))
}

fn sum(xs: impl Iterator<Item = f64>) -> f64 {
    xs.fold(0.0, |acc, x| acc + x)
}

fn dot<const F: usize>(a: &Vector<F>, b: &Vector<F>) -> f64 {
    sum(a.iter().zip(b).map(|(x, y)| x * y))
}

fn mean(xs: &[f64]) -> f64 {
    sum(xs.iter().copied()) / xs.len() as f64
}

/// Population standard deviation, two passes.
fn stdev(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (sum(xs.iter().map(|x| (x - m) * (x - m))) / xs.len() as f64).sqrt()
}

/// C++'s `std::min`: `b` when `b < a`, else `a` (NaN handling included).
fn min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// C++'s `std::max`: `b` when `a < b`, else `a`.
fn max(a: f64, b: f64) -> f64 {
    if a < b { b } else { a }
}

fn step(x: f64) -> f64 {
    if x > 0.0 { 1.0 } else { 0.0 }
}

fn uniform(rng: &mut SearchRng, [low, high]: [f64; 2]) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

fn gaussian(rng: &mut SearchRng, [mean, std]: [f64; 2]) -> f64 {
    mean + std * standard_normal(rng)
}

/// What an instruction runs on: a memory and the RNG its random ops draw from.
pub(crate) trait Core<const F: usize> {
    /// Its slots and its RNG.
    fn parts(&mut self) -> Parts<'_, F>;
}

/// A core's scalar, vector and matrix slots and its RNG.
pub(crate) type Parts<'a, const F: usize> = (
    &'a mut [f64; SLOTS],
    &'a mut [Vector<F>; SLOTS],
    &'a mut [Matrix<F>; SLOTS],
    &'a mut SearchRng,
);

impl<const F: usize> Slots<'_, F> {
    #[inline(always)]
    fn with<'r>(&'r mut self, rng: &'r mut SearchRng) -> Parts<'r, F> {
        (&mut *self.s, &mut *self.v, &mut *self.m, rng)
    }
}

impl<const F: usize> Core<F> for (Slots<'_, F>, &mut SearchRng) {
    #[inline(always)]
    fn parts(&mut self) -> Parts<'_, F> {
        self.0.with(self.1)
    }
}

/// Runs one instruction. Addresses must fit the memory (programs are checked
/// before they run); a vector or matrix constant-set takes its indices modulo F.
pub fn execute<const F: usize>(ins: &Instruction, mem: &mut Memory<F>, rng: &mut SearchRng) {
    execute_on(ins, &mut [(mem.slots(), rng)]);
}

/// Runs one instruction on each of `cores` in turn, the op dispatched once for
/// all of them.
#[inline(always)]
pub(crate) fn execute_on<const F: usize, C: Core<F>>(ins: &Instruction, cores: &mut [C]) {
    let (a, b, o) = (
        usize::from(ins.in1),
        usize::from(ins.in2),
        usize::from(ins.out),
    );
    // Each arm runs its body once per core, with `s`, `v` and `m` that core's
    // scalar, vector and matrix slots and `rng` its RNG.
    macro_rules! per_core {
        (|$s:ident, $v:ident, $m:ident, $rng:ident| $($op:ident => $body:expr,)*) => {
            match ins.op {
                $(Op::$op => {
                    for core in cores.iter_mut() {
                        #[allow(unused_variables)]
                        let ($s, $v, $m, $rng) = core.parts();
                        $body;
                    }
                })*
            }
        };
    }
    per_core! { |s, v, m, rng|
        NoOp => {},
        ScalarSum => s[o] = s[a] + s[b],
        ScalarDiff => s[o] = s[a] - s[b],
        ScalarProduct => s[o] = s[a] * s[b],
        ScalarDivision => s[o] = s[a] / s[b],
        ScalarAbs => s[o] = s[a].abs(),
        ScalarReciprocal => s[o] = 1.0 / s[a],
        ScalarSin => s[o] = s[a].sin(),
        ScalarCos => s[o] = s[a].cos(),
        ScalarTan => s[o] = s[a].tan(),
        ScalarArcSin => s[o] = s[a].asin(),
        ScalarArcCos => s[o] = s[a].acos(),
        ScalarArcTan => s[o] = s[a].atan(),
        ScalarExp => s[o] = s[a].exp(),
        ScalarLog => s[o] = s[a].ln(),
        ScalarHeaviside => s[o] = if s[a] >= 0.0 { 1.0 } else { 0.0 },
        VectorHeaviside => v[o] = map(&v[a], step),
        MatrixHeaviside => m[o] = map_m(&m[a], step),
        ScalarVectorProduct => {
            let k = s[a];
            v[o] = map(&v[b], |x| k * x);
        },
        ScalarBroadcast => v[o] = [s[a]; F],
        VectorReciprocal => v[o] = map(&v[a], |x| 1.0 / x),
        VectorNorm => s[o] = dot(&v[a], &v[a]).sqrt(),
        VectorAbs => v[o] = map(&v[a], f64::abs),
        VectorSum => v[o] = zip(&v[a], &v[b], |x, y| x + y),
        VectorDiff => v[o] = zip(&v[a], &v[b], |x, y| x - y),
        VectorProduct => v[o] = zip(&v[a], &v[b], |x, y| x * y),
        VectorDivision => v[o] = zip(&v[a], &v[b], |x, y| x / y),
        VectorInnerProduct => s[o] = dot(&v[a], &v[b]),
        VectorOuterProduct => {
            let (x, y) = (v[a], v[b]);
            m[o] = std::array::from_fn(|i| map(&y, |yj| x[i] * yj));
        },
        ScalarMatrixProduct => {
            let k = s[a];
            m[o] = map_m(&m[b], |x| k * x);
        },
        MatrixReciprocal => m[o] = map_m(&m[a], |x| 1.0 / x),
        MatrixVectorProduct => {
            let x = v[b];
            v[o] = std::array::from_fn(|i| dot(&m[a][i], &x));
        },
        VectorColumnBroadcast => {
            let x = v[a];
            m[o] = std::array::from_fn(|i| [x[i]; F]);
        },
        VectorRowBroadcast => m[o] = [v[a]; F],
        MatrixNorm => s[o] = sum(m[a].iter().map(|row| dot(row, row))).sqrt(),
        MatrixColumnNorm => {
            let x = &m[a];
            v[o] = std::array::from_fn(|j| sum(x.iter().map(|row| row[j] * row[j])).sqrt());
        },
        MatrixRowNorm => v[o] = std::array::from_fn(|i| dot(&m[a][i], &m[a][i]).sqrt()),
        MatrixTranspose => {
            let x = m[a];
            m[o] = std::array::from_fn(|i| std::array::from_fn(|j| x[j][i]));
        },
        MatrixAbs => m[o] = map_m(&m[a], f64::abs),
        MatrixSum => m[o] = zip_m(&m[a], &m[b], |x, y| x + y),
        MatrixDiff => m[o] = zip_m(&m[a], &m[b], |x, y| x - y),
        MatrixProduct => m[o] = zip_m(&m[a], &m[b], |x, y| x * y),
        MatrixDivision => m[o] = zip_m(&m[a], &m[b], |x, y| x / y),
        MatrixMatrixProduct => {
            let (x, y) = (&m[a], &m[b]);
            let product: Matrix<F> = std::array::from_fn(|i| {
                std::array::from_fn(|j| sum((0..F).map(|k| x[i][k] * y[k][j])))
            });
            m[o] = product;
        },
        ScalarMin => s[o] = min(s[a], s[b]),
        VectorMin => v[o] = zip(&v[a], &v[b], min),
        MatrixMin => m[o] = zip_m(&m[a], &m[b], min),
        ScalarMax => s[o] = max(s[a], s[b]),
        VectorMax => v[o] = zip(&v[a], &v[b], max),
        MatrixMax => m[o] = zip_m(&m[a], &m[b], max),
        VectorMean => s[o] = mean(&v[a]),
        MatrixMean => s[o] = mean(m[a].as_flattened()),
        MatrixRowMean => v[o] = std::array::from_fn(|i| mean(&m[a][i])),
        MatrixRowStDev => v[o] = std::array::from_fn(|i| stdev(&m[a][i])),
        VectorStDev => s[o] = stdev(&v[a]),
        MatrixStDev => s[o] = stdev(m[a].as_flattened()),
        ScalarConstSet => s[o] = ins.data[0],
        VectorConstSet => v[o][usize::from(ins.index[0]) % F] = ins.data[0],
        MatrixConstSet => {
            m[o][usize::from(ins.index[0]) % F][usize::from(ins.index[1]) % F] = ins.data[0];
        },
        ScalarUniformSet => s[o] = uniform(rng, ins.data),
        VectorUniformSet => v[o] = std::array::from_fn(|_| uniform(rng, ins.data)),
        MatrixUniformSet => {
            m[o] = std::array::from_fn(|_| std::array::from_fn(|_| uniform(rng, ins.data)));
        },
        ScalarGaussianSet => s[o] = gaussian(rng, ins.data),
        VectorGaussianSet => v[o] = std::array::from_fn(|_| gaussian(rng, ins.data)),
        MatrixGaussianSet => {
            m[o] = std::array::from_fn(|_| std::array::from_fn(|_| gaussian(rng, ins.data)));
        },
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// AutoML-Zero's squashing of a root-mean-square error into a fitness in [0, 1]:
/// `1 - (2/π) atan(rmse)`, 0 for NaN or infinity.
pub fn flip_and_squash(rmse: f64) -> f64 {
    if rmse.is_finite() {
        1.0 - std::f64::consts::FRAC_2_PI * rmse.atan()
    } else {
        MIN_FITNESS
    }
}

/// Where a task's execution diverged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// At this training step (0-based): the absolute error was NaN or above
    /// [`MAX_ABS_ERROR`].
    Training(usize),
    /// At this validation example.
    Validation(usize),
}

/// The outcome of running a program on one task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskOutcome {
    /// Validation fitness: `1 - (2/π) atan(rmse)` or accuracy; [`MIN_FITNESS`] if
    /// diverged.
    pub validation: f64,
    /// The same measure on the task's test examples, after validation.
    pub test: f64,
    /// Training steps executed (Predict + Learn on one example).
    pub train_steps: u64,
    /// Where it diverged, if it did.
    pub diverged: Option<Divergence>,
}

/// How much of each task to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Training steps per task, at most.
    pub(crate) n_train: usize,
    /// Validation examples per task, at most.
    pub(crate) n_valid: usize,
    /// Whether to measure the test examples after validation.
    pub(crate) test: bool,
    /// Whether to keep each example's absolute error (in [`Lane::errors`]).
    pub(crate) record_errors: bool,
    /// Whether to turn the errors into fitness (a hash needs only the errors).
    pub(crate) score: bool,
}

/// Tasks run side by side, one instruction at a time across all of them: the
/// tasks are independent, so their dependency chains overlap in the CPU instead
/// of waiting on each other, and each instruction is dispatched once for the
/// group. Every task still executes exactly the operations, in exactly the order,
/// that it would alone, so outcomes and errors are bit for bit the same.
pub(crate) const MAX_LANES: usize = 16;

/// One task's run within a group of tasks run side by side.
pub(crate) struct Lane<'a, const F: usize> {
    /// Position of the task in the caller's list.
    pub(crate) index: usize,
    task: &'a Task<F>,
    mem: Slots<'a, F>,
    rng: SearchRng,
    /// What the run came to.
    pub(crate) outcome: TaskOutcome,
    /// The absolute error of each example trained on and then validated, in
    /// order, when asked for; the example that diverged is not in it.
    pub(crate) errors: &'a mut Vec<f64>,
    /// Examples of the current phase this lane runs.
    todo: usize,
    /// Their features and labels.
    features: &'a [Vector<F>],
    labels: &'a [f64],
    /// Whether the task is scored by accuracy.
    accuracy: bool,
    /// Sum of squared errors or of mistakes in the current phase.
    loss: f64,
}

impl<'a, const F: usize> Lane<'a, F> {
    /// A lane of `task`, at position `index`, running on `mem` with the random ops
    /// drawing from `rng`, recording errors into `errors` (emptied first).
    pub(crate) fn new(
        index: usize,
        task: &'a Task<F>,
        mem: &'a mut Memory<F>,
        rng: SearchRng,
        errors: &'a mut Vec<f64>,
    ) -> Self {
        errors.clear();
        Self {
            index,
            task,
            mem: mem.slots(),
            rng,
            outcome: TaskOutcome {
                validation: MIN_FITNESS,
                test: MIN_FITNESS,
                train_steps: 0,
                diverged: None,
            },
            errors,
            todo: 0,
            features: &[],
            labels: &[],
            accuracy: task.eval == EvalType::Accuracy,
            loss: 0.0,
        }
    }
}

impl<const F: usize> Core<F> for Lane<'_, F> {
    #[inline(always)]
    fn parts(&mut self) -> Parts<'_, F> {
        self.mem.with(&mut self.rng)
    }
}

/// Runs one component on every lane, instruction by instruction.
#[inline(always)]
fn run_lanes<const F: usize>(instructions: &[Instruction], lanes: &mut [Lane<'_, F>]) {
    for ins in instructions {
        execute_on(ins, lanes);
    }
}

/// The lanes still running a phase: the first `active` ones.
struct Running {
    active: usize,
    /// No active lane ends before this step.
    until: usize,
}

impl Running {
    fn new(lanes: usize) -> Self {
        Self {
            active: lanes,
            until: 0,
        }
    }

    /// Moves the lanes with nothing left to do after `step` examples behind the
    /// active ones (order among lanes does not matter: each knows its task), if
    /// any can have ended: at `until`, or when `ended` says one did. Lanes are only
    /// moved when some but not all of them end, which is rare: tasks of one size
    /// end together.
    fn retire<const F: usize>(&mut self, lanes: &mut [Lane<'_, F>], step: usize, ended: bool) {
        if !ended && step < self.until {
            return;
        }
        let active = &lanes[..self.active];
        let ending = active.iter().filter(|lane| lane.todo <= step).count();
        if ending == active.len() {
            self.active = 0;
            return;
        }
        if ending > 0 {
            let mut k = 0;
            while k < self.active {
                if lanes[k].todo <= step {
                    self.active -= 1;
                    lanes.swap(k, self.active);
                } else {
                    k += 1;
                }
            }
        }
        self.until = lanes[..self.active]
            .iter()
            .map(|lane| lane.todo)
            .min()
            .unwrap_or(0);
    }
}

/// Puts the lanes back in task order (they are still in it unless some tasks
/// ended before others).
pub(crate) fn in_task_order<const F: usize>(lanes: &mut [Lane<'_, F>]) {
    if !lanes.is_sorted_by_key(|lane| lane.index) {
        lanes.sort_unstable_by_key(|lane| lane.index);
    }
}

impl<'a, const F: usize> Lane<'a, F> {
    /// Starts a phase over the first `n` examples of `examples` (fewer if it has
    /// fewer).
    fn start(&mut self, examples: &'a Examples<F>, n: usize) {
        self.todo = n.min(examples.features.len()).min(examples.labels.len());
        self.features = &examples.features[..self.todo];
        self.labels = &examples.labels[..self.todo];
        self.loss = 0.0;
    }
}

/// Runs `program` on every lane's task as AutoML-Zero does: wipe the memory, run
/// Setup, then for each training example run Predict (on features with `s0 = 0`;
/// the prediction goes through a sigmoid for accuracy tasks), check the error, and
/// run Learn (on features with `s0 = label`); then run Predict on the validation
/// examples and turn their errors into fitness, and likewise on the test examples
/// if asked. A task whose error is NaN or above [`MAX_ABS_ERROR`] stops there.
/// Groups of up to [`MAX_LANES`] tasks run side by side.
pub(crate) fn run_tasks<const F: usize>(
    program: &Program,
    lanes: &mut [Lane<'_, F>],
    limits: Limits,
) {
    for group in lanes.chunks_mut(MAX_LANES) {
        run_group(program, group, limits);
    }
}

fn run_group<const F: usize>(program: &Program, lanes: &mut [Lane<'_, F>], limits: Limits) {
    for lane in lanes.iter_mut() {
        lane.mem.wipe();
    }
    run_lanes(&program.setup, lanes);
    let (l, p, x) = (
        usize::from(LABEL),
        usize::from(PREDICTION),
        usize::from(FEATURES),
    );
    for lane in lanes.iter_mut() {
        lane.start(&lane.task.train, limits.n_train);
    }
    let mut running = Running::new(lanes.len());
    let mut step = 0;
    loop {
        running.retire(lanes, step, false);
        if running.active == 0 {
            break;
        }
        let group = &mut lanes[..running.active];
        for lane in group.iter_mut() {
            lane.mem.v[x] = lane.features[step];
            lane.mem.s[l] = 0.0;
        }
        run_lanes(&program.predict, group);
        let mut diverged = false;
        for lane in group.iter_mut() {
            lane.outcome.train_steps += 1;
            if lane.accuracy {
                lane.mem.s[p] = sigmoid(lane.mem.s[p]);
            }
            let label = lane.labels[step];
            let error = (label - lane.mem.s[p]).abs();
            if error.is_nan() || error > MAX_ABS_ERROR {
                lane.outcome.diverged = Some(Divergence::Training(step));
                lane.todo = 0;
                diverged = true;
                continue;
            }
            if limits.record_errors {
                lane.errors.push(error);
            }
            // The features are still in v0: a checked program never writes it (nor
            // s0), so Learn sees them as Predict did.
            lane.mem.s[l] = label;
        }
        // Lanes that diverged run no Learn.
        running.retire(lanes, step, diverged);
        run_lanes(&program.learn, &mut lanes[..running.active]);
        step += 1;
    }
    measure(program, lanes, Split::Valid, limits);
    if limits.test {
        measure(program, lanes, Split::Test, limits);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Split {
    Valid,
    Test,
}

impl Split {
    fn of<const F: usize>(self, task: &Task<F>) -> &Examples<F> {
        match self {
            Split::Valid => &task.valid,
            Split::Test => &task.test,
        }
    }
}

/// Predict over the first examples of a split on every lane that has not
/// diverged, and the fitness from their errors: validation (up to
/// `limits.n_valid` examples; a NaN or too large error diverges the lane) or test
/// (every example; such an error scores [`MIN_FITNESS`]).
fn measure<const F: usize>(
    program: &Program,
    lanes: &mut [Lane<'_, F>],
    split: Split,
    limits: Limits,
) {
    for lane in lanes.iter_mut() {
        let n = match (lane.outcome.diverged, split) {
            (Some(_), _) => 0,
            (None, Split::Valid) => limits.n_valid,
            (None, Split::Test) => usize::MAX,
        };
        lane.start(split.of(lane.task), n);
    }
    let ended = |lane: &mut Lane<'_, F>| {
        if !limits.score {
            return;
        }
        let n = lane.todo.max(1) as f64;
        let fitness = match lane.task.eval {
            EvalType::Rms => flip_and_squash((lane.loss / n).sqrt()),
            EvalType::Accuracy => 1.0 - lane.loss / n,
        };
        match split {
            Split::Valid => lane.outcome.validation = fitness,
            Split::Test => lane.outcome.test = fitness,
        }
    };
    for lane in lanes.iter_mut() {
        if lane.outcome.diverged.is_none() && lane.todo == 0 {
            ended(lane);
        }
    }
    let (l, p, x) = (
        usize::from(LABEL),
        usize::from(PREDICTION),
        usize::from(FEATURES),
    );
    let mut running = Running::new(lanes.len());
    let mut step = 0;
    let mut diverged = false;
    loop {
        running.retire(lanes, step, diverged);
        if running.active == 0 {
            break;
        }
        diverged = false;
        let group = &mut lanes[..running.active];
        for lane in group.iter_mut() {
            lane.mem.v[x] = lane.features[step];
            lane.mem.s[l] = 0.0;
        }
        run_lanes(&program.predict, group);
        for lane in group.iter_mut() {
            let label = lane.labels[step];
            let error = if lane.accuracy {
                let probability = sigmoid(lane.mem.s[p]);
                let wrong = f64::from(u8::from((label > 0.5) != (probability > 0.5)));
                lane.loss += wrong;
                wrong
            } else {
                let e = label - lane.mem.s[p];
                lane.loss += e * e;
                e.abs()
            };
            if error.is_nan() || error > MAX_ABS_ERROR {
                match split {
                    Split::Valid => lane.outcome.diverged = Some(Divergence::Validation(step)),
                    Split::Test => lane.outcome.test = MIN_FITNESS,
                }
                lane.todo = 0;
                diverged = true;
                continue;
            }
            if split == Split::Valid && limits.record_errors {
                lane.errors.push(error);
            }
            if step + 1 == lane.todo {
                ended(lane);
            }
        }
        step += 1;
    }
}

#[cfg(test)]
mod tests;
