//! DiffAugment's transform (Zhao et al. 2020) of a batch, given per-image parameters drawn by
//! the trainer (`train::augment`): one kernel on `flex` with its adjoint, and burn's tensor
//! operations for the same function elsewhere (WebGPU), which are also the kernel's reference.

use burn::backend::Dispatch;
use burn::backend::flex::FlexTensor;
use burn::prelude::*;

use super::parallel::for_each_chunk;
use super::{FastOps, Host, on_flex_f32};

/// DiffAugment of `x` with [`AUGMENT_PARAMS`] numbers per image in `params` (see
/// [`augment_kernel`]): the kernel on `flex`, [`augment_reference`] elsewhere.
///
/// # Shapes
/// - x: `[n, c, h, w]`
/// - output: `[n, c, h, w]`
pub fn augment(x: Tensor<4>, params: &[f32]) -> Tensor<4> {
    if !on_flex_f32(&x) {
        return augment_reference(x, params);
    }
    let n = x.dims()[0];
    let params = Tensor::<2>::from_data(
        TensorData::new(params.to_vec(), [n, AUGMENT_PARAMS]),
        &x.device(),
    );
    Tensor::from_dispatch(<Dispatch as FastOps>::fast_augment(
        x.into_dispatch(),
        params.into_dispatch(),
    ))
}

/// [`augment`] as burn tensor operations: the colour steps as broadcasting arithmetic, the
/// shift as one gather and the zeroed pixels as one mask. Steps whose parameters are the
/// identity for every image are skipped.
///
/// # Shapes
/// - x: `[n, c, h, w]`
/// - output: `[n, c, h, w]`
pub fn augment_reference(x: Tensor<4>, params: &[f32]) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    assert_eq!(
        params.len(),
        n * AUGMENT_PARAMS,
        "augment: numbers per image"
    );
    let device = x.device();
    let images: Vec<Augment> = params
        .chunks(AUGMENT_PARAMS)
        .map(|p| Augment::new(p, [c, h, w]))
        .collect();
    let column = |k: usize| {
        params
            .chunks(AUGMENT_PARAMS)
            .map(|p| p[k])
            .collect::<Vec<_>>()
    };
    let per_image =
        |values: Vec<f32>| Tensor::<4>::from_data(TensorData::new(values, [n, 1, 1, 1]), &device);
    let (brightness, saturation, contrast) = (column(0), column(1), column(2));
    let mut x = x;
    let colour_is_identity = brightness.iter().all(|b| *b == 0.0)
        && saturation.iter().all(|s| *s == 1.0)
        && contrast.iter().all(|k| *k == 1.0);
    if !colour_is_identity {
        x = x + per_image(brightness);
        let mean = x.clone().mean_dim(1); // [n, 1, h, w]
        x = (x - mean.clone()) * per_image(saturation) + mean;
        let mean = x.clone().mean_dims(&[1, 2, 3]); // [n, 1, 1, 1]
        x = (x - mean.clone()) * per_image(contrast) + mean;
    }
    if images.iter().any(|a| a.shift != [0, 0] || a.cut[2] > 0) {
        let plane = h * w;
        let mut index = Vec::with_capacity(n * plane);
        let mut mask = Vec::with_capacity(n * plane);
        for a in &images {
            for p in 0..plane {
                let source = a.source(p / w, p % w);
                index.push(source.unwrap_or(0) as i64);
                mask.push(if source.is_some() { 1.0f32 } else { 0.0 });
            }
        }
        let index = Tensor::<3, Int>::from_data(TensorData::new(index, [n, 1, plane]), &device)
            .repeat_dim(1, c); // [n, c, h*w]
        let mask = Tensor::<4>::from_data(TensorData::new(mask, [n, 1, h, w]), &device);
        let moved = x.reshape([n, c, plane]).gather(2, index); // [n, c, h*w]
        x = moved.reshape([n, c, h, w]) * mask;
    }
    x
}

