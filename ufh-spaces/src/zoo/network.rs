//! The zoo's networks: a stem, a DAG of nodes (each the sum of its incoming
//! edges' operations) and a ReLU-GAP-linear head, with the hand-written backward
//! pass of [`crate::nn`].

use rand_xoshiro::Xoshiro256PlusPlus;

use crate::digits::{Digits, N_CLASSES};
use crate::nn::layers::{Classifier, ConvBlock, Order, Param, Relu, Tensor};
use crate::nn::net::{self, Net};
use crate::nn::net::{BlockStatistics, LossGradientScores};
use crate::nn::pool::AvgPool;
use crate::nn::train::TrainConfig;

/// What an edge computes from its source node.
#[derive(Debug, Clone)]
pub(crate) enum EdgeOp {
    /// The source as it is (NAS-Bench-201's skip_connect).
    Identity,
    /// A ReLU-Conv-BN block, 1×1 or 3×3 (an EZNAS statistics instance).
    Block(Box<ConvBlock>),
    /// An average pool (3×3 same, or the 2×2 downsampling).
    Pool(AvgPool),
}

#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub(crate) from: usize,
    pub(crate) op: EdgeOp,
}

/// A node: `channels` channels on a `side × side` plane, the sum of its edges (all
/// zeros when it has none).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) channels: usize,
    pub(crate) side: usize,
    pub(crate) edges: Vec<Edge>,
}

/// Builds a network's node list, node 0 being the stem's output.
pub(crate) struct Builder<'a> {
    pub(crate) nodes: Vec<Node>,
    pub(crate) rng: &'a mut Xoshiro256PlusPlus,
}

