//! The representation report: does a model draw people in the skin tones its training data
//! has, in the same proportions? Generated images that the category classifier calls
//! "People & Body" are sorted by a skin-tone classifier, and the mix is set beside the
//! training data's: once from the metadata's labels, once through the same two classifiers
//! (the fair comparison, since it carries the classifiers' own errors on both sides).

use burn::prelude::*;

use crate::backend::read_f32;
use crate::data::Example;
use crate::image::{self, Rgb64};
use crate::model::{Classifier, LatentModel, Steering, TONES};
use crate::{Error, Result};

/// The skin-tone classifier's classes: the default (yellow) image of an emoji that comes in
/// tones, and the five Fitzpatrick modifiers (types 1-2 share one). Class `c` is
/// [`TONES`]`[c + 1]`: the classifier never sees an emoji without tones (`none`).
pub const TONE_CLASSES: usize = TONES.len() - 1;

/// The name of skin-tone class `class` in the report's tables.
pub fn tone_class_name(class: usize) -> &'static str {
    match class {
        0 => "default (yellow)",
        c => TONES.get(c + 1).copied().unwrap_or("?"),
    }
}

/// The emoji category the report looks at.
pub const PEOPLE: &str = "People & Body";

/// Skin-tone class of an example that comes in tones (`None` for the others).
pub fn tone_label(example: &Example) -> Option<usize> {
    example
        .has_skin_tones
        .then(|| example.skin_tone.map_or(0, usize::from))
}

/// How many images fell in each tone class.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ToneMix(pub [usize; TONE_CLASSES]);

impl ToneMix {
    /// Counts the classes.
    pub fn of(labels: impl IntoIterator<Item = usize>) -> Self {
        let mut mix = Self::default();
        for l in labels {
            mix.0[l.min(TONE_CLASSES - 1)] += 1;
        }
        mix
    }

    /// Number of images counted.
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    /// Share of each class (zeros when empty).
    pub fn shares(&self) -> [f64; TONE_CLASSES] {
        let total = self.total().max(1) as f64;
        self.0.map(|c| c as f64 / total)
    }
}

/// The report's three columns.
#[derive(Debug, Clone)]
pub struct Report {
    /// Tone labels of the training emoji that come in tones.
    pub training_labels: ToneMix,
    /// Training images the classifiers call people, by predicted tone.
    pub training_classified: ToneMix,
    /// Generated images the classifiers call people, by predicted tone.
    pub generated: ToneMix,
    /// Images generated in all (people or not).
    pub generated_total: usize,
    /// Training images classified in all.
    pub training_total: usize,
}

impl Report {
    /// The table as Markdown (also readable as plain text).
    pub fn to_markdown(&self) -> String {
        let [l, c, g] = [
            self.training_labels.shares(),
            self.training_classified.shares(),
            self.generated.shares(),
        ];
        let mut out = format!(
            "| skin tone | training labels (n={}) | training, classified (n={} of {}) | generated, classified (n={} of {}) |\n|---|---|---|---|\n",
            self.training_labels.total(),
            self.training_classified.total(),
            self.training_total,
            self.generated.total(),
            self.generated_total,
        );
        for i in 0..TONE_CLASSES {
            let tone = tone_class_name(i);
            out += &format!(
                "| {tone} | {:.1}% | {:.1}% | {:.1}% |\n",
                100.0 * l[i],
                100.0 * c[i],
                100.0 * g[i]
            );
        }
        out
    }
}

/// Predicted class of each image.
pub async fn classify(classifier: &Classifier, images: Tensor<4>) -> Result<Vec<usize>> {
    argmax_rows(classifier.forward(images)).await
}

/// The class of each row of `logits` (`[n, classes]`).
async fn argmax_rows(logits: Tensor<2>) -> Result<Vec<usize>> {
    let classes = logits.dims()[1];
    Ok(read_f32(logits)
        .await?
        .chunks(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i)
        })
        .collect())
}

