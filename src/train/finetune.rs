//! A fine-tuning session: a shipped (or saved) model, the person's images, and the trainer
//! between them. The browser's worker and the CLI run the same session: steps, previews, reset
//! to the pretrained weights, export under the model's name with "-finetuned".

use burn::prelude::*;

use super::{Losses, Trainer};
use crate::data::BatchSampler;
use crate::image::Rgb64;
use crate::limits::{MAX_BATCH, MAX_PREVIEW};
use crate::model::LatentModel;
use crate::weights::WeightsFile;
use crate::{Error, Result};

/// What a session was started with: what [`FineTuning::reset`] starts again from.
struct Start {
    file: WeightsFile,
    batch_size: usize,
    freeze_discriminator_layers: usize,
    device: Device,
}

/// Fine-tuning of one model on one set of images.
pub struct FineTuning {
    trainer: Trainer,
    images: Vec<Rgb64>,
    sampler: BatchSampler,
    name: String,
    start: Start,
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
        let start = Start {
            batch_size: batch_size.clamp(1, MAX_BATCH),
            freeze_discriminator_layers,
            device: device.clone(),
            file,
        };
        Ok(Self {
            trainer: Self::trainer(&start)?,
            sampler: BatchSampler::new(images.len(), 1),
            name: format!("{}-finetuned", start.file.meta.name),
            images,
            start,
        })
    }

    fn trainer(start: &Start) -> Result<Trainer> {
        Trainer::fine_tune(
            &start.file,
            start.batch_size,
            start.freeze_discriminator_layers,
            &start.device,
        )
    }

    /// Back to the pretrained weights it started from (step 0, same images, same batches).
    pub fn reset(&mut self) -> Result<()> {
        self.trainer = Self::trainer(&self.start)?;
        self.sampler = BatchSampler::new(self.images.len(), 1);
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
        self.trainer.step(&batch).await
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
