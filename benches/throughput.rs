//! Throughput of the shipped architectures on the native CPU backend (flex, with latentpad's
//! convolution kernels from `src/backend/flex`), next to the PyTorch CPU reference of the same
//! networks (`benches/reference_torch.py`, run when `python3 -c "import torch"` works).
//! Prints a table and one JSON line. Also the browser's fine-tuning step (the page's session:
//! batch 16, FreezeD 2, DiffAugment) natively, to set the wasm builds' figures against, and
//! with `RAYON_NUM_THREADS=1` against 2 the native thread scaling of each.
//!
//! `cargo bench --bench throughput [-- REPS]`

use std::process::Command;
use std::time::Instant;

use latentpad::backend::{default_device, read_f32_blocking};
use latentpad::image::{RGB_LEN, Rgb64};
use latentpad::latent::SplitMix64;
use latentpad::model::{GanConfig, LatentModel, ModelConfig, VaeConfig};
use latentpad::train::gan::{GanTrainConfig, GanTrainer};
use latentpad::train::vae::{VaeTrainConfig, VaeTrainer};

fn timed(warmup: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    start.elapsed().as_secs_f64() / reps as f64
}

fn main() {
    let reps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let device = default_device();
    let mut rng = SplitMix64::new(0);
    let data: Vec<Rgb64> = (0..32)
        .map(|_| Rgb64((0..RGB_LEN).map(|_| (rng.next_u64() & 255) as u8).collect()))
        .collect();
    let batch: Vec<&Rgb64> = data.iter().collect();

    let mut gan = GanTrainer::new(
        GanConfig::emoji(),
        GanTrainConfig::new().with_batch_size(32),
        &device,
    )
    .expect("valid config");
    let model: LatentModel = gan.latent_model();
    assert!(matches!(model.config, ModelConfig::Gan(_)));
    let mut seed = 0;
    let t_sample = timed(2, reps * 2, || {
        seed += 64;
        read_f32_blocking(model.sample(64, seed).expect("sample")).expect("read");
    });
    let t_gan = timed(2, reps, || {
        pollster::block_on(gan.step(&batch)).expect("gan step");
    });
    let base = gan.export("base").expect("export");
    let images: Vec<Rgb64> = data[..16].to_vec();
    let mut session = latentpad::train::finetune::FineTuning::new(base, images, 16, 2, &device)
        .expect("fine-tuning session");
    let t_finetune = timed(2, reps, || {
        pollster::block_on(session.step()).expect("fine-tune step");
    });
    let mut vae = VaeTrainer::new(
        VaeConfig::emoji(),
        VaeTrainConfig::new().with_batch_size(32),
        &device,
    )
    .expect("valid config");
    let t_vae = timed(2, reps, || {
        pollster::block_on(vae.step(&batch)).expect("vae step");
    });

    let burn = serde_json::json!({
        "sample_images_per_s_batch64": 64.0 / t_sample,
        "gan_step_ms_batch32": 1000.0 * t_gan,
        "vae_step_ms_batch32": 1000.0 * t_vae,
        "finetune_step_ms_batch16": 1000.0 * t_finetune,
        "threads": rayon::current_num_threads(),
    });
    let torch: Option<serde_json::Value> = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/reference_torch.py"
        ))
        .arg(reps.to_string())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(o.stdout.trim_ascii()).ok());

    println!(
        "{:<32} {:>12} {:>12} {:>8}",
        "measure", "burn flex", "pytorch", "ratio"
    );
    for (key, higher_is_better) in [
        ("sample_images_per_s_batch64", true),
        ("gan_step_ms_batch32", false),
        ("vae_step_ms_batch32", false),
        ("finetune_step_ms_batch16", false),
    ] {
        let b = burn[key].as_f64().unwrap_or(f64::NAN);
        let t = torch.as_ref().and_then(|t| t[key].as_f64());
        let ratio = t.map(|t| if higher_is_better { t / b } else { b / t });
        println!(
            "{key:<32} {b:>12.1} {:>12} {:>8}",
            t.map_or("-".into(), |t| format!("{t:.1}")),
            ratio.map_or("-".into(), |r| format!("{r:.2}x"))
        );
    }
    println!("(ratio: burn's time over PyTorch's; above 1 means burn is slower)");
    println!("{}", serde_json::json!({ "burn": burn, "torch": torch }));
}
