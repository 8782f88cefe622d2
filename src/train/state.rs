//! What every trainer keeps beside its networks and optimisers: the device, the seeded RNG, the
//! step counter and where its weights came from, and the weights file it exports from that.

use burn::prelude::*;

use crate::latent::SplitMix64;
use crate::model::ModelConfig;
use crate::weights::{WeightsFile, WeightsMeta, software};

/// A trainer's counters and provenance.
pub(crate) struct TrainState {
    /// The device with autodiff, where the networks train.
    pub device: Device,
    /// Noise, augmentation and batch draws.
    pub rng: SplitMix64,
    /// Steps taken by this trainer.
    pub step: u64,
    /// Steps behind the weights it started from (0 for a fresh model).
    pub base_steps: u64,
    /// Whether it started from trained weights (fine-tuning).
    pub fine_tuned: bool,
}

impl TrainState {
    /// A fresh run on `device` (autodiff is enabled here), its RNG seeded from `rng_seed`;
    /// `from` is the file whose weights it continues, if any.
    pub fn new(device: &Device, rng_seed: u64, from: Option<&WeightsMeta>) -> Self {
        Self {
            device: device.clone().autodiff(),
            rng: SplitMix64::new(rng_seed),
            step: 0,
            base_steps: from.map_or(0, |meta| meta.steps),
            fine_tuned: from.is_some(),
        }
    }

    /// The device without autodiff, for inference copies of the networks.
    pub fn plain_device(&self) -> Device {
        self.device.clone().without_autodiff()
    }

    /// A weights file of `config` named `name`, from the networks' bytes (`parts`).
    pub fn export(
        &self,
        config: ModelConfig,
        name: &str,
        parts: Vec<(&str, Vec<u8>)>,
    ) -> WeightsFile {
        let meta = WeightsMeta {
            name: name.to_string(),
            fine_tuned: self.fine_tuned,
            steps: self.base_steps + self.step,
            software: software(),
        };
        let parts = parts.into_iter().map(|(n, b)| (n.to_string(), b)).collect();
        WeightsFile::new(config, meta, parts)
    }
}
