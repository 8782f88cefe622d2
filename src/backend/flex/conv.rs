//! Convolutions and transposed convolutions of burn's own modules on `flex`: the layers the
//! kernels of [`super::im2col`] cover (square stride and padding, no dilation, one group) run
//! there, the rest through burn's `forward`.

use burn::backend::Dispatch;
use burn::backend::flex::FlexTensor;
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::DispatchTensor;

use super::im2col::{self, Geometry};
use super::{FastOps, Host, flex_tensor, on_flex_f32};

/// Stride and padding, the same on both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Step {
    pub(super) stride: usize,
    pub(super) padding: usize,
}

/// Applies a [`Conv2d`] module; the same as `module.forward(x)`.
///
/// # Shapes
/// - x: `[n, c_in, h, w]`
/// - output: `[n, c_out, out_h, out_w]`
pub fn conv2d(module: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_with_weight(module, module.weight.val(), x)
}

/// [`conv2d`] with `weight` in place of the module's own (a spectrally normalised one, say);
/// the module gives the bias, stride and padding.
///
/// # Shapes
/// - weight: the shape of the module's, `[c_out, c_in, kh, kw]`
pub fn conv2d_with_weight(module: &Conv2d, weight: Tensor<4>, x: Tensor<4>) -> Tensor<4> {
    let padding = match module.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right)
            if top == left && top == bottom && top == right =>
        {
            Some(top)
        }
        PaddingConfig2d::Valid => Some(0),
        _ => None,
    };
    let step =
        padding.and_then(|padding| plain(module.stride, module.dilation, module.groups, padding));
    let bias = module.bias.as_ref().map(|b| b.val());
    let op = <Dispatch as FastOps>::fast_conv2d;
    fast_or_burn(x, weight.clone(), bias, step, op, |x| {
        let mut module = module.clone();
        module.weight = Param::initialized(module.weight.id, weight);
        module.forward(x)
    })
}

/// Applies a [`ConvTranspose2d`] module; the same as `module.forward(x)`.
///
/// # Shapes
/// - x: `[n, c_in, h, w]`
/// - output: `[n, c_out, (h-1)*stride - 2*padding + kh, ...]`
pub fn conv_transpose2d(module: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let step = (module.padding[0] == module.padding[1] && module.padding_out == [0, 0])
        .then(|| {
            plain(
                module.stride,
                module.dilation,
                module.groups,
                module.padding[0],
            )
        })
        .flatten();
    let bias = module.bias.as_ref().map(|b| b.val());
    let op = <Dispatch as FastOps>::fast_conv_transpose2d;
    fast_or_burn(x, module.weight.val(), bias, step, op, |x| {
        module.forward(x)
    })
}

/// `op(x, weight) + bias` where the kernels cover the layer (`step`) and `x` is on `flex`,
/// otherwise `burns(x)`.
fn fast_or_burn(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    step: Option<Step>,
    op: fn(DispatchTensor, DispatchTensor, usize, usize) -> DispatchTensor,
    burns: impl FnOnce(Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let Some(step) = step.filter(|_| on_flex_f32(&x)) else {
        return burns(x);
    };
    let y = Tensor::from_dispatch(op(
        x.into_dispatch(),
        weight.into_dispatch(),
        step.stride,
        step.padding,
    ));
    match bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            y + bias.reshape([1, channels, 1, 1]) // [1, c_out, 1, 1]
        }
        None => y,
    }
}

/// The stride and padding when the kernels cover this layer: square stride, no dilation, one
/// group.
fn plain(stride: [usize; 2], dilation: [usize; 2], groups: usize, padding: usize) -> Option<Step> {
    (stride[0] == stride[1] && stride[0] > 0 && dilation == [1, 1] && groups == 1).then_some(Step {
        stride: stride[0],
        padding,
    })
}

/// The geometry of `conv2d(x, weight)`; panics on shapes burn's own conv would also reject.
pub(super) fn conv_geometry(x: [usize; 4], weight: [usize; 4], step: Step) -> Geometry {
    assert_eq!(x[1], weight[1], "conv2d: input channels of x and weight");
    let g = Geometry {
        batch: x[0],
        channels_in: x[1],
        input: [x[2], x[3]],
        channels_out: weight[0],
        kernel: [weight[2], weight[3]],
        stride: step.stride,
        padding: step.padding,
    };
    assert!(
        g.output().is_some(),
        "conv2d: kernel larger than the padded input"
    );
    g
}

/// The transposed convolution of `x` is the input gradient of the convolution whose output
/// has the shape of `x`: this is that convolution's geometry.
pub(super) fn transpose_geometry(x: [usize; 4], weight: [usize; 4], step: Step) -> Geometry {
    assert_eq!(
        x[1], weight[0],
        "conv_transpose2d: input channels of x and weight"
    );
    let size = |input: usize, kernel: usize| {
        ((input - 1) * step.stride + kernel)
            .checked_sub(2 * step.padding)
            .expect("conv_transpose2d: padding larger than the output")
    };
    Geometry {
        batch: x[0],
        channels_in: weight[1],
        input: [size(x[2], weight[2]), size(x[3], weight[3])],
        channels_out: x[1],
        kernel: [weight[2], weight[3]],
        stride: step.stride,
        padding: step.padding,
    }
}

