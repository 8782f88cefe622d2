//! Training-mode batch norm fused with the activation after it, on `flex`: one pass for the
//! channel statistics and one for the output, and a backward pass that recomputes the
//! activation's input rather than storing it.

use burn::backend::Dispatch;
use burn::backend::flex::FlexTensor;
use burn::nn::BatchNorm;
use burn::prelude::*;

use super::activation::{gain, leaky_relu};
use super::parallel::for_each_chunk;
use super::{FastOps, Host, on_flex_f32};

/// The activation after a batch norm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `max(z, 0)`.
    Relu,
    /// `z` for positive `z`, `slope * z` elsewhere.
    LeakyRelu(f32),
}

impl Activation {
    /// The slope for negative inputs.
    fn slope(self) -> f32 {
        match self {
            Self::Relu => 0.0,
            Self::LeakyRelu(slope) => slope,
        }
    }

    /// burn's own activation.
    fn burns(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Relu => burn::tensor::activation::relu(x),
            Self::LeakyRelu(slope) => leaky_relu(x, slope),
        }
    }
}

/// Applies a [`BatchNorm`] module and then `activation`; the same as
/// `activation(module.forward(x))`, running statistics included. burn's training-mode batch
/// norm on `flex` is a dozen tensor operations with two transposed copies each way, and the
/// activation two more passes; this is one pass for the statistics and one for the output,
/// and the backward pass recomputes the activation's input rather than storing it.
///
/// # Shapes
/// - x: `[n, c, h, w]`
/// - output: `[n, c, h, w]`
pub fn batch_norm(module: &BatchNorm, x: Tensor<4>, activation: Activation) -> Tensor<4> {
    let device = x.device();
    if !(device.is_autodiff() && module.training.is_enabled() && on_flex_f32(&x)) {
        return activation.burns(module.forward(x));
    }
    let channels = module.gamma.dims()[0];
    let stats = Tensor::<2>::from_dispatch(<Dispatch as FastOps>::fast_channel_stats(
        x.clone().detach().into_dispatch(),
    )); // [c, 2]
    let y = Tensor::from_dispatch(<Dispatch as FastOps>::fast_batch_norm_train(
        x.into_dispatch(),
        module.gamma.val().into_dispatch(),
        module.beta.val().into_dispatch(),
        stats.clone().into_dispatch(),
        module.epsilon as f32,
        activation.slope(),
    ));
    let mean = stats.clone().slice([0..channels, 0..1]).reshape([channels]);
    let variance = stats.slice([0..channels, 1..2]).reshape([channels]);
    let momentum = module.momentum;
    let update = |running: &burn::module::RunningState<Tensor<1>>, batch: Tensor<1>| {
        let value = running.value_sync().to_device(&device);
        running.update(
            value
                .mul_scalar(1.0 - momentum)
                .add(batch.mul_scalar(momentum))
                .detach(),
        );
    };
    update(&module.running_mean, mean);
    update(&module.running_var, variance);
    y
}

/// `[n, c, l]` of a tensor `[n, c, ...]`.
pub(super) fn planes(x: &FlexTensor) -> [usize; 3] {
    let dims = x.layout().shape().to_vec();
    let (n, c) = (dims[0], dims[1]);
    [n, c, dims[2..].iter().product()]
}

pub(super) fn channel_stats(x: &FlexTensor) -> FlexTensor {
    let sizes = planes(x);
    let x = Host::flat(x);
    let stats = channel_stats_kernel(x.values(), sizes);
    FlexTensor::from_data(TensorData::new(stats, [sizes[1], 2]))
}

/// The batch norm's tensors, with the activation after it.
pub(super) struct NormTensors<'a> {
    pub(super) gamma: &'a FlexTensor,
    pub(super) beta: &'a FlexTensor,
    pub(super) stats: &'a FlexTensor,
    pub(super) epsilon: f32,
    pub(super) slope: f32,
}

impl NormTensors<'_> {
    /// Runs `f` on the kernels' view of these tensors.
    pub(super) fn with<R>(&self, f: impl FnOnce(&Norm) -> R) -> R {
        let [gamma, beta, stats] = [self.gamma, self.beta, self.stats].map(Host::flat);
        f(&Norm {
            stats: stats.values(),
            gamma: gamma.values(),
            beta: beta.values(),
            epsilon: self.epsilon,
            slope: self.slope,
        })
    }
}

