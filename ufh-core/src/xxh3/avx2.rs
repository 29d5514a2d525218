use std::arch::x86_64::*;

use std::mem::MaybeUninit;

use super::{
    Accumulator, BUFFER_WORDS, INIT_ACC, LAST_STRIPE_AT, Lanes, MERGE_LOW_AT, PRIME32_1, PRIME64_1,
    SCRAMBLE_AT, SECRET, STRIPE, STRIPES_PER_BLOCK, Xxh3,
};

/// The accumulator's halves in registers. While no stripe has been
/// accumulated (`fresh`) they are the constant: a 32-byte load of the
/// initial words, just stored one by one, cannot be forwarded from those
/// stores and stalled the loop's start (in perf, the hottest instruction of
/// a 64-value hash).
#[inline]
#[target_feature(enable = "avx2")]
fn load(state: &Accumulator, fresh: bool) -> (__m256i, __m256i) {
    let acc = if fresh { &INIT_ACC } else { &state.acc };
    // SAFETY: two unaligned 32-byte loads of the 64-byte array.
    unsafe {
        (
            _mm256_loadu_si256(acc.as_ptr().cast()),
            _mm256_loadu_si256(acc.as_ptr().add(4).cast()),
        )
    }
}

/// Stores the accumulator's halves.
#[inline]
#[target_feature(enable = "avx2")]
fn store(state: &mut Accumulator, low: __m256i, high: __m256i) {
    let acc = state.acc.as_mut_ptr();
    // SAFETY: two unaligned 32-byte stores into the 64-byte array.
    unsafe {
        _mm256_storeu_si256(acc.cast(), low);
        _mm256_storeu_si256(acc.add(4).cast(), high);
    }
}

/// Canonical words of four f64 (see `truncate.rs`), in registers.
#[inline]
#[target_feature(enable = "avx2")]
fn canonical_f64x4(x: __m256i, mask: __m256i) -> __m256i {
    let sign = _mm256_set1_epi64x(i64::MIN);
    // One unordered compare finds exactly the NaNs (exponent all ones,
    // mantissa non-zero); flush-to-zero modes do not affect it.
    let xf = _mm256_castsi256_pd(x);
    let is_nan = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_UNORD_Q>(xf, xf));
    let kept = _mm256_and_si256(x, mask);
    let kept = _mm256_andnot_si256(_mm256_cmpeq_epi64(kept, sign), kept);
    _mm256_blendv_epi8(kept, _mm256_set1_epi64x(0x7FF8_0000_0000_0000), is_nan)
}

/// Canonical words of eight f32, in registers.
#[inline]
#[target_feature(enable = "avx2")]
fn canonical_f32x8(x: __m256i, mask: __m256i) -> __m256i {
    let sign = _mm256_set1_epi32(i32::MIN);
    let xf = _mm256_castsi256_ps(x);
    let is_nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(xf, xf));
    let kept = _mm256_and_si256(x, mask);
    let kept = _mm256_andnot_si256(_mm256_cmpeq_epi32(kept, sign), kept);
    _mm256_blendv_epi8(kept, _mm256_set1_epi32(0x7FC0_0000), is_nan)
}

/// XXH3's accumulate step on four lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn accumulate4(acc: __m256i, data: __m256i, key: __m256i) -> __m256i {
    let data_key = _mm256_xor_si256(data, key);
    let product = _mm256_mul_epu32(data_key, _mm256_srli_epi64::<32>(data_key));
    let swapped = _mm256_shuffle_epi32::<0b01_00_11_10>(data);
    _mm256_add_epi64(acc, _mm256_add_epi64(product, swapped))
}

#[inline]
#[target_feature(enable = "avx2")]
fn scramble(acc: __m256i, key: __m256i) -> __m256i {
    let x = _mm256_xor_si256(_mm256_xor_si256(acc, _mm256_srli_epi64::<47>(acc)), key);
    let prime = _mm256_set1_epi64x(PRIME32_1 as i64);
    let low = _mm256_mul_epu32(x, prime);
    let high = _mm256_mul_epu32(_mm256_srli_epi64::<32>(x), prime);
    _mm256_add_epi64(low, _mm256_slli_epi64::<32>(high))
}

