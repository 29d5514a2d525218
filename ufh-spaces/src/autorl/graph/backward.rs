//! The reverse pass of one node of a loss graph.

use super::*;

#[allow(clippy::too_many_arguments)] // reason: the node, the tape and the batch shape
#[allow(clippy::needless_range_loop)] // reason: indices address a row of several batch arrays
pub(super) fn backward(
    node: Node,
    values: &[Value],
    index: usize,
    g: &[f32],
    grads: &mut [Vec<f32>],
    b: usize,
    a: usize,
) {
    let [i0, i1] = node.inputs;
    let x0 = &values[i0].data;
    let out = &values[index].data;
    match node.op {
        Op::QValues | Op::ArgMax | Op::Const05 | Op::Const02 | Op::Const01 | Op::Const001 => {}
        Op::Select => {
            let action = &values[i1].data;
            for i in 0..b {
                grads[i0][i * a + action[i] as usize] += g[i];
            }
        }
        Op::MaxList => {
            for i in 0..b {
                let r = &x0[i * a..(i + 1) * a];
                let best = (0..a).fold(0, |best, k| if r[k] > r[best] { k } else { best });
                grads[i0][i * a + best] += g[i];
            }
        }
        Op::SumList => {
            for i in 0..b {
                for k in 0..a {
                    grads[i0][i * a + k] += g[i];
                }
            }
        }
        Op::LogSumExp => {
            for i in 0..b {
                let p = softmax(&x0[i * a..(i + 1) * a]);
                for k in 0..a {
                    grads[i0][i * a + k] += g[i] * p[k];
                }
            }
        }
        Op::Softmax => {
            for i in 0..b {
                let p = &out[i * a..(i + 1) * a];
                let gp = &g[i * a..(i + 1) * a];
                let inner: f32 = p.iter().zip(gp).map(|(p, g)| p * g).sum();
                for k in 0..a {
                    grads[i0][i * a + k] += p[k] * (gp[k] - inner);
                }
            }
        }
        Op::Entropy => {
            for i in 0..b {
                for k in 0..a {
                    let p = x0[i * a + k];
                    grads[i0][i * a + k] += g[i] * ((p + EPS_ENTROPY).ln() + p / (p + EPS_ENTROPY));
                }
            }
        }
        Op::Kl => {
            let x1 = &values[i1].data;
            for i in 0..b {
                for k in 0..a {
                    let (p, q) = (x0[i * a + k], x1[i * a + k]);
                    grads[i0][i * a + k] +=
                        g[i] * ((p + EPS_LOG).ln() - (q + EPS_LOG).ln() + p / (p + EPS_LOG));
                    grads[i1][i * a + k] -= g[i] * p / (q + EPS_LOG);
                }
            }
        }
        Op::L2Norm => {
            for i in 0..b {
                if out[i] > 0.0 {
                    for k in 0..a {
                        grads[i0][i * a + k] += g[i] * x0[i * a + k] / out[i];
                    }
                }
            }
        }
        Op::Dot => {
            let x1 = &values[i1].data;
            for i in 0..b {
                for k in 0..a {
                    let j = i * a + k;
                    grads[i0][j] += g[i] * x1[j];
                    grads[i1][j] += g[i] * x0[j];
                }
            }
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Max | Op::Min | Op::L2Distance => {
            let x1 = &values[i1].data;
            for j in 0..g.len() {
                let (x, y, gj) = (x0[j], x1[j], g[j]);
                let (dx, dy) = match node.op {
                    Op::Add => (gj, gj),
                    Op::Sub => (gj, -gj),
                    Op::Mul => (gj * y, gj * x),
                    Op::Div => (
                        gj / (y + EPS_DIV),
                        -gj * x / ((y + EPS_DIV) * (y + EPS_DIV)),
                    ),
                    Op::Max => {
                        if x >= y {
                            (gj, 0.0)
                        } else {
                            (0.0, gj)
                        }
                    }
                    Op::Min => {
                        if x <= y {
                            (gj, 0.0)
                        } else {
                            (0.0, gj)
                        }
                    }
                    _ => (gj * (x - y), -gj * (x - y)),
                };
                grads[i0][j] += dx;
                grads[i1][j] += dy;
            }
        }
        Op::Noise => add_into(&mut grads[i0], g),
        Op::Abs | Op::Log | Op::Exp | Op::Scale01 => {
            for j in 0..g.len() {
                let v = x0[j];
                grads[i0][j] += g[j]
                    * match node.op {
                        Op::Abs => v.signum() * f32::from(u8::from(v != 0.0)),
                        Op::Log => v.signum() * f32::from(u8::from(v != 0.0)) / (v.abs() + EPS_LOG),
                        Op::Exp => {
                            if out[j] < EXP_CLIP {
                                out[j]
                            } else {
                                0.0
                            }
                        }
                        _ => 0.1,
                    };
            }
        }
        Op::BatchMean => {
            let total: f32 = g.iter().sum();
            for j in 0..b {
                grads[i0][j] += total / b as f32;
            }
        }
        Op::BatchStd => {
            let total: f32 = g.iter().sum();
            let mean = x0.iter().sum::<f32>() / b as f32;
            let sd = out.first().copied().unwrap_or(0.0);
            if sd > 0.0 {
                for j in 0..b {
                    grads[i0][j] += total * (x0[j] - mean) / (b as f32 * sd);
                }
            }
        }
    }
}
