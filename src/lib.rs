//! latentpad: small generative image models (a DCGAN and a VAE) in burn, shared by the native
//! command-line program, the tests and the browser build.

pub mod backend;
pub mod data;
pub mod error;
pub mod eval;
#[cfg(not(target_arch = "wasm32"))]
pub mod fewshot;
pub mod flow;
pub mod image;
pub mod invert;
pub mod latent;
pub mod limits;
pub mod linalg;
pub mod model;
#[cfg(not(target_arch = "wasm32"))]
pub mod options;
pub mod prior;
pub mod progress;
pub mod recalibrate;
pub mod report;
#[cfg(not(target_arch = "wasm32"))]
pub mod sampling;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod weights;
#[cfg(not(target_arch = "wasm32"))]
pub mod widen;

pub use error::{Error, Result};
