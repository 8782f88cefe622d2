//! The networks: a DCGAN generator and discriminator, a convolutional VAE encoder (whose
//! decoder is the generator network), and a small emoji classifier used as the feature space
//! of the evaluation metrics. `ModelConfig` names an architecture; it is stored inside every
//! weights file so weights never load into the wrong network.

pub mod blocks;
pub mod classifier;
pub mod condition;
pub mod gan;
pub mod latent_model;
pub mod params;
pub mod vae;

use burn::module::Module;

use crate::latent::SplitMix64;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::prior::{Guard, LatentPrior};
pub use classifier::{Classifier, ClassifierConfig};
pub use condition::{Conditions, Steering, TONES};
pub use gan::{
    Discriminator, DiscriminatorConfig, GanConfig, Generator, GeneratorConfig, LATENT_GRIDS,
    check_latent_grid,
};
pub use latent_model::LatentModel;
pub use vae::{Encoder, EncoderConfig, VaeConfig};

/// Initialises weights from `seed` with DCGAN's N(0, 0.02) (Radford et al. 2016) and biases
/// with zero: the only initialisation of every trained network (layers are built with burn's
/// default initialiser, which this replaces).
///
/// burn initialises parameters lazily from a process-global RNG, so two models built after
/// the same `device.seed` can differ when anything else (another thread, a test running
/// beside this one) draws in between. Our own RNG makes "same seed, same model" hold.
pub fn seeded_init<M: Module>(module: M, seed: u64) -> M {
    let mut rng = SplitMix64::new(seed ^ 0x1D17);
    params::map_floats(module, |path, dims, flat| {
        let is_bias = path.rsplit('.').next() == Some("bias");
        if dims.len() < 2 && !is_bias {
            return flat; // batch-norm scales, shifts and statistics keep their constants
        }
        let n = flat.dims()[0];
        let values: Vec<f32> = if is_bias {
            vec![0.0; n]
        } else {
            (0..n).map(|_| 0.02 * rng.next_gaussian()).collect()
        };
        Tensor::from_data(TensorData::new(values, [n]), &flat.device())
    })
}

/// Which architecture a weights file or model folder holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ModelConfig {
    /// A generative adversarial network.
    Gan(GanConfig),
    /// A variational autoencoder.
    Vae(VaeConfig),
    /// The evaluation classifier.
    Classifier(ClassifierConfig),
}

impl ModelConfig {
    /// Short name for messages: "gan", "vae" or "classifier".
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Gan(_) => "gan",
            ModelConfig::Vae(_) => "vae",
            ModelConfig::Classifier(_) => "classifier",
        }
    }

    /// One-line description including the sizes that decide tensor shapes.
    pub fn describe(&self) -> String {
        match self {
            ModelConfig::Gan(c) => format!(
                "{}gan (latent {}, generator width {}, discriminator width {})",
                if c.conditions.is_some() {
                    "conditional "
                } else {
                    ""
                },
                c.generator.latent_dim,
                c.generator.width,
                c.discriminator.width
            ),
            ModelConfig::Vae(c) => format!(
                "vae (latent {}{}, width {})",
                c.decoder.latent_dim,
                c.decoder
                    .latent_grid
                    .map(|s| format!(" on a {s}x{s} grid"))
                    .unwrap_or_default(),
                c.decoder.width
            ),
            ModelConfig::Classifier(c) => {
                format!("classifier ({} classes, width {})", c.num_classes, c.width)
            }
        }
    }
}
