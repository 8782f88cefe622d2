//! Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for
//! Data-Efficient GAN Training"): the same random colour, translation and cutout applied to
//! real and generated images in both the discriminator and generator steps, so the
//! discriminator cannot memorise a small training set. Every op is differentiable, so the
//! generator gets gradients through it. Randomness comes from the trainer's seeded host RNG.

use burn::prelude::*;

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

fn per_sample(rng: &mut SplitMix64, n: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
    Tensor::from_data(TensorData::new(values, [n, 1, 1, 1]), device)
}

/// Applies the configured augmentations to a batch.
///
/// # Shapes
/// - images: `[n, c, h, w]`
/// - output: `[n, c, h, w]`
pub fn diff_augment(images: Tensor<4>, config: &AugmentConfig, rng: &mut SplitMix64) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    let device = images.device();
    let mut x = images;
    if config.color {
        // Ranges from the DiffAugment reference implementation.
        let brightness = per_sample(rng, n, &device).sub_scalar(0.5);
        x = x + brightness;
        let saturation = per_sample(rng, n, &device).mul_scalar(2.0);
        let mean = x.clone().mean_dim(1); // [n, 1, h, w]
        x = (x - mean.clone()) * saturation + mean;
        let contrast = per_sample(rng, n, &device).add_scalar(0.5);
        let mean = x.clone().mean_dims(&[1, 2, 3]); // [n, 1, 1, 1]
        x = (x - mean.clone()) * contrast + mean;
    }
    if config.translation || config.cutout {
        // One gather moves every pixel (translation) and one mask zeroes what fell off the
        // edge or under the cutout square.
        let plane = h * w;
        let mut index = Vec::with_capacity(n * plane);
        let mut mask = Vec::with_capacity(n * plane);
        for _ in 0..n {
            let (dy, dx) = if config.translation {
                let (sy, sx) = ((h / 8) as i64, (w / 8) as i64);
                (
                    rng.below(2 * sy as usize + 1) as i64 - sy,
                    rng.below(2 * sx as usize + 1) as i64 - sx,
                )
            } else {
                (0, 0)
            };
            let cut = config.cutout.then(|| {
                let (ch, cw) = (h / 2, w / 2);
                // Centre anywhere in the image, square clipped at the borders.
                let (cy, cx) = (rng.below(h) as i64, rng.below(w) as i64);
                (cy - ch as i64 / 2, cx - cw as i64 / 2, ch as i64, cw as i64)
            });
            for y in 0..h as i64 {
                for x_ in 0..w as i64 {
                    let (sy, sx) = (y - dy, x_ - dx);
                    let inside = sy >= 0 && sy < h as i64 && sx >= 0 && sx < w as i64;
                    let cut_here = cut.is_some_and(|(y0, x0, ch, cw)| {
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
