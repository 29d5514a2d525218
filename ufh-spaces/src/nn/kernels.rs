//! Dense kernels on `f32` slices, written so that every output element is summed in
//! one fixed order: results are bit-identical on every x86-64 (and any IEEE-754)
//! machine, at any SIMD width, because no kernel reassociates a sum and Rust never
//! fuses a multiply and an add on its own.
//!
//! The vectorisable loops run over contiguous output elements (`axpy` form); the
//! one reduction kernel ([`dot`]) keeps eight explicit partial sums, added in a
//! fixed order at the end.

/// Columns processed per block in [`matmul_acc`], so that one output row block and
/// the right-hand block stay in cache.
const BLOCK: usize = 512;

/// Runs `$body` compiled with AVX2 enabled when the CPU has it, else compiled for
/// the baseline target. Both versions perform the same IEEE operations in the same
/// order (AVX2 only widens the lanes; FMA is never enabled), so the results are
/// bit-identical.
macro_rules! dispatch {
    ($(#[$meta:meta])* $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$meta])*
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                return unsafe { $name::wide($($arg),*) };
            }
            $name::portable($($arg),*)
        }

        /// The kernel's two builds, which the tests compare bit for bit.
        pub(crate) mod $name {
            use super::*;

            /// Compiled for the baseline target.
            #[inline(always)]
            pub(crate) fn portable($($arg: $ty),*) $body

            /// The same code compiled with AVX2 enabled.
            ///
            /// # Safety
            /// The CPU must support AVX2.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            pub(crate) unsafe fn wide($($arg: $ty),*) {
                portable($($arg),*)
            }
        }
    };
}

/// Output rows and columns of the register tile of [`matmul_acc`] and
/// [`matmul_at_acc`]: 4 × 16 accumulators (eight AVX2 registers) stay in
/// registers for a whole sum.
const TILE_ROWS: usize = 4;
const TILE_COLS: usize = 16;

