//! VAE training step: reconstruction error summed over pixels plus beta times the KL
//! divergence to the standard normal prior (the negative ELBO), with the reparameterisation
//! trick's noise drawn from the trainer's seeded RNG.
//!
//! With an adversary (VAE-GAN, Larsen et al. 2016) a discriminator learns to tell real
//! images from the decoder's reconstructions and prior samples, and the decoder is also
//! trained to fool it (non-saturating loss, DiffAugment on every image it sees): the pixel
//! loss alone pulls the decoder to the blurry mean of what an image could be. Started from a
//! trained GAN ([`VaeTrainer::from_gan`]), the decoder is the GAN's generator and draws
//! sharp images from the first step; the encoder learns to find its latents first (the
//! decoder warm-up), then both train together.
//!
//! With a perceptual loss (Johnson et al. 2016; Hou et al. 2017 for VAEs) the
//! reconstruction is also compared with the image in the early layers of a frozen emoji
//! classifier, whose features care about edges and shapes more than about the exact pixel:
//! a blurry average of where a stroke could be costs more there than in pixel space.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::softplus;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;

use super::augment::{AugmentConfig, diff_augment};
use super::check_loss_weight;
#[cfg(not(target_arch = "wasm32"))]
use super::checkpoint;
use super::ema;
use super::state::TrainState;
use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::model::{
    Classifier, Discriminator, DiscriminatorConfig, Encoder, EncoderConfig, Generator, LatentModel,
    ModelConfig, VaeConfig, seeded_init,
};
use crate::weights::{WeightsFile, module_to_bytes_async};
use crate::{Error, Result};

/// Mixed into the seed for the trainer's RNG, so its draws differ from the initialisation's.
const RNG_SALT: u64 = 0x0076_6165; // "vae"

/// Hyper-parameters of VAE training.
#[derive(Config, Debug, PartialEq)]
pub struct VaeTrainConfig {
    /// Images per step.
    #[config(default = 32)]
    pub batch_size: usize,
    /// Adam step size.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Adam beta 1 (0.5 with an adversary, as for GANs).
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// Seed of initialisation and noise.
    #[config(default = 1)]
    pub seed: u64,
    /// The adversary's architecture (`None`: a plain VAE).
    #[config(default = "None")]
    pub adversary: Option<DiscriminatorConfig>,
    /// Weight of the decoder's adversarial loss, in the units of the summed pixel loss.
    #[config(default = 0.0)]
    pub adversarial_weight: f64,
    /// The decoder's step size as a multiple of `learning_rate` (below 1 keeps a decoder
    /// taken from a GAN close to it).
    #[config(default = 1.0)]
    pub decoder_lr_scale: f64,
    /// Steps at the start in which only the encoder trains (the decoder and its adversary
    /// wait until the encoder finds the decoder's latents).
    #[config(default = 0)]
    pub decoder_warmup_steps: u64,
    /// DiffAugment policy of the adversary's inputs.
    #[config(default = "AugmentConfig::new()")]
    pub augment: AugmentConfig,
    /// Weight of the perceptual loss (0: none), in the units of the summed pixel loss: each
    /// of [`PERCEPTUAL_DEPTH`] layers' mean squared feature difference times the number of
    /// pixel values, so weight 1 makes a layer count like the pixel loss at the same relative
    /// error.
    #[config(default = 0.0)]
    pub perceptual_weight: f64,
    /// Model folder of the classifier whose features the perceptual loss compares (read
    /// again when a run resumes).
    #[config(default = "None")]
    pub perceptual_net: Option<String>,
    /// The encoder stays as it came (its inference form, running statistics included, gives
    /// the latents), so a fitted prior's centres stay the latents of their images and the
    /// decoder alone learns to draw them better; `None` is `false` (older configs parse).
    #[config(default = "None")]
    pub freeze_encoder: Option<bool>,
    /// Weight of feature matching in the adversary (Larsen et al. 2016's learned
    /// similarity): the reconstruction compared with the image in every block of the
    /// discriminator, each block's mean squared difference times the number of pixel values
    /// (0 or `None`: none; needs an adversary).
    #[config(default = "None")]
    pub feature_matching_weight: Option<f64>,
    /// Weight of the detail loss (0 or `None`: none): the reconstruction's high frequencies
    /// (the image less its 3x3 box blur) against the image's, summed squared like the pixel
    /// loss. It adds to the pixel loss's share of fine detail, so speckle an adversary puts in
    /// a flat fill, where the image has none, costs more than the fill's colour being off.
    #[config(default = "None")]
    pub detail_weight: Option<f64>,
    /// Decay of an exponential moving average of the decoder's weights (`None`: none), which
    /// is then what sampling uses and what is exported, as a GAN's EMA generator: the
    /// adversary pushes the decoder to and fro, the average keeps what the pushes share.
    /// It starts from the decoder as it is when the run (or a resumed run without one) starts.
    #[config(default = "None")]
    pub decoder_ema: Option<f64>,
}

