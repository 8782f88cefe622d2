//! The networks' convolutions, batch norms (fused with the activation after them) and
//! LeakyReLUs, and the trainers' DiffAugment, with faster kernels on burn's `flex` CPU backend.
//!
//! [`conv2d`], [`conv_transpose2d`] and [`batch_norm`] take burn's own modules (so weights,
//! configs and files are unchanged) and compute the same function as their `forward`, as does
//! [`leaky_relu`]. On a `flex` device, native or in the browser's CPU build, they run the
//! kernels of [`cpu`] through a burn backend extension ([`FastConv`]) with its own backward
//! passes; on any other device (WebGPU), and for layers the kernels do not cover (dilation,
//! groups, uneven padding), they are burn's own.
//!
//! Why: burn 0.22's `flex` computes a convolution's weight gradient as another convolution
//! whose kernel is the output gradient, and differentiates LeakyReLU and training-mode batch
//! norm through chains of small tensor operations with masked selects and transposed copies;
//! together that made a DCGAN training step 2.2-2.7x slower than PyTorch's on the build
//! machine. With these kernels it is about 1.3x (`cargo bench --bench throughput`).

pub mod cpu;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::DispatchTensor;

use cpu::Geometry;

/// Stride and padding, the same on both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Step {
    stride: usize,
    padding: usize,
}

