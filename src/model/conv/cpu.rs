//! Convolution kernels on plain `f32` slices for the CPU: im2col and a matrix product each for
//! the forward pass, the input gradient and the weight gradient, and the element-wise kernels
//! around them (LeakyReLU, batch norm).
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

/// LeakyReLU: `x` where `x > 0`, `slope * x` elsewhere.
pub fn leaky_relu(x: &[f32], slope: f32) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    for_each_chunk(&mut y, ELEMENTWISE_CHUNK, |i, out| {
        let src = &x[i * ELEMENTWISE_CHUNK..][..out.len()];
        for (y, x) in out.iter_mut().zip(src) {
            *y = *x * gain(*x, slope);
        }
    });
    y
}

/// Gradient of [`leaky_relu`] at `x` given the output gradient `dy`.
pub fn leaky_relu_grad(x: &[f32], dy: &[f32], slope: f32) -> Vec<f32> {
    let mut dx = vec![0.0; x.len()];
    for_each_chunk(&mut dx, ELEMENTWISE_CHUNK, |i, out| {
        let start = i * ELEMENTWISE_CHUNK;
        let (x, dy) = (&x[start..][..out.len()], &dy[start..][..out.len()]);
        for ((dx, x), dy) in out.iter_mut().zip(x).zip(dy) {
            *dx = *dy * gain(*x, slope);
        }
    });
    dx
}

/// Batch mean and biased variance per channel of `x`, `[n, c, l]` (`l` = pixels per plane):
/// `[mean_0, var_0, mean_1, var_1, ...]`, from one pass of sums in `f64`.
pub fn channel_stats(x: &[f32], [n, c, l]: [usize; 3]) -> Vec<f32> {
    let count = (n * l) as f64;
    let mut stats = vec![0.0; 2 * c];
    for_each_chunk(&mut stats, 2, |channel, out| {
        let (mut sum, mut squares) = (0.0, 0.0);
        for i in 0..n {
            let plane = &x[(i * c + channel) * l..][..l];
            let (s, q) = paired_sums(plane, plane, |v, _| (v, v * v));
            sum += s;
            squares += q;
        }
        let mean = sum / count;
        out[0] = mean as f32;
        out[1] = (squares / count - mean * mean).max(0.0) as f32;
    });
    stats
}

/// A training-mode batch norm with its batch statistics, followed by a LeakyReLU:
/// `act((x - mean) / sqrt(var + epsilon) * gamma + beta)` where `act(z)` is `z` for `z > 0`
/// and `slope * z` elsewhere (`slope` 0 is ReLU, 1 no activation).
#[derive(Clone, Copy, Debug)]
pub struct Norm<'a> {
    /// `[mean_0, var_0, mean_1, var_1, ...]` from [`channel_stats`].
    pub stats: &'a [f32],
    /// Scale per channel.
    pub gamma: &'a [f32],
    /// Shift per channel.
    pub beta: &'a [f32],
    /// Added to the variance.
    pub epsilon: f32,
    /// The activation's slope for negative inputs.
    pub slope: f32,
}

impl Norm<'_> {
    /// `(inv_std, scale, shift)` of `channel`: `z = x * scale + shift`.
    fn affine(&self, channel: usize) -> (f32, f32, f32) {
        let (mean, var) = (self.stats[2 * channel], self.stats[2 * channel + 1]);
        let inv_std = 1.0 / (var + self.epsilon).sqrt();
        let scale = self.gamma[channel] * inv_std;
        (inv_std, scale, self.beta[channel] - mean * scale)
    }
}

/// The derivative of a LeakyReLU with `slope` at `z`: 1 where `z > 0`, `slope` elsewhere.
/// Written as a select between two values, which compiles to a vector blend; an `if` around a
/// multiplication compiled to a branch that mispredicted on every other value.
#[inline(always)]
fn gain(z: f32, slope: f32) -> f32 {
    if z > 0.0 { 1.0 } else { slope }
}

/// [`Norm`] applied to `x`, `[n, c, l]`.
pub fn batch_norm(x: &[f32], [n, c, l]: [usize; 3], norm: &Norm) -> Vec<f32> {
    let mut y = vec![0.0; n * c * l];
    for_each_chunk(&mut y, l, |plane, out| {
        let (_, scale, shift) = norm.affine(plane % c);
        let slope = norm.slope;
        for (y, x) in out.iter_mut().zip(&x[plane * l..][..l]) {
            let z = x * scale + shift;
            *y = z * gain(z, slope);
        }
    });
    y
}

