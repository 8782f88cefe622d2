//! A fine-tuning session: a shipped (or saved) model, the person's images, and the trainer
//! between them. The browser's worker and the CLI run the same session: steps, previews, reset
//! to the pretrained weights, export under the model's name with "-finetuned".

use burn::prelude::*;

use super::{Losses, Trainer};
use crate::data::BatchSampler;
use crate::image::Rgb64;
use crate::invert::{InvertConfig, Inverter};
use crate::limits::{MAX_BATCH, MAX_PREVIEW};
use crate::model::{LatentModel, LatentPrior, ModelConfig};
use crate::weights::WeightsFile;
use crate::{Error, Result};

/// Most images [`FineTuning::run_quick_mode`] inverts (the first ones): enough for a mean and a
/// spread, and a bounded wait.
pub const MAX_PRIOR_IMAGES: usize = 32;

/// How far the quick mode's samples go from the uploads' latents (see [`LatentPrior`]).
/// 0.75 from the benchmark: 0.5 gave fewer kinds of image (hearts-10 at 60 steps, recall 0.04
/// against 0.42; `docs/finetune-bench.md`).
pub const PRIOR_SPREAD: f32 = 0.75;

/// A VAE's quick mode: how far its samples go from the uploads' posterior means (the centres
/// kept whole). 1 rather than 0.9 (the shipped VAE's prior): on 20 hearts and 20 Fluent faces
/// FD and recall are level, and the samples no longer sit nearer the uploads than held-out
/// images do (`docs/finetune-bench.md`, "The VAE's quick mode").
pub const VAE_PRIOR_SPREAD: f32 = 1.0;

/// A VAE's quick mode: how far a sample's centre moves towards a second upload's (see
/// [`LatentPrior::mix`]). None: 0.25 and 0.5 gave more kinds of heart (recall on 20 hearts
/// 0.36 and 0.43 against 0.21) but muddier grids and a worse identity-space FD on 30 Fluent
/// faces (224.5 and 238.7 against 215.8; `docs/finetune-bench.md`, "The VAE as the default").
pub const VAE_PRIOR_MIX: f32 = 0.0;

/// Pivotal tuning's weight on the pivots' mean squared pixel error (pixels in `[-1, 1]`),
/// beside the adversarial loss (see [`FineTuning::set_pivot_weight`]), for
/// [`PIVOT_FULL_WEIGHT_IMAGES`] images or more; fewer get a proportionally smaller weight
/// ([`default_pivot_weight`]). From the benchmark (`docs/finetune-bench.md`, 60 steps): on
/// fluent-faces-30 it keeps the FD of the quick mode without it (12.3 against 11.1) and nearly
/// doubles recall (0.58 against 0.30; identity space 0.21 against 0.05, where 3 gives 0.07).
pub const PIVOT_WEIGHT: f64 = 10.0;

/// Images from which pivotal tuning gets its whole weight.
pub const PIVOT_FULL_WEIGHT_IMAGES: usize = 30;

/// The quick mode's pivot weight for `images` uploads: [`PIVOT_WEIGHT`] scaled by
/// `images / 30`, at most 1. With few uploads each is a pivot in most steps and a full weight
/// pulls samples onto them (hearts-10 at weight 10: samples nearer the uploads than held-out
/// hearts are, 23.2 against 24.9; at 3, 34.6).
pub fn default_pivot_weight(images: usize) -> f64 {
    PIVOT_WEIGHT * images.min(PIVOT_FULL_WEIGHT_IMAGES) as f64 / PIVOT_FULL_WEIGHT_IMAGES as f64
}

/// What a session was started with: what [`FineTuning::reset`] starts again from.
struct Start {
    file: WeightsFile,
    batch_size: usize,
    freeze_discriminator_layers: usize,
    device: Device,
    tweaks: Tweaks,
}

/// A GAN fine-tuning's settings other than the defaults of [`Trainer::fine_tune`], for the
/// benchmark's recipes ([`FineTuning::tweak`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tweaks {
    /// DiffAugment on the discriminator's inputs (the default) or none.
    pub augment: bool,
    /// The generator's and discriminator's Adam step size (`None`: the default, 2e-4).
    pub learning_rate: Option<f64>,
    /// The EMA generator's decay (`None`: the default, 0.99, warmed up over the first steps).
    pub ema_decay: Option<f64>,
}

