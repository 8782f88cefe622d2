//! The native integration tests, one test binary (each binary links burn, and linking is most of
//! a cold build's test phase): the CLI end to end, decoding, the shipped models, the training
//! loops on tiny models and the weights files.

mod cli;
mod commands;
mod data;
mod models;
mod repository;
mod training;
mod weights;

use latentpad::model::{DiscriminatorConfig, GanConfig, GeneratorConfig};

/// Runs the `latentpad` program from the checkout with `args`.
pub fn latentpad(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_latentpad"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// A GAN small enough to train in a test: latent 16, 8 channels at the widest layer.
pub fn tiny_gan() -> GanConfig {
    GanConfig::new(
        GeneratorConfig::new().with_latent_dim(16).with_width(8),
        DiscriminatorConfig::new().with_width(8),
    )
}
