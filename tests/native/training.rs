//! The real training loops on tiny models and a tiny synthetic data set.

use latentpad::backend::{default_device, read_f32_blocking};
use latentpad::image::{RGB_LEN, Rgb64};
use latentpad::model::params::floats_by_path;
use latentpad::model::{
    ClassifierConfig, Conditions, DiscriminatorConfig, EncoderConfig, GeneratorConfig, LatentModel,
    VaeConfig, seeded_init,
};
use latentpad::train::Trainer;
use latentpad::train::classifier::ClassifierTrainer;
use latentpad::train::finetune::FineTuning;
use latentpad::train::gan::{GanTrainConfig, GanTrainer};
use latentpad::train::vae::{VaeTrainConfig, VaeTrainer};
use latentpad::weights::WeightsFile;

use super::tiny_gan;

/// Eight images: a red disc on white, at different places.
fn discs() -> Vec<Rgb64> {
    (0..8)
        .map(|i| {
            let (cx, cy) = (20 + (i % 4) * 8, 24 + (i / 4) * 16);
            let mut px = vec![255u8; RGB_LEN];
            for y in 0..64 {
                for x in 0..64 {
                    if (x - cx) * (x - cx) + (y - cy) * (y - cy) < 144 {
                        let k = ((y * 64 + x) * 3) as usize;
                        px[k + 1] = 0;
                        px[k + 2] = 0;
                    }
                }
            }
            Rgb64(px)
        })
        .collect()
}

/// Mean of each channel over a batch, in [-1, 1].
fn channel_means(values: &[f32]) -> [f32; 3] {
    let plane = 64 * 64;
    let n = values.len() / (3 * plane);
    let mut m = [0.0; 3];
    for i in 0..n {
        for (c, mc) in m.iter_mut().enumerate() {
            let s = &values[(i * 3 + c) * plane..(i * 3 + c + 1) * plane];
            *mc += s.iter().sum::<f32>() / (plane * n) as f32;
        }
    }
    m
}

#[test]
fn gan_learns_the_colours_of_a_tiny_data_set() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let config = GanTrainConfig::new()
        .with_batch_size(8)
        .with_learning_rate(1e-3)
        .with_ema_decay(0.9);
    let mut trainer = GanTrainer::new(tiny_gan(), config, &default_device()).unwrap();
    let before =
        channel_means(&read_f32_blocking(trainer.latent_model().sample(16, 0).unwrap()).unwrap());
    let mut last = None;
    for _ in 0..150 {
        last = Some(pollster::block_on(trainer.step(&batch)).unwrap());
    }
    let last = last.unwrap();
    assert!(last.discriminator.is_finite() && last.generator.is_finite());
    let after =
        channel_means(&read_f32_blocking(trainer.latent_model().sample(16, 0).unwrap()).unwrap());
    // Data: mostly white, red disc. Red channel near 1; green and blue lower than red.
    // At init every channel is near 0 (grey).
    assert!(before.iter().all(|c| c.abs() < 0.3), "before {before:?}");
    assert!(
        after[0] > 0.5,
        "red channel should approach white/red: {after:?}"
    );
    assert!(
        after[0] > after[1] + 0.05 && after[0] > after[2] + 0.05,
        "{after:?}"
    );
}

/// The discs of [`discs`] in blue: only the red channel of the disc is cleared.
fn blue_discs() -> Vec<Rgb64> {
    discs()
        .into_iter()
        .map(|Rgb64(mut px)| {
            for p in px.chunks_mut(3) {
                if p[1] == 0 {
                    p.copy_from_slice(&[0, 0, 255]);
                }
            }
            Rgb64(px)
        })
        .collect()
}

/// Eight red discs labelled category 0 ("Red") and eight blue ones category 1 ("Blue"), no
/// tone, and the conditions they make.
fn red_and_blue_discs() -> (Vec<Rgb64>, Vec<(usize, usize)>, Conditions) {
    let images: Vec<Rgb64> = discs().into_iter().chain(blue_discs()).collect();
    let labels: Vec<(usize, usize)> = (0..16).map(|i| (i / 8, 0)).collect();
    let conditions = Conditions::from_labels(vec!["Red".into(), "Blue".into()], &labels).unwrap();
    (images, labels, conditions)
}

#[test]
fn a_conditional_gan_learns_to_follow_its_condition() {
    // Category 0 is red discs, category 1 blue discs; the generator must draw the colour asked.
    let (images, labels, conditions) = red_and_blue_discs();
    let batch: Vec<&Rgb64> = images.iter().collect();
    let config = GanTrainConfig::new()
        .with_batch_size(16)
        .with_learning_rate(1e-3)
        .with_ema_decay(0.9);
    let model = tiny_gan().conditioned(conditions);
    let mut trainer = GanTrainer::new(model, config, &default_device()).unwrap();
    for _ in 0..150 {
        pollster::block_on(trainer.step_labelled(&batch, Some(&labels))).unwrap();
    }
    let sampler = trainer.latent_model();
    let steered = |name: &str| {
        let steering = sampler.steering(Some(name), None).unwrap();
        let images = sampler.sample_steered(16, 0, steering).unwrap();
        channel_means(&read_f32_blocking(images).unwrap())
    };
    let (red, blue) = (steered("red"), steered("blue"));
    // Red discs: more red than blue; blue discs: the other way round.
    assert!(red[0] - red[2] > 0.05, "asked for red: {red:?}");
    assert!(blue[2] - blue[0] > 0.05, "asked for blue: {blue:?}");
    // The weights file keeps the conditions: reloaded, it steers the same way.
    let file = trainer.export("tiny-conditional").unwrap();
    let reloaded = LatentModel::from_weights(
        &WeightsFile::parse(&file.to_bytes(), "tiny").unwrap(),
        &default_device(),
    )
    .unwrap();
    assert_eq!(reloaded.conditions(), sampler.conditions());
    // A hand-edited config whose conditions no longer fit the generator is refused by name.
    let mut edited = file.clone();
    if let latentpad::model::ModelConfig::Gan(c) = &mut edited.config {
        c.conditions
            .as_mut()
            .unwrap()
            .categories
            .push("Extra".into());
    }
    let err = LatentModel::from_weights(&edited, &default_device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not fit its generator"), "{err}");
    assert!(reloaded.steering(Some("blue"), None).is_ok());
    for (category, tone, expected) in [
        (Some("red"), Some("dark"), "has no emoji with skin tones"),
        (None, Some("dark"), "has no emoji with skin tones"),
        (Some("green"), None, "valid: red, blue"),
        (None, Some("purple"), "valid: yellow, light"),
    ] {
        let err = reloaded.steering(category, tone).unwrap_err().to_string();
        assert!(err.contains(expected), "{category:?} {tone:?}: {err}");
    }
}

#[test]
fn vae_loss_goes_down() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let model = VaeConfig::new(
        EncoderConfig::new().with_latent_dim(16).with_width(8),
        GeneratorConfig::new().with_latent_dim(16).with_width(8),
    );
    let mut trainer = VaeTrainer::new(
        model,
        VaeTrainConfig::new().with_batch_size(8),
        &default_device(),
    )
    .unwrap();
    let first = pollster::block_on(trainer.step(&batch)).unwrap();
    let mut last = first;
    for _ in 0..40 {
        last = pollster::block_on(trainer.step(&batch)).unwrap();
    }
    assert!(last.total < 0.5 * first.total, "{first:?} -> {last:?}");
    // The encoder puts images into latent space with the model's latent size.
    let z = pollster::block_on(trainer.latent_model().encode(&batch[..2])).unwrap();
    assert_eq!(z.len(), 2 * 16);
    assert!(z.iter().all(|v| v.is_finite()));
}

#[test]
fn a_resumed_run_continues_exactly() {
    resumes_exactly(tiny_gan(), "plain");
}

/// A spectrally normalised discriminator's power-iteration state is saved too: without it
/// the resumed run's normalisation, and so its next step, would differ.
#[test]
fn a_resumed_run_with_spectral_norm_continues_exactly() {
    let mut model = tiny_gan();
    model.discriminator.spectral_norm = Some(true);
    resumes_exactly(model, "spectral");
}

