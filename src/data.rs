//! Data sets: the emoji sets of the `emoji-datasource-*` npm packages (Noto, which the models
//! train on, and Twemoji, a second style for evaluation and the few-shot benchmark), Microsoft's
//! Fluent emoji (npm `fluentui-emoji`, SVG only: a third style for the few-shot benchmark,
//! rasterised here), all fetched with `npm pack` and never committed; any folder of images, a
//! fixed held-out split, and a seeded batch sampler.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::image::{self, Rgb64};
use crate::latent::SplitMix64;
use crate::{Error, Result};

/// An emoji style, as packaged by `emoji-datasource` (one metadata file, one image folder per
/// style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmojiStyle {
    /// Google's Noto Emoji (Apache-2.0): what the shipped models are trained on.
    Noto,
    /// Twitter's Twemoji (CC-BY 4.0).
    Twemoji,
}

impl EmojiStyle {
    /// The npm package and version.
    pub fn package(self) -> &'static str {
        match self {
            Self::Noto => "emoji-datasource-google@16.0.0",
            Self::Twemoji => "emoji-datasource-twitter@16.0.0",
        }
    }

    /// The image set's name inside the package (`img/<set>/64`, `has_img_<set>`).
    fn set(self) -> &'static str {
        match self {
            Self::Noto => "google",
            Self::Twemoji => "twitter",
        }
    }
}

/// Fraction of base emoji (with all their skin-tone variants) held out for evaluation.
pub const HELD_OUT_FRACTION: f64 = 0.1;
const SPLIT_SEED: u64 = 0x5EED_0F_5EED;

/// One training image with its labels.
#[derive(Debug, Clone)]
pub struct Example {
    /// The pixels at the model's size.
    pub image: Rgb64,
    /// File name it came from.
    pub name: String,
    /// The emoji's short name in the metadata (`red_heart`); empty for folder images.
    pub short_name: String,
    /// Index into [`EmojiData::categories`] (0 for plain folders).
    pub category: usize,
    /// Fitzpatrick skin tone 1-5 for skin-tone variants (types 1-2 share one modifier, so
    /// 1 = light ... 5 = dark), `None` for emoji without a tone.
    pub skin_tone: Option<u8>,
    /// Whether the emoji comes in skin tones: its default (yellow) image and every variant.
    pub has_skin_tones: bool,
}

impl Example {
    /// Whether the image shows people of more than one skin tone: its file name (the
    /// emoji data's code points, `1f9d1-1f3fb-200d-1f91d-200d-1f9d1-1f3ff.png`) holds two
    /// different tone modifiers. [`Self::skin_tone`] is the first person's.
    pub fn has_mixed_tones(&self) -> bool {
        let mut tones = self
            .name
            .split(['-', '.'])
            .filter_map(|part| skin_tone(&part.to_ascii_uppercase()));
        let first = tones.next();
        tones.any(|t| Some(t) != first)
    }
}

/// An example's `(category, tone)` condition (tone indices of [`crate::model::TONES`]).
pub fn condition_of(example: &Example) -> (usize, usize) {
    (
        example.category,
        // Tone 0 is "no tones"; the report's tone classes (yellow, then the modifiers) follow.
        crate::report::tone_label(example).map_or(0, |class| class + 1),
    )
}

/// The emoji data set split into training and held-out parts.
#[derive(Debug, Clone)]
pub struct EmojiData {
    /// Training examples.
    pub train: Vec<Example>,
    /// Held-out examples (10% of base emoji, with their variants).
    pub held_out: Vec<Example>,
    /// Category names, indexed by [`Example::category`].
    pub categories: Vec<String>,
}

#[derive(Deserialize)]
struct EmojiEntry {
    unified: String,
    image: String,
    category: String,
    #[serde(default)]
    short_name: String,
    #[serde(flatten)]
    has: HasImage,
    #[serde(default)]
    skin_variations: BTreeMap<String, SkinVariation>,
}

#[derive(Deserialize)]
struct SkinVariation {
    image: String,
    #[serde(flatten)]
    has: HasImage,
}

/// Which styles draw an emoji.
#[derive(Deserialize, Default)]
struct HasImage {
    #[serde(default)]
    has_img_google: bool,
    #[serde(default)]
    has_img_twitter: bool,
}

