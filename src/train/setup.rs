//! `latentpad train`: a training run set up from its options. Which trainer a run gets (new,
//! resumed from its checkpoint, or started from another model's weights), the rules that
//! refuse combinations of options that cannot work together, and the labelled data sets the
//! classifiers learn from.

use burn::prelude::*;

use super::Trainer;
use super::augment::AugmentConfig;
use super::checkpoint;
use super::classifier::ClassifierTrainer;
use super::gan::{GanTrainConfig, GanTrainer};
use super::run::{self, Event, Pretraining};
use super::vae::{VaeTrainConfig, VaeTrainer};
use crate::data::{self, EmojiStyle, Example, condition_of};
use crate::eval;
use crate::image::Rgb64;
use crate::model::{
    ClassifierConfig, Conditions, DiscriminatorConfig, GanConfig, ModelConfig, TONES, VaeConfig,
    check_latent_grid,
};
use crate::options::{
    ClassifierOptions, ClassifierTarget, GanOptions, GenerativeOptions, RunOptions, TrainOptions,
    VaeOptions,
};
use crate::progress::Progress;
use crate::report::tone_label;
use crate::weights::WeightsFile;
use crate::{Error, Result};

/// Runs `latentpad train`: sets the run up (or resumes it) and trains it to `--steps`,
/// writing checkpoints and model folders as it goes.
pub fn train(options: &TrainOptions, device: &Device, on: &mut dyn FnMut(Progress)) -> Result<()> {
    let (run, generative, trainer) = match options {
        TrainOptions::Classifier(o) => return train_classifier(o, device, on),
        TrainOptions::Flow(o) => return super::flow::train_flow(o, device, on),
        TrainOptions::Gan(o) => (&o.run, &o.model, gan_trainer(o, device, on)?),
        TrainOptions::Vae(o) => (&o.run, &o.model, vae_trainer(o, device, on)?),
    };
    let mut trainer = trainer;
    let examples = training_images(run, generative, on)?;
    on(Progress::Say(format!(
        "training on {} images",
        examples.len()
    )));
    let name = generative.name.clone().unwrap_or_else(|| {
        run.out
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    let pretraining = Pretraining {
        steps: run.steps,
        checkpoint: &run.checkpoint,
        checkpoint_every: run.checkpoint_every,
        out: &run.out,
        name: &name,
        seed: run.seed,
    };
    on(Progress::Start {
        total: run.steps,
        done: trainer.step_count(),
    });
    pretraining.run(&mut trainer, &examples, |event| on(progress_of(event)))
}

/// A training loop's event as progress.
pub fn progress_of(event: Event) -> Progress {
    match event {
        Event::Step { step, losses } => Progress::Step {
            step,
            message: losses.summary(),
        },
        Event::Checkpoint { step, wall_seconds } => Progress::Note(format!(
            "checkpoint at step {step} ({wall_seconds:.0} s of training)"
        )),
    }
}

/// The images a GAN or a VAE trains on: a folder's, or the Noto training set.
fn training_images(
    run: &RunOptions,
    generative: &GenerativeOptions,
    on: &mut dyn FnMut(Progress),
) -> Result<Vec<Example>> {
    let Some(dir) = &generative.images else {
        return Ok(data::load_fetched(&run.data_dir, EmojiStyle::Noto)?.train);
    };
    let (images, skipped) = data::load_folder(dir)?;
    run::warn_skipped(&skipped, on);
    Ok(images)
}

fn refuse(message: &str) -> Result<Trainer> {
    Err(Error::Config(message.into()))
}

fn augmentation(generative: &GenerativeOptions) -> AugmentConfig {
    if generative.no_augment {
        AugmentConfig::none()
    } else {
        AugmentConfig::new()
    }
}

/// A GAN trainer: resumed from `--checkpoint` when it holds one, else new, started from
/// `--init`'s weights when given.
fn gan_trainer(o: &GanOptions, device: &Device, on: &mut dyn FnMut(Progress)) -> Result<Trainer> {
    if o.model.upsample_conv && o.init.is_some() {
        return refuse(
            "--upsample-conv builds a new generator; it cannot start from --init's weights",
        );
    }
    if o.spectral_norm && o.init.is_some() {
        return refuse(
            "--spectral-norm builds a new GAN discriminator: `train gan` without --init's weights",
        );
    }
    if checkpoint::recover(&o.run.checkpoint)? {
        let mut trainer = GanTrainer::load_checkpoint(&o.run.checkpoint, device)?;
        if let Some(weight) = o.aux_classifier {
            trainer.set_classifier_weight(weight)?;
            on(Progress::Say(format!(
                "resuming with the auxiliary classifier's weight at {weight}"
            )));
        }
        return Ok(Trainer::Gan(trainer));
    }
    let config = GanTrainConfig::new()
        .with_batch_size(o.run.batch_size)
        .with_use_ema(!o.no_ema)
        .with_discriminator_lr_scale(o.d_lr_scale)
        .with_learning_rate(o.model.lr.unwrap_or(2e-4))
        .with_hinge(Some(o.hinge))
        .with_r1_gamma(Some(o.r1))
        .with_classifier_weight(Some(o.aux_classifier.unwrap_or(0.0)))
        .with_balance_classes(Some(o.balance_classes))
        .with_class_sampling(Some(o.class_sampling))
        .with_seed(o.run.seed)
        .with_augment(augmentation(&o.model));
    let conditions = if o.conditional {
        if o.model.images.is_some() {
            return refuse("--conditional needs the labelled emoji set, not --images");
        }
        let data = data::load_fetched(&o.run.data_dir, EmojiStyle::Noto)?;
        let labels: Vec<(usize, usize)> = data.train.iter().map(condition_of).collect();
        Some(Conditions::from_labels(data.categories, &labels)?)
    } else {
        None
    };
    let trainer = match (&o.init, conditions) {
        (Some(init), Some(conditions)) => {
            GanTrainer::conditioned_from(&WeightsFile::read(init)?, conditions, config, device)?
        }
        (Some(init), None) => {
            GanTrainer::from_weights(&WeightsFile::read(init)?, config, device)?.as_pretraining()
        }
        (None, conditions) => {
            let mut model = GanConfig::emoji();
            model.generator.width = o.model.width;
            model.generator.resize = Some(o.model.upsample_conv);
            model.discriminator.width = o.model.width;
            model.discriminator.spectral_norm = o.spectral_norm.then_some(true);
            if let Some(conditions) = conditions {
                model = model.conditioned(conditions);
            }
            GanTrainer::new(model, config, device)?
        }
    };
    Ok(Trainer::Gan(trainer))
}

/// A VAE trainer: resumed from `--checkpoint` when it holds one (only the decoder's detail
/// weight, learning-rate scale and moving average can change then), else new.
fn vae_trainer(o: &VaeOptions, device: &Device, on: &mut dyn FnMut(Progress)) -> Result<Trainer> {
    if o.model.upsample_conv && o.init.is_some() {
        return refuse(
            "--upsample-conv builds a new generator; it cannot start from --init's weights",
        );
    }
    if (o.latent_grid.is_some() || o.latent_dim.is_some()) && o.init.is_some() {
        return refuse(
            "--latent-grid and --latent-dim build a new VAE: `train vae` without --init",
        );
    }
    let latent_dim = o
        .latent_dim
        .unwrap_or(VaeConfig::emoji().decoder.latent_dim);
    check_latent_grid(latent_dim, o.latent_grid)?;
    if !checkpoint::recover(&o.run.checkpoint)? {
        return new_vae_trainer(o, latent_dim, device).map(Trainer::Vae);
    }
    let mut trainer = VaeTrainer::load_checkpoint(&o.run.checkpoint, device)?;
    let (detail, scale, ema) = (o.detail_weight, o.decoder_lr_scale, o.decoder_ema);
    if detail.is_some() || scale.is_some() || ema.is_some() {
        trainer.retune(detail, scale, ema)?;
    }
    let c = &trainer.config;
    on(Progress::Say(format!(
        "resuming the checkpoint's run: detail weight {}, decoder learning-rate scale {}, \
         decoder moving average {}",
        c.detail_weight.unwrap_or(0.0),
        c.decoder_lr_scale,
        c.decoder_ema.map_or("none".to_string(), |d| d.to_string())
    )));
    Ok(Trainer::Vae(trainer))
}

/// The settings of a new VAE run (a GAN's optimiser settings where a discriminator or a
/// GAN's generator takes part).
fn vae_train_config(o: &VaeOptions, from_gan: bool) -> VaeTrainConfig {
    // An adversary trains beside the VAE for either of its losses.
    let adversarial = o.adversarial_weight > 0.0 || o.feature_matching > 0.0;
    let mut config = VaeTrainConfig::new()
        .with_batch_size(o.run.batch_size)
        .with_seed(o.run.seed)
        .with_adversarial_weight(o.adversarial_weight)
        .with_decoder_warmup_steps(o.decoder_warmup)
        .with_decoder_lr_scale(o.decoder_lr_scale.unwrap_or(1.0))
        .with_perceptual_weight(o.perceptual)
        .with_freeze_encoder(Some(o.freeze_encoder))
        .with_feature_matching_weight(Some(o.feature_matching))
        // `--detail-weight 0` is none, as not giving it is.
        .with_detail_weight(o.detail_weight.filter(|w| *w != 0.0))
        .with_decoder_ema(o.decoder_ema)
        .with_perceptual_net((o.perceptual > 0.0).then(|| o.perceptual_net.display().to_string()))
        .with_augment(augmentation(&o.model));
    if adversarial || from_gan {
        config = config.with_learning_rate(2e-4).with_beta_1(0.5);
    }
    if let Some(lr) = o.model.lr {
        config = config.with_learning_rate(lr);
    }
    config
}

fn new_vae_trainer(o: &VaeOptions, latent_dim: usize, device: &Device) -> Result<VaeTrainer> {
    let file = o.init.as_deref().map(WeightsFile::read).transpose()?;
    let init_kind = file.as_ref().map(|f| f.config.kind());
    if o.adversary_init.is_some() && init_kind != Some("vae") {
        return Err(Error::Config(
            "--adversary-init continues a VAE: give --init a VAE model folder".into(),
        ));
    }
    if o.freeze_encoder && init_kind != Some("vae") {
        return Err(Error::Config(
            "--freeze-encoder keeps a trained VAE's encoder: --init a VAE".into(),
        ));
    }
    let adversarial = o.adversarial_weight > 0.0 || o.feature_matching > 0.0;
    if o.adversary_init.is_some() && !adversarial {
        return Err(Error::Config(
            "--adversary-init needs --adversarial-weight or --feature-matching".into(),
        ));
    }
    let config = vae_train_config(o, init_kind == Some("gan"));
    let adversary =
        |width: usize| adversarial.then(|| DiscriminatorConfig::new().with_width(width));
    let mut trainer = match (&file, file.as_ref().map(|f| &f.config)) {
        (Some(file), Some(ModelConfig::Vae(vae))) => {
            let config = config.with_adversary(adversary(vae.decoder.width));
            let mut trainer = VaeTrainer::from_weights(file, config, device)?.as_pretraining();
            if let Some(gan) = &o.adversary_init {
                trainer = trainer.with_adversary_from(&WeightsFile::read(gan)?)?;
            }
            // A moving encoder would leave a fitted prior's centres stale.
            if o.freeze_encoder {
                trainer
            } else {
                trainer.without_prior()
            }
        }
        (Some(file), _) => {
            VaeTrainer::from_gan(file, new_vae(o, latent_dim).encoder, config, device)?
        }
        (None, _) => {
            let config = config.with_adversary(adversary(o.model.width));
            VaeTrainer::new(new_vae(o, latent_dim), config, device)?
        }
    };
    if o.perceptual > 0.0 {
        trainer.set_perceptual(&WeightsFile::read(&o.perceptual_net)?)?;
    }
    if let Some(beta) = o.beta {
        trainer.set_beta(beta)?;
    }
    Ok(trainer)
}

/// The architecture of a VAE trained from scratch.
fn new_vae(o: &VaeOptions, latent_dim: usize) -> VaeConfig {
    let mut model = VaeConfig::emoji();
    model.encoder.width = o.model.width;
    model.decoder.width = o.model.width;
    model.decoder.resize = Some(o.model.upsample_conv);
    model.encoder.latent_dim = latent_dim;
    model.decoder.latent_dim = latent_dim;
    model.encoder.latent_grid = o.latent_grid;
    model.decoder.latent_grid = o.latent_grid;
    model
}

/// Labelled images: an image and its class.
pub type Labelled<'a> = Vec<(&'a Rgb64, usize)>;

/// What a classifier learns from: its name, its classes, its training images and the named
/// held-out sets its accuracy is measured on.
pub struct ClassifierData<'a> {
    /// The classifier's name in its weights (and card).
    pub name: &'static str,
    /// Number of classes.
    pub classes: usize,
    /// Training images with their classes.
    pub train: Labelled<'a>,
    /// Held-out sets by name (some may be empty).
    pub held_out: Vec<(&'static str, Labelled<'a>)>,
}

