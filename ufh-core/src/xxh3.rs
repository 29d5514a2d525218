//! A streaming XXH3 (64- and 128-bit, seed 0, default secret) whose bulk loop reads
//! floats and truncates them in registers on the way in.
//!
//! The output is exactly `XXH3_64bits` / `XXH3_128bits` of the canonical byte stream
//! (the tests compare it with the `twox-hash` crate on random streams). Fusing the
//! truncation into the accumulation saves a store and a reload of every word: the
//! staged alternative (truncate into a buffer, then XXH3 the buffer) ran at 0.3-0.5x
//! of XXH3 over raw bytes, this loop at about 0.6x (see `ufh-bench`, group
//! `hash_f64`). The rest of the gap is the canonicalisation itself: five vector
//! operations per four values beside XXH3's own six. Streams of at most
//! 240 bytes, which XXH3 hashes with other formulas, go to `twox-hash` whole.
//!
//! Short streams are what candidates produce (NAS-Bench-101 4 values, AutoML-Zero
//! about 200, pushed one at a time, MNAS about 100 in slices), so their paths are
//! kept short: a single word is one compare, one store and one add into the
//! buffer; a slice that fits the buffer is truncated into it in one loop; the
//! buffer is flushed by a cold call that is given only the accumulator and the
//! words, so that a loop of pushes keeps its position in a register. The buffer
//! starts uninitialised (zeroing its 256 bytes cost more than hashing four
//! values), and streams of 17 to 128 bytes are finished by an inlined copy of
//! XXH3's formula for them. A slice of more than `BULK_MIN_BYTES` pushed into an
//! empty buffer takes the fused loop for all its stripes but the last, whose
//! whole vectors the same loop truncates into the buffer.
//!
//! Store forwarding decides the mid-size regime (tens to hundreds of values): a
//! 32-byte load of bytes just written by narrower stores waits a dozen cycles for
//! them to retire. So the vector loops start from the initial accumulator as a
//! constant rather than loading the words `new` stored, the finish of a long
//! stream takes the accumulator through its last stripes and the merge in one
//! call, and the words the finish reads were written by 32-byte stores where the
//! stream allows. In `hash_f64` (4 December 2026, this project's 2-core VM, five
//! interleaved runs of both builds): 64 values 31.9-32.3 ns against XXH3's
//! 16.7-17.6 ns over the same bytes (1.9x; 39.3-43.3 ns, 2.4x, before these
//! changes), 4 values 7.1 ns against 2.5 ns (2.8x, unchanged). The machine's
//! speed varies from day to day (XXH3's more than ours), so ratios here are
//! ranges.

use std::mem::MaybeUninit;

use twox_hash::{XxHash3_64, XxHash3_128};

use crate::truncate::{canonical_f32, canonical_f64};

const PRIME32_1: u64 = 0x9E37_79B1;
const PRIME32_2: u64 = 0x85EB_CA77;
const PRIME32_3: u64 = 0xC2B2_AE3D;
const PRIME64_1: u64 = 0x9E37_79B1_85EB_CA87;
const PRIME64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const PRIME64_3: u64 = 0x1656_67B1_9E37_79F9;
const PRIME64_4: u64 = 0x85EB_CA77_C2B2_AE63;
const PRIME64_5: u64 = 0x27D4_EB2F_1656_67C5;
const PRIME_MX1: u64 = 0x1656_6791_9E37_79F9;

/// XXH3's default 192-byte secret (`XXH3_kSecret` of the xxHash reference).
#[rustfmt::skip]
const SECRET: [u8; 192] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
];

const STRIPE: usize = 64;
const STRIPES_PER_BLOCK: usize = (SECRET.len() - STRIPE) / 8;
/// Secret offsets of the reference: scramble key, last stripe, 64/128-bit merges.
const SCRAMBLE_AT: usize = SECRET.len() - STRIPE;
const LAST_STRIPE_AT: usize = SECRET.len() - STRIPE - 7;
const MERGE_LOW_AT: usize = 11;
const MERGE_HIGH_AT: usize = SECRET.len() - STRIPE - 11;
/// Streams up to this many bytes use XXH3's short-input formulas.
const SHORT_MAX: usize = 240;
/// Buffered bytes: four stripes, more than `SHORT_MAX`.
pub(crate) const BUFFER_BYTES: usize = 256;
const BUFFER_WORDS: usize = BUFFER_BYTES / 8;
/// Slices of at most this many bytes (a buffer's worth) are truncated into the
/// buffer; a longer one pushed into an empty buffer takes the fused bulk loop.
const BULK_MIN_BYTES: usize = BUFFER_BYTES;

