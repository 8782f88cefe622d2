//! DCGAN at 64x64 (Radford et al. 2016): the generator maps a latent vector to an image, the
//! discriminator scores an image as real or generated.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;

use super::blocks::{
    DownBlock, SpectralNorm, UpBlock, conditioned_norm, pyramid, spectral_conv2d, up_conv,
    up_conv_forward,
};
use super::condition::Conditions;
use crate::backend::flex::{self, Activation};
use crate::prior::LatentPrior;

/// Generator architecture.
#[derive(Config, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Length of the latent vector `z`.
    #[config(default = 128)]
    pub latent_dim: usize,
    /// Channels of the last hidden block (64x32 resolution); earlier blocks have 2x, 4x, 8x.
    /// 48 keeps the f16 weights at ~4.6 MB, under the 8 MB budget for the browser.
    #[config(default = 48)]
    pub width: usize,
    /// Length of the condition code appended to the latent (`None`: unconditional; an
    /// `Option` so that configs written before conditioning existed still parse).
    #[config(default = "None")]
    pub condition_dim: Option<usize>,
    /// Up-sample by nearest neighbour and a 3x3 convolution instead of 4x4 stride-2
    /// transposed convolutions (against checkerboard artefacts); `None` is `false` (an
    /// `Option` so that older configs still parse).
    #[config(default = "None")]
    pub resize: Option<bool>,
    /// The latent as a grid of `[latent_dim / s^2, s, s]` for a side `s` of 4, 8 or 16 (a
    /// spatial latent: each part of the image drawn mostly from its own cells), taken in by a
    /// 3x3 convolution at that resolution; `None` is a vector, projected to 4x4 (an `Option`
    /// so that older configs still parse). See [`check_latent_grid`].
    #[config(default = "None")]
    pub latent_grid: Option<usize>,
}

/// The grid sides a latent may have ([`GeneratorConfig::latent_grid`]).
pub const LATENT_GRIDS: [usize; 3] = [4, 8, 16];

/// Refuses a latent grid side that is not one of [`LATENT_GRIDS`], or a latent length that is
/// not a whole number of its cells.
pub fn check_latent_grid(latent_dim: usize, grid: Option<usize>) -> crate::Result<()> {
    let Some(side) = grid else { return Ok(()) };
    if !LATENT_GRIDS.contains(&side) {
        return Err(crate::Error::Config(format!(
            "a latent grid of {side}x{side}: the sides are {LATENT_GRIDS:?}"
        )));
    }
    if latent_dim == 0 || !latent_dim.is_multiple_of(side * side) {
        return Err(crate::Error::Config(format!(
            "a latent of {latent_dim} does not fill a {side}x{side} grid: give a multiple of {}",
            side * side
        )));
    }
    Ok(())
}

/// Index into [`pyramid`]'s widths of the features at the latent grid's resolution: the
/// up-sampling blocks from there on are the generator's (a vector latent and a 4x4 grid start
/// at 4x4, the widest).
pub(crate) fn grid_top(grid: Option<usize>) -> usize {
    match grid {
        Some(16) => 1,
        Some(8) => 2,
        _ => 3,
    }
}

impl GeneratorConfig {
    /// A generator with DCGAN initialisation.
    pub fn init(&self, device: &Device) -> Generator {
        let widths = pyramid(self.width);
        let resize = self.resize.unwrap_or(false);
        let top = grid_top(self.latent_grid);
        let side = self.latent_grid.unwrap_or(1);
        let project = match self.latent_grid {
            None => ConvTranspose2dConfig::new([self.latent_dim, widths[3]], [4, 4]),
            Some(_) => {
                ConvTranspose2dConfig::new([self.latent_dim / (side * side), widths[top]], [3, 3])
                    .with_padding([1, 1])
            }
        };
        let generator = Generator {
            project: project.with_bias(false).init(device),
            project_norm: BatchNormConfig::new(widths[top]).init(device),
            blocks: (1..=top)
                .rev()
                .map(|i| UpBlock::new(widths[i], widths[i - 1], resize, device))
                .collect(),
            to_rgb: up_conv(widths[0], 3, resize).init(device),
            condition: None,
            latent_dim: self.latent_dim,
            resize,
            side,
        };
        match self.condition_dim {
            None | Some(0) => generator,
            Some(dim) => generator.with_conditioning(dim, device),
        }
    }
}