/// The convolutions as a burn backend extension: the forward passes for `flex`, and for
/// `flex` under autodiff with a backward pass made of the same kernels.
#[backend_extension(Flex, Autodiff)]
pub trait FastConv: Backend {
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
    /// [`cpu::augment`]; differentiated with respect to `x` only. burn's version is a dozen
    /// broadcasting tensor operations and a gather.
    fn fast_augment(x: FloatTensor<Self>, params: FloatTensor<Self>) -> FloatTensor<Self>;
}

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
    let stats = Tensor::<2>::from_dispatch(<Dispatch as FastConv>::fast_channel_stats(
        x.clone().detach().into_dispatch(),
    )); // [c, 2]
    let y = Tensor::from_dispatch(<Dispatch as FastConv>::fast_batch_norm_train(
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

/// DiffAugment with [`cpu::AUGMENT_PARAMS`] numbers per image in `params` (see
/// [`cpu::augment`]) on `flex`; elsewhere `burns(x)`, burn's tensor operations for the same.
///
/// # Shapes
/// - x: `[n, c, h, w]`
/// - output: `[n, c, h, w]`
pub fn augment(
    x: Tensor<4>,
    params: Vec<f32>,
    burns: impl FnOnce(Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    if !on_flex_f32(&x) {
        return burns(x);
    }
    let n = x.dims()[0];
    let params = Tensor::<2>::from_data(
        TensorData::new(params, [n, cpu::AUGMENT_PARAMS]),
        &x.device(),
    );
    Tensor::from_dispatch(<Dispatch as FastConv>::fast_augment(
        x.into_dispatch(),
        params.into_dispatch(),
    ))
}

/// LeakyReLU; the same as `burn::tensor::activation::leaky_relu`.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f32) -> Tensor<D> {
    if on_flex_f32(&x) {
        Tensor::from_dispatch(<Dispatch as FastConv>::fast_leaky_relu(
            x.into_dispatch(),
            slope,
        ))
    } else {
        burn::tensor::activation::leaky_relu(x, f64::from(slope))
    }
}

/// Applies a [`Conv2d`] module; the same as `module.forward(x)`.
///
/// # Shapes
/// - x: `[n, c_in, h, w]`
/// - output: `[n, c_out, out_h, out_w]`
pub fn conv2d(module: &Conv2d, x: Tensor<4>) -> Tensor<4> {
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
    let op = <Dispatch as FastConv>::fast_conv2d;
    fast_or_burn(x, module.weight.val(), bias, step, op, |x| {
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
    let op = <Dispatch as FastConv>::fast_conv_transpose2d;
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

/// The geometry of `conv2d(x, weight)`; panics on shapes burn's own conv would also reject.
fn conv_geometry(x: [usize; 4], weight: [usize; 4], step: Step) -> Geometry {
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
fn transpose_geometry(x: [usize; 4], weight: [usize; 4], step: Step) -> Geometry {
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

fn conv_forward(x: &FlexTensor, weight: &FlexTensor, step: Step) -> FlexTensor {
    let (x, weight) = (Host::new(x), Host::new(weight));
    let g = conv_geometry(x.dims, weight.dims, step);
    let [h, w] = g.output().expect("checked by conv_geometry");
    let y = cpu::forward(&g, x.values(), weight.values());
    flex_tensor(y, [g.batch, g.channels_out, h, w])
}

fn transpose_forward(x: &FlexTensor, weight: &FlexTensor, step: Step) -> FlexTensor {
    let (x, weight) = (Host::new(x), Host::new(weight));
    let g = transpose_geometry(x.dims, weight.dims, step);
    let [h, w] = g.input;
    let y = cpu::input_grad(&g, x.values(), weight.values());
    flex_tensor(y, [g.batch, g.channels_in, h, w])
}

fn leaky_relu_forward(x: &FlexTensor, slope: f32) -> FlexTensor {
    let x = Host::flat(x);
    x.like(cpu::leaky_relu(x.values(), slope))
}

/// `[n, c, l]` of a tensor `[n, c, ...]`.
fn planes(x: &FlexTensor) -> [usize; 3] {
    let dims = x.layout().shape().to_vec();
    let (n, c) = (dims[0], dims[1]);
    [n, c, dims[2..].iter().product()]
}

fn channel_stats(x: &FlexTensor) -> FlexTensor {
    let sizes = planes(x);
    let x = Host::flat(x);
    let stats = cpu::channel_stats(x.values(), sizes);
    FlexTensor::from_data(TensorData::new(stats, [sizes[1], 2]))
}

/// The batch norm's tensors, with the activation after it.
struct NormTensors<'a> {
    gamma: &'a FlexTensor,
    beta: &'a FlexTensor,
    stats: &'a FlexTensor,
    epsilon: f32,
    slope: f32,
}

impl NormTensors<'_> {
    /// Runs `f` on the kernels' view of these tensors.
    fn with<R>(&self, f: impl FnOnce(&cpu::Norm) -> R) -> R {
        let [gamma, beta, stats] = [self.gamma, self.beta, self.stats].map(Host::flat);
        f(&cpu::Norm {
            stats: stats.values(),
            gamma: gamma.values(),
            beta: beta.values(),
            epsilon: self.epsilon,
            slope: self.slope,
        })
    }
}

fn batch_norm_forward(x: &FlexTensor, norm: &NormTensors) -> FlexTensor {
    let sizes = planes(x);
    let x = Host::flat(x);
    let y = norm.with(|norm| cpu::batch_norm(x.values(), sizes, norm));
    x.like(y)
}

fn augment_forward(x: &FlexTensor, params: &FlexTensor) -> FlexTensor {
    let (x, params) = (Host::new(x), Host::flat(params));
    x.like(cpu::augment(x.values(), x.dims, params.values()))
}

impl FastConv for Flex {
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

/// Which convolution a [`ConvBackward`] node differentiates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConvKind {
    /// `conv2d(x, w)`: `dx = input_grad(dy, w)`, `dw = weight_grad(x, dy)`.
    Plain,
    /// `conv_transpose2d(x, w)`, the input gradient of a convolution `c` whose output is
    /// shaped like `x`: `dx = c(dy, w)`, `dw` = the weight gradient of `c` at input `dy` and
    /// output gradient `x`.
    Transposed,
}

impl ConvKind {
    fn geometry(self, x: [usize; 4], weight: [usize; 4], step: Step) -> Geometry {
        match self {
            Self::Plain => conv_geometry(x, weight, step),
            Self::Transposed => transpose_geometry(x, weight, step),
        }
    }

    fn forward(self, x: &FlexTensor, weight: &FlexTensor, step: Step) -> FlexTensor {
        match self {
            Self::Plain => conv_forward(x, weight, step),
            Self::Transposed => transpose_forward(x, weight, step),
        }
    }
}

/// Backward of both convolutions.
#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (NodeId, NodeId, Step, ConvKind);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let dy = Host::new(&grads.consume::<Flex>(&ops.node));
        let (x_id, weight_id, step, kind) = ops.state;
        let x = Host::new(&checkpointer.retrieve_node_output::<FlexTensor>(x_id));
        let weight = Host::new(&checkpointer.retrieve_node_output::<FlexTensor>(weight_id));
        let g = kind.geometry(x.dims, weight.dims, step);
        let wanted = [node_x.is_some(), node_weight.is_some()];
        let grads_of = match kind {
            ConvKind::Plain => cpu::conv_grads,
            ConvKind::Transposed => cpu::transpose_grads,
        };
        let (dx, dw) = grads_of(&g, x.values(), dy.values(), weight.values(), wanted);
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, flex_tensor(dx, x.dims));
        }
        if let (Some(node), Some(dw)) = (node_weight, dw) {
            grads.register::<Flex>(node.id, flex_tensor(dw, weight.dims));
        }
    }
}

/// Either convolution on `flex` under autodiff, recorded with a [`ConvBackward`] node.
fn tracked_conv<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    step: Step,
    kind: ConvKind,
) -> FloatTensor<Autodiff<Flex, C>> {
    let y = kind.forward(x.primitive(), weight.primitive(), step);
    match ConvBackward
        .prepare::<C>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            prep.finish((x_state, weight_state, step, kind), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    }
}

