//! The condition of a conditional GAN: an emoji category and a skin tone, as the code the
//! networks read (two one-hot blocks), the names people type, and the training data's
//! frequencies of each pair, from which unconditional sampling draws.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    /// Category names (the emoji metadata's groups), indexed by category.
    pub categories: Vec<String>,
    /// Frequency of each pair, row-major `[category][tone]` (`TONES.len()` per row), summing
    /// to 1. (Kept as `prior` in weights files, its name before the sampling prior had it.)
    #[serde(rename = "prior")]
    pub frequencies: Vec<f32>,
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
        let mut frequencies = vec![0.0f32; categories.len() * TONES.len()];
        for &(c, t) in labels {
            if c >= categories.len() || t >= TONES.len() {
                return Err(Error::Config(format!("condition ({c}, {t}) out of range")));
            }
            frequencies[c * TONES.len() + t] += 1.0;
        }
        let total: f32 = frequencies.iter().sum();
        if total == 0.0 {
            return Err(Error::NoImages("conditions".into()));
        }
        frequencies.iter_mut().for_each(|p| *p /= total);
        Ok(Self {
            categories,
            frequencies,
        })
    }

    /// Share of each category in the training data (the frequencies summed over tones).
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
        self.frequencies
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
        for (i, w) in self.frequencies.iter().enumerate() {
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
    fn resolve_follows_frequencies_and_steering() {
        let c = conditions();
        let mut counts = [[0usize; 7]; 2];
        for seed in 0..6000 {
            let (cat, tone) = c.resolve(Steering::default(), seed);
            counts[cat][tone] += 1;
        }
        // Frequencies: smileys/none 2/6, people/yellow 2/6, people/dark 1/6, people/none 1/6.
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
