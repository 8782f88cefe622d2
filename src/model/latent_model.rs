//! One latent API for both generative models: sample by seed, decode latents, interpolate,
//! and (VAE only) encode images into latent space.

use burn::prelude::*;

use super::{
    Conditions, Discriminator, Encoder, Generator, ModelConfig, Steering, check_latent_grid,
};
use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::latent::{self, Interpolation};
use crate::weights::WeightsFile;
use crate::{Error, Result};

/// A generative model ready for inference: the GAN's (EMA) generator or the VAE's decoder,
/// plus the VAE's encoder.
#[derive(Debug, Clone)]
pub struct LatentModel {
    /// The architecture.
    pub config: ModelConfig,
    /// Latent to image.
    pub generator: Generator,
    /// Image to latent; `None` for a GAN.
    pub encoder: Option<Encoder>,
    device: Device,
    truncation: f32,
    /// The GAN's discriminator, when best-of-k sampling asked for it.
    critic: Option<Discriminator>,
    best_of: usize,
    /// A VAE's learned prior, when its weights have one, and how it samples.
    flow: Option<(crate::flow::FlowNet, crate::flow::FlowConfig)>,
    flow_sampling: crate::flow::FlowSampling,
}

/// Most candidates [`LatentModel::set_best_of`] draws per image.
pub const MAX_BEST_OF: usize = 16;

/// What a prior does to every latent of one steering, worked out once per batch
/// ([`LatentModel::plan`]) rather than once per latent.
struct Plan {
    /// Keeps part of the Gaussian step along the condition's directions.
    guard: Option<super::Guard>,
    /// Added to the centre of a latent steered to a skin tone.
    push: Option<Vec<f32>>,
}

impl LatentModel {
    /// Wraps trained networks (put in inference mode here).
    pub fn new(
        config: ModelConfig,
        generator: Generator,
        encoder: Option<Encoder>,
        device: &Device,
    ) -> Self {
        Self {
            config,
            generator: generator.valid(),
            encoder: encoder.map(|e| e.valid()),
            device: device.clone(),
            truncation: 1.0,
            critic: None,
            best_of: 1,
            flow: None,
            flow_sampling: Default::default(),
        }
    }

    /// The generative model in a weights file: a GAN's `generator` part, or a VAE's
    /// `decoder` and `encoder` parts.
    pub fn from_weights(file: &WeightsFile, device: &Device) -> Result<Self> {
        match &file.config {
            ModelConfig::Gan(c) => {
                // A config whose conditions or prior do not fit the generator (a hand-edited
                // file) is refused here, not met later as a shape panic.
                let code = c.generator.condition_dim.unwrap_or(0);
                let latent = c.generator.latent_dim + code;
                let conditions_fit = c.conditions.as_ref().map_or(code == 0, |k| {
                    k.dim() == code
                        && k.frequencies.len() == k.categories.len() * super::TONES.len()
                });
                let grid_fits =
                    check_latent_grid(c.generator.latent_dim, c.generator.latent_grid).is_ok();
                if !(grid_fits && conditions_fit && prior_fits(c.prior.as_ref(), latent)) {
                    return Err(Error::WeightsFormat {
                        source_name: file.source_name.clone(),
                        reason: "its conditions or latent prior do not fit its generator".into(),
                    });
                }
                let generator = file.load("generator", c.generator.init(device))?;
                Ok(Self::new(file.config.clone(), generator, None, device))
            }
            ModelConfig::Vae(c) => {
                let labels_fit = c.conditions.as_ref().is_none_or(|k| {
                    k.frequencies.len() == k.categories.len() * super::TONES.len()
                        && c.prior.as_ref().is_some_and(|p| p.labels_fit(k))
                });
                let grid_fits = check_latent_grid(c.decoder.latent_dim, c.decoder.latent_grid)
                    .is_ok()
                    && c.encoder.latent_grid == c.decoder.latent_grid
                    && c.encoder.latent_dim == c.decoder.latent_dim
                    && c.finetune_spread.is_none_or(|s| (0.0..=1.0).contains(&s));
                if !grid_fits {
                    return Err(Error::WeightsFormat {
                        source_name: file.source_name.clone(),
                        reason: "its encoder's latent does not fit its decoder's, or its \
                                 fine-tuning spread is not 0 to 1"
                            .into(),
                    });
                }
                if !(prior_fits(c.prior.as_ref(), c.decoder.latent_dim) && labels_fit) {
                    return Err(Error::WeightsFormat {
                        source_name: file.source_name.clone(),
                        reason: "its latent prior does not fit its decoder".into(),
                    });
                }
                let decoder = file.load("decoder", c.decoder.init(device))?;
                let encoder = if file.has("encoder") {
                    Some(file.load("encoder", c.encoder.init(device))?)
                } else {
                    None
                };
                let mut model = Self::new(file.config.clone(), decoder, encoder, device);
                if let Some(flow) = &c.flow {
                    let categories = c.conditions.as_ref().map_or(0, |k| k.categories.len());
                    flow.check(c.decoder.latent_dim, categories).map_err(|e| {
                        Error::WeightsFormat {
                            source_name: file.source_name.clone(),
                            reason: e.to_string(),
                        }
                    })?;
                    let net = file.load("flow", flow.init(0, device))?;
                    model.flow = Some((net, flow.clone()));
                }
                Ok(model)
            }
            other => Err(Error::WrongArchitecture {
                source_name: file.source_name.clone(),
                expected: "a gan or a vae".into(),
                found: other.describe(),
            }),
        }
    }

