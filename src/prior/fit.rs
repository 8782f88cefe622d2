//! Fitting a prior: which training images' latents become its centres (a stratified sample
//! that keeps every condition's share), and `latentpad prior`, which fits one to the Noto
//! training images and writes the model with it.

use super::{CENTRE_SALT, LatentPrior};
use crate::latent::SplitMix64;
#[cfg(not(target_arch = "wasm32"))]
pub use command::{fit_to_training_images, parse_tone_weights, tone_deviations};

impl LatentPrior {
    /// Up to `count` indices of `labels` whose mix of labels is the mix of all of them (a
    /// stratified sample): each label gets its share of `count`, at least one when `count`
    /// is at least the number of labels, rounded by largest remainder, and its indices are
    /// picked at random by `seed`. Sorted.
    pub fn stratified<L: Ord + Copy>(labels: &[L], count: usize, seed: u64) -> Vec<usize> {
        Self::stratified_weighted(labels, count, seed, |_| 1.0)
    }

    /// [`Self::stratified`] with each label's share scaled by `weight` (non-negative; the
    /// shares are then normalised again): a label of weight 1.5 gets half as many picks again
    /// as its count alone gives it, the others fewer. A label gets no more picks than it
    /// has members; what it cannot take is shared among the others by their weights.
    pub fn stratified_weighted<L: Ord + Copy>(
        labels: &[L],
        count: usize,
        seed: u64,
        weight: impl Fn(L) -> f64,
    ) -> Vec<usize> {
        let mut strata: std::collections::BTreeMap<L, Vec<usize>> = Default::default();
        for (i, label) in labels.iter().enumerate() {
            strata.entry(*label).or_default().push(i);
        }
        let count = count.min(labels.len());
        let sizes: Vec<f64> = strata.values().map(|m| m.len() as f64).collect();
        let mass: Vec<f64> = strata
            .iter()
            .map(|(label, members)| members.len() as f64 * weight(*label).max(0.0))
            .collect();
        // Shares by mass; a label that would get more picks than it has members gets them
        // all, and the rest are shared again among the others.
        let mut exact = vec![0.0f64; sizes.len()];
        let mut full = vec![false; sizes.len()];
        loop {
            let taken: f64 = (0..sizes.len())
                .filter(|&i| full[i])
                .map(|i| sizes[i])
                .sum();
            let left = (count as f64 - taken).max(0.0);
            let open_mass: f64 = (0..sizes.len())
                .filter(|&i| !full[i])
                .map(|i| mass[i])
                .sum();
            let mut capped = false;
            for i in 0..sizes.len() {
                exact[i] = if full[i] {
                    sizes[i]
                } else if open_mass > 0.0 {
                    left * mass[i] / open_mass
                } else {
                    0.0
                };
                if !full[i] && exact[i] > sizes[i] {
                    full[i] = true;
                    capped = true;
                }
            }
            if !capped {
                break;
            }
        }
        // Every label gets at least one pick when there are picks enough (a rare condition
        // can still be asked for).
        let least = usize::from(count >= exact.len());
        let mut quota: Vec<usize> = exact
            .iter()
            .map(|q| (q.floor() as usize).max(least))
            .collect();
        let mut by_remainder: Vec<usize> = (0..quota.len()).collect();
        by_remainder.sort_by(|&a, &b| {
            let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
            rb.total_cmp(&ra).then(a.cmp(&b))
        });
        // The ones given to rare labels come off the largest quotas.
        for _ in count..quota.iter().sum() {
            if let Some(q) = quota.iter_mut().max() {
                *q -= 1;
            }
        }
        let short = count.saturating_sub(quota.iter().sum());
        for &s in by_remainder.iter().take(short) {
            quota[s] += 1;
        }
        let mut rng = SplitMix64::new(seed ^ CENTRE_SALT);
        let mut picked: Vec<usize> = strata
            .into_values()
            .zip(quota)
            .flat_map(|(mut members, q)| {
                rng.shuffle(&mut members);
                members.truncate(q);
                members
            })
            .collect();
        picked.sort_unstable();
        picked
    }
}

