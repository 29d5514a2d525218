//! Tasks: the small datasets a program is trained and validated on.

use rand::{Rng, SeedableRng};

use super::interpreter::Vector;
use crate::digits::{self, Digits};
use crate::gaussian::standard_normal;
use ufh_search::SearchRng;

/// How a task turns validation errors into fitness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EvalType {
    /// Regression: fitness `1 - (2/π) atan(rmse)`.
    Rms,
    /// Binary classification with labels 0 and 1: the prediction goes through a
    /// sigmoid, fitness is the accuracy at threshold 0.5.
    Accuracy,
}

/// Examples of one split: features and labels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Examples<const F: usize> {
    /// One feature vector per example.
    pub features: Vec<Vector<F>>,
    /// One label per example.
    pub labels: Vec<f64>,
}

impl<const F: usize> Examples<F> {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The examples in order.
    pub fn examples(&self) -> impl Iterator<Item = (&Vector<F>, &f64)> {
        self.features.iter().zip(&self.labels)
    }

    fn push(&mut self, features: Vector<F>, label: f64) {
        self.features.push(features);
        self.labels.push(label);
    }
}

/// One task: training, validation and test examples, how to score them, and the
/// seed of the RNG the program's random ops draw from while it runs on this task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task<const F: usize> {
    /// What the task is, for messages (`linear(seed 7)`, `digits 3 vs 5`).
    pub name: String,
    /// Regression or classification.
    pub eval: EvalType,
    /// Examples trained on, in order, one epoch.
    pub train: Examples<F>,
    /// Examples whose errors give the fitness the search sees.
    pub valid: Examples<F>,
    /// Examples never seen by the search: the test fitness of an evaluation.
    pub test: Examples<F>,
    /// Seed of the program's RNG on this task, so evaluations are deterministic.
    pub rng_seed: u64,
}

/// Numbers of examples per split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitSizes {
    /// Training examples.
    pub train: usize,
    /// Validation examples.
    pub valid: usize,
    /// Test examples.
    pub test: usize,
}

