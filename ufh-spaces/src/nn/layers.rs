//! Layers with hand-written backward passes: convolution + batch norm + ReLU (in
//! either order, or without the ReLU), max and average pooling, a lone ReLU,
//! global average pooling, a dense classifier and softmax cross-entropy.
//!
//! Activations are [`Tensor`]s laid out `[channels][images × h × w]`, so a
//! convolution is one matrix product, a channel concatenation is a concatenation of
//! rows, and a channel truncation is a prefix.

// With MNAS alone, NAS-Bench-101's conv blocks and pools are compiled but unused.
#![cfg_attr(not(feature = "nasbench101"), allow(dead_code))]

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::kernels::{col2im3, im2col3, matmul_acc, matmul_at_acc, matmul_bt_acc, sum};

/// Activations of a batch: `data[c * images * h * w + image * h * w + y * w + x]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    pub(crate) channels: usize,
    pub(crate) images: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) data: Vec<f32>,
}

impl Tensor {
    pub(crate) fn zeros(channels: usize, images: usize, h: usize, w: usize) -> Self {
        Self {
            channels,
            images,
            h,
            w,
            data: vec![0.0; channels * images * h * w],
        }
    }

    /// Elements per channel.
    pub(crate) fn row(&self) -> usize {
        self.images * self.h * self.w
    }

    /// The first `channels` channels.
    pub(crate) fn truncated(&self, channels: usize) -> Self {
        debug_assert!(channels <= self.channels);
        Self {
            channels,
            images: self.images,
            h: self.h,
            w: self.w,
            data: self.data[..channels * self.row()].to_vec(),
        }
    }

    /// `self[..other.channels] += other`.
    pub(crate) fn add_prefix(&mut self, other: &Tensor) {
        debug_assert!(other.channels <= self.channels && other.row() == self.row());
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a += b;
        }
    }
}

/// A trainable tensor with its gradient and SGD momentum.
#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub(crate) value: Vec<f32>,
    pub(crate) grad: Vec<f32>,
    pub(crate) velocity: Vec<f32>,
    /// Whether weight decay applies (convolution and dense weights, not BN).
    pub(crate) decay: bool,
}

impl Param {
    pub(crate) fn new(value: Vec<f32>, decay: bool) -> Self {
        let n = value.len();
        Self {
            value,
            grad: vec![0.0; n],
            velocity: vec![0.0; n],
            decay,
        }
    }

    /// One SGD step with momentum and weight decay; clears the gradient.
    pub(crate) fn step(&mut self, learning_rate: f32, momentum: f32, weight_decay: f32) {
        let decay = if self.decay { weight_decay } else { 0.0 };
        for ((value, grad), velocity) in self
            .value
            .iter_mut()
            .zip(&mut self.grad)
            .zip(&mut self.velocity)
        {
            *velocity = momentum * *velocity + (*grad + decay * *value);
            *value -= learning_rate * *velocity;
            *grad = 0.0;
        }
    }
}

/// A standard normal draw from the network's own seeded stream, rounded to `f32`.
pub(crate) fn normal(rng: &mut Xoshiro256PlusPlus) -> f32 {
    crate::gaussian::standard_normal(rng) as f32
}

