//! Which compute device the library runs on by default, the async read-back every caller uses
//! (a synchronous read panics on WebGPU, burn#4487, so reads are async everywhere), and
//! latentpad's own kernels for burn's `flex` CPU backend ([`flex`]).

pub mod flex;

use burn::prelude::*;

use crate::{Error, Result};

/// The native default: burn's pure-Rust `flex` CPU backend. Measured on the 2-core build
/// machine it trains these convolution nets ~200x faster than `ndarray` and ~30x faster than
/// wgpu on lavapipe; with the kernels of [`flex`] a GAN step takes about 1.3x
/// PyTorch's time on the same CPU (`cargo bench --bench throughput`).
pub fn default_device() -> Device {
    Device::flex()
}

/// The device for a backend name of the command line: `cpu` (burn's `flex`, the default) or
/// `wgpu` (the machine's GPU through Vulkan, Metal or DX12; needs the `wgpu` feature and a
/// GPU adapter, and says so when either is missing).
#[cfg(not(target_arch = "wasm32"))]
pub fn device_named(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(default_device()),
        "wgpu" => wgpu_device(),
        other => Err(Error::Config(format!(
            "unknown backend {other:?}; valid: cpu, wgpu"
        ))),
    }
}

#[cfg(all(feature = "wgpu", not(target_arch = "wasm32")))]
fn wgpu_device() -> Result<Device> {
    Device::wgpu_options().init().map_err(|e| Error::Backend {
        during: "starting the GPU (wgpu)",
        reason: format!(
            "{e}; this needs a Vulkan, Metal or DX12 GPU adapter (--backend cpu runs on the CPU)"
        ),
    })
}

#[cfg(all(not(feature = "wgpu"), not(target_arch = "wasm32")))]
fn wgpu_device() -> Result<Device> {
    Err(Error::Config(
        "this latentpad was built without the `wgpu` feature; `cargo build --release --features \
         wgpu` adds the GPU backend (the CPU, --backend cpu, is the default)"
            .into(),
    ))
}

/// Reads a float tensor back to the host as `f32`, whatever the device.
pub async fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(|e| Error::Backend {
        during: "tensor read-back",
        reason: format!("{e:?}"),
    })?;
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Backend {
            during: "tensor read-back",
            reason: format!("{e:?}"),
        })
}

/// Blocking form of [`read_f32`] for native callers (CLI, tests, benches).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_f32_blocking<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    pollster::block_on(read_f32(tensor))
}
