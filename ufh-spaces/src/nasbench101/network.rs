//! NAS-Bench-101 networks scaled to 8×8 digits, and their training.
//!
//! The network follows NAS-Bench-101's construction at a scale that trains in
//! about a second: a 3×3 conv-bn-relu stem to `C` channels, one cell at `C`
//! channels on 8×8, a 2×2 max-pool (stride 2), one cell at `2C` channels on 4×4,
//! global average pooling and a dense layer to the 10 classes (NAS-Bench-101: a
//! 128-channel stem, three stacks of three cells, two downsamplings).
//!
//! Inside a cell, exactly as NAS-Bench-101's `build_module`: the output channels are
//! split evenly over the vertices that feed the output (remainder to the earliest);
//! every other interior vertex takes the largest channel count among its
//! successors; a vertex sums its inputs — outputs of earlier interior vertices
//! truncated to its channel count, and a 1×1 conv-bn-relu projection of the cell
//! input when the input feeds it — and applies its op; the cell output is the
//! channel concatenation of the vertices feeding it, plus a projection of the input
//! when the input feeds the output (or only that projection in a 2-vertex cell).
//!
//! Training: SGD with momentum 0.9, weight decay 1e-4 on conv and dense weights,
//! batch 50, learning rate 0.2 with cosine decay to 0 over the budget, images
//! shuffled each epoch; batch norm in training mode during training and with
//! running statistics (momentum 0.9) at evaluation. Every random choice (weights,
//! shuffles) comes from one Xoshiro256++ stream seeded by the caller, and every
//! kernel sums in a fixed order, so a seed gives bit-identical accuracies on any
//! machine.

use rand_xoshiro::Xoshiro256PlusPlus;

use super::cell::{Cell, Op};
use crate::digits::{Digits, DigitsSplit, N_CLASSES};
use crate::nn::layers::{Classifier, ConvBlock, Param, Tensor};
use crate::nn::net::{self, Net};
pub use crate::nn::net::{BlockStatistics, LossGradientScores, StatTensor, TrainedRun};
use crate::nn::pool::MaxPool;
pub use crate::nn::train::TrainConfig;

/// NAS-Bench-101's `compute_vertex_channels`.
fn vertex_channels(cell: &Cell, in_channels: usize, out_channels: usize) -> Vec<usize> {
    let n = cell.num_vertices();
    let output = n - 1;
    let mut channels = vec![0usize; n];
    channels[0] = in_channels;
    channels[output] = out_channels;
    if n == 2 {
        return channels;
    }
    let fan_in = (1..output).filter(|&v| cell.has_edge(v, output)).count();
    let interior = out_channels / fan_in;
    let mut correction = out_channels % fan_in;
    for (v, slot) in channels.iter_mut().enumerate().take(output).skip(1) {
        if cell.has_edge(v, output) {
            *slot = interior;
            if correction > 0 {
                *slot += 1;
                correction -= 1;
            }
        }
    }
    for v in (1..output).rev() {
        if !cell.has_edge(v, output) {
            for dst in v + 1..output {
                if cell.has_edge(v, dst) {
                    channels[v] = channels[v].max(channels[dst]);
                }
            }
        }
    }
    channels
}

#[derive(Debug, Clone)]
enum VertexOp {
    Conv(Box<ConvBlock>),
    Pool(MaxPool),
}

/// One cell, built from a pruned [`Cell`].
#[derive(Debug, Clone)]
struct CellModule {
    cell: Cell,
    channels: Vec<usize>,
    /// Projection of the cell input into vertex `t` (index `t`; the output's at
    /// `n - 1`), where the input feeds it.
    projections: Vec<Option<ConvBlock>>,
    ops: Vec<Option<VertexOp>>,
}

