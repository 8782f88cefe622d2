//! The wasm facade (`src/web.rs`) inside headless Chromium, through wasm-bindgen-test:
//! `make test-wasm` (wasm-bindgen-test-runner drives Debian's chromedriver). The CPU build;
//! the WebGPU path is covered by the Playwright tests (tests/e2e/webgpu.test.mjs).
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsError, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

use latentpad::web::{FineTuner, Model, decode_image};

wasm_bindgen_test_configure!(run_in_browser);

const GENERATOR: &[u8] = include_bytes!("../models/emoji-gan/generator.lpw");
const DISCRIMINATOR: &[u8] = include_bytes!("../models/emoji-gan/discriminator.lpw");
const CONDITIONAL: &[u8] = include_bytes!("../models/emoji-cgan/generator.lpw");
const RGBA_PNG: &[u8] = include_bytes!("fixtures/good/rgba.png");
const PHOTO_JPG: &[u8] = include_bytes!("fixtures/good/photo.jpg");
const IMAGE: usize = 64 * 64 * 4;

fn files(parts: &[&[u8]]) -> Array {
    parts
        .iter()
        .map(|p| JsValue::from(Uint8Array::from(*p)))
        .collect()
}

fn ok<T>(result: Result<T, JsError>) -> T {
    result.map_err(JsValue::from).expect("a JS error")
}

/// The message of the JS `Error` a call failed with.
fn message<T>(result: Result<T, JsError>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => String::from(JsValue::from(e).unchecked_into::<js_sys::Error>().message()),
    }
}

#[wasm_bindgen_test]
async fn same_seed_gives_the_same_images_and_image_i_is_seed_plus_i() {
    let g = ok(Model::load(files(&[GENERATOR]), "cpu".into()).await);
    assert_eq!((g.kind().as_str(), g.backend().as_str()), ("gan", "cpu"));
    let a = ok(g.sample(4, 7.0, None, None, None).await).to_vec();
    let b = ok(g.sample(4, 7.0, None, None, None).await).to_vec();
    assert_eq!(a.len(), 4 * IMAGE);
    assert_eq!(a, b);
    let shifted = ok(g.sample(2, 8.0, None, None, None).await).to_vec();
    assert_eq!(&a[IMAGE..3 * IMAGE], &shifted[..]);
    assert!(
        a.chunks(4).any(|p| p[..3] != a[..3]),
        "the image is one flat colour"
    );
    let strip = ok(g
        .interpolate(
            ok(g.latent(1.0, None, None, None)),
            ok(g.latent(2.0, None, None, None)),
            5,
            "slerp".into(),
        )
        .await);
    assert_eq!(strip.length() as usize, 5 * IMAGE);
}

/// The shipped conditional GAN: steering reaches the images, names are checked with a
/// message that lists the valid ones, and inversion returns one latent per image.
#[wasm_bindgen_test]
async fn steering_and_inversion_through_the_facade() {
    let g = ok(Model::load(files(&[CONDITIONAL]), "cpu".into()).await);
    let conditions = g.conditions();
    assert!(
        conditions.contains("\"people\"") && conditions.contains("\"dark\""),
        "{conditions}"
    );
    let dark = ok(g
        .sample(2, 7.0, Some("people".into()), Some("dark".into()), None)
        .await)
    .to_vec();
    let smileys = ok(g.sample(2, 7.0, Some("smileys".into()), None, None).await).to_vec();
    assert_ne!(dark, smileys);
    let msg = message(g.sample(1, 0.0, Some("cats".into()), None, None).await);
    assert!(
        msg.contains("unknown category \"cats\"; valid: activities"),
        "{msg}"
    );
    let msg = message(
        g.sample(1, 0.0, Some("flags".into()), Some("dark".into()), None)
            .await,
    );
    assert!(msg.contains("has no emoji with skin tones"), "{msg}");
    let latent = ok(g.latent(3.0, Some("people".into()), Some("light".into()), None));
    assert_eq!(latent.len(), g.latent_dim());
    // Truncation scales the Gaussian part only; the condition code stays.
    let half = ok(g.latent(3.0, Some("people".into()), Some("light".into()), Some(0.5)));
    let k = latent.len() - 17;
    assert!(
        latent[..k]
            .iter()
            .zip(&half[..k])
            .all(|(a, b)| (0.5 * a - b).abs() < 1e-6)
    );
    assert_eq!(latent[k..], half[k..]);
    let msg = message(g.sample(1, 0.0, None, None, Some(1.5)).await);
    assert!(msg.contains("truncation must be"), "{msg}");
    let found = ok(g.invert(dark[..IMAGE].to_vec(), 3).await);
    let field = |key: &str| js_sys::Reflect::get(&found, &JsValue::from_str(key)).unwrap();
    let latents: js_sys::Float32Array = field("latents").dyn_into().unwrap();
    let errors: js_sys::Float32Array = field("errors").dyn_into().unwrap();
    let images: js_sys::Uint8ClampedArray = field("images").dyn_into().unwrap();
    assert_eq!(latents.length() as usize, g.latent_dim());
    assert_eq!(errors.length(), 1);
    assert!((0.0..1.0).contains(&errors.get_index(0)));
    assert_eq!(images.length() as usize, IMAGE);
}

