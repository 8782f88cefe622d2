//! Standing statistics (Brock et al. 2019): a generator's batch-norm running statistics
//! measured again on the weights it samples with.
//!
//! A GAN samples with the moving average (EMA) of its generator's weights, but the running
//! statistics its batch norms normalise with at sampling time were gathered on the live
//! weights (and averaged like the weights), not on the averaged network. A VAE's decoder
//! gathered them on the encoder's posterior samples, not on the prior it samples from.
//! Recalibrating runs the sampling network forward in training mode on latents drawn as
//! sampling draws them (conditions from the data's frequencies, a fitted prior's centres) and
//! keeps the statistics of those batches; no weight changes. The statistics start from zero
//! and are divided by the share of them the batches filled in (as Adam corrects its moments'
//! bias), so the old values leave no trace however far they were.
//!
//! Measured (`models/emoji-gan`'s card): a small gain for both shipped GANs, a loss for the
//! shipped VAE, whose decoder also decodes the encoder's latents.
//!
//! [`average`] is the other touch-up of a trained sampling network: the mean of several
//! checkpoints' weights (Polyak averaging over a run's last stretch, an average over a longer
//! window than the EMA's), to be recalibrated afterwards.

use std::collections::HashMap;

use burn::prelude::*;

use crate::model::{Generator, GeneratorConfig, LatentModel, ModelConfig, Steering, params};
use crate::weights::{WeightsFile, module_to_bytes};
use crate::{Error, Result};

/// How the statistics are gathered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recalibration {
    /// Batches run forward. Each moves the running statistics a tenth of the way (the batch
    /// norms' momentum): the last ten or so batches count most.
    pub batches: usize,
    /// Latents per batch.
    pub batch_size: usize,
    /// Seed of the first latent; latent `i` is the sampling latent of seed `first_seed + i`.
    pub first_seed: u64,
}

impl Default for Recalibration {
    fn default() -> Self {
        Self {
            batches: 64,
            batch_size: 64,
            first_seed: 5_000_000,
        }
    }
}

/// The momentum of every batch norm in latentpad's networks (burn's default): the share of a
/// batch's statistics in the running ones.
const MOMENTUM: f64 = 0.1;

fn is_running_statistic(path: &str) -> bool {
    path.ends_with("running_mean") || path.ends_with("running_var")
}

/// `file` with its sampling network's (a GAN's generator, a VAE's decoder) batch-norm running
/// statistics measured on `how.batches` batches of its own sampling latents.
pub fn recalibrate(file: &WeightsFile, how: Recalibration, device: &Device) -> Result<WeightsFile> {
    if how.batches == 0 || how.batch_size < 2 {
        return Err(Error::Config(format!(
            "recalibration needs at least one batch of at least 2 latents (batch statistics), \
             not {} of {}",
            how.batches, how.batch_size
        )));
    }
    let (part, config) = sampling_part(file)?;
    // The sampling latents come from the model as it samples now.
    let model = LatentModel::from_weights(file, device)?;
    let training = device.clone().autodiff();
    // No parameter needs a gradient, so no graph is kept (it would grow with every batch).
    let network: Generator = file.load(part, config.init(&training))?.no_grad();
    let network = params::map_floats(network, |path, _, values| {
        if is_running_statistic(path) {
            values.zeros_like()
        } else {
            values
        }
    });
    let d = model.latent_dim();
    for b in 0..how.batches {
        let mut z = Vec::with_capacity(how.batch_size * d);
        for i in 0..how.batch_size {
            let seed = how.first_seed + (b * how.batch_size + i) as u64;
            z.extend(model.latent(seed, Steering::default())?);
        }
        let z = Tensor::<2>::from_data(TensorData::new(z, [how.batch_size, d]), &training);
        // Training mode: every batch norm normalises with this batch's statistics and moves
        // its running statistics towards them. The images are not needed.
        drop(network.forward(z));
    }
    let filled = 1.0 - (1.0 - MOMENTUM).powi(how.batches.min(1_000) as i32);
    let network = params::map_floats(network.valid(), |path, _, values| {
        if is_running_statistic(path) {
            values.div_scalar(filled)
        } else {
            values
        }
    });
    let bytes = module_to_bytes(&network)?;
    let mut out = file.clone();
    out.replace_part(part, bytes)?;
    Ok(out)
}

/// The part of `file` that samples (a GAN's generator, a VAE's decoder) and its architecture.
pub(crate) fn sampling_part(file: &WeightsFile) -> Result<(&'static str, GeneratorConfig)> {
    match &file.config {
        ModelConfig::Gan(c) => Ok(("generator", c.generator.clone())),
        ModelConfig::Vae(c) => Ok(("decoder", c.decoder.clone())),
        other => Err(Error::WrongArchitecture {
            source_name: file.source_name.clone(),
            expected: "a GAN or a VAE (a network that samples)".into(),
            found: other.describe(),
        }),
    }
}

/// The last of `files` with its sampling network's float parameters (batch-norm statistics
/// too) replaced by their mean over all `files`, which must be of one architecture (a run's
/// checkpoints); its other parts (a GAN's discriminator, a VAE's encoder) and its record are
/// the last file's. The averaged statistics belong to no network: [`recalibrate`] the result.
pub fn average(files: &[WeightsFile], device: &Device) -> Result<WeightsFile> {
    let Some(last) = files.last() else {
        return Err(Error::Config(
            "averaging needs at least one weights file".into(),
        ));
    };
    let (part, config) = sampling_part(last)?;
    let mut sums: HashMap<String, Tensor<1>> = HashMap::new();
    for file in files {
        file.expect_config(&last.config)?;
        let network: Generator = file.load(part, config.init(device))?;
        for (path, values) in params::floats_by_path(&network) {
            let sum = match sums.remove(&path) {
                Some(sum) => sum + values,
                None => values,
            };
            sums.insert(path, sum);
        }
    }
    let n = files.len() as f64;
    let network: Generator = last.load(part, config.init(device))?;
    let network = params::map_floats(network, |path, _, values| match sums.remove(path) {
        Some(sum) => sum.div_scalar(n),
        None => values,
    });
    let mut out = last.clone();
    out.replace_part(part, module_to_bytes(&network)?)?;
    Ok(out)
}

/// Runs `latentpad recalibrate` on a model folder and says what it did.
#[cfg(not(target_arch = "wasm32"))]
pub fn recalibrate_folder(
    o: &crate::options::RecalibrateOptions,
    device: &Device,
) -> Result<String> {
    let file = crate::weights::WeightsFile::read(&o.model)?;
    let how = Recalibration {
        batches: o.batches,
        batch_size: o.batch_size,
        first_seed: o.seed,
    };
    let started = std::time::Instant::now();
    recalibrate(&file, how, device)?.write_dir(&o.out)?;
    Ok(format!(
        "{}: batch-norm statistics of {} batches of {} sampling latents, in {:.1} s",
        o.out.display(),
        o.batches,
        o.batch_size,
        started.elapsed().as_secs_f64()
    ))
}

/// Runs `latentpad average` on model folders and says what it did.
#[cfg(not(target_arch = "wasm32"))]
pub fn average_folders(o: &crate::options::AverageOptions, device: &Device) -> Result<String> {
    let files = o
        .models
        .iter()
        .map(|m| crate::weights::WeightsFile::read(m))
        .collect::<Result<Vec<_>>>()?;
    average(&files, device)?.write_dir(&o.out)?;
    Ok(format!(
        "{}: the mean of {} checkpoints' sampling weights (recalibrate it next)",
        o.out.display(),
        files.len()
    ))
}
