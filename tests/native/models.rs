//! Every model shipped in `models/` loads and produces finite 64x64 images, reproducibly.

use std::path::Path;

use latentpad::backend::{default_device, read_f32_blocking};
use latentpad::model::{LatentModel, ModelConfig};
use latentpad::weights::WeightsFile;

/// `shown` (a config.json) with each array it names by length taken from `full`.
fn with_arrays(shown: &mut serde_json::Value, full: &serde_json::Value) {
    let Some(map) = shown.as_object_mut() else {
        return;
    };
    for (key, value) in map.iter_mut() {
        if value
            .as_str()
            .is_some_and(|s| s.ends_with(" numbers, in the .lpw files"))
        {
            *value = full[key].clone();
        } else {
            with_arrays(value, &full[key]);
        }
    }
}

#[test]
fn every_shipped_model_loads_and_samples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).expect("models/ exists") {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        assert!(
            dir.join("README.md").is_file(),
            "{} has no model card",
            dir.display()
        );
        let file = WeightsFile::read(&dir).unwrap_or_else(|e| panic!("{e}"));
        // config.json shows the weights' config, long arrays named by length: a few kB, which
        // the page fetches first for the model's kind.
        let text = std::fs::read(dir.join("config.json")).unwrap();
        assert!(
            text.len() < 32 << 10,
            "{}: config.json is {} bytes",
            dir.display(),
            text.len()
        );
        let mut shown: serde_json::Value = serde_json::from_slice(&text).unwrap();
        with_arrays(&mut shown, &serde_json::to_value(&file.config).unwrap());
        let config: ModelConfig = serde_json::from_value(shown).unwrap();
        file.expect_config(&config).unwrap();
        let device = default_device();
        match &file.config {
            ModelConfig::Classifier(c) => {
                let classifier = file.load("classifier", c.init(&device)).unwrap();
                let x = burn::Tensor::<4>::zeros([2, 3, 64, 64], &device);
                let f = read_f32_blocking(classifier.features(x)).unwrap();
                assert_eq!(f.len(), 2 * c.feature_dim());
                assert!(f.iter().all(|v| v.is_finite()));
            }
            _ => {
                let model = LatentModel::from_weights(&file, &device).unwrap();
                let images = model.sample(8, 42).unwrap();
                assert_eq!(images.dims(), [8, 3, 64, 64]);
                let values = read_f32_blocking(images).unwrap();
                assert!(values.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
                // Not a constant image: the model draws something.
                let spread = values.iter().fold(f32::MIN, |a, b| a.max(*b))
                    - values.iter().fold(f32::MAX, |a, b| a.min(*b));
                assert!(spread > 0.5, "{}: spread {spread}", dir.display());
                // Same seed, same image; image i of a batch is the image of seed + i alone
                // (to float rounding: a different batch size may sum in another order).
                let repeat = read_f32_blocking(model.sample(8, 42).unwrap()).unwrap();
                assert_eq!(repeat, values);
                let alone = read_f32_blocking(model.sample(1, 45).unwrap()).unwrap();
                let in_batch = &values[3 * alone.len()..4 * alone.len()];
                let worst = alone
                    .iter()
                    .zip(in_batch)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-4, "{worst}");
                // A conditional model: two conditions, one seed, two different images.
                if model.conditions().is_some() {
                    let steered = |category| {
                        let steering = model.steering(Some(category), None).unwrap();
                        read_f32_blocking(model.sample_steered(2, 42, steering).unwrap()).unwrap()
                    };
                    let (a, b) = (steered("smileys"), steered("flags"));
                    let mean =
                        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
                    assert!(
                        mean > 0.01,
                        "{}: conditions barely matter ({mean})",
                        dir.display()
                    );
                    // A steered batch (its guard worked out once) draws each seed's latent.
                    let toned = model.steering(Some("people"), Some("dark")).unwrap();
                    let batch =
                        read_f32_blocking(model.sample_steered(3, 42, toned).unwrap()).unwrap();
                    let latent = model.latent(44, toned).unwrap();
                    let alone = read_f32_blocking(model.decode(&latent).unwrap()).unwrap();
                    let worst = alone
                        .iter()
                        .zip(&batch[2 * alone.len()..])
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f32::max);
                    assert!(worst < 1e-4, "{}: {worst}", dir.display());
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 1, "no models found in {}", root.display());
}

/// The representation report on the shipped GAN and classifiers, with real emoji-like images
/// standing in for the training set: the label column counts exactly the examples that come
/// in tones, and the classified columns never count more images than they were given.
#[test]
fn the_skin_tone_report_counts_what_it_is_given() {
    use latentpad::data::Example;
    use latentpad::report::{TONE_CLASSES, skin_tone_report};

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let device = default_device();
    let classifier = |name: &str| shipped_classifier(name, &device);
    let (category, tone) = (
        classifier("emoji-classifier"),
        classifier("skin-tone-classifier"),
    );
    let gan = LatentModel::from_weights(
        &WeightsFile::read(&root.join("models/emoji-gan")).unwrap(),
        &device,
    )
    .unwrap();
    let image = fixture;
    let example = |f: &str, skin_tone: Option<u8>, has_skin_tones: bool| Example {
        image: image(f),
        name: f.into(),
        short_name: String::new(),
        category: 6,
        skin_tone,
        has_skin_tones,
    };
    let train = vec![
        example("rgba.png", None, true),
        example("photo.jpg", Some(3), true),
        example("palette.png", Some(5), true),
        example("sticker.webp", None, false),
    ];
    // Category 6 is "People & Body" in the sorted category list of the shipped classifier.
    let report =
        pollster::block_on(skin_tone_report(&gan, &category, 6, &tone, &train, 200, 5)).unwrap();
    assert_eq!(report.training_labels.0, [1, 0, 0, 1, 0, 1]);
    assert!(report.training_classified.total() <= train.len());
    assert!(report.generated.total() <= 200);
    assert_eq!(report.generated_total, 200);
    let table = report.to_markdown();
    assert_eq!(table.lines().count(), 2 + TONE_CLASSES, "{table}");
    assert!(table.contains("| dark |"), "{table}");
}

/// Truncation scales the Gaussian part of a seed's latent and nothing else: the condition code
/// stays, 1 is the untruncated model, the image changes, provenance says so, and values
/// outside (0, 1] are refused by name.
#[test]
fn truncation_scales_only_the_gaussian_part_of_the_latent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let device = default_device();
    let file = WeightsFile::read(&root.join("models/emoji-cgan")).unwrap();
    let mut model = LatentModel::from_weights(&file, &device).unwrap();
    let steering = model.steering(Some("smileys"), None).unwrap();
    let k = model.noise_dim();
    let plain = model.latent(7, steering).unwrap();
    let image = read_f32_blocking(model.sample_steered(1, 7, steering).unwrap()).unwrap();
    assert_eq!(model.describe_steering(steering), " (category smileys)");
    model.set_truncation(0.5).unwrap();
    let half = model.latent(7, steering).unwrap();
    for (a, b) in plain[..k].iter().zip(&half[..k]) {
        assert!((0.5 * a - b).abs() < 1e-6, "{a} {b}");
    }
    assert_eq!(plain[k..], half[k..], "the condition code changed");
    let truncated = read_f32_blocking(model.sample_steered(1, 7, steering).unwrap()).unwrap();
    assert_ne!(image, truncated);
    assert_eq!(
        model.describe_steering(steering),
        " (category smileys, truncation 0.5)"
    );
    for bad in [0.0, -0.5, 1.5, f32::NAN] {
        let err = model.set_truncation(bad).unwrap_err();
        assert!(err.to_string().contains("truncation"), "{err}");
    }
    assert_eq!(model.truncation(), 0.5);
    model.set_truncation(1.0).unwrap();
    assert_eq!(model.latent(7, steering).unwrap(), plain);
    // An unconditional model truncates too, by the same rule.
    let gan = WeightsFile::read(&root.join("models/emoji-gan")).unwrap();
    let mut gan = LatentModel::from_weights(&gan, &device).unwrap();
    let z = gan.latent(3, Default::default()).unwrap();
    gan.set_truncation(0.25).unwrap();
    let zt = gan.latent(3, Default::default()).unwrap();
    assert!(z.iter().zip(&zt).all(|(a, b)| (0.25 * a - b).abs() < 1e-6));
    assert_eq!(
        gan.describe_steering(Default::default()),
        " (truncation 0.25)"
    );
}

