//! The 34 operations of EZNAS's genetic program (Table 5 of the EZNAS paper, OP0 to
//! OP33), with the semantics the table gives in PyTorch terms, written out for
//! tensors of every shape.
//!
//! Shapes, where the table leaves them to PyTorch:
//! * element-wise binary operations (sum, difference, product, comparisons) and
//!   the Hamming distance broadcast as NumPy and PyTorch do;
//! * the matrix product is `torch.matmul`: 1-D · 1-D is a dot product, 2-D · 1-D a
//!   matrix-vector product, and tensors of rank ≥ 2 multiply their last two
//!   dimensions as a batch of matrices, the batch dimensions broadcast (so a 4-D
//!   `[N, C, H, W]` statistic times itself needs `W == H`);
//! * determinant and log-determinant take a batch of square matrices in the last
//!   two dimensions and give one value per matrix;
//! * the eigenvalue ratios, the cosine similarity and KL's batch mean read a
//!   tensor as `[shape[0], rest]`, as `reshape(shape[0], -1)` does;
//! * softmax picks its dimension as PyTorch's implicit-dimension rule does: 0 for
//!   tensors of rank 0, 1 or 3, else 1.
//!
//! Reductions (Frobenius norm, normalized sum, L1 norm, Hamming distance, cosine
//! similarity, eigenvalue ratios, number of elements) give rank-0 tensors.
//! Comparisons give 0 or 1. Nothing here checks for NaN or infinity: the tree's
//! evaluator rejects any non-finite value, as EZNAS does.
//!
//! Two deviations, forced by the table's use of since-removed PyTorch calls:
//! `torch.symeig` and `torch.eig` both become the eigenvalues of the symmetric
//! matrix they are given, ascending (for OP21's `A·Aᵀ`, `torch.eig` returned real
//! eigenvalues in LAPACK's order, which is not defined), and OP21 reads the ratio
//! of the largest to the smallest, as OP20 does.

use crate::tensor::{ShapeError, Tensor, broadcast_shape};

/// One operation of the genetic program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// OP0 `A + B`.
    Sum,
    /// OP1 `A − B`.
    Difference,
    /// OP2 `A ⊙ B`.
    Product,
    /// OP3 `A @ B` (`torch.matmul`).
    MatMul,
    /// OP4 `A < B`.
    LessThan,
    /// OP5 `A > B`.
    GreaterThan,
    /// OP6 `A == B`.
    EqualTo,
    /// OP7 `log(A)`, with entries ≤ 0 set to 1 first.
    Log,
    /// OP8 `log|A|`, with zeros set to 1 first.
    AbsLog,
    /// OP9 `|A|`.
    Abs,
    /// OP10 `A²`.
    Power,
    /// OP11 `exp(A)`.
    Exp,
    /// OP12 `(A − mean) / std` (unbiased std), NaN set to 0.
    Normalize,
    /// OP13 `max(A, 0)`.
    Relu,
    /// OP14 `sign(A)` (0 at 0).
    Sign,
    /// OP15 Heaviside step, 0 at 0.
    Heaviside,
    /// OP16 `1 / A`.
    Invert,
    /// OP17 Frobenius norm.
    FrobeniusNorm,
    /// OP18 determinant of each square matrix.
    Determinant,
    /// OP19 log-determinant of each square matrix, NaN set to 0.
    LogDeterminant,
    /// OP20 largest over smallest eigenvalue of `M + Mᵀ`, `M = A·Aᵀ` over the rows.
    SymEigRatio,
    /// OP21 largest over smallest eigenvalue of `A·Aᵀ` over the rows.
    EigRatio,
    /// OP22 `Σ A / numel`.
    NormalizedSum,
    /// OP23 `Σ |A| / numel`.
    L1Norm,
    /// OP24 entries where the Heaviside steps of `A` and `B` differ.
    HammingDistance,
    /// OP25 `KLDivLoss('batchmean')(A, B)`: `Σ B (log B − A) / shape[0]`.
    KlDivergence,
    /// OP26 summed row-wise cosine similarity of `A` and `B` over the rows.
    CosineSimilarity,
    /// OP27 softmax over PyTorch's implicit dimension.
    Softmax,
    /// OP28 logistic sigmoid.
    Sigmoid,
    /// OP29 ones of `A`'s shape.
    OnesLike,
    /// OP30 zeros of `A`'s shape.
    ZerosLike,
    /// OP31 `A > 0`.
    GreaterThanZero,
    /// OP32 `A < 0`.
    LessThanZero,
    /// OP33 the number of elements of `A`.
    NumberOfElements,
}

