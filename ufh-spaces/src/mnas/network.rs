//! An [`Architecture`] built into a trainable network of the substrate's
//! mobile layers, and the per-layer keys of its latency.

use rand_xoshiro::Xoshiro256PlusPlus;

use super::latency::LayerKey;
use super::{Architecture, BlockSpec, Op, STEM_FILTERS, STRIDES};
use crate::digits::N_CLASSES;
use crate::nn::layers::{Classifier, Param, Relu, Tensor};
use crate::nn::mobile::{BatchNorm, Conv, Depthwise, Gate, SqueezeExcite, out_side};

/// One layer of a unit.
#[derive(Debug, Clone)]
pub(crate) enum Layer {
    Conv(Conv),
    Depthwise(Depthwise),
    BatchNorm(BatchNorm),
    Relu(Relu),
    SqueezeExcite(Box<SqueezeExcite>),
}

impl Layer {
    fn forward(&mut self, x: &Tensor, training: bool) -> Tensor {
        match self {
            Layer::Conv(l) => l.forward(x, training),
            Layer::Depthwise(l) => l.forward(x, training),
            Layer::BatchNorm(l) => l.forward(x, training),
            Layer::Relu(l) => l.forward(x, training),
            Layer::SqueezeExcite(l) => l.forward(x, training),
        }
    }

    fn backward(&mut self, g: &Tensor) -> Tensor {
        match self {
            Layer::Conv(l) => l.backward(g),
            Layer::Depthwise(l) => l.backward(g),
            Layer::BatchNorm(l) => l.backward(g),
            Layer::Relu(l) => l.backward(g),
            Layer::SqueezeExcite(l) => l.backward(g),
        }
    }

    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut Param)) {
        match self {
            Layer::Conv(l) => f(&mut l.weight),
            Layer::Depthwise(l) => f(&mut l.weight),
            Layer::BatchNorm(l) => {
                f(&mut l.gamma);
                f(&mut l.beta);
            }
            Layer::Relu(_) => {}
            Layer::SqueezeExcite(l) => l.params_mut().into_iter().for_each(f),
        }
    }

    fn parameter_count(&mut self) -> usize {
        let mut n = 0;
        self.for_each_param(&mut |p| n += p.value.len());
        n
    }
}

/// A searchable layer (or the stem): its layers, and whether its input is added
/// to its output.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    layers: Vec<Layer>,
    residual: bool,
}

impl Unit {
    pub(crate) fn forward(&mut self, x: &Tensor, training: bool) -> Tensor {
        let mut y = self.layers[0].forward(x, training);
        for layer in &mut self.layers[1..] {
            y = layer.forward(&y, training);
        }
        if self.residual {
            y.add_prefix(x);
        }
        y
    }

    fn backward(&mut self, g: &Tensor) -> Tensor {
        let (last, rest) = self.layers.split_last_mut().expect("a unit has layers");
        let mut grad = last.backward(g);
        for layer in rest.iter_mut().rev() {
            grad = layer.backward(&grad);
        }
        if self.residual {
            grad.add_prefix(g);
        }
        grad
    }
}

/// The SE branch's hidden width for `channels` at ratio 0.25.
fn squeezed(channels: usize) -> usize {
    (channels / 4).max(1)
}

/// The latency key of one layer of `spec` from `in_channels` at `side`.
pub(crate) fn layer_key(
    spec: &BlockSpec,
    in_channels: usize,
    side: usize,
    stride: usize,
) -> LayerKey {
    // MBConv ×1 builds the separable conv's layers, so it has the separable
    // conv's key: equivalent layers have one key, one latency and one reward.
    let (op, expansion) = match (spec.op, spec.expansion) {
        (Op::MbConv, 1) | (Op::Depthwise, _) => (Op::Depthwise, 1),
        (Op::MbConv, e) => (Op::MbConv, e),
        (Op::Conv, _) => (Op::Conv, 1),
    };
    LayerKey {
        op,
        kernel: spec.kernel,
        expansion,
        stride,
        in_channels,
        out_channels: spec.filters,
        side,
        squeeze_excite: spec.squeeze_excite.then_some(spec.hard_gate),
        residual: spec.skip && stride == 1 && in_channels == spec.filters,
    }
}