impl HasImage {
    fn drawn_in(&self, style: EmojiStyle) -> bool {
        match style {
            EmojiStyle::Noto => self.has_img_google,
            EmojiStyle::Twemoji => self.has_img_twitter,
        }
    }
}

/// Skin tone of a variation key such as `1F3FB` or `1F3FB-1F3FF` (the first person's tone).
fn skin_tone(key: &str) -> Option<u8> {
    match key.split('-').next()? {
        "1F3FB" => Some(1),
        "1F3FC" => Some(2),
        "1F3FD" => Some(3),
        "1F3FE" => Some(4),
        "1F3FF" => Some(5),
        _ => None,
    }
}

/// Where [`fetch_emoji`] puts the Noto package inside `data_dir`.
pub fn emoji_dir(data_dir: &Path) -> PathBuf {
    style_dir(data_dir, EmojiStyle::Noto)
}

/// Where [`fetch_style`] puts a style's package inside `data_dir`.
pub fn style_dir(data_dir: &Path, style: EmojiStyle) -> PathBuf {
    data_dir
        .join(format!("emoji-datasource-{}", style.set()))
        .join("package")
}

/// Fetches the Noto set (see [`fetch_style`]).
#[cfg(not(target_arch = "wasm32"))]
pub fn fetch_emoji(data_dir: &Path) -> Result<PathBuf> {
    fetch_style(data_dir, EmojiStyle::Noto)
}

/// Downloads a style's emoji package with `npm pack` and unpacks its metadata and 64x64
/// images into `data_dir`. Does nothing when they are already there.
#[cfg(not(target_arch = "wasm32"))]
pub fn fetch_style(data_dir: &Path, style: EmojiStyle) -> Result<PathBuf> {
    let target = style_dir(data_dir, style);
    let images = format!("img/{}/64", style.set());
    if target.join("emoji.json").is_file() && target.join(&images).is_dir() {
        return Ok(target);
    }
    let unpack_dir = target.parent().unwrap_or(data_dir);
    npm_unpack(
        style.package(),
        unpack_dir,
        &["package/emoji.json", &format!("package/{images}")],
    )?;
    Ok(target)
}

/// Fetches every set the project uses (Noto, Twemoji, Fluent) into `data_dir` and returns a
/// line about each.
#[cfg(not(target_arch = "wasm32"))]
pub fn fetch_all(data_dir: &Path) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for style in [EmojiStyle::Noto, EmojiStyle::Twemoji] {
        let dir = fetch_style(data_dir, style)?;
        let data = load_style(&dir, style)?;
        lines.push(format!(
            "{}: {} training and {} held-out images in {} categories",
            dir.display(),
            data.train.len(),
            data.held_out.len(),
            data.categories.len()
        ));
    }
    let dir = fetch_fluent(data_dir)?;
    let fluent = load_fluent(&dir)?;
    lines.push(format!(
        "{}: {} Fluent emoji (flat)",
        dir.display(),
        fluent.train.len()
    ));
    Ok(lines)
}

/// A style's emoji data from `fetch-data`'s folder `data_dir`, or an error that says to
/// fetch it.
pub fn load_fetched(data_dir: &Path, style: EmojiStyle) -> Result<EmojiData> {
    let dir = style_dir(data_dir, style);
    if !dir.join("emoji.json").is_file() {
        return Err(Error::NotFetched {
            dir,
            what: style.package(),
        });
    }
    load_style(&dir, style)
}

/// The Fluent set from `fetch-data`'s folder `data_dir`, or an error that says to fetch it.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_fetched_fluent(data_dir: &Path) -> Result<EmojiData> {
    let dir = fluent_dir(data_dir);
    if !dir.join("icons/flat").is_dir() {
        return Err(Error::NotFetched {
            dir,
            what: FLUENT_PACKAGE,
        });
    }
    load_fluent(&dir)
}

/// The Fluent emoji package (MIT): SVGs in three looks; the benchmark uses `icons/flat`.
pub const FLUENT_PACKAGE: &str = "fluentui-emoji@1.3.0";

