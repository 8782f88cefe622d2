//! Exponential moving average of model weights (Karras et al. 2018; Yazici et al. 2019): the
//! averaged generator gives visibly cleaner samples than the last training iterate, at no
//! training cost. Batch-norm running statistics are averaged the same way.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

// Parameters are matched by their path in the module tree, not by id: burn gives batch-norm
// running statistics a new id whenever a module is loaded from a record.
/// Every float parameter (and batch-norm statistic) of a module, flattened, by its path.
#[derive(Default)]
pub(crate) struct FloatsByPath {
    path: Vec<String>,
    pub(crate) values: HashMap<String, Tensor<1>>,
}

impl FloatsByPath {
    pub(crate) fn of<M: Module>(module: &M) -> Self {
        let mut collect = Self::default();
        module.visit(&mut collect);
        collect
    }
}

impl ModuleVisitor for FloatsByPath {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().without_autodiff().flatten::<1>(0, D - 1);
        self.values.insert(self.path.join("."), value);
    }
}

struct Blend {
    path: Vec<String>,
    values: HashMap<String, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(source) = self.values.remove(&self.path.join(".")) else {
            return param;
        };
        let decay = self.decay;
        param.map(|average| {
            let shape = average.shape();
            let source = source.reshape(shape).to_device(&average.device());
            average.mul_scalar(decay) + source.mul_scalar(1.0 - decay)
        })
    }
}

/// `average <- decay * average + (1 - decay) * current`, parameter by parameter.
///
/// The two modules must have one architecture. `average` should live on a device without
/// autodiff.
pub fn update<M: Module>(average: M, current: &M, decay: f64) -> M {
    average.map(&mut Blend {
        path: Vec::new(),
        values: FloatsByPath::of(current).values,
        decay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{default_device, read_f32_blocking};
    use burn::nn::LinearConfig;

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
