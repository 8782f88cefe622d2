//! The few-shot fine-tuning benchmark (`latentpad bench-finetune`): target sets cut from
//! emoji styles the model was not trained on (Twemoji, Fluent), fine-tuning runs of the same
//! session type the browser uses ([`FineTuning`]) under named recipes, and for each recipe and
//! step count the scores of its samples against the target set's held-out images, beside the
//! floor (the uploads themselves against the held-out) and a memorisation check.
//!
//! Scores are in the feature space of the evaluation classifier (`eval`). Memorisation is
//! measured in pixels: the RMS distance (0-255) from each image to its nearest upload. A
//! model that copies its uploads puts samples nearer to them than any held-out image of the
//! same kind is.

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;

use crate::data::{EmojiData, Example};
use crate::eval::{self, Scores};
use crate::image::{self, Provenance, Rgb64};
use crate::latent::SplitMix64;
use crate::model::{Classifier, LatentModel};
use crate::train::finetune::{FineTuning, Tweaks};
use crate::weights::WeightsFile;
use crate::{Error, Result};

/// Which emoji of a style make up a target set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    /// Emoji whose short name mentions a heart.
    Hearts,
    /// The "Flags" category.
    Flags,
    /// The "Animals & Nature" category.
    Animals,
    /// Fluent emoji (another style) whose name mentions a face: smileys and animal faces.
    FluentFaces,
}

impl SetKind {
    /// Every kind, in the benchmark's order.
    pub const ALL: [SetKind; 4] = [
        SetKind::Hearts,
        SetKind::Flags,
        SetKind::Animals,
        SetKind::FluentFaces,
    ];

    /// Its name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hearts => "hearts",
            Self::Flags => "flags",
            Self::Animals => "animals",
            Self::FluentFaces => "fluent-faces",
        }
    }

    /// Whether its images come from the Fluent set (`data::load_fluent`), not Twemoji.
    pub fn is_fluent(self) -> bool {
        self == Self::FluentFaces
    }

    fn contains(self, example: &Example, categories: &[String]) -> bool {
        let category = categories.get(example.category).map(String::as_str);
        match self {
            Self::Hearts => example.short_name.contains("heart"),
            Self::Flags => category == Some("Flags"),
            Self::Animals => category == Some("Animals & Nature"),
            Self::FluentFaces => example.short_name.contains("face"),
        }
    }
}

impl std::str::FromStr for SetKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SetKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown kind {s:?}: hearts, flags, animals or fluent-faces"
                ))
            })
    }
}

/// Uploads and the held-out images of the same kind they are scored against.
pub struct TargetSet {
    /// `<kind>-<uploads>`, e.g. `hearts-10`.
    pub name: String,
    /// What a person would upload.
    pub uploads: Vec<Rgb64>,
    /// Images of the same kind not uploaded.
    pub held_out: Vec<Rgb64>,
}

/// Fewest held-out images a target set is scored against: with fewer, precision and recall
/// (k = 3 neighbours) swing between 0 and 1 from one step count to the next.
pub const MIN_HELD_OUT: usize = 8;

/// The target set of `uploads` images of `kind` from `data` (default-tone images only, both
/// halves of the data's split), drawn in a fixed order; the rest of the kind is held out, at
/// least [`MIN_HELD_OUT`] images.
pub fn target_set(data: &EmojiData, kind: SetKind, uploads: usize) -> Result<TargetSet> {
    let mut pool: Vec<&Example> = data
        .train
        .iter()
        .chain(&data.held_out)
        .filter(|e| e.skin_tone.is_none() && kind.contains(e, &data.categories))
        .collect();
    pool.sort_by(|a, b| a.name.cmp(&b.name));
    SplitMix64::new(0xF3E5_0001).shuffle(&mut pool);
    if pool.len() < uploads + MIN_HELD_OUT {
        return Err(Error::Config(format!(
            "{} {}: only {} images, too few to hold {uploads} uploads and a held-out set",
            kind.name(),
            uploads,
            pool.len()
        )));
    }
    let (up, held) = pool.split_at(uploads);
    Ok(TargetSet {
        name: format!("{}-{uploads}", kind.name()),
        uploads: up.iter().map(|e| e.image.clone()).collect(),
        held_out: held.iter().map(|e| e.image.clone()).collect(),
    })
}