/// `latentpad prior`, native only: it reads the model and the data set from files.
#[cfg(not(target_arch = "wasm32"))]
mod command {
    use burn::prelude::*;

    use super::LatentPrior;
    use crate::data::{self, EmojiStyle, Example, condition_of};
    use crate::image::Rgb64;
    use crate::model::{Conditions, LatentModel, ModelConfig, TONES};
    use crate::options::{PriorOptions, PriorSettings};
    use crate::progress::Progress;
    use crate::weights::WeightsFile;
    use crate::{Error, Result};

    /// Runs `latentpad prior`: the model in `--model` with a sampling prior fitted to the
    /// Noto training images (and, for a VAE, its conditions' frequencies), written to `--out`.
    pub fn fit_to_training_images(
        o: &PriorOptions,
        device: &Device,
        on: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let s = &o.settings;
        let weights = parse_tone_weights(&s.tone_weights)?;
        let mut file = WeightsFile::read(&o.model)?;
        check(o, &file.config)?;
        // Refuses anything but a GAN or a VAE by name.
        let model = LatentModel::from_weights(&file, device)?;
        let data = data::load_fetched(&o.data_dir, EmojiStyle::Noto)?;
        let images: Vec<&Rgb64> = data.train.iter().map(|e| &e.image).collect();
        let labels: Vec<(usize, usize)> = data.train.iter().map(condition_of).collect();
        let mixed: Vec<bool> = data.train.iter().map(|e| e.has_mixed_tones()).collect();
        let fitted = model.fit_prior_weighted(
            &images, &labels, o.centres, s.spread, s.shrink, o.seed, &weights, &mixed,
        );
        let mut prior = with_settings(pollster::block_on(fitted)?, s)?;
        if let Some(k) = s.tone_directions {
            let deviations = pollster::block_on(tone_deviations(&model, &data.train))?;
            prior = prior.with_tone_directions(&deviations, k)?;
            on(Progress::Say(format!(
                "tone directions: the {k} widest of {} skin-tone variants' latents",
                deviations.len() / model.latent_dim().max(1)
            )));
        }
        let kept = prior.centres.len() / prior.latent_dim;
        match &mut file.config {
            ModelConfig::Vae(config) => {
                config.prior = Some(prior);
                if s.finetune_spread.is_some() {
                    config.finetune_spread = s.finetune_spread;
                }
                config.conditions = Some(Conditions::from_labels(data.categories, &labels)?);
            }
            ModelConfig::Gan(config) => config.prior = Some(prior),
            _ => {}
        }
        let model = LatentModel::from_weights(&file, device)?;
        crate::train::run::write_model(&model, &file, &o.out)?;
        on(Progress::Say(format!(
            "{}: samples start near {kept} training images (spread {}); grid in {}",
            o.out.display(),
            s.spread,
            o.out.join("samples.png").display()
        )));
        Ok(())
    }

    /// Refuses settings that do not fit the model or the weights file.
    fn check(o: &PriorOptions, config: &ModelConfig) -> Result<()> {
        let refuse = |m: String| Err(Error::Config(m));
        let is_vae = matches!(config, ModelConfig::Vae(_));
        let s = &o.settings;
        if o.centres == 0 || o.centres > 1024 {
            return refuse(format!(
                "--centres takes 1 to 1024 images (they are kept in the weights), not {}",
                o.centres
            ));
        }
        match s.tone_directions {
            Some(_) if !is_vae => {
                refuse("--tone-directions is a VAE's: it encodes the training people".into())
            }
            Some(0) => refuse("--tone-directions takes 1 or more directions, not 0".into()),
            _ => match s.finetune_spread {
                Some(x) if !(0.0..=1.0).contains(&x) => {
                    refuse(format!("--finetune-spread takes 0 to 1, not {x}"))
                }
                Some(_) if !is_vae => refuse(
                    "--finetune-spread is a VAE's: a GAN's quick mode inverts its uploads".into(),
                ),
                _ => Ok(()),
            },
        }
    }