/// How a condition code steers the generator: a shift of the latent, and a scale and shift
/// of every batch norm's output per channel (conditional batch norm, de Vries et al. 2017;
/// Miyato and Koyama 2018), each a linear map of the code. Zero maps leave the unconditional
/// generator unchanged, so a trained one can grow conditioning and keep what it drew.
#[derive(Module, Debug)]
pub struct GeneratorCondition {
    /// `[condition_dim, latent_dim]`.
    to_latent: Param<Tensor<2>>,
    /// Per batch norm, `[condition_dim, channels]`: the output is multiplied by 1 + this.
    scales: Vec<Param<Tensor<2>>>,
    /// Per batch norm, `[condition_dim, channels]`: then this is added.
    shifts: Vec<Param<Tensor<2>>>,
}

/// A trainable matrix of zeros: the conditioning maps, projection and classifier start so,
/// which leaves a network's output as it was until they are trained.
fn zero_param(shape: [usize; 2], device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::zeros(shape, device))
}

/// Latent vector to 64x64 RGB image in `[-1, 1]`.
#[derive(Module, Debug)]
pub struct Generator {
    project: ConvTranspose2d,
    project_norm: BatchNorm,
    blocks: Vec<UpBlock>,
    to_rgb: ConvTranspose2d,
    /// Present in a conditional generator.
    condition: Option<GeneratorCondition>,
    #[module(skip)]
    latent_dim: usize,
    /// Up-sampling and convolution in place of transposed convolutions.
    #[module(skip)]
    resize: bool,
    /// Side of the latent's grid (1: a vector).
    #[module(skip)]
    side: usize,
}

impl Generator {
    /// Length of the Gaussian latent vector (without the condition code).
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// Length of the condition code (0 for an unconditional generator).
    pub fn condition_dim(&self) -> usize {
        self.condition.as_ref().map_or(0, |c| c.to_latent.dims()[0])
    }

    /// The same generator with conditioning added as zero maps (it draws what it drew before,
    /// whatever the condition, until trained).
    pub fn with_conditioning(mut self, condition_dim: usize, device: &Device) -> Self {
        let zeros = |c: usize| zero_param([condition_dim, c], device);
        let channels: Vec<usize> = std::iter::once(self.project_norm.gamma.dims()[0])
            .chain(self.blocks.iter().map(UpBlock::channels_out))
            .collect();
        self.condition = Some(GeneratorCondition {
            to_latent: zeros(self.latent_dim),
            scales: channels.iter().map(|&c| zeros(c)).collect(),
            shifts: channels.iter().map(|&c| zeros(c)).collect(),
        });
        self
    }

