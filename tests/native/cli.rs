//! The command-line program end to end: help, sampling, fine-tuning, and bad input that must
//! give a message naming the file, never a panic.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::latentpad;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latentpad-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn every_command_has_help() {
    let top = String::from_utf8_lossy(&latentpad(&["--help"]).stdout).to_string();
    // clap lists the subcommands under "Commands:", one per line, name first.
    let commands: Vec<&str> = top
        .split("Commands:")
        .nth(1)
        .expect("a Commands section")
        .lines()
        .skip(1) // the rest of the "Commands:" line
        .map_while(|line| line.strip_prefix("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    for expected in [
        "fetch-data",
        "train",
        "sample",
        "interpolate",
        "finetune",
        "eval",
        "provenance",
        "report",
        "bench-finetune",
        "recalibrate",
        "average",
        "widen",
    ] {
        assert!(
            commands.contains(&expected),
            "{expected} missing from {commands:?}"
        );
    }
    for cmd in commands {
        let o = latentpad(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Usage"),
            "{cmd}"
        );
    }
}

/// `train KIND` for one step on the two good fixture images, batch 2, with its checkpoint and
/// model folder `ck` and `out` in `dir`, and `extra` options.
fn train_one_step(dir: &Path, kind: &str, extra: &[&str]) -> Output {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/good");
    let (checkpoint, out) = (dir.join("ck"), dir.join("out"));
    let mut args = vec![
        "train",
        kind,
        "--images",
        fixtures.to_str().unwrap(),
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    latentpad(&args)
}

/// `train --init` continues pretraining: one more step on two images, and the weights count
/// the step and are not marked fine-tuned (a person's fine-tuning is `finetune`).
#[test]
fn train_from_a_shipped_gan_is_more_pretraining() {
    let dir = scratch("train-init");
    let out = dir.join("out");
    let o = train_one_step(&dir, "gan", &["--init", "models/emoji-gan"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/emoji-gan");
    let base = latentpad::weights::WeightsFile::read(&shipped).unwrap();
    let file = latentpad::weights::WeightsFile::read(&out).unwrap();
    assert!(!file.meta.fine_tuned);
    assert_eq!(file.meta.steps, base.meta.steps + 1);
}

/// `train vae --latent-grid`: a VAE with a spatial latent trains and samples; a side or a
/// length that does not fit, or a GAN asked for one, is refused with what is valid.
#[test]
fn train_vae_with_a_latent_grid_and_bad_grids_refused() {
    let dir = scratch("train-grid");
    let out = dir.join("out");
    let train =
        |kind: &str, grid: &[&str]| train_one_step(&dir, kind, &[&["--width", "8"], grid].concat());
    for (kind, grid, expected) in [
        (
            "vae",
            &["--latent-grid", "5"][..],
            "the sides are [4, 8, 16]",
        ),
        (
            "vae",
            &["--latent-grid", "8", "--latent-dim", "100"],
            "a multiple of 64",
        ),
        // A VAE's option is not a GAN's: refused as it is parsed.
        (
            "gan",
            &["--latent-grid", "8"],
            "unexpected argument '--latent-grid'",
        ),
    ] {
        let o = train(kind, grid);
        assert!(!o.status.success(), "{grid:?}");
        assert!(stderr(&o).contains(expected), "{grid:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let o = train("vae", &["--latent-grid", "8", "--latent-dim", "128"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = latentpad::weights::WeightsFile::read(&out).unwrap();
    let latentpad::model::ModelConfig::Vae(c) = &file.config else {
        panic!("not a vae: {}", file.config.describe());
    };
    assert_eq!(
        (c.decoder.latent_grid, c.encoder.latent_grid),
        (Some(8), Some(8))
    );
    assert_eq!(c.decoder.latent_dim, 128);
    let png = dir.join("s.png");
    let o = latentpad(&[
        "sample",
        "--model",
        out.to_str().unwrap(),
        "--n",
        "4",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(png.exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sample_and_interpolate_write_pngs_and_same_seed_gives_same_file() {
    let dir = scratch("sample");
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.png"), dir.join("b.png"));
    for out in [&a, &b] {
        let o = latentpad(&[
            "sample",
            "--model",
            "models/emoji-gan",
            "--n",
            "4",
            "--seed",
            "7",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let o = latentpad(&["provenance", a.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for expected in [
        "Software: latentpad",
        "AI-generated",
        "latentpad-model: emoji-gan",
        "latentpad-fine-tuned: no",
        "latentpad-latent: seeds 7 to 10",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }
    let strip = dir.join("strip.png");
    let o = latentpad(&[
        "interpolate",
        "--from-seed",
        "1",
        "--to-seed",
        "2",
        "--frames",
        "5",
        "--out",
        strip.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(&strip).unwrap();
    assert_eq!((img.width(), img.height()), (5 * 66 + 2, 66 + 2));
}

#[test]
fn finetune_skips_bad_files_and_marks_the_result() {
    let images = scratch("images");
    std::fs::create_dir_all(&images).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (sub, name) in [
        ("good", "rgba.png"),
        ("good", "photo.jpg"),
        ("bad", "notes.png"),
    ] {
        std::fs::copy(fixtures.join(sub).join(name), images.join(name)).unwrap();
    }
    // Two steps at batch 2 from `model` (the default when `None`), into a fresh folder.
    let tune = |model: Option<&str>, extra: &[&str], name: &str| {
        let out = scratch(name);
        let mut args = vec!["finetune", "--images", images.to_str().unwrap()];
        args.extend(model.map_or(vec![], |m| vec!["--model", m]));
        args.extend([
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--out",
            out.to_str().unwrap(),
        ]);
        args.extend(extra);
        let o = latentpad(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (o, latentpad::weights::WeightsFile::read(&out).unwrap())
    };
    let (o, file) = tune(Some("models/emoji-gan"), &["--invert-steps", "3"], "tuned");
    assert!(
        stderr(&o).contains("notes.png: not a readable image"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("quick mode: found the images in the model (mean pixel error 0."));
    assert!(file.meta.fine_tuned);
    assert!(file.has("generator") && file.has("discriminator"));

    // The default model (the VAE) with the page's quick mode: the saved model samples near
    // the two images (its prior's centres are their posterior means).
    let (o, file) = tune(None, &[], "tuned-vae");
    assert!(stdout(&o).contains("fine-tuning emoji-vae on 2 images"));
    assert!(stdout(&o).contains("quick mode: the encoder found the images"));
    assert!(file.meta.fine_tuned && file.has("encoder") && file.has("decoder"));
    let latentpad::model::ModelConfig::Vae(config) = &file.config else {
        panic!("not a VAE: {}", file.config.kind());
    };
    let prior = config
        .prior
        .as_ref()
        .expect("the quick mode's prior is saved");
    assert_eq!(prior.centres.len(), 2 * prior.latent_dim);
}

#[test]
fn bad_input_is_a_message_not_a_panic() {
    let out = scratch("bad").join("x.png");
    let cases: [(&[&str], &str); 22] = [
        (
            &[
                "prior",
                "--model",
                "models/emoji-gan",
                "--tone-directions",
                "8",
                "--out",
                "/dev/null",
            ],
            "--tone-directions is a VAE's",
        ),
        (
            &["prior", "--tone-directions", "0", "--out", "/dev/null"],
            "1 or more directions",
        ),
        (
            &[
                "prior",
                "--shaped-noise",
                "--principal-noise",
                "8",
                "--out",
                "/dev/null",
            ],
            "cannot be used with '--principal-noise",
        ),
        (
            &["prior", "--tone-weight", "purple=2", "--out", "/dev/null"],
            "unknown skin tone \"purple\"; valid: yellow, light",
        ),
        (
            &["prior", "--tone-weight", "yellow", "--out", "/dev/null"],
            "takes TONE=WEIGHT",
        ),
        (
            &[
                "recalibrate",
                "--model",
                "models/emoji-classifier",
                "--out",
                "/dev/null",
            ],
            "a GAN or a VAE",
        ),
        (
            &[
                "average",
                "--model",
                "models/emoji-gan",
                "--model",
                "models/emoji-cgan",
                "--out",
                "/dev/null",
            ],
            "weights are for",
        ),
        (
            &[
                "widen",
                "--model",
                "models/emoji-cgan",
                "--width",
                "48",
                "--out",
                "/dev/null",
            ],
            "a width above that",
        ),
        (
            &[
                "recalibrate",
                "--model",
                "models/emoji-gan",
                "--batch-size",
                "1",
                "--out",
                "/dev/null",
            ],
            "at least 2 latents",
        ),
        (
            &[
                "sample",
                "--model",
                "models/emoji-vae",
                "--best-of",
                "4",
                "--out",
                "/dev/null",
            ],
            "only a GAN has a discriminator",
        ),
        (
            &[
                "sample",
                "--model",
                "models/emoji-gan",
                "--best-of",
                "99",
                "--out",
                "/dev/null",
            ],
            "best-of takes 1 to 16",
        ),
        (
            &[
                "interpolate",
                "--from-seed",
                "1",
                "--to-seed",
                "2",
                "--truncation",
                "0",
                "--out",
                "/dev/null",
            ],
            "truncation must be a number above 0",
        ),
        (
            &["provenance", "tests/fixtures/bad/notes.png"],
            "not a readable image",
        ),
        (
            &["provenance", "tests/fixtures/good/rgba.png"],
            "no latentpad provenance",
        ),
        (
            &[
                "sample",
                "--model",
                "tests/fixtures/bad/notes.png",
                "--out",
                "/dev/null",
            ],
            "not a latentpad weights file",
        ),
        (
            &[
                "sample",
                "--model",
                "models/emoji-classifier",
                "--out",
                "/dev/null",
            ],
            "expected a gan or a vae",
        ),
        (
            &[
                "finetune",
                "--images",
                "tests/fixtures/bad",
                "--out",
                out.to_str().unwrap(),
            ],
            "no usable images found",
        ),
        (
            &[
                "sample",
                "--model",
                "models/emoji-gan",
                "--n",
                "0",
                "--out",
                "/dev/null",
            ],
            "--n must be between",
        ),
        (
            &[
                "sample",
                "--model",
                "models/emoji-gan",
                "--category",
                "smileys",
                "--out",
                "/dev/null",
            ],
            "this gan is not conditional",
        ),
        // The VAE is steered among its prior's centres: a condition its data has none of
        // (skin tones for flags) is refused by name.
        (
            &[
                "sample",
                "--model",
                "models/emoji-vae",
                "--category",
                "flags",
                "--skin-tone",
                "dark",
                "--out",
                "/dev/null",
            ],
            "has no emoji with skin tones",
        ),
        (
            &["--backend", "tpu", "sample", "--out", "/dev/null"],
            "unknown backend \"tpu\"; valid: cpu, wgpu",
        ),
        // The test build has no `wgpu` feature: the message says how to get it.
        (
            &["sample", "--backend", "wgpu", "--out", "/dev/null"],
            "built without the `wgpu` feature",
        ),
    ];
    for (args, expected) in cases {
        let o = latentpad(args);
        assert!(!o.status.success(), "{args:?} should fail");
        let err = stderr(&o);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
