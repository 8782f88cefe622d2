//! Exponential moving average of model weights (Karras et al. 2018; Yazici et al. 2019): the
//! averaged generator gives visibly cleaner samples than the last training iterate, at no
//! training cost. Batch-norm running statistics are averaged the same way.

use burn::module::Module;

use crate::model::params;

/// `average <- decay * average + (1 - decay) * current`, parameter by parameter (by path,
/// [`params`]).
///
/// The two modules must have one architecture. `average` should live on a device without
/// autodiff.
pub fn update<M: Module>(average: M, current: &M, decay: f64) -> M {
    let mut values = params::floats_by_path(current);
    params::map_floats(average, |path, _, average| match values.remove(path) {
        Some(source) => {
            let source = source.to_device(&average.device());
            average.mul_scalar(decay) + source.mul_scalar(1.0 - decay)
        }
        None => average,
    })
}

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;

    use super::*;
    use crate::backend::{default_device, read_f32_blocking};

    #[test]
    fn moves_a_fraction_of_the_way() {
        let device = default_device();
        let current = LinearConfig::new(2, 2).init(&device);
        let average = current.valid();
        let before = read_f32_blocking(average.weight.val()).unwrap();
        // Make `current` differ: every weight + 1.
        let current = params::map_floats(current, |_, _, flat| flat.add_scalar(1.0));
        let average = update(average, &current, 0.75);
        let after = read_f32_blocking(average.weight.val()).unwrap();
        for (a, b) in after.iter().zip(&before) {
            assert!((a - (b + 0.25)).abs() < 1e-6);
        }
    }
}