    /// # Shapes
    /// - z: `[n, latent_dim + condition_dim]`: the latent, then the condition code
    /// - output: `[n, 3, 64, 64]`
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [n, _] = z.dims();
        let d = self.latent_dim;
        let Some(condition) = &self.condition else {
            let x = flex::conv_transpose2d(&self.project, self.grid(z)); // [n, 8w, 4, 4]
            let mut x = flex::batch_norm(&self.project_norm, x, Activation::Relu);
            for block in &self.blocks {
                x = block.forward(x); // 4 -> 8 -> 16 -> 32 (or from the grid's side)
            }
            return self.rgb(x); // [n, 3, 64, 64]
        };
        let k = self.condition_dim();
        let code = z.clone().slice([0..n, d..d + k]); // [n, k]
        let latent = z.slice([0..n, 0..d]) + code.clone().matmul(condition.to_latent.val());
        let scale_shift = |i: usize| {
            (
                code.clone().matmul(condition.scales[i].val()),
                code.clone().matmul(condition.shifts[i].val()),
            )
        };
        let x = flex::conv_transpose2d(&self.project, self.grid(latent));
        let (scale, shift) = scale_shift(0);
        let mut x = conditioned_norm(&self.project_norm, x, scale, shift);
        for (i, block) in self.blocks.iter().enumerate() {
            let (scale, shift) = scale_shift(i + 1);
            x = block.forward_conditioned(x, scale, shift);
        }
        self.rgb(x)
    }

    /// [`Self::forward`] of two batches of latents as one batch (one set of batch-norm
    /// statistics, as the generator will see when it samples a mix of both), split again.
    ///
    /// # Shapes
    /// - a: `[n, input]`, b: `[m, input]`
    /// - output: `[n, 3, 64, 64]` and `[m, 3, 64, 64]`
    pub fn forward_both(&self, a: Tensor<2>, b: Tensor<2>) -> (Tensor<4>, Tensor<4>) {
        let n = a.dims()[0];
        let all = self.forward(Tensor::cat(vec![a, b], 0));
        let [total, c, h, w] = all.dims();
        (
            all.clone().slice([0..n, 0..c, 0..h, 0..w]),
            all.slice([n..total, 0..c, 0..h, 0..w]),
        )
    }

    /// Latents `[n, latent_dim]` as the project layer's input: `[n, latent_dim, 1, 1]`, or
    /// on a grid `[n, latent_dim / s^2, s, s]` (cells in row-major order within a channel).
    fn grid(&self, z: Tensor<2>) -> Tensor<4> {
        let [n, d] = z.dims();
        let s = self.side;
        z.reshape([n, d / (s * s), s, s])
    }

    /// The last layer: 32x32 features to a 64x64 image in `[-1, 1]`.
    fn rgb(&self, x: Tensor<4>) -> Tensor<4> {
        up_conv_forward(&self.to_rgb, x, self.resize).tanh()
    }
}

/// Discriminator architecture.
#[derive(Config, Debug, PartialEq)]
pub struct DiscriminatorConfig {
    /// Channels of the first block; later blocks have 2x, 4x, 8x.
    #[config(default = 48)]
    pub width: usize,
    /// Length of the condition code (`None`: unconditional).
    #[config(default = "None")]
    pub condition_dim: Option<usize>,
    /// A conditional discriminator also predicts the condition of an image (auxiliary
    /// classifier, Odena et al. 2017); `None` is `false` (older configs parse).
    #[config(default = "None")]
    pub classifier: Option<bool>,
    /// Spectral normalisation (Miyato et al. 2018) of every convolution, in place of batch
    /// norm: SN-GAN's discriminator. `None` is `false` (older configs parse).
    #[config(default = "None")]
    pub spectral_norm: Option<bool>,
}

impl DiscriminatorConfig {
    /// A discriminator with DCGAN initialisation.
    pub fn init(&self, device: &Device) -> Discriminator {
        let widths = pyramid(self.width);
        let spectral = self.spectral_norm == Some(true);
        let block = |channels_in, channels_out, normalise| match spectral {
            true => DownBlock::spectral(channels_in, channels_out, device),
            false => DownBlock::new(channels_in, channels_out, normalise, device),
        };
        let mut blocks = vec![block(3, widths[0], false)];
        blocks.extend((1..4).map(|i| block(widths[i - 1], widths[i], true)));
        let discriminator = Discriminator {
            blocks,
            head: Conv2dConfig::new([widths[3], 1], [4, 4]).init(device),
            head_spectral: spectral.then(|| SpectralNorm::new(1, device)),
            projection: None,
            classifier: None,
        };
        match self.condition_dim {
            None | Some(0) => discriminator,
            Some(dim) if self.classifier == Some(true) => discriminator
                .with_projection(dim, device)
                .with_classifier(dim, device),
            Some(dim) => discriminator.with_projection(dim, device),
        }
    }
}

/// Image to realness logit.
#[derive(Module, Debug)]
pub struct Discriminator {
    /// Four stride-2 blocks, 64 -> 4; public so fine-tuning can freeze the first ones.
    pub blocks: Vec<DownBlock>,
    head: Conv2d,
    /// The head's spectral normalisation, in a spectrally normalised discriminator.
    head_spectral: Option<SpectralNorm>,
    /// Projection discriminator (Miyato and Koyama 2018): `[condition_dim, 8w]`, the
    /// condition's embedding, whose inner product with the last features (summed over
    /// positions) is added to the logit. Present in a conditional discriminator.
    projection: Option<Param<Tensor<2>>>,
    /// Auxiliary classifier (AC-GAN, Odena et al. 2017): `[8w, condition_dim]`, the last
    /// features (averaged over positions) to logits of the category and of the tone, trained
    /// on real images' labels; the generator is trained to have its images classified as the
    /// condition it was given. Present when asked for in a conditional discriminator.
    classifier: Option<Param<Tensor<2>>>,
}