pub(super) fn batch_norm_forward(x: &FlexTensor, norm: &NormTensors) -> FlexTensor {
    let sizes = planes(x);
    let x = Host::flat(x);
    let y = norm.with(|norm| batch_norm_kernel(x.values(), sizes, norm));
    x.like(y)
}

/// Batch mean and biased variance per channel of `x`, `[n, c, l]` (`l` = pixels per plane):
/// `[mean_0, var_0, mean_1, var_1, ...]`, from one pass of sums in `f64`.
fn channel_stats_kernel(x: &[f32], [n, c, l]: [usize; 3]) -> Vec<f32> {
    let count = (n * l) as f64;
    let mut stats = vec![0.0; 2 * c];
    for_each_chunk(&mut stats, 2, |channel, out| {
        let (mut sum, mut squares) = (0.0, 0.0);
        for i in 0..n {
            let plane = &x[(i * c + channel) * l..][..l];
            let (s, q) = paired_sums(plane, plane, |v, _| (v, v * v));
            sum += s;
            squares += q;
        }
        let mean = sum / count;
        out[0] = mean as f32;
        out[1] = (squares / count - mean * mean).max(0.0) as f32;
    });
    stats
}

/// A training-mode batch norm with its batch statistics, followed by a LeakyReLU:
/// `act((x - mean) / sqrt(var + epsilon) * gamma + beta)` where `act(z)` is `z` for `z > 0`
/// and `slope * z` elsewhere (`slope` 0 is ReLU, 1 no activation).
#[derive(Clone, Copy, Debug)]
pub(super) struct Norm<'a> {
    /// `[mean_0, var_0, mean_1, var_1, ...]` from [`channel_stats`].
    pub stats: &'a [f32],
    /// Scale per channel.
    pub gamma: &'a [f32],
    /// Shift per channel.
    pub beta: &'a [f32],
    /// Added to the variance.
    pub epsilon: f32,
    /// The activation's slope for negative inputs.
    pub slope: f32,
}

impl Norm<'_> {
    /// `(inv_std, scale, shift)` of `channel`: `z = x * scale + shift`.
    fn affine(&self, channel: usize) -> (f32, f32, f32) {
        let (mean, var) = (self.stats[2 * channel], self.stats[2 * channel + 1]);
        let inv_std = 1.0 / (var + self.epsilon).sqrt();
        let scale = self.gamma[channel] * inv_std;
        (inv_std, scale, self.beta[channel] - mean * scale)
    }
}

/// [`Norm`] applied to `x`, `[n, c, l]`.
fn batch_norm_kernel(x: &[f32], [n, c, l]: [usize; 3], norm: &Norm) -> Vec<f32> {
    let mut y = vec![0.0; n * c * l];
    for_each_chunk(&mut y, l, |plane, out| {
        let (_, scale, shift) = norm.affine(plane % c);
        let slope = norm.slope;
        for (y, x) in out.iter_mut().zip(&x[plane * l..][..l]) {
            let z = x * scale + shift;
            *y = z * gain(z, slope);
        }
    });
    y
}