    /// Adds the encoder to a VAE loaded without one (the page loads the decoder to sample,
    /// and the encoder only once images are to be encoded), from `file`'s `encoder` part; the
    /// file must hold the same architecture.
    pub fn attach_encoder(&mut self, file: &WeightsFile) -> Result<()> {
        let ModelConfig::Vae(c) = &self.config else {
            return Err(Error::WrongArchitecture {
                source_name: file.source_name.clone(),
                expected: "an encoder for a vae".into(),
                found: format!("a model that is {}", self.config.describe()),
            });
        };
        file.expect_config(&self.config)?;
        if !file.has("encoder") {
            return Err(Error::WeightsFormat {
                source_name: file.source_name.clone(),
                reason: "it holds no encoder".into(),
            });
        }
        self.encoder = Some(file.load("encoder", c.encoder.init(&self.device))?.valid());
        Ok(())
    }

    /// How a learned prior draws its samples (steps, guidance, temperature); refused out of
    /// range. Models without one ignore it.
    pub fn set_flow_sampling(&mut self, how: crate::flow::FlowSampling) -> Result<()> {
        how.check()?;
        self.flow_sampling = how;
        Ok(())
    }

    /// Whether samples come from a learned prior ([`crate::flow`]).
    pub fn has_flow(&self) -> bool {
        self.flow.is_some()
    }

    /// Sets the truncation `psi` (the truncation trick, Brock et al. 2019, in its scaling
    /// form): the Gaussian part of every latent drawn from a seed is multiplied by `psi`, so
    /// below 1 samples stay nearer the typical image: cleaner and more recognisable, less
    /// varied. 1 (the default) draws from the model's prior unchanged.
    pub fn set_truncation(&mut self, psi: f32) -> Result<()> {
        if !(psi > 0.0 && psi <= 1.0) {
            return Err(Error::Config(format!(
                "truncation must be a number above 0 and at most 1 (1: no truncation), not {psi}"
            )));
        }
        self.truncation = psi;
        Ok(())
    }