#[inline(always)]
fn secret_word(offset: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&SECRET[offset..offset + 8]);
    u64::from_le_bytes(bytes)
}

/// XXH3's initial accumulator.
const INIT_ACC: [u64; 8] = [
    PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2, PRIME64_5, PRIME32_1,
];

// `Accumulator::new` writes the initial words out (see there); they must stay
// `INIT_ACC`, which the vector loops take instead of loading them.
const _: () = {
    let acc = Accumulator::new().acc;
    let mut i = 0;
    while i < 8 {
        assert!(
            acc[i] == INIT_ACC[i],
            "Accumulator::new starts from INIT_ACC"
        );
        i += 1;
    }
};

/// The running state of the bulk loop.
#[derive(Debug, Clone, Copy)]
struct Accumulator {
    acc: [u64; 8],
    /// Stripes accumulated in the current block, `0..STRIPES_PER_BLOCK`.
    stripes_in_block: usize,
}

impl Accumulator {
    const fn new() -> Self {
        Self {
            // Written out rather than `INIT_ACC`: copied from the constant, the
            // hasher was built on the side and moved, a `memcpy` of the whole
            // hasher per hash of four values (46% of that bench in perf).
            acc: [
                PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2, PRIME64_5,
                PRIME32_1,
            ],
            stripes_in_block: 0,
        }
    }

    #[inline(always)]
    fn accumulate_at(acc: &mut [u64; 8], lanes: &[u64; 8], secret_at: usize) {
        for (i, &data) in lanes.iter().enumerate() {
            let key = data ^ secret_word(secret_at + 8 * i);
            acc[i ^ 1] = acc[i ^ 1].wrapping_add(data);
            acc[i] = acc[i].wrapping_add((key & 0xFFFF_FFFF).wrapping_mul(key >> 32));
        }
    }

    #[inline(always)]
    fn scramble(acc: &mut [u64; 8]) {
        for (i, a) in acc.iter_mut().enumerate() {
            let x = *a ^ (*a >> 47) ^ secret_word(SCRAMBLE_AT + 8 * i);
            *a = x.wrapping_mul(PRIME32_1);
        }
    }

    /// Accumulates one stripe (eight little-endian lanes) of a block.
    #[inline(always)]
    fn stripe(&mut self, lanes: &[u64; 8]) {
        Self::accumulate_at(&mut self.acc, lanes, 8 * self.stripes_in_block);
        self.stripes_in_block += 1;
        if self.stripes_in_block == STRIPES_PER_BLOCK {
            Self::scramble(&mut self.acc);
            self.stripes_in_block = 0;
        }
    }

    /// XXH3's merge of a final accumulator.
    #[inline(always)]
    fn merge(acc: &[u64; 8], init: u64, secret_at: usize) -> u64 {
        let mut result = init;
        for i in 0..4 {
            let a = (acc[2 * i] ^ secret_word(secret_at + 16 * i)) as u128;
            let b = (acc[2 * i + 1] ^ secret_word(secret_at + 16 * i + 8)) as u128;
            let product = a.wrapping_mul(b);
            result = result.wrapping_add((product as u64) ^ ((product >> 64) as u64));
        }
        let mut h = result;
        h ^= h >> 37;
        h = h.wrapping_mul(PRIME_MX1);
        h ^ (h >> 32)
    }
}