/// Tones of the images the category classifier puts in category `people`.
async fn people_tones(
    category: &Classifier,
    people: usize,
    tone: &Classifier,
    images: Tensor<4>,
) -> Result<Vec<usize>> {
    let kinds = classify(category, images.clone()).await?;
    let keep: Vec<i64> = (0..kinds.len())
        .filter(|i| kinds[*i] == people)
        .map(|i| i as i64)
        .collect();
    if keep.is_empty() {
        return Ok(Vec::new());
    }
    let n = keep.len();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(keep, [n]), &images.device());
    classify(tone, images.select(0, idx)).await
}

/// Compares `n` samples of `model` (seeds from `seed`) with the training examples.
pub async fn skin_tone_report(
    model: &LatentModel,
    category: &Classifier,
    people: usize,
    tone: &Classifier,
    train: &[Example],
    n: usize,
    seed: u64,
) -> Result<Report> {
    if n == 0 {
        return Err(Error::Config("the report needs at least one sample".into()));
    }
    let device = model.device().clone();
    let mut generated = Vec::new();
    for start in (0..n).step_by(128) {
        let count = 128.min(n - start);
        let images = model.sample(count, seed + start as u64)?;
        generated.extend(people_tones(category, people, tone, images).await?);
    }
    let mut classified = Vec::new();
    for chunk in train.chunks(128) {
        let refs: Vec<&Rgb64> = chunk.iter().map(|e| &e.image).collect();
        let images = image::to_tensor(&refs, &device);
        classified.extend(people_tones(category, people, tone, images).await?);
    }
    Ok(Report {
        training_labels: ToneMix::of(train.iter().filter_map(tone_label)),
        training_classified: ToneMix::of(classified),
        generated: ToneMix::of(generated),
        generated_total: n,
        training_total: train.len(),
    })
}

/// How well a conditional GAN follows its steering: for each category, the share of samples
/// asked for it that the category classifier puts in it; for each skin tone, the share of
/// people asked for it that the skin-tone classifier calls that tone. Beside each, the same
/// share for real images with that label: the training images (what a generator that draws
/// its training data would score) and the held-out ones (how far the classifier generalises).
#[derive(Debug, Clone)]
pub struct Conditioning {
    /// One row per category.
    pub categories: Vec<ConditionRow>,
    /// One row per skin tone, people only.
    pub tones: Vec<ConditionRow>,
    /// The copy check ([`crate::eval::copy_ratio`]) of all the samples asked for a category,
    /// in the judge's features: well below 1, steered samples sit on training images.
    pub copy_check: f64,
    /// The same for the people asked for a tone, against held-out people.
    pub tone_copy_check: f64,
}

/// One condition's counts in [`Conditioning`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConditionRow {
    /// The category or tone.
    pub name: String,
    /// Samples asked for it.
    pub samples: usize,
    /// Of those, classified as asked.
    pub classified: usize,
    /// The class most of the other samples were put in, and how many (`None` when every
    /// sample was classified as asked).
    pub missed_as: Option<(String, usize)>,
    /// Real training images with this label, and how many of them are classified so.
    pub train: (usize, usize),
    /// Real held-out images with this label, and how many of them are classified so.
    pub held_out: (usize, usize),
}