/// A fine-tuning recipe: what the browser's session takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Its name in tables.
    pub name: String,
    /// Images per step.
    pub batch_size: usize,
    /// FreezeD: discriminator blocks not trained.
    pub freeze_discriminator_layers: usize,
    /// Inversion steps of the quick mode's latent prior before fine-tuning (0: none).
    pub invert_steps: usize,
    /// The prior's spread (see [`crate::model::LatentPrior`]; `None`: the session's
    /// default for the model's kind).
    pub prior_spread: Option<f32>,
    /// A VAE's quick mode: how far a sample's centre moves towards a second upload's (`None`:
    /// the session's default; see [`crate::model::LatentPrior::mix`]).
    pub prior_mix: Option<f32>,
    /// A VAE's quick mode: its step in the uploads' first K principal directions (`None`:
    /// the model's choice; 0: none).
    pub prior_principal: Option<usize>,
    /// Pivotal tuning's weight after the prior's inversion (0: none; `None`: the page's,
    /// [`default_pivot_weight`] of the uploads).
    pub pivot_weight: Option<f64>,
    /// The truncation its samples are drawn with (1: none; see
    /// [`LatentModel::set_truncation`]).
    pub truncation: f32,
    /// Settings other than the page's ([`FineTuning::tweak`]).
    pub tweaks: Tweaks,
    /// Best-of-k sampling by the fine-tuned discriminator (1: plain; see
    /// [`LatentModel::set_best_of`]).
    pub best_of: usize,
    /// Standing statistics before sampling (see [`crate::recalibrate`]).
    pub recalibrate: bool,
}

