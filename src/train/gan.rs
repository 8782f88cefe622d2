//! GAN training step: non-saturating logistic loss (Goodfellow et al. 2014) or the hinge
//! loss, DiffAugment on real and fake images in both steps, Adam with DCGAN's settings, an EMA
//! generator for sampling, and optional FreezeD for few-shot fine-tuning.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu, softplus};

use super::augment::{AugmentConfig, diff_augment};
use super::check_loss_weight;
#[cfg(not(target_arch = "wasm32"))]
use super::checkpoint;
use super::ema;
use super::state::TrainState;
use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::model::{
    Conditions, Discriminator, GanConfig, Generator, LatentModel, ModelConfig, Steering,
    seeded_init,
};
use crate::weights::{WeightsFile, module_to_bytes_async};
use crate::{Error, Result};

/// Mixed into the seed for the trainer's RNG, so its draws differ from the initialisation's.
const RNG_SALT: u64 = 0x0067_616e; // "gan"

/// Hyper-parameters of GAN training.
#[derive(Config, Debug, PartialEq)]
pub struct GanTrainConfig {
    /// Images per step.
    #[config(default = 32)]
    pub batch_size: usize,
    /// Adam step size for both networks (DCGAN: 2e-4).
    #[config(default = 2e-4)]
    pub learning_rate: f64,
    /// The discriminator's step size as a multiple of `learning_rate` (two time-scale update
    /// rule, Heusel et al. 2017): below 1 slows a discriminator that wins the game.
    #[config(default = 1.0)]
    pub discriminator_lr_scale: f64,
    /// Adam beta 1 (DCGAN: 0.5, lower momentum keeps the game stable).
    #[config(default = 0.5)]
    pub beta_1: f32,
    /// Adam beta 2.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Keep an exponential moving average of the generator for sampling.
    #[config(default = true)]
    pub use_ema: bool,
    /// EMA decay; warmed up as `min(decay, (1 + t) / (10 + t))` so short runs still move.
    #[config(default = 0.999)]
    pub ema_decay: f64,
    /// DiffAugment policy.
    #[config(default = "AugmentConfig::new()")]
    pub augment: AugmentConfig,
    /// FreezeD: number of first discriminator blocks not trained (0 to 4).
    #[config(default = 0)]
    pub freeze_discriminator_layers: usize,
    /// Seed of initialisation, noise and augmentation.
    #[config(default = 1)]
    pub seed: u64,
    /// Hinge loss (Lim and Ye 2017; Miyato et al. 2018) instead of the non-saturating
    /// logistic loss: `None` is `false` (an `Option` so that older checkpoints still parse).
    #[config(default = "None")]
    pub hinge: Option<bool>,
    /// Weight of the auxiliary classifier's loss (AC-GAN, Odena et al. 2017) in both networks'
    /// losses, when training a conditional GAN on labelled images: the discriminator learns to
    /// tell real images' conditions, the generator to draw images it tells as the condition
    /// asked for. `None` or 0: off (an `Option` so that older checkpoints still parse).
    #[config(default = "None")]
    pub classifier_weight: Option<f64>,
    /// Weight each image's category term of the classifier's loss by the inverse of its
    /// category's share of the data (relative to an even share, at most
    /// [`MAX_CLASS_BALANCE`]), so that rare categories count as much as common ones. `None`
    /// is `false`.
    #[config(default = "None")]
    pub balance_classes: Option<bool>,
    /// How a pretraining run draws its real batches (and so the conditions of its fakes)
    /// from labelled images: each category in proportion to its share of the data to this
    /// power. 1 (or `None`): the data's mix; 0.5: square-root sampling, which gives rare
    /// categories more turns; 0: every category equally often.
    #[config(default = "None")]
    pub class_sampling: Option<f64>,
    /// Weight gamma of the R1 penalty (Mescheder et al. 2018): the discriminator's loss also
    /// gets gamma/2 times the squared norm of its gradient at the real images it sees,
    /// estimated without a second derivative (see [`r1_slopes`]). `None` or 0: off (an
    /// `Option` so that older checkpoints still parse).
    #[config(default = "None")]
    pub r1_gamma: Option<f64>,
}