    /// Best-of-`k` sampling (discriminator rejection sampling in its simplest form, after
    /// Azadi et al. 2019): each image's seed draws `k` candidate latents (the first is the
    /// seed's own latent, so `k = 1` is plain sampling), and the one the GAN's discriminator
    /// (`critic`, from [`Self::load_critic`]) scores highest is kept: its realness logit plus,
    /// with an auxiliary classifier, the log-probability of the image's condition.
    pub fn set_best_of(&mut self, k: usize) -> Result<()> {
        if k == 0 || k > MAX_BEST_OF {
            return Err(Error::Config(format!(
                "best-of takes 1 to {MAX_BEST_OF} candidates per image, not {k}"
            )));
        }
        if k > 1 && self.critic.is_none() {
            return Err(Error::Config(
                "best-of sampling needs the GAN's discriminator (load_critic)".into(),
            ));
        }
        self.best_of = k;
        Ok(())
    }

    /// The discriminator of the GAN in `file` (this model's), which [`Self::set_best_of`]
    /// uses to pick among candidates.
    pub fn load_critic(&mut self, file: &WeightsFile) -> Result<()> {
        let ModelConfig::Gan(c) = &file.config else {
            return Err(Error::Config(format!(
                "{}: only a GAN has a discriminator to pick its samples",
                file.source_name
            )));
        };
        if !file.has("discriminator") {
            return Err(Error::Config(format!(
                "{}: no discriminator part (best-of sampling needs it)",
                file.source_name
            )));
        }
        let critic = file.load("discriminator", c.discriminator.init(&self.device))?;
        self.critic = Some(critic.valid());
        Ok(())
    }

