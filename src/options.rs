//! The options of each native run (one struct per `latentpad` command, parsed by clap): what the
//! library's run functions take, so that the command-line program only parses and calls. The
//! help texts are the doc comments; the defaults are the ones the cards' figures use.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::latent::Interpolation;

/// `fetch-data`: where the emoji sets go.
#[derive(Args, Debug, Clone)]
pub struct FetchDataOptions {
    /// Where to put them (git-ignored).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
}

/// `bench-finetune`: the few-shot fine-tuning benchmark.
#[derive(Args, Debug, Clone)]
pub struct BenchOptions {
    /// Model folder to fine-tune.
    #[arg(long, default_value = "models/emoji-vae")]
    pub model: PathBuf,
    /// Classifier whose features the scores use.
    #[arg(long, default_value = "models/emoji-classifier")]
    pub classifier: PathBuf,
    /// Data folder of fetch-data (needs the Twemoji set, and the Fluent set for
    /// fluent-faces).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Kinds of target set: hearts, flags, animals (Twemoji), fluent-faces (Fluent emoji
    /// whose name mentions a face).
    #[arg(
        long = "kinds",
        value_delimiter = ',',
        default_value = "hearts,flags,animals,fluent-faces"
    )]
    pub sets: Vec<String>,
    /// Uploads per target set.
    #[arg(long, value_delimiter = ',', default_value = "10,30")]
    pub sizes: Vec<usize>,
    /// Recipes: default (the page's: batch 16, FreezeD 2), freeze-0 to freeze-4, or prior /
    /// prior-N (the page's quick mode: samples near the uploads' latents, a GAN's found in N
    /// inversion steps, then default), prior-narrow (its spread 0.5), pivotal (prior, then
    /// pivotal tuning on the inverted uploads), pivotal-W (the pivots' weight W instead of
    /// 10); each may add +noaug, +lr=X, +ema=X, +spread=X and @PSI (a sampling truncation).
    #[arg(long, value_delimiter = ',', default_value = "default")]
    pub recipes: Vec<String>,
    /// Step counts to score at (0: the base model).
    #[arg(long, value_delimiter = ',', default_value = "0,60,150,300")]
    pub steps: Vec<u64>,
    /// Folder for the table (table.md) and the sample grids.
    #[arg(long)]
    pub out: PathBuf,
}

/// `train`: which kind of model, with the options of that kind only.
#[derive(Subcommand, Debug, Clone)]
pub enum TrainOptions {
    /// A GAN (unconditional, or conditional on category and skin tone).
    Gan(GanOptions),
    /// A VAE (or a VAE-GAN, with an adversary beside it).
    Vae(VaeOptions),
    /// A classifier: the feature spaces of `eval` and the judges of `report`.
    Classifier(ClassifierOptions),
    /// A learned prior for a VAE: a rectified flow over its latent grid, trained on its
    /// encoder's latents of the training images.
    Flow(FlowOptions),
}

/// `train flow`.
#[derive(Args, Debug, Clone)]
pub struct FlowOptions {
    #[command(flatten)]
    pub run: RunOptions,
    /// The VAE (with a grid latent) whose latents the flow learns; the model folder written
    /// is this VAE with the flow.
    #[arg(long, default_value = "models/emoji-vae")]
    pub model: PathBuf,
    /// Channels of the flow's network.
    #[arg(long, default_value_t = 96)]
    pub width: usize,
    /// Residual blocks of the flow's network.
    #[arg(long, default_value_t = 4)]
    pub blocks: usize,
    /// Adam step size.
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// Also learn the latents of the training images mirrored left to right.
    #[arg(long)]
    pub flip: bool,
    /// The chance that a training draw's category is dropped (and, apart, its tone), so
    /// that guidance can steer.
    #[arg(long, default_value_t = 0.15)]
    pub drop_condition: f64,
}