impl std::str::FromStr for Recipe {
    type Err = Error;
    /// `default` (the page's: batch 16, FreezeD 2), `freeze-N` (batch 16, FreezeD N), or
    /// `prior` / `prior-N` (the quick mode's latent prior from N inversion steps, 50 by
    /// default, then the default recipe's steps; the page's quick mode), `prior-narrow` (its
    /// spread 0.5 instead of 0.75), `pivotal` (`prior`, then pivotal tuning on the inverted
    /// uploads), `pivotal-W` (the same with the pivots' weight W, above 0 and at most 1000);
    /// any of them followed by changes to the page's settings, `+noaug` (no DiffAugment),
    /// `+lr=X` (learning rate), `+ema=X` (EMA decay), `+spread=X` (the quick mode's spread),
    /// `+mix=X` (a VAE's quick mode: how far towards a second upload, 0 to 1), `+pc=K` (a
    /// VAE's quick mode: its step in the uploads' K widest principal directions, 0: none),
    /// `+best=K` (samples picked best of K by the fine-tuned discriminator), `+recal` (standing
    /// statistics before sampling), and by `@PSI` to
    /// draw its samples at truncation PSI (`pivotal+noaug@0.7`).
    fn from_str(name: &str) -> Result<Self> {
        let unknown = || {
            Error::Config(format!(
                "unknown recipe {name:?}: default, freeze-0 to freeze-4, prior, prior-narrow, \
                 prior-N (1 to 1000), pivotal or pivotal-W (weight above 0, at most 1000), each \
                 optionally followed by +noaug, +lr=X and +ema=X (X above 0, below 1), +spread=X \
                 (above 0, at most 1), +mix=X (0 to 1), +pc=K (0 to 512), +best=K (2 to 16), \
                 +recal and @PSI (a truncation above 0, at most 1)"
            ))
        };
        let (s, truncation) = match name.split_once('@') {
            Some((s, psi)) => {
                let psi = psi.parse::<f32>().ok().filter(|&p| p > 0.0 && p <= 1.0);
                (s, psi.ok_or_else(unknown)?)
            }
            None => (name, 1.0),
        };
        let mut parts = s.split('+');
        let s = parts.next().unwrap_or_default();
        let mut tweaks = Tweaks::default();
        let mut spread = None;
        let mut mix = None;
        let mut principal = None;
        let mut best_of = 1;
        let mut recalibrate = false;
        for part in parts {
            let fraction = |x: &str| x.parse::<f64>().ok().filter(|&x| x > 0.0 && x < 1.0);
            match part.split_once('=') {
                None if part == "noaug" => tweaks.augment = false,
                None if part == "recal" => recalibrate = true,
                Some(("lr", x)) => tweaks.learning_rate = Some(fraction(x).ok_or_else(unknown)?),
                Some(("ema", x)) => tweaks.ema_decay = Some(fraction(x).ok_or_else(unknown)?),
                Some(("spread", x)) => {
                    let x = x.parse::<f32>().ok().filter(|&x| x > 0.0 && x <= 1.0);
                    spread = Some(x.ok_or_else(unknown)?);
                }
                Some(("mix", x)) => {
                    let x = x.parse::<f32>().ok().filter(|x| (0.0..=1.0).contains(x));
                    mix = Some(x.ok_or_else(unknown)?);
                }
                Some(("pc", k)) => {
                    let k = k.parse::<usize>().ok().filter(|k| *k <= 512);
                    principal = Some(k.ok_or_else(unknown)?);
                }
                Some(("best", k)) => {
                    let k = k.parse::<usize>().ok().filter(|k| (2..=16).contains(k));
                    best_of = k.ok_or_else(unknown)?;
                }
                _ => return Err(unknown()),
            }
        }
        let recipe = |freeze: usize, invert_steps: usize, pivot_weight: Option<f64>| Recipe {
            name: name.to_string(),
            batch_size: 16,
            freeze_discriminator_layers: freeze,
            invert_steps,
            prior_spread: spread.or((s == "prior-narrow").then_some(0.5)),
            prior_mix: mix,
            prior_principal: principal,
            pivot_weight,
            truncation,
            tweaks,
            best_of,
            recalibrate,
        };
        match s {
            "default" => Ok(recipe(2, 0, Some(0.0))),
            "prior" | "prior-narrow" => Ok(recipe(2, 50, Some(0.0))),
            "pivotal" => Ok(recipe(2, 50, None)),
            _ => {
                if let Some(w) = s.strip_prefix("pivotal-") {
                    let w = w.parse::<f64>().ok().filter(|&w| w > 0.0 && w <= 1000.0);
                    let w = w.ok_or_else(unknown)?;
                    Ok(recipe(2, 50, Some(w)))
                } else if let Some(n) = s.strip_prefix("prior-") {
                    let n = n.parse().ok().filter(|&n| n > 0 && n <= 1000);
                    Ok(recipe(2, n.ok_or_else(unknown)?, Some(0.0)))
                } else {
                    let freeze = s.strip_prefix("freeze-").and_then(|n| n.parse().ok());
                    match freeze {
                        Some(freeze) if freeze <= 4 => Ok(recipe(freeze, 0, Some(0.0))),
                        _ => Err(unknown()),
                    }
                }
            }
        }
    }
}

/// One line of the benchmark's table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Target set.
    pub set: String,
    /// Recipe, or "floor" for the uploads themselves.
    pub recipe: String,
    /// Fine-tuning steps (0: the base model).
    pub steps: u64,
    /// Scores against the held-out images.
    pub scores: Scores,
    /// RMS pixel distance from the sample nearest to an upload to that upload.
    pub nearest_sample: f64,
    /// The same taken over as many samples as there are held-out images (the median over
    /// consecutive groups of that many samples): the count-matched comparison with
    /// [`Self::nearest_held_out`], which the nearest of many more samples is not.
    pub nearest_sample_matched: f64,
    /// The same for the held-out image nearest to an upload: the bar samples must not pass.
    pub nearest_held_out: f64,
    /// Seconds of fine-tuning behind the row.
    pub seconds: f64,
}