    /// The truncation latents are drawn with ([`Self::set_truncation`]).
    pub fn truncation(&self) -> f32 {
        self.truncation
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Length of a latent vector: the Gaussian part, then (conditional GAN) the condition
    /// code.
    pub fn latent_dim(&self) -> usize {
        self.generator.latent_dim() + self.generator.condition_dim()
    }

    /// Length of the Gaussian part of a latent vector.
    pub fn noise_dim(&self) -> usize {
        self.generator.latent_dim()
    }

    /// The conditions a model can be steered to: a conditional GAN's, or a VAE's whose prior
    /// knows the condition of each of its centres.
    pub fn conditions(&self) -> Option<&Conditions> {
        match &self.config {
            ModelConfig::Gan(c) => c.conditions.as_ref(),
            ModelConfig::Vae(c) => c.conditions.as_ref(),
            _ => None,
        }
    }

    /// The fitted latent prior, if any: a fine-tuned GAN's (around the uploads) or a VAE's
    /// (around its training images).
    pub fn prior(&self) -> Option<&super::LatentPrior> {
        match &self.config {
            ModelConfig::Gan(c) => c.prior.as_ref(),
            ModelConfig::Vae(c) => c.prior.as_ref(),
            _ => None,
        }
    }

    /// Checks that `steering` fits this model: any its data has for a conditional GAN or a
    /// VAE with a labelled prior, none for other models.
    pub fn check_steering(&self, steering: Steering) -> Result<()> {
        match self.conditions() {
            Some(conditions) => conditions.check(steering),
            None if steering == Steering::default() => Ok(()),
            None => Err(Error::Config(format!(
                "this {} is not conditional: it cannot be steered to a category or skin tone",
                self.config.kind()
            ))),
        }
    }

    /// The steering named by a category (`smileys`, or the metadata's `Smileys & Emotion`)
    /// and a skin tone (`dark`), checked against this model; errors list the valid names.
    pub fn steering(&self, category: Option<&str>, tone: Option<&str>) -> Result<Steering> {
        let steering = match self.conditions() {
            Some(conditions) => Steering {
                category: category.map(|c| conditions.category(c)).transpose()?,
                tone: tone.map(Conditions::tone).transpose()?,
            },
            None => Steering {
                category: category.map(|_| 0),
                tone: tone.map(|_| 1),
            },
        };
        self.check_steering(steering)?;
        Ok(steering)
    }

    /// `" (category smileys, skin tone dark, truncation 0.7)"` for provenance; empty without
    /// steering or truncation.
    pub fn describe_steering(&self, steering: Steering) -> String {
        let mut parts = Vec::new();
        if let Some(conditions) = self.conditions() {
            if let Some(name) = steering
                .category
                .and_then(|c| conditions.category_names().get(c).cloned())
            {
                parts.push(format!("category {name}"));
            }
            if let Some(name) = steering.tone.and_then(|t| super::TONES.get(t)) {
                parts.push(format!("skin tone {name}"));
            }
        }
        if self.truncation != 1.0 {
            parts.push(format!("truncation {}", self.truncation));
        }
        if self.best_of > 1 {
            parts.push(format!("best of {} by the discriminator", self.best_of));
        }
        if parts.is_empty() {
            return String::new();
        }
        format!(" ({})", parts.join(", "))
    }

    /// The latent vector of `seed`: Gaussian noise (times the truncation), then (conditional
    /// GAN) the code of the condition `steering` asks for, the rest drawn from the data's
    /// frequencies by the seed.
    pub fn latent(&self, seed: u64, steering: Steering) -> Result<Vec<f32>> {
        self.candidate(seed, steering, 0, &self.plan(steering))
    }

    /// What the prior does to every latent steered by `steering`, worked out once for all
    /// the latents of a batch: its guard (see [`super::LatentPrior::guard_for`]) and its
    /// tone push (see [`super::LatentPrior::tone_offset`]).
    fn plan(&self, steering: Steering) -> Plan {
        let prior = self.prior();
        Plan {
            guard: prior.and_then(|p| p.guard_for(steering)),
            push: prior.and_then(|p| p.tone_offset(steering)),
        }
    }

    /// Candidate `j` of the seed's latent for best-of sampling: candidate 0 is
    /// [`Self::latent`]; the others draw their Gaussian part from a seed derived from `seed`
    /// and `j`. The prior's centre and the condition are drawn by `seed` itself, so every
    /// candidate shares candidate 0's.
    fn candidate(&self, seed: u64, steering: Steering, j: usize, plan: &Plan) -> Result<Vec<f32>> {
        self.check_steering(steering)?;
        let k = self.noise_dim();
        let noise_seed = if j == 0 {
            seed
        } else {
            latent::SplitMix64::new(seed ^ (j as u64).wrapping_mul(0xA24B_AED4_963E_E407))
                .next_u64()
        };
        let mut z = latent::noise(noise_seed, k);
        z.iter_mut().for_each(|x| *x *= self.truncation);
        // With a prior, the seed picks a centre: among those of the condition asked for when
        // the centres carry their images' conditions (a fitted prior), else any (a GAN's
        // fine-tuning prior: its code carries the condition).
        let mut centre_label = None;
        let centre = match self.prior() {
            Some(p) if k == self.latent_dim() || p.labels.is_some() => {
                let i = p.centre_index_for(seed, steering).ok_or_else(|| {
                    Error::Config(format!(
                        "this model's prior has no images of {}",
                        self.describe_steering(steering)
                            .trim()
                            .trim_matches(['(', ')'])
                    ))
                })?;
                centre_label = p.label_at(i);
                // A steered latent keeps its centre whole (a mix could leave the condition),
                // moved along what sets its tone apart when a tone is asked for.
                Some(if steering == Steering::default() {
                    (p, p.mixed_centre(i, seed), p.spread)
                } else {
                    let mut centre = p.centre_at(i).to_vec();
                    if let Some(push) = &plan.push {
                        centre.iter_mut().zip(push).for_each(|(c, o)| *c += o);
                    }
                    (p, centre.into(), p.spread_for(steering))
                })
            }
            Some(p) => Some((p, p.centre(seed), p.spread)),
            None => None,
        };
        if let Some((prior, centre, spread)) = &centre {
            prior.shape_step(&mut z);
            if let Some(guard) = &plan.guard {
                guard.apply(&mut z);
            }
            prior.place(centre, &mut z, *spread);
        }
        if let Some(conditions) = self.conditions().filter(|_| k < self.latent_dim()) {
            match centre_label {
                // The centre's own condition: what its latent was found with.
                Some((c, t)) => z.extend(conditions.code(c, t)),
                None => {
                    let centre_code = centre.as_ref().and_then(|(_, c, _)| c.get(k..));
                    z.extend(conditions.code_for(steering, centre_code, || seed));
                }
            }
        }
        Ok(z)
    }

    /// Images for latents `z` (row-major `[n, latent_dim]`).
    ///
    /// # Shapes
    /// - output: `[n, 3, 64, 64]` in `[-1, 1]`
    pub fn decode(&self, z: &[f32]) -> Result<Tensor<4>> {
        let d = self.latent_dim();
        if z.is_empty() || z.len() % d != 0 {
            return Err(Error::Shape {
                what: "latent vectors",
                expected: vec![z.len() / d.max(1), d],
                actual: vec![z.len()],
            });
        }
        let z = Tensor::<2>::from_data(TensorData::new(z.to_vec(), [z.len() / d, d]), &self.device);
        Ok(self.generator.forward(z))
    }

    /// `n` images for seeds `seed .. seed + n`; image `i` depends only on seed `seed + i`.
    /// A conditional GAN draws each image's condition from its data's frequencies.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Tensor<4>> {
        self.sample_steered(n, seed, Steering::default())
    }

