//! Training on the digits, MnasNet's reward and the functional hashes.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use ufh_core::{FunctionalHash, HashSpec, HashableOutputs, MantissaBits, Probe};
use ufh_search::{CandidateHasher, Evaluation, Evaluator, Harness, SearchRng, SpecHasher};

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
fn step(
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
    data: DigitsSplit,
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

/// Which outputs key the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnasHash {
    /// The paper's: softmax outputs rounded to four decimal places.
    RoundedSoftmax,
    /// Softmax outputs truncated to this many mantissa bits of an f32 by
    /// `ufh-core`.
    Truncated(MantissaBits),
}

/// The functional hash of an architecture: the network built from the probe's
/// seed ([`MnasHasher::SEED`]), trained for `steps` SGD steps on fixed batches
/// (the first `steps × batch` training images, in order, at the training
/// settings' peak rate), then its softmax outputs on the first `examples`
/// validation images (one batch, batch norm on its own statistics), rounded or
/// truncated ([`MnasHash`]) and mixed by `ufh-core`.
///
/// It is the unified hash: [`SpecHasher`] over [`MnasProbe`], one bare run
/// (no count word) under [`MnasHasher::SEED`].
#[derive(Debug, Clone)]
pub struct MnasHasher {
    inner: SpecHasher<MnasProbe>,
}

/// What an architecture runs on when it is hashed: the fixed training batches,
/// the canonical examples and the training settings ([`MnasHasher`]'s harness).
#[derive(Debug, Clone)]
pub struct MnasProbe {
    kind: MnasHash,
    settings: TrainSettings,
    pixels: Vec<f32>,
    labels: Vec<u8>,
    examples: Vec<f32>,
}

/// An architecture bound to the probe's data.
#[derive(Debug)]
pub struct MnasRun<'a> {
    probe: &'a MnasProbe,
    arch: &'a Architecture,
}

impl Harness<Architecture> for MnasProbe {
    type Run<'a> = MnasRun<'a>;

    fn bind<'a>(&'a self, arch: &'a Architecture) -> MnasRun<'a> {
        MnasRun { probe: self, arch }
    }
}

impl HashableOutputs for MnasRun<'_> {
    type Error = std::convert::Infallible;

    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Self::Error> {
        let outputs = self.probe.outputs_with(self.arch, probe.rng());
        match self.probe.kind {
            MnasHash::RoundedSoftmax => {
                // Four decimals: an integer in 0..=10,000; NaN (a diverged probe)
                // as one value of its own.
                let rounded: Vec<u32> = outputs
                    .iter()
                    .map(|&p| {
                        if p.is_nan() {
                            u32::MAX
                        } else {
                            (f64::from(p) * 1e4).round() as u32
                        }
                    })
                    .collect();
                probe.push_u32s(&rounded);
            }
            MnasHash::Truncated(_) => probe.push_f32s(&outputs),
        }
        Ok(())
    }
}

impl MnasHasher {
    /// Canonical training steps.
    pub const STEPS: usize = 4;
    /// Images per canonical step.
    pub const BATCH: usize = 16;
    /// Canonical examples whose outputs are hashed.
    pub const EXAMPLES: usize = 16;
    /// Seed of the hash's network and nothing else.
    pub const SEED: u64 = 0x0048_4153_4821;

    /// The hash of `kind` with the training settings of `evaluator` (its rate,
    /// momentum and decay); its charge is the latency model's time for the
    /// canonical steps and examples at the target latency T.
    pub fn new(kind: MnasHash, evaluator: &MnasEvaluator) -> Self {
        let data = &evaluator.data;
        let train = data.train.first(Self::STEPS * Self::BATCH);
        let examples = data.validation.first(Self::EXAMPLES).pixels;
        let images = 3 * Self::STEPS * Self::BATCH + Self::EXAMPLES;
        let bits = match kind {
            // Integers are not truncated; the bits only name the width.
            MnasHash::RoundedSoftmax => MantissaBits::f32(23).expect("23 bits"),
            MnasHash::Truncated(bits) => bits,
        };
        let spec = HashSpec::bare(bits, Self::EXAMPLES, Self::SEED).expect("one seed");
        let probe = MnasProbe {
            kind,
            settings: evaluator.settings,
            pixels: train.pixels,
            labels: train.labels,
            examples,
        };
        Self {
            inner: SpecHasher::with_harness(
                spec,
                images as f64 * evaluator.target_us * 1e-6,
                probe,
            ),
        }
    }