/// Gradients of [`batch_norm`] (through the activation, and with the statistics' dependence
/// on `x`) given `dy`: `(dx, dgamma, dbeta)`. The activation's input is recomputed from `x`.
pub(super) fn batch_norm_grad(
    x: &[f32],
    dy: &[f32],
    [n, c, l]: [usize; 3],
    norm: &Norm,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    // Per channel: sum of dz (= dbeta) and of dz * x_hat (= dgamma).
    let mut sums = vec![0.0; 2 * c];
    for_each_chunk(&mut sums, 2, |channel, out| {
        let (mean, slope) = (norm.stats[2 * channel], norm.slope);
        let (inv_std, scale, shift) = norm.affine(channel);
        let (mut sum_dz, mut sum_dz_xhat) = (0.0, 0.0);
        for i in 0..n {
            let offset = (i * c + channel) * l;
            let (s, q) = paired_sums(&x[offset..][..l], &dy[offset..][..l], |x, dy| {
                let dz = dy * gain(x * scale + shift, slope);
                (dz, dz * (x - mean) * inv_std)
            });
            sum_dz += s;
            sum_dz_xhat += q;
        }
        out[0] = sum_dz as f32;
        out[1] = sum_dz_xhat as f32;
    });
    let count = (n * l) as f32;
    let mut dx = vec![0.0; n * c * l];
    for_each_chunk(&mut dx, l, |plane, out| {
        let channel = plane % c;
        let (mean, slope) = (norm.stats[2 * channel], norm.slope);
        let (inv_std, scale, shift) = norm.affine(channel);
        let (sum_dz, sum_dz_xhat) = (sums[2 * channel], sums[2 * channel + 1]);
        let factor = scale / count;
        let offset = plane * l;
        for ((dx, x), dy) in out
            .iter_mut()
            .zip(&x[offset..][..l])
            .zip(&dy[offset..][..l])
        {
            let dz = dy * gain(x * scale + shift, slope);
            let x_hat = (x - mean) * inv_std;
            *dx = factor * (count * dz - sum_dz - x_hat * sum_dz_xhat);
        }
    });
    let dbeta = (0..c).map(|channel| sums[2 * channel]).collect();
    let dgamma = (0..c).map(|channel| sums[2 * channel + 1]).collect();
    (dx, dgamma, dbeta)
}

/// Both sums of `f(a[i], b[i])` over `i`, in eight `f32` lanes (which vectorise; one
/// accumulator would chain every addition) added up in `f64`. Planes here hold at most a few
/// thousand values, so the lanes' rounding stays near `f32` precision.
fn paired_sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    const LANES: usize = 8;
    let (mut first, mut second) = ([0.0f32; LANES], [0.0f32; LANES]);
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (a, b) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            let (u, v) = f(a[lane], b[lane]);
            first[lane] += u;
            second[lane] += v;
        }
    }
    let mut sums = (0.0, 0.0);
    for (u, v) in first.into_iter().zip(second) {
        sums = (sums.0 + f64::from(u), sums.1 + f64::from(v));
    }
    for (a, b) in a_rest.iter().zip(b_rest) {
        let (u, v) = f(*a, *b);
        sums = (sums.0 + f64::from(u), sums.1 + f64::from(v));
    }
    sums
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::backend::flex::tests::max_difference;

    #[test]
    fn batch_norm_matches_burn_on_flex_with_gradients_and_running_statistics() {
        use burn::nn::BatchNormConfig;
        use burn::tensor::activation;
        let device = Device::flex().autodiff();
        for activation in [Activation::Relu, Activation::LeakyRelu(0.2)] {
            let (ours, burns) = (
                BatchNormConfig::new(3).init(&device),
                BatchNormConfig::new(3).init(&device),
            );
            // Away from zero mean, so the statistics' rounding is exercised too.
            let x = Tensor::<4>::random([4, 3, 5, 5], Distribution::Default, &device)
                .mul_scalar(3.0)
                .require_grad();
            assert!(on_flex_f32(&x));
            let a = batch_norm(&ours, x.clone(), activation);
            let b = match activation {
                Activation::Relu => activation::relu(burns.forward(x.clone())),
                Activation::LeakyRelu(slope) => {
                    activation::leaky_relu(burns.forward(x.clone()), f64::from(slope))
                }
            };
            assert!(
                max_difference(a.clone(), b.clone()) < 1e-4,
                "{activation:?}: outputs differ"
            );
            let mix = Tensor::<4>::random(a.dims(), Distribution::Default, &device);
            let grads_a = (a * mix.clone()).sum().backward();
            let grads_b = (b * mix).sum().backward();
            let (ga, gb) = (x.grad(&grads_a), x.grad(&grads_b));
            assert!(max_difference(ga.expect("grad"), gb.expect("grad")) < 1e-4);
            for (pa, pb) in [(&ours.gamma, &burns.gamma), (&ours.beta, &burns.beta)] {
                let (ga, gb) = (pa.val().grad(&grads_a), pb.val().grad(&grads_b));
                assert!(max_difference(ga.expect("grad"), gb.expect("grad")) < 1e-4);
            }
            for (ra, rb) in [
                (&ours.running_mean, &burns.running_mean),
                (&ours.running_var, &burns.running_var),
            ] {
                assert!(max_difference(ra.value_sync(), rb.value_sync()) < 1e-5);
            }
        }
    }
}
