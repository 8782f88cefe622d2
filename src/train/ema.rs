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
    use burn::module::{ModuleMapper, Param};
    use burn::nn::LinearConfig;
    use burn::prelude::*;

    use super::*;
    use crate::backend::{default_device, read_f32_blocking};

    #[test]
    fn moves_a_fraction_of_the_way() {
        let device = default_device();
        let current = LinearConfig::new(2, 2).init(&device);
        let average = current.valid();
        // Make `current` differ: every weight + 1.
        struct AddOne;
        impl ModuleMapper for AddOne {
            fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
                p.map(|t| t.add_scalar(1.0))
            }
        }
        let before = read_f32_blocking(average.weight.val()).unwrap();
        let current = current.map(&mut AddOne);
        let average = update(average, &current, 0.75);
        let after = read_f32_blocking(average.weight.val()).unwrap();
        for (a, b) in after.iter().zip(&before) {
            assert!((a - (b + 0.25)).abs() < 1e-6);
        }
    }
}