impl Default for Tweaks {
    fn default() -> Self {
        Self {
            augment: true,
            learning_rate: None,
            ema_decay: None,
        }
    }
}

/// Fine-tuning of one model on one set of images.
pub struct FineTuning {
    trainer: Trainer,
    images: Vec<Rgb64>,
    sampler: BatchSampler,
    name: String,
    start: Start,
    /// The quick mode's inversion under way.
    inverting: Option<Inverter>,
    /// How far the quick mode's samples go from the uploads' latents.
    prior_spread: Option<f32>,
    /// A VAE's quick mode: how far towards a second upload's latent (see [`LatentPrior::mix`]).
    prior_mix: Option<f32>,
    /// A VAE's quick mode: its step in the uploads' first K principal directions (`None`:
    /// the model's choice, as many as its own prior's [`LatentPrior::noise_basis`] has, or
    /// none; 0: none).
    prior_principal: Option<usize>,
    /// Pivotal tuning's weight once the quick mode's inversion is done (0: off).
    pivot_weight: f64,
    /// A VAE's quick mode is on: its prior follows the uploads' posterior means, fitted
    /// again after every step (the encoder moves).
    vae_prior: bool,
}

impl FineTuning {
    /// A session on `images` from the model in `file`, on `device`; `batch_size` is clamped to
    /// 1..=[`MAX_BATCH`]. `freeze_discriminator_layers` is FreezeD's depth (GAN only).
    pub fn new(
        file: WeightsFile,
        images: Vec<Rgb64>,
        batch_size: usize,
        freeze_discriminator_layers: usize,
        device: &Device,
    ) -> Result<Self> {
        if images.is_empty() {
            return Err(Error::NoImages(
                "fine-tuning: add at least one image".into(),
            ));
        }
        let pivot_weight = default_pivot_weight(images.len());
        let start = Start {
            batch_size: batch_size.clamp(1, MAX_BATCH),
            freeze_discriminator_layers,
            device: device.clone(),
            file,
            tweaks: Tweaks::default(),
        };
        Ok(Self {
            trainer: Self::trainer(&start)?,
            sampler: BatchSampler::new(images.len(), 1),
            name: format!("{}-finetuned", start.file.meta.name),
            images,
            start,
            inverting: None,
            prior_spread: None,
            prior_mix: None,
            prior_principal: None,
            pivot_weight,
            vae_prior: false,
        })
    }

    fn trainer(start: &Start) -> Result<Trainer> {
        let mut trainer = Trainer::fine_tune(
            &start.file,
            start.batch_size,
            start.freeze_discriminator_layers,
            &start.device,
        )?;
        if let Trainer::Gan(gan) = &mut trainer {
            let Tweaks {
                augment,
                learning_rate,
                ema_decay,
            } = start.tweaks;
            if !augment {
                gan.config.augment = crate::train::augment::AugmentConfig::none();
            }
            if let Some(lr) = learning_rate {
                gan.config.learning_rate = lr;
            }
            if let Some(decay) = ema_decay {
                gan.config.ema_decay = decay;
            }
        }
        if let (Trainer::Vae(vae), Some(lr)) = (&mut trainer, start.tweaks.learning_rate) {
            vae.config.learning_rate = lr;
        }
        Ok(trainer)
    }

    /// Fine-tunes with `tweaks` instead of the defaults (a VAE takes the learning rate only);
    /// only before the first step, and before the quick mode (it starts the trainer again).
    pub fn tweak(&mut self, tweaks: Tweaks) -> Result<()> {
        if self.steps() > 0 {
            return Err(Error::Config(
                "a fine-tuning's settings change only before its first step".into(),
            ));
        }
        let bad = |x: Option<f64>, hi: f64| x.is_some_and(|x| !(x > 0.0 && x < hi));
        if bad(tweaks.learning_rate, 1.0) || bad(tweaks.ema_decay, 1.0) {
            return Err(Error::Config(format!(
                "the learning rate and EMA decay must be above 0 and below 1: {tweaks:?}"
            )));
        }
        self.start.tweaks = tweaks;
        self.trainer = Self::trainer(&self.start)?;
        Ok(())
    }