/// Gradients of [`batch_norm`] (through the activation, and with the statistics' dependence
/// on `x`) given `dy`: `(dx, dgamma, dbeta)`. The activation's input is recomputed from `x`.
pub fn batch_norm_grad(
    x: &[f32],
    dy: &[f32],
    [n, c, l]: [usize; 3],
    norm: &Norm,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    // Per channel: sum of dz (= dbeta) and of dz * x_hat (= dgamma).
    let mut sums = vec![0.0; 2 * c];
    for_each_chunk(&mut sums, 2, |channel, out| {
        let (mean, slope) = (norm.stats[2 * channel], norm.slope);
        let (inv_std, scale, shift) = norm.affine(channel);
        let (mut sum_dz, mut sum_dz_xhat) = (0.0, 0.0);
        for i in 0..n {
            let offset = (i * c + channel) * l;
            let (s, q) = paired_sums(&x[offset..][..l], &dy[offset..][..l], |x, dy| {
                let dz = dy * gain(x * scale + shift, slope);
                (dz, dz * (x - mean) * inv_std)
            });
            sum_dz += s;
            sum_dz_xhat += q;
        }
        out[0] = sum_dz as f32;
        out[1] = sum_dz_xhat as f32;
    });
    let count = (n * l) as f32;
    let mut dx = vec![0.0; n * c * l];
    for_each_chunk(&mut dx, l, |plane, out| {
        let channel = plane % c;
        let (mean, slope) = (norm.stats[2 * channel], norm.slope);
        let (inv_std, scale, shift) = norm.affine(channel);
        let (sum_dz, sum_dz_xhat) = (sums[2 * channel], sums[2 * channel + 1]);
        let factor = scale / count;
        let offset = plane * l;
        for ((dx, x), dy) in out
            .iter_mut()
            .zip(&x[offset..][..l])
            .zip(&dy[offset..][..l])
        {
            let dz = dy * gain(x * scale + shift, slope);
            let x_hat = (x - mean) * inv_std;
            *dx = factor * (count * dz - sum_dz - x_hat * sum_dz_xhat);
        }
    });
    let dbeta = (0..c).map(|channel| sums[2 * channel]).collect();
    let dgamma = (0..c).map(|channel| sums[2 * channel + 1]).collect();
    (dx, dgamma, dbeta)
}

/// Numbers per image of a DiffAugment transform: brightness, saturation, contrast, the shift
/// (rows, columns) and the cutout square (top, left, height, width; height 0 for none).
pub const AUGMENT_PARAMS: usize = 9;

/// One image's DiffAugment transform, from its [`AUGMENT_PARAMS`] numbers.
struct Augment {
    /// `x3 = gain * x + pixel_gain * m + offset` where `m` is the pixel's channel mean:
    /// brightness, saturation and contrast in one affine map (see [`augment`]).
    gain: f32,
    pixel_gain: f32,
    contrast: f32,
    brightness: f32,
    shift: [isize; 2],
    cut: [isize; 4],
    size: [usize; 3],
}

impl Augment {
    fn new(p: &[f32], size: [usize; 3]) -> Self {
        let (brightness, saturation, contrast) = (p[0], p[1], p[2]);
        let int = |v: f32| v as isize;
        Self {
            gain: contrast * saturation,
            pixel_gain: contrast - contrast * saturation,
            contrast,
            brightness,
            shift: [int(p[3]), int(p[4])],
            cut: [int(p[5]), int(p[6]), int(p[7]), int(p[8])],
            size,
        }
    }

    /// The source pixel of output pixel `(y, x)`, or `None` where the output is zero (shifted
    /// in from outside, or under the cutout).
    fn source(&self, y: usize, x: usize) -> Option<usize> {
        let [_, h, w] = self.size;
        let (y, x) = (y as isize, x as isize);
        let (sy, sx) = (y - self.shift[0], x - self.shift[1]);
        let [top, left, height, width] = self.cut;
        let inside = sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize;
        let cut = y >= top && y < top + height && x >= left && x < left + width;
        (inside && !cut).then(|| sy as usize * w + sx as usize)
    }

