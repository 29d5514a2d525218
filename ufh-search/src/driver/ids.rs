//! Evaluation ids: a bijection of a run's proposal indices under its seed, so that
//! a stored id names the run and the proposal that wrote it.

/// The id under which the evaluation of proposal `index` of the search `seed` is
/// stored (two searches share a store): a resumed search, or a job evaluated twice
/// by two workers, records it once.
pub fn evaluation_id(seed: u64, index: u64) -> u64 {
    mix(mix(seed).wrapping_add(index))
}

/// A number no other run draws (almost surely): the clock, the process and the
/// standard library's per-process random keys, mixed.
pub(super) fn fresh_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(t.as_nanos());
    }
    mix(hasher.finish())
}

/// SplitMix64's finaliser, a bijection of `u64`.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The inverse of [`mix`].
pub(super) fn unmix(mut z: u64) -> u64 {
    z ^= (z >> 31) ^ (z >> 62);
    z = z.wrapping_mul(0x3196_42B2_D24D_8EC3);
    z ^= (z >> 27) ^ (z >> 54);
    z = z.wrapping_mul(0x96DE_1B17_3F11_9089);
    z ^ (z >> 30) ^ (z >> 60)
}

/// The proposal index whose [`evaluation_id`] under `seed` is `id` (every id is
/// one index's under every seed; the id of another search's evaluation gives a
/// meaningless index, almost surely far outside any run's range).
pub(crate) fn evaluation_index(seed: u64, id: u64) -> u64 {
    unmix(id).wrapping_sub(mix(seed))
}