/// What every training run takes.
#[derive(Args, Debug, Clone)]
pub struct RunOptions {
    /// Data folder of fetch-data.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Total training steps (a resumed run continues up to this number).
    #[arg(long, default_value_t = 5000)]
    pub steps: u64,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Checkpoint folder; the run resumes from it when it holds one.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Steps between checkpoints (and preview grids).
    #[arg(long, default_value_t = 250)]
    pub checkpoint_every: u64,
    /// Model folder written at every checkpoint and at the end.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What a GAN or a VAE trains on and is called.
#[derive(Args, Debug, Clone)]
pub struct GenerativeOptions {
    /// Train on this folder of images instead of the emoji set.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Name recorded in the weights (default: the --out folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// No DiffAugment.
    #[arg(long)]
    pub no_augment: bool,
    /// From scratch: the generator (decoder) up-samples by nearest neighbour and a 3x3
    /// convolution instead of 4x4 transposed convolutions.
    #[arg(long)]
    pub upsample_conv: bool,
    /// Generator, discriminator and encoder width (from scratch).
    #[arg(long, default_value_t = 48)]
    pub width: usize,
    /// Adam step size (default: 2e-4 for a GAN and a VAE-GAN, 1e-3 for a plain VAE).
    #[arg(long)]
    pub lr: Option<f64>,
}

/// `train gan`.
#[derive(Args, Debug, Clone)]
pub struct GanOptions {
    #[command(flatten)]
    pub run: RunOptions,
    #[command(flatten)]
    pub model: GenerativeOptions,
    /// The discriminator's learning rate as a multiple of the generator's (below 1 slows a
    /// discriminator that wins the game).
    #[arg(long, default_value_t = 1.0)]
    pub d_lr_scale: f64,
    /// The hinge loss instead of the non-saturating logistic loss.
    #[arg(long)]
    pub hinge: bool,
    /// From scratch: spectral normalisation of the discriminator's convolutions in place of
    /// its batch norms (SN-GAN, Miyato et al. 2018).
    #[arg(long)]
    pub spectral_norm: bool,
    /// Weight gamma of an R1 penalty on the discriminator's gradient at real images
    /// (Mescheder et al. 2018; estimated by a finite difference along a random direction);
    /// 0: off.
    #[arg(long, default_value_t = 0.0)]
    pub r1: f64,
    /// Conditional GAN: weight of an auxiliary classifier's loss (AC-GAN): the discriminator
    /// also learns to tell an image's category and tone, the generator to draw what it tells
    /// as asked (0: off, the default). Given when a run resumes, it changes the run's weight.
    #[arg(long)]
    pub aux_classifier: Option<f64>,
    /// With `--aux-classifier`: weight each image's category term by the inverse of the
    /// category's share of the data (at most 10x), so rare categories count as much.
    #[arg(long)]
    pub balance_classes: bool,
    /// Draw real batches (and a conditional GAN's fake conditions) with each category in
    /// proportion to its share of the data to this power: 1 the data's mix, 0.5 square-root
    /// sampling (rare categories more often), 0 every category equally.
    #[arg(long, default_value_t = 1.0)]
    pub class_sampling: f64,
    /// Sample from the last generator instead of the moving average (an ablation).
    #[arg(long)]
    pub no_ema: bool,
    /// Condition on the emoji category and skin tone (the steering of `sample`).
    #[arg(long)]
    pub conditional: bool,
    /// Start from this unconditional GAN model folder's generator and discriminator instead
    /// of random weights; with `--conditional` the conditioning starts at zero.
    #[arg(long)]
    pub init: Option<PathBuf>,
}

/// `train vae`.
#[derive(Args, Debug, Clone)]
pub struct VaeOptions {
    #[command(flatten)]
    pub run: RunOptions,
    #[command(flatten)]
    pub model: GenerativeOptions,
    /// From scratch: the latent as a grid of this side (4, 8 or 16) instead of a vector: a
    /// spatial latent, `--latent-dim / side^2` channels per cell, which keeps where things
    /// are in the image.
    #[arg(long)]
    pub latent_grid: Option<usize>,
    /// From scratch: length of the latent (default 128; with `--latent-grid`, a multiple of
    /// the grid's cells).
    #[arg(long)]
    pub latent_dim: Option<usize>,
    /// A GAN model folder whose generator becomes the decoder and whose discriminator the
    /// adversary (a VAE-GAN; the encoder starts new), or a VAE model folder to continue (with
    /// `--adversarial-weight`, as a VAE-GAN with a new discriminator).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Weight of the decoder's adversarial loss (0: a plain VAE; above 0 without `--init` a
    /// new discriminator is trained beside it).
    #[arg(long, default_value_t = 0.0)]
    pub adversarial_weight: f64,
    /// The decoder's learning rate as a multiple of the encoder's (a new run: 1 when not
    /// given; a resumed run: the checkpoint's when not given).
    #[arg(long)]
    pub decoder_lr_scale: Option<f64>,
    /// Weight of a perceptual loss, the reconstruction compared with the image in the first
    /// layers of `--perceptual-net` (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub perceptual: f64,
    /// The classifier model folder the perceptual loss compares in.
    #[arg(long, default_value = "models/category-classifier")]
    pub perceptual_net: PathBuf,
    /// The KL term's weight (beta; 1: the plain ELBO). On `--init` of a VAE, replaces its
    /// beta.
    #[arg(long)]
    pub beta: Option<f64>,
    /// With `--init` of a VAE: keep its encoder (and so its fitted prior) as it is and train
    /// the decoder alone; its adversary's prior samples come from that prior.
    #[arg(long)]
    pub freeze_encoder: bool,
    /// Weight of feature matching, the reconstruction compared with the image in the
    /// discriminator's blocks (0: none; needs `--adversarial-weight`).
    #[arg(long, default_value_t = 0.0)]
    pub feature_matching: f64,
    /// Weight of the detail loss, the reconstruction's high frequencies (each image less its
    /// 3x3 box blur) compared with the image's, in the pixel loss's units (0: none; a new
    /// run: none when not given; a resumed run: the checkpoint's when not given).
    #[arg(long)]
    pub detail_weight: Option<f64>,
    /// Keep an exponential moving average of the decoder's weights with this decay (for
    /// example 0.99), and sample and export it instead of the last step's decoder. On a
    /// resumed run this, `--detail-weight` and `--decoder-lr-scale`, when given, replace the
    /// checkpoint's (`--detail-weight 0` switches the detail loss off); every other setting
    /// is the checkpoint's.
    #[arg(long)]
    pub decoder_ema: Option<f64>,
    /// VAE-GAN continuing a VAE: the adversary starts as this unconditional GAN model
    /// folder's discriminator instead of new.
    #[arg(long)]
    pub adversary_init: Option<PathBuf>,
    /// Steps at the start in which only the encoder trains.
    #[arg(long, default_value_t = 0)]
    pub decoder_warmup: u64,
}

/// `train classifier`.
#[derive(Args, Debug, Clone)]
pub struct ClassifierOptions {
    #[command(flatten)]
    pub run: RunOptions,
    /// What it learns to tell apart.
    #[arg(long, value_enum, default_value_t = ClassifierTarget::Category)]
    pub target: ClassifierTarget,
    /// With `--target category`: train on Twemoji's images of the training emoji too (a
    /// classifier that knows categories beyond one style; `report --steering-classifier`).
    #[arg(long)]
    pub both_styles: bool,
    /// Channels of its first block (later blocks have 2x, 4x, 4x).
    #[arg(long, default_value_t = 32)]
    pub classifier_width: usize,
    /// Also mirror a random half of each batch left to right (labels a mirror does not
    /// change: categories, tones).
    #[arg(long)]
    pub flip: bool,
    /// Draw batches with each class in proportion to its share of the data to this power: 1
    /// the data's mix, 0.5 square-root sampling, 0 every class equally.
    #[arg(long, default_value_t = 1.0)]
    pub class_sampling: f64,
}

/// What a classifier learns to tell apart.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ClassifierTarget {
    /// The emoji's category (10 classes): the evaluation classifier.
    Category,
    /// Skin tone of emoji that come in tones (default yellow + 5 tones): for `report`.
    SkinTone,
    /// Which emoji it is, across the Noto and Twemoji styles (every training emoji a class):
    /// a feature space for scores that does not hinge on one style.
    Identity,
}