    /// Per-pixel sum over channels of `image` (`[c, h*w]`).
    fn channel_sums(&self, image: &[f32]) -> Vec<f32> {
        let plane = self.size[1] * self.size[2];
        let mut sums = vec![0.0; plane];
        for channel in image.chunks(plane) {
            sums.iter_mut().zip(channel).for_each(|(s, v)| *s += v);
        }
        sums
    }
}

/// DiffAugment (colour, translation, cutout) of `x` `[n, c, h, w]` with [`AUGMENT_PARAMS`]
/// numbers per image in `params`. The colour steps, `x + b`, then saturation `s` about the
/// pixel's channel mean `m` and contrast `k` about the image mean `M`, are one affine map:
/// `k*s*x + k*(1-s)*m + (1-k)*M + b`; then each output pixel takes its shifted source pixel,
/// or zero.
pub fn augment(x: &[f32], [n, c, h, w]: [usize; 4], params: &[f32]) -> Vec<f32> {
    assert_eq!(
        params.len(),
        n * AUGMENT_PARAMS,
        "augment: numbers per image"
    );
    let mut y = vec![0.0; x.len()];
    let image = c * h * w;
    for_each_chunk(&mut y, image, |i, out| {
        let a = Augment::new(&params[i * AUGMENT_PARAMS..][..AUGMENT_PARAMS], [c, h, w]);
        let x = &x[i * image..][..image];
        let mut means = a.channel_sums(x);
        means.iter_mut().for_each(|m| *m /= c as f32);
        let mean = means.iter().map(|m| f64::from(*m)).sum::<f64>() / (h * w) as f64;
        let offset = (1.0 - a.contrast) * mean as f32 + a.brightness;
        for (out, x) in out.chunks_mut(h * w).zip(x.chunks(h * w)) {
            for (p, value) in out.iter_mut().enumerate() {
                *value = a
                    .source(p / w, p % w)
                    .map_or(0.0, |q| a.gain * x[q] + a.pixel_gain * means[q] + offset);
            }
        }
    });
    y
}

/// Gradient of [`augment`] with respect to `x` given `dy`: the shift's adjoint moves each
/// kept output pixel's gradient back to its source, then the colour map's adjoint.
pub fn augment_grad(dy: &[f32], [n, c, h, w]: [usize; 4], params: &[f32]) -> Vec<f32> {
    assert_eq!(
        params.len(),
        n * AUGMENT_PARAMS,
        "augment: numbers per image"
    );
    let mut dx = vec![0.0; dy.len()];
    let (plane, image) = (h * w, c * h * w);
    for_each_chunk(&mut dx, image, |i, out| {
        let a = Augment::new(&params[i * AUGMENT_PARAMS..][..AUGMENT_PARAMS], [c, h, w]);
        let dy = &dy[i * image..][..image];
        for (out, dy) in out.chunks_mut(plane).zip(dy.chunks(plane)) {
            for (p, dy) in dy.iter().enumerate() {
                if let Some(q) = a.source(p / w, p % w) {
                    out[q] = *dy;
                }
            }
        }
        // Now out = d(loss)/d(x3); x3 = gain*x + pixel_gain*m + (1-k)*M + b.
        let sums = a.channel_sums(out);
        let total: f64 = sums.iter().map(|s| f64::from(*s)).sum();
        let per_pixel = a.pixel_gain / c as f32;
        let constant = ((1.0 - a.contrast) as f64 * total / image as f64) as f32;
        for channel in out.chunks_mut(plane) {
            for (g, s) in channel.iter_mut().zip(&sums) {
                *g = a.gain * *g + per_pixel * s + constant;
            }
        }
    });
    dx
}

/// Both sums of `f(a[i], b[i])` over `i`, in eight `f32` lanes (which vectorise; one
/// accumulator would chain every addition) added up in `f64`. Planes here hold at most a few
/// thousand values, so the lanes' rounding stays near `f32` precision.
fn paired_sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    const LANES: usize = 8;
    let (mut first, mut second) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (a, b) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            let (u, v) = f(a[lane], b[lane]);
            first[lane] += u;
            second[lane] += v;
        }
    }
    let mut sums = (0.0, 0.0);
    for (u, v) in first.into_iter().zip(second) {
        sums = (sums.0 + f64::from(u), sums.1 + f64::from(v));
    }
    for (a, b) in a_rest.iter().zip(b_rest) {
        let (u, v) = f(*a, *b);
        sums = (sums.0 + f64::from(u), sums.1 + f64::from(v));
    }
    sums
}

