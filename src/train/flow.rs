//! Training the latent flow ([`crate::flow`]): rectified-flow regression of the velocity that
//! carries noise to a training latent along a straight line, at a random time, with each
//! part of the condition dropped at random so that guidance can steer the result; Adam, and
//! a moving average of the weights that sampling uses.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(not(target_arch = "wasm32"))]
use super::checkpoint;
use super::ema;
use super::state::TrainState;
use crate::backend::read_f32;
use crate::flow::{FlowConfig, FlowNet, gaussian};
use crate::{Error, Result};

/// A flow's training settings, kept in its checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowTrainConfig {
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Latents per step.
    pub batch_size: usize,
    /// The chance that a draw's category is dropped (and, apart, its tone).
    pub drop_condition: f64,
    /// Decay of the weights' moving average (after its warm-up).
    pub ema_decay: f64,
}

impl Default for FlowTrainConfig {
    fn default() -> Self {
        Self {
            learning_rate: 5e-4,
            batch_size: 128,
            drop_condition: 0.15,
            ema_decay: 0.999,
        }
    }
}

/// A flow being trained.
pub struct FlowTrainer {
    config: FlowConfig,
    train: FlowTrainConfig,
    net: FlowNet,
    average: FlowNet,
    optimizer: ModuleOptimizer,
    state: TrainState,
}

impl FlowTrainer {
    /// A fresh flow of `config` on `device`, seeded by `seed`.
    pub fn new(config: FlowConfig, train: FlowTrainConfig, seed: u64, device: &Device) -> Self {
        let state = TrainState::new(device, seed, None);
        let net = config.init(seed, &state.device);
        Self {
            average: net.valid(),
            net,
            config,
            train,
            optimizer: AdamConfig::new().init(),
            state,
        }
    }

    /// The architecture (with the latents' scale).
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// Steps taken (a resumed run counts those before its checkpoint).
    pub fn step_count(&self) -> u64 {
        self.state.step
    }

    /// The moving average of the weights, for sampling.
    pub fn average(&self) -> &FlowNet {
        &self.average
    }

    /// One update on `latents` (row-major `[n, latent_dim]`, in the flow's units) with their
    /// `labels` (category, tone); returns the batch's mean squared velocity error.
    pub async fn step(&mut self, latents: &[f32], labels: &[(usize, usize)]) -> Result<f32> {
        let d = self.config.latent_dim();
        let n = labels.len();
        if n == 0 || latents.len() != n * d {
            return Err(Error::Config(format!(
                "{} latent numbers for {n} labels of {d} each",
                latents.len()
            )));
        }
        let rng = &mut self.state.rng;
        let noise = gaussian(rng, n * d);
        let mut at = Vec::with_capacity(n * d);
        let mut target = Vec::with_capacity(n * d);
        let mut side = Vec::with_capacity(n);
        let drop = self.train.drop_condition;
        for i in 0..n {
            let t = rng.next_f32();
            for j in 0..d {
                let (x0, x1) = (noise[i * d + j], latents[i * d + j]);
                at.push(x0 + t * (x1 - x0));
                target.push(x1 - x0);
            }
            let (category, tone) = labels[i];
            let category = (rng.next_f64() >= drop).then_some(category);
            let tone = (rng.next_f64() >= drop).then_some(tone);
            side.push((t, category, tone));
        }
        let device = self.state.device.clone();
        let shape = [n, self.config.channels, self.config.side, self.config.side];
        let x = Tensor::<4>::from_data(TensorData::new(at, shape), &device);
        let target = Tensor::<4>::from_data(TensorData::new(target, shape), &device);
        let side = self.config.side_input(&side, &device);
        let loss = (self.net.forward(x, side) - target).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &self.net);
        self.net = self
            .optimizer
            .step(self.train.learning_rate, self.net.clone(), grads);
        // The average warms up (as in Karras et al. 2018's and most diffusion code's EMA):
        // at a fixed 0.999 the first thousand steps would leave a third of the random start
        // in it.
        let step = self.state.step as f64;
        let decay = self.train.ema_decay.min((1.0 + step) / (10.0 + step));
        self.average = ema::update(self.average.clone(), &self.net, decay);
        self.state.step += 1;
        Ok(read_f32(loss).await?[0])
    }

    /// Writes a checkpoint to `dir`: the network, its average, Adam's state, the counters.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save_checkpoint(&self, dir: &std::path::Path) -> Result<()> {
        use burn::module::Module;
        checkpoint::save(
            dir,
            &self.state,
            &self.train,
            &self.config,
            vec![
                ("flow", self.net.valid().into_record()),
                ("average", self.average.clone().into_record()),
            ],
            &[("opt", &self.optimizer)],
        )
    }

    /// Resumes a run saved by [`FlowTrainer::save_checkpoint`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_checkpoint(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let saved: checkpoint::State<FlowTrainConfig, FlowConfig> = checkpoint::load_state(dir)?;
        let mut state = TrainState::new(device, 0, None);
        saved.restore(&mut state);
        let net = checkpoint::load_network(dir, "flow", saved.model.init(0, &state.device))?;
        let plain = state.plain_device();
        let average = checkpoint::load_network(dir, "average", saved.model.init(0, &plain))?;
        let optimizer = checkpoint::load_optimizer(dir, "opt", AdamConfig::new().init())?;
        Ok(Self {
            config: saved.model,
            train: saved.config,
            net,
            average,
            optimizer,
            state,
        })
    }
}

