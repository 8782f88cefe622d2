//! Every model shipped in `models/` loads and produces finite 64x64 images, reproducibly.

use std::path::Path;

use latentpad::backend::{default_device, read_f32_blocking};
use latentpad::model::{LatentModel, ModelConfig};
use latentpad::weights::WeightsFile;

#[test]
fn every_shipped_model_loads_and_samples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).expect("models/ exists") {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        assert!(
            dir.join("README.md").is_file(),
            "{} has no model card",
            dir.display()
        );
        let file = WeightsFile::read(&dir).unwrap_or_else(|e| panic!("{e}"));
        let config: ModelConfig =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        file.expect_config(&config).unwrap();
        let device = default_device();
        match &file.config {
            ModelConfig::Classifier(c) => {
                let classifier = file.load("classifier", c.init(&device)).unwrap();
                let x = burn::Tensor::<4>::zeros([2, 3, 64, 64], &device);
                let f = read_f32_blocking(classifier.features(x)).unwrap();
                assert_eq!(f.len(), 2 * c.feature_dim());
                assert!(f.iter().all(|v| v.is_finite()));
            }
            _ => {
                let model = LatentModel::from_weights(&file, &device).unwrap();
                let images = model.sample(8, 42).unwrap();
                assert_eq!(images.dims(), [8, 3, 64, 64]);
                let values = read_f32_blocking(images).unwrap();
                assert!(values.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
                // Not a constant image: the model draws something.
                let spread = values.iter().fold(f32::MIN, |a, b| a.max(*b))
                    - values.iter().fold(f32::MAX, |a, b| a.min(*b));
                assert!(spread > 0.5, "{}: spread {spread}", dir.display());
                // Same seed, same image; image i of a batch is the image of seed + i alone
                // (to float rounding: a different batch size may sum in another order).
                let repeat = read_f32_blocking(model.sample(8, 42).unwrap()).unwrap();
                assert_eq!(repeat, values);
                let alone = read_f32_blocking(model.sample(1, 45).unwrap()).unwrap();
                let in_batch = &values[3 * alone.len()..4 * alone.len()];
                let worst = alone
                    .iter()
                    .zip(in_batch)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-4, "{worst}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 1, "no models found in {}", root.display());
}
