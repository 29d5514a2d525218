//! The layers of mobile networks (MnasNet's space): a convolution of any odd
//! kernel and stride 1 or 2, the depthwise convolution, batch normalisation as
//! a layer of its own (the ReLU is `layers.rs`'), global average pooling, and
//! squeeze-and-excite. MBConv (the inverted bottleneck) is a sequence of them,
//! built by [`crate::mnas`].
//!
//! Every layer keeps what its backward pass needs from the last training-mode
//! forward pass. Every sum runs in one fixed order (the [`super::kernels`] or a
//! plain loop) and nothing fuses a multiply and an add, so results are
//! bit-identical on every machine.

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::kernels::{dot, matmul_acc, matmul_at_acc, matmul_bt_acc, sum};
use super::layers::{Param, Tensor, kaiming, normalize_channels, normalize_row_backward};

/// Output side of a `kernel`-wide window at `stride` with padding `kernel / 2`.
pub(crate) fn out_side(side: usize, kernel: usize, stride: usize) -> usize {
    (side + 2 * (kernel / 2) - kernel) / stride + 1
}

/// A convolution without bias: `kernel × kernel` (odd), stride 1 or 2, zero
/// padding `kernel / 2`, He-normal weights (fan-in).
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    kernel: usize,
    stride: usize,
    in_channels: usize,
    out_channels: usize,
    pub(crate) weight: Param,
    col: Vec<f32>,
    input_shape: (usize, usize, usize),
}

/// im2col of a convolution: `col[(c·k² + ky·k + kx)][image·oh·ow + y·ow + x]` is
/// input pixel `(y·s + ky − p, x·s + kx − p)` of channel `c`, or 0 outside.
fn im2col(input: &Tensor, kernel: usize, stride: usize, col: &mut Vec<f32>) -> (usize, usize) {
    let (h, w, pad) = (input.h, input.w, kernel / 2);
    let (oh, ow) = (out_side(h, kernel, stride), out_side(w, kernel, stride));
    let n = input.images * oh * ow;
    col.clear();
    col.resize(input.channels * kernel * kernel * n, 0.0);
    for c in 0..input.channels {
        for ky in 0..kernel {
            for kx in 0..kernel {
                let row = (c * kernel * kernel + ky * kernel + kx) * n;
                for image in 0..input.images {
                    let src = (c * input.images + image) * h * w;
                    for y in 0..oh {
                        let sy = (y * stride + ky).wrapping_sub(pad);
                        if sy >= h {
                            continue;
                        }
                        for x in 0..ow {
                            let sx = (x * stride + kx).wrapping_sub(pad);
                            if sx < w {
                                col[row + image * oh * ow + y * ow + x] =
                                    input.data[src + sy * w + sx];
                            }
                        }
                    }
                }
            }
        }
    }
    (oh, ow)
}

