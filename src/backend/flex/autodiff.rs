//! The kernels under burn's autodiff: one backward node per op, made of the same kernels (the
//! adjoints of the forward passes), and the extension trait for `Autodiff<Flex>`.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};

use super::activation::{self, leaky_relu_forward};
use super::augment::{self, augment_forward};
use super::conv::{ConvKind, Step};
use super::im2col;
use super::norm::{self, NormTensors, batch_norm_forward, channel_stats, planes};
use super::{FastOps, Host, flex_tensor};

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
            ConvKind::Plain => im2col::conv_grads,
            ConvKind::Transposed => im2col::transpose_grads,
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
            let dx = activation::leaky_relu_grad(x.values(), dy.values(), slope);
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
            norm.with(|norm| norm::batch_norm_grad(x.values(), dy.values(), sizes, norm));
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
            let dx = augment::augment_grad(dy.values(), dy.dims, params.values());
            grads.register::<Flex>(node.id, dy.like(dx));
        }
    }
}

impl<C: CheckpointStrategy> FastOps for Autodiff<Flex, C> {
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