impl Conditioning {
    /// The share classified as asked over `rows`, of the samples, the training images and the
    /// held-out images, each row weighted equally (the samples are the same number per row;
    /// the real images are not, and the people would swamp the rest), over the rows with any.
    pub fn overall(rows: &[ConditionRow]) -> [Option<f64>; 3] {
        let mean = |pairs: Vec<(usize, usize)>| {
            let shares: Vec<f64> = pairs
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, ok)| *ok as f64 / *n as f64)
                .collect();
            (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64)
        };
        [
            mean(rows.iter().map(|r| (r.samples, r.classified)).collect()),
            mean(rows.iter().map(|r| r.train).collect()),
            mean(rows.iter().map(|r| r.held_out).collect()),
        ]
    }

    /// The two tables as Markdown.
    pub fn to_markdown(&self) -> String {
        let share = |(n, ok): (usize, usize)| {
            if n == 0 {
                "-".to_string()
            } else {
                format!("{:.1}% of {n}", 100.0 * ok as f64 / n as f64)
            }
        };
        let percent = |x: Option<f64>| x.map_or("-".into(), |x| format!("{:.1}%", 100.0 * x));
        let mut out = String::from(
            "| asked for | samples classified as asked | most misses classified as | training images classified as labelled | held-out images classified as labelled |\n|---|---|---|---|---|\n",
        );
        for r in self.categories.iter().chain(&self.tones) {
            let missed = r.missed_as.as_ref().map_or("-".into(), |(name, count)| {
                format!(
                    "{name} ({:.1}%)",
                    100.0 * *count as f64 / r.samples.max(1) as f64
                )
            });
            out += &format!(
                "| {} | {} | {missed} | {} | {} |\n",
                r.name,
                share((r.samples, r.classified)),
                share(r.train),
                share(r.held_out)
            );
        }
        for (what, rows) in [
            ("all categories (mean of rows)", &self.categories),
            ("all tones (mean of rows)", &self.tones),
        ] {
            let [generated, train, held_out] = Self::overall(rows);
            out += &format!(
                "| {what} | {} | | {} | {} |\n",
                percent(generated),
                percent(train),
                percent(held_out)
            );
        }
        out += &format!(
            "\nCopy check of the samples asked for a category: {:.2} (their median distance to \
             the nearest training image over a held-out emoji's, in the judge's features); of \
             the people asked for a tone: {:.2} (over a held-out person's)\n",
            self.copy_check, self.tone_copy_check
        );
        out
    }
}

/// How many of `examples` the classifier puts in their label (`label` maps an example to its
/// class, `None` to leave it out), per class: `(images, classified as labelled)`.
async fn classified_as_labelled(
    classifier: &Classifier,
    examples: &[Example],
    label: impl Fn(&Example) -> Option<usize>,
    classes: usize,
    device: &Device,
) -> Result<Vec<(usize, usize)>> {
    let labelled: Vec<(&Example, usize)> = examples
        .iter()
        .filter_map(|e| label(e).filter(|c| *c < classes).map(|c| (e, c)))
        .collect();
    let mut predicted = Vec::with_capacity(labelled.len());
    for chunk in labelled.chunks(128) {
        let refs: Vec<&Rgb64> = chunk.iter().map(|(e, _)| &e.image).collect();
        predicted.extend(classify(classifier, image::to_tensor(&refs, device)).await?);
    }
    Ok(tally(labelled.iter().map(|(_, c)| *c), &predicted, classes))
}

/// Per class, `(items labelled so, of them predicted so)`, from each item's label and
/// prediction.
fn tally(
    labels: impl Iterator<Item = usize>,
    predicted: &[usize],
    classes: usize,
) -> Vec<(usize, usize)> {
    let mut counts = vec![(0, 0); classes];
    for (c, p) in labels.zip(predicted) {
        if let Some(count) = counts.get_mut(c) {
            count.0 += 1;
            count.1 += usize::from(*p == c);
        }
    }
    counts
}

/// The class other than `asked` that most of `predicted` are, and how many (the lowest such
/// class on a tie); `None` when all are `asked`.
fn most_missed(predicted: &[usize], asked: usize, classes: usize) -> Option<(usize, usize)> {
    let mut counts = vec![0usize; classes];
    for &p in predicted.iter().filter(|&&p| p != asked) {
        if let Some(count) = counts.get_mut(p) {
            *count += 1;
        }
    }
    let (class, count) = counts
        .into_iter()
        .enumerate()
        .rev()
        .max_by_key(|&(_, count)| count)?;
    (count > 0).then_some((class, count))
}