/// Blocks of the perceptual network compared (32x32, 16x16 and 8x8 features).
pub const PERCEPTUAL_DEPTH: usize = 3;

/// Losses of one step, per image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaeLosses {
    /// Total: reconstruction + beta * KL.
    pub total: f32,
    /// Summed squared error over the image's pixels (values in [-1, 1]).
    pub reconstruction: f32,
    /// KL divergence of the posterior from N(0, I), in nats.
    pub kl: f32,
    /// The decoder's adversarial loss, softplus(-D) averaged over reconstructions and prior
    /// samples (0 without an adversary or during the warm-up).
    pub adversarial: f32,
    /// The adversary's loss (0 without one or during the warm-up).
    pub discriminator: f32,
    /// The perceptual loss, unweighted (0 without one).
    pub perceptual: f32,
    /// The feature matching loss in the adversary, unweighted (0 without it or in the
    /// warm-up).
    pub feature_matching: f32,
    /// The detail loss, unweighted (0 without it).
    pub detail: f32,
}

/// The discriminator of a VAE-GAN and its optimiser.
struct Adversary {
    network: Discriminator,
    optimizer: ModuleOptimizer,
}

/// The settings a run refuses: negative or non-finite weights and scales, a decay outside
/// [0, 1), an adversarial loss without an adversary.
fn check_config(config: &VaeTrainConfig, has_adversary: bool) -> Result<()> {
    check_loss_weight("the adversarial weight", config.adversarial_weight)?;
    if !(config.decoder_lr_scale > 0.0 && config.decoder_lr_scale.is_finite()) {
        return Err(Error::Config(format!(
            "the decoder's learning-rate scale must be a number above 0, not {}",
            config.decoder_lr_scale
        )));
    }
    check_loss_weight("the perceptual weight", config.perceptual_weight)?;
    check_loss_weight("the detail weight", config.detail_weight.unwrap_or(0.0))?;
    if let Some(decay) = config.decoder_ema
        && !(0.0..1.0).contains(&decay)
    {
        return Err(Error::Config(format!(
            "the decoder's EMA decay must be at least 0 and below 1, not {decay}"
        )));
    }
    let fm = config.feature_matching_weight.unwrap_or(0.0);
    check_loss_weight("the feature matching weight", fm)?;
    if (config.adversarial_weight > 0.0 || fm > 0.0) && !has_adversary {
        return Err(Error::Config(
            "an adversarial weight needs an adversary (a discriminator)".into(),
        ));
    }
    Ok(())
}

/// The discriminator `config.adversary` asks for, newly initialised (`None` without one).
fn new_adversary(config: &VaeTrainConfig, device: &Device) -> Option<Discriminator> {
    let adversary = config.adversary.as_ref()?;
    Some(seeded_init(adversary.init(device), config.seed + 2))
}

/// Per-image perceptual loss of `recon` against `x` in `net`'s first [`PERCEPTUAL_DEPTH`]
/// blocks (see [`feature_distance`]). Both go through `net` in one batch, so its batch norms
/// (in training mode) normalise them alike; its weights are constants (`no_grad`).
fn perceptual_loss(net: &Classifier, recon: Tensor<4>, x: Tensor<4>) -> Tensor<1> {
    let (n, values, device) = (recon.dims()[0], values_per_image(&recon), recon.device());
    let net = net.clone().no_grad();
    let outputs = net.block_outputs(Tensor::cat(vec![recon, x.detach()], 0), PERCEPTUAL_DEPTH);
    feature_distance(outputs, n, values, &device)
}