impl Row {
    /// The table's header, in Markdown.
    pub const HEADER: &'static str = "| set | recipe | steps | FD | KID x 100 | precision | recall | nearest sample to an upload | the same per as many samples as held-out images (median) | nearest held-out to an upload | fine-tuning s |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

    /// The row in Markdown.
    pub fn to_markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {:.2} | {:.2} +- {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {:.0} |",
            self.set,
            self.recipe,
            self.steps,
            self.scores.frechet_distance,
            100.0 * self.scores.kid,
            100.0 * self.scores.kid_spread,
            self.scores.precision,
            self.scores.recall,
            self.nearest_sample,
            self.nearest_sample_matched,
            self.nearest_held_out,
            self.seconds
        )
    }
}

/// Seeds of the scored samples: far from the grids' (0..64) and eval's.
const SAMPLE_SEED: u64 = 3_000_000;
/// Samples scored per row (at least the held-out count).
const MIN_SAMPLES: usize = 128;

/// What every run of a benchmark shares.
pub struct Bench<'a> {
    /// The model fine-tuned.
    pub base: &'a WeightsFile,
    /// Whose features the scores use.
    pub classifier: &'a Classifier,
    /// Where it all runs.
    pub device: &'a Device,
    /// Where grids of 64 samples per row (and of the uploads) go, if anywhere.
    pub grids: Option<&'a Path>,
}

/// Measures how `recipe` moves the base model towards `set`, at each of `checkpoints`
/// (ascending step counts; 0 is the base model), and the floor; each row also goes to
/// `on_row` as soon as it is measured.
pub fn run(
    bench: &Bench,
    set: &TargetSet,
    recipe: &Recipe,
    checkpoints: &[u64],
    mut on_row: impl FnMut(&Row),
) -> Result<Vec<Row>> {
    let Bench {
        base,
        classifier,
        device,
        grids,
    } = *bench;
    let uploads: Vec<&Rgb64> = set.uploads.iter().collect();
    let held: Vec<&Rgb64> = set.held_out.iter().collect();
    let real = pollster::block_on(eval::features_of_images(classifier, &held, device))?;
    let nearest_held_out = nearest_to(&uploads, &held);
    let mut rows = Vec::new();
    let mut add = |row: Row, rows: &mut Vec<Row>| {
        on_row(&row);
        rows.push(row);
    };
    let floor = pollster::block_on(eval::features_of_images(classifier, &uploads, device))?;
    add(
        Row {
            set: set.name.clone(),
            recipe: "floor".into(),
            steps: 0,
            scores: eval::score(&real, &floor)?,
            nearest_sample: 0.0,
            nearest_sample_matched: 0.0,
            nearest_held_out,
            seconds: 0.0,
        },
        &mut rows,
    );
    if let Some(dir) = grids {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tensor = image::to_tensor(&uploads, device);
        let provenance = Provenance {
            model: "uploads".into(),
            fine_tuned: false,
            latent: set.name.clone(),
        };
        let path = dir.join(format!("{}-uploads.png", set.name));
        let png = image::grid_png(tensor, uploads.len(), 8, &provenance)?;
        std::fs::write(&path, png).map_err(|e| Error::io(&path, e))?;
    }
    // A row of samples of `model` against the held-out images.
    let row_of = |recipe: &str, steps: u64, model: &LatentModel, seconds: f64| -> Result<Row> {
        let (generated, samples) = samples(classifier, model, MIN_SAMPLES.max(held.len()))?;
        let sample_refs: Vec<&Rgb64> = samples.iter().collect();
        Ok(Row {
            set: set.name.clone(),
            recipe: recipe.into(),
            steps,
            scores: eval::score(&real, &generated)?,
            nearest_sample: nearest_to(&uploads, &sample_refs),
            nearest_sample_matched: nearest_matched(&uploads, &sample_refs, held.len()),
            nearest_held_out,
            seconds,
        })
    };
    // The base model as the page shows it before fine-tuning (with its own sampling prior,
    // which a fine-tuning session drops): the start of the gap to the floor.
    let shipped = LatentModel::from_weights(base, device)?;
    add(row_of("base model", 0, &shipped, 0.0)?, &mut rows);
    let mut session = FineTuning::new(
        base.clone(),
        set.uploads.clone(),
        recipe.batch_size,
        recipe.freeze_discriminator_layers,
        device,
    )?;
    session.tweak(recipe.tweaks)?;
    let mut seconds = 0.0;
    if recipe.invert_steps > 0 {
        let started = Instant::now();
        if let Some(spread) = recipe.prior_spread {
            session.set_prior_spread(spread);
        }
        if let Some(k) = recipe.prior_principal {
            session.set_prior_principal(k);
        }
        if let Some(mix) = recipe.prior_mix {
            session.set_prior_mix(mix);
        }
        if let Some(weight) = recipe.pivot_weight {
            session.set_pivot_weight(weight);
        }
        pollster::block_on(session.run_quick_mode(recipe.invert_steps))?;
        seconds += started.elapsed().as_secs_f64();
    }
    for &target in checkpoints {
        let started = Instant::now();
        while session.steps() < target {
            pollster::block_on(session.step())?;
        }
        seconds += started.elapsed().as_secs_f64();
        // The weights, read back once, where recalibration or the critic needs them.
        let exported = (recipe.recalibrate || recipe.best_of > 1)
            .then(|| pollster::block_on(session.export()))
            .transpose()?;
        let mut model = match &exported {
            Some(file) if recipe.recalibrate => {
                let how = crate::recalibrate::Recalibration::default();
                LatentModel::from_weights(
                    &crate::recalibrate::recalibrate(file, how, device)?,
                    device,
                )?
            }
            _ => session.latent_model(),
        };
        model.set_truncation(recipe.truncation)?;
        if let (Some(file), true) = (&exported, recipe.best_of > 1) {
            model.load_critic(file)?;
            model.set_best_of(recipe.best_of)?;
        }
        let row = row_of(&recipe.name, target, &model, seconds)?;
        if let Some(dir) = grids {
            let provenance = Provenance {
                model: format!("{} fine-tuned on {}", base.meta.name, set.name),
                fine_tuned: target > 0,
                latent: format!(
                    "seeds 0 to 63{}",
                    model.describe_steering(Default::default())
                ),
            };
            let path = dir.join(format!("{}-{}-{target}.png", set.name, recipe.name));
            let png = image::grid_png(model.sample(64, 0)?, 64, 8, &provenance)?;
            std::fs::write(&path, png).map_err(|e| Error::io(&path, e))?;
        }
        add(row, &mut rows);
    }
    Ok(rows)
}

