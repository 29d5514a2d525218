//! The interpreter: fixed-size memory (F is a const generic), one `match` per
//! instruction, no allocation after the memory is built.

use rand::Rng;
use ufh_search::SearchRng;

use super::op::Op;
use super::program::{FEATURES, Instruction, LABEL, MemoryLayout, PREDICTION, Program};
use super::task::{EvalType, Task};
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
        self.scalars[..usize::from(self.layout.scalars)].fill(0.0);
        self.vectors[..usize::from(self.layout.vectors)].fill([0.0; F]);
        self.matrices[..usize::from(self.layout.matrices)].fill([[0.0; F]; F]);
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

/// Runs one instruction. Addresses must fit the memory (programs are checked
/// before they run); a vector or matrix constant-set takes its indices modulo F.
#[inline(always)]
pub fn execute<const F: usize>(ins: &Instruction, mem: &mut Memory<F>, rng: &mut SearchRng) {
    let (a, b, o) = (
        usize::from(ins.in1),
        usize::from(ins.in2),
        usize::from(ins.out),
    );
    let s = &mut mem.scalars;
    let v = &mut mem.vectors;
    let m = &mut mem.matrices;
    use Op::*;
    match ins.op {
        NoOp => {}
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
        }
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
        }
        ScalarMatrixProduct => {
            let k = s[a];
            m[o] = map_m(&m[b], |x| k * x);
        }
        MatrixReciprocal => m[o] = map_m(&m[a], |x| 1.0 / x),
        MatrixVectorProduct => {
            let x = v[b];
            v[o] = std::array::from_fn(|i| dot(&m[a][i], &x));
        }
        VectorColumnBroadcast => {
            let x = v[a];
            m[o] = std::array::from_fn(|i| [x[i]; F]);
        }
        VectorRowBroadcast => m[o] = [v[a]; F],
        MatrixNorm => s[o] = sum(m[a].iter().map(|row| dot(row, row))).sqrt(),
        MatrixColumnNorm => {
            let x = &m[a];
            v[o] = std::array::from_fn(|j| sum(x.iter().map(|row| row[j] * row[j])).sqrt());
        }
        MatrixRowNorm => v[o] = std::array::from_fn(|i| dot(&m[a][i], &m[a][i]).sqrt()),
        MatrixTranspose => {
            let x = m[a];
            m[o] = std::array::from_fn(|i| std::array::from_fn(|j| x[j][i]));
        }
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
        }
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
        }
        ScalarUniformSet => s[o] = uniform(rng, ins.data),
        VectorUniformSet => v[o] = std::array::from_fn(|_| uniform(rng, ins.data)),
        MatrixUniformSet => {
            m[o] = std::array::from_fn(|_| std::array::from_fn(|_| uniform(rng, ins.data)));
        }
        ScalarGaussianSet => s[o] = gaussian(rng, ins.data),
        VectorGaussianSet => v[o] = std::array::from_fn(|_| gaussian(rng, ins.data)),
        MatrixGaussianSet => {
            m[o] = std::array::from_fn(|_| std::array::from_fn(|_| gaussian(rng, ins.data)));
        }
    }
}

