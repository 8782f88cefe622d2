//! The one way latentpad walks a module's float parameters: by their dotted path in the module
//! tree (`blocks.0.conv.weight`), flattened. Seeded initialisation, the EMA of the generator and
//! reading weights back from a GPU all go through these two functions.
//!
//! Parameters are matched by path, not by id: burn gives batch-norm running statistics a new id
//! whenever a module is loaded from a record.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

/// Every float parameter of `module` (batch-norm statistics included), flattened and without
/// autodiff, by its path.
pub fn floats_by_path<M: Module>(module: &M) -> HashMap<String, Tensor<1>> {
    let mut collect = Collect {
        path: Vec::new(),
        values: HashMap::new(),
    };
    module.visit(&mut collect);
    collect.values
}

/// `module` with every float parameter replaced by `f(path, dims, flat)`, where `flat` is the
/// parameter flattened and `dims` its shape; `f` returns as many values, on any device of its
/// choosing. Whether a parameter requires a gradient is kept.
pub fn map_floats<M: Module>(
    module: M,
    f: impl FnMut(&str, &[usize], Tensor<1>) -> Tensor<1>,
) -> M {
    module.map(&mut Map {
        path: Vec::new(),
        f,
    })
}

struct Collect {
    path: Vec<String>,
    values: HashMap<String, Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().without_autodiff().flatten::<1>(0, D - 1); // [numel]
        self.values.insert(self.path.join("."), value);
    }
}

struct Map<F> {
    path: Vec<String>,
    f: F,
}

impl<F: FnMut(&str, &[usize], Tensor<1>) -> Tensor<1>> ModuleMapper for Map<F> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let f = &mut self.f;
        param.map(|t| {
            let shape = t.shape();
            let require_grad = t.is_require_grad();
            let flat = t.flatten::<1>(0, D - 1); // [numel]
            // A parameter is a leaf: what `f` computed it from (a reshape, a blend) is cut
            // away before it can require a gradient again.
            f(&path, shape.as_slice(), flat)
                .reshape(shape) // [dims...]
                .detach()
                .set_require_grad(require_grad)
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{BatchNormConfig, LinearConfig};

    use super::*;
    use crate::backend::{default_device, read_f32_blocking};

    #[test]
    fn paths_name_every_parameter_and_map_reaches_each_once() {
        let device = default_device();
        let linear = LinearConfig::new(3, 2).init(&device);
        let paths = floats_by_path(&linear);
        let mut names: Vec<_> = paths.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["bias", "weight"]);
        assert_eq!(paths["weight"].dims(), [6]);
        let norm = BatchNormConfig::new(4).init(&device);
        let mut seen = Vec::new();
        let norm = map_floats(norm, |path, dims, flat| {
            seen.push((path.to_string(), dims.to_vec()));
            flat.add_scalar(1.0)
        });
        seen.sort();
        let expected: Vec<_> = ["beta", "gamma", "running_mean", "running_var"]
            .into_iter()
            .map(|p| (p.to_string(), vec![4]))
            .collect();
        assert_eq!(seen, expected);
        // gamma starts at one, so it is two after the map.
        assert_eq!(read_f32_blocking(norm.gamma.val()).unwrap(), vec![2.0; 4]);
    }
}
