//! Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for
//! Data-Efficient GAN Training"): the same random colour, translation and cutout applied to
//! real and generated images in both the discriminator and generator steps, so the
//! discriminator cannot memorise a small training set. Every op is differentiable, so the
//! generator gets gradients through it. Randomness comes from the trainer's seeded host RNG.

use burn::prelude::*;

use crate::latent::SplitMix64;
use crate::model::conv::{self, cpu::AUGMENT_PARAMS};

/// Which augmentations to apply.
#[derive(Config, Debug, PartialEq)]
pub struct AugmentConfig {
    /// Random brightness, saturation and contrast.
    #[config(default = true)]
    pub color: bool,
    /// Random shift by up to 1/8 of the image, zero-filled.
    #[config(default = true)]
    pub translation: bool,
    /// A random square of half the image side set to zero.
    #[config(default = true)]
    pub cutout: bool,
}

impl AugmentConfig {
    /// No augmentation (the ablation baseline).
    pub fn none() -> Self {
        Self::new()
            .with_color(false)
            .with_translation(false)
            .with_cutout(false)
    }

    /// Whether any augmentation is on.
    pub fn any(&self) -> bool {
        self.color || self.translation || self.cutout
    }
}

/// The random draws of one call, per image, in the order the trainer's RNG produces them.
struct Draws {
    /// Added to every value, in `[-0.5, 0.5)`.
    brightness: Vec<f32>,
    /// Scale of each pixel's deviation from its channel mean, in `[0, 2)`.
    saturation: Vec<f32>,
    /// Scale of each value's deviation from the image mean, in `[0.5, 1.5)`.
    contrast: Vec<f32>,
    /// Shift (rows, columns) of the image.
    shift: Vec<[i64; 2]>,
    /// Cutout square (top, left, height, width), or `None`.
    cut: Vec<Option<[i64; 4]>>,
}

impl Draws {
    fn new(config: &AugmentConfig, [n, h, w]: [usize; 3], rng: &mut SplitMix64) -> Self {
        let uniform = |rng: &mut SplitMix64, f: fn(f32) -> f32| {
            (0..n).map(|_| f(rng.next_f32())).collect::<Vec<_>>()
        };
        // Ranges from the DiffAugment reference implementation.
        let (brightness, saturation, contrast) = if config.color {
            (
                uniform(rng, |u| u - 0.5),
                uniform(rng, |u| u * 2.0),
                uniform(rng, |u| u + 0.5),
            )
        } else {
            (vec![0.0; n], vec![1.0; n], vec![1.0; n])
        };
        let (mut shift, mut cut) = (Vec::with_capacity(n), Vec::with_capacity(n));
        if config.translation || config.cutout {
            for _ in 0..n {
                shift.push(if config.translation {
                    let (sy, sx) = ((h / 8) as i64, (w / 8) as i64);
                    [
                        rng.below(2 * sy as usize + 1) as i64 - sy,
                        rng.below(2 * sx as usize + 1) as i64 - sx,
                    ]
                } else {
                    [0, 0]
                });
                cut.push(config.cutout.then(|| {
                    let (ch, cw) = (h / 2, w / 2);
                    // Centre anywhere in the image, square clipped at the borders.
                    let (cy, cx) = (rng.below(h) as i64, rng.below(w) as i64);
                    [cy - ch as i64 / 2, cx - cw as i64 / 2, ch as i64, cw as i64]
                }));
            }
        } else {
            shift = vec![[0, 0]; n];
            cut = vec![None; n];
        }
        Self {
            brightness,
            saturation,
            contrast,
            shift,
            cut,
        }
    }

    /// The numbers of `model::conv::cpu::augment`, per image.
    fn params(&self) -> Vec<f32> {
        let mut params = Vec::with_capacity(self.shift.len() * AUGMENT_PARAMS);
        for i in 0..self.shift.len() {
            let [dy, dx] = self.shift[i];
            let [top, left, height, width] = self.cut[i].unwrap_or([0; 4]);
            params.extend([
                self.brightness[i],
                self.saturation[i],
                self.contrast[i],
                dy as f32,
                dx as f32,
                top as f32,
                left as f32,
                height as f32,
                width as f32,
            ]);
        }
        params
    }
}

/// Applies the configured augmentations to a batch: one kernel on `flex`, burn's tensor
/// operations elsewhere; the same draws from `rng` either way.
///
/// # Shapes
/// - images: `[n, c, h, w]`
/// - output: `[n, c, h, w]`
pub fn diff_augment(images: Tensor<4>, config: &AugmentConfig, rng: &mut SplitMix64) -> Tensor<4> {
    let [n, _, h, w] = images.dims();
    if !config.any() {
        return images;
    }
    let draws = Draws::new(config, [n, h, w], rng);
    conv::augment(images, draws.params(), |images| {
        with_tensor_ops(images, config, &draws)
    })
}