impl Discriminator {
    /// The same discriminator with a zero projection added (it scores as before until
    /// trained).
    pub fn with_projection(mut self, condition_dim: usize, device: &Device) -> Self {
        let channels = self.head.weight.dims()[1];
        self.projection = Some(zero_param([condition_dim, channels], device));
        self
    }

    /// The same discriminator with an auxiliary classifier added, at zero (it predicts every
    /// condition alike until trained).
    pub fn with_classifier(mut self, condition_dim: usize, device: &Device) -> Self {
        let channels = self.head.weight.dims()[1];
        self.classifier = Some(zero_param([channels, condition_dim], device));
        self
    }

    /// Whether it has an auxiliary classifier.
    pub fn has_classifier(&self) -> bool {
        self.classifier.is_some()
    }

    /// # Shapes
    /// - images: `[n, 3, 64, 64]`
    /// - condition: `[n, condition_dim]` codes, used by a conditional discriminator (`None`:
    ///   the projection is left out, as when fine-tuning on images without labels)
    /// - output: `[n]` logits (positive = real)
    pub fn forward(&self, images: Tensor<4>, condition: Option<Tensor<2>>) -> Tensor<1> {
        self.forward_classified(images, condition).0
    }

    /// [`Self::forward`] and, with an auxiliary classifier, its condition logits
    /// `[n, condition_dim]` (a block of category logits, then one of tone logits).
    pub fn forward_classified(
        &self,
        images: Tensor<4>,
        condition: Option<Tensor<2>>,
    ) -> (Tensor<1>, Option<Tensor<2>>) {
        let n = images.dims()[0];
        let mut x = images;
        for block in &self.blocks {
            x = block.forward(x); // 64 -> 32 -> 16 -> 8 -> 4
        }
        let logits =
            spectral_conv2d(&self.head, self.head_spectral.as_ref(), x.clone()).reshape([n]); // [n, 1, 1, 1] -> [n]
        if self.projection.is_none() && self.classifier.is_none() {
            return (logits, None);
        }
        let [_, c, h, w] = x.dims();
        let features = x.reshape([n, c, h * w]).sum_dim(2).reshape([n, c]); // [n, c]
        let classes = self.classifier.as_ref().map(|classifier| {
            features
                .clone()
                .div_scalar((h * w) as f32)
                .matmul(classifier.val())
        });
        let logits = match (&self.projection, condition) {
            (Some(projection), Some(code)) => {
                let embedded = code.matmul(projection.val()); // [n, c]
                logits + (features * embedded).sum_dim(1).reshape([n])
            }
            _ => logits,
        };
        (logits, classes)
    }

    /// The output of each of its four blocks (64 -> 32 -> 16 -> 8 -> 4), for feature
    /// matching.
    pub fn block_outputs(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = images;
        let mut outputs = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            x = block.forward(x);
            outputs.push(x.clone());
        }
        outputs
    }

    /// Whether its convolutions are spectrally normalised.
    pub fn is_spectral(&self) -> bool {
        self.head_spectral.is_some()
    }

    /// `iterations` power-iteration steps of every spectral normalisation on the current
    /// weights (one after each update; more at the start of training); a discriminator
    /// without spectral normalisation stays as it is.
    pub fn refresh_spectral_norm(mut self, iterations: usize) -> Self {
        self.blocks = self
            .blocks
            .into_iter()
            .map(|b| b.refresh_spectral_norm(iterations))
            .collect();
        if let Some(spectral) = self.head_spectral.take() {
            self.head_spectral = Some(spectral.refresh(self.head.weight.val(), iterations));
        }
        self
    }

    /// FreezeD (Mo et al. 2020): stop training the first `layers` blocks, which hold generic
    /// low-level features, when fine-tuning on a few images.
    pub fn freeze_layers(mut self, layers: usize) -> Self {
        self.blocks = self
            .blocks
            .into_iter()
            .enumerate()
            .map(|(i, b)| if i < layers { b.freeze() } else { b })
            .collect();
        self
    }
}