impl Op {
    /// Every operation, in Table 5's order (`ALL[i]` is OP`i`).
    pub const ALL: [Op; 34] = [
        Op::Sum,
        Op::Difference,
        Op::Product,
        Op::MatMul,
        Op::LessThan,
        Op::GreaterThan,
        Op::EqualTo,
        Op::Log,
        Op::AbsLog,
        Op::Abs,
        Op::Power,
        Op::Exp,
        Op::Normalize,
        Op::Relu,
        Op::Sign,
        Op::Heaviside,
        Op::Invert,
        Op::FrobeniusNorm,
        Op::Determinant,
        Op::LogDeterminant,
        Op::SymEigRatio,
        Op::EigRatio,
        Op::NormalizedSum,
        Op::L1Norm,
        Op::HammingDistance,
        Op::KlDivergence,
        Op::CosineSimilarity,
        Op::Softmax,
        Op::Sigmoid,
        Op::OnesLike,
        Op::ZerosLike,
        Op::GreaterThanZero,
        Op::LessThanZero,
        Op::NumberOfElements,
    ];

    /// Inputs the operation reads: 2 for OP0–OP6 and OP24–OP26, else 1.
    pub fn arity(self) -> usize {
        match self {
            Op::Sum
            | Op::Difference
            | Op::Product
            | Op::MatMul
            | Op::LessThan
            | Op::GreaterThan
            | Op::EqualTo
            | Op::HammingDistance
            | Op::KlDivergence
            | Op::CosineSimilarity => 2,
            _ => 1,
        }
    }

    /// Whether swapping the two inputs never changes the result.
    pub fn commutative(self) -> bool {
        matches!(
            self,
            Op::Sum | Op::Product | Op::EqualTo | Op::HammingDistance | Op::CosineSimilarity
        )
    }