/// Feature matching in the adversary `d` (its weights constants here): [`feature_distance`]
/// of `recon` and `x` over all of `d`'s blocks.
fn feature_matching_loss(d: &Discriminator, recon: Tensor<4>, x: Tensor<4>) -> Tensor<1> {
    let (n, values, device) = (recon.dims()[0], values_per_image(&recon), recon.device());
    let outputs = d.block_outputs(Tensor::cat(vec![recon, x.detach()], 0));
    feature_distance(outputs, n, values, &device)
}

/// `images` less their 3x3 box blur (at the borders, the mean of the pixels inside).
fn high_pass(images: Tensor<4>) -> Tensor<4> {
    let options = AvgPoolOptions::new([3, 3])
        .with_stride([1, 1])
        .with_padding([1, 1])
        .with_count_include_pad(false);
    images.clone() - avg_pool2d(images, options)
}

/// Per-batch detail loss: the summed squared difference of `recon`'s and `x`'s
/// [`high_pass`], over the `n` images.
fn detail_loss(recon: Tensor<4>, x: Tensor<4>) -> Tensor<1> {
    let n = recon.dims()[0];
    (high_pass(recon) - high_pass(x.detach()))
        .square()
        .sum()
        .div_scalar(n as f64)
}

/// Pixel values of one image of a `[n, c, h, w]` batch.
fn values_per_image(images: &Tensor<4>) -> usize {
    let [_, c, h, w] = images.dims();
    c * h * w
}

/// Sum over `outputs` (block outputs of a batch whose first `n` images are compared with
/// its last `n`) of the mean squared difference times `values`, the number of pixel values
/// of an image: a block then counts like the summed pixel loss at the same relative error.
fn feature_distance(
    outputs: Vec<Tensor<4>>,
    n: usize,
    values: usize,
    device: &Device,
) -> Tensor<1> {
    outputs
        .into_iter()
        .fold(Tensor::zeros([1], device), |sum, f| {
            let [_, fc, fh, fw] = f.dims();
            let ours = f.clone().slice([0..n, 0..fc, 0..fh, 0..fw]);
            let theirs = f.slice([n..2 * n, 0..fc, 0..fh, 0..fw]);
            sum + (ours - theirs).square().mean().mul_scalar(values as f64)
        })
}

/// A VAE being trained.
pub struct VaeTrainer {
    /// Hyper-parameters.
    pub config: VaeTrainConfig,
    model_config: VaeConfig,
    encoder: Encoder,
    decoder: Generator,
    /// The decoder's moving average (`config.decoder_ema`), without autodiff.
    ema_decoder: Option<Generator>,
    opt_e: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    adversary: Option<Adversary>,
    /// The frozen network of the perceptual loss.
    perceptual: Option<Classifier>,
    state: TrainState,
}

impl VaeTrainer {
    /// A freshly initialised VAE on `device`.
    pub fn new(model_config: VaeConfig, config: VaeTrainConfig, device: &Device) -> Result<Self> {
        let state = TrainState::new(device, config.seed ^ RNG_SALT, None);
        let encoder = seeded_init(model_config.encoder.init(&state.device), config.seed);
        let decoder = seeded_init(model_config.decoder.init(&state.device), config.seed + 1);
        let discriminator = new_adversary(&config, &state.device);
        Self::from_networks(model_config, config, encoder, decoder, discriminator, state)
    }

