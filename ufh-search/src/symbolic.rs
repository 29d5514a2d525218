//! Composable symbolic search spaces, after PyGlove: `oneof`, `manyof`, `intv` and
//! `floatv` nested to any depth inside lists and records, with user values at the
//! leaves.
//!
//! One definition ([`Space`]) gives, through [`SymbolicSpace`], everything the
//! algorithms need: uniform sampling and mutation of one decision at a time
//! ([`SearchSpace`]), the discrete encoding that PPO uses ([`DiscreteEncoding`]),
//! a neighbourhood for local search ([`Neighbourhood`]) and a readable printout
//! (`Display`), and a one-hot feature encoding for BANANAS ([`FeatureEncoding`]). A point of the space is its [`Dna`]: the tree of decisions taken,
//! which serde writes and reads and whose layout is pinned by golden vectors, so a
//! point saved by one release means the same in the next. [`SymbolicSpace::materialize`]
//! turns a point into its [`Value`], from which the user builds their own type; the
//! [`Decoded`] adapter runs any evaluator or hasher of that type on points.
//!
//! ```
//! use rand::SeedableRng;
//! use ufh_search::symbolic::{Dna, Space, SymbolicSpace};
//! use ufh_search::{Neighbourhood, SearchRng, SearchSpace};
//!
//! let space = SymbolicSpace::new(Space::dict([
//!     ("op", Space::oneof_values(["conv", "pool"])),
//!     ("width", Space::intv(1, 4)),
//!     ("lr", Space::floatv(0.001, 0.1)),
//! ]))?;
//! assert_eq!(
//!     space.to_string(),
//!     "{op: oneof([conv, pool]), width: intv(1, 4), lr: floatv(0.001, 0.1)}"
//! );
//! let mut rng = SearchRng::seed_from_u64(1);
//! let point = space.sample(&mut rng);
//! let child = space.mutate(&point, &mut rng);
//! assert!(space.admits(&child));
//! assert!(!space.neighbours(&point).is_empty());
//! let saved = serde_json::to_string(&point)?;
//! let back: Dna = serde_json::from_str(&saved)?;
//! assert_eq!(space.materialize(&back)?, space.materialize(&point)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The choices made where PyGlove leaves room:
//! * **Sampling** draws every decision uniformly given those before it: a `oneof`
//!   picks each option with equal probability (not weighted by the size of the
//!   option's own sub-space); a `manyof` is uniform over its admissible pick lists
//!   (ordered tuples, permutations, combinations, or multisets when sorted with
//!   repetition); `intv` is uniform over its integers and `floatv` over its range
//!   (or its grid points when it has a grid).
//! * **Mutation** picks one *mutable* decision of the parent uniformly (one with
//!   another admissible value) and gives it another value, uniformly. A changed
//!   `oneof` option or `manyof` pick brings the new option's own decisions, freshly
//!   sampled: they are new decisions, not changes of old ones.
//! * **Neighbours** are every single-decision change: every other option of a
//!   `oneof` or `manyof` pick (its own decisions at their first values), every
//!   other integer of an `intv` of at most [`SMALL_INT_RANGE`] values (±1 of a
//!   larger one), and one step up and down of a `floatv` (a grid step, or a tenth
//!   of the range when it has no grid).
//! * **The discrete encoding** lists every decision of every branch in a fixed
//!   order (a `oneof`'s choice, then each option's decisions; a `manyof`'s `k`
//!   picks, then for each pick every option's decisions); a choice sequence decodes
//!   by reading the decisions of the taken branches. A distinct `manyof`'s pick `j`
//!   indexes the options not yet taken; a sorted one is sorted after decoding. A
//!   `floatv` without a grid is encoded on [`DEFAULT_FLOAT_GRID`] points.
//! * **Constraints** ([`SymbolicSpace::constrained`]) reject points: sampling
//!   redraws, mutation retries from the parent, neighbours are filtered. A decoded
//!   choice sequence is returned as it is; an evaluator fails invalid points, as
//!   with every other space.