/// Backward of `leaky_relu(x)`: `dy` where `x >= 0`, `slope * dy` elsewhere.
#[derive(Debug)]
struct LeakyReluBackward;

impl Backward<Flex, 1> for LeakyReluBackward {
    type State = (NodeId, f32);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let dy = Host::flat(&grads.consume::<Flex>(&ops.node));
        let (x_id, slope) = ops.state;
        if let Some(node) = node_x {
            let x = Host::flat(&checkpointer.retrieve_node_output::<FlexTensor>(x_id));
            let dx = cpu::leaky_relu_grad(x.values(), dy.values(), slope);
            grads.register::<Flex>(node.id, x.like(dx));
        }
    }
}

/// Backward of the training-mode batch norm and its activation; the statistics are an input
/// without a gradient.
#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    /// `x`, `gamma`, `beta`, the statistics, epsilon, slope.
    type State = (NodeId, NodeId, NodeId, FlexTensor, f32, f32);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = Host::flat(&grads.consume::<Flex>(&ops.node));
        let (x_id, gamma_id, beta_id, stats, epsilon, slope) = ops.state;
        let x_tensor = checkpointer.retrieve_node_output::<FlexTensor>(x_id);
        let sizes = planes(&x_tensor);
        let x = Host::flat(&x_tensor);
        let gamma = checkpointer.retrieve_node_output::<FlexTensor>(gamma_id);
        let beta = checkpointer.retrieve_node_output::<FlexTensor>(beta_id);
        let norm = NormTensors {
            gamma: &gamma,
            beta: &beta,
            stats: &stats,
            epsilon,
            slope,
        };
        let (dx, dgamma, dbeta) =
            norm.with(|norm| cpu::batch_norm_grad(x.values(), dy.values(), sizes, norm));
        let gamma = Host::flat(&gamma);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, x.like(dx));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, gamma.like(dgamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, gamma.like(dbeta));
        }
    }
}

/// Backward of DiffAugment, with respect to the images.
#[derive(Debug)]
struct AugmentBackward;

impl Backward<Flex, 1> for AugmentBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = Host::new(&grads.consume::<Flex>(&ops.node));
        if let Some(node) = node_x {
            let params = Host::flat(&ops.state);
            let dx = cpu::augment_grad(dy.values(), dy.dims, params.values());
            grads.register::<Flex>(node.id, dy.like(dx));
        }
    }
}

impl<C: CheckpointStrategy> FastConv for Autodiff<Flex, C> {
    fn fast_augment(x: FloatTensor<Self>, params: FloatTensor<Self>) -> FloatTensor<Self> {
        let y = augment_forward(x.primitive(), params.primitive());
        match AugmentBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(params.primitive().clone(), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fast_channel_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        // A new leaf: the statistics carry no gradient.
        FloatTensor::<Self>::new(channel_stats(x.primitive()))
    }

    fn fast_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f32,
        slope: f32,
    ) -> FloatTensor<Self> {
        let norm = NormTensors {
            gamma: gamma.primitive(),
            beta: beta.primitive(),
            stats: stats.primitive(),
            epsilon,
            slope,
        };
        let y = batch_norm_forward(x.primitive(), &norm);
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let beta_state = prep.checkpoint(&beta);
                let stats = stats.primitive().clone();
                let state = (x_state, gamma_state, beta_state, stats, epsilon, slope);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fast_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self> {
        let y = leaky_relu_forward(x.primitive(), slope);
        match LeakyReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                prep.finish((x_state, slope), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fast_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        tracked_conv::<C>(x, weight, Step { stride, padding }, ConvKind::Plain)
    }

    fn fast_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        tracked_conv::<C>(x, weight, Step { stride, padding }, ConvKind::Transposed)
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use burn::tensor::Distribution;

    use super::*;

    fn max_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

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
