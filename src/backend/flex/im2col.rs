//! Convolution kernels on plain `f32` slices for the CPU: im2col and a matrix product each for
//! the forward pass, the input gradient and the weight gradient.
//!
//! burn-flex 0.22 computes a convolution's weight gradient as another convolution whose
//! "kernel" is the output gradient (a 16x16 or 32x32 kernel with dilation 2 for these nets),
//! which its im2col tiling turns into many thin matrix products; that made a DCGAN training
//! step 2-2.5x slower than PyTorch here. Written as `W * cols`, `W^T * dY` and `dY * cols^T`,
//! every product is a GEMM with hundreds of rows and columns, as in Caffe's and PyTorch's CPU
//! convolutions.
//!
//! The batch is cut into chunks of whole images, each of a few hundred output pixels
//! ([`CHUNK_COLUMNS`]); each thread takes whole chunks and runs them start to finish (im2col,
//! a single-threaded GEMM, scatter into the output) while the chunk's `cols` is still in its
//! cache. One im2col matrix for the whole batch (25 MB at batch 32 for a 48->96 layer) went to
//! memory and back several times per product, and two threads splitting every GEMM spent
//! their time waiting on each other.
//!
//! Layouts: activations NCHW; the weight `[out, in, kh, kw]` is the `[out, in*kh*kw]` matrix;
//! `cols` is `[in*kh*kw, n*out_h*out_w]` (one row per input channel and kernel tap, one column
//! per output pixel of the chunk).

use super::gemm::{Matrix, Target, matmul, swap_outer, transpose};
use super::parallel::{Slot, fold_chunks, for_each_chunk, threads, with_scratch};

/// Sizes of one convolution (groups 1, dilation 1, the same stride and padding on both axes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Batch size.
    pub batch: usize,
    /// Input channels.
    pub channels_in: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Output channels.
    pub channels_out: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride on both axes.
    pub stride: usize,
    /// Zero padding on all four sides.
    pub padding: usize,
}

impl Geometry {
    /// Output height and width, or `None` when the kernel does not fit the padded input.
    pub fn output(&self) -> Option<[usize; 2]> {
        let size = |input: usize, kernel: usize| {
            (input + 2 * self.padding)
                .checked_sub(kernel)
                .map(|span| span / self.stride + 1)
        };
        if self.stride == 0 {
            return None;
        }
        Some([
            size(self.input[0], self.kernel[0])?,
            size(self.input[1], self.kernel[1])?,
        ])
    }

    fn out(&self) -> [usize; 2] {
        self.output().expect("geometry checked by the caller")
    }

    /// Output pixels per image.
    fn pixels(&self) -> usize {
        let [h, w] = self.out();
        h * w
    }

    /// Elements of one image of the input.
    fn image_input_len(&self) -> usize {
        self.channels_in * self.input[0] * self.input[1]
    }

    /// Elements of one image of the output.
    fn image_output_len(&self) -> usize {
        self.channels_out * self.pixels()
    }

    /// Rows of `cols`: input channels x kernel taps.
    fn rows(&self) -> usize {
        self.channels_in * self.kernel[0] * self.kernel[1]
    }

    /// Columns of `cols`: output pixels of the whole batch.
    fn columns(&self) -> usize {
        let [h, w] = self.out();
        self.batch * h * w
    }

    /// Elements of the input `[n, c_in, h, w]`.
    pub fn input_len(&self) -> usize {
        self.batch * self.channels_in * self.input[0] * self.input[1]
    }

    /// Elements of the output `[n, c_out, out_h, out_w]`.
    pub fn output_len(&self) -> usize {
        self.channels_out * self.columns()
    }

    /// Elements of the weight `[c_out, c_in, kh, kw]`.
    pub fn weight_len(&self) -> usize {
        self.channels_out * self.rows()
    }

    /// The output positions `o` (along one axis of `len` outputs) whose input position
    /// `o * stride + tap - padding` lies inside `0..input`, as a range.
    fn inside(&self, tap: usize, input: usize, len: usize) -> std::ops::Range<usize> {
        let (s, p) = (self.stride, self.padding);
        let first = p.saturating_sub(tap).div_ceil(s);
        // Largest o with o * s + tap - p <= input - 1.
        let last = (input + p).checked_sub(tap + 1).map(|span| span / s + 1);
        let end = last.unwrap_or(0).min(len);
        first.min(end)..end
    }
}

