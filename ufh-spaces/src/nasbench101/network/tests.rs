use super::*;
use rand::SeedableRng;

use crate::digits;
use crate::nn::layers::softmax_cross_entropy;

fn cell(matrix: &str, ops: &str) -> Cell {
    Cell::from_strings(matrix, ops).unwrap()
}

#[test]
fn channels_follow_nasbench101() {
    // Three vertices feed the output: 8 channels split 3/3/2; vertex 1 feeds
    // only vertex 2 and takes its count.
    let c = cell(
        "011100000010000001000001000001000000",
        "input,conv3x3-bn-relu,conv3x3-bn-relu,conv1x1-bn-relu,maxpool3x3,output",
    );
    let c = c.prune().unwrap();
    let channels = vertex_channels(&c, 8, 8);
    assert_eq!(channels[0], 8);
    assert_eq!(channels[c.num_vertices() - 1], 8);
    let feeding: usize = (1..c.num_vertices() - 1)
        .filter(|&v| c.has_edge(v, c.num_vertices() - 1))
        .map(|v| channels[v])
        .sum();
    assert_eq!(feeding, 8, "{channels:?}");
    for v in 1..c.num_vertices() - 1 {
        for d in v + 1..c.num_vertices() - 1 {
            if c.has_edge(v, d) {
                assert!(channels[v] >= channels[d], "{channels:?}");
            }
        }
    }
}

/// Input gradients of single modules against central differences of
/// `L = Σ out ⊙ g`.
#[test]
fn module_input_gradients_match_finite_differences() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let (channels, images, h, w) = (4, 16, 8, 8);
    let x = Tensor {
        channels,
        images,
        h,
        w,
        data: (0..channels * images * h * w)
            .map(|_| crate::nn::layers::normal(&mut rng))
            .collect(),
    };
    let cell = cell(
        "0111000010000010000100000",
        "input,conv3x3-bn-relu,maxpool3x3,conv1x1-bn-relu,output",
    );
    let module = CellModule::new(cell, channels, channels, &mut rng);
    let out_len = channels * images * h * w;
    let g: Vec<f32> = (0..out_len)
        .map(|_| crate::nn::layers::normal(&mut rng))
        .collect();
    let loss = |m: &CellModule, x: &Tensor| -> f64 {
        let out = m.clone().forward(x, true);
        out.data
            .iter()
            .zip(&g)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum()
    };
    let mut analytic_module = module.clone();
    let out = analytic_module.forward(&x, true);
    let grad = analytic_module.backward(
        &Tensor {
            data: g.clone(),
            ..out
        },
        channels,
    );
    for index in [0, 5, 17, 40, 99, 150, 1000, 2000, 3000] {
        let eps = 1e-2;
        let mut plus = x.clone();
        plus.data[index] += eps;
        let mut minus = x.clone();
        minus.data[index] -= eps;
        let numeric = (loss(&module, &plus) - loss(&module, &minus)) / (2.0 * f64::from(eps));
        let analytic = f64::from(grad.data[index]);
        assert!(
            (numeric - analytic).abs() <= 0.02 * numeric.abs().max(analytic.abs()) + 1e-2,
            "cell input {index}: numeric {numeric}, analytic {analytic}"
        );
    }
    let mut pool = MaxPool::down2();
    let out = pool.forward(&x, true);
    let gp: Vec<f32> = (0..out.data.len())
        .map(|_| crate::nn::layers::normal(&mut rng))
        .collect();
    let grad = pool.backward(&Tensor {
        data: gp.clone(),
        ..out
    });
    for index in [0, 5, 17, 40, 99, 150] {
        let eps = 1e-3;
        let f = |x: &Tensor| -> f64 {
            MaxPool::down2()
                .forward(x, true)
                .data
                .iter()
                .zip(&gp)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum()
        };
        let mut plus = x.clone();
        plus.data[index] += eps;
        let mut minus = x.clone();
        minus.data[index] -= eps;
        let numeric = (f(&plus) - f(&minus)) / (2.0 * f64::from(eps));
        assert!(
            (numeric - f64::from(grad.data[index])).abs() < 1e-2,
            "pool input {index}: numeric {numeric}, analytic {}",
            grad.data[index]
        );
    }
}

