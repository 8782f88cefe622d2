//! Building blocks shared by the networks: a stride-2 up-sampling block (transposed
//! convolution, or up-sampling and convolution) and a stride-2 down-sampling block
//! (convolution), as in DCGAN (Radford et al. 2016): 4x4 kernels, batch norm, ReLU going up
//! and LeakyReLU(0.2) going down.

use crate::backend::flex::{self, Activation};
use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

/// Doubles the spatial size: ConvTranspose(4, stride 2, pad 1) -> BatchNorm -> ReLU, or with
/// `resize`, nearest-neighbour 2x upsampling -> Conv(3, pad 1) -> BatchNorm -> ReLU (Odena et
/// al. 2016: every output pixel sees the same number of kernel taps, so no checkerboard).
#[derive(Module, Debug)]
pub struct UpBlock {
    conv: ConvTranspose2d,
    norm: BatchNorm,
    #[module(skip)]
    resize: bool,
}

/// The 2x up-sampling layer's convolution: a 4x4 stride-2 transposed convolution, or with
/// `resize` a 3x3 stride-1 one (the same as a plain 3x3 convolution) that follows a
/// nearest-neighbour [`upsample2`].
pub fn up_conv(channels_in: usize, channels_out: usize, resize: bool) -> ConvTranspose2dConfig {
    let channels = [channels_in, channels_out];
    if resize {
        ConvTranspose2dConfig::new(channels, [3, 3]).with_padding([1, 1])
    } else {
        ConvTranspose2dConfig::new(channels, [4, 4])
            .with_stride([2, 2])
            .with_padding([1, 1])
    }
}

/// The 2x up-sampling layer made by [`up_conv`] applied to `x`: the transposed convolution,
/// or with `resize` a nearest-neighbour [`upsample2`] and then the 3x3 one.
pub fn up_conv_forward(conv: &ConvTranspose2d, x: Tensor<4>, resize: bool) -> Tensor<4> {
    let x = if resize { upsample2(x) } else { x };
    flex::conv_transpose2d(conv, x)
}

/// Nearest-neighbour 2x up-sampling: `[n, c, h, w]` -> `[n, c, 2h, 2w]`.
pub fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([n, c, 2 * h, 2 * w])
}

impl UpBlock {
    /// A block from `channels_in` to `channels_out` (`resize`: see the type).
    pub fn new(channels_in: usize, channels_out: usize, resize: bool, device: &Device) -> Self {
        Self {
            conv: up_conv(channels_in, channels_out, resize)
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(channels_out).init(device),
            resize,
        }
    }

    /// # Shapes
    /// - input: `[n, channels_in, s, s]`
    /// - output: `[n, channels_out, 2s, 2s]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = up_conv_forward(&self.conv, x, self.resize);
        flex::batch_norm(&self.norm, x, Activation::Relu)
    }

    /// Output channels.
    pub fn channels_out(&self) -> usize {
        self.norm.gamma.dims()[0]
    }

    /// [`Self::forward`] with a conditional batch norm ([`conditioned_norm`]).
    pub fn forward_conditioned(
        &self,
        x: Tensor<4>,
        scale: Tensor<2>,
        shift: Tensor<2>,
    ) -> Tensor<4> {
        let x = up_conv_forward(&self.conv, x, self.resize);
        conditioned_norm(&self.norm, x, scale, shift)
    }
}

/// Batch norm, then per image and channel `x * (1 + scale) + shift`, then ReLU: conditional
/// batch norm, with `scale` and `shift` `[n, c]` computed from each image's condition.
pub fn conditioned_norm(
    norm: &BatchNorm,
    x: Tensor<4>,
    scale: Tensor<2>,
    shift: Tensor<2>,
) -> Tensor<4> {
    let [n, c] = scale.dims();
    // A LeakyReLU of slope 1 is the identity: the fused kernel's plain batch norm.
    let x = flex::batch_norm(norm, x, Activation::LeakyRelu(1.0));
    let scale = scale.add_scalar(1.0).reshape([n, c, 1, 1]);
    burn::tensor::activation::relu(x * scale + shift.reshape([n, c, 1, 1]))
}

/// Spectral normalisation (Miyato et al. 2018) of a convolution: its weight, seen as a
/// `[c_out, c_in * kh * kw]` matrix, is divided by its largest singular value, estimated by
/// power iteration, so that the layer is 1-Lipschitz. `u` is the estimate of the leading left
/// singular vector: a state, not a trained parameter, carried from step to step (one power
/// iteration per training step, [`SpectralNorm::refresh`]) and saved with the weights.
#[derive(Module, Debug)]
pub struct SpectralNorm {
    u: Param<Tensor<1>>,
}

impl SpectralNorm {
    /// A start for a layer of `channels_out` outputs: the unit vector along all ones.
    pub fn new(channels_out: usize, device: &Device) -> Self {
        let u = Tensor::ones([channels_out], device).div_scalar((channels_out as f32).sqrt());
        Self {
            u: Param::from_tensor(u).set_require_grad(false),
        }
    }

