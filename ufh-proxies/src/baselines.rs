//! Zero-cost baselines that a network's EZNAS statistics determine, as the zero-cost proxies' paper
//! (after SamsungLabs' zero-cost-nas and NASWOT) defines them:
//!
//! * `params`: the conv weights, Σ numel(T3) over blocks (batch-norm and dense
//!   parameters are not in the statistics);
//! * `flops`: the convs' multiply-accumulates per image, Σ numel(T3) · H · W over
//!   blocks (stride 1 and same padding, as every block of the spaces here has);
//! * `naswot`: log |det K|, K = Σ over blocks of `c cᵀ + (1 − c)(1 − c)ᵀ` with `c`
//!   the per-image binary codes of the block's ReLU (its output T4D > 0);
//! * `jacob_cov`: −Σ [log(v + k) + 1/(v + k)] over the eigenvalues `v` of the
//!   correlation matrix of the per-image input Jacobians (the first block's
//!   T2G_D: the gradient of the sum of the outputs with respect to the input),
//!   k = 1e-5.
//!
//! The baselines that need the gradient of a loss (snip, grasp, grad_norm,
//! fisher) or a modified network (synflow) are not computable from these
//! statistics: `ufh-spaces` computes them on the networks themselves
//! (`LossGradientScores`).

use crate::fitness::Network;
use crate::tree::Stat;

/// A baseline's score of a network, `None` where it is undefined (a singular
/// kernel, a constant Jacobian).
pub type Baseline = fn(&Network) -> Option<f64>;

/// Every baseline here, by name.
pub const BASELINES: [(&str, Baseline); 4] = [
    ("params", params),
    ("flops", flops),
    ("naswot", naswot),
    ("jacob_cov", jacob_cov),
];

/// Conv weights over all blocks.
pub fn params(network: &Network) -> Option<f64> {
    let total: usize = network
        .instances
        .iter()
        .map(|i| i[Stat::T3.index()].numel())
        .sum();
    (total > 0).then_some(total as f64)
}

/// Conv multiply-accumulates per image over all blocks.
pub fn flops(network: &Network) -> Option<f64> {
    let mut total = 0f64;
    for instance in &network.instances {
        let output = instance[Stat::T4D.index()].shape();
        let plane: usize = output.get(2..)?.iter().product();
        total += (instance[Stat::T3.index()].numel() * plane) as f64;
    }
    (total > 0.0).then_some(total)
}

/// NASWOT's log-determinant of the Hamming kernel of ReLU codes.
pub fn naswot(network: &Network) -> Option<f64> {
    let images = *network
        .instances
        .first()?
        .get(Stat::T4D.index())?
        .shape()
        .first()?;
    let mut k = vec![0f64; images * images];
    for instance in &network.instances {
        let out = &instance[Stat::T4D.index()];
        let per_image = out.numel() / images;
        let code = |i: usize, j: usize| out.data()[i * per_image + j] > 0.0;
        for a in 0..images {
            for b in 0..images {
                // c·c' + (1 − c)·(1 − c'): positions where the two codes agree.
                let agree = (0..per_image).filter(|&j| code(a, j) == code(b, j)).count();
                k[a * images + b] += agree as f64;
            }
        }
    }
    let (sign, log) = log_abs_det(&mut k, images);
    (sign != 0.0).then_some(log)
}