/// Which values a bulk loop reads and how it truncates them into lanes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lanes<'a> {
    /// f64 values, eight per stripe, each truncated under the mask.
    F64(&'a [f64], u64),
    /// f32 values, sixteen per stripe, each truncated under the mask.
    F32(&'a [f32], u32),
}

impl Lanes<'_> {
    fn values_per_stripe(self) -> usize {
        match self {
            Lanes::F64(..) => 8,
            Lanes::F32(..) => 16,
        }
    }

    /// The `index`-th stripe as eight canonical little-endian lanes.
    #[inline(always)]
    fn stripe(self, index: usize) -> [u64; 8] {
        let mut lanes = [0u64; 8];
        match self {
            Lanes::F64(values, mask) => {
                for (lane, &x) in lanes.iter_mut().zip(&values[8 * index..8 * index + 8]) {
                    *lane = canonical_f64(x.to_bits(), mask);
                }
            }
            Lanes::F32(values, mask) => {
                let pairs = values[16 * index..16 * index + 16].chunks_exact(2);
                for (lane, pair) in lanes.iter_mut().zip(pairs) {
                    let low = canonical_f32(pair[0].to_bits(), mask) as u64;
                    let high = canonical_f32(pair[1].to_bits(), mask) as u64;
                    *lane = low | (high << 32);
                }
            }
        }
        lanes
    }
}

/// Streaming XXH3 over a byte stream, with a bulk path for float slices.
#[derive(Clone)]
pub(crate) struct Xxh3 {
    accumulator: Accumulator,
    /// Bytes not yet accumulated; after a flush or a bulk run its tail (the last
    /// stripe's 64 bytes) keeps the last stripe accumulated, which the last-stripe
    /// step of a short remainder reads. Left uninitialised at first (zeroing 256
    /// bytes cost more than hashing a short stream): bytes `0..buffered` are
    /// initialised, and so is the tail once anything has been accumulated; only
    /// those are ever read.
    buffer: Buffer,
    buffered: usize,
    /// Bytes accumulated (flushed or taken by the bulk loop); the stream's length
    /// is this plus `buffered`, so a push updates one counter, not two.
    accumulated: u64,
}

/// The buffer's words, aligned to a cache line: the slice kernels and the stripe
/// loop move it in 32-byte pieces, none of which then spans two cache lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Buffer([MaybeUninit<u64>; BUFFER_WORDS]);

impl std::ops::Deref for Buffer {
    type Target = [MaybeUninit<u64>; BUFFER_WORDS];

