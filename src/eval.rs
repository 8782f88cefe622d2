//! Sample-quality metrics in the feature space of the shipped emoji classifier:
//!
//! - **Frechet distance** (Heusel et al. 2017, the "FID" formula): fit a Gaussian to each set
//!   of features and compute `|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`. Lower is better;
//!   0 means identical first and second moments. Inception features (FID proper) cannot be
//!   downloaded here and know nothing about emoji, so the numbers are comparable only with
//!   other numbers from the same classifier ("FD-emoji").
//! - **KID** (Binkowski et al. 2018): the unbiased estimate of the squared maximum mean
//!   discrepancy with the cubic polynomial kernel `(x.y / d + 1)^3`, averaged over random
//!   subsets, with the subsets' standard deviation as its spread. Unlike FD it has no bias
//!   that grows as the sample count shrinks, so small sets (few-shot targets) can be compared.
//! - **Precision and recall** (Kynkaanniemi et al. 2019): each set's manifold is the union of
//!   balls around its points reaching their k-th nearest neighbour. Precision is the share of
//!   generated points inside the real manifold (fidelity), recall the share of real points
//!   inside the generated manifold (diversity).

use std::collections::BTreeMap;

use burn::prelude::*;

use crate::backend::read_f32;
use crate::image::{self, Rgb64};
use crate::latent::SplitMix64;
use crate::linalg::{matmul, mean_cov, symmetric_eigen};
use crate::model::{Classifier, LatentModel};
use crate::report::classify;
use crate::{Error, Result};

/// Neighbours that define the manifold radius (the paper's default).
pub const K_NEAREST: usize = 3;

/// Scores of one generated set against one real set.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scores {
    /// Frechet distance in classifier feature space (lower is better).
    pub frechet_distance: f64,
    /// Share of generated samples on the real manifold.
    pub precision: f64,
    /// Share of real samples on the generated manifold.
    pub recall: f64,
    /// Kernel inception distance in classifier feature space (lower is better; 0 in
    /// expectation for one distribution).
    pub kid: f64,
    /// Standard deviation of KID over its subsets.
    pub kid_spread: f64,
}

/// Features of `images`, `[n][dim]`, computed in batches.
pub async fn features_of_images(
    classifier: &Classifier,
    images: &[&Rgb64],
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(128) {
        let f = classifier.features(image::to_tensor(chunk, device));
        let dim = f.dims()[1];
        out.extend(read_f32(f).await?.chunks(dim).map(|c| c.to_vec()));
    }
    Ok(out)
}

/// Features of generated images given as a `[n, 3, 64, 64]` tensor.
pub async fn features_of_tensor(
    classifier: &Classifier,
    images: Tensor<4>,
) -> Result<Vec<Vec<f32>>> {
    let f = classifier.features(images);
    let dim = f.dims()[1];
    Ok(read_f32(f).await?.chunks(dim).map(|c| c.to_vec()).collect())
}

/// Features of `n` images sampled from `model`, seeds `first_seed` onwards, in batches.
pub async fn features_of_samples(
    classifier: &Classifier,
    model: &LatentModel,
    n: usize,
    first_seed: u64,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(128) {
        let images = model.sample(128.min(n - start), first_seed + start as u64)?;
        out.extend(features_of_tensor(classifier, images).await?);
    }
    Ok(out)
}

/// How often a classifier is right on a labelled set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accuracy {
    /// Share of all the images put in their class.
    pub overall: f64,
    /// The same share within each class present, averaged over those classes (what a
    /// generator's "classified as asked" is read against when it is asked for every class
    /// equally often).
    pub mean_of_classes: f64,
}

