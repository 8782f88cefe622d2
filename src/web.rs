//! The only `#[wasm_bindgen]` code: thin JS classes over the library. Types are converted
//! here and nothing else happens; every error becomes a JS `Error` with a human message.

use burn::prelude::*;
use js_sys::{Array, Uint8Array, Uint8ClampedArray};
use wasm_bindgen::prelude::*;

use crate::image::{self, Rgb64};
use crate::latent::Interpolation;
use crate::limits::MAX_SAMPLE;
use crate::model::LatentModel;
use crate::train::finetune::FineTuning;
use crate::weights::WeightsFile;

/// Installs the panic hook so a bug shows a readable message in the console.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The threaded CPU build (pkg/threads) only: `initThreadPool(n)` starts `n` Web Workers that
/// share this module's memory and run its rayon pool. The worker calls it once after
/// instantiating the module, and only where the page is cross-origin isolated.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

#[cfg(feature = "webgpu")]
thread_local! {
    static WEBGPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
}

/// Acquires the browser's WebGPU device for burn. Call once, before loading a model with
/// `backend: "webgpu"` (the runtime cannot be initialised twice).
#[cfg(feature = "webgpu")]
#[wasm_bindgen(js_name = initWebGpu)]
pub async fn init_webgpu() -> Result<(), JsError> {
    if WEBGPU.with(|d| d.borrow().is_some()) {
        return Ok(());
    }
    let device = Device::wgpu_options()
        .graphics_api(burn::tensor::wgpu::WgpuBackend::WebGpu)
        .init_async()
        .await
        .map_err(|e| JsError::new(&format!("could not start WebGPU: {e}")))?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device));
    Ok(())
}

/// The device for a backend name.
fn device_for(backend: &str) -> Result<Device, JsError> {
    match backend {
        "cpu" => Ok(Device::flex()),
        #[cfg(feature = "webgpu")]
        "webgpu" => WEBGPU
            .with(|d| d.borrow().clone())
            .ok_or_else(|| JsError::new("WebGPU is not started (initWebGpu was not called)")),
        other => Err(JsError::new(&format!(
            "backend {other:?} is not in this build; it has {}",
            if cfg!(feature = "webgpu") {
                "\"webgpu\" and \"cpu\""
            } else {
                "only \"cpu\""
            }
        ))),
    }
}

/// Runs CPU work where the kernels' threads are: in the threaded build, inside the rayon pool,
/// so a call hands its work to the pool once instead of once per kernel (each hand-over wakes
/// a Web Worker, which costs about as much as a small kernel); elsewhere, right here. Only CPU
/// work runs in the threaded build, whose reads never wait, so blocking on it there is safe.
#[cfg(feature = "threads")]
async fn on_pool<F>(work: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    rayon::scope(|_| pollster::block_on(work))
}

#[cfg(not(feature = "threads"))]
async fn on_pool<F: std::future::Future>(work: F) -> F::Output {
    work.await
}

