//! `latentpad sample` and `latentpad interpolate`: a model read from its folder, its images
//! drawn by seed (steered, in rows per condition, or along a walk between two seeds) and
//! written as one PNG grid that carries their provenance. Native only: it reads and writes
//! files; the page draws with the same [`LatentModel`] calls.

use std::path::Path;

use burn::prelude::*;

use crate::image::{self, Provenance};
use crate::limits::MAX_GRID;
use crate::model::{LatentModel, Steering, TONES};
use crate::options::{DrawOptions, InterpolateOptions, RowsBy, SampleOptions};
use crate::weights::{WeightsFile, WeightsMeta};
use crate::{Error, Result};

/// The model in the folder (or `.lpw` file) at `path`, drawing its latents as `draw` says
/// (with the GAN's discriminator for best-of sampling), and its provenance.
pub fn read_model(
    path: &Path,
    draw: DrawOptions,
    device: &Device,
) -> Result<(LatentModel, WeightsMeta)> {
    let file = WeightsFile::read(path)?;
    let mut model = LatentModel::from_weights(&file, device)?;
    model.set_truncation(draw.truncation)?;
    if draw.best_of > 1 {
        model.load_critic(&file)?;
    }
    model.set_best_of(draw.best_of)?;
    model.set_flow_sampling(draw.flow_sampling())?;
    Ok((model, file.meta))
}

/// Writes `n` images as a PNG grid of `columns` with `provenance` to `out`.
pub fn write_grid(
    images: Tensor<4>,
    n: usize,
    columns: usize,
    out: &Path,
    provenance: &Provenance,
) -> Result<()> {
    let png = image::grid_png(images, n, columns, provenance)?;
    std::fs::write(out, png).map_err(|e| Error::io(out, e))
}

/// Runs `latentpad sample`: a grid of `--n` images from `--seed` on, steered or in rows.
pub fn sample(o: &SampleOptions, device: &Device) -> Result<()> {
    if o.n == 0 || o.n > MAX_GRID {
        return Err(Error::Config(format!(
            "--n must be between 1 and {MAX_GRID}, not {}",
            o.n
        )));
    }
    let (model, meta) = read_model(&o.model, o.draw, device)?;
    if let Some(by) = o.by {
        let (images, rows, latent) = sample_rows(&model, by, o.n, o.seed)?;
        return write_grid(
            images,
            rows * o.n,
            o.n,
            &o.out,
            &Provenance::of(&meta, latent),
        );
    }
    let steering = model.steering(
        o.steering.category.as_deref(),
        o.steering.skin_tone.as_deref(),
    )?;
    let images = model.sample_steered(o.n, o.seed, steering)?;
    let latent = format!(
        "seeds {} to {}{}",
        o.seed,
        o.seed + o.n as u64 - 1,
        model.describe_steering(steering)
    );
    let Some(data_dir) = &o.beside_nearest else {
        return write_grid(
            images,
            o.n,
            o.columns,
            &o.out,
            &Provenance::of(&meta, latent),
        );
    };
    let pairs = beside_nearest(images, data_dir, device)?;
    let latent = format!("{latent}, each beside its nearest training image in pixels");
    write_grid(
        pairs,
        2 * o.n,
        2 * o.columns,
        &o.out,
        &Provenance::of(&meta, latent),
    )
}