/// `count` weights drawn by Kaiming (He) initialisation for `fan_in` inputs per
/// output: standard normal draws scaled by `√(2 / fan_in)`, in draw order.
pub(crate) fn kaiming(count: usize, fan_in: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<f32> {
    let scale = (2.0 / fan_in as f32).sqrt();
    (0..count).map(|_| scale * normal(rng)).collect()
}

/// Batch-norm epsilon (NAS-Bench-101's 1e-5).
pub(crate) const BN_EPSILON: f32 = 1e-5;
/// Momentum of the running statistics used at evaluation. NAS-Bench-101 uses 0.997
/// over many thousand steps; ufh's runs take a few hundred, so 0.9.
const BN_MOMENTUM: f32 = 0.9;

/// Batch norm's normalisation of one channel's `row` in place, without the
/// affine map: in training, by the row's mean and variance (the variance with
/// eight partial sums in a fixed order), which move the running statistics; in
/// inference, by the running statistics. Returns `1 / √(var + ε)` of the
/// statistics used.
fn normalize_row(
    row: &mut [f32],
    running_mean: &mut f32,
    running_var: &mut f32,
    training: bool,
) -> f32 {
    let n = row.len();
    let inverse_n = 1.0 / n as f32;
    let (mean, inv_std) = if training {
        let mean = sum(row) * inverse_n;
        let mut centered = [0f32; 8];
        let chunks = n / 8;
        for chunk in 0..chunks {
            for (l, lane) in centered.iter_mut().enumerate() {
                let d = row[chunk * 8 + l] - mean;
                *lane += d * d;
            }
        }
        let mut tail = 0f32;
        for &v in &row[chunks * 8..] {
            tail += (v - mean) * (v - mean);
        }
        let var = (((centered[0] + centered[1]) + (centered[2] + centered[3]))
            + ((centered[4] + centered[5]) + (centered[6] + centered[7]))
            + tail)
            * inverse_n;
        *running_mean = BN_MOMENTUM * *running_mean + (1.0 - BN_MOMENTUM) * mean;
        *running_var = BN_MOMENTUM * *running_var + (1.0 - BN_MOMENTUM) * var;
        (mean, 1.0 / (var + BN_EPSILON).sqrt())
    } else {
        (*running_mean, 1.0 / (*running_var + BN_EPSILON).sqrt())
    };
    for v in row.iter_mut() {
        *v = (*v - mean) * inv_std;
    }
    inv_std
}

/// [`normalize_row`] over every channel of `data` (one row each, as many as
/// the running statistics have), keeping each channel's `1 / √(var + ε)` in
/// `inv_std` in training.
pub(crate) fn normalize_channels(
    data: &mut [f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    inv_std: &mut [f32],
    training: bool,
) {
    let n = data.len() / running_mean.len();
    for (c, row) in data.chunks_exact_mut(n).enumerate() {
        let scale = normalize_row(row, &mut running_mean[c], &mut running_var[c], training);
        if training {
            inv_std[c] = scale;
        }
    }
}

/// The backward pass of [`normalize_row`] and the affine map `γ·x̂ + β` in
/// training mode: turns the output gradient `row` into the input gradient, given
/// the normalised values `x̂`; returns `(∂L/∂γ, ∂L/∂β)`.
pub(crate) fn normalize_row_backward(
    row: &mut [f32],
    normalized: &[f32],
    gamma: f32,
    inv_std: f32,
) -> (f32, f32) {
    let n = row.len();
    let dbeta = sum(row);
    let dgamma = super::kernels::dot(row, normalized);
    let scale = gamma * inv_std / n as f32;
    for (d, &x) in row.iter_mut().zip(normalized) {
        *d = scale * (n as f32 * *d - dbeta - x * dgamma);
    }
    (dgamma, dbeta)
}

/// Where a [`ConvBlock`] applies its ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Convolution, batch norm, ReLU: NAS-Bench-101's blocks.
    ConvBnRelu,
    /// ReLU, convolution, batch norm: NAS-Bench-201's and EZNAS's blocks.
    ReluConvBn,
    /// Convolution and batch norm alone: NAS-Bench-201's stem.
    #[cfg(feature = "zoo")]
    ConvBn,
}

/// A convolution (`kernel` 1 or 3, stride 1, same padding, no bias) with batch
/// normalisation and a ReLU in the block's [`Order`]: NAS-Bench-101's
/// conv3x3-bn-relu, conv1x1-bn-relu, its 1×1 projections and its stem, and
/// NAS-Bench-201's ReLU-Conv-BN operations and its stem.
#[derive(Debug, Clone)]
pub(crate) struct ConvBlock {
    order: Order,
    /// Whether batch norm normalises (off: the identity, synflow's "BN disabled").
    batch_norm: bool,
    kernel: usize,
    in_channels: usize,
    out_channels: usize,
    weight: Param,
    gamma: Param,
    beta: Param,
    running_mean: Vec<f32>,
    running_var: Vec<f32>,
    // Saved by the training forward pass for backward.
    col: Vec<f32>,
    normalized: Vec<f32>,
    inv_std: Vec<f32>,
    /// The ReLU's output: the block's output (conv-bn-relu) or the convolution's
    /// input (relu-conv-bn); empty for conv-bn.
    output: Vec<f32>,
    input_shape: (usize, usize, usize),
    /// What the last training pass saw, when capturing is on (EZNAS statistics).
    capture: Option<Box<Capture>>,
}

/// The tensors of one block in one forward and backward pass, each in the
/// layer's `[channels][images × h × w]` layout, named by their place around the
/// ReLU and the convolution (EZNAS's T1, T2 and T4).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Capture {
    /// The ReLU's input (`relu_channels` channels).
    pub(crate) relu_input: Vec<f32>,
    /// The convolution's input (`shape.0` channels).
    pub(crate) conv_input: Vec<f32>,
    /// The convolution's output, before batch norm (`out_channels`).
    pub(crate) conv_output: Vec<f32>,
    /// The block's output (`out_channels`).
    pub(crate) block_output: Vec<f32>,
    /// Gradients of the same four, and of the conv weight (this pass alone).
    pub(crate) grad_relu_input: Vec<f32>,
    pub(crate) grad_conv_input: Vec<f32>,
    pub(crate) grad_conv_output: Vec<f32>,
    pub(crate) grad_block_output: Vec<f32>,
    pub(crate) grad_weight: Vec<f32>,
    /// `(in channels, images, h, w)` of the input, and the output channels.
    pub(crate) shape: (usize, usize, usize, usize),
    pub(crate) out_channels: usize,
    /// Channels of the ReLU's input: the output's (conv-bn-relu) or the input's.
    pub(crate) relu_channels: usize,
    pub(crate) kernel: usize,
}