fn js_error(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

fn seed_of(seed: f64) -> Result<u64, JsError> {
    crate::latent::seed_from_f64(seed).map_err(js_error)
}

/// The images `make` computes (on the pool), as RGBA in the typed array the page draws from.
async fn rgba_of(
    make: impl FnOnce() -> crate::Result<Tensor<4>> + Send,
) -> Result<Uint8ClampedArray, JsError> {
    let rgba = on_pool(async { image::to_rgba(make()?).await })
        .await
        .map_err(js_error)?;
    Ok(Uint8ClampedArray::from(rgba.as_slice()))
}

fn parse_files(files: Array) -> Result<WeightsFile, JsError> {
    let mut parsed = Vec::new();
    for (i, value) in files.iter().enumerate() {
        let bytes = value
            .dyn_into::<Uint8Array>()
            .map_err(|_| JsError::new(&format!("weights file {} is not a Uint8Array", i + 1)))?
            .to_vec();
        parsed.push(
            WeightsFile::parse(&bytes, &format!("weights file {}", i + 1)).map_err(js_error)?,
        );
    }
    WeightsFile::merge(parsed).map_err(js_error)
}

/// A generative model (a GAN or a VAE) loaded in the browser: it samples, interpolates,
/// encodes and decodes. The JS API wraps it in its own `Generator` class.
#[wasm_bindgen]
pub struct Model {
    inner: LatentModel,
    backend: String,
    name: String,
    fine_tuned: bool,
}

#[wasm_bindgen]
impl Model {
    /// Loads a model from the bytes of its `.lpw` files (one or several, e.g. generator and
    /// discriminator) onto `backend`: "cpu", or "webgpu" in the WebGPU build after
    /// `initWebGpu`. Choosing between them ("auto") is the worker's job: it sees the adapter.
    pub async fn load(files: Array, backend: String) -> Result<Model, JsError> {
        let device = device_for(&backend)?;
        let file = parse_files(files)?;
        let inner = LatentModel::from_weights(&file, &device).map_err(js_error)?;
        // Warm-up: the first forward pass allocates; do it before the first visible image.
        let _ = image::to_rgba(inner.sample(1, 0).map_err(js_error)?)
            .await
            .map_err(js_error)?;
        Ok(Model {
            inner,
            backend,
            name: file.meta.name.clone(),
            fine_tuned: file.meta.fine_tuned,
        })
    }

    /// "gan" or "vae".
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.inner.config.kind().to_string()
    }

    /// The model's name from its weights file.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Whether the weights were fine-tuned from a shipped model.
    #[wasm_bindgen(getter, js_name = fineTuned)]
    pub fn fine_tuned(&self) -> bool {
        self.fine_tuned
    }

    /// The backend running the model ("cpu" or "webgpu").
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Length of a latent vector.
    #[wasm_bindgen(getter, js_name = latentDim)]
    pub fn latent_dim(&self) -> usize {
        self.inner.latent_dim()
    }

    /// What the model can be steered to, as JSON: `{"categories": [...], "tones": [...],
    /// "toned": [...]}` (short category names, skin-tone names, the categories that have
    /// skin tones), or `null` for a model that is not conditional.
    #[wasm_bindgen(getter)]
    pub fn conditions(&self) -> String {
        let Some(c) = self.inner.conditions() else {
            return "null".into();
        };
        let names = c.category_names();
        let toned: Vec<&String> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| c.has_tones(*i))
            .map(|(_, n)| n)
            .collect();
        serde_json::json!({
            "categories": names,
            "tones": &crate::model::TONES[1..],
            "toned": toned,
        })
        .to_string()
    }

    /// Whether the model can encode images (a VAE; its encoder may still have to be loaded,
    /// see `hasEncoder`).
    #[wasm_bindgen(getter, js_name = canEncode)]
    pub fn can_encode(&self) -> bool {
        matches!(self.inner.config, crate::model::ModelConfig::Vae(_))
    }

    /// Whether the encoder is loaded (`encode` and a VAE's `invert` need it; see
    /// `withEncoder`).
    #[wasm_bindgen(getter, js_name = hasEncoder)]
    pub fn has_encoder(&self) -> bool {
        self.inner.encoder.is_some()
    }

    /// This VAE with its encoder, from the bytes of the `.lpw` file(s) that hold it (the page
    /// fetches the encoder only once images are to be encoded). A new object, so that calls
    /// still running on this one are not disturbed; the weights are shared, not copied.
    #[wasm_bindgen(js_name = withEncoder)]
    pub fn with_encoder(&self, files: Array) -> Result<Model, JsError> {
        let file = parse_files(files)?;
        let mut inner = self.inner.clone();
        inner.attach_encoder(&file).map_err(js_error)?;
        Ok(Model {
            inner,
            backend: self.backend.clone(),
            name: self.name.clone(),
            fine_tuned: self.fine_tuned,
        })
    }

    /// `n` images for seeds `seed .. seed + n`, as `n * 64 * 64` RGBA pixels; a steerable
    /// model (conditional GAN, VAE with a fitted prior) can be steered to a `category` and a
    /// `tone` (names; `undefined` draws them); `truncation` (0 to 1, `undefined` for 1) draws
    /// more typical, less varied images.
    pub async fn sample(
        &self,
        n: u32,
        seed: f64,
        category: Option<String>,
        tone: Option<String>,
        truncation: Option<f32>,
    ) -> Result<Uint8ClampedArray, JsError> {
        if n == 0 || n as usize > MAX_SAMPLE {
            return Err(JsError::new(&format!(
                "n must be 1 to {MAX_SAMPLE}, not {n}"
            )));
        }
        let steering = self
            .inner
            .steering(category.as_deref(), tone.as_deref())
            .map_err(js_error)?;
        let seed = seed_of(seed)?;
        let model = self.truncated(truncation)?;
        rgba_of(|| model.sample_steered(n as usize, seed, steering)).await
    }

    /// The model drawing latents at `truncation` (a cheap copy: the weights are shared).
    fn truncated(
        &self,
        truncation: Option<f32>,
    ) -> Result<std::borrow::Cow<'_, LatentModel>, JsError> {
        match truncation {
            None => Ok(std::borrow::Cow::Borrowed(&self.inner)),
            Some(psi) => {
                let mut model = self.inner.clone();
                model.set_truncation(psi).map_err(js_error)?;
                Ok(std::borrow::Cow::Owned(model))
            }
        }
    }

    /// Images for latent vectors (`n * latentDim` floats).
    pub async fn decode(&self, z: Vec<f32>) -> Result<Uint8ClampedArray, JsError> {
        rgba_of(|| self.inner.decode(&z)).await
    }

    /// The latent vector of a seed (with a conditional GAN's condition code, steered and
    /// truncated as in `sample`).
    pub fn latent(
        &self,
        seed: f64,
        category: Option<String>,
        tone: Option<String>,
        truncation: Option<f32>,
    ) -> Result<Vec<f32>, JsError> {
        let steering = self
            .inner
            .steering(category.as_deref(), tone.as_deref())
            .map_err(js_error)?;
        self.truncated(truncation)?
            .latent(seed_of(seed)?, steering)
            .map_err(js_error)
    }

    /// `frames` images from latent `a` to latent `b`; `how` is "slerp" or "lerp".
    pub async fn interpolate(
        &self,
        a: Vec<f32>,
        b: Vec<f32>,
        frames: u32,
        how: String,
    ) -> Result<Uint8ClampedArray, JsError> {
        let how: Interpolation = how.parse().map_err(js_error)?;
        rgba_of(|| self.inner.interpolate(&a, &b, frames as usize, how)).await
    }

    /// "Find my images" for 64x64 RGBA images: a GAN inverts them in `steps` steps, a VAE
    /// encodes them and refines its posterior means for `steps` (at most 50) steps:
    /// `{ latents: Float32Array (n * latentDim), errors: Float32Array (mean squared pixel
    /// error of each, pixels in 0-1), images: Uint8ClampedArray (the latents' images, RGBA) }`.
    pub async fn invert(&self, rgba: Vec<u8>, steps: u32) -> Result<js_sys::Object, JsError> {
        let images = image::from_rgba(&rgba).map_err(js_error)?;
        let refs: Vec<&Rgb64> = images.iter().collect();
        let config = crate::invert::InvertConfig {
            steps: steps as usize,
            ..Default::default()
        };
        let (found, rgba) = on_pool(async {
            let found = crate::invert::find(&self.inner, &refs, config, |_, _, _| true).await?;
            let rgba = image::to_rgba(found.images.clone()).await?;
            Ok::<_, crate::Error>((found, rgba))
        })
        .await
        .map_err(js_error)?;
        let out = js_sys::Object::new();
        let set = |key: &str, value: JsValue| {
            js_sys::Reflect::set(&out, &JsValue::from_str(key), &value)
                .map(|_| ())
                .map_err(|_| JsError::new("could not build the inversion's result"))
        };
        set(
            "latents",
            js_sys::Float32Array::from(found.latents.as_slice()).into(),
        )?;
        set(
            "errors",
            js_sys::Float32Array::from(found.errors.as_slice()).into(),
        )?;
        set("images", Uint8ClampedArray::from(rgba.as_slice()).into())?;
        Ok(out)
    }

    /// Latent vectors (posterior means) of 64x64 RGBA images (`n * 64 * 64 * 4` bytes).
    pub async fn encode(&self, rgba: Vec<u8>) -> Result<Vec<f32>, JsError> {
        let images = image::from_rgba(&rgba).map_err(js_error)?;
        let refs: Vec<&Rgb64> = images.iter().collect();
        on_pool(self.inner.encode(&refs)).await.map_err(js_error)
    }
}

