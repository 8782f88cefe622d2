//! Native training runs, as the CLI drives them: pretraining that logs its losses, replaces its
//! checkpoint and model folder as it goes and resumes where it stopped; fine-tuning on a folder
//! of images; a classifier's run. Progress goes to a callback, so the caller owns the display.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use super::checkpoint;
use super::classifier::ClassifierTrainer;
use super::finetune::FineTuning;
use super::{Losses, Trainer};
use crate::data::{BatchSampler, Example, condition_of};
use crate::image::{self, Provenance, Rgb64};
use crate::model::LatentModel;
use crate::weights::WeightsFile;
use crate::{Error, Result};

/// What a run reports as it goes.
pub enum Event<'a> {
    /// A step was taken.
    Step {
        /// Steps taken so far.
        step: u64,
        /// Its losses.
        losses: &'a Losses,
    },
    /// The checkpoint and the model folder were replaced.
    Checkpoint {
        /// At this step.
        step: u64,
        /// Seconds of training behind it, earlier sessions of the run included.
        wall_seconds: f64,
    },
}

/// A pretraining run's settings.
pub struct Pretraining<'a> {
    /// Total steps; a resumed run continues up to this number.
    pub steps: u64,
    /// Checkpoint folder; its loss log is the same path with `.csv`.
    pub checkpoint: &'a Path,
    /// Steps between checkpoints (and model folders).
    pub checkpoint_every: u64,
    /// Model folder written at every checkpoint and at the end.
    pub out: &'a Path,
    /// Name recorded in the weights.
    pub name: &'a str,
    /// Seed of the batch draws (mixed with the step a run resumes at).
    pub seed: u64,
}

impl Pretraining<'_> {
    /// Steps `trainer` on `examples` up to `steps`, appending `step,losses...,wall_seconds` to
    /// the loss log after every step and replacing the checkpoint and the model folder every
    /// `checkpoint_every` steps and at the end.
    pub fn run(
        &self,
        trainer: &mut Trainer,
        examples: &[Example],
        mut on: impl FnMut(Event),
    ) -> Result<()> {
        if examples.is_empty() {
            return Err(Error::NoImages("the training set".into()));
        }
        let log_path = self.checkpoint.with_extension("csv");
        if let Some(parent) = log_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let wall_before = previous_wall_time(&log_path);
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(&log_path, e))?;
        let started = Instant::now();
        let seed = self.seed ^ trainer.step_count();
        let categories: Vec<usize> = examples.iter().map(|e| e.category).collect();
        let mut sampler = BatchSampler::by_class(&categories, trainer.class_sampling(), seed)?;
        while trainer.step_count() < self.steps {
            let idx = sampler.next_batch(trainer.batch_size());
            let images: Vec<&Rgb64> = idx.iter().map(|i| &examples[*i].image).collect();
            let labels: Vec<(usize, usize)> =
                idx.iter().map(|i| condition_of(&examples[*i])).collect();
            let losses = pollster::block_on(trainer.step_labelled(&images, &labels))?;
            let step = trainer.step_count();
            let wall_seconds = wall_before + started.elapsed().as_secs_f64();
            let values: Vec<String> = losses.values().iter().map(|l| l.to_string()).collect();
            writeln!(log, "{step},{},{wall_seconds:.1}", values.join(","))
                .map_err(|e| Error::io(&log_path, e))?;
            on(Event::Step {
                step,
                losses: &losses,
            });
            if step.is_multiple_of(self.checkpoint_every.max(1)) || step == self.steps {
                checkpoint::replace(self.checkpoint, |dir| trainer.save_checkpoint(dir))?;
                write_model(
                    &trainer.latent_model(),
                    &trainer.export(self.name)?,
                    self.out,
                )?;
                on(Event::Checkpoint { step, wall_seconds });
            }
        }
        Ok(())
    }
}

/// Runs `steps` steps of a fine-tuning session, reporting each, and writes the fine-tuned
/// model folder `out`.
pub fn fine_tune(
    session: &mut FineTuning,
    steps: u64,
    out: &Path,
    mut on: impl FnMut(Event),
) -> Result<()> {
    for _ in 0..steps {
        let losses = pollster::block_on(session.step())?;
        on(Event::Step {
            step: session.steps(),
            losses: &losses,
        });
    }
    let weights = pollster::block_on(session.export())?;
    write_model(&session.latent_model(), &weights, out)
}

