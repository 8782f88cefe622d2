//! Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for
//! Data-Efficient GAN Training"): the same random colour, translation and cutout applied to
//! real and generated images in both the discriminator and generator steps, so the
//! discriminator cannot memorise a small training set. Every op is differentiable, so the
//! generator gets gradients through it. Randomness comes from the trainer's seeded host RNG.

use burn::prelude::*;

use crate::backend::flex::{self, AUGMENT_PARAMS};
use crate::latent::SplitMix64;

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

    /// The numbers of `backend::flex::augment`, per image.
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

/// Applies the configured augmentations to a batch (`backend::flex::augment`: one kernel on
/// `flex`, burn's tensor operations elsewhere); the same draws from `rng` either way.
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
    flex::augment(images, &draws.params())
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