/// The classifier's features of `images` and the class it puts each in, from one pass.
async fn judge(classifier: &Classifier, images: Tensor<4>) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
    let features = classifier.features(images);
    let classes = argmax_rows(classifier.logits(features.clone())).await?;
    let dim = features.dims()[1];
    let features = read_f32(features)
        .await?
        .chunks(dim)
        .map(<[f32]>::to_vec)
        .collect();
    Ok((features, classes))
}

/// [`judge`] of `examples`' images, in batches.
async fn judged(
    classifier: &Classifier,
    examples: &[Example],
    device: &Device,
) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
    let mut features = Vec::with_capacity(examples.len());
    let mut classes = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(128) {
        let refs: Vec<&Rgb64> = chunk.iter().map(|e| &e.image).collect();
        let (f, c) = judge(classifier, image::to_tensor(&refs, device)).await?;
        features.extend(f);
        classes.extend(c);
    }
    Ok((features, classes))
}

/// [`Conditioning`] from `n` samples per condition (seeds from `seed`) and the labelled
/// real images `[train, held_out]`. `people` is the category index whose emoji come in tones;
/// tones are asked for in it.
pub async fn conditioning(
    model: &LatentModel,
    category: &Classifier,
    people: usize,
    tone: &Classifier,
    [train, held_out]: [&[Example]; 2],
    n: usize,
    seed: u64,
) -> Result<Conditioning> {
    let conditions = model
        .conditions()
        .ok_or_else(|| Error::Config("the model is not conditional".into()))?
        .clone();
    let mut report = Conditioning {
        categories: Vec::new(),
        tones: Vec::new(),
        copy_check: f64::NAN,
        tone_copy_check: f64::NAN,
    };
    let mut steered_features = Vec::new();
    let names = conditions.category_names();
    let device = model.device();
    // One pass through the judge per set of real images: its classes here, its features for
    // the copy check.
    let (train_features, train_classes) = judged(category, train, device).await?;
    let (held_features, held_classes) = judged(category, held_out, device).await?;
    let real = [
        tally(
            train.iter().map(|e| e.category),
            &train_classes,
            names.len(),
        ),
        tally(
            held_out.iter().map(|e| e.category),
            &held_classes,
            names.len(),
        ),
    ];
    for (c, name) in names.iter().enumerate() {
        let steering = Steering {
            category: Some(c),
            tone: None,
        };
        // One pass through the judge: its features for the copy check, its classes here.
        let (features, predicted) =
            judge(category, model.sample_steered(n, seed, steering)?).await?;
        steered_features.extend(features);
        report.categories.push(ConditionRow {
            name: name.clone(),
            samples: n,
            classified: predicted.iter().filter(|&&p| p == c).count(),
            missed_as: most_missed(&predicted, c, names.len())
                .map(|(p, count)| (names[p].clone(), count)),
            train: real[0][c],
            held_out: real[1][c],
        });
    }
    report.copy_check = crate::eval::copy_ratio(&train_features, &steered_features, &held_features);
    // The tone classifier's class 0 is yellow, condition tone 1.
    let tone_of = |e: &Example| tone_label(e).filter(|_| e.category == people);
    let real = [
        classified_as_labelled(tone, train, tone_of, TONE_CLASSES, device).await?,
        classified_as_labelled(tone, held_out, tone_of, TONE_CLASSES, device).await?,
    ];
    let mut tone_features = Vec::new();
    for t in 1..TONES.len() {
        let steering = Steering {
            category: Some(people),
            tone: Some(t),
        };
        let images = model.sample_steered(n, seed, steering)?;
        tone_features.extend(crate::eval::features_of_tensor(category, images.clone()).await?);
        let predicted = classify(tone, images).await?;
        report.tones.push(ConditionRow {
            name: TONES[t].to_string(),
            samples: n,
            classified: predicted.iter().filter(|&&p| p + 1 == t).count(),
            missed_as: most_missed(&predicted, t - 1, TONE_CLASSES)
                .map(|(p, count)| (TONES[p + 1].to_string(), count)),
            train: real[0][t - 1],
            held_out: real[1][t - 1],
        });
    }
    let held_people: Vec<Vec<f32>> = held_out
        .iter()
        .zip(held_features)
        .filter(|(e, _)| e.category == people)
        .map(|(_, f)| f)
        .collect();
    report.tone_copy_check = crate::eval::copy_ratio(&train_features, &tone_features, &held_people);
    Ok(report)
}