/// jacob_cov's score of the correlation of per-image input Jacobians.
pub fn jacob_cov(network: &Network) -> Option<f64> {
    let jacobian = &network.instances.first()?[Stat::T2GD.index()];
    let images = *jacobian.shape().first()?;
    let per_image = jacobian.numel() / images;
    if images < 2 || per_image < 2 {
        return None;
    }
    let rows: Vec<Vec<f64>> = (0..images)
        .map(|i| {
            let row = &jacobian.data()[i * per_image..(i + 1) * per_image];
            let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / per_image as f64;
            let centred: Vec<f64> = row.iter().map(|&v| f64::from(v) - mean).collect();
            let norm = centred.iter().map(|v| v * v).sum::<f64>().sqrt();
            centred.iter().map(|v| v / norm).collect()
        })
        .collect();
    if rows.iter().flatten().any(|v| !v.is_finite()) {
        return None; // a constant Jacobian row has no correlation
    }
    let mut corr = vec![0f64; images * images];
    for a in 0..images {
        for b in 0..images {
            corr[a * images + b] = rows[a].iter().zip(&rows[b]).map(|(x, y)| x * y).sum();
        }
    }
    const K: f64 = 1e-5;
    let score = -crate::ops::symmetric_eigenvalues(corr, images)
        .iter()
        .map(|&v| (v + K).ln() + 1.0 / (v + K))
        .sum::<f64>();
    score.is_finite().then_some(score)
}

/// `(sign, log |det|)` of the `n × n` matrix `m` by LU with partial pivoting
/// (destroys `m`); sign 0 for a singular matrix.
fn log_abs_det(m: &mut [f64], n: usize) -> (f64, f64) {
    match crate::ops::lu_pivots(m, n) {
        None => (0.0, f64::NEG_INFINITY),
        Some((sign, pivots)) => (
            sign * pivots.iter().map(|p| p.signum()).product::<f64>(),
            pivots.iter().map(|p| p.abs().ln()).sum(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    /// One block of 2 images, 1 channel, 1×2 pixels: T4D codes [1, 0] and [1, 1];
    /// a 1×1×3×3 weight; the input Jacobian rows [1, 2] and [2, 1].
    fn network() -> Network {
        let mut instance: Vec<Tensor> = (0..22).map(|_| Tensor::full(&[2, 1, 1, 2], 0.0)).collect();
        instance[Stat::T4D.index()] = Tensor::new(vec![2, 1, 1, 2], vec![0.5, 0.0, 2.0, 1.0]);
        instance[Stat::T3.index()] = Tensor::full(&[1, 1, 3, 3], 0.1);
        instance[Stat::T2GD.index()] = Tensor::new(vec![2, 1, 1, 2], vec![1.0, 2.0, 2.0, 1.0]);
        Network {
            instances: vec![instance.clone(), instance],
            accuracy: 0.0,
        }
    }

    #[test]
    fn baselines_match_hand_computation() {
        let n = network();
        // Two blocks of 9 weights; 9 weights × 2 output pixels each.
        assert_eq!(params(&n), Some(18.0));
        assert_eq!(flops(&n), Some(36.0));
        // Codes [1, 0] and [1, 1] agree in 1 of 2 places: K per block [[2, 1], [1, 2]],
        // over two blocks [[4, 2], [2, 4]], det 12.
        assert!((naswot(&n).unwrap() - 12f64.ln()).abs() < 1e-12);
        // Rows [1, 2] and [2, 1] centre to [−½, ½] and [½, −½]: correlation −1, so
        // the eigenvalues of [[1, −1], [−1, 1]] are 0 and 2.
        let k = 1e-5f64;
        let want = -((k.ln() + 1.0 / k) + ((2.0 + k).ln() + 1.0 / (2.0 + k)));
        let got = jacob_cov(&n).unwrap();
        assert!((got - want).abs() < 1e-6 * want.abs(), "{got} vs {want}");
    }

    #[test]
    fn undefined_baselines_are_none() {
        let mut n = network();
        // Identical codes: K is singular.
        for instance in &mut n.instances {
            instance[Stat::T4D.index()] = Tensor::full(&[2, 1, 1, 2], 1.0);
        }
        assert_eq!(naswot(&n), None);
        // A constant Jacobian row has no correlation.
        n.instances[0][Stat::T2GD.index()] = Tensor::full(&[2, 1, 1, 2], 3.0);
        assert_eq!(jacob_cov(&n), None);
        assert_eq!(
            params(&Network {
                instances: Vec::new(),
                accuracy: 0.0
            }),
            None
        );
    }
}