    /// Applies the operation to `a` (and `b` for binary operations; ignored
    /// otherwise).
    pub fn apply(self, a: &Tensor, b: &Tensor) -> Result<Tensor, ShapeError> {
        let bool_f = |c: bool| if c { 1.0 } else { 0.0 };
        let heaviside = |v: f32| bool_f(v > 0.0);
        Ok(match self {
            Op::Sum => a.zip(b, |x, y| x + y)?,
            Op::Difference => a.zip(b, |x, y| x - y)?,
            Op::Product => a.zip(b, |x, y| x * y)?,
            Op::MatMul => matmul(a, b)?,
            Op::LessThan => a.zip(b, |x, y| bool_f(x < y))?,
            Op::GreaterThan => a.zip(b, |x, y| bool_f(x > y))?,
            Op::EqualTo => a.zip(b, |x, y| bool_f(x == y))?,
            Op::Log => a.map(|v| if v <= 0.0 { 0.0 } else { v.ln() }),
            Op::AbsLog => a.map(|v| if v == 0.0 { 0.0 } else { v.abs().ln() }),
            Op::Abs => a.map(f32::abs),
            Op::Power => a.map(|v| v * v),
            Op::Exp => a.map(f32::exp),
            Op::Normalize => normalize(a),
            Op::Relu => a.map(|v| v.max(0.0)),
            Op::Sign => a.map(|v| {
                if v > 0.0 {
                    1.0
                } else if v < 0.0 {
                    -1.0
                } else {
                    v // ±0 stays, NaN stays NaN
                }
            }),
            Op::Heaviside => a.map(|v| if v.is_nan() { v } else { heaviside(v) }),
            Op::Invert => a.map(|v| 1.0 / v),
            Op::FrobeniusNorm => {
                let sum: f64 = a.data().iter().map(|&v| f64::from(v) * f64::from(v)).sum();
                Tensor::scalar(sum.sqrt() as f32)
            }
            Op::Determinant => per_matrix(a, determinant)?,
            Op::LogDeterminant => per_matrix(a, |m, n| {
                let d = determinant(m, n);
                // torch.logdet: NaN for a negative determinant (then set to 0),
                // −∞ for a zero one (which the evaluator rejects).
                if d < 0.0 { 0.0 } else { d.ln() }
            })?,
            Op::SymEigRatio => {
                let gram = gram(a)?;
                let n = a.rows().0;
                let mut sym = vec![0.0; n * n];
                for i in 0..n {
                    for j in 0..n {
                        sym[i * n + j] = gram[i * n + j] + gram[j * n + i];
                    }
                }
                eig_ratio(sym, n)
            }
            Op::EigRatio => eig_ratio(gram(a)?, a.rows().0),
            Op::NormalizedSum => Tensor::scalar(mean(a.data())?),
            Op::L1Norm => {
                let abs: Vec<f32> = a.data().iter().map(|v| v.abs()).collect();
                Tensor::scalar(mean(&abs)?)
            }
            Op::HammingDistance => {
                let differ = a.zip(b, |x, y| bool_f(heaviside(x) != heaviside(y)))?;
                Tensor::scalar(differ.data().iter().sum())
            }
            Op::KlDivergence => {
                let terms = a.zip(b, |x, t| {
                    if t > 0.0 {
                        t * (t.ln() - x)
                    } else if t == 0.0 {
                        0.0
                    } else {
                        f32::NAN
                    }
                })?;
                let rows = terms.rows().0.max(1);
                Tensor::scalar(
                    terms.data().iter().map(|&v| f64::from(v)).sum::<f64>() as f32 / rows as f32,
                )
            }
            Op::CosineSimilarity => cosine(a, b)?,
            Op::Softmax => softmax(a),
            Op::Sigmoid => a.map(|v| 1.0 / (1.0 + (-v).exp())),
            Op::OnesLike => Tensor::full(a.shape(), 1.0),
            Op::ZerosLike => Tensor::full(a.shape(), 0.0),
            Op::GreaterThanZero => a.map(|v| bool_f(v > 0.0)),
            Op::LessThanZero => a.map(|v| bool_f(v < 0.0)),
            Op::NumberOfElements => Tensor::new(vec![1], vec![a.numel() as f32]),
        })
    }
}

/// The mean of `values`, summed in `f64`.
fn mean(values: &[f32]) -> Result<f32, ShapeError> {
    if values.is_empty() {
        return Err(ShapeError::Empty(vec![0]));
    }
    Ok((values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64) as f32)
}

fn normalize(a: &Tensor) -> Tensor {
    let n = a.numel() as f64;
    let mean = a.data().iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = a
        .data()
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    let sd = var.sqrt();
    a.map(|v| {
        let c = ((f64::from(v) - mean) / sd) as f32;
        if c.is_nan() { 0.0 } else { c }
    })
}