/// Output pixels per chunk that a chunk's products aim for: enough columns for the GEMM to run
/// at full speed, few enough for the chunk's `cols` (rows x columns, up to 6,144 rows here) to
/// stay in a core's cache.
const CHUNK_COLUMNS: usize = 512;

/// How a batch is cut into chunks of whole images.
#[derive(Clone, Copy, Debug)]
struct Chunks {
    /// Images per chunk (the last chunk may have fewer).
    images: usize,
    /// Number of chunks.
    count: usize,
    /// Whether each chunk's GEMM uses all threads: only when there are fewer chunks than
    /// threads (a batch of one image).
    parallel_gemm: bool,
}

impl Chunks {
    fn new(g: &Geometry) -> Self {
        let threads = threads();
        let by_size = (CHUNK_COLUMNS / g.pixels()).max(1);
        // At least one chunk per thread when the batch allows it.
        let by_threads = g.batch.div_ceil(threads).max(1);
        let images = by_size.min(by_threads);
        let count = g.batch.div_ceil(images);
        Self {
            images,
            count,
            parallel_gemm: count < threads,
        }
    }

    /// The geometry of chunk `i`.
    fn geometry(&self, g: &Geometry, i: usize) -> Geometry {
        Geometry {
            batch: self.images.min(g.batch - i * self.images),
            ..*g
        }
    }
}

/// Output of `conv(x, weight)`: `[n, c_out, out_h, out_w]`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let chunks = Chunks::new(g);
    let mut y = vec![0.0; g.output_len()];
    for_each_chunk(&mut y, chunks.images * g.image_output_len(), |i, y| {
        let s = chunks.geometry(g, i);
        let x = &x[i * chunks.images * g.image_input_len()..][..s.input_len()];
        with_columns(&s, x, |cols| {
            forward_from_columns(&s, cols, weight, y, chunks.parallel_gemm);
        });
    });
    y
}

/// Gradient of `conv(x, weight)` with respect to `x`, given the output gradient `dy`:
/// `[n, c_in, h, w]`. This is also the forward pass of the transposed convolution.
pub fn input_grad(g: &Geometry, dy: &[f32], weight: &[f32]) -> Vec<f32> {
    let (dx, _) = conv_grads(g, &[], dy, weight, [true, false]);
    dx.expect("asked for")
}

/// Both gradients of `conv(x, weight)` given `dy`, as `(dx, dweight)`, each only where asked
/// (`x` is only read for `dweight`); they share each chunk's transposed copy of `dy`.
pub fn conv_grads(
    g: &Geometry,
    x: &[f32],
    dy: &[f32],
    weight: &[f32],
    [want_input, want_weight]: [bool; 2],
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let chunks = Chunks::new(g);
    let mut dx = vec![0.0; if want_input { g.input_len() } else { 0 }];
    let dx_chunk = chunks.images * g.image_input_len();
    let dweight_t = fold_chunks(&mut dx, dx_chunk, chunks.count, |i, dx, dweight_t| {
        let s = chunks.geometry(g, i);
        let dy = &dy[i * chunks.images * g.image_output_len()..][..s.output_len()];
        with_output_rows(&s, dy, |dy_lc| {
            if want_input {
                input_grad_from_rows(&s, dy_lc, weight, dx, chunks.parallel_gemm);
            }
            if want_weight {
                let x = &x[i * dx_chunk..][..s.input_len()];
                with_columns(&s, x, |cols| {
                    add_weight_grad(&s, cols, dy_lc, dweight_t, chunks.parallel_gemm);
                });
            }
        });
    });
    let dweight = want_weight.then(|| weight_from_transposed(g, dweight_t));
    (want_input.then_some(dx), dweight)
}

/// Both gradients of the transposed convolution `t(x, weight) = input_grad(x, weight)` (the
/// input gradient of the convolution `g`, whose output is shaped like `x`), given `dy`, as
/// `(dx, dweight)`, each only where asked. `dx = conv(dy, weight)` and `dweight` is the
/// weight gradient of `conv(dy, .)` at output gradient `x`: both read `im2col(dy)`, built once
/// per chunk.
pub fn transpose_grads(
    g: &Geometry,
    x: &[f32],
    dy: &[f32],
    weight: &[f32],
    [want_input, want_weight]: [bool; 2],
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let chunks = Chunks::new(g);
    let mut dx = vec![0.0; if want_input { g.output_len() } else { 0 }];
    let dx_chunk = chunks.images * g.image_output_len();
    let dweight_t = fold_chunks(&mut dx, dx_chunk, chunks.count, |i, dx, dweight_t| {
        let s = chunks.geometry(g, i);
        let dy = &dy[i * chunks.images * g.image_input_len()..][..s.input_len()];
        with_columns(&s, dy, |cols| {
            if want_input {
                forward_from_columns(&s, cols, weight, dx, chunks.parallel_gemm);
            }
            if want_weight {
                let x = &x[i * dx_chunk..][..s.output_len()];
                with_output_rows(&s, x, |x_lc| {
                    add_weight_grad(&s, cols, x_lc, dweight_t, chunks.parallel_gemm);
                });
            }
        });
    });
    let dweight = want_weight.then(|| weight_from_transposed(g, dweight_t));
    (want_input.then_some(dx), dweight)
}