/// The data set of a classifier of `target`: every emoji's category (on Noto, or with
/// `both_styles` on Noto and Twemoji), the tone of those that come in tones, or (identity)
/// which emoji it is across both styles.
pub fn classifier_data<'a>(
    target: ClassifierTarget,
    both_styles: bool,
    noto: &'a data::EmojiData,
    twemoji: Option<&'a data::EmojiData>,
) -> Result<ClassifierData<'a>> {
    let pick = |set: &'a [Example], label: &dyn Fn(&Example) -> Option<usize>| -> Labelled<'a> {
        set.iter()
            .filter_map(|e| label(e).map(|l| (&e.image, l)))
            .collect()
    };
    let twemoji_or = || {
        twemoji.ok_or_else(|| Error::Config("this classifier also needs the Twemoji set".into()))
    };
    if both_styles && target != ClassifierTarget::Category {
        return Err(Error::Config(
            "--both-styles trains a category classifier (--target category)".into(),
        ));
    }
    match target {
        ClassifierTarget::Identity => {
            let ids = data::identities(noto, twemoji_or()?);
            Ok(ClassifierData {
                name: "identity-classifier",
                classes: ids.classes.len(),
                train: ids.train,
                held_out: vec![("cross-style held-out", ids.cross_style)],
            })
        }
        ClassifierTarget::SkinTone => Ok(ClassifierData {
            name: "skin-tone-classifier",
            classes: TONES.len() - 1,
            train: pick(&noto.train, &tone_label),
            held_out: vec![("held-out", pick(&noto.held_out, &tone_label))],
        }),
        ClassifierTarget::Category if !both_styles => Ok(ClassifierData {
            name: "emoji-classifier",
            classes: noto.categories.len(),
            train: pick(&noto.train, &|e| Some(e.category)),
            held_out: vec![("held-out", pick(&noto.held_out, &|e| Some(e.category)))],
        }),
        ClassifierTarget::Category => {
            let twemoji = twemoji_or()?;
            // Twemoji's categories mapped to Noto's by name; the held-out emoji of both
            // styles are the same code points, so none of them is trained on.
            let to_noto: Vec<Option<usize>> = twemoji
                .categories
                .iter()
                .map(|c| noto.categories.iter().position(|n| n == c))
                .collect();
            let category = |e: &Example| to_noto.get(e.category).copied().flatten();
            let mut train = pick(&noto.train, &|e| Some(e.category));
            train.extend(pick(&twemoji.train, &category));
            Ok(ClassifierData {
                name: "category-classifier",
                classes: noto.categories.len(),
                train,
                held_out: vec![
                    ("held-out", pick(&noto.held_out, &|e| Some(e.category))),
                    // Their Twemoji drawings: a second look at the same unseen emoji.
                    ("held-out Twemoji", pick(&twemoji.held_out, &category)),
                ],
            })
        }
    }
}

