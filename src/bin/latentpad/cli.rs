//! The command-line program's dispatch: each command calls the library (`latentpad::train::run`
//! for the training loops, `eval` and `report` for the scores) and shows progress and results.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{By, Cli, Command, DrawArgs, Kind, Path_, PriorArgs, Target, TrainArgs};
use latentpad::backend::{default_device, device_named};
use latentpad::data::{self, EmojiStyle, Example, condition_of};
use latentpad::eval;
use latentpad::fewshot::{self, Bench, Recipe, Row};
use latentpad::image::{self as img, Provenance, Rgb64};
use latentpad::latent::Interpolation;
use latentpad::limits::MAX_GRID;
use latentpad::model::{
    Classifier, ClassifierConfig, Conditions, DiscriminatorConfig, GanConfig, LatentModel,
    ModelConfig, VaeConfig, check_latent_grid,
};
use latentpad::report::{PEOPLE, TONES, skin_tone_report, tone_label};
use latentpad::train::augment::AugmentConfig;
use latentpad::train::classifier::ClassifierTrainer;
use latentpad::train::finetune::FineTuning;
use latentpad::train::gan::{GanTrainConfig, GanTrainer};
use latentpad::train::run::{self, Event, Pretraining};
use latentpad::train::vae::{VaeTrainConfig, VaeTrainer};
use latentpad::train::{Trainer, checkpoint};
use latentpad::weights::{WeightsFile, WeightsMeta};

/// Parses the command line and runs the command.
/// The device every command computes on, from `--backend` (set once in `main`).
static DEVICE: std::sync::OnceLock<burn::tensor::Device> = std::sync::OnceLock::new();

fn device() -> burn::tensor::Device {
    DEVICE.get().cloned().unwrap_or_else(default_device)
}

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    let _ = DEVICE.set(device_named(&cli.backend)?);
    match cli.command {
        Command::FetchData { data_dir } => {
            for style in [EmojiStyle::Noto, EmojiStyle::Twemoji] {
                let dir = data::fetch_style(&data_dir, style)
                    .with_context(|| format!("fetching {}", style.package()))?;
                let data = data::load_style(&dir, style)?;
                println!(
                    "{}: {} training and {} held-out images in {} categories",
                    dir.display(),
                    data.train.len(),
                    data.held_out.len(),
                    data.categories.len()
                );
            }
            let dir = data::fetch_fluent(&data_dir)
                .with_context(|| format!("fetching {}", data::FLUENT_PACKAGE))?;
            let fluent = data::load_fluent(&dir)?;
            println!(
                "{}: {} Fluent emoji (flat)",
                dir.display(),
                fluent.train.len()
            );
        }
        Command::BenchFinetune {
            model,
            classifier,
            data_dir,
            kinds,
            sizes,
            recipes,
            steps,
            out,
        } => bench_finetune(
            &model,
            &classifier,
            &data_dir,
            &kinds,
            &sizes,
            &recipes,
            &steps,
            &out,
        )?,
        Command::Train(args) => train(args)?,
        Command::Sample {
            model,
            n,
            seed,
            columns,
            category,
            skin_tone,
            by,
            draw,
            out,
        } => {
            if n == 0 || n > MAX_GRID {
                bail!("--n must be between 1 and {MAX_GRID}");
            }
            let (model, meta) = load_model_drawn(&model, draw)?;
            if let Some(by) = by {
                return sample_by(&model, &meta, by, n, seed, &out);
            }
            let steering = model.steering(category.as_deref(), skin_tone.as_deref())?;
            let images = model.sample_steered(n, seed, steering)?;
            let latent = format!(
                "seeds {seed} to {}{}",
                seed + n as u64 - 1,
                model.describe_steering(steering)
            );
            write_grid(images, n, columns, &out, &Provenance::of(&meta, latent))?;
        }
        Command::Interpolate {
            model,
            from_seed,
            to_seed,
            frames,
            path,
            category,
            skin_tone,
            to_category,
            to_skin_tone,
            draw,
            out,
        } => {
            let (model, meta) = load_model_drawn(&model, draw)?;
            let how = match path {
                Path_::Lerp => Interpolation::Lerp,
                Path_::Slerp => Interpolation::Slerp,
            };
            let from = model.steering(category.as_deref(), skin_tone.as_deref())?;
            let to = model.steering(
                to_category.as_deref().or(category.as_deref()),
                to_skin_tone.as_deref().or(skin_tone.as_deref()),
            )?;
            let images = pollster::block_on(model.interpolate_seeds(
                (from_seed, from),
                (to_seed, to),
                frames,
                how,
            ))?;
            let latent = format!(
                "{how:?} from seed {from_seed}{} to seed {to_seed}{}, {frames} frames",
                model.describe_steering(from),
                model.describe_steering(to)
            );
            write_grid(images, frames, frames, &out, &Provenance::of(&meta, latent))?;
        }
        Command::Finetune {
            model,
            images,
            steps,
            batch_size,
            freeze_discriminator_layers,
            prior_steps,
            out,
        } => finetune(
            &model,
            &images,
            (steps, prior_steps),
            batch_size,
            freeze_discriminator_layers,
            &out,
        )?,
        Command::Invert {
            model,
            images,
            held_out,
            data_dir,
            steps,
            out,
            latents,
        } => invert(
            &model,
            images.as_deref(),
            held_out,
            &data_dir,
            steps,
            &out,
            latents.as_deref(),
        )?,
        Command::Prior {
            model,
            data_dir,
            centres,
            settings,
            seed,
            out,
        } => fit_prior(&model, &data_dir, centres, settings, seed, &out)?,
        Command::Recalibrate {
            model,
            batches,
            batch_size,
            seed,
            out,
        } => {
            let file = WeightsFile::read(&model)?;
            let how = latentpad::recalibrate::Recalibration {
                batches,
                batch_size,
                first_seed: seed,
            };
            let started = std::time::Instant::now();
            let file = latentpad::recalibrate::recalibrate(&file, how, &Default::default())?;
            file.write_dir(&out)?;
            println!(
                "{}: batch-norm statistics of {} batches of {} sampling latents, in {:.1} s",
                out.display(),
                batches,
                batch_size,
                started.elapsed().as_secs_f64()
            );
        }
        Command::Average { models, out } => {
            let files = models
                .iter()
                .map(|m| WeightsFile::read(m))
                .collect::<latentpad::Result<Vec<_>>>()?;
            let file = latentpad::recalibrate::average(&files, &Default::default())?;
            file.write_dir(&out)?;
            println!(
                "{}: the mean of {} checkpoints' sampling weights (recalibrate it next)",
                out.display(),
                files.len()
            );
        }
        Command::Widen {
            model,
            width,
            seed,
            out,
        } => {
            let file = WeightsFile::read(&model)?;
            let file = latentpad::widen::widen(&file, width, seed, &Default::default())?;
            file.write_dir(&out)?;
            println!(
                "{}: {} (draws what {} drew until trained)",
                out.display(),
                file.config.describe(),
                model.display()
            );
        }
        Command::Provenance { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let chunks = img::png_text(&bytes, &file.display().to_string())?;
            if !chunks.iter().any(|(k, _)| k.starts_with("latentpad")) {
                bail!("{}: no latentpad provenance in this PNG", file.display());
            }
            for (keyword, text) in chunks {
                println!("{keyword}: {text}");
            }
        }
        Command::Eval {
            model,
            classifier,
            data_dir,
            floor,
            seed,
            draw,
        } => evaluate(&model, &classifier, &data_dir, floor, seed, draw)?,
        Command::Report {
            model,
            classifier,
            steering_classifier,
            tone_classifier,
            data_dir,
            n,
            per_condition,
            seed,
            draw,
        } => report(
            &model,
            [&classifier, &steering_classifier, &tone_classifier],
            &data_dir,
            (n, per_condition, seed),
            draw,
        )?,
    }
    Ok(())
}

