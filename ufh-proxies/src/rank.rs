//! Rank correlations between a proxy's scores and the networks' accuracies: EZNAS's
//! fitness (Kendall τ-b) and its meta-validation (Kendall τ-b and Spearman ρ).
//!
//! Both handle ties as `scipy.stats` does by default: τ-b corrects for ties in
//! either ranking, and ρ is Pearson's correlation of average ranks. τ-b is
//! Knight's O(n log n) algorithm (a sort by both keys, then a merge sort that
//! counts discordant pairs), so that a proxy can be scored on a whole table of
//! tens of thousands of networks.

/// Why a correlation is undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RankError {
    /// The two rankings have different lengths.
    #[error("the rankings have {x} and {y} values")]
    LengthMismatch {
        /// Values in the first.
        x: usize,
        /// Values in the second.
        y: usize,
    },
    /// Fewer than two values: no pair to compare.
    #[error("{0} values: a correlation needs at least 2")]
    TooShort(usize),
    /// A NaN or infinite value, at this index of this ranking (0 for the first).
    #[error("value {index} of ranking {ranking} is not finite")]
    NotFinite {
        /// Which ranking: 0 or 1.
        ranking: usize,
        /// Where.
        index: usize,
    },
    /// Every value of one ranking is the same, so no pair is ordered.
    #[error("ranking {0} is constant")]
    Constant(usize),
}

fn check(x: &[f64], y: &[f64]) -> Result<(), RankError> {
    if x.len() != y.len() {
        return Err(RankError::LengthMismatch {
            x: x.len(),
            y: y.len(),
        });
    }
    if x.len() < 2 {
        return Err(RankError::TooShort(x.len()));
    }
    for (ranking, values) in [x, y].into_iter().enumerate() {
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(RankError::NotFinite { ranking, index });
        }
    }
    Ok(())
}

/// Pairs among runs of equal values of `sorted` (ascending): Σ t(t − 1)/2.
fn tied_pairs<T: PartialEq>(sorted: &[T]) -> u64 {
    let mut pairs = 0;
    let mut start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || sorted[i] != sorted[start] {
            let t = (i - start) as u64;
            pairs += t * (t - 1) / 2;
            start = i;
        }
    }
    pairs
}

/// Sorts `values` ascending by merge sort and returns the number of inversions:
/// pairs `i < j` with `values[i] > values[j]` (equal values are not inversions).
fn sort_counting_inversions(values: &mut [f64], scratch: &mut [f64]) -> u64 {
    let n = values.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let (left, right) = values.split_at_mut(mid);
    let mut inversions = sort_counting_inversions(left, &mut scratch[..mid])
        + sort_counting_inversions(right, &mut scratch[mid..]);
    let (mut i, mut j, mut k) = (0, 0, 0);
    while i < left.len() && j < right.len() {
        if left[i] <= right[j] {
            scratch[k] = left[i];
            i += 1;
        } else {
            scratch[k] = right[j];
            j += 1;
            inversions += (left.len() - i) as u64;
        }
        k += 1;
    }
    scratch[k..k + left.len() - i].copy_from_slice(&left[i..]);
    k += left.len() - i;
    scratch[k..k + right.len() - j].copy_from_slice(&right[j..]);
    values.copy_from_slice(&scratch[..n]);
    inversions
}

/// Kendall's τ-b of `x` and `y`: (concordant − discordant pairs) over the
/// geometric mean of the pairs untied in each ranking.
///
/// ```
/// use ufh_proxies::rank::kendall_tau_b;
///
/// // scipy.stats.kendalltau([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.7378…
/// let tau = kendall_tau_b(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0])?;
/// assert!((tau - 7.0 / 90f64.sqrt()).abs() < 1e-12);
/// # Ok::<(), ufh_proxies::rank::RankError>(())
/// ```
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<f64, RankError> {
    check(x, y)?;
    let n = x.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b])));
    let xs: Vec<f64> = order.iter().map(|&i| x[i]).collect();
    let pairs_x = tied_pairs(&xs);
    let joint: Vec<(f64, f64)> = order.iter().map(|&i| (x[i], y[i])).collect();
    let pairs_xy = tied_pairs(&joint);
    let mut ys: Vec<f64> = order.iter().map(|&i| y[i]).collect();
    let mut scratch = vec![0.0; n];
    let discordant = sort_counting_inversions(&mut ys, &mut scratch);
    let pairs_y = tied_pairs(&ys);
    let all = (n as u64) * (n as u64 - 1) / 2;
    if pairs_x == all {
        return Err(RankError::Constant(0));
    }
    if pairs_y == all {
        return Err(RankError::Constant(1));
    }
    // Concordant − discordant = all − ties in x − ties in y + joint ties − 2·discordant.
    let s =
        all as f64 - pairs_x as f64 - pairs_y as f64 + pairs_xy as f64 - 2.0 * discordant as f64;
    Ok(s / (((all - pairs_x) as f64) * ((all - pairs_y) as f64)).sqrt())
}

/// Average ranks (1-based) of `values`: tied values share the mean of their ranks.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || values[order[i]] != values[order[start]] {
            // Ranks start + 1 ..= i, averaged.
            let rank = (start + 1 + i) as f64 / 2.0;
            for &index in &order[start..i] {
                ranks[index] = rank;
            }
            start = i;
        }
    }
    ranks
}