/// One stripe's lanes `d0`, `d1` into the accumulator halves `low`, `high`, and
/// the scramble at the end of a block.
#[inline]
#[target_feature(enable = "avx2")]
fn stripe(
    stripes_in_block: &mut usize,
    low: __m256i,
    high: __m256i,
    d0: __m256i,
    d1: __m256i,
) -> (__m256i, __m256i) {
    let secret = SECRET.as_ptr();
    // SAFETY: the key loads read the 192-byte secret at offsets below
    // 8 · (STRIPES_PER_BLOCK - 1) + 64 = 128 and at SCRAMBLE_AT + 64 = 192;
    // all are unaligned loads.
    unsafe {
        let key = secret.add(8 * *stripes_in_block).cast::<__m256i>();
        let mut low = accumulate4(low, d0, _mm256_loadu_si256(key));
        let mut high = accumulate4(high, d1, _mm256_loadu_si256(key.add(1)));
        *stripes_in_block += 1;
        if *stripes_in_block == STRIPES_PER_BLOCK {
            let key = secret.add(SCRAMBLE_AT).cast::<__m256i>();
            low = scramble(low, _mm256_loadu_si256(key));
            high = scramble(high, _mm256_loadu_si256(key.add(1)));
            *stripes_in_block = 0;
        }
        (low, high)
    }
}

/// Accumulates the whole stripes of raw little-endian `words`, bit-identical
/// to the portable loop of `accumulate_buffer`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn accumulate_words(state: &mut Accumulator, words: &[u64], fresh: bool) {
    let ptr = words.as_ptr().cast::<__m256i>();
    let stripes = words.len() / 8;
    // SAFETY: the loads read whole stripes of `words` (two 32-byte loads per
    // 64-byte stripe); all are unaligned loads.
    unsafe {
        let (mut low, mut high) = load(state, fresh);
        for index in 0..stripes {
            let d0 = _mm256_loadu_si256(ptr.add(2 * index));
            let d1 = _mm256_loadu_si256(ptr.add(2 * index + 1));
            (low, high) = stripe(&mut state.stripes_in_block, low, high, d0, d1);
        }
        store(state, low, high);
    }
}

/// The final accumulator: `state` after the whole stripes of `words` and the
/// last stripe `last`, all in registers; bit-identical to the portable path
/// of `Xxh3::final_acc`.
///
/// # Safety
/// The CPU must support AVX2.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn final_acc(
    state: &Accumulator,
    fresh: bool,
    words: &[u64],
    last: &[u8; STRIPE],
) -> [u64; 8] {
    let ptr = words.as_ptr().cast::<__m256i>();
    let mut stripes_in_block = state.stripes_in_block;
    let mut out = [0u64; 8];
    // SAFETY: the loads read whole stripes of `words`, the 64-byte `last`
    // and the secret at LAST_STRIPE_AT + 64 = 185 < 192; the stores write
    // the 64-byte `out`; all are unaligned.
    unsafe {
        let (mut low, mut high) = load(state, fresh);
        for index in 0..words.len() / 8 {
            let d0 = _mm256_loadu_si256(ptr.add(2 * index));
            let d1 = _mm256_loadu_si256(ptr.add(2 * index + 1));
            (low, high) = stripe(&mut stripes_in_block, low, high, d0, d1);
        }
        let key = SECRET.as_ptr().add(LAST_STRIPE_AT).cast::<__m256i>();
        let last = last.as_ptr().cast::<__m256i>();
        low = accumulate4(low, _mm256_loadu_si256(last), _mm256_loadu_si256(key));
        high = accumulate4(
            high,
            _mm256_loadu_si256(last.add(1)),
            _mm256_loadu_si256(key.add(1)),
        );
        _mm256_storeu_si256(out.as_mut_ptr().cast(), low);
        _mm256_storeu_si256(out.as_mut_ptr().add(4).cast(), high);
    }
    out
}

/// [`final_acc`] behind a call (the 128-bit finish merges twice).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn final_acc_call(
    state: &Accumulator,
    fresh: bool,
    words: &[u64],
    last: &[u8; STRIPE],
) -> [u64; 8] {
    // SAFETY: forwarded from the caller.
    unsafe { final_acc(state, fresh, words, last) }
}