/// Both halves of the GAN.
#[derive(Config, Debug, PartialEq)]
pub struct GanConfig {
    /// The generator.
    pub generator: GeneratorConfig,
    /// The discriminator.
    pub discriminator: DiscriminatorConfig,
    /// The conditions of a conditional GAN (`None`: unconditional).
    #[config(default = "None")]
    pub conditions: Option<Conditions>,
    /// Where sampling draws latents, if not from the standard Gaussian (a fine-tuned model's
    /// fit to its images' latents).
    #[config(default = "None")]
    pub prior: Option<LatentPrior>,
}

impl GanConfig {
    /// The shipped emoji architecture.
    pub fn emoji() -> Self {
        Self::new(GeneratorConfig::new(), DiscriminatorConfig::new())
    }

    /// The same GAN conditioned on `conditions`.
    pub fn conditioned(mut self, conditions: Conditions) -> Self {
        self.generator.condition_dim = Some(conditions.dim());
        self.discriminator.condition_dim = Some(conditions.dim());
        self.conditions = Some(conditions);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let device = crate::backend::default_device();
        let g = GeneratorConfig::new()
            .with_width(8)
            .with_latent_dim(16)
            .init(&device);
        let d = DiscriminatorConfig::new().with_width(8).init(&device);
        let images = g.forward(Tensor::zeros([3, 16], &device));
        assert_eq!(images.dims(), [3, 3, 64, 64]);
        assert_eq!(d.forward(images, None).dims(), [3]);
    }