impl ConvBlock {
    /// Starts (or stops) capturing each training pass's tensors.
    pub(crate) fn set_capture(&mut self, on: bool) {
        self.capture = on.then(Box::default);
    }

    /// Takes the last captured pass, leaving capturing on, if it was.
    pub(crate) fn take_captured(&mut self) -> Option<Capture> {
        self.capture.as_deref_mut().map(std::mem::take)
    }

    /// The conv weight, `[out][in][k][k]`.
    pub(crate) fn weight(&self) -> &[f32] {
        &self.weight.value
    }

    /// A conv-bn-relu block: He-normal weights (fan-in), γ = 1, β = 0.
    pub(crate) fn new(
        kernel: usize,
        in_channels: usize,
        out_channels: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Self {
        Self::with_order(Order::ConvBnRelu, kernel, in_channels, out_channels, rng)
    }

    /// A block of the given order, initialised as [`ConvBlock::new`].
    pub(crate) fn with_order(
        order: Order,
        kernel: usize,
        in_channels: usize,
        out_channels: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Self {
        debug_assert!(kernel == 1 || kernel == 3);
        let fan_in = in_channels * kernel * kernel;
        let weight = kaiming(out_channels * fan_in, fan_in, rng);
        Self {
            order,
            batch_norm: true,
            kernel,
            in_channels,
            out_channels,
            weight: Param::new(weight, true),
            gamma: Param::new(vec![1.0; out_channels], false),
            beta: Param::new(vec![0.0; out_channels], false),
            running_mean: vec![0.0; out_channels],
            running_var: vec![1.0; out_channels],
            col: Vec::new(),
            normalized: Vec::new(),
            inv_std: Vec::new(),
            output: Vec::new(),
            input_shape: (0, 0, 0),
            capture: None,
        }
    }

    /// Turns batch norm (normalisation and affine map) on, or off: the identity.
    pub(crate) fn set_batch_norm(&mut self, on: bool) {
        self.batch_norm = on;
    }

    pub(crate) fn parameter_count(&self) -> usize {
        self.weight.value.len() + 2 * self.out_channels
    }

    pub(crate) fn params_mut(&mut self) -> [&mut Param; 3] {
        [&mut self.weight, &mut self.gamma, &mut self.beta]
    }

    pub(crate) fn forward(&mut self, input: &Tensor, training: bool) -> Tensor {
        debug_assert_eq!(input.channels, self.in_channels);
        let n = input.row();
        let k = self.in_channels * self.kernel * self.kernel;
        let activated: Option<Vec<f32>> = (self.order == Order::ReluConvBn)
            .then(|| input.data.iter().map(|&v| v.max(0.0)).collect());
        let conv_input: &[f32] = activated.as_deref().unwrap_or(&input.data);
        let mut col = std::mem::take(&mut self.col);
        let source: &[f32] = if self.kernel == 3 {
            col.resize(k * n, 0.0);
            im2col3(
                conv_input,
                input.channels,
                input.images,
                input.h,
                input.w,
                &mut col,
            );
            &col
        } else {
            conv_input
        };
        let mut z = vec![0f32; self.out_channels * n];
        matmul_acc(&mut z, &self.weight.value, source, self.out_channels, k, n);
        if self.kernel == 1 && training {
            col.clear();
            col.extend_from_slice(conv_input);
        }
        self.col = col;
        let capturing = training && self.capture.is_some();
        let conv_output = if capturing { z.clone() } else { Vec::new() };
        if training {
            self.inv_std.resize(self.out_channels, 0.0);
        }
        if self.batch_norm {
            normalize_channels(
                &mut z,
                &mut self.running_mean,
                &mut self.running_var,
                &mut self.inv_std,
                training,
            );
        }
        if training {
            self.normalized.clear();
            self.normalized.extend_from_slice(&z);
        }
        let relu_last = self.order == Order::ConvBnRelu;
        let mut bn_output = Vec::new();
        for c in 0..self.out_channels {
            let (gamma, beta) = (self.gamma.value[c], self.beta.value[c]);
            let (gamma, beta) = if self.batch_norm {
                (gamma, beta)
            } else {
                (1.0, 0.0)
            };
            for v in &mut z[c * n..(c + 1) * n] {
                let affine = gamma * *v + beta;
                if capturing && relu_last {
                    bn_output.push(affine);
                }
                *v = if relu_last { affine.max(0.0) } else { affine };
            }
        }
        if training {
            self.output.clear();
            match (&activated, relu_last) {
                (_, true) => self.output.extend_from_slice(&z),
                (Some(activated), false) => self.output.extend_from_slice(activated),
                (None, false) => {}
            }
            self.input_shape = (input.images, input.h, input.w);
        }
        if capturing && let Some(capture) = self.capture.as_deref_mut() {
            let (relu_input, relu_channels) = if relu_last {
                (bn_output, self.out_channels)
            } else {
                (input.data.clone(), self.in_channels)
            };
            *capture = Capture {
                relu_input,
                conv_input: conv_input.to_vec(),
                conv_output,
                block_output: z.clone(),
                shape: (input.channels, input.images, input.h, input.w),
                out_channels: self.out_channels,
                relu_channels,
                kernel: self.kernel,
                ..Capture::default()
            };
        }
        Tensor {
            channels: self.out_channels,
            images: input.images,
            h: input.h,
            w: input.w,
            data: z,
        }
    }

    /// Accumulates parameter gradients and returns the input gradient.
    pub(crate) fn backward(&mut self, grad_output: &Tensor) -> Tensor {
        let (images, h, w) = self.input_shape;
        let n = images * h * w;
        let relu_last = self.order == Order::ConvBnRelu;
        let mut dz = grad_output.data.clone();
        if let Some(capture) = self.capture.as_deref_mut() {
            capture.grad_block_output = grad_output.data.clone();
        }
        // ReLU (conv-bn-relu), then batch norm (training mode).
        for c in 0..self.out_channels {
            let gamma = self.gamma.value[c];
            let row = &mut dz[c * n..(c + 1) * n];
            if relu_last {
                let output = &self.output[c * n..(c + 1) * n];
                for (d, &o) in row.iter_mut().zip(output) {
                    if o <= 0.0 {
                        *d = 0.0;
                    }
                }
            }
            if !self.batch_norm {
                continue;
            }
            let normalized = &self.normalized[c * n..(c + 1) * n];
            let (dgamma, dbeta) = normalize_row_backward(row, normalized, gamma, self.inv_std[c]);
            self.gamma.grad[c] += dgamma;
            self.beta.grad[c] += dbeta;
        }
        let k = self.in_channels * self.kernel * self.kernel;
        if let Some(capture) = self.capture.as_deref_mut() {
            if relu_last {
                // The ReLU's input gradient is the batch norm's output gradient.
                let mut relu_input_grad = grad_output.data.clone();
                for (g, &o) in relu_input_grad.iter_mut().zip(&self.output) {
                    if o <= 0.0 {
                        *g = 0.0;
                    }
                }
                capture.grad_relu_input = relu_input_grad;
            }
            capture.grad_conv_output = dz.clone();
            // This pass's weight gradient alone, then added to the running one.
            let mut grad_weight = vec![0f32; self.weight.grad.len()];
            matmul_bt_acc(&mut grad_weight, &dz, &self.col, self.out_channels, k, n);
            for (total, g) in self.weight.grad.iter_mut().zip(&grad_weight) {
                *total += g;
            }
            capture.grad_weight = grad_weight;
        } else {
            matmul_bt_acc(
                &mut self.weight.grad,
                &dz,
                &self.col,
                self.out_channels,
                k,
                n,
            );
        }
        let mut grad_input = Tensor::zeros(self.in_channels, images, h, w);
        if self.kernel == 3 {
            let mut dcol = vec![0f32; k * n];
            matmul_at_acc(&mut dcol, &self.weight.value, &dz, self.out_channels, k, n);
            col2im3(&dcol, self.in_channels, images, h, w, &mut grad_input.data);
        } else {
            matmul_at_acc(
                &mut grad_input.data,
                &self.weight.value,
                &dz,
                self.out_channels,
                k,
                n,
            );
        }
        if let Some(capture) = self.capture.as_deref_mut() {
            capture.grad_conv_input = grad_input.data.clone();
        }
        if self.order == Order::ReluConvBn {
            for (g, &a) in grad_input.data.iter_mut().zip(&self.output) {
                if a <= 0.0 {
                    *g = 0.0;
                }
            }
            if let Some(capture) = self.capture.as_deref_mut() {
                capture.grad_relu_input = grad_input.data.clone();
            }
        }
        grad_input
    }
}

/// A ReLU on its own (the zoo's head, before global average pooling; MNAS's ops).
#[cfg(any(feature = "zoo", feature = "mnas"))]
#[derive(Debug, Clone, Default)]
pub(crate) struct Relu {
    output: Vec<f32>,
}

#[cfg(any(feature = "zoo", feature = "mnas"))]
impl Relu {
    pub(crate) fn forward(&mut self, input: &Tensor, training: bool) -> Tensor {
        let mut out = input.clone();
        for v in &mut out.data {
            *v = v.max(0.0);
        }
        if training {
            self.output.clone_from(&out.data);
        }
        out
    }

    pub(crate) fn backward(&mut self, grad_output: &Tensor) -> Tensor {
        let mut grad = grad_output.clone();
        for (g, &o) in grad.data.iter_mut().zip(&self.output) {
            if o <= 0.0 {
                *g = 0.0;
            }
        }
        grad
    }
}

/// Global average pooling and a dense layer to the class logits.
#[derive(Debug, Clone)]
pub(crate) struct Classifier {
    in_channels: usize,
    classes: usize,
    weight: Param,
    bias: Param,
    pooled: Vec<f32>,
    input_shape: (usize, usize, usize),
}

impl Classifier {
    /// Glorot-uniform weights, zero bias.
    pub(crate) fn new(in_channels: usize, classes: usize, rng: &mut Xoshiro256PlusPlus) -> Self {
        let limit = (6.0 / (in_channels + classes) as f64).sqrt();
        let weight = (0..classes * in_channels)
            .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * limit) as f32)
            .collect();
        Self {
            in_channels,
            classes,
            weight: Param::new(weight, true),
            bias: Param::new(vec![0.0; classes], false),
            pooled: Vec::new(),
            input_shape: (0, 0, 0),
        }
    }

