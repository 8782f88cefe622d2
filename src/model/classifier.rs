//! A small emoji-category classifier. It is trained once and shipped; its penultimate layer is
//! the feature space in which `eval` measures Frechet distance, precision and recall, since
//! Inception features (the usual choice) cannot be downloaded here and know nothing of emoji.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::blocks::DownBlock;

/// Classifier architecture.
#[derive(Config, Debug, PartialEq)]
pub struct ClassifierConfig {
    /// Number of categories.
    pub num_classes: usize,
    /// Channels of the first block; later blocks have 2x, 4x, 4x.
    #[config(default = 32)]
    pub width: usize,
}

impl ClassifierConfig {
    /// A classifier (burn's default initialisation; trainers use `seeded_init`).
    pub fn init(&self, device: &Device) -> Classifier {
        let w = [self.width, 2 * self.width, 4 * self.width, 4 * self.width];
        let mut blocks = vec![DownBlock::new(3, w[0], false, device)];
        blocks.extend((1..4).map(|i| DownBlock::new(w[i - 1], w[i], true, device)));
        Classifier {
            blocks,
            head: LinearConfig::new(w[3], self.num_classes).init(device),
        }
    }

    /// Length of the feature vector.
    pub fn feature_dim(&self) -> usize {
        4 * self.width
    }
}

/// Image to category logits, with access to the features before the last layer.
#[derive(Module, Debug)]
pub struct Classifier {
    blocks: Vec<DownBlock>,
    head: Linear,
}

impl Classifier {
    /// Globally averaged features of the last block.
    ///
    /// # Shapes
    /// - images: `[n, 3, 64, 64]`
    /// - output: `[n, feature_dim]`
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.blocks.iter().fold(images, |x, block| block.forward(x)); // 64 -> ... -> 4
        x.mean_dims(&[2, 3]).flatten::<2>(1, 3) // [n, c, 1, 1] -> [n, c]
    }

    /// The outputs of the first `depth` blocks (a perceptual loss compares images there:
    /// edges and strokes at 32x32, parts at 16x16, shapes at 8x8).
    ///
    /// # Shapes
    /// - images: `[n, 3, 64, 64]`
    /// - output: `depth` tensors, `[n, c_i, 64 / 2^i, 64 / 2^i]` for i = 1..=depth
    pub fn block_outputs(&self, images: Tensor<4>, depth: usize) -> Vec<Tensor<4>> {
        let mut x = images;
        let mut outputs = Vec::with_capacity(depth);
        for block in self.blocks.iter().take(depth) {
            x = block.forward(x);
            outputs.push(x.clone());
        }
        outputs
    }

    /// # Shapes
    /// - images: `[n, 3, 64, 64]`
    /// - output: `[n, num_classes]` logits
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.logits(self.features(images))
    }

    /// Logits from [`Self::features`]' output (`[n, feature_dim]` to `[n, num_classes]`),
    /// for a caller that needs both.
    pub fn logits(&self, features: Tensor<2>) -> Tensor<2> {
        self.head.forward(features)
    }
}