/// Spearman's ρ of `x` and `y`: Pearson's correlation of their average ranks.
///
/// ```
/// use ufh_proxies::rank::spearman_rho;
///
/// // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207…
/// let rho = spearman_rho(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0])?;
/// assert!((rho - 0.820_782_681_668_123_3).abs() < 1e-12);
/// # Ok::<(), ufh_proxies::rank::RankError>(())
/// ```
pub fn spearman_rho(x: &[f64], y: &[f64]) -> Result<f64, RankError> {
    check(x, y)?;
    let (rx, ry) = (average_ranks(x), average_ranks(y));
    let n = x.len() as f64;
    let mean = (n + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        let (dx, dy) = (a - mean, b - mean);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return Err(RankError::Constant(0));
    }
    if syy == 0.0 {
        return Err(RankError::Constant(1));
    }
    Ok(sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// τ-b by its definition, over every pair.
    fn tau_b_by_pairs(x: &[f64], y: &[f64]) -> f64 {
        let (mut concordant, mut discordant, mut tied_x, mut tied_y) = (0i64, 0i64, 0i64, 0i64);
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let dx = x[i] - x[j];
                let dy = y[i] - y[j];
                if dx == 0.0 && dy == 0.0 {
                    tied_x += 1;
                    tied_y += 1;
                } else if dx == 0.0 {
                    tied_x += 1;
                } else if dy == 0.0 {
                    tied_y += 1;
                } else if (dx > 0.0) == (dy > 0.0) {
                    concordant += 1;
                } else {
                    discordant += 1;
                }
            }
        }
        let all = (x.len() * (x.len() - 1) / 2) as i64;
        (concordant - discordant) as f64 / (((all - tied_x) * (all - tied_y)) as f64).sqrt()
    }

    #[test]
    fn known_values_with_ties() {
        // Hand-computed: one pair tied in x, the other two concordant.
        let (x, y) = ([1.0, 1.0, 2.0], [1.0, 2.0, 3.0]);
        assert!((kendall_tau_b(&x, &y).unwrap() - 2.0 / 6f64.sqrt()).abs() < 1e-12);
        // Ranks [1.5, 1.5, 3] against [1, 2, 3]: 1.5 / sqrt(1.5 · 2).
        assert!((spearman_rho(&x, &y).unwrap() - 1.5 / 3f64.sqrt()).abs() < 1e-12);
        // scipy's documented example, ties in both rankings: τ-b = −0.4714….
        let (x, y) = ([12.0, 2.0, 1.0, 12.0, 2.0], [1.0, 4.0, 7.0, 1.0, 0.0]);
        assert!((kendall_tau_b(&x, &y).unwrap() + 0.471_404_520_791_031_7).abs() < 1e-12);
        // One swap in three: τ = 1/3; reversed, −1; identical, 1.
        assert!(
            (kendall_tau_b(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]).unwrap() - 1.0 / 3.0).abs() < 1e-12
        );
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Ok(-1.0));
        assert_eq!(spearman_rho(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Ok(-1.0));
        assert_eq!(spearman_rho(&[0.1, 0.5, 0.7], &[2.0, 40.0, 41.0]), Ok(1.0));
    }

    #[test]
    fn knights_algorithm_matches_the_pairwise_definition() {
        // Seeded values on a coarse grid, so that ties in each and both are common.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |levels: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % levels) as f64
        };
        for n in [2, 3, 7, 50, 301] {
            for levels in [2, 5, 1000] {
                let x: Vec<f64> = (0..n).map(|_| next(levels)).collect();
                let y: Vec<f64> = (0..n).map(|_| next(levels)).collect();
                let (Ok(fast), slow) = (kendall_tau_b(&x, &y), tau_b_by_pairs(&x, &y)) else {
                    continue; // a constant draw: undefined either way
                };
                assert!(
                    (fast - slow).abs() < 1e-12,
                    "n {n}, levels {levels}: {fast} vs {slow}"
                );
            }
        }
    }

    #[test]
    fn undefined_correlations_are_errors_that_say_why() {
        assert_eq!(
            kendall_tau_b(&[1.0, 2.0], &[1.0]),
            Err(RankError::LengthMismatch { x: 2, y: 1 })
        );
        assert_eq!(spearman_rho(&[1.0], &[1.0]), Err(RankError::TooShort(1)));
        assert_eq!(
            kendall_tau_b(&[1.0, f64::NAN, 2.0], &[1.0, 2.0, 3.0]),
            Err(RankError::NotFinite {
                ranking: 0,
                index: 1
            })
        );
        assert_eq!(
            spearman_rho(&[1.0, 2.0, 3.0], &[1.0, 2.0, f64::INFINITY]),
            Err(RankError::NotFinite {
                ranking: 1,
                index: 2
            })
        );
        assert_eq!(
            kendall_tau_b(&[4.0; 3], &[1.0, 2.0, 3.0]),
            Err(RankError::Constant(0))
        );
        assert_eq!(
            spearman_rho(&[1.0, 2.0, 3.0], &[4.0; 3]),
            Err(RankError::Constant(1))
        );
        assert_eq!(
            RankError::NotFinite {
                ranking: 1,
                index: 2
            }
            .to_string(),
            "value 2 of ranking 1 is not finite"
        );
    }
}