/// Runs `f` on `im2col(x)`.
fn with_columns<R>(g: &Geometry, x: &[f32], f: impl FnOnce(&[f32]) -> R) -> R {
    with_scratch(Slot::Columns, g.rows() * g.columns(), |cols| {
        im2col(g, x, cols);
        f(cols)
    })
}

/// Writes the convolution's output, `[n, c_out, out_h, out_w]`, from `cols = im2col(x)` to `y`.
fn forward_from_columns(g: &Geometry, cols: &[f32], weight: &[f32], y: &mut [f32], parallel: bool) {
    let (rows, columns) = (g.rows(), g.columns());
    with_scratch(Slot::Product, g.output_len(), |y_cn| {
        // y_cn[c_out, n*l] = weight[c_out, rows] * cols[rows, n*l]
        matmul(
            Matrix::row_major(weight, g.channels_out, rows),
            Matrix::row_major(cols, rows, columns),
            Target::new(y_cn, parallel),
        );
        swap_outer(y_cn, g.channels_out, g.batch, g.pixels(), y);
    });
}

/// Runs `f` on the output gradient as rows, `[n, c_out, l] -> [n*l, c_out]`: in that layout
/// the products below read it row by row or column by column as they need (a column-major
/// right operand of the weight gradient's shape made gemm 3x slower).
fn with_output_rows<R>(g: &Geometry, dy: &[f32], f: impl FnOnce(&[f32]) -> R) -> R {
    let image = g.image_output_len();
    with_scratch(Slot::Rows, g.output_len(), |dy_lc| {
        for (dst, src) in dy_lc.chunks_mut(image).zip(dy.chunks(image)) {
            transpose(src, g.channels_out, g.pixels(), dst);
        }
        f(dy_lc)
    })
}

/// Writes the input gradient, `[n, c_in, h, w]`, from the output gradient as rows (`dy_lc`,
/// `[n*l, c_out]`) to `dx`.
fn input_grad_from_rows(
    g: &Geometry,
    dy_lc: &[f32],
    weight: &[f32],
    dx: &mut [f32],
    parallel: bool,
) {
    let (rows, columns) = (g.rows(), g.columns());
    with_scratch(Slot::Columns, rows * columns, |dcols| {
        // dcols[rows, n*l] = weight^T[rows, c_out] * dy_lc^T[c_out, n*l]
        matmul(
            Matrix::row_major(weight, g.channels_out, rows).transposed(),
            Matrix::row_major(dy_lc, columns, g.channels_out).transposed(),
            Target::new(dcols, parallel),
        );
        col2im(g, dcols, dx);
    });
}

/// Adds this chunk's weight gradient, transposed (`[rows, c_out]`), to `dweight_t`, from
/// `cols = im2col(x)` and the output gradient as rows; the first chunk creates it.
fn add_weight_grad(
    g: &Geometry,
    cols: &[f32],
    dy_lc: &[f32],
    dweight_t: &mut Option<Vec<f32>>,
    parallel: bool,
) {
    let (rows, columns) = (g.rows(), g.columns());
    let accumulate = dweight_t.is_some();
    let sum = dweight_t.get_or_insert_with(|| vec![0.0; g.weight_len()]);
    // dweight^T[rows, c_out] (+)= cols[rows, n*l] * dy_lc[n*l, c_out]
    matmul(
        Matrix::row_major(cols, rows, columns),
        Matrix::row_major(dy_lc, columns, g.channels_out),
        Target {
            accumulate,
            ..Target::new(sum, parallel)
        },
    );
}

