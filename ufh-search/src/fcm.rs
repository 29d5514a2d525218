//! Functional change mutation (Method 6 of the paper): a child that computes its
//! parent's function is mutated again.

use rustc_hash::FxHashMap;
use ufh_core::FunctionalHash;

/// Functional change mutation (Method 6): re-mutate a child whose hash equals its
/// parent's, at most `max_tries` times, then take it as it is. Each child and
/// retry costs one hash; the parent's hash is known from when it was itself
/// started and costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FcmConfig {
    /// Retries before the child is accepted unchanged.
    pub max_tries: u32,
}

impl FcmConfig {
    /// Re-draws `candidate` (by `retry`, hashed by `hash_of`) while its hash
    /// equals `parent_hash`, at most `max_tries` times; whether it was replaced.
    pub(crate) fn apply<C>(
        self,
        parent_hash: FunctionalHash,
        candidate: &mut C,
        hash: &mut FunctionalHash,
        mut retry: impl FnMut() -> C,
        mut hash_of: impl FnMut(&C) -> FunctionalHash,
    ) -> bool {
        let mut replaced = false;
        for _ in 0..self.max_tries {
            if *hash != parent_hash {
                break;
            }
            *candidate = retry();
            *hash = hash_of(candidate);
            replaced = true;
        }
        replaced
    }
}

/// How many recent proposals' hashes a run keeps for FCM: every parent an
/// evolution of a population up to this size can pick.
pub(crate) const LIVE_HASHES: u64 = 1 << 16;

/// The hashes of the last [`LIVE_HASHES`] proposals' candidates, by proposal
/// index, so that FCM compares a child with the hash its parent got when it was
/// started, instead of hashing the parent again.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParentHashes(FxHashMap<u64, FunctionalHash>);

impl ParentHashes {
    /// Remembers the hash of proposal `index`, forgetting the one
    /// [`LIVE_HASHES`] proposals older.
    pub(crate) fn remember(&mut self, index: u64, hash: FunctionalHash) {
        self.0.insert(index, hash);
        if let Some(old) = index.checked_sub(LIVE_HASHES) {
            self.0.remove(&old);
        }
    }

    /// The hash of proposal `index`, if remembered.
    pub(crate) fn get(&self, index: u64) -> Option<FunctionalHash> {
        self.0.get(&index).copied()
    }

    /// The entries, sorted, for a checkpoint.
    pub(crate) fn to_sorted(&self) -> Vec<(u64, FunctionalHash)> {
        let mut live: Vec<(u64, FunctionalHash)> = self.0.iter().map(|(i, h)| (*i, *h)).collect();
        live.sort_unstable();
        live
    }
}

impl FromIterator<(u64, FunctionalHash)> for ParentHashes {
    fn from_iter<I: IntoIterator<Item = (u64, FunctionalHash)>>(entries: I) -> Self {
        Self(entries.into_iter().collect())
    }
}
