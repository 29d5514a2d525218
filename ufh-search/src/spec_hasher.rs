//! The one hasher of every [`HashableOutputs`] candidate: the unified functional
//! hash of `ufh-core` under a [`HashSpec`], as a [`CandidateHasher`].

use ufh_core::{FunctionalHash, FunctionalHasher, HashSpec, HashableOutputs, functional_hash};

use crate::CandidateHasher;

/// What a candidate runs on when it is hashed: the canonical data, a table, fixed
/// networks. It binds a candidate to them, giving the [`HashableOutputs`] run
/// whose outputs the hash reads.
///
/// `()` is the harness of a candidate that implements [`HashableOutputs`]
/// itself; a setup whose candidates need data implements `Harness` on the
/// type that holds it.
pub trait Harness<C: ?Sized> {
    /// The candidate bound to what it runs on.
    type Run<'a>: HashableOutputs
    where
        Self: 'a,
        C: 'a;

    /// Binds `candidate`.
    fn bind<'a>(&'a self, candidate: &'a C) -> Self::Run<'a>;
}

impl<C: HashableOutputs + ?Sized> Harness<C> for () {
    type Run<'a>
        = &'a C
    where
        C: 'a;

    fn bind<'a>(&'a self, candidate: &'a C) -> &'a C {
        candidate
    }
}

/// The unified functional hash of a candidate: its [`HashableOutputs`] (through
/// a [`Harness`]) run under `spec`'s seeds and mixed by
/// [`functional_hash`], at `cost_s` simulated seconds a hash.
///
/// A candidate that cannot run (its `emit_hashable_outputs` returns `Err`: an
/// invalid graph, a cell the table lacks) gets the failure hash, the hash of no
/// outputs ([`SpecHasher::failure_hash`]): all such candidates compute the same
/// thing, a failure.
///
/// ```
/// use ufh_core::{HashSpec, HashableOutputs, MantissaBits, Probe};
/// use ufh_search::{CandidateHasher, SpecHasher};
///
/// /// y = a·x on x = 0, 1, 2, …
/// struct Line(f64);
/// impl HashableOutputs for Line {
///     type Error = std::convert::Infallible;
///     fn emit_hashable_outputs(&self, p: &mut Probe<'_>) -> Result<(), Self::Error> {
///         (0..p.n_examples()).for_each(|x| p.push_f64(self.0 * x as f64));
///         Ok(())
///     }
/// }
/// let hasher = SpecHasher::new(HashSpec::new(MantissaBits::f64(20)?, 4, vec![0])?, 1.0);
/// assert_eq!(hasher.hash(&Line(2.0)), hasher.hash(&Line(2.0 + 1e-12)));
/// assert_ne!(hasher.hash(&Line(2.0)), hasher.hash(&Line(3.0)));
/// # Ok::<(), ufh_core::HashError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SpecHasher<B = ()> {
    spec: HashSpec,
    cost_s: f64,
    harness: B,
}

impl SpecHasher<()> {
    /// The hasher of candidates that implement [`HashableOutputs`] themselves.
    pub fn new(spec: HashSpec, cost_s: f64) -> Self {
        Self::with_harness(spec, cost_s, ())
    }
}

impl<B> SpecHasher<B> {
    /// The hasher of candidates that `harness` binds to what they run on.
    pub fn with_harness(spec: HashSpec, cost_s: f64, harness: B) -> Self {
        Self {
            spec,
            cost_s,
            harness,
        }
    }

    /// The spec: mantissa bits, examples, seeds, framing.
    pub fn spec(&self) -> &HashSpec {
        &self.spec
    }

    /// Simulated seconds charged per hash.
    pub fn cost_s(&self) -> f64 {
        self.cost_s
    }

    /// The harness.
    pub fn harness(&self) -> &B {
        &self.harness
    }

    /// The hash every candidate that cannot run gets: the hash of no outputs.
    pub fn failure_hash(&self) -> FunctionalHash {
        FunctionalHasher::new(self.spec.mantissa_bits()).finish()
    }
}

impl<C, B: Harness<C>> CandidateHasher<C> for SpecHasher<B> {
    fn hash(&self, candidate: &C) -> FunctionalHash {
        functional_hash(&self.harness.bind(candidate), &self.spec)
            .unwrap_or_else(|_| self.failure_hash())
    }

    fn cost_s(&self) -> f64 {
        self.cost_s
    }
}

#[cfg(test)]
mod tests {
    use ufh_core::{MantissaBits, Probe};

    use super::*;

    /// `x ↦ a·x` for `Some(a)`; `None` cannot run.
    struct Scaled(Option<f64>);

    impl HashableOutputs for Scaled {
        type Error = &'static str;
        fn emit_hashable_outputs(&self, probe: &mut Probe<'_>) -> Result<(), Self::Error> {
            let a = self.0.ok_or("no slope")?;
            for x in 0..probe.n_examples() {
                probe.push_f64(a * x as f64);
            }
            Ok(())
        }
    }

    /// Binds a slope index to a table of slopes.
    struct Slopes(Vec<f64>);

    impl Harness<usize> for Slopes {
        type Run<'a> = Scaled;
        fn bind<'a>(&'a self, i: &'a usize) -> Scaled {
            Scaled(self.0.get(*i).copied())
        }
    }

    fn spec() -> HashSpec {
        HashSpec::new(MantissaBits::f64(30).unwrap(), 5, vec![0, 1]).unwrap()
    }

    #[test]
    fn it_is_the_unified_hash_and_an_error_is_the_failure_hash() {
        let hasher = SpecHasher::new(spec(), 2.5);
        let direct = functional_hash(&Scaled(Some(2.0)), &spec()).unwrap();
        assert_eq!(hasher.hash(&Scaled(Some(2.0))), direct);
        assert_eq!(hasher.hash(&Scaled(None)), hasher.failure_hash());
        assert_ne!(hasher.hash(&Scaled(Some(0.0))), hasher.failure_hash());
        assert_eq!(hasher.cost_s(), 2.5);
    }

    #[test]
    fn a_harness_binds_candidates_to_their_data() {
        let hasher = SpecHasher::with_harness(spec(), 1.0, Slopes(vec![2.0, 3.0, 2.0]));
        assert_eq!(hasher.hash(&0), hasher.hash(&2));
        assert_ne!(hasher.hash(&0), hasher.hash(&1));
        assert_eq!(hasher.hash(&7), hasher.failure_hash());
    }
}