    #[inline(always)]
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Buffer {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Xxh3 {
    #[inline(always)]
    pub(crate) const fn new() -> Self {
        Self {
            accumulator: Accumulator::new(),
            buffer: Buffer([MaybeUninit::uninit(); BUFFER_WORDS]),
            buffered: 0,
            accumulated: 0,
        }
    }

    /// The buffered bytes.
    #[inline(always)]
    fn buffered_bytes(&self) -> &[u8] {
        // SAFETY: bytes 0..buffered are initialised (see `buffer`), and the
        // buffer holds BUFFER_BYTES ≥ buffered bytes.
        unsafe { std::slice::from_raw_parts(self.buffer.as_ptr().cast::<u8>(), self.buffered) }
    }

    /// The first `n` words of the buffer, all of them buffered bytes.
    #[inline(always)]
    fn buffered_words(&self, n: usize) -> &[u64] {
        assert!(8 * n <= self.buffered, "only buffered words are read");
        // SAFETY: the words lie within bytes 0..buffered, which are initialised.
        unsafe { std::slice::from_raw_parts(self.buffer.as_ptr().cast::<u64>(), n) }
    }

    /// The buffer's tail, the last stripe accumulated, once anything has been.
    #[inline(always)]
    fn tail(&self) -> &[u8] {
        assert!(
            self.accumulated > 0,
            "the tail is read only once a stripe has been accumulated"
        );
        // SAFETY: a flush accumulates a full buffer and a bulk run writes the
        // tail, so the tail is initialised once anything has been accumulated;
        // later writes keep it so (see `buffer`).
        unsafe {
            std::slice::from_raw_parts(
                self.buffer.as_ptr().cast::<u8>().add(BUFFER_BYTES - STRIPE),
                STRIPE,
            )
        }
    }

    /// Copies `bytes` into the buffer at `start`.
    #[inline(always)]
    fn put(&mut self, start: usize, bytes: &[u8]) {
        assert!(start + bytes.len() <= BUFFER_BYTES, "within the buffer");
        // SAFETY: start..start + len lies within the buffer (checked above);
        // the source is a distinct slice.
        unsafe {
            self.buffer
                .as_mut_ptr()
                .cast::<u8>()
                .add(start)
                .copy_from_nonoverlapping(bytes.as_ptr(), bytes.len());
        }
    }

    /// Accumulates the full buffer; called only when more bytes follow it.
    #[inline(always)]
    fn flush(&mut self) {
        debug_assert_eq!(self.buffered, BUFFER_BYTES);
        // The counters stay out of the call, so that a loop of pushes can keep
        // them in registers (a call given `&mut self` forces them to memory).
        // SAFETY: the buffer is full, so every byte of it is initialised;
        // MaybeUninit<u64> has the layout of u64.
        let words = unsafe { &*self.buffer.as_ptr().cast::<[u64; BUFFER_WORDS]>() };
        accumulate_buffer(&mut self.accumulator, words, self.accumulated == 0);
        self.buffered = 0;
        self.accumulated += BUFFER_BYTES as u64;
    }

    /// Bytes in the stream so far.
    #[inline(always)]
    pub(crate) fn total(&self) -> u64 {
        self.accumulated + self.buffered as u64
    }

    /// Free bytes in the buffer, flushing it first if it is full.
    #[inline(always)]
    fn make_room(&mut self) -> usize {
        if self.buffered == BUFFER_BYTES {
            self.flush();
        }
        BUFFER_BYTES - self.buffered
    }

    /// Appends one 8-byte word: the path of every `push_f64` and `push_u64`,
    /// kept to a compare, a store and an add.
    #[inline(always)]
    pub(crate) fn write_u64(&mut self, word: u64) {
        if self.buffered == BUFFER_BYTES {
            self.flush();
        }
        let start = self.buffered;
        if start.is_multiple_of(8)
            && let Some(slot) = self.buffer.get_mut(start / 8)
        {
            slot.write(word.to_le());
            self.buffered = start + 8;
            return;
        }
        self.write(&word.to_le_bytes());
    }

    /// Truncates `values` into the buffer when they fit it whole after whole
    /// words (every candidate's few outputs) and returns whether they did; the
    /// caller takes the general path otherwise.
    #[inline(always)]
    pub(crate) fn try_write_f64s(&mut self, values: &[f64], mask: u64) -> bool {
        let start = self.buffered;
        if !start.is_multiple_of(8) || values.len() > (BUFFER_BYTES - start) / 8 {
            return false;
        }
        let first = start / 8;
        let Some(slots) = self.buffer.get_mut(first..first + values.len()) else {
            return false;
        };
        for (slot, &x) in slots.iter_mut().zip(values) {
            slot.write(canonical_f64(x.to_bits(), mask).to_le());
        }
        self.buffered = start + 8 * values.len();
        true
    }

    /// Appends one word of `N` bytes.
    #[inline(always)]
    pub(crate) fn write_word<const N: usize>(&mut self, word: [u8; N]) {
        let start = self.buffered;
        if start + N <= BUFFER_BYTES && start.is_multiple_of(N) {
            // The common case: the word fits the buffer whole.
            self.put(start, &word);
            self.buffered += N;
            return;
        }
        self.write(&word);
    }

    /// Appends raw bytes.
    #[inline]
    pub(crate) fn write(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = self.make_room();
            let take = room.min(bytes.len());
            let start = self.buffered;
            self.put(start, &bytes[..take]);
            self.buffered += take;
            bytes = &bytes[take..];
        }
    }

    /// The free part of the buffer as words of `T`, uninitialised or not,
    /// flushing a full buffer first; `None` if the buffered bytes are not a whole
    /// number of `T`. Call it only when more bytes follow, and commit the words
    /// written, which must be the first ones, with [`Xxh3::commit_words`].
    #[inline]
    pub(crate) fn free_words<T: bytemuck::Pod>(&mut self) -> Option<&mut [MaybeUninit<T>]> {
        if !self.buffered.is_multiple_of(size_of::<T>()) {
            return None;
        }
        let free = self.make_room();
        let start = self.buffered;
        // SAFETY: start..BUFFER_BYTES lies within the buffer and is a whole number
        // of T (start is a multiple of size_of::<T>(), and so is BUFFER_BYTES, T
        // being a u16, u32 or u64 word); the buffer's u64 alignment suffices for
        // T; MaybeUninit<T> may hold any bytes, initialised or not.
        Some(unsafe {
            std::slice::from_raw_parts_mut(
                self.buffer
                    .as_mut_ptr()
                    .cast::<u8>()
                    .add(start)
                    .cast::<MaybeUninit<T>>(),
                free / size_of::<T>(),
            )
        })
    }

    /// Records that the first `n` words of `T` of [`Xxh3::free_words`] were
    /// written: bytes `0..buffered` stay initialised.
    ///
    /// # Safety
    ///
    /// The first `n` words of the slice the last [`Xxh3::free_words::<T>`] call
    /// returned must have been written since, and `n` must not exceed its length:
    /// every later read of the buffer (flushes, digests) treats bytes
    /// `0..buffered` as initialised.
    #[inline]
    pub(crate) unsafe fn commit_words<T>(&mut self, n: usize) {
        self.buffered += n * size_of::<T>();
    }

    /// Accumulates whole stripes of `lanes` straight from the caller's slice and
    /// returns how many values it consumed. It runs only on an empty buffer and
    /// leaves one to one stripe's worth of values for the buffer, so that the
    /// stream's last stripe is never accumulated early.
    #[inline(always)]
    pub(crate) fn bulk(&mut self, lanes: Lanes<'_>) -> usize {
        let per_stripe = lanes.values_per_stripe();
        let n_values = match lanes {
            Lanes::F64(v, _) => v.len(),
            Lanes::F32(v, _) => v.len(),
        };
        // Short slices (every candidate's few outputs) never reach the bulk loop.
        if n_values * (STRIPE / per_stripe) <= BULK_MIN_BYTES {
            return 0;
        }
        self.bulk_long(lanes, n_values)
    }

    fn bulk_long(&mut self, lanes: Lanes<'_>, n_values: usize) -> usize {
        if self.buffered == BUFFER_BYTES {
            self.flush();
        }
        if self.buffered != 0 {
            return 0;
        }
        // Every whole stripe but the last value's. (Shifts for the values per
        // stripe and per word: this function is not inlined, and a division by
        // them took half its samples in perf.)
        let (stripe_shift, word_shift) = match lanes {
            Lanes::F64(..) => (3, 0),
            Lanes::F32(..) => (4, 1),
        };
        let stripes = (n_values - 1) >> stripe_shift;
        let head_words = self.accumulate_lanes(lanes, stripes);
        self.accumulated += (stripes * STRIPE) as u64;
        self.buffered = 8 * head_words;
        (stripes << stripe_shift) + (head_words << word_shift)
    }

    /// Accumulates the first `stripes` (at least one) stripes of `lanes`, writes
    /// the last of them, little-endian, into the buffer's tail, and may write
    /// whole vectors of the values after them into the buffer's head (the
    /// vector loop does, so that the finish's wide loads of them are forwarded
    /// from its wide stores); returns the words written there, which the caller
    /// counts as buffered.
    fn accumulate_lanes(&mut self, lanes: Lanes<'_>, stripes: usize) -> usize {
        assert!(stripes > 0, "the bulk loop accumulates a stripe at least");
        #[cfg(all(target_arch = "x86_64", target_endian = "little"))]
        {
            if avx2_available() {
                // SAFETY: the CPU supports AVX2, checked on the line above;
                // `lanes` holds at least `stripes` whole stripes; the buffer's
                // words are little-endian (this is a little-endian target).
                return unsafe {
                    avx2::accumulate(
                        &mut self.accumulator,
                        lanes,
                        stripes,
                        self.accumulated == 0,
                        &mut self.buffer,
                    )
                };
            }
        }
        // The portable loop leaves the values after the stripes to the caller.
        for index in 0..stripes {
            self.accumulator.stripe(&lanes.stripe(index));
        }
        let tail = &mut self.buffer[BUFFER_WORDS - 8..];
        for (word, lane) in tail.iter_mut().zip(lanes.stripe(stripes - 1)) {
            word.write(lane.to_le());
        }
        0
    }

    /// The buffered whole stripes and the last stripe of a long stream, which
    /// `assembled` holds when it spans the buffer's end and start.
    #[inline(always)]
    fn final_parts<'a>(&'a self, assembled: &'a mut [u8; STRIPE]) -> (&'a [u64], &'a [u8; STRIPE]) {
        let (words, last): (&[u64], &[u8]) = if self.buffered >= STRIPE {
            let stripes = (self.buffered - 1) / STRIPE;
            (
                self.buffered_words(stripes * (STRIPE / 8)),
                &self.buffered_bytes()[self.buffered - STRIPE..],
            )
        } else {
            // A long stream with fewer than a stripe buffered has flushed or run
            // the bulk loop: the buffer's tail holds the last stripe
            // accumulated.
            let from_before = STRIPE - self.buffered;
            assembled[..from_before].copy_from_slice(&self.tail()[STRIPE - from_before..]);
            assembled[from_before..].copy_from_slice(self.buffered_bytes());
            (&[], assembled)
        };
        (words, last.try_into().expect("a whole stripe"))
    }

