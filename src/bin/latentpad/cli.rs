//! The command-line program itself (native only).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use latentpad::backend::default_device;
use latentpad::data::{self, BatchSampler, Example};
use latentpad::image::{self as img, Rgb64};
use latentpad::latent::Interpolation;
use latentpad::model::{ClassifierConfig, GanConfig, LatentModel, ModelConfig, VaeConfig};
use latentpad::report::{PEOPLE, TONES, classify, skin_tone_report, tone_label};
use latentpad::train::Trainer;
use latentpad::train::augment::AugmentConfig;
use latentpad::train::classifier::ClassifierTrainer;
use latentpad::train::gan::{GanTrainConfig, GanTrainer};
use latentpad::train::vae::{VaeTrainConfig, VaeTrainer};
use latentpad::weights::{WeightsFile, WeightsMeta};
use latentpad::{eval, model::Classifier};

#[derive(Parser)]
#[command(
    name = "latentpad",
    version,
    about = "Train, sample and fine-tune small generative image models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download the Noto emoji set (npm package emoji-datasource-google) into the data folder.
    FetchData {
        /// Where to put it (git-ignored).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Train a model from scratch (resumes from --checkpoint when one is there).
    Train(TrainArgs),
    /// Write a grid of samples as PNG.
    Sample {
        /// Model folder (or .lpw file).
        #[arg(long, default_value = "models/emoji-gan")]
        model: PathBuf,
        /// Number of images.
        #[arg(long, default_value_t = 64)]
        n: usize,
        /// Seed of the first image; image i uses seed + i.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Images per row.
        #[arg(long, default_value_t = 8)]
        columns: usize,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a strip of images walking from one seed's image to another's.
    Interpolate {
        /// Model folder (or .lpw file).
        #[arg(long, default_value = "models/emoji-gan")]
        model: PathBuf,
        /// Start seed.
        #[arg(long)]
        from_seed: u64,
        /// End seed.
        #[arg(long)]
        to_seed: u64,
        /// Number of images including both ends.
        #[arg(long, default_value_t = 16)]
        frames: usize,
        /// Path through latent space.
        #[arg(long, value_enum, default_value_t = Path_::Slerp)]
        path: Path_,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fine-tune a trained model on a folder of your images.
    Finetune {
        /// Model folder to start from.
        #[arg(long, default_value = "models/emoji-gan")]
        model: PathBuf,
        /// Folder of images (PNG, JPEG, WebP, GIF).
        #[arg(long)]
        images: PathBuf,
        /// Training steps.
        #[arg(long, default_value_t = 300)]
        steps: u64,
        /// Images per step.
        #[arg(long, default_value_t = 16)]
        batch_size: usize,
        /// GAN only: discriminator blocks to freeze (FreezeD).
        #[arg(long, default_value_t = 2)]
        freeze_discriminator_layers: usize,
        /// Output model folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the provenance text a latentpad PNG carries (software, model, seeds).
    Provenance {
        /// A PNG written by latentpad (CLI or browser).
        file: PathBuf,
    },
    /// Score a model against the held-out emoji (Frechet distance, precision, recall).
    Eval {
        /// Model folder.
        #[arg(long, default_value = "models/emoji-gan")]
        model: PathBuf,
        /// Classifier whose features the metrics use.
        #[arg(long, default_value = "models/emoji-classifier")]
        classifier: PathBuf,
        /// Data folder of fetch-data.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Also score real training images against the held-out set (the floor).
        #[arg(long)]
        floor: bool,
    },
    /// Compare the skin tones of a model's generated people emoji with the training data's.
    Report {
        /// Model folder.
        #[arg(long, default_value = "models/emoji-gan")]
        model: PathBuf,
        /// Emoji-category classifier (finds the people among the samples).
        #[arg(long, default_value = "models/emoji-classifier")]
        classifier: PathBuf,
        /// Skin-tone classifier (`train classifier --target skin-tone`).
        #[arg(long, default_value = "models/skin-tone-classifier")]
        tone_classifier: PathBuf,
        /// Data folder of fetch-data.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Images to generate.
        #[arg(long, default_value_t = 4096)]
        n: usize,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Target {
    /// The emoji's category (10 classes): the evaluation classifier.
    Category,
    /// Skin tone of emoji that come in tones (default yellow + 5 tones): for `report`.
    SkinTone,
}

#[derive(Clone, Copy, ValueEnum)]
enum Path_ {
    Lerp,
    Slerp,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Kind {
    Gan,
    Vae,
    Classifier,
}

#[derive(Args)]
struct TrainArgs {
    /// What to train.
    #[arg(value_enum)]
    kind: Kind,
    /// Data folder of fetch-data.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Train on this folder of images instead of the emoji set.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Total training steps (a resumed run continues up to this number).
    #[arg(long, default_value_t = 5000)]
    steps: u64,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Checkpoint folder; the run resumes from it when it holds one.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Steps between checkpoints (and preview grids).
    #[arg(long, default_value_t = 250)]
    checkpoint_every: u64,
    /// Model folder written at every checkpoint and at the end.
    #[arg(long)]
    out: PathBuf,
    /// Name recorded in the weights.
    #[arg(long)]
    name: Option<String>,
    /// GAN ablation: no DiffAugment.
    #[arg(long)]
    no_augment: bool,
    /// GAN ablation: sample from the last generator instead of the EMA one.
    #[arg(long)]
    no_ema: bool,
    /// Generator/discriminator/encoder width.
    #[arg(long, default_value_t = 48)]
    width: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Classifier: what it learns to tell apart.
    #[arg(long, value_enum, default_value_t = Target::Category)]
    target: Target,
}

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::FetchData { data_dir } => {
            let dir = data::fetch_emoji(&data_dir).context("fetching the emoji data set")?;
            let data = data::load_emoji(&dir)?;
            println!(
                "{}: {} training and {} held-out images in {} categories",
                dir.display(),
                data.train.len(),
                data.held_out.len(),
                data.categories.len()
            );
        }
        Command::Train(args) => train(args)?,
        Command::Sample {
            model,
            n,
            seed,
            columns,
            out,
        } => {
            if n == 0 || n > 4096 {
                bail!("--n must be between 1 and 4096");
            }
            let (model, meta) = load_model(&model)?;
            let images = model.sample(n, seed)?;
            let latent = format!("seeds {seed} to {}", seed + n as u64 - 1);
            write_grid(images, n, columns, &out, &provenance(&meta, latent))?;
        }
        Command::Interpolate {
            model,
            from_seed,
            to_seed,
            frames,
            path,
            out,
        } => {
            let (model, meta) = load_model(&model)?;
            let how = match path {
                Path_::Lerp => Interpolation::Lerp,
                Path_::Slerp => Interpolation::Slerp,
            };
            let images = model.interpolate_seeds(from_seed, to_seed, frames, how)?;
            let latent =
                format!("{how:?} from seed {from_seed} to seed {to_seed}, {frames} frames");
            write_grid(images, frames, frames, &out, &provenance(&meta, latent))?;
        }
        Command::Finetune {
            model,
            images,
            steps,
            batch_size,
            freeze_discriminator_layers,
            out,
        } => finetune(
            &model,
            &images,
            steps,
            batch_size,
            freeze_discriminator_layers,
            &out,
        )?,
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
        } => evaluate(&model, &classifier, &data_dir, floor)?,
        Command::Report {
            model,
            classifier,
            tone_classifier,
            data_dir,
            n,
        } => report(&model, &classifier, &tone_classifier, &data_dir, n)?,
    }
    Ok(())
}

fn load_model(path: &Path) -> Result<(LatentModel, WeightsMeta)> {
    let file = WeightsFile::read(path)?;
    Ok((
        LatentModel::from_weights(&file, &default_device())?,
        file.meta,
    ))
}

fn provenance(meta: &WeightsMeta, latent: String) -> img::Provenance {
    img::Provenance {
        model: meta.name.clone(),
        fine_tuned: meta.fine_tuned,
        latent,
    }
}

fn write_grid(
    images: burn::Tensor<4>,
    n: usize,
    columns: usize,
    out: &Path,
    provenance: &img::Provenance,
) -> Result<()> {
    let rgba = pollster::block_on(img::to_rgba(images))?;
    let canvas = img::grid(&rgba, n, columns);
    let png = img::encode_png(canvas.as_raw(), canvas.width(), canvas.height(), provenance)?;
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

fn training_images(args: &TrainArgs) -> Result<Vec<Example>> {
    if let Some(dir) = &args.images {
        let (images, skipped) = data::load_folder(dir)?;
        report_skipped(&skipped);
        return Ok(images);
    }
    let dir = data::emoji_dir(&args.data_dir);
    if !dir.join("emoji.json").is_file() {
        bail!(
            "{} has no emoji data; run `latentpad fetch-data` first",
            dir.display()
        );
    }
    Ok(data::load_emoji(&dir)?.train)
}

fn report_skipped(skipped: &[latentpad::Error]) {
    if !skipped.is_empty() {
        eprintln!("skipped {} file(s):", skipped.len());
        for e in skipped {
            eprintln!("  {e}");
        }
    }
}

/// Progress bars are hidden when output is not a terminal (background runs): say something
/// at each checkpoint instead.
fn log_checkpoint(bar: &ProgressBar, step: u64, wall: f64) {
    if bar.is_hidden() {
        println!("checkpoint at step {step} ({:.0} s of training)", wall);
    }
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

/// Replaces `dir` with a checkpoint written by `save`, never leaving it half-written.
fn checkpoint_atomically(
    dir: &Path,
    save: impl FnOnce(&Path) -> latentpad::Result<()>,
) -> Result<()> {
    let fresh = dir.with_extension("new");
    let old = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&fresh);
    save(&fresh)?;
    if dir.exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old)?;
    }
    std::fs::rename(&fresh, dir)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

fn train(args: TrainArgs) -> Result<()> {
    let device = default_device();
    let examples = training_images(&args)?;
    println!("training on {} images", examples.len());
    let name = args.name.clone().unwrap_or_else(|| {
        args.out
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    // A checkpoint left by a run killed between the two renames is still whole.
    let old = args.checkpoint.with_extension("old");
    if !args.checkpoint.join("state.json").is_file() && old.join("state.json").is_file() {
        std::fs::rename(&old, &args.checkpoint)?;
    }
    let resume = args.checkpoint.join("state.json").is_file();
    let log_path = args.checkpoint.with_extension("csv");
    let wall_before = previous_wall_time(&log_path);
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;

    let run = RunLog {
        examples: &examples,
        args: &args,
        name: &name,
        wall_before,
        started: Instant::now(),
    };
    match args.kind {
        Kind::Gan => {
            let trainer = if resume {
                GanTrainer::load_checkpoint(&args.checkpoint, &device)?
            } else {
                let config = GanTrainConfig::new()
                    .with_batch_size(args.batch_size)
                    .with_use_ema(!args.no_ema)
                    .with_seed(args.seed)
                    .with_augment(if args.no_augment {
                        AugmentConfig::none()
                    } else {
                        AugmentConfig::new()
                    });
                let mut model = GanConfig::emoji();
                model.generator.width = args.width;
                model.discriminator.width = args.width;
                GanTrainer::new(model, config, &device)?
            };
            run.train(&mut Trainer::Gan(trainer), &mut log)?;
        }
        Kind::Vae => {
            let trainer = if resume {
                VaeTrainer::load_checkpoint(&args.checkpoint, &device)?
            } else {
                let config = VaeTrainConfig::new()
                    .with_batch_size(args.batch_size)
                    .with_seed(args.seed);
                let mut model = VaeConfig::emoji();
                model.encoder.width = args.width;
                model.decoder.width = args.width;
                VaeTrainer::new(model, config, &device)?
            };
            run.train(&mut Trainer::Vae(trainer), &mut log)?;
        }
        Kind::Classifier => train_classifier(&args, &device)?,
    }
    Ok(())
}

/// One pretraining run's data, options and clock.
struct RunLog<'a> {
    examples: &'a [Example],
    args: &'a TrainArgs,
    name: &'a str,
    wall_before: f64,
    started: Instant,
}

impl RunLog<'_> {
    /// Steps up to `--steps`, logging every step and checkpointing and exporting every
    /// `--checkpoint-every` steps and at the end.
    fn train(&self, trainer: &mut Trainer, log: &mut std::fs::File) -> Result<()> {
        use std::io::Write;
        let args = self.args;
        let mut sampler = BatchSampler::new(self.examples.len(), args.seed ^ trainer.step_count());
        let bar = progress(args.steps, trainer.step_count());
        while trainer.step_count() < args.steps {
            let idx = sampler.next_batch(trainer.batch_size());
            let images: Vec<&Rgb64> = idx.iter().map(|i| &self.examples[*i].image).collect();
            let losses = pollster::block_on(trainer.step(&images))?;
            let step = trainer.step_count();
            let wall = self.wall_before + self.started.elapsed().as_secs_f64();
            let values: Vec<String> = losses.values().iter().map(|l| l.to_string()).collect();
            writeln!(log, "{step},{},{wall:.1}", values.join(","))?;
            bar.set_position(step);
            bar.set_message(losses.summary());
            if step % args.checkpoint_every == 0 || step == args.steps {
                checkpoint_atomically(&args.checkpoint, |d| trainer.save_checkpoint(d))?;
                log_checkpoint(&bar, step, wall);
                write_model(trainer, trainer.export(self.name)?, &args.out)?;
            }
        }
        bar.finish();
        Ok(())
    }
}

/// Writes a model folder: the weights and a grid of seeds 0 to 63 with their provenance.
fn write_model(trainer: &Trainer, weights: WeightsFile, out: &Path) -> Result<()> {
    weights.write_dir(out)?;
    let grid = provenance(&weights.meta, "seeds 0 to 63".into());
    let samples = trainer.latent_model().sample(64, 0)?;
    write_grid(samples, 64, 8, &out.join("samples.png"), &grid)
}

/// Fine-tunes for `steps` on `examples` and writes the model folder `out`.
fn fine_tune_loop(
    trainer: &mut Trainer,
    examples: &[Example],
    steps: u64,
    name: &str,
    out: &Path,
) -> Result<()> {
    let mut sampler = BatchSampler::new(examples.len(), 1);
    let bar = progress(steps, 0);
    for step in 1..=steps {
        let idx = sampler.next_batch(trainer.batch_size());
        let batch: Vec<&Rgb64> = idx.iter().map(|i| &examples[*i].image).collect();
        let losses = pollster::block_on(trainer.step(&batch))?;
        bar.set_position(step);
        bar.set_message(losses.summary());
    }
    bar.finish();
    let mut weights = trainer.export(name)?;
    weights.meta.fine_tuned = true;
    write_model(trainer, weights, out)
}

fn train_classifier(args: &TrainArgs, device: &burn::tensor::Device) -> Result<()> {
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
        };
    fn pick(set: &[Example], labelled: fn(&Example) -> Option<usize>) -> Vec<(&Rgb64, usize)> {
        set.iter()
            .filter_map(|e| labelled(e).map(|l| (&e.image, l)))
            .collect()
    }
    let (train, held_out) = (pick(&data.train, labelled), pick(&data.held_out, labelled));
    let config = ClassifierConfig::new(classes.len());
    let mut trainer = ClassifierTrainer::new(config, 1e-3, args.seed, device);
    let mut sampler = BatchSampler::new(train.len(), args.seed);
    let bar = progress(args.steps, 0);
    for step in 1..=args.steps {
        let idx = sampler.next_batch(args.batch_size);
        let images: Vec<&Rgb64> = idx.iter().map(|i| train[*i].0).collect();
        let labels: Vec<usize> = idx.iter().map(|i| train[*i].1).collect();
        let loss = pollster::block_on(trainer.step(&images, &labels))?;
        bar.set_position(step);
        bar.set_message(format!("loss {loss:.3}"));
    }
    bar.finish();
    let classifier = trainer.classifier();
    let accuracy = |set: &[(&Rgb64, usize)]| -> Result<f64> {
        let mut correct = 0;
        for chunk in set.chunks(128) {
            let images: Vec<&Rgb64> = chunk.iter().map(|e| e.0).collect();
            let pred = pollster::block_on(classify(&classifier, img::to_tensor(&images, device)))?;
            correct += pred.iter().zip(chunk).filter(|(p, e)| **p == e.1).count();
        }
        Ok(correct as f64 / set.len().max(1) as f64)
    };
    println!(
        "{name} accuracy: train {:.3} (n={}), held-out {:.3} (n={}), {} classes",
        accuracy(&train)?,
        train.len(),
        accuracy(&held_out)?,
        held_out.len(),
        classes.len()
    );
    trainer.export(name)?.write_dir(&args.out)?;
    Ok(())
}

fn report(
    model_path: &Path,
    classifier: &Path,
    tone_classifier: &Path,
    data_dir: &Path,
    n: usize,
) -> Result<()> {
    let device = default_device();
    let category = load_classifier(classifier, &device)?;
    let tone = load_classifier(tone_classifier, &device)?;
    let data = data::load_emoji(&data::emoji_dir(data_dir))?;
    let people = data
        .categories
        .iter()
        .position(|c| c == PEOPLE)
        .with_context(|| format!("the emoji data has no {PEOPLE:?} category"))?;
    let (model, meta) = load_model(model_path)?;
    // Seeds far from the grids' and eval's: the report is reproducible.
    let report = pollster::block_on(skin_tone_report(
        &model,
        &category,
        people,
        &tone,
        &data.train,
        n,
        2_000_000,
    ))?;
    println!(
        "Skin tones of people emoji: {} ({} samples) vs its training data\n",
        meta.name, n
    );
    print!("{}", report.to_markdown());
    Ok(())
}

fn finetune(
    model: &Path,
    images: &Path,
    steps: u64,
    batch_size: usize,
    freeze: usize,
    out: &Path,
) -> Result<()> {
    let device = default_device();
    let file = WeightsFile::read(model)?;
    let (examples, skipped) = data::load_folder(images)?;
    report_skipped(&skipped);
    println!(
        "fine-tuning {} on {} images",
        file.meta.name,
        examples.len()
    );
    let name = format!("{}-finetuned", file.meta.name);
    let mut trainer = Trainer::fine_tune(&file, batch_size, freeze, &device)?;
    fine_tune_loop(&mut trainer, &examples, steps, &name, out)
}

fn load_classifier(path: &Path, device: &burn::tensor::Device) -> Result<Classifier> {
    let file = WeightsFile::read(path)?;
    let ModelConfig::Classifier(config) = &file.config else {
        bail!(
            "{} is a {}, not a classifier",
            path.display(),
            file.config.kind()
        );
    };
    Ok(file.load("classifier", config.init(device))?)
}

fn evaluate(model_path: &Path, classifier: &Path, data_dir: &Path, floor: bool) -> Result<()> {
    let device = default_device();
    let classifier = load_classifier(classifier, &device)?;
    let data = data::load_emoji(&data::emoji_dir(data_dir))?;
    let held: Vec<&Rgb64> = data.held_out.iter().map(|e| &e.image).collect();
    let real = pollster::block_on(eval::features_of_images(&classifier, &held, &device))?;
    let n = held.len();
    let (model, _) = load_model(model_path)?;
    // Fixed seeds far from the ones shown in grids: the score is reproducible.
    let mut generated = Vec::new();
    for start in (0..n).step_by(128) {
        let count = 128.min(n - start);
        let images = model.sample(count, 1_000_000 + start as u64)?;
        generated.extend(pollster::block_on(eval::features_of_tensor(
            &classifier,
            images,
        ))?);
    }
    let scores = eval::score(&real, &generated)?;
    println!(
        "{}: FD-emoji {:.3}  precision {:.3}  recall {:.3}  (n = {n} vs held-out)",
        model_path.display(),
        scores.frechet_distance,
        scores.precision,
        scores.recall
    );
    if floor {
        let mut idx: Vec<usize> = (0..data.train.len()).collect();
        latentpad::latent::SplitMix64::new(9).shuffle(&mut idx);
        let train: Vec<&Rgb64> = idx[..n].iter().map(|i| &data.train[*i].image).collect();
        let train = pollster::block_on(eval::features_of_images(&classifier, &train, &device))?;
        let s = eval::score(&real, &train)?;
        println!(
            "floor (real training images vs held-out): FD-emoji {:.3}  precision {:.3}  recall {:.3}",
            s.frechet_distance, s.precision, s.recall
        );
    }
    Ok(())
}