/// The steering table of the report: every category and tone has a row, samples and real
/// images are counted as given, and no row classifies more than it counted.
#[test]
fn the_conditioning_report_counts_samples_and_real_images() {
    use latentpad::data::Example;
    use latentpad::report::{Conditioning, conditioning};

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let device = default_device();
    let classifier = |name: &str| shipped_classifier(name, &device);
    let file = WeightsFile::read(&root.join("models/emoji-cgan")).unwrap();
    let model = LatentModel::from_weights(&file, &device).unwrap();
    let image = fixture;
    // Held out: two flags (category 3) and a dark-toned person (category 6, tone class 5);
    // training: one activity (category 0).
    let example = |f: &str, category, skin_tone| Example {
        image: image(f),
        name: f.into(),
        short_name: String::new(),
        category,
        skin_tone,
        has_skin_tones: skin_tone.is_some(),
    };
    let held_out = vec![
        example("rgba.png", 3, None),
        example("photo.jpg", 3, None),
        example("palette.png", 6, Some(5)),
    ];
    let train = vec![example("sticker.webp", 0, None)];
    let report = pollster::block_on(conditioning(
        &model,
        &classifier("emoji-classifier"),
        6,
        &classifier("skin-tone-classifier"),
        [&train, &held_out],
        4,
        9,
    ))
    .unwrap();
    assert_eq!(report.categories.len(), 10);
    assert_eq!(report.tones.len(), 6);
    // The steered samples against one training image: a positive copy check (infinite
    // here: these fixtures' features sit on the one training image's).
    assert!(report.copy_check > 0.0, "{}", report.copy_check);
    assert!(report.tone_copy_check > 0.0, "{}", report.tone_copy_check);
    assert!(
        report
            .to_markdown()
            .contains("Copy check of the samples asked for a category")
    );
    let counted = |f: fn(&latentpad::report::ConditionRow) -> (usize, usize)| {
        report.categories.iter().map(|r| f(r).0).collect::<Vec<_>>()
    };
    assert_eq!(counted(|r| r.held_out), [0, 0, 0, 2, 0, 0, 1, 0, 0, 0]);
    assert_eq!(counted(|r| r.train), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(report.tones.iter().map(|r| r.held_out.0).sum::<usize>(), 1);
    assert_eq!(report.tones[5].held_out.0, 1, "{:?}", report.tones);
    assert!(report.tones.iter().all(|r| r.train.0 == 0));
    for r in report.categories.iter().chain(&report.tones) {
        assert_eq!(r.samples, 4);
        assert!(r.classified <= r.samples, "{r:?}");
        // The commonest miss is a miss: at least one, at most all of them, another class.
        match &r.missed_as {
            Some((name, count)) => assert!(
                *name != r.name && *count >= 1 && *count <= r.samples - r.classified,
                "{r:?}"
            ),
            None => assert_eq!(r.classified, r.samples, "{r:?}"),
        }
        assert!(
            r.train.1 <= r.train.0 && r.held_out.1 <= r.held_out.0,
            "{r:?}"
        );
    }
    // Rows count equally: the mean of the rows' shares, over the rows with images.
    let [generated, train_share, held_share] = Conditioning::overall(&report.categories);
    let by_row: f64 = report
        .categories
        .iter()
        .map(|r| r.classified as f64 / 4.0)
        .sum::<f64>()
        / 10.0;
    assert!((generated.unwrap() - by_row).abs() < 1e-12);
    let flags = report.categories[3].held_out.1 as f64 / 2.0;
    let people = report.categories[6].held_out.1 as f64;
    assert!((held_share.unwrap() - (flags + people) / 2.0).abs() < 1e-12);
    assert!(train_share.is_some());
    assert_eq!(
        Conditioning::overall(&report.tones)[1],
        None,
        "no training people"
    );
    let table = report.to_markdown();
    // Header, rows, the two means, a blank line and the copy check.
    assert_eq!(table.lines().count(), 2 + 10 + 6 + 2 + 2, "{table}");
    assert!(table.contains("| flags | "), "{table}");
    assert!(table.contains(" of 2 |"), "{table}");
}

/// Best-of-k sampling with the shipped GANs' discriminators: k = 1 is plain sampling, image i
/// of a batch is the image of seed + i alone, every kept image is one of its seed's
/// candidates (so a different k changes some images and keeps others), provenance says so,
/// and it is refused without a discriminator or out of range.
#[test]
fn best_of_sampling_keeps_one_candidate_per_seed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let device = default_device();
    for name in ["emoji-cgan", "emoji-gan"] {
        let file = WeightsFile::read(&root.join("models").join(name)).unwrap();
        let mut model = LatentModel::from_weights(&file, &device).unwrap();
        let plain = read_f32_blocking(model.sample(6, 11).unwrap()).unwrap();
        let err = model.set_best_of(4).unwrap_err();
        assert!(err.to_string().contains("discriminator"), "{err}");
        model.load_critic(&file).unwrap();
        model.set_best_of(1).unwrap();
        assert_eq!(
            read_f32_blocking(model.sample(6, 11).unwrap()).unwrap(),
            plain
        );
        for bad in [0, 17] {
            assert!(model.set_best_of(bad).is_err(), "{bad}");
        }
        model.set_best_of(8).unwrap();
        let eight = read_f32_blocking(model.sample(6, 11).unwrap()).unwrap();
        let size = plain.len() / 6;
        let image = |v: &[f32], i: usize| v[i * size..(i + 1) * size].to_vec();
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);
        assert!(
            (0..6).any(|i| !same(&image(&eight, i), &image(&plain, i))),
            "{name}: best of 8 kept every seed's own image"
        );
        for i in 0..6 {
            let seed = 11 + i as u64;
            let alone = read_f32_blocking(model.sample(1, seed).unwrap()).unwrap();
            assert!(
                same(&alone, &image(&eight, i)),
                "{name}: image {i} depends on the batch"
            );
            // The kept image is one of the seed's 8 candidates' images, the first of which is
            // the plain one; candidate j does not depend on k.
            let z = model.candidates(seed, Default::default(), 8).unwrap();
            let d = model.latent_dim();
            assert_eq!(z[..d], model.latent(seed, Default::default()).unwrap());
            assert_eq!(
                z[..3 * d],
                model.candidates(seed, Default::default(), 3).unwrap()
            );
            let drawn = read_f32_blocking(model.decode(&z).unwrap()).unwrap();
            let kept = (0..8).find(|j| same(&image(&drawn, *j), &image(&eight, i)));
            let kept =
                kept.unwrap_or_else(|| panic!("{name}: image {i} is none of its candidates"));
            // An interpolation starts at the kept image's latent.
            let latent = pollster::block_on(model.kept_latent(seed, Default::default())).unwrap();
            assert_eq!(latent, z[kept * d..(kept + 1) * d], "{name}: seed {seed}");
        }
        assert!(
            model
                .describe_steering(Default::default())
                .contains("best of 8")
        );
    }
    let vae = WeightsFile::read(&root.join("models/emoji-vae")).unwrap();
    let mut vae_model = LatentModel::from_weights(&vae, &device).unwrap();
    let err = vae_model.load_critic(&vae).unwrap_err();
    assert!(err.to_string().contains("only a GAN"), "{err}");
}