    /// The accumulator of a long stream after its buffered whole stripes and its
    /// last stripe, ready to merge.
    fn final_acc(&self) -> [u64; 8] {
        let mut assembled = [0u8; STRIPE];
        let (words, last) = self.final_parts(&mut assembled);
        #[cfg(all(target_arch = "x86_64", target_endian = "little"))]
        {
            if avx2_available() {
                // SAFETY: the CPU supports AVX2, checked on the line above; the
                // words and the stripe are little-endian (this is a
                // little-endian target); `fresh` holds when nothing has been
                // accumulated.
                return unsafe {
                    avx2::final_acc_call(&self.accumulator, self.accumulated == 0, words, last)
                };
            }
        }
        final_acc_portable(&self.accumulator, words, last)
    }

    /// The 64-bit hash; the short streams' path is inlined into the caller (a
    /// call given `&self` made the four-value hash a tenth slower), the long one
    /// is not.
    #[inline(always)]
    pub(crate) fn finish_64(&self) -> u64 {
        if self.total() as usize <= SHORT_MAX {
            let bytes = self.buffered_bytes();
            // Every candidate with 3 to 16 f64 outputs lands here (NAS-Bench-101's
            // 4): inlined with the constant secret, it is faster than the general
            // entry point.
            if (17..=128).contains(&bytes.len()) {
                return short_17_to_128(bytes);
            }
            return XxHash3_64::oneshot(bytes);
        }
        // A long stream: on AVX2 one call takes the accumulator through the last
        // stripes and the merge in registers (copying it out and back, and a
        // call for each step, cost more than the stripes).
        #[cfg(all(target_arch = "x86_64", target_endian = "little"))]
        {
            if avx2_available() {
                // SAFETY: the CPU supports AVX2, checked on the line above; the
                // stream is long (more than SHORT_MAX bytes).
                return unsafe { avx2::finish_64_long(self) };
            }
        }
        self.finish_64_long()
    }

