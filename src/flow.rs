//! A learned prior over the VAE's latent grid: a rectified flow (Liu et al. 2023; flow
//! matching, Lipman et al. 2023). A small convolutional network at the grid's resolution
//! learns the velocity that carries Gaussian noise to the training images' latents along
//! straight lines; sampling integrates it from the seed's noise with Euler steps, so the same
//! seed gives the same latent on every backend. The condition (category and skin tone) is
//! dropped at random in training, so that classifier-free guidance (Ho and Salimans 2022) can
//! steer it.
//!
//! Why a rectified flow and not diffusion: its training target (the straight-line velocity
//! `x1 - x0`) needs no noise schedule, and its paths are nearly straight, so a deterministic
//! sampler needs few steps, which is what the page's sampling budget allows.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::silu;

use crate::latent::SplitMix64;
use crate::model::{Steering, TONES};
use crate::{Error, Result};

/// Length of the time features (sines and cosines of 8 frequencies).
const TIME_FEATURES: usize = 16;

/// The flow's architecture and the latents' scale, kept in the VAE's weights file.
#[derive(Config, Debug, PartialEq)]
pub struct FlowConfig {
    /// Latent channels per cell (the VAE's).
    pub channels: usize,
    /// The grid's side (the VAE's).
    pub side: usize,
    /// Categories the condition knows (the VAE's conditions'); one more stands for none.
    pub categories: usize,
    /// Channels of the network.
    #[config(default = 96)]
    pub width: usize,
    /// Residual blocks.
    #[config(default = 4)]
    pub blocks: usize,
    /// Per latent channel, the training latents' mean, subtracted before the flow sees them.
    #[config(default = "Vec::new()")]
    pub mean: Vec<f32>,
    /// Per latent channel, the training latents' standard deviation, divided out likewise.
    #[config(default = "Vec::new()")]
    pub scale: Vec<f32>,
}

impl FlowConfig {
    /// Length of a latent: channels times cells.
    pub fn latent_dim(&self) -> usize {
        self.channels * self.side * self.side
    }

    /// Length of the network's side input: time features, then one-hot category (or none),
    /// then one-hot tone (or none).
    fn features(&self) -> usize {
        TIME_FEATURES + self.categories + 1 + TONES.len() + 1
    }

    /// A flow network with DCGAN's N(0, 0.02) initialisation from `seed`.
    pub fn init(&self, seed: u64, device: &Device) -> FlowNet {
        let conv = |a: usize, b: usize| {
            Conv2dConfig::new([a, b], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let w = self.width;
        let net = FlowNet {
            embed: LinearConfig::new(self.features(), w).init(device),
            stem: conv(self.channels, w),
            blocks: (0..self.blocks)
                .map(|_| FlowBlock {
                    shift: LinearConfig::new(w, w).init(device),
                    first: conv(w, w),
                    second: conv(w, w),
                })
                .collect(),
            head: conv(w, self.channels),
        };
        crate::model::seeded_init(net, seed)
    }

    /// Checks that this flow fits a latent of `latent_dim` numbers and `categories`
    /// categories, and that its scale is one per channel.
    pub fn check(&self, latent_dim: usize, categories: usize) -> Result<()> {
        let fits = self.latent_dim() == latent_dim
            && self.categories == categories
            && self.mean.len() == self.channels
            && self.scale.len() == self.channels
            && self.scale.iter().all(|s| *s > 0.0);
        if fits {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "the flow is for latents of {} numbers ({} channels of {}x{}) and {} categories; \
                 the model's are {latent_dim} numbers and {categories} categories",
                self.latent_dim(),
                self.channels,
                self.side,
                self.side,
                self.categories
            )))
        }
    }

    /// The side input of a batch: each row's time `t` and condition (`None`: dropped).
    pub fn side_input(
        &self,
        rows: &[(f32, Option<usize>, Option<usize>)],
        device: &Device,
    ) -> Tensor<2> {
        let f = self.features();
        let mut x = vec![0.0f32; rows.len() * f];
        for (row, &(t, category, tone)) in x.chunks_mut(f).zip(rows) {
            for k in 0..TIME_FEATURES / 2 {
                let angle = t * std::f32::consts::PI * (1u32 << k) as f32;
                row[2 * k] = angle.sin();
                row[2 * k + 1] = angle.cos();
            }
            let c = category
                .filter(|c| *c < self.categories)
                .unwrap_or(self.categories);
            row[TIME_FEATURES + c] = 1.0;
            let tone = tone.filter(|t| *t < TONES.len()).unwrap_or(TONES.len());
            row[TIME_FEATURES + self.categories + 1 + tone] = 1.0;
        }
        Tensor::from_data(TensorData::new(x, [rows.len(), f]), device)
    }

    /// Latents (row-major `[n, latent_dim]`) into the flow's units: each channel less its mean,
    /// over its scale.
    pub fn normalise(&self, latents: &mut [f32]) {
        let cells = self.side * self.side;
        for (i, z) in latents.iter_mut().enumerate() {
            let c = i / cells % self.channels;
            *z = (*z - self.mean[c]) / self.scale[c];
        }
    }
}

/// One residual block: two 3x3 convolutions, the side input added between them.
#[derive(Module, Debug)]
pub struct FlowBlock {
    shift: Linear,
    first: Conv2d,
    second: Conv2d,
}