/// The adjoint of [`im2col`]: `grad += col2im(dcol)`, in [`im2col`]'s order.
fn col2im(dcol: &[f32], kernel: usize, stride: usize, grad: &mut Tensor) {
    let (h, w, pad) = (grad.h, grad.w, kernel / 2);
    let (oh, ow) = (out_side(h, kernel, stride), out_side(w, kernel, stride));
    let n = grad.images * oh * ow;
    for c in 0..grad.channels {
        for ky in 0..kernel {
            for kx in 0..kernel {
                let row = (c * kernel * kernel + ky * kernel + kx) * n;
                for image in 0..grad.images {
                    let dst = (c * grad.images + image) * h * w;
                    for y in 0..oh {
                        let sy = (y * stride + ky).wrapping_sub(pad);
                        if sy >= h {
                            continue;
                        }
                        for x in 0..ow {
                            let sx = (x * stride + kx).wrapping_sub(pad);
                            if sx < w {
                                grad.data[dst + sy * w + sx] +=
                                    dcol[row + image * oh * ow + y * ow + x];
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Conv {
    pub(crate) fn new(
        kernel: usize,
        stride: usize,
        in_channels: usize,
        out_channels: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Self {
        debug_assert!(kernel % 2 == 1 && (stride == 1 || stride == 2));
        let fan_in = in_channels * kernel * kernel;
        let weight = kaiming(out_channels * fan_in, fan_in, rng);
        Self {
            kernel,
            stride,
            in_channels,
            out_channels,
            weight: Param::new(weight, true),
            col: Vec::new(),
            input_shape: (0, 0, 0),
        }
    }

    /// Whether the layer reads its input as it is (1×1, stride 1: no im2col).
    fn pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1
    }

    pub(crate) fn forward(&mut self, input: &Tensor, training: bool) -> Tensor {
        debug_assert_eq!(input.channels, self.in_channels);
        let k = self.in_channels * self.kernel * self.kernel;
        let mut col = std::mem::take(&mut self.col);
        let (oh, ow, source): (usize, usize, &[f32]) = if self.pointwise() {
            (input.h, input.w, &input.data)
        } else {
            let (oh, ow) = im2col(input, self.kernel, self.stride, &mut col);
            (oh, ow, &col)
        };
        let n = input.images * oh * ow;
        let mut out = Tensor::zeros(self.out_channels, input.images, oh, ow);
        matmul_acc(
            &mut out.data,
            &self.weight.value,
            source,
            self.out_channels,
            k,
            n,
        );
        if training {
            if self.pointwise() {
                col.clear();
                col.extend_from_slice(&input.data);
            }
            self.input_shape = (input.images, input.h, input.w);
        }
        self.col = col;
        out
    }

    pub(crate) fn backward(&mut self, grad_output: &Tensor) -> Tensor {
        let (images, h, w) = self.input_shape;
        let k = self.in_channels * self.kernel * self.kernel;
        let n = grad_output.row();
        matmul_bt_acc(
            &mut self.weight.grad,
            &grad_output.data,
            &self.col,
            self.out_channels,
            k,
            n,
        );
        let mut grad_input = Tensor::zeros(self.in_channels, images, h, w);
        if self.pointwise() {
            matmul_at_acc(
                &mut grad_input.data,
                &self.weight.value,
                &grad_output.data,
                self.out_channels,
                k,
                n,
            );
        } else {
            let mut dcol = vec![0f32; k * n];
            matmul_at_acc(
                &mut dcol,
                &self.weight.value,
                &grad_output.data,
                self.out_channels,
                k,
                n,
            );
            col2im(&dcol, self.kernel, self.stride, &mut grad_input);
        }
        grad_input
    }
}

/// A depthwise convolution without bias: one `kernel × kernel` filter per
/// channel, stride 1 or 2, zero padding `kernel / 2`, He-normal weights (fan-in
/// `kernel²`).
#[derive(Debug, Clone)]
pub(crate) struct Depthwise {
    kernel: usize,
    stride: usize,
    channels: usize,
    pub(crate) weight: Param,
    input: Tensor,
}

impl Depthwise {
    pub(crate) fn new(
        kernel: usize,
        stride: usize,
        channels: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Self {
        debug_assert!(kernel % 2 == 1 && (stride == 1 || stride == 2));
        let weight = kaiming(channels * kernel * kernel, kernel * kernel, rng);
        Self {
            kernel,
            stride,
            channels,
            weight: Param::new(weight, true),
            input: Tensor::zeros(0, 0, 0, 0),
        }
    }

    /// Calls `f(weight index, output row start, input row start, x0, x1)` for
    /// every kernel tap and output row, taps outermost: output `x` of the row in
    /// `x0..x1` reads input `x · stride + kx − pad` of the input row. Every output
    /// pixel thus sums its taps in `(ky, kx)` order.
    fn for_each_row(
        &self,
        images: usize,
        h: usize,
        w: usize,
        mut f: impl FnMut(usize, usize, usize, usize, usize),
    ) {
        let (k, s, pad) = (self.kernel, self.stride, self.kernel / 2);
        let (oh, ow) = (out_side(h, k, s), out_side(w, k, s));
        for c in 0..self.channels {
            for image in 0..images {
                let plane = c * images + image;
                for ky in 0..k {
                    for kx in 0..k {
                        // Outputs whose input column x·s + kx − pad lies in 0..w.
                        let x0 = pad.saturating_sub(kx).div_ceil(s);
                        let last = (w + pad) as isize - 1 - kx as isize;
                        let x1 = if last < 0 {
                            0
                        } else {
                            (last as usize / s + 1).min(ow)
                        };
                        if x0 >= x1 {
                            continue;
                        }
                        for y in 0..oh {
                            let sy = (y * s + ky).wrapping_sub(pad);
                            if sy >= h {
                                continue;
                            }
                            // Input column of output x0.
                            let sx0 = x0 * s + kx - pad;
                            f(
                                c * k * k + ky * k + kx,
                                plane * oh * ow + y * ow + x0,
                                plane * h * w + sy * w + sx0,
                                x0,
                                x1,
                            );
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn forward(&mut self, input: &Tensor, training: bool) -> Tensor {
        debug_assert_eq!(input.channels, self.channels);
        let (oh, ow) = (
            out_side(input.h, self.kernel, self.stride),
            out_side(input.w, self.kernel, self.stride),
        );
        let mut out = Tensor::zeros(self.channels, input.images, oh, ow);
        let (weight, s) = (&self.weight.value, self.stride);
        self.for_each_row(input.images, input.h, input.w, |k, o, i, x0, x1| {
            let wk = weight[k];
            let out_row = &mut out.data[o..o + (x1 - x0)];
            if s == 1 {
                for (y, &x) in out_row.iter_mut().zip(&input.data[i..i + (x1 - x0)]) {
                    *y += wk * x;
                }
            } else {
                for (j, y) in out_row.iter_mut().enumerate() {
                    *y += wk * input.data[i + j * s];
                }
            }
        });
        if training {
            self.input.clone_from(input);
        }
        out
    }

    pub(crate) fn backward(&mut self, grad_output: &Tensor) -> Tensor {
        let input = std::mem::replace(&mut self.input, Tensor::zeros(0, 0, 0, 0));
        let mut grad_input = Tensor::zeros(self.channels, input.images, input.h, input.w);
        let mut grad_weight = std::mem::take(&mut self.weight.grad);
        let (weight, s) = (&self.weight.value, self.stride);
        self.for_each_row(input.images, input.h, input.w, |k, o, i, x0, x1| {
            let wk = weight[k];
            let g = &grad_output.data[o..o + (x1 - x0)];
            let mut total = 0f32;
            for (j, &g) in g.iter().enumerate() {
                total += g * input.data[i + j * s];
                grad_input.data[i + j * s] += g * wk;
            }
            grad_weight[k] += total;
        });
        self.weight.grad = grad_weight;
        self.input = input;
        grad_input
    }
}

/// Batch normalisation of each channel: batch statistics in training mode
/// (running ones updated), running statistics in inference mode; γ = 1, β = 0 at
/// the start. The arithmetic is the conv blocks' ([`normalize_channels`]).
#[derive(Debug, Clone)]
pub(crate) struct BatchNorm {
    channels: usize,
    pub(crate) gamma: Param,
    pub(crate) beta: Param,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
    normalized: Vec<f32>,
    inv_std: Vec<f32>,
}

impl BatchNorm {
    pub(crate) fn new(channels: usize) -> Self {
        Self {
            channels,
            gamma: Param::new(vec![1.0; channels], false),
            beta: Param::new(vec![0.0; channels], false),
            running_mean: vec![0.0; channels],
            running_var: vec![1.0; channels],
            normalized: Vec::new(),
            inv_std: vec![0.0; channels],
        }
    }

    pub(crate) fn forward(&mut self, input: &Tensor, training: bool) -> Tensor {
        let n = input.row();
        let mut out = input.clone();
        normalize_channels(
            &mut out.data,
            &mut self.running_mean,
            &mut self.running_var,
            &mut self.inv_std,
            training,
        );
        if training {
            self.normalized.clone_from(&out.data);
        }
        for c in 0..self.channels {
            let (gamma, beta) = (self.gamma.value[c], self.beta.value[c]);
            for v in &mut out.data[c * n..(c + 1) * n] {
                *v = gamma * *v + beta;
            }
        }
        out
    }

    pub(crate) fn backward(&mut self, grad_output: &Tensor) -> Tensor {
        let n = grad_output.row();
        let mut grad = grad_output.clone();
        for c in 0..self.channels {
            let row = &mut grad.data[c * n..(c + 1) * n];
            let normalized = &self.normalized[c * n..(c + 1) * n];
            let (dgamma, dbeta) =
                normalize_row_backward(row, normalized, self.gamma.value[c], self.inv_std[c]);
            self.gamma.grad[c] += dgamma;
            self.beta.grad[c] += dbeta;
        }
        grad
    }
}

/// Global average pooling: `[channels][images × plane]` to `[channels][images]`.
pub(crate) fn global_pool(input: &Tensor) -> Vec<f32> {
    let plane = input.h * input.w;
    let mut pooled = vec![0f32; input.channels * input.images];
    for (i, p) in pooled.iter_mut().enumerate() {
        *p = sum(&input.data[i * plane..(i + 1) * plane]) / plane as f32;
    }
    pooled
}

/// The adjoint of [`global_pool`]: `grad[c][image][·] += grad_pooled[c][image] / plane`.
pub(crate) fn global_pool_backward(grad_pooled: &[f32], grad: &mut Tensor) {
    let plane = grad.h * grad.w;
    for (i, &g) in grad_pooled.iter().enumerate() {
        let share = g / plane as f32;
        for v in &mut grad.data[i * plane..(i + 1) * plane] {
            *v += share;
        }
    }
}

/// The gate of a squeeze-and-excite branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// `1 / (1 + e^−x)` (MnasNet's).
    Sigmoid,
    /// `min(max(x + 3, 0), 6) / 6` (MobileNetV3's).
    HardSigmoid,
}

impl Gate {
    fn apply(self, x: f32) -> f32 {
        match self {
            Gate::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Gate::HardSigmoid => (x + 3.0).clamp(0.0, 6.0) / 6.0,
        }
    }

    /// The derivative at `x`, given `y = apply(x)`.
    fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Gate::Sigmoid => y * (1.0 - y),
            Gate::HardSigmoid => {
                if (-3.0..3.0).contains(&x) {
                    1.0 / 6.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// Squeeze-and-excite: each channel scaled by `gate(W₂ · relu(W₁ · pool(x) + b₁)
/// + b₂)`, per image; `W₁` squeezes the channels to `hidden`.
#[derive(Debug, Clone)]
pub(crate) struct SqueezeExcite {
    channels: usize,
    hidden: usize,
    gate: Gate,
    pub(crate) reduce: Param,
    pub(crate) reduce_bias: Param,
    pub(crate) expand: Param,
    pub(crate) expand_bias: Param,
    // Saved by the training forward pass.
    input: Tensor,
    pooled: Vec<f32>,
    hidden_out: Vec<f32>,
    pre_gate: Vec<f32>,
    scale: Vec<f32>,
}

impl SqueezeExcite {
    /// Glorot-uniform weights, zero biases.
    pub(crate) fn new(
        channels: usize,
        hidden: usize,
        gate: Gate,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Self {
        let limit = (6.0 / (channels + hidden) as f64).sqrt();
        let mut glorot = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * limit) as f32)
                .collect()
        };
        let reduce = glorot(hidden * channels);
        let expand = glorot(channels * hidden);
        Self {
            channels,
            hidden,
            gate,
            reduce: Param::new(reduce, true),
            reduce_bias: Param::new(vec![0.0; hidden], false),
            expand: Param::new(expand, true),
            expand_bias: Param::new(vec![0.0; channels], false),
            input: Tensor::zeros(0, 0, 0, 0),
            pooled: Vec::new(),
            hidden_out: Vec::new(),
            pre_gate: Vec::new(),
            scale: Vec::new(),
        }
    }

    pub(crate) fn forward(&mut self, input: &Tensor, training: bool) -> Tensor {
        let images = input.images;
        let pooled = global_pool(input);
        let mut hidden = vec![0f32; self.hidden * images];
        for (j, row) in hidden.chunks_mut(images).enumerate() {
            row.fill(self.reduce_bias.value[j]);
        }
        matmul_acc(
            &mut hidden,
            &self.reduce.value,
            &pooled,
            self.hidden,
            self.channels,
            images,
        );
        for v in &mut hidden {
            *v = v.max(0.0);
        }
        let mut pre_gate = vec![0f32; self.channels * images];
        for (c, row) in pre_gate.chunks_mut(images).enumerate() {
            row.fill(self.expand_bias.value[c]);
        }
        matmul_acc(
            &mut pre_gate,
            &self.expand.value,
            &hidden,
            self.channels,
            self.hidden,
            images,
        );
        let scale: Vec<f32> = pre_gate.iter().map(|&x| self.gate.apply(x)).collect();
        let plane = input.h * input.w;
        let mut out = input.clone();
        for (i, &s) in scale.iter().enumerate() {
            for v in &mut out.data[i * plane..(i + 1) * plane] {
                *v *= s;
            }
        }
        if training {
            self.input.clone_from(input);
            self.pooled = pooled;
            self.hidden_out = hidden;
            self.pre_gate = pre_gate;
            self.scale = scale;
        }
        out
    }

    pub(crate) fn backward(&mut self, grad_output: &Tensor) -> Tensor {
        let images = self.input.images;
        let plane = self.input.h * self.input.w;
        let mut grad_input = grad_output.clone();
        // d scale[c][image] = Σ_plane dy · x; dx = dy · scale.
        let mut grad_pre = vec![0f32; self.channels * images];
        for (i, &s) in self.scale.iter().enumerate() {
            let range = i * plane..(i + 1) * plane;
            let dscale = dot(
                &grad_output.data[range.clone()],
                &self.input.data[range.clone()],
            );
            grad_pre[i] = dscale * self.gate.derivative(self.pre_gate[i], s);
            for v in &mut grad_input.data[range] {
                *v *= s;
            }
        }
        matmul_bt_acc(
            &mut self.expand.grad,
            &grad_pre,
            &self.hidden_out,
            self.channels,
            self.hidden,
            images,
        );
        for (c, row) in grad_pre.chunks(images).enumerate() {
            self.expand_bias.grad[c] += sum(row);
        }
        let mut grad_hidden = vec![0f32; self.hidden * images];
        matmul_at_acc(
            &mut grad_hidden,
            &self.expand.value,
            &grad_pre,
            self.channels,
            self.hidden,
            images,
        );
        for (g, &h) in grad_hidden.iter_mut().zip(&self.hidden_out) {
            if h <= 0.0 {
                *g = 0.0;
            }
        }
        matmul_bt_acc(
            &mut self.reduce.grad,
            &grad_hidden,
            &self.pooled,
            self.hidden,
            self.channels,
            images,
        );
        for (j, row) in grad_hidden.chunks(images).enumerate() {
            self.reduce_bias.grad[j] += sum(row);
        }
        let mut grad_pooled = vec![0f32; self.channels * images];
        matmul_at_acc(
            &mut grad_pooled,
            &self.reduce.value,
            &grad_hidden,
            self.hidden,
            self.channels,
            images,
        );
        global_pool_backward(&grad_pooled, &mut grad_input);
        grad_input
    }

    pub(crate) fn params_mut(&mut self) -> [&mut Param; 4] {
        [
            &mut self.reduce,
            &mut self.reduce_bias,
            &mut self.expand,
            &mut self.expand_bias,
        ]
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::nn::layers::{BN_EPSILON, Relu, normal};

    fn random_tensor(channels: usize, images: usize, side: usize, seed: u64) -> Tensor {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut t = Tensor::zeros(channels, images, side, side);
        for v in &mut t.data {
            *v = normal(&mut rng);
        }
        t
    }

    /// `L = Σ r ⊙ f(x)` for fixed random `r`, in f64.
    fn loss(out: &Tensor, r: &[f32]) -> f64 {
        out.data
            .iter()
            .zip(r)
            .map(|(&o, &r)| f64::from(o) * f64::from(r))
            .sum()
    }

    /// Relative L2 error of `analytic` against `numeric`.
    fn relative_error(analytic: &[f32], numeric: &[f64]) -> f64 {
        let diff: f64 = analytic
            .iter()
            .zip(numeric)
            .map(|(&a, &n)| (f64::from(a) - n).powi(2))
            .sum();
        let norm: f64 = numeric.iter().map(|n| n * n).sum();
        (diff / norm.max(1e-30)).sqrt()
    }

    /// Checks a layer's input gradient and the gradient of each of its
    /// parameters (reached through `param`) against central differences of
    /// `L = Σ r ⊙ layer(x)` (training mode), within `tolerance` (relative L2).
    fn check<L: Clone>(
        layer: &L,
        input: &Tensor,
        forward: impl Fn(&mut L, &Tensor) -> Tensor,
        backward: impl Fn(&mut L, &Tensor) -> Tensor,
        params: usize,
        param: impl Fn(&mut L, usize) -> &mut Param,
        tolerance: f64,
    ) {
        let mut probe = layer.clone();
        let out = forward(&mut probe, input);
        let r = random_tensor(out.channels, out.images, out.h, 99);
        assert_eq!((out.h, out.w), (r.h, r.w));
        let grad_input = backward(&mut probe, &r);
        let step = 1e-2f32;
        let numeric_input: Vec<f64> = (0..input.data.len())
            .map(|i| {
                let at = |d: f32| {
                    let mut x = input.clone();
                    x.data[i] += d;
                    loss(&forward(&mut layer.clone(), &x), &r.data)
                };
                (at(step) - at(-step)) / (2.0 * f64::from(step))
            })
            .collect();
        let error = relative_error(&grad_input.data, &numeric_input);
        assert!(error < tolerance, "input gradient: relative error {error}");
        for p in 0..params {
            let analytic = param(&mut probe, p).grad.clone();
            let numeric: Vec<f64> = (0..analytic.len())
                .map(|i| {
                    let at = |d: f32| {
                        let mut shifted = layer.clone();
                        param(&mut shifted, p).value[i] += d;
                        loss(&forward(&mut shifted, input), &r.data)
                    };
                    (at(step) - at(-step)) / (2.0 * f64::from(step))
                })
                .collect();
            let error = relative_error(&analytic, &numeric);
            assert!(error < tolerance, "parameter {p}: relative error {error}");
        }
    }

    #[test]
    fn convolutions_match_finite_differences() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        for (kernel, stride, side) in [
            (1, 1, 4),
            (1, 2, 4),
            (3, 1, 4),
            (3, 2, 5),
            (5, 1, 4),
            (5, 2, 4),
        ] {
            let conv = Conv::new(kernel, stride, 3, 4, &mut rng);
            let input = random_tensor(3, 2, side, kernel as u64 * 10 + stride as u64);
            check(
                &conv,
                &input,
                |l, x| l.forward(x, true),
                |l, g| l.backward(g),
                1,
                |l, _| &mut l.weight,
                1e-3,
            );
        }
    }

    #[test]
    fn depthwise_convolutions_match_finite_differences() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        for (kernel, stride, side) in [(3, 1, 4), (3, 2, 5), (5, 1, 4), (5, 2, 2)] {
            let layer = Depthwise::new(kernel, stride, 3, &mut rng);
            let input = random_tensor(3, 2, side, 7 + kernel as u64);
            check(
                &layer,
                &input,
                |l, x| l.forward(x, true),
                |l, g| l.backward(g),
                1,
                |l, _| &mut l.weight,
                1e-3,
            );
        }
    }

    #[test]
    fn batch_norm_matches_finite_differences() {
        let mut layer = BatchNorm::new(3);
        layer.gamma.value = vec![0.5, 1.5, -0.8];
        layer.beta.value = vec![0.1, -0.2, 0.3];
        let input = random_tensor(3, 4, 3, 5);
        check(
            &layer,
            &input,
            |l, x| l.forward(x, true),
            |l, g| l.backward(g),
            2,
            |l, p| if p == 0 { &mut l.gamma } else { &mut l.beta },
            1e-2,
        );
    }

    #[test]
    fn squeeze_excite_matches_finite_differences_for_both_gates() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for gate in [Gate::Sigmoid, Gate::HardSigmoid] {
            let mut layer = SqueezeExcite::new(4, 2, gate, &mut rng);
            // Biases away from zero, so that no hidden unit sits on the ReLU's kink.
            layer.reduce_bias.value = vec![0.3, 0.2];
            layer.expand_bias.value = vec![0.1, -0.2, 0.4, 0.05];
            let input = random_tensor(4, 3, 3, 11);
            check(
                &layer,
                &input,
                |l, x| l.forward(x, true),
                |l, g| l.backward(g),
                4,
                |l, p| {
                    let [a, b, c, d] = l.params_mut();
                    [a, b, c, d].into_iter().nth(p).expect("four parameters")
                },
                1e-2,
            );
        }
    }

    #[test]
    fn global_pooling_and_relu_match_finite_differences() {
        #[derive(Clone)]
        struct Pool;
        let input = random_tensor(3, 2, 3, 13);
        check(
            &Pool,
            &input,
            |_, x| Tensor {
                channels: x.channels,
                images: x.images,
                h: 1,
                w: 1,
                data: global_pool(x),
            },
            |_, g| {
                let mut grad = Tensor::zeros(3, 2, 3, 3);
                global_pool_backward(&g.data, &mut grad);
                grad
            },
            0,
            |_, _| unreachable!("no parameters"),
            1e-3,
        );
        // Values away from the kink at 0, where the difference quotient is not the
        // derivative.
        let mut input = random_tensor(3, 2, 3, 17);
        for v in &mut input.data {
            if v.abs() < 0.05 {
                *v = 0.5;
            }
        }
        check(
            &Relu::default(),
            &input,
            |l, x| l.forward(x, true),
            |l, g| l.backward(g),
            0,
            |_, _| unreachable!("no parameters"),
            1e-3,
        );
    }

    #[test]
    fn inference_mode_uses_running_statistics() {
        let mut layer = BatchNorm::new(2);
        let input = random_tensor(2, 4, 2, 19);
        let fresh = layer.forward(&input, false);
        // Running mean 0 and variance 1 at the start: inference is x / √(1 + ε).
        for (o, &x) in fresh.data.iter().zip(&input.data) {
            assert_eq!(*o, x * (1.0 / (1.0f32 + BN_EPSILON).sqrt()));
        }
        layer.forward(&input, true);
        let after = layer.forward(&input, false);
        assert_ne!(
            after.data, fresh.data,
            "training moved the running statistics"
        );
    }
}