    /// `weight / sigma` with `sigma = u' W v`, `v = W'u / |W'u|`: `u` and `v` are constants,
    /// the gradient flows through `W` (in `sigma` too), as in the paper.
    pub fn normalise(&self, weight: Tensor<4>) -> Tensor<4> {
        let matrix = as_matrix(weight.clone());
        let u = self.u.val().detach();
        let v = right_vector(matrix.clone().detach(), u.clone()); // [m]
        let [m] = v.dims();
        let wv = matrix.matmul(v.reshape([m, 1])); // [c_out, 1]
        let [c_out] = u.dims();
        let sigma = u.reshape([1, c_out]).matmul(wv).reshape([1, 1, 1, 1]);
        weight / sigma
    }

    /// `iterations` power-iteration steps on `weight` from the current `u` (no gradient).
    pub fn refresh(self, weight: Tensor<4>, iterations: usize) -> Self {
        let matrix = as_matrix(weight).detach();
        let mut u = self.u.val().detach();
        for _ in 0..iterations {
            let v = right_vector(matrix.clone(), u);
            let [m] = v.dims();
            let [c_out, _] = matrix.dims();
            u = unit(matrix.clone().matmul(v.reshape([m, 1])).reshape([c_out]));
        }
        Self {
            u: Param::initialized(self.u.id, u).set_require_grad(false),
        }
    }
}

/// `conv` applied to `x`, with its weight spectrally normalised when `spectral` is given.
pub fn spectral_conv2d(conv: &Conv2d, spectral: Option<&SpectralNorm>, x: Tensor<4>) -> Tensor<4> {
    match spectral {
        Some(spectral) => {
            let weight = spectral.normalise(conv.weight.val());
            flex::conv2d_with_weight(conv, weight, x)
        }
        None => flex::conv2d(conv, x),
    }
}

/// A convolution weight `[c_out, c_in, kh, kw]` as the matrix `[c_out, c_in * kh * kw]`.
fn as_matrix(weight: Tensor<4>) -> Tensor<2> {
    let [c_out, c_in, kh, kw] = weight.dims();
    weight.reshape([c_out, c_in * kh * kw])
}

/// `W'u / |W'u|`: `[m]`.
fn right_vector(matrix: Tensor<2>, u: Tensor<1>) -> Tensor<1> {
    let [c_out, m] = matrix.dims();
    unit(u.reshape([1, c_out]).matmul(matrix).reshape([m]))
}

/// `x / |x|` (a zero vector stays zero).
fn unit(x: Tensor<1>) -> Tensor<1> {
    let norm = x.clone().square().sum().sqrt().add_scalar(1e-12);
    x / norm
}

/// Halves the spatial size: Conv(4, stride 2, pad 1) -> [BatchNorm] -> LeakyReLU(0.2); with
/// spectral normalisation (SN-GAN's discriminator) the convolution's weight is normalised
/// and the block has no batch norm.
#[derive(Module, Debug)]
pub struct DownBlock {
    conv: Conv2d,
    norm: Option<BatchNorm>,
    spectral: Option<SpectralNorm>,
}

impl DownBlock {
    /// A block from `channels_in` to `channels_out`; DCGAN leaves the first one unnormalised.
    pub fn new(channels_in: usize, channels_out: usize, normalise: bool, device: &Device) -> Self {
        Self {
            conv: down_conv(channels_in, channels_out, !normalise).init(device),
            norm: normalise.then(|| BatchNormConfig::new(channels_out).init(device)),
            spectral: None,
        }
    }

    /// A spectrally normalised block (with a bias, without batch norm).
    pub fn spectral(channels_in: usize, channels_out: usize, device: &Device) -> Self {
        Self {
            conv: down_conv(channels_in, channels_out, true).init(device),
            norm: None,
            spectral: Some(SpectralNorm::new(channels_out, device)),
        }
    }

    /// # Shapes
    /// - input: `[n, channels_in, s, s]`
    /// - output: `[n, channels_out, s/2, s/2]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = spectral_conv2d(&self.conv, self.spectral.as_ref(), x);
        match &self.norm {
            Some(norm) => flex::batch_norm(norm, x, Activation::LeakyRelu(0.2)),
            None => flex::leaky_relu(x, 0.2),
        }
    }

    /// With spectral normalisation, `iterations` more power-iteration steps on the current
    /// weight (after each update); otherwise the block as it is.
    pub fn refresh_spectral_norm(mut self, iterations: usize) -> Self {
        if let Some(spectral) = self.spectral.take() {
            self.spectral = Some(spectral.refresh(self.conv.weight.val(), iterations));
        }
        self
    }
}

/// The 4x4 stride-2 convolution of a [`DownBlock`].
fn down_conv(channels_in: usize, channels_out: usize, bias: bool) -> Conv2dConfig {
    Conv2dConfig::new([channels_in, channels_out], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(bias)
}

/// Channel widths of a 4-level pyramid from 64x64 down to 4x4: `w, 2w, 4w, 8w`.
pub fn pyramid(width: usize) -> [usize; 4] {
    [width, 2 * width, 4 * width, 8 * width]
}