/// The weight gradient `[c_out, rows]` from its transpose summed over the chunks (zero for an
/// empty batch).
fn weight_from_transposed(g: &Geometry, dweight_t: Option<Vec<f32>>) -> Vec<f32> {
    let mut dweight = vec![0.0; g.weight_len()];
    if let Some(dweight_t) = dweight_t {
        transpose(&dweight_t, g.rows(), g.channels_out, &mut dweight);
    }
    dweight
}

/// `cols[(c, ky, kx), (n, oy, ox)] = x[n, c, oy*s - p + ky, ox*s - p + kx]`, zero outside;
/// every entry of `cols` is written.
fn im2col(g: &Geometry, x: &[f32], cols: &mut [f32]) {
    let [kh, kw] = g.kernel;
    let [h, w] = g.input;
    let [oh, ow] = g.out();
    for (row, out) in cols.chunks_mut(g.columns()).enumerate() {
        let (c, ky, kx) = (row / (kh * kw), (row / kw) % kh, row % kw);
        let ys = g.inside(ky, h, oh);
        let xs = g.inside(kx, w, ow);
        for n in 0..g.batch {
            let plane = &x[(n * g.channels_in + c) * h * w..][..h * w];
            for oy in 0..oh {
                let dst = &mut out[(n * oh + oy) * ow..][..ow];
                if !ys.contains(&oy) {
                    dst.fill(0.0);
                    continue;
                }
                let iy = oy * g.stride + ky - g.padding;
                dst[..xs.start].fill(0.0);
                dst[xs.end..].fill(0.0);
                let first = xs.start * g.stride + kx - g.padding;
                let src = &plane[iy * w + first..];
                let dst = &mut dst[xs.clone()];
                match g.stride {
                    1 => gather::<1>(dst, src),
                    2 => gather::<2>(dst, src),
                    _ => {
                        for (d, s) in dst.iter_mut().zip(src.iter().step_by(g.stride)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// `dst[i] = src[i * S]`, with the stride known at compile time. Eight outputs at a time, each
/// block from a source window of exactly the `7 * S + 1` values it reads (so a row that ends
/// at the end of the image still fills its last block), in straight-line code without bounds
/// checks; then the rest one by one. A loop over `chunks(S)` ran one scalar copy per element.
fn gather<const S: usize>(dst: &mut [f32], src: &[f32]) {
    let blocks = dst.len() / 8;
    for (b, d) in dst.chunks_exact_mut(8).enumerate() {
        let s = &src[8 * b * S..][..7 * S + 1];
        for (i, d) in d.iter_mut().enumerate() {
            *d = s[i * S];
        }
    }
    for (i, d) in dst.iter_mut().enumerate().skip(blocks * 8) {
        *d = src[i * S];
    }
}

/// The adjoint of [`im2col`]: sums every column entry back onto the input pixel it was read
/// from, into `dx` (`[n, c_in, h, w]`, overwritten).
fn col2im(g: &Geometry, dcols: &[f32], dx: &mut [f32]) {
    let [kh, kw] = g.kernel;
    let [h, w] = g.input;
    let [oh, ow] = g.out();
    let columns = g.columns();
    dx.fill(0.0);
    for c in 0..g.channels_in {
        for ky in 0..kh {
            for kx in 0..kw {
                let row = &dcols[((c * kh + ky) * kw + kx) * columns..][..columns];
                let ys = g.inside(ky, h, oh);
                let xs = g.inside(kx, w, ow);
                if xs.is_empty() {
                    continue;
                }
                let first = xs.start * g.stride + kx - g.padding;
                for n in 0..g.batch {
                    let plane = &mut dx[(n * g.channels_in + c) * h * w..][..h * w];
                    for oy in ys.clone() {
                        let iy = oy * g.stride + ky - g.padding;
                        let dst = plane[iy * w + first..].iter_mut().step_by(g.stride);
                        let src = &row[(n * oh + oy) * ow..][xs.clone()];
                        for (d, s) in dst.zip(src) {
                            *d += *s;
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

    /// Direct (six nested loops) convolution, the reference.
    fn naive(g: &Geometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
        let [h, w] = g.input;
        let [oh, ow] = g.out();
        let [kh, kw] = g.kernel;
        let mut y = vec![0.0; g.output_len()];
        for n in 0..g.batch {
            for o in 0..g.channels_out {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut sum = 0.0;
                        for c in 0..g.channels_in {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * g.stride + ky) as isize - g.padding as isize;
                                    let ix = (ox * g.stride + kx) as isize - g.padding as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    sum += x[((n * g.channels_in + c) * h + iy as usize) * w
                                        + ix as usize]
                                        * weight[((o * g.channels_in + c) * kh + ky) * kw + kx];
                                }
                            }
                        }
                        y[((n * g.channels_out + o) * oh + oy) * ow + ox] = sum;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    fn geometries() -> Vec<Geometry> {
        let g = |batch, channels_in, input, channels_out, kernel, stride, padding| Geometry {
            batch,
            channels_in,
            input,
            channels_out,
            kernel,
            stride,
            padding,
        };
        vec![
            g(2, 3, [8, 8], 4, [4, 4], 2, 1), // DCGAN down block
            g(3, 5, [4, 4], 2, [4, 4], 1, 0), // discriminator head / generator projection
            g(1, 2, [7, 5], 3, [3, 2], 2, 2), // odd sizes, padding wider than a tap
            g(2, 4, [6, 6], 3, [1, 1], 1, 0), // pointwise
            // More output pixels than CHUNK_COLUMNS per image: one image per chunk, so
            // threads add several chunks' weight gradients into their sums.
            g(5, 2, [24, 24], 3, [3, 3], 1, 1),
            // Stride 2 with 20 outputs per row: gather's blocks of eight and its rest.
            g(2, 2, [40, 40], 3, [4, 4], 2, 1),
        ]
    }

    #[test]
    fn forward_matches_direct_convolution() {
        for g in geometries() {
            let x = values(g.input_len(), 1);
            let weight = values(g.weight_len(), 2);
            let fast = forward(&g, &x, &weight);
            let slow = naive(&g, &x, &weight);
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "{g:?}: {a} vs {b}");
            }
        }
    }

    /// The gradients are adjoints of the forward pass: <conv(x, w), dy> equals both
    /// <x, input_grad(dy, w)> and <w, dw> for the weight gradient dw of conv_grads.
    #[test]
    fn gradients_are_adjoints_of_the_forward_pass() {
        for g in geometries() {
            let x = values(g.input_len(), 3);
            let weight = values(g.weight_len(), 4);
            let dy = values(g.output_len(), 5);
            let reference = dot(&naive(&g, &x, &weight), &dy);
            let via_input = dot(&x, &input_grad(&g, &dy, &weight));
            let (_, alone) = conv_grads(&g, &x, &dy, &weight, [false, true]);
            let via_weight = dot(&weight, alone.as_deref().expect("asked"));
            let (dx, dw) = conv_grads(&g, &x, &dy, &weight, [true, true]);
            assert_eq!(dx.as_deref(), Some(&input_grad(&g, &dy, &weight)[..]));
            assert_eq!(dw, alone);
            let tolerance = 1e-4 * reference.abs().max(1.0);
            assert!((via_input - reference).abs() < tolerance, "{g:?}");
            assert!((via_weight - reference).abs() < tolerance, "{g:?}");
            // The transposed convolution t(u, w) = input_grad(u, w) of the same g: its
            // gradients at u = dy, given an output gradient shaped like x.
            let (du, dw) = transpose_grads(&g, &dy, &x, &weight, [true, true]);
            let t_reference = dot(&input_grad(&g, &dy, &weight), &x);
            let tolerance = 1e-4 * t_reference.abs().max(1.0);
            assert!(
                (dot(&dy, &du.expect("asked")) - t_reference).abs() < tolerance,
                "{g:?}"
            );
            assert!(
                (dot(&weight, &dw.expect("asked")) - t_reference).abs() < tolerance,
                "{g:?}"
            );
        }
    }

    /// Every output written from its own source, also when the source ends right after the
    /// last value read (the last row of an image), which a stale buffer would show.
    #[test]
    fn gather_fills_every_output_up_to_the_end_of_the_source() {
        for len in [1, 7, 8, 9, 16, 20, 31] {
            let src2 = values(2 * (len - 1) + 1, 7);
            let mut dst = vec![f32::NAN; len];
            gather::<2>(&mut dst, &src2);
            assert!((0..len).all(|i| dst[i] == src2[2 * i]), "stride 2, {len}");
            let src1 = values(len, 8);
            let mut dst = vec![f32::NAN; len];
            gather::<1>(&mut dst, &src1);
            assert_eq!(dst, src1, "stride 1, {len}");
        }
    }

    #[test]
    fn kernel_larger_than_padded_input_has_no_output() {
        let g = Geometry {
            batch: 1,
            channels_in: 1,
            input: [2, 2],
            channels_out: 1,
            kernel: [5, 5],
            stride: 1,
            padding: 1,
        };
        assert_eq!(g.output(), None);
    }
}