fn resumes_exactly(model: latentpad::model::GanConfig, name: &str) {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().take(4).collect();
    let device = default_device();
    let config = GanTrainConfig::new().with_batch_size(4);
    let mut straight = GanTrainer::new(model.clone(), config.clone(), &device).unwrap();
    let mut first = GanTrainer::new(model, config, &device).unwrap();
    for _ in 0..3 {
        pollster::block_on(straight.step(&batch)).unwrap();
        pollster::block_on(first.step(&batch)).unwrap();
    }
    let dir = std::env::temp_dir().join(format!("latentpad-resume-{name}-{}", std::process::id()));
    first.save_checkpoint(&dir).unwrap();
    let mut resumed = GanTrainer::load_checkpoint(&dir, &device).unwrap();
    assert_eq!(resumed.step_count(), 3);
    let a = pollster::block_on(straight.step(&batch)).unwrap();
    let b = pollster::block_on(resumed.step(&batch)).unwrap();
    assert!(
        (a.discriminator - b.discriminator).abs() < 1e-4,
        "{a:?} vs {b:?}"
    );
    assert!((a.generator - b.generator).abs() < 1e-4, "{a:?} vs {b:?}");
    let sa = read_f32_blocking(straight.latent_model().sample(2, 1).unwrap()).unwrap();
    let sb = read_f32_blocking(resumed.latent_model().sample(2, 1).unwrap()).unwrap();
    let worst = sa
        .iter()
        .zip(&sb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-4, "{worst}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_vae_gan_starts_from_a_gan_warms_up_its_encoder_and_resumes_exactly() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let file = untrained_gan(&device);
    let config = VaeTrainConfig::new()
        .with_batch_size(8)
        .with_adversarial_weight(10.0)
        .with_decoder_warmup_steps(2)
        .with_learning_rate(2e-4)
        .with_beta_1(0.5);
    let encoder = EncoderConfig::new().with_width(8);
    let new = || VaeTrainer::from_gan(&file, encoder.clone(), config.clone(), &device).unwrap();
    let samples = |m: &LatentModel| read_f32_blocking(m.sample(2, 0).unwrap()).unwrap();
    let gan = samples(&LatentModel::from_weights(&file, &device).unwrap());
    let mut trainer = new();
    assert!(
        samples(&trainer.latent_model()) == gan,
        "the decoder is not the generator"
    );
    // Warm-up: the encoder trains alone, no adversary.
    for _ in 0..2 {
        let losses = pollster::block_on(trainer.step(&batch)).unwrap();
        assert_eq!((losses.adversarial, losses.discriminator), (0.0, 0.0));
        assert!(losses.total.is_finite() && losses.kl > 0.0, "{losses:?}");
    }
    assert!(
        samples(&trainer.latent_model()) == gan,
        "the decoder moved in the warm-up"
    );
    let losses = pollster::block_on(trainer.step(&batch)).unwrap();
    assert!(
        losses.adversarial > 0.0 && losses.discriminator > 0.0 && losses.total.is_finite(),
        "{losses:?}"
    );
    assert!(
        samples(&trainer.latent_model()) != gan,
        "the decoder did not train"
    );
    let exported = trainer.export("vae-gan").unwrap();
    assert_eq!(exported.config.kind(), "vae");
    assert_eq!(exported.part_names(), ["encoder", "decoder"]);

    // A resumed run takes the same next step (adversary and its optimiser included).
    let dir = std::env::temp_dir().join(format!("latentpad-vaegan-{}", std::process::id()));
    trainer.save_checkpoint(&dir).unwrap();
    let mut resumed = VaeTrainer::load_checkpoint(&dir, &device).unwrap();
    let a = pollster::block_on(trainer.step(&batch)).unwrap();
    let b = pollster::block_on(resumed.step(&batch)).unwrap();
    for (x, y) in [
        (a.total, b.total),
        (a.adversarial, b.adversarial),
        (a.discriminator, b.discriminator),
    ] {
        assert!((x - y).abs() <= 1e-3 * x.abs().max(1.0), "{a:?} vs {b:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();

    // Refused: a VAE to start from, a negative weight, a weight without an adversary.
    let err = VaeTrainer::from_gan(&exported, encoder.clone(), config.clone(), &device);
    assert!(err.is_err_and(|e| e.to_string().contains("a gan")));
    let err = VaeTrainer::from_gan(
        &file,
        encoder.clone(),
        config.clone().with_adversarial_weight(-1.0),
        &device,
    );
    assert!(err.is_err_and(|e| e.to_string().contains("adversarial weight")));
    let err = VaeTrainer::from_gan(
        &file,
        encoder.clone(),
        config.clone().with_decoder_lr_scale(0.0),
        &device,
    );
    assert!(err.is_err_and(|e| e.to_string().contains("learning-rate scale")));
    let plain = VaeConfig::new(
        EncoderConfig::new().with_latent_dim(16).with_width(8),
        GeneratorConfig::new().with_latent_dim(16).with_width(8),
    );
    let err = VaeTrainer::new(plain, config.with_adversary(None), &device);
    assert!(err.is_err_and(|e| e.to_string().contains("needs an adversary")));
}

#[test]
fn the_hinge_loss_and_the_resize_generator_train() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let first_step = |model: latentpad::model::GanConfig, hinge: bool| {
        let config = GanTrainConfig::new()
            .with_batch_size(8)
            .with_hinge(Some(hinge));
        let mut trainer = GanTrainer::new(model, config, &device).unwrap();
        let losses = pollster::block_on(trainer.step(&batch)).unwrap();
        let samples = read_f32_blocking(trainer.latent_model().sample(2, 0).unwrap()).unwrap();
        assert!(samples.iter().all(|v| v.is_finite()));
        losses
    };
    // At the start the discriminator's logits are near 0: the logistic loss is near
    // 2 ln 2 = 1.39, the hinge loss near 2.
    let logistic = first_step(tiny_gan(), false);
    let hinge = first_step(tiny_gan(), true);
    assert!((logistic.discriminator - 1.386).abs() < 0.3, "{logistic:?}");
    assert!((hinge.discriminator - 2.0).abs() < 0.3, "{hinge:?}");
    assert!(hinge.generator.abs() < 1.0, "{hinge:?}");
    let mut resize = tiny_gan();
    resize.generator.resize = Some(true);
    let losses = first_step(resize, false);
    assert!(losses.generator.is_finite() && losses.discriminator.is_finite());
}

/// The R1 penalty's finite-difference estimate: averaged over random directions, the squared
/// slope is the squared norm of the discriminator's gradient at the image, which autodiff gives
/// exactly here (a first derivative, with respect to the input).
#[test]
fn r1_slopes_estimate_the_discriminator_s_gradient_norm() {
    use burn::tensor::{Tensor, TensorData};
    use latentpad::train::gan::{R1_STEP, r1_slopes};
    let device = default_device().autodiff();
    let discriminator = seeded_init(DiscriminatorConfig::new().with_width(8).init(&device), 3);
    let data = discs();
    let x = latentpad::image::to_tensor(&[&data[2]], &device);
    let exact = {
        let x = x.clone().require_grad();
        let grads = discriminator.forward(x.clone(), None).sum().backward();
        let g = x.grad(&grads).expect("a gradient at the image");
        let norm: f32 = g.square().sum().into_scalar();
        norm
    };
    assert!(exact > 0.0);
    let logits = discriminator.forward(x.clone(), None);
    let mut rng = latentpad::latent::SplitMix64::new(11);
    let directions = 300;
    let mut total = 0.0;
    for _ in 0..directions {
        let nudge: Vec<f32> = (0..3 * 64 * 64)
            .map(|_| rng.next_gaussian() * R1_STEP)
            .collect();
        let nudge = Tensor::from_data(TensorData::new(nudge, [1, 3, 64, 64]), &device);
        let slopes = r1_slopes(&discriminator, x.clone(), logits.clone(), None, nudge);
        total += read_f32_blocking(slopes).unwrap()[0];
    }
    let estimate = total / directions as f32;
    // 300 directions: the mean of a squared Gaussian slope has a relative spread of 8%.
    assert!(
        (estimate / exact - 1.0).abs() < 0.3,
        "estimate {estimate} against the exact {exact}"
    );
}

/// The R1 penalty only adds to the discriminator's loss (the same seed gives the same logits
/// on the first step), a bad weight is refused, and a checkpoint keeps it.
#[test]
fn the_r1_penalty_adds_to_the_discriminator_s_loss_and_resumes() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let config = |gamma: f64| {
        GanTrainConfig::new()
            .with_batch_size(8)
            .with_r1_gamma(Some(gamma))
    };
    let first_step = |gamma: f64| {
        let mut trainer = GanTrainer::new(tiny_gan(), config(gamma), &device).unwrap();
        let losses = pollster::block_on(trainer.step(&batch)).unwrap();
        (trainer, losses)
    };
    let (_, off) = first_step(0.0);
    let (with_r1, on) = first_step(10.0);
    assert!(
        on.discriminator > off.discriminator + 1e-4,
        "{on:?} vs {off:?}"
    );
    assert!(on.generator.is_finite());
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let err = GanTrainer::new(tiny_gan(), config(bad), &device);
        assert!(
            err.is_err_and(|e| e.to_string().contains("R1 penalty")),
            "{bad}"
        );
    }
    let dir = std::env::temp_dir().join(format!("latentpad-r1-{}", std::process::id()));
    with_r1.save_checkpoint(&dir).unwrap();
    let resumed = GanTrainer::load_checkpoint(&dir, &device).unwrap();
    assert_eq!(resumed.config.r1_gamma, Some(10.0));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_auxiliary_classifier_adds_its_loss_and_survives_checkpoints_and_export() {
    let (images, labels, conditions) = red_and_blue_discs();
    let batch: Vec<&Rgb64> = images.iter().collect();
    let model = tiny_gan().conditioned(conditions);
    let device = default_device();
    let config = |weight: f64| {
        GanTrainConfig::new()
            .with_batch_size(16)
            .with_classifier_weight(Some(weight))
    };
    let first_step = |weight: f64| {
        let mut trainer = GanTrainer::new(model.clone(), config(weight), &device).unwrap();
        let losses = pollster::block_on(trainer.step_labelled(&batch, Some(&labels))).unwrap();
        (trainer, losses)
    };
    // The new head starts at zero and predicts every condition alike: its cross-entropy is
    // ln 2 (two categories) + ln 7 (seven tones) on top of the same adversarial loss.
    let (_, plain) = first_step(0.0);
    let (mut trainer, classified) = first_step(0.5);
    let added = classified.discriminator - plain.discriminator;
    assert!(
        (added - 0.5 * (14f32).ln()).abs() < 1e-3,
        "{plain:?} vs {classified:?}"
    );
    // Balanced classes: with red 3/4 of the data and blue 1/4, a blue image's category term
    // counts 1 / (2 x 1/4) = 2 times; on a batch of blue discs alone the loss gains one more
    // 0.5 ln 2.
    let skewed: Vec<(usize, usize)> = (0..16).map(|i| (usize::from(i >= 12), 0)).collect();
    let skewed = Conditions::from_labels(vec!["Red".into(), "Blue".into()], &skewed).unwrap();
    assert_eq!(skewed.category_shares(), [0.75, 0.25]);
    let blue: Vec<&Rgb64> = batch[8..].to_vec();
    let blue_labels = vec![(1, 0); 8];
    let blue_step = |balance: bool| {
        let model = tiny_gan().conditioned(skewed.clone());
        let config = config(0.5)
            .with_batch_size(8)
            .with_balance_classes(Some(balance));
        let mut trainer = GanTrainer::new(model, config, &device).unwrap();
        pollster::block_on(trainer.step_labelled(&blue, Some(&blue_labels))).unwrap()
    };
    let (even, balanced) = (blue_step(false), blue_step(true));
    let added = balanced.discriminator - even.discriminator;
    assert!(
        (added - 0.5 * 2f32.ln()).abs() < 1e-3,
        "{even:?} vs {balanced:?}"
    );
    // Without labels (a person's images) the head is left out of the loss.
    let unlabelled = pollster::block_on(trainer.step(&batch)).unwrap();
    assert!(unlabelled.discriminator.is_finite());
    // A checkpoint keeps the head: the resumed run continues exactly.
    let dir = std::env::temp_dir().join(format!("latentpad-aux-{}", std::process::id()));
    trainer.save_checkpoint(&dir).unwrap();
    let mut resumed = GanTrainer::load_checkpoint(&dir, &device).unwrap();
    // Resumed at another weight (`train --aux-classifier` on a checkpoint), the same step's
    // loss changes by the weight's change times the head's cross-entropy.
    let mut reweighted = GanTrainer::load_checkpoint(&dir, &device).unwrap();
    reweighted.set_classifier_weight(1.5).unwrap();
    let mut unweighted = GanTrainer::load_checkpoint(&dir, &device).unwrap();
    unweighted.set_classifier_weight(0.0).unwrap();
    assert!(unweighted.set_classifier_weight(f64::NAN).is_err());
    let a = pollster::block_on(trainer.step_labelled(&batch, Some(&labels))).unwrap();
    let b = pollster::block_on(resumed.step_labelled(&batch, Some(&labels))).unwrap();
    let heavier = pollster::block_on(reweighted.step_labelled(&batch, Some(&labels))).unwrap();
    let none = pollster::block_on(unweighted.step_labelled(&batch, Some(&labels))).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        (a.discriminator - b.discriminator).abs() < 1e-4,
        "{a:?} vs {b:?}"
    );
    let head = (b.discriminator - none.discriminator) / 0.5;
    assert!(head > 0.0, "{b:?} vs {none:?}");
    assert!(
        (heavier.discriminator - none.discriminator - 1.5 * head).abs() < 1e-3,
        "{none:?}, {b:?}, {heavier:?}"
    );
    // The exported weights record the head; training on from them keeps it.
    let file = trainer.export("tiny-aux").unwrap();
    let reloaded = WeightsFile::parse(&file.to_bytes(), "tiny-aux").unwrap();
    let mut continued = GanTrainer::from_weights(&reloaded, config(0.5), &device).unwrap();
    let c = pollster::block_on(continued.step_labelled(&batch, Some(&labels))).unwrap();
    assert!(
        c.discriminator.is_finite() && c.generator.is_finite(),
        "{c:?}"
    );
    // An unconditional GAN grows the head with its conditions.
    let conditions = model.conditions.clone().unwrap();
    let grown =
        GanTrainer::conditioned_from(&untrained_gan(&device), conditions, config(0.5), &device);
    let mut grown = grown.unwrap();
    pollster::block_on(grown.step_labelled(&batch, Some(&labels))).unwrap();
    let latentpad::model::ModelConfig::Gan(grown) = grown.export("grown").unwrap().config else {
        panic!("not a GAN");
    };
    assert_eq!(grown.discriminator.classifier, Some(true));
    // An unconditional GAN has nothing to classify, nor a run trained without the head.
    let err = GanTrainer::new(tiny_gan(), config(1.0), &device);
    assert!(err.is_err_and(|e| e.to_string().contains("needs a conditional GAN")));
    let mut headless = GanTrainer::new(tiny_gan(), config(0.0), &device).unwrap();
    let err = headless.set_classifier_weight(1.0).unwrap_err();
    assert!(err.to_string().contains("no auxiliary classifier"), "{err}");
    let err = GanTrainer::new(model, config(-1.0), &device);
    assert!(err.is_err_and(|e| e.to_string().contains("at least 0")));
}

