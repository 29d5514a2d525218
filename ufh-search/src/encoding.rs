//! The optional traits of a search space, each for the algorithms that need it:
//! neighbours for local search, a discrete encoding for PPO, a feature encoding
//! for BANANAS's predictors, crossover for (μ + λ).

use crate::{SearchRng, SearchSpace};

/// A search space whose candidates have neighbours: the candidates one edit away,
/// for local search.
pub trait Neighbourhood: SearchSpace {
    /// Every valid candidate one edit away from `candidate`, in a fixed order (the
    /// algorithm shuffles it with the search's seed); empty if there is none.
    fn neighbours(&self, candidate: &Self::Candidate) -> Vec<Self::Candidate>;
}

/// A search space whose candidates are built from a fixed sequence of discrete
/// decisions, for controllers such as PPO.
pub trait DiscreteEncoding: SearchSpace {
    /// Number of options of each decision, in decision order; each at least 1.
    fn cardinalities(&self) -> Vec<usize>;

    /// The candidate that `choices` (one per decision, each below its cardinality)
    /// describe.
    fn decode(&self, choices: &[usize]) -> Self::Candidate;
}

/// A search space whose candidates have a fixed-length numeric encoding, for
/// performance predictors.
pub trait FeatureEncoding: SearchSpace {
    /// Length of every encoding.
    fn feature_len(&self) -> usize;

    /// Writes the encoding of `candidate` into `out` (`feature_len` values).
    fn encode(&self, candidate: &Self::Candidate, out: &mut [f64]);
}

/// A search space whose candidates can be recombined.
pub trait Crossover: SearchSpace {
    /// Two children of `a` and `b`.
    fn crossover(
        &self,
        a: &Self::Candidate,
        b: &Self::Candidate,
        rng: &mut SearchRng,
    ) -> (Self::Candidate, Self::Candidate);
}
