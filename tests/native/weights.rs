//! Weights files: the round trip, and refusal of wrong or damaged files.

use latentpad::Error;
use latentpad::backend::{default_device, read_f32_blocking};
use latentpad::model::{GanConfig, GeneratorConfig, LatentModel, ModelConfig, VaeConfig};
use latentpad::train::gan::{GanTrainConfig, GanTrainer};
use latentpad::weights::WeightsFile;

use super::tiny_gan;

fn exported() -> (GanTrainer, Vec<u8>) {
    let trainer = GanTrainer::new(tiny_gan(), GanTrainConfig::new(), &default_device()).unwrap();
    let bytes = trainer.export("tiny").unwrap().to_bytes();
    (trainer, bytes)
}

fn samples(model: &LatentModel) -> Vec<f32> {
    read_f32_blocking(model.sample(4, 3).unwrap()).unwrap()
}

#[test]
fn round_trip_gives_identical_samples() {
    let (trainer, bytes) = exported();
    let device = default_device();
    let file = WeightsFile::parse(&bytes, "tiny.lpw").unwrap();
    assert_eq!(file.meta.name, "tiny");
    let loaded = LatentModel::from_weights(&file, &device).unwrap();
    // Stored in f16: the loaded model matches the trained one to f16 precision...
    let original = samples(&trainer.latent_model());
    let reloaded = samples(&loaded);
    let worst = original
        .iter()
        .zip(&reloaded)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-2, "max difference {worst}");
    // ...and exactly from then on: save again, load again, same bytes and same images.
    let file2 = WeightsFile::parse(&file.to_bytes(), "again.lpw").unwrap();
    assert_eq!(
        samples(&LatentModel::from_weights(&file2, &device).unwrap()),
        reloaded
    );
}

#[test]
fn split_files_merge_back() {
    let (_, bytes) = exported();
    let file = WeightsFile::parse(&bytes, "tiny.lpw").unwrap();
    let parts: Vec<WeightsFile> = file
        .split()
        .into_iter()
        .map(|(name, f)| WeightsFile::parse(&f.to_bytes(), &name).unwrap())
        .collect();
    assert_eq!(parts.len(), 2);
    let merged = WeightsFile::merge(parts).unwrap();
    assert_eq!(merged.to_bytes(), file.to_bytes());
}

#[test]
fn weights_of_another_architecture_are_refused() {
    let (_, bytes) = exported();
    let file = WeightsFile::parse(&bytes, "tiny.lpw").unwrap();
    let err = file
        .expect_config(&ModelConfig::Gan(GanConfig::emoji()))
        .unwrap_err();
    assert!(matches!(err, Error::WrongArchitecture { .. }), "{err}");
    assert!(err.to_string().contains("tiny.lpw"));
    assert!(
        file.expect_config(&ModelConfig::Vae(VaeConfig::emoji()))
            .is_err()
    );
    // Loading a part into a network of other sizes fails on the shapes, not silently.
    let wide = GeneratorConfig::new()
        .with_latent_dim(16)
        .with_width(16)
        .init(&default_device());
    let err = file.load("generator", wide).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    // A part the file lacks.
    let err = file
        .load("encoder", GeneratorConfig::new().init(&default_device()))
        .unwrap_err();
    assert!(err.to_string().contains("no \"encoder\" part"), "{err}");
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let (_, bytes) = exported();
    assert!(WeightsFile::parse(b"", "empty.lpw").is_err());
    assert!(WeightsFile::parse(b"\x89PNG\r\n\x1a\n....", "image.png").is_err());
    // Every truncation point in the header and a spread of them through the tensors.
    let header_end = 12 + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let cuts = (0..header_end + 16).chain((header_end..bytes.len()).step_by(997));
    for cut in cuts {
        let err = WeightsFile::parse(&bytes[..cut], "cut.lpw").unwrap_err();
        assert!(err.to_string().starts_with("cut.lpw"), "{err}");
    }
    // Flipped bytes anywhere.
    for at in (0..bytes.len()).step_by(1009) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5a;
        if let Ok(file) = WeightsFile::parse(&damaged, "flip.lpw") {
            // Only a flip inside the JSON's insignificant parts can parse; it must still load.
            LatentModel::from_weights(&file, &default_device()).unwrap();
        }
    }
    // A header length past what a reader takes is named as such.
    let mut huge = bytes.clone();
    huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = WeightsFile::parse(&huge, "huge.lpw")
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than the 16777216"), "{err}");
}