/// EZNAS statistics: 22 tensors per conv-bn-relu block with the documented
/// shapes, P stored as a difference, and the stem's input gradient equal to
/// the finite difference of the sum of the logits.
#[test]
fn statistics_have_eznas_shapes_and_true_gradients() {
    let c = cell(
        "0110000100010000",
        "input,conv3x3-bn-relu,conv1x1-bn-relu,output",
    );
    let config = TrainConfig {
        channels: 4,
        ..TrainConfig::EMBEDDED
    };
    let images = 3;
    let data = digits::split().train.first(images).pixels;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let noise: Vec<f32> = (0..images * 64)
        .map(|_| crate::nn::layers::normal(&mut rng))
        .collect();
    let perturbation: Vec<f32> = (0..images * 64)
        .map(|_| crate::nn::layers::normal(&mut rng))
        .collect();
    let fresh = || CellNetwork::new(&c, config, &mut Xoshiro256PlusPlus::seed_from_u64(9));
    let stats = fresh().statistics(&data, &noise, &perturbation, images);
    // Stem, then per cell: the projection into vertex 1, conv 1, the
    // projection into vertex 2... as the cell's blocks are laid out.
    let mut blocks = 0;
    fresh().for_each_block(&mut |_| blocks += 1);
    assert_eq!(stats.len(), blocks);
    for block in &stats {
        assert_eq!(block.tensors.len(), 22);
        let t1 = &block.tensors[0].shape;
        assert_eq!((t1.len(), t1[0]), (4, images), "{t1:?}");
        assert_eq!(
            block.tensors[6].shape.len(),
            4,
            "the weight is [out, in, k, k]"
        );
        for (i, t) in block.tensors.iter().enumerate() {
            assert_eq!(
                t.data.len(),
                t.shape.iter().product::<usize>(),
                "tensor {i}"
            );
            assert!(t.data.iter().all(|v| v.is_finite()), "tensor {i}");
        }
    }
    // The stem's conv input under D is the image itself.
    let stem = &stats[0];
    assert_eq!(stem.tensors[3].shape, vec![images, 1, 8, 8]);
    assert_eq!(stem.tensors[3].data, data);
    // P's input is stored as its difference from D: √0.01 · perturbation.
    for (stored, p) in stem.tensors[5].data.iter().zip(&perturbation) {
        assert!((stored - 0.1 * p).abs() < 1e-6);
    }
    // T2G_D of the stem is d(Σ logits)/d(pixel), training-mode batch norm.
    // ReLUs and max pools make the function piecewise smooth, so a few
    // finite differences straddle a kink: most must match.
    let sum_of_logits = |pixels: &[f32]| -> f64 {
        fresh()
            .logits(pixels, images, true)
            .iter()
            .map(|&v| f64::from(v))
            .sum()
    };
    let gradient = &stem.tensors[13].data;
    let pixels: Vec<usize> = (0..20).map(|i| (i * 37 + 5) % (images * 64)).collect();
    let matching = pixels
        .iter()
        .filter(|&&pixel| {
            let h = 1e-3f32;
            let mut up = data.clone();
            up[pixel] += h;
            let mut down = data.clone();
            down[pixel] -= h;
            let numeric = (sum_of_logits(&up) - sum_of_logits(&down)) / (2.0 * f64::from(h));
            (numeric - f64::from(gradient[pixel])).abs() < 2e-2 * numeric.abs().max(0.1)
        })
        .count();
    assert!(matching >= 15, "{matching} of 20 gradients match");
}

