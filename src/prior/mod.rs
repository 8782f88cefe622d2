//! The sampling prior: where a model draws the latents it samples from, when not from the
//! standard Gaussian. A VAE's prior is fitted to its training images' latents (`latentpad
//! prior`); a fine-tuned model's sits around the uploads' latents (the quick mode). A sample
//! picks one of the prior's centres by its seed (among those of the condition asked for) and
//! takes a Gaussian step from it. The step's shape is in `noise.rs`, what a steered step keeps
//! off the conditions' directions in `guard.rs`, and fitting (which images become centres) in
//! `fit.rs`.

pub mod fit;
mod guard;
mod noise;

use burn::prelude::*;

use crate::latent::SplitMix64;
use crate::model::{Conditions, Steering, TONES};
use crate::{Error, Result};

pub use guard::Guard;

/// Where a model draws its latents: near the latents of chosen images, its training images'
/// (a VAE's prior) or a person's uploads (fine-tuning's quick mode; MidiMe's idea,
/// Dinculescu et al. 2019: move the sampling distribution before, or instead of, the
/// weights). Each latent picks one of the `centres` and moves off it in a random direction: `sqrt(1 - spread^2) * centre + spread * noise` for the Gaussian part
/// (which stays on the Gaussian shell the generator was trained on), the centre's condition
/// code for a conditional GAN that is not steered. A mixture rather than one Gaussian fitted
/// to all the centres, whose mean would be the average of unlike images: a brown blur.
#[derive(Config, Debug, PartialEq)]
pub struct LatentPrior {
    /// Row-major `[n, latent_dim]`: the inverted latents, code included.
    pub centres: Vec<f32>,
    /// Length of a row of `centres`.
    pub latent_dim: usize,
    /// How far from its centre a latent goes, 0 (the centre: a reconstruction) to 1 (the
    /// standard Gaussian).
    pub spread: f32,
    /// Whether the centre shrinks as the spread grows (`sqrt(1 - spread^2) * centre`, the
    /// GAN's: latents stay on the Gaussian shell), or stays whole (`centre + spread * noise`,
    /// a VAE's: shrinking pulls every latent towards the origin, where the decoder draws the
    /// average image).
    #[config(default = true)]
    pub shrink: bool,
    /// The condition of each centre's image, `category * TONES.len() + tone` (a VAE's prior
    /// fitted to labelled images; steering picks among the centres that match).
    #[config(default = "None")]
    pub labels: Option<Vec<u16>>,
    /// How far an unsteered latent's centre moves towards a second centre drawn by its seed:
    /// `a + t * (b - a)` with `t` uniform in `[0, mix]` (`None` or 0: the centre itself).
    /// Samples then fall between the centres' images (tried for fine-tuning on a few uploads,
    /// `bench-finetune`'s `+mix=X`; no shipped default uses it).
    #[config(default = "None")]
    pub mix: Option<f32>,
    /// A steered latent's Gaussian step (labelled centres, a condition asked for), instead of
    /// `spread`: the noise that makes samples new also carries them off their centre's
    /// condition.
    #[config(default = "None")]
    pub steered_spread: Option<f32>,
    /// How much of a steered latent's Gaussian step is kept along the directions in which the
    /// conditions' centres differ ([`Self::condition_directions`]), 0 (none: the step only
    /// changes what the condition's images share) to 1 (all of it; `None` too).
    #[config(default = "None")]
    pub steered_guard: Option<f32>,
    /// How far the centre of a sample steered to a skin tone moves along its tone's mean
    /// centre less the mean of all toned centres (people), 0 (not at all; `None` too) to 1
    /// (that whole difference): guidance towards what sets the tone apart.
    #[config(default = "None")]
    pub steered_tone_push: Option<f32>,
    /// Per latent dimension, the scale of the Gaussian step along it (`None`: 1 on every
    /// one): the standard deviation of the centres along it, so that a step moves a latent
    /// as far as the data's latents vary there and not where they do not (on a grid latent,
    /// the cells of a plain background). See [`Self::with_shaped_noise`].
    #[config(default = "None")]
    pub noise_scales: Option<Vec<f32>>,
    /// Row-major `[k, latent_dim]`: the centres' first `k` principal directions, each times
    /// the standard deviation of the centres along it. When set, a latent's Gaussian step is
    /// the sum of these rows weighted by its first `k` standard Gaussian numbers: a step
    /// drawn from a Gaussian fitted to the centres (in its `k` widest directions), so that
    /// it moves a latent the way the data's latents differ. See
    /// [`Self::with_principal_noise`].
    #[config(default = "None")]
    pub noise_basis: Option<Vec<f32>>,
    /// Row-major `[k, latent_dim]`, orthonormal: the widest directions in which the latents
    /// of one emoji's skin-tone variants differ (each variant's latent less the mean of its
    /// emoji's variants), which, on a grid latent, are where each emoji's skin lies rather
    /// than one average place. A sample steered to a tone keeps only its guard
    /// (`steered_tone_guard`, else `steered_guard`) of its Gaussian step along them, with the
    /// [`Self::condition_directions`], so that the step changes the person and not the tone.
    /// See [`Self::with_tone_directions`].
    #[config(default = "None")]
    pub tone_basis: Option<Vec<f32>>,
    /// The Gaussian step of a latent steered to a skin tone, instead of `steered_spread`
    /// (`None`: that one).
    #[config(default = "None")]
    pub steered_tone_spread: Option<f32>,
    /// The share of a tone-steered latent's step kept along the directions it is guarded
    /// along, instead of `steered_guard` (`None`: that one).
    #[config(default = "None")]
    pub steered_tone_guard: Option<f32>,
    /// The centres whose image shows people of more than one skin tone (a couple with a
    /// light first person and a dark second one is labelled light, as the emoji data
    /// labels it): a sample steered to a tone does not start from them, nor count them in
    /// its tone's mean ([`Self::push_tone`]), so that everyone in it has the tone asked for.
    /// Unsteered samples and those steered to a category alone start from every centre.
    #[config(default = "None")]
    pub mixed_tones: Option<Vec<u16>>,
}

