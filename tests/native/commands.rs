//! The commands that read the emoji data set, end to end on a tiny one made here: `train
//! classifier`, `prior`, `eval`, `report` and `bench-finetune`, and `--backend` on every
//! command. The data set is two styles of 120 emoji drawn as coloured shapes, laid out as
//! `fetch-data` lays out the npm packages; the models are a few steps old and a few channels
//! wide, so the tests check that each command runs through and says what it must, not scores.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::latentpad;

/// Runs the command, asserts it succeeded, and returns what it printed.
fn run(args: &[&str]) -> String {
    let o = latentpad(args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    );
    assert!(o.status.success(), "{args:?}\nstdout: {out}\nstderr: {err}");
    out
}

/// A fresh folder of its own (tests run at once: no two calls share one).
fn folder(name: &str) -> PathBuf {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("latentpad-commands-{pid}-{n}-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

const CATEGORIES: [&str; 4] = [
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Symbols",
];
const SKIN: [[u8; 3]; 5] = [
    [247, 222, 206],
    [243, 210, 162],
    [213, 171, 136],
    [175, 126, 87],
    [124, 83, 62],
];

/// A 64x64 PNG: a shape per category, in `colour`, at a place set by `i`, on white.
fn drawing(category: usize, i: usize, colour: [u8; 3]) -> Vec<u8> {
    let (cx, cy) = (20 + (i % 5) as i32 * 6, 20 + (i / 5 % 5) as i32 * 6);
    let img = image::RgbaImage::from_fn(64, 64, |x, y| {
        let (dx, dy) = (x as i32 - cx, y as i32 - cy);
        let inside = match category {
            0 => dx * dx + dy * dy < 200,
            1 => dx.abs() < 8 && dy.abs() < 14,
            2 => dx.abs() + dy.abs() < 14,
            _ => (dx.abs() < 12 && dy.abs() < 5) || (dx.abs() < 5 && dy.abs() < 12),
        };
        if inside {
            image::Rgba([colour[0], colour[1], colour[2], 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encodes");
    png
}

/// Writes one style's package (`google` or `twitter`) of 120 emoji into `data`.
fn write_style(data: &Path, set: &str) {
    let package = data.join(format!("emoji-datasource-{set}/package"));
    let images = package.join(format!("img/{set}/64"));
    std::fs::create_dir_all(&images).unwrap();
    let has = format!("has_img_{set}");
    let mut entries = Vec::new();
    for i in 0..120usize {
        let category = i % 4;
        let unified = format!("1F{:03X}", 0x300 + i);
        let colour = [
            (40 * i % 200) as u8 + 30,
            (70 * i % 180) as u8 + 40,
            (110 * i % 160) as u8 + 50,
        ];
        let file = format!("{}.png", unified.to_lowercase());
        std::fs::write(images.join(&file), drawing(category, i, colour)).unwrap();
        // Symbols are hearts (the few-shot benchmark's kind); people come in five tones.
        let short_name = match category {
            3 => format!("heart_{i}"),
            _ => format!("emoji_{i}"),
        };
        let mut variations = serde_json::Map::new();
        if category == 1 {
            for (t, skin) in SKIN.iter().enumerate() {
                let key = format!("1F3F{}", ["B", "C", "D", "E", "F"][t]);
                let file = format!("{}-{}.png", unified.to_lowercase(), key.to_lowercase());
                std::fs::write(images.join(&file), drawing(category, i, *skin)).unwrap();
                variations.insert(key, serde_json::json!({ "image": file, &has: true }));
            }
        }
        entries.push(serde_json::json!({
            "unified": unified,
            "image": file,
            "category": CATEGORIES[category],
            "short_name": short_name,
            &has: true,
            "skin_variations": variations,
        }));
    }
    std::fs::write(
        package.join("emoji.json"),
        serde_json::to_vec(&entries).unwrap(),
    )
    .unwrap();
}

/// The tiny data set, made once for every test here.
fn data() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = folder("data");
        write_style(&dir, "google");
        write_style(&dir, "twitter");
        dir
    })
}

/// A training run's options for three steps at batch 8 on the tiny data set, with its
/// checkpoint folder `ck` and model folder `out`.
fn a_few_steps<'a>(ck: &'a Path, out: &'a Path) -> [&'a str; 10] {
    let data = s(data());
    let (ck, out) = (s(ck), s(out));
    [
        "--data-dir",
        data,
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--checkpoint",
        ck,
        "--out",
        out,
    ]
}

/// `train classifier` of `target` for a few steps, into a fresh folder; returns the folder
/// and what it printed.
fn classifier(target: &str, extra: &[&str]) -> (PathBuf, String) {
    let dir = folder(&format!("classifier-{target}"));
    let (ck, out) = (dir.join("ck"), dir.join("out"));
    let mut args = vec![
        "train",
        "classifier",
        "--target",
        target,
        "--classifier-width",
        "4",
    ];
    args.extend(a_few_steps(&ck, &out));
    args.extend_from_slice(extra);
    let said = run(&args);
    (out, said)
}

/// A tiny VAE with a 4x4 grid latent, a few steps old, with a prior fitted by `prior`.
fn vae_with_prior() -> (PathBuf, String) {
    let dir = folder("vae");
    let (ck, vae, with_prior) = (dir.join("ck"), dir.join("vae"), dir.join("prior"));
    let model = ["--width", "8", "--latent-grid", "4", "--latent-dim", "32"];
    run(&[&["train", "vae"][..], &model, &a_few_steps(&ck, &vae)].concat());
    let said = run(&[
        "prior",
        "--model",
        s(&vae),
        "--data-dir",
        s(data()),
        "--centres",
        "24",
        "--spread",
        "0.5",
        "--steered-spread",
        "0.4",
        "--principal-noise",
        "4",
        "--tone-directions",
        "2",
        "--tone-weight",
        "dark=2",
        "--out",
        s(&with_prior),
    ]);
    (with_prior, said)
}

#[test]
fn train_classifier_learns_each_target_and_says_its_accuracy() {
    let (out, said) = classifier("category", &[]);
    assert!(
        said.contains("emoji-classifier accuracy (4 classes): train 0."),
        "{said}"
    );
    assert!(said.contains(" held-out "), "{said}");
    let file = latentpad::weights::WeightsFile::read(&out).unwrap();
    assert_eq!(file.meta.name, "emoji-classifier");
    let (_, said) = classifier("skin-tone", &[]);
    assert!(
        said.contains("skin-tone-classifier accuracy (6 classes)"),
        "{said}"
    );
    let (_, said) = classifier("category", &["--both-styles"]);
    assert!(
        said.contains("category-classifier accuracy (4 classes)"),
        "{said}"
    );
    assert!(said.contains("held-out Twemoji"), "{said}");
    let (_, said) = classifier("identity", &[]);
    assert!(said.contains("identity-classifier accuracy"), "{said}");
    assert!(said.contains("cross-style held-out"), "{said}");
    // A classifier of tones cannot take both styles: refused by name.
    let o = latentpad(&[
        "train",
        "classifier",
        "--target",
        "skin-tone",
        "--both-styles",
        "--data-dir",
        s(data()),
        "--checkpoint",
        s(&folder("no-ck")),
        "--out",
        s(&folder("no-out")),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--both-styles trains a category classifier")
    );
}

#[test]
fn prior_fits_centres_and_steering_that_sample_and_eval_and_report_use() {
    let (model, said) = vae_with_prior();
    assert!(
        said.contains("samples start near 24 training images (spread 0.5)"),
        "{said}"
    );
    assert!(said.contains("tone directions: the 2 widest of"), "{said}");
    let file = latentpad::weights::WeightsFile::read(&model).unwrap();
    let latentpad::model::ModelConfig::Vae(c) = &file.config else {
        panic!("not a VAE");
    };
    let prior = c.prior.as_ref().expect("a prior");
    assert_eq!(prior.centres.len(), 24 * 32);
    assert_eq!(prior.noise_basis.as_ref().map(|b| b.len()), Some(4 * 32));
    assert_eq!(prior.steered_spread, Some(0.4));
    let conditions = c.conditions.as_ref().expect("the data's conditions");
    assert_eq!(conditions.categories.len(), 4);

    // Steerable now: a grid of dark-skinned people.
    let png = model.join("people.png");
    run(&[
        "sample",
        "--model",
        s(&model),
        "--category",
        "people",
        "--skin-tone",
        "dark",
        "--n",
        "4",
        "--out",
        s(&png),
    ]);
    assert!(png.exists());
    // The copy check, looked at: each sample beside its nearest training image.
    let pairs = model.join("pairs.png");
    run(&[
        "sample",
        "--model",
        s(&model),
        "--n",
        "4",
        "--beside-nearest",
        s(data()),
        "--out",
        s(&pairs),
    ]);
    let said = run(&["provenance", s(&pairs)]);
    assert!(
        said.contains("each beside its nearest training image"),
        "{said}"
    );

    let (cls, _) = classifier("category", &[]);
    // What eval and report both take: the model, the data and the category classifier.
    let scored = [
        "--model",
        s(&model),
        "--data-dir",
        s(data()),
        "--classifier",
        s(&cls),
    ];
    let said = run(&[&["eval", "--floor"][..], &scored].concat());
    for expected in [
        "edge energy of the samples",
        "grain in flat fills",
        "FD-emoji",
        "copy check in pixels: nearest training image",
        "copy check in out's space",
        "floor (real training images vs held-out)",
    ] {
        assert!(said.contains(expected), "{expected} in {said}");
    }

    let (tone, _) = classifier("skin-tone", &[]);
    let report = [
        "report",
        "--steering-classifier",
        s(&cls),
        "--tone-classifier",
        s(&tone),
        "--n",
        "32",
        "--per-condition",
        "4",
    ];
    let said = run(&[&report[..], &scored].concat());
    assert!(said.contains("Skin tones of people emoji"), "{said}");
    assert!(said.contains("| default (yellow) |"), "{said}");
    assert!(
        said.contains("Conditioning: 4 samples asked for each category"),
        "{said}"
    );

    // Bad settings are refused with what is valid, before any work.
    for (flag, value, expected) in [
        ("--centres", "0", "--centres takes 1 to 1024"),
        ("--tone-weight", "dark", "--tone-weight takes TONE=WEIGHT"),
    ] {
        let never = folder("never");
        let args = [
            "prior",
            "--model",
            s(&model),
            "--data-dir",
            s(data()),
            flag,
            value,
        ];
        let o = latentpad(&[&args[..], &["--out", s(&never)]].concat());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(expected),
            "{flag}"
        );
        assert!(!never.exists());
    }
}

#[test]
fn bench_finetune_scores_each_step_count_and_writes_its_table() {
    let (model, _) = vae_with_prior();
    let (cls, _) = classifier("category", &["--flip"]);
    let out = folder("bench");
    let said = run(&[
        "bench-finetune",
        "--model",
        s(&model),
        "--classifier",
        s(&cls),
        "--data-dir",
        s(data()),
        "--kinds",
        "hearts",
        "--sizes",
        "4,1000",
        "--recipes",
        "prior",
        "--steps",
        "0,1",
        "--out",
        s(&out),
    ]);
    assert!(said.contains("<!-- hearts-4: 4 uploads,"), "{said}");
    // 1,000 hearts are more than the set has: said, and the rest still runs.
    assert!(said.contains("<!-- skipped:"), "{said}");
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| hearts-4 |"))
        .collect();
    // The floor, the base model, then the recipe at each step count.
    assert_eq!(rows.len(), 4, "{table}");
    assert!(
        rows[0].contains("| floor |") && rows[1].contains("| base model |"),
        "{table}"
    );
    assert!(
        rows[2].contains("| prior | 0 |") && rows[3].contains("| prior | 1 |"),
        "{table}"
    );
}

#[test]
fn commands_that_need_the_data_say_to_fetch_it() {
    let empty = folder("empty");
    for args in [
        &["eval", "--data-dir", s(&empty)][..],
        &["report", "--data-dir", s(&empty)],
        &["prior", "--data-dir", s(&empty), "--out", s(&empty)],
    ] {
        let o = latentpad(args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("run `latentpad fetch-data` first"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Every command computes on the device `--backend` names: a name that is not a backend, or
/// one this build does not have, is refused by every command before it does anything.
#[test]
fn every_command_takes_the_backend_it_is_given() {
    let scratch = folder("backend");
    let out = s(&scratch);
    let commands: [&[&str]; 14] = [
        &["fetch-data", "--data-dir", out],
        &["bench-finetune", "--out", out],
        &["train", "gan", "--checkpoint", out, "--out", out],
        &["sample", "--out", out],
        &[
            "interpolate",
            "--from-seed",
            "1",
            "--to-seed",
            "2",
            "--out",
            out,
        ],
        &["invert", "--held-out", "2", "--out", out],
        &["prior", "--out", out],
        &["recalibrate", "--out", out],
        &["average", "--model", "models/emoji-gan", "--out", out],
        &["widen", "--width", "64", "--out", out],
        &["finetune", "--images", out, "--out", out],
        &["provenance", out],
        &["eval"],
        &["report"],
    ];
    for command in commands {
        let o = latentpad(&[&["--backend", "abacus"], command].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{command:?}");
        assert!(
            err.contains("unknown backend \"abacus\"; valid: cpu, wgpu"),
            "{command:?}: {err}"
        );
        #[cfg(not(feature = "wgpu"))]
        {
            let o = latentpad(&[&["--backend", "wgpu"], command].concat());
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("built without the `wgpu` feature"),
                "{command:?}: {err}"
            );
        }
    }
    assert!(!scratch.exists(), "nothing was written");
}