fn seed_of(seed: u64, stream: u64, index: u64) -> u64 {
    // SplitMix64's finaliser over the three, so nearby seeds give unrelated streams.
    crate::seeds::mix(
        seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

const DATA_STREAM: u64 = 1;
const EXEC_STREAM: u64 = 2;

/// AutoML-Zero's `scalar_linear_regression` tasks: a teacher `w ~ N(0, I)` per
/// task, features `x ~ N(0, I)`, label `w . x`, no noise. Task `i` of `seed`
/// draws from its own stream, so the first tasks of a larger set are the tasks of
/// a smaller one.
pub fn linear_regression_tasks<const F: usize>(
    n_tasks: usize,
    sizes: SplitSizes,
    seed: u64,
) -> Vec<Task<F>> {
    (0..n_tasks as u64)
        .map(|i| {
            let mut rng = SearchRng::seed_from_u64(seed_of(seed, DATA_STREAM, i));
            let teacher: Vector<F> = std::array::from_fn(|_| standard_normal(&mut rng));
            let mut draw = |n: usize| {
                let mut examples = Examples::default();
                for _ in 0..n {
                    let x: Vector<F> = std::array::from_fn(|_| standard_normal(&mut rng));
                    let y = x.iter().zip(&teacher).fold(0.0, |acc, (a, b)| acc + a * b);
                    examples.push(x, y);
                }
                examples
            };
            let (train, valid, test) = (draw(sizes.train), draw(sizes.valid), draw(sizes.test));
            Task {
                name: format!("linear(seed {seed}, task {i})"),
                eval: EvalType::Rms,
                train,
                valid,
                test,
                rng_seed: seed_of(seed, EXEC_STREAM, i),
            }
        })
        .collect()
}

/// The 45 pairs of digit classes `(positive, negative)`, `positive < negative`.
pub fn all_digit_pairs() -> Vec<(u8, u8)> {
    (0..10u8)
        .flat_map(|a| (a + 1..10).map(move |b| (a, b)))
        .collect()
}

/// The nine pairs AutoML-Zero's projected binary CIFAR-10 experiments search and
/// select on; the other 36 are held out for the final evaluation.
pub const SEARCH_PAIRS: [(u8, u8); 9] = [
    (0, 5),
    (0, 9),
    (1, 8),
    (2, 9),
    (3, 5),
    (3, 6),
    (3, 8),
    (4, 6),
    (8, 9),
];

/// Projected binary classification on the 8×8 digits, the method of AutoML-Zero's
/// projected binary CIFAR-10 on a dataset that ships inside a crate.
///
/// Task `i` classifies `pairs[i % pairs.len()]` (label 1 for the first class, 0
/// for the second) from the fixed digits split (`crate::digits`): training images
/// of the two classes from its training set, validation from its validation set,
/// test from its test set, each in split order. The 64 pixels are projected to F
/// features by a matrix of N(0, 1/64) entries drawn from task `i`'s own stream,
/// then standardised with the training images' mean and standard deviation.
pub fn projected_digits_tasks<const F: usize>(
    pairs: &[(u8, u8)],
    n_tasks: usize,
    seed: u64,
) -> Vec<Task<F>> {
    assert!(
        !pairs.is_empty(),
        "projected digits tasks need a pair of classes"
    );
    let split = digits::split();
    (0..n_tasks)
        .map(|i| {
            let (positive, negative) = pairs[i % pairs.len()];
            let index = i as u64;
            let mut rng = SearchRng::seed_from_u64(seed_of(seed, DATA_STREAM, index));
            let scale = 1.0 / (digits::N_PIXELS as f64).sqrt();
            let projection: Vec<[f64; digits::N_PIXELS]> = (0..F)
                .map(|_| std::array::from_fn(|_| scale * standard_normal(&mut rng)))
                .collect();
            let project = |set: &Digits| {
                let mut examples = Examples::<F>::default();
                for (image, &label) in set.pixels.chunks(digits::N_PIXELS).zip(&set.labels) {
                    if label != positive && label != negative {
                        continue;
                    }
                    let x: Vector<F> = std::array::from_fn(|f| {
                        projection[f]
                            .iter()
                            .zip(image)
                            .fold(0.0, |acc, (w, &p)| acc + w * f64::from(p))
                    });
                    examples.push(x, f64::from(u8::from(label == positive)));
                }
                examples
            };
            let mut train = project(&split.train);
            let mut valid = project(&split.validation);
            let mut test = project(&split.test);
            standardise(&mut train, &mut [&mut valid, &mut test]);
            Task {
                name: format!("digits {positive} vs {negative} (projection {i})"),
                eval: EvalType::Accuracy,
                train,
                valid,
                test,
                rng_seed: seed_of(seed, EXEC_STREAM, index) ^ rng.random::<u64>(),
            }
        })
        .collect()
}

/// Standardises every feature with the mean and standard deviation of `train`.
fn standardise<const F: usize>(train: &mut Examples<F>, others: &mut [&mut Examples<F>]) {
    let n = train.len().max(1) as f64;
    for f in 0..F {
        let mean = train.features.iter().map(|x| x[f]).sum::<f64>() / n;
        let var = train
            .features
            .iter()
            .map(|x| (x[f] - mean) * (x[f] - mean))
            .sum::<f64>()
            / n;
        let std = if var > 0.0 { var.sqrt() } else { 1.0 };
        let apply = |examples: &mut Examples<F>| {
            examples
                .features
                .iter_mut()
                .for_each(|x| x[f] = (x[f] - mean) / std);
        };
        apply(train);
        others.iter_mut().for_each(|e| apply(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_tasks_are_reproducible_and_nested() {
        let sizes = SplitSizes {
            train: 5,
            valid: 3,
            test: 2,
        };
        let ten = linear_regression_tasks::<4>(10, sizes, 7);
        let three = linear_regression_tasks::<4>(3, sizes, 7);
        assert_eq!(&ten[..3], &three[..]);
        assert_ne!(ten[0].train, ten[1].train);
        assert_ne!(ten[0], linear_regression_tasks::<4>(1, sizes, 8)[0]);
        assert_eq!(ten[0].train.len(), 5);
        assert_eq!(ten[0].test.len(), 2);
    }

    #[test]
    fn digit_tasks_hold_two_classes_standardised() {
        let tasks = projected_digits_tasks::<8>(&SEARCH_PAIRS, 10, 1);
        assert_eq!(tasks.len(), 10);
        assert_eq!(all_digit_pairs().len(), 45);
        let task = &tasks[0];
        // About 200 training images of two classes out of 1,000.
        assert!(
            (150..260).contains(&task.train.len()),
            "{}",
            task.train.len()
        );
        assert!(task.valid.len() > 50 && task.test.len() > 50);
        let positives = task.train.labels.iter().filter(|&&y| y == 1.0).count();
        assert!(positives > 50 && positives < task.train.len() - 50);
        for f in 0..8 {
            let mean =
                task.train.features.iter().map(|x| x[f]).sum::<f64>() / task.train.len() as f64;
            assert!(mean.abs() < 1e-9, "feature {f} has mean {mean}");
        }
        assert_ne!(tasks[0].train.features, tasks[9].train.features);
        assert_eq!(tasks, projected_digits_tasks::<8>(&SEARCH_PAIRS, 10, 1));
    }
}
