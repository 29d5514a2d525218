use super::*;

thread_local! {
    /// Set by a test to run the portable loops on a CPU with AVX2.
    pub(super) static PORTABLE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[test]
fn portable_loops_match_xxh3_too() {
    PORTABLE_ONLY.with(|only| only.set(true));
    byte_streams_match_xxh3_at_every_length_and_split();
    bulk_float_paths_match_xxh3_of_canonical_bytes();
    PORTABLE_ONLY.with(|only| only.set(false));
}

/// Under Miri, which interprets every instruction, the loops below take every
/// `SPARSE`-th length: the same paths, a fraction of the cases.
const SPARSE: usize = if cfg!(miri) { 29 } else { 1 };

fn reference(bytes: &[u8]) -> (u64, u128) {
    (XxHash3_64::oneshot(bytes), XxHash3_128::oneshot(bytes))
}

#[test]
fn byte_streams_match_xxh3_at_every_length_and_split() {
    let data: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for len in (0..600)
        .step_by(SPARSE)
        .chain([1023, 1024, 1025, 2047, 2048, 2049, 4096, 4097, 5000])
        .filter(|&len| !cfg!(miri) || len <= 1025)
    {
        let bytes = &data[..len];
        for split in [1, 7, 64, 255, 256, 300] {
            let mut state = Xxh3::new();
            bytes.chunks(split).for_each(|c| state.write(c));
            assert_eq!(
                (state.finish_64(), state.finish_128()),
                reference(bytes),
                "len {len} split {split}"
            );
        }
    }
}

#[test]
fn bulk_float_paths_match_xxh3_of_canonical_bytes() {
    for n in (30..=80)
        .step_by(SPARSE.min(10))
        .chain([100, 129, 500, 1000, 2049, 4096, 10_000])
        .filter(|&n| !cfg!(miri) || n <= 1000)
    {
        let values: Vec<f64> = (0..n)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0)
            .collect();
        let mask = 0xFFFF_FFFF_F000_0000;
        let canonical: Vec<u8> = values
            .iter()
            .flat_map(|x| canonical_f64(x.to_bits(), mask).to_le_bytes())
            .collect();
        let mut state = Xxh3::new();
        let consumed = state.bulk(Lanes::F64(&values, mask));
        for x in &values[consumed..] {
            state.write(&canonical_f64(x.to_bits(), mask).to_le_bytes());
        }
        assert_eq!(
            (state.finish_64(), state.finish_128()),
            reference(&canonical),
            "f64 n {n}"
        );

        let singles: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        let mask32 = 0xFFFF_F000;
        let canonical32: Vec<u8> = singles
            .iter()
            .flat_map(|x| canonical_f32(x.to_bits(), mask32).to_le_bytes())
            .collect();
        let mut state = Xxh3::new();
        let consumed = state.bulk(Lanes::F32(&singles, mask32));
        for x in &singles[consumed..] {
            state.write(&canonical_f32(x.to_bits(), mask32).to_le_bytes());
        }
        assert_eq!(
            (state.finish_64(), state.finish_128()),
            reference(&canonical32),
            "f32 n {n}"
        );
    }
}

#[test]
fn portable_and_vector_finishes_agree() {
    let data: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
        .collect();
    for len in (SHORT_MAX + 1..2600).step_by(7 * SPARSE) {
        let mut state = Xxh3::new();
        state.write(&data[..len]);
        let stripes = (state.buffered.max(1) - 1) / STRIPE;
        let mut last = [0u8; STRIPE];
        let tail: Vec<u8> = data[..len]
            .iter()
            .rev()
            .take(STRIPE)
            .rev()
            .copied()
            .collect();
        last.copy_from_slice(&tail);
        let words: Vec<u64> = state.buffered_bytes()[..stripes * STRIPE]
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("eight bytes")))
            .collect();
        let portable = final_acc_portable(&state.accumulator, &words, &last);
        assert_eq!(state.final_acc(), portable, "stream of {len} bytes");
    }
}

#[test]
fn portable_and_vector_bulk_loops_agree() {
    let values: Vec<f64> = (0..3000)
        .map(|i| match i % 9 {
            0 => -0.0,
            1 => f64::from_bits(0xFFF0_0000_0000_0000 | i as u64),
            2 => -f64::from_bits(1),
            _ => (i as f64).sqrt() - 20.0,
        })
        .collect();
    let lanes = Lanes::F64(&values, 0xFFF8_0000_0000_0000);
    let mut portable = Accumulator::new();
    for index in 0..300 {
        portable.stripe(&lanes.stripe(index));
    }
    let mut state = Xxh3::new();
    state.accumulate_lanes(lanes, 300);
    // SAFETY: accumulate_lanes wrote the tail's eight words.
    let tail: Vec<u64> = state.buffer[BUFFER_WORDS - 8..]
        .iter()
        .map(|word| unsafe { word.assume_init() })
        .collect();
    assert_eq!(tail, lanes.stripe(299), "the tail holds the last stripe");
    assert_eq!(portable.acc, state.accumulator.acc);
    assert_eq!(
        portable.stripes_in_block,
        state.accumulator.stripes_in_block
    );
}
