//! Test doubles shared by the crate's tests: a tiny integer space whose candidates
//! `c` compute the function `c mod period`.

use std::convert::Infallible;

use rand::{Rng, SeedableRng};
use ufh_core::{FromFn, FunctionalHash, HashSpec, MantissaBits, Probe, functional_hash};

use crate::{CandidateHasher, Evaluation, Evaluator, SearchRng, SearchSpace};

pub(crate) fn rng(seed: u64) -> SearchRng {
    SearchRng::seed_from_u64(seed)
}

/// Integers `0..size`; a mutation steps by -3..=3, wrapping, and may return the
/// parent itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntSpace {
    pub(crate) size: u32,
}

impl IntSpace {
    pub(crate) fn new(size: u32) -> Self {
        Self { size }
    }
}

impl SearchSpace for IntSpace {
    type Candidate = u32;

    fn sample(&self, rng: &mut SearchRng) -> u32 {
        rng.random_range(0..self.size)
    }

    fn mutate(&self, parent: &u32, rng: &mut SearchRng) -> u32 {
        let step: i64 = rng.random_range(-3..=3);
        (i64::from(*parent) + step).rem_euclid(i64::from(self.size)) as u32
    }
}

impl crate::Neighbourhood for IntSpace {
    /// The candidates one to three steps away, wrapping.
    fn neighbours(&self, c: &u32) -> Vec<u32> {
        [-3i64, -2, -1, 1, 2, 3]
            .iter()
            .map(|step| (i64::from(*c) + step).rem_euclid(i64::from(self.size)) as u32)
            .collect()
    }
}

/// The function a candidate computes: `c mod period`, scaled into (0, 1].
pub(crate) fn function_of(candidate: u32, period: u32) -> f64 {
    f64::from(candidate % period + 1) / f64::from(period)
}

/// Evaluator whose validation fitness is the candidate's function plus uniform
/// noise of half-width `noise` (none when 0, making it deterministic); test
/// fitness is noise-free; each evaluation costs `cost_s`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeriodicEvaluator {
    pub(crate) period: u32,
    pub(crate) cost_s: f64,
    pub(crate) noise: f64,
}

impl PeriodicEvaluator {
    pub(crate) fn new(period: u32, cost_s: f64, noise: f64) -> Self {
        Self {
            period,
            cost_s,
            noise,
        }
    }
}

impl Evaluator<u32> for PeriodicEvaluator {
    fn evaluate(&self, candidate: &u32, rng: &mut SearchRng) -> Evaluation {
        let f = function_of(*candidate, self.period);
        let noise = if self.noise > 0.0 {
            rng.random_range(-self.noise..self.noise)
        } else {
            0.0
        };
        Evaluation {
            validation: f + noise,
            test: f,
            cost_s: self.cost_s,
        }
    }
}

/// Functional hasher of the integer space through `ufh-core`: the candidate's
/// function on one canonical example, so equal functions hash equal and, at 40
/// mantissa bits, different ones do not.
#[derive(Debug, Clone)]
pub(crate) struct PeriodicHasher {
    pub(crate) period: u32,
    pub(crate) cost_s: f64,
    pub(crate) spec: HashSpec,
}

impl PeriodicHasher {
    pub(crate) fn new(period: u32, cost_s: f64) -> Self {
        let spec = HashSpec::new(MantissaBits::f64(40).expect("valid bits"), 1, vec![0])
            .expect("valid spec");
        Self {
            period,
            cost_s,
            spec,
        }
    }
}

impl CandidateHasher<u32> for PeriodicHasher {
    fn hash(&self, candidate: &u32) -> FunctionalHash {
        let value = function_of(*candidate, self.period);
        let emit = FromFn(|probe: &mut Probe<'_>| {
            probe.push_f64(value);
            Ok::<(), Infallible>(())
        });
        match functional_hash(&emit, &self.spec) {
            Ok(hash) => hash,
            Err(never) => match never {},
        }
    }

    fn cost_s(&self) -> f64 {
        self.cost_s
    }
}