/// Runs `latentpad train flow`: encodes the training images with the VAE in `--model`
/// (and their mirror images with `--flip`), trains a flow on the latents (or resumes one),
/// and writes the VAE with the flow to `--out` at every checkpoint and at the end.
#[cfg(not(target_arch = "wasm32"))]
pub fn train_flow(
    o: &crate::options::FlowOptions,
    device: &Device,
    on: &mut dyn FnMut(crate::progress::Progress),
) -> Result<()> {
    use crate::data::{self, BatchSampler, EmojiStyle};
    use crate::progress::Progress;
    let file = crate::weights::WeightsFile::read(&o.model)?;
    let crate::model::ModelConfig::Vae(vae) = &file.config else {
        return Err(Error::Config(format!(
            "{} is a {}; a flow learns a VAE's latents",
            o.model.display(),
            file.config.kind()
        )));
    };
    let Some(side) = vae.decoder.latent_grid else {
        return Err(Error::Config(
            "a flow learns a grid latent: train it on a VAE with --latent-grid".into(),
        ));
    };
    let model = crate::model::LatentModel::from_weights(&file, device)?;
    let data = data::load_fetched(&o.run.data_dir, EmojiStyle::Noto)?;
    let (latents, labels) = pollster::block_on(training_latents(&model, &data.train, o.flip))?;
    let d = model.latent_dim();
    let mut trainer = if checkpoint::recover(&o.run.checkpoint)? {
        let trainer = FlowTrainer::load_checkpoint(&o.run.checkpoint, device)?;
        trainer.config.check(d, data.categories.len())?;
        on(Progress::Say(format!(
            "resuming at step {}",
            trainer.step_count()
        )));
        trainer
    } else {
        let channels = d / (side * side);
        let (mean, scale) = crate::flow::channel_stats(&latents, channels, side * side);
        let config = FlowConfig::new(channels, side, data.categories.len())
            .with_width(o.width)
            .with_blocks(o.blocks)
            .with_mean(mean)
            .with_scale(scale);
        let train = FlowTrainConfig {
            learning_rate: o.lr,
            batch_size: o.run.batch_size,
            drop_condition: o.drop_condition,
            ..Default::default()
        };
        FlowTrainer::new(config, train, o.run.seed, device)
    };
    let mut normalised = latents;
    trainer.config.normalise(&mut normalised);
    on(Progress::Say(format!(
        "a flow of width {} on {} latents of {d} numbers",
        trainer.config.width,
        labels.len()
    )));
    let conditions = crate::model::Conditions::from_labels(data.categories.clone(), &labels)?;
    let write = |trainer: &FlowTrainer| -> Result<()> {
        let out = with_flow(&file, trainer, &conditions)?;
        let model = crate::model::LatentModel::from_weights(&out, device)?;
        super::run::write_model(&model, &out, &o.run.out)
    };
    let log_path = o.run.checkpoint.with_extension("csv");
    if let Some(parent) = log_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let started = std::time::Instant::now();
    let mut sampler = BatchSampler::new(labels.len(), o.run.seed ^ trainer.step_count());
    on(Progress::Start {
        total: o.run.steps,
        done: trainer.step_count(),
    });
    while trainer.step_count() < o.run.steps {
        let idx = sampler.next_batch(trainer.train.batch_size);
        let batch: Vec<f32> = idx
            .iter()
            .flat_map(|&i| normalised[i * d..(i + 1) * d].to_vec())
            .collect();
        let batch_labels: Vec<(usize, usize)> = idx.iter().map(|&i| labels[i]).collect();
        let loss = pollster::block_on(trainer.step(&batch, &batch_labels))?;
        let step = trainer.step_count();
        on(Progress::Step {
            step,
            message: format!("loss {loss:.4}"),
        });
        let line = format!("{step},{loss},{:.1}\n", started.elapsed().as_secs_f64());
        append(&log_path, &line)?;
        if step.is_multiple_of(o.run.checkpoint_every.max(1)) || step == o.run.steps {
            checkpoint::replace(&o.run.checkpoint, |dir| trainer.save_checkpoint(dir))?;
            write(&trainer)?;
            on(Progress::Note(format!("checkpoint at step {step}")));
        }
    }
    Ok(())
}