    /// The portable 64-bit hash of a long stream.
    #[inline(never)]
    fn finish_64_long(&self) -> u64 {
        let mut assembled = [0u8; STRIPE];
        let (words, last) = self.final_parts(&mut assembled);
        let init = self.total().wrapping_mul(PRIME64_1);
        Accumulator::merge(
            &final_acc_portable(&self.accumulator, words, last),
            init,
            MERGE_LOW_AT,
        )
    }

    #[inline]
    pub(crate) fn finish_128(&self) -> u128 {
        if self.total() as usize <= SHORT_MAX {
            return XxHash3_128::oneshot(self.buffered_bytes());
        }
        let acc = self.final_acc();
        let total = self.total();
        let low = Accumulator::merge(&acc, total.wrapping_mul(PRIME64_1), MERGE_LOW_AT);
        let high = Accumulator::merge(&acc, !total.wrapping_mul(PRIME64_2), MERGE_HIGH_AT);
        ((high as u128) << 64) | low as u128
    }
}

/// XXH3-64 (seed 0, default secret) of 17 to 128 bytes: the reference's
/// `XXH3_len_17to128_64b`, pairs of 16-byte reads from both ends mixed with
/// successive 16-byte pieces of the secret.
#[inline(always)]
fn short_17_to_128(input: &[u8]) -> u64 {
    let len = input.len();
    debug_assert!((17..=128).contains(&len));
    let read = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&input[at..at + 8]);
        u64::from_le_bytes(word)
    };
    let mix16 = |at: usize, secret_at: usize| {
        let low = read(at) ^ secret_word(secret_at);
        let high = read(at + 8) ^ secret_word(secret_at + 8);
        let product = (low as u128).wrapping_mul(high as u128);
        (product as u64) ^ ((product >> 64) as u64)
    };
    let mut acc = (len as u64).wrapping_mul(PRIME64_1);
    if len > 32 {
        if len > 64 {
            if len > 96 {
                acc = acc.wrapping_add(mix16(48, 96));
                acc = acc.wrapping_add(mix16(len - 64, 112));
            }
            acc = acc.wrapping_add(mix16(32, 64));
            acc = acc.wrapping_add(mix16(len - 48, 80));
        }
        acc = acc.wrapping_add(mix16(16, 32));
        acc = acc.wrapping_add(mix16(len - 32, 48));
    }
    acc = acc.wrapping_add(mix16(0, 0));
    acc = acc.wrapping_add(mix16(len - 16, 16));
    let mut h = acc ^ (acc >> 37);
    h = h.wrapping_mul(PRIME_MX1);
    h ^ (h >> 32)
}