/// How latents are drawn for images (sample, interpolate, eval, report).
#[derive(Args, Debug, Clone, Copy)]
pub struct DrawOptions {
    /// Truncation psi in (0, 1]: the latents' Gaussian part times psi (below 1: more typical
    /// images, less variety; 1: none).
    #[arg(long, default_value_t = 1.0)]
    pub truncation: f32,
    /// GAN: draw K candidates per image and keep the one its discriminator scores highest
    /// (1 to 16; 1: plain sampling).
    #[arg(long, default_value_t = 1)]
    pub best_of: usize,
    /// A VAE with a learned prior (`train flow`): Euler steps from noise to latent (1 to 200).
    #[arg(long, default_value_t = 24)]
    pub flow_steps: usize,
    /// A VAE with a learned prior: classifier-free guidance of a steered sample (0 to 10; 1:
    /// the conditional flow as it is; above 1: further from the unconditional one).
    #[arg(long, default_value_t = 2.0)]
    pub guidance: f32,
    /// A VAE with a learned prior: the starting noise's scale (above 0, at most 2; below 1:
    /// more typical images, as truncation does for a GAN).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
}

impl DrawOptions {
    /// How a learned prior samples, by these options.
    pub fn flow_sampling(&self) -> crate::flow::FlowSampling {
        crate::flow::FlowSampling {
            steps: self.flow_steps,
            guidance: self.guidance,
            temperature: self.temperature,
        }
    }
}