    /// Back to the pretrained weights it started from (step 0, same images, same batches, no
    /// fitted prior).
    pub fn reset(&mut self) -> Result<()> {
        self.trainer = Self::trainer(&self.start)?;
        self.sampler = BatchSampler::new(self.images.len(), 1);
        self.inverting = None;
        self.vae_prior = false;
        Ok(())
    }

    /// Steps taken since the start (or the last reset).
    pub fn steps(&self) -> u64 {
        self.trainer.step_count()
    }

    /// One step on the next batch of the images.
    pub async fn step(&mut self) -> Result<Losses> {
        let idx = self.sampler.next_batch(self.trainer.batch_size());
        let batch: Vec<&Rgb64> = idx.iter().map(|i| &self.images[*i]).collect();
        let losses = self.trainer.step(&batch).await?;
        if self.vae_prior {
            self.fit_vae_prior().await?;
        }
        Ok(losses)
    }

    /// A VAE's quick mode: the prior around the uploads' posterior means, by the encoder as
    /// it is now.
    async fn fit_vae_prior(&mut self) -> Result<()> {
        let images: Vec<&Rgb64> = self.prior_images().iter().collect();
        let model = self.trainer.latent_model();
        let means = model.encode(&images).await?;
        // What the model names for its quick mode: a spread, and as many principal
        // directions as its own prior's step has.
        let (model_spread, model_principal) = match &self.start.file.config {
            ModelConfig::Vae(c) => (
                c.finetune_spread,
                c.prior.as_ref().and_then(|p| {
                    let basis = p.noise_basis.as_ref()?;
                    Some(basis.len() / p.latent_dim.max(1))
                }),
            ),
            _ => (None, None),
        };
        let spread = self
            .prior_spread
            .or(model_spread)
            .unwrap_or(VAE_PRIOR_SPREAD);
        let mix = self.prior_mix.unwrap_or(VAE_PRIOR_MIX);
        let d = model.latent_dim();
        let centres = means.len() / d.max(1);
        let mut prior = LatentPrior::anchored(means, d, spread)?.with_mixing(mix)?;
        // At most as many directions as the uploads span (one fewer than their number).
        let principal = self.prior_principal.or(model_principal).unwrap_or(0);
        let principal = principal.min(centres.saturating_sub(1)).min(d);
        if principal > 0 {
            prior = prior.with_principal_noise(principal)?;
        }
        if let Trainer::Vae(trainer) = &mut self.trainer {
            trainer.set_prior(Some(prior));
        }
        Ok(())
    }

    /// Quick mode (MidiMe's idea): starts inverting up to [`MAX_PRIOR_IMAGES`] of the images
    /// into the GAN's latent space (`steps` of [`crate::invert`]); once
    /// [`Self::quick_mode_step`] has taken them all, samples and training draw near where the
    /// images land ([`LatentPrior`]), and (pivotal tuning, unless its weight is 0) each
    /// generator step also pulls its drawings of those latents to the images. The weights
    /// are not touched by the inversion itself. A VAE needs no inversion (it has its
    /// encoder): its prior is in place at once, around the images' posterior means
    /// ([`VAE_PRIOR_SPREAD`]), and follows them as the encoder trains; `steps` is unused.
    pub async fn start_quick_mode(&mut self, steps: usize) -> Result<()> {
        let Trainer::Gan(trainer) = &self.trainer else {
            self.vae_prior = true;
            return self.fit_vae_prior().await;
        };
        let images: Vec<&Rgb64> = self.prior_images().iter().collect();
        let config = InvertConfig {
            steps,
            ..Default::default()
        };
        self.inverting = Some(Inverter::start(&trainer.latent_model(), &images, config).await?);
        Ok(())
    }