/// Where [`fetch_fluent`] puts the Fluent package inside `data_dir`.
pub fn fluent_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("fluentui-emoji").join("package")
}

/// Downloads the Fluent emoji package with `npm pack` and unpacks its licence and flat SVGs
/// into `data_dir`. Does nothing when they are already there.
#[cfg(not(target_arch = "wasm32"))]
pub fn fetch_fluent(data_dir: &Path) -> Result<PathBuf> {
    let target = fluent_dir(data_dir);
    if target.join("icons/flat").is_dir() {
        return Ok(target);
    }
    let unpack_dir = target.parent().unwrap_or(data_dir);
    npm_unpack(
        FLUENT_PACKAGE,
        unpack_dir,
        &["package/LICENSE", "package/icons/flat"],
    )?;
    Ok(target)
}

/// The flat Fluent emoji of a [`fetch_fluent`] folder, rasterised to the models' size, in
/// file-name order, all in `train` (the benchmark cuts its own held-out sets): `short_name`
/// from the file name (`grinning_face`), the tone from its suffix (`-default` is yellow), one
/// category, "Fluent".
#[cfg(not(target_arch = "wasm32"))]
pub fn load_fluent(package_dir: &Path) -> Result<EmojiData> {
    let dir = package_dir.join("icons/flat");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .collect();
    paths.sort();
    use crate::model::TONES;
    // The modifiers' suffixes (`-light` is modifier 1), longest first, so that
    // `-medium-light` is not read as `-light`.
    let mut modifiers: Vec<(String, u8)> = (2..TONES.len())
        .map(|t| (format!("-{}", TONES[t]), (t - 1) as u8))
        .collect();
    modifiers.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
    let stem_of = |p: &Path| {
        p.file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string()
    };
    let stems: std::collections::HashSet<String> = paths.iter().map(|p| stem_of(p)).collect();
    let mut examples = Vec::with_capacity(paths.len());
    for path in paths {
        let stem = stem_of(&path);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let image = image::rasterize_svg(&bytes, &path.display().to_string())?;
        // A tone suffix only where the emoji has a `-default` drawing: `traffic-light` is not
        // a light-skinned `traffic`.
        let tone = modifiers.iter().find(|(suffix, _)| {
            stem.strip_suffix(suffix)
                .is_some_and(|base| stems.contains(&format!("{base}-default")))
        });
        let base = match tone {
            Some((suffix, _)) => &stem[..stem.len() - suffix.len()],
            None => stem.strip_suffix("-default").unwrap_or(&stem),
        };
        examples.push(Example {
            image,
            short_name: base.replace('-', "_"),
            name: stem.clone(),
            category: 0,
            skin_tone: tone.map(|(_, t)| *t),
            has_skin_tones: tone.is_some() || stem.ends_with("-default"),
        });
    }
    if examples.is_empty() {
        return Err(Error::NoImages(dir.display().to_string()));
    }
    Ok(EmojiData {
        train: examples,
        held_out: Vec::new(),
        categories: vec!["Fluent".into()],
    })
}