/// The stem's key: a 3×3 regular conv from one channel at side 8.
pub(crate) const STEM_KEY: LayerKey = LayerKey {
    op: Op::Conv,
    kernel: 3,
    expansion: 1,
    stride: 1,
    in_channels: 1,
    out_channels: STEM_FILTERS,
    side: 8,
    squeeze_excite: None,
    residual: false,
};

/// Builds one layer of `key`, drawing its weights from `rng` in layer order.
pub(crate) fn build_unit(key: &LayerKey, rng: &mut Xoshiro256PlusPlus) -> Unit {
    let (k, s, input, out) = (key.kernel, key.stride, key.in_channels, key.out_channels);
    let se = |channels: usize, rng: &mut Xoshiro256PlusPlus| {
        key.squeeze_excite.map(|hard| {
            let gate = if hard {
                Gate::HardSigmoid
            } else {
                Gate::Sigmoid
            };
            Layer::SqueezeExcite(Box::new(SqueezeExcite::new(
                channels,
                squeezed(channels),
                gate,
                rng,
            )))
        })
    };
    let mut layers = Vec::new();
    match key.op {
        Op::Conv => {
            layers.push(Layer::Conv(Conv::new(k, s, input, out, rng)));
            layers.push(Layer::BatchNorm(BatchNorm::new(out)));
            layers.push(Layer::Relu(Relu::default()));
            layers.extend(se(out, rng));
        }
        Op::Depthwise | Op::MbConv => {
            let wide = input * key.expansion;
            if key.expansion > 1 {
                layers.push(Layer::Conv(Conv::new(1, 1, input, wide, rng)));
                layers.push(Layer::BatchNorm(BatchNorm::new(wide)));
                layers.push(Layer::Relu(Relu::default()));
            }
            layers.push(Layer::Depthwise(Depthwise::new(k, s, wide, rng)));
            layers.push(Layer::BatchNorm(BatchNorm::new(wide)));
            layers.push(Layer::Relu(Relu::default()));
            layers.extend(se(wide, rng));
            layers.push(Layer::Conv(Conv::new(1, 1, wide, out, rng)));
            layers.push(Layer::BatchNorm(BatchNorm::new(out)));
        }
    }
    Unit {
        layers,
        residual: key.residual,
    }
}

/// Every layer's key, stem first (the head is keyed by its input width).
pub(crate) fn layer_keys(arch: &Architecture) -> (Vec<LayerKey>, usize) {
    let mut keys = vec![STEM_KEY];
    let (mut channels, mut side) = (STEM_FILTERS, 8);
    for (b, &block_stride) in STRIDES.iter().enumerate() {
        let spec = arch.block(b);
        for layer in 0..spec.repeats {
            let stride = if layer == 0 { block_stride } else { 1 };
            keys.push(layer_key(&spec, channels, side, stride));
            channels = spec.filters;
            side = out_side(side, spec.kernel, stride);
        }
    }
    (keys, channels)
}

/// A network of an [`Architecture`].
#[derive(Debug, Clone)]
pub(crate) struct MnasNetwork {
    units: Vec<Unit>,
    head: Classifier,
}

impl MnasNetwork {
    /// The network of `arch`, weights drawn from `rng` layer by layer: a layer
    /// that is not there draws nothing, so networks of the same layers get the
    /// same weights.
    pub(crate) fn new(arch: &Architecture, rng: &mut Xoshiro256PlusPlus) -> Self {
        let (keys, channels) = layer_keys(arch);
        let units = keys.iter().map(|key| build_unit(key, rng)).collect();
        Self {
            units,
            head: Classifier::new(channels, N_CLASSES, rng),
        }
    }