/// How often `classifier` puts `labelled` images in their class.
pub async fn accuracy(
    classifier: &Classifier,
    labelled: &[(&Rgb64, usize)],
    device: &Device,
) -> Result<Accuracy> {
    // Per class: (right, seen).
    let mut per_class: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for chunk in labelled.chunks(128) {
        let images: Vec<&Rgb64> = chunk.iter().map(|e| e.0).collect();
        let predicted = classify(classifier, image::to_tensor(&images, device)).await?;
        for (p, e) in predicted.iter().zip(chunk) {
            let entry = per_class.entry(e.1).or_default();
            entry.0 += usize::from(*p == e.1);
            entry.1 += 1;
        }
    }
    let right: usize = per_class.values().map(|c| c.0).sum();
    let shares = per_class.values().map(|(r, n)| *r as f64 / *n as f64);
    Ok(Accuracy {
        overall: right as f64 / labelled.len().max(1) as f64,
        mean_of_classes: shares.sum::<f64>() / per_class.len().max(1) as f64,
    })
}

/// All three scores of `generated` against `real`; each set needs more than
/// [`K_NEAREST`] points.
pub fn score(real: &[Vec<f32>], generated: &[Vec<f32>]) -> Result<Scores> {
    for (name, set) in [("real", real), ("generated", generated)] {
        if set.len() <= K_NEAREST {
            return Err(Error::Config(format!(
                "the {name} set has {} images; scoring needs more than {K_NEAREST}",
                set.len()
            )));
        }
    }
    let (precision, recall) = precision_recall(real, generated, K_NEAREST);
    // Subsets of at most half the smaller set, so that they differ and their spread means
    // something.
    let size = KID_SUBSET_SIZE.min(real.len().min(generated.len()) / 2);
    let (kid, kid_spread) = kernel_distance(real, generated, KID_SUBSETS, size);
    Ok(Scores {
        frechet_distance: frechet_distance(real, generated),
        precision,
        recall,
        kid,
        kid_spread,
    })
}

/// Subsets KID averages over, and their largest size: the values of Binkowski et al.'s
/// reference code.
const KID_SUBSETS: usize = 100;
const KID_SUBSET_SIZE: usize = 1000;

/// KID of `b` against `a`: the mean and standard deviation, over `subsets` random subsets of
/// `size` points from each set (all of the smaller set when it has fewer), of the unbiased
/// MMD^2 with the kernel `(x.y / d + 1)^3`. Subsets are drawn from a fixed seed.
pub fn kernel_distance(a: &[Vec<f32>], b: &[Vec<f32>], subsets: usize, size: usize) -> (f64, f64) {
    let size = size.min(a.len()).min(b.len());
    if size < 2 || subsets == 0 {
        return (f64::NAN, f64::NAN);
    }
    let d = a[0].len() as f64;
    let kernel = |x: &[f32], y: &[f32]| {
        let dot: f64 = x
            .iter()
            .zip(y)
            .map(|(u, v)| f64::from(*u) * f64::from(*v))
            .sum();
        (dot / d + 1.0).powi(3)
    };
    let mut rng = SplitMix64::new(0x4B1D);
    let mut pick = |set: &[Vec<f32>]| {
        let mut idx: Vec<usize> = (0..set.len()).collect();
        rng.shuffle(&mut idx);
        idx.truncate(size);
        idx
    };
    let m = size as f64;
    let values: Vec<f64> = (0..subsets)
        .map(|_| {
            let (ia, ib) = (pick(a), pick(b));
            let mut within = 0.0;
            let mut across = 0.0;
            for (i, (&p, &q)) in ia.iter().zip(&ib).enumerate() {
                for (&p2, &q2) in ia[i + 1..].iter().zip(&ib[i + 1..]) {
                    within += 2.0 * (kernel(&a[p], &a[p2]) + kernel(&b[q], &b[q2]));
                }
                across += ib.iter().map(|&q2| kernel(&a[p], &b[q2])).sum::<f64>();
            }
            within / (m * (m - 1.0)) - 2.0 * across / (m * m)
        })
        .collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    (mean, variance.sqrt())
}