/// `images` each followed by its nearest Noto training image (in pixels) of the fetch-data
/// folder `data_dir`.
///
/// # Shapes
/// - images: `[n, 3, 64, 64]`
/// - output: `[2n, 3, 64, 64]`
pub fn beside_nearest(images: Tensor<4>, data_dir: &Path, device: &Device) -> Result<Tensor<4>> {
    let data = crate::data::load_fetched(data_dir, crate::data::EmojiStyle::Noto)?;
    let train: Vec<&image::Rgb64> = data.train.iter().map(|e| &e.image).collect();
    let pool = crate::backend::read_f32_blocking(image::to_tensor(&train, device))?;
    let samples = crate::backend::read_f32_blocking(images.clone())?;
    let found: Vec<&image::Rgb64> = crate::eval::nearest(&samples, &pool)
        .into_iter()
        .map(|(i, _)| train[i])
        .collect();
    let n = found.len();
    let nearest = image::to_tensor(&found, device).reshape([n, 1, 3, 64, 64]);
    let pairs = Tensor::cat(vec![images.reshape([n, 1, 3, 64, 64]), nearest], 1);
    Ok(pairs.reshape([2 * n, 3, 64, 64])) // [n, 2, 3, 64, 64] -> [2n, 3, 64, 64]
}

/// The steerings of the rows of `sample --by`, each with its name: every category, or
/// people in every skin tone.
pub fn row_steerings(model: &LatentModel, by: RowsBy) -> Result<Vec<(String, Steering)>> {
    let Some(conditions) = model.conditions() else {
        return Err(Error::Config(format!(
            "--by needs a steerable model; this {} is not conditional",
            model.config.kind()
        )));
    };
    let names: Vec<(Option<String>, Option<&str>, String)> = match by {
        RowsBy::Category => conditions
            .category_names()
            .into_iter()
            .map(|c| (Some(c.clone()), None, c))
            .collect(),
        RowsBy::SkinTone => TONES[1..]
            .iter()
            .map(|t| (Some("people".to_string()), Some(*t), t.to_string()))
            .collect(),
    };
    names
        .into_iter()
        .map(|(category, tone, name)| Ok((name, model.steering(category.as_deref(), tone)?)))
        .collect()
}

/// One row of `n` samples per category or per skin tone of people, the same seeds in every
/// row: the images, the number of rows, and their provenance.
pub fn sample_rows(
    model: &LatentModel,
    by: RowsBy,
    n: usize,
    seed: u64,
) -> Result<(Tensor<4>, usize, String)> {
    let steerings = row_steerings(model, by)?;
    let rows = steerings.len();
    if rows * n > MAX_GRID {
        return Err(Error::Config(format!(
            "{rows} rows of {n} is more than {MAX_GRID} images; lower --n"
        )));
    }
    let images = steerings
        .iter()
        .map(|(_, steering)| model.sample_steered(n, seed, *steering))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<&str> = steerings.iter().map(|(name, _)| name.as_str()).collect();
    let latent = format!(
        "seeds {seed} to {}{} in rows by {}: {}",
        seed + n as u64 - 1,
        model.describe_steering(Steering::default()),
        match by {
            RowsBy::Category => "category",
            RowsBy::SkinTone => "skin tone of people",
        },
        names.join(", ")
    );
    Ok((Tensor::cat(images, 0), rows, latent))
}

/// Runs `latentpad interpolate`: a strip of `--frames` images from one seed's image (and
/// steering) to another's.
pub fn interpolate(o: &InterpolateOptions, device: &Device) -> Result<()> {
    let (model, meta) = read_model(&o.model, o.draw, device)?;
    let (category, tone) = (
        o.steering.category.as_deref(),
        o.steering.skin_tone.as_deref(),
    );
    let from = model.steering(category, tone)?;
    let to = model.steering(
        o.to_category.as_deref().or(category),
        o.to_skin_tone.as_deref().or(tone),
    )?;
    let walk = model.interpolate_seeds((o.from_seed, from), (o.to_seed, to), o.frames, o.path);
    let images = pollster::block_on(walk)?;
    let latent = format!(
        "{:?} from seed {}{} to seed {}{}, {} frames",
        o.path,
        o.from_seed,
        model.describe_steering(from),
        o.to_seed,
        model.describe_steering(to),
        o.frames
    );
    write_grid(
        images,
        o.frames,
        o.frames,
        &o.out,
        &Provenance::of(&meta, latent),
    )
}