    /// Logits `[class][image]` of a one-channel 8×8 batch.
    pub(crate) fn forward(&mut self, pixels: &[f32], images: usize, training: bool) -> Vec<f32> {
        let mut x = Tensor {
            channels: 1,
            images,
            h: 8,
            w: 8,
            data: pixels.to_vec(),
        };
        for unit in &mut self.units {
            x = unit.forward(&x, training);
        }
        self.head.forward(&x, training)
    }

    /// The backward pass after a training-mode [`MnasNetwork::forward`].
    pub(crate) fn backward(&mut self, grad_logits: &[f32]) {
        let mut grad = self.head.backward(grad_logits);
        for unit in self.units.iter_mut().rev() {
            grad = unit.backward(&grad);
        }
    }

    pub(crate) fn for_each_param(&mut self, f: &mut dyn FnMut(&mut Param)) {
        for unit in &mut self.units {
            for layer in &mut unit.layers {
                layer.for_each_param(f);
            }
        }
        for p in self.head.params_mut() {
            f(p);
        }
    }

    /// Trainable parameters.
    pub(crate) fn parameter_count(&mut self) -> usize {
        let layers: usize = self
            .units
            .iter_mut()
            .flat_map(|u| u.layers.iter_mut())
            .map(Layer::parameter_count)
            .sum();
        layers + self.head.parameter_count()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::mnas::{BLOCKS, Choice};
    use crate::nn::layers::softmax_cross_entropy;

    /// The whole network's parameter gradients against central differences of
    /// its loss, for one architecture of every op with SE and skips.
    #[test]
    fn network_gradients_match_finite_differences() {
        let data = crate::digits::split().train.first(4);
        let mut arch = Architecture::REFERENCE;
        // Small: one layer per block, each op once, SE on two.
        for b in 0..BLOCKS {
            arch = arch.with(b, Choice::Repeats, if b == 0 { 1 } else { 0 });
        }
        arch = arch
            .with(1, Choice::Repeats, 0)
            .with(2, Choice::Op, 0)
            .with(2, Choice::SeRatio, 1)
            .with(3, Choice::Op, 1)
            .with(3, Choice::SeRatio, 1)
            .with(3, Choice::SeGate, 1)
            .with(3, Choice::Kernel, 1);
        let mut net = MnasNetwork::new(&arch, &mut Xoshiro256PlusPlus::seed_from_u64(1));
        let loss = |net: &mut MnasNetwork| {
            let logits = net.clone().forward(&data.pixels, 4, true);
            f64::from(softmax_cross_entropy(&logits, &data.labels, N_CLASSES).0)
        };
        let logits = net.forward(&data.pixels, 4, true);
        let (_, grad, _) = softmax_cross_entropy(&logits, &data.labels, N_CLASSES);
        net.backward(&grad);
        let mut analytic = Vec::new();
        net.for_each_param(&mut |p| analytic.push(p.grad.clone()));
        // A small step: the deeper the network, the more ReLUs a step of 1e-2
        // moves across their kink (that step gives 8% here, 3e-3 gives 3.5%).
        let step = 1e-3f32;
        let (mut diff, mut norm) = (0f64, 0f64);
        for (p, grads) in analytic.iter().enumerate() {
            // Every fourth value, to keep the test short.
            for i in (0..grads.len()).step_by(4) {
                let at = |d: f32| {
                    let mut shifted = net.clone();
                    let mut k = 0;
                    shifted.for_each_param(&mut |q| {
                        if k == p {
                            q.value[i] += d;
                        }
                        k += 1;
                    });
                    loss(&mut shifted)
                };
                let numeric = (at(step) - at(-step)) / (2.0 * f64::from(step));
                diff += (numeric - f64::from(grads[i])).powi(2);
                norm += numeric * numeric;
            }
        }
        let error = (diff / norm).sqrt();
        eprintln!("relative error {error}");
        assert!(error < 2e-2, "relative error {error}");
    }
}
