//! Weights files: the round trip, and refusal of wrong or damaged files.

use latentpad::Error;
use latentpad::backend::{default_device, read_f32_blocking};
use latentpad::model::{
    GanConfig, GeneratorConfig, LatentModel, LatentPrior, ModelConfig, VaeConfig,
};
use latentpad::train::gan::{GanTrainConfig, GanTrainer};
use latentpad::weights::{WeightsFile, WeightsMeta};

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

/// A VAE whose prior has 1,200 centres of 4 numbers kept to 3 decimals (negative zeros among
/// them), 1,200 labels and a noise basis of other numbers, with a stand-in part (parsing does
/// not read tensors).
fn vae_with_prior() -> WeightsFile {
    let centres = (0..4800)
        .map(|i| ((i * 37 % 2001) as f32 - 1000.0) * 0.0031)
        .map(|x| (x * 1000.0).round() / 1000.0)
        .map(|x| if x == 0.0 { -0.0 } else { x })
        .collect();
    let mut prior = LatentPrior::anchored(centres, 4, 0.5).unwrap();
    prior.labels = Some((0..1200).map(|i| (i % 54) as u16).collect());
    prior.noise_basis = Some((0..2048).map(|i| (i as f32 * 0.37).sin()).collect());
    let mut config = VaeConfig::emoji();
    config.prior = Some(prior);
    let meta = WeightsMeta {
        name: "prior".into(),
        ..Default::default()
    };
    WeightsFile::new(
        ModelConfig::Vae(config),
        meta,
        vec![("decoder".into(), vec![7; 40])],
    )
}

/// FNV-1a 64, as a weights file's header writes it.
fn fnv64(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A weights file framed by hand: the magic, the header's length, `header`, then `rest`.
fn framed(header: &serde_json::Value, rest: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap();
    let mut bytes = b"LPADW\x01\r\n".to_vec();
    bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&json);
    bytes.extend_from_slice(rest);
    bytes
}

#[test]
fn a_prior_travels_in_binary_and_old_text_priors_still_read() {
    let file = vae_with_prior();
    let bytes = file.to_bytes();
    let text = serde_json::to_vec(&file.config).unwrap().len();
    // 4,800 thousandths as i16, 1,200 labels and 2,048 other numbers as f32, and the rest.
    assert!(
        bytes.len() < 12 + 2 * 4800 + 4 * (1200 + 2048) + 2000,
        "{}",
        bytes.len()
    );
    assert!(
        bytes.len() * 2 < text,
        "{} bytes against {text} as text",
        bytes.len()
    );
    let read = WeightsFile::parse(&bytes, "prior.lpw").unwrap();
    assert_eq!(read.config, file.config);
    assert_eq!(read.to_bytes(), bytes);
    // The labels come back as integers, as their field needs, and everything else whole.
    let ModelConfig::Vae(c) = &read.config else {
        unreachable!("a vae")
    };
    let prior = c.prior.as_ref().unwrap();
    assert_eq!(prior.labels.as_ref().unwrap()[53], 53);
    assert_eq!(
        prior.noise_basis.as_ref().unwrap()[5],
        (5.0f32 * 0.37).sin()
    );

    // People's config.json names the arrays and stays small.
    let people = file.config_for_people();
    assert_eq!(
        people["prior"]["centres"],
        "4800 numbers, in the .lpw files"
    );
    assert_eq!(people["prior"]["labels"], "1200 numbers, in the .lpw files");
    assert_eq!(people["prior"]["spread"], 0.5);
    assert!(serde_json::to_vec(&people).unwrap().len() < 2000);

    // Written before the arrays moved: the prior as text in the header.
    let old = |config: serde_json::Value| {
        let header = serde_json::json!({
            "config": config,
            "meta": file.meta,
            "parts": [{ "name": "decoder", "len": 40, "fnv64": fnv64(&[7; 40]) }],
        });
        framed(&header, &[7; 40])
    };
    let read_old = WeightsFile::parse(&old(serde_json::to_value(&file.config).unwrap()), "old.lpw");
    assert_eq!(read_old.unwrap().config, file.config);

    // An array with nowhere to go, or damaged, or cut short: named, not a panic.
    let header_end = 12 + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let mut damaged = bytes.clone();
    damaged[header_end + 3] ^= 0x5a;
    let err = WeightsFile::parse(&damaged, "flip.lpw")
        .unwrap_err()
        .to_string();
    assert!(err.contains("array \"prior.centres\" is damaged"), "{err}");
    let err = WeightsFile::parse(&bytes[..header_end + 9700], "cut.lpw")
        .unwrap_err()
        .to_string();
    assert!(err.contains("array \"prior.labels\" is truncated"), "{err}");
    let nowhere = serde_json::json!({
        "config": { "kind": "vae" },
        "meta": file.meta,
        "parts": [],
        "arrays": [{ "path": ["prior", "centres"], "len": 1, "encoding": "f32", "fnv64": fnv64(&[0; 4]) }],
    });
    let err = WeightsFile::parse(&framed(&nowhere, &[0; 4]), "nowhere.lpw")
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no place in the config"), "{err}");
}

/// A file from a newer latentpad, whose header this one cannot read, is refused by name, not
/// as damaged; the files this one writes say which layout they use, and files from before the
/// field existed still read.
#[test]
fn weights_from_a_newer_format_are_refused_by_name() {
    let file = vae_with_prior();
    let bytes = file.to_bytes();
    let header_end = 12 + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[12..header_end]).unwrap();
    assert_eq!(header["format"], 1);

    let newer = serde_json::json!({
        "format": 2,
        "model": { "kind": "vae", "layers": "elsewhere" },
        "parts": [],
    });
    let err = WeightsFile::parse(&framed(&newer, &[]), "newer.lpw")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("newer.lpw"), "{err}");
    assert!(err.contains("written by a newer latentpad"), "{err}");
    assert!(err.contains("weights format 2"), "{err}");

    // The same header at this format is only damaged.
    let same = serde_json::json!({ "format": 1, "model": {}, "parts": [] });
    let err = WeightsFile::parse(&framed(&same, &[]), "same.lpw")
        .unwrap_err()
        .to_string();
    assert!(err.contains("the header is damaged"), "{err}");
}
