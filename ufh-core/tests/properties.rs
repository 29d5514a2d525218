//! Properties of the functional hash that every user of `ufh-core` relies on.

use proptest::prelude::*;
use ufh_core::{FloatFormat, FunctionalHash, FunctionalHasher, MantissaBits, truncate_f64};

fn hash_f64s(m: MantissaBits, xs: &[f64]) -> FunctionalHash {
    let mut hasher = FunctionalHasher::new(m);
    hasher.push_f64s(xs);
    hasher.finish()
}

fn hash_f32s(m: MantissaBits, xs: &[f32]) -> FunctionalHash {
    let mut hasher = FunctionalHasher::new(m);
    hasher.push_f32s(xs);
    hasher.finish()
}

fn f64_bits() -> impl Strategy<Value = MantissaBits> {
    (1u32..=52).prop_map(|b| MantissaBits::f64(b).unwrap())
}

/// Any f64 bit pattern: NaNs, infinities, subnormals and zeros included.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        any::<f64>(),
        Just(0.0),
        Just(-0.0),
        Just(f64::INFINITY),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Values that agree in sign, exponent and kept mantissa bits hash equal.
    #[test]
    fn equal_after_truncation_hash_equal(
        m in f64_bits(),
        xs in prop::collection::vec(any::<u64>(), 0..40),
        noise in prop::collection::vec(any::<u64>(), 40),
    ) {
        let dropped = (1u64 << (52 - m.bits())) - 1;
        // Keep NaNs out of the exponent: their dropped bits are payload, which
        // collapses too, but a NaN whose kept bits are zero would become infinity.
        let a: Vec<f64> = xs.iter().map(|&b| f64::from_bits(b & !0x7FF0_0000_0000_0000)).collect();
        let b: Vec<f64> = a.iter().zip(&noise)
            .map(|(x, n)| f64::from_bits((x.to_bits() & !dropped) | (n & dropped)))
            .collect();
        prop_assert_eq!(hash_f64s(m, &a), hash_f64s(m, &b));
    }

    /// Changing one kept bit of one value changes the hash, unless the change only
    /// moves between the forms that are canonicalised (zeros, NaNs).
    #[test]
    fn a_kept_bit_changes_the_hash(
        m in f64_bits(),
        xs in prop::collection::vec(any_f64(), 1..40),
        index in any::<prop::sample::Index>(),
        bit in 0u32..64,
    ) {
        let i = index.index(xs.len());
        let position = 63 - bit % (12 + m.bits()); // sign, exponent or a kept mantissa bit
        let mut ys = xs.clone();
        ys[i] = f64::from_bits(xs[i].to_bits() ^ (1 << position));
        let before = truncate_f64(xs[i], m);
        let after = truncate_f64(ys[i], m);
        let collapses = xs[i].is_nan() && ys[i].is_nan() || before == 0 && after == 0;
        prop_assume!(!collapses);
        prop_assert_ne!(before, after);
        prop_assert_ne!(hash_f64s(m, &xs), hash_f64s(m, &ys));
    }

    /// -0.0 and +0.0 hash equal, and every NaN hashes equal, in every format.
    #[test]
    fn zeros_and_nans_collapse(
        m in f64_bits(),
        payload in 1u64..(1 << 52),
        sign in any::<bool>(),
        payload32 in 1u32..(1 << 23),
    ) {
        prop_assert_eq!(hash_f64s(m, &[-0.0]), hash_f64s(m, &[0.0]));
        let nan = f64::from_bits(((sign as u64) << 63) | 0x7FF0_0000_0000_0000 | payload);
        prop_assert!(nan.is_nan());
        prop_assert_eq!(hash_f64s(m, &[nan]), hash_f64s(m, &[f64::NAN]));
        let m32 = MantissaBits::new(FloatFormat::F32, m.bits_for(FloatFormat::F32)).unwrap();
        let nan32 = f32::from_bits(((sign as u32) << 31) | 0x7F80_0000 | payload32);
        prop_assert_eq!(hash_f32s(m32, &[nan32]), hash_f32s(m32, &[f32::NAN]));
        prop_assert_eq!(hash_f32s(m32, &[-0.0]), hash_f32s(m32, &[0.0]));
    }

    /// How values are split across pushes never changes the hash.
    #[test]
    fn chunking_does_not_change_the_hash(
        m in f64_bits(),
        xs in prop::collection::vec(any_f64(), 0..3000),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(xs.len() + 1)).collect();
        cuts.sort_unstable();
        let mut hasher = FunctionalHasher::new(m);
        let mut start = 0;
        for cut in cuts.into_iter().chain([xs.len()]) {
            let piece = &xs[start..cut];
            if piece.len() == 1 {
                hasher.push_f64(piece[0]);
            } else {
                hasher.push_f64s(piece);
            }
            start = cut;
        }
        prop_assert_eq!(hasher.finish(), hash_f64s(m, &xs));
        let singles: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        let m32 = MantissaBits::new(FloatFormat::F32, m.bits_for(FloatFormat::F32)).unwrap();
        let mut one_by_one = FunctionalHasher::new(m32);
        singles.iter().for_each(|&x| one_by_one.push_f32(x));
        prop_assert_eq!(one_by_one.finish(), hash_f32s(m32, &singles));
    }

    /// Swapping two values that differ after truncation changes the hash.
    #[test]
    fn order_matters(
        m in f64_bits(),
        xs in prop::collection::vec(any_f64(), 2..50),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let (i, j) = (a.index(xs.len()), b.index(xs.len()));
        prop_assume!(truncate_f64(xs[i], m) != truncate_f64(xs[j], m));
        let mut ys = xs.clone();
        ys.swap(i, j);
        prop_assert_ne!(hash_f64s(m, &xs), hash_f64s(m, &ys));
    }
}