#[test]
fn pivotal_tuning_pulls_the_pivots_images_to_the_uploads() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let file = untrained_gan(&device);
    let latents: Vec<f32> = (0..8)
        .flat_map(|i| latentpad::latent::noise(100 + i, 16))
        .collect();
    let targets = latentpad::image::to_tensor(&batch, &device);
    // Mean squared error of the pivots' images after 20 steps, with and without the pull.
    let error_after = |weight: Option<f64>| -> f32 {
        let config = GanTrainConfig::new()
            .with_batch_size(8)
            .with_use_ema(false)
            .with_learning_rate(2e-3);
        let mut trainer = GanTrainer::from_weights(&file, config, &device).unwrap();
        if let Some(weight) = weight {
            trainer
                .set_pivots(Some((latents.clone(), data.clone(), weight)))
                .unwrap();
        }
        for _ in 0..20 {
            pollster::block_on(trainer.step(&batch)).unwrap();
        }
        let drawn = trainer.latent_model().decode(&latents).unwrap();
        read_f32_blocking((drawn - targets.clone()).square().mean()).unwrap()[0]
    };
    let (plain, pivotal) = (error_after(None), error_after(Some(50.0)));
    assert!(pivotal < 0.7 * plain, "pivotal {pivotal} vs plain {plain}");

    let mut trainer = GanTrainer::from_weights(&file, GanTrainConfig::new(), &device).unwrap();
    let wrong = trainer.set_pivots(Some((latents[..20].to_vec(), data.clone(), 1.0)));
    assert!(wrong.is_err_and(|e| e.to_string().contains("one latent of 16 values per image")));
    let wrong = trainer.set_pivots(Some((latents.clone(), data.clone(), -1.0)));
    assert!(wrong.is_err_and(|e| e.to_string().contains("weight")));

    // The recipe and the session: the quick mode's inversion, then pivotal tuning.
    // Its weight is the page's, which grows with the uploads up to 30.
    let recipe: latentpad::fewshot::Recipe = "pivotal".parse().unwrap();
    assert!(recipe.pivot_weight.is_none() && recipe.invert_steps > 0);
    use latentpad::train::finetune::{PIVOT_WEIGHT, default_pivot_weight};
    assert!((default_pivot_weight(10) - PIVOT_WEIGHT / 3.0).abs() < 1e-9);
    assert_eq!(default_pivot_weight(30), PIVOT_WEIGHT);
    assert_eq!(default_pivot_weight(1000), PIVOT_WEIGHT);
    let (_, mut session) = disc_session(&device);
    pollster::block_on(session.run_quick_mode(3)).unwrap();
    for _ in 0..2 {
        let losses = pollster::block_on(session.step()).unwrap();
        assert!(losses.values().iter().all(|v| v.is_finite()));
    }
}

/// The weights of a freshly initialised tiny GAN (seed 1), generator and discriminator.
fn untrained_gan(device: &burn::tensor::Device) -> WeightsFile {
    GanTrainer::new(tiny_gan(), GanTrainConfig::new(), device)
        .unwrap()
        .export("base")
        .unwrap()
}

#[test]
fn freezed_keeps_the_first_discriminator_blocks_fixed() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let file = untrained_gan(&device);
    let config = GanTrainConfig::new()
        .with_batch_size(8)
        .with_freeze_discriminator_layers(2);
    let mut trainer = GanTrainer::from_weights(&file, config, &device).unwrap();
    for _ in 0..3 {
        pollster::block_on(trainer.step(&batch)).unwrap();
    }
    let after =
        latentpad::weights::WeightsFile::parse(&trainer.export("tuned").unwrap().to_bytes(), "t")
            .unwrap();
    assert!(after.meta.fine_tuned);
    assert_eq!(after.meta.steps, 3);
    let d0 = tiny_gan().discriminator.init(&device);
    let before_d = file.load("discriminator", d0.clone()).unwrap();
    let after_d = after.load("discriminator", d0).unwrap();
    let weights = |d: &latentpad::model::Discriminator, i: usize| {
        use burn::module::Module;
        let bytes = latentpad::weights::module_to_bytes(&d.blocks[i]).unwrap();
        let _ = d.num_params();
        bytes
    };
    assert_eq!(
        weights(&before_d, 0),
        weights(&after_d, 0),
        "frozen block 0 changed"
    );
    assert_eq!(
        weights(&before_d, 1),
        weights(&after_d, 1),
        "frozen block 1 changed"
    );
    assert_ne!(
        weights(&before_d, 3),
        weights(&after_d, 3),
        "trained block 3 did not change"
    );
}

#[test]
fn the_discriminator_learning_rate_scale_slows_only_the_discriminator() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let file = untrained_gan(&device);
    let d0 = tiny_gan().discriminator.init(&device);
    let weights = |d: &latentpad::model::Discriminator| -> Vec<f32> {
        let mut params: Vec<_> = floats_by_path(d)
            .into_iter()
            .filter(|(path, _)| path.ends_with("weight"))
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        params
            .into_iter()
            .flat_map(|(_, t)| read_f32_blocking(t).unwrap())
            .collect()
    };
    let before = weights(&file.load("discriminator", d0.clone()).unwrap());
    // How far one step moves the discriminator's weights (summed absolute change).
    let moved = |scale: f64| -> f32 {
        let config = GanTrainConfig::new()
            .with_batch_size(8)
            .with_discriminator_lr_scale(scale);
        let mut trainer = GanTrainer::from_weights(&file, config, &device).unwrap();
        pollster::block_on(trainer.step(&batch)).unwrap();
        let tuned = trainer.export("t").unwrap();
        let after = weights(&tuned.load("discriminator", d0.clone()).unwrap());
        before.iter().zip(&after).map(|(a, b)| (a - b).abs()).sum()
    };
    let (full, slow) = (moved(1.0), moved(0.1));
    assert!(full > 0.0, "the discriminator did not move");
    assert!(
        slow < 0.3 * full,
        "scale 0.1 moved it {slow}, scale 1 moved it {full}"
    );
    for bad in [0.0, -1.0, f64::NAN] {
        let config = GanTrainConfig::new().with_discriminator_lr_scale(bad);
        let refused = GanTrainer::new(tiny_gan(), config, &device);
        assert!(
            refused.is_err_and(|e| e.to_string().contains("learning-rate scale")),
            "scale {bad} was accepted"
        );
    }
}

