//! Variational autoencoder (Kingma & Welling 2014): a convolutional encoder to the mean and
//! log-variance of a Gaussian posterior; the decoder is the GAN's generator network, so both
//! models share one latent API.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::blocks::{DownBlock, pyramid};
use super::condition::{Conditions, LatentPrior};
use super::gan::GeneratorConfig;

/// Encoder architecture.
#[derive(Config, Debug, PartialEq)]
pub struct EncoderConfig {
    /// Length of the latent vector.
    #[config(default = 128)]
    pub latent_dim: usize,
    /// Channels of the first block; later blocks have 2x, 4x, 8x.
    #[config(default = 48)]
    pub width: usize,
}

impl EncoderConfig {
    /// An encoder with DCGAN initialisation.
    pub fn init(&self, device: &Device) -> Encoder {
        let widths = pyramid(self.width);
        let mut blocks = vec![DownBlock::new(3, widths[0], false, device)];
        blocks.extend((1..4).map(|i| DownBlock::new(widths[i - 1], widths[i], true, device)));
        Encoder {
            blocks,
            head: LinearConfig::new(widths[3] * 16, 2 * self.latent_dim).init(device),
            latent_dim: self.latent_dim,
        }
    }
}

/// Image to posterior parameters.
#[derive(Module, Debug)]
pub struct Encoder {
    blocks: Vec<DownBlock>,
    head: Linear,
    #[module(skip)]
    latent_dim: usize,
}

impl Encoder {
    /// # Shapes
    /// - images: `[n, 3, 64, 64]`
    /// - output: (mean `[n, latent]`, log-variance `[n, latent]`)
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let mut x = images;
        for block in &self.blocks {
            x = block.forward(x); // 64 -> 32 -> 16 -> 8 -> 4
        }
        let x = x.flatten::<2>(1, 3); // [n, 8w * 4 * 4]
        let stats = self.head.forward(x); // [n, 2 * latent]
        let d = self.latent_dim;
        let n = stats.dims()[0];
        let mean = stats.clone().slice([0..n, 0..d]);
        // Clamped so exp() cannot overflow on an unusual input.
        let log_var = stats.slice([0..n, d..2 * d]).clamp(-12.0, 8.0);
        (mean, log_var)
    }
}

/// Both halves of the VAE and the KL weight.
#[derive(Config, Debug, PartialEq)]
pub struct VaeConfig {
    /// The encoder.
    pub encoder: EncoderConfig,
    /// The decoder (a generator network).
    pub decoder: GeneratorConfig,
    /// Weight of the KL term (beta-VAE, Higgins et al. 2017); 1.0 is the plain ELBO.
    #[config(default = 1.0)]
    pub beta: f64,
    /// Where samples draw their latents, fitted after training (`latentpad prior`): the
    /// posterior means of a stratified set of training images, each moved off in a random
    /// direction (ex-post density estimation, Ghosh et al. 2020). `None`: the standard
    /// Gaussian, the ELBO's prior.
    #[config(default = "None")]
    pub prior: Option<LatentPrior>,
    /// The training data's categories and the frequency of each (category, tone), when the
    /// prior's centres carry labels: sampling can then be steered like the conditional
    /// GAN's, by drawing from the centres of the condition asked for.
    #[config(default = "None")]
    pub conditions: Option<Conditions>,
}

impl VaeConfig {
    /// The shipped emoji architecture.
    pub fn emoji() -> Self {
        Self::new(EncoderConfig::new(), GeneratorConfig::new())
    }
}
