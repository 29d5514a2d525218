//! What every trainable network of the crate shares: the training loop, accuracy,
//! EZNAS's statistics and the zero-cost scores, written once over the [`Net`]
//! trait that NAS-Bench-101's cell networks and the proxy zoo's networks
//! implement.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::layers::{Capture, ConvBlock, Param, Tensor, count_correct, softmax_cross_entropy};
use super::train::{EpochMetrics, RepeatMetrics, TrainConfig};
use crate::digits::{Digits, DigitsSplit, N_CLASSES, N_PIXELS};

/// A network of the crate's layers with a hand-written backward pass.
pub(crate) trait Net: Clone {
    /// Its training settings (and input side).
    fn config(&self) -> TrainConfig;
    /// The logits `[class][image]` of a one-channel input batch.
    fn forward(&mut self, input: &Tensor, training: bool) -> Vec<f32>;
    /// The backward pass from the logits' gradient through every layer, after a
    /// training-mode [`Net::forward`].
    fn backward(&mut self, grad_logits: &[f32]);
    /// Every parameter, in a fixed order.
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut Param));
    /// The blocks EZNAS's statistics and fisher read, in a fixed order.
    fn for_each_block(&mut self, f: &mut dyn FnMut(&mut ConvBlock));
    /// Trainable parameters, counted as NAS-Bench-101 counts them.
    fn parameter_count(&self) -> usize;
}

/// The logits of `images` digits (64 pixels each), seen at the network's input
/// side.
pub(crate) fn logits<N: Net>(
    net: &mut N,
    pixels: &[f32],
    images: usize,
    training: bool,
) -> Vec<f32> {
    let side = net.config().input_side;
    let input = Tensor {
        channels: 1,
        images,
        h: side,
        w: side,
        data: match side {
            8 => pixels.to_vec(),
            _ => average_pool_2x2(pixels),
        },
    };
    net.forward(&input, training)
}

/// 8×8 images to 4×4: each output pixel is the mean of a 2×2 block, summed in
/// row-major order.
fn average_pool_2x2(pixels: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(pixels.len() / 4);
    for image in pixels.chunks_exact(N_PIXELS) {
        for y in 0..4 {
            for x in 0..4 {
                let at = |dy: usize, dx: usize| image[(2 * y + dy) * 8 + 2 * x + dx];
                out.push((((at(0, 0) + at(0, 1)) + at(1, 0)) + at(1, 1)) * 0.25);
            }
        }
    }
    out
}

/// One SGD step on a batch; returns the mean loss.
fn train_step<N: Net>(net: &mut N, pixels: &[f32], labels: &[u8], learning_rate: f32) -> f32 {
    let logits = logits(net, pixels, labels.len(), true);
    let (loss, grad_logits, _) = softmax_cross_entropy(&logits, labels, N_CLASSES);
    net.backward(&grad_logits);
    let config = net.config();
    let (momentum, decay) = (config.momentum, config.weight_decay);
    net.for_each_param(&mut |p: &mut Param| p.step(learning_rate, momentum, decay));
    loss
}

/// The gradient of the mean cross-entropy of one batch (batch norm in training
/// mode) left in every parameter's `grad`, which is cleared first.
fn loss_gradient<N: Net>(net: &mut N, pixels: &[f32], labels: &[u8]) -> f32 {
    net.for_each_param(&mut |p: &mut Param| p.grad.fill(0.0));
    let logits = logits(net, pixels, labels.len(), true);
    let (loss, grad_logits, _) = softmax_cross_entropy(&logits, labels, N_CLASSES);
    net.backward(&grad_logits);
    loss
}

/// Σ over the conv and dense weights (not batch norm's scales and shifts, not
/// biases) of `f(weight, gradient)`, in f64.
fn over_weights<N: Net>(net: &mut N, f: &mut dyn FnMut(&Param) -> f64) -> f64 {
    let mut total = 0.0;
    net.for_each_param(&mut |p: &mut Param| {
        if p.decay {
            total += f(p);
        }
    });
    total
}