/// `n` samples of `model` (seeds from [`SAMPLE_SEED`]), drawn once in batches: their
/// features and their pixels.
fn samples(
    classifier: &Classifier,
    model: &LatentModel,
    n: usize,
) -> Result<(Vec<Vec<f32>>, Vec<Rgb64>)> {
    let (mut features, mut pixels) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for start in (0..n).step_by(128) {
        let images = model.sample(128.min(n - start), SAMPLE_SEED + start as u64)?;
        features.extend(pollster::block_on(eval::features_of_tensor(
            classifier,
            images.clone(),
        ))?);
        let rgba = pollster::block_on(image::to_rgba(images))?;
        pixels.extend(image::from_rgba(&rgba)?);
    }
    Ok((features, pixels))
}

/// The smallest RMS pixel distance from any of `images` to its nearest upload.
fn nearest_to(uploads: &[&Rgb64], images: &[&Rgb64]) -> f64 {
    images
        .iter()
        .map(|image| {
            uploads
                .iter()
                .map(|upload| rms(image, upload))
                .fold(f64::INFINITY, f64::min)
        })
        .fold(f64::INFINITY, f64::min)
}

/// The median over consecutive groups of `group` of `images` of [`nearest_to`]: the nearest
/// distance a set of `group` images reaches (a last, smaller group is left out).
fn nearest_matched(uploads: &[&Rgb64], images: &[&Rgb64], group: usize) -> f64 {
    let mut nearest: Vec<f64> = images
        .chunks_exact(group.max(1))
        .map(|chunk| nearest_to(uploads, chunk))
        .collect();
    if nearest.is_empty() {
        return nearest_to(uploads, images);
    }
    nearest.sort_by(f64::total_cmp);
    nearest[nearest.len() / 2]
}

