//! Growing a trained sampling network (a GAN's generator, a VAE's decoder) to a wider one that
//! draws exactly what it drew (function-preserving widening, after Net2Net: Chen et al. 2016),
//! so that more training can use the extra capacity without starting again.
//!
//! Every hidden layer gets more channels. A new channel's incoming weights are freshly
//! initialised (as [`seeded_init`] draws them), its batch norm starts as a new one's, and its
//! outgoing weights, the next layer's weights from it, are zero: it computes something, and
//! nothing downstream sees it until training moves those zeros. The conditioning maps' new
//! columns are zero too. The old weights keep their places, so the wider network's output is
//! the old one's, in training mode (batch statistics per channel) as in sampling mode.

use burn::prelude::*;

use crate::backend::read_f32_blocking;
use crate::model::{Generator, ModelConfig, params, seeded_init};
use crate::recalibrate::sampling_part;
use crate::weights::{WeightsFile, module_to_bytes};
use crate::{Error, Result};

/// `file` with its sampling network widened to `width` (the last hidden block's channels; the
/// earlier ones have 2x, 4x, 8x), new weights drawn from `seed`; its other parts (a GAN's
/// discriminator, a VAE's encoder) and its record are kept.
pub fn widen(file: &WeightsFile, width: usize, seed: u64, device: &Device) -> Result<WeightsFile> {
    let (part, config) = sampling_part(file)?;
    if width <= config.width {
        return Err(Error::Config(format!(
            "the {part} of {} is {} wide: widening needs a width above that, not {width}",
            file.source_name, config.width
        )));
    }
    let old: Generator = file.load(part, config.init(device))?;
    let mut old_values = std::collections::HashMap::new();
    params::map_floats(old, |path, dims, flat| {
        old_values.insert(path.to_string(), (dims.to_vec(), flat.clone()));
        flat
    });
    let wider_config = crate::model::GeneratorConfig {
        width,
        ..config.clone()
    };
    let mut failure = None;
    let wider = seeded_init(wider_config.init(device), seed);
    let wider = params::map_floats(wider, |path, dims, fresh| {
        let Some((old_dims, old)) = old_values.remove(path) else {
            failure.get_or_insert_with(|| format!("no {path} in the narrower {part}"));
            return fresh;
        };
        match embed(dims, fresh.clone(), &old_dims, old) {
            Ok(values) => Tensor::from_data(TensorData::new(values, [fresh.dims()[0]]), device),
            Err(e) => {
                failure.get_or_insert_with(|| format!("{path}: {e}"));
                fresh
            }
        }
    });
    if let Some(reason) = failure {
        return Err(Error::WeightsFormat {
            source_name: file.source_name.clone(),
            reason,
        });
    }
    let mut out = file.clone();
    match &mut out.config {
        ModelConfig::Gan(c) => c.generator = wider_config,
        ModelConfig::Vae(c) => c.decoder = wider_config,
        ModelConfig::Classifier(_) => unreachable!("sampling_part refuses a classifier"),
    }
    out.replace_part(part, module_to_bytes(&wider)?)?;
    Ok(out)
}

/// The values of a parameter of shape `dims` whose leading corner is the old parameter
/// (`old_dims`, each no larger) and whose other entries are `fresh`'s, except the ones that
/// must start at zero for the output to stay the same: a transposed convolution's weights
/// (`[in, out, kh, kw]`) from new input channels, and a conditioning map's (`[code, channels]`)
/// new columns.
fn embed(dims: &[usize], fresh: Tensor<1>, old_dims: &[usize], old: Tensor<1>) -> Result<Vec<f32>> {
    if dims.len() != old_dims.len() || dims.iter().zip(old_dims).any(|(new, old)| old > new) {
        return Err(Error::Config(format!(
            "a {old_dims:?} parameter does not fit in {dims:?}"
        )));
    }
    let fresh = read_f32_blocking(fresh)?;
    let old = read_f32_blocking(old)?;
    let mut index = vec![0usize; dims.len()];
    let mut out = Vec::with_capacity(fresh.len());
    for value in fresh {
        let inside = index.iter().zip(old_dims).all(|(i, n)| i < n);
        let zero = match dims.len() {
            4 => index[0] >= old_dims[0],
            2 => true,
            _ => false,
        };
        out.push(if inside {
            let at = index.iter().zip(old_dims).fold(0, |at, (i, n)| at * n + i);
            old[at]
        } else if zero {
            0.0
        } else {
            value
        });
        // The next index in row-major order.
        for axis in (0..dims.len()).rev() {
            index[axis] += 1;
            if index[axis] < dims[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    Ok(out)
}

/// Runs `latentpad widen` on a model folder and says what it wrote.
pub fn widen_folder(o: &crate::options::WidenOptions, device: &Device) -> Result<String> {
    let file = widen(&WeightsFile::read(&o.model)?, o.width, o.seed, device)?;
    file.write_dir(&o.out)?;
    Ok(format!(
        "{}: {} (draws what {} drew until trained)",
        o.out.display(),
        file.config.describe(),
        o.model.display()
    ))
}