/// Mixed into a seed for picking a prior's centre.
const CENTRE_SALT: u64 = 0x6365_6e74; // "cent"
/// Mixed into a steered seed's shuffle, so that conditions with as many centres do not share
/// one order.
fn steering_salt(steering: Steering) -> u64 {
    let part = |x: Option<usize>| x.map_or(0, |x| x as u64 + 1);
    (part(steering.category) << 32 | part(steering.tone)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// `value` when it is 0 to 1, else an error that names `what`.
fn unit(value: f32, what: &str) -> Result<f32> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(Error::Config(format!("{what} must be 0 to 1, not {value}")))
    }
}

/// The most numbers (centres times latent length) a prior may keep: every weights file of the
/// model carries them (2 bytes each, 4 unless kept to 3 decimals), and files written before
/// 2026-12-03 kept them as text in a header a reader takes up to 16 MB of.
pub const MAX_PRIOR_NUMBERS: usize = 1 << 20;

/// `x` rounded to 3 decimals, as a prior's numbers are kept (2 bytes each in a weights file).
fn thousandths(x: f64) -> f32 {
    ((x * 1000.0).round() / 1000.0) as f32
}

/// Whether `steering` asks for a skin tone (yellow or a modifier).
fn toned(steering: Steering) -> bool {
    steering.tone.is_some_and(|t| t > 0)
}

/// Mixed into a seed for picking the second centre of a mix and how far to go.
const MIX_SALT: u64 = 0x6d69_7865; // "mixe"