/// Frechet distance between Gaussians fitted to two feature sets.
///
/// `tr((S1 S2)^(1/2))` is computed as the sum of square roots of the eigenvalues of the
/// symmetric matrix `S1^(1/2) S2 S1^(1/2)`, which has the same spectrum as `S1 S2`.
pub fn frechet_distance(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let (m1, s1) = mean_cov(a);
    let (m2, s2) = mean_cov(b);
    let d = m1.len();
    let (w, v) = symmetric_eigen(s1.clone());
    // S1^(1/2) = V diag(sqrt(w)) V^T
    let mut root = vec![vec![0.0; d]; d];
    for i in 0..d {
        for j in 0..d {
            root[i][j] = (0..d)
                .map(|k| v[i][k] * w[k].max(0.0).sqrt() * v[j][k])
                .sum();
        }
    }
    let inner = matmul(&matmul(&root, &s2), &root);
    let (w2, _) = symmetric_eigen(inner);
    let tr_sqrt: f64 = w2.iter().map(|x| x.max(0.0).sqrt()).sum();
    let mean_term: f64 = m1.iter().zip(&m2).map(|(x, y)| (x - y).powi(2)).sum();
    let trace: f64 = (0..d).map(|i| s1[i][i] + s2[i][i]).sum();
    (mean_term + trace - 2.0 * tr_sqrt).max(0.0)
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Squared distance of each point to its k-th nearest other point of the same set.
fn knn_radii(x: &[Vec<f32>], k: usize) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(i, a)| {
            let mut d: Vec<f32> = x
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| sq_dist(a, b))
                .collect();
            let k = k.min(d.len()).max(1) - 1;
            d.select_nth_unstable_by(k, |p, q| p.total_cmp(q));
            d[k]
        })
        .collect()
}

fn coverage(manifold: &[Vec<f32>], radii: &[f32], queries: &[Vec<f32>]) -> f64 {
    let inside = queries
        .iter()
        .filter(|q| manifold.iter().zip(radii).any(|(m, r)| sq_dist(q, m) <= *r))
        .count();
    inside as f64 / queries.len().max(1) as f64
}

/// Improved precision and recall with `k`-nearest-neighbour manifolds.
pub fn precision_recall(real: &[Vec<f32>], generated: &[Vec<f32>], k: usize) -> (f64, f64) {
    let real_radii = knn_radii(real, k);
    let gen_radii = knn_radii(generated, k);
    (
        coverage(real, &real_radii, generated),
        coverage(generated, &gen_radii, real),
    )
}

/// A memorisation check: the median distance from each of `generated` to its nearest
/// `training` image, over the same median for `held_out` real images (which are new to the
/// model by construction). Near 1 or above: samples are as new as unseen real images; well
/// below 1: samples sit on top of training images (copies).
pub fn copy_ratio(training: &[Vec<f32>], generated: &[Vec<f32>], held_out: &[Vec<f32>]) -> f64 {
    let median_nearest = |queries: &[Vec<f32>]| {
        let mut d: Vec<f32> = queries
            .iter()
            .map(|q| {
                training
                    .iter()
                    .map(|t| sq_dist(q, t))
                    .fold(f32::INFINITY, f32::min)
                    .sqrt()
            })
            .collect();
        if d.is_empty() {
            return f64::NAN;
        }
        let mid = d.len() / 2;
        *d.select_nth_unstable_by(mid, f32::total_cmp).1 as f64
    };
    median_nearest(generated) / median_nearest(held_out)
}

