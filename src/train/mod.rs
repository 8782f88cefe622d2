//! Training, shared by CLI pretraining and fine-tuning (native and in the browser): trainers
//! that take one batch per call and return the losses, so the caller drives the loop, shows
//! progress, checkpoints and can stop between any two steps.

pub mod augment;
#[cfg(not(target_arch = "wasm32"))]
pub mod checkpoint;
pub mod classifier;
pub mod ema;
pub mod gan;
pub mod vae;