use std::fmt;
use std::sync::Arc;

use rand::Rng;
use ufh_core::FunctionalHash;

use crate::{
    CandidateHasher, DiscreteEncoding, Evaluation, Evaluator, FeatureEncoding, Neighbourhood,
    SearchError, SearchRng, SearchSpace,
};

/// Integer ranges of at most this many values have every other value as a
/// neighbour; larger ones have the values one below and one above.
pub const SMALL_INT_RANGE: u64 = 32;

/// Grid points of a `floatv` without a grid in the discrete encoding.
pub const DEFAULT_FLOAT_GRID: usize = 11;

/// Draws before [`SymbolicSpace::sample`] gives up on a constraint.
const MAX_SAMPLE_DRAWS: usize = 1_000_000;

/// Mutation attempts under a constraint before the parent is returned unchanged.
const MAX_MUTATION_TRIES: usize = 1_000;

mod encode;
mod sample;
#[cfg(test)]
mod tests;
mod types;

use encode::*;
use sample::*;
pub use types::{Decision, Dna, DnaError, Space, Value};

type Constraint<T> = Arc<dyn Fn(&Value<T>) -> bool + Send + Sync>;

/// A checked [`Space`] as a search space whose candidates are [`Dna`]s.
#[derive(Clone)]
pub struct SymbolicSpace<T> {
    space: Space<T>,
    constraint: Option<Constraint<T>>,
}

impl<T: fmt::Debug> fmt::Debug for SymbolicSpace<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymbolicSpace")
            .field("space", &self.space)
            .field("constrained", &self.constraint.is_some())
            .finish()
    }
}

impl<T: fmt::Display> fmt::Display for SymbolicSpace<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.space)?;
        if self.constraint.is_some() {
            f.write_str(" where <constraint>")?;
        }
        Ok(())
    }
}

impl<T: Clone> SymbolicSpace<T> {
    /// Checks `space` (non-empty choices and ranges, distinct picks that fit,
    /// unique field names); the error names the path to what is wrong.
    pub fn new(space: Space<T>) -> Result<Self, SearchError> {
        check(&space, "$")?;
        Ok(Self {
            space,
            constraint: None,
        })
    }

    /// Keeps only points whose value satisfies `constraint`.
    pub fn constrained(
        mut self,
        constraint: impl Fn(&Value<T>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.constraint = Some(Arc::new(constraint));
        self
    }

    /// The definition.
    pub fn space(&self) -> &Space<T> {
        &self.space
    }

    /// The value of `dna`, or where and why it does not fit the space.
    pub fn materialize(&self, dna: &Dna) -> Result<Value<T>, DnaError> {
        materialize_at(&self.space, dna, &mut String::new())
    }

    /// Whether `dna` fits the space and satisfies its constraint.
    pub fn admits(&self, dna: &Dna) -> bool {
        self.materialize(dna)
            .is_ok_and(|v| self.constraint.as_ref().is_none_or(|c| c(&v)))
    }

    /// The choice sequence of `dna` in the discrete encoding, the inverse of
    /// [`DiscreteEncoding::decode`]: `decode(encode(d)) == d` for every point whose
    /// floats lie on their grids (a `floatv` without one is rounded to the nearest
    /// of [`DEFAULT_FLOAT_GRID`] points).
    pub fn encode(&self, dna: &Dna) -> Result<Vec<usize>, DnaError> {
        self.materialize(dna)?;
        let mut out = Vec::new();
        encode_at(&self.space, dna, &mut out);
        Ok(out)
    }

    fn satisfies(&self, dna: &Dna) -> bool {
        match &self.constraint {
            None => true,
            Some(c) => self.materialize(dna).is_ok_and(|v| c(&v)),
        }
    }
}

impl<T: Clone> SearchSpace for SymbolicSpace<T> {
    type Candidate = Dna;