/// Runs `latentpad train classifier`: trains (or resumes) a classifier on its data set, says
/// its accuracy on the training images and on each held-out set, and writes it to `--out`.
pub fn train_classifier(
    o: &ClassifierOptions,
    device: &Device,
    on: &mut dyn FnMut(Progress),
) -> Result<()> {
    let needs_twemoji = o.both_styles || o.target == ClassifierTarget::Identity;
    let noto = data::load_fetched(&o.run.data_dir, EmojiStyle::Noto)?;
    let twemoji = needs_twemoji
        .then(|| data::load_fetched(&o.run.data_dir, EmojiStyle::Twemoji))
        .transpose()?;
    let set = classifier_data(o.target, o.both_styles, &noto, twemoji.as_ref())?;
    let mut trainer = classifier_trainer(o, set.classes, device, on)?;
    on(Progress::Start {
        total: o.run.steps,
        done: trainer.step_count(),
    });
    let every = o.run.checkpoint_every;
    let checkpoint = Some((o.run.checkpoint.as_path(), every));
    let (steps, batch, seed) = (o.run.steps, o.run.batch_size, o.run.seed);
    run::train_classifier(
        &mut trainer,
        &set.train,
        steps,
        batch,
        seed,
        checkpoint,
        |step, loss| {
            on(Progress::Step {
                step,
                message: format!("loss {loss:.3}"),
            })
        },
    )?;
    let classifier = trainer.classifier();
    let mut line = format!("{} accuracy ({} classes):", set.name, set.classes);
    let sets =
        std::iter::once(("train", &set.train)).chain(set.held_out.iter().map(|(n, s)| (*n, s)));
    for (name, images) in sets.filter(|(_, s)| !s.is_empty()) {
        let a = pollster::block_on(eval::accuracy(&classifier, images, device))?;
        line += &format!(
            " {name} {:.3} (n={}; mean of classes {:.3}),",
            a.overall,
            images.len(),
            a.mean_of_classes
        );
    }
    on(Progress::Say(line.trim_end_matches(',').to_string()));
    trainer.export(set.name)?.write_dir(&o.run.out)
}