impl Default for DrawOptions {
    fn default() -> Self {
        let flow = crate::flow::FlowSampling::default();
        Self {
            truncation: 1.0,
            best_of: 1,
            flow_steps: flow.steps,
            guidance: flow.guidance,
            temperature: flow.temperature,
        }
    }
}

/// `sample`: a grid of samples.
#[derive(Args, Debug, Clone)]
pub struct SampleOptions {
    /// Model folder (or .lpw file).
    #[arg(long, default_value = "models/emoji-vae")]
    pub model: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Seed of the first image; image i uses seed + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per row.
    #[arg(long, default_value_t = 8)]
    pub columns: usize,
    #[command(flatten)]
    pub steering: SteeringOptions,
    /// A steerable model: one row of --n images per category (`category`) or per skin tone
    /// of people (`skin-tone`), the same seeds in every row.
    #[arg(long, value_enum, conflicts_with_all = ["category", "skin_tone"])]
    pub by: Option<RowsBy>,
    #[command(flatten)]
    pub draw: DrawOptions,
    /// Draw each sample beside its nearest Noto training image in pixels, from this
    /// fetch-data folder (the copy check, looked at).
    #[arg(long, value_name = "DATA_DIR", conflicts_with = "by")]
    pub beside_nearest: Option<PathBuf>,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
}

/// What a steerable model (the VAE, the conditional GAN) is asked to draw.
#[derive(Args, Debug, Clone, Default)]
pub struct SteeringOptions {
    /// The emoji category (`smileys`, `people`, `animals`, ...).
    #[arg(long)]
    pub category: Option<String>,
    /// The skin tone of people (`yellow`, `light`, `medium-light`, `medium`, `medium-dark`,
    /// `dark`).
    #[arg(long)]
    pub skin_tone: Option<String>,
}

/// The rows of `sample --by`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum RowsBy {
    /// A row per category.
    Category,
    /// A row per skin tone of people.
    SkinTone,
}

/// `interpolate`: a strip walking from one seed's image to another's.
#[derive(Args, Debug, Clone)]
pub struct InterpolateOptions {
    /// Model folder (or .lpw file).
    #[arg(long, default_value = "models/emoji-vae")]
    pub model: PathBuf,
    /// Start seed.
    #[arg(long)]
    pub from_seed: u64,
    /// End seed.
    #[arg(long)]
    pub to_seed: u64,
    /// Number of images including both ends.
    #[arg(long, default_value_t = 16)]
    pub frames: usize,
    /// Path through latent space: `slerp` (great circle) or `lerp` (straight line).
    #[arg(long, default_value = "slerp")]
    pub path: Interpolation,
    /// The start's steering.
    #[command(flatten)]
    pub steering: SteeringOptions,
    /// The end's category (default: the start's).
    #[arg(long)]
    pub to_category: Option<String>,
    /// The end's skin tone (default: the start's).
    #[arg(long)]
    pub to_skin_tone: Option<String>,
    #[command(flatten)]
    pub draw: DrawOptions,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
}

/// `invert`: images beside their reconstructions.
#[derive(Args, Debug, Clone)]
pub struct InvertOptions {
    /// Model folder (a GAN, or a VAE: its encoder's posterior means).
    #[arg(long, default_value = "models/emoji-gan")]
    pub model: PathBuf,
    /// Folder of images to invert.
    #[arg(long, conflicts_with = "held_out")]
    pub images: Option<PathBuf>,
    /// Instead of --images: this many held-out Noto emoji (from fetch-data's folder).
    #[arg(long)]
    pub held_out: Option<usize>,
    /// Data folder of fetch-data (for --held-out).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Adam steps on the latents (a VAE's start from its encoder's and take at most 50).
    #[arg(long, default_value_t = 150)]
    pub steps: usize,
    /// Output PNG: pairs of image and reconstruction, 8 pairs per row.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the latents as JSON (row per image).
    #[arg(long)]
    pub latents: Option<PathBuf>,
}

