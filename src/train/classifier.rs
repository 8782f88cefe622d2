//! Training step of the evaluation classifier: cross-entropy on emoji categories, with light
//! augmentation (DiffAugment's translation) so features do not hinge on exact pixel positions.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use serde::{Deserialize, Serialize};

use super::augment::{AugmentConfig, diff_augment};
#[cfg(not(target_arch = "wasm32"))]
use super::checkpoint;
use super::state::TrainState;
use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::model::{Classifier, ClassifierConfig, ModelConfig, seeded_init};
use crate::weights::{WeightsFile, module_to_bytes};
use crate::{Error, Result};

/// A classifier's training settings, kept in its checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierTrainConfig {
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Mirror a random half of each batch left to right.
    #[serde(default)]
    pub flip: bool,
    /// Draw each class in proportion to its share of the data to this power (1: the data's
    /// mix; see `data::class_sampling_weights`).
    #[serde(default = "one")]
    pub class_sampling: f64,
}

fn one() -> f64 {
    1.0
}

/// A classifier being trained.
pub struct ClassifierTrainer {
    model_config: ClassifierConfig,
    config: ClassifierTrainConfig,
    classifier: Classifier,
    optimizer: ModuleOptimizer,
    state: TrainState,
}

impl ClassifierTrainer {
    /// A fresh classifier on `device`.
    pub fn new(
        model_config: ClassifierConfig,
        learning_rate: f64,
        seed: u64,
        device: &Device,
    ) -> Self {
        let state = TrainState::new(device, seed, None);
        Self {
            classifier: seeded_init(model_config.init(&state.device), seed),
            model_config,
            config: ClassifierTrainConfig {
                learning_rate,
                flip: false,
                class_sampling: 1.0,
            },
            optimizer: AdamConfig::new().init(),
            state,
        }
    }

    /// Also mirrors a random half of each batch left to right (for labels that do not change
    /// in a mirror, such as an emoji's category).
    pub fn with_flip(mut self, flip: bool) -> Self {
        self.config.flip = flip;
        self
    }

    /// Draws each class in proportion to its share of the data to the power `power` (1: the
    /// data's mix, 0: every class equally); refused unless it is a number from 0 to 1.
    pub fn with_class_sampling(mut self, power: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&power) {
            return Err(Error::Config(format!(
                "the class sampling power must be a number from 0 to 1, not {power}"
            )));
        }
        self.config.class_sampling = power;
        Ok(self)
    }

    /// The architecture.
    pub fn model_config(&self) -> &ClassifierConfig {
        &self.model_config
    }

    /// The training settings.
    pub fn config(&self) -> &ClassifierTrainConfig {
        &self.config
    }

    /// Steps taken (a resumed run counts those before its checkpoint).
    pub fn step_count(&self) -> u64 {
        self.state.step
    }

    /// One update; returns the batch's mean cross-entropy.
    pub async fn step(&mut self, images: &[&Rgb64], labels: &[usize]) -> Result<f32> {
        if images.is_empty() || images.len() != labels.len() {
            return Err(Error::Config(format!(
                "{} images and {} labels in a batch",
                images.len(),
                labels.len()
            )));
        }
        let device = self.state.device.clone();
        let x = image::to_tensor(images, &device);
        let x = diff_augment(
            x,
            &AugmentConfig::none().with_translation(true),
            &mut self.state.rng,
        );
        let n = labels.len();
        let x = if self.config.flip {
            let mask: Vec<f32> = (0..n)
                .map(|_| {
                    if self.state.rng.next_f64() < 0.5 {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let mask = Tensor::<4>::from_data(TensorData::new(mask, [n, 1, 1, 1]), &device);
            x.clone().flip([3]) * mask.clone() + x * (mask.neg() + 1.0)
        } else {
            x
        };
        let labels: Vec<i64> = labels.iter().map(|l| *l as i64).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &device);
        let loss = CrossEntropyLossConfig::new()
            .init(&device)
            .forward(self.classifier.forward(x), targets);
        let grads = GradientsParams::from_grads(loss.backward(), &self.classifier);
        self.classifier =
            self.optimizer
                .step(self.config.learning_rate, self.classifier.clone(), grads);
        self.state.step += 1;
        Ok(read_f32(loss).await?[0])
    }

    /// The classifier in inference mode.
    pub fn classifier(&self) -> Classifier {
        self.classifier.valid()
    }

    /// Weights file with the classifier.
    pub fn export(&self, name: &str) -> Result<WeightsFile> {
        Ok(self.state.export(
            ModelConfig::Classifier(self.model_config.clone()),
            name,
            vec![("classifier", module_to_bytes(&self.classifier)?)],
        ))
    }

    /// Writes a checkpoint to `dir`: the classifier, Adam's state, the step, the RNG and the
    /// settings.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn save_checkpoint(&self, dir: &std::path::Path) -> Result<()> {
        use burn::module::Module;
        checkpoint::save(
            dir,
            &self.state,
            &self.config,
            &self.model_config,
            vec![("classifier", self.classifier.valid().into_record())],
            &[("opt", &self.optimizer)],
        )
    }

    /// Resumes a run saved by [`ClassifierTrainer::save_checkpoint`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load_checkpoint(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let saved: checkpoint::State<ClassifierTrainConfig, ClassifierConfig> =
            checkpoint::load_state(dir)?;
        let mut state = TrainState::new(device, 0, None);
        saved.restore(&mut state);
        let classifier =
            checkpoint::load_network(dir, "classifier", saved.model.init(&state.device))?;
        let optimizer = checkpoint::load_optimizer(dir, "opt", AdamConfig::new().init())?;
        Ok(Self {
            model_config: saved.model,
            config: saved.config,
            classifier,
            optimizer,
            state,
        })
    }
}
