//! Times one training epoch (1,000 images of 1×8×8, batch 50, 20 steps) of the same
//! small NAS-Bench-101-style network on one core in candle, burn (Flex backend with
//! autodiff) and ufh's hand-written substrate.
//!
//! Network: stem conv3x3(1→8)-BN-ReLU; cell 1 at 8×8: conv1x1 projection (8→8),
//! conv3x3(8→8), conv1x1(8→8), each with BN-ReLU; max-pool 2×2; cell 2 at 4×4:
//! projection (8→16), conv3x3(16→16), conv1x1(16→16); global average pool; dense
//! 16→10; cross-entropy; one SGD step per batch.
const IMAGES: usize = 1000;
const BATCH: usize = 50;
const EPOCHS: usize = 10;

fn report(name: &str, seconds: &[f64]) {
    let mut s = seconds.to_vec();
    s.sort_by(f64::total_cmp);
    println!("{name:<28} median {:.4} s/epoch  (min {:.4}, max {:.4}, {} epochs)", s[s.len() / 2], s[0], s[s.len() - 1], s.len());
}

mod candle_net {
    use candle_core::{DType, Device, Module, ModuleT, Result, Tensor};
    use candle_nn::{BatchNormConfig, Conv2dConfig, Optimizer, VarBuilder, VarMap};

    struct Cbr {
        conv: candle_nn::Conv2d,
        bn: candle_nn::BatchNorm,
    }
    impl Cbr {
        fn new(vb: VarBuilder<'_>, cin: usize, cout: usize, k: usize) -> Result<Self> {
            let cfg = Conv2dConfig { padding: k / 2, ..Default::default() };
            Ok(Self {
                conv: candle_nn::conv2d_no_bias(cin, cout, k, cfg, vb.pp("conv"))?,
                bn: candle_nn::batch_norm(cout, BatchNormConfig::default(), vb.pp("bn"))?,
            })
        }
        fn fwd(&self, x: &Tensor) -> Result<Tensor> {
            self.bn.forward_t(&self.conv.forward(x)?, true)?.relu()
        }
    }
    pub fn run() -> Result<Vec<f64>> {
        let dev = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let layers = [
            Cbr::new(vb.pp("stem"), 1, 8, 3)?,
            Cbr::new(vb.pp("p1"), 8, 8, 1)?,
            Cbr::new(vb.pp("a1"), 8, 8, 3)?,
            Cbr::new(vb.pp("b1"), 8, 8, 1)?,
            Cbr::new(vb.pp("p2"), 8, 16, 1)?,
            Cbr::new(vb.pp("a2"), 16, 16, 3)?,
            Cbr::new(vb.pp("b2"), 16, 16, 1)?,
        ];
        let dense = candle_nn::linear(16, 10, vb.pp("dense"))?;
        let mut opt = candle_nn::SGD::new(varmap.all_vars(), 0.1)?;
        let x = Tensor::randn(0f32, 1.0, (super::IMAGES, 1, 8, 8), &dev)?;
        let y = Tensor::from_vec((0..super::IMAGES as u32).map(|i| i % 10).collect::<Vec<_>>(), super::IMAGES, &dev)?;
        let mut times = Vec::new();
        for _ in 0..super::EPOCHS {
            let start = std::time::Instant::now();
            for b in 0..super::IMAGES / super::BATCH {
                let xb = x.narrow(0, b * super::BATCH, super::BATCH)?;
                let yb = y.narrow(0, b * super::BATCH, super::BATCH)?;
                let mut h = layers[0].fwd(&xb)?;
                h = layers[1].fwd(&h)?;
                h = layers[2].fwd(&h)?;
                h = layers[3].fwd(&h)?;
                h = h.max_pool2d(2)?;
                h = layers[4].fwd(&h)?;
                h = layers[5].fwd(&h)?;
                h = layers[6].fwd(&h)?;
                let pooled = h.mean((2, 3))?;
                let logits = dense.forward(&pooled)?;
                let loss = candle_nn::loss::cross_entropy(&logits, &yb)?;
                opt.backward_step(&loss)?;
            }
            times.push(start.elapsed().as_secs_f64());
        }
        Ok(times)
    }
}