/// Runs `latentpad finetune`: the model in `--model` fine-tuned on the images of a folder
/// (the quick mode first, unless `--invert-steps 0`), written to `--out`. Files that are not
/// images are passed over, each named.
pub fn finetune_folder(
    o: &crate::options::FinetuneOptions,
    device: &burn::prelude::Device,
    on: &mut dyn FnMut(crate::progress::Progress),
) -> Result<()> {
    use crate::progress::Progress;
    let file = WeightsFile::read(&o.model)?;
    let (examples, skipped) = crate::data::load_folder(&o.images)?;
    warn_skipped(&skipped, on);
    on(Progress::Say(format!(
        "fine-tuning {} on {} images",
        file.meta.name,
        examples.len()
    )));
    let images = examples.into_iter().map(|e| e.image).collect();
    let freeze = o.freeze_discriminator_layers;
    let mut session = FineTuning::new(file, images, o.batch_size, freeze, device)?;
    if o.invert_steps > 0 {
        let error = pollster::block_on(session.run_quick_mode(o.invert_steps))?;
        on(Progress::Say(if error.is_finite() {
            format!("quick mode: found the images in the model (mean pixel error {error:.4})")
        } else {
            "quick mode: the encoder found the images".into()
        }));
    }
    on(Progress::Start {
        total: o.steps,
        done: 0,
    });
    fine_tune(&mut session, o.steps, &o.out, |event| {
        on(super::setup::progress_of(event))
    })
}

/// Names each file of a folder that was passed over.
pub fn warn_skipped(skipped: &[Error], on: &mut dyn FnMut(crate::progress::Progress)) {
    if !skipped.is_empty() {
        on(crate::progress::Progress::Warn(format!(
            "skipped {} file(s):",
            skipped.len()
        )));
    }
    for e in skipped {
        on(crate::progress::Progress::Warn(format!("  {e}")));
    }
}

/// Trains `trainer` on labelled images until it has taken `steps`, reporting each step's
/// loss; with `checkpoint` (a folder and the steps between saves) it replaces that checkpoint
/// as it goes and at the end. Batches are drawn by `seed` mixed with the step it starts at (a
/// fresh run's draws are those of `seed`), with the trainer's class sampling.
pub fn train_classifier(
    trainer: &mut ClassifierTrainer,
    labelled: &[(&Rgb64, usize)],
    steps: u64,
    batch_size: usize,
    seed: u64,
    checkpoint: Option<(&Path, u64)>,
    mut on: impl FnMut(u64, f32),
) -> Result<()> {
    if labelled.is_empty() {
        return Err(Error::NoImages("the classifier's training set".into()));
    }
    let seed = seed ^ trainer.step_count();
    // A power of 1 is the data's mix: every example once per epoch, as before class sampling.
    let power = Some(trainer.config().class_sampling).filter(|p| *p != 1.0);
    let classes: Vec<usize> = labelled.iter().map(|(_, c)| *c).collect();
    let mut sampler = BatchSampler::by_class(&classes, power, seed)?;
    while trainer.step_count() < steps {
        let idx = sampler.next_batch(batch_size);
        let images: Vec<&Rgb64> = idx.iter().map(|i| labelled[*i].0).collect();
        let labels: Vec<usize> = idx.iter().map(|i| labelled[*i].1).collect();
        let loss = pollster::block_on(trainer.step(&images, &labels))?;
        let step = trainer.step_count();
        on(step, loss);
        if let Some((dir, every)) = checkpoint
            && (step.is_multiple_of(every.max(1)) || step == steps)
        {
            checkpoint::replace(dir, |d| trainer.save_checkpoint(d))?;
        }
    }
    Ok(())
}

/// Writes a model folder: the weights and `samples.png`, a grid of seeds 0 to 63 with its
/// provenance.
pub fn write_model(model: &LatentModel, weights: &WeightsFile, out: &Path) -> Result<()> {
    weights.write_dir(out)?;
    let provenance = Provenance::of(&weights.meta, "seeds 0 to 63".into());
    let png = image::grid_png(model.sample(64, 0)?, 64, 8, &provenance)?;
    let path = out.join("samples.png");
    std::fs::write(&path, png).map_err(|e| Error::io(&path, e))
}

/// The wall time of earlier sessions of a run, from the last line of its loss log.
fn previous_wall_time(log: &Path) -> f64 {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|s| {
            s.lines()
                .last()
                .and_then(|l| l.rsplit(',').next()?.parse().ok())
        })
        .unwrap_or(0.0)
}