pub(super) fn conv_forward(x: &FlexTensor, weight: &FlexTensor, step: Step) -> FlexTensor {
    let (x, weight) = (Host::new(x), Host::new(weight));
    let g = conv_geometry(x.dims, weight.dims, step);
    let [h, w] = g.output().expect("checked by conv_geometry");
    let y = im2col::forward(&g, x.values(), weight.values());
    flex_tensor(y, [g.batch, g.channels_out, h, w])
}

pub(super) fn transpose_forward(x: &FlexTensor, weight: &FlexTensor, step: Step) -> FlexTensor {
    let (x, weight) = (Host::new(x), Host::new(weight));
    let g = transpose_geometry(x.dims, weight.dims, step);
    let [h, w] = g.input;
    let y = im2col::input_grad(&g, x.values(), weight.values());
    flex_tensor(y, [g.batch, g.channels_in, h, w])
}

/// Which convolution a [`ConvBackward`] node differentiates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ConvKind {
    /// `conv2d(x, w)`: `dx = input_grad(dy, w)`, `dw = weight_grad(x, dy)`.
    Plain,
    /// `conv_transpose2d(x, w)`, the input gradient of a convolution `c` whose output is
    /// shaped like `x`: `dx = c(dy, w)`, `dw` = the weight gradient of `c` at input `dy` and
    /// output gradient `x`.
    Transposed,
}

impl ConvKind {
    pub(super) fn geometry(self, x: [usize; 4], weight: [usize; 4], step: Step) -> Geometry {
        match self {
            Self::Plain => conv_geometry(x, weight, step),
            Self::Transposed => transpose_geometry(x, weight, step),
        }
    }

    pub(super) fn forward(self, x: &FlexTensor, weight: &FlexTensor, step: Step) -> FlexTensor {
        match self {
            Self::Plain => conv_forward(x, weight, step),
            Self::Transposed => transpose_forward(x, weight, step),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use burn::tensor::Distribution;

    use super::*;
    use crate::backend::flex::tests::max_difference;

    /// Output and the gradients of `x`, the weight and the bias agree between `ours` and
    /// `burns` under autodiff on `flex`, for a loss that weights every output differently.
    fn assert_same_as_burn(
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Option<Tensor<1>>,
        ours: impl Fn(Tensor<4>) -> Tensor<4>,
        burns: impl Fn(Tensor<4>) -> Tensor<4>,
    ) {
        assert!(
            on_flex_f32(&x),
            "the kernels, not burn's conv, are under test"
        );
        let (a, b) = (ours(x.clone()), burns(x.clone()));
        assert!(
            max_difference(a.clone(), b.clone()) < 1e-4,
            "outputs differ"
        );
        let mix = Tensor::<4>::random(a.dims(), Distribution::Default, &x.device());
        let grads_a = (a * mix.clone()).sum().backward();
        let grads_b = (b * mix).sum().backward();
        for t in [&x, &weight] {
            let (ga, gb) = (t.grad(&grads_a), t.grad(&grads_b));
            assert!(max_difference(ga.expect("grad"), gb.expect("grad")) < 1e-4);
        }
        if let Some(bias) = bias {
            let (ga, gb) = (bias.grad(&grads_a), bias.grad(&grads_b));
            assert!(max_difference(ga.expect("grad"), gb.expect("grad")) < 1e-4);
        }
    }

    #[test]
    fn conv2d_matches_burn_on_flex_with_gradients() {
        let device = Device::flex().autodiff();
        for (stride, padding, size, bias) in [(2, 1, 8, false), (1, 0, 4, true), (2, 2, 7, true)] {
            let module = Conv2dConfig::new([3, 5], [4, 4])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(
                    padding, padding, padding, padding,
                ))
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random([2, 3, size, size], Distribution::Default, &device);
            assert_same_as_burn(
                x.require_grad(),
                module.weight.val(),
                module.bias.as_ref().map(|b| b.val()),
                |x| conv2d(&module, x),
                |x| module.forward(x),
            );
        }
    }

    #[test]
    fn conv_transpose2d_matches_burn_on_flex_with_gradients() {
        let device = Device::flex().autodiff();
        for (stride, padding, size, bias) in [(2, 1, 4, false), (1, 0, 1, true), (2, 2, 5, true)] {
            let module = ConvTranspose2dConfig::new([4, 3], [4, 4])
                .with_stride([stride, stride])
                .with_padding([padding, padding])
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random([2, 4, size, size], Distribution::Default, &device);
            assert_same_as_burn(
                x.require_grad(),
                module.weight.val(),
                module.bias.as_ref().map(|b| b.val()),
                |x| conv_transpose2d(&module, x),
                |x| module.forward(x),
            );
        }
    }

    #[test]
    fn layers_outside_the_kernels_fall_back_to_burn() {
        let device = Device::flex();
        let dilated = Conv2dConfig::new([2, 2], [3, 3])
            .with_dilation([2, 2])
            .init(&device);
        let x = Tensor::<4>::random([1, 2, 9, 9], Distribution::Default, &device);
        let difference = max_difference(conv2d(&dilated, x.clone()), dilated.forward(x));
        assert_eq!(difference, 0.0);
    }
}
