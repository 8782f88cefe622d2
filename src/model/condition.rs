//! The condition of a conditional GAN: an emoji category and a skin tone, as the code the
//! networks read (two one-hot blocks), the names people type, and the training data's
//! frequencies of each pair, from which unconditional sampling draws.

use burn::prelude::*;

use crate::latent::SplitMix64;
use crate::{Error, Result};

/// Tone names, indexed by tone: `none` is an emoji that does not come in skin tones, `yellow`
/// the default image of one that does, then the five Unicode modifiers (U+1F3FB to U+1F3FF).
pub const TONES: [&str; 7] = [
    "none",
    "yellow",
    "light",
    "medium-light",
    "medium",
    "medium-dark",
    "dark",
];

/// Mixed into an image's seed for drawing its condition, so the draw does not reuse the
/// noise's random stream.
const CONDITION_SALT: u64 = 0x636f_6e64; // "cond"

/// The conditions a model knows: category names and how often each (category, tone) pair
/// occurs in its training data.
#[derive(Config, Debug, PartialEq)]
pub struct Conditions {
    /// Category names (the emoji metadata's groups), indexed by category.
    pub categories: Vec<String>,
    /// Frequency of each pair, row-major `[category][tone]` (`TONES.len()` per row), summing
    /// to 1.
    pub prior: Vec<f32>,
}

/// Where a fine-tuned GAN draws its latents: near the latents a person's images invert to
/// (MidiMe's idea, Dinculescu et al. 2019: move the sampling distribution before, or
/// instead of, the weights). Each latent picks one of the `centres` and moves off it in a
/// random direction: `sqrt(1 - spread^2) * centre + spread * noise` for the Gaussian part
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

/// The share of a steered latent's Gaussian step kept along some orthonormal directions
/// ([`LatentPrior::guard_for`]).
#[derive(Debug, Clone)]
pub struct Guard {
    keep: f32,
    directions: Vec<Vec<f32>>,
}