/// A sharpness yardstick with no learned network in it: the mean squared difference between
/// neighbouring pixels (across and down, every channel) of `images`, row-major
/// `[n, 3, 64, 64]`. Blurring lowers it. The ratio of two sets' (samples over real emoji,
/// reconstructions over their originals) is 1 when they are as sharp, below 1 when blurrier,
/// above 1 with edges or texture the real images lack.
pub fn edge_energy(images: &[f32]) -> f64 {
    const SIDE: usize = image::IMAGE_SIZE;
    let (mut sum, mut count) = (0.0f64, 0usize);
    for plane in images.chunks_exact(SIDE * SIDE) {
        for y in 0..SIDE {
            for x in 0..SIDE {
                let v = plane[y * SIDE + x];
                if x + 1 < SIDE {
                    sum += f64::from(plane[y * SIDE + x + 1] - v).powi(2);
                    count += 1;
                }
                if y + 1 < SIDE {
                    sum += f64::from(plane[(y + 1) * SIDE + x] - v).powi(2);
                    count += 1;
                }
            }
        }
    }
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

/// A speckle yardstick with no learned network in it: how much fine texture `images`
/// (row-major `[n, 3, 64, 64]`, values in [-1, 1]) have where they should be flat. Each plane
/// is smoothed by a 3x3 box; a pixel counts as flat fill when the smoothed plane changes by
/// less than 0.1 to any neighbour two pixels away (edges and shading gradients do not count);
/// the score is the mean squared difference between the plane and its smoothing over the
/// flat pixels. Real emoji's fills are flat (near 0); grain, speckle and checkerboards raise
/// it, blur does not. `NAN` when no pixel is flat.
pub fn flat_grain(images: &[f32]) -> f64 {
    const SIDE: usize = image::IMAGE_SIZE;
    const FLAT: f32 = 0.1;
    let (mut sum, mut count) = (0.0f64, 0usize);
    for plane in images.chunks_exact(SIDE * SIDE) {
        let smooth = box_smooth(plane);
        for y in 0..SIDE as i64 {
            for x in 0..SIDE as i64 {
                let here = at(&smooth, y, x);
                let flat = [(2, 0), (-2, 0), (0, 2), (0, -2)]
                    .iter()
                    .all(|(dy, dx)| (at(&smooth, y + dy, x + dx) - here).abs() < FLAT);
                if flat {
                    sum += f64::from(at(plane, y, x) - here).powi(2);
                    count += 1;
                }
            }
        }
    }
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

/// The value of `plane` (`IMAGE_SIZE` square, row-major) at `(y, x)`, clamped to its edges.
fn at(plane: &[f32], y: i64, x: i64) -> f32 {
    let side = image::IMAGE_SIZE as i64;
    plane[(y.clamp(0, side - 1) * side + x.clamp(0, side - 1)) as usize]
}

/// `plane` (`IMAGE_SIZE` square, row-major) smoothed by a 3x3 box, clamped at its edges.
fn box_smooth(plane: &[f32]) -> Vec<f32> {
    let side = image::IMAGE_SIZE as i64;
    (0..side * side)
        .map(|i| {
            let (y, x) = (i / side, i % side);
            let mut total = 0.0;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    total += at(plane, y + dy, x + dx);
                }
            }
            total / 9.0
        })
        .collect()
}

/// The pixels (planar, in `[-1, 1]`, one image after another) of `n` images sampled from
/// `model`, seeds `first_seed` onwards.
pub async fn pixels_of_samples(model: &LatentModel, n: usize, first_seed: u64) -> Result<Vec<f32>> {
    let mut values = Vec::with_capacity(n * image::RGB_LEN);
    for start in (0..n).step_by(128) {
        let images = model.sample(128.min(n - start), first_seed + start as u64)?;
        values.extend(read_f32(images).await?);
    }
    Ok(values)
}

/// The copy check in pixels: how near images sit to their nearest training image, beside
/// how near held-out images do. A model that redraws its training images scores well on FD
/// and on a copy check in a classifier's features; in pixels it cannot hide.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelCopy {
    /// Mean RMS distance (pixels in `[0, 1]`) from a sample to its nearest training image.
    pub samples: f64,
    /// The same for a held-out image.
    pub held_out: f64,
    /// `samples / held_out`: about 1 or more, as new as unseen images; below, nearer the
    /// training images than new images are.
    pub ratio: f64,
    /// The share of samples nearer their nearest training image than the nearest 5% of
    /// held-out images are.
    pub nearer_than_held_out: f64,
}