impl CellModule {
    #[allow(clippy::needless_range_loop)] // reason: vertex indices address several parallel arrays
    fn new(
        cell: Cell,
        in_channels: usize,
        out_channels: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Self {
        let n = cell.num_vertices();
        let channels = vertex_channels(&cell, in_channels, out_channels);
        let mut projections = Vec::with_capacity(n);
        let mut ops = Vec::with_capacity(n);
        for t in 0..n {
            let projection = (t > 0 && cell.has_edge(0, t))
                .then(|| ConvBlock::new(1, in_channels, channels[t], rng));
            projections.push(projection);
            let op = match cell.op(t) {
                Op::Conv3x3 => Some(VertexOp::Conv(Box::new(ConvBlock::new(
                    3,
                    channels[t],
                    channels[t],
                    rng,
                )))),
                Op::Conv1x1 => Some(VertexOp::Conv(Box::new(ConvBlock::new(
                    1,
                    channels[t],
                    channels[t],
                    rng,
                )))),
                Op::MaxPool3x3 => Some(VertexOp::Pool(MaxPool::same3())),
                Op::Input | Op::Output => None,
            };
            ops.push(op);
        }
        Self {
            cell,
            channels,
            projections,
            ops,
        }
    }

    fn parameter_count(&self) -> usize {
        let projections: usize = self
            .projections
            .iter()
            .flatten()
            .map(ConvBlock::parameter_count)
            .sum();
        let ops: usize = self
            .ops
            .iter()
            .flatten()
            .map(|op| match op {
                VertexOp::Conv(conv) => conv.parameter_count(),
                VertexOp::Pool(_) => 0,
            })
            .sum();
        projections + ops
    }

    /// Every conv-bn-relu block, projections and vertex ops, in vertex order.
    fn for_each_block(&mut self, f: &mut dyn FnMut(&mut ConvBlock)) {
        for t in 0..self.projections.len() {
            if let Some(projection) = &mut self.projections[t] {
                f(projection);
            }
            if let Some(VertexOp::Conv(conv)) = &mut self.ops[t] {
                f(conv);
            }
        }
    }

    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut Param)) {
        for projection in self.projections.iter_mut().flatten() {
            projection.params_mut().into_iter().for_each(&mut *f);
        }
        for op in self.ops.iter_mut().flatten() {
            if let VertexOp::Conv(conv) = op {
                conv.params_mut().into_iter().for_each(&mut *f);
            }
        }
    }

    #[allow(clippy::needless_range_loop)] // reason: vertex indices address several parallel arrays
    fn forward(&mut self, input: &Tensor, training: bool) -> Tensor {
        let n = self.cell.num_vertices();
        let output = n - 1;
        let mut values: Vec<Tensor> = Vec::with_capacity(n);
        values.push(Tensor::zeros(0, input.images, input.h, input.w));
        for t in 1..output {
            let mut sum: Option<Tensor> = None;
            for src in 1..t {
                if self.cell.has_edge(src, t) {
                    let part = values[src].truncated(self.channels[t]);
                    match &mut sum {
                        Some(total) => total.add_prefix(&part),
                        None => sum = Some(part),
                    }
                }
            }
            if let Some(projection) = &mut self.projections[t] {
                let part = projection.forward(input, training);
                match &mut sum {
                    Some(total) => total.add_prefix(&part),
                    None => sum = Some(part),
                }
            }
            let vertex_input = sum.expect("a pruned cell's vertices all have inputs");
            let value = match self.ops[t].as_mut().expect("interior vertices have ops") {
                VertexOp::Conv(conv) => conv.forward(&vertex_input, training),
                VertexOp::Pool(pool) => pool.forward(&vertex_input, training),
            };
            values.push(value);
        }
        let feeding: Vec<usize> = (1..output)
            .filter(|&t| self.cell.has_edge(t, output))
            .collect();
        let mut result = if feeding.is_empty() {
            Tensor::zeros(self.channels[output], input.images, input.h, input.w)
        } else {
            let mut data = Vec::with_capacity(self.channels[output] * input.row());
            for &t in &feeding {
                data.extend_from_slice(&values[t].data);
            }
            Tensor {
                channels: self.channels[output],
                images: input.images,
                h: input.h,
                w: input.w,
                data,
            }
        };
        if let Some(projection) = &mut self.projections[output] {
            let part = projection.forward(input, training);
            result.add_prefix(&part);
        }
        result
    }

    #[allow(clippy::needless_range_loop)] // reason: vertex indices address several parallel arrays
    fn backward(&mut self, grad_output: &Tensor, in_channels: usize) -> Tensor {
        let n = self.cell.num_vertices();
        let output = n - 1;
        let row = grad_output.row();
        let (images, h, w) = (grad_output.images, grad_output.h, grad_output.w);
        let mut grad_input = Tensor::zeros(in_channels, images, h, w);
        let mut grads: Vec<Tensor> = (0..n)
            .map(|t| Tensor::zeros(self.channels[t], images, h, w))
            .collect();
        let mut offset = 0;
        for t in 1..output {
            if self.cell.has_edge(t, output) {
                let len = self.channels[t] * row;
                grads[t]
                    .data
                    .copy_from_slice(&grad_output.data[offset..offset + len]);
                offset += len;
            }
        }
        if let Some(projection) = &mut self.projections[output] {
            grad_input.add_prefix(&projection.backward(grad_output));
        }
        for t in (1..output).rev() {
            let grad_value = std::mem::replace(&mut grads[t], Tensor::zeros(0, images, h, w));
            let grad_sum = match self.ops[t].as_mut().expect("interior vertices have ops") {
                VertexOp::Conv(conv) => conv.backward(&grad_value),
                VertexOp::Pool(pool) => pool.backward(&grad_value),
            };
            for src in 1..t {
                if self.cell.has_edge(src, t) {
                    grads[src].add_prefix(&grad_sum);
                }
            }
            if let Some(projection) = &mut self.projections[t] {
                grad_input.add_prefix(&projection.backward(&grad_sum));
            }
        }
        grad_input
    }
}