/// See [`LossGradientScores`]; the weights are left as they were.
pub(crate) fn loss_gradient_scores<N: Net>(
    net: &mut N,
    pixels: &[f32],
    labels: &[u8],
) -> LossGradientScores {
    // One loss-gradient pass, its blocks captured for fisher, serves grad_norm,
    // snip, fisher and grasp's gradient.
    let mut probe = net.clone();
    probe.for_each_block(&mut |b| b.set_capture(true));
    loss_gradient(&mut probe, pixels, labels);
    let grad_norm = over_weights(&mut probe, &mut |p| {
        p.grad
            .iter()
            .map(|&g| f64::from(g) * f64::from(g))
            .sum::<f64>()
            .sqrt()
    });
    let snip = over_weights(&mut probe, &mut |p| {
        p.value
            .iter()
            .zip(&p.grad)
            .map(|(&w, &g)| f64::from(w * g).abs())
            .sum()
    });
    let fisher = fisher(&mut probe);
    let grasp = grasp(net, &mut probe, pixels, labels);
    let synflow = synflow(net);
    LossGradientScores {
        grad_norm,
        snip,
        grasp,
        fisher,
        synflow,
    }
}

/// fisher from a loss-gradient pass of `probe` with its blocks captured: for every
/// block's convolution output `a` (before batch norm) and its loss gradient `g`,
/// per channel `0.5 · mean over images of (Σ_spatial a·g)²`, summed over channels
/// and blocks.
fn fisher<N: Net>(probe: &mut N) -> f64 {
    let mut total = 0.0;
    probe.for_each_block(&mut |b| {
        let c = b.take_captured().expect("capturing");
        let (_, images, h, w) = c.shape;
        let plane = h * w;
        for channel in 0..c.out_channels {
            let mut squares = 0.0;
            for image in 0..images {
                let at = (channel * images + image) * plane;
                let s: f64 = (at..at + plane)
                    .map(|i| f64::from(c.conv_output[i]) * f64::from(c.grad_conv_output[i]))
                    .sum();
                squares += s * s;
            }
            total += 0.5 * squares / images as f64;
        }
    });
    total
}

/// The loss gradient of every parameter, in [`Net::for_each_param`]'s order.
fn gradients<N: Net>(net: &mut N) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    net.for_each_param(&mut |p: &mut Param| out.push(p.grad.clone()));
    out
}

/// grasp: `−Σ θ ⊙ (H g)` over the conv and dense weights, `g` the loss gradient
/// over those weights (left in `probe` by a loss-gradient pass of `net`'s
/// weights) and `H` the loss's Hessian. `H g` is the central difference of the
/// gradient along `g`, `(∇L(θ + εg) − ∇L(θ − εg)) / 2ε`, with `ε = 10⁻² / ‖g‖`
/// (a step of norm 10⁻²), where zero-cost-nas differentiates twice.
fn grasp<N: Net>(net: &N, probe: &mut N, pixels: &[f32], labels: &[u8]) -> f64 {
    // Per parameter: whether it is a weight, its value and its gradient.
    let mut params: Vec<(bool, Vec<f32>, Vec<f32>)> = Vec::new();
    probe.for_each_param(&mut |p: &mut Param| {
        params.push((p.decay, p.value.clone(), p.grad.clone()));
    });
    let norm = params
        .iter()
        .filter(|(weight, ..)| *weight)
        .flat_map(|(_, _, g)| g.iter().map(|&v| f64::from(v) * f64::from(v)))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return 0.0;
    }
    let epsilon = 1e-2 / norm;
    let shifted = |sign: f64| {
        let mut shifted = net.clone();
        let mut i = 0;
        shifted.for_each_param(&mut |p: &mut Param| {
            let (weight, _, g) = &params[i];
            if *weight {
                for (v, &d) in p.value.iter_mut().zip(g) {
                    *v = (f64::from(*v) + sign * epsilon * f64::from(d)) as f32;
                }
            }
            i += 1;
        });
        loss_gradient(&mut shifted, pixels, labels);
        gradients(&mut shifted)
    };
    let (plus, minus) = (shifted(1.0), shifted(-1.0));
    let mut total = 0.0;
    for (((weight, theta, _), plus), minus) in params.iter().zip(&plus).zip(&minus) {
        if *weight {
            for ((&t, &a), &b) in theta.iter().zip(plus).zip(minus) {
                let hg = (f64::from(a) - f64::from(b)) / (2.0 * epsilon);
                total -= f64::from(t) * hg;
            }
        }
    }
    total
}