    /// A uniform draw (see the module docs), redrawn until the constraint holds.
    ///
    /// # Panics
    /// If a million draws all break the constraint.
    fn sample(&self, rng: &mut SearchRng) -> Dna {
        for _ in 0..MAX_SAMPLE_DRAWS {
            let dna = sample_dna(&self.space, rng);
            if self.satisfies(&dna) {
                return dna;
            }
        }
        panic!("no point of the symbolic space met its constraint in {MAX_SAMPLE_DRAWS} draws")
    }

    /// One mutable decision, drawn uniformly, changed to another admissible value
    /// uniformly; under a constraint, retried from the parent (the parent itself
    /// after 1,000 failures, or when nothing is mutable).
    fn mutate(&self, parent: &Dna, rng: &mut SearchRng) -> Dna {
        let sites = mutable_sites(&self.space, parent);
        if sites == 0 {
            return parent.clone();
        }
        for _ in 0..MAX_MUTATION_TRIES {
            let mut child = parent.clone();
            let mut target = rng.random_range(0..sites);
            mutate_site(&self.space, &mut child, &mut target, rng);
            if self.satisfies(&child) {
                return child;
            }
        }
        parent.clone()
    }
}

impl<T: Clone> Neighbourhood for SymbolicSpace<T> {
    /// Every single-decision change (see the module docs), depth first, without
    /// repeats, those that break the constraint left out.
    fn neighbours(&self, candidate: &Dna) -> Vec<Dna> {
        let mut out: Vec<Dna> = Vec::new();
        neighbours_of(&self.space, candidate, &mut |d| {
            if !out.contains(&d) && d != *candidate {
                out.push(d);
            }
        });
        out.retain(|d| self.satisfies(d));
        out
    }
}

impl<T: Clone> DiscreteEncoding for SymbolicSpace<T> {
    /// Every decision of every branch (see the module docs).
    fn cardinalities(&self) -> Vec<usize> {
        let mut out = Vec::new();
        layout(&self.space, &mut out);
        out
    }

    /// The point the choices describe (the constraint is not applied: an
    /// evaluator fails points it cannot use).
    fn decode(&self, choices: &[usize]) -> Dna {
        decode_at(&self.space, choices, &mut 0)
    }
}

impl<T: Clone> FeatureEncoding for SymbolicSpace<T> {
    /// One-hot over every decision of the discrete encoding.
    fn feature_len(&self) -> usize {
        self.cardinalities()
            .iter()
            .fold(0usize, |total, &n| total.saturating_add(n))
    }

    /// Writes the one-hot encoding of `candidate`; zeros if it does not fit.
    fn encode(&self, candidate: &Dna, out: &mut [f64]) {
        out.fill(0.0);
        if let Ok(choices) = SymbolicSpace::encode(self, candidate) {
            let mut offset = 0;
            for (c, n) in choices.iter().zip(self.cardinalities()) {
                out[offset + c] = 1.0;
                offset += n;
            }
        }
    }
}

/// Runs an evaluator or a hasher of `C` on the points of a symbolic space, through
/// `decode` (a point to the user's type).
#[derive(Debug, Clone, Copy)]
pub struct Decoded<F, X> {
    /// From a point to the user's candidate.
    pub decode: F,
    /// The evaluator or hasher of the user's candidates.
    pub inner: X,
}

impl<C, F: Fn(&Dna) -> C, E: Evaluator<C>> Evaluator<Dna> for Decoded<F, E> {
    fn evaluate(&self, candidate: &Dna, rng: &mut SearchRng) -> Evaluation {
        self.inner.evaluate(&(self.decode)(candidate), rng)
    }

    fn cost_unit(&self) -> crate::CostUnit {
        self.inner.cost_unit()
    }
}

impl<C, F: Fn(&Dna) -> C, H: CandidateHasher<C>> CandidateHasher<Dna> for Decoded<F, H> {
    fn hash(&self, candidate: &Dna) -> FunctionalHash {
        self.inner.hash(&(self.decode)(candidate))
    }

    fn cost_s(&self) -> f64 {
        self.inner.cost_s()
    }
}