/// [`diff_augment`] as burn tensor operations.
fn with_tensor_ops(images: Tensor<4>, config: &AugmentConfig, draws: &Draws) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    let device = images.device();
    let per_sample = |values: &[f32]| {
        Tensor::<4>::from_data(TensorData::new(values.to_vec(), [n, 1, 1, 1]), &device)
    };
    let mut x = images;
    if config.color {
        x = x + per_sample(&draws.brightness);
        let mean = x.clone().mean_dim(1); // [n, 1, h, w]
        x = (x - mean.clone()) * per_sample(&draws.saturation) + mean;
        let mean = x.clone().mean_dims(&[1, 2, 3]); // [n, 1, 1, 1]
        x = (x - mean.clone()) * per_sample(&draws.contrast) + mean;
    }
    if config.translation || config.cutout {
        // One gather moves every pixel (translation) and one mask zeroes what fell off the
        // edge or under the cutout square.
        let plane = h * w;
        let mut index = Vec::with_capacity(n * plane);
        let mut mask = Vec::with_capacity(n * plane);
        for (&[dy, dx], cut) in draws.shift.iter().zip(&draws.cut) {
            for y in 0..h as i64 {
                for x_ in 0..w as i64 {
                    let (sy, sx) = (y - dy, x_ - dx);
                    let inside = sy >= 0 && sy < h as i64 && sx >= 0 && sx < w as i64;
                    let cut_here = cut.is_some_and(|[y0, x0, ch, cw]| {
                        y >= y0 && y < y0 + ch && x_ >= x0 && x_ < x0 + cw
                    });
                    index.push(if inside { sy * w as i64 + sx } else { 0 });
                    mask.push(if inside && !cut_here { 1.0f32 } else { 0.0 });
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{default_device, read_f32_blocking};

    #[test]
    fn translation_moves_pixels_and_zero_fills() {
        let device = default_device();
        let config = AugmentConfig::none().with_translation(true);
        let ones = Tensor::<4>::ones([4, 3, 16, 16], &device);
        let out = read_f32_blocking(diff_augment(ones, &config, &mut SplitMix64::new(1))).unwrap();
        // A shifted all-ones image is ones where pixels came from, zeros where they fell off.
        assert!(out.iter().all(|v| *v == 0.0 || *v == 1.0));
        let zeros = out.iter().filter(|v| **v == 0.0).count();
        assert!(zeros > 0 && zeros < out.len() / 2, "zeros: {zeros}");
    }

    /// The `flex` kernel and burn's tensor operations agree, output and gradient, for each
    /// augmentation alone and all together.
    #[test]
    fn kernel_matches_tensor_ops_with_gradients() {
        use burn::tensor::Distribution;
        let device = default_device().autodiff();
        let configs = [
            AugmentConfig::new(),
            AugmentConfig::none().with_color(true),
            AugmentConfig::none().with_translation(true),
            AugmentConfig::none().with_cutout(true),
        ];
        for config in configs {
            let x =
                Tensor::<4>::random([3, 3, 16, 12], Distribution::Default, &device).require_grad();
            let draws = Draws::new(&config, [3, 16, 12], &mut SplitMix64::new(9));
            let ours = conv::augment(x.clone(), draws.params(), |_| unreachable!("on flex"));
            let burns = with_tensor_ops(x.clone(), &config, &draws);
            let difference: f32 = (ours.clone() - burns.clone()).abs().max().into_scalar();
            assert!(
                difference < 1e-5,
                "{config:?}: outputs differ by {difference}"
            );
            let mix = Tensor::<4>::random(ours.dims(), Distribution::Default, &device);
            let grad_ours = x
                .grad(&(ours * mix.clone()).sum().backward())
                .expect("grad");
            let grad_burns = x.grad(&(burns * mix).sum().backward()).expect("grad");
            let difference: f32 = (grad_ours - grad_burns).abs().max().into_scalar();
            assert!(
                difference < 1e-5,
                "{config:?}: gradients differ by {difference}"
            );
        }
    }

    #[test]
    fn no_augmentation_is_identity_and_same_seed_same_result() {
        let device = default_device();
        let x = Tensor::<4>::random([2, 3, 8, 8], burn::tensor::Distribution::Default, &device);
        let same = diff_augment(x.clone(), &AugmentConfig::none(), &mut SplitMix64::new(1));
        assert_eq!(
            read_f32_blocking(same).unwrap(),
            read_f32_blocking(x.clone()).unwrap()
        );
        let a = diff_augment(x.clone(), &AugmentConfig::new(), &mut SplitMix64::new(5));
        let b = diff_augment(x, &AugmentConfig::new(), &mut SplitMix64::new(5));
        assert_eq!(read_f32_blocking(a).unwrap(), read_f32_blocking(b).unwrap());
    }
}