/// The VAE's encodings (posterior means, row-major) of `train`, and of their mirror images
/// with `flip`, with each one's (category, tone).
#[cfg(not(target_arch = "wasm32"))]
async fn training_latents(
    model: &crate::model::LatentModel,
    train: &[crate::data::Example],
    flip: bool,
) -> Result<(Vec<f32>, Vec<(usize, usize)>)> {
    use crate::image::Rgb64;
    let mirrored: Vec<Rgb64> = if flip {
        train.iter().map(|e| mirror(&e.image)).collect()
    } else {
        Vec::new()
    };
    let images: Vec<&Rgb64> = train
        .iter()
        .map(|e| &e.image)
        .chain(mirrored.iter())
        .collect();
    let mut latents = Vec::new();
    for chunk in images.chunks(64) {
        latents.extend(model.encode(chunk).await?);
    }
    let labels = train.iter().map(crate::data::condition_of);
    let labels: Vec<(usize, usize)> = labels.clone().chain(labels.take(mirrored.len())).collect();
    Ok((latents, labels))
}

/// An image mirrored left to right.
#[cfg(not(target_arch = "wasm32"))]
fn mirror(image: &crate::image::Rgb64) -> crate::image::Rgb64 {
    let side = crate::image::IMAGE_SIZE;
    let mut out = image.0.clone();
    for y in 0..side {
        for x in 0..side {
            let (a, b) = ((y * side + x) * 3, (y * side + side - 1 - x) * 3);
            out[a..a + 3].copy_from_slice(&image.0[b..b + 3]);
        }
    }
    crate::image::Rgb64(out)
}

/// `file` (a VAE) with `trainer`'s averaged flow as its learned prior and `conditions` as
/// its conditions.
#[cfg(not(target_arch = "wasm32"))]
fn with_flow(
    file: &crate::weights::WeightsFile,
    trainer: &FlowTrainer,
    conditions: &crate::model::Conditions,
) -> Result<crate::weights::WeightsFile> {
    let mut out = file.clone();
    if let crate::model::ModelConfig::Vae(c) = &mut out.config {
        c.flow = Some(trainer.config.clone());
        c.conditions.get_or_insert_with(|| conditions.clone());
    }
    out.meta.steps = trainer.step_count();
    let bytes = crate::weights::module_to_bytes(trainer.average())?;
    out.set_part("flow", bytes);
    Ok(out)
}

