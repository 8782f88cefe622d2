//! VAE training step: reconstruction error summed over pixels plus beta times the KL
//! divergence to the standard normal prior (the negative ELBO), with the reparameterisation
//! trick's noise drawn from the trainer's seeded RNG.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

#[cfg(not(target_arch = "wasm32"))]
use super::checkpoint;
use super::state::TrainState;
use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::model::{Encoder, Generator, LatentModel, ModelConfig, VaeConfig, seeded_init};
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
    /// Seed of initialisation and noise.
    #[config(default = 1)]
    pub seed: u64,
}

/// Losses of one step, per image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaeLosses {
    /// Total: reconstruction + beta * KL.
    pub total: f32,
    /// Summed squared error over the image's pixels (values in [-1, 1]).
    pub reconstruction: f32,
    /// KL divergence of the posterior from N(0, I), in nats.
    pub kl: f32,
}

/// A VAE being trained.
pub struct VaeTrainer {
    /// Hyper-parameters.
    pub config: VaeTrainConfig,
    model_config: VaeConfig,
    encoder: Encoder,
    decoder: Generator,
    opt_e: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    state: TrainState,
}

impl VaeTrainer {
    /// A freshly initialised VAE on `device`.
    pub fn new(model_config: VaeConfig, config: VaeTrainConfig, device: &Device) -> Result<Self> {
        let state = TrainState::new(device, config.seed ^ RNG_SALT, None);
        let encoder = seeded_init(model_config.encoder.init(&state.device), config.seed);
        let decoder = seeded_init(model_config.decoder.init(&state.device), config.seed + 1);
        Self::from_networks(model_config, config, encoder, decoder, state)
    }

    /// Continues training from a weights file with `encoder` and `decoder` parts.
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
        Self::from_networks(model_config, config, encoder, decoder, state)
    }

    fn from_networks(
        model_config: VaeConfig,
        config: VaeTrainConfig,
        encoder: Encoder,
        decoder: Generator,
        state: TrainState,
    ) -> Result<Self> {
        if config.batch_size == 0
            || model_config.encoder.latent_dim != model_config.decoder.latent_dim
        {
            return Err(Error::Config(
                "batch size must be positive and encoder and decoder share one latent size".into(),
            ));
        }
        let adam = AdamConfig::new().with_epsilon(1e-8);
        Ok(Self {
            encoder,
            decoder,
            opt_e: adam.init(),
            opt_d: adam.init(),
            state,
            model_config,
            config,
        })
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
        let d = self.model_config.decoder.latent_dim;
        let x = image::to_tensor(images, &self.state.device);
        let (mean, log_var) = self.encoder.forward(x.clone());
        let eps: Vec<f32> = (0..n * d).map(|_| self.state.rng.next_gaussian()).collect();
        let eps = Tensor::<2>::from_data(TensorData::new(eps, [n, d]), &self.state.device);
        let z = mean.clone() + log_var.clone().mul_scalar(0.5).exp() * eps;
        let recon = self.decoder.forward(z);
        let reconstruction = (recon - x).square().sum().div_scalar(n as f64);
        let kl = (log_var.clone().exp() + mean.square() - log_var - 1.0)
            .sum()
            .mul_scalar(0.5 / n as f64);
        let total = reconstruction.clone() + kl.clone().mul_scalar(self.model_config.beta);

        let mut grads = total.backward();
        let lr = self.config.learning_rate;
        let grads_e = GradientsParams::from_module(&mut grads, &self.encoder);
        let grads_d = GradientsParams::from_module(&mut grads, &self.decoder);
        self.encoder = self.opt_e.step(lr, self.encoder.clone(), grads_e);
        self.decoder = self.opt_d.step(lr, self.decoder.clone(), grads_d);
        self.state.step += 1;

        Ok(VaeLosses {
            total: read_f32(total).await?[0],
            reconstruction: read_f32(reconstruction).await?[0],
            kl: read_f32(kl).await?[0],
        })
    }

    /// Encoder and decoder ready for inference.
    pub fn latent_model(&self) -> LatentModel {
        LatentModel::new(
            ModelConfig::Vae(self.model_config.clone()),
            self.decoder.valid(),
            Some(self.encoder.valid()),
            &self.state.plain_device(),
        )
    }

    /// Weights file with encoder and decoder in half precision.
    /// Reads the weights back asynchronously, so it works on every device (WebGPU included).
    pub async fn export_async(&self, name: &str) -> Result<WeightsFile> {
        let parts = vec![
            ("encoder", module_to_bytes_async(&self.encoder).await?),
            ("decoder", module_to_bytes_async(&self.decoder).await?),
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
        checkpoint::save(
            dir,
            &self.state,
            &self.config,
            &self.model_config,
            vec![
                ("encoder", self.encoder.valid().into_record()),
                ("decoder", self.decoder.valid().into_record()),
            ],
            &[("opt_e", &self.opt_e), ("opt_d", &self.opt_d)],
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
        let mut trainer =
            VaeTrainer::from_networks(saved.model, saved.config, encoder, decoder, state)?;
        trainer.opt_e = checkpoint::load_optimizer(dir, "opt_e", trainer.opt_e)?;
        trainer.opt_d = checkpoint::load_optimizer(dir, "opt_d", trainer.opt_d)?;
        Ok(trainer)
    }
}