    /// A fitted prior with the steering and step settings of `s`.
    fn with_settings(mut prior: LatentPrior, s: &PriorSettings) -> Result<LatentPrior> {
        if let Some(x) = s.steered_spread {
            prior = prior.with_steering_spread(x)?;
        }
        if let Some(g) = s.steered_guard {
            prior = prior.with_steering_guard(g)?;
        }
        if let Some(p) = s.steered_tone_push {
            prior = prior.with_tone_push(p)?;
        }
        prior = prior.with_tone_steering(s.steered_tone_spread, s.steered_tone_guard)?;
        if s.shaped_noise {
            prior = prior.with_shaped_noise();
        }
        if let Some(k) = s.principal_noise {
            prior = prior.with_principal_noise(k)?;
        }
        Ok(prior)
    }

    /// The latents of every training emoji that comes in skin tones, each less the mean of
    /// its emoji's variants (row-major), for the prior's tone directions.
    pub async fn tone_deviations(model: &LatentModel, train: &[Example]) -> Result<Vec<f32>> {
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
    pub fn parse_tone_weights(given: &[String]) -> Result<[f64; TONES.len()]> {
        let mut weights = [1.0; TONES.len()];
        for option in given {
            let Some((name, weight)) = option.split_once('=') else {
                return Err(Error::Config(format!(
                    "--tone-weight takes TONE=WEIGHT (e.g. yellow=1.5), not {option:?}"
                )));
            };
            let tone = Conditions::tone(name.trim())?;
            weights[tone] = match weight.trim().parse::<f64>() {
                Ok(w) if (0.0..=10.0).contains(&w) => w,
                _ => {
                    return Err(Error::Config(format!(
                        "--tone-weight {name}: the weight must be a number from 0 to 10, not \
                         {weight:?}"
                    )));
                }
            };
        }
        Ok(weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_picks_keep_every_label_share() {
        // 60 a, 30 b, 10 c: 20 picks are 12, 6 and 2; 7 picks round by largest remainder.
        let labels: Vec<char> = (0..100)
            .map(|i| match i % 10 {
                0..=5 => 'a',
                6..=8 => 'b',
                _ => 'c',
            })
            .collect();
        let count = |picked: &[usize], l: char| picked.iter().filter(|&&i| labels[i] == l).count();
        let picked = LatentPrior::stratified(&labels, 20, 1);
        assert_eq!(
            (
                count(&picked, 'a'),
                count(&picked, 'b'),
                count(&picked, 'c')
            ),
            (12, 6, 2)
        );
        let seven = LatentPrior::stratified(&labels, 7, 1);
        assert_eq!(seven.len(), 7);
        assert_eq!((count(&seven, 'a'), count(&seven, 'b')), (4, 2));
        assert!(seven.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        assert_eq!(LatentPrior::stratified(&labels, 20, 1), picked, "seeded");
        assert_ne!(LatentPrior::stratified(&labels, 20, 2), picked);
        assert_eq!(LatentPrior::stratified(&labels, 500, 1).len(), 100);

        // Weighted: c three times over is 60 : 30 : 30, so 20 picks are 10, 5 and 5.
        let weigh_c = |w: f64| move |l: char| if l == 'c' { w } else { 1.0 };
        let tripled = LatentPrior::stratified_weighted(&labels, 20, 1, weigh_c(3.0));
        let counts = |p: &[usize]| (count(p, 'a'), count(p, 'b'), count(p, 'c'));
        assert_eq!(counts(&tripled), (10, 5, 5));
        // A weight past what a label has: all 10 of c, the other 30 picks shared 2 : 1.
        let capped = LatentPrior::stratified_weighted(&labels, 40, 1, weigh_c(100.0));
        assert_eq!(counts(&capped), (20, 10, 10));
        // Weight 0 still keeps one pick, for a condition asked for.
        let none = LatentPrior::stratified_weighted(&labels, 20, 1, weigh_c(0.0));
        assert_eq!(counts(&none), (13, 6, 1));
        // Even weights are the plain stratified sample.
        assert_eq!(
            LatentPrior::stratified_weighted(&labels, 20, 1, |_| 2.0),
            picked
        );
    }
}