/// synflow: `Σ |θ ⊙ ∂R/∂θ|` over the conv and dense weights, with every
/// parameter made positive (`|θ|`), batch norm off (the identity), one all-ones
/// image and `R` the sum of the logits. In f32: the networks are shallow enough
/// that `R` stays far from overflow (a non-finite score is the caller's invalid
/// outcome).
fn synflow<N: Net>(net: &N) -> f64 {
    let mut probe = net.clone();
    probe.for_each_param(&mut |p: &mut Param| {
        p.grad.fill(0.0);
        for v in &mut p.value {
            *v = v.abs();
        }
    });
    probe.for_each_block(&mut |b| b.set_batch_norm(false));
    let ones = vec![1f32; N_PIXELS];
    let logits = logits(&mut probe, &ones, 1, true);
    probe.backward(&vec![1.0; logits.len()]);
    over_weights(&mut probe, &mut |p| {
        p.value
            .iter()
            .zip(&p.grad)
            .map(|(&w, &g)| f64::from(w * g).abs())
            .sum()
    })
}

/// See the callers' `statistics`.
pub(crate) fn statistics<N: Net>(
    net: &mut N,
    data: &[f32],
    noise: &[f32],
    perturbation: &[f32],
    images: usize,
) -> Vec<BlockStatistics> {
    for input in [data, noise, perturbation] {
        assert_eq!(
            input.len(),
            images * N_PIXELS,
            "inputs hold images × 64 values"
        );
    }
    let perturbed: Vec<f32> = data
        .iter()
        .zip(perturbation)
        .map(|(d, p)| d + 0.1 * p)
        .collect();
    net.for_each_block(&mut |b| b.set_capture(true));
    let mut passes: Vec<Vec<Capture>> = Vec::with_capacity(3);
    for input in [data, noise, perturbed.as_slice()] {
        let logits = logits(net, input, images, true);
        net.backward(&vec![1.0; logits.len()]);
        let mut captured = Vec::new();
        net.for_each_block(&mut |b| captured.push(b.take_captured().expect("capturing")));
        passes.push(captured);
    }
    let mut weights = Vec::new();
    net.for_each_block(&mut |b| {
        weights.push(b.weight().to_vec());
        b.set_capture(false);
    });
    let [d, n, p] = <[Vec<Capture>; 3]>::try_from(passes).expect("three passes");
    d.iter()
        .zip(&n)
        .zip(&p)
        .zip(weights)
        .map(|(((d, n), p), weight)| BlockStatistics::new(d, n, p, weight))
        .collect()
}

/// [`statistics`] with N and P's perturbation drawn from `seed`: standard normal
/// values (Box–Muller over Xoshiro256++), N's first.
pub(crate) fn statistics_seeded<N: Net>(
    net: &mut N,
    data: &[f32],
    images: usize,
    seed: u64,
) -> Vec<BlockStatistics> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut normal = || crate::gaussian::standard_normal(&mut rng) as f32;
    let noise: Vec<f32> = (0..data.len()).map(|_| normal()).collect();
    let perturbation: Vec<f32> = (0..data.len()).map(|_| normal()).collect();
    statistics(net, data, &noise, &perturbation, images)
}

/// Accuracy on `data` with batch norm in inference mode.
pub(crate) fn accuracy<N: Net>(net: &mut N, data: &Digits) -> f64 {
    // Images per forward pass. Results do not depend on it (every image's logits
    // are computed alone); 100 keeps tensors small enough that the allocator
    // reuses them instead of mapping fresh pages per layer.
    const CHUNK: usize = 100;
    let mut correct = 0;
    for start in (0..data.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(data.len());
        let logits = logits(
            net,
            &data.pixels[start * N_PIXELS..end * N_PIXELS],
            end - start,
            false,
        );
        correct += count_correct(&logits, &data.labels[start..end], N_CLASSES);
    }
    correct as f64 / data.len() as f64
}