/// Power-iteration steps that a fresh spectrally normalised discriminator starts with (one
/// more follows each of its updates).
const SPECTRAL_START_ITERATIONS: usize = 20;

/// Step of the finite difference that estimates the R1 penalty's gradient, in the images'
/// `[-1, 1]` units per pixel (times a standard Gaussian).
pub const R1_STEP: f32 = 0.01;

/// Squared slopes `[n]` of the discriminator's logits along `nudge` (random Gaussian
/// directions, one per image, scaled by [`R1_STEP`]) from `images`, whose logits are
/// `logits`: `((D(x + step * u) - D(x)) / step)^2`. For a standard Gaussian `u` its mean is the
/// squared norm of D's gradient at `x`, and it needs only first derivatives to train on, which
/// is all this build's autodiff gives (R1 proper differentiates a gradient).
pub fn r1_slopes(
    discriminator: &Discriminator,
    images: Tensor<4>,
    logits: Tensor<1>,
    condition: Option<Tensor<2>>,
    nudge: Tensor<4>,
) -> Tensor<1> {
    let nudged = discriminator.forward(images + nudge, condition);
    (nudged - logits).div_scalar(R1_STEP).square()
}

/// Largest weight [`GanTrainConfig::balance_classes`] gives a rare category.
pub const MAX_CLASS_BALANCE: f32 = 10.0;

/// Each category's weight under [`GanTrainConfig::balance_classes`]: an even share over its
/// share of the data, at most [`MAX_CLASS_BALANCE`]; 0 for a category without images.
fn class_balance(conditions: &Conditions) -> Vec<f32> {
    let shares = conditions.category_shares();
    let present = shares.iter().filter(|&&p| p > 0.0).count().max(1) as f32;
    shares
        .iter()
        .map(|&p| {
            if p > 0.0 {
                (1.0 / (present * p)).min(MAX_CLASS_BALANCE)
            } else {
                0.0
            }
        })
        .collect()
}

/// Losses of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GanLosses {
    /// Discriminator loss: softplus(-D(real)) + softplus(D(fake)); with the hinge loss
    /// relu(1 - D(real)) + relu(1 + D(fake)); plus the auxiliary classifier's loss and the R1
    /// penalty where they are on.
    pub discriminator: f32,
    /// Generator loss: softplus(-D(G(z))); with the hinge loss -D(G(z)); plus the pivots'
    /// weighted pixel error in pivotal tuning.
    pub generator: f32,
}

/// Most pivots one generator step reconstructs (drawn at random from all of them).
pub const PIVOTS_PER_STEP: usize = 8;

/// Pivotal tuning (Roich et al. 2022): a person's images and the latents they invert to; each
/// generator step also pulls the generator's images of those latents towards the images.
struct Pivots {
    /// Row-major `[images, generator input]`.
    latents: Vec<f32>,
    images: Vec<Rgb64>,
    /// Weight of the mean squared pixel error (pixels in `[-1, 1]`) in the generator's loss.
    weight: f64,
}

/// A GAN being trained: networks, optimisers, EMA generator and RNG state.
pub struct GanTrainer {
    /// Hyper-parameters.
    pub config: GanTrainConfig,
    model_config: GanConfig,
    generator: Generator,
    discriminator: Discriminator,
    ema: Generator,
    opt_g: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    pivots: Option<Pivots>,
    state: TrainState,
}

impl GanTrainer {
    /// A freshly initialised GAN on `device` (autodiff is enabled here).
    pub fn new(model_config: GanConfig, config: GanTrainConfig, device: &Device) -> Result<Self> {
        let state = TrainState::new(device, config.seed ^ RNG_SALT, None);
        let generator = seeded_init(model_config.generator.init(&state.device), config.seed);
        let discriminator = seeded_init(
            model_config.discriminator.init(&state.device),
            config.seed + 1,
        )
        .refresh_spectral_norm(SPECTRAL_START_ITERATIONS);
        Self::from_networks(model_config, config, generator, discriminator, state)
    }

