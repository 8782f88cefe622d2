//! Training step of the evaluation classifier: cross-entropy on emoji categories, with light
//! augmentation (DiffAugment's translation) so features do not hinge on exact pixel positions.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::augment::{AugmentConfig, diff_augment};
use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::latent::SplitMix64;
use crate::model::{Classifier, ClassifierConfig, ModelConfig, seeded_init};
use crate::weights::{WeightsFile, WeightsMeta, module_to_bytes, software};
use crate::{Error, Result};

/// A classifier being trained.
pub struct ClassifierTrainer {
    model_config: ClassifierConfig,
    classifier: Classifier,
    optimizer: ModuleOptimizer,
    rng: SplitMix64,
    learning_rate: f64,
    flip: bool,
    step: u64,
    device: Device,
}

impl ClassifierTrainer {
    /// A fresh classifier on `device`.
    pub fn new(
        model_config: ClassifierConfig,
        learning_rate: f64,
        seed: u64,
        device: &Device,
    ) -> Self {
        let ad = device.clone().autodiff();
        Self {
            classifier: seeded_init(model_config.init(&ad), seed),
            model_config,
            optimizer: AdamConfig::new().init(),
            rng: SplitMix64::new(seed),
            learning_rate,
            flip: false,
            step: 0,
            device: ad,
        }
    }

    /// Also mirrors a random half of each batch left to right (for labels that do not change
    /// in a mirror, such as an emoji's category).
    pub fn with_flip(mut self, flip: bool) -> Self {
        self.flip = flip;
        self
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
        let x = image::to_tensor(images, &self.device);
        let x = diff_augment(
            x,
            &AugmentConfig::none().with_translation(true),
            &mut self.rng,
        );
        let n = labels.len();
        let x = if self.flip {
            let mask: Vec<f32> = (0..n)
                .map(|_| if self.rng.next_f64() < 0.5 { 1.0 } else { 0.0 })
                .collect();
            let mask = Tensor::<4>::from_data(TensorData::new(mask, [n, 1, 1, 1]), &self.device);
            x.clone().flip([3]) * mask.clone() + x * (mask.neg() + 1.0)
        } else {
            x
        };
        let labels: Vec<i64> = labels.iter().map(|l| *l as i64).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &self.device);
        let loss = CrossEntropyLossConfig::new()
            .init(&self.device)
            .forward(self.classifier.forward(x), targets);
        let grads = GradientsParams::from_grads(loss.backward(), &self.classifier);
        self.classifier = self
            .optimizer
            .step(self.learning_rate, self.classifier.clone(), grads);
        self.step += 1;
        Ok(read_f32(loss).await?[0])
    }

    /// The classifier in inference mode.
    pub fn classifier(&self) -> Classifier {
        self.classifier.valid()
    }

    /// Weights file with the classifier.
    pub fn export(&self, name: &str) -> Result<WeightsFile> {
        Ok(WeightsFile::new(
            ModelConfig::Classifier(self.model_config.clone()),
            WeightsMeta {
                name: name.into(),
                fine_tuned: false,
                steps: self.step,
                software: software(),
            },
            vec![("classifier".into(), module_to_bytes(&self.classifier)?)],
        ))
    }
}
