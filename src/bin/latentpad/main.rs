//! The `latentpad` command-line program: each command parses its options and calls one
//! library function, on the device `--backend` names, and shows what it says.

#[cfg(not(target_arch = "wasm32"))]
mod show;

#[cfg(not(target_arch = "wasm32"))]
use latentpad::options::*;

/// Train, sample and fine-tune small generative image models.
#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Parser)]
#[command(name = "latentpad", version)]
struct Cli {
    /// Where to compute: `cpu` (default; burn's flex, multi-threaded) or `wgpu` (the GPU
    /// through Vulkan, Metal or DX12; a build with `--features wgpu`).
    #[arg(long, global = true, default_value = "cpu")]
    backend: String,
    #[command(subcommand)]
    command: Command,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Subcommand)]
enum Command {
    /// Download the emoji sets (the Noto set the models train on, and the Twemoji and Fluent
    /// sets of the few-shot benchmark) into the data folder.
    FetchData(FetchDataOptions),
    /// Few-shot fine-tuning benchmark: fine-tune on target sets of emoji styles the model
    /// never saw and score the samples against each set's held-out images.
    BenchFinetune(BenchOptions),
    /// Train a model (resumes from --checkpoint when one is there).
    #[command(subcommand)]
    Train(TrainOptions),
    /// Write a grid of samples as PNG.
    Sample(SampleOptions),
    /// Write a strip of images walking from one seed's image to another's.
    Interpolate(InterpolateOptions),
    /// Find the GAN latents of images (GAN inversion), or a VAE's encodings, and write each
    /// image beside its reconstruction.
    Invert(InvertOptions),
    /// Fit a VAE's sampling prior to its training images: samples start near the latents of
    /// a stratified set of them (every category and tone in the data's mix), and steering
    /// picks among the centres of the condition asked for.
    Prior(PriorOptions),
    /// Measure a GAN's batch-norm statistics again on its own sampling latents (standing
    /// statistics). No weight changes; seconds.
    Recalibrate(RecalibrateOptions),
    /// Average the sampling network's weights of several checkpoints of one run (Polyak
    /// averaging); the rest is the last folder's. Recalibrate the result.
    Average(AverageOptions),
    /// Widen a trained model's sampling network so that it draws exactly what it drew; train
    /// it further with `train --init`.
    Widen(WidenOptions),
    /// Fine-tune a trained model on a folder of your images.
    Finetune(FinetuneOptions),
    /// Print the provenance text a latentpad PNG carries (software, model, seeds).
    Provenance {
        /// A PNG written by latentpad (CLI or browser).
        file: std::path::PathBuf,
    },
    /// Score a model against the held-out emoji (Frechet distance, precision, recall, copy
    /// checks), in the feature space of each classifier given.
    Eval(EvalOptions),
    /// Compare the skin tones of a model's generated people with the training data's, and
    /// measure a steerable model's steering.
    Report(ReportOptions),
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> anyhow::Result<()> {
    use clap::Parser;
    use latentpad::{eval, fewshot, image, invert, prior, recalibrate, report, sampling, train};
    let cli = Cli::parse();
    let device = latentpad::backend::device_named(&cli.backend)?;
    let mut show = show::Show::default();
    let on = &mut |p| show.progress(p);
    match &cli.command {
        Command::FetchData(o) => latentpad::data::fetch_all(&o.data_dir)?
            .into_iter()
            .for_each(|line| println!("{line}")),
        Command::BenchFinetune(o) => fewshot::bench(o, &device, on)?,
        Command::Train(o) => train::setup::train(o, &device, on)?,
        Command::Sample(o) => show::wrote(sampling::sample(o, &device), &o.out)?,
        Command::Interpolate(o) => show::wrote(sampling::interpolate(o, &device), &o.out)?,
        Command::Invert(o) => show::wrote(invert::invert_images(o, &device, on), &o.out)?,
        Command::Prior(o) => prior::fit::fit_to_training_images(o, &device, on)?,
        Command::Recalibrate(o) => println!("{}", recalibrate::recalibrate_folder(o, &device)?),
        Command::Average(o) => println!("{}", recalibrate::average_folders(o, &device)?),
        Command::Widen(o) => println!("{}", latentpad::widen::widen_folder(o, &device)?),
        Command::Finetune(o) => train::run::finetune_folder(o, &device, on)?,
        Command::Provenance { file } => image::read_provenance(file)?
            .into_iter()
            .for_each(|(keyword, text)| println!("{keyword}: {text}")),
        Command::Eval(o) => eval::evaluate(o, &device, on)?,
        Command::Report(o) => report::report(o, &device, on)?,
    }
    show.finish();
    Ok(())
}

/// The CLI is native; cargo still builds a binary when it tests the wasm target.
#[cfg(target_arch = "wasm32")]
fn main() {}