mod burn_net {
    use burn::module::Module;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
    use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::prelude::*;

    #[derive(Module, Debug)]
    struct Cbr {
        conv: Conv2d,
        bn: BatchNorm,
    }
    impl Cbr {
        fn new(device: &Device, cin: usize, cout: usize, k: usize) -> Self {
            Self {
                conv: Conv2dConfig::new([cin, cout], [k, k])
                    .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
                    .with_bias(false)
                    .init(device),
                bn: BatchNormConfig::new(cout).init(device),
            }
        }
        fn fwd(&self, x: Tensor<4>) -> Tensor<4> {
            burn::tensor::activation::relu(self.bn.forward(self.conv.forward(x)))
        }
    }
    #[derive(Module, Debug)]
    struct Net {
        layers: Vec<Cbr>,
        pool: MaxPool2d,
        dense: Linear,
    }
    impl Net {
        fn forward(&self, x: Tensor<4>) -> Tensor<2> {
            let mut h = x;
            for (i, l) in self.layers.iter().enumerate() {
                if i == 4 {
                    h = self.pool.forward(h);
                }
                h = l.fwd(h);
            }
            let [n, c, _, _] = h.dims();
            let pooled = h.mean_dim(3).mean_dim(2).reshape([n, c]);
            self.dense.forward(pooled)
        }
    }
    pub fn run() -> Vec<f64> {
        let device = Device::flex().autodiff();
        let mut net = Net {
            layers: vec![
                Cbr::new(&device, 1, 8, 3),
                Cbr::new(&device, 8, 8, 1),
                Cbr::new(&device, 8, 8, 3),
                Cbr::new(&device, 8, 8, 1),
                Cbr::new(&device, 8, 16, 1),
                Cbr::new(&device, 16, 16, 3),
                Cbr::new(&device, 16, 16, 1),
            ],
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            dense: LinearConfig::new(16, 10).init(&device),
        };
        let mut optim = SgdConfig::new().with_momentum(Some(MomentumConfig::new())).init();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let x = Tensor::<4>::random([super::IMAGES, 1, 8, 8], burn::tensor::Distribution::Default, &device);
        let y = Tensor::<1, Int>::from_ints((0..super::IMAGES as i32).map(|i| i % 10).collect::<Vec<_>>().as_slice(), &device);
        let mut times = Vec::new();
        for _ in 0..super::EPOCHS {
            let start = std::time::Instant::now();
            for b in 0..super::IMAGES / super::BATCH {
                let xb = x.clone().narrow(0, b * super::BATCH, super::BATCH);
                let yb = y.clone().narrow(0, b * super::BATCH, super::BATCH);
                let logits = net.forward(xb);
                let loss = loss_fn.forward(logits, yb);
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(0.1, net, grads);
            }
            times.push(start.elapsed().as_secs_f64());
        }
        times
    }
}

fn ufh() -> Vec<f64> {
    use ufh_spaces::nasbench101::{Cell, TrainConfig, train_cell};
    let data = ufh_spaces::digits::split();
    let cell = Cell::from_strings("0100001000010000", "input,conv3x3-bn-relu,conv1x1-bn-relu,output").unwrap();
    (0..EPOCHS as u64)
        // train_cell times the training steps alone, as the other two loops do.
        .map(|seed| train_cell(&cell, &data, 1, seed, TrainConfig::EMBEDDED).metrics.end.training_time)
        .collect()
}

fn main() {
    let which: Vec<String> = std::env::args().skip(1).collect();
    let all = which.is_empty();
    if all || which.iter().any(|w| w == "ufh") {
        report("ufh (hand-written)", &ufh());
    }
    if all || which.iter().any(|w| w == "candle") {
        report("candle 0.11 (cpu)", &candle_net::run().expect("candle run"));
    }
    if all || which.iter().any(|w| w == "burn") {
        report("burn 0.22 (flex + autodiff)", &burn_net::run());
    }
}
