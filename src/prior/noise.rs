//! The shape of a prior's Gaussian step: the same in every direction, scaled per latent
//! dimension by the centres' spread, or drawn in the centres' widest principal directions;
//! and where the step is taken from (a centre kept whole, or shrunk as the spread grows).

use super::{LatentPrior, thousandths};
use crate::linalg::principal;
use crate::{Error, Result};

impl LatentPrior {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