/// The shipped VAE's steered samples keep only the guard's share of their Gaussian step along
/// the directions between conditions (and, for a tone, its tone directions, with the tone's
/// own guard), and the rest of it whole, from their centre (pushed, for a tone); unsteered
/// ones are untouched.
#[test]
fn the_shipped_vaes_guard_reaches_steered_latents_only() {
    let device = default_device();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = WeightsFile::read(&root.join("models/emoji-vae")).unwrap();
    let guarded = LatentModel::from_weights(&file, &device).unwrap();
    let prior = guarded
        .prior()
        .expect("the shipped VAE has a prior")
        .clone();
    let guard = prior
        .steered_guard
        .expect("the shipped VAE guards steered samples");
    let tone_guard = prior
        .steered_tone_guard
        .expect("the shipped VAE guards tone-steered samples");
    assert!(guard < 1.0 && tone_guard < 1.0, "{guard}, {tone_guard}");
    let tone_rows = prior.tone_basis.as_ref().map_or(0, Vec::len) / prior.latent_dim;
    assert_eq!(tone_rows, 64, "the shipped VAE's tone directions");
    let mut plain_file = file.clone();
    let ModelConfig::Vae(config) = &mut plain_file.config else {
        panic!("emoji-vae is not a VAE")
    };
    if let Some(p) = config.prior.as_mut() {
        p.steered_guard = None;
        p.steered_tone_guard = None;
    }
    let plain = LatentModel::from_weights(&plain_file, &device).unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let people = guarded.steering(Some("people"), None).unwrap();
    let dark = guarded.steering(Some("people"), Some("dark")).unwrap();
    for (steering, keep, at_least) in [(people, guard, 10), (dark, tone_guard, 10 + 64)] {
        let directions = prior.guarded_directions(steering);
        assert!(
            directions.len() >= at_least,
            "{} directions",
            directions.len()
        );
        for seed in 0..4 {
            let i = prior.centre_index_for(seed, steering).unwrap();
            // People asked for a tone start from their centre pushed along what sets it apart.
            let mut centre = prior.centre_at(i).to_vec();
            prior.push_tone(&mut centre, steering);
            if steering == dark {
                assert_ne!(centre, prior.centre_at(i), "the shipped VAE pushes tones");
            }
            let step = |z: Vec<f32>| {
                z.iter()
                    .zip(&centre)
                    .map(|(a, c)| a - c)
                    .collect::<Vec<_>>()
            };
            let kept = step(guarded.latent(seed, steering).unwrap());
            let whole = step(plain.latent(seed, steering).unwrap());
            for u in &directions {
                let (a, b) = (dot(&kept, u), dot(&whole, u));
                assert!(
                    (a - keep * b).abs() < 1e-3,
                    "seed {seed}: {a} against {keep} * {b}"
                );
            }
            let rest = |v: &[f32]| {
                let mut r = v.to_vec();
                for u in &directions {
                    let along = dot(&r, u);
                    r.iter_mut().zip(u).for_each(|(x, y)| *x -= along * y);
                }
                r
            };
            let (kept_rest, whole_rest) = (rest(&kept), rest(&whole));
            assert!(dot(&whole_rest, &whole_rest) > 1e-2, "a step is left");
            for (a, b) in kept_rest.iter().zip(&whole_rest) {
                assert!((a - b).abs() < 1e-3, "seed {seed}");
            }
            let unsteered = Default::default();
            assert_eq!(
                guarded.latent(seed, unsteered).unwrap(),
                plain.latent(seed, unsteered).unwrap()
            );
        }
    }
}