/// `out[i][j] += Σ_t w(i, t) · x(t)[j]` for a tile of `TILE_ROWS` output rows
/// starting at `out_at` (stride `n`) and `TILE_COLS` columns, `t` in `0..terms`
/// in order: the same sums, in the same order, as the axpy form.
#[inline(always)]
fn tile(
    out: &mut [f32],
    out_at: usize,
    n: usize,
    terms: usize,
    w: impl Fn(usize, usize) -> f32,
    x: impl Fn(usize) -> usize,
    xs: &[f32],
) {
    let mut acc = [[0f32; TILE_COLS]; TILE_ROWS];
    for (r, row) in acc.iter_mut().enumerate() {
        row.copy_from_slice(&out[out_at + r * n..out_at + r * n + TILE_COLS]);
    }
    for t in 0..terms {
        let at = x(t);
        let x_row: &[f32; TILE_COLS] = xs[at..at + TILE_COLS].try_into().expect("a tile row");
        for (r, row) in acc.iter_mut().enumerate() {
            let w = w(r, t);
            for (y, &x) in row.iter_mut().zip(x_row) {
                *y += w * x;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        out[out_at + r * n..out_at + r * n + TILE_COLS].copy_from_slice(row);
    }
}

dispatch! {
    /// `out[m×n] += a[m×k] · b[k×n]`, all row-major; each output element sums its
    /// `k` terms in order.
    matmul_acc(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
        debug_assert_eq!(out.len(), m * n);
        debug_assert_eq!(a.len(), m * k);
        debug_assert_eq!(b.len(), k * n);
        // Whole tiles in registers, then the rest of the rows and columns in the
        // axpy form: both sum each element's terms in order from its old value.
        let (tiled_m, tiled_n) = (m - m % TILE_ROWS, n - n % TILE_COLS);
        for i0 in (0..tiled_m).step_by(TILE_ROWS) {
            for j0 in (0..tiled_n).step_by(TILE_COLS) {
                tile(out, i0 * n + j0, n, k, |r, t| a[(i0 + r) * k + t], |t| t * n + j0, b);
            }
        }
        let axpy_rows = |out: &mut [f32], rows: std::ops::Range<usize>, j0: usize, j1: usize| {
            for i in rows {
                let out_row = &mut out[i * n + j0..i * n + j1];
                let weights = &a[i * k..(i + 1) * k];
                let mut kk = 0;
                while kk + 4 <= k {
                    let rows = [0, 1, 2, 3].map(|d| &b[(kk + d) * n + j0..(kk + d) * n + j1]);
                    let w = [weights[kk], weights[kk + 1], weights[kk + 2], weights[kk + 3]];
                    axpy4(out_row, w, rows);
                    kk += 4;
                }
                while kk < k {
                    axpy(out_row, weights[kk], &b[kk * n + j0..kk * n + j1]);
                    kk += 1;
                }
            }
        };
        if tiled_n < n {
            axpy_rows(out, 0..tiled_m, tiled_n, n);
        }
        for j0 in (0..n).step_by(BLOCK) {
            axpy_rows(out, tiled_m..m, j0, (j0 + BLOCK).min(n));
        }
    }
}

dispatch! {
    /// `out[k×n] += aᵀ · b` for `a[m×k]`, `b[m×n]`: the input gradient of a
    /// matmul; each output element sums its `m` terms in order.
    matmul_at_acc(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
        debug_assert_eq!(out.len(), k * n);
        debug_assert_eq!(a.len(), m * k);
        debug_assert_eq!(b.len(), m * n);
        let (tiled_k, tiled_n) = (k - k % TILE_ROWS, n - n % TILE_COLS);
        for k0 in (0..tiled_k).step_by(TILE_ROWS) {
            for j0 in (0..tiled_n).step_by(TILE_COLS) {
                tile(out, k0 * n + j0, n, m, |r, i| a[i * k + k0 + r], |i| i * n + j0, b);
            }
        }
        let axpy_rows = |out: &mut [f32], rows: std::ops::Range<usize>, j0: usize, j1: usize| {
            for kk in rows {
                let out_row = &mut out[kk * n + j0..kk * n + j1];
                let mut i = 0;
                while i + 4 <= m {
                    let rows = [0, 1, 2, 3].map(|d| &b[(i + d) * n + j0..(i + d) * n + j1]);
                    let w = [0, 1, 2, 3].map(|d| a[(i + d) * k + kk]);
                    axpy4(out_row, w, rows);
                    i += 4;
                }
                while i < m {
                    axpy(out_row, a[i * k + kk], &b[i * n + j0..i * n + j1]);
                    i += 1;
                }
            }
        };
        if tiled_n < n {
            axpy_rows(out, 0..tiled_k, tiled_n, n);
        }
        for j0 in (0..n).step_by(BLOCK) {
            axpy_rows(out, tiled_k..k, j0, (j0 + BLOCK).min(n));
        }
    }
}

dispatch! {
    /// `out[m×k] += a[m×n] · bᵀ` for `b[k×n]`: the weight gradient of a matmul.
    matmul_bt_acc(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize) {
        debug_assert_eq!(out.len(), m * k);
        debug_assert_eq!(a.len(), m * n);
        debug_assert_eq!(b.len(), k * n);
        // Tiles of 2 × 4 dot products share their loads, each with its own eight
        // partial sums, summed and combined exactly as `dot` does; the other rows
        // and columns call `dot`.
        let chunks = n / 8;
        let (tiled_m, tiled_k) = (m - m % 2, k - k % 4);
        for i0 in (0..tiled_m).step_by(2) {
            for k0 in (0..tiled_k).step_by(4) {
                let mut lanes = [[[0f32; 8]; 4]; 2];
                let (a0, a1) = (&a[i0 * n..], &a[(i0 + 1) * n..]);
                let (b0, b1, b2, b3) =
                    (&b[k0 * n..], &b[(k0 + 1) * n..], &b[(k0 + 2) * n..], &b[(k0 + 3) * n..]);
                for c in 0..chunks {
                    let at = c * 8;
                    let av = [&a0[at..at + 8], &a1[at..at + 8]];
                    let bv = [&b0[at..at + 8], &b1[at..at + 8], &b2[at..at + 8], &b3[at..at + 8]];
                    for (row, x) in lanes.iter_mut().zip(av) {
                        for (lane, y) in row.iter_mut().zip(bv) {
                            for l in 0..8 {
                                lane[l] += x[l] * y[l];
                            }
                        }
                    }
                }
                for (r, row) in lanes.iter().enumerate() {
                    for (q, lane) in row.iter().enumerate() {
                        let (x, y) = (&a[(i0 + r) * n..(i0 + r + 1) * n], &b[(k0 + q) * n..(k0 + q + 1) * n]);
                        let mut tail = 0f32;
                        for t in chunks * 8..n {
                            tail += x[t] * y[t];
                        }
                        out[(i0 + r) * k + k0 + q] += combine(lane, tail);
                    }
                }
            }
        }
        for i in 0..m {
            let a_row = &a[i * n..(i + 1) * n];
            let from = if i < tiled_m { tiled_k } else { 0 };
            for kk in from..k {
                out[i * k + kk] += dot(a_row, &b[kk * n..(kk + 1) * n]);
            }
        }
    }
}

/// `y = (((y + w0·x0) + w1·x1) + w2·x2) + w3·x3`, element-wise: the same sums, in
/// the same order, as four [`axpy`] calls, with one load and store of `y`.
#[inline(always)]
fn axpy4(y: &mut [f32], w: [f32; 4], x: [&[f32]; 4]) {
    let len = y.len();
    let (x0, x1, x2, x3) = (&x[0][..len], &x[1][..len], &x[2][..len], &x[3][..len]);
    for j in 0..len {
        y[j] = (((y[j] + w[0] * x0[j]) + w[1] * x1[j]) + w[2] * x2[j]) + w[3] * x3[j];
    }
}

/// `y += alpha · x`.
#[inline(always)]
pub(crate) fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// `Σ a·b` with eight partial sums in a fixed order.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut lanes = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for (l, lane) in lanes.iter_mut().enumerate() {
            *lane += a[c * 8 + l] * b[c * 8 + l];
        }
    }
    let mut tail = 0f32;
    for i in chunks * 8..a.len() {
        tail += a[i] * b[i];
    }
    combine(&lanes, tail)
}

