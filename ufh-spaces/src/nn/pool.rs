//! Pooling layers with hand-written backward passes: NAS-Bench-101's max pools
//! (3×3 same-padded at stride 1, 2×2 at stride 2) and the zoo's average pools.

// With the zoo alone, NAS-Bench-101's max pool is compiled but unused.
#![cfg_attr(not(feature = "nasbench101"), allow(dead_code))]

use super::layers::Tensor;

/// Max pooling with a `size × size` window: 3×3 with stride 1 and same padding
/// (NAS-Bench-101's maxpool3x3) or 2×2 with stride 2 (its downsampling).
#[derive(Debug, Clone)]
pub(crate) struct MaxPool {
    stride: usize,
    argmax: Vec<u32>,
    input_shape: (usize, usize, usize, usize),
}

impl MaxPool {
    pub(crate) fn same3() -> Self {
        Self {
            stride: 1,
            argmax: Vec::new(),
            input_shape: (0, 0, 0, 0),
        }
    }

    pub(crate) fn down2() -> Self {
        Self {
            stride: 2,
            argmax: Vec::new(),
            input_shape: (0, 0, 0, 0),
        }
    }

    pub(crate) fn forward(&mut self, input: &Tensor, training: bool) -> Tensor {
        let (oh, ow) = if self.stride == 1 {
            (input.h, input.w)
        } else {
            (input.h / 2, input.w / 2)
        };
        let mut out = Tensor::zeros(input.channels, input.images, oh, ow);
        if training {
            self.argmax.clear();
            self.argmax.resize(out.data.len(), 0);
            self.input_shape = (input.channels, input.images, input.h, input.w);
        }
        let (in_plane, out_plane) = (input.h * input.w, oh * ow);
        let mut padded = Vec::new();
        for plane in 0..input.channels * input.images {
            let src = &input.data[plane * in_plane..(plane + 1) * in_plane];
            let out_values = &mut out.data[plane * out_plane..(plane + 1) * out_plane];
            let argmax = if training {
                &mut self.argmax[plane * out_plane..(plane + 1) * out_plane]
            } else {
                &mut [][..]
            };
            let base = (plane * in_plane) as u32;
            if self.stride == 1 {
                same3_plane(src, input.h, input.w, &mut padded, out_values, argmax, base);
            } else {
                down2_plane(src, input.w, oh, ow, out_values, argmax, base);
            }
        }
        out
    }

    pub(crate) fn backward(&mut self, grad_output: &Tensor) -> Tensor {
        let (channels, images, h, w) = self.input_shape;
        let mut grad_input = Tensor::zeros(channels, images, h, w);
        for (g, &at) in grad_output.data.iter().zip(&self.argmax) {
            grad_input.data[at as usize] += g;
        }
        grad_input
    }
}

/// One plane of the 3×3, stride-1, same-padded max pool. The plane is copied into
/// a border of −∞ so that every window is nine unconditional compares. They run
/// in the scan order of the window (row-major) with a strict `>` from −∞, so the
/// first maximum wins and a padding cell never does: the same values and argmax
/// as skipping the border, ties included (ReLU outputs tie at 0 often). A window
/// with no value above −∞ (all NaN or −∞) keeps argmax 0, as before.
fn same3_plane(
    src: &[f32],
    h: usize,
    w: usize,
    padded: &mut Vec<f32>,
    out: &mut [f32],
    argmax: &mut [u32],
    base: u32,
) {
    let pw = w + 2;
    padded.clear();
    padded.resize((h + 2) * pw, f32::NEG_INFINITY);
    for y in 0..h {
        padded[(y + 1) * pw + 1..(y + 1) * pw + 1 + w].copy_from_slice(&src[y * w..(y + 1) * w]);
    }
    let track = !argmax.is_empty();
    for y in 0..h {
        let rows = [
            &padded[y * pw..y * pw + pw],
            &padded[(y + 1) * pw..(y + 1) * pw + pw],
            &padded[(y + 2) * pw..(y + 2) * pw + pw],
        ];
        for x in 0..w {
            let mut best = f32::NEG_INFINITY;
            let mut best_k = usize::MAX;
            for (dy, row) in rows.iter().enumerate() {
                let window = &row[x..x + 3];
                for (dx, &v) in window.iter().enumerate() {
                    if v > best {
                        best = v;
                        best_k = dy * 3 + dx;
                    }
                }
            }
            out[y * w + x] = best;
            if track {
                argmax[y * w + x] = if best_k == usize::MAX {
                    base
                } else {
                    let (sy, sx) = (y + best_k / 3 - 1, x + best_k % 3 - 1);
                    base + (sy * w + sx) as u32
                };
            }
        }
    }
}

/// One plane of the 2×2, stride-2 max pool (no padding), in the window's scan
/// order with a strict `>` from −∞, as [`same3_plane`].
fn down2_plane(
    src: &[f32],
    w: usize,
    oh: usize,
    ow: usize,
    out: &mut [f32],
    argmax: &mut [u32],
    base: u32,
) {
    let track = !argmax.is_empty();
    for y in 0..oh {
        for x in 0..ow {
            let corner = 2 * y * w + 2 * x;
            let mut best = f32::NEG_INFINITY;
            let mut best_at = 0usize;
            for at in [corner, corner + 1, corner + w, corner + w + 1] {
                if src[at] > best {
                    best = src[at];
                    best_at = at;
                }
            }
            out[y * ow + x] = best;
            if track {
                argmax[y * ow + x] = base + best_at as u32;
            }
        }
    }
}

/// Average pooling: 3×3 with stride 1 and same padding, averaging only the cells
/// inside the image (NAS-Bench-201's avg_pool_3x3, `count_include_pad=False`), or
/// 2×2 with stride 2 (the zoo's downsampling).
#[cfg(feature = "zoo")]
#[derive(Debug, Clone)]
pub(crate) struct AvgPool {
    stride: usize,
    input_shape: (usize, usize, usize, usize),
}