    #[test]
    fn the_resize_generator_upsamples_by_nearest_neighbour_and_old_configs_parse() {
        let device = crate::backend::default_device();
        // Up-sampling repeats each pixel in a 2x2 square.
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]),
            &device,
        );
        let up = crate::backend::read_f32_blocking(crate::model::blocks::upsample2(x)).unwrap();
        assert_eq!(
            up,
            [
                1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.
            ]
        );
        let config = GeneratorConfig::new()
            .with_width(8)
            .with_latent_dim(16)
            .with_resize(Some(true));
        let g = crate::model::seeded_init(config.init(&device), 3);
        let z = Tensor::<2>::from_data(
            TensorData::new(crate::latent::noise(2, 16), [1, 16]),
            &device,
        );
        let images = g.forward(z.clone());
        assert_eq!(images.dims(), [1, 3, 64, 64]);
        // Its layers differ from the transposed convolutions' (3x3 kernels).
        let plain = GeneratorConfig::new()
            .with_width(8)
            .with_latent_dim(16)
            .init(&device);
        use burn::module::Module;
        assert!(g.num_params() < plain.num_params());
        // Configs written before the option existed parse, as transposed convolutions.
        let old: GeneratorConfig =
            serde_json::from_str(r#"{"latent_dim": 16, "width": 8, "condition_dim": null}"#)
                .unwrap();
        assert_eq!(old.resize, None);
        assert_eq!(old.init(&device).num_params(), plain.num_params());
    }

    #[test]
    fn spectral_norm_divides_a_weight_by_its_largest_singular_value() {
        let device = crate::backend::default_device();
        // A [3, 1, 1, 3] weight whose matrix is diag(3, 2, 0.5) turned by a permutation:
        // singular values 3, 2 and 0.5.
        let values = vec![0.0f32, 2.0, 0.0, 0.0, 0.0, 0.5, 3.0, 0.0, 0.0];
        let weight = Tensor::<4>::from_data(TensorData::new(values.clone(), [3, 1, 1, 3]), &device);
        let spectral = SpectralNorm::new(3, &device).refresh(weight.clone(), 30);
        let normalised = crate::backend::read_f32_blocking(spectral.normalise(weight)).unwrap();
        for (got, want) in normalised.iter().zip(&values) {
            assert!((got - want / 3.0).abs() < 1e-4, "{normalised:?}");
        }
    }

    #[test]
    fn a_spectrally_normalised_discriminator_ignores_the_scale_of_its_weights() {
        let device = crate::backend::default_device();
        let images = Tensor::<4>::from_data(
            TensorData::new(crate::latent::noise(5, 2 * 3 * 64 * 64), [2, 3, 64, 64]),
            &device,
        );
        let scaled_logits = |spectral: bool| {
            let config = DiscriminatorConfig::new()
                .with_width(8)
                .with_spectral_norm(Some(spectral));
            let d = crate::model::seeded_init(config.init(&device), 4).refresh_spectral_norm(30);
            assert_eq!(d.is_spectral(), spectral);
            let before = d.forward(images.clone(), None);
            // Every convolution's weight (not the biases) ten times larger.
            let d = crate::model::params::map_floats(d, |path, dims, flat| {
                if dims.len() == 4 && path.ends_with("weight") {
                    flat.mul_scalar(10.0)
                } else {
                    flat
                }
            });
            let after = d.forward(images.clone(), None);
            let before = crate::backend::read_f32_blocking(before).unwrap();
            let after = crate::backend::read_f32_blocking(after).unwrap();
            before
                .iter()
                .zip(&after)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max)
        };
        assert!(scaled_logits(true) < 1e-3, "{}", scaled_logits(true));
        assert!(scaled_logits(false) > 1e-2, "{}", scaled_logits(false));
        // Configs written before the option existed parse, without it.
        let old: DiscriminatorConfig =
            serde_json::from_str(r#"{"width": 8, "condition_dim": null}"#).unwrap();
        assert_eq!(old.spectral_norm, None);
        assert!(!old.init(&device).is_spectral());
    }

    #[test]
    fn the_condition_reaches_the_output() {
        let device = crate::backend::default_device();
        let config = GeneratorConfig::new()
            .with_width(8)
            .with_latent_dim(16)
            .with_condition_dim(Some(5));
        let g = crate::model::seeded_init(config.init(&device), 3).valid();
        let d = crate::model::seeded_init(
            DiscriminatorConfig::new()
                .with_width(8)
                .with_condition_dim(Some(5))
                .init(&device),
            4,
        );
        let noise: Vec<f32> = crate::latent::noise(9, 16);
        let input = |code: [f32; 5]| {
            let z: Vec<f32> = noise.iter().copied().chain(code).collect();
            Tensor::<2>::from_data(TensorData::new(z, [1, 21]), &device)
        };
        let a = g.forward(input([1.0, 0.0, 0.0, 1.0, 0.0]));
        let b = g.forward(input([0.0, 1.0, 0.0, 1.0, 0.0]));
        assert_eq!(a.dims(), [1, 3, 64, 64]);
        let difference = crate::backend::flex::tests::max_difference(a.clone(), b);
        assert!(difference > 1e-3, "two conditions, one image: {difference}");
        let codes =
            |c: [f32; 5]| Tensor::<2>::from_data(TensorData::new(c.to_vec(), [1, 5]), &device);
        let one = d.forward(a.clone(), Some(codes([1.0, 0.0, 0.0, 1.0, 0.0])));
        let other = d.forward(a, Some(codes([0.0, 1.0, 0.0, 1.0, 0.0])));
        let difference = crate::backend::flex::tests::max_difference(one, other);
        assert!(difference > 1e-6, "two conditions, one score: {difference}");
    }

    #[test]
    fn zero_conditioning_keeps_the_generator() {
        let device = crate::backend::default_device();
        let config = GeneratorConfig::new().with_width(8).with_latent_dim(16);
        let g = crate::model::seeded_init(config.init(&device), 3).valid();
        let z = Tensor::<2>::from_data(
            TensorData::new(crate::latent::noise(2, 16), [1, 16]),
            &device,
        );
        let before = g.forward(z.clone());
        let g = g.with_conditioning(4, &device);
        let code =
            Tensor::<2>::from_data(TensorData::new(vec![0.0, 1.0, 1.0, 0.0], [1, 4]), &device);
        let after = g.forward(Tensor::cat(vec![z, code], 1));
        let difference = crate::backend::flex::tests::max_difference(before, after);
        assert!(difference < 1e-5, "{difference}");
    }
}
