//! Variational autoencoder (Kingma & Welling 2014): a convolutional encoder to the mean and
//! log-variance of a Gaussian posterior; the decoder is the GAN's generator network, so both
//! models share one latent API.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use super::blocks::{DownBlock, pyramid};
use super::condition::Conditions;
use super::gan::{GeneratorConfig, grid_top};
use crate::prior::LatentPrior;

/// Encoder architecture.
#[derive(Config, Debug, PartialEq)]
pub struct EncoderConfig {
    /// Length of the latent vector.
    #[config(default = 128)]
    pub latent_dim: usize,
    /// Channels of the first block; later blocks have 2x, 4x, 8x.
    #[config(default = 48)]
    pub width: usize,
    /// The latent as a grid, as the decoder's [`GeneratorConfig::latent_grid`]: the blocks
    /// stop at that resolution and a 3x3 convolution gives each cell's mean and log-variance
    /// (`None`: a vector, from a linear layer on the 4x4 features).
    #[config(default = "None")]
    pub latent_grid: Option<usize>,
}

impl EncoderConfig {
    /// An encoder with DCGAN initialisation.
    pub fn init(&self, device: &Device) -> Encoder {
        let widths = pyramid(self.width);
        let top = grid_top(self.latent_grid);
        let mut blocks = vec![DownBlock::new(3, widths[0], false, device)];
        blocks.extend((1..=top).map(|i| DownBlock::new(widths[i - 1], widths[i], true, device)));
        let (head, grid_head) = match self.latent_grid {
            None => (
                Some(LinearConfig::new(widths[3] * 16, 2 * self.latent_dim).init(device)),
                None,
            ),
            Some(side) => (
                None,
                Some(
                    Conv2dConfig::new([widths[top], 2 * self.latent_dim / (side * side)], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device),
                ),
            ),
        };
        Encoder {
            blocks,
            head,
            grid_head,
            latent_dim: self.latent_dim,
        }
    }
}

/// Image to posterior parameters.
#[derive(Module, Debug)]
pub struct Encoder {
    blocks: Vec<DownBlock>,
    /// A vector latent's head.
    head: Option<Linear>,
    /// A grid latent's head: per cell, the means' channels, then the log-variances'.
    grid_head: Option<Conv2d>,
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
            x = block.forward(x); // 64 -> 32 -> 16 -> 8 -> 4 (or to the grid's side)
        }
        let d = self.latent_dim;
        let stats = match (&self.head, &self.grid_head) {
            (Some(head), _) => head.forward(x.flatten::<2>(1, 3)), // [n, 2 * latent]
            (None, Some(conv)) => {
                // [n, 2c, s, s]: the first c channels, flattened, are the means in the
                // decoder's order; the rest the log-variances.
                let x = conv.forward(x);
                let [n, c2, s, _] = x.dims();
                let half = |r: std::ops::Range<usize>| {
                    x.clone().slice([0..n, r, 0..s, 0..s]).flatten::<2>(1, 3)
                };
                Tensor::cat(vec![half(0..c2 / 2), half(c2 / 2..c2)], 1)
            }
            (None, None) => unreachable!("an encoder is built with one head"),
        };
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
    /// How far fine-tuning's quick mode moves samples from the uploads' latents (the spread
    /// of its prior, 0 to 1), for a decoder that draws blotches at the default's 1 (a grid
    /// latent's). `None`: the default, `train::finetune::VAE_PRIOR_SPREAD`.
    #[config(default = "None")]
    pub finetune_spread: Option<f32>,
    /// A learned prior over the latent (`latentpad train flow`): when set, samples are the
    /// seed's noise carried to a latent by the flow in the weights file's `flow` part,
    /// instead of a step from a fitted prior's centre.
    #[config(default = "None")]
    pub flow: Option<crate::flow::FlowConfig>,
}

impl VaeConfig {
    /// The shipped emoji architecture.
    pub fn emoji() -> Self {
        Self::new(EncoderConfig::new(), GeneratorConfig::new())
    }
}