/// RMS distance of two images' pixel values (0-255).
fn rms(a: &Rgb64, b: &Rgb64) -> f64 {
    let sum: f64 =
        a.0.iter()
            .zip(&b.0)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum();
    (sum / a.0.len() as f64).sqrt()
}

/// Runs `latentpad bench-finetune`: every recipe on every target set of every kind and size,
/// a row per step count, said as Markdown as it is measured and written to `table.md` in
/// `--out` with the sample grids. A kind too small for a size is left out with a comment.
pub fn bench(
    o: &crate::options::BenchOptions,
    device: &Device,
    on: &mut dyn FnMut(crate::progress::Progress),
) -> Result<()> {
    use crate::data::{self, EmojiStyle};
    use crate::progress::Progress::Say;
    let kinds: Vec<SetKind> = o.sets.iter().map(|k| k.parse()).collect::<Result<_>>()?;
    let recipes: Vec<Recipe> = o.recipes.iter().map(|r| r.parse()).collect::<Result<_>>()?;
    let mut steps = o.steps.clone();
    steps.sort_unstable();
    steps.dedup();
    let twemoji = kinds
        .iter()
        .any(|k| !k.is_fluent())
        .then(|| data::load_fetched(&o.data_dir, EmojiStyle::Twemoji))
        .transpose()?;
    let fluent = kinds
        .iter()
        .any(|k| k.is_fluent())
        .then(|| data::load_fetched_fluent(&o.data_dir))
        .transpose()?;
    let base = WeightsFile::read(&o.model)?;
    let classifier = eval::read_classifier(&o.classifier, device)?;
    let bench = Bench {
        base: &base,
        classifier: &classifier,
        device,
        grids: Some(&o.out),
    };
    let mut table = vec![Row::HEADER.to_string()];
    on(Say(Row::HEADER.to_string()));
    for kind in kinds {
        let data = if kind.is_fluent() { &fluent } else { &twemoji };
        let Some(data) = data else { continue };
        for &size in &o.sizes {
            let set = match target_set(data, kind, size) {
                Ok(set) => set,
                Err(e) => {
                    on(Say(format!("<!-- skipped: {e} -->")));
                    continue;
                }
            };
            on(Say(format!(
                "<!-- {}: {} uploads, {} held out -->",
                set.name,
                set.uploads.len(),
                set.held_out.len()
            )));
            for (i, recipe) in recipes.iter().enumerate() {
                let rows = run(&bench, &set, recipe, &steps, |row| {
                    on(Say(row.to_markdown()))
                })?;
                // The floor is the same for every recipe: the table keeps it once per set.
                table.extend(rows.iter().skip(usize::from(i > 0)).map(Row::to_markdown));
            }
        }
    }
    let path = o.out.join("table.md");
    std::fs::write(&path, table.join("\n") + "\n").map_err(|e| Error::io(&path, e))?;
    on(Say(format!(
        "wrote {} and the grids beside it",
        path.display()
    )));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_parse_and_bad_names_list_the_valid_ones() {
        let r: Recipe = "freeze-3".parse().unwrap();
        assert_eq!((r.batch_size, r.freeze_discriminator_layers), (16, 3));
        let d: Recipe = "default".parse().unwrap();
        assert_eq!(d.freeze_discriminator_layers, 2);
        let e = "freeze-9".parse::<Recipe>().unwrap_err().to_string();
        assert!(e.contains("freeze-0 to freeze-4"), "{e}");
        let p: Recipe = "prior-80".parse().unwrap();
        assert_eq!((p.invert_steps, p.freeze_discriminator_layers), (80, 2));
        assert!("prior-0".parse::<Recipe>().is_err());
        let w: Recipe = "pivotal-2.5".parse().unwrap();
        assert_eq!(
            (w.pivot_weight, w.invert_steps, w.name.as_str()),
            (Some(2.5), 50, "pivotal-2.5")
        );
        let p: Recipe = "pivotal".parse().unwrap();
        assert_eq!(p.pivot_weight, None);
        assert_eq!("prior".parse::<Recipe>().unwrap().pivot_weight, Some(0.0));
        for bad in ["pivotal-0", "pivotal-x", "pivotal-1e9"] {
            let e = bad.parse::<Recipe>().unwrap_err().to_string();
            assert!(e.contains("pivotal-W"), "{bad}: {e}");
        }
        let t: Recipe = "pivotal-2.5@0.7".parse().unwrap();
        assert_eq!(
            (t.pivot_weight, t.truncation, t.name.as_str()),
            (Some(2.5), 0.7, "pivotal-2.5@0.7")
        );
        assert_eq!(p.truncation, 1.0);
        assert_eq!(p.tweaks, Tweaks::default());
        let n: Recipe = "pivotal+noaug+lr=1e-4+ema=0.9@0.8".parse().unwrap();
        let want = Tweaks {
            augment: false,
            learning_rate: Some(1e-4),
            ema_decay: Some(0.9),
        };
        assert_eq!((n.tweaks, n.truncation, n.pivot_weight), (want, 0.8, None));
        let b: Recipe = "pivotal+best=4".parse().unwrap();
        assert_eq!((b.best_of, p.best_of), (4, 1));
        let r: Recipe = "pivotal+recal@0.7".parse().unwrap();
        assert_eq!(
            (r.recalibrate, p.recalibrate, r.truncation),
            (true, false, 0.7)
        );
        let w: Recipe = "pivotal+spread=0.9".parse().unwrap();
        assert_eq!((w.prior_spread, p.prior_spread), (Some(0.9), None));
        let one: Recipe = "prior+spread=1".parse().unwrap();
        assert_eq!(one.prior_spread, Some(1.0));
        let pc: Recipe = "prior+pc=0".parse().unwrap();
        assert_eq!((pc.prior_principal, one.prior_principal), (Some(0), None));
        let e = "prior+pc=999".parse::<Recipe>().unwrap_err().to_string();
        assert!(e.contains("+pc=K (0 to 512)"), "{e}");
        for bad in [
            "pivotal+aug",
            "pivotal+lr=2",
            "pivotal+ema=",
            "pivotal+",
            "prior+spread=1.5",
            "pivotal+best=1",
            "pivotal+best=99",
            "pivotal+recal=1",
        ] {
            let e = bad.parse::<Recipe>().unwrap_err().to_string();
            assert!(e.contains("+noaug"), "{bad}: {e}");
        }
        for bad in ["pivotal@0", "pivotal@1.5", "pivotal@", "frogs@0.5"] {
            let e = bad.parse::<Recipe>().unwrap_err().to_string();
            assert!(e.contains("@PSI"), "{bad}: {e}");
        }
        assert!(
            "frogs"
                .parse::<SetKind>()
                .unwrap_err()
                .to_string()
                .contains("hearts")
        );
    }

    #[test]
    fn nearest_distance_is_zero_for_a_copy_and_grows_with_difference() {
        let a = Rgb64(vec![10; image::RGB_LEN]);
        let b = Rgb64(vec![40; image::RGB_LEN]);
        assert_eq!(nearest_to(&[&a], &[&a, &b]), 0.0);
        assert!((nearest_to(&[&a], &[&b]) - 30.0).abs() < 1e-9);
        // Count-matched: the median of the groups' nearest, not the nearest of all. Groups
        // of 2 from [a, b, b, b, b, b, c]: nearest 0, 30, 30 (c left out): median 30.
        let c = Rgb64(vec![11; image::RGB_LEN]);
        let images = [&a, &b, &b, &b, &b, &b, &c];
        assert!((nearest_matched(&[&a], &images, 2) - 30.0).abs() < 1e-9);
        assert_eq!(nearest_to(&[&a], &images), 0.0);
        assert_eq!(
            nearest_matched(&[&a], &images[..1], 2),
            0.0,
            "fewer than a group"
        );
    }
}