/// Reference model of the specification: XXH3 over the canonical little-endian
/// bytes, whatever mix of types and call sizes produced them.
#[derive(Debug, Clone)]
enum Push {
    F64s(Vec<f64>),
    F32s(Vec<f32>),
    F64(f64),
    U64(u64),
    F16s(Vec<u16>),
}

fn push_strategy() -> impl Strategy<Value = Push> {
    prop_oneof![
        prop::collection::vec(any_f64(), 0..300).prop_map(Push::F64s),
        prop::collection::vec(any::<f32>(), 0..300).prop_map(Push::F32s),
        any_f64().prop_map(Push::F64),
        any::<u64>().prop_map(Push::U64),
        prop::collection::vec(any::<u16>(), 0..40).prop_map(Push::F16s),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mixed_pushes_hash_as_xxh3_of_canonical_bytes(
        bits in 1u32..=10,
        pushes in prop::collection::vec(push_strategy(), 0..12),
    ) {
        let m = MantissaBits::new(FloatFormat::F16, bits).unwrap();
        let mut hasher = FunctionalHasher::new(m);
        let mut wide = FunctionalHasher::new_128(m);
        let mut bytes = Vec::new();
        let mut n_values = 0u64;
        for push in &pushes {
            n_values += match push {
                Push::F64s(xs) => xs.len(),
                Push::F32s(xs) => xs.len(),
                Push::F16s(xs) => xs.len(),
                Push::F64(_) | Push::U64(_) => 1,
            } as u64;
            match push {
                Push::F64s(xs) => {
                    hasher.push_f64s(xs);
                    wide.push_f64s(xs);
                    xs.iter().for_each(|&x| bytes.extend(truncate_f64(x, m).to_le_bytes()));
                }
                Push::F32s(xs) => {
                    hasher.push_f32s(xs);
                    wide.push_f32s(xs);
                    xs.iter().for_each(|&x| bytes.extend(ufh_core::truncate_f32(x, m).to_le_bytes()));
                }
                Push::F64(x) => {
                    hasher.push_f64(*x);
                    wide.push_f64(*x);
                    bytes.extend(truncate_f64(*x, m).to_le_bytes());
                }
                Push::U64(x) => {
                    hasher.push_u64(*x);
                    wide.push_u64(*x);
                    bytes.extend(x.to_le_bytes());
                }
                Push::F16s(xs) => {
                    hasher.push_f16_bits(xs);
                    wide.push_f16_bits(xs);
                    xs.iter().for_each(|&x| bytes.extend(ufh_core::truncate_f16_bits(x, m).to_le_bytes()));
                }
            }
        }
        // The count of values, whatever their widths, is what was pushed.
        prop_assert_eq!(hasher.n_values(), n_values);
        prop_assert_eq!(wide.n_values(), n_values);
        prop_assert_eq!(hasher.finish().0, twox_hash::XxHash3_64::oneshot(&bytes));
        prop_assert_eq!(wide.finish().0, twox_hash::XxHash3_128::oneshot(&bytes));
    }
}