impl LatentPrior {
    /// The prior around `centres` (row-major `[n, latent_dim]`).
    pub fn around(centres: Vec<f32>, latent_dim: usize, spread: f32) -> Result<Self> {
        if latent_dim == 0 || centres.is_empty() || !centres.len().is_multiple_of(latent_dim) {
            return Err(Error::Config("no latents to centre a prior on".into()));
        }
        if centres.len() > MAX_PRIOR_NUMBERS {
            return Err(Error::Config(format!(
                "{} centres of {latent_dim} numbers are more than a weights file keeps: at most \
                 {} centres for this latent",
                centres.len() / latent_dim,
                MAX_PRIOR_NUMBERS / latent_dim
            )));
        }
        Ok(Self::new(centres, latent_dim, unit(spread, "spread")?))
    }

    /// [`Self::around`] with the centres kept whole (`shrink` off).
    pub fn anchored(centres: Vec<f32>, latent_dim: usize, spread: f32) -> Result<Self> {
        Ok(Self::around(centres, latent_dim, spread)?.with_shrink(false))
    }

    /// The index of the centre for `seed` among those whose image has the condition
    /// `steering` asks for (any centre without steering); `None` when no centre has it, or
    /// the centres carry no labels and `steering` asks for something. Consecutive seeds take
    /// the matching centres without repeats: each run of as many seeds as there are matching
    /// centres (from a multiple of that count) is a shuffle of them all, so a page of samples
    /// or a grid of one condition shows as many different images as it can.
    pub fn centre_index_for(&self, seed: u64, steering: Steering) -> Option<usize> {
        let n = (self.centres.len() / self.latent_dim.max(1)).max(1);
        let matching: Vec<usize> = if steering == Steering::default() {
            (0..n).collect()
        } else {
            self.labels.as_ref()?;
            let wanted = |i: usize| {
                self.label_at(i).is_some_and(|(c, t)| {
                    steering.category.is_none_or(|want| want == c)
                        && steering.tone.is_none_or(|want| want == t)
                })
            };
            let all: Vec<usize> = (0..n).filter(|&i| wanted(i)).collect();
            let uniform: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| !(toned(steering) && self.is_mixed(i)))
                .collect();
            // A tone whose centres are all mixed still gets samples: from those.
            if uniform.is_empty() { all } else { uniform }
        };
        let m = matching.len() as u64;
        if m == 0 {
            return None;
        }
        let mut order: Vec<usize> = (0..matching.len()).collect();
        SplitMix64::new((seed / m) ^ CENTRE_SALT ^ steering_salt(steering)).shuffle(&mut order);
        Some(matching[order[(seed % m) as usize]])
    }

    /// The spread of a latent's Gaussian step: `steered_spread` (when set) for a latent
    /// steered to a condition, else `spread`.
    pub fn spread_for(&self, steering: Steering) -> f32 {
        match (self.steered_tone_spread, self.steered_spread) {
            (Some(s), _) if toned(steering) => s,
            (_, Some(s)) if steering != Steering::default() => s,
            _ => self.spread,
        }
    }

    /// Centre `i` (row `i` of `centres`; empty past the end).
    pub fn centre_at(&self, i: usize) -> &[f32] {
        self.centres
            .get(i * self.latent_dim..(i + 1) * self.latent_dim)
            .unwrap_or(&[])
    }

    /// The (category, tone) of centre `i`'s image, when the centres carry labels.
    pub fn label_at(&self, i: usize) -> Option<(usize, usize)> {
        let l = *self.labels.as_ref()?.get(i)? as usize;
        Some((l / TONES.len(), l % TONES.len()))
    }

    /// Whether centre `i`'s image shows people of more than one skin tone (see
    /// [`Self::mixed_tones`]).
    pub fn is_mixed(&self, i: usize) -> bool {
        self.mixed_tones
            .as_ref()
            .is_some_and(|m| m.iter().any(|&j| j as usize == i))
    }

    /// This prior with the centres at `indices` marked as showing people of more than one
    /// skin tone (see [`Self::mixed_tones`]; none: unset). Fails on an index past the last
    /// centre.
    pub fn with_mixed_centres(mut self, indices: Vec<u16>) -> Result<Self> {
        let n = self.centres.len() / self.latent_dim.max(1);
        if let Some(i) = indices.iter().find(|&&i| i as usize >= n) {
            return Err(Error::Config(format!(
                "centre {i} is marked as of mixed tones, but the prior has {n} centres"
            )));
        }
        self.mixed_tones = (!indices.is_empty()).then_some(indices);
        Ok(self)
    }

    /// Whether the labels (if any) fit the centres and `conditions`' categories.
    pub fn labels_fit(&self, conditions: &Conditions) -> bool {
        let n = self.centres.len() / self.latent_dim.max(1);
        let pairs = conditions.categories.len() * TONES.len();
        self.labels
            .as_ref()
            .is_some_and(|l| l.len() == n && l.iter().all(|&x| (x as usize) < pairs))
    }

    /// The centre for `seed` (moved towards a second one when `mix` is above 0).
    pub fn centre(&self, seed: u64) -> std::borrow::Cow<'_, [f32]> {
        let i = self
            .centre_index_for(seed, Steering::default())
            .unwrap_or(0);
        self.mixed_centre(i, seed)
    }

    /// Centre `i`, moved towards a second centre drawn by `seed` when `mix` is above 0.
    pub fn mixed_centre(&self, i: usize, seed: u64) -> std::borrow::Cow<'_, [f32]> {
        let a = self.centre_at(i);
        let mix = self.mix.unwrap_or(0.0);
        if mix <= 0.0 {
            return a.into();
        }
        let n = (self.centres.len() / self.latent_dim.max(1)).max(1);
        let mut rng = SplitMix64::new(seed ^ MIX_SALT);
        let b = self.centre_at(rng.below(n));
        crate::latent::lerp(a, b, mix * rng.next_f32()).into()
    }

    /// This prior with `steered_spread` set (see the field), 0 to 1.
    pub fn with_steering_spread(mut self, spread: f32) -> Result<Self> {
        self.steered_spread = Some(unit(spread, "the steered spread")?);
        Ok(self)
    }

    /// This prior with `steered_guard` set (see the field), 0 to 1.
    pub fn with_steering_guard(mut self, guard: f32) -> Result<Self> {
        self.steered_guard = Some(unit(guard, "the steered guard")?);
        Ok(self)
    }

    /// This prior with `steered_tone_spread` and `steered_tone_guard` set (see the fields;
    /// `None` leaves one unset), each 0 to 1.
    pub fn with_tone_steering(mut self, spread: Option<f32>, guard: Option<f32>) -> Result<Self> {
        self.steered_tone_spread = spread
            .map(|s| unit(s, "the steered tone spread"))
            .transpose()?;
        self.steered_tone_guard = guard
            .map(|g| unit(g, "the steered tone guard"))
            .transpose()?;
        Ok(self)
    }

    /// This prior with `steered_tone_push` set (see the field), 0 to 1.
    pub fn with_tone_push(mut self, push: f32) -> Result<Self> {
        self.steered_tone_push = Some(unit(push, "the steered tone push")?);
        Ok(self)
    }

    /// This prior with `mix` set (see the field), 0 to 1.
    pub fn with_mixing(mut self, mix: f32) -> Result<Self> {
        let mix = unit(mix, "mix")?;
        self.mix = (mix > 0.0).then_some(mix);
        Ok(self)
    }

    /// The labels of all centres, or `None` when they carry none (or not one each).
    fn all_labels(&self) -> Option<Vec<(usize, usize)>> {
        let n = self.centres.len() / self.latent_dim.max(1);
        let labels: Vec<(usize, usize)> = (0..n).filter_map(|i| self.label_at(i)).collect();
        (self.latent_dim > 0 && labels.len() == n).then_some(labels)
    }

    /// The mean of the centres whose (category, tone) in `labels` (one per centre) passes
    /// `keep`; `None` when none does.
    fn mean_centre(
        &self,
        labels: &[(usize, usize)],
        keep: &dyn Fn(usize, (usize, usize)) -> bool,
    ) -> Option<Vec<f64>> {
        let mut sum = vec![0.0f64; self.latent_dim];
        let mut count = 0usize;
        for (i, &label) in labels.iter().enumerate() {
            if keep(i, label) {
                count += 1;
                sum.iter_mut()
                    .zip(self.centre_at(i))
                    .for_each(|(s, x)| *s += f64::from(*x));
            }
        }
        (count > 0).then(|| sum.into_iter().map(|s| s / count as f64).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prior is kept in the weights file's header: one too large to read back is refused
    /// when it is made, with how many centres fit.
    #[test]
    fn a_prior_too_large_for_a_weights_file_is_refused() {
        let fits = LatentPrior::around(vec![0.5; MAX_PRIOR_NUMBERS], 512, 0.9);
        assert!(fits.is_ok());
        let err = LatentPrior::around(vec![0.5; MAX_PRIOR_NUMBERS + 512], 512, 0.9)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2049 centres of 512") && err.contains("at most 2048"),
            "{err}"
        );
    }

    #[test]
    fn a_mix_moves_the_centre_towards_another_and_no_further() {
        // Two centres on a line: a mixed centre lies between them, within `mix` of its own.
        let prior = LatentPrior::anchored(vec![0.0, 0.0, 10.0, 0.0], 2, 1.0).unwrap();
        for seed in 0..50 {
            assert_eq!(
                prior.centre(seed).as_ref(),
                prior.centre_at(prior.centre_index_for(seed, Steering::default()).unwrap())
            );
        }
        let mixed = prior.clone().with_mixing(0.5).unwrap();
        let mut moved = 0;
        for seed in 0..50 {
            let own = prior.centre(seed)[0];
            let c = mixed.centre(seed);
            assert_eq!(c[1], 0.0);
            assert!(
                (c[0] - own).abs() <= 5.0 + 1e-4 && (0.0..=10.0).contains(&c[0]),
                "{c:?}"
            );
            moved += usize::from(c[0] != own);
        }
        assert!(moved > 10, "only {moved} of 50 moved");
        assert!(prior.clone().with_mixing(1.5).is_err());
        assert_eq!(prior.with_mixing(0.0).unwrap().mix, None);
    }

    #[test]
    fn consecutive_seeds_take_every_matching_centre_once() {
        // Ten centres: 0-6 people in tone 1 (label 8), 7-9 smileys (label 0).
        let mut prior = LatentPrior::anchored((0..10).map(|i| i as f32).collect(), 1, 0.5).unwrap();
        prior.labels = Some(vec![8, 8, 8, 8, 8, 8, 8, 0, 0, 0]);
        let people = Steering {
            category: Some(1),
            tone: Some(1),
        };
        for block in 0..3u64 {
            let mut got: Vec<usize> = (block * 7..block * 7 + 7)
                .map(|s| prior.centre_index_for(s, people).unwrap())
                .collect();
            got.sort_unstable();
            assert_eq!(got, (0..7).collect::<Vec<_>>(), "block {block}");
        }
        let smileys = Steering {
            category: Some(0),
            tone: None,
        };
        let picks: Vec<usize> = (0..6)
            .map(|s| prior.centre_index_for(s, smileys).unwrap())
            .collect();
        assert!(picks.iter().all(|i| (7..10).contains(i)), "{picks:?}");
        assert_eq!(
            prior.centre_index_for(4, people),
            prior.centre_index_for(4, people)
        );
        // Unsteered, with or without labels: every centre once per run of ten seeds.
        for labels in [prior.labels.clone(), None] {
            let prior = LatentPrior {
                labels,
                ..prior.clone()
            };
            let mut got: Vec<usize> = (20..30)
                .map(|s| prior.centre_index_for(s, Steering::default()).unwrap())
                .collect();
            got.sort_unstable();
            assert_eq!(got, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_tone_asked_for_skips_centres_of_mixed_tones() {
        // Six people centres (category 1) at x = i: 0-2 light (label 9), 3-5 dark (label 13);
        // centres 1 and 2 are couples whose second person is darker.
        let mut prior = LatentPrior::anchored((0..6).map(|i| i as f32).collect(), 1, 0.5)
            .unwrap()
            .with_tone_push(1.0)
            .unwrap();
        prior.labels = Some(vec![9, 9, 9, 13, 13, 13]);
        let light = Steering {
            category: Some(1),
            tone: Some(2),
        };
        let picks = |prior: &LatentPrior, steering| {
            let mut got: Vec<usize> = (0..30)
                .map(|s| prior.centre_index_for(s, steering).unwrap())
                .collect();
            got.sort_unstable();
            got.dedup();
            got
        };
        let pushed = |prior: &LatentPrior| {
            let mut centre = [0.0f32];
            prior.push_tone(&mut centre, light);
            centre[0]
        };
        assert_eq!(picks(&prior, light), [0, 1, 2]);
        // Light's mean 1 less all people's 2.5.
        assert_eq!(pushed(&prior), -1.5);

        let marked = prior.clone().with_mixed_centres(vec![1, 2]).unwrap();
        assert!(marked.is_mixed(1) && !marked.is_mixed(0));
        assert_eq!(picks(&marked, light), [0], "only the uniform centre");
        // Light's uniform mean 0 less the uniform people's (0 + 3 + 4 + 5) / 4 = 3.
        assert_eq!(pushed(&marked), -3.0);
        let people = Steering {
            category: Some(1),
            tone: None,
        };
        assert_eq!(
            picks(&marked, people),
            [0, 1, 2, 3, 4, 5],
            "no tone asked for"
        );
        assert_eq!(
            picks(&marked, Steering::default()),
            [0, 1, 2, 3, 4, 5],
            "unsteered"
        );

        // A tone with only mixed centres still draws from them.
        let all_mixed = prior.clone().with_mixed_centres(vec![0, 1, 2]).unwrap();
        assert_eq!(picks(&all_mixed, light), [0, 1, 2]);
        assert!(
            prior.clone().with_mixed_centres(vec![6]).is_err(),
            "past the end"
        );
        assert_eq!(
            prior.with_mixed_centres(Vec::new()).unwrap().mixed_tones,
            None
        );
    }

    #[test]
    fn a_steered_latent_takes_the_steered_spread() {
        let prior = LatentPrior::anchored(vec![0.0, 10.0], 1, 0.9).unwrap();
        let people = Steering {
            category: Some(1),
            tone: None,
        };
        assert_eq!(prior.spread_for(people), 0.9, "unset: the spread");
        let prior = prior.with_steering_spread(0.4).unwrap();
        assert_eq!(prior.spread_for(people), 0.4);
        assert_eq!(prior.spread_for(Steering::default()), 0.9);
        assert!(prior.clone().with_steering_spread(1.5).is_err());
        let dark = Steering {
            category: Some(1),
            tone: Some(6),
        };
        assert_eq!(
            prior.spread_for(dark),
            0.4,
            "no tone spread: the steered one"
        );
        let toned = prior.with_tone_steering(Some(0.7), None).unwrap();
        assert_eq!(toned.spread_for(dark), 0.7);
        assert_eq!(
            toned.spread_for(people),
            0.4,
            "a category alone: the steered spread"
        );
        assert_eq!(toned.spread_for(Steering::default()), 0.9);
        assert!(toned.clone().with_tone_steering(None, Some(-0.1)).is_err());
        assert!(toned.with_tone_steering(Some(1.1), None).is_err());
    }
}