/// Runs `latentpad report`: the skin tones of a model's people against its training data's,
/// and for a steerable model the share of samples asked for each condition that land in it.
/// Says each table.
#[cfg(not(target_arch = "wasm32"))]
pub fn report(
    o: &crate::options::ReportOptions,
    device: &Device,
    on: &mut dyn FnMut(crate::progress::Progress),
) -> Result<()> {
    use crate::eval::read_classifier;
    use crate::progress::Progress::Say;
    if o.n == 0 || o.per_condition == 0 {
        return Err(Error::Config(
            "--n and --per-condition take at least 1 sample".into(),
        ));
    }
    let steered_seed = o.seed.checked_add(1_000_000).ok_or_else(|| {
        Error::Config("--seed is too large to leave room for the steered samples' seeds".into())
    })?;
    let category = read_classifier(&o.classifier, device)?;
    let tone = read_classifier(&o.tone_classifier, device)?;
    let data = crate::data::load_fetched(&o.data_dir, crate::data::EmojiStyle::Noto)?;
    let people = data
        .categories
        .iter()
        .position(|c| c == PEOPLE)
        .ok_or_else(|| Error::Config(format!("the emoji data has no {PEOPLE:?} category")))?;
    let (model, meta) = crate::sampling::read_model(&o.model, o.draw, device)?;
    let tones = skin_tone_report(&model, &category, people, &tone, &data.train, o.n, o.seed);
    on(Say(format!(
        "Skin tones of people emoji: {} ({} samples) vs its training data\n\n{}",
        meta.name,
        o.n,
        pollster::block_on(tones)?.to_markdown()
    )));
    if model.conditions().is_none() {
        return Ok(());
    }
    let judge = read_classifier(&o.steering_classifier, device)?;
    let sets = [data.train.as_slice(), data.held_out.as_slice()];
    let steered = conditioning(
        &model,
        &judge,
        people,
        &tone,
        sets,
        o.per_condition,
        steered_seed,
    );
    on(Say(format!(
        "\nConditioning: {} samples asked for each category (judged by {}) and for people in \
         each skin tone (skin-tone classifier), beside the real training and held-out images of \
         each, classified by the same classifiers\n\n{}",
        o.per_condition,
        o.steering_classifier.display(),
        pollster::block_on(steered)?.to_markdown()
    )));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_missed_names_the_commonest_wrong_class() {
        assert_eq!(most_missed(&[2, 1, 1, 3, 3, 2, 2], 2, 4), Some((1, 2)));
        assert_eq!(most_missed(&[0, 0, 3], 0, 4), Some((3, 1)));
        assert_eq!(most_missed(&[1, 1], 1, 4), None);
        assert_eq!(most_missed(&[], 1, 4), None);
        // Out-of-range predictions are not counted.
        assert_eq!(most_missed(&[9, 9, 2], 0, 4), Some((2, 1)));
    }

    #[test]
    fn tally_counts_each_label_and_the_hits() {
        // Labels 0, 0, 1, 2 and one out of range; predicted 0, 1, 1, 0, 0.
        let counts = tally([0, 0, 1, 2, 5].into_iter(), &[0, 1, 1, 0, 0], 3);
        assert_eq!(counts, vec![(2, 1), (1, 1), (1, 0)]);
    }

    #[test]
    fn mixes_count_and_share() {
        let mix = ToneMix::of([0, 0, 1, 5, 5, 5]);
        assert_eq!(mix.0, [2, 1, 0, 0, 0, 3]);
        assert_eq!(mix.total(), 6);
        assert!((mix.shares()[5] - 0.5).abs() < 1e-12);
        assert_eq!(ToneMix::default().shares(), [0.0; 6]);
    }
}