    /// [`Self::sample`] steered to a category and/or tone (conditional GAN).
    pub fn sample_steered(&self, n: usize, seed: u64, steering: Steering) -> Result<Tensor<4>> {
        if let Some((net, config)) = &self.flow {
            self.check_steering(steering)?;
            let d = self.latent_dim();
            let noise = (0..n as u64)
                .flat_map(|i| latent::noise(seed.wrapping_add(i), d))
                .collect();
            let how = self.flow_sampling;
            let z = crate::flow::integrate(net, config, noise, steering, how, &self.device)?;
            return Ok(self.generator.forward(z));
        }
        if let (Some(critic), k @ 2..) = (&self.critic, self.best_of) {
            return self.sample_best_of(critic, k, n, seed, steering);
        }
        if self.conditions().is_none() && self.prior().is_none() && steering == Steering::default()
        {
            let mut z = latent::noise_batch(seed, n, self.latent_dim());
            z.iter_mut().for_each(|x| *x *= self.truncation);
            return self.decode(&z);
        }
        let plan = self.plan(steering);
        let mut z = Vec::with_capacity(n * self.latent_dim());
        for i in 0..n as u64 {
            z.extend(self.candidate(seed.wrapping_add(i), steering, 0, &plan)?);
        }
        self.decode(&z)
    }

    /// The `k` candidate latents of a seed for best-of sampling (row-major `[k, latent_dim]`):
    /// the first is [`Self::latent`]; the others have their own Gaussian parts and the first's
    /// condition. Candidate `j` does not depend on `k`.
    pub fn candidates(&self, seed: u64, steering: Steering, k: usize) -> Result<Vec<f32>> {
        let plan = self.plan(steering);
        let mut z = Vec::with_capacity(k * self.latent_dim());
        for j in 0..k {
            z.extend(self.candidate(seed, steering, j, &plan)?);
        }
        Ok(z)
    }

    /// Best-of-`k` ([`Self::set_best_of`]), on the device: no values are read back.
    fn sample_best_of(
        &self,
        critic: &Discriminator,
        k: usize,
        n: usize,
        seed: u64,
        steering: Steering,
    ) -> Result<Tensor<4>> {
        let d = self.latent_dim();
        let mut z = Vec::with_capacity(n * k * d);
        for i in 0..n as u64 {
            z.extend(self.candidates(seed.wrapping_add(i), steering, k)?);
        }
        let (images, best) = self.pick(critic, &z, n, k)?;
        Ok(images.select(0, best))
    }