/// Elements per task of the element-wise kernels (64 KB of f32).
const ELEMENTWISE_CHUNK: usize = 1 << 14;

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

/// `dst[c, r] = src[r, c]` for a row-major `[rows, columns]` source.
fn transpose(src: &[f32], rows: usize, columns: usize, dst: &mut [f32]) {
    assert!(src.len() >= rows * columns && dst.len() >= rows * columns);
    // Whole 8x8 tiles through a local array, which the compiler keeps in registers and
    // shuffles; bounds checks and loop limits only once per tile. Then the ragged edges.
    const T: usize = 8;
    let (full_rows, full_columns) = (rows - rows % T, columns - columns % T);
    for r0 in (0..full_rows).step_by(T) {
        for c0 in (0..full_columns).step_by(T) {
            let mut tile = [[0.0f32; T]; T];
            for (i, line) in tile.iter_mut().enumerate() {
                line.copy_from_slice(&src[(r0 + i) * columns + c0..][..T]);
            }
            for j in 0..T {
                let out: &mut [f32; T] = (&mut dst[(c0 + j) * rows + r0..][..T])
                    .try_into()
                    .expect("tile row");
                for (i, value) in out.iter_mut().enumerate() {
                    *value = tile[i][j];
                }
            }
        }
        for r in r0..r0 + T {
            for c in full_columns..columns {
                dst[c * rows + r] = src[r * columns + c];
            }
        }
    }
    for r in full_rows..rows {
        for c in 0..columns {
            dst[c * rows + r] = src[r * columns + c];
        }
    }
}

/// Intermediate buffers, kept between calls per thread. At batch 32 one chunk's im2col matrix
/// is up to a few MB; fresh buffers per call cost page faults on every layer of every step,
/// and in a VM each first write to a zeroed page also flushes the other CPUs' TLBs, which took
/// a fifth of the kernels' time.
#[derive(Clone, Copy)]
enum Slot {
    /// `cols` or `dcols`.
    Columns,
    /// A product in `[c_out, n*l]` order before it is scattered to NCHW.
    Product,
    /// An output-shaped tensor as rows, `[n*l, c]`.
    Rows,
}

thread_local! {
    static SCRATCH: [std::cell::RefCell<Vec<f32>>; 3] = Default::default();
}

/// Runs `f` on a `len`-long scratch buffer of unspecified contents.
fn with_scratch<R>(slot: Slot, len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let take =
        |s: &[std::cell::RefCell<Vec<f32>>; 3]| std::mem::take(&mut *s[slot as usize].borrow_mut());
    let mut buffer = SCRATCH.with(take);
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    let result = f(&mut buffer[..len]);
    SCRATCH.with(|s| *s[slot as usize].borrow_mut() = buffer);
    result
}

/// `[a, b, inner]` -> `[b, a, inner]` from `src` to `dst`: swaps the two outer axes, copying
/// `inner`-long runs.
fn swap_outer(src: &[f32], a: usize, b: usize, inner: usize, dst: &mut [f32]) {
    for (j, block) in dst.chunks_mut(a * inner).take(b).enumerate() {
        for i in 0..a {
            block[i * inner..][..inner].copy_from_slice(&src[(i * b + j) * inner..][..inner]);
        }
    }
}

/// A read-only matrix view with arbitrary strides.
#[derive(Clone, Copy)]
struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    columns: usize,
    row_stride: isize,
    column_stride: isize,
}

impl<'a> Matrix<'a> {
    fn row_major(data: &'a [f32], rows: usize, columns: usize) -> Self {
        assert_eq!(data.len(), rows * columns, "matrix buffer size");
        Self {
            data,
            rows,
            columns,
            row_stride: columns as isize,
            column_stride: 1,
        }
    }

    fn transposed(self) -> Self {
        Self {
            rows: self.columns,
            columns: self.rows,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
            ..self
        }
    }
}

/// Where a product goes: a row-major buffer, overwritten or added to, by one thread or all.
struct Target<'a> {
    data: &'a mut [f32],
    accumulate: bool,
    parallel: bool,
}

impl<'a> Target<'a> {
    fn new(data: &'a mut [f32], parallel: bool) -> Self {
        Self {
            data,
            accumulate: false,
            parallel,
        }
    }
}

