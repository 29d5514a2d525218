//! The unified procedure: run a candidate on canonical inputs under fixed seeds and
//! hash what it outputs.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::hasher::{Bits64, Bits128, HashWidth, OutputSink};
use crate::{FunctionalHash, FunctionalHash128, FunctionalHasher, HashError, MantissaBits};

/// The checked configuration of a functional hash: the paper's three parameters
/// (Section 6.5) — mantissa bits `m`, number of canonical examples `n`, and the
/// fixed seeds `r`.
///
/// ```
/// use ufh_core::{HashSpec, MantissaBits};
///
/// let spec = HashSpec::new(MantissaBits::f64(24)?, 10, vec![0, 1])?;
/// assert_eq!(spec.seeds(), &[0, 1]);
/// assert!(HashSpec::new(MantissaBits::f64(24)?, 0, vec![0]).is_err());
/// # Ok::<(), ufh_core::HashError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "HashSpecConfig", into = "HashSpecConfig")
)]
pub struct HashSpec {
    mantissa_bits: MantissaBits,
    n_examples: usize,
    seeds: Vec<u64>,
    framing: Framing,
}

/// How the runs of a candidate (one per seed) are delimited in the hashed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Framing {
    /// After each run, the number of values that run pushed, as a `u64` word, so
    /// that runs stay delimited whatever they push (the default).
    #[default]
    CountPerRun,
    /// The values alone, with no count: for exactly one seed and candidates that
    /// push a fixed layout of values (a table's read-out, one pass over fixed
    /// data). Its hash is that of pushing the outputs straight into a
    /// [`FunctionalHasher`], so a candidate that pushes nothing hashes as
    /// `FunctionalHasher::new(m).finish()`, the hash of no outputs.
    Bare,
}

/// The unchecked fields of a [`HashSpec`], as read from a file or built by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HashSpecConfig {
    /// Mantissa bits kept of every float output.
    pub mantissa_bits: MantissaBits,
    /// Number of canonical examples a candidate runs on per seed.
    pub n_examples: usize,
    /// The fixed seeds; the candidate runs once per seed, RNG reset each time.
    pub seeds: Vec<u64>,
    /// How runs are delimited in the stream (absent in a file: the default,
    /// [`Framing::CountPerRun`]).
    #[cfg_attr(feature = "serde", serde(default))]
    pub framing: Framing,
}

impl HashSpecConfig {
    /// Checks the fields: at least one example, at least one seed, no seed twice,
    /// exactly one seed when [`Framing::Bare`].
    pub fn build(self) -> Result<HashSpec, HashError> {
        if self.n_examples == 0 {
            return Err(HashError::NoExamples(self.n_examples));
        }
        if self.seeds.is_empty() {
            return Err(HashError::NoSeeds);
        }
        for (second, seed) in self.seeds.iter().enumerate() {
            if let Some(first) = self.seeds[..second].iter().position(|s| s == seed) {
                return Err(HashError::DuplicateSeed {
                    seed: *seed,
                    first,
                    second,
                });
            }
        }
        if self.framing == Framing::Bare && self.seeds.len() != 1 {
            return Err(HashError::BareNeedsOneSeed(self.seeds.len()));
        }
        Ok(HashSpec {
            mantissa_bits: self.mantissa_bits,
            n_examples: self.n_examples,
            seeds: self.seeds,
            framing: self.framing,
        })
    }
}

impl TryFrom<HashSpecConfig> for HashSpec {
    type Error = HashError;
    fn try_from(config: HashSpecConfig) -> Result<Self, HashError> {
        config.build()
    }
}

impl From<HashSpec> for HashSpecConfig {
    fn from(spec: HashSpec) -> Self {
        Self {
            mantissa_bits: spec.mantissa_bits,
            n_examples: spec.n_examples,
            seeds: spec.seeds,
            framing: spec.framing,
        }
    }
}

impl HashSpec {
    /// Builds and checks a spec; see [`HashSpecConfig::build`].
    pub fn new(
        mantissa_bits: MantissaBits,
        n_examples: usize,
        seeds: Vec<u64>,
    ) -> Result<Self, HashError> {
        HashSpecConfig {
            mantissa_bits,
            n_examples,
            seeds,
            framing: Framing::CountPerRun,
        }
        .build()
    }

    /// A spec of one run under `seed` whose outputs are hashed bare, with no
    /// count word ([`Framing::Bare`]).
    ///
    /// ```
    /// use ufh_core::{functional_hash, FromFn, FunctionalHasher, HashSpec, MantissaBits, Probe};
    ///
    /// let m = MantissaBits::f64(24)?;
    /// let spec = HashSpec::bare(m, 1, 0)?;
    /// let read_out = FromFn(|p: &mut Probe<'_>| {
    ///     p.push_f64s(&[0.91, 0.87]);
    ///     Ok::<(), std::convert::Infallible>(())
    /// });
    /// let mut direct = FunctionalHasher::new(m);
    /// direct.push_f64s(&[0.91, 0.87]);
    /// assert_eq!(functional_hash(&read_out, &spec).unwrap(), direct.finish());
    /// # Ok::<(), ufh_core::HashError>(())
    /// ```
    pub fn bare(
        mantissa_bits: MantissaBits,
        n_examples: usize,
        seed: u64,
    ) -> Result<Self, HashError> {
        HashSpecConfig {
            mantissa_bits,
            n_examples,
            seeds: vec![seed],
            framing: Framing::Bare,
        }
        .build()
    }