impl Guard {
    /// Scales `noise` along the directions by the share kept.
    pub fn apply(&self, noise: &mut [f32]) {
        for u in &self.directions {
            let along: f32 = noise.iter().zip(u).map(|(a, b)| a * b).sum();
            noise
                .iter_mut()
                .zip(u)
                .for_each(|(a, b)| *a -= (1.0 - self.keep) * along * b);
        }
    }
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

/// `vectors` in single precision.
fn single_precision(vectors: Vec<Vec<f64>>) -> Vec<Vec<f32>> {
    vectors
        .into_iter()
        .map(|u| u.into_iter().map(|x| x as f32).collect())
        .collect()
}

/// `raw` orthonormalised in order (Gram-Schmidt); a vector that adds nothing is dropped.
fn orthonormal(raw: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for mut v in raw {
        let norm_before = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for u in &basis {
            let along: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= along * b);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-6 * norm_before.max(1e-12) && norm > 1e-12 {
            basis.push(v.into_iter().map(|x| x / norm).collect());
        }
    }
    basis
}

/// The `k` widest directions of the rows of `x` (row-major `[n, d]`, taken as centred), each
/// a unit vector with the rows' standard deviation along it, widest first: power iteration
/// on the smaller of their covariance (`d x d`) and their Gram matrix (`n x n`: few rows, as
/// in fine-tuning's quick mode, cost little).
fn principal(x: &[f64], d: usize, k: usize) -> Vec<(Vec<f64>, f64)> {
    let n = x.len() / d.max(1);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    // The covariance X^T X / n, or the Gram matrix X X^T / n, whichever is smaller: they
    // share their eigenvalues, and X^T u is the covariance's eigenvector for the Gram
    // matrix's u.
    let gram = n <= d;
    let m = n.min(d);
    let mut matrix = vec![0.0f64; m * m];
    for a in 0..m {
        for b in a..m {
            let value = if gram {
                dot(&x[a * d..(a + 1) * d], &x[b * d..(b + 1) * d])
            } else {
                (0..n).map(|i| x[i * d + a] * x[i * d + b]).sum::<f64>()
            } / n as f64;
            matrix[a * m + b] = value;
            matrix[b * m + a] = value;
        }
    }
    let mut out = Vec::with_capacity(k);
    let mut found: Vec<Vec<f64>> = Vec::with_capacity(k);
    for c in 0..k.min(m) {
        let mut rng = crate::latent::SplitMix64::new(0x0070_6361 + c as u64);
        let mut v: Vec<f64> = (0..m).map(|_| rng.next_f64() - 0.5).collect();
        let mut value = 0.0;
        for _ in 0..300 {
            let mut w: Vec<f64> = matrix.chunks(m).map(|row| dot(row, &v)).collect();
            for u in &found {
                let along = dot(&w, u);
                w.iter_mut().zip(u).for_each(|(a, b)| *a -= along * b);
            }
            let norm = dot(&w, &w).sqrt();
            if norm <= 1e-12 {
                value = 0.0;
                break;
            }
            value = norm;
            v = w.into_iter().map(|a| a / norm).collect();
        }
        // The direction: v itself, or X^T v normalised.
        let direction: Vec<f64> = if gram {
            let mut t = vec![0.0f64; d];
            for (row, w) in x.chunks(d).zip(&v) {
                t.iter_mut().zip(row).for_each(|(a, b)| *a += w * b);
            }
            let norm = dot(&t, &t).sqrt().max(1e-12);
            t.into_iter().map(|a| a / norm).collect()
        } else {
            v.clone()
        };
        out.push((direction, value.sqrt()));
        found.push(v);
    }
    out
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

    /// Orthonormal directions along which the labelled centres' conditions differ: each
    /// category's mean centre less the mean of all centres, and each tone's mean centre less
    /// the mean of the centres that have a tone (people), orthonormalised in that order
    /// (Gram-Schmidt; a direction that adds nothing is dropped). Empty without labels.
    pub fn condition_directions(&self) -> Vec<Vec<f32>> {
        single_precision(orthonormal(self.condition_differences()))
    }

    /// The differences the [`Self::condition_directions`] are orthonormalised from: each
    /// category's mean centre less the mean of all, then each tone's less the toned centres'.
    fn condition_differences(&self) -> Vec<Vec<f64>> {
        let Some(labels) = self.all_labels() else {
            return Vec::new();
        };
        let mean_of =
            |keep: &dyn Fn(usize, (usize, usize)) -> bool| self.mean_centre(&labels, keep);
        let differences = |centre: Option<Vec<f64>>, class_means: Vec<Option<Vec<f64>>>| {
            let Some(centre) = centre else {
                return Vec::new();
            };
            class_means
                .into_iter()
                .flatten()
                .map(|m| {
                    m.iter()
                        .zip(&centre)
                        .map(|(a, b)| a - b)
                        .collect::<Vec<f64>>()
                })
                .collect::<Vec<_>>()
        };
        let categories = labels.iter().map(|l| l.0).max().map_or(0, |c| c + 1);
        let mut raw = differences(
            mean_of(&|_, _| true),
            (0..categories)
                .map(|want| mean_of(&|_, (c, _)| c == want))
                .collect(),
        );
        raw.extend(differences(
            mean_of(&|_, (_, t)| t > 0),
            (1..TONES.len())
                .map(|want| mean_of(&|_, (_, t)| t == want))
                .collect(),
        ));
        raw
    }

    /// The directions a steered sample's step is guarded along: the
    /// [`Self::condition_directions`], and for a tone asked for the [`Self::tone_basis`] too,
    /// orthonormalised together (the condition directions first, so those stay as they are).
    pub fn guarded_directions(&self, steering: Steering) -> Vec<Vec<f32>> {
        let mut raw = self.condition_differences();
        if let Some(basis) = self.tone_basis.as_ref().filter(|_| toned(steering)) {
            let d = self.latent_dim.max(1);
            raw.extend(
                basis
                    .chunks(d)
                    .map(|u| u.iter().map(|x| f64::from(*x)).collect()),
            );
        }
        single_precision(orthonormal(raw))
    }

    /// This prior with a [`Self::tone_basis`] of the `k` widest directions of `deviations`
    /// (row-major `[n, latent_dim]`: skin-tone variants' latents, each less the mean of its
    /// emoji's variants), `k` at most the latent's length and `n`.
    pub fn with_tone_directions(mut self, deviations: &[f32], k: usize) -> Result<Self> {
        let d = self.latent_dim.max(1);
        let n = deviations.len() / d;
        if deviations.len() != n * d || k == 0 || k > d || k > n {
            return Err(Error::Config(format!(
                "tone directions: 1 to {} for {n} variants of {d} numbers, not {k}",
                d.min(n)
            )));
        }
        let x: Vec<f64> = deviations.iter().map(|v| f64::from(*v)).collect();
        let directions = orthonormal(principal(&x, d, k).into_iter().map(|(u, _)| u).collect());
        self.tone_basis = Some(
            directions
                .into_iter()
                .flat_map(|u| u.into_iter().map(thousandths))
                .collect(),
        );
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

    /// Moves the `centre` of a latent steered to a skin tone by [`Self::tone_offset`]
    /// (unchanged when that is `None`).
    pub fn push_tone(&self, centre: &mut [f32], steering: Steering) {
        if let Some(offset) = self.tone_offset(steering) {
            centre.iter_mut().zip(offset).for_each(|(c, o)| *c += o);
        }
    }

    /// What a latent steered to a skin tone adds to its centre: `steered_tone_push` times
    /// the tone's mean centre less the mean of all toned centres, neither counting the
    /// centres of mixed tones. `None` when the push is unset or 0, no tone is asked for, or
    /// no centre has the tone. It depends on the prior and the tone only, so a batch works
    /// it out once.
    pub fn tone_offset(&self, steering: Steering) -> Option<Vec<f32>> {
        let push = f64::from(self.steered_tone_push.filter(|p| *p > 0.0)?);
        let tone = steering.tone.filter(|t| *t > 0)?;
        let labels = self.all_labels()?;
        let n = labels.len();
        let mut mixed = vec![false; n];
        for &i in self.mixed_tones.iter().flatten() {
            if let Some(m) = mixed.get_mut(i as usize) {
                *m = true;
            }
        }
        let toned = self.mean_centre(&labels, &|i, (_, t)| t > 0 && !mixed[i])?;
        let this = self.mean_centre(&labels, &|i, (_, t)| t == tone && !mixed[i])?;
        Some(
            this.into_iter()
                .zip(toned)
                .map(|(a, b)| (push * (a - b)) as f32)
                .collect(),
        )
    }

    /// This prior with its Gaussian step shaped by the centres ([`Self::noise_scales`]): each
    /// dimension's scale is the centres' standard deviation along it, rounded to 3 decimals.
    pub fn with_shaped_noise(mut self) -> Self {
        let d = self.latent_dim.max(1);
        let x = self.centred();
        let n = (x.len() / d).max(1) as f64;
        let scales = (0..d)
            .map(|j| {
                let var = x.iter().skip(j).step_by(d).map(|a| a * a).sum::<f64>() / n;
                thousandths(var.sqrt())
            })
            .collect();
        self.noise_scales = Some(scales);
        self
    }

    /// The centres less their mean, row-major `[n, latent_dim]`.
    fn centred(&self) -> Vec<f64> {
        let d = self.latent_dim.max(1);
        let n = (self.centres.len() / d).max(1) as f64;
        let mut mean = vec![0.0f64; d];
        for row in self.centres.chunks(d) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, c)| *m += f64::from(*c));
        }
        mean.iter_mut().for_each(|m| *m /= n);
        self.centres
            .iter()
            .enumerate()
            .map(|(i, c)| f64::from(*c) - mean[i % d])
            .collect()
    }

    /// This prior with its Gaussian step drawn in the centres' `k` widest principal
    /// directions ([`Self::noise_basis`]; `k` at most the latent's length and the number of
    /// centres), found by power iteration on the smaller of their covariance (`d x d`) and
    /// their Gram matrix (`n x n`: few centres, as in fine-tuning's quick mode, cost little).
    pub fn with_principal_noise(mut self, k: usize) -> Result<Self> {
        let d = self.latent_dim.max(1);
        let n = self.centres.len() / d;
        if k == 0 || k > d || k > n {
            return Err(Error::Config(format!(
                "principal directions: 1 to {} for {n} centres of {d} numbers, not {k}",
                d.min(n)
            )));
        }
        let x = self.centred();
        let basis = principal(&x, d, k)
            .into_iter()
            .flat_map(|(u, sd)| {
                u.into_iter()
                    .map(move |a| thousandths(a * sd))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.noise_basis = Some(basis);
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

    /// Scales a steered latent's Gaussian step `noise` along the [`Self::condition_directions`]
    /// (and, for a tone asked for, the [`Self::tone_basis`]) by `steered_guard`, or by
    /// `steered_tone_guard` for a tone when that is set (unchanged when the guard is unset or
    /// 1, or nothing is steered).
    pub fn guard_steered(&self, noise: &mut [f32], steering: Steering) {
        if let Some(guard) = self.guard_for(steering) {
            guard.apply(noise);
        }
    }

    /// What [`Self::guard_steered`] does to latents steered by `steering` (`None`: nothing),
    /// worked out once for a batch of them: the directions cost a pass over every centre and
    /// an orthonormalisation, far more than applying them.
    pub fn guard_for(&self, steering: Steering) -> Option<Guard> {
        let guard = match self.steered_tone_guard {
            Some(g) if toned(steering) => Some(g),
            _ => self.steered_guard,
        };
        let keep = guard.filter(|g| *g < 1.0)?;
        if steering == Steering::default() {
            return None;
        }
        Some(Guard {
            keep,
            directions: self.guarded_directions(steering),
        })
    }

    /// This prior with `mix` set (see the field), 0 to 1.
    pub fn with_mixing(mut self, mix: f32) -> Result<Self> {
        let mix = unit(mix, "mix")?;
        self.mix = (mix > 0.0).then_some(mix);
        Ok(self)
    }

    /// The unsteered latent of `seed`: its centre ([`Self::centre`]) moved by the seed's
    /// Gaussian noise (training draws, where no conditions or truncation apply).
    pub fn draw(&self, seed: u64) -> Vec<f32> {
        let mut z = crate::latent::noise(seed, self.latent_dim);
        self.apply(&self.centre(seed), &mut z);
        z
    }

    /// Standard Gaussian `noise` (the Gaussian part) moved off `centre` (see `shrink`).
    pub fn apply(&self, centre: &[f32], noise: &mut [f32]) {
        self.apply_spread(centre, noise, self.spread);
    }

    /// [`Self::apply`] with another spread (a steered latent's, see `steered_spread`).
    pub fn apply_spread(&self, centre: &[f32], noise: &mut [f32], spread: f32) {
        self.shape_step(noise);
        self.place(centre, noise, spread);
    }

    /// Turns standard Gaussian `noise` into this prior's step: unchanged, scaled per
    /// dimension ([`Self::noise_scales`]), or a combination of the principal directions
    /// ([`Self::noise_basis`]) weighted by its first numbers.
    pub fn shape_step(&self, noise: &mut [f32]) {
        if let Some(basis) = &self.noise_basis {
            let d = self.latent_dim.max(1);
            let mut step = vec![0.0f32; d];
            for (row, weight) in basis.chunks(d).zip(noise.iter()) {
                step.iter_mut().zip(row).for_each(|(s, b)| *s += weight * b);
            }
            noise.iter_mut().zip(step).for_each(|(x, s)| *x = s);
        } else if let Some(scales) = &self.noise_scales {
            noise.iter_mut().zip(scales).for_each(|(x, s)| *x *= s);
        }
    }

    /// A step (see [`Self::shape_step`]) taken from `centre` at `spread`, in place.
    pub fn place(&self, centre: &[f32], step: &mut [f32], spread: f32) {
        let keep = if self.shrink {
            (1.0 - spread * spread).max(0.0).sqrt()
        } else {
            1.0
        };
        for (x, c) in step.iter_mut().zip(centre) {
            *x = keep * c + spread * *x;
        }
    }
}

/// What a person asks for; `None` fields are drawn from the data's frequencies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Steering {
    /// Category index.
    pub category: Option<usize>,
    /// Tone index into [`TONES`].
    pub tone: Option<usize>,
}

impl Conditions {
    /// The frequencies of `(category, tone)` pairs among `labels`.
    pub fn from_labels(categories: Vec<String>, labels: &[(usize, usize)]) -> Result<Self> {
        let mut prior = vec![0.0f32; categories.len() * TONES.len()];
        for &(c, t) in labels {
            if c >= categories.len() || t >= TONES.len() {
                return Err(Error::Config(format!("condition ({c}, {t}) out of range")));
            }
            prior[c * TONES.len() + t] += 1.0;
        }
        let total: f32 = prior.iter().sum();
        if total == 0.0 {
            return Err(Error::NoImages("conditions".into()));
        }
        prior.iter_mut().for_each(|p| *p /= total);
        Ok(Self::new(categories, prior))
    }

    /// Share of each category in the training data (the prior summed over tones).
    pub fn category_shares(&self) -> Vec<f32> {
        (0..self.categories.len())
            .map(|c| (0..TONES.len()).map(|t| self.weight(c, t)).sum())
            .collect()
    }

    /// Length of a condition code: one-hot category, then one-hot tone.
    pub fn dim(&self) -> usize {
        self.categories.len() + TONES.len()
    }

    fn weight(&self, category: usize, tone: usize) -> f32 {
        self.prior
            .get(category * TONES.len() + tone)
            .copied()
            .unwrap_or(0.0)
    }

    /// Category index of a name: the metadata's (`Smileys & Emotion`) or its first word in
    /// lower case (`smileys`).
    pub fn category(&self, name: &str) -> Result<usize> {
        let wanted = name.trim().to_lowercase();
        self.categories
            .iter()
            .position(|c| c.to_lowercase() == wanted || short_name(c) == wanted)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown category {name:?}; valid: {}",
                    self.category_names().join(", ")
                ))
            })
    }

    /// The short names [`Self::category`] accepts, in index order.
    pub fn category_names(&self) -> Vec<String> {
        self.categories.iter().map(|c| short_name(c)).collect()
    }

    /// Tone index of a name in [`TONES`] (`none` excluded: ask for no tone by leaving it out).
    pub fn tone(name: &str) -> Result<usize> {
        let wanted = name.trim().to_lowercase().replace(['_', ' '], "-");
        TONES
            .iter()
            .skip(1)
            .position(|t| *t == wanted)
            .map(|i| i + 1)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown skin tone {name:?}; valid: {}",
                    TONES[1..].join(", ")
                ))
            })
    }

    /// Whether category `c` has emoji that come in skin tones.
    pub fn has_tones(&self, category: usize) -> bool {
        (1..TONES.len()).any(|t| self.weight(category, t) > 0.0)
    }

    /// Checks a request: indices in range, and a tone only where the data has one.
    pub fn check(&self, steering: Steering) -> Result<()> {
        if let Some(c) = steering.category
            && c >= self.categories.len()
        {
            return Err(Error::Config(format!(
                "category {c} out of range; valid: {}",
                self.category_names().join(", ")
            )));
        }
        let Some(t) = steering.tone else {
            return Ok(());
        };
        if t == 0 || t >= TONES.len() {
            return Err(Error::Config(format!(
                "skin tone {t} out of range; valid: 1 ({}) to {} ({})",
                TONES[1],
                TONES.len() - 1,
                TONES[TONES.len() - 1]
            )));
        }
        let toned: Vec<String> = (0..self.categories.len())
            .filter(|&c| self.has_tones(c))
            .map(|c| short_name(&self.categories[c]))
            .collect();
        match steering.category {
            _ if toned.is_empty() => Err(Error::Config(
                "this model's data has no emoji with skin tones".into(),
            )),
            Some(c) if !self.has_tones(c) => Err(Error::Config(format!(
                "category {:?} has no emoji with skin tones; a skin tone needs one of: {}",
                short_name(&self.categories[c]),
                toned.join(", ")
            ))),
            _ => Ok(()),
        }
    }

    /// The `(category, tone)` pair of an image: what `steering` fixes, the rest drawn from the
    /// data's frequencies (given what is fixed) with an RNG seeded by the image's `seed`, so
    /// the same seed and steering give the same pair.
    pub fn resolve(&self, steering: Steering, seed: u64) -> (usize, usize) {
        let mut rng = SplitMix64::new(seed ^ CONDITION_SALT);
        let pairs: Vec<(usize, usize)> = (0..self.categories.len())
            .flat_map(|c| (0..TONES.len()).map(move |t| (c, t)))
            .filter(|&(c, t)| {
                steering.category.is_none_or(|s| s == c) && steering.tone.is_none_or(|s| s == t)
            })
            .collect();
        let total: f32 = pairs.iter().map(|&(c, t)| self.weight(c, t)).sum();
        if total <= 0.0 {
            // Asked for a pair the data never has (checked away by `check` for tones); keep
            // what was asked, defaulting the rest.
            return (steering.category.unwrap_or(0), steering.tone.unwrap_or(0));
        }
        let mut target = rng.next_f32() * total;
        for &(c, t) in &pairs {
            target -= self.weight(c, t);
            if target < 0.0 {
                return (c, t);
            }
        }
        pairs
            .iter()
            .rev()
            .copied()
            .find(|&(c, t)| self.weight(c, t) > 0.0)
            .unwrap_or((0, 0))
    }

    /// The code the networks read for a pair: one-hot category, then one-hot tone.
    pub fn code(&self, category: usize, tone: usize) -> Vec<f32> {
        let mut code = vec![0.0; self.dim()];
        if let Some(x) = code.get_mut(category) {
            *x = 1.0;
        }
        if let Some(x) = code.get_mut(self.categories.len() + tone) {
            *x = 1.0;
        }
        code
    }

    /// The code of one image: the pair `steering` fixes whole; unsteered near a prior centre
    /// that carries a code, that code; otherwise a pair drawn by [`Self::resolve`] with the
    /// seed `draw` gives (called only then, so callers that draw from a running RNG use it
    /// only when needed).
    pub fn code_for(
        &self,
        steering: Steering,
        centre_code: Option<&[f32]>,
        draw: impl FnOnce() -> u64,
    ) -> Vec<f32> {
        if let (Some(c), Some(t)) = (steering.category, steering.tone) {
            return self.code(c, t);
        }
        if let Some(code) = centre_code.filter(|c| c.len() == self.dim())
            && steering == Steering::default()
        {
            return code.to_vec();
        }
        let (c, t) = self.resolve(steering, draw());
        self.code(c, t)
    }

    /// The data's average code: each pair's code weighted by its frequency (where inversion
    /// starts a conditional GAN's code).
    pub fn average_code(&self) -> Vec<f32> {
        let mut code = vec![0.0; self.dim()];
        for (i, w) in self.prior.iter().enumerate() {
            code[i / TONES.len()] += w;
            code[self.categories.len() + i % TONES.len()] += w;
        }
        code
    }

    /// The pair a code stands for (the largest entry of each block), for provenance and
    /// reports.
    pub fn decode_code(&self, code: &[f32]) -> (usize, usize) {
        let argmax = |xs: &[f32]| {
            xs.iter()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |best, (i, &x)| if x > best.1 { (i, x) } else { best },
                )
                .0
        };
        let k = self.categories.len().min(code.len());
        (argmax(&code[..k]), argmax(&code[k..]))
    }
}