    /// One inversion step of the quick mode; returns the mean pixel error, or `None` when
    /// there is nothing left to do (the prior is then in place).
    pub async fn quick_mode_step(&mut self) -> Result<Option<f32>> {
        let Some(inverter) = self.inverting.as_mut() else {
            return Ok(None);
        };
        if let Some(error) = inverter.step().await?
            && !inverter.done()
        {
            return Ok(Some(error));
        }
        let Some(inverter) = self.inverting.take() else {
            return Ok(None);
        };
        let latent_dim = self.trainer.latent_model().latent_dim();
        let found = inverter.finish().await?;
        let error = found.mean_error();
        let spread = self.prior_spread.unwrap_or(PRIOR_SPREAD);
        let prior = LatentPrior::around(found.latents.clone(), latent_dim, spread)?;
        let pivots = (self.pivot_weight > 0.0).then(|| {
            (
                found.latents,
                self.prior_images().to_vec(),
                self.pivot_weight,
            )
        });
        if let Trainer::Gan(trainer) = &mut self.trainer {
            trainer.set_prior(Some(prior));
            if pivots.is_some() {
                trainer.set_pivots(pivots)?;
            }
        }
        Ok(Some(error))
    }

    /// The images the quick mode inverts (the first [`MAX_PRIOR_IMAGES`]), and pivotal
    /// tuning pulls to.
    fn prior_images(&self) -> &[Rgb64] {
        &self.images[..self.images.len().min(MAX_PRIOR_IMAGES)]
    }

    /// Pivotal tuning (Roich et al. 2022) after the quick mode's inversion: the weight of the
    /// pixel error between each inverted image's drawing and the image in the generator's
    /// loss ([`default_pivot_weight`] of the images by default, from the benchmark; 0 turns it
    /// off).
    pub fn set_pivot_weight(&mut self, weight: f64) {
        self.pivot_weight = weight;
    }

    /// The quick mode's spread (see [`LatentPrior`]; [`PRIOR_SPREAD`] for a GAN and
    /// [`VAE_PRIOR_SPREAD`] for a VAE by default), for the prior fitted next.
    pub fn set_prior_spread(&mut self, spread: f32) {
        self.prior_spread = Some(spread);
    }

    /// A VAE's quick mode: how far a sample's centre moves towards a second upload's
    /// ([`VAE_PRIOR_MIX`] by default), for the prior fitted next.
    pub fn set_prior_mix(&mut self, mix: f32) {
        self.prior_mix = Some(mix);
    }

    /// A VAE's quick mode: its step in the uploads' first `k` principal directions (0: plain
    /// Gaussian noise), instead of the model's choice.
    pub fn set_prior_principal(&mut self, k: usize) {
        self.prior_principal = Some(k);
    }

    /// Stops an inversion under way; no prior is set.
    pub fn cancel_quick_mode(&mut self) {
        self.inverting = None;
    }

    /// [`Self::start_quick_mode`] and every [`Self::quick_mode_step`]; returns the last mean error.
    pub async fn run_quick_mode(&mut self, steps: usize) -> Result<f32> {
        self.start_quick_mode(steps).await?;
        let mut last = f32::NAN;
        while let Some(error) = self.quick_mode_step().await? {
            last = error;
        }
        Ok(last)
    }

    /// The model as fine-tuned so far, ready for inference.
    pub fn latent_model(&self) -> LatentModel {
        self.trainer.latent_model()
    }

    /// `n` preview samples (clamped to 1..=[`MAX_PREVIEW`]) for seeds `seed..`.
    ///
    /// # Shapes
    /// - output: `[n, 3, 64, 64]`
    pub fn preview(&self, n: usize, seed: u64) -> Result<Tensor<4>> {
        self.latent_model().sample(n.clamp(1, MAX_PREVIEW), seed)
    }

    /// The fine-tuned model's weights file, named after the base model with "-finetuned" and
    /// marked fine-tuned; read back asynchronously (any device).
    pub async fn export(&self) -> Result<WeightsFile> {
        let mut file = self.trainer.export_async(&self.name).await?;
        file.meta.fine_tuned = true;
        Ok(file)
    }
}