/// `prior`: a sampling prior fitted to the training images.
#[derive(Args, Debug, Clone)]
pub struct PriorOptions {
    /// VAE (or GAN) model folder.
    #[arg(long, default_value = "models/emoji-vae")]
    pub model: PathBuf,
    /// Data folder of fetch-data (the Noto training images).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Training images whose latents the prior keeps (they are stored in the weights).
    #[arg(long, default_value_t = 512)]
    pub centres: usize,
    #[command(flatten)]
    pub settings: PriorSettings,
    /// Seed of the choice of images.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Model folder to write (the same weights with the prior; may be --model).
    #[arg(long)]
    pub out: PathBuf,
}

/// How a fitted prior draws its samples.
#[derive(Args, Debug, Clone)]
pub struct PriorSettings {
    /// How far a sample moves from its centre: the standard deviation of the Gaussian step,
    /// 0 (a reconstruction of a training image) to 1.
    #[arg(long, default_value_t = 0.9)]
    pub spread: f32,
    /// Shrink each centre as the spread grows (sqrt(1 - spread^2) * centre, as a GAN's
    /// fine-tuning prior does) instead of keeping it whole (centre + spread * noise).
    #[arg(long)]
    pub shrink: bool,
    /// The spread of a sample steered to a category or tone (0 to 1), instead of --spread:
    /// less noise keeps it in the condition asked for. Unset: --spread.
    #[arg(long)]
    pub steered_spread: Option<f32>,
    /// The share of a steered sample's Gaussian step kept along the directions in which the
    /// conditions' images differ (0 to 1): less keeps it in the condition asked for with all
    /// the variety within it. Unset: all of it.
    #[arg(long)]
    pub steered_guard: Option<f32>,
    /// How far a sample steered to a skin tone starts from its centre along what sets its
    /// tone apart (the tone's mean centre less all people's), 0 to 1. Unset: 0.
    #[arg(long)]
    pub steered_tone_push: Option<f32>,
    /// VAE: guard a sample steered to a skin tone along K more directions, the widest in
    /// which the latents of one emoji's tone variants differ (found by encoding every
    /// training person in every tone): --steered-tone-guard (else --steered-guard) of its
    /// step is kept along them, so that the step changes the person, not the tone. Unset:
    /// none.
    #[arg(long, value_name = "K")]
    pub tone_directions: Option<usize>,
    /// The spread of a sample steered to a skin tone (0 to 1), instead of --steered-spread.
    /// Unset: --steered-spread.
    #[arg(long)]
    pub steered_tone_spread: Option<f32>,
    /// The share of a tone-steered sample's step kept along the guarded directions (0 to 1),
    /// instead of --steered-guard. Unset: --steered-guard.
    #[arg(long)]
    pub steered_tone_guard: Option<f32>,
    /// Give the people of one skin tone more (or fewer) of the centres than their share of
    /// the data, `TONE=WEIGHT` (e.g. `yellow=1.5`; repeat for more tones): for a tone whose
    /// unsteered samples drift into the others, so that the samples keep the data's mix.
    #[arg(long = "tone-weight", value_name = "TONE=WEIGHT")]
    pub tone_weights: Vec<String>,
    /// Shape the Gaussian step by the centres: along each latent dimension, the spread times
    /// the centres' standard deviation there (for a grid latent, whose plain background cells
    /// otherwise take noise the decoder draws as blotches). Unset: the same on all. Not with
    /// --principal-noise, which shapes the step its own way.
    #[arg(long, conflicts_with = "principal_noise")]
    pub shaped_noise: bool,
    /// Draw the Gaussian step in the centres' K widest principal directions (a Gaussian
    /// fitted to them), so that it moves a latent the way the data's latents differ. Unset:
    /// every direction alike.
    #[arg(long, value_name = "K")]
    pub principal_noise: Option<usize>,
    /// VAE: how far fine-tuning's quick mode moves samples from the uploads' latents (0 to
    /// 1), kept with the model. Unset: the default, 1.
    #[arg(long)]
    pub finetune_spread: Option<f32>,
}