/// Encodes RGBA pixels as a PNG carrying latentpad's provenance text (software, model,
/// fine-tuned or not, the latent, "AI-generated").
#[wasm_bindgen(js_name = encodePng)]
pub fn encode_png(
    rgba: &[u8],
    width: u32,
    height: u32,
    model: String,
    fine_tuned: bool,
    latent: String,
) -> Result<Vec<u8>, JsError> {
    let provenance = image::Provenance {
        model,
        fine_tuned,
        latent,
    };
    image::encode_png(rgba, width, height, &provenance).map_err(js_error)
}

/// Decodes an uploaded file (PNG, JPEG, WebP, GIF) to 64x64 RGBA, or fails with a message
/// naming the file.
#[wasm_bindgen(js_name = decodeImage)]
pub fn decode_image(bytes: &[u8], name: &str) -> Result<Uint8ClampedArray, JsError> {
    let rgb = image::decode(bytes, name).map_err(js_error)?;
    Ok(Uint8ClampedArray::from(rgb.to_rgba().as_slice()))
}

/// Fine-tuning of a loaded model on the user's images (`train::finetune::FineTuning`), a few
/// steps per call so the worker can post progress and cancel between calls.
#[wasm_bindgen]
pub struct FineTuner {
    inner: FineTuning,
}

