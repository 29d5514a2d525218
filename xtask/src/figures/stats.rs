//! The statistics the figures report: mean and standard error over repeats, curves
//! on a common time grid, and the two-sided Mann–Whitney U test.

use ufh_search::BestPoint;

/// Mean and standard error of the mean (0 for fewer than two values).
pub(crate) fn mean_sem(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// A best-so-far curve (validation and test accuracy) sampled at `grid` times
/// (NaN before the first evaluation finishes).
pub(crate) fn curve_on_grid(best: &[BestPoint], grid: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut validation = Vec::with_capacity(grid.len());
    let mut test = Vec::with_capacity(grid.len());
    let mut k = 0;
    for &t in grid {
        while k < best.len() && best[k].time_s <= t {
            k += 1;
        }
        if k == 0 {
            validation.push(f64::NAN);
            test.push(f64::NAN);
        } else {
            validation.push(best[k - 1].validation);
            test.push(best[k - 1].test);
        }
    }
    (validation, test)
}

/// Mean and SEM across repeats at every grid point, ignoring NaNs.
pub(crate) fn band(curves: &[&[f64]]) -> Vec<(f64, f64)> {
    let len = curves.first().map_or(0, |c| c.len());
    (0..len)
        .map(|i| {
            let values: Vec<f64> = curves
                .iter()
                .map(|c| c[i])
                .filter(|v| v.is_finite())
                .collect();
            mean_sem(&values)
        })
        .collect()
}

/// Two-sided Mann–Whitney U test of `a` against `b`: the U statistic of `a` and the
/// p-value from the normal approximation with tie correction and continuity
/// correction (the repeat counts here are large enough for it).
pub(crate) fn mann_whitney(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut all: Vec<(f64, usize)> = a
        .iter()
        .map(|&v| (v, 0))
        .chain(b.iter().map(|&v| (v, 1)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        let ties = (j - i + 1) as f64;
        tie_term += ties.powi(3) - ties;
        rank_sum_a += all[i..=j].iter().filter(|x| x.1 == 0).count() as f64 * average_rank;
        i = j + 1;
    }
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if variance <= 0.0 {
        return (u, 1.0);
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    (u, (2.0 * normal_upper_tail(z)).min(1.0))
}

/// `P(Z > z)` for a standard normal `Z` (Abramowitz–Stegun 7.1.26 via erfc,
/// absolute error below 1.5e-7).
fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_known_values() {
        // Fully separated samples of 10: U = 0, exact two-sided p = 1.08e-5; the
        // normal approximation with continuity correction gives 1.8e-4.
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = (10..20).map(f64::from).collect();
        let (u, p) = mann_whitney(&a, &b);
        assert_eq!(u, 0.0);
        assert!((p - 1.8e-4).abs() < 0.2e-4, "{p}");
        // Identical samples: no evidence of a difference.
        let (_, p) = mann_whitney(&a, &a);
        assert!(p > 0.9, "{p}");
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-6);
    }

    #[test]
    fn mean_and_sem() {
        let (m, s) = mean_sem(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - (1.666_666_7f64 / 4.0).sqrt()).abs() < 1e-6);
    }
}
