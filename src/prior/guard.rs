//! What a steered sample's Gaussian step keeps along the directions in which the prior's
//! conditions differ (so that the step changes the image, not its condition), and the push
//! that moves a tone-steered sample's centre towards what sets its tone apart.

use super::{LatentPrior, thousandths, toned};
use crate::linalg::{orthonormal, principal};
use crate::model::{Steering, TONES};
use crate::{Error, Result};

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

/// `vectors` in single precision.
fn single_precision(vectors: Vec<Vec<f64>>) -> Vec<Vec<f32>> {
    vectors
        .into_iter()
        .map(|u| u.into_iter().map(|x| x as f32).collect())
        .collect()
}

impl LatentPrior {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