#[wasm_bindgen]
impl FineTuner {
    /// Starts from the bytes of a model's `.lpw` files (a GAN's generator and discriminator,
    /// or a VAE's encoder and decoder) and 64x64 RGBA images (`n * 64 * 64 * 4` bytes).
    pub async fn create(
        files: Array,
        rgba: Vec<u8>,
        batch_size: u32,
        freeze_discriminator_layers: u32,
        backend: String,
    ) -> Result<FineTuner, JsError> {
        let device = device_for(&backend)?;
        let file = parse_files(files)?;
        let images = image::from_rgba(&rgba)
            .map_err(|_| JsError::new("add at least one image before fine-tuning"))?;
        let inner = FineTuning::new(
            file,
            images,
            batch_size as usize,
            freeze_discriminator_layers as usize,
            &device,
        )
        .map_err(js_error)?;
        Ok(FineTuner { inner })
    }

    /// Back to the pretrained weights it started from (step 0, same images).
    pub fn reset(&mut self) -> Result<(), JsError> {
        self.inner.reset().map_err(js_error)
    }

    /// Steps taken so far.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> f64 {
        self.inner.steps() as f64
    }

    /// Runs `k` steps; returns the losses of each, two numbers per step (GAN: discriminator,
    /// generator; VAE: reconstruction, KL).
    #[wasm_bindgen(js_name = trainSteps)]
    pub async fn train_steps(&mut self, k: u32) -> Result<Vec<f32>, JsError> {
        let inner = &mut self.inner;
        on_pool(async move {
            let mut losses = Vec::with_capacity(2 * k as usize);
            for _ in 0..k {
                losses.extend(inner.step().await?.pair());
            }
            Ok(losses)
        })
        .await
        .map_err(js_error)
    }

    /// Starts the quick mode: inverting the images (up to 32) into the GAN's latent space in
    /// `steps` steps, taken by `quickModeStep`; then samples and training draw near them.
    #[wasm_bindgen(js_name = startQuickMode)]
    pub async fn start_quick_mode(&mut self, steps: u32) -> Result<(), JsError> {
        on_pool(self.inner.start_quick_mode(steps as usize))
            .await
            .map_err(js_error)
    }

    /// One inversion step of the quick mode: the mean squared pixel error (pixels in 0-1), or
    /// `undefined` once done (the prior is then in place).
    #[wasm_bindgen(js_name = quickModeStep)]
    pub async fn quick_mode_step(&mut self) -> Result<Option<f32>, JsError> {
        on_pool(self.inner.quick_mode_step())
            .await
            .map_err(js_error)
    }

    /// Stops the quick mode's inversion; no prior is set.
    #[wasm_bindgen(js_name = cancelQuickMode)]
    pub fn cancel_quick_mode(&mut self) {
        self.inner.cancel_quick_mode();
    }

    /// Preview samples of the model as trained so far (RGBA).
    pub async fn sample(&self, n: u32, seed: f64) -> Result<Uint8ClampedArray, JsError> {
        let seed = seed_of(seed)?;
        rgba_of(|| self.inner.preview(n as usize, seed)).await
    }

    /// The fine-tuned model as one `.lpw` file (marked fine-tuned), loadable by
    /// `Model.load` and `FineTuner.create`.
    #[wasm_bindgen(js_name = exportWeights)]
    pub async fn export_weights(&self) -> Result<Vec<u8>, JsError> {
        Ok(self.inner.export().await.map_err(js_error)?.to_bytes())
    }
}