    /// The softmax outputs `[image][class]` the hash reads.
    pub fn outputs(&self, arch: &Architecture) -> Vec<f32> {
        self.inner
            .harness()
            .outputs_with(arch, &mut Xoshiro256PlusPlus::seed_from_u64(Self::SEED))
    }

    /// The shared adapter this hasher is.
    pub fn spec_hasher(&self) -> &SpecHasher<MnasProbe> {
        &self.inner
    }
}

impl MnasProbe {
    /// The softmax outputs `[image][class]`, the network initialised from `rng`.
    fn outputs_with(&self, arch: &Architecture, rng: &mut Xoshiro256PlusPlus) -> Vec<f32> {
        let mut net = MnasNetwork::new(arch, rng);
        for s in 0..MnasHasher::STEPS {
            let range = s * MnasHasher::BATCH..(s + 1) * MnasHasher::BATCH;
            let pixels = &self.pixels[range.start * N_PIXELS..range.end * N_PIXELS];
            step(
                &mut net,
                pixels,
                &self.labels[range],
                self.settings.learning_rate,
                &self.settings,
            );
        }
        let images = self.examples.len() / N_PIXELS;
        // Batch statistics, as in training: after four steps the running ones
        // are far from settled, and inference with them saturates the softmax
        // (every probability rounds to 0 or 1 and most networks collide).
        let logits = net.forward(&self.examples, images, true);
        let mut out = Vec::with_capacity(logits.len());
        for image in 0..images {
            let logit = |k: usize| logits[k * images + image];
            let best = (0..N_CLASSES).map(logit).fold(f32::NEG_INFINITY, f32::max);
            let total: f32 = (0..N_CLASSES).map(|k| (logit(k) - best).exp()).sum();
            out.extend((0..N_CLASSES).map(|k| (logit(k) - best).exp() / total));
        }
        out
    }
}

impl CandidateHasher<Architecture> for MnasHasher {
    fn hash(&self, arch: &Architecture) -> FunctionalHash {
        self.inner.hash(arch)
    }