/// One row of `n` samples per category or per skin tone of people.
fn sample_by(
    model: &LatentModel,
    meta: &WeightsMeta,
    by: By,
    n: usize,
    seed: u64,
    out: &Path,
) -> Result<()> {
    let Some(conditions) = model.conditions() else {
        bail!(
            "--by needs a conditional GAN; this {} is not conditional",
            model.config.kind()
        );
    };
    let steerings: Vec<(String, latentpad::model::Steering)> = match by {
        By::Category => conditions
            .category_names()
            .into_iter()
            .map(|name| {
                let steering = model.steering(Some(&name), None)?;
                Ok((name, steering))
            })
            .collect::<Result<_>>()?,
        By::SkinTone => latentpad::model::TONES[1..]
            .iter()
            .map(|tone| {
                Ok((
                    tone.to_string(),
                    model.steering(Some("people"), Some(tone))?,
                ))
            })
            .collect::<Result<_>>()?,
    };
    let rows = steerings.len();
    if rows * n > MAX_GRID {
        bail!("{rows} rows of {n} is more than {MAX_GRID} images; lower --n");
    }
    let mut images = Vec::with_capacity(rows);
    for (_, steering) in &steerings {
        images.push(model.sample_steered(n, seed, *steering)?);
    }
    let names: Vec<&str> = steerings.iter().map(|(name, _)| name.as_str()).collect();
    let latent = format!(
        "seeds {seed} to {}{} in rows by {}: {}",
        seed + n as u64 - 1,
        model.describe_steering(Default::default()),
        if by == By::Category {
            "category"
        } else {
            "skin tone of people"
        },
        names.join(", ")
    );
    write_grid(
        burn::Tensor::cat(images, 0),
        rows * n,
        n,
        out,
        &Provenance::of(meta, latent),
    )?;
    Ok(())
}

