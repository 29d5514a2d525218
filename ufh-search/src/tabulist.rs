//! The tabulist (Method 7 of the paper): a child whose function has been seen too
//! often is mutated again.

use rustc_hash::FxHashMap;
use ufh_core::FunctionalHash;

/// Tabulist (Method 7): re-mutate a child whose hash has been seen more than
/// `max_occurrences` times, at most `max_tries` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TabulistConfig {
    /// K: a hash seen more than K times is taboo.
    pub max_occurrences: u32,
    /// Retries before the child is accepted anyway.
    pub max_tries: u32,
}

/// How often each functional hash has been started.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tabulist(FxHashMap<FunctionalHash, u32>);

impl Tabulist {
    /// Re-draws `candidate` (by `retry`, hashed by `hash_of`) while its hash is
    /// taboo under `config`, at most `max_tries` times, then counts the hash it
    /// ends with; whether it was replaced.
    pub(crate) fn apply<C>(
        &mut self,
        config: TabulistConfig,
        candidate: &mut C,
        hash: &mut FunctionalHash,
        mut retry: impl FnMut() -> C,
        mut hash_of: impl FnMut(&C) -> FunctionalHash,
    ) -> bool {
        let mut replaced = false;
        for _ in 0..config.max_tries {
            if self.0.get(hash).copied().unwrap_or(0) <= config.max_occurrences {
                break;
            }
            *candidate = retry();
            *hash = hash_of(candidate);
            replaced = true;
        }
        *self.0.entry(*hash).or_insert(0) += 1;
        replaced
    }

    /// The counts, sorted, for a checkpoint.
    pub(crate) fn to_sorted(&self) -> Vec<(FunctionalHash, u32)> {
        let mut counts: Vec<(FunctionalHash, u32)> = self.0.iter().map(|(h, n)| (*h, *n)).collect();
        counts.sort_unstable();
        counts
    }
}

impl FromIterator<(FunctionalHash, u32)> for Tabulist {
    fn from_iter<I: IntoIterator<Item = (FunctionalHash, u32)>>(entries: I) -> Self {
        Self(entries.into_iter().collect())
    }
}