/// Eight partial sums and a tail, added in `dot`'s fixed order.
#[inline(always)]
fn combine(lanes: &[f32; 8], tail: f32) -> f32 {
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
        + tail
}

/// `Σ x` with eight partial sums in a fixed order.
#[cfg(any(feature = "nasbench101", feature = "mnas", feature = "zoo"))]
#[inline]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = x.len() / 8;
    for c in 0..chunks {
        for (l, lane) in lanes.iter_mut().enumerate() {
            *lane += x[c * 8 + l];
        }
    }
    let mut tail = 0f32;
    for &v in &x[chunks * 8..] {
        tail += v;
    }
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
        + tail
}

#[cfg(any(feature = "nasbench101", feature = "mnas", feature = "zoo"))]
/// im2col of a 3×3 convolution with stride 1 and zero padding 1, for activations
/// laid out `[channels][images × h × w]`: `col[(c·9 + ky·3 + kx)][image·h·w + y·w + x]`
/// is input pixel `(y + ky - 1, x + kx - 1)` of channel `c`, or 0 outside.
pub(crate) fn im2col3(
    input: &[f32],
    channels: usize,
    images: usize,
    h: usize,
    w: usize,
    col: &mut [f32],
) {
    let plane = h * w;
    let n = images * plane;
    debug_assert_eq!(input.len(), channels * n);
    debug_assert_eq!(col.len(), channels * 9 * n);
    for c in 0..channels {
        for ky in 0..3 {
            for kx in 0..3 {
                let row = &mut col[(c * 9 + ky * 3 + kx) * n..(c * 9 + ky * 3 + kx + 1) * n];
                for image in 0..images {
                    let src = &input[c * n + image * plane..c * n + (image + 1) * plane];
                    let dst = &mut row[image * plane..(image + 1) * plane];
                    for y in 0..h {
                        let sy = y as isize + ky as isize - 1;
                        let dst_row = &mut dst[y * w..(y + 1) * w];
                        if sy < 0 || sy >= h as isize {
                            dst_row.fill(0.0);
                            continue;
                        }
                        let src_row = &src[sy as usize * w..(sy as usize + 1) * w];
                        // Column shift kx - 1 in {-1, 0, 1}: a shifted copy and one zero.
                        match kx {
                            0 => {
                                dst_row[0] = 0.0;
                                dst_row[1..].copy_from_slice(&src_row[..w - 1]);
                            }
                            1 => dst_row.copy_from_slice(src_row),
                            _ => {
                                dst_row[..w - 1].copy_from_slice(&src_row[1..]);
                                dst_row[w - 1] = 0.0;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(any(feature = "nasbench101", feature = "mnas", feature = "zoo"))]
/// The adjoint of [`im2col3`]: `input_grad += col2im(col_grad)`.
///
/// Rows at a time, shifted by the kernel column as [`im2col3`] shifts them: in the
/// same `(c, ky, kx)` order as a per-pixel loop, and within one `(c, ky, kx)` each
/// input pixel receives at most one term, so every pixel sums the same terms in
/// the same order (bit-identical to the per-pixel loop, which a test keeps).
pub(crate) fn col2im3(
    col: &[f32],
    channels: usize,
    images: usize,
    h: usize,
    w: usize,
    input_grad: &mut [f32],
) {
    let plane = h * w;
    let n = images * plane;
    for c in 0..channels {
        for ky in 0..3 {
            for kx in 0..3 {
                let row = &col[(c * 9 + ky * 3 + kx) * n..(c * 9 + ky * 3 + kx + 1) * n];
                for image in 0..images {
                    let dst = &mut input_grad[c * n + image * plane..c * n + (image + 1) * plane];
                    let src = &row[image * plane..(image + 1) * plane];
                    for y in 0..h {
                        let sy = y as isize + ky as isize - 1;
                        if sy < 0 || sy >= h as isize {
                            continue;
                        }
                        let sy = sy as usize;
                        let dst_row = &mut dst[sy * w..(sy + 1) * w];
                        let src_row = &src[y * w..(y + 1) * w];
                        // Pixel x of the column row lands on input column x + kx - 1.
                        let (dst_part, src_part) = match kx {
                            0 => (&mut dst_row[..w - 1], &src_row[1..]),
                            1 => (&mut dst_row[..], src_row),
                            _ => (&mut dst_row[1..], &src_row[..w - 1]),
                        };
                        for (d, &v) in dst_part.iter_mut().zip(src_part) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|kk| f64::from(a[i * k + kk]) * f64::from(b[kk * n + j]))
                    .sum();
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| ((i * 7919 + seed * 104729) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// The register tiles sum each element's terms in order from its old value,
    /// as the axpy form does: the result is that f32 sum, bit for bit, on shapes
    /// of whole tiles, partial ones and none.
    #[test]
    fn matmuls_sum_every_element_in_order() {
        for (m, k, n) in [
            (5, 7, 600),
            (32, 256, 256),
            (4, 16, 16),
            (9, 3, 35),
            (1, 4, 2),
        ] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let start = values(m * n, 4);
            let mut out = start.clone();
            matmul_acc(&mut out, &a, &b, m, k, n);
            for i in 0..m {
                for j in 0..n {
                    let sum = (0..k).fold(start[i * n + j], |y, t| y + a[i * k + t] * b[t * n + j]);
                    assert_eq!(
                        out[i * n + j].to_bits(),
                        sum.to_bits(),
                        "{m}x{k}x{n} at {i},{j}"
                    );
                }
            }
            // c·bᵀ: every element is `dot` of a row of c and a row of b.
            let c = values(m * n, 3);
            let start = values(m * k, 6);
            let mut bt = start.clone();
            matmul_bt_acc(&mut bt, &c, &b, m, k, n);
            for i in 0..m {
                for t in 0..k {
                    let want =
                        start[i * k + t] + dot(&c[i * n..(i + 1) * n], &b[t * n..(t + 1) * n]);
                    assert_eq!(
                        bt[i * k + t].to_bits(),
                        want.to_bits(),
                        "bᵀ {m}x{k}x{n} at {i},{t}"
                    );
                }
            }
            // aᵀ·c for c = m×n: out[t][j] sums a[i][t]·c[i][j] over i in order.
            let c = values(m * n, 3);
            let start = values(k * n, 5);
            let mut at = start.clone();
            matmul_at_acc(&mut at, &a, &c, m, k, n);
            for t in 0..k {
                for j in 0..n {
                    let sum = (0..m).fold(start[t * n + j], |y, i| y + a[i * k + t] * c[i * n + j]);
                    assert_eq!(
                        at[t * n + j].to_bits(),
                        sum.to_bits(),
                        "aᵀ {m}x{k}x{n} at {t},{j}"
                    );
                }
            }
        }
    }

    /// The AVX2 and baseline builds of every dispatched kernel give the same
    /// bits, on shapes with and without a vector tail and across a block edge.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn wide_and_portable_builds_agree_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this CPU: only the portable build runs here");
            return;
        }
        for (m, k, n) in [
            (1, 1, 1),
            (3, 5, 7),
            (5, 7, 600),
            (8, 9, 1030),
            (16, 33, 64),
        ] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let c = values(m * n, 3);
            let run = |f: &dyn Fn(&mut [f32]), len: usize| {
                let mut out = values(len, 4);
                f(&mut out);
                out.iter().map(|x| x.to_bits()).collect::<Vec<u32>>()
            };
            // SAFETY (each `wide` call): AVX2 is present, checked above.
            assert_eq!(
                run(&|o| matmul_acc::portable(o, &a, &b, m, k, n), m * n),
                run(&|o| unsafe { matmul_acc::wide(o, &a, &b, m, k, n) }, m * n),
                "matmul_acc {m}x{k}x{n}"
            );
            assert_eq!(
                run(&|o| matmul_at_acc::portable(o, &a, &c, m, k, n), k * n),
                run(
                    &|o| unsafe { matmul_at_acc::wide(o, &a, &c, m, k, n) },
                    k * n
                ),
                "matmul_at_acc {m}x{k}x{n}"
            );
            assert_eq!(
                run(&|o| matmul_bt_acc::portable(o, &c, &b, m, k, n), m * k),
                run(
                    &|o| unsafe { matmul_bt_acc::wide(o, &c, &b, m, k, n) },
                    m * k
                ),
                "matmul_bt_acc {m}x{k}x{n}"
            );
        }
    }

    #[test]
    fn matmuls_agree_with_the_definition() {
        let (m, k, n) = (5, 7, 600);
        let a = values(m * k, 1);
        let b = values(k * n, 2);
        let mut out = vec![0f32; m * n];
        matmul_acc(&mut out, &a, &b, m, k, n);
        for (x, y) in out.iter().zip(naive(&a, &b, m, k, n)) {
            assert!((f64::from(*x) - y).abs() < 1e-4);
        }
        // aᵀ·c for c = m×n equals the definition with a transposed.
        let c = values(m * n, 3);
        let mut at = vec![0f32; k * n];
        matmul_at_acc(&mut at, &a, &c, m, k, n);
        let a_t: Vec<f32> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
        for (x, y) in at.iter().zip(naive(&a_t, &c, k, m, n)) {
            assert!((f64::from(*x) - y).abs() < 1e-4);
        }
        // c·bᵀ.
        let mut bt = vec![0f32; m * k];
        matmul_bt_acc(&mut bt, &c, &b, m, k, n);
        let b_t: Vec<f32> = (0..n * k).map(|idx| b[(idx % k) * n + idx / k]).collect();
        for (x, y) in bt.iter().zip(naive(&c, &b_t, m, n, k)) {
            assert!((f64::from(*x) - y).abs() < 1e-3);
        }
    }

    #[cfg(feature = "nasbench101")]
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), g> = <x, col2im(g)> for all x, g.
        let (c, images, h, w) = (2, 3, 4, 5);
        let x = values(c * images * h * w, 4);
        let g = values(c * 9 * images * h * w, 5);
        let mut col = vec![0f32; g.len()];
        im2col3(&x, c, images, h, w, &mut col);
        let mut back = vec![0f32; x.len()];
        col2im3(&g, c, images, h, w, &mut back);
        let left: f64 = col
            .iter()
            .zip(&g)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        let right: f64 = x
            .iter()
            .zip(&back)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        assert!((left - right).abs() < 1e-3, "{left} vs {right}");
    }

    /// The per-pixel col2im as first written; the row version must match it bit
    /// for bit (it feeds the embedded tables' reproducible training).
    #[cfg(feature = "nasbench101")]
    fn col2im3_per_pixel(
        col: &[f32],
        channels: usize,
        images: usize,
        h: usize,
        w: usize,
        out: &mut [f32],
    ) {
        let plane = h * w;
        let n = images * plane;
        for c in 0..channels {
            for ky in 0..3 {
                for kx in 0..3 {
                    let row = &col[(c * 9 + ky * 3 + kx) * n..(c * 9 + ky * 3 + kx + 1) * n];
                    for image in 0..images {
                        let dst = &mut out[c * n + image * plane..c * n + (image + 1) * plane];
                        let src = &row[image * plane..(image + 1) * plane];
                        for y in 0..h {
                            let sy = y as isize + ky as isize - 1;
                            if sy < 0 || sy >= h as isize {
                                continue;
                            }
                            for x in 0..w {
                                let sx = x as isize + kx as isize - 1;
                                if sx >= 0 && sx < w as isize {
                                    dst[sy as usize * w + sx as usize] += src[y * w + x];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[cfg(feature = "nasbench101")]
    #[test]
    fn col2im_rows_match_the_per_pixel_loop_bit_for_bit() {
        for (channels, images, h, w) in [(3, 2, 8, 8), (2, 3, 4, 4), (1, 1, 1, 1), (2, 2, 3, 5)] {
            let col = values(channels * 9 * images * h * w, 9);
            let start = values(channels * images * h * w, 4);
            let (mut rows, mut pixels) = (start.clone(), start);
            col2im3(&col, channels, images, h, w, &mut rows);
            col2im3_per_pixel(&col, channels, images, h, w, &mut pixels);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&rows), bits(&pixels), "{channels}x{images}x{h}x{w}");
        }
    }
}