/// Each image's nearest image of `pool` (all planar in `[-1, 1]`, one after another): its
/// index in `pool` and the RMS distance between them (pixels in `[0, 1]`).
pub fn nearest(images: &[f32], pool: &[f32]) -> Vec<(usize, f64)> {
    let len = image::RGB_LEN;
    images
        .chunks(len)
        .map(|a| {
            let (index, squared) = pool
                .chunks(len)
                .map(|b| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>())
                .enumerate()
                .fold(
                    (0, f32::INFINITY),
                    |best, (i, d)| if d < best.1 { (i, d) } else { best },
                );
            // Values span 2 in [-1, 1]: half the RMS is the RMS in [0, 1].
            (index, (f64::from(squared) / len as f64).sqrt() / 2.0)
        })
        .collect()
}

/// Each image's RMS distance to its nearest image of `pool` (see [`nearest`]).
pub fn nearest_rms(images: &[f32], pool: &[f32]) -> Vec<f64> {
    nearest(images, pool).into_iter().map(|(_, d)| d).collect()
}

/// The pixel copy check of `samples` against `training`, beside `held_out` (all planar
/// pixels in `[-1, 1]`, one image after another).
pub fn pixel_copy(samples: &[f32], training: &[f32], held_out: &[f32]) -> PixelCopy {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let from_samples = nearest_rms(samples, training);
    let mut from_held = nearest_rms(held_out, training);
    from_held.sort_by(f64::total_cmp);
    let cut = from_held
        .get((from_held.len() as f64 * 0.05) as usize)
        .copied()
        .unwrap_or(0.0);
    let nearer = from_samples.iter().filter(|d| **d < cut).count();
    let (s, h) = (mean(&from_samples), mean(&from_held));
    PixelCopy {
        samples: s,
        held_out: h,
        ratio: s / h.max(1e-12),
        nearer_than_held_out: nearer as f64 / from_samples.len().max(1) as f64,
    }
}

/// [`edge_energy`] of real `images`.
pub async fn edge_energy_of_images(images: &[&Rgb64], device: &Device) -> Result<f64> {
    Ok(edge_energy(
        &read_f32(image::to_tensor(images, device)).await?,
    ))
}

/// The classifier in the model folder (or `.lpw` file) at `path`, for its features or its
/// verdicts.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_classifier(path: &std::path::Path, device: &Device) -> Result<Classifier> {
    use crate::model::ModelConfig;
    let file = crate::weights::WeightsFile::read(path).map_err(|e| {
        Error::Config(format!(
            "cannot read the classifier {} ({e}); a relative path starts from the current \
             folder, usually the checkout, and the command's --help names the option that gives \
             another",
            path.display()
        ))
    })?;
    let ModelConfig::Classifier(config) = &file.config else {
        return Err(Error::Config(format!(
            "{} is a {}, not a classifier",
            path.display(),
            file.config.kind()
        )));
    };
    file.load("classifier", config.init(device))
}