/// `dst = lhs * rhs` (or `dst += lhs * rhs`), `dst` row-major `[lhs.rows, rhs.columns]`.
fn matmul(lhs: Matrix, rhs: Matrix, dst: Target) {
    let (m, k, n) = (lhs.rows, lhs.columns, rhs.columns);
    assert_eq!(k, rhs.rows, "inner dimensions");
    assert_eq!(dst.data.len(), m * n, "output buffer size");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !dst.accumulate {
            dst.data.fill(0.0);
        }
        return;
    }
    // SAFETY: the three views are in bounds (asserted sizes and strides of dense row-major
    // buffers, or their transposes), `dst` is exclusively borrowed and does not alias the
    // inputs; it is read (`read_dst`) only when it holds a sum to add to.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            1,
            n as isize,
            dst.accumulate,
            lhs.data.as_ptr(),
            lhs.column_stride,
            lhs.row_stride,
            rhs.data.as_ptr(),
            rhs.column_stride,
            rhs.row_stride,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism(dst.parallel),
        );
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn parallelism(parallel: bool) -> gemm::Parallelism {
    if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

#[cfg(target_arch = "wasm32")]
fn parallelism(_: bool) -> gemm::Parallelism {
    gemm::Parallelism::None
}

/// Threads the chunked kernels spread over.
#[cfg(not(target_arch = "wasm32"))]
fn threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(target_arch = "wasm32")]
fn threads() -> usize {
    1
}

/// Runs `f(index, chunk)` over `len`-long chunks of `buffer`, in parallel where threads exist.
fn for_each_chunk(buffer: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if len == 0 {
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        buffer
            .par_chunks_mut(len)
            .enumerate()
            .for_each(|(i, chunk)| f(i, chunk));
    }
    #[cfg(target_arch = "wasm32")]
    buffer
        .chunks_mut(len)
        .enumerate()
        .for_each(|(i, chunk)| f(i, chunk));
}

/// Runs `f(index, chunk, sum)` for `count` chunks, in parallel where threads exist: chunk `i`
/// of `buffer` (`len` long, the last one possibly shorter; an empty slice when `buffer` is
/// empty) and a running sum (`None` until `f` starts it). The chunks are cut into one
/// contiguous group per thread, each with its own sum, and the groups' sums are added in
/// order, so the result does not depend on which thread ran what (training runs repeat
/// exactly; a work-stealing reduction summed in a different order each time).
fn fold_chunks(
    buffer: &mut [f32],
    len: usize,
    count: usize,
    f: impl Fn(usize, &mut [f32], &mut Option<Vec<f32>>) + Sync + Send,
) -> Option<Vec<f32>> {
    let groups = threads().clamp(1, count.max(1));
    let mut rest = buffer;
    let mut work = Vec::with_capacity(groups);
    for group in 0..groups {
        let chunks = group * count / groups..(group + 1) * count / groups;
        let take = (chunks.len() * len).min(rest.len());
        let (region, tail) = std::mem::take(&mut rest).split_at_mut(take);
        rest = tail;
        work.push((chunks, region));
    }
    let run = |(chunks, mut region): (std::ops::Range<usize>, &mut [f32])| {
        let mut sum = None;
        for i in chunks {
            let take = len.min(region.len());
            let (chunk, tail) = std::mem::take(&mut region).split_at_mut(take);
            region = tail;
            f(i, chunk, &mut sum);
        }
        sum
    };
    #[cfg(not(target_arch = "wasm32"))]
    let sums: Vec<Option<Vec<f32>>> = {
        use rayon::prelude::*;
        work.into_par_iter().map(run).collect()
    };
    #[cfg(target_arch = "wasm32")]
    let sums: Vec<Option<Vec<f32>>> = work.into_iter().map(run).collect();
    sums.into_iter()
        .fold(None, |total, sum| match (total, sum) {
            (Some(mut total), Some(sum)) => {
                total.iter_mut().zip(&sum).for_each(|(t, s)| *t += s);
                Some(total)
            }
            (total, sum) => total.or(sum),
        })
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

    #[test]
    fn transpose_matches_index_swap_on_whole_tiles_and_ragged_edges() {
        for (rows, columns) in [(16, 24), (19, 21), (3, 40), (40, 1), (1, 1)] {
            let src = values(rows * columns, 6);
            let mut dst = vec![f32::NAN; rows * columns];
            transpose(&src, rows, columns, &mut dst);
            for r in 0..rows {
                for c in 0..columns {
                    assert_eq!(dst[c * rows + r], src[r * columns + c], "{rows}x{columns}");
                }
            }
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