/// grad_norm and snip are positive, seeded, differ between cells, and leave
/// the weights as they were (its gradients come from the same backward pass that
/// the statistics' finite-difference test checks).
#[test]
fn loss_gradient_scores_are_seeded_and_leave_the_network_untrained() {
    let config = TrainConfig {
        channels: 4,
        ..TrainConfig::EMBEDDED
    };
    let batch = digits::split().train.first(16);
    let net = |matrix: &str, ops: &str| {
        CellNetwork::new(
            &cell(matrix, ops),
            config,
            &mut Xoshiro256PlusPlus::seed_from_u64(3),
        )
    };
    let a = || {
        net(
            "0110000100010000",
            "input,conv3x3-bn-relu,conv1x1-bn-relu,output",
        )
    };
    let mut first = a();
    let scores = first.loss_gradient_scores(&batch.pixels, &batch.labels);
    assert!(scores.grad_norm > 0.0 && scores.snip > 0.0, "{scores:?}");
    assert!(scores.grad_norm.is_finite() && scores.snip.is_finite());
    assert_eq!(
        a().loss_gradient_scores(&batch.pixels, &batch.labels),
        scores
    );
    // Asking twice gives the same: gradients are cleared, weights untouched.
    assert_eq!(
        first.loss_gradient_scores(&batch.pixels, &batch.labels),
        scores
    );
    let mut fresh = a();
    // Training-mode logits read the weights, not the running statistics
    // (which any training-mode pass moves).
    let logits = |n: &mut CellNetwork| n.logits(&batch.pixels, 16, true);
    assert_eq!(logits(&mut first), logits(&mut fresh));
    let other = net(
        "0110000100010000",
        "input,maxpool3x3,conv3x3-bn-relu,output",
    )
    .loss_gradient_scores(&batch.pixels, &batch.labels);
    assert_ne!(other, scores);
}

/// The mean cross-entropy (in f64, from the f32 logits) of `net` in training
/// mode after `perturb` has changed its parameters.
fn loss_after(
    net: &CellNetwork,
    pixels: &[f32],
    labels: &[u8],
    perturb: &mut dyn FnMut(&mut CellNetwork),
) -> f64 {
    let mut net = net.clone();
    perturb(&mut net);
    let logits = net::logits(&mut net, pixels, labels.len(), true);
    let images = labels.len();
    let mut loss = 0.0;
    for (image, &label) in labels.iter().enumerate() {
        let logit = |k: usize| f64::from(logits[k * images + image]);
        let max = (0..10).map(logit).fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = (0..10).map(|k| (logit(k) - max).exp()).sum();
        loss += total.ln() + max - logit(usize::from(label));
    }
    loss / images as f64
}

/// Adds `step · direction` to the conv and dense weights (the parameters with
/// weight decay), `direction` flattened in `for_each_param`'s order over them.
fn shift_weights(net: &mut CellNetwork, direction: &[f64], step: f64) {
    let mut at = 0;
    net.for_each_param(&mut |p: &mut Param| {
        if p.decay {
            for v in &mut p.value {
                *v = (f64::from(*v) + step * direction[at]) as f32;
                at += 1;
            }
        }
    });
}

/// The loss gradient over the `n` weights by central differences.
fn fd_gradient(net: &CellNetwork, pixels: &[f32], labels: &[u8], n: usize) -> Vec<f64> {
    // Steps well below the weights' scale (batch norm makes the loss of a
    // small-normed weight tensor sharply curved).
    let h = 1e-3;
    (0..n)
        .map(|i| {
            let mut unit = vec![0.0; n];
            unit[i] = 1.0;
            let at =
                |step: f64| loss_after(net, pixels, labels, &mut |m| shift_weights(m, &unit, step));
            (at(h) - at(-h)) / (2.0 * h)
        })
        .collect()
}

/// Every weight tensor's values, flattened in `for_each_param`'s order.
fn weight_tensors(net: &mut CellNetwork) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    net.for_each_param(&mut |p: &mut Param| {
        if p.decay {
            out.push(p.value.iter().map(|&v| f64::from(v)).collect());
        }
    });
    out
}

