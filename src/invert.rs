//! GAN inversion ("find my image"): the latent vector whose image is closest to a given image,
//! by gradient descent on the latent with the generator fixed (Zhu et al. 2016, "Generative
//! visual manipulation on the natural image manifold"; Abdal et al. 2019, Image2StyleGAN).
//! Each image starts from the best of a few seeds' latents and Adam moves it to lower the
//! pixel error. A conditional GAN's condition code is inverted with the latent: it starts at
//! the data's average code and may take any blend.

use burn::prelude::*;

use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::latent;
use crate::model::LatentModel;
use crate::{Error, Result};

/// Settings of an inversion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvertConfig {
    /// Seeds tried per image before descending (the best one starts).
    pub candidates: usize,
    /// Adam steps on the latents.
    pub steps: usize,
    /// Adam step size.
    pub learning_rate: f32,
    /// Weight of the pull towards the Gaussian shell (`(|z|^2 / d - 1)^2`), which keeps the
    /// latent where the generator was trained so that it also interpolates well.
    pub shell_weight: f32,
    /// Seed of the candidates.
    pub seed: u64,
}

impl Default for InvertConfig {
    fn default() -> Self {
        Self {
            candidates: 16,
            steps: 150,
            learning_rate: 0.05,
            shell_weight: 0.01,
            seed: 0,
        }
    }
}

/// The latents found and how close their images come.
#[derive(Debug, Clone)]
pub struct Inversion {
    /// Row-major `[n, latent_dim]`, what [`LatentModel::decode`] takes.
    pub latents: Vec<f32>,
    /// Mean squared pixel error of each image's reconstruction, pixels in `[0, 1]`.
    pub errors: Vec<f32>,
}

impl Inversion {
    /// Mean of [`Self::errors`].
    pub fn mean_error(&self) -> f32 {
        self.errors.iter().sum::<f32>() / self.errors.len().max(1) as f32
    }
}

/// Called after every step with `(step, steps, mean error)`; returning `false` stops the
/// inversion there (cancel), keeping the latents found so far.
pub trait Progress {
    /// See the trait.
    fn step(&mut self, step: usize, steps: usize, error: f32) -> bool;
}

impl<F: FnMut(usize, usize, f32) -> bool> Progress for F {
    fn step(&mut self, step: usize, steps: usize, error: f32) -> bool {
        self(step, steps, error)
    }
}

/// Per-image mean squared error between `a` and `b` (`[n, 3, 64, 64]` in `[-1, 1]`), in
/// `[0, 1]` pixel units.
fn errors_of(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    let n = a.dims()[0];
    // (x/2 - y/2)^2: [-1, 1] differences scaled to [0, 1] pixels.
    (a - b)
        .mul_scalar(0.5)
        .powf_scalar(2.0)
        .reshape([n as i32, -1])
        .mean_dim(1)
        .reshape([n])
}

/// Inverts `images` into `model`'s latent space (a GAN; a VAE has its encoder).
pub async fn invert(
    model: &LatentModel,
    images: &[&Rgb64],
    config: InvertConfig,
    mut progress: impl Progress,
) -> Result<Inversion> {
    if images.is_empty() {
        return Err(Error::NoImages("inversion: add at least one image".into()));
    }
    if config.steps > 10_000 || config.candidates == 0 || config.candidates > 256 {
        return Err(Error::Config(format!(
            "inversion takes 0 to 10000 steps and 1 to 256 candidates (got {} and {})",
            config.steps, config.candidates
        )));
    }
    let n = images.len();
    let d = model.latent_dim();
    let k = model.noise_dim();
    let device = model.device().clone();
    let target = image::to_tensor(images, &device);

    // Start: each image's best candidate seed, with the data's average condition code.
    let average_code: Vec<f32> = match model.conditions() {
        Some(c) => {
            let mut code = vec![0.0; c.dim()];
            for cat in 0..c.categories.len() {
                for tone in 0..crate::model::TONES.len() {
                    let w = c.prior[cat * crate::model::TONES.len() + tone];
                    code[cat] += w;
                    code[c.categories.len() + tone] += w;
                }
            }
            code
        }
        None => Vec::new(),
    };
    let candidate = |j: usize| -> Vec<f32> {
        let mut z = latent::noise(config.seed.wrapping_add(j as u64), k);
        z.extend(&average_code);
        z
    };
    let candidates: Vec<Vec<f32>> = (0..config.candidates).map(candidate).collect();
    let flat: Vec<f32> = candidates.iter().flatten().copied().collect();
    let drawn = model.decode(&flat)?; // [c, 3, 64, 64]
    let mut z = Vec::with_capacity(n * d);
    for i in 0..n {
        let one = target.clone().slice([i..i + 1]).repeat_dim(0, config.candidates);
        let errors = read_f32(errors_of(drawn.clone(), one)).await?;
        let best = (0..errors.len())
            .min_by(|a, b| errors[*a].total_cmp(&errors[*b]))
            .unwrap_or(0);
        z.extend(&candidates[best]);
    }

    // Descent: Adam on the latents, the generator's weights fixed.
    let ad = device.clone().autodiff();
    let generator = model.generator.clone().to_device(&ad).no_grad();
    let target_ad = target.clone().to_device(&ad);
    let (mut m, mut v) = (vec![0.0f32; z.len()], vec![0.0f32; z.len()]);
    let (beta_1, beta_2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    for step in 1..=config.steps {
        let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [n, d]), &ad).require_grad();
        let per_image = errors_of(generator.forward(zt.clone()), target_ad.clone());
        let noise = zt.clone().slice([0..n, 0..k]);
        let shell = (noise.powf_scalar(2.0).mean_dim(1) - 1.0)
            .powf_scalar(2.0)
            .mean()
            .mul_scalar(config.shell_weight);
        let loss = per_image.clone().sum() + shell;
        let grads = loss.backward();
        let grad = zt
            .grad(&grads)
            .ok_or(Error::Backend {
                during: "inversion",
                reason: "no gradient reached the latents".into(),
            })?;
        let grad = read_f32(grad).await?;
        let step_errors = read_f32(per_image.detach()).await?;
        let (c1, c2) = (
            1.0 - beta_1.powi(step as i32),
            1.0 - beta_2.powi(step as i32),
        );
        for j in 0..z.len() {
            m[j] = beta_1 * m[j] + (1.0 - beta_1) * grad[j];
            v[j] = beta_2 * v[j] + (1.0 - beta_2) * grad[j] * grad[j];
            z[j] -= config.learning_rate * (m[j] / c1) / ((v[j] / c2).sqrt() + eps);
        }
        let mean = step_errors.iter().sum::<f32>() / n as f32;
        if !progress.step(step, config.steps, mean) {
            break;
        }
    }
    // The errors of the latents returned (the loop's are one update behind).
    let errors = read_f32(errors_of(model.decode(&z)?, target)).await?;
    Ok(Inversion { latents: z, errors })
}