/// Zero-cost scores from the gradient of the loss, as the zero-cost proxies' paper (after
/// SamsungLabs' zero-cost-nas) defines them, on one labelled batch (the mean
/// cross-entropy, batch norm in training mode), over the conv and dense weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossGradientScores {
    /// Σ over weight tensors of the L2 norm of their gradient.
    pub grad_norm: f64,
    /// Σ |θ ⊙ ∂L/∂θ| over the weights.
    pub snip: f64,
    /// −Σ θ ⊙ (H ∂L/∂θ), the Hessian-gradient product by a central difference of
    /// gradients along the gradient (a step of norm 10⁻²).
    pub grasp: f64,
    /// Σ over the blocks' conv outputs `a` and channels of
    /// `0.5 · mean over images of (Σ_spatial a · ∂L/∂a)²`.
    pub fisher: f64,
    /// Σ |θ ⊙ ∂R/∂θ| with every parameter made positive, batch norm off, one
    /// all-ones image and `R` the sum of the logits (no labels).
    pub synflow: f64,
}

/// A tensor of [`BlockStatistics`]: its shape (`[N, C, H, W]` for activations,
/// `[out, in, k, k]` for conv weights) and values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct StatTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// EZNAS's 22 statistics of one block (EZNAS §3.2), in the order T1 (D, N, P), T2
/// (D, N, P), T3, T4 (D, N, P), then the gradients T1G, T2G, T3G, T4G (each D,
/// N, P): T1 the ReLU's input, T2 the convolution's input, T3 the convolution's
/// weight, T4 the block's output. In a ReLU-conv-BN block (EZNAS's, NAS-Bench-201's)
/// T1 is the block's input and T4 the batch norm's output; NAS-Bench-101's blocks
/// are conv-bn-relu, the alternative structure of EZNAS §8.6, where T1 is the
/// batch norm's output and T4 the ReLU's. As in EZNAS's released code, the P
/// tensors are stored as differences from the D ones.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockStatistics {
    /// The 22 tensors.
    pub tensors: Vec<StatTensor>,
}

impl BlockStatistics {
    fn new(d: &Capture, n: &Capture, p: &Capture, weight: Vec<f32>) -> Self {
        let (in_channels, images, h, w) = d.shape;
        let activation = |values: &[f32], channels: usize| StatTensor {
            shape: vec![images, channels, h, w],
            data: to_nchw(values, channels, images, h * w),
        };
        let difference = |p: &[f32], d: &[f32], channels: usize| {
            let delta: Vec<f32> = p.iter().zip(d).map(|(p, d)| p - d).collect();
            activation(&delta, channels)
        };
        let weight_shape = vec![d.out_channels, in_channels, d.kernel, d.kernel];
        let weight_tensor = |data: Vec<f32>| StatTensor {
            shape: weight_shape.clone(),
            data,
        };
        let (out, relu) = (d.out_channels, d.relu_channels);
        let three = |get: &dyn Fn(&Capture) -> &[f32], channels: usize| {
            [
                activation(get(d), channels),
                activation(get(n), channels),
                difference(get(p), get(d), channels),
            ]
        };
        let mut tensors = Vec::with_capacity(22);
        tensors.extend(three(&|c| &c.relu_input, relu));
        tensors.extend(three(&|c| &c.conv_input, in_channels));
        tensors.push(weight_tensor(weight));
        tensors.extend(three(&|c| &c.block_output, out));
        tensors.extend(three(&|c| &c.grad_relu_input, relu));
        tensors.extend(three(&|c| &c.grad_conv_input, in_channels));
        let weight_grads = [
            d.grad_weight.clone(),
            n.grad_weight.clone(),
            p.grad_weight
                .iter()
                .zip(&d.grad_weight)
                .map(|(p, d)| p - d)
                .collect(),
        ];
        tensors.extend(weight_grads.into_iter().map(weight_tensor));
        tensors.extend(three(&|c| &c.grad_block_output, out));
        Self { tensors }
    }
}