    /// How runs are delimited in the stream.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Mantissa bits kept of every float output.
    pub fn mantissa_bits(&self) -> MantissaBits {
        self.mantissa_bits
    }

    /// Number of canonical examples per seed.
    pub fn n_examples(&self) -> usize {
        self.n_examples
    }

    /// The fixed seeds, in the order the candidate runs under them.
    pub fn seeds(&self) -> &[u64] {
        &self.seeds
    }

    /// The same spec with another truncation (for mantissa sweeps).
    pub fn with_mantissa_bits(&self, mantissa_bits: MantissaBits) -> Self {
        Self {
            mantissa_bits,
            ..self.clone()
        }
    }
}

/// One run of a candidate under one seed: the seeded RNG the candidate must draw
/// every random number from, the number of canonical examples, and the sink for
/// its hashable outputs.
pub struct Probe<'a> {
    sink: &'a mut dyn OutputSink,
    rng: Xoshiro256PlusPlus,
    seed: u64,
    seed_index: usize,
    n_examples: usize,
}

impl std::fmt::Debug for Probe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("seed", &self.seed)
            .field("seed_index", &self.seed_index)
            .field("n_examples", &self.n_examples)
            .field("n_values", &self.sink.n_values())
            .finish_non_exhaustive()
    }
}

impl<'a> Probe<'a> {
    /// A probe writing to `sink`, with its RNG freshly seeded from `seed`.
    ///
    /// [`functional_hash`] builds these; build one by hand only to drive a candidate
    /// outside that procedure (in a test, say).
    pub fn new(
        sink: &'a mut dyn OutputSink,
        seed: u64,
        seed_index: usize,
        n_examples: usize,
    ) -> Self {
        Self {
            sink,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            seed,
            seed_index,
            n_examples,
        }
    }

    /// The RNG, reset to this probe's seed before the candidate runs.
    pub fn rng(&mut self) -> &mut Xoshiro256PlusPlus {
        &mut self.rng
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Position of this run's seed in the spec.
    pub fn seed_index(&self) -> usize {
        self.seed_index
    }

    /// How many canonical examples the candidate should run on.
    pub fn n_examples(&self) -> usize {
        self.n_examples
    }

    /// The sink itself, for code written against [`OutputSink`].
    pub fn sink(&mut self) -> &mut dyn OutputSink {
        self.sink
    }

    /// Appends one f64 output.
    #[inline]
    pub fn push_f64(&mut self, x: f64) {
        self.sink.push_f64(x);
    }

    /// Appends one f32 output.
    #[inline]
    pub fn push_f32(&mut self, x: f32) {
        self.sink.push_f32(x);
    }

    /// Appends f64 outputs in order.
    pub fn push_f64s(&mut self, xs: &[f64]) {
        self.sink.push_f64s(xs);
    }

    /// Appends f32 outputs in order.
    pub fn push_f32s(&mut self, xs: &[f32]) {
        self.sink.push_f32s(xs);
    }

    /// Appends an integer output; never truncated.
    pub fn push_u64(&mut self, x: u64) {
        self.sink.push_u64(x);
    }

    /// Appends integer outputs; never truncated.
    pub fn push_u32s(&mut self, xs: &[u32]) {
        self.sink.push_u32s(xs);
    }
}

/// A candidate that can run on canonical inputs and emit its hashable outputs: the
/// one trait through which any representation — compute graph, program, expression
/// tree, table row — is hashed.
///
/// An implementation must be a pure function of the candidate and the probe: it
/// draws every random number from [`Probe::rng`], runs on the first
/// [`Probe::n_examples`] canonical examples in a fixed order, and pushes the same
/// layout of values for every candidate of its kind. A candidate that fails part
/// way (a NaN loss) may push NaN, which hashes as the canonical NaN; one that cannot
/// run at all returns `Err`.
pub trait HashableOutputs {
    /// Why the candidate could not run.
    type Error;