/// `torch.matmul`.
fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor, ShapeError> {
    let (sa, sb) = (a.shape(), b.shape());
    let inner = |x: usize, y: usize| {
        if x == y {
            Ok(())
        } else {
            Err(ShapeError::Inner(sa.to_vec(), sb.to_vec()))
        }
    };
    match (sa.len(), sb.len()) {
        (0, _) | (_, 0) => Err(ShapeError::Rank {
            shape: if sa.is_empty() {
                sa.to_vec()
            } else {
                sb.to_vec()
            },
            needed: 1,
        }),
        (1, 1) => {
            inner(sa[0], sb[0])?;
            let dot: f32 = a.data().iter().zip(b.data()).map(|(x, y)| x * y).sum();
            Ok(Tensor::scalar(dot))
        }
        _ => {
            // Promote vectors to matrices, multiply as batches, drop the added
            // dimension again.
            let (a2, drop_row) = if sa.len() == 1 {
                (vec![1, sa[0]], true)
            } else {
                (sa.to_vec(), false)
            };
            let (b2, drop_col) = if sb.len() == 1 {
                (vec![sb[0], 1], true)
            } else {
                (sb.to_vec(), false)
            };
            let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
            let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
            inner(k, k2)?;
            let batch = broadcast_shape(&a2[..a2.len() - 2], &b2[..b2.len() - 2])
                .map_err(|_| ShapeError::Broadcast(sa.to_vec(), sb.to_vec()))?;
            let batches: usize = batch.iter().product();
            let index_in = |shape: &[usize], flat: usize| -> usize {
                // The batch index of `flat` (over `batch`) in a batch shape that
                // broadcasts to it.
                let mut rest = flat;
                let mut index = 0;
                let mut stride = 1;
                for d in (0..batch.len()).rev() {
                    let coordinate = rest % batch[d];
                    rest /= batch[d];
                    let offset = batch.len() - shape.len();
                    if d >= offset {
                        let size = shape[d - offset];
                        if size != 1 {
                            index += coordinate * stride;
                        }
                        stride *= size;
                    }
                }
                index
            };
            let mut data = vec![0f32; batches * m * n];
            for t in 0..batches {
                let ia = index_in(&a2[..a2.len() - 2], t) * m * k;
                let ib = index_in(&b2[..b2.len() - 2], t) * k * n;
                let out = &mut data[t * m * n..(t + 1) * m * n];
                for i in 0..m {
                    for kk in 0..k {
                        let w = a.data()[ia + i * k + kk];
                        let row = &b.data()[ib + kk * n..ib + (kk + 1) * n];
                        for (o, &v) in out[i * n..(i + 1) * n].iter_mut().zip(row) {
                            *o += w * v;
                        }
                    }
                }
            }
            let mut shape = batch;
            if !drop_row {
                shape.push(m);
            }
            if !drop_col {
                shape.push(n);
            }
            Ok(Tensor::new(shape, data))
        }
    }
}

/// `f` of every square matrix in the last two dimensions of `a`, in `f64`; the
/// result has the batch shape.
fn per_matrix(a: &Tensor, f: impl Fn(&mut [f64], usize) -> f64) -> Result<Tensor, ShapeError> {
    let s = a.shape();
    if s.len() < 2 {
        return Err(ShapeError::Rank {
            shape: s.to_vec(),
            needed: 2,
        });
    }
    let n = s[s.len() - 1];
    if s[s.len() - 2] != n {
        return Err(ShapeError::NotSquare(s.to_vec()));
    }
    let batch = s[..s.len() - 2].to_vec();
    let data = if n == 0 {
        vec![1.0; batch.iter().product()]
    } else {
        a.data()
            .chunks_exact(n * n)
            .map(|m| {
                let mut m: Vec<f64> = m.iter().map(|&v| f64::from(v)).collect();
                f(&mut m, n) as f32
            })
            .collect()
    };
    Ok(Tensor::new(batch, data))
}