    pub(crate) fn parameter_count(&self) -> usize {
        self.weight.value.len() + self.classes
    }

    pub(crate) fn params_mut(&mut self) -> [&mut Param; 2] {
        [&mut self.weight, &mut self.bias]
    }

    /// Logits laid out `[class][image]`.
    pub(crate) fn forward(&mut self, input: &Tensor, training: bool) -> Vec<f32> {
        let plane = input.h * input.w;
        let images = input.images;
        let mut pooled = vec![0f32; self.in_channels * images];
        for c in 0..self.in_channels {
            for image in 0..images {
                let start = c * input.row() + image * plane;
                pooled[c * images + image] = sum(&input.data[start..start + plane]) / plane as f32;
            }
        }
        let mut logits = vec![0f32; self.classes * images];
        for k in 0..self.classes {
            logits[k * images..(k + 1) * images].fill(self.bias.value[k]);
        }
        matmul_acc(
            &mut logits,
            &self.weight.value,
            &pooled,
            self.classes,
            self.in_channels,
            images,
        );
        if training {
            self.pooled = pooled;
            self.input_shape = (images, input.h, input.w);
        }
        logits
    }

    pub(crate) fn backward(&mut self, grad_logits: &[f32]) -> Tensor {
        let (images, h, w) = self.input_shape;
        matmul_bt_acc(
            &mut self.weight.grad,
            grad_logits,
            &self.pooled,
            self.classes,
            self.in_channels,
            images,
        );
        for k in 0..self.classes {
            self.bias.grad[k] += sum(&grad_logits[k * images..(k + 1) * images]);
        }
        let mut grad_pooled = vec![0f32; self.in_channels * images];
        matmul_at_acc(
            &mut grad_pooled,
            &self.weight.value,
            grad_logits,
            self.classes,
            self.in_channels,
            images,
        );
        let plane = h * w;
        let mut grad_input = Tensor::zeros(self.in_channels, images, h, w);
        for c in 0..self.in_channels {
            for image in 0..images {
                let g = grad_pooled[c * images + image] / plane as f32;
                let start = c * images * plane + image * plane;
                grad_input.data[start..start + plane].fill(g);
            }
        }
        grad_input
    }
}