/// A NAS-Bench-101 network scaled to 8×8 digits (see the module docs).
#[derive(Debug, Clone)]
pub struct CellNetwork {
    config: TrainConfig,
    stem: ConvBlock,
    first: CellModule,
    downsample: MaxPool,
    second: CellModule,
    classifier: Classifier,
}

impl CellNetwork {
    /// A freshly initialised network for the pruned `cell`, weights drawn from `rng`.
    ///
    /// # Panics
    /// If `cell` is not pruned (prune it with [`Cell::prune`] first).
    pub fn new(cell: &Cell, config: TrainConfig, rng: &mut Xoshiro256PlusPlus) -> Self {
        assert_eq!(
            cell.prune().ok(),
            Some(*cell),
            "CellNetwork needs a pruned, valid cell"
        );
        assert!(
            matches!(config.input_side, 4 | 8),
            "input_side is 8 or 4, not {}",
            config.input_side
        );
        let c = config.channels;
        Self {
            config,
            stem: ConvBlock::new(3, 1, c, rng),
            first: CellModule::new(*cell, c, c, rng),
            downsample: MaxPool::down2(),
            second: CellModule::new(*cell, c, 2 * c, rng),
            classifier: Classifier::new(2 * c, N_CLASSES, rng),
        }
    }

    /// Trainable parameters (conv weights, batch-norm scales and shifts, dense
    /// weights and biases), counted as NAS-Bench-101 counts them.
    pub fn parameter_count(&self) -> usize {
        self.stem.parameter_count()
            + self.first.parameter_count()
            + self.second.parameter_count()
            + self.classifier.parameter_count()
    }

    /// The logits of `images` digits (64 pixels each, seen at the network's
    /// input side).
    #[cfg(test)]
    fn logits(&mut self, pixels: &[f32], images: usize, training: bool) -> Vec<f32> {
        net::logits(self, pixels, images, training)
    }

