//! Training on the digits and MnasNet's latency-aware reward: the evaluator.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use ufh_search::{Evaluation, Evaluator, SearchRng};

use super::network::MnasNetwork;
use super::{Architecture, LatencyTable};
use crate::digits::{Digits, DigitsSplit, N_CLASSES, N_PIXELS};
use crate::nn::layers::{count_correct, softmax_cross_entropy};

/// How a candidate is trained.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSettings {
    /// Passes over the training images.
    pub epochs: u32,
    /// Images per step.
    pub batch_size: usize,
    /// Training images used (the first of the fixed split's 1,000).
    pub train_images: usize,
    /// Peak learning rate, decayed to 0 by a cosine over the run.
    pub learning_rate: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// L2 weight decay on convolution and dense weights.
    pub weight_decay: f32,
    /// Seed of the weights and of the shuffles: the same for every candidate,
    /// so that fitness is a function of the architecture.
    pub seed: u64,
}

impl TrainSettings {
    /// ufh's settings: 2 epochs of 25-image batches over 400 images (32 steps),
    /// SGD with momentum 0.9 from a rate of 0.2 decayed by a cosine. MnasNet
    /// trains each child for 5 epochs on a proxy task; this is that idea at the
    /// digits' scale: about 0.25 s per candidate on one core; the best networks
    /// of a search reach 90% validation accuracy.
    pub const DEFAULT: TrainSettings = TrainSettings {
        epochs: 2,
        batch_size: 25,
        train_images: 400,
        learning_rate: 0.2,
        momentum: 0.9,
        weight_decay: 1e-4,
        seed: 0x4D4E_4153,
    };
}

/// What training one architecture gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MnasOutcome {
    /// Accuracy on the validation images.
    pub validation_accuracy: f64,
    /// Accuracy on the test images (never seen by a search).
    pub test_accuracy: f64,
    /// Trainable parameters.
    pub parameters: usize,
    /// Whether the loss became NaN or infinite.
    pub diverged: bool,
}

fn accuracy(net: &mut MnasNetwork, data: &Digits) -> f64 {
    const CHUNK: usize = 100;
    let mut correct = 0;
    for start in (0..data.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(data.len());
        let logits = net.forward(
            &data.pixels[start * N_PIXELS..end * N_PIXELS],
            end - start,
            false,
        );
        correct += count_correct(&logits, &data.labels[start..end], N_CLASSES);
    }
    correct as f64 / data.len() as f64
}

/// One SGD step on a batch; the mean loss.
pub(super) fn step(
    net: &mut MnasNetwork,
    pixels: &[f32],
    labels: &[u8],
    rate: f32,
    settings: &TrainSettings,
) -> f32 {
    let logits = net.forward(pixels, labels.len(), true);
    let (loss, grad, _) = softmax_cross_entropy(&logits, labels, N_CLASSES);
    net.backward(&grad);
    let (momentum, decay) = (settings.momentum, settings.weight_decay);
    net.for_each_param(&mut |p| p.step(rate, momentum, decay));
    loss
}

/// Trains `arch` as `settings` say on the fixed split and measures it.
pub(crate) fn train(
    arch: &Architecture,
    settings: &TrainSettings,
    data: &DigitsSplit,
) -> MnasOutcome {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed);
    let mut net = MnasNetwork::new(arch, &mut rng);
    let images = settings.train_images.min(data.train.len());
    let batch = settings.batch_size.max(1);
    let total_steps = (images.div_ceil(batch) * settings.epochs as usize).max(1) as f64;
    let mut order: Vec<usize> = (0..images).collect();
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    let mut diverged = false;
    let mut steps = 0usize;
    for _ in 0..settings.epochs {
        for i in (1..order.len()).rev() {
            let j = rng.random_range(0..=i as u32) as usize;
            order.swap(i, j);
        }
        for chunk in order.chunks(batch) {
            pixels.clear();
            labels.clear();
            for &i in chunk {
                pixels.extend_from_slice(data.train.image(i));
                labels.push(data.train.labels[i]);
            }
            let progress = steps as f64 / total_steps;
            let rate = (0.5
                * f64::from(settings.learning_rate)
                * (1.0 + (std::f64::consts::PI * progress).cos())) as f32;
            diverged |= !step(&mut net, &pixels, &labels, rate, settings).is_finite();
            steps += 1;
        }
    }
    MnasOutcome {
        validation_accuracy: accuracy(&mut net, &data.validation),
        test_accuracy: accuracy(&mut net, &data.test),
        parameters: net.parameter_count(),
        diverged,
    }
}

/// MnasNet's reward with a soft latency constraint: a candidate trained as
/// `settings` say scores `ACC × (LAT / T)^w`.
///
/// * ACC: validation accuracy (test accuracy for the re-evaluation on unseen
///   data, in [`Evaluation::test`], with the same latency factor).
/// * LAT: [`LatencyTable::latency`] of the shipped table, µs per image.
/// * T: the latency of [`Architecture::REFERENCE`] (every block at its middle
///   repeats, MBConv ×3, 3×3, no SE, filters × 1) in the same table, so that the
///   reference network's reward is its accuracy; w = −0.07 on both sides of T
///   (MnasNet's soft constraint α = β = −0.07).
/// * Cost (simulated seconds): the latency model's time for the run's training
///   (3 × LAT per training image: forward and backward) and its evaluation
///   (LAT per validation and test image). It is deterministic, so figure runs
///   reproduce, and it charges large networks more, as their training does.
///
/// A diverged training (a NaN or infinite loss) is a failed evaluation.
#[derive(Debug, Clone)]
pub struct MnasEvaluator {
    /// Training.
    pub settings: TrainSettings,
    /// The exponent w.
    pub exponent: f64,
    /// The target T in µs per image.
    pub target_us: f64,
    table: &'static LatencyTable,
    pub(super) data: DigitsSplit,
}