/// XXH3-64 of a long stream: its last stripes and the merge, in one call.
///
/// # Safety
/// The CPU must support AVX2, and the stream must be longer than
/// `SHORT_MAX` bytes.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn finish_64_long(state: &Xxh3) -> u64 {
    let mut assembled = [0u8; STRIPE];
    let (words, last) = state.final_parts(&mut assembled);
    let fresh = state.accumulated == 0;
    // SAFETY: forwarded from the caller; the words and the stripe are
    // little-endian (this is a little-endian target).
    let acc = unsafe { final_acc(&state.accumulator, fresh, words, last) };
    Accumulator::merge(&acc, state.total().wrapping_mul(PRIME64_1), MERGE_LOW_AT)
}

/// Accumulates `stripes` stripes of `lanes`, bit-identical to the portable loop;
/// writes the last of them, canonical, to the buffer's tail, and the whole
/// vectors of values after them (a stripe's worth at most) to its head, and
/// returns how many words it wrote there. `fresh`: nothing has been
/// accumulated yet.
///
/// # Safety
/// The CPU must support AVX2, and `lanes` must hold `stripes` whole stripes.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn accumulate(
    state: &mut Accumulator,
    lanes: Lanes<'_>,
    stripes: usize,
    fresh: bool,
    buffer: &mut [MaybeUninit<u64>; BUFFER_WORDS],
) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe {
        match lanes {
            Lanes::F64(..) => accumulate_kind::<true>(state, lanes, stripes, fresh, buffer),
            Lanes::F32(..) => accumulate_kind::<false>(state, lanes, stripes, fresh, buffer),
        }
    }
}

/// [`accumulate`] for one kind of lanes, so that the loop holds no branch.
///
/// # Safety
/// As for [`accumulate`].
#[target_feature(enable = "avx2")]
unsafe fn accumulate_kind<const IS_F64: bool>(
    state: &mut Accumulator,
    lanes: Lanes<'_>,
    stripes: usize,
    fresh: bool,
    buffer: &mut [MaybeUninit<u64>; BUFFER_WORDS],
) -> usize {
    assert!(stripes > 0, "a stripe at least");
    // Values per stripe and per vector.
    let (per_stripe, per_vector) = if IS_F64 { (8, 4) } else { (16, 8) };
    let (ptr, mask, n_values) = match lanes {
        Lanes::F64(values, mask) => (
            values.as_ptr().cast::<__m256i>(),
            _mm256_set1_epi64x(mask as i64),
            values.len(),
        ),
        Lanes::F32(values, mask) => (
            values.as_ptr().cast::<__m256i>(),
            _mm256_set1_epi32(mask as i32),
            values.len(),
        ),
    };
    assert!(n_values >= stripes * per_stripe);
    // Whole vectors after the stripes, at most a stripe's worth.
    let head_vectors = ((n_values - stripes * per_stripe) / per_vector).min(2);
    let canonical = |x: __m256i| {
        if IS_F64 {
            canonical_f64x4(x, mask)
        } else {
            canonical_f32x8(x, mask)
        }
    };
    // SAFETY: every load reads inside `values` (asserted above); the stores
    // write the buffer's first and last stripe; all are unaligned.
    unsafe {
        let (mut low, mut high) = load(state, fresh);
        let (mut d0, mut d1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for index in 0..stripes {
            d0 = canonical(_mm256_loadu_si256(ptr.add(2 * index)));
            d1 = canonical(_mm256_loadu_si256(ptr.add(2 * index + 1)));
            (low, high) = stripe(&mut state.stripes_in_block, low, high, d0, d1);
        }
        store(state, low, high);
        let tail = buffer.as_mut_ptr().add(BUFFER_WORDS - 8).cast::<__m256i>();
        _mm256_storeu_si256(tail, d0);
        _mm256_storeu_si256(tail.add(1), d1);
        let head = buffer.as_mut_ptr().cast::<__m256i>();
        for vector in 0..head_vectors {
            let d = canonical(_mm256_loadu_si256(ptr.add(2 * stripes + vector)));
            _mm256_storeu_si256(head.add(vector), d);
        }
    }
    4 * head_vectors
}
