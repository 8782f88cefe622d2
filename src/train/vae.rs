//! VAE training step: reconstruction error summed over pixels plus beta times the KL
//! divergence to the standard normal prior (the negative ELBO), with the reparameterisation
//! trick's noise drawn from the trainer's seeded RNG.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::latent::SplitMix64;
use crate::model::{Encoder, Generator, LatentModel, ModelConfig, VaeConfig, seeded_init};
use crate::weights::{WeightsFile, WeightsMeta, module_to_bytes_async, software};
use crate::{Error, Result};

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
    rng: SplitMix64,
    step: u64,
    base_steps: u64,
    fine_tuned: bool,
    device: Device,
}

impl VaeTrainer {
    /// A freshly initialised VAE on `device`.
    pub fn new(model_config: VaeConfig, config: VaeTrainConfig, device: &Device) -> Result<Self> {
        let ad = device.clone().autodiff();
        let encoder = seeded_init(model_config.encoder.init(&ad), config.seed);
        let decoder = seeded_init(model_config.decoder.init(&ad), config.seed + 1);
        Self::from_networks(model_config, config, encoder, decoder, 0, false, &ad)
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
        let ad = device.clone().autodiff();
        let encoder = file.load("encoder", model_config.encoder.init(&ad))?;
        let decoder = file.load("decoder", model_config.decoder.init(&ad))?;
        Self::from_networks(
            model_config,
            config,
            encoder,
            decoder,
            file.meta.steps,
            true,
            &ad,
        )
    }

    fn from_networks(
        model_config: VaeConfig,
        config: VaeTrainConfig,
        encoder: Encoder,
        decoder: Generator,
        base_steps: u64,
        fine_tuned: bool,
        ad: &Device,
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
            rng: SplitMix64::new(config.seed ^ 0x7661_65),
            step: 0,
            base_steps,
            fine_tuned,
            model_config,
            config,
            device: ad.clone(),
        })
    }

    /// Steps taken by this trainer.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// One update on a batch of images.
    pub async fn step(&mut self, images: &[&Rgb64]) -> Result<VaeLosses> {
        if images.is_empty() {
            return Err(Error::NoImages("training batch".into()));
        }
        let n = images.len();
        let d = self.model_config.decoder.latent_dim;
        let x = image::to_tensor(images, &self.device);
        let (mean, log_var) = self.encoder.forward(x.clone());
        let eps: Vec<f32> = (0..n * d).map(|_| self.rng.next_gaussian()).collect();
        let eps = Tensor::<2>::from_data(TensorData::new(eps, [n, d]), &self.device);
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
        self.step += 1;

        Ok(VaeLosses {
            total: read_f32(total).await?[0],
            reconstruction: read_f32(reconstruction).await?[0],
            kl: read_f32(kl).await?[0],
        })
    }

    /// Encoder and decoder ready for inference.
    pub fn latent_model(&self) -> LatentModel {
        let plain = self.device.clone().without_autodiff();
        LatentModel::new(
            ModelConfig::Vae(self.model_config.clone()),
            self.decoder.valid(),
            Some(self.encoder.valid()),
            &plain,
        )
    }

    /// Weights file with encoder and decoder in half precision.
    /// Reads the weights back asynchronously, so it works on every device (WebGPU included).
    pub async fn export_async(&self, name: &str) -> Result<WeightsFile> {
        Ok(WeightsFile::new(
            ModelConfig::Vae(self.model_config.clone()),
            WeightsMeta {
                name: name.to_string(),
                fine_tuned: self.fine_tuned,
                steps: self.base_steps + self.step,
                software: software(),
            },
            vec![
                (
                    "encoder".into(),
                    module_to_bytes_async(&self.encoder).await?,
                ),
                (
                    "decoder".into(),
                    module_to_bytes_async(&self.decoder).await?,
                ),
            ],
        ))
    }

    /// Blocking [`Self::export_async`] for the CPU device (CLI, tests).
    pub fn export(&self, name: &str) -> Result<WeightsFile> {
        pollster::block_on(self.export_async(name))
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod checkpoint {
    //! Full-precision checkpoints of everything a resumed run needs.

    use std::path::Path;

    use burn::module::Module;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::train::checkpoint::{load_record, record_err, save_record, write_state};

    #[derive(Serialize, Deserialize)]
    struct State {
        step: u64,
        rng: u64,
        config: VaeTrainConfig,
        model: VaeConfig,
    }

    impl VaeTrainer {
        /// Writes networks, optimiser states and counters into `dir` (created).
        pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            save_record(dir, "encoder.bpk", self.encoder.valid().into_record())?;
            save_record(dir, "decoder.bpk", self.decoder.valid().into_record())?;
            let path = dir.join("opt_e.bpk");
            self.opt_e.save(&path).map_err(record_err(&path))?;
            let path = dir.join("opt_d.bpk");
            self.opt_d.save(&path).map_err(record_err(&path))?;
            write_state(
                dir,
                &State {
                    step: self.step,
                    rng: self.rng.state(),
                    config: self.config.clone(),
                    model: self.model_config.clone(),
                },
            )
        }

        /// Resumes a run saved by [`VaeTrainer::save_checkpoint`].
        pub fn load_checkpoint(dir: &Path, device: &Device) -> Result<Self> {
            let state: State = crate::train::checkpoint::read_state(dir)?;
            let ad = device.clone().autodiff();
            let encoder = load_record(dir, "encoder.bpk", state.model.encoder.init(&ad))?;
            let decoder = load_record(dir, "decoder.bpk", state.model.decoder.init(&ad))?;
            let mut trainer = VaeTrainer::from_networks(
                state.model,
                state.config,
                encoder,
                decoder,
                0,
                false,
                &ad,
            )?;
            let path = dir.join("opt_e.bpk");
            trainer.opt_e = trainer.opt_e.load(&path).map_err(record_err(&path))?;
            let path = dir.join("opt_d.bpk");
            trainer.opt_d = trainer.opt_d.load(&path).map_err(record_err(&path))?;
            trainer.step = state.step;
            trainer.rng = SplitMix64::new(state.rng);
            Ok(trainer)
        }
    }
}
