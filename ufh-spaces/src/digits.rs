//! The classic 8×8 handwritten digits (1,797 images, 64 features of 0..=16, ten
//! classes), as `smartcore` ships them inside its crate: no download, ever.
//!
//! The fixed split every ufh setup uses: the images are shuffled once by a
//! Fisher–Yates shuffle drawn from `Xoshiro256PlusPlus` seeded with
//! [`SPLIT_SEED`], then the first 1,000 are the training set, the next 397 the
//! validation set and the last 400 the test set. Pixels are scaled to `[0, 1]`
//! (divided by 16).

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Seed of the fixed shuffle that defines the split.
pub const SPLIT_SEED: u64 = 0x00D1_6175;
/// Images in the training set.
pub const N_TRAIN: usize = 1000;
/// Images in the validation set.
pub const N_VALIDATION: usize = 397;
/// Images in the test set.
pub const N_TEST: usize = 400;
/// Pixels per image.
pub const N_PIXELS: usize = 64;
/// Classes.
pub const N_CLASSES: usize = 10;

/// A set of images with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Digits {
    /// `len() × 64` pixels in `[0, 1]`, row-major per image.
    pub pixels: Vec<f32>,
    /// One label in `0..10` per image.
    pub labels: Vec<u8>,
}

impl Digits {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 64 pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.pixels[i * N_PIXELS..(i + 1) * N_PIXELS]
    }

    /// The first `n` images (all of them when `n` is larger).
    pub fn first(&self, n: usize) -> Digits {
        let n = n.min(self.len());
        Digits {
            pixels: self.pixels[..n * N_PIXELS].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    fn subset(&self, indices: &[usize]) -> Digits {
        Digits {
            pixels: indices
                .iter()
                .flat_map(|&i| self.image(i).iter().copied())
                .collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}

/// The fixed train / validation / test split.
#[derive(Debug, Clone, PartialEq)]
pub struct DigitsSplit {
    /// 1,000 training images.
    pub train: Digits,
    /// 397 validation images.
    pub validation: Digits,
    /// 400 test images.
    pub test: Digits,
}

/// All 1,797 images in smartcore's order, pixels scaled to `[0, 1]`.
///
/// # Panics
/// If the data shipped inside smartcore is not the 1,797 × 64 digits with labels
/// 0..=9 (a broken dependency, not a user error).
pub fn load_all() -> Digits {
    let dataset = smartcore::dataset::digits::load_dataset();
    assert_eq!(
        (dataset.num_samples, dataset.num_features),
        (N_TRAIN + N_VALIDATION + N_TEST, N_PIXELS),
        "smartcore's digits changed shape"
    );
    let labels = dataset
        .target
        .iter()
        .map(|&y| {
            assert!(
                (0.0..10.0).contains(&y) && y.fract() == 0.0,
                "smartcore's digits has label {y}"
            );
            y as u8
        })
        .collect();
    Digits {
        pixels: dataset.data.iter().map(|&x| x / 16.0).collect(),
        labels,
    }
}

/// The fixed split (see the module docs).
pub fn split() -> DigitsSplit {
    let all = load_all();
    let mut order: Vec<usize> = (0..all.len()).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(SPLIT_SEED);
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i as u32) as usize;
        order.swap(i, j);
    }
    let (train, rest) = order.split_at(N_TRAIN);
    let (validation, test) = rest.split_at(N_VALIDATION);
    DigitsSplit {
        train: all.subset(train),
        validation: all.subset(validation),
        test: all.subset(test),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_fixed_disjoint_and_balanced() {
        let split = split();
        assert_eq!(split.train.len(), N_TRAIN);
        assert_eq!(split.validation.len(), N_VALIDATION);
        assert_eq!(split.test.len(), N_TEST);
        assert_eq!(split, super::split(), "the split is the same every time");
        for set in [&split.train, &split.validation, &split.test] {
            let mut counts = [0usize; N_CLASSES];
            set.labels.iter().for_each(|&y| counts[usize::from(y)] += 1);
            let expected = set.len() / N_CLASSES;
            assert!(counts.iter().all(|&c| c * 2 > expected), "{counts:?}");
            assert!(set.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
        }
        // No image of the test set appears in the training set.
        let train: std::collections::HashSet<Vec<u32>> = (0..split.train.len())
            .map(|i| split.train.image(i).iter().map(|p| p.to_bits()).collect())
            .collect();
        let leaked = (0..split.test.len())
            .filter(|&i| {
                train.contains(
                    &split
                        .test
                        .image(i)
                        .iter()
                        .map(|p| p.to_bits())
                        .collect::<Vec<_>>(),
                )
            })
            .count();
        // The raw dataset holds a handful of exact duplicate images; nothing more.
        assert!(leaked <= 5, "{leaked} test images are also training images");
    }
}