#[wasm_bindgen_test]
async fn bad_arguments_and_files_become_js_errors_with_messages() {
    let msg = message(Model::load(files(&[b"not weights at all"]), "cpu".into()).await);
    assert!(msg.contains("weights file 1"), "{msg}");
    let msg = message(Model::load(files(&[GENERATOR]), "webgpu".into()).await);
    assert!(msg.contains("not in this build"), "{msg}");
    let g = ok(Model::load(files(&[GENERATOR]), "cpu".into()).await);
    assert!(message(g.sample(0, 1.0, None, None, None).await).contains("n must be 1 to 256"));
    assert!(
        message(g.sample(1, -1.0, None, None, None).await).contains("seed must be a whole number")
    );
    assert!(message(g.encode(vec![0; IMAGE]).await).contains("VAE"));
    let msg = message(g.sample(1, 0.0, Some("people".into()), None, None).await);
    assert!(msg.contains("this gan is not conditional"), "{msg}");
    let msg = message(decode_image(b"hello", "notes.png"));
    assert!(msg.contains("notes.png"), "{msg}");
}

#[wasm_bindgen_test]
async fn uploads_decode_and_a_fine_tuning_step_runs_and_exports() {
    let mut rgba = ok(decode_image(RGBA_PNG, "rgba.png")).to_vec();
    rgba.extend(ok(decode_image(PHOTO_JPG, "photo.jpg")).to_vec());
    assert_eq!(rgba.len(), 2 * IMAGE);
    let mut tuner =
        ok(FineTuner::create(files(&[GENERATOR, DISCRIMINATOR]), rgba, 2, 2, "cpu".into()).await);
    let losses = ok(tuner.train_steps(1).await);
    assert_eq!(losses.len(), 2);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert_eq!(tuner.steps(), 1.0);
    let bytes = ok(tuner.export_weights().await);
    // reset: step 0 again, the pretrained model's samples, and it trains on from there.
    ok(tuner.reset());
    assert_eq!(tuner.steps(), 0.0);
    let pretrained = ok(Model::load(files(&[GENERATOR]), "cpu".into()).await);
    assert_eq!(
        ok(tuner.sample(1, 0.0).await).to_vec(),
        ok(pretrained.sample(1, 0.0, None, None, None).await).to_vec()
    );
    assert_eq!(ok(tuner.train_steps(1).await).len(), 2);
    assert_eq!(tuner.steps(), 1.0);
    let tuned = ok(Model::load(files(&[&bytes]), "cpu".into()).await);
    assert!(tuned.fine_tuned());
    assert_eq!(
        ok(tuned.sample(1, 0.0, None, None, None).await).length() as usize,
        IMAGE
    );
    let msg = message(
        FineTuner::create(
            files(&[GENERATOR, DISCRIMINATOR]),
            Vec::new(),
            2,
            2,
            "cpu".into(),
        )
        .await,
    );
    assert!(msg.contains("at least one image"), "{msg}");
}

/// The browser builds multiply matrices with latentpad's own packed kernel: the convolutions
/// built on it give burn's own results, and gradients, on shapes that cross its tile and
/// block edges (10 output channels, 320-long rows).
#[wasm_bindgen_test]
async fn the_browsers_matrix_kernel_gives_burns_convolutions_and_gradients() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use latentpad::backend::{flex, read_f32};

    /// Largest difference relative to the largest value of `b` (at least 1).
    async fn relative_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let scale = read_f32(b.clone().abs().max()).await.expect("read")[0];
        let worst = read_f32((a - b).abs().max()).await.expect("read")[0];
        worst / scale.max(1.0)
    }
    let device = Device::flex().autodiff();
    let conv = Conv2dConfig::new([20, 10], [4, 4])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    let transposed = ConvTranspose2dConfig::new([20, 12], [4, 4])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .init(&device);
    let x = Tensor::<4>::random([3, 20, 16, 16], Distribution::Default, &device).require_grad();
    let cases: [(
        &dyn Fn(Tensor<4>) -> Tensor<4>,
        &dyn Fn(Tensor<4>) -> Tensor<4>,
        Tensor<4>,
    ); 2] = [
        (
            &|x| flex::conv2d(&conv, x),
            &|x| conv.forward(x),
            conv.weight.val(),
        ),
        (
            &|x| flex::conv_transpose2d(&transposed, x),
            &|x| transposed.forward(x),
            transposed.weight.val(),
        ),
    ];
    for (i, (ours, burns, weight)) in cases.into_iter().enumerate() {
        let (a, b) = (ours(x.clone()), burns(x.clone()));
        let scale = read_f32(b.clone().abs().max()).await.expect("read")[0];
        assert!(scale > 0.1, "case {i}: a real output");
        let difference = relative_difference(a.clone(), b.clone()).await;
        assert!(
            difference < 1e-4,
            "case {i}: outputs differ by {difference}"
        );
        let mix = Tensor::<4>::random(a.dims(), Distribution::Default, &device);
        let grads_a = (a * mix.clone()).sum().backward();
        let grads_b = (b * mix).sum().backward();
        for t in [&x, &weight] {
            let (ga, gb) = (
                t.grad(&grads_a).expect("grad"),
                t.grad(&grads_b).expect("grad"),
            );
            let difference = relative_difference(ga, gb).await;
            assert!(
                difference < 1e-4,
                "case {i}: gradients differ by {difference}"
            );
        }
    }
}
