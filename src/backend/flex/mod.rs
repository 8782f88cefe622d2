//! The networks' convolutions, batch norms (fused with the activation after them) and
//! LeakyReLUs, and the trainers' DiffAugment, with faster kernels on burn's `flex` CPU backend.
//!
//! [`conv2d`], [`conv_transpose2d`] and [`batch_norm`] take burn's own modules (so weights,
//! configs and files are unchanged) and compute the same function as their `forward`, as does
//! [`leaky_relu`]. On a `flex` device, native or in the browser's CPU build, they run the
//! kernels on slices through a burn backend extension ([`FastOps`]) with its own backward
//! passes; on any other device (WebGPU), and for layers the kernels do not cover (dilation,
//! groups, uneven padding), they are burn's own.
//!
//! Why: burn 0.22's `flex` computes a convolution's weight gradient as another convolution
//! whose kernel is the output gradient, and differentiates LeakyReLU and training-mode batch
//! norm through chains of small tensor operations with masked selects and transposed copies;
//! together that made a DCGAN training step 2.2-2.7x slower than PyTorch's on the build
//! machine. With these kernels it is about 1.3x (`cargo bench --bench throughput`).
//!
//! Layout, after burn's `examples/custom-cubecl-kernel` and burn-flex's `ops/`: the extension
//! trait and the forward dispatch here; one file per op with its public function (burn's
//! modules in, the same result as burn's own), its kernels on `f32` slices and its test
//! against burn (`conv` with `im2col`, `norm`, `activation`, `augment`); the backward nodes in
//! `autodiff`; matrix products in `gemm`; chunking, threads and scratch in `parallel`.

mod activation;
mod augment;
mod autodiff;
mod conv;
mod gemm;
mod im2col;
mod norm;
#[cfg_attr(not(any(target_arch = "wasm32", test)), allow(dead_code))]
mod packed;
mod parallel;

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DispatchDevice, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;

pub use activation::leaky_relu;
pub use augment::{AUGMENT_PARAMS, augment, augment_reference};
pub use conv::{conv_transpose2d, conv2d, conv2d_with_weight};
pub use norm::{Activation, batch_norm};

use activation::leaky_relu_forward;
use augment::augment_forward;
use conv::{Step, conv_forward, transpose_forward};
use norm::{NormTensors, batch_norm_forward, channel_stats};

/// The kernels as a burn backend extension: the forward passes for `flex`, and for
/// `flex` under autodiff with a backward pass made of the same kernels.
#[backend_extension(Flex, Autodiff)]
pub trait FastOps: Backend {
    /// `conv2d(x, weight)` with stride and padding on both axes, no bias.
    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// `conv_transpose2d(x, weight)` with stride and padding on both axes, no output padding,
    /// no bias.
    fn fast_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// `leaky_relu(x, slope)`; burn's autodiff builds it from a comparison and two masked
    /// selects, which took a twentieth of a GAN step on `flex`.
    fn fast_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self>;

    /// Batch mean and biased variance per channel of `x` `[n, c, ...]`, as `[c, 2]`; not
    /// differentiated (call it on a detached `x`).
    fn fast_channel_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Training-mode batch norm of `x` with its `stats` from `fast_channel_stats`, followed by
    /// a LeakyReLU with `slope` (0 for ReLU); the backward pass includes the statistics'
    /// dependence on `x`, as burn's `batch_norm_train` does.
    fn fast_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f32,
        slope: f32,
    ) -> FloatTensor<Self>;

    /// DiffAugment of `x` `[n, c, h, w]` with the per-image `params` `[n, AUGMENT_PARAMS]` of
    /// [`augment`]; differentiated with respect to `x` only. burn's version is a dozen
    /// broadcasting tensor operations and a gather.
    fn fast_augment(x: FloatTensor<Self>, params: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Whether `x` lives on `flex` (directly or under autodiff) in `f32`.
fn on_flex_f32<const D: usize>(x: &Tensor<D>) -> bool {
    let on_flex = matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_));
    on_flex && x.dtype() == DType::F32
}

/// A `flex` tensor made contiguous, for reading as an `f32` slice.
struct Host {
    tensor: FlexTensor,
    dims: [usize; 4],
}

impl Host {
    /// A 4-d tensor.
    fn new(tensor: &FlexTensor) -> Self {
        let tensor = tensor.to_contiguous();
        let dims = tensor.layout().shape().dims::<4>();
        Self { tensor, dims }
    }

    /// Any rank; `dims` is unused.
    fn flat(tensor: &FlexTensor) -> Self {
        Self {
            tensor: tensor.to_contiguous(),
            dims: [0; 4],
        }
    }

    /// A tensor of this one's shape holding `values`.
    fn like(&self, values: Vec<f32>) -> FlexTensor {
        let shape = self.tensor.layout().shape().clone();
        FlexTensor::from_data(TensorData::new(values, shape))
    }

    fn values(&self) -> &[f32] {
        self.tensor
            .as_slice::<f32>()
            .expect("contiguous f32 tensor (checked by on_flex_f32)")
    }
}

fn flex_tensor(values: Vec<f32>, dims: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, dims))
}

impl FastOps for Flex {
    fn fast_augment(x: FlexTensor, params: FlexTensor) -> FlexTensor {
        augment_forward(&x, &params)
    }

    fn fast_leaky_relu(x: FlexTensor, slope: f32) -> FlexTensor {
        leaky_relu_forward(&x, slope)
    }

    fn fast_channel_stats(x: FlexTensor) -> FlexTensor {
        channel_stats(&x)
    }

    fn fast_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        epsilon: f32,
        slope: f32,
    ) -> FlexTensor {
        let norm = NormTensors {
            gamma: &gamma,
            beta: &beta,
            stats: &stats,
            epsilon,
            slope,
        };
        batch_norm_forward(&x, &norm)
    }

    fn fast_conv2d(x: FlexTensor, weight: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        conv_forward(&x, &weight, Step { stride, padding })
    }

    fn fast_conv_transpose2d(
        x: FlexTensor,
        weight: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        transpose_forward(&x, &weight, Step { stride, padding })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use burn::prelude::*;

    /// The largest absolute difference between two tensors.
    pub fn max_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }
}