    /// A VAE-GAN started from a trained unconditional GAN: its generator becomes the decoder
    /// and its discriminator the adversary; the encoder is new (`encoder`'s architecture).
    /// `config.adversary` is set from the GAN's discriminator.
    pub fn from_gan(
        file: &WeightsFile,
        encoder: EncoderConfig,
        config: VaeTrainConfig,
        device: &Device,
    ) -> Result<Self> {
        let ModelConfig::Gan(gan) = file.config.clone() else {
            return Err(Error::WrongArchitecture {
                source_name: file.source_name.clone(),
                expected: "a gan (its generator becomes the decoder)".into(),
                found: file.config.describe(),
            });
        };
        if gan.conditions.is_some() {
            return Err(Error::Config(format!(
                "{}: a conditional GAN; a VAE's decoder takes the latent alone, so start from \
                 an unconditional one",
                file.source_name
            )));
        }
        let encoder = encoder.with_latent_dim(gan.generator.latent_dim);
        let model_config = VaeConfig::new(encoder, gan.generator.clone());
        let config = config.with_adversary(Some(gan.discriminator.clone()));
        let state = TrainState::new(device, config.seed ^ RNG_SALT, Some(&file.meta));
        let encoder = seeded_init(model_config.encoder.init(&state.device), config.seed);
        let decoder = file.load("generator", gan.generator.init(&state.device))?;
        let discriminator = file.load("discriminator", gan.discriminator.init(&state.device))?;
        // Pretraining a new model, not a person's fine-tuning.
        Self::from_networks(
            model_config,
            config,
            encoder,
            decoder,
            Some(discriminator),
            state,
        )
        .map(Self::as_pretraining)
    }

    /// Continues training from a weights file with `encoder` and `decoder` parts; with
    /// `config.adversary` a new discriminator trains beside them (a VAE-GAN).
    pub fn from_weights(
        file: &WeightsFile,
        config: VaeTrainConfig,
        device: &Device,
    ) -> Result<Self> {
        let ModelConfig::Vae(model_config) = file.config.clone() else {
            return Err(Error::WrongArchitecture {
                source_name: file.source_name.clone(),
                expected: "a vae".into(),
                found: file.config.describe(),
            });
        };
        let state = TrainState::new(device, config.seed ^ RNG_SALT, Some(&file.meta));
        let encoder = file.load("encoder", model_config.encoder.init(&state.device))?;
        let decoder = file.load("decoder", model_config.decoder.init(&state.device))?;
        // An adversary asked for (a VAE-GAN continuing a VAE) starts new.
        let discriminator = new_adversary(&config, &state.device);
        Self::from_networks(model_config, config, encoder, decoder, discriminator, state)
    }

    /// The adversary becomes the discriminator of the unconditional GAN in `file` (which has
    /// learnt what real emoji look like beside a generator's), with a new optimiser, in place
    /// of a new one. Needs an adversarial or feature matching weight to matter.
    pub fn with_adversary_from(mut self, file: &WeightsFile) -> Result<Self> {
        let gan = match &file.config {
            ModelConfig::Gan(gan) if gan.conditions.is_none() => gan,
            _ => {
                return Err(Error::WrongArchitecture {
                    source_name: file.source_name.clone(),
                    expected: "an unconditional gan (its discriminator becomes the adversary)"
                        .into(),
                    found: file.config.describe(),
                });
            }
        };
        let network = file.load("discriminator", gan.discriminator.init(&self.state.device))?;
        self.config.adversary = Some(gan.discriminator.clone());
        self.adversary = Some(Adversary {
            network,
            optimizer: AdamConfig::new()
                .with_beta_1(self.config.beta_1)
                .with_epsilon(1e-8)
                .init(),
        });
        Ok(self)
    }

    /// Marks the run as more pretraining rather than a person's fine-tuning (its weights are
    /// not marked fine-tuned).
    pub fn as_pretraining(mut self) -> Self {
        self.state.fine_tuned = false;
        self
    }

    fn from_networks(
        model_config: VaeConfig,
        config: VaeTrainConfig,
        encoder: Encoder,
        decoder: Generator,
        discriminator: Option<Discriminator>,
        state: TrainState,
    ) -> Result<Self> {
        if config.batch_size == 0
            || model_config.encoder.latent_dim != model_config.decoder.latent_dim
        {
            return Err(Error::Config(
                "batch size must be positive and encoder and decoder share one latent size".into(),
            ));
        }
        check_config(&config, discriminator.is_some())?;
        let adam = AdamConfig::new()
            .with_beta_1(config.beta_1)
            .with_epsilon(1e-8);
        Ok(Self {
            encoder,
            ema_decoder: config.decoder_ema.map(|_| decoder.valid()),
            decoder,
            opt_e: adam.init(),
            opt_d: adam.init(),
            adversary: discriminator.map(|network| Adversary {
                network,
                optimizer: adam.init(),
            }),
            perceptual: None,
            state,
            model_config,
            config,
        })
    }