/// The velocity network.
#[derive(Module, Debug)]
pub struct FlowNet {
    embed: Linear,
    stem: Conv2d,
    blocks: Vec<FlowBlock>,
    head: Conv2d,
}

impl FlowNet {
    /// The velocity at `x` for the side input `side` (see [`FlowConfig::side_input`]).
    ///
    /// # Shapes
    /// - x: `[n, channels, side, side]`
    /// - side: `[n, features]`
    /// - output: `[n, channels, side, side]`
    pub fn forward(&self, x: Tensor<4>, side: Tensor<2>) -> Tensor<4> {
        let emb = silu(self.embed.forward(side)); // [n, width]
        let mut h = self.stem.forward(x);
        for block in &self.blocks {
            let [n, w] = emb.dims();
            let shift = block.shift.forward(emb.clone()).reshape([n, w, 1, 1]);
            let inner = block.first.forward(silu(h.clone())) + shift;
            h = h + block.second.forward(silu(inner));
        }
        self.head.forward(silu(h))
    }
}

/// How a flow draws its latents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowSampling {
    /// Euler steps from noise to latent.
    pub steps: usize,
    /// Classifier-free guidance for a steered sample: 1 follows the conditional velocity,
    /// above 1 pushes further from the unconditional one.
    pub guidance: f32,
    /// The starting noise's scale (1: the standard Gaussian the flow was trained from).
    pub temperature: f32,
}

impl Default for FlowSampling {
    fn default() -> Self {
        Self {
            steps: 24,
            guidance: 2.0,
            temperature: 1.0,
        }
    }
}

impl FlowSampling {
    /// Refuses settings out of range, naming the range.
    pub fn check(&self) -> Result<()> {
        if !(1..=200).contains(&self.steps) {
            return Err(Error::Config(format!(
                "flow steps must be 1 to 200, not {}",
                self.steps
            )));
        }
        if !(0.0..=10.0).contains(&self.guidance) {
            return Err(Error::Config(format!(
                "the guidance scale must be 0 to 10, not {}",
                self.guidance
            )));
        }
        if !(self.temperature > 0.0 && self.temperature <= 2.0) {
            return Err(Error::Config(format!(
                "the temperature must be above 0 and at most 2, not {}",
                self.temperature
            )));
        }
        Ok(())
    }
}

/// The latents of `noise` (row-major `[n, latent_dim]`: each row a seed's standard Gaussian
/// numbers) carried by `net` from time 0 to 1 in Euler steps, steered by `steering` with
/// guidance or not. Everything after the noise stays on the device: no read-back, so it runs
/// the same way natively and in the browser.
///
/// # Shapes
/// - output: `[n, latent_dim]`, in the VAE's units
pub fn integrate(
    net: &FlowNet,
    config: &FlowConfig,
    noise: Vec<f32>,
    steering: Steering,
    how: FlowSampling,
    device: &Device,
) -> Result<Tensor<2>> {
    how.check()?;
    let d = config.latent_dim();
    let n = noise.len() / d.max(1);
    if n == 0 || noise.len() != n * d {
        return Err(Error::Shape {
            what: "flow noise",
            expected: vec![n.max(1), d],
            actual: vec![noise.len()],
        });
    }
    let shape = [n, config.channels, config.side, config.side];
    let mut x =
        Tensor::<4>::from_data(TensorData::new(noise, shape), device).mul_scalar(how.temperature);
    let steered = steering != Steering::default() && how.guidance != 0.0;
    let dt = 1.0 / how.steps as f32;
    for k in 0..how.steps {
        let t = k as f32 * dt;
        let free = [(t, None, None)].repeat(n);
        let velocity = if steered {
            let asked = [(t, steering.category, steering.tone)].repeat(n);
            let side = config.side_input(&[asked, free].concat(), device);
            let both = net.forward(Tensor::cat(vec![x.clone(), x.clone()], 0), side);
            let cond = both.clone().narrow(0, 0, n);
            let uncond = both.narrow(0, n, n);
            uncond.clone() + (cond - uncond).mul_scalar(how.guidance)
        } else {
            net.forward(x.clone(), config.side_input(&free, device))
        };
        x = x + velocity.mul_scalar(dt);
    }
    let per_channel = |v: &[f32]| {
        Tensor::<4>::from_data(
            TensorData::new(v.to_vec(), [1, config.channels, 1, 1]),
            device,
        )
    };
    let latents = x * per_channel(&config.scale) + per_channel(&config.mean);
    Ok(latents.reshape([n, d]))
}

/// The per-channel mean and standard deviation of latents (row-major `[n, channels * cells]`).
pub fn channel_stats(latents: &[f32], channels: usize, cells: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0.0f64; channels];
    let mut sq = vec![0.0f64; channels];
    let mut count = vec![0usize; channels];
    for (i, z) in latents.iter().enumerate() {
        let c = i / cells % channels;
        sum[c] += f64::from(*z);
        sq[c] += f64::from(*z) * f64::from(*z);
        count[c] += 1;
    }
    (0..channels)
        .map(|c| {
            let n = count[c].max(1) as f64;
            let mean = sum[c] / n;
            let sd = (sq[c] / n - mean * mean).max(1e-8).sqrt();
            (mean as f32, sd as f32)
        })
        .unzip()
}

/// Standard Gaussian numbers for a batch of training draws (Box-Muller on `rng`).
pub fn gaussian(rng: &mut SplitMix64, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.next_gaussian()).collect()
}