/// LU decomposition with partial pivoting of the `n × n` matrix `m` (destroys
/// it): the sign of the row permutation and the pivots in column order, or
/// `None` if a pivot is zero (the matrix is singular).
pub(crate) fn lu_pivots(m: &mut [f64], n: usize) -> Option<(f64, Vec<f64>)> {
    let mut sign = 1.0;
    let mut pivots = Vec::with_capacity(n);
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| m[i * n + col].abs().total_cmp(&m[j * n + col].abs()))
            .expect("a column");
        if m[pivot * n + col] == 0.0 {
            return None;
        }
        if pivot != col {
            for j in 0..n {
                m.swap(pivot * n + j, col * n + j);
            }
            sign = -sign;
        }
        let p = m[col * n + col];
        pivots.push(p);
        for row in col + 1..n {
            let factor = m[row * n + col] / p;
            for j in col..n {
                m[row * n + j] -= factor * m[col * n + j];
            }
        }
    }
    Some((sign, pivots))
}

/// Determinant by LU decomposition with partial pivoting (destroys `m`).
fn determinant(m: &mut [f64], n: usize) -> f64 {
    lu_pivots(m, n).map_or(0.0, |(sign, pivots)| sign * pivots.iter().product::<f64>())
}

/// `A·Aᵀ` of `a` read as `[rows, rest]`, in `f64`.
fn gram(a: &Tensor) -> Result<Vec<f64>, ShapeError> {
    let (rows, cols) = a.rows();
    if rows == 0 {
        return Err(ShapeError::Empty(a.shape().to_vec()));
    }
    let d = a.data();
    let mut g = vec![0.0; rows * rows];
    for i in 0..rows {
        for j in i..rows {
            let dot: f64 = (0..cols)
                .map(|c| f64::from(d[i * cols + c]) * f64::from(d[j * cols + c]))
                .sum();
            g[i * rows + j] = dot;
            g[j * rows + i] = dot;
        }
    }
    Ok(g)
}

