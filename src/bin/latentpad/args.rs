//! The command line's arguments: commands, their options, defaults and help texts (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "latentpad",
    version,
    about = "Train, sample and fine-tune small generative image models"
)]
pub(crate) struct Cli {
    /// Where to compute: `cpu` (default; burn's flex, multi-threaded) or `wgpu` (the GPU
    /// through Vulkan, Metal or DX12; a build with `--features wgpu`).
    #[arg(long, global = true, default_value = "cpu")]
    pub(crate) backend: String,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Download the emoji sets (npm packages emoji-datasource-google, the Noto set the models
    /// train on, and emoji-datasource-twitter, Twemoji, for the few-shot benchmark) into the
    /// data folder.
    FetchData {
        /// Where to put them (git-ignored).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Few-shot fine-tuning benchmark: fine-tune on Twemoji target sets and score the samples
    /// against each set's held-out images, beside the floor and a memorisation check.
    BenchFinetune {
        /// Model folder to fine-tune.
        #[arg(long, default_value = "models/emoji-vae")]
        model: PathBuf,
        /// Classifier whose features the scores use.
        #[arg(long, default_value = "models/emoji-classifier")]
        classifier: PathBuf,
        /// Data folder of fetch-data (needs the Twemoji set, and the Fluent set for
        /// fluent-faces).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Kinds of target set: hearts, flags, animals (Twemoji), fluent-faces (Fluent emoji
        /// whose name mentions a face).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "hearts,flags,animals,fluent-faces"
        )]
        kinds: Vec<String>,
        /// Uploads per target set.
        #[arg(long, value_delimiter = ',', default_value = "10,30")]
        sizes: Vec<usize>,
        /// Recipes: default (the page's: batch 16, FreezeD 2), freeze-0 to freeze-4, or prior /
        /// prior-N (the page's quick mode: a latent prior around the uploads' inversions, N
        /// steps, then default), prior-narrow (its spread 0.5), pivotal (prior, then pivotal
        /// tuning on the inverted uploads), pivotal-W (the pivots' weight W instead of 10);
        /// each may add +noaug, +lr=X, +ema=X, +spread=X and @PSI (a sampling truncation).
        #[arg(long, value_delimiter = ',', default_value = "default")]
        recipes: Vec<String>,
        /// Step counts to score at (0: the base model).
        #[arg(long, value_delimiter = ',', default_value = "0,60,150,300")]
        steps: Vec<u64>,
        /// Folder for the table (table.md) and the sample grids.
        #[arg(long)]
        out: PathBuf,
    },
    /// Train a model from scratch (resumes from --checkpoint when one is there).
    Train(TrainArgs),
    /// Write a grid of samples as PNG.
    Sample {
        /// Model folder (or .lpw file).
        #[arg(long, default_value = "models/emoji-vae")]
        model: PathBuf,
        /// Number of images.
        #[arg(long, default_value_t = 64)]
        n: usize,
        /// Seed of the first image; image i uses seed + i.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Images per row.
        #[arg(long, default_value_t = 8)]
        columns: usize,
        /// Conditional GAN: the emoji category (`smileys`, `people`, `animals`, ...).
        #[arg(long)]
        category: Option<String>,
        /// Conditional GAN: the skin tone of people (`yellow`, `light`, `medium-light`,
        /// `medium`, `medium-dark`, `dark`).
        #[arg(long)]
        skin_tone: Option<String>,
        /// Conditional GAN: one row of --n images per category (`category`) or per skin tone
        /// of people (`skin-tone`), the same seeds in every row.
        #[arg(long, value_enum, conflicts_with_all = ["category", "skin_tone"])]
        by: Option<By>,
        #[command(flatten)]
        draw: DrawArgs,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a strip of images walking from one seed's image to another's.
    Interpolate {
        /// Model folder (or .lpw file).
        #[arg(long, default_value = "models/emoji-vae")]
        model: PathBuf,
        /// Start seed.
        #[arg(long)]
        from_seed: u64,
        /// End seed.
        #[arg(long)]
        to_seed: u64,
        /// Number of images including both ends.
        #[arg(long, default_value_t = 16)]
        frames: usize,
        /// Path through latent space.
        #[arg(long, value_enum, default_value_t = Path_::Slerp)]
        path: Path_,
        /// Conditional GAN: the start's category.
        #[arg(long)]
        category: Option<String>,
        /// Conditional GAN: the start's skin tone.
        #[arg(long)]
        skin_tone: Option<String>,
        /// Conditional GAN: the end's category (default: the start's).
        #[arg(long)]
        to_category: Option<String>,
        /// Conditional GAN: the end's skin tone (default: the start's).
        #[arg(long)]
        to_skin_tone: Option<String>,
        #[command(flatten)]
        draw: DrawArgs,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Find the GAN latents of images (GAN inversion), or a VAE's encodings, and write each
    /// image beside its reconstruction.
    Invert {
        /// Model folder (a GAN, or a VAE: its encoder's posterior means).
        #[arg(long, default_value = "models/emoji-gan")]
        model: PathBuf,
        /// Folder of images to invert.
        #[arg(long, conflicts_with = "held_out")]
        images: Option<PathBuf>,
        /// Instead of --images: this many held-out Noto emoji (from fetch-data's folder).
        #[arg(long)]
        held_out: Option<usize>,
        /// Data folder of fetch-data (for --held-out).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Adam steps on the latents (a VAE's start from its encoder's and take at most 50).
        #[arg(long, default_value_t = 150)]
        steps: usize,
        /// Output PNG: pairs of image and reconstruction, 8 pairs per row.
        #[arg(long)]
        out: PathBuf,
        /// Also write the latents as JSON (row per image).
        #[arg(long)]
        latents: Option<PathBuf>,
    },
    /// Fit a VAE's sampling prior to its training images: samples start from the latents of
    /// a stratified set of them (every category and tone in the data's mix) instead of the
    /// standard Gaussian, which the encoder's latents do not fill; steering picks among the
    /// centres of the condition asked for. A GAN's latents for the images are found by
    /// inversion (150 steps; minutes), and its centres always shrink (--shrink).
    Prior {
        /// VAE (or GAN) model folder.
        #[arg(long, default_value = "models/emoji-vae")]
        model: PathBuf,
        /// Data folder of fetch-data (the Noto training images).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Training images whose latents the prior keeps (they are stored in the weights).
        #[arg(long, default_value_t = 512)]
        centres: usize,
        #[command(flatten)]
        settings: PriorArgs,
        /// Seed of the choice of images.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Model folder to write (the same weights with the prior; may be --model).
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure a GAN's batch-norm statistics again on its own sampling latents (standing
    /// statistics): it samples with the moving average of its generator, whose statistics
    /// were gathered on the live weights. No weight changes; seconds. A VAE's decoder takes
    /// it too, but the shipped one scores worse with it (see models/emoji-gan's card).
    Recalibrate {
        /// GAN (or VAE) model folder.
        #[arg(long, default_value = "models/emoji-gan")]
        model: PathBuf,
        /// Batches of latents run forward.
        #[arg(long, default_value_t = 64)]
        batches: usize,
        /// Latents per batch.
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Seed of the first latent.
        #[arg(long, default_value_t = 5_000_000)]
        seed: u64,
        /// Model folder to write (may be --model).
        #[arg(long)]
        out: PathBuf,
    },
    /// Average the sampling network's weights of several checkpoints of one run (Polyak
    /// averaging); the rest is the last folder's. Recalibrate the result.
    Average {
        /// Model folders of one architecture, the last one's other parts kept (give it once
        /// per folder).
        #[arg(long = "model", required = true)]
        models: Vec<PathBuf>,
        /// Model folder to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Widen a trained model's sampling network (a GAN's generator, a VAE's decoder) so that
    /// it draws exactly what it drew, its new channels' outgoing weights at zero; train it
    /// further with `train --init`. The other parts are kept.
    Widen {
        /// GAN (or VAE) model folder.
        #[arg(long, default_value = "models/emoji-cgan")]
        model: PathBuf,
        /// New width (channels of the last hidden block; above the current one).
        #[arg(long)]
        width: usize,
        /// Seed of the new channels' incoming weights.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Model folder to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fine-tune a trained model on a folder of your images.
    Finetune {
        /// Model folder to start from.
        #[arg(long, default_value = "models/emoji-vae")]
        model: PathBuf,
        /// Folder of images (PNG, JPEG, WebP, GIF).
        #[arg(long)]
        images: PathBuf,
        /// Training steps.
        #[arg(long, default_value_t = 300)]
        steps: u64,
        /// Images per step.
        #[arg(long, default_value_t = 16)]
        batch_size: usize,
        /// GAN only: discriminator blocks to freeze (FreezeD).
        #[arg(long, default_value_t = 2)]
        freeze_discriminator_layers: usize,
        /// The page's quick mode first: a GAN finds the images in its latent space in this
        /// many inversion steps and samples near them (pivotal tuning); a VAE's encoder finds
        /// them at once (any number above 0). 0 turns it off.
        #[arg(long, default_value_t = 50)]
        prior_steps: usize,
        /// Output model folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the provenance text a latentpad PNG carries (software, model, seeds).
    Provenance {
        /// A PNG written by latentpad (CLI or browser).
        file: PathBuf,
    },
    /// Score a model against the held-out emoji (Frechet distance, precision, recall), in
    /// the feature space of each classifier given.
    Eval {
        /// Model folder.
        #[arg(long, default_value = "models/emoji-vae")]
        model: PathBuf,
        /// Classifiers whose features the metrics use, one line each: by default the stricter
        /// identity space (which emoji, across Noto and Twemoji), then the category space.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "models/identity-classifier,models/emoji-classifier"
        )]
        classifier: Vec<PathBuf>,
        /// Data folder of fetch-data.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Also score real training images against the held-out set (the floor).
        #[arg(long)]
        floor: bool,
        /// Seed of the first sample scored (the default keeps scores comparable across
        /// models; another shows how much a score moves with the samples alone).
        #[arg(long, default_value_t = 1_000_000)]
        seed: u64,
        #[command(flatten)]
        draw: DrawArgs,
    },
    /// Compare the skin tones of a model's generated people emoji with the training data's.
    Report {
        /// Model folder.
        #[arg(long, default_value = "models/emoji-vae")]
        model: PathBuf,
        /// Emoji-category classifier (finds the people among the samples).
        #[arg(long, default_value = "models/emoji-classifier")]
        classifier: PathBuf,
        /// Category classifier that judges the steering of a conditional GAN (`train
        /// classifier --both-styles`).
        #[arg(long, default_value = "models/category-classifier")]
        steering_classifier: PathBuf,
        /// Skin-tone classifier (`train classifier --target skin-tone`).
        #[arg(long, default_value = "models/skin-tone-classifier")]
        tone_classifier: PathBuf,
        /// Data folder of fetch-data.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Images to generate.
        #[arg(long, default_value_t = 4096)]
        n: usize,
        /// Samples asked for each category and each tone (a steerable model; more give a
        /// steadier share).
        #[arg(long, default_value_t = 64)]
        per_condition: usize,
        /// Seed of the first unsteered sample; the steered ones start 1,000,000 later (the
        /// cards use the default; another seed checks a figure on samples it was not tuned on).
        #[arg(long, default_value_t = 2_000_000)]
        seed: u64,
        #[command(flatten)]
        draw: DrawArgs,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum Target {
    /// The emoji's category (10 classes): the evaluation classifier.
    Category,
    /// Skin tone of emoji that come in tones (default yellow + 5 tones): for `report`.
    SkinTone,
    /// Which emoji it is, across the Noto and Twemoji styles (every training emoji a class):
    /// a feature space for scores that does not hinge on one style.
    Identity,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum By {
    Category,
    SkinTone,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Path_ {
    Lerp,
    Slerp,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(crate) enum Kind {
    Gan,
    Vae,
    Classifier,
}

/// How a fitted prior draws its samples (`prior`).
#[derive(Args, Clone)]
pub(crate) struct PriorArgs {
    /// How far a sample moves from its centre: the standard deviation of the Gaussian
    /// step, 0 (a reconstruction of a training image) to 1.
    #[arg(long, default_value_t = 0.9)]
    pub(crate) spread: f32,
    /// Shrink each centre as the spread grows (sqrt(1 - spread^2) * centre, as the GAN's
    /// fine-tuning prior does) instead of keeping it whole (centre + spread * noise).
    #[arg(long)]
    pub(crate) shrink: bool,
    /// The spread of a sample steered to a category or tone (0 to 1), instead of
    /// --spread: less noise keeps it in the condition asked for. Unset: --spread.
    #[arg(long)]
    pub(crate) steered_spread: Option<f32>,
    /// The share of a steered sample's Gaussian step kept along the directions in which
    /// the conditions' images differ (0 to 1): less keeps it in the condition asked for
    /// with all the variety within it. Unset: all of it.
    #[arg(long)]
    pub(crate) steered_guard: Option<f32>,
    /// How far a sample steered to a skin tone starts from its centre along what sets its
    /// tone apart (the tone's mean centre less all people's), 0 to 1. Unset: 0.
    #[arg(long)]
    pub(crate) steered_tone_push: Option<f32>,
    /// VAE: guard a sample steered to a skin tone along K more directions, the widest in
    /// which the latents of one emoji's tone variants differ (found by encoding every
    /// training person in every tone): --steered-tone-guard (else --steered-guard) of its
    /// step is kept along them, so that the step changes the person, not the tone. Unset:
    /// none.
    #[arg(long, value_name = "K")]
    pub(crate) tone_directions: Option<usize>,
    /// The spread of a sample steered to a skin tone (0 to 1), instead of --steered-spread.
    /// Unset: --steered-spread.
    #[arg(long)]
    pub(crate) steered_tone_spread: Option<f32>,
    /// The share of a tone-steered sample's step kept along the guarded directions (0 to
    /// 1), instead of --steered-guard. Unset: --steered-guard.
    #[arg(long)]
    pub(crate) steered_tone_guard: Option<f32>,
    /// Give the people of one skin tone more (or fewer) of the centres than their share of
    /// the data, `TONE=WEIGHT` (e.g. `yellow=1.5`; repeat for more tones): for a tone whose
    /// unsteered samples drift into the others, so that the samples keep the data's mix.
    #[arg(long = "tone-weight", value_name = "TONE=WEIGHT")]
    pub(crate) tone_weights: Vec<String>,
    /// Shape the Gaussian step by the centres: along each latent dimension, the spread times
    /// the centres' standard deviation there (for a grid latent, whose plain background
    /// cells otherwise take noise the decoder draws as blotches). Unset: the same on all.
    /// Not with --principal-noise, which shapes the step its own way.
    #[arg(long, conflicts_with = "principal_noise")]
    pub(crate) shaped_noise: bool,
    /// Draw the Gaussian step in the centres' K widest principal directions (a Gaussian
    /// fitted to them), so that it moves a latent the way the data's latents differ. Unset:
    /// every direction alike.
    #[arg(long, value_name = "K")]
    pub(crate) principal_noise: Option<usize>,
    /// VAE: how far fine-tuning's quick mode moves samples from the uploads' latents (0 to
    /// 1), kept with the model. Unset: the default, 1.
    #[arg(long)]
    pub(crate) finetune_spread: Option<f32>,
}

/// How latents are drawn for images (sample, interpolate, eval, report).
#[derive(Args, Clone, Copy)]
pub(crate) struct DrawArgs {
    /// Truncation psi in (0, 1]: the latents' Gaussian part times psi (below 1: more typical
    /// images, less variety; 1: none).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) truncation: f32,
    /// GAN: draw K candidates per image and keep the one its discriminator scores highest
    /// (1 to 16; 1: plain sampling).
    #[arg(long, default_value_t = 1)]
    pub(crate) best_of: usize,
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// What to train.
    #[arg(value_enum)]
    pub(crate) kind: Kind,
    /// Data folder of fetch-data.
    #[arg(long, default_value = "data")]
    pub(crate) data_dir: PathBuf,
    /// Train on this folder of images instead of the emoji set.
    #[arg(long)]
    pub(crate) images: Option<PathBuf>,
    /// Total training steps (a resumed run continues up to this number).
    #[arg(long, default_value_t = 5000)]
    pub(crate) steps: u64,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch_size: usize,
    /// Checkpoint folder; the run resumes from it when it holds one.
    #[arg(long)]
    pub(crate) checkpoint: PathBuf,
    /// Steps between checkpoints (and preview grids).
    #[arg(long, default_value_t = 250)]
    pub(crate) checkpoint_every: u64,
    /// Model folder written at every checkpoint and at the end.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Name recorded in the weights.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// GAN ablation: no DiffAugment.
    #[arg(long)]
    pub(crate) no_augment: bool,
    /// GAN: the discriminator's learning rate as a multiple of the generator's (below 1 slows
    /// a discriminator that wins the game).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) d_lr_scale: f64,
    /// GAN: the hinge loss instead of the non-saturating logistic loss.
    #[arg(long)]
    pub(crate) hinge: bool,
    /// GAN from scratch: spectral normalisation of the discriminator's convolutions in place
    /// of its batch norms (SN-GAN, Miyato et al. 2018).
    #[arg(long)]
    pub(crate) spectral_norm: bool,
    /// GAN: weight gamma of an R1 penalty on the discriminator's gradient at real images
    /// (Mescheder et al. 2018; estimated by a finite difference along a random direction);
    /// 0: off, the default.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) r1: f64,
    /// Conditional GAN: weight of an auxiliary classifier's loss (AC-GAN): the discriminator
    /// also learns to tell an image's category and tone, the generator to draw what it tells
    /// as asked (0: off, the default). Given when a run resumes, it changes the run's weight.
    #[arg(long)]
    pub(crate) aux_classifier: Option<f64>,
    /// With `--aux-classifier`: weight each image's category term by the inverse of the
    /// category's share of the data (at most 10x), so rare categories count as much.
    #[arg(long)]
    pub(crate) balance_classes: bool,
    /// GAN: draw real batches (and a conditional GAN's fake conditions) with each category in
    /// proportion to its share of the data to this power: 1 the data's mix, 0.5 square-root
    /// sampling (rare categories more often), 0 every category equally. Classifier: the same
    /// for its classes.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) class_sampling: f64,
    /// GAN and VAE from scratch: the generator (decoder) up-samples by nearest neighbour and a
    /// 3x3 convolution instead of 4x4 transposed convolutions.
    #[arg(long)]
    pub(crate) upsample_conv: bool,
    /// VAE from scratch: the latent as a grid of this side (4, 8 or 16) instead of a vector:
    /// a spatial latent, `--latent-dim / side^2` channels per cell, which keeps where things are
    /// in the image.
    #[arg(long)]
    pub(crate) latent_grid: Option<usize>,
    /// VAE from scratch: length of the latent (default 128; with `--latent-grid`, a multiple
    /// of the grid's cells).
    #[arg(long)]
    pub(crate) latent_dim: Option<usize>,
    /// GAN ablation: sample from the last generator instead of the EMA one.
    #[arg(long)]
    pub(crate) no_ema: bool,
    /// Generator/discriminator/encoder width.
    #[arg(long, default_value_t = 48)]
    pub(crate) width: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Classifier: what it learns to tell apart.
    #[arg(long, value_enum, default_value_t = Target::Category)]
    pub(crate) target: Target,
    /// Classifier, `--target category`: train on Twemoji's images of the training emoji too
    /// (a classifier that knows categories beyond one style; `report --steering-classifier`).
    #[arg(long)]
    pub(crate) both_styles: bool,
    /// Classifier: channels of its first block (later blocks have 2x, 4x, 4x).
    #[arg(long, default_value_t = 32)]
    pub(crate) classifier_width: usize,
    /// Classifier: also mirror a random half of each batch left to right (labels a mirror
    /// does not change: categories, tones).
    #[arg(long)]
    pub(crate) flip: bool,
    /// GAN: condition on the emoji category and skin tone (the steering of `sample`).
    #[arg(long)]
    pub(crate) conditional: bool,
    /// GAN: start from this unconditional model folder's generator and discriminator instead
    /// of random weights; with `--conditional` the conditioning starts at zero. VAE: a GAN
    /// model folder whose generator becomes the decoder and whose discriminator the adversary
    /// (a VAE-GAN; the encoder starts new), or a VAE model folder to continue (with
    /// `--adversarial-weight`, as a VAE-GAN with a new discriminator).
    #[arg(long)]
    pub(crate) init: Option<PathBuf>,
    /// VAE: weight of the decoder's adversarial loss (0: a plain VAE; above 0 without `--init`
    /// a new discriminator is trained beside it).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) adversarial_weight: f64,
    /// VAE: the decoder's learning rate as a multiple of the encoder's (a new run: 1 when not
    /// given; a resumed run: the checkpoint's when not given).
    #[arg(long)]
    pub(crate) decoder_lr_scale: Option<f64>,
    /// VAE: weight of a perceptual loss, the reconstruction compared with the image in the
    /// first layers of `--perceptual-net` (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) perceptual: f64,
    /// VAE: the classifier model folder the perceptual loss compares in.
    #[arg(long, default_value = "models/category-classifier")]
    pub(crate) perceptual_net: PathBuf,
    /// VAE: the KL term's weight (beta; 1: the plain ELBO). On `--init` of a VAE, replaces
    /// its beta.
    #[arg(long)]
    pub(crate) beta: Option<f64>,
    /// VAE, with `--init` of a VAE: keep its encoder (and so its fitted prior) as it is and
    /// train the decoder alone; its adversary's prior samples come from that prior.
    #[arg(long)]
    pub(crate) freeze_encoder: bool,
    /// VAE-GAN: weight of feature matching, the reconstruction compared with the image in
    /// the discriminator's blocks (0: none; needs `--adversarial-weight`).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) feature_matching: f64,
    /// VAE: weight of the detail loss, the reconstruction's high frequencies (each image
    /// less its 3x3 box blur) compared with the image's, in the pixel loss's units (0: none;
    /// a new run: none when not given; a resumed run: the checkpoint's when not given).
    #[arg(long)]
    pub(crate) detail_weight: Option<f64>,
    /// VAE: keep an exponential moving average of the decoder's weights with this decay (for
    /// example 0.99), and sample and export it instead of the last step's decoder. On a
    /// resumed run this, `--detail-weight` and `--decoder-lr-scale`, when given, replace the
    /// checkpoint's (`--detail-weight 0` switches the detail loss off); every other setting is
    /// the checkpoint's.
    #[arg(long)]
    pub(crate) decoder_ema: Option<f64>,
    /// VAE-GAN continuing a VAE: the adversary starts as this unconditional GAN model
    /// folder's discriminator instead of new.
    #[arg(long)]
    pub(crate) adversary_init: Option<PathBuf>,
    /// VAE: steps at the start in which only the encoder trains.
    #[arg(long, default_value_t = 0)]
    pub(crate) decoder_warmup: u64,
    /// Adam step size (default: 2e-4 for a GAN and a VAE-GAN, 1e-3 for a plain VAE).
    #[arg(long)]
    pub(crate) lr: Option<f64>,
}