/// Accumulates a full buffer of little-endian words.
#[cold]
#[inline(never)]
fn accumulate_buffer(accumulator: &mut Accumulator, buffer: &[u64; BUFFER_WORDS], fresh: bool) {
    accumulate_words(accumulator, buffer, fresh);
}

/// Accumulates the whole stripes of little-endian `words`; `fresh` says that no
/// stripe has been accumulated yet (see `avx2::load`).
#[inline(always)]
fn accumulate_words(accumulator: &mut Accumulator, words: &[u64], fresh: bool) {
    #[cfg(all(target_arch = "x86_64", target_endian = "little"))]
    {
        if avx2_available() {
            // SAFETY: the CPU supports AVX2, checked on the line above; the
            // words are little-endian (this is a little-endian target).
            unsafe { avx2::accumulate_words(accumulator, words, fresh) };
            return;
        }
    }
    let _ = fresh;
    accumulate_words_portable(accumulator, words);
}

/// The portable path of `Xxh3::final_acc`.
#[inline(always)]
fn final_acc_portable(state: &Accumulator, words: &[u64], last: &[u8; STRIPE]) -> [u64; 8] {
    let mut accumulator = *state;
    accumulate_words_portable(&mut accumulator, words);
    let mut acc = accumulator.acc;
    Accumulator::accumulate_at(&mut acc, &lanes_of(last), LAST_STRIPE_AT);
    acc
}

/// The portable loop of [`accumulate_words`].
#[inline(always)]
fn accumulate_words_portable(accumulator: &mut Accumulator, words: &[u64]) {
    for stripe in words.chunks_exact(8) {
        let mut lanes = [0u64; 8];
        for (lane, &word) in lanes.iter_mut().zip(stripe) {
            *lane = u64::from_le(word);
        }
        accumulator.stripe(&lanes);
    }
}

fn lanes_of(stripe: &[u8]) -> [u64; 8] {
    let mut lanes = [0u64; 8];
    for (lane, bytes) in lanes.iter_mut().zip(stripe.chunks_exact(8)) {
        *lane = u64::from_le_bytes(bytes.try_into().expect("eight bytes"));
    }
    lanes
}

/// Whether the AVX2 loops run: the CPU has AVX2, the `portable-xxh3` feature is
/// off and, in tests, the portable loops are not being exercised instead.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn avx2_available() -> bool {
    if cfg!(feature = "portable-xxh3") {
        return false;
    }
    #[cfg(test)]
    if tests::PORTABLE_ONLY.with(std::cell::Cell::get) {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(test)]
mod tests;