#[cfg(feature = "zoo")]
impl AvgPool {
    pub(crate) fn same3() -> Self {
        Self {
            stride: 1,
            input_shape: (0, 0, 0, 0),
        }
    }

    pub(crate) fn down2() -> Self {
        Self {
            stride: 2,
            input_shape: (0, 0, 0, 0),
        }
    }

    /// The input cells of output `(y, x)`'s window, row-major, on an `h × w` plane.
    fn window(&self, y: usize, x: usize, h: usize, w: usize) -> impl Iterator<Item = usize> {
        let (y0, y1, x0, x1) = if self.stride == 1 {
            (
                y.saturating_sub(1),
                (y + 2).min(h),
                x.saturating_sub(1),
                (x + 2).min(w),
            )
        } else {
            (2 * y, 2 * y + 2, 2 * x, 2 * x + 2)
        };
        (y0..y1).flat_map(move |sy| (x0..x1).map(move |sx| sy * w + sx))
    }

    fn out_side(&self, h: usize, w: usize) -> (usize, usize) {
        if self.stride == 1 {
            (h, w)
        } else {
            (h / 2, w / 2)
        }
    }

    pub(crate) fn forward(&mut self, input: &Tensor, training: bool) -> Tensor {
        let (h, w) = (input.h, input.w);
        let (oh, ow) = self.out_side(h, w);
        if training {
            self.input_shape = (input.channels, input.images, h, w);
        }
        let mut out = Tensor::zeros(input.channels, input.images, oh, ow);
        for plane in 0..input.channels * input.images {
            let src = &input.data[plane * h * w..(plane + 1) * h * w];
            for y in 0..oh {
                for x in 0..ow {
                    let (mut total, mut count) = (0f32, 0u32);
                    for at in self.window(y, x, h, w) {
                        total += src[at];
                        count += 1;
                    }
                    out.data[plane * oh * ow + y * ow + x] = total / count as f32;
                }
            }
        }
        out
    }

    pub(crate) fn backward(&mut self, grad_output: &Tensor) -> Tensor {
        let (channels, images, h, w) = self.input_shape;
        let (oh, ow) = self.out_side(h, w);
        let mut grad_input = Tensor::zeros(channels, images, h, w);
        for plane in 0..channels * images {
            let dst = &mut grad_input.data[plane * h * w..(plane + 1) * h * w];
            for y in 0..oh {
                for x in 0..ow {
                    let g = grad_output.data[plane * oh * ow + y * ow + x];
                    let count = self.window(y, x, h, w).count() as f32;
                    for at in self.window(y, x, h, w) {
                        dst[at] += g / count;
                    }
                }
            }
        }
        grad_input
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// The max pool as first written: a bounds check per window position. The fast
    /// planes must agree with it in values and argmax, bit for bit.
    fn reference_forward(pool: &MaxPool, input: &Tensor) -> (Vec<f32>, Vec<u32>) {
        let size = if pool.stride == 1 { 3 } else { 2 };
        let (oh, ow, pad) = if pool.stride == 1 {
            (input.h, input.w, 1isize)
        } else {
            (input.h / 2, input.w / 2, 0)
        };
        let mut out = vec![0f32; input.channels * input.images * oh * ow];
        let mut argmax = vec![0u32; out.len()];
        let (in_plane, out_plane) = (input.h * input.w, oh * ow);
        for plane in 0..input.channels * input.images {
            let src = &input.data[plane * in_plane..(plane + 1) * in_plane];
            for y in 0..oh {
                for x in 0..ow {
                    let mut best = f32::NEG_INFINITY;
                    let mut best_at = 0usize;
                    for dy in 0..size {
                        let sy = (y * pool.stride + dy) as isize - pad;
                        if sy < 0 || sy >= input.h as isize {
                            continue;
                        }
                        for dx in 0..size {
                            let sx = (x * pool.stride + dx) as isize - pad;
                            if sx < 0 || sx >= input.w as isize {
                                continue;
                            }
                            let at = sy as usize * input.w + sx as usize;
                            if src[at] > best {
                                best = src[at];
                                best_at = at;
                            }
                        }
                    }
                    let o = plane * out_plane + y * ow + x;
                    out[o] = best;
                    argmax[o] = (plane * in_plane + best_at) as u32;
                }
            }
        }
        (out, argmax)
    }

    #[test]
    fn max_pools_match_the_reference_with_ties_nan_and_infinities() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        for (h, w) in [(8, 8), (4, 4), (5, 3), (1, 1), (2, 6)] {
            for trial in 0..20 {
                let mut input = Tensor::zeros(3, 2, h, w);
                for v in &mut input.data {
                    // Many exact ties (ReLU zeros and repeated values), some specials.
                    *v = match rng.random_range(0..10) {
                        0..=3 => 0.0,
                        4 => 1.0,
                        5 if trial % 4 == 0 => f32::NAN,
                        6 if trial % 5 == 0 => f32::NEG_INFINITY,
                        _ => rng.random::<f32>(),
                    };
                }
                for mut pool in [MaxPool::same3(), MaxPool::down2()] {
                    let (values, argmax) = reference_forward(&pool, &input);
                    let out = pool.forward(&input, true);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&out.data),
                        bits(&values),
                        "{h}x{w} stride {}",
                        pool.stride
                    );
                    assert_eq!(pool.argmax, argmax, "{h}x{w} stride {}", pool.stride);
                    let inference = pool.forward(&input, false);
                    assert_eq!(bits(&inference.data), bits(&values));
                }
            }
        }
    }
}