    /// The classifier in `file` becomes the network the perceptual loss compares images in
    /// (its weight is `config.perceptual_weight`). Its weights stay fixed.
    pub fn set_perceptual(&mut self, file: &WeightsFile) -> Result<()> {
        let ModelConfig::Classifier(config) = &file.config else {
            return Err(Error::WrongArchitecture {
                source_name: file.source_name.clone(),
                expected: "a classifier (the perceptual loss compares images in its features)"
                    .into(),
                found: file.config.describe(),
            });
        };
        self.perceptual = Some(file.load("classifier", config.init(&self.state.device))?);
        Ok(())
    }

    /// Sets (or with `None` drops) the model's sampling prior, for a fine-tuning's quick
    /// mode: around the uploads' latents. Steering stays off (the centres carry no labels).
    pub fn set_prior(&mut self, prior: Option<crate::model::LatentPrior>) {
        self.model_config.prior = prior;
        self.model_config.conditions = None;
    }

    /// Drops the model's fitted sampling prior (its centres are latents of the images it was
    /// trained on, not of the images this run trains on): samples draw from the standard
    /// Gaussian until a prior is fitted again.
    pub fn without_prior(mut self) -> Self {
        self.set_prior(None);
        self
    }

    /// Sets the KL term's weight (beta-VAE; it is kept in the model's config).
    pub fn set_beta(&mut self, beta: f64) -> Result<()> {
        if !(beta > 0.0 && beta.is_finite()) {
            return Err(Error::Config(format!(
                "beta (the KL term's weight) must be a number above 0, not {beta}"
            )));
        }
        self.model_config.beta = beta;
        Ok(())
    }

    /// Changes a resumed run's detail weight (0 switches the detail loss off), decoder
    /// learning-rate scale or decoder moving average (each `None`: as saved). A moving average
    /// asked for where the run had none starts from the decoder as it is.
    pub fn retune(
        &mut self,
        detail_weight: Option<f64>,
        decoder_lr_scale: Option<f64>,
        decoder_ema: Option<f64>,
    ) -> Result<()> {
        let mut config = self.config.clone();
        if let Some(w) = detail_weight {
            config.detail_weight = (w != 0.0).then_some(w);
        }
        if let Some(scale) = decoder_lr_scale {
            config.decoder_lr_scale = scale;
        }
        if let Some(decay) = decoder_ema {
            config.decoder_ema = Some(decay);
        }
        check_config(&config, self.adversary.is_some())?;
        if config.decoder_ema.is_some() && self.ema_decoder.is_none() {
            self.ema_decoder = Some(self.decoder.valid());
        }
        self.config = config;
        Ok(())
    }

    /// Steps taken by this trainer.
    pub fn step_count(&self) -> u64 {
        self.state.step
    }