    /// Continues training an unconditional GAN's weights as a conditional GAN on
    /// `conditions`: the conditioning starts as zero maps, so training begins from the
    /// images the unconditional GAN draws and learns to steer them.
    pub fn conditioned_from(
        file: &WeightsFile,
        conditions: Conditions,
        config: GanTrainConfig,
        device: &Device,
    ) -> Result<Self> {
        // The unconditional GAN has nothing to classify yet: its head comes with the
        // conditions, below.
        let plain = config.clone().with_classifier_weight(None);
        // More pretraining, not a person's fine-tuning: its weights are not marked fine-tuned.
        let unconditional = Self::from_weights(file, plain, device)?.as_pretraining();
        if unconditional.model_config.conditions.is_some() {
            return Err(Error::Config(format!(
                "{}: already a conditional GAN; continue it without new conditions",
                file.source_name
            )));
        }
        let dim = conditions.dim();
        let model_config = unconditional.model_config.conditioned(conditions);
        let ad = unconditional.state.device.clone();
        let generator = unconditional.generator.with_conditioning(dim, &ad);
        let discriminator = unconditional.discriminator.with_projection(dim, &ad);
        Self::from_networks(
            model_config,
            config,
            generator,
            discriminator,
            unconditional.state,
        )
    }

    /// Changes the auxiliary classifier's loss weight of a resumed run (a discriminator
    /// trained with one; 0 turns the loss off).
    pub fn set_classifier_weight(&mut self, weight: f64) -> Result<()> {
        check_loss_weight("the classifier's weight", weight)?;
        if weight > 0.0 && !self.discriminator.has_classifier() {
            return Err(Error::Config(
                "this run's discriminator has no auxiliary classifier to weight; start a new run with --aux-classifier".into(),
            ));
        }
        self.config.classifier_weight = Some(weight);
        Ok(())
    }

    /// Continues training (fine-tuning) from a weights file with a `generator` part and, if
    /// present, a `discriminator` part (otherwise a fresh one).
    pub fn from_weights(
        file: &WeightsFile,
        config: GanTrainConfig,
        device: &Device,
    ) -> Result<Self> {
        let ModelConfig::Gan(model_config) = file.config.clone() else {
            return Err(Error::WrongArchitecture {
                source_name: file.source_name.clone(),
                expected: "a gan".into(),
                found: file.config.describe(),
            });
        };
        let state = TrainState::new(device, config.seed ^ RNG_SALT, Some(&file.meta));
        let ad = &state.device;
        let generator = file.load("generator", model_config.generator.init(ad))?;
        let discriminator = if file.has("discriminator") {
            file.load("discriminator", model_config.discriminator.init(ad))?
        } else {
            seeded_init(model_config.discriminator.init(ad), config.seed + 1)
        };
        Self::from_networks(model_config, config, generator, discriminator, state)
    }