/// A classifier trainer of `classes` classes: resumed from `--checkpoint` (every setting the
/// checkpoint's, only `--steps` goes on) or new.
fn classifier_trainer(
    o: &ClassifierOptions,
    classes: usize,
    device: &Device,
    on: &mut dyn FnMut(Progress),
) -> Result<ClassifierTrainer> {
    if o.classifier_width == 0 {
        return Err(Error::Config(
            "--classifier-width takes at least 1 channel".into(),
        ));
    }
    if !checkpoint::recover(&o.run.checkpoint)? {
        let config = ClassifierConfig::new(classes).with_width(o.classifier_width);
        return ClassifierTrainer::new(config, 1e-3, o.run.seed, device)
            .with_flip(o.flip)
            .with_class_sampling(o.class_sampling);
    }
    let trainer = ClassifierTrainer::load_checkpoint(&o.run.checkpoint, device)?;
    let saved = trainer.model_config().num_classes;
    if saved != classes {
        return Err(Error::Config(format!(
            "the checkpoint in {} is a classifier of {saved} classes and this one has \
             {classes}: give this run another --checkpoint folder",
            o.run.checkpoint.display()
        )));
    }
    on(Progress::Say(format!(
        "resuming {} at step {} of {}",
        o.run.checkpoint.display(),
        trainer.step_count(),
        o.run.steps
    )));
    Ok(trainer)
}