#[test]
fn class_sampling_is_checked_and_kept_by_checkpoints() {
    let device = default_device();
    for bad in [-0.1, 1.5, f64::NAN] {
        let config = GanTrainConfig::new().with_class_sampling(Some(bad));
        let refused = GanTrainer::new(tiny_gan(), config, &device);
        assert!(
            refused.is_err_and(|e| e.to_string().contains("class sampling")),
            "power {bad} was accepted"
        );
    }
    let config = GanTrainConfig::new().with_class_sampling(Some(0.5));
    let trainer = GanTrainer::new(tiny_gan(), config, &device).unwrap();
    let dir = std::env::temp_dir().join(format!("latentpad-sampling-{}", std::process::id()));
    trainer.save_checkpoint(&dir).unwrap();
    let resumed = Trainer::Gan(GanTrainer::load_checkpoint(&dir, &device).unwrap());
    assert_eq!(resumed.class_sampling(), Some(0.5));
    let plain = GanTrainConfig::new().with_class_sampling(Some(1.0));
    let plain = Trainer::Gan(GanTrainer::new(tiny_gan(), plain, &device).unwrap());
    assert_eq!(plain.class_sampling(), None, "power 1 is the data's mix");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn same_seed_same_initial_model() {
    let device = default_device();
    let a = GanTrainer::new(tiny_gan(), GanTrainConfig::new(), &device).unwrap();
    let b = GanTrainer::new(tiny_gan(), GanTrainConfig::new(), &device).unwrap();
    let c = GanTrainer::new(tiny_gan(), GanTrainConfig::new().with_seed(2), &device).unwrap();
    let bytes = |t: &GanTrainer| t.export("x").unwrap().to_bytes();
    let sa = read_f32_blocking(a.latent_model().sample(2, 0).unwrap()).unwrap();
    let sb = read_f32_blocking(b.latent_model().sample(2, 0).unwrap()).unwrap();
    assert_eq!(sa, sb);
    assert_ne!(bytes(&a), bytes(&c));
}

#[test]
fn seeded_init_zeroes_biases_and_keeps_norm_constants() {
    let device = default_device();
    let d = seeded_init(DiscriminatorConfig::new().with_width(8).init(&device), 3);
    let values: Vec<(String, Vec<f32>)> = floats_by_path(&d)
        .into_iter()
        .map(|(path, t)| (path, read_f32_blocking(t).unwrap()))
        .collect();
    let ending = |suffix: &str| {
        values
            .iter()
            .filter(move |(path, _)| path.rsplit('.').next() == Some(suffix))
            .flat_map(|(_, v)| v.iter().copied())
            .collect::<Vec<f32>>()
    };
    let (biases, weights) = (ending("bias"), ending("weight"));
    assert!(
        !biases.is_empty() && biases.iter().all(|v| *v == 0.0),
        "biases: {biases:?}"
    );
    for (name, constant) in [
        ("gamma", 1.0),
        ("beta", 0.0),
        ("running_mean", 0.0),
        ("running_var", 1.0),
    ] {
        let found = ending(name);
        assert!(!found.is_empty(), "no {name} in the discriminator");
        assert!(found.iter().all(|v| *v == constant), "{name}: {found:?}");
    }
    // DCGAN's N(0, 0.02) on the convolution weights.
    let n = weights.len() as f32;
    let mean = weights.iter().sum::<f32>() / n;
    let std = (weights.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    assert!(
        mean.abs() < 0.002 && (std - 0.02).abs() < 0.002,
        "mean {mean}, std {std}"
    );
}

/// The fine-tuning session the CLI and the browser share: steps move the model, reset brings
/// back the pretrained weights (same previews as before any step), the export is marked
/// fine-tuned with the steps behind it, and no images is an error, not a panic.
/// A fresh tiny GAN's weights and a fine-tuning session of them on [`discs`].
fn disc_session(device: &burn::tensor::Device) -> (WeightsFile, FineTuning) {
    let base = GanTrainer::new(tiny_gan(), GanTrainConfig::new(), device)
        .unwrap()
        .export("tiny")
        .unwrap();
    let session = FineTuning::new(base.clone(), discs(), 4, 2, device).unwrap();
    (base, session)
}

/// A session's 4 preview images of seed 3.
fn preview(session: &FineTuning) -> Vec<f32> {
    read_f32_blocking(session.preview(4, 3).unwrap()).unwrap()
}

#[test]
fn fine_tuning_session_steps_resets_and_exports() {
    let device = default_device();
    let (base, mut session) = disc_session(&device);
    let before = preview(&session);
    for _ in 0..3 {
        let losses = pollster::block_on(session.step()).unwrap();
        assert!(losses.pair().iter().all(|l| l.is_finite()));
    }
    assert_eq!(session.steps(), 3);
    assert_ne!(preview(&session), before, "three steps changed nothing");
    let exported = pollster::block_on(session.export()).unwrap();
    assert!(exported.meta.fine_tuned);
    assert_eq!(exported.meta.name, "tiny-finetuned");
    assert_eq!(exported.meta.steps, base.meta.steps + 3);
    session.reset().unwrap();
    assert_eq!(session.steps(), 0);
    assert_eq!(
        preview(&session),
        before,
        "reset is not the pretrained model"
    );
    let none = FineTuning::new(base, Vec::new(), 4, 2, &device);
    assert!(matches!(none, Err(latentpad::Error::NoImages(_))));
}

/// The benchmark's recipe tweaks: each changes what one step does, they survive a reset, and
/// they are refused once steps were taken or out of range.
#[test]
fn fine_tuning_tweaks_change_the_step_and_only_before_it() {
    use latentpad::train::finetune::Tweaks;
    let device = default_device();
    let one_step = |tweaks: Tweaks| {
        let (_, mut session) = disc_session(&device);
        session.tweak(tweaks).unwrap();
        pollster::block_on(session.step()).unwrap();
        let after = preview(&session);
        session.reset().unwrap();
        pollster::block_on(session.step()).unwrap();
        assert_eq!(preview(&session), after, "{tweaks:?} lost by reset");
        (session, after)
    };
    let (mut session, plain) = one_step(Tweaks::default());
    let (_, no_augment) = one_step(Tweaks {
        augment: false,
        ..Tweaks::default()
    });
    let (_, slower) = one_step(Tweaks {
        learning_rate: Some(1e-5),
        ..Tweaks::default()
    });
    assert_ne!(plain, no_augment);
    assert_ne!(plain, slower);
    let err = session.tweak(Tweaks::default()).unwrap_err();
    assert!(err.to_string().contains("before its first step"), "{err}");
    let (_, mut fresh) = disc_session(&device);
    for bad in [Some(0.0), Some(1.0), Some(f64::NAN)] {
        let tweaks = Tweaks {
            ema_decay: bad,
            ..Tweaks::default()
        };
        assert!(fresh.tweak(tweaks).is_err(), "{bad:?}");
    }
}

#[test]
fn the_quick_mode_moves_samples_to_the_uploads_latents_and_survives_export() {
    let device = default_device();
    let (_, mut session) = disc_session(&device);
    let before = preview(&session);
    // Cancelled half-way: no prior, samples unchanged.
    pollster::block_on(session.start_quick_mode(4)).unwrap();
    assert!(
        pollster::block_on(session.quick_mode_step())
            .unwrap()
            .is_some()
    );
    session.cancel_quick_mode();
    assert_eq!(pollster::block_on(session.quick_mode_step()).unwrap(), None);
    assert_eq!(preview(&session), before);
    // Run to the end: samples now come from near the uploads' latents; weights untouched.
    let error = pollster::block_on(session.run_quick_mode(4)).unwrap();
    assert!(error.is_finite());
    assert_eq!(session.steps(), 0);
    assert_ne!(preview(&session), before, "the prior changed nothing");
    let exported = pollster::block_on(session.export()).unwrap();
    let reloaded = LatentModel::from_weights(
        &WeightsFile::parse(&exported.to_bytes(), "tuned").unwrap(),
        &device,
    )
    .unwrap();
    assert!(reloaded.prior().is_some());
    assert_eq!(
        read_f32_blocking(reloaded.sample(4, 3).unwrap()).unwrap(),
        preview(&session),
        "the exported model samples as the session did"
    );
    session.reset().unwrap();
    assert_eq!(preview(&session), before, "reset keeps the prior");
    // A VAE's quick mode: a_vae_fine_tuning_quick_mode_samples_near_the_uploads.
}

/// A resumed fine-tuning run still knows where its weights came from: its exports stay marked
/// fine-tuned and count the base model's steps.
#[test]
fn a_resumed_fine_tune_keeps_its_provenance() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().take(4).collect();
    let device = default_device();
    let mut base = GanTrainer::new(
        tiny_gan(),
        GanTrainConfig::new().with_batch_size(4),
        &device,
    )
    .unwrap();
    pollster::block_on(base.step(&batch)).unwrap();
    let file = base.export("tiny").unwrap();
    let config = GanTrainConfig::new().with_batch_size(4);
    let mut tuning = GanTrainer::from_weights(&file, config, &device).unwrap();
    pollster::block_on(tuning.step(&batch)).unwrap();
    let dir = std::env::temp_dir().join(format!("latentpad-resume-ft-{}", std::process::id()));
    tuning.save_checkpoint(&dir).unwrap();
    let resumed = GanTrainer::load_checkpoint(&dir, &device).unwrap();
    let meta = resumed.export("tiny-ft").unwrap().meta;
    assert!(meta.fine_tuned);
    assert_eq!(meta.steps, 2, "one base step and one fine-tuning step");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The few-shot benchmark end to end on a tiny GAN and an untrained classifier: a target set
/// cut from a kind, the floor row first, one row per step count with finite scores, the
/// memorisation distances, and the grids written.
#[test]
fn few_shot_benchmark_scores_each_step_count_and_writes_grids() {
    use latentpad::data::{EmojiData, Example};
    use latentpad::fewshot::{self, Bench, SetKind};
    let device = default_device();
    let example = |i: usize, image: Rgb64| Example {
        image,
        name: format!("{i:02}.png"),
        short_name: if i % 4 == 3 {
            "dog".into()
        } else {
            format!("heart_{i}")
        },
        category: 0,
        skin_tone: None,
        has_skin_tones: false,
    };
    let data = EmojiData {
        train: discs()
            .into_iter()
            // A darker copy of each disc: 16 different images.
            .chain(
                discs()
                    .into_iter()
                    .map(|d| Rgb64(d.0.iter().map(|v| v / 2).collect())),
            )
            .enumerate()
            .map(|(i, d)| example(i, d))
            .collect(),
        held_out: Vec::new(),
        categories: vec!["Smileys & Emotion".into()],
    };
    let set = fewshot::target_set(&data, SetKind::Hearts, 4).unwrap();
    assert_eq!(
        (set.name.as_str(), set.uploads.len(), set.held_out.len()),
        ("hearts-4", 4, 8)
    );
    assert!(
        fewshot::target_set(&data, SetKind::Hearts, 10).is_err(),
        "too few left to hold out"
    );
    let base = GanTrainer::new(tiny_gan(), GanTrainConfig::new(), &device)
        .unwrap()
        .export("tiny")
        .unwrap();
    let classifier = seeded_init(ClassifierConfig::new(2).with_width(4).init(&device), 1);
    let grids = std::env::temp_dir().join(format!("latentpad-fewshot-{}", std::process::id()));
    let bench = Bench {
        base: &base,
        classifier: &classifier,
        device: &device,
        grids: Some(&grids),
    };
    let recipe = "freeze-1".parse().unwrap();
    let mut seen = 0;
    let rows = fewshot::run(&bench, &set, &recipe, &[0, 2], |_| seen += 1).unwrap();
    assert_eq!(seen, 4);
    let recipes: Vec<(&str, u64)> = rows.iter().map(|r| (r.recipe.as_str(), r.steps)).collect();
    assert_eq!(
        recipes,
        [
            ("floor", 0),
            ("base model", 0),
            ("freeze-1", 0),
            ("freeze-1", 2)
        ]
    );
    // A GAN has no prior to drop: the base model is the session before its first step.
    assert_eq!(
        rows[1].scores.frechet_distance,
        rows[2].scores.frechet_distance
    );
    for row in &rows {
        assert!(row.scores.frechet_distance.is_finite(), "{row:?}");
        assert!(row.nearest_held_out > 0.0, "{row:?}");
    }
    assert_eq!(
        rows[0].nearest_sample, 0.0,
        "the floor's samples are the uploads"
    );
    assert!(rows[1].nearest_sample > 0.0 && rows[3].seconds > 0.0);
    for name in [
        "hearts-4-uploads.png",
        "hearts-4-freeze-1-0.png",
        "hearts-4-freeze-1-2.png",
    ] {
        assert!(grids.join(name).is_file(), "{name}");
    }
    std::fs::remove_dir_all(grids).unwrap();
}

#[test]
fn inversion_finds_a_latent_that_draws_the_image_and_can_be_cancelled() {
    use latentpad::invert::{InvertConfig, invert};
    use latentpad::model::LatentModel;
    let device = default_device();
    // A briefly trained generator, so that different latents draw different images.
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let config = GanTrainConfig::new()
        .with_batch_size(8)
        .with_learning_rate(1e-3)
        .with_use_ema(false);
    let mut trainer = GanTrainer::new(tiny_gan(), config, &device).unwrap();
    for _ in 0..40 {
        pollster::block_on(trainer.step(&batch)).unwrap();
    }
    let model: LatentModel = trainer.latent_model();
    // Targets the generator can draw exactly: its own images of two other seeds.
    let drawn =
        pollster::block_on(latentpad::image::to_rgba(model.sample(2, 1000).unwrap())).unwrap();
    let targets = latentpad::image::from_rgba(&drawn).unwrap();
    let refs: Vec<&Rgb64> = targets.iter().collect();
    let config = |steps| InvertConfig {
        candidates: 4,
        steps,
        learning_rate: 0.05,
        ..Default::default()
    };
    let start = pollster::block_on(invert(&model, &refs, config(0), |_, _, _| true)).unwrap();
    let found = pollster::block_on(invert(&model, &refs, config(100), |_, _, _| true)).unwrap();
    assert_eq!(found.latents.len(), 2 * model.latent_dim());
    assert!(
        found.mean_error() < 0.5 * start.mean_error(),
        "{} -> {}",
        start.mean_error(),
        found.mean_error()
    );
    let mut calls = 0;
    let cancelled = pollster::block_on(invert(&model, &refs, config(100), |step, _, _| {
        calls += 1;
        step < 3
    }))
    .unwrap();
    assert_eq!(calls, 3);
    assert!(cancelled.errors.iter().all(|e| e.is_finite()));
    assert!(pollster::block_on(invert(&model, &[], config(1), |_, _, _| true)).is_err());
}

#[test]
fn a_perceptual_loss_reaches_the_decoder_and_resumes() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let dir = std::env::temp_dir().join(format!("latentpad-perceptual-{}", std::process::id()));
    let net_dir = dir.join("net");
    ClassifierTrainer::new(ClassifierConfig::new(2).with_width(8), 1e-3, 3, &device)
        .export("tiny-classifier")
        .unwrap()
        .write_dir(&net_dir)
        .unwrap();
    let model = VaeConfig::new(
        EncoderConfig::new().with_latent_dim(16).with_width(8),
        GeneratorConfig::new().with_latent_dim(16).with_width(8),
    );
    let config = VaeTrainConfig::new()
        .with_batch_size(8)
        .with_perceptual_weight(1.0)
        .with_perceptual_net(Some(net_dir.display().to_string()));
    let new = |config: VaeTrainConfig| VaeTrainer::new(model.clone(), config, &device).unwrap();

    // A weight without the network is refused at the first step, not ignored.
    let err = pollster::block_on(new(config.clone()).step(&batch))
        .unwrap_err()
        .to_string();
    assert!(err.contains("classifier to compare in"), "{err}");
    // Something else than a classifier is refused by name.
    let gan = GanTrainer::new(tiny_gan(), GanTrainConfig::new(), &device).unwrap();
    let err = new(config.clone())
        .set_perceptual(&gan.export("gan").unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a classifier"), "{err}");

    let mut with = new(config.clone());
    with.set_perceptual(&WeightsFile::read(&net_dir).unwrap())
        .unwrap();
    let mut without = new(config.with_perceptual_weight(0.0));
    let a = pollster::block_on(with.step(&batch)).unwrap();
    let b = pollster::block_on(without.step(&batch)).unwrap();
    assert!(a.perceptual > 0.0 && a.total > b.total, "{a:?} vs {b:?}");
    assert_eq!(b.perceptual, 0.0);
    // Same start, same noise: only the perceptual term's gradient tells the two apart.
    let samples = |t: &VaeTrainer| read_f32_blocking(t.latent_model().sample(2, 0).unwrap());
    assert!(samples(&with).unwrap() != samples(&without).unwrap());

    // A resumed run reads the network again from its folder and takes the same next step.
    with.save_checkpoint(&dir.join("ck")).unwrap();
    let mut resumed = VaeTrainer::load_checkpoint(&dir.join("ck"), &device).unwrap();
    let a = pollster::block_on(with.step(&batch)).unwrap();
    let b = pollster::block_on(resumed.step(&batch)).unwrap();
    assert!(b.perceptual > 0.0, "{b:?}");
    assert!(
        (a.total - b.total).abs() <= 1e-3 * a.total.abs(),
        "{a:?} vs {b:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A tiny VAE (latent 16, width 8) after `steps` steps on `images`, exported.
fn tiny_vae_trained(images: &[&Rgb64], steps: usize, device: &burn::tensor::Device) -> WeightsFile {
    let model = VaeConfig::new(
        EncoderConfig::new().with_latent_dim(16).with_width(8),
        GeneratorConfig::new().with_latent_dim(16).with_width(8),
    );
    let mut trainer =
        VaeTrainer::new(model, VaeTrainConfig::new().with_batch_size(8), device).unwrap();
    for _ in 0..steps {
        pollster::block_on(trainer.step(images)).unwrap();
    }
    trainer.export("vae").unwrap()
}

#[test]
fn finding_images_in_a_vae_refines_its_encoders_latents_at_most_fifty_steps() {
    use latentpad::invert::{InvertConfig, VAE_REFINE_STEPS, encode_and_decode, find};
    let data = discs();
    let images: Vec<&Rgb64> = data.iter().take(3).collect();
    let device = default_device();
    let model = LatentModel::from_weights(&tiny_vae_trained(&images, 3, &device), &device).unwrap();
    let config = |steps| InvertConfig {
        steps,
        ..Default::default()
    };
    let encoded = pollster::block_on(encode_and_decode(&model, &images)).unwrap();
    let none = pollster::block_on(find(&model, &images, config(0), |_, _, _| true)).unwrap();
    assert_eq!(
        none.latents, encoded.latents,
        "0 steps: the encoder's latents"
    );
    let mut told = Vec::new();
    let found = pollster::block_on(find(&model, &images, config(500), |step, steps, _| {
        told.push((step, steps));
        true
    }))
    .unwrap();
    assert_eq!(told.len(), VAE_REFINE_STEPS);
    assert_eq!(told.last(), Some(&(VAE_REFINE_STEPS, VAE_REFINE_STEPS)));
    assert!(
        found.mean_error() < encoded.mean_error(),
        "{} vs {}",
        found.mean_error(),
        encoded.mean_error()
    );
    // Cancelled after two steps: the latents found so far.
    let cancelled =
        pollster::block_on(find(&model, &images, config(10), |step, _, _| step < 2)).unwrap();
    assert!(cancelled.latents != encoded.latents && cancelled.latents != found.latents);
}

#[test]
fn a_frozen_encoder_keeps_its_latents_and_prior_while_feature_matching_trains_the_decoder() {
    let data = discs();
    let images: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let mut file = tiny_vae_trained(&images, 3, &device);
    let plain = LatentModel::from_weights(&file, &device).unwrap();
    let labels = [(0, 0); 8];
    let prior = pollster::block_on(plain.fit_prior(&images, &labels, 4, 0.5, false, 7)).unwrap();
    // A prior's draw is its centre moved by the seed's noise: at spread 0, the centre.
    let mut still = prior.clone();
    still.spread = 0.0;
    assert!(
        prior
            .centres
            .chunks(16)
            .any(|c| c == still.draw(3).as_slice())
    );
    assert_eq!(prior.draw(3), prior.draw(3));
    assert!(prior.draw(3) != still.draw(3));
    let latentpad::model::ModelConfig::Vae(config) = &mut file.config else {
        unreachable!("a VAE was exported")
    };
    config.prior = Some(prior.clone());

    let config = VaeTrainConfig::new()
        .with_batch_size(8)
        .with_adversary(Some(DiscriminatorConfig::new().with_width(8)))
        .with_adversarial_weight(10.0)
        .with_freeze_encoder(Some(true))
        .with_feature_matching_weight(Some(1.0));
    let new = |config: VaeTrainConfig| VaeTrainer::from_weights(&file, config, &device).unwrap();
    let encode = |t: &VaeTrainer| pollster::block_on(t.latent_model().encode(&images)).unwrap();
    let before = encode(&new(config.clone()));
    let mut frozen = new(config.clone());
    let mut without_fm = new(config.clone().with_feature_matching_weight(Some(0.0)));
    let a = pollster::block_on(frozen.step(&images)).unwrap();
    let b = pollster::block_on(without_fm.step(&images)).unwrap();
    assert!(a.feature_matching > 0.0 && a.adversarial > 0.0, "{a:?}");
    assert_eq!(b.feature_matching, 0.0);
    assert!(a.total > b.total, "{a:?} vs {b:?}");
    // The detail loss: the high frequencies' error, weighted into the total.
    let mut detailed = new(config.clone().with_detail_weight(Some(5.0)));
    let d = pollster::block_on(detailed.step(&images)).unwrap();
    assert!(d.detail > 0.0 && a.detail == 0.0, "{a:?} vs {d:?}");
    assert!(d.detail < d.reconstruction, "{d:?}");
    let added = d.total - a.total;
    assert!(
        (added - 5.0 * d.detail).abs() < 1e-3 * d.total,
        "{a:?} vs {d:?}"
    );
    let err = VaeTrainer::from_weights(
        &file,
        config.clone().with_detail_weight(Some(-1.0)),
        &device,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("detail weight"), "{err}");
    // The adversary can start as a GAN's discriminator (another network: another verdict).
    let gan = GanTrainer::new(tiny_gan(), GanTrainConfig::new(), &device)
        .unwrap()
        .export("gan")
        .unwrap();
    let mut from_gan = new(config.clone()).with_adversary_from(&gan).unwrap();
    let c = pollster::block_on(from_gan.step(&images)).unwrap();
    assert!(
        c.feature_matching > 0.0 && c.adversarial != a.adversarial,
        "{a:?} vs {c:?}"
    );
    let err = new(config.clone())
        .with_adversary_from(&file)
        .err()
        .unwrap();
    assert!(err.to_string().contains("unconditional gan"), "{err}");
    pollster::block_on(frozen.step(&images)).unwrap();
    // The encoder is as it came; the decoder moved; the prior travels on.
    assert_eq!(encode(&frozen), before);
    let samples = |t: &VaeTrainer| read_f32_blocking(t.latent_model().sample(2, 0).unwrap());
    assert!(samples(&frozen).unwrap() != samples(&new(config.clone())).unwrap());
    assert_eq!(frozen.latent_model().prior(), Some(&prior));
    // Without the freeze the encoder trains too.
    let mut moving = new(config.clone().with_freeze_encoder(None));
    pollster::block_on(moving.step(&images)).unwrap();
    assert!(encode(&moving) != before);

    // A resumed run stays frozen and takes the same next step.
    let dir = std::env::temp_dir().join(format!("latentpad-frozen-{}", std::process::id()));
    frozen.save_checkpoint(&dir).unwrap();
    let mut resumed = VaeTrainer::load_checkpoint(&dir, &device).unwrap();
    let a = pollster::block_on(frozen.step(&images)).unwrap();
    let b = pollster::block_on(resumed.step(&images)).unwrap();
    assert!(
        (a.total - b.total).abs() <= 1e-3 * a.total.abs(),
        "{a:?} vs {b:?}"
    );
    assert_eq!(encode(&resumed), before);
    std::fs::remove_dir_all(dir).unwrap();

    // Feature matching needs an adversary and a weight of at least 0.
    let err = VaeTrainer::from_weights(
        &file,
        config
            .clone()
            .with_adversary(None)
            .with_adversarial_weight(0.0),
        &device,
    );
    assert!(err.is_err_and(|e| e.to_string().contains("needs an adversary")));
    let err = VaeTrainer::from_weights(
        &file,
        config.with_feature_matching_weight(Some(-1.0)),
        &device,
    );
    assert!(err.is_err_and(|e| e.to_string().contains("feature matching weight")));
}

/// The decoder's moving average: at decay 0 it is the decoder itself; above, what samples and
/// is exported lags the decoder; a checkpoint keeps it, and one saved without it starts it from
/// the decoder; a decay outside [0, 1) is refused.
#[test]
fn a_vae_decoders_moving_average_samples_and_survives_a_checkpoint() {
    let data = discs();
    let images: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let file = tiny_vae_trained(&images, 3, &device);
    let config = VaeTrainConfig::new()
        .with_batch_size(8)
        .with_adversary(Some(DiscriminatorConfig::new().with_width(8)))
        .with_adversarial_weight(10.0)
        .with_freeze_encoder(Some(true));
    let new = |config: VaeTrainConfig| VaeTrainer::from_weights(&file, config, &device).unwrap();
    let samples =
        |t: &VaeTrainer| read_f32_blocking(t.latent_model().sample(2, 0).unwrap()).unwrap();
    let start = samples(&new(config.clone()));
    let mut plain = new(config.clone());
    let mut copy = new(config.clone().with_decoder_ema(Some(0.0)));
    let mut average = new(config.clone().with_decoder_ema(Some(0.9)));
    for _ in 0..2 {
        for t in [&mut plain, &mut copy, &mut average] {
            pollster::block_on(t.step(&images)).unwrap();
        }
    }
    let distance = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>();
    // Two runs of the same steps agree to float rounding (threads sum in their own order).
    let trained = samples(&plain);
    let moved = distance(&trained, &start);
    assert!(moved > 0.0);
    let near = |a: &[f32], b: &[f32]| distance(a, b) < 1e-2 * moved;
    assert!(
        near(&samples(&copy), &trained),
        "{} of {moved}",
        distance(&samples(&copy), &trained)
    );
    // Two steps at 0.9 keep 81% of the starting decoder: nearer the start than the decoder is.
    let lagging = samples(&average);
    assert!(
        distance(&lagging, &start) < 0.5 * moved,
        "{} of {moved}",
        distance(&lagging, &start)
    );
    // Exported in half precision: the average, not the decoder.
    let exported = LatentModel::from_weights(&average.export("avg").unwrap(), &device).unwrap();
    let exported = read_f32_blocking(exported.sample(2, 0).unwrap()).unwrap();
    assert!(
        near(&exported, &lagging),
        "{} of {moved}",
        distance(&exported, &lagging)
    );

    // Saved and resumed: the average comes back, not the decoder.
    let dir = std::env::temp_dir().join(format!("latentpad-ema-{}", std::process::id()));
    average.save_checkpoint(&dir).unwrap();
    let resumed = VaeTrainer::load_checkpoint(&dir, &device).unwrap();
    assert!(near(&samples(&resumed), &lagging));
    // A checkpoint saved without one, resumed with one asked for: it starts as the decoder.
    let plain_dir = dir.with_extension("plain");
    plain.save_checkpoint(&plain_dir).unwrap();
    let state = plain_dir.join("state.json");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    saved["config"]["decoder_ema"] = serde_json::json!(0.99);
    std::fs::write(&state, serde_json::to_vec(&saved).unwrap()).unwrap();
    let started = VaeTrainer::load_checkpoint(&plain_dir, &device).unwrap();
    assert!(near(&samples(&started), &trained));
    // Or with `retune`, as the CLI's flags do on a resumed run; a bad value changes nothing.
    let mut retuned = VaeTrainer::load_checkpoint(&plain_dir, &device).unwrap();
    let err = retuned
        .retune(Some(-1.0), None, Some(0.5))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("detail weight"), "{err}");
    assert_eq!(retuned.config.decoder_ema, Some(0.99));
    retuned.retune(Some(4.0), Some(0.5), Some(0.9)).unwrap();
    let c = &retuned.config;
    assert_eq!(
        (c.detail_weight, c.decoder_lr_scale, c.decoder_ema),
        (Some(4.0), 0.5, Some(0.9))
    );
    assert!(near(&samples(&retuned), &trained));
    // A weight of 0 switches the detail loss off again; the rest stays as set.
    retuned.retune(Some(0.0), None, None).unwrap();
    let c = &retuned.config;
    assert_eq!(
        (c.detail_weight, c.decoder_lr_scale, c.decoder_ema),
        (None, 0.5, Some(0.9))
    );
    let mut unaveraged = plain;
    unaveraged.retune(None, None, Some(0.9)).unwrap();
    assert!(near(&samples(&unaveraged), &trained));
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(plain_dir).unwrap();

    for decay in [1.0, -0.1, f64::NAN] {
        let err =
            VaeTrainer::from_weights(&file, config.clone().with_decoder_ema(Some(decay)), &device)
                .err()
                .unwrap()
                .to_string();
        assert!(err.contains("EMA decay"), "{err}");
    }
}

#[test]
fn a_vae_prior_keeps_the_mix_and_samples_near_its_images() {
    let data = discs();
    let images: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let mut file = tiny_vae_trained(&images, 5, &device);
    let plain = LatentModel::from_weights(&file, &device).unwrap();
    // Six of one label, two of another: four centres keep three of the first and one of
    // the second.
    let labels = [0, 0, 1, 0, 0, 0, 1, 0].map(|c| (c, 0));
    let prior = pollster::block_on(plain.fit_prior(&images, &labels, 4, 0.0, false, 7)).unwrap();
    assert_eq!(prior.centres.len(), 4 * 16);
    let picked = latentpad::model::LatentPrior::stratified(&labels, 4, 7);
    let ones = picked.iter().filter(|&&i| labels[i].0 == 1).count();
    assert_eq!((picked.len(), ones), (4, 1), "{picked:?}");
    // The centres are the picked images' posterior means (to 3 decimals).
    let picked_images: Vec<&Rgb64> = picked.iter().map(|&i| images[i]).collect();
    let means = pollster::block_on(plain.encode(&picked_images)).unwrap();
    for (c, m) in prior.centres.iter().zip(&means) {
        assert!((c - m).abs() <= 6e-4, "{c} vs {m}");
    }
    let latentpad::model::ModelConfig::Vae(config) = &mut file.config else {
        unreachable!("a VAE was exported")
    };
    config.prior = Some(prior);
    let names = vec![
        "Smileys & Emotion".to_string(),
        "Animals & Nature".to_string(),
    ];
    config.conditions = Some(Conditions::from_labels(names, &labels).unwrap());
    // Spread 0: every sample is the decoder's image of one of the centres.
    let fitted = LatentModel::from_weights(&file, &device).unwrap();
    let z = fitted.latent(11, Default::default()).unwrap();
    assert!(
        prior_centres(&file).chunks(16).any(|c| c == z.as_slice()),
        "the latent is not a centre"
    );
    // Steered: only the one centre of an animal, whatever the seed.
    let animals = fitted.steering(Some("animals"), None).unwrap();
    let animal = picked.iter().position(|&i| labels[i].0 == 1).unwrap();
    for seed in [1, 2, 3] {
        assert_eq!(
            fitted.latent(seed, animals).unwrap(),
            prior_centres(&file)[animal * 16..(animal + 1) * 16]
        );
    }
    let err = fitted.steering(None, Some("dark")).unwrap_err().to_string();
    assert!(err.contains("no emoji with skin tones"), "{err}");
    let sample = |m: &LatentModel| read_f32_blocking(m.sample(3, 5).unwrap()).unwrap();
    assert_eq!(sample(&fitted), sample(&fitted), "same seed, same image");
    assert!(sample(&fitted) != sample(&plain));
    // The prior travels in the weights; one that does not fit the decoder is refused.
    let bytes = file.to_bytes();
    let back = WeightsFile::parse(&bytes, "vae.lpw").unwrap();
    assert_eq!(
        sample(&LatentModel::from_weights(&back, &device).unwrap()),
        sample(&fitted)
    );
    let latentpad::model::ModelConfig::Vae(config) = &mut file.config else {
        unreachable!("a VAE was exported")
    };
    config.prior.as_mut().unwrap().labels = Some(vec![0, 1]);
    let err = LatentModel::from_weights(&file, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not fit its decoder"), "labels: {err}");
    let latentpad::model::ModelConfig::Vae(config) = &mut file.config else {
        unreachable!("a VAE was exported")
    };
    config.prior = LatentModel::from_weights(&back, &device)
        .unwrap()
        .prior()
        .cloned();
    config.prior.as_mut().unwrap().latent_dim = 8;
    let err = LatentModel::from_weights(&file, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not fit its decoder"), "{err}");
    // Fine-tuning starts from the standard Gaussian again.
    let tuned = Trainer::fine_tune(&back, 4, 0, &device)
        .unwrap()
        .latent_model();
    assert!(tuned.prior().is_none() && tuned.conditions().is_none());
}

fn prior_centres(file: &WeightsFile) -> Vec<f32> {
    match &file.config {
        latentpad::model::ModelConfig::Vae(c) => c.prior.as_ref().unwrap().centres.clone(),
        _ => Vec::new(),
    }
}

#[test]
fn a_prior_s_tone_weights_give_a_tone_more_centres_and_it_marks_mixed_tones() {
    let data = discs();
    let images: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let file = tiny_vae_trained(&images, 1, &device);
    let model = LatentModel::from_weights(&file, &device).unwrap();
    // Half the images people in yellow (tone 1), half in light (tone 2).
    let labels: Vec<(usize, usize)> = (0..8).map(|i| (0, 1 + i % 2)).collect();
    let tones = |prior: &latentpad::model::LatentPrior| {
        (0..4)
            .map(|i| prior.label_at(i).unwrap().1)
            .filter(|&t| t == 1)
            .count()
    };
    let fit_marked = |weights: &[f64], mixed: &[bool]| {
        pollster::block_on(
            model.fit_prior_weighted(&images, &labels, 4, 0.5, false, 7, weights, mixed),
        )
    };
    let fit = |weights: &[f64]| fit_marked(weights, &[]);
    let even = fit(&[1.0; 7]).unwrap();
    assert_eq!(tones(&even), 2, "the data's mix");
    let plain = pollster::block_on(model.fit_prior(&images, &labels, 4, 0.5, false, 7)).unwrap();
    assert_eq!(plain.centres, even.centres);
    let yellow = fit(&[1.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0]).unwrap();
    assert_eq!(tones(&yellow), 3, "yellow weighted 3 : 1");
    for bad in [
        &[1.0; 6][..],
        &[1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        &[f64::NAN; 7],
    ] {
        let err = fit(bad).unwrap_err().to_string();
        assert!(err.contains("non-negative tone weights"), "{err}");
    }
    // The light images marked as of mixed tones: exactly the light centres are marked.
    let light_mixed: Vec<bool> = labels.iter().map(|l| l.1 == 2).collect();
    let marked = fit_marked(&[1.0; 7], &light_mixed).unwrap();
    assert_eq!(marked.centres, even.centres);
    assert_eq!(
        marked.mixed_tones.as_ref().map(Vec::len),
        Some(2),
        "the two light centres"
    );
    for k in 0..4 {
        assert_eq!(
            marked.is_mixed(k),
            marked.label_at(k).unwrap().1 == 2,
            "centre {k}"
        );
    }
    assert_eq!(even.mixed_tones, None, "none marked");
    let short = fit_marked(&[1.0; 7], &light_mixed[..3])
        .unwrap_err()
        .to_string();
    assert!(short.contains("marks of mixed skin tones"), "{short}");
}

#[test]
fn a_gan_prior_is_found_by_inversion_with_each_image_s_own_condition() {
    let (images, labels, conditions) = red_and_blue_discs();
    let images: Vec<&Rgb64> = images.iter().collect();
    let device = default_device();
    let trainer = GanTrainer::new(
        tiny_gan().conditioned(conditions),
        GanTrainConfig::new(),
        &device,
    )
    .unwrap();
    let mut file = trainer.export("tiny-conditional").unwrap();
    let model = LatentModel::from_weights(&file, &device).unwrap();
    let prior = pollster::block_on(model.fit_prior(&images, &labels, 4, 0.0, false, 3)).unwrap();
    let (k, d) = (model.noise_dim(), model.latent_dim());
    assert_eq!(prior.centres.len(), 4 * d);
    assert!(prior.shrink, "a GAN's centres stay on the shell");
    // The code part of each centre is its image's condition, held through the descent.
    let conditions = model.conditions().unwrap().clone();
    for i in 0..4 {
        let (c, t) = prior.label_at(i).unwrap();
        let code: Vec<f32> = prior.centre_at(i)[k..].to_vec();
        assert_eq!(code, conditions.code(c, t), "centre {i}");
    }
    let latentpad::model::ModelConfig::Gan(config) = &mut file.config else {
        unreachable!("a GAN was exported")
    };
    config.prior = Some(prior.clone());
    let fitted = LatentModel::from_weights(&file, &device).unwrap();
    // Steered, a sample starts from a centre of the condition asked for, with its code.
    let blue = fitted.steering(Some("blue"), None).unwrap();
    for seed in 0..4 {
        let z = fitted.latent(seed, blue).unwrap();
        let centre = (0..4)
            .map(|i| prior.centre_at(i))
            .find(|c| c[..k] == z[..k])
            .expect("spread 0: the latent is a centre");
        assert_eq!(z[k..], centre[k..]);
        assert_eq!(conditions.decode_code(&z[k..]).0, 1, "a blue centre");
    }
    // A GAN that already has a prior is not fitted again.
    let err = pollster::block_on(fitted.fit_prior(&images, &labels, 4, 0.0, false, 3))
        .unwrap_err()
        .to_string();
    assert!(err.contains("without one"), "{err}");
}

#[test]
fn a_vae_fine_tuning_quick_mode_samples_near_the_uploads() {
    let data = discs();
    let device = default_device();
    let model = VaeConfig::new(
        EncoderConfig::new().with_latent_dim(16).with_width(8),
        GeneratorConfig::new().with_latent_dim(16).with_width(8),
    );
    let file = VaeTrainer::new(model, VaeTrainConfig::new().with_batch_size(4), &device)
        .unwrap()
        .export("tiny-vae")
        .unwrap();
    let mut session = FineTuning::new(file, data.clone(), 4, 0, &device).unwrap();
    assert!(session.latent_model().prior().is_none());
    // In place at once (no inversion steps): one centre per upload, the uploads' means.
    pollster::block_on(session.start_quick_mode(50)).unwrap();
    assert_eq!(pollster::block_on(session.quick_mode_step()).unwrap(), None);
    let images: Vec<&Rgb64> = data.iter().collect();
    let model = session.latent_model();
    let prior = model.prior().expect("the quick mode set a prior").clone();
    assert_eq!(
        prior.centres,
        pollster::block_on(model.encode(&images)).unwrap()
    );
    assert!(!prior.shrink && prior.labels.is_none());
    // It follows the encoder as it trains, and goes with a reset.
    pollster::block_on(session.step()).unwrap();
    let after = session.latent_model().prior().unwrap().centres.clone();
    assert_ne!(after, prior.centres);
    let exported = pollster::block_on(session.export()).unwrap();
    assert!(
        LatentModel::from_weights(&exported, &device)
            .unwrap()
            .prior()
            .is_some()
    );
    session.reset().unwrap();
    assert!(session.latent_model().prior().is_none());
    assert_eq!(prior.spread, 1.0, "the default spread");

    // The quick mode's prior of a session on `file`, with a recipe's spread and principal
    // directions when given.
    let quick_prior = |file: &WeightsFile, spread: Option<f32>, principal: Option<usize>| {
        let mut session = FineTuning::new(file.clone(), data.clone(), 4, 0, &device).unwrap();
        if let Some(s) = spread {
            session.set_prior_spread(s);
        }
        if let Some(k) = principal {
            session.set_prior_principal(k);
        }
        pollster::block_on(session.start_quick_mode(50)).unwrap();
        pollster::block_on(session.quick_mode_step()).unwrap();
        session.latent_model().prior().unwrap().clone()
    };

    // A model that names its own quick-mode spread gets it; a recipe's still wins.
    let mut file = exported.clone();
    if let latentpad::model::ModelConfig::Vae(c) = &mut file.config {
        c.finetune_spread = Some(0.5);
    }
    let quick_spread = |set: Option<f32>| quick_prior(&file, set, None).spread;
    assert_eq!(quick_spread(None), 0.5);
    assert_eq!(quick_spread(Some(0.8)), 0.8);

    // A model whose prior steps in principal directions gives its quick mode as many of the
    // uploads' own (at most one fewer than the uploads); `+pc=0` turns them off.
    let mut principal = file.clone();
    if let latentpad::model::ModelConfig::Vae(c) = &mut principal.config {
        c.prior = Some(prior.clone().with_principal_noise(3).unwrap());
    }
    let directions = |k: Option<usize>| {
        let prior = quick_prior(&principal, None, k);
        prior.noise_basis.map(|b| b.len() / prior.latent_dim)
    };
    assert_eq!(directions(None), Some(3));
    assert_eq!(directions(Some(0)), None);
    assert_eq!(directions(Some(20)), Some(data.len() - 1));
    if let latentpad::model::ModelConfig::Vae(c) = &mut file.config {
        c.finetune_spread = Some(1.5);
    }
    let err = LatentModel::from_weights(&file, &device).unwrap_err();
    assert!(err.to_string().contains("fine-tuning spread"), "{err}");
}

/// Standing statistics: a new GAN's batch norms still hold their initial statistics (mean 0,
/// variance 1), so its sampling images (running statistics) are far from what the same
/// network draws with each batch's own statistics. Recalibration closes that gap without
/// touching a weight; batches too small for statistics are refused.
#[test]
fn recalibration_measures_the_batch_norms_on_sampling_latents_and_changes_no_weight() {
    use burn::module::Module;
    use latentpad::recalibrate::{Recalibration, recalibrate};
    let device = default_device();
    let file = GanTrainer::new(tiny_gan(), GanTrainConfig::new(), &device)
        .unwrap()
        .export("gan")
        .unwrap();
    let how = Recalibration {
        batches: 40,
        batch_size: 16,
        first_seed: 0,
    };
    let recalibrated = recalibrate(&file, how, &device).unwrap();
    let config: GeneratorConfig = tiny_gan().generator;
    let network = |f: &WeightsFile| -> latentpad::model::Generator {
        f.load("generator", config.init(&device)).unwrap()
    };
    let (before, after) = (network(&file), network(&recalibrated));
    let (mut stats_moved, mut others_kept) = (0, 0);
    let after_values = floats_by_path(&after);
    for (path, value) in floats_by_path(&before) {
        let (a, b) = (
            read_f32_blocking(value).unwrap(),
            read_f32_blocking(after_values[&path].clone()).unwrap(),
        );
        if path.contains("running") {
            stats_moved += usize::from(a != b);
        } else {
            assert_eq!(a, b, "{path} changed");
            others_kept += 1;
        }
    }
    assert!(
        stats_moved >= 8 && others_kept > 0,
        "{stats_moved} {others_kept}"
    );

    // Latents the recalibration did not see: each network's sampling images against the
    // same network with the batch's statistics (training mode, no gradients).
    let model = LatentModel::from_weights(&file, &device).unwrap();
    let z: Vec<f32> = (0..64u64)
        .flat_map(|s| model.latent(10_000 + s, Default::default()).unwrap())
        .collect();
    let gap = |f: &WeightsFile| {
        let sampled = read_f32_blocking(
            LatentModel::from_weights(f, &device)
                .unwrap()
                .decode(&z)
                .unwrap(),
        )
        .unwrap();
        let training = device.clone().autodiff();
        let batch = f
            .load("generator", config.init(&training))
            .unwrap()
            .no_grad()
            .forward(burn::tensor::Tensor::from_data(
                burn::tensor::TensorData::new(z.clone(), [64, model.latent_dim()]),
                &training,
            ));
        let batch = read_f32_blocking(batch).unwrap();
        sampled
            .iter()
            .zip(&batch)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / batch.len() as f32
    };
    let (gap_before, gap_after) = (gap(&file), gap(&recalibrated));
    assert!(
        gap_after < 0.1 * gap_before,
        "sampling vs batch statistics: {gap_before} before, {gap_after} after"
    );

    for bad in [
        Recalibration { batches: 0, ..how },
        Recalibration {
            batch_size: 1,
            ..how
        },
    ] {
        let err = recalibrate(&file, bad, &device).unwrap_err();
        assert!(err.to_string().contains("batch"), "{err}");
    }
}

/// Checkpoint averaging: the generator of the result is the mean of the files' generators,
/// parameter by parameter; the rest (the discriminator) is the last file's; no file, or
/// files of two architectures, are refused by name.
#[test]
fn averaging_checkpoints_means_the_generators_and_keeps_the_last_discriminator() {
    use latentpad::recalibrate::average;
    let device = default_device();
    let export = |seed: u64| {
        GanTrainer::new(tiny_gan(), GanTrainConfig::new().with_seed(seed), &device)
            .unwrap()
            .export("gan")
            .unwrap()
    };
    let (a, b) = (export(1), export(2));
    let averaged = average(&[a.clone(), b.clone()], &device).unwrap();
    let config: GeneratorConfig = tiny_gan().generator;
    let weights = |f: &WeightsFile| {
        let network: latentpad::model::Generator =
            f.load("generator", config.init(&device)).unwrap();
        floats_by_path(&network)
            .into_iter()
            .map(|(path, v)| (path, read_f32_blocking(v).unwrap()))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let (wa, wb, mean) = (weights(&a), weights(&b), weights(&averaged));
    let mut differing = 0;
    for (path, m) in &mean {
        for ((x, y), m) in wa[path].iter().zip(&wb[path]).zip(m) {
            differing += usize::from(x != y);
            // Stored in half precision: a few thousandths of the value.
            let want = (x + y) / 2.0;
            assert!(
                (m - want).abs() <= 2e-3 * want.abs().max(1.0),
                "{path}: {m} vs {want}"
            );
        }
    }
    assert!(
        differing > 100,
        "the two seeds gave near the same weights ({differing})"
    );
    let discriminator = |f: &WeightsFile| {
        let network: latentpad::model::Discriminator = f
            .load("discriminator", tiny_gan().discriminator.init(&device))
            .unwrap();
        floats_by_path(&network)
            .into_iter()
            .map(|(path, v)| (path, read_f32_blocking(v).unwrap()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(discriminator(&averaged), discriminator(&b));

    let err = average(&[], &device).unwrap_err();
    assert!(err.to_string().contains("at least one"), "{err}");
    let mut wider = tiny_gan();
    wider.generator.width *= 2;
    let other = GanTrainer::new(wider, GanTrainConfig::new(), &device)
        .unwrap()
        .export("gan")
        .unwrap();
    let err = average(&[a, other], &device).unwrap_err();
    assert!(err.to_string().contains("weights are for"), "{err}");
}

/// Widening a trained conditional generator: the wider one draws the same images (sampling
/// mode, and one batch in training mode), has the new width's shapes, and training it moves
/// the new channels' outgoing weights off zero; a width that is not wider is refused.
#[test]
fn a_widened_generator_draws_what_it_drew_and_trains_its_new_channels() {
    use latentpad::widen::widen;
    let (images, labels, conditions) = red_and_blue_discs();
    let batch: Vec<&Rgb64> = images.iter().collect();
    let device = default_device();
    let config = GanTrainConfig::new()
        .with_batch_size(16)
        .with_learning_rate(1e-3)
        .with_ema_decay(0.9);
    let mut trainer =
        GanTrainer::new(tiny_gan().conditioned(conditions), config.clone(), &device).unwrap();
    for _ in 0..5 {
        pollster::block_on(trainer.step_labelled(&batch, Some(&labels))).unwrap();
    }
    let narrow = trainer.export("narrow").unwrap();
    let wide = widen(&narrow, 12, 7, &device).unwrap();
    let generator_config = |f: &WeightsFile| match &f.config {
        latentpad::model::ModelConfig::Gan(c) => c.generator.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(generator_config(&wide).width, 12);
    let wide = WeightsFile::parse(&wide.to_bytes(), "wide.lpw").unwrap();

    let samples = |f: &WeightsFile, steering: Option<&str>| {
        let model = LatentModel::from_weights(f, &device).unwrap();
        let steering = model.steering(steering, None).unwrap();
        read_f32_blocking(model.sample_steered(8, 3, steering).unwrap()).unwrap()
    };
    for steering in [None, Some("red"), Some("blue")] {
        let (before, after) = (samples(&narrow, steering), samples(&wide, steering));
        let worst = before
            .iter()
            .zip(&after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{steering:?}: the images moved by {worst}");
    }
    // Training mode (batch statistics): the same batch through both generators.
    let train_forward = |f: &WeightsFile| {
        let config = generator_config(f);
        let network: latentpad::model::Generator = f
            .load("generator", config.init(&device.clone().autodiff()))
            .unwrap();
        let inputs = config.latent_dim + config.condition_dim.unwrap_or(0);
        let z = burn::prelude::Tensor::<2>::random(
            [8, inputs],
            burn::tensor::Distribution::Default,
            &device.clone().autodiff(),
        );
        (network, z)
    };
    let (narrow_g, z) = train_forward(&narrow);
    let (wide_g, _) = train_forward(&wide);
    let before = read_f32_blocking(narrow_g.forward(z.clone())).unwrap();
    let after = read_f32_blocking(wide_g.forward(z)).unwrap();
    let worst = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "in training mode the images moved by {worst}");

    // The last layer's weights from the new channels (8..12 of its input) start at zero and
    // are trained.
    let to_rgb_from_new = |f: &WeightsFile| {
        let config = generator_config(f);
        let network: latentpad::model::Generator =
            f.load("generator", config.init(&device)).unwrap();
        let weight = floats_by_path(&network).remove("to_rgb.weight").unwrap();
        let weight = read_f32_blocking(weight).unwrap(); // [12, 3, 4, 4]
        weight[8 * 3 * 16..].iter().map(|w| w.abs()).sum::<f32>()
    };
    assert_eq!(to_rgb_from_new(&wide), 0.0);
    let mut trainer = GanTrainer::from_weights(&wide, config, &device).unwrap();
    for _ in 0..3 {
        pollster::block_on(trainer.step_labelled(&batch, Some(&labels))).unwrap();
    }
    let trained = trainer.export("wide").unwrap();
    assert!(
        to_rgb_from_new(&trained) > 0.0,
        "the new channels were not trained"
    );

    for width in [8, 4] {
        let err = widen(&narrow, width, 7, &device).unwrap_err().to_string();
        assert!(err.contains("a width above that"), "{err}");
    }
}

/// A VAE whose latent is a grid (8x8 cells of one channel here) trains, keeps where things
/// are (a change in one corner's cell leaves the far quarter of the image as it was), saves
/// and loads again; a grid that does not fit is refused by name.
#[test]
fn a_vae_with_a_latent_grid_keeps_places_trains_and_reloads() {
    let data = discs();
    let batch: Vec<&Rgb64> = data.iter().collect();
    let device = default_device();
    let model = VaeConfig::new(
        EncoderConfig::new()
            .with_latent_dim(64)
            .with_width(8)
            .with_latent_grid(Some(8)),
        GeneratorConfig::new()
            .with_latent_dim(64)
            .with_width(8)
            .with_latent_grid(Some(8)),
    );
    let mut trainer =
        VaeTrainer::new(model, VaeTrainConfig::new().with_batch_size(8), &device).unwrap();
    let first = pollster::block_on(trainer.step(&batch)).unwrap();
    let mut last = first;
    for _ in 0..40 {
        last = pollster::block_on(trainer.step(&batch)).unwrap();
    }
    assert!(last.total < 0.5 * first.total, "{first:?} -> {last:?}");

    let file = trainer.export("grid").unwrap();
    let reloaded = WeightsFile::parse(&file.to_bytes(), "grid.lpw").unwrap();
    let model = LatentModel::from_weights(&reloaded, &device).unwrap();
    assert_eq!(model.latent_dim(), 64);
    let z = pollster::block_on(model.encode(&batch[..2])).unwrap();
    assert_eq!(z.len(), 2 * 64);
    let before = read_f32_blocking(trainer.latent_model().decode(&z).unwrap()).unwrap();
    let after = read_f32_blocking(model.decode(&z).unwrap()).unwrap();
    let worst = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 2e-2, "saved in half precision, then {worst} apart");

    // The top-left cell (index 0 of the one channel) moved far: the top-left quarter
    // changes, the bottom-right quarter not at all.
    let one = &z[..64];
    let mut moved = one.to_vec();
    moved[0] += 4.0;
    let a = read_f32_blocking(model.decode(one).unwrap()).unwrap();
    let b = read_f32_blocking(model.decode(&moved).unwrap()).unwrap();
    let change = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
        let mut worst = 0.0f32;
        for c in 0..3 {
            for y in rows.clone() {
                for x in cols.clone() {
                    let i = (c * 64 + y) * 64 + x;
                    worst = worst.max((a[i] - b[i]).abs());
                }
            }
        }
        worst
    };
    assert!(change(0..16, 0..16) > 1e-3, "{}", change(0..16, 0..16));
    assert_eq!(change(32..64, 32..64), 0.0);

    for (encoder, decoder, expected) in [
        (Some(5), Some(5), "does not fit"),
        (Some(4), Some(8), "does not fit"),
    ] {
        let mut bad = reloaded.clone();
        if let latentpad::model::ModelConfig::Vae(c) = &mut bad.config {
            c.encoder.latent_grid = encoder;
            c.decoder.latent_grid = decoder;
        }
        let err = LatentModel::from_weights(&bad, &device).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }

    // A prior around the two latents with noise shaped by them loads; scales of the wrong
    // length are refused.
    let prior = latentpad::model::LatentPrior::anchored(z.clone(), 64, 0.5)
        .unwrap()
        .with_shaped_noise();
    let mut with_prior = reloaded.clone();
    let latentpad::model::ModelConfig::Vae(c) = &mut with_prior.config else {
        unreachable!("exported as a vae")
    };
    c.prior = Some(prior);
    let sampled = LatentModel::from_weights(&with_prior, &device).unwrap();
    assert_eq!(
        read_f32_blocking(sampled.sample(2, 7).unwrap())
            .unwrap()
            .len(),
        2 * 3 * 64 * 64
    );
    if let latentpad::model::ModelConfig::Vae(c) = &mut with_prior.config {
        c.prior
            .as_mut()
            .unwrap()
            .noise_scales
            .as_mut()
            .unwrap()
            .pop();
    }
    let err = LatentModel::from_weights(&with_prior, &device).unwrap_err();
    assert!(err.to_string().contains("prior does not fit"), "{err}");
}

/// A disc on the far left of white (class 0) or its mirror image on the far right (class 1),
/// four of each at different heights.
fn left_and_right_discs() -> Vec<(Rgb64, usize)> {
    (0..8)
        .map(|i| {
            let (cx, cy) = (if i < 4 { 10 } else { 53 }, 14 + (i % 4) * 12);
            let mut px = vec![255u8; RGB_LEN];
            for y in 0..64i32 {
                for x in 0..64i32 {
                    if (x - cx) * (x - cx) + (y - cy) * (y - cy) < 64 {
                        let k = ((y * 64 + x) * 3) as usize;
                        px[k..k + 3].copy_from_slice(&[200, 0, 0]);
                    }
                }
            }
            (Rgb64(px), usize::from(i >= 4))
        })
        .collect()
}

#[test]
fn a_classifier_trains_with_mirrors_and_class_sampling_and_reads_its_accuracy_per_class() {
    use latentpad::eval::accuracy;
    use latentpad::train::run::train_classifier;
    let device = default_device();
    let data = left_and_right_discs();
    let labelled: Vec<(&Rgb64, usize)> = data.iter().map(|(im, c)| (im, *c)).collect();
    let trained = |flip: bool, class_power: f64| {
        let mut trainer =
            ClassifierTrainer::new(ClassifierConfig::new(2).with_width(8), 3e-3, 5, &device)
                .with_flip(flip)
                .with_class_sampling(class_power)?;
        train_classifier(&mut trainer, &labelled, 60, 8, 5, None, |_, loss| {
            assert!(loss.is_finite())
        })
        .map(|()| trainer.classifier())
    };
    let score = |flip, power| {
        let classifier = trained(flip, power).unwrap();
        pollster::block_on(accuracy(&classifier, &labelled, &device)).unwrap()
    };
    // Left from right is learnt without mirrors (with square-root class sampling, which on
    // balanced classes changes only the draws) and cannot be with them: a mirrored left disc
    // is a right one.
    let plain = score(false, 0.5);
    assert!(plain.overall >= 0.99, "{plain:?}");
    let mirrored = score(true, 1.0);
    assert!(mirrored.overall <= 0.75, "{mirrored:?}");
    // A sampling power outside [0, 1] is refused, not trained on.
    for power in [f64::NAN, -0.5, 2.0] {
        let err = trained(false, power).err().unwrap().to_string();
        assert!(err.contains("class sampling"), "{err}");
    }

    // Per class: with one left disc mislabelled "right", the right class is half right.
    let classifier = trained(false, 1.0).unwrap();
    let mut mislabelled = labelled.clone();
    mislabelled.push((&data[0].0, 1));
    mislabelled.push((&data[5].0, 1));
    let read = pollster::block_on(accuracy(&classifier, &mislabelled, &device)).unwrap();
    assert!((read.overall - 9.0 / 10.0).abs() < 1e-9, "{read:?}");
    assert!(
        (read.mean_of_classes - (1.0 + 5.0 / 6.0) / 2.0).abs() < 1e-9,
        "{read:?}"
    );
}

#[test]
fn a_classifier_run_resumes_from_its_checkpoint_exactly() {
    use latentpad::train::run::train_classifier;
    let device = default_device();
    let data = left_and_right_discs();
    let labelled: Vec<(&Rgb64, usize)> = data.iter().map(|(im, c)| (im, *c)).collect();
    let dir = std::env::temp_dir().join(format!("latentpad-classifier-ck-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let new = || {
        ClassifierTrainer::new(ClassifierConfig::new(2).with_width(8), 3e-3, 7, &device)
            .with_flip(true)
            .with_class_sampling(0.5)
            .unwrap()
    };
    // Six steps with a checkpoint every four: the folder holds step 6, the last.
    let mut first = new();
    train_classifier(&mut first, &labelled, 6, 4, 7, Some((&dir, 4)), |_, _| {}).unwrap();
    let resumed = ClassifierTrainer::load_checkpoint(&dir, &device).unwrap();
    assert_eq!(resumed.step_count(), 6);
    assert_eq!(resumed.config(), first.config());
    assert_eq!(resumed.config().class_sampling, 0.5);
    assert!(resumed.config().flip);

    // The next step from the checkpoint is the straight run's next step: same loss, same
    // classifier after it (the networks, Adam's state and the augmentation's RNG all saved).
    let batch: Vec<&Rgb64> = labelled.iter().take(4).map(|(im, _)| *im).collect();
    let labels: Vec<usize> = labelled.iter().take(4).map(|(_, c)| *c).collect();
    let logits = |t: &ClassifierTrainer| {
        let x = latentpad::image::to_tensor(&batch, &device);
        read_f32_blocking(t.classifier().forward(x)).unwrap()
    };
    let mut resumed = resumed;
    assert_eq!(logits(&first), logits(&resumed));
    let a = pollster::block_on(first.step(&batch, &labels)).unwrap();
    let b = pollster::block_on(resumed.step(&batch, &labels)).unwrap();
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    let (la, lb) = (logits(&first), logits(&resumed));
    let worst = la
        .iter()
        .zip(&lb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-5, "{worst}");

    // Going on to 10 steps from the folder continues its count, and replaces it.
    let mut again = ClassifierTrainer::load_checkpoint(&dir, &device).unwrap();
    let mut seen = Vec::new();
    train_classifier(&mut again, &labelled, 10, 4, 7, Some((&dir, 4)), |s, _| {
        seen.push(s)
    })
    .unwrap();
    assert_eq!(seen, vec![7, 8, 9, 10]);
    let last = ClassifierTrainer::load_checkpoint(&dir, &device).unwrap();
    assert_eq!(last.step_count(), 10);
    assert_eq!(last.export("c").unwrap().meta.steps, 10);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Uploads that are all the same picture (the page's test of a cancelled run uploads two
/// grey squares): the quick mode's prior has no spread to find, yet the fine-tuned model
/// exports and loads again.
#[test]
fn a_vae_fine_tuned_on_identical_uploads_exports_a_model_that_loads() {
    let device = default_device();
    let file = WeightsFile::read(std::path::Path::new("models/emoji-vae")).unwrap();
    let grey = Rgb64(vec![180; RGB_LEN]);
    let mut session = FineTuning::new(file, vec![grey.clone(), grey], 2, 0, &device).unwrap();
    pollster::block_on(session.run_quick_mode(1)).unwrap();
    pollster::block_on(session.step()).unwrap();
    let exported = pollster::block_on(session.export()).unwrap();
    let back = WeightsFile::parse(&exported.to_bytes(), "tuned").unwrap();
    LatentModel::from_weights(&back, &device).expect("the fine-tuned model loads");
}
