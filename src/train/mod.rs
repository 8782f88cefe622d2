//! Training, shared by CLI pretraining and fine-tuning (native and in the browser): trainers
//! that take one batch per call and return the losses, so the caller drives the loop, shows
//! progress, checkpoints and can stop between any two steps.

pub mod augment;
#[cfg(not(target_arch = "wasm32"))]
pub mod checkpoint;
pub mod classifier;
pub mod ema;
pub mod finetune;
pub mod flow;
pub mod gan;
#[cfg(not(target_arch = "wasm32"))]
pub mod run;
#[cfg(not(target_arch = "wasm32"))]
pub mod setup;
mod state;
pub mod vae;

use burn::prelude::*;

use crate::image::Rgb64;
use crate::model::{LatentModel, ModelConfig};
use crate::weights::WeightsFile;
use crate::{Error, Result};
use gan::{GanLosses, GanTrainConfig, GanTrainer};
use vae::{VaeLosses, VaeTrainConfig, VaeTrainer};

/// Either generative trainer, for callers that drive both the same way (the CLI's loops and
/// the browser's fine-tuning).
pub enum Trainer {
    /// A GAN being trained.
    Gan(GanTrainer),
    /// A VAE being trained.
    Vae(VaeTrainer),
}

/// Losses of one step of either trainer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Losses {
    /// GAN losses.
    Gan(GanLosses),
    /// VAE losses.
    Vae(VaeLosses),
}

impl Losses {
    /// Every loss value, for logs: GAN (discriminator, generator), VAE (total,
    /// reconstruction, KL, adversarial, discriminator, perceptual, feature matching, detail).
    pub fn values(&self) -> Vec<f32> {
        match self {
            Losses::Gan(l) => vec![l.discriminator, l.generator],
            Losses::Vae(l) => vec![
                l.total,
                l.reconstruction,
                l.kl,
                l.adversarial,
                l.discriminator,
                l.perceptual,
                l.feature_matching,
                l.detail,
            ],
        }
    }

    /// The two curves a person watches: GAN (discriminator, generator), VAE
    /// (reconstruction, KL).
    pub fn pair(&self) -> [f32; 2] {
        match self {
            Losses::Gan(l) => [l.discriminator, l.generator],
            Losses::Vae(l) => [l.reconstruction, l.kl],
        }
    }

    /// A short progress message.
    pub fn summary(&self) -> String {
        match self {
            Losses::Gan(l) => format!("D {:.3} G {:.3}", l.discriminator, l.generator),
            Losses::Vae(l) if l.discriminator > 0.0 => format!(
                "recon {:.1} KL {:.1} adv {:.3} D {:.3} fm {:.1}",
                l.reconstruction, l.kl, l.adversarial, l.discriminator, l.feature_matching
            ),
            Losses::Vae(l) if l.perceptual > 0.0 => format!(
                "recon {:.1} KL {:.1} perceptual {:.1}",
                l.reconstruction, l.kl, l.perceptual
            ),
            Losses::Vae(l) => format!("recon {:.1} KL {:.1}", l.reconstruction, l.kl),
        }
    }
}

impl Trainer {
    /// Fine-tuning of the model in `file` on a person's images: small batches, FreezeD
    /// (`freeze_discriminator_layers`) and a fast EMA for a GAN, a lower learning rate for a
    /// VAE (whose fitted sampling prior, centred on its training images, is dropped).
    pub fn fine_tune(
        file: &WeightsFile,
        batch_size: usize,
        freeze_discriminator_layers: usize,
        device: &Device,
    ) -> Result<Self> {
        match &file.config {
            ModelConfig::Gan(_) => {
                let config = GanTrainConfig::new()
                    .with_batch_size(batch_size)
                    .with_freeze_discriminator_layers(freeze_discriminator_layers)
                    .with_ema_decay(0.99);
                Ok(Trainer::Gan(GanTrainer::from_weights(
                    file, config, device,
                )?))
            }
            ModelConfig::Vae(_) => {
                let config = VaeTrainConfig::new()
                    .with_batch_size(batch_size)
                    .with_learning_rate(2e-4);
                let trainer = VaeTrainer::from_weights(file, config, device)?;
                Ok(Trainer::Vae(trainer.without_prior()))
            }
            other => Err(Error::Config(format!(
                "{}: a {} cannot be fine-tuned",
                file.source_name,
                other.kind()
            ))),
        }
    }

    /// Steps taken by this trainer.
    pub fn step_count(&self) -> u64 {
        match self {
            Trainer::Gan(t) => t.step_count(),
            Trainer::Vae(t) => t.step_count(),
        }
    }

    /// Images per step.
    pub fn batch_size(&self) -> usize {
        match self {
            Trainer::Gan(t) => t.config.batch_size,
            Trainer::Vae(t) => t.config.batch_size,
        }
    }

    /// The power by which a pretraining run draws categories ([`GanTrainConfig::class_sampling`]);
    /// `None` for the data's mix.
    pub fn class_sampling(&self) -> Option<f64> {
        match self {
            Trainer::Gan(t) => t.config.class_sampling.filter(|p| *p != 1.0),
            Trainer::Vae(_) => None,
        }
    }

    /// One update on a batch.
    pub async fn step(&mut self, batch: &[&Rgb64]) -> Result<Losses> {
        Ok(match self {
            Trainer::Gan(t) => Losses::Gan(t.step(batch).await?),
            Trainer::Vae(t) => Losses::Vae(t.step(batch).await?),
        })
    }

    /// The model as trained so far, ready for inference.
    pub fn latent_model(&self) -> LatentModel {
        match self {
            Trainer::Gan(t) => t.latent_model(),
            Trainer::Vae(t) => t.latent_model(),
        }
    }

    /// One update on a batch with each image's `(category, tone)` label, used by a
    /// conditional GAN (the others ignore labels).
    pub async fn step_labelled(
        &mut self,
        batch: &[&Rgb64],
        labels: &[(usize, usize)],
    ) -> Result<Losses> {
        Ok(match self {
            Trainer::Gan(t) => Losses::Gan(t.step_labelled(batch, Some(labels)).await?),
            Trainer::Vae(t) => Losses::Vae(t.step(batch).await?),
        })
    }

    /// Weights file of the model as trained so far, read back asynchronously (any device).
    pub async fn export_async(&self, name: &str) -> Result<WeightsFile> {
        match self {
            Trainer::Gan(t) => t.export_async(name).await,
            Trainer::Vae(t) => t.export_async(name).await,
        }
    }

    /// Blocking [`Self::export_async`] for the CPU device (CLI, tests).
    pub fn export(&self, name: &str) -> Result<WeightsFile> {
        pollster::block_on(self.export_async(name))
    }

    /// Writes a full-precision checkpoint into `dir`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save_checkpoint(&self, dir: &std::path::Path) -> Result<()> {
        match self {
            Trainer::Gan(t) => t.save_checkpoint(dir),
            Trainer::Vae(t) => t.save_checkpoint(dir),
        }
    }
}

/// A loss term's weight (`what`, for the message) must be a finite number of at least 0.
pub(crate) fn check_loss_weight(what: &str, weight: f64) -> Result<()> {
    if weight >= 0.0 && weight.is_finite() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{what} must be a number of at least 0 (got {weight})"
        )))
    }
}
