//! LeakyReLU on `flex`: one branch-free pass forward and one backward, where burn's autodiff
//! builds it from a comparison and two masked selects.

use burn::backend::Dispatch;
use burn::backend::flex::FlexTensor;
use burn::prelude::*;

use super::parallel::{ELEMENTWISE_CHUNK, for_each_chunk};
use super::{FastOps, Host, on_flex_f32};

/// LeakyReLU; the same as `burn::tensor::activation::leaky_relu`.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f32) -> Tensor<D> {
    if on_flex_f32(&x) {
        Tensor::from_dispatch(<Dispatch as FastOps>::fast_leaky_relu(
            x.into_dispatch(),
            slope,
        ))
    } else {
        burn::tensor::activation::leaky_relu(x, f64::from(slope))
    }
}

pub(super) fn leaky_relu_forward(x: &FlexTensor, slope: f32) -> FlexTensor {
    let x = Host::flat(x);
    x.like(leaky_relu_kernel(x.values(), slope))
}

/// LeakyReLU: `x` where `x > 0`, `slope * x` elsewhere.
pub(super) fn leaky_relu_kernel(x: &[f32], slope: f32) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    for_each_chunk(&mut y, ELEMENTWISE_CHUNK, |i, out| {
        let src = &x[i * ELEMENTWISE_CHUNK..][..out.len()];
        for (y, x) in out.iter_mut().zip(src) {
            *y = *x * gain(*x, slope);
        }
    });
    y
}

/// Gradient of [`leaky_relu_kernel`] at `x` given the output gradient `dy`.
pub(super) fn leaky_relu_grad(x: &[f32], dy: &[f32], slope: f32) -> Vec<f32> {
    let mut dx = vec![0.0; x.len()];
    for_each_chunk(&mut dx, ELEMENTWISE_CHUNK, |i, out| {
        let start = i * ELEMENTWISE_CHUNK;
        let (x, dy) = (&x[start..][..out.len()], &dy[start..][..out.len()]);
        for ((dx, x), dy) in out.iter_mut().zip(x).zip(dy) {
            *dx = *dy * gain(*x, slope);
        }
    });
    dx
}

/// The derivative of a LeakyReLU with `slope` at `z`: 1 where `z > 0`, `slope` elsewhere.
/// Written as a select between two values, which compiles to a vector blend; an `if` around a
/// multiplication compiled to a branch that mispredicted on every other value.
#[inline(always)]
pub(super) fn gain(z: f32, slope: f32) -> f32 {
    if z > 0.0 { 1.0 } else { slope }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::backend::flex::tests::max_difference;

    #[test]
    fn leaky_relu_matches_burn_on_flex_with_gradients() {
        let device = Device::flex().autodiff();
        let x = Tensor::<3>::random([2, 3, 5], Distribution::Default, &device)
            .sub_scalar(0.5)
            .require_grad();
        assert!(on_flex_f32(&x));
        let (a, b) = (
            leaky_relu(x.clone(), 0.2),
            burn::tensor::activation::leaky_relu(x.clone(), 0.2),
        );
        assert!(max_difference(a.clone(), b.clone()) < 1e-6);
        let mix = Tensor::<3>::random(a.dims(), Distribution::Default, &device);
        let grads_a = (a * mix.clone()).sum().backward();
        let grads_b = (b * mix).sum().backward();
        let (ga, gb) = (x.grad(&grads_a), x.grad(&grads_b));
        assert!(max_difference(ga.expect("grad"), gb.expect("grad")) < 1e-6);
    }
}