    /// The latent of the image best-of sampling keeps for `seed` ([`Self::latent`] without
    /// best-of): the start of an interpolation from that image.
    pub async fn kept_latent(&self, seed: u64, steering: Steering) -> Result<Vec<f32>> {
        let (Some(critic), k @ 2..) = (&self.critic, self.best_of) else {
            return self.latent(seed, steering);
        };
        let z = self.candidates(seed, steering, k)?;
        let (_, best) = self.pick(critic, &z, 1, k)?;
        let best = read_f32(best.float()).await?;
        let j = best.first().map_or(0, |j| *j as usize).min(k - 1);
        let d = self.latent_dim();
        Ok(z[j * d..(j + 1) * d].to_vec())
    }

    /// The candidates `z` (`n` groups of `k` latents) drawn, and the row of each group's best
    /// by `critic` (`[n]`, rows of the drawn images).
    fn pick(
        &self,
        critic: &Discriminator,
        z: &[f32],
        n: usize,
        k: usize,
    ) -> Result<(Tensor<4>, Tensor<1, Int>)> {
        let d = self.latent_dim();
        // One upload of the latents: the generator draws them, the critic reads their codes.
        let z = Tensor::<2>::from_data(TensorData::new(z.to_vec(), [n * k, d]), &self.device);
        let codes =
            (d > self.noise_dim()).then(|| z.clone().slice([0..n * k, self.noise_dim()..d]));
        let images = self.generator.forward(z);
        let (logits, classes) = critic.forward_classified(images.clone(), codes.clone());
        let mut score = logits.reshape([n * k, 1]);
        if let (Some(classes), Some(codes), Some(conditions)) = (classes, codes, self.conditions())
        {
            // Log-probability of the category and of the tone the code asks for: a log-softmax
            // over each block of the classifier's logits, read at the code's one-hot entries.
            let split = conditions.category_names().len();
            let width = conditions.dim();
            for range in [0..split, split..width] {
                let block = classes.clone().slice([0..n * k, range.clone()]);
                let log_p = burn::tensor::activation::log_softmax(block, 1);
                let asked = codes.clone().slice([0..n * k, range]);
                score = score + (log_p * asked).sum_dim(1);
            }
        }
        let best = score.reshape([n, k]).argmax(1).reshape([n]); // [n] in 0..k
        let offsets = Tensor::<1, Int>::arange(0..n as i64, &self.device).mul_scalar(k as i64);
        Ok((images, best + offsets))
    }

    /// `frames` images walking from latent `a` to latent `b`.
    pub fn interpolate(
        &self,
        a: &[f32],
        b: &[f32],
        frames: usize,
        how: Interpolation,
    ) -> Result<Tensor<4>> {
        if a.len() != self.latent_dim() || b.len() != self.latent_dim() {
            return Err(Error::Shape {
                what: "interpolation endpoints",
                expected: vec![self.latent_dim()],
                actual: vec![a.len(), b.len()],
            });
        }
        if frames == 0 || frames > 1024 {
            return Err(Error::Config(format!(
                "frames must be 1..=1024, not {frames}"
            )));
        }
        let k = self.noise_dim();
        if k == self.latent_dim() {
            return self.decode(&latent::interpolate(a, b, frames, how));
        }
        // Conditional: `how` walks the Gaussian part; the condition codes blend linearly, so
        // the walk can go from one category or tone to another.
        let noise = latent::interpolate(&a[..k], &b[..k], frames, how);
        let codes = latent::interpolate(&a[k..], &b[k..], frames, Interpolation::Lerp);
        let code_len = self.latent_dim() - k;
        let z: Vec<f32> = noise
            .chunks(k)
            .zip(codes.chunks(code_len))
            .flat_map(|(n, c)| n.iter().chain(c).copied())
            .collect();
        self.decode(&z)
    }