/// The shipped classifier `models/NAME`.
fn shipped_classifier(name: &str, device: &burn::tensor::Device) -> latentpad::model::Classifier {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = WeightsFile::read(&root.join("models").join(name)).unwrap();
    let ModelConfig::Classifier(c) = &file.config else {
        panic!("{name} is not a classifier")
    };
    file.load("classifier", c.init(device)).unwrap()
}

/// The image of `tests/fixtures/good/NAME`, through the real decoder.
fn fixture(name: &str) -> latentpad::image::Rgb64 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join("tests/fixtures/good").join(name)).unwrap();
    latentpad::image::decode(&bytes, name).unwrap()
}

/// The page loads the VAE's decoder to sample and its encoder only once images are to be
/// encoded: attached later, the encoder encodes as if loaded at once; a GAN or the wrong file
/// is refused by name.
#[test]
fn a_vae_loaded_without_its_encoder_gets_it_attached_later() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let device = default_device();
    let part = |name: &str| {
        let path = root.join(name);
        WeightsFile::parse(&std::fs::read(&path).unwrap(), &path.display().to_string()).unwrap()
    };
    let decoder = part("emoji-vae/decoder.lpw");
    let encoder = part("emoji-vae/encoder.lpw");
    let whole = LatentModel::from_weights(
        &WeightsFile::read(&root.join("emoji-vae")).unwrap(),
        &device,
    )
    .unwrap();
    let mut model = LatentModel::from_weights(&decoder, &device).unwrap();
    let image = fixture("rgba.png");
    let err = pollster::block_on(model.encode(&[&image])).unwrap_err();
    assert!(
        err.to_string().contains("loaded without its encoder"),
        "{err}"
    );
    let err = model
        .attach_encoder(&part("emoji-gan/generator.lpw"))
        .unwrap_err();
    assert!(err.to_string().contains("generator.lpw"), "{err}");
    let err = model.attach_encoder(&decoder).unwrap_err();
    assert!(err.to_string().contains("no encoder"), "{err}");
    model.attach_encoder(&encoder).unwrap();
    assert_eq!(
        pollster::block_on(model.encode(&[&image])).unwrap(),
        pollster::block_on(whole.encode(&[&image])).unwrap()
    );
    let mut gan = LatentModel::from_weights(&part("emoji-gan/generator.lpw"), &device).unwrap();
    let err = gan.attach_encoder(&encoder).unwrap_err();
    assert!(err.to_string().contains("an encoder for a vae"), "{err}");
}
