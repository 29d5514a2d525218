//! The functional hash of an MNAS architecture: a short training on fixed batches
//! from the probe's seed, then its softmax outputs on canonical examples.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use ufh_core::{FunctionalHash, HashSpec, HashableOutputs, MantissaBits, Probe};
use ufh_search::{CandidateHasher, Harness, SpecHasher};

use super::Architecture;
use super::evaluate::{MnasEvaluator, TrainSettings, step};
use super::network::MnasNetwork;
use crate::digits::{N_CLASSES, N_PIXELS};

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
    use ufh_search::{Evaluator, SearchRng, SearchSpace};

    use super::*;
    use crate::mnas::*;

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
        if !crate::slow_tier() {
            return;
        }
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
        if !crate::slow_tier() {
            return;
        }
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
        if !crate::slow_tier() {
            return;
        }
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
}
