//! One latent API for both generative models: sample by seed, decode latents, interpolate,
//! and (VAE only) encode images into latent space.

use burn::prelude::*;

use super::{Encoder, Generator, ModelConfig};
use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::latent::{self, Interpolation};
use crate::weights::WeightsFile;
use crate::{Error, Result};

/// A generative model ready for inference: the GAN's (EMA) generator or the VAE's decoder,
/// plus the VAE's encoder.
#[derive(Debug, Clone)]
pub struct LatentModel {
    /// The architecture.
    pub config: ModelConfig,
    /// Latent to image.
    pub generator: Generator,
    /// Image to latent; `None` for a GAN.
    pub encoder: Option<Encoder>,
    device: Device,
}

impl LatentModel {
    /// Wraps trained networks (put in inference mode here).
    pub fn new(
        config: ModelConfig,
        generator: Generator,
        encoder: Option<Encoder>,
        device: &Device,
    ) -> Self {
        Self {
            config,
            generator: generator.valid(),
            encoder: encoder.map(|e| e.valid()),
            device: device.clone(),
        }
    }

    /// The generative model in a weights file: a GAN's `generator` part, or a VAE's
    /// `decoder` and `encoder` parts.
    pub fn from_weights(file: &WeightsFile, device: &Device) -> Result<Self> {
        match &file.config {
            ModelConfig::Gan(c) => {
                let generator = file.load("generator", c.generator.init(device))?;
                Ok(Self::new(file.config.clone(), generator, None, device))
            }
            ModelConfig::Vae(c) => {
                let decoder = file.load("decoder", c.decoder.init(device))?;
                let encoder = if file.has("encoder") {
                    Some(file.load("encoder", c.encoder.init(device))?)
                } else {
                    None
                };
                Ok(Self::new(file.config.clone(), decoder, encoder, device))
            }
            other => Err(Error::WrongArchitecture {
                source_name: file.source_name.clone(),
                expected: "a gan or a vae".into(),
                found: other.describe(),
            }),
        }
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Length of a latent vector.
    pub fn latent_dim(&self) -> usize {
        self.generator.latent_dim()
    }

    /// Images for latents `z` (row-major `[n, latent_dim]`).
    ///
    /// # Shapes
    /// - output: `[n, 3, 64, 64]` in `[-1, 1]`
    pub fn decode(&self, z: &[f32]) -> Result<Tensor<4>> {
        let d = self.latent_dim();
        if z.is_empty() || z.len() % d != 0 {
            return Err(Error::Shape {
                what: "latent vectors",
                expected: vec![z.len() / d.max(1), d],
                actual: vec![z.len()],
            });
        }
        let z = Tensor::<2>::from_data(TensorData::new(z.to_vec(), [z.len() / d, d]), &self.device);
        Ok(self.generator.forward(z))
    }

    /// `n` images for seeds `seed .. seed + n`; image `i` depends only on seed `seed + i`.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Tensor<4>> {
        self.decode(&latent::noise_batch(seed, n, self.latent_dim()))
    }

    /// `frames` images walking from latent `a` to latent `b`.
    pub fn interpolate(
        &self,
        a: &[f32],
        b: &[f32],
        frames: usize,
        how: Interpolation,
    ) -> Result<Tensor<4>> {
        if a.len() != self.latent_dim() || b.len() != self.latent_dim() {
            return Err(Error::Shape {
                what: "interpolation endpoints",
                expected: vec![self.latent_dim()],
                actual: vec![a.len(), b.len()],
            });
        }
        if frames == 0 || frames > 1024 {
            return Err(Error::Config(format!(
                "frames must be 1..=1024, not {frames}"
            )));
        }
        self.decode(&latent::interpolate(a, b, frames, how))
    }

    /// `frames` images walking from the image of `from_seed` to that of `to_seed`.
    pub fn interpolate_seeds(
        &self,
        from_seed: u64,
        to_seed: u64,
        frames: usize,
        how: Interpolation,
    ) -> Result<Tensor<4>> {
        let d = self.latent_dim();
        self.interpolate(
            &latent::noise(from_seed, d),
            &latent::noise(to_seed, d),
            frames,
            how,
        )
    }

    /// Posterior means of `images`, row-major `[n, latent_dim]`. VAE only.
    pub async fn encode(&self, images: &[&Rgb64]) -> Result<Vec<f32>> {
        let encoder = self.encoder.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "encoding needs a VAE; this model is a {}",
                self.config.kind()
            ))
        })?;
        if images.is_empty() {
            return Err(Error::NoImages("encode".into()));
        }
        let (mean, _) = encoder.forward(image::to_tensor(images, &self.device));
        read_f32(mean).await
    }
}
