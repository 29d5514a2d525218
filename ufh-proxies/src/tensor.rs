//! The values expression trees compute on: dense `f32` tensors of any rank, row-major,
//! as the network statistics are (`[N, C, H, W]` activations and gradients,
//! `[O, I, kH, kW]` conv weights) and as the operations' results are (scalars are
//! rank 0).

/// Why an operation cannot take its inputs: a fitness outcome (the tree is
/// invalid), never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// Two shapes that do not broadcast against each other.
    #[error("shapes {0:?} and {1:?} do not broadcast")]
    Broadcast(Vec<usize>, Vec<usize>),
    /// A matrix product whose inner dimensions differ.
    #[error("matrix product of {0:?} and {1:?}: inner dimensions differ")]
    Inner(Vec<usize>, Vec<usize>),
    /// An operation that needs square matrices in its last two dimensions.
    #[error("{0:?} is not a (batch of) square matrices")]
    NotSquare(Vec<usize>),
    /// An operation that needs at least this many dimensions.
    #[error("{shape:?} has fewer than {needed} dimensions")]
    Rank {
        /// The shape given.
        shape: Vec<usize>,
        /// Dimensions needed.
        needed: usize,
    },
    /// A tensor with no elements where values are needed.
    #[error("{0:?} has no elements")]
    Empty(Vec<usize>),
}

/// A dense row-major `f32` tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor of `shape` holding `data` (row-major).
    ///
    /// # Panics
    /// If `data` does not hold exactly the product of `shape` values.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "shape {shape:?} needs {} values",
            shape.iter().product::<usize>()
        );
        Self { shape, data }
    }

    /// A rank-0 tensor.
    pub fn scalar(value: f32) -> Self {
        Self {
            shape: Vec::new(),
            data: vec![value],
        }
    }

    /// A tensor of `shape` filled with `value`.
    pub fn full(shape: &[usize], value: f32) -> Self {
        Self {
            shape: shape.to_vec(),
            data: vec![value; shape.iter().product()],
        }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Whether every value is finite.
    pub fn is_finite(&self) -> bool {
        self.data.iter().all(|v| v.is_finite())
    }

    /// The same values with every one mapped by `f`.
    pub(crate) fn map(&self, f: impl Fn(f32) -> f32) -> Tensor {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }

    /// The values viewed as `[shape[0], rest]` (torch's `reshape(shape[0], -1)`);
    /// a scalar is one row of one value.
    pub(crate) fn rows(&self) -> (usize, usize) {
        match self.shape.first() {
            None => (1, 1),
            Some(&0) => (0, 0),
            Some(&n) => (n, self.data.len() / n),
        }
    }

    /// `f(a, b)` element-wise, with NumPy / PyTorch broadcasting: shapes are
    /// aligned at their last dimension, and a dimension of 1 (or a missing one)
    /// stretches to the other's.
    pub(crate) fn zip(
        &self,
        other: &Tensor,
        f: impl Fn(f32, f32) -> f32,
    ) -> Result<Tensor, ShapeError> {
        if self.shape == other.shape {
            let data = self
                .data
                .iter()
                .zip(&other.data)
                .map(|(&a, &b)| f(a, b))
                .collect();
            return Ok(Tensor {
                shape: self.shape.clone(),
                data,
            });
        }
        let shape = broadcast_shape(&self.shape, &other.shape)?;
        let (sa, sb) = (
            broadcast_strides(&self.shape, &shape),
            broadcast_strides(&other.shape, &shape),
        );
        let n: usize = shape.iter().product();
        let mut data = Vec::with_capacity(n);
        let mut index = vec![0usize; shape.len()];
        let (mut ia, mut ib) = (0usize, 0usize);
        for _ in 0..n {
            data.push(f(self.data[ia], other.data[ib]));
            // Odometer over the output's dimensions, last fastest.
            for d in (0..shape.len()).rev() {
                index[d] += 1;
                ia += sa[d];
                ib += sb[d];
                if index[d] < shape[d] {
                    break;
                }
                ia -= sa[d] * shape[d];
                ib -= sb[d] * shape[d];
                index[d] = 0;
            }
        }
        Ok(Tensor { shape, data })
    }
}

/// The broadcast of two shapes.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ShapeError> {
    let rank = a.len().max(b.len());
    let mut shape = vec![0; rank];
    for (d, slot) in shape.iter_mut().enumerate() {
        let da = (d + a.len()).checked_sub(rank).map_or(1, |i| a[i]);
        let db = (d + b.len()).checked_sub(rank).map_or(1, |i| b[i]);
        *slot = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(ShapeError::Broadcast(a.to_vec(), b.to_vec())),
        };
    }
    Ok(shape)
}

/// Strides of `shape` (row-major) read as the broadcast `to`: 0 where it stretches.
fn broadcast_strides(shape: &[usize], to: &[usize]) -> Vec<usize> {
    let offset = to.len() - shape.len();
    let mut strides = vec![0; to.len()];
    let mut stride = 1;
    for d in (0..shape.len()).rev() {
        strides[d + offset] = if shape[d] == 1 { 0 } else { stride };
        stride *= shape[d];
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        let a = Tensor::new(vec![2, 1, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = Tensor::new(vec![2, 1], vec![10.0, 20.0]);
        let c = a.zip(&b, |x, y| x + y).unwrap();
        assert_eq!(c.shape(), &[2, 2, 3]);
        assert_eq!(
            c.data(),
            &[
                11.0, 12.0, 13.0, 21.0, 22.0, 23.0, 14.0, 15.0, 16.0, 24.0, 25.0, 26.0
            ]
        );
        let s = a.zip(&Tensor::scalar(1.0), |x, y| x * y).unwrap();
        assert_eq!(s, a);
        assert_eq!(
            a.zip(&Tensor::full(&[2], 0.0), |x, _| x),
            Err(ShapeError::Broadcast(vec![2, 1, 3], vec![2]))
        );
        assert_eq!(a.rows(), (2, 3));
        assert_eq!(Tensor::scalar(4.0).rows(), (1, 1));
    }
}