    /// The zero-cost scores that need the gradient of the loss, as the zero-cost proxies' paper
    /// (after SamsungLabs' zero-cost-nas) defines them, on one labelled batch: see
    /// [`LossGradientScores`]. The weights are left as they were (batch norm's
    /// running statistics move, as in any training-mode pass).
    pub fn loss_gradient_scores(&mut self, pixels: &[f32], labels: &[u8]) -> LossGradientScores {
        net::loss_gradient_scores(self, pixels, labels)
    }

    /// EZNAS's statistics of this network as it is (at initialisation, for a
    /// zero-cost proxy): one [`BlockStatistics`] per conv-bn-relu block (the stem,
    /// then each cell's in vertex order; see there for the 22 tensors), from three
    /// forward passes in training mode and the backward passes of the sum of the
    /// logits: of `data` (D: `images` digits, 64 pixels each, seen at the
    /// network's input side), of `noise` (N, the same shape) and of
    /// `data + √0.01 · perturbation` (P).
    ///
    /// # Panics
    /// If the three inputs do not hold `images × 64` values.
    pub fn statistics(
        &mut self,
        data: &[f32],
        noise: &[f32],
        perturbation: &[f32],
        images: usize,
    ) -> Vec<BlockStatistics> {
        net::statistics(self, data, noise, perturbation, images)
    }

    /// [`CellNetwork::statistics`] with N and P's perturbation drawn from
    /// `seed`: standard normal values (Box–Muller over Xoshiro256++), N's first.
    pub fn statistics_seeded(
        &mut self,
        data: &[f32],
        images: usize,
        seed: u64,
    ) -> Vec<BlockStatistics> {
        net::statistics_seeded(self, data, images, seed)
    }

    /// Accuracy on `data` with batch norm in inference mode.
    pub fn accuracy(&mut self, data: &Digits) -> f64 {
        net::accuracy(self, data)
    }
}

impl Net for CellNetwork {
    fn config(&self) -> TrainConfig {
        self.config
    }

    fn forward(&mut self, input: &Tensor, training: bool) -> Vec<f32> {
        let x = self.stem.forward(input, training);
        let x = self.first.forward(&x, training);
        let x = self.downsample.forward(&x, training);
        let x = self.second.forward(&x, training);
        self.classifier.forward(&x, training)
    }

    fn backward(&mut self, grad_logits: &[f32]) {
        let g = self.classifier.backward(grad_logits);
        let c = self.config.channels;
        let g = self.second.backward(&g, c);
        let g = self.downsample.backward(&g);
        let g = self.first.backward(&g, c);
        self.stem.backward(&g);
    }

    /// Every parameter: the stem's, the cells' (in vertex order), the classifier's.
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.stem.params_mut().into_iter().for_each(&mut *f);
        self.first.for_each_param(&mut *f);
        self.second.for_each_param(&mut *f);
        self.classifier.params_mut().into_iter().for_each(f);
    }

    /// Every conv-bn-relu block of the network: the stem, then each cell's in
    /// vertex order.
    fn for_each_block(&mut self, f: &mut dyn FnMut(&mut ConvBlock)) {
        f(&mut self.stem);
        self.first.for_each_block(&mut *f);
        self.second.for_each_block(f);
    }

    fn parameter_count(&self) -> usize {
        CellNetwork::parameter_count(self)
    }
}

/// Trains a fresh network for the pruned `cell` for `epochs` epochs on `data`'s
/// training set, with every random choice drawn from `seed`; measures train,
/// validation and test accuracy after `epochs / 2` epochs and at the end.
///
/// # Panics
/// If `cell` is not pruned, or `epochs` is 0.
pub fn train_cell(
    cell: &Cell,
    data: &DigitsSplit,
    epochs: u32,
    seed: u64,
    config: TrainConfig,
) -> TrainedRun {
    net::train(
        |rng| CellNetwork::new(cell, config, rng),
        data,
        epochs,
        seed,
    )
}

#[cfg(test)]
mod tests;