    fn from_networks(
        mut model_config: GanConfig,
        config: GanTrainConfig,
        generator: Generator,
        mut discriminator: Discriminator,
        state: TrainState,
    ) -> Result<Self> {
        if config.batch_size == 0 || config.freeze_discriminator_layers > 4 {
            return Err(Error::Config(format!(
                "batch size must be positive and at most 4 discriminator layers can be frozen \
                 (got {} and {})",
                config.batch_size, config.freeze_discriminator_layers
            )));
        }
        if !(config.discriminator_lr_scale > 0.0 && config.discriminator_lr_scale.is_finite()) {
            return Err(Error::Config(format!(
                "the discriminator's learning-rate scale must be a positive number (got {})",
                config.discriminator_lr_scale
            )));
        }
        if let Some(gamma) = config.r1_gamma {
            check_loss_weight("the R1 penalty's weight", gamma)?;
        }
        let adam = AdamConfig::new()
            .with_beta_1(config.beta_1)
            .with_beta_2(config.beta_2)
            .with_epsilon(1e-8);
        let classifier_weight = config.classifier_weight.unwrap_or(0.0);
        check_loss_weight("the classifier's weight", classifier_weight)?;
        if classifier_weight > 0.0 && !discriminator.has_classifier() {
            let Some(conditions) = &model_config.conditions else {
                return Err(Error::Config(
                    "an auxiliary classifier needs a conditional GAN".into(),
                ));
            };
            discriminator = discriminator.with_classifier(conditions.dim(), &state.device);
            model_config.discriminator.classifier = Some(true);
        }
        if let Some(power) = config.class_sampling
            && !(0.0..=1.0).contains(&power)
        {
            return Err(Error::Config(format!(
                "class sampling is a power from 0 (every category equally) to 1 (the data's mix), got {power}"
            )));
        }
        let discriminator = discriminator.freeze_layers(config.freeze_discriminator_layers);
        Ok(Self {
            ema: generator.valid(),
            generator,
            discriminator,
            opt_g: adam.init(),
            opt_d: adam.init(),
            pivots: None,
            state,
            model_config,
            config,
        })
    }

    /// Pivotal tuning from now on: `latents` (row-major, one generator input per image, as
    /// [`crate::invert`] finds them) and their `images`; `weight` scales the mean squared
    /// pixel error in the generator's loss. `None` turns it off.
    pub fn set_pivots(&mut self, pivots: Option<(Vec<f32>, Vec<Rgb64>, f64)>) -> Result<()> {
        self.pivots = match pivots {
            None => None,
            Some((latents, images, weight)) => {
                let width = self.model_config.generator.latent_dim
                    + self.model_config.generator.condition_dim.unwrap_or(0);
                if images.is_empty() || latents.len() != images.len() * width {
                    return Err(Error::Config(format!(
                        "pivotal tuning needs one latent of {width} values per image ({} values \
                         for {} images)",
                        latents.len(),
                        images.len()
                    )));
                }
                if !(weight > 0.0 && weight.is_finite()) {
                    return Err(Error::Config(format!(
                        "the pivots' weight must be a number above 0, not {weight}"
                    )));
                }
                Some(Pivots {
                    latents,
                    images,
                    weight,
                })
            }
        };
        Ok(())
    }