    /// `frames` images walking from the image of `from` (a seed and its steering) to that of
    /// `to` (the images best-of sampling keeps, when it is on). With a learned prior the walk
    /// is in the seeds' noise, each frame carried by the flow (steered when both ends ask for
    /// the same condition).
    pub async fn interpolate_seeds(
        &self,
        from: (u64, Steering),
        to: (u64, Steering),
        frames: usize,
        how: Interpolation,
    ) -> Result<Tensor<4>> {
        if let Some((net, config)) = &self.flow {
            let d = self.latent_dim();
            let (a, b) = (latent::noise(from.0, d), latent::noise(to.0, d));
            let steering = if from.1 == to.1 {
                from.1
            } else {
                Steering::default()
            };
            self.check_steering(steering)?;
            let noise = latent::interpolate(&a, &b, frames, how);
            let sampling = self.flow_sampling;
            let z = crate::flow::integrate(net, config, noise, steering, sampling, &self.device)?;
            return Ok(self.generator.forward(z));
        }
        self.interpolate(
            &self.kept_latent(from.0, from.1).await?,
            &self.kept_latent(to.0, to.1).await?,
            frames,
            how,
        )
    }

    /// A VAE's or a GAN's latent prior fitted to `images` (its training images; `labels`, one
    /// (category, tone) per image, are the strata and are kept with the centres, for
    /// steering): the posterior means (a GAN: the inverted latents) of `centres` of them picked
    /// by [`LatentPrior::stratified`], rounded to 3 decimals (they are kept in the
    /// weights file's header), each sample moved off its centre by `spread` (`shrink`: the
    /// centre shrunk as the spread grows, else kept whole; see [`LatentPrior::shrink`]).
    ///
    /// [`LatentPrior::stratified`]: super::LatentPrior::stratified
    /// [`LatentPrior::shrink`]: super::LatentPrior::shrink
    pub async fn fit_prior(
        &self,
        images: &[&Rgb64],
        labels: &[(usize, usize)],
        centres: usize,
        spread: f32,
        shrink: bool,
        seed: u64,
    ) -> Result<super::LatentPrior> {
        let even = [1.0; super::TONES.len()];
        self.fit_prior_weighted(images, labels, centres, spread, shrink, seed, &even, &[])
            .await
    }

    /// [`Self::fit_prior`] with the centres of each skin tone's images weighted by
    /// `tone_weights` (one per [`TONES`](super::TONES) entry; see
    /// [`LatentPrior::stratified_weighted`](super::LatentPrior::stratified_weighted)): a tone
    /// whose samples drift off it (the noise carries them into another) can be given more
    /// centres, so that unsteered samples keep the data's mix of tones.
    /// `mixed` (one per image, or empty: none) marks the images of people of more than one
    /// skin tone, which tone-steered samples do not start from
    /// ([`LatentPrior::mixed_tones`](super::LatentPrior::mixed_tones)).
    #[allow(clippy::too_many_arguments)]
    pub async fn fit_prior_weighted(
        &self,
        images: &[&Rgb64],
        labels: &[(usize, usize)],
        centres: usize,
        spread: f32,
        shrink: bool,
        seed: u64,
        tone_weights: &[f64],
        mixed: &[bool],
    ) -> Result<super::LatentPrior> {
        let gan = match &self.config {
            ModelConfig::Vae(_) => false,
            ModelConfig::Gan(c) if c.prior.is_none() => true,
            _ => {
                return Err(Error::Config(
                    "a prior is fitted to a VAE, or to a GAN without one".into(),
                ));
            }
        };
        if labels.len() != images.len() {
            return Err(Error::Config(
                "a prior is fitted to images with one label each".into(),
            ));
        }
        if !(mixed.is_empty() || mixed.len() == images.len()) {
            return Err(Error::Config(format!(
                "{} images but {} marks of mixed skin tones (one per image, or none)",
                images.len(),
                mixed.len()
            )));
        }
        if tone_weights.len() != super::TONES.len()
            || tone_weights.iter().any(|w| w.is_nan() || *w < 0.0)
        {
            return Err(Error::Config(format!(
                "a prior takes {} non-negative tone weights, not {tone_weights:?}",
                super::TONES.len()
            )));
        }
        let picked = super::LatentPrior::stratified_weighted(labels, centres, seed, |(_, t)| {
            tone_weights.get(t).copied().unwrap_or(1.0)
        });
        let mut means = Vec::with_capacity(picked.len() * self.latent_dim());
        for chunk in picked.chunks(if gan { 128 } else { 64 }) {
            let batch: Vec<&Rgb64> = chunk.iter().map(|&i| images[i]).collect();
            if !gan {
                means.extend(self.encode(&batch).await?);
                continue;
            }
            // A GAN has no encoder: its latents for the images are found by inversion, a
            // conditional one's with each image's own condition code held fixed.
            let codes: Option<Vec<f32>> = self.conditions().map(|k| {
                chunk
                    .iter()
                    .flat_map(|&i| k.code(labels[i].0, labels[i].1))
                    .collect()
            });
            let config = crate::invert::InvertConfig::default();
            let mut inverter =
                crate::invert::Inverter::start_coded(self, &batch, codes.as_deref(), config)
                    .await?;
            while inverter.step().await?.is_some() {}
            means.extend(inverter.finish().await?.latents);
        }
        means
            .iter_mut()
            .for_each(|m| *m = (*m * 1000.0).round() / 1000.0);
        // A GAN's latents stay on the Gaussian shell it was trained on: centres shrink.
        let prior = if !shrink && !gan {
            super::LatentPrior::anchored(means, self.latent_dim(), spread)?
        } else {
            super::LatentPrior::around(means, self.latent_dim(), spread)?
        };
        let packed = picked
            .iter()
            .map(|&i| {
                let (c, t) = labels[i];
                u16::try_from(c * super::TONES.len() + t)
                    .map_err(|_| Error::Config(format!("condition ({c}, {t}) out of range")))
            })
            .collect::<Result<Vec<u16>>>()?;
        let mixed_centres = picked
            .iter()
            .enumerate()
            .filter(|&(_, &i)| mixed.get(i).copied().unwrap_or(false))
            .map(|(k, _)| {
                u16::try_from(k)
                    .map_err(|_| Error::Config(format!("centre {k} of mixed tones is past 65,535")))
            })
            .collect::<Result<Vec<u16>>>()?;
        prior
            .with_labels(Some(packed))
            .with_mixed_centres(mixed_centres)
    }