/// Appends a line to a log file.
#[cfg(not(target_arch = "wasm32"))]
fn append(path: &std::path::Path, line: &str) -> Result<()> {
    use std::io::Write;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    log.write_all(line.as_bytes())
        .map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{default_device, read_f32_blocking};
    use crate::flow::{FlowSampling, integrate};
    use crate::latent::SplitMix64;
    use crate::model::Steering;

    /// A flow over a 2x2 grid of one channel (4 numbers), small enough to train in a test.
    fn tiny() -> FlowConfig {
        FlowConfig::new(1, 2, 2)
            .with_width(32)
            .with_blocks(2)
            .with_mean(vec![0.0])
            .with_scale(vec![1.0])
    }

    /// Two modes: category 0 at (+1.5, ...), category 1 at (-1.5, ...), a little spread.
    fn mixture(n: usize, seed: u64) -> (Vec<f32>, Vec<(usize, usize)>) {
        let mut rng = SplitMix64::new(seed);
        let mut latents = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let c = i % 2;
            let centre = if c == 0 { 1.5 } else { -1.5 };
            latents.extend((0..4).map(|_| centre + 0.1 * rng.next_gaussian()));
            labels.push((c, 0));
        }
        (latents, labels)
    }

    fn trained(steps: usize) -> FlowTrainer {
        let device = default_device();
        let train = FlowTrainConfig {
            learning_rate: 3e-3,
            batch_size: 64,
            drop_condition: 0.3,
            ema_decay: 0.9,
        };
        let mut trainer = FlowTrainer::new(tiny(), train, 1, &device);
        for step in 0..steps {
            let (latents, labels) = mixture(64, step as u64);
            pollster::block_on(trainer.step(&latents, &labels)).unwrap();
        }
        trainer
    }

    /// Which mode each sample fell in (0: +1.5, 1: -1.5, None: neither), by its mean.
    fn modes(latents: &[f32]) -> Vec<Option<usize>> {
        latents
            .chunks(4)
            .map(|z| {
                let m = z.iter().sum::<f32>() / 4.0;
                if (m - 1.5).abs() < 0.5 {
                    Some(0)
                } else if (m + 1.5).abs() < 0.5 {
                    Some(1)
                } else {
                    None
                }
            })
            .collect()
    }

    fn draw(trainer: &FlowTrainer, n: usize, steering: Steering, guidance: f32) -> Vec<f32> {
        let noise: Vec<f32> = (0..n as u64)
            .flat_map(|s| crate::latent::noise(s, 4))
            .collect();
        let how = FlowSampling {
            steps: 20,
            guidance,
            temperature: 1.0,
        };
        let z = integrate(
            trainer.average(),
            trainer.config(),
            noise,
            steering,
            how,
            &default_device(),
        );
        read_f32_blocking(z.unwrap()).unwrap()
    }

    #[test]
    fn a_tiny_flow_recovers_a_two_mode_mixture_and_guidance_picks_a_mode() {
        let trainer = trained(400);
        let unsteered = modes(&draw(&trainer, 200, Steering::default(), 1.0));
        let hits =
            |m: &[Option<usize>], want: usize| m.iter().filter(|x| **x == Some(want)).count();
        // Nearly every sample in a mode, and both modes drawn about as often as the data has.
        assert!(
            hits(&unsteered, 0) + hits(&unsteered, 1) >= 170,
            "{unsteered:?}"
        );
        assert!(
            hits(&unsteered, 0) >= 50 && hits(&unsteered, 1) >= 50,
            "{unsteered:?}"
        );
        // Asked for category 1 with guidance: most samples in its mode, more than unsteered.
        let asked = Steering {
            category: Some(1),
            tone: None,
        };
        let steered = modes(&draw(&trainer, 200, asked, 2.0));
        assert!(hits(&steered, 1) >= 180, "{steered:?}");
        assert!(hits(&steered, 1) > hits(&unsteered, 1) + 40);
    }

    #[test]
    fn the_sampler_is_deterministic_with_the_right_shape_and_checks_its_settings() {
        let trainer = trained(2);
        let a = draw(&trainer, 3, Steering::default(), 1.0);
        let b = draw(&trainer, 3, Steering::default(), 1.0);
        assert_eq!(a.len(), 3 * 4);
        assert_eq!(a, b);
        let noise = crate::latent::noise(1, 4);
        let device = default_device();
        for (how, message) in [
            (
                FlowSampling {
                    steps: 0,
                    ..Default::default()
                },
                "flow steps must be 1 to 200",
            ),
            (
                FlowSampling {
                    guidance: 11.0,
                    ..Default::default()
                },
                "guidance scale must be 0 to 10",
            ),
            (
                FlowSampling {
                    temperature: 0.0,
                    ..Default::default()
                },
                "temperature must be above 0",
            ),
        ] {
            let err = integrate(
                trainer.average(),
                trainer.config(),
                noise.clone(),
                Steering::default(),
                how,
                &device,
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(message), "{err}");
        }
        let err = integrate(
            trainer.average(),
            trainer.config(),
            vec![0.0; 5],
            Steering::default(),
            Default::default(),
            &device,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("flow noise"), "{err}");
        // A flow for another latent or other categories is refused by name.
        let err = tiny().check(512, 2).unwrap_err().to_string();
        assert!(err.contains("latents of 4 numbers"), "{err}");
    }
}