/// Mean softmax cross-entropy of logits `[class][image]` and its gradient; also
/// the number of correct predictions (ties go to the lowest class).
pub(crate) fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u8],
    classes: usize,
) -> (f32, Vec<f32>, usize) {
    let images = labels.len();
    let mut grad = vec![0f32; logits.len()];
    let mut loss = 0f64;
    let mut correct = 0;
    for (image, &label) in labels.iter().enumerate() {
        let logit = |k: usize| logits[k * images + image];
        let (mut best, mut best_k) = (f32::NEG_INFINITY, 0);
        for k in 0..classes {
            if logit(k) > best {
                best = logit(k);
                best_k = k;
            }
        }
        correct += usize::from(best_k == usize::from(label));
        let mut total = 0f32;
        for k in 0..classes {
            total += (logit(k) - best).exp();
        }
        loss += f64::from(total.ln() + best - logit(usize::from(label)));
        for k in 0..classes {
            let p = (logit(k) - best).exp() / total;
            let target = if k == usize::from(label) { 1.0 } else { 0.0 };
            grad[k * images + image] = (p - target) / images as f32;
        }
    }
    ((loss / images as f64) as f32, grad, correct)
}

/// Correct predictions of logits `[class][image]`.
pub(crate) fn count_correct(logits: &[f32], labels: &[u8], classes: usize) -> usize {
    let images = labels.len();
    labels
        .iter()
        .enumerate()
        .filter(|&(image, &label)| {
            let mut best_k = 0;
            for k in 1..classes {
                if logits[k * images + image] > logits[best_k * images + image] {
                    best_k = k;
                }
            }
            best_k == usize::from(label)
        })
        .count()
}