/// Eigenvalues of the symmetric `n × n` matrix `m`, ascending (cyclic Jacobi).
pub(crate) fn symmetric_eigenvalues(mut m: Vec<f64>, n: usize) -> Vec<f64> {
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum();
        let scale: f64 = m.iter().map(|v| v * v).sum();
        if off <= 1e-30 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * akp - s * akq;
                    m[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * apk - s * aqk;
                    m[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut e: Vec<f64> = (0..n).map(|i| m[i * n + i]).collect();
    e.sort_by(f64::total_cmp);
    e
}

fn eig_ratio(m: Vec<f64>, n: usize) -> Tensor {
    let e = symmetric_eigenvalues(m, n);
    Tensor::scalar((e[n - 1] / e[0]) as f32)
}

fn cosine(a: &Tensor, b: &Tensor) -> Result<Tensor, ShapeError> {
    let ((ra, ca), (rb, cb)) = (a.rows(), b.rows());
    if (ra, ca) != (rb, cb) {
        return Err(ShapeError::Broadcast(
            a.shape().to_vec(),
            b.shape().to_vec(),
        ));
    }
    const EPS: f64 = 1e-8;
    let (x, y) = (a.data(), b.data());
    let mut total = 0.0f64;
    for r in 0..ra {
        let (mut dot, mut nx, mut ny) = (0.0f64, 0.0f64, 0.0f64);
        for c in 0..ca {
            let (u, v) = (f64::from(x[r * ca + c]), f64::from(y[r * ca + c]));
            dot += u * v;
            nx += u * u;
            ny += v * v;
        }
        total += dot / (nx.sqrt() * ny.sqrt()).max(EPS);
    }
    Ok(Tensor::scalar(total as f32))
}

/// Softmax along PyTorch's implicit dimension: 0 for rank 0, 1 or 3, else 1.
fn softmax(a: &Tensor) -> Tensor {
    let s = a.shape();
    if s.is_empty() {
        return a.map(|v| if v.is_nan() { v } else { 1.0 });
    }
    let dim = if matches!(s.len(), 1 | 3) { 0 } else { 1 };
    let size = s[dim];
    let inner: usize = s[dim + 1..].iter().product();
    let outer: usize = s[..dim].iter().product();
    let mut out = a.data().to_vec();
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * size + k) * inner + i;
            let max = (0..size)
                .map(|k| out[at(k)])
                .fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for k in 0..size {
                let e = (out[at(k)] - max).exp();
                out[at(k)] = e;
                sum += e;
            }
            for k in 0..size {
                out[at(k)] /= sum;
            }
        }
    }
    Tensor::new(s.to_vec(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], data: &[f32]) -> Tensor {
        Tensor::new(shape.to_vec(), data.to_vec())
    }

    fn close(a: &Tensor, shape: &[usize], want: &[f32]) {
        assert_eq!(a.shape(), shape, "{a:?}");
        for (x, y) in a.data().iter().zip(want) {
            assert!(
                (x - y).abs() <= 1e-5 * y.abs().max(1.0),
                "{a:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn element_wise_operations() {
        let a = t(&[2, 2], &[1.0, -2.0, 0.0, 4.0]);
        let b = t(&[2, 2], &[3.0, -2.0, 1.0, 0.5]);
        let none = Tensor::scalar(0.0);
        close(
            &Op::Sum.apply(&a, &b).unwrap(),
            &[2, 2],
            &[4.0, -4.0, 1.0, 4.5],
        );
        close(
            &Op::Difference.apply(&a, &b).unwrap(),
            &[2, 2],
            &[-2.0, 0.0, -1.0, 3.5],
        );
        close(
            &Op::Product.apply(&a, &b).unwrap(),
            &[2, 2],
            &[3.0, 4.0, 0.0, 2.0],
        );
        close(
            &Op::LessThan.apply(&a, &b).unwrap(),
            &[2, 2],
            &[1.0, 0.0, 1.0, 0.0],
        );
        close(
            &Op::GreaterThan.apply(&a, &b).unwrap(),
            &[2, 2],
            &[0.0, 0.0, 0.0, 1.0],
        );
        close(
            &Op::EqualTo.apply(&a, &b).unwrap(),
            &[2, 2],
            &[0.0, 1.0, 0.0, 0.0],
        );
        // Log sets entries <= 0 to 1 (log 1 = 0); AbsLog only zeros.
        close(
            &Op::Log.apply(&a, &none).unwrap(),
            &[2, 2],
            &[0.0, 0.0, 0.0, 4f32.ln()],
        );
        close(
            &Op::AbsLog.apply(&a, &none).unwrap(),
            &[2, 2],
            &[0.0, 2f32.ln(), 0.0, 4f32.ln()],
        );
        close(
            &Op::Abs.apply(&a, &none).unwrap(),
            &[2, 2],
            &[1.0, 2.0, 0.0, 4.0],
        );
        close(
            &Op::Power.apply(&a, &none).unwrap(),
            &[2, 2],
            &[1.0, 4.0, 0.0, 16.0],
        );
        close(
            &Op::Exp.apply(&a, &none).unwrap(),
            &[2, 2],
            &[1f32.exp(), (-2f32).exp(), 1.0, 4f32.exp()],
        );
        close(
            &Op::Relu.apply(&a, &none).unwrap(),
            &[2, 2],
            &[1.0, 0.0, 0.0, 4.0],
        );
        close(
            &Op::Sign.apply(&a, &none).unwrap(),
            &[2, 2],
            &[1.0, -1.0, 0.0, 1.0],
        );
        close(
            &Op::Heaviside.apply(&a, &none).unwrap(),
            &[2, 2],
            &[1.0, 0.0, 0.0, 1.0],
        );
        close(
            &Op::Invert.apply(&b, &none).unwrap(),
            &[2, 2],
            &[1.0 / 3.0, -0.5, 1.0, 2.0],
        );
        close(
            &Op::Sigmoid.apply(&a, &none).unwrap(),
            &[2, 2],
            &[0.731_058_6, 0.119_202_92, 0.5, 0.982_013_8],
        );
        close(&Op::OnesLike.apply(&a, &none).unwrap(), &[2, 2], &[1.0; 4]);
        close(&Op::ZerosLike.apply(&a, &none).unwrap(), &[2, 2], &[0.0; 4]);
        close(
            &Op::GreaterThanZero.apply(&a, &none).unwrap(),
            &[2, 2],
            &[1.0, 0.0, 0.0, 1.0],
        );
        close(
            &Op::LessThanZero.apply(&a, &none).unwrap(),
            &[2, 2],
            &[0.0, 1.0, 0.0, 0.0],
        );
        close(
            &Op::NumberOfElements.apply(&a, &none).unwrap(),
            &[1],
            &[4.0],
        );
        // Normalize: mean 0.75, deviations 0.25, −2.75, −0.75, 3.25, unbiased sd
        // √(18.75 / 3) = 2.5.
        close(
            &Op::Normalize.apply(&a, &none).unwrap(),
            &[2, 2],
            &[0.1, -1.1, -0.3, 1.3],
        );
        // A constant tensor has sd 0: NaN set to 0.
        close(
            &Op::Normalize.apply(&t(&[3], &[2.0; 3]), &none).unwrap(),
            &[3],
            &[0.0; 3],
        );
    }

    #[test]
    fn reductions() {
        let a = t(&[2, 2], &[1.0, -2.0, 0.0, 4.0]);
        let b = t(&[2, 2], &[3.0, -2.0, 1.0, 0.5]);
        let none = Tensor::scalar(0.0);
        close(
            &Op::FrobeniusNorm.apply(&a, &none).unwrap(),
            &[],
            &[21f32.sqrt()],
        );
        close(&Op::NormalizedSum.apply(&a, &none).unwrap(), &[], &[0.75]);
        close(&Op::L1Norm.apply(&a, &none).unwrap(), &[], &[1.75]);
        // Heaviside: a → [1, 0, 0, 1], b → [1, 0, 1, 1]: one difference.
        close(&Op::HammingDistance.apply(&a, &b).unwrap(), &[], &[1.0]);
        // Rows [1, −2]·[3, −2] = 7 over √5·√13; [0, 4]·[1, 0.5] = 2 over 4·√1.25.
        let cos = 7.0 / (5f32.sqrt() * 13f32.sqrt()) + 2.0 / (4.0 * 1.25f32.sqrt());
        close(&Op::CosineSimilarity.apply(&a, &b).unwrap(), &[], &[cos]);
        // KL with log-probabilities a and target p: Σ p (log p − a) / rows.
        let p = t(&[2, 2], &[0.5, 0.5, 1.0, 0.0]);
        let kl = (0.5 * (0.5f32.ln() - 1.0) + 0.5 * (0.5f32.ln() + 2.0) + (0.0 - 0.0)) / 2.0;
        close(&Op::KlDivergence.apply(&a, &p).unwrap(), &[], &[kl]);
    }

    #[test]
    fn linear_algebra() {
        let none = Tensor::scalar(0.0);
        let a = t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = t(&[2, 2], &[0.0, 1.0, 1.0, 0.0]);
        close(
            &Op::MatMul.apply(&a, &b).unwrap(),
            &[2, 2],
            &[2.0, 1.0, 4.0, 3.0],
        );
        // Vector cases and a broadcast batch.
        let v = t(&[2], &[1.0, -1.0]);
        close(&Op::MatMul.apply(&v, &v).unwrap(), &[], &[2.0]);
        close(&Op::MatMul.apply(&a, &v).unwrap(), &[2], &[-1.0, -1.0]);
        close(&Op::MatMul.apply(&v, &a).unwrap(), &[2], &[-2.0, -2.0]);
        let batch = t(&[2, 1, 2, 2], &[1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 2.0]);
        let product = Op::MatMul.apply(&batch, &a).unwrap();
        close(
            &product,
            &[2, 1, 2, 2],
            &[1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0],
        );
        assert_eq!(
            Op::MatMul.apply(&t(&[2, 3], &[0.0; 6]), &a),
            Err(ShapeError::Inner(vec![2, 3], vec![2, 2]))
        );
        // det [[1, 2], [3, 4]] = −2: logdet of a negative determinant is NaN, set to 0.
        close(&Op::Determinant.apply(&a, &none).unwrap(), &[], &[-2.0]);
        close(&Op::LogDeterminant.apply(&a, &none).unwrap(), &[], &[0.0]);
        close(
            &Op::LogDeterminant.apply(&batch, &none).unwrap(),
            &[2, 1],
            &[0.0, 4f32.ln()],
        );
        let three = t(&[3, 3], &[2.0, 0.0, 1.0, 1.0, 3.0, 2.0, 1.0, 1.0, 2.0]);
        close(&Op::Determinant.apply(&three, &none).unwrap(), &[], &[6.0]);
        assert_eq!(
            Op::Determinant.apply(&t(&[2, 3], &[0.0; 6]), &none),
            Err(ShapeError::NotSquare(vec![2, 3]))
        );
        // A·Aᵀ of rows [1, 0] and [1, 1] is [[1, 1], [1, 2]]: eigenvalues (3 ∓ √5)/2.
        let rows = t(&[2, 2], &[1.0, 0.0, 1.0, 1.0]);
        let ratio = (3.0 + 5f32.sqrt()) / (3.0 - 5f32.sqrt());
        close(&Op::EigRatio.apply(&rows, &none).unwrap(), &[], &[ratio]);
        // M + Mᵀ doubles a symmetric M: the same ratio.
        close(&Op::SymEigRatio.apply(&rows, &none).unwrap(), &[], &[ratio]);
    }

    #[test]
    fn softmax_follows_the_implicit_dimension() {
        let none = Tensor::scalar(0.0);
        let e = |x: f32| x.exp();
        // Rank 2: over dimension 1 (each row sums to 1).
        let a = t(&[2, 2], &[0.0, 1.0, 2.0, 2.0]);
        close(
            &Op::Softmax.apply(&a, &none).unwrap(),
            &[2, 2],
            &[1.0 / (1.0 + e(1.0)), e(1.0) / (1.0 + e(1.0)), 0.5, 0.5],
        );
        // Rank 1 and 3: over dimension 0.
        let v = t(&[2], &[0.0, 1.0]);
        close(
            &Op::Softmax.apply(&v, &none).unwrap(),
            &[2],
            &[1.0 / (1.0 + e(1.0)), e(1.0) / (1.0 + e(1.0))],
        );
        let cube = t(&[2, 1, 1], &[3.0, 3.0]);
        close(
            &Op::Softmax.apply(&cube, &none).unwrap(),
            &[2, 1, 1],
            &[0.5, 0.5],
        );
    }

    #[test]
    fn table_five_has_thirty_four_operations_in_order() {
        assert_eq!(Op::ALL.len(), 34);
        assert_eq!(Op::ALL[3], Op::MatMul);
        assert_eq!(Op::ALL[19], Op::LogDeterminant);
        assert_eq!(Op::ALL[33], Op::NumberOfElements);
        let binary: Vec<usize> = (0..34).filter(|&i| Op::ALL[i].arity() == 2).collect();
        assert_eq!(binary, vec![0, 1, 2, 3, 4, 5, 6, 24, 25, 26]);
        // Commutative operations give the same result either way round.
        let a = t(&[2, 2], &[1.0, -2.0, 0.0, 4.0]);
        let b = t(&[2, 2], &[3.0, -2.0, 1.0, 0.5]);
        for op in Op::ALL.into_iter().filter(|op| op.commutative()) {
            assert_eq!(op.apply(&a, &b), op.apply(&b, &a), "{op:?}");
        }
    }
}