/// Runs `latentpad eval`: as many samples as there are held-out emoji, scored against them in
/// each classifier's feature space (FD, KID, precision, recall, the copy check, and with
/// `--floor` as many real training images scored the same way), after two yardsticks in no
/// network's features (edge energy and grain). Says a line per score.
#[cfg(not(target_arch = "wasm32"))]
pub fn evaluate(
    o: &crate::options::EvalOptions,
    device: &Device,
    on: &mut dyn FnMut(crate::progress::Progress),
) -> Result<()> {
    use crate::progress::Progress::Say;
    let data = crate::data::load_fetched(&o.data_dir, crate::data::EmojiStyle::Noto)?;
    let held: Vec<&Rgb64> = data.held_out.iter().map(|e| &e.image).collect();
    let n = held.len();
    let (model, _) = crate::sampling::read_model(&o.model, o.draw, device)?;
    let name = o.model.display();
    // The floor's real training images: the same ones in every space.
    let mut idx: Vec<usize> = (0..data.train.len()).collect();
    SplitMix64::new(9).shuffle(&mut idx);
    idx.truncate(n);
    let train: Vec<&Rgb64> = data.train.iter().map(|e| &e.image).collect();
    let subset: Vec<&Rgb64> = idx.iter().map(|&i| train[i]).collect();
    // Each set's pixels are read back once: the texture lines and the copy check share them.
    let pixels = |images: &[&Rgb64]| pollster::block_on(read_f32(image::to_tensor(images, device)));
    let held_pixels = pixels(&held)?;
    let (held_edges, held_grain) = (edge_energy(&held_pixels), flat_grain(&held_pixels));
    let samples = pollster::block_on(pixels_of_samples(&model, n, o.seed))?;
    let (edges, grain) = (edge_energy(&samples), flat_grain(&samples));
    let subset_pixels = pixels(&subset)?;
    let (train_edges, train_grain) = (edge_energy(&subset_pixels), flat_grain(&subset_pixels));
    on(Say(format!(
        "{name}: edge energy of the samples {:.2}x the held-out emoji's (real training images: \
         {:.2}x; below: blurrier; above: edges or texture real emoji lack)",
        edges / held_edges,
        train_edges / held_edges
    )));
    on(Say(format!(
        "{name}: grain in flat fills of the samples {:.2}x the held-out emoji's (real training \
         images: {:.2}x; above: speckle or grain real emoji lack)",
        grain / held_grain,
        train_grain / held_grain
    )));
    let copy = pixel_copy(&samples, &pixels(&train)?, &held_pixels);
    on(Say(format!(
        "{name}: copy check in pixels: nearest training image {:.2}x as far as for held-out \
         emoji (RMS {:.3} against {:.3}); {:.1}% of samples nearer than the nearest 5% of \
         held-out emoji",
        copy.ratio,
        copy.samples,
        copy.held_out,
        100.0 * copy.nearer_than_held_out
    )));
    for path in &o.classifier {
        let classifier = read_classifier(path, device)?;
        let space = path
            .file_name()
            .unwrap_or(path.as_os_str())
            .to_string_lossy();
        let real = pollster::block_on(features_of_images(&classifier, &held, device))?;
        let generated = pollster::block_on(features_of_samples(&classifier, &model, n, o.seed))?;
        let s = score(&real, &generated)?;
        on(Say(format!(
            "{name} in {space}'s space: FD-emoji {:.3}  KID {:.4} +- {:.4}  precision {:.3}  \
             recall {:.3}  (n = {n} vs held-out)",
            s.frechet_distance, s.kid, s.kid_spread, s.precision, s.recall
        )));
        // Every training image's features: the copy check's, and the floor's subset of them.
        let every = pollster::block_on(features_of_images(&classifier, &train, device))?;
        on(Say(format!(
            "  copy check in {space}'s space: nearest training image {:.2}x as far as for \
             held-out emoji (below 1: nearer the training images than new emoji are)",
            copy_ratio(&every, &generated, &real)
        )));
        if o.floor {
            let floor: Vec<Vec<f32>> = idx.iter().map(|&i| every[i].clone()).collect();
            let s = score(&real, &floor)?;
            on(Say(format!(
                "floor (real training images vs held-out) in {space}'s space: FD-emoji {:.3}  \
                 KID {:.4} +- {:.4}  precision {:.3}  recall {:.3}",
                s.frechet_distance, s.kid, s.kid_spread, s.precision, s.recall
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 64x64 plane: a hard-edged square of 1 on -1.
    fn square() -> Vec<f32> {
        let inside = |i: usize| (16..48).contains(&(i / 64)) && (16..48).contains(&(i % 64));
        (0..64 * 64)
            .map(|i| if inside(i) { 1.0 } else { -1.0 })
            .collect()
    }

    /// `plane` (64x64) plus a one-pixel checkerboard of +-`amplitude`.
    fn checkered(plane: &[f32], amplitude: f32) -> Vec<f32> {
        plane
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v + if (i / 64 + i % 64) % 2 == 0 {
                    amplitude
                } else {
                    -amplitude
                }
            })
            .collect()
    }

    #[test]
    fn edge_energy_falls_with_blur_and_rises_with_texture() {
        let side = 64;
        // A hard-edged square on one plane, then the same blurred by a 3x3 box.
        let sharp = square();
        let blurred = box_smooth(&sharp);
        let textured = checkered(&sharp, 0.2);
        let e_sharp = edge_energy(&sharp);
        let (e_blur, e_tex) = (edge_energy(&blurred), edge_energy(&textured));
        assert!(e_blur < 0.7 * e_sharp, "{e_blur} vs {e_sharp}");
        assert!(e_tex > 1.5 * e_sharp, "{e_tex} vs {e_sharp}");
        // 4 sides of 32 pixels, each a step of 2 (squared: 4), over 2 * 64 * 63 pairs.
        assert!(
            (e_sharp - 4.0 * 128.0 / (2.0 * 64.0 * 63.0)).abs() < 1e-9,
            "{e_sharp}"
        );
        // A flat image has none; a batch's is the mean of its planes'.
        let flat = vec![0.5; side * side];
        assert_eq!(edge_energy(&flat), 0.0);
        let both: Vec<f32> = sharp.iter().chain(&flat).copied().collect();
        assert!((edge_energy(&both) - e_sharp / 2.0).abs() < 1e-9);
    }

    #[test]
    fn flat_grain_sees_speckle_in_fills_not_edges_or_blur() {
        let side = 64;
        let sharp = square();
        // A hard edge is not a fill: a plain square has no grain.
        assert!(flat_grain(&sharp) < 1e-9, "{}", flat_grain(&sharp));
        // A shading ramp across the image (0.03 a pixel) is not grain either.
        let ramp: Vec<f32> = (0..side * side)
            .map(|i| -1.0 + 0.03 * (i % side) as f32)
            .collect();
        // (Only the image's border, where the smoothing is clamped, leaves a trace.)
        assert!(flat_grain(&ramp) < 1e-5, "{}", flat_grain(&ramp));
        // Speckle of +-0.1 on the fills (a pattern the 3x3 box all but removes) is.
        let speckled = checkered(&sharp, 0.1);
        let grain = flat_grain(&speckled);
        assert!((0.005..0.02).contains(&grain), "{grain}");
        // Blurring the speckled square takes its grain away again.
        let blurred = box_smooth(&speckled);
        assert!(
            flat_grain(&blurred) < grain / 20.0,
            "{}",
            flat_grain(&blurred)
        );
    }

    #[test]
    fn the_pixel_copy_check_tells_redraws_from_new_images() {
        let len = image::RGB_LEN;
        // Training images: flat greys; held-out: greys between them; copies: the training
        // images again with a little noise; new: greys as far off as the held-out ones.
        let grey = |v: f32| vec![v; len];
        let training: Vec<f32> = [-0.8, -0.4, 0.0, 0.4, 0.8]
            .iter()
            .flat_map(|v| grey(*v))
            .collect();
        let held: Vec<f32> = [-0.6, -0.2, 0.2, 0.6]
            .iter()
            .flat_map(|v| grey(*v))
            .collect();
        let copies: Vec<f32> = [-0.79, 0.01, 0.41].iter().flat_map(|v| grey(*v)).collect();
        let new: Vec<f32> = [-0.6, 0.2, 0.6].iter().flat_map(|v| grey(*v)).collect();
        let held_check = pixel_copy(&held, &training, &held);
        assert!((held_check.ratio - 1.0).abs() < 1e-6);
        assert!((held_check.held_out - 0.1).abs() < 1e-4, "{held_check:?}");
        let c = pixel_copy(&copies, &training, &held);
        assert!(c.ratio < 0.2 && c.nearer_than_held_out == 1.0, "{c:?}");
        let n = pixel_copy(&new, &training, &held);
        assert!(
            (n.ratio - 1.0).abs() < 1e-4 && n.nearer_than_held_out == 0.0,
            "{n:?}"
        );
    }

    #[test]
    fn copy_ratio_tells_copies_from_new_draws() {
        let training = gaussian_set(500, 6, 0.0, 1.0, 1);
        let held_out = gaussian_set(200, 6, 0.0, 1.0, 2);
        let new = gaussian_set(200, 6, 0.0, 1.0, 3);
        // Copies: training points with a little noise.
        let copies: Vec<Vec<f32>> = training[..200]
            .iter()
            .zip(gaussian_set(200, 6, 0.0, 0.05, 4))
            .map(|(t, e)| t.iter().zip(e).map(|(a, b)| a + b).collect())
            .collect();
        let fresh = copy_ratio(&training, &new, &held_out);
        assert!((0.8..1.25).contains(&fresh), "{fresh}");
        let copied = copy_ratio(&training, &copies, &held_out);
        assert!(copied < 0.3, "{copied}");
    }

    fn gaussian_set(n: usize, d: usize, shift: f32, scale: f32, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| rng.next_gaussian() * scale + shift)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn frechet_distance_of_known_gaussians() {
        // Same distribution: near 0. Mean shifted by 1 in each of 4 dims: near 4.
        let a = gaussian_set(4000, 4, 0.0, 1.0, 1);
        let b = gaussian_set(4000, 4, 0.0, 1.0, 2);
        let c = gaussian_set(4000, 4, 1.0, 1.0, 3);
        assert!(
            frechet_distance(&a, &b) < 0.05,
            "{}",
            frechet_distance(&a, &b)
        );
        let fd = frechet_distance(&a, &c);
        assert!((fd - 4.0).abs() < 0.2, "{fd}");
        // Scale 2 in 4 dims: each dim adds 1 + 4 - 2*2 = 1.
        let s = gaussian_set(4000, 4, 0.0, 2.0, 4);
        let fd = frechet_distance(&a, &s);
        assert!((fd - 4.0).abs() < 0.3, "{fd}");
    }

    #[test]
    fn kernel_distance_of_known_gaussians() {
        // One distribution: zero within its spread. A mean shift of 0.5 in each of 8 dims:
        // clearly positive, and a shift of 1 more so.
        let a = gaussian_set(400, 8, 0.0, 1.0, 1);
        let b = gaussian_set(400, 8, 0.0, 1.0, 2);
        let c = gaussian_set(400, 8, 0.5, 1.0, 3);
        let e = gaussian_set(400, 8, 1.0, 1.0, 4);
        let (same, spread) = kernel_distance(&a, &b, 20, 200);
        assert!(same.abs() < 3.0 * spread + 1e-3, "{same} +- {spread}");
        let (shifted, spread_c) = kernel_distance(&a, &c, 20, 200);
        assert!(
            shifted > 10.0 * spread_c && shifted > 0.05,
            "{shifted} +- {spread_c}"
        );
        let (far, _) = kernel_distance(&a, &e, 20, 200);
        assert!(far > 2.0 * shifted, "{far} vs {shifted}");
        // The closed form for a shift s in every dim of d = 8 with this kernel: the
        // difference of E[k] terms; checked against a large sample instead of derived.
        let (big, _) = kernel_distance(&gaussian_set(2000, 8, 0.0, 1.0, 5), &c, 5, 400);
        assert!((big - shifted).abs() < 0.3 * shifted, "{big} vs {shifted}");
    }

    #[test]
    fn too_few_points_is_an_error() {
        let few = gaussian_set(3, 4, 0.0, 1.0, 1);
        let many = gaussian_set(50, 4, 0.0, 1.0, 2);
        assert!(score(&few, &many).is_err());
        assert!(score(&many, &few).is_err());
        assert!(score(&many, &many).is_ok());
    }

    #[test]
    fn precision_and_recall_see_mode_collapse() {
        let real = gaussian_set(300, 8, 0.0, 1.0, 5);
        let same = gaussian_set(300, 8, 0.0, 1.0, 6);
        let collapsed = gaussian_set(300, 8, 0.0, 0.05, 7);
        let (p, r) = precision_recall(&real, &same, K_NEAREST);
        assert!(p > 0.7 && r > 0.7, "{p} {r}");
        let (p, r) = precision_recall(&real, &collapsed, K_NEAREST);
        assert!(p > 0.9, "collapsed samples still look real: {p}");
        assert!(r < 0.2, "but cover little of the data: {r}");
    }
}