    /// Posterior means of `images`, row-major `[n, latent_dim]`. VAE only.
    pub async fn encode(&self, images: &[&Rgb64]) -> Result<Vec<f32>> {
        let encoder = self.encoder.as_ref().ok_or_else(|| {
            Error::Config(match self.config {
                ModelConfig::Vae(_) => "this VAE was loaded without its encoder".into(),
                _ => format!(
                    "encoding needs a VAE; this model is a {}",
                    self.config.kind()
                ),
            })
        })?;
        if images.is_empty() {
            return Err(Error::NoImages("encode".into()));
        }
        let (mean, _) = encoder.forward(image::to_tensor(images, &self.device));
        read_f32(mean).await
    }
}

/// Whether a weights file's latent prior (if any) fits latents of length `latent`.
fn prior_fits(prior: Option<&super::LatentPrior>, latent: usize) -> bool {
    prior.is_none_or(|p| {
        p.latent_dim == latent
            && !p.centres.is_empty()
            && p.centres.len().is_multiple_of(latent)
            && (0.0..=1.0).contains(&p.spread)
            && [
                p.mix,
                p.steered_spread,
                p.steered_guard,
                p.steered_tone_push,
                p.steered_tone_spread,
                p.steered_tone_guard,
            ]
            .iter()
            .all(|x| x.is_none_or(|x| (0.0..=1.0).contains(&x)))
            && p.noise_scales
                .as_ref()
                .is_none_or(|s| s.len() == latent && s.iter().all(|x| x.is_finite() && *x >= 0.0))
            && [&p.noise_basis, &p.tone_basis].iter().all(|basis| {
                basis.as_ref().is_none_or(|b| {
                    !b.is_empty()
                        && b.len().is_multiple_of(latent)
                        && b.len() / latent <= latent
                        && b.iter().all(|x| x.is_finite())
                })
            })
    })
}