pub(super) fn augment_forward(x: &FlexTensor, params: &FlexTensor) -> FlexTensor {
    let (x, params) = (Host::new(x), Host::flat(params));
    x.like(augment_kernel(x.values(), x.dims, params.values()))
}

/// Numbers per image of a DiffAugment transform: brightness, saturation, contrast, the shift
/// (rows, columns) and the cutout square (top, left, height, width; height 0 for none).
pub const AUGMENT_PARAMS: usize = 9;

/// One image's DiffAugment transform, from its [`AUGMENT_PARAMS`] numbers.
struct Augment {
    /// `x3 = gain * x + pixel_gain * m + offset` where `m` is the pixel's channel mean:
    /// brightness, saturation and contrast in one affine map (see [`augment_kernel`]).
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
pub(super) fn augment_kernel(x: &[f32], [n, c, h, w]: [usize; 4], params: &[f32]) -> Vec<f32> {
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

/// Gradient of [`augment_kernel`] with respect to `x` given `dy`: the shift's adjoint moves each
/// kept output pixel's gradient back to its source, then the colour map's adjoint.
pub(super) fn augment_grad(dy: &[f32], [n, c, h, w]: [usize; 4], params: &[f32]) -> Vec<f32> {
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

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::latent::SplitMix64;

    /// Parameters for `n` images of `h x w`: the colour steps, the shift and the cutout each
    /// on or off.
    fn params(n: usize, [h, w]: [usize; 2], [colour, shift, cut]: [bool; 3]) -> Vec<f32> {
        let mut rng = SplitMix64::new(9);
        let mut draw = |lo: f32, hi: f32| lo + (hi - lo) * rng.next_f32();
        (0..n)
            .flat_map(|_| {
                let (b, s, k) = if colour {
                    (draw(-0.5, 0.5), draw(0.0, 2.0), draw(0.5, 1.5))
                } else {
                    (0.0, 1.0, 1.0)
                };
                let (dy, dx) = if shift {
                    (draw(-2.0, 3.0).floor(), draw(-2.0, 3.0).floor())
                } else {
                    (0.0, 0.0)
                };
                let (top, left) = (draw(-3.0, h as f32).floor(), draw(-3.0, w as f32).floor());
                let size = if cut {
                    [h as f32 / 2.0, w as f32 / 2.0]
                } else {
                    [0.0; 2]
                };
                [b, s, k, dy, dx, top, left, size[0], size[1]]
            })
            .collect()
    }

    /// The `flex` kernel and the tensor operations agree, output and gradient, for each step
    /// alone and all together.
    #[test]
    fn kernel_matches_reference_with_gradients() {
        let device = Device::flex().autodiff();
        for steps in [
            [true; 3],
            [true, false, false],
            [false, true, false],
            [false, false, true],
        ] {
            let x =
                Tensor::<4>::random([3, 3, 16, 12], Distribution::Default, &device).require_grad();
            let p = params(3, [16, 12], steps);
            assert!(
                on_flex_f32(&x),
                "the kernel, not the reference, is under test"
            );
            let ours = augment(x.clone(), &p);
            let reference = augment_reference(x.clone(), &p);
            let difference: f32 = (ours.clone() - reference.clone()).abs().max().into_scalar();
            assert!(
                difference < 1e-5,
                "{steps:?}: outputs differ by {difference}"
            );
            let mix = Tensor::<4>::random(ours.dims(), Distribution::Default, &device);
            let grad_ours = x
                .grad(&(ours * mix.clone()).sum().backward())
                .expect("grad");
            let grad_reference = x.grad(&(reference * mix).sum().backward()).expect("grad");
            let difference: f32 = (grad_ours - grad_reference).abs().max().into_scalar();
            assert!(
                difference < 1e-5,
                "{steps:?}: gradients differ by {difference}"
            );
        }
    }
}