impl Builder<'_> {
    /// Node `node`'s channels and side.
    pub(crate) fn shape(&self, node: usize) -> (usize, usize) {
        (self.nodes[node].channels, self.nodes[node].side)
    }

    /// A new node with no edges yet; returns its index.
    pub(crate) fn node(&mut self, channels: usize, side: usize) -> usize {
        self.nodes.push(Node {
            channels,
            side,
            edges: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// An edge from `from` into `to` (the channels and sides must agree).
    pub(crate) fn edge(&mut self, from: usize, to: usize, op: EdgeOp) {
        self.nodes[to].edges.push(Edge { from, op });
    }

    /// A ReLU-Conv-BN edge from `from` into `to`, drawing its weights.
    pub(crate) fn block(&mut self, kernel: usize, from: usize, to: usize) {
        let (cin, cout) = (self.nodes[from].channels, self.nodes[to].channels);
        let block = ConvBlock::with_order(Order::ReluConvBn, kernel, cin, cout, self.rng);
        self.edge(from, to, EdgeOp::Block(Box::new(block)));
    }
}

/// A zoo network, built at initialisation by [`super::Architecture::network`].
#[derive(Debug, Clone)]
pub struct ZooNetwork {
    config: TrainConfig,
    stem: ConvBlock,
    nodes: Vec<Node>,
    head: Relu,
    classifier: Classifier,
}

impl ZooNetwork {
    /// A network whose stem (3×3 conv-BN from the one-channel digits) leads to
    /// `stem_channels` channels; `body` adds the nodes after node 0 (the stem's
    /// output), the last node feeding the head.
    pub(crate) fn build(
        config: TrainConfig,
        stem_channels: usize,
        rng: &mut Xoshiro256PlusPlus,
        body: impl FnOnce(&mut Builder<'_>),
    ) -> Self {
        assert!(
            matches!(config.input_side, 4 | 8),
            "input_side is 8 or 4, not {}",
            config.input_side
        );
        let stem = ConvBlock::with_order(Order::ConvBn, 3, 1, stem_channels, rng);
        let mut builder = Builder {
            nodes: vec![Node {
                channels: stem_channels,
                side: config.input_side,
                edges: Vec::new(),
            }],
            rng,
        };
        body(&mut builder);
        let nodes = builder.nodes;
        let last = nodes.last().expect("node 0").channels;
        let classifier = Classifier::new(last, N_CLASSES, builder.rng);
        Self {
            config,
            stem,
            nodes,
            head: Relu::default(),
            classifier,
        }
    }

    /// Trainable parameters (conv weights, batch-norm scales and shifts, dense
    /// weights and biases).
    pub fn parameter_count(&self) -> usize {
        Net::parameter_count(self)
    }

    /// Multiply-accumulates of one image's forward pass through the convolutions
    /// and the dense layer.
    pub fn flops(&self) -> u64 {
        let mut total = (self.stem.weight().len() * self.config.input_side.pow(2)) as u64;
        for node in &self.nodes {
            for edge in &node.edges {
                if let EdgeOp::Block(block) = &edge.op {
                    total += (block.weight().len() * node.side * node.side) as u64;
                }
            }
        }
        let last = self.nodes.last().expect("node 0").channels;
        total + (last * N_CLASSES) as u64
    }

    /// ReLU-Conv-BN blocks: EZNAS's statistics instances.
    pub fn block_count(&self) -> usize {
        self.nodes
            .iter()
            .flat_map(|n| &n.edges)
            .filter(|e| matches!(e.op, EdgeOp::Block(_)))
            .count()
    }

    /// EZNAS's statistics, as NAS-Bench-101's `CellNetwork::statistics_seeded`
    /// takes them, one [`BlockStatistics`] per ReLU-Conv-BN block in node and edge
    /// order (the stem, a conv-BN without ReLU, is not one).
    pub fn statistics_seeded(
        &mut self,
        data: &[f32],
        images: usize,
        seed: u64,
    ) -> Vec<BlockStatistics> {
        net::statistics_seeded(self, data, images, seed)
    }

    /// The loss-gradient zero-cost scores (see [`LossGradientScores`]).
    pub fn loss_gradient_scores(&mut self, pixels: &[f32], labels: &[u8]) -> LossGradientScores {
        net::loss_gradient_scores(self, pixels, labels)
    }

    /// Accuracy on `data` with batch norm in inference mode.
    pub fn accuracy(&mut self, data: &Digits) -> f64 {
        net::accuracy(self, data)
    }
}

impl Net for ZooNetwork {
    fn config(&self) -> TrainConfig {
        self.config
    }

    fn forward(&mut self, input: &Tensor, training: bool) -> Vec<f32> {
        let images = input.images;
        let mut values: Vec<Tensor> = Vec::with_capacity(self.nodes.len());
        values.push(self.stem.forward(input, training));
        for i in 1..self.nodes.len() {
            let (channels, side) = (self.nodes[i].channels, self.nodes[i].side);
            let mut total = Tensor::zeros(channels, images, side, side);
            for edge in &mut self.nodes[i].edges {
                let source = &values[edge.from];
                let part = match &mut edge.op {
                    EdgeOp::Identity => {
                        total.add_prefix(source);
                        continue;
                    }
                    EdgeOp::Block(block) => block.forward(source, training),
                    EdgeOp::Pool(pool) => pool.forward(source, training),
                };
                total.add_prefix(&part);
            }
            values.push(total);
        }
        let last = values.pop().expect("node 0");
        let x = self.head.forward(&last, training);
        self.classifier.forward(&x, training)
    }

    fn backward(&mut self, grad_logits: &[f32]) {
        let g = self.classifier.backward(grad_logits);
        let g = self.head.backward(&g);
        let images = g.images;
        let mut grads: Vec<Tensor> = self
            .nodes
            .iter()
            .map(|n| Tensor::zeros(n.channels, images, n.side, n.side))
            .collect();
        let last = grads.len() - 1;
        grads[last] = g;
        for i in (1..self.nodes.len()).rev() {
            let grad = std::mem::replace(&mut grads[i], Tensor::zeros(0, 0, 0, 0));
            for edge in &mut self.nodes[i].edges {
                let part = match &mut edge.op {
                    EdgeOp::Identity => {
                        grads[edge.from].add_prefix(&grad);
                        continue;
                    }
                    EdgeOp::Block(block) => block.backward(&grad),
                    EdgeOp::Pool(pool) => pool.backward(&grad),
                };
                grads[edge.from].add_prefix(&part);
            }
        }
        self.stem.backward(&grads[0]);
    }

    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.stem.params_mut().into_iter().for_each(&mut *f);
        self.for_each_block(&mut |b| b.params_mut().into_iter().for_each(&mut *f));
        self.classifier.params_mut().into_iter().for_each(f);
    }

    fn for_each_block(&mut self, f: &mut dyn FnMut(&mut ConvBlock)) {
        for node in &mut self.nodes {
            for edge in &mut node.edges {
                if let EdgeOp::Block(block) = &mut edge.op {
                    f(block);
                }
            }
        }
    }

    fn parameter_count(&self) -> usize {
        let blocks: usize = self
            .nodes
            .iter()
            .flat_map(|n| &n.edges)
            .map(|e| match &e.op {
                EdgeOp::Block(block) => block.parameter_count(),
                _ => 0,
            })
            .sum();
        self.stem.parameter_count() + blocks + self.classifier.parameter_count()
    }
}