/// `npm pack`s `package` into `unpack_dir` and unpacks `members` (paths inside the tarball,
/// folders whole) there; the tarball is removed.
#[cfg(not(target_arch = "wasm32"))]
fn npm_unpack(package: &str, unpack_dir: &Path, members: &[&str]) -> Result<()> {
    use std::process::Command;
    std::fs::create_dir_all(unpack_dir).map_err(|e| Error::io(unpack_dir, e))?;
    let run = |cmd: &mut Command, what: &str| -> Result<String> {
        let out = cmd.output().map_err(|e| Error::io(what, e))?;
        if !out.status.success() {
            return Err(Error::io(
                what,
                std::io::Error::other(String::from_utf8_lossy(&out.stderr).to_string()),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let tarball = run(
        Command::new("npm")
            .args(["pack", package, "--silent", "--pack-destination"])
            .arg(unpack_dir),
        "npm pack",
    )?;
    let tarball = unpack_dir.join(tarball.lines().last().unwrap_or_default());
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(unpack_dir)
            .args(members),
        "tar",
    )?;
    std::fs::remove_file(&tarball).map_err(|e| Error::io(&tarball, e))?;
    Ok(())
}

fn held_out(key: &str) -> bool {
    // Keyed by the base emoji's code points: all its skin-tone variants fall on one side.
    in_fraction(key, SPLIT_SEED)
}

/// Whether `key` falls in a [`HELD_OUT_FRACTION`] of keys chosen by `seed`: FNV-1a of the key
/// mixed with the seed, stable across runs and platforms.
fn in_fraction(key: &str, seed: u64) -> bool {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    SplitMix64::new(hash ^ seed).next_f64() < HELD_OUT_FRACTION
}

/// Loads the unpacked Noto package (see [`fetch_emoji`]).
pub fn load_emoji(package_dir: &Path) -> Result<EmojiData> {
    load_style(package_dir, EmojiStyle::Noto)
}

/// Loads a style's unpacked package (see [`fetch_style`]): every emoji the style draws, with
/// its skin-tone variants, split by code point into training and held-out parts (the same
/// split for every style).
pub fn load_style(package_dir: &Path, style: EmojiStyle) -> Result<EmojiData> {
    let meta_path = package_dir.join("emoji.json");
    let meta = std::fs::read(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
    let entries: Vec<EmojiEntry> = serde_json::from_slice(&meta).map_err(|e| Error::Decode {
        source_name: meta_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut categories: Vec<String> = entries.iter().map(|e| e.category.clone()).collect();
    categories.sort();
    categories.dedup();
    let image_dir = package_dir.join(format!("img/{}/64", style.set()));
    let mut data = EmojiData {
        train: Vec::new(),
        held_out: Vec::new(),
        categories,
    };
    for entry in entries.iter().filter(|e| e.has.drawn_in(style)) {
        let category = data
            .categories
            .iter()
            .position(|c| *c == entry.category)
            .unwrap_or_default();
        let has_skin_tones = entry
            .skin_variations
            .values()
            .any(|v| v.has.drawn_in(style));
        let variants = std::iter::once((entry.image.as_str(), None)).chain(
            entry
                .skin_variations
                .iter()
                .filter(|(_, v)| v.has.drawn_in(style))
                .map(|(k, v)| (v.image.as_str(), skin_tone(k))),
        );
        let split = if held_out(&entry.unified) {
            &mut data.held_out
        } else {
            &mut data.train
        };
        for (file, skin_tone) in variants {
            let path = image_dir.join(file);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            split.push(Example {
                image: image::decode(&bytes, file)?,
                name: file.to_string(),
                short_name: entry.short_name.clone(),
                category,
                skin_tone,
                has_skin_tones,
            });
        }
    }
    Ok(data)
}

/// Emoji identities across two styles, for a classifier whose features do not hinge on one
/// style: every emoji (each skin-tone variant its own) of the training split is a class.
pub struct Identities<'a> {
    /// Class names: the image file names, the same in every style (`2764-fe0f.png`).
    pub classes: Vec<String>,
    /// Every training image of the first style, and of the second style except the probes'.
    pub train: Vec<(&'a Rgb64, usize)>,
    /// The second style's images of about a tenth of the classes, which training sees only in
    /// the first style: accuracy on these is how well identity carries across styles.
    pub cross_style: Vec<(&'a Rgb64, usize)>,
}

/// The [`Identities`] of the training splits of `first` and `second` (the held-out splits stay
/// out, as they do for every model).
pub fn identities<'a>(first: &'a EmojiData, second: &'a EmojiData) -> Identities<'a> {
    let mut classes: Vec<String> = first.train.iter().map(|e| e.name.clone()).collect();
    classes.sort();
    classes.dedup();
    let class = |e: &Example| classes.binary_search(&e.name).ok();
    let probe = |name: &str| in_fraction(name, 0xC055_57E1);
    let mut train: Vec<(&Rgb64, usize)> = first
        .train
        .iter()
        .filter_map(|e| class(e).map(|c| (&e.image, c)))
        .collect();
    let mut cross_style = Vec::new();
    for e in &second.train {
        if let Some(c) = class(e) {
            if probe(&e.name) {
                cross_style.push((&e.image, c));
            } else {
                train.push((&e.image, c));
            }
        }
    }
    Identities {
        classes,
        train,
        cross_style,
    }
}

/// Images of a folder (PNG, JPEG, WebP, GIF first frame; by content, not extension), with
/// the files that could not be used and why. Hidden files and sub-folders are ignored.
pub fn load_folder(dir: &Path) -> Result<(Vec<Example>, Vec<Error>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    let mut images = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let decoded = std::fs::read(&path)
            .map_err(|e| Error::io(&path, e))
            .and_then(|bytes| image::decode(&bytes, &name));
        match decoded {
            Ok(image) => images.push(Example {
                image,
                name,
                short_name: String::new(),
                category: 0,
                skin_tone: None,
                has_skin_tones: false,
            }),
            Err(e) => skipped.push(e),
        }
    }
    if images.is_empty() {
        return Err(Error::NoImages(dir.display().to_string()));
    }
    Ok((images, skipped))
}

/// Endless mini-batches of indices: shuffled epochs that visit every example once, or
/// independent draws in proportion to each example's weight.
#[derive(Debug, Clone)]
pub struct BatchSampler {
    len: usize,
    order: Vec<usize>,
    rng: SplitMix64,
    /// Running sums of the weights, when the draws are weighted.
    cumulative: Option<Vec<f64>>,
}

impl BatchSampler {
    /// A sampler over `len` examples, shuffled by `seed`.
    pub fn new(len: usize, seed: u64) -> Self {
        Self {
            len,
            order: Vec::new(),
            rng: SplitMix64::new(seed),
            cumulative: None,
        }
    }

    /// A sampler that draws example `i` with probability `weights[i] / sum(weights)`, each
    /// draw independent of the others (so with repeats), by `seed`.
    pub fn weighted(weights: &[f64], seed: u64) -> Result<Self> {
        if weights.iter().any(|w| !(*w >= 0.0 && w.is_finite()))
            || !weights.iter().any(|w| *w > 0.0)
        {
            return Err(Error::Config(
                "sampling weights must be finite, at least 0, and not all 0".into(),
            ));
        }
        let cumulative = weights
            .iter()
            .scan(0.0, |sum, w| {
                *sum += w;
                Some(*sum)
            })
            .collect();
        Ok(Self {
            cumulative: Some(cumulative),
            ..Self::new(weights.len(), seed)
        })
    }

    /// A sampler over examples of classes `classes` (one entry per example): each class drawn
    /// in proportion to its share to the power `power` ([`class_sampling_weights`], draws
    /// with repeats), or with `None` every example once per epoch ([`BatchSampler::new`]).
    pub fn by_class(classes: &[usize], power: Option<f64>, seed: u64) -> Result<Self> {
        match power {
            Some(power) => Self::weighted(&class_sampling_weights(classes, power), seed),
            None => Ok(Self::new(classes.len(), seed)),
        }
    }

    /// The next `batch` indices (unweighted: with a repeat only when `batch > len`).
    pub fn next_batch(&mut self, batch: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(batch);
        if let Some(cumulative) = &self.cumulative {
            let total = cumulative.last().copied().unwrap_or(0.0);
            for _ in 0..batch {
                let u = self.rng.next_f64() * total;
                let i = cumulative.partition_point(|&c| c <= u);
                out.push(i.min(self.len - 1));
            }
            return out;
        }
        while out.len() < batch && self.len > 0 {
            if self.order.is_empty() {
                self.order = (0..self.len).collect();
                self.rng.shuffle(&mut self.order);
            }
            out.push(self.order.pop().unwrap_or_default());
        }
        out
    }
}

/// Sampling weights that draw each category in proportion to its share of `categories` (one
/// entry per example) to the power `power`: each example gets `count(category)^(power - 1)`.
/// 1 gives every example the same weight (the data's mix), 0 every category the same share.
pub fn class_sampling_weights(categories: &[usize], power: f64) -> Vec<f64> {
    let mut counts = BTreeMap::new();
    for c in categories {
        *counts.entry(*c).or_insert(0usize) += 1;
    }
    categories
        .iter()
        .map(|c| (counts[c] as f64).powf(power - 1.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_covers_every_example_each_epoch() {
        let mut s = BatchSampler::new(10, 1);
        let mut seen: Vec<usize> = (0..5).flat_map(|_| s.next_batch(2)).collect();
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(BatchSampler::new(3, 1).next_batch(7).len(), 7);
    }

    #[test]
    fn class_sampling_draws_categories_by_their_share_to_the_power() {
        // 90 examples of category 0, 10 of category 1.
        let categories: Vec<usize> = (0..100).map(|i| usize::from(i >= 90)).collect();
        let share_of_rare = |power: f64| {
            let weights = class_sampling_weights(&categories, power);
            let mut s = BatchSampler::weighted(&weights, 7).unwrap();
            let drawn = s.next_batch(20_000);
            assert!(drawn.iter().all(|&i| i < 100));
            drawn.iter().filter(|&&i| categories[i] == 1).count() as f64 / drawn.len() as f64
        };
        // power 1: the data's 10%; 0: half; 0.5: sqrt(10) / (sqrt(90) + sqrt(10)) = 25%.
        assert!((share_of_rare(1.0) - 0.10).abs() < 0.015);
        assert!((share_of_rare(0.0) - 0.50).abs() < 0.015);
        assert!((share_of_rare(0.5) - 0.25).abs() < 0.015);
        assert!(BatchSampler::weighted(&[0.0, 0.0], 1).is_err());
        assert!(BatchSampler::weighted(&[1.0, f64::NAN], 1).is_err());
        assert!(BatchSampler::weighted(&[], 1).is_err());
    }

    #[test]
    fn split_is_stable_and_near_ten_percent() {
        let keys: Vec<String> = (0..5000).map(|i| format!("{i:X}")).collect();
        let held = keys.iter().filter(|k| held_out(k)).count();
        assert!((400..600).contains(&held), "{held}");
        assert_eq!(held_out("1F600"), held_out("1F600"));
    }

    #[test]
    fn identities_share_classes_across_styles_and_probe_only_the_second() {
        let set = |shade: u8| EmojiData {
            train: (0..200)
                .map(|i| Example {
                    image: Rgb64(vec![shade; image::RGB_LEN]),
                    name: format!("{i:x}.png"),
                    short_name: String::new(),
                    category: 0,
                    skin_tone: None,
                    has_skin_tones: false,
                })
                .collect(),
            held_out: Vec::new(),
            categories: vec!["c".into()],
        };
        let (first, second) = (set(10), set(200));
        let ids = identities(&first, &second);
        assert_eq!(ids.classes.len(), 200);
        // Probes are the second style's drawings of classes the first style still teaches.
        assert!(
            (5..50).contains(&ids.cross_style.len()),
            "{}",
            ids.cross_style.len()
        );
        assert!(ids.cross_style.iter().all(|(img, _)| img.0[0] == 200));
        assert_eq!(ids.train.len(), 400 - ids.cross_style.len());
        for (_, class) in &ids.cross_style {
            let taught = ids.train.iter().filter(|(_, c)| c == class).count();
            assert_eq!(taught, 1, "class {class} taught by the first style only");
        }
    }

    #[test]
    fn mixed_tones_read_from_the_file_name() {
        let named = |name: &str| Example {
            image: Rgb64(vec![255; image::RGB_LEN]),
            name: name.into(),
            short_name: String::new(),
            category: 0,
            skin_tone: Some(1),
            has_skin_tones: true,
        };
        assert!(named("1f9d1-1f3fb-200d-1f91d-200d-1f9d1-1f3ff.png").has_mixed_tones());
        assert!(named("1F469-1F3FC-200D-2764-FE0F-200D-1F468-1F3FB.png").has_mixed_tones());
        assert!(!named("1f9d1-1f3fb-200d-1f91d-200d-1f9d1-1f3fb.png").has_mixed_tones());
        assert!(!named("1f44b-1f3fd.png").has_mixed_tones());
        assert!(!named("1f600.png").has_mixed_tones());
        assert!(!named("holiday-1f3fb.png").has_mixed_tones());
    }

    #[test]
    fn skin_tone_keys() {
        assert_eq!(skin_tone("1F3FB"), Some(1));
        assert_eq!(skin_tone("1F3FF-1F3FB"), Some(5));
        assert_eq!(skin_tone("XYZ"), None);
    }
}