    /// One update on a batch of images.
    pub async fn step(&mut self, images: &[&Rgb64]) -> Result<VaeLosses> {
        if images.is_empty() {
            return Err(Error::NoImages("training batch".into()));
        }
        let n = images.len();
        let x = image::to_tensor(images, &self.state.device);
        let warming_up = self.state.step < self.config.decoder_warmup_steps;
        let adversarial = self.config.adversarial_weight > 0.0 && !warming_up;
        // In the warm-up the decoder is a constant (`no_grad`), and a snapshot of it goes back
        // in after the step: its batch norms' running statistics (which its clones share) stay
        // those it came with.
        let (decoder, snapshot) = if warming_up {
            let snapshot = self.decoder.valid().into_record();
            (self.decoder.clone().no_grad(), Some(snapshot))
        } else {
            (self.decoder.clone(), None)
        };
        let frozen = self.config.freeze_encoder == Some(true);
        let (mean, log_var) = if frozen {
            self.frozen_posterior(images).await?
        } else {
            self.encoder.forward(x.clone())
        };
        let eps = self.gaussian(n);
        let z = mean.clone() + log_var.clone().mul_scalar(0.5).exp() * eps;
        // With an adversary, prior samples go through the decoder in the same batch as the
        // reconstructions: its batch norms then see at training time the statistics their
        // running averages hold when it samples. They are drawn from the model's sampling
        // prior, the fitted one when it has one (what its samples are drawn from).
        let (recon, prior) = if adversarial {
            let prior_z = self.prior_latents(n);
            let (recon, prior) = decoder.forward_both(z, prior_z);
            (recon, Some(prior))
        } else {
            (decoder.forward(z), None)
        };
        let reconstruction = (recon.clone() - x.clone())
            .square()
            .sum()
            .div_scalar(n as f64);
        let kl = (log_var.clone().exp() + mean.square() - log_var - 1.0)
            .sum()
            .mul_scalar(0.5 / n as f64);
        let mut total = reconstruction.clone() + kl.clone().mul_scalar(self.model_config.beta);
        let perceptual = match (&self.perceptual, self.config.perceptual_weight > 0.0) {
            (Some(net), true) => Some(perceptual_loss(net, recon.clone(), x.clone())),
            (None, true) => {
                return Err(Error::Config(
                    "a perceptual weight needs the classifier to compare in".into(),
                ));
            }
            (_, false) => None,
        };
        if let Some(p) = &perceptual {
            total = total + p.clone().mul_scalar(self.config.perceptual_weight);
        }
        let detail = self
            .config
            .detail_weight
            .filter(|w| *w > 0.0)
            .map(|w| (detail_loss(recon.clone(), x.clone()), w));
        if let Some((d, w)) = &detail {
            total = total + d.clone().mul_scalar(*w);
        }

        let (mut loss_adv, mut loss_disc, mut loss_fm) = (None, None, None);
        if let Some(prior) = prior {
            // The adversary: real up, reconstructions and prior samples down.
            let augment = self.config.augment.clone();
            let rng = &mut self.state.rng;
            let Some(adversary) = self.adversary.as_mut() else {
                return Err(Error::Config(
                    "an adversarial weight needs an adversary".into(),
                ));
            };
            let d = &adversary.network;
            let real = d.forward(diff_augment(x.clone(), &augment, rng), None);
            let fake_r = d.forward(diff_augment(recon.clone().detach(), &augment, rng), None);
            let fake_p = d.forward(diff_augment(prior.clone().detach(), &augment, rng), None);
            let loss_d = softplus(real.neg(), 1.0).mean()
                + (softplus(fake_r, 1.0).mean() + softplus(fake_p, 1.0).mean()).mul_scalar(0.5);
            let grads = GradientsParams::from_grads(loss_d.backward(), d);
            let lr = self.config.learning_rate;
            adversary.network = adversary.optimizer.step(lr, d.clone(), grads);
            loss_disc = Some(loss_d);

            // The decoder: make both kinds of fakes pass for real. The adversary's weights
            // are constants here (`no_grad`).
            let d = adversary.network.clone().no_grad();
            let recon_for_fm = recon.clone();
            let fooled_r = d.forward(diff_augment(recon, &augment, rng), None);
            let fooled_p = d.forward(diff_augment(prior, &augment, rng), None);
            let loss_g = (softplus(fooled_r.neg(), 1.0).mean()
                + softplus(fooled_p.neg(), 1.0).mean())
            .mul_scalar(0.5);
            total = total + loss_g.clone().mul_scalar(self.config.adversarial_weight);
            loss_adv = Some(loss_g);
            let fm_weight = self.config.feature_matching_weight.unwrap_or(0.0);
            if fm_weight > 0.0 {
                let fm = feature_matching_loss(&d, recon_for_fm, x);
                total = total + fm.clone().mul_scalar(fm_weight);
                loss_fm = Some(fm);
            }
        }

        let mut grads = total.backward();
        let lr = self.config.learning_rate;
        if !frozen {
            let grads_e = GradientsParams::from_module(&mut grads, &self.encoder);
            self.encoder = self.opt_e.step(lr, self.encoder.clone(), grads_e);
        }
        match snapshot {
            Some(snapshot) => {
                // Into a new module: loading into a clone would keep the running statistics'
                // pending per-thread updates.
                let fresh = self.model_config.decoder.init(&self.state.device);
                self.decoder = fresh.try_load_record(snapshot).map_err(|e| {
                    Error::Config(format!("the decoder's snapshot did not load back: {e}"))
                })?;
            }
            None => {
                let grads_d = GradientsParams::from_module(&mut grads, &decoder);
                let lr_d = lr * self.config.decoder_lr_scale;
                self.decoder = self.opt_d.step(lr_d, decoder, grads_d);
            }
        }
        self.state.step += 1;
        if let (Some(decay), Some(average)) = (self.config.decoder_ema, self.ema_decoder.take()) {
            // `valid()` first: it folds in the batch norms' pending running statistics, which
            // the training module's own parameters show one update late.
            self.ema_decoder = Some(ema::update(average, &self.decoder.valid(), decay));
        }

        Ok(VaeLosses {
            total: read_f32(total).await?[0],
            reconstruction: read_f32(reconstruction).await?[0],
            kl: read_f32(kl).await?[0],
            adversarial: match loss_adv {
                Some(l) => read_f32(l).await?[0],
                None => 0.0,
            },
            discriminator: match loss_disc {
                Some(l) => read_f32(l).await?[0],
                None => 0.0,
            },
            perceptual: match perceptual {
                Some(l) => read_f32(l).await?[0],
                None => 0.0,
            },
            feature_matching: match loss_fm {
                Some(l) => read_f32(l).await?[0],
                None => 0.0,
            },
            detail: match detail {
                Some((l, _)) => read_f32(l).await?[0],
                None => 0.0,
            },
        })
    }