/// `[channels][images × plane]` to `[images][channels][plane]`.
fn to_nchw(values: &[f32], channels: usize, images: usize, plane: usize) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    for c in 0..channels {
        for image in 0..images {
            let from = c * images * plane + image * plane;
            let to = (image * channels + c) * plane;
            out[to..to + plane].copy_from_slice(&values[from..from + plane]);
        }
    }
    out
}

/// One training run: its halfway and final metrics and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainedRun {
    /// Halfway and final metrics; training times are measured wall-clock seconds
    /// of the training steps alone (evaluation excluded), so they vary between runs
    /// and machines while the accuracies do not.
    pub metrics: RepeatMetrics,
    /// Trainable parameters.
    pub trainable_parameters: u64,
    /// Whether the loss became NaN or infinite (the run diverged; its accuracies are
    /// what the diverged network scores).
    pub diverged: bool,
}

/// Trains the network `build` makes from a Xoshiro256++ stream seeded with
/// `seed` for `epochs` epochs on `data`'s training set, the shuffles drawn from
/// the same stream; measures train, validation and test accuracy after
/// `epochs / 2` epochs and at the end.
///
/// # Panics
/// If `epochs` is 0.
pub(crate) fn train<N: Net>(
    build: impl Fn(&mut Xoshiro256PlusPlus) -> N,
    data: &DigitsSplit,
    epochs: u32,
    seed: u64,
) -> TrainedRun {
    assert!(epochs > 0, "a training run needs at least one epoch");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut network = build(&mut rng);
    let config = network.config();
    let train = &data.train;
    let steps_per_epoch = train.len().div_ceil(config.batch_size);
    let total_steps = (steps_per_epoch * epochs as usize) as f64;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut batch_pixels = Vec::with_capacity(config.batch_size * N_PIXELS);
    let mut batch_labels = Vec::with_capacity(config.batch_size);
    let mut step = 0usize;
    let mut training_time = 0.0;
    let mut diverged = false;
    let mut halfway = None;
    let halfway_epoch = epochs / 2;
    for epoch in 0..epochs {
        let start = Instant::now();
        for i in (1..order.len()).rev() {
            let j = rng.random_range(0..=i as u32) as usize;
            order.swap(i, j);
        }
        for batch in order.chunks(config.batch_size) {
            batch_pixels.clear();
            batch_labels.clear();
            for &i in batch {
                batch_pixels.extend_from_slice(train.image(i));
                batch_labels.push(train.labels[i]);
            }
            let progress = step as f64 / total_steps;
            let learning_rate =
                (0.5 * f64::from(config.learning_rate)
                    * (1.0 + (std::f64::consts::PI * progress).cos())) as f32;
            let loss = train_step(&mut network, &batch_pixels, &batch_labels, learning_rate);
            diverged |= !loss.is_finite();
            step += 1;
        }
        training_time += start.elapsed().as_secs_f64();
        if epoch + 1 == halfway_epoch {
            halfway = Some(evaluate(&mut network, data, training_time));
        }
    }
    let end = evaluate(&mut network, data, training_time);
    TrainedRun {
        metrics: RepeatMetrics {
            // A one-epoch budget has no halfway point after a whole epoch: its
            // halfway metrics are those of the untrained network at time 0.
            halfway: halfway.unwrap_or_else(|| {
                let mut fresh = build(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
                evaluate(&mut fresh, data, 0.0)
            }),
            end,
        },
        trainable_parameters: network.parameter_count() as u64,
        diverged,
    }
}

fn evaluate<N: Net>(network: &mut N, data: &DigitsSplit, training_time: f64) -> EpochMetrics {
    EpochMetrics {
        training_time,
        train_accuracy: accuracy(network, &data.train),
        validation_accuracy: accuracy(network, &data.validation),
        test_accuracy: accuracy(network, &data.test),
    }
}