    fn cost_s(&self) -> f64 {
        self.inner.cost_s()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use ufh_search::SearchSpace;

    use super::*;
    use crate::mnas::{BLOCKS, Choice, MnasSpace};

    fn hashers() -> Vec<MnasHasher> {
        let evaluator = MnasEvaluator::new(TrainSettings::DEFAULT);
        vec![
            MnasHasher::new(MnasHash::RoundedSoftmax, &evaluator),
            MnasHasher::new(
                MnasHash::Truncated(MantissaBits::f32(16).unwrap()),
                &evaluator,
            ),
        ]
    }

    /// Every option of every choice but `keep` of block `b`, from `arch`.
    fn variants(arch: Architecture, b: usize, fixed: &[Choice]) -> Vec<Architecture> {
        let mut out = vec![arch];
        for choice in Choice::ALL {
            if fixed.contains(&choice) {
                continue;
            }
            out = out
                .iter()
                .flat_map(|a| (0..choice.options()).map(move |o| a.with(b, choice, o)))
                .collect();
        }
        out
    }

    #[test]
    fn a_block_of_zero_repeats_hashes_the_same_whatever_its_other_choices() {
        let mut rng = SearchRng::seed_from_u64(3);
        let base = MnasSpace.sample(&mut rng).with(0, Choice::Repeats, 0);
        // Block 0 (1 ± 1 repeats) can vanish; all 432 settings of its other
        // seven choices are one network.
        let all = variants(base, 0, &[Choice::Repeats]);
        assert_eq!(all.len(), 432);
        for hasher in hashers() {
            let expected = hasher.hash(&base);
            for arch in all.iter().step_by(7) {
                assert_eq!(hasher.hash(arch), expected, "{arch}");
            }
            // With one repeat the block is there, and its choices matter.
            let present = base.with(0, Choice::Repeats, 1).with(0, Choice::Op, 0);
            assert_ne!(hasher.hash(&present), expected);
            assert_ne!(
                hasher.hash(&present.with(0, Choice::Kernel, 1 - present.get(0, Choice::Kernel))),
                hasher.hash(&present)
            );
        }
    }

    #[test]
    fn no_squeeze_excite_hashes_the_same_whatever_its_gate() {
        let evaluator = MnasEvaluator::new(TrainSettings::DEFAULT);
        for hasher in hashers() {
            for b in 1..BLOCKS {
                let base = Architecture::REFERENCE.with(b, Choice::SeRatio, 0);
                let sigmoid = base.with(b, Choice::SeGate, 0);
                let hard = base.with(b, Choice::SeGate, 1);
                assert_eq!(hasher.hash(&sigmoid), hasher.hash(&hard), "block {b}");
                assert_eq!(evaluator.latency_us(&sigmoid), evaluator.latency_us(&hard));
                // With SE on, the gate changes the function, and SE itself does.
                let with_se = |a: Architecture| a.with(b, Choice::SeRatio, 1);
                assert_ne!(
                    hasher.hash(&with_se(sigmoid)),
                    hasher.hash(&with_se(hard)),
                    "block {b}"
                );
                assert_ne!(
                    hasher.hash(&with_se(sigmoid)),
                    hasher.hash(&sigmoid),
                    "block {b}"
                );
            }
        }
    }

    #[test]
    fn other_irrelevant_choices_hash_equal_and_relevant_ones_do_not() {
        for hasher in hashers() {
            // An expansion outside MBConv; MBConv ×1 is the separable conv.
            let conv = Architecture::REFERENCE.with(2, Choice::Op, 0);
            assert_eq!(
                hasher.hash(&conv.with(2, Choice::Expansion, 0)),
                hasher.hash(&conv.with(2, Choice::Expansion, 2))
            );
            let separable = Architecture::REFERENCE.with(2, Choice::Op, 1);
            let mb1 = Architecture::REFERENCE.with(2, Choice::Expansion, 0);
            assert_eq!(hasher.hash(&separable), hasher.hash(&mb1));
            // One function, one latency, one reward: the audit counted 58% of
            // hits as collisions when MBConv ×1 had a latency entry of its own.
            let evaluator = MnasEvaluator::new(TrainSettings::DEFAULT);
            assert_eq!(evaluator.latency_us(&separable), evaluator.latency_us(&mb1));
            // A skip where stride or widths rule it out (block 1's first layer
            // strides; with one layer, it is its only one).
            let one = Architecture::REFERENCE.with(1, Choice::Repeats, 0);
            assert_eq!(
                hasher.hash(&one.with(1, Choice::Skip, 0)),
                hasher.hash(&one.with(1, Choice::Skip, 1))
            );
            // Relevant choices: every single change of the reference network that
            // changes its layers changes the hash.
            let reference = hasher.hash(&Architecture::REFERENCE);
            for b in 0..BLOCKS {
                for choice in [
                    Choice::Repeats,
                    Choice::Kernel,
                    Choice::Filters,
                    Choice::SeRatio,
                    Choice::Op,
                ] {
                    for option in 0..choice.options() {
                        let arch = Architecture::REFERENCE.with(b, choice, option);
                        if arch != Architecture::REFERENCE {
                            assert_ne!(
                                hasher.hash(&arch),
                                reference,
                                "block {b} {choice:?} {option}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The hashes and the reward of the reference network, bit for bit: the
    /// substrate's sums run in one order on every machine (AVX2 or not), so these
    /// change only when the arithmetic, the training or the hash does.
    #[test]
    fn the_reference_network_hashes_and_scores_as_committed() {
        let [rounded, truncated] = <[MnasHasher; 2]>::try_from(hashers()).expect("two");
        let evaluator = MnasEvaluator::new(TrainSettings::DEFAULT);
        let e = evaluator.evaluate(&Architecture::REFERENCE, &mut SearchRng::seed_from_u64(0));
        assert_eq!(
            (
                rounded.hash(&Architecture::REFERENCE),
                truncated.hash(&Architecture::REFERENCE),
                e.validation.to_bits(),
                e.test.to_bits()
            ),
            (
                FunctionalHash(0x32ce_fe1f_6ed9_7915),
                FunctionalHash(0xd586_8c29_923c_33a1),
                4_600_341_938_761_467_259,
                4_600_291_911_370_140_549
            )
        );
    }

    #[test]
    fn evaluation_is_deterministic_and_learns() {
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