impl MnasEvaluator {
    /// MnasNet's soft-constraint exponent.
    pub const SOFT_EXPONENT: f64 = -0.07;

    /// The evaluator with `settings`, the shipped latency table, its T and
    /// w = −0.07.
    pub fn new(settings: TrainSettings) -> Self {
        let table = LatencyTable::shipped();
        Self {
            settings,
            exponent: Self::SOFT_EXPONENT,
            target_us: table
                .latency(&Architecture::REFERENCE)
                .expect("the shipped table covers the reference"),
            table,
            data: crate::digits::split(),
        }
    }

    /// Trains `arch` and measures it.
    pub fn outcome(&self, arch: &Architecture) -> MnasOutcome {
        train(arch, &self.settings, &self.data)
    }

    /// LAT of `arch`, µs per image.
    pub fn latency_us(&self, arch: &Architecture) -> f64 {
        self.table
            .latency(arch)
            .expect("the shipped table covers every architecture of the space")
    }

    /// The simulated seconds an evaluation of `arch` costs (see the type's docs).
    pub fn cost_s(&self, arch: &Architecture) -> f64 {
        self.cost_at(self.latency_us(arch))
    }

    /// [`MnasEvaluator::cost_s`] of a network of latency `latency_us`.
    fn cost_at(&self, latency_us: f64) -> f64 {
        let trained =
            self.settings.train_images.min(self.data.train.len()) * self.settings.epochs as usize;
        let images = 3 * trained + self.data.validation.len() + self.data.test.len();
        images as f64 * latency_us * 1e-6
    }

    /// The reward of accuracy `accuracy` at latency `latency_us`.
    pub fn reward(&self, accuracy: f64, latency_us: f64) -> f64 {
        accuracy * (latency_us / self.target_us).powf(self.exponent)
    }
}

impl Evaluator<Architecture> for MnasEvaluator {
    fn evaluate(&self, arch: &Architecture, _: &mut SearchRng) -> Evaluation {
        let latency = self.latency_us(arch);
        let outcome = self.outcome(arch);
        let cost_s = self.cost_at(latency);
        if outcome.diverged {
            return Evaluation::failed(cost_s);
        }
        Evaluation {
            validation: self.reward(outcome.validation_accuracy, latency),
            test: self.reward(outcome.test_accuracy, latency),
            cost_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use ufh_search::SearchSpace;

    use super::*;
    use crate::mnas::*;

    #[test]
    fn evaluation_is_deterministic_and_learns() {
        if !crate::slow_tier() {
            return;
        }
        let evaluator = MnasEvaluator::new(TrainSettings::DEFAULT);
        let arch = Architecture::REFERENCE;
        let a = evaluator.evaluate(&arch, &mut SearchRng::seed_from_u64(1));
        let b = evaluator.evaluate(&arch, &mut SearchRng::seed_from_u64(2));
        assert_eq!(a, b, "fitness is a function of the architecture");
        let outcome = evaluator.outcome(&arch);
        // 32 steps from one seed: well above chance (0.1), and as sensitive to
        // the last bit of the arithmetic as short trainings are (sharing the
        // conv blocks' variance sum moved it from 0.60 to 0.37).
        assert!(outcome.validation_accuracy > 0.3, "{outcome:?}");
        // At T, the reward is the accuracy.
        assert_eq!(a.validation, outcome.validation_accuracy);
        // A slower network pays: LAT above T lowers the reward.
        let wide = (0..BLOCKS).fold(arch, |a, b| {
            a.with(b, Choice::Filters, 2).with(b, Choice::Expansion, 2)
        });
        assert!(evaluator.latency_us(&wide) > evaluator.target_us);
        assert!(evaluator.reward(0.9, evaluator.latency_us(&wide)) < 0.9);
        assert!(
            evaluator
                .evaluate(&wide, &mut SearchRng::seed_from_u64(1))
                .cost_s
                > a.cost_s
        );
    }

    #[test]
    fn a_sample_of_the_space_trains_without_panics() {
        if !crate::slow_tier() {
            return;
        }
        let settings = TrainSettings {
            epochs: 1,
            train_images: 100,
            ..TrainSettings::DEFAULT
        };
        let evaluator = MnasEvaluator::new(settings);
        let mut rng = SearchRng::seed_from_u64(9);
        for _ in 0..6 {
            let arch = MnasSpace.sample(&mut rng);
            let e = evaluator.evaluate(&arch, &mut rng);
            assert!(
                e.cost_s > 0.0 && (e.is_failure() || (0.0..2.0).contains(&e.validation)),
                "{arch}: {e:?}"
            );
        }
    }
}