#[inline(always)]
fn run<const F: usize>(instructions: &[Instruction], mem: &mut Memory<F>, rng: &mut SearchRng) {
    for ins in instructions {
        execute(ins, mem, rng);
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

/// How much of a task to run, and where to send per-example errors.
pub(crate) struct Limits<'s> {
    pub(crate) n_train: usize,
    pub(crate) n_valid: usize,
    pub(crate) test: bool,
    pub(crate) errors: Option<&'s mut dyn FnMut(f64)>,
}

/// Runs `program` on `task` as AutoML-Zero does: wipe the memory, run Setup, then
/// for each training example run Predict (on features with `s0 = 0`; the
/// prediction goes through a sigmoid for accuracy tasks), check the error, and run
/// Learn (on features with `s0 = label`); then run Predict on the validation
/// examples and turn their errors into fitness.
pub(crate) fn run_task<const F: usize>(
    program: &Program,
    task: &Task<F>,
    mem: &mut Memory<F>,
    rng: &mut SearchRng,
    mut limits: Limits<'_>,
) -> TaskOutcome {
    mem.wipe();
    run(&program.setup, mem, rng);
    let n_train = limits.n_train.min(task.train.len());
    let mut outcome = TaskOutcome {
        validation: MIN_FITNESS,
        test: MIN_FITNESS,
        train_steps: 0,
        diverged: None,
    };
    let accuracy = task.eval == EvalType::Accuracy;
    let (l, p, x) = (
        usize::from(LABEL),
        usize::from(PREDICTION),
        usize::from(FEATURES),
    );
    for (step, (features, &label)) in task.train.examples().take(n_train).enumerate() {
        outcome.train_steps += 1;
        mem.vectors[x] = *features;
        mem.scalars[l] = 0.0;
        run(&program.predict, mem, rng);
        if accuracy {
            mem.scalars[p] = sigmoid(mem.scalars[p]);
        }
        let error = (label - mem.scalars[p]).abs();
        if error.is_nan() || error > MAX_ABS_ERROR {
            outcome.diverged = Some(Divergence::Training(step));
            return outcome;
        }
        if let Some(sink) = limits.errors.as_mut() {
            sink(error);
        }
        // The features are still in v0: a checked program never writes it (nor
        // s0), so Learn sees them as Predict did.
        mem.scalars[l] = label;
        run(&program.learn, mem, rng);
    }
    let n_valid = limits.n_valid.min(task.valid.len());
    match measure(
        program,
        task,
        Split::Valid,
        n_valid,
        mem,
        rng,
        &mut limits.errors,
    ) {
        Ok(fitness) => outcome.validation = fitness,
        Err(example) => {
            outcome.diverged = Some(Divergence::Validation(example));
            return outcome;
        }
    }
    if limits.test {
        outcome.test = measure(
            program,
            task,
            Split::Test,
            task.test.len(),
            mem,
            rng,
            &mut None,
        )
        .unwrap_or(MIN_FITNESS);
    }
    outcome
}

#[derive(Clone, Copy)]
enum Split {
    Valid,
    Test,
}

/// Predict over the first `n` examples of a split: the fitness, or the example
/// where the error was NaN or too large.
fn measure<const F: usize>(
    program: &Program,
    task: &Task<F>,
    split: Split,
    n: usize,
    mem: &mut Memory<F>,
    rng: &mut SearchRng,
    errors: &mut Option<&mut dyn FnMut(f64)>,
) -> Result<f64, usize> {
    let examples = match split {
        Split::Valid => &task.valid,
        Split::Test => &task.test,
    };
    let (l, p, x) = (
        usize::from(LABEL),
        usize::from(PREDICTION),
        usize::from(FEATURES),
    );
    let mut loss = 0.0;
    for (example, (features, &label)) in examples.examples().take(n).enumerate() {
        mem.vectors[x] = *features;
        mem.scalars[l] = 0.0;
        run(&program.predict, mem, rng);
        let error = match task.eval {
            EvalType::Rms => {
                let e = label - mem.scalars[p];
                loss += e * e;
                e.abs()
            }
            EvalType::Accuracy => {
                let probability = sigmoid(mem.scalars[p]);
                let wrong = f64::from(u8::from((label > 0.5) != (probability > 0.5)));
                loss += wrong;
                wrong
            }
        };
        if error.is_nan() || error > MAX_ABS_ERROR {
            return Err(example);
        }
        if let Some(sink) = errors.as_mut() {
            sink(error);
        }
    }
    let n = n.max(1) as f64;
    Ok(match task.eval {
        EvalType::Rms => flip_and_squash((loss / n).sqrt()),
        EvalType::Accuracy => 1.0 - loss / n,
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::automl_zero::program::MemoryLayout;

    const LAYOUT: MemoryLayout = MemoryLayout {
        scalars: 4,
        vectors: 3,
        matrices: 2,
    };

    fn exec(ins: Instruction, mem: &mut Memory<2>) {
        execute(&ins, mem, &mut SearchRng::seed_from_u64(0));
    }

    #[test]
    fn ops_compute_what_their_docs_say() {
        let mut mem = Memory::<2>::new(LAYOUT);
        mem.scalars[2] = 3.0;
        mem.vectors[1] = [1.0, 2.0];
        mem.vectors[2] = [3.0, -4.0];
        mem.matrices[0] = [[1.0, 2.0], [3.0, 4.0]];
        exec(
            Instruction::new(Op::VectorInnerProduct, &[1, 2], 3),
            &mut mem,
        );
        assert_eq!(mem.scalars[3], -5.0);
        exec(Instruction::new(Op::VectorNorm, &[2], 3), &mut mem);
        assert_eq!(mem.scalars[3], 5.0);
        exec(
            Instruction::new(Op::VectorOuterProduct, &[1, 2], 1),
            &mut mem,
        );
        assert_eq!(mem.matrices[1], [[3.0, -4.0], [6.0, -8.0]]);
        exec(
            Instruction::new(Op::MatrixVectorProduct, &[0, 1], 2),
            &mut mem,
        );
        assert_eq!(mem.vectors[2], [5.0, 11.0]);
        exec(
            Instruction::new(Op::MatrixMatrixProduct, &[0, 0], 1),
            &mut mem,
        );
        assert_eq!(mem.matrices[1], [[7.0, 10.0], [15.0, 22.0]]);
        exec(
            Instruction::new(Op::VectorColumnBroadcast, &[1], 1),
            &mut mem,
        );
        assert_eq!(mem.matrices[1], [[1.0, 1.0], [2.0, 2.0]]);
        exec(Instruction::new(Op::VectorRowBroadcast, &[1], 1), &mut mem);
        assert_eq!(mem.matrices[1], [[1.0, 2.0], [1.0, 2.0]]);
        exec(Instruction::new(Op::MatrixColumnNorm, &[0], 2), &mut mem);
        assert_eq!(mem.vectors[2], [10f64.sqrt(), 20f64.sqrt()]);
        exec(Instruction::new(Op::MatrixRowMean, &[0], 2), &mut mem);
        assert_eq!(mem.vectors[2], [1.5, 3.5]);
        exec(Instruction::new(Op::MatrixStDev, &[0], 3), &mut mem);
        assert_eq!(mem.scalars[3], 1.25f64.sqrt());
        exec(Instruction::new(Op::MatrixTranspose, &[0], 1), &mut mem);
        assert_eq!(mem.matrices[1], [[1.0, 3.0], [2.0, 4.0]]);
        exec(Instruction::new(Op::ScalarHeaviside, &[0], 3), &mut mem);
        assert_eq!(mem.scalars[3], 1.0, "heaviside(0) = 1 for scalars");
        mem.vectors[2] = [0.0, 2.0];
        exec(Instruction::new(Op::VectorHeaviside, &[2], 2), &mut mem);
        assert_eq!(mem.vectors[2], [0.0, 1.0], "but 0 for vector elements");
        let set = Instruction {
            op: Op::MatrixConstSet,
            out: 1,
            index: [1, 0],
            data: [9.0, 0.0],
            ..Instruction::NO_OP
        };
        exec(set, &mut mem);
        assert_eq!(mem.matrices[1][1][0], 9.0);
    }

    #[test]
    fn min_and_max_treat_nan_as_cpp_does() {
        assert_eq!(min(f64::NAN, 1.0).to_bits(), f64::NAN.to_bits());
        assert_eq!(min(1.0, f64::NAN), 1.0);
        assert_eq!(max(2.0, 1.0), 2.0);
    }

    #[test]
    fn squashing_maps_errors_into_the_unit_interval() {
        assert_eq!(flip_and_squash(0.0), 1.0);
        assert!((flip_and_squash(1.0) - 0.5).abs() < 1e-15);
        assert_eq!(flip_and_squash(f64::INFINITY), 0.0);
        assert_eq!(flip_and_squash(f64::NAN), 0.0);
    }
}