/// `Smileys & Emotion` -> `smileys`.
fn short_name(category: &str) -> String {
    category
        .split([' ', '&'])
        .next()
        .unwrap_or(category)
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions() -> Conditions {
        let names = vec!["Smileys & Emotion".to_string(), "People & Body".to_string()];
        // Smileys never toned; people: 2 yellow, 1 dark, 1 without tones.
        let labels = [(0, 0), (0, 0), (1, 1), (1, 1), (1, 6), (1, 0)];
        Conditions::from_labels(names, &labels).unwrap()
    }

    #[test]
    fn a_prior_shrinks_its_centre_or_keeps_it_whole() {
        let centre = vec![2.0, -1.0];
        let noise = [0.5f32, 0.5];
        let shrunk = LatentPrior::around(centre.clone(), 2, 0.6).unwrap();
        let mut z = noise;
        shrunk.apply(&centre, &mut z);
        assert_eq!(z, [0.8 * 2.0 + 0.3, -0.8 + 0.3]);
        let anchored = LatentPrior::anchored(centre.clone(), 2, 0.6).unwrap();
        let mut z = noise;
        anchored.apply(&centre, &mut z);
        assert_eq!(z, [2.0 + 0.3, -1.0 + 0.3]);
        assert!(LatentPrior::anchored(centre, 2, 1.5).is_err());
    }

    /// Shaped noise moves a latent along a dimension as far as the centres vary there: not at
    /// all where every centre agrees.
    #[test]
    fn shaped_noise_follows_the_centres_spread() {
        // Two centres of two numbers: they differ by 4 along the first (std 2), agree on the
        // second.
        let prior = LatentPrior::anchored(vec![-2.0, 5.0, 2.0, 5.0], 2, 0.5)
            .unwrap()
            .with_shaped_noise();
        assert_eq!(prior.noise_scales, Some(vec![2.0, 0.0]));
        let mut z = [1.0f32, 1.0];
        prior.apply(&[-2.0, 5.0], &mut z);
        assert_eq!(z, [-2.0 + 0.5 * 2.0, 5.0]);
        let plain = LatentPrior::anchored(vec![-2.0, 5.0, 2.0, 5.0], 2, 0.5).unwrap();
        let mut z = [1.0f32, 1.0];
        plain.apply(&[-2.0, 5.0], &mut z);
        assert_eq!(z, [-1.5, 5.5]);
    }

    /// Principal noise: centres spread along one line give one direction along it, as long
    /// as their standard deviation there, and a step along it alone.
    #[test]
    fn principal_noise_steps_along_the_centres_widest_direction() {
        let direction = [1.0f32 / 3.0, 2.0 / 3.0, 2.0 / 3.0];
        let ts = [-3.0f32, -1.0, 1.0, 3.0]; // standard deviation sqrt(5)
        let centres: Vec<f32> = ts
            .iter()
            .flat_map(|t| direction.map(|d| 10.0 + t * d))
            .collect();
        let prior = LatentPrior::anchored(centres.clone(), 3, 0.5).unwrap();
        let one = prior.clone().with_principal_noise(1).unwrap();
        let row = one.noise_basis.clone().unwrap();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 5f32.sqrt()).abs() < 0.01, "{norm}");
        let cosine: f32 = row.iter().zip(direction).map(|(a, b)| a * b).sum::<f32>() / norm;
        assert!(cosine.abs() > 0.999, "{row:?}");
        // The step is the first noise number times that row; the others are unused.
        let mut z = [2.0f32, 7.0, -7.0];
        one.shape_step(&mut z);
        for (x, r) in z.iter().zip(&row) {
            assert!((x - 2.0 * r).abs() < 1e-5, "{z:?}");
        }
        // No spread across the line: a second direction has (next to) no length.
        let two = prior.clone().with_principal_noise(2).unwrap();
        let second = &two.noise_basis.unwrap()[3..];
        assert!(second.iter().all(|x| x.abs() < 0.01), "{second:?}");
        for k in [0, 4, 5] {
            let err = prior
                .clone()
                .with_principal_noise(k)
                .unwrap_err()
                .to_string();
            assert!(err.contains("1 to 3"), "{k}: {err}");
        }
        // Fewer centres than numbers (the Gram matrix's way): two centres 6 apart along the
        // direction give it, 3 long.
        let pair: Vec<f32> = [-3.0f32, 3.0]
            .iter()
            .flat_map(|t| direction.map(|d| 1.0 + t * d))
            .collect();
        let row = LatentPrior::anchored(pair, 3, 0.5)
            .unwrap()
            .with_principal_noise(1)
            .unwrap()
            .noise_basis
            .unwrap();
        let cosine: f32 = row.iter().zip(direction).map(|(a, b)| a * b).sum::<f32>() / 3.0;
        assert!((cosine.abs() - 1.0).abs() < 0.002, "{row:?}");
    }

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

    #[test]
    fn steering_guards_the_step_off_the_directions_between_conditions_and_pushes_tones() {
        // Three dimensions: smileys (label 0) sit at x = 0, people (category 1, tone 1: label
        // 8; tone 6: label 13) at x = 4, yellow people at y = 0 and dark ones at y = 2;
        // every condition has images at z = -1 and z = 1.
        let centres = vec![
            0.0, 0.0, -1.0, 0.0, 0.0, 1.0, // smileys
            4.0, 0.0, -1.0, 4.0, 0.0, 1.0, // yellow people
            4.0, 2.0, -1.0, 4.0, 2.0, 1.0, // dark people
        ];
        let mut prior = LatentPrior::anchored(centres, 3, 0.5).unwrap();
        assert!(
            prior.condition_directions().is_empty(),
            "no labels, no directions"
        );
        prior.labels = Some(vec![0, 0, 8, 8, 13, 13]);
        let directions = prior.condition_directions();
        // The conditions' means differ in x and y, not z: two orthonormal directions in the
        // xy plane.
        assert_eq!(directions.len(), 2, "{directions:?}");
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        for u in &directions {
            assert!((dot(u, u) - 1.0).abs() < 1e-5 && u[2].abs() < 1e-5, "{u:?}");
        }
        assert!(dot(&directions[0], &directions[1]).abs() < 1e-5);
        let steered = Steering {
            category: Some(1),
            tone: None,
        };
        let mut noise = [1.0f32, -2.0, 3.0];
        prior.guard_steered(&mut noise, steered);
        assert_eq!(noise, [1.0, -2.0, 3.0], "no guard set: the step is whole");
        let guarded = prior.with_steering_guard(0.25).unwrap();
        guarded.guard_steered(&mut noise, Steering::default());
        assert_eq!(noise, [1.0, -2.0, 3.0], "unsteered: the step is whole");
        guarded.guard_steered(&mut noise, steered);
        for (got, want) in noise.iter().zip([0.25, -0.5, 3.0]) {
            assert!((got - want).abs() < 1e-5, "{noise:?}");
        }
        assert!(guarded.clone().with_steering_guard(1.5).is_err());

        // The tone push: dark people's mean (4, 2, 0) less all toned people's (4, 1, 0).
        let pushed = guarded.with_tone_push(0.5).unwrap();
        let dark = Steering {
            category: Some(1),
            tone: Some(6),
        };
        let mut centre = [4.0f32, 2.0, 1.0];
        pushed.push_tone(&mut centre, dark);
        assert_eq!(centre, [4.0, 2.5, 1.0]);
        let yellow = Steering {
            category: Some(1),
            tone: Some(1),
        };
        pushed.push_tone(&mut centre, yellow);
        assert_eq!(
            centre,
            [4.0, 2.0, 1.0],
            "yellow's mean is y = 0: pushed back"
        );
        for not_a_tone in [steered, Steering::default()] {
            pushed.push_tone(&mut centre, not_a_tone);
            assert_eq!(centre, [4.0, 2.0, 1.0]);
        }
        assert!(pushed.with_tone_push(1.5).is_err());
    }

    #[test]
    fn tone_directions_guard_only_tone_steered_steps() {
        // Two people's tone variants (latents of 3 numbers), each less its emoji's mean: they
        // differ along (1, 1, 0) and a little along (1, -1, 0), never along z.
        let deviations = [
            2.0f32, 2.0, 0.0, -2.0, -2.0, 0.0, // the first person, two tones
            3.0, 2.8, 0.0, -3.0, -2.8, 0.0, // the second
        ];
        let centres = vec![0.0f32; 6];
        let mut prior = LatentPrior::anchored(centres, 3, 0.5).unwrap();
        prior.labels = Some(vec![13, 13]);
        assert!(
            prior.clone().with_tone_directions(&deviations, 4).is_err(),
            "k > d"
        );
        assert!(
            prior
                .clone()
                .with_tone_directions(&deviations[..5], 1)
                .is_err(),
            "ragged"
        );
        let one = prior.clone().with_tone_directions(&deviations, 1).unwrap();
        let u = one.tone_basis.clone().unwrap();
        assert_eq!(u.len(), 3);
        let norm = u.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-2, "{u:?}");
        assert!(
            u[0].abs() > 0.65 && u[1].abs() > 0.65 && u[2] == 0.0,
            "{u:?}"
        );
        let two = prior
            .with_tone_directions(&deviations, 2)
            .unwrap()
            .with_steering_guard(0.0)
            .unwrap();
        let step = [1.0f32, -2.0, 3.0];
        let toned = Steering {
            category: Some(1),
            tone: Some(6),
        };
        let mut noise = step;
        two.guard_steered(&mut noise, toned);
        // Guard 0 along both tone directions (the xy plane): only z is left.
        for (got, want) in noise.iter().zip([0.0, 0.0, 3.0]) {
            assert!((got - want).abs() < 1e-2, "{noise:?}");
        }
        // Steered to a category only, the tone directions are left alone (and the centres,
        // all equal, give no condition directions).
        let mut noise = step;
        let category = Steering {
            category: Some(1),
            tone: None,
        };
        two.guard_steered(&mut noise, category);
        assert_eq!(noise, step);
        // A tone's own guard replaces the steered one for a tone asked for, and only then.
        let own = two.with_tone_steering(None, Some(0.5)).unwrap();
        let mut noise = step;
        own.guard_steered(&mut noise, toned);
        for (got, want) in noise.iter().zip([0.5, -1.0, 3.0]) {
            assert!((got - want).abs() < 1e-2, "{noise:?}");
        }
    }

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

    #[test]
    fn names_and_errors() {
        let c = conditions();
        assert_eq!(c.category("smileys").unwrap(), 0);
        assert_eq!(c.category("People & Body").unwrap(), 1);
        let err = c.category("cats").unwrap_err().to_string();
        assert!(err.contains("smileys, people"), "{err}");
        assert_eq!(Conditions::tone("Medium_Dark").unwrap(), 5);
        assert!(Conditions::tone("none").is_err());
        let err = c
            .check(Steering {
                category: Some(0),
                tone: Some(6),
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("people"), "{err}");
        assert!(
            c.check(Steering {
                category: Some(1),
                tone: Some(6)
            })
            .is_ok()
        );
    }

    #[test]
    fn resolve_follows_prior_and_steering() {
        let c = conditions();
        let mut counts = [[0usize; 7]; 2];
        for seed in 0..6000 {
            let (cat, tone) = c.resolve(Steering::default(), seed);
            counts[cat][tone] += 1;
        }
        // Prior: smileys/none 2/6, people/yellow 2/6, people/dark 1/6, people/none 1/6.
        assert!(
            (counts[0][0] as f32 / 6000.0 - 1.0 / 3.0).abs() < 0.03,
            "{counts:?}"
        );
        assert!(
            (counts[1][6] as f32 / 6000.0 - 1.0 / 6.0).abs() < 0.03,
            "{counts:?}"
        );
        assert_eq!(counts[0][1..].iter().sum::<usize>(), 0);
        let toned = Steering {
            category: None,
            tone: Some(6),
        };
        assert!((0..100).all(|s| c.resolve(toned, s) == (1, 6)));
        assert_eq!(
            c.resolve(Steering::default(), 7),
            c.resolve(Steering::default(), 7)
        );
        assert_eq!(c.decode_code(&c.code(1, 4)), (1, 4));
    }
}
