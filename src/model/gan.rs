//! DCGAN at 64x64 (Radford et al. 2016): the generator maps a latent vector to an image, the
//! discriminator scores an image as real or generated.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;

use super::blocks::{DownBlock, UpBlock, pyramid};
use crate::backend::flex::{self, Activation};

/// Generator architecture.
#[derive(Config, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Length of the latent vector `z`.
    #[config(default = 128)]
    pub latent_dim: usize,
    /// Channels of the last hidden block (64x32 resolution); earlier blocks have 2x, 4x, 8x.
    /// 48 keeps the f16 weights at ~4.6 MB, under the 8 MB budget for the browser.
    #[config(default = 48)]
    pub width: usize,
}

impl GeneratorConfig {
    /// A generator with DCGAN initialisation.
    pub fn init(&self, device: &Device) -> Generator {
        let widths = pyramid(self.width);
        Generator {
            project: ConvTranspose2dConfig::new([self.latent_dim, widths[3]], [4, 4])
                .with_bias(false)
                .init(device),
            project_norm: BatchNormConfig::new(widths[3]).init(device),
            blocks: (1..4)
                .rev()
                .map(|i| UpBlock::new(widths[i], widths[i - 1], device))
                .collect(),
            to_rgb: ConvTranspose2dConfig::new([widths[0], 3], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(device),
            latent_dim: self.latent_dim,
        }
    }
}

/// Latent vector to 64x64 RGB image in `[-1, 1]`.
#[derive(Module, Debug)]
pub struct Generator {
    project: ConvTranspose2d,
    project_norm: BatchNorm,
    blocks: Vec<UpBlock>,
    to_rgb: ConvTranspose2d,
    #[module(skip)]
    latent_dim: usize,
}

impl Generator {
    /// Length of the latent vector this generator takes.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// # Shapes
    /// - z: `[n, latent_dim]`
    /// - output: `[n, 3, 64, 64]`
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [n, d] = z.dims();
        let x = z.reshape([n, d, 1, 1]); // [n, latent, 1, 1]
        let x = flex::conv_transpose2d(&self.project, x); // [n, 8w, 4, 4]
        let mut x = flex::batch_norm(&self.project_norm, x, Activation::Relu);
        for block in &self.blocks {
            x = block.forward(x); // 4 -> 8 -> 16 -> 32
        }
        flex::conv_transpose2d(&self.to_rgb, x).tanh() // [n, 3, 64, 64]
    }
}

/// Discriminator architecture.
#[derive(Config, Debug, PartialEq)]
pub struct DiscriminatorConfig {
    /// Channels of the first block; later blocks have 2x, 4x, 8x.
    #[config(default = 48)]
    pub width: usize,
}

impl DiscriminatorConfig {
    /// A discriminator with DCGAN initialisation.
    pub fn init(&self, device: &Device) -> Discriminator {
        let widths = pyramid(self.width);
        let mut blocks = vec![DownBlock::new(3, widths[0], false, device)];
        blocks.extend((1..4).map(|i| DownBlock::new(widths[i - 1], widths[i], true, device)));
        Discriminator {
            blocks,
            head: Conv2dConfig::new([widths[3], 1], [4, 4]).init(device),
        }
    }
}

/// Image to realness logit.
#[derive(Module, Debug)]
pub struct Discriminator {
    /// Four stride-2 blocks, 64 -> 4; public so fine-tuning can freeze the first ones.
    pub blocks: Vec<DownBlock>,
    head: Conv2d,
}

impl Discriminator {
    /// # Shapes
    /// - images: `[n, 3, 64, 64]`
    /// - output: `[n]` logits (positive = real)
    pub fn forward(&self, images: Tensor<4>) -> Tensor<1> {
        let n = images.dims()[0];
        let mut x = images;
        for block in &self.blocks {
            x = block.forward(x); // 64 -> 32 -> 16 -> 8 -> 4
        }
        flex::conv2d(&self.head, x).reshape([n]) // [n, 1, 1, 1] -> [n]
    }

    /// FreezeD (Mo et al. 2020): stop training the first `layers` blocks, which hold generic
    /// low-level features, when fine-tuning on a few images.
    pub fn freeze_layers(mut self, layers: usize) -> Self {
        self.blocks = self
            .blocks
            .into_iter()
            .enumerate()
            .map(|(i, b)| if i < layers { b.freeze() } else { b })
            .collect();
        self
    }
}

/// Both halves of the GAN.
#[derive(Config, Debug, PartialEq)]
pub struct GanConfig {
    /// The generator.
    pub generator: GeneratorConfig,
    /// The discriminator.
    pub discriminator: DiscriminatorConfig,
}

impl GanConfig {
    /// The shipped emoji architecture.
    pub fn emoji() -> Self {
        Self::new(GeneratorConfig::new(), DiscriminatorConfig::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let device = crate::backend::default_device();
        let g = GeneratorConfig::new()
            .with_width(8)
            .with_latent_dim(16)
            .init(&device);
        let d = DiscriminatorConfig::new().with_width(8).init(&device);
        let images = g.forward(Tensor::zeros([3, 16], &device));
        assert_eq!(images.dims(), [3, 3, 64, 64]);
        assert_eq!(d.forward(images).dims(), [3]);
    }
}