fn invert(
    model_path: &Path,
    images: Option<&Path>,
    held_out: Option<usize>,
    data_dir: &Path,
    steps: usize,
    out: &Path,
    latents_path: Option<&Path>,
) -> Result<()> {
    let (model, meta) = load_model(model_path)?;
    let kind = model.config.kind();
    if kind != "gan" && kind != "vae" {
        bail!(
            "{} is a {kind}; inversion is for a GAN or a VAE (which encodes)",
            model_path.display(),
        );
    }
    let examples: Vec<Rgb64> = match (images, held_out) {
        (Some(dir), _) => {
            let (images, skipped) = data::load_folder(dir)?;
            report_skipped(&skipped);
            images.into_iter().map(|e| e.image).collect()
        }
        (None, Some(n)) => {
            let data = load_fetched(data_dir, EmojiStyle::Noto)?;
            // Every k-th held-out emoji: a spread over the categories, the same each run.
            let k = (data.held_out.len() / n.max(1)).max(1);
            data.held_out
                .iter()
                .step_by(k)
                .take(n)
                .map(|e| e.image.clone())
                .collect()
        }
        (None, None) => bail!("give --images <folder> or --held-out <count>"),
    };
    if examples.is_empty() || examples.len() > MAX_GRID / 2 {
        bail!(
            "inversion takes 1 to {} images here, not {}",
            MAX_GRID / 2,
            examples.len()
        );
    }
    let refs: Vec<&Rgb64> = examples.iter().collect();
    let config = latentpad::invert::InvertConfig {
        steps,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    // A VAE refines its encoder's latents for at most VAE_REFINE_STEPS.
    let steps = if kind == "vae" {
        steps.min(latentpad::invert::VAE_REFINE_STEPS)
    } else {
        steps
    };
    let bar = progress(steps as u64, 0);
    let found = pollster::block_on(latentpad::invert::find(
        &model,
        &refs,
        config,
        |step, _, error| {
            bar.set_position(step as u64);
            bar.set_message(format!("error {error:.4}"));
            true
        },
    ))?;
    bar.finish();
    // Each image beside its reconstruction: [n, 2, 3, 64, 64] -> [2n, 3, 64, 64].
    let n = refs.len();
    let originals = img::to_tensor(&refs, model.device()).reshape([n, 1, 3, 64, 64]);
    let reconstructions = found.images.clone().reshape([n, 1, 3, 64, 64]);
    let grid = burn::Tensor::cat(vec![originals, reconstructions], 1).reshape([2 * n, 3, 64, 64]);
    let latent = if kind == "vae" {
        format!(
            "encodings of {} images, refined ({steps} steps)",
            examples.len()
        )
    } else {
        format!("inversions of {} images ({steps} steps)", examples.len())
    };
    write_grid(
        grid,
        2 * examples.len(),
        16,
        out,
        &Provenance::of(&meta, latent),
    )?;
    let edges = eval::edge_energy(&latentpad::backend::read_f32_blocking(
        found.images.clone(),
    )?) / pollster::block_on(eval::edge_energy_of_images(&refs, model.device()))?;
    println!(
        "{} images inverted in {:.1} s: mean squared pixel error {:.4} (pixels in [0, 1]); worst {:.4}; edge energy {edges:.2}x the originals' (below 1: blurrier)",
        examples.len(),
        started.elapsed().as_secs_f64(),
        found.mean_error(),
        found.errors.iter().copied().fold(0.0f32, f32::max)
    );
    if let Some(path) = latents_path {
        let d = model.latent_dim();
        let rows: Vec<&[f32]> = found.latents.chunks(d).collect();
        std::fs::write(path, serde_json::to_string(&rows)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn load_model(path: &Path) -> Result<(LatentModel, WeightsMeta)> {
    load_model_drawn(
        path,
        DrawArgs {
            truncation: 1.0,
            best_of: 1,
        },
    )
}

/// [`load_model`] drawing its latents as `draw` says (with the discriminator for best-of).
fn load_model_drawn(path: &Path, draw: DrawArgs) -> Result<(LatentModel, WeightsMeta)> {
    let file = WeightsFile::read(path)?;
    let mut model = LatentModel::from_weights(&file, &device())?;
    model.set_truncation(draw.truncation)?;
    if draw.best_of > 1 {
        model.load_critic(&file)?;
    }
    model.set_best_of(draw.best_of)?;
    Ok((model, file.meta))
}

fn write_grid(
    images: burn::Tensor<4>,
    n: usize,
    columns: usize,
    out: &Path,
    provenance: &Provenance,
) -> Result<()> {
    let png = img::grid_png(images, n, columns, provenance)?;
    std::fs::write(out, png).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}

fn progress(total: u64, done: u64) -> ProgressBar {
    let bar = ProgressBar::new(total).with_position(done);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Shows a training run's events on `bar`. Progress bars are hidden when output is not a
/// terminal (background runs): checkpoints are then said in a line each.
fn show(bar: &ProgressBar) -> impl FnMut(Event) + '_ {
    move |event| match event {
        Event::Step { step, losses } => {
            bar.set_position(step);
            bar.set_message(losses.summary());
        }
        Event::Checkpoint { step, wall_seconds } if bar.is_hidden() => {
            println!("checkpoint at step {step} ({wall_seconds:.0} s of training)");
        }
        Event::Checkpoint { .. } => {}
    }
}

fn training_images(args: &TrainArgs) -> Result<Vec<Example>> {
    if let Some(dir) = &args.images {
        let (images, skipped) = data::load_folder(dir)?;
        report_skipped(&skipped);
        return Ok(images);
    }
    Ok(load_fetched(&args.data_dir, EmojiStyle::Noto)?.train)
}

/// `latentpad prior`: the model in `model_path` with a sampling prior fitted to the Noto
/// training images, written to `out`.
fn fit_prior(
    model_path: &Path,
    data_dir: &Path,
    centres: usize,
    settings: PriorArgs,
    seed: u64,
    out: &Path,
) -> Result<()> {
    let weights = parse_tone_weights(&settings.tone_weights)?;
    let mut file = WeightsFile::read(model_path)?;
    if centres == 0 || centres > 1024 {
        bail!("--centres takes 1 to 1024 images (they are kept in the weights), not {centres}");
    }
    match settings.tone_directions {
        Some(_) if !matches!(file.config, ModelConfig::Vae(_)) => {
            bail!("--tone-directions is a VAE's: it encodes the training people")
        }
        Some(0) => bail!("--tone-directions takes 1 or more directions, not 0"),
        _ => {}
    }
    let device = Default::default();
    // Refuses anything but a GAN or a VAE by name.
    let model = LatentModel::from_weights(&file, &device)?;
    let data = load_fetched(data_dir, EmojiStyle::Noto)?;
    let images: Vec<&Rgb64> = data.train.iter().map(|e| &e.image).collect();
    let labels: Vec<(usize, usize)> = data.train.iter().map(condition_of).collect();
    let mixed: Vec<bool> = data.train.iter().map(|e| e.has_mixed_tones()).collect();
    let PriorArgs {
        spread,
        shrink,
        steered_spread,
        steered_guard,
        steered_tone_push,
        tone_directions,
        steered_tone_spread,
        steered_tone_guard,
        tone_weights: _,
        shaped_noise,
        principal_noise,
        finetune_spread,
    } = settings;
    if let Some(s) = finetune_spread.filter(|s| !(0.0..=1.0).contains(s)) {
        bail!("--finetune-spread takes 0 to 1, not {s}");
    }
    if finetune_spread.is_some() && !matches!(file.config, ModelConfig::Vae(_)) {
        bail!("--finetune-spread is a VAE's: a GAN's quick mode inverts its uploads");
    }
    let mut prior = pollster::block_on(model.fit_prior_weighted(
        &images, &labels, centres, spread, !shrink, seed, &weights, &mixed,
    ))?;
    if let Some(s) = steered_spread {
        prior = prior.with_steering_spread(s)?;
    }
    if let Some(g) = steered_guard {
        prior = prior.with_steering_guard(g)?;
    }
    if let Some(p) = steered_tone_push {
        prior = prior.with_tone_push(p)?;
    }
    prior = prior.with_tone_steering(steered_tone_spread, steered_tone_guard)?;
    if shaped_noise {
        prior = prior.with_shaped_noise();
    }
    if let Some(k) = principal_noise {
        prior = prior.with_principal_noise(k)?;
    }
    if let Some(k) = tone_directions {
        let deviations = pollster::block_on(tone_deviations(&model, &data.train))?;
        prior = prior.with_tone_directions(&deviations, k)?;
        println!(
            "tone directions: the {k} widest of {} skin-tone variants' latents",
            deviations.len() / model.latent_dim().max(1)
        );
    }
    let kept = prior.centres.len() / prior.latent_dim;
    match &mut file.config {
        ModelConfig::Vae(config) => {
            config.prior = Some(prior);
            if finetune_spread.is_some() {
                config.finetune_spread = finetune_spread;
            }
            config.conditions = Some(Conditions::from_labels(data.categories.clone(), &labels)?);
        }
        ModelConfig::Gan(config) => config.prior = Some(prior),
        _ => {}
    }
    let model = LatentModel::from_weights(&file, &device)?;
    run::write_model(&model, &file, out)?;
    println!(
        "{}: samples start near {kept} training images (spread {spread}); grid in {}",
        out.display(),
        out.join("samples.png").display()
    );
    Ok(())
}

/// The latents of every training emoji that comes in skin tones, each less the mean of its
/// emoji's variants (row-major), for the prior's tone directions.
async fn tone_deviations(model: &LatentModel, train: &[data::Example]) -> Result<Vec<f32>> {
    let mut variants: std::collections::BTreeMap<&str, Vec<&Rgb64>> = Default::default();
    for e in train.iter().filter(|e| e.has_skin_tones) {
        variants
            .entry(e.short_name.as_str())
            .or_default()
            .push(&e.image);
    }
    let d = model.latent_dim();
    let mut deviations = Vec::new();
    for images in variants.values().filter(|v| v.len() > 1) {
        let mut latents = Vec::with_capacity(images.len() * d);
        for chunk in images.chunks(64) {
            latents.extend(model.encode(chunk).await?);
        }
        let n = latents.len() / d;
        let mean: Vec<f32> = (0..d)
            .map(|j| latents.iter().skip(j).step_by(d).sum::<f32>() / n as f32)
            .collect();
        deviations.extend(latents.iter().enumerate().map(|(i, z)| z - mean[i % d]));
    }
    Ok(deviations)
}

/// `--tone-weight TONE=WEIGHT` options as one weight per tone (1 where not given).
fn parse_tone_weights(given: &[String]) -> Result<[f64; latentpad::model::TONES.len()]> {
    let mut weights = [1.0; latentpad::model::TONES.len()];
    for option in given {
        let Some((name, weight)) = option.split_once('=') else {
            bail!("--tone-weight takes TONE=WEIGHT (e.g. yellow=1.5), not {option:?}");
        };
        let tone = Conditions::tone(name.trim())?;
        weights[tone] = match weight.trim().parse::<f64>() {
            Ok(w) if (0.0..=10.0).contains(&w) => w,
            _ => bail!(
                "--tone-weight {name}: the weight must be a number from 0 to 10, not {weight:?}"
            ),
        };
    }
    Ok(weights)
}

/// A style's emoji data from `fetch-data`'s folder, or a message saying to fetch it.
fn load_fetched(data_dir: &Path, style: EmojiStyle) -> Result<data::EmojiData> {
    let dir = data::style_dir(data_dir, style);
    if !dir.join("emoji.json").is_file() {
        bail!(
            "{} has no {style:?} emoji data; run `latentpad fetch-data` first",
            dir.display()
        );
    }
    Ok(data::load_style(&dir, style)?)
}

fn report_skipped(skipped: &[latentpad::Error]) {
    if !skipped.is_empty() {
        eprintln!("skipped {} file(s):", skipped.len());
        for e in skipped {
            eprintln!("  {e}");
        }
    }
}

fn train(args: TrainArgs) -> Result<()> {
    let device = device();
    if args.kind == Kind::Classifier {
        return train_classifier(&args, &device);
    }
    let examples = training_images(&args)?;
    println!("training on {} images", examples.len());
    let name = args.name.clone().unwrap_or_else(|| {
        args.out
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    if args.upsample_conv && args.init.is_some() {
        bail!("--upsample-conv builds a new generator; it cannot start from --init's weights");
    }
    if (args.latent_grid.is_some() || args.latent_dim.is_some())
        && (args.init.is_some() || !matches!(args.kind, Kind::Vae))
    {
        bail!("--latent-grid and --latent-dim build a new VAE: `train vae` without --init");
    }
    let latent_dim = args
        .latent_dim
        .unwrap_or(VaeConfig::emoji().decoder.latent_dim);
    check_latent_grid(latent_dim, args.latent_grid)?;
    if args.spectral_norm && (args.init.is_some() || !matches!(args.kind, Kind::Gan)) {
        bail!(
            "--spectral-norm builds a new GAN discriminator: `train gan` without --init's weights"
        );
    }
    let resume = checkpoint::recover(&args.checkpoint)?;
    let mut trainer = match (args.kind, resume) {
        (Kind::Gan, true) => {
            let mut trainer = GanTrainer::load_checkpoint(&args.checkpoint, &device)?;
            if let Some(weight) = args.aux_classifier {
                trainer.set_classifier_weight(weight)?;
                println!("resuming with the auxiliary classifier's weight at {weight}");
            }
            Trainer::Gan(trainer)
        }
        (Kind::Gan, false) => {
            let config = GanTrainConfig::new()
                .with_batch_size(args.batch_size)
                .with_use_ema(!args.no_ema)
                .with_discriminator_lr_scale(args.d_lr_scale)
                .with_learning_rate(args.lr.unwrap_or(2e-4))
                .with_hinge(Some(args.hinge))
                .with_r1_gamma(Some(args.r1))
                .with_classifier_weight(Some(args.aux_classifier.unwrap_or(0.0)))
                .with_balance_classes(Some(args.balance_classes))
                .with_class_sampling(Some(args.class_sampling))
                .with_seed(args.seed)
                .with_augment(if args.no_augment {
                    AugmentConfig::none()
                } else {
                    AugmentConfig::new()
                });
            let conditions = if args.conditional {
                if args.images.is_some() {
                    bail!("--conditional needs the labelled emoji set, not --images");
                }
                let data = load_fetched(&args.data_dir, EmojiStyle::Noto)?;
                let labels: Vec<(usize, usize)> = data.train.iter().map(condition_of).collect();
                Some(Conditions::from_labels(data.categories, &labels)?)
            } else {
                None
            };
            match (&args.init, conditions) {
                (Some(init), Some(conditions)) => Trainer::Gan(GanTrainer::conditioned_from(
                    &WeightsFile::read(init)?,
                    conditions,
                    config,
                    &device,
                )?),
                (Some(init), None) => Trainer::Gan(
                    GanTrainer::from_weights(&WeightsFile::read(init)?, config, &device)?
                        .as_pretraining(),
                ),
                (None, conditions) => {
                    let mut model = GanConfig::emoji();
                    model.generator.width = args.width;
                    model.generator.resize = Some(args.upsample_conv);
                    model.discriminator.width = args.width;
                    model.discriminator.spectral_norm = args.spectral_norm.then_some(true);
                    if let Some(conditions) = conditions {
                        model = model.conditioned(conditions);
                    }
                    Trainer::Gan(GanTrainer::new(model, config, &device)?)
                }
            }
        }
        (_, true) => {
            let mut trainer = VaeTrainer::load_checkpoint(&args.checkpoint, &device)?;
            // Only these flags change a resumed run (when given); every other setting is the
            // checkpoint's.
            let (detail, scale, ema) =
                (args.detail_weight, args.decoder_lr_scale, args.decoder_ema);
            if detail.is_some() || scale.is_some() || ema.is_some() {
                trainer.retune(detail, scale, ema)?;
            }
            let c = &trainer.config;
            println!(
                "resuming the checkpoint's run: detail weight {}, decoder learning-rate \
                 scale {}, decoder moving average {}",
                c.detail_weight.unwrap_or(0.0),
                c.decoder_lr_scale,
                c.decoder_ema.map_or("none".to_string(), |d| d.to_string())
            );
            Trainer::Vae(trainer)
        }
        (_, false) => {
            // An adversary trains beside the VAE for either of its losses.
            let adversarial = args.adversarial_weight > 0.0 || args.feature_matching > 0.0;
            let mut config = VaeTrainConfig::new()
                .with_batch_size(args.batch_size)
                .with_seed(args.seed)
                .with_adversarial_weight(args.adversarial_weight)
                .with_decoder_warmup_steps(args.decoder_warmup)
                .with_decoder_lr_scale(args.decoder_lr_scale.unwrap_or(1.0))
                .with_perceptual_weight(args.perceptual)
                .with_freeze_encoder(Some(args.freeze_encoder))
                .with_feature_matching_weight(Some(args.feature_matching))
                // `--detail-weight 0` is none, as not giving it is.
                .with_detail_weight(args.detail_weight.filter(|w| *w != 0.0))
                .with_decoder_ema(args.decoder_ema)
                .with_perceptual_net(
                    (args.perceptual > 0.0).then(|| args.perceptual_net.display().to_string()),
                )
                .with_augment(if args.no_augment {
                    AugmentConfig::none()
                } else {
                    AugmentConfig::new()
                });
            let file = args.init.as_deref().map(WeightsFile::read).transpose()?;
            let from_gan = file
                .as_ref()
                .is_some_and(|f| matches!(f.config, ModelConfig::Gan(_)));
            if args.adversary_init.is_some()
                && !file
                    .as_ref()
                    .is_some_and(|f| matches!(f.config, ModelConfig::Vae(_)))
            {
                bail!("--adversary-init continues a VAE: give --init a VAE model folder");
            }
            // A GAN's settings where a discriminator or a GAN's generator takes part.
            if adversarial || from_gan {
                config = config.with_learning_rate(2e-4).with_beta_1(0.5);
            }
            if let Some(lr) = args.lr {
                config = config.with_learning_rate(lr);
            }
            let adversary =
                |width: usize| adversarial.then(|| DiscriminatorConfig::new().with_width(width));
            let mut model = VaeConfig::emoji();
            model.encoder.width = args.width;
            model.decoder.width = args.width;
            model.decoder.resize = Some(args.upsample_conv);
            model.encoder.latent_dim = latent_dim;
            model.decoder.latent_dim = latent_dim;
            model.encoder.latent_grid = args.latent_grid;
            model.decoder.latent_grid = args.latent_grid;
            let trainer = match file {
                Some(file) => match &file.config {
                    ModelConfig::Vae(vae) => {
                        let config = config.with_adversary(adversary(vae.decoder.width));
                        let mut trainer =
                            VaeTrainer::from_weights(&file, config, &device)?.as_pretraining();
                        if let Some(gan) = &args.adversary_init {
                            if !adversarial {
                                bail!(
                                    "--adversary-init needs --adversarial-weight or --feature-matching"
                                );
                            }
                            trainer = trainer.with_adversary_from(&WeightsFile::read(gan)?)?;
                        }
                        // A moving encoder would leave a fitted prior's centres stale.
                        if args.freeze_encoder {
                            trainer
                        } else {
                            trainer.without_prior()
                        }
                    }
                    _ if args.freeze_encoder => {
                        bail!("--freeze-encoder keeps a trained VAE's encoder: --init a VAE")
                    }
                    _ => VaeTrainer::from_gan(&file, model.encoder, config, &device)?,
                },
                None if args.freeze_encoder => {
                    bail!("--freeze-encoder keeps a trained VAE's encoder: --init a VAE")
                }
                None => {
                    let config = config.with_adversary(adversary(args.width));
                    VaeTrainer::new(model, config, &device)?
                }
            };
            let mut trainer = trainer;
            if args.perceptual > 0.0 {
                trainer.set_perceptual(&WeightsFile::read(&args.perceptual_net)?)?;
            }
            if let Some(beta) = args.beta {
                trainer.set_beta(beta)?;
            }
            Trainer::Vae(trainer)
        }
    };
    let run = Pretraining {
        steps: args.steps,
        checkpoint: &args.checkpoint,
        checkpoint_every: args.checkpoint_every,
        out: &args.out,
        name: &name,
        seed: args.seed,
    };
    let bar = progress(args.steps, trainer.step_count());
    run.run(&mut trainer, &examples, show(&bar))?;
    bar.finish();
    Ok(())
}

fn train_classifier(args: &TrainArgs, device: &burn::tensor::Device) -> Result<()> {
    if args.target == Target::Identity {
        return train_identity_classifier(args, device);
    }
    let dir = data::emoji_dir(&args.data_dir);
    let data = data::load_emoji(&dir)?;
    // Examples with their class: every emoji's category, or the tone of those with tones.
    let (classes, name, labelled): (Vec<String>, &str, fn(&Example) -> Option<usize>) =
        match args.target {
            Target::Category => (data.categories.clone(), "emoji-classifier", |e| {
                Some(e.category)
            }),
            Target::SkinTone => (
                TONES.iter().map(|t| t.to_string()).collect(),
                "skin-tone-classifier",
                tone_label,
            ),
            Target::Identity => unreachable!("trained by train_identity_classifier above"),
        };
    fn pick(set: &[Example], labelled: fn(&Example) -> Option<usize>) -> Vec<(&Rgb64, usize)> {
        set.iter()
            .filter_map(|e| labelled(e).map(|l| (&e.image, l)))
            .collect()
    }
    let (mut train, held_out) = (pick(&data.train, labelled), pick(&data.held_out, labelled));
    let twemoji;
    let mut other_held_out = Vec::new();
    let name = if args.both_styles {
        if args.target != Target::Category {
            bail!("--both-styles trains a category classifier (--target category)");
        }
        twemoji = load_fetched(&args.data_dir, EmojiStyle::Twemoji)?;
        // Twemoji's own category list, mapped to Noto's by name; the held-out emoji of
        // both styles are the same code points, so none of them is trained on.
        let to_noto: Vec<Option<usize>> = twemoji
            .categories
            .iter()
            .map(|c| data.categories.iter().position(|n| n == c))
            .collect();
        train.extend(
            twemoji
                .train
                .iter()
                .filter_map(|e| to_noto[e.category].map(|c| (&e.image, c))),
        );
        // Their Twemoji drawings: a second look at the same unseen emoji.
        other_held_out.extend(
            twemoji
                .held_out
                .iter()
                .filter_map(|e| to_noto[e.category].map(|c| (&e.image, c))),
        );
        "category-classifier"
    } else {
        name
    };
    fit_classifier(
        args,
        device,
        name,
        classes.len(),
        &train,
        &[
            ("held-out", &held_out),
            ("held-out Twemoji", &other_held_out),
        ],
    )
}

/// Trains a classifier of `classes` classes on `train`, prints its accuracy there and on each
/// named `held_out` set that has images, and writes it to `--out`.
fn fit_classifier(
    args: &TrainArgs,
    device: &burn::tensor::Device,
    name: &str,
    classes: usize,
    train: &[(&Rgb64, usize)],
    held_out: &[(&str, &[(&Rgb64, usize)])],
) -> Result<()> {
    if args.classifier_width == 0 {
        bail!("--classifier-width takes at least 1 channel");
    }
    let mut trainer = if checkpoint::recover(&args.checkpoint)? {
        // Every setting is the checkpoint's; only --steps goes on.
        let trainer = ClassifierTrainer::load_checkpoint(&args.checkpoint, device)?;
        let saved = trainer.model_config().num_classes;
        if saved != classes {
            bail!(
                "the checkpoint in {} is a classifier of {saved} classes and this one has \
                 {classes}: give this run another --checkpoint folder",
                args.checkpoint.display()
            );
        }
        println!(
            "resuming {} at step {} of {}",
            args.checkpoint.display(),
            trainer.step_count(),
            args.steps
        );
        trainer
    } else {
        let config = ClassifierConfig::new(classes).with_width(args.classifier_width);
        ClassifierTrainer::new(config, 1e-3, args.seed, device)
            .with_flip(args.flip)
            .with_class_sampling(args.class_sampling)?
    };
    let bar = progress(args.steps, trainer.step_count());
    run::train_classifier(
        &mut trainer,
        train,
        args.steps,
        args.batch_size,
        args.seed,
        Some((&args.checkpoint, args.checkpoint_every)),
        |step, loss| {
            bar.set_position(step);
            bar.set_message(format!("loss {loss:.3}"));
        },
    )?;
    bar.finish();
    let classifier = trainer.classifier();
    let accuracy = |set| pollster::block_on(eval::accuracy(&classifier, set, device));
    let mut line = format!("{name} accuracy ({classes} classes):");
    let sets = std::iter::once(("train", train)).chain(held_out.iter().copied());
    for (set_name, set) in sets.filter(|(_, set)| !set.is_empty()) {
        let a = accuracy(set)?;
        line += &format!(
            " {set_name} {:.3} (n={}; mean of classes {:.3}),",
            a.overall,
            set.len(),
            a.mean_of_classes
        );
    }
    println!("{}", line.trim_end_matches(','));
    trainer.export(name)?.write_dir(&args.out)?;
    Ok(())
}

/// The skin-tone report, and a conditional GAN's steering; `classifiers` are the category
/// classifier that finds people, the one that judges steering, and the skin-tone one.
fn report(
    model_path: &Path,
    [classifier, steering_classifier, tone_classifier]: [&Path; 3],
    data_dir: &Path,
    (n, per_condition, seed): (usize, usize, u64),
    draw: DrawArgs,
) -> Result<()> {
    if n == 0 || per_condition == 0 {
        bail!("--n and --per-condition take at least 1 sample");
    }
    let steered_seed = seed
        .checked_add(1_000_000)
        .context("--seed is too large to leave room for the steered samples' seeds")?;
    let device = device();
    let category = load_classifier(classifier, &device)?;
    let tone = load_classifier(tone_classifier, &device)?;
    let data = data::load_emoji(&data::emoji_dir(data_dir))?;
    let people = data
        .categories
        .iter()
        .position(|c| c == PEOPLE)
        .with_context(|| format!("the emoji data has no {PEOPLE:?} category"))?;
    let (model, meta) = load_model_drawn(model_path, draw)?;
    // By default, seeds far from the grids' and eval's: the report is reproducible.
    let report = pollster::block_on(skin_tone_report(
        &model,
        &category,
        people,
        &tone,
        &data.train,
        n,
        seed,
    ))?;
    println!(
        "Skin tones of people emoji: {} ({} samples) vs its training data\n",
        meta.name, n
    );
    print!("{}", report.to_markdown());
    if model.conditions().is_some() {
        let judge = load_classifier(steering_classifier, &device)?;
        let steered = pollster::block_on(latentpad::report::conditioning(
            &model,
            &judge,
            people,
            &tone,
            [&data.train, &data.held_out],
            per_condition,
            steered_seed,
        ))?;
        println!(
            "\nConditioning: {per_condition} samples asked for each category (judged by {}) \
             and for people in each skin tone (skin-tone classifier), beside the real training \
             and held-out images of each, classified by the same classifiers\n",
            steering_classifier.display()
        );
        print!("{}", steered.to_markdown());
    }
    Ok(())
}

fn finetune(
    model: &Path,
    images: &Path,
    (steps, prior_steps): (u64, usize),
    batch_size: usize,
    freeze: usize,
    out: &Path,
) -> Result<()> {
    let device = device();
    let file = WeightsFile::read(model)?;
    let (examples, skipped) = data::load_folder(images)?;
    report_skipped(&skipped);
    println!(
        "fine-tuning {} on {} images",
        file.meta.name,
        examples.len()
    );
    let images = examples.into_iter().map(|e| e.image).collect();
    let mut session = FineTuning::new(file, images, batch_size, freeze, &device)?;
    if prior_steps > 0 {
        let error = pollster::block_on(session.fit_prior(prior_steps))?;
        if error.is_finite() {
            println!("quick mode: found the images in the model (mean pixel error {error:.4})");
        } else {
            println!("quick mode: the encoder found the images");
        }
    }
    let bar = progress(steps, 0);
    run::fine_tune(&mut session, steps, out, show(&bar))?;
    bar.finish();
    Ok(())
}

fn load_classifier(path: &Path, device: &burn::tensor::Device) -> Result<Classifier> {
    let file = WeightsFile::read(path).with_context(|| {
        format!(
            "cannot read the classifier {} (a relative path starts from the current folder, \
             usually the checkout; the command's --help names the option that gives another)",
            path.display()
        )
    })?;
    let ModelConfig::Classifier(config) = &file.config else {
        bail!(
            "{} is a {}, not a classifier",
            path.display(),
            file.config.kind()
        );
    };
    Ok(file.load("classifier", config.init(device))?)
}

fn evaluate(
    model_path: &Path,
    classifiers: &[PathBuf],
    data_dir: &Path,
    floor: bool,
    seed: u64,
    draw: DrawArgs,
) -> Result<()> {
    let device = device();
    let data = data::load_emoji(&data::emoji_dir(data_dir))?;
    let held: Vec<&Rgb64> = data.held_out.iter().map(|e| &e.image).collect();
    let n = held.len();
    let (model, _) = load_model_drawn(model_path, draw)?;
    // The floor's real training images: the same ones in every space.
    let mut idx: Vec<usize> = (0..data.train.len()).collect();
    latentpad::latent::SplitMix64::new(9).shuffle(&mut idx);
    let train: Vec<&Rgb64> = data.train.iter().map(|e| &e.image).collect();
    // Sharpness and grain, in no network's features: the same samples' neighbouring-pixel
    // differences and speckle in flat fills, and (the floor) those of as many real training
    // images.
    let texture_of =
        |images: &[&Rgb64]| pollster::block_on(eval::texture_of_images(images, &device));
    let (held_edges, held_grain) = texture_of(&held)?;
    let (edges, grain) = pollster::block_on(eval::texture_of_samples(&model, n, seed))?;
    let subset: Vec<&Rgb64> = idx[..n].iter().map(|&i| train[i]).collect();
    let (train_edges, train_grain) = texture_of(&subset)?;
    println!(
        "{}: edge energy of the samples {:.2}x the held-out emoji's (real training images: {:.2}x; below: blurrier; above: edges or texture real emoji lack)",
        model_path.display(),
        edges / held_edges,
        train_edges / held_edges
    );
    println!(
        "{}: grain in flat fills of the samples {:.2}x the held-out emoji's (real training images: {:.2}x; above: speckle or grain real emoji lack)",
        model_path.display(),
        grain / held_grain,
        train_grain / held_grain
    );
    for path in classifiers {
        let classifier = load_classifier(path, &device)?;
        let space = path
            .file_name()
            .unwrap_or(path.as_os_str())
            .to_string_lossy();
        let real = pollster::block_on(eval::features_of_images(&classifier, &held, &device))?;
        // Fixed seeds (by default far from the ones shown in grids): the score is
        // reproducible.
        let generated =
            pollster::block_on(eval::features_of_samples(&classifier, &model, n, seed))?;
        let scores = eval::score(&real, &generated)?;
        println!(
            "{} in {space}'s space: FD-emoji {:.3}  KID {:.4} +- {:.4}  precision {:.3}  recall {:.3}  (n = {n} vs held-out)",
            model_path.display(),
            scores.frechet_distance,
            scores.kid,
            scores.kid_spread,
            scores.precision,
            scores.recall
        );
        // Every training image's features: the copy check's, and the floor's subset of them.
        let every = pollster::block_on(eval::features_of_images(&classifier, &train, &device))?;
        println!(
            "  copy check in {space}'s space: nearest training image {:.2}x as far as for held-out emoji (below 1: nearer the training images than new emoji are)",
            eval::copy_ratio(&every, &generated, &real)
        );
        if floor {
            let subset: Vec<Vec<f32>> = idx[..n].iter().map(|&i| every[i].clone()).collect();
            let s = eval::score(&real, &subset)?;
            println!(
                "floor (real training images vs held-out) in {space}'s space: FD-emoji {:.3}  KID {:.4} +- {:.4}  precision {:.3}  recall {:.3}",
                s.frechet_distance, s.kid, s.kid_spread, s.precision, s.recall
            );
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one per command-line option
fn bench_finetune(
    model: &Path,
    classifier: &Path,
    data_dir: &Path,
    kinds: &[String],
    sizes: &[usize],
    recipes: &[String],
    steps: &[u64],
    out: &Path,
) -> Result<()> {
    let kinds: Vec<fewshot::Kind> = kinds.iter().map(|k| k.parse()).collect::<Result<_, _>>()?;
    let recipes: Vec<Recipe> = recipes
        .iter()
        .map(|r| r.parse())
        .collect::<Result<_, _>>()?;
    let mut steps = steps.to_vec();
    steps.sort_unstable();
    steps.dedup();
    let device = device();
    let twemoji = if kinds.iter().any(|k| !k.is_fluent()) {
        Some(load_fetched(data_dir, EmojiStyle::Twemoji)?)
    } else {
        None
    };
    let fluent = if kinds.iter().any(|k| k.is_fluent()) {
        let dir = data::fluent_dir(data_dir);
        if !dir.join("icons/flat").is_dir() {
            bail!(
                "{} has no Fluent emoji; run `latentpad fetch-data` first",
                dir.display()
            );
        }
        Some(data::load_fluent(&dir)?)
    } else {
        None
    };
    let base = WeightsFile::read(model)?;
    let classifier = load_classifier(classifier, &device)?;
    let bench = Bench {
        base: &base,
        classifier: &classifier,
        device: &device,
        grids: Some(out),
    };
    let mut table = vec![Row::HEADER.to_string()];
    println!("{}", Row::HEADER);
    for kind in kinds {
        for &size in sizes {
            // A kind too small for this size (hearts-30) is left out, the rest still runs.
            let data = if kind.is_fluent() { &fluent } else { &twemoji };
            let Some(data) = data else { continue };
            let set = match fewshot::target_set(data, kind, size) {
                Ok(set) => set,
                Err(e) => {
                    println!("<!-- skipped: {e} -->");
                    continue;
                }
            };
            println!(
                "<!-- {}: {} uploads, {} held out -->",
                set.name,
                set.uploads.len(),
                set.held_out.len()
            );
            for recipe in &recipes {
                let rows = fewshot::run(&bench, &set, recipe, &steps, |row| {
                    println!("{}", row.to_markdown());
                })?;
                // The floor is the same for every recipe: the table keeps it once per set.
                let skip = if recipe == &recipes[0] { 0 } else { 1 };
                table.extend(rows.iter().skip(skip).map(Row::to_markdown));
            }
        }
    }
    let path = out.join("table.md");
    std::fs::write(&path, table.join("\n") + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {} and the grids beside it", path.display());
    Ok(())
}

/// The identity classifier: Noto and Twemoji training images, every emoji a class; its
/// accuracy on Twemoji drawings of emoji it saw only in Noto is the held-out figure.
fn train_identity_classifier(args: &TrainArgs, device: &burn::tensor::Device) -> Result<()> {
    let noto = load_fetched(&args.data_dir, EmojiStyle::Noto)?;
    let twemoji = load_fetched(&args.data_dir, EmojiStyle::Twemoji)?;
    let ids = data::identities(&noto, &twemoji);
    println!(
        "{} classes, {} training images, {} cross-style probes",
        ids.classes.len(),
        ids.train.len(),
        ids.cross_style.len()
    );
    fit_classifier(
        args,
        device,
        "identity-classifier",
        ids.classes.len(),
        &ids.train,
        &[("cross-style held-out", &ids.cross_style)],
    )
}