/// `recalibrate`: a GAN's batch-norm statistics measured on its own samples.
#[derive(Args, Debug, Clone)]
pub struct RecalibrateOptions {
    /// GAN (or VAE) model folder.
    #[arg(long, default_value = "models/emoji-gan")]
    pub model: PathBuf,
    /// Batches of latents run forward.
    #[arg(long, default_value_t = 64)]
    pub batches: usize,
    /// Latents per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Seed of the first latent.
    #[arg(long, default_value_t = 5_000_000)]
    pub seed: u64,
    /// Model folder to write (may be --model).
    #[arg(long)]
    pub out: PathBuf,
}

/// `average`: the mean of several checkpoints' sampling weights.
#[derive(Args, Debug, Clone)]
pub struct AverageOptions {
    /// Model folders of one architecture, the last one's other parts kept (give it once per
    /// folder).
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    /// Model folder to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// `widen`: a wider sampling network that draws what the narrower one drew.
#[derive(Args, Debug, Clone)]
pub struct WidenOptions {
    /// GAN (or VAE) model folder.
    #[arg(long, default_value = "models/emoji-cgan")]
    pub model: PathBuf,
    /// New width (channels of the last hidden block; above the current one).
    #[arg(long)]
    pub width: usize,
    /// Seed of the new channels' incoming weights.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Model folder to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// `finetune`: a model fine-tuned on a folder of images.
#[derive(Args, Debug, Clone)]
pub struct FinetuneOptions {
    /// Model folder to start from.
    #[arg(long, default_value = "models/emoji-vae")]
    pub model: PathBuf,
    /// Folder of images (PNG, JPEG, WebP, GIF).
    #[arg(long)]
    pub images: PathBuf,
    /// Training steps.
    #[arg(long, default_value_t = 300)]
    pub steps: u64,
    /// Images per step.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// GAN only: discriminator blocks to freeze (FreezeD).
    #[arg(long, default_value_t = 2)]
    pub freeze_discriminator_layers: usize,
    /// The page's quick mode first: samples start near the images' latents. A GAN finds them
    /// in this many inversion steps (pivotal tuning); a VAE's encoder finds them at once (any
    /// number above 0). 0 turns it off. (`--prior-steps`, its old name, still works.)
    #[arg(long, alias = "prior-steps", default_value_t = 50)]
    pub invert_steps: usize,
    /// Output model folder.
    #[arg(long)]
    pub out: PathBuf,
}

/// `eval`: scores against the held-out emoji.
#[derive(Args, Debug, Clone)]
pub struct EvalOptions {
    /// Model folder.
    #[arg(long, default_value = "models/emoji-vae")]
    pub model: PathBuf,
    /// Classifiers whose features the metrics use, one line each: by default the stricter
    /// identity space (which emoji, across Noto and Twemoji), then the category space.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "models/identity-classifier,models/emoji-classifier"
    )]
    pub classifier: Vec<PathBuf>,
    /// Data folder of fetch-data.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Also score real training images against the held-out set (the floor).
    #[arg(long)]
    pub floor: bool,
    /// Seed of the first sample scored (the default keeps scores comparable across models;
    /// another shows how much a score moves with the samples alone).
    #[arg(long, default_value_t = 1_000_000)]
    pub seed: u64,
    #[command(flatten)]
    pub draw: DrawOptions,
}

/// `report`: skin tones of generated people, and a steerable model's steering.
#[derive(Args, Debug, Clone)]
pub struct ReportOptions {
    /// Model folder.
    #[arg(long, default_value = "models/emoji-vae")]
    pub model: PathBuf,
    /// Emoji-category classifier (finds the people among the samples).
    #[arg(long, default_value = "models/emoji-classifier")]
    pub classifier: PathBuf,
    /// Category classifier that judges the steering of a steerable model (`train classifier
    /// --both-styles`).
    #[arg(long, default_value = "models/category-classifier")]
    pub steering_classifier: PathBuf,
    /// Skin-tone classifier (`train classifier --target skin-tone`).
    #[arg(long, default_value = "models/skin-tone-classifier")]
    pub tone_classifier: PathBuf,
    /// Data folder of fetch-data.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Images to generate.
    #[arg(long, default_value_t = 4096)]
    pub n: usize,
    /// Samples asked for each category and each tone (a steerable model; more give a
    /// steadier share).
    #[arg(long, default_value_t = 64)]
    pub per_condition: usize,
    /// Seed of the first unsteered sample; the steered ones start 1,000,000 later (the cards
    /// use the default; another seed checks a figure on samples it was not tuned on).
    #[arg(long, default_value_t = 2_000_000)]
    pub seed: u64,
    #[command(flatten)]
    pub draw: DrawOptions,
}
