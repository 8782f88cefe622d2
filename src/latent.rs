//! Latent-space maths: seeded Gaussian noise that is identical on every backend and platform,
//! linear and spherical interpolation, and seeds given as JS numbers.
//!
//! Noise is drawn on the host with a fixed PRNG (SplitMix64 + Box-Muller) rather than with the
//! backend's RNG, so "same seed, same image" holds across CPU, WebGPU and native builds.

use crate::limits::MAX_SEED;
use crate::{Error, Result};

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, seedable, and the same on every platform.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The internal state; `SplitMix64::new(rng.state())` continues the same stream.
    pub fn state(&self) -> u64 {
        self.state
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, 1) as `f32`.
    pub fn next_f32(&mut self) -> f32 {
        self.next_f64() as f32
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize % n.max(1)
    }

    /// Standard normal sample (Box-Muller; the second value is discarded for simplicity).
    pub fn next_gaussian(&mut self) -> f32 {
        let u1 = 1.0 - self.next_f64(); // in (0, 1], so ln is finite
        let u2 = self.next_f64();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// One latent vector of `dim` standard normal values for `seed`.
///
/// Each image's vector depends only on its own seed, so image `i` of `sample(n, seed)` is the
/// image of seed `seed + i` whatever `n` is.
pub fn noise(seed: u64, dim: usize) -> Vec<f32> {
    // Mix the seed so that neighbouring seeds give unrelated streams.
    let mut rng = SplitMix64::new(seed ^ 0x6C61_7465_6E74_7061);
    (0..dim).map(|_| rng.next_gaussian()).collect()
}

/// `n` latent vectors for seeds `seed, seed + 1, ...`, row-major `[n, dim]`.
pub fn noise_batch(seed: u64, n: usize, dim: usize) -> Vec<f32> {
    (0..n as u64)
        .flat_map(|i| noise(seed.wrapping_add(i), dim))
        .collect()
}

/// How to walk between two latent vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Straight line; shrinks the norm mid-way, which for Gaussian latents leaves the shell
    /// where the generator was trained (White 2016, "Sampling Generative Networks").
    Lerp,
    /// Great-circle path; keeps the norm, the usual choice for Gaussian latents.
    Slerp,
}

impl std::str::FromStr for Interpolation {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "lerp" => Ok(Self::Lerp),
            "slerp" => Ok(Self::Slerp),
            other => Err(crate::Error::Config(format!(
                "interpolation must be lerp or slerp, not {other:?}"
            ))),
        }
    }
}

/// Linear interpolation `a + t (b - a)`.
pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect()
}

/// Spherical interpolation (Shoemake 1985), with both endpoints exact. Falls back to lerp
/// when the vectors are (anti)parallel, where the great circle is undefined.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return lerp(a, b, t);
    }
    let dot = a
        .iter()
        .zip(b)
        .map(|(x, y)| *x as f64 * *y as f64)
        .sum::<f64>()
        / (na * nb);
    let omega = dot.clamp(-1.0, 1.0).acos();
    let so = omega.sin();
    if so.abs() < 1e-6 {
        return lerp(a, b, t);
    }
    let t = t as f64;
    let wa = ((1.0 - t) * omega).sin() / so;
    let wb = (t * omega).sin() / so;
    a.iter()
        .zip(b)
        .map(|(x, y)| (wa * *x as f64 + wb * *y as f64) as f32)
        .collect()
}

/// `frames` latent vectors from `a` to `b` inclusive, row-major `[frames, dim]`.
pub fn interpolate(a: &[f32], b: &[f32], frames: usize, how: Interpolation) -> Vec<f32> {
    (0..frames)
        .flat_map(|i| {
            let t = if frames <= 1 {
                0.0
            } else {
                i as f32 / (frames - 1) as f32
            };
            match how {
                Interpolation::Lerp => lerp(a, b, t),
                Interpolation::Slerp => slerp(a, b, t),
            }
        })
        .collect()
}

/// A seed given as a JS number: a whole number from 0 to [`MAX_SEED`].
pub fn seed_from_f64(seed: f64) -> Result<u64> {
    if seed.is_finite() && seed >= 0.0 && seed.fract() == 0.0 && seed <= MAX_SEED as f64 {
        Ok(seed as u64)
    } else {
        Err(Error::Config(format!(
            "seed must be a whole number from 0 to 2^53 - 1, not {seed}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn same_seed_same_noise_and_neighbours_differ() {
        assert_eq!(noise(7, 16), noise(7, 16));
        assert_ne!(noise(7, 16), noise(8, 16));
        let batch = noise_batch(7, 3, 16);
        assert_eq!(&batch[16..32], noise(8, 16).as_slice());
    }

    #[test]
    fn noise_is_standard_normal() {
        let v = noise(1, 100_000);
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn slerp_hits_endpoints_and_keeps_norm() {
        let a = noise(1, 128);
        let b = noise(2, 128);
        let path = interpolate(&a, &b, 9, Interpolation::Slerp);
        let frames: Vec<&[f32]> = path.chunks(128).collect();
        for (x, y) in frames[0].iter().zip(&a) {
            assert!((x - y).abs() < 1e-5);
        }
        for (x, y) in frames[8].iter().zip(&b) {
            assert!((x - y).abs() < 1e-5);
        }
        // Equal-norm endpoints: every frame stays on the same sphere...
        let bn: Vec<f32> = b.iter().map(|x| x * norm(&a) / norm(&b)).collect();
        for f in interpolate(&a, &bn, 9, Interpolation::Slerp).chunks(128) {
            assert!((norm(f) - norm(&a)).abs() / norm(&a) < 1e-4);
        }
        // ...while lerp's midpoint falls inside it.
        let mid = lerp(&a, &bn, 0.5);
        assert!(norm(&mid) < 0.9 * norm(&a));
    }

    #[test]
    fn slerp_of_parallel_vectors_is_lerp() {
        let a = vec![1.0, 0.0];
        let b = vec![2.0, 0.0];
        assert_eq!(slerp(&a, &b, 0.5), vec![1.5, 0.0]);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<usize> = (0..50).collect();
        SplitMix64::new(3).shuffle(&mut v);
        let mut s = v.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
        assert_ne!(v, s);
    }
}