/// grad_norm, snip, fisher and synflow of a tiny cell network against central
/// differences of the loss (for synflow, of the sum of the logits), computed
/// here without the network's backward pass; grasp against its definition
/// assembled here from gradients that finite differences confirm.
#[test]
fn zero_cost_scores_match_finite_differences() {
    let config = TrainConfig {
        channels: 4,
        ..TrainConfig::EMBEDDED
    };
    let cell = cell(
        "0110000100010000",
        "input,conv3x3-bn-relu,conv1x1-bn-relu,output",
    );
    let build = || CellNetwork::new(&cell, config, &mut Xoshiro256PlusPlus::seed_from_u64(11));
    let batch = digits::split().train.first(8);
    let (pixels, labels) = (&batch.pixels, &batch.labels);
    let scores = build().loss_gradient_scores(pixels, labels);
    let mut net = build();
    let tensors = weight_tensors(&mut net);
    let n: usize = tensors.iter().map(Vec::len).sum();
    let close = |name: &str, numeric: f64, analytic: f64, tolerance: f64| {
        eprintln!(
            "{name}: {numeric} {analytic} {}",
            (numeric - analytic).abs() / numeric.abs()
        );
        assert!(
            (numeric - analytic).abs() <= tolerance * numeric.abs().max(analytic.abs()),
            "{name}: finite differences {numeric}, the network's {analytic}"
        );
    };

    let gradient = fd_gradient(&net, pixels, labels, n);
    let mut grad_norm = 0.0;
    let mut snip = 0.0;
    let mut at = 0;
    for tensor in &tensors {
        let g = &gradient[at..at + tensor.len()];
        grad_norm += g.iter().map(|v| v * v).sum::<f64>().sqrt();
        snip += tensor
            .iter()
            .zip(g)
            .map(|(w, g)| (w * g).abs())
            .sum::<f64>();
        at += tensor.len();
    }
    close("grad_norm", grad_norm, scores.grad_norm, 0.02);
    close("snip", snip, scores.snip, 0.02);

    // grasp = −θᵀ H g, H g the central difference of the gradient along g with
    // a step of norm 10⁻² (the network's definition). A ReLU network's loss is
    // too kinked for a second difference of the loss to settle, so H g is
    // assembled here from the network's gradients at θ ± εg, and those
    // gradients are checked against finite differences of the loss.
    let theta: Vec<f64> = tensors.iter().flatten().copied().collect();
    let backward_gradient = |m: &CellNetwork| -> Vec<f64> {
        let mut m = m.clone();
        m.for_each_param(&mut |p: &mut Param| p.grad.fill(0.0));
        let logits = net::logits(&mut m, pixels, labels.len(), true);
        let (_, grad_logits, _) = softmax_cross_entropy(&logits, labels, N_CLASSES);
        m.backward(&grad_logits);
        let mut out = Vec::new();
        m.for_each_param(&mut |p: &mut Param| {
            if p.decay {
                out.extend(p.grad.iter().map(|&v| f64::from(v)));
            }
        });
        out
    };
    let g = backward_gradient(&net);
    let epsilon = 1e-2 / g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let distance = |a: &[f64], b: &[f64]| {
        let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        let norm: f64 = b.iter().map(|y| y * y).sum();
        (d / norm).sqrt()
    };
    let mut shifted_gradients = Vec::new();
    for sign in [1.0, -1.0] {
        let mut shifted = net.clone();
        shift_weights(&mut shifted, &g, sign * epsilon);
        let backward = backward_gradient(&shifted);
        let numeric = fd_gradient(&shifted, pixels, labels, n);
        let off = distance(&numeric, &backward);
        assert!(
            off < 0.02,
            "gradient at θ {sign:+}εg: {off} from finite differences"
        );
        shifted_gradients.push(backward);
    }
    let grasp: f64 = (0..n)
        .map(|i| -theta[i] * (shifted_gradients[0][i] - shifted_gradients[1][i]) / (2.0 * epsilon))
        .sum();
    close("grasp", grasp, scores.grasp, 1e-9);

    // fisher with batch norm off and one image: scaling row c of a block's
    // conv weight by 1 + t scales that channel's conv output alone, so
    // dL/dt = Σ_spatial a·∂L/∂a, and fisher = ½ Σ over blocks and channels of
    // its square.
    let mut plain = build();
    plain.for_each_block(&mut |b| b.set_batch_norm(false));
    let (one_pixels, one_label) = (&pixels[..64], &labels[..1]);
    let fisher_net = plain
        .clone()
        .loss_gradient_scores(one_pixels, one_label)
        .fisher;
    let mut shapes = Vec::new();
    plain.for_each_block(&mut |b| {
        let len = b.weight().len();
        // Batch norm's scale and shift: one each per output channel.
        shapes.push(((b.parameter_count() - len) / 2, len));
    });
    let mut fisher = 0.0;
    for (block, &(channels, len)) in shapes.iter().enumerate() {
        let row = len / channels;
        for channel in 0..channels {
            let at = |t: f64| {
                loss_after(&plain, one_pixels, one_label, &mut |m| {
                    let mut b_index = 0;
                    m.for_each_block(&mut |b| {
                        if b_index == block {
                            let weight = &mut b.params_mut()[0].value;
                            for v in &mut weight[channel * row..(channel + 1) * row] {
                                *v = (f64::from(*v) * (1.0 + t)) as f32;
                            }
                        }
                        b_index += 1;
                    });
                })
            };
            let h = 1e-2;
            let s = (at(h) - at(-h)) / (2.0 * h);
            fisher += 0.5 * s * s;
        }
    }
    close("fisher", fisher, fisher_net, 0.03);

    // synflow: |θ| everywhere, batch norm off, R = Σ logits of one all-ones
    // image; Σ |θ ⊙ ∂R/∂θ| over the weights.
    let mut positive = build();
    positive.for_each_param(&mut |p: &mut Param| {
        for v in &mut p.value {
            *v = v.abs();
        }
    });
    positive.for_each_block(&mut |b| b.set_batch_norm(false));
    let ones = vec![1f32; 64];
    let r = |step: f64, i: usize| {
        let mut m = positive.clone();
        let mut unit = vec![0.0; n];
        unit[i] = 1.0;
        shift_weights(&mut m, &unit, step);
        net::logits(&mut m, &ones, 1, true)
            .iter()
            .map(|&v| f64::from(v))
            .sum::<f64>()
    };
    let abs_theta: Vec<f64> = theta.iter().map(|t| t.abs()).collect();
    let h = 1e-2;
    let synflow: f64 = (0..n)
        .map(|i| (abs_theta[i] * (r(h, i) - r(-h, i)) / (2.0 * h)).abs())
        .sum();
    close("synflow", synflow, scores.synflow, 0.02);
}

#[test]
fn training_learns_and_is_deterministic() {
    let data = digits::split();
    let c = cell(
        "0110000100010000",
        "input,conv3x3-bn-relu,conv1x1-bn-relu,output",
    );
    let first = train_cell(&c, &data, 4, 7, TrainConfig::EMBEDDED);
    let second = train_cell(&c, &data, 4, 7, TrainConfig::EMBEDDED);
    let accuracies = |r: &TrainedRun| {
        [r.metrics.halfway, r.metrics.end]
            .map(|m| [m.train_accuracy, m.validation_accuracy, m.test_accuracy])
    };
    assert_eq!(accuracies(&first), accuracies(&second));
    assert!(!first.diverged);
    assert!(
        first.metrics.end.validation_accuracy > 0.7,
        "{:?}",
        first.metrics.end
    );
    assert!(first.metrics.end.validation_accuracy > first.metrics.halfway.validation_accuracy);
    let other_seed = train_cell(&c, &data, 4, 8, TrainConfig::EMBEDDED);
    assert_ne!(accuracies(&first), accuracies(&other_seed));
}