    /// Up to [`PIVOTS_PER_STEP`] pivots drawn at random: their latents `[k, width]` and images.
    fn pivot_batch(&mut self) -> Option<(Tensor<2>, Tensor<4>, f64)> {
        let pivots = self.pivots.as_ref()?;
        let n = pivots.images.len();
        let width = pivots.latents.len() / n;
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, (self.state.rng.next_u64() % (i as u64 + 1)) as usize);
        }
        order.truncate(PIVOTS_PER_STEP);
        let latents: Vec<f32> = order
            .iter()
            .flat_map(|&i| pivots.latents[i * width..(i + 1) * width].iter().copied())
            .collect();
        let images: Vec<&Rgb64> = order.iter().map(|&i| &pivots.images[i]).collect();
        let k = order.len();
        Some((
            Tensor::from_data(TensorData::new(latents, [k, width]), &self.state.device),
            image::to_tensor(&images, &self.state.device),
            pivots.weight,
        ))
    }

    /// Marks the run as more pretraining rather than a person's fine-tuning (`train --init`):
    /// its weights are not marked fine-tuned.
    pub fn as_pretraining(mut self) -> Self {
        self.state.fine_tuned = false;
        self
    }

    /// Steps taken by this trainer.
    pub fn step_count(&self) -> u64 {
        self.state.step
    }

    /// Draws the generator's latents from `prior` from now on (and records it in the model:
    /// samples and exported weights use it too).
    pub fn set_prior(&mut self, prior: Option<crate::model::LatentPrior>) {
        self.model_config.prior = prior;
    }

    /// The conditions of a conditional GAN.
    pub fn conditions(&self) -> Option<&Conditions> {
        self.model_config.conditions.as_ref()
    }

    /// Generator input for `n` images: Gaussian latents, then (conditional GAN) the codes of
    /// `labels`, or of pairs drawn from the data's frequencies without labels.
    fn noise(&mut self, n: usize, labels: Option<&[(usize, usize)]>) -> Tensor<2> {
        let d = self.model_config.generator.latent_dim;
        let k = self.model_config.generator.condition_dim.unwrap_or(0);
        let mut z: Vec<f32> = Vec::with_capacity(n * (d + k));
        for i in 0..n {
            let mut noise: Vec<f32> = (0..d).map(|_| self.state.rng.next_gaussian()).collect();
            let prior = self.model_config.prior.as_ref();
            let centre = prior.map(|p| p.centre(self.state.rng.next_u64()).to_vec());
            if let (Some(prior), Some(centre)) = (prior, &centre) {
                prior.apply(centre, &mut noise);
            }
            z.extend(noise);
            if let Some(conditions) = &self.model_config.conditions {
                let steering = labels.map_or_else(Steering::default, |l| Steering {
                    category: Some(l[i].0),
                    tone: Some(l[i].1),
                });
                let centre_code = centre.as_deref().and_then(|c| c.get(d..));
                let rng = &mut self.state.rng;
                z.extend(conditions.code_for(steering, centre_code, || rng.next_u64()));
            }
        }
        let width = z.len() / n;
        Tensor::from_data(TensorData::new(z, [n, width]), &self.state.device)
    }

    /// Condition codes `[n, condition_dim]` of labelled images (conditional GAN only).
    fn codes(&self, labels: Option<&[(usize, usize)]>) -> Option<Tensor<2>> {
        let conditions = self.model_config.conditions.as_ref()?;
        let labels = labels?;
        let codes: Vec<f32> = labels
            .iter()
            .flat_map(|&(c, t)| conditions.code(c, t))
            .collect();
        Some(Tensor::from_data(
            TensorData::new(codes, [labels.len(), conditions.dim()]),
            &self.state.device,
        ))
    }

    /// The auxiliary classifier's weighted cross-entropy of condition logits `[n, dim]` against
    /// the one-hot `codes` (category and tone, each its own softmax); `None` without a
    /// classifier, labels or weight.
    fn classification_loss(
        &self,
        classes: Option<Tensor<2>>,
        codes: Option<Tensor<2>>,
    ) -> Option<Tensor<1>> {
        let weight = self.config.classifier_weight.filter(|w| *w > 0.0)?;
        let (classes, codes) = (classes?, codes?);
        let conditions = self.model_config.conditions.as_ref()?;
        let categories = conditions.categories.len();
        let [n, dim] = classes.dims();
        // Log-likelihood of the labels in `columns`, each image's scaled by `weights` `[n, 1]`.
        let block = |columns: std::ops::Range<usize>, weights: Option<Tensor<2>>| {
            let each = log_softmax(classes.clone().slice([0..n, columns.clone()]), 1)
                * codes.clone().slice([0..n, columns]);
            match weights {
                Some(weights) => (each * weights).sum(),
                None => each.sum(),
            }
        };
        let balance = self.config.balance_classes.unwrap_or(false).then(|| {
            let weights = Tensor::<2>::from_data(
                TensorData::new(class_balance(conditions), [categories, 1]),
                &self.state.device,
            );
            codes.clone().slice([0..n, 0..categories]).matmul(weights) // [n, 1]
        });
        let category_term = block(0..categories, balance);
        let log_likelihood = category_term + block(categories..dim, None);
        Some(log_likelihood.mul_scalar(-weight / n as f64))
    }

    /// The R1 penalty, gamma/2 times the mean of [`r1_slopes`] at the (augmented) real
    /// images, on fresh directions from the trainer's RNG; `None` when it is off.
    fn r1_penalty(
        &mut self,
        real: Tensor<4>,
        real_logits: Tensor<1>,
        codes: Option<Tensor<2>>,
    ) -> Option<Tensor<1>> {
        let gamma = self.config.r1_gamma.filter(|g| *g > 0.0)?;
        let dims = real.dims();
        let nudge: Vec<f32> = (0..dims.iter().product::<usize>())
            .map(|_| self.state.rng.next_gaussian() * R1_STEP)
            .collect();
        let nudge = Tensor::from_data(TensorData::new(nudge, dims), &self.state.device);
        let slopes = r1_slopes(&self.discriminator, real, real_logits, codes, nudge);
        Some(slopes.mean().mul_scalar(gamma / 2.0))
    }

    /// One discriminator update and one generator update on a batch of real images without
    /// labels (fine-tuning on a person's images): a conditional GAN draws the fakes'
    /// conditions from its data's frequencies and its discriminator leaves the projection out.
    pub async fn step(&mut self, real: &[&Rgb64]) -> Result<GanLosses> {
        self.step_labelled(real, None).await
    }

    /// [`Self::step`] with each real image's `(category, tone)` label: the fakes of the
    /// discriminator step get the same labels (a batch of matching conditions), those of the
    /// generator step too, and the discriminator projects them.
    pub async fn step_labelled(
        &mut self,
        real: &[&Rgb64],
        labels: Option<&[(usize, usize)]>,
    ) -> Result<GanLosses> {
        if real.is_empty() {
            return Err(Error::NoImages("training batch".into()));
        }
        let n = real.len();
        if labels.is_some_and(|l| l.len() != n) {
            return Err(Error::Config(format!(
                "{n} images but a different number of labels"
            )));
        }
        let labels = labels.filter(|_| self.model_config.conditions.is_some());
        let lr = self.config.learning_rate;
        let augment = self.config.augment.clone();
        let codes = self.codes(labels);

        // Discriminator: real up, fake down.
        let real = image::to_tensor(real, &self.state.device);
        let z = self.noise(n, labels);
        let fake = self.generator.forward(z).detach();
        let real = diff_augment(real, &augment, &mut self.state.rng);
        let (real_logits, real_classes) = self
            .discriminator
            .forward_classified(real.clone(), codes.clone());
        let fake_logits = self.discriminator.forward(
            diff_augment(fake, &augment, &mut self.state.rng),
            codes.clone(),
        );
        let r1 = self.r1_penalty(real, real_logits.clone(), codes.clone());
        let hinge = self.config.hinge.unwrap_or(false);
        let loss_d = if hinge {
            relu(real_logits.neg().add_scalar(1.0)).mean()
                + relu(fake_logits.add_scalar(1.0)).mean()
        } else {
            softplus(real_logits.neg(), 1.0).mean() + softplus(fake_logits, 1.0).mean()
        };
        let classified = self.classification_loss(real_classes, codes.clone());
        let loss_d = match classified {
            Some(loss) => loss_d + loss,
            None => loss_d,
        };
        let loss_d = match r1 {
            Some(penalty) => loss_d + penalty,
            None => loss_d,
        };
        let grads = GradientsParams::from_grads(loss_d.backward(), &self.discriminator);
        let lr_d = lr * self.config.discriminator_lr_scale;
        self.discriminator = self
            .opt_d
            .step(lr_d, self.discriminator.clone(), grads)
            .refresh_spectral_norm(1);

        // Generator: make the discriminator call fakes real. The discriminator's weights are
        // constants here (`no_grad`), so the backward pass skips their gradients, which this
        // update would throw away; its batch norms still train as in the step above.
        // Pivotal tuning: the pivots' latents go through the generator in the same batch as
        // the fakes (one set of batch statistics), their images are pulled to the uploads.
        let z = self.noise(n, labels);
        let pivots = self.pivot_batch();
        let (fake, pivot_loss) = match pivots {
            None => (self.generator.forward(z), None),
            Some((latents, images, weight)) => {
                let (fake, drawn) = self.generator.forward_both(z, latents);
                let error = (drawn - images).square().mean().mul_scalar(weight);
                (fake, Some(error))
            }
        };
        let discriminator = self.discriminator.clone().no_grad();
        let (logits, classes) = discriminator.forward_classified(
            diff_augment(fake, &augment, &mut self.state.rng),
            codes.clone(),
        );
        let loss_g = if hinge {
            logits.neg().mean()
        } else {
            softplus(logits.neg(), 1.0).mean()
        };
        let loss_g = match self.classification_loss(classes, codes) {
            Some(loss) => loss_g + loss,
            None => loss_g,
        };
        let loss_g = match pivot_loss {
            Some(error) => loss_g + error,
            None => loss_g,
        };
        let mut grads = loss_g.backward();
        let grads = GradientsParams::from_module(&mut grads, &self.generator);
        self.generator = self.opt_g.step(lr, self.generator.clone(), grads);

        self.state.step += 1;
        self.ema = if self.config.use_ema {
            let t = self.state.step as f64;
            let decay = self.config.ema_decay.min((1.0 + t) / (10.0 + t));
            ema::update(self.ema.clone(), &self.generator, decay)
        } else {
            self.generator.valid()
        };

        Ok(GanLosses {
            discriminator: read_f32(loss_d).await?[0],
            generator: read_f32(loss_g).await?[0],
        })
    }

    /// The generator used for sampling (the EMA one when enabled), ready for inference.
    pub fn latent_model(&self) -> LatentModel {
        let generator = if self.config.use_ema {
            self.ema.clone()
        } else {
            self.generator.valid()
        };
        LatentModel::new(
            ModelConfig::Gan(self.model_config.clone()),
            generator,
            None,
            &self.state.plain_device(),
        )
    }

    /// Weights file with the sampling generator and the discriminator, in half precision.
    /// Reads the weights back asynchronously, so it works on every device (WebGPU included).
    pub async fn export_async(&self, name: &str) -> Result<WeightsFile> {
        let model = self.latent_model();
        let parts = vec![
            ("generator", module_to_bytes_async(&model.generator).await?),
            (
                "discriminator",
                module_to_bytes_async(&self.discriminator).await?,
            ),
        ];
        Ok(self
            .state
            .export(ModelConfig::Gan(self.model_config.clone()), name, parts))
    }

    /// Blocking [`Self::export_async`] for the CPU device (CLI, tests).
    pub fn export(&self, name: &str) -> Result<WeightsFile> {
        pollster::block_on(self.export_async(name))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl GanTrainer {
    /// Writes networks, EMA, optimiser states and counters into `dir` (created).
    pub fn save_checkpoint(&self, dir: &std::path::Path) -> Result<()> {
        use burn::module::Module;
        checkpoint::save(
            dir,
            &self.state,
            &self.config,
            &self.model_config,
            vec![
                ("generator", self.generator.valid().into_record()),
                ("discriminator", self.discriminator.valid().into_record()),
                ("ema", self.ema.valid().into_record()),
            ],
            &[("opt_g", &self.opt_g), ("opt_d", &self.opt_d)],
        )
    }

    /// Resumes a run saved by [`GanTrainer::save_checkpoint`].
    pub fn load_checkpoint(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let saved: checkpoint::State<GanTrainConfig, GanConfig> = checkpoint::load_state(dir)?;
        let mut state = TrainState::new(device, 0, None);
        saved.restore(&mut state);
        let model = &saved.model;
        let generator =
            checkpoint::load_network(dir, "generator", model.generator.init(&state.device))?;
        let discriminator = checkpoint::load_network(
            dir,
            "discriminator",
            model.discriminator.init(&state.device),
        )?;
        let ema =
            checkpoint::load_network(dir, "ema", model.generator.init(&state.plain_device()))?;
        let mut trainer =
            GanTrainer::from_networks(saved.model, saved.config, generator, discriminator, state)?;
        trainer.opt_g = checkpoint::load_optimizer(dir, "opt_g", trainer.opt_g)?;
        trainer.opt_d = checkpoint::load_optimizer(dir, "opt_d", trainer.opt_d)?;
        trainer.ema = ema;
        Ok(trainer)
    }
}