    /// Runs the candidate once under `probe`'s seed and pushes its outputs.
    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Self::Error>;
}

impl<T: HashableOutputs + ?Sized> HashableOutputs for &T {
    type Error = T::Error;
    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Self::Error> {
        (**self).emit_hashable_outputs(probe)
    }
}

/// Adapts a closure into a [`HashableOutputs`] candidate.
///
/// ```
/// use ufh_core::{functional_hash, FromFn, HashSpec, MantissaBits};
///
/// let spec = HashSpec::new(MantissaBits::f64(20)?, 4, vec![7])?;
/// let square = FromFn(|probe: &mut ufh_core::Probe<'_>| {
///     for i in 0..probe.n_examples() {
///         let x = i as f64;
///         probe.push_f64(x * x);
///     }
///     Ok::<(), std::convert::Infallible>(())
/// });
/// let h = functional_hash(&square, &spec).unwrap();
/// assert_eq!(h, functional_hash(&square, &spec).unwrap());
/// # Ok::<(), ufh_core::HashError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FromFn<F>(pub F);

impl<F, E> HashableOutputs for FromFn<F>
where
    F: Fn(&mut Probe<'_>) -> Result<(), E>,
{
    type Error = E;
    fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), E> {
        (self.0)(probe)
    }
}

/// The unified functional hash of `candidate` (Method 3 of the paper, with the
/// multi-seed extension of Section 3.2), 64 bits wide.
///
/// For each seed of `spec`, in order: the RNG is reset to that seed, the candidate
/// pushes its outputs, then (with [`Framing::CountPerRun`], the default) the
/// number of values it pushed under that seed is appended as a `u64` word, so
/// that the runs stay delimited.
pub fn functional_hash<C: HashableOutputs + ?Sized>(
    candidate: &C,
    spec: &HashSpec,
) -> Result<FunctionalHash, C::Error> {
    functional_hash_with::<Bits64, C>(candidate, spec)
}

/// [`functional_hash`], 128 bits wide.
pub fn functional_hash_128<C: HashableOutputs + ?Sized>(
    candidate: &C,
    spec: &HashSpec,
) -> Result<FunctionalHash128, C::Error> {
    functional_hash_with::<Bits128, C>(candidate, spec)
}

/// [`functional_hash`] for any [`HashWidth`].
pub fn functional_hash_with<W: HashWidth, C: HashableOutputs + ?Sized>(
    candidate: &C,
    spec: &HashSpec,
) -> Result<W::Hash, C::Error> {
    let mut hasher = FunctionalHasher::<W>::with_width(spec.mantissa_bits);
    for (seed_index, &seed) in spec.seeds.iter().enumerate() {
        let before = hasher.n_values();
        let mut probe = Probe::new(&mut hasher, seed, seed_index, spec.n_examples);
        candidate.emit_hashable_outputs(&mut probe)?;
        if spec.framing == Framing::CountPerRun {
            let emitted = hasher.n_values() - before;
            hasher.push_u64(emitted);
        }
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use rand::Rng;

    use super::*;

    fn spec(seeds: Vec<u64>) -> HashSpec {
        HashSpec::new(MantissaBits::f64(30).unwrap(), 5, seeds).unwrap()
    }

    /// A "model" with random initial weights drawn from the probe's RNG.
    struct RandomInit {
        scale: f64,
    }

    impl HashableOutputs for RandomInit {
        type Error = Infallible;
        fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Infallible> {
            let w: f64 = probe.rng().random_range(-1.0..1.0);
            for i in 0..probe.n_examples() {
                probe.push_f64(self.scale * w * i as f64);
            }
            Ok(())
        }
    }

    #[test]
    fn rng_is_reset_so_equal_candidates_hash_equal() {
        let s = spec(vec![1, 2, 3]);
        let a = functional_hash(&RandomInit { scale: 2.0 }, &s).unwrap();
        let b = functional_hash(&RandomInit { scale: 2.0 }, &s).unwrap();
        let c = functional_hash(&RandomInit { scale: 3.0 }, &s).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            a,
            functional_hash(&RandomInit { scale: 2.0 }, &spec(vec![1, 2])).unwrap()
        );
    }

    #[test]
    fn seed_runs_are_delimited() {
        // Two values under the first seed and none under the second must differ from
        // one value under each.
        let s = spec(vec![10, 20]);
        let front = FromFn(|p: &mut Probe<'_>| {
            if p.seed_index() == 0 {
                p.push_f64s(&[1.0, 1.0]);
            }
            Ok::<(), Infallible>(())
        });
        let spread = FromFn(|p: &mut Probe<'_>| {
            p.push_f64(1.0);
            Ok::<(), Infallible>(())
        });
        assert_ne!(
            functional_hash(&front, &s).unwrap(),
            functional_hash(&spread, &s).unwrap()
        );
    }

    #[test]
    fn candidate_errors_propagate() {
        let failing = FromFn(|_: &mut Probe<'_>| Err::<(), _>("invalid graph"));
        assert_eq!(
            functional_hash(&failing, &spec(vec![0])),
            Err("invalid graph")
        );
    }

    #[test]
    fn spec_errors_name_the_problem() {
        let m = MantissaBits::f64(8).unwrap();
        assert_eq!(HashSpec::new(m, 3, vec![]), Err(HashError::NoSeeds));
        let dup = HashSpec::new(m, 3, vec![5, 6, 5]).unwrap_err();
        assert_eq!(
            dup.to_string(),
            "seed 5 appears twice in the hash spec (positions 0 and 2)"
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn spec_deserialization_is_checked() {
        let s = spec(vec![3, 4]);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<HashSpec>(&json).unwrap(), s);
        let bad = r#"{"mantissa_bits":{"format":"f64","bits":8},"n_examples":0,"seeds":[1]}"#;
        let err = serde_json::from_str::<HashSpec>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 1, got 0"), "{err}");
    }
}