    /// The frozen encoder's posterior of `images` (its inference form: running statistics,
    /// no gradients), as constants on the training device.
    async fn frozen_posterior(&self, images: &[&Rgb64]) -> Result<(Tensor<2>, Tensor<2>)> {
        let plain = self.state.plain_device();
        let (mean, log_var) = self
            .encoder
            .valid()
            .forward(image::to_tensor(images, &plain));
        let dims = mean.dims();
        let device = &self.state.device;
        let constant = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, dims), device);
        Ok((
            constant(read_f32(mean).await?),
            constant(read_f32(log_var).await?),
        ))
    }

    /// `[n, latent]` draws from the model's sampling prior: its fitted prior when it has one,
    /// else the standard normal; seeds (and noise) from the trainer's RNG.
    fn prior_latents(&mut self, n: usize) -> Tensor<2> {
        let Some(prior) = self.model_config.prior.as_ref() else {
            return self.gaussian(n);
        };
        let d = self.model_config.decoder.latent_dim;
        let rng = &mut self.state.rng;
        let z: Vec<f32> = (0..n).flat_map(|_| prior.draw(rng.next_u64())).collect();
        Tensor::<2>::from_data(TensorData::new(z, [n, d]), &self.state.device)
    }

    /// `[n, latent]` standard normal draws from the trainer's RNG.
    fn gaussian(&mut self, n: usize) -> Tensor<2> {
        let d = self.model_config.decoder.latent_dim;
        let eps: Vec<f32> = (0..n * d).map(|_| self.state.rng.next_gaussian()).collect();
        Tensor::<2>::from_data(TensorData::new(eps, [n, d]), &self.state.device)
    }

    /// The decoder that samples and is exported: the moving average when there is one.
    fn sampling_decoder(&self) -> Generator {
        match &self.ema_decoder {
            Some(average) => average.clone(),
            None => self.decoder.valid(),
        }
    }

    /// Encoder and decoder ready for inference.
    pub fn latent_model(&self) -> LatentModel {
        LatentModel::new(
            ModelConfig::Vae(self.model_config.clone()),
            self.sampling_decoder(),
            Some(self.encoder.valid()),
            &self.state.plain_device(),
        )
    }

    /// Weights file with encoder and decoder in half precision.
    /// Reads the weights back asynchronously, so it works on every device (WebGPU included).
    pub async fn export_async(&self, name: &str) -> Result<WeightsFile> {
        let parts = vec![
            ("encoder", module_to_bytes_async(&self.encoder).await?),
            (
                "decoder",
                module_to_bytes_async(&self.sampling_decoder()).await?,
            ),
        ];
        Ok(self
            .state
            .export(ModelConfig::Vae(self.model_config.clone()), name, parts))
    }

    /// Blocking [`Self::export_async`] for the CPU device (CLI, tests).
    pub fn export(&self, name: &str) -> Result<WeightsFile> {
        pollster::block_on(self.export_async(name))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl VaeTrainer {
    /// Writes networks, optimiser states and counters into `dir` (created).
    pub fn save_checkpoint(&self, dir: &std::path::Path) -> Result<()> {
        use burn::module::Module;
        let mut networks = vec![
            ("encoder", self.encoder.valid().into_record()),
            ("decoder", self.decoder.valid().into_record()),
        ];
        if let Some(average) = &self.ema_decoder {
            networks.push(("ema_decoder", average.clone().into_record()));
        }
        let mut optimizers = vec![("opt_e", &self.opt_e), ("opt_d", &self.opt_d)];
        if let Some(adversary) = &self.adversary {
            networks.push(("adversary", adversary.network.valid().into_record()));
            optimizers.push(("opt_adversary", &adversary.optimizer));
        }
        checkpoint::save(
            dir,
            &self.state,
            &self.config,
            &self.model_config,
            networks,
            &optimizers,
        )
    }

    /// Resumes a run saved by [`VaeTrainer::save_checkpoint`].
    pub fn load_checkpoint(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let saved: checkpoint::State<VaeTrainConfig, VaeConfig> = checkpoint::load_state(dir)?;
        let mut state = TrainState::new(device, 0, None);
        saved.restore(&mut state);
        let model = &saved.model;
        let encoder = checkpoint::load_network(dir, "encoder", model.encoder.init(&state.device))?;
        let decoder = checkpoint::load_network(dir, "decoder", model.decoder.init(&state.device))?;
        let discriminator = match &saved.config.adversary {
            Some(d) => Some(checkpoint::load_network(
                dir,
                "adversary",
                d.init(&state.device),
            )?),
            None => None,
        };
        let mut trainer = VaeTrainer::from_networks(
            saved.model,
            saved.config,
            encoder,
            decoder,
            discriminator,
            state,
        )?;
        trainer.opt_e = checkpoint::load_optimizer(dir, "opt_e", trainer.opt_e)?;
        trainer.opt_d = checkpoint::load_optimizer(dir, "opt_d", trainer.opt_d)?;
        // A checkpoint saved before the average was asked for starts it from the decoder.
        if trainer.ema_decoder.is_some() && dir.join("ema_decoder.bpk").exists() {
            let init = trainer
                .model_config
                .decoder
                .init(&trainer.state.plain_device());
            trainer.ema_decoder = Some(checkpoint::load_network(dir, "ema_decoder", init)?);
        }
        if let Some(path) = trainer.config.perceptual_net.clone() {
            trainer.set_perceptual(&WeightsFile::read(std::path::Path::new(&path))?)?;
        }
        if let Some(adversary) = trainer.adversary.take() {
            let optimizer = checkpoint::load_optimizer(dir, "opt_adversary", adversary.optimizer)?;
            trainer.adversary = Some(Adversary {
                optimizer,
                ..adversary
            });
        }
        Ok(trainer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{default_device, read_f32_blocking};

    /// The detail loss counts speckle in a fill, not the fill's colour being off.
    #[test]
    fn the_detail_loss_sees_speckle_not_colour() {
        let device = default_device();
        let fill = |v: f32| Tensor::<4>::full([1, 3, 8, 8], v, &device);
        let loss = |a: Tensor<4>, b: Tensor<4>| read_f32_blocking(detail_loss(a, b)).unwrap()[0];
        assert!(loss(fill(-0.5), fill(0.3)).abs() < 1e-9);
        let speckle: Vec<f32> = (0..3 * 64)
            .map(|i| if (i % 8 + i / 8) % 2 == 0 { 0.4 } else { 0.2 })
            .collect();
        let speckled = Tensor::<4>::from_data(TensorData::new(speckle, [1, 3, 8, 8]), &device);
        assert!(
            loss(speckled, fill(0.3)) > 0.5,
            "64 pixels by 3 off by about 0.1"
        );
    }
}
