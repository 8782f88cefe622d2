// latentpad's script API: load a model, sample, interpolate, encode, fine-tune, export, all
// computed in the page's shared Web Worker. Types: api.d.ts. No model logic here.
import { call, onWorkerEvent } from "./client.js";
import { BATCH_SIZE, INVERT_STEPS, MAX_FILE_BYTES, MAX_UPLOADS, STEPS, defaultSteps, inRange, megabytes, rangeRule } from "./limits.js";
import { rememberBackend, rememberedBackend } from "./storage.js";

export { deleteSavedModel, forgetBackend, loadSavedModel, saveModel, savedModels } from "./storage.js";

/** Images are 64x64 RGBA. */
export const SIZE = 64;
/** Shipped models, by name; any other `model` is the URL of a model folder. */
export const SHIPPED_MODELS = ["emoji-vae", "emoji-gan", "emoji-cgan"];
/**
 * The model the page and the element load when none is named: the VAE with its fitted prior
 * draws the most recognisable samples (about 52 of 64) and fine-tunes best on a few uploads
 * (docs/finetune-bench.md, "The VAE as the default").
 */
export const DEFAULT_MODEL = "emoji-vae";
const MODELS_DIR = new URL("../models/", import.meta.url);
export const BACKENDS = ["auto", "webgpu", "cpu"];

/**
 * Threads of the CPU build, before the page loads its first model: `threads` Web Workers run
 * its kernels where the page is cross-origin isolated (default: the device's cores, at most 8),
 * 0 for the single-threaded build. Rejects once the CPU build runs.
 */
export function setCpuThreads(threads) {
  return call("setCpuThreads", { threads }).catch((e) => {
    throw new LatentpadError("attribute", e.message);
  });
}

/** Upload limits: images per fine-tune and bytes per file (limits.js). */
export { MAX_FILE_BYTES, MAX_UPLOADS };

// Per kind, the files to sample and those added to fine-tune (a VAE's encoder also to encode:
// fetched when first needed, so a first visit downloads the decoder only).
const FILES = { gan: [["generator.lpw"], ["discriminator.lpw"]], vae: [["decoder.lpw"], ["encoder.lpw"]] };

/** An error with a `type` the widget reports in its `error` event. */
export class LatentpadError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

/** A model folder's weight URLs: `sample` to sample, `train` added to fine-tune. */
async function modelFolder(model) {
  const base = SHIPPED_MODELS.includes(model) ? new URL(`${model}/`, MODELS_DIR) : new URL(model.endsWith("/") ? model : `${model}/`, document.baseURI);
  let config;
  try {
    const response = await fetch(new URL("config.json", base));
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    if ((response.headers.get("content-type") || "").includes("text/html")) throw new Error("got a web page, not a model's config");
    config = await response.json();
  } catch (e) {
    throw new LatentpadError("load-failure", `${model}: no model folder there (config.json: ${e.message.replace(/^JSON.parse: /, "")})`);
  }
  const files = FILES[config?.kind];
  if (!files) throw new LatentpadError("load-failure", `${model}: config.json names no GAN or VAE`);
  const url = (f) => new URL(f, base).href;
  return { kind: config.kind, sample: files[0].map(url), train: [...files[0], ...files[1]].map(url) };
}

const shared = new Map(); // "model|backend" -> Promise<Generator>, one copy per page
const lostListeners = new Set();
onWorkerEvent((e) => {
  if (e.event !== "device-lost") return;
  for (const key of [...shared.keys()]) if (key.endsWith("|webgpu") || key.endsWith("|auto")) shared.delete(key);
  for (const listener of lostListeners) listener(e.message);
});

/** Calls `listener(message)` when the GPU device is lost; returns an unsubscribe. */
export function onDeviceLost(listener) {
  lostListeners.add(listener);
  return () => lostListeners.delete(listener);
}

/** A loaded model. Several callers asking for one model and backend share one copy. */
export class Generator {
  /**
   * Loads a shipped model by name or a model folder by URL.
   * `backend`: "auto" (WebGPU when the browser has it, else CPU), "webgpu" or "cpu".
   * `onProgress({ loaded, total })` follows the weight download.
   */
  static load(model = DEFAULT_MODEL, { backend = "auto", onProgress, probe = false } = {}) {
    if (!BACKENDS.includes(backend)) return Promise.reject(new LatentpadError("attribute", `backend must be auto, webgpu or cpu, not "${backend}"`));
    const key = `${model}|${backend}${probe ? "|probe" : ""}`;
    if (!shared.has(key)) {
      const promise = (async () => {
        const folder = await modelFolder(model);
        const remembered = probe ? null : rememberedBackend();
        const info = await call("load", { urls: folder.sample, trainUrls: folder.train, backend, remembered, probe }, { onProgress: (p) => progressListeners.get(key)?.forEach((f) => f(p)) }).catch((e) => {
          throw new LatentpadError("load-failure", `could not load ${model}: ${e.message}`);
        });
        if (info.measured) rememberBackend({ backend: info.backend, why: `${info.why} (measured on ${new Date().toLocaleDateString()})`, measured: info.measured });
        return new Generator(info, { model, urls: folder.train });
      })();
      shared.set(key, promise);
      promise.catch(() => shared.delete(key));
    }
    if (onProgress) {
      if (!progressListeners.has(key)) progressListeners.set(key, new Set());
      progressListeners.get(key).add(onProgress);
      const done = () => progressListeners.get(key)?.delete(onProgress);
      shared.get(key).then(done, done);
    }
    return shared.get(key);
  }

  /** Loads a model from the bytes of an `.lpw` file (an exported fine-tuned model). */
  static async fromBytes(bytes, { name = "model.lpw", backend = "auto" } = {}) {
    const copy = new Uint8Array(bytes).slice().buffer;
    const info = await call("loadBytes", { bytes: copy, name, backend }, { transfer: [copy] }).catch((e) => {
      throw new LatentpadError("load-failure", `could not load ${name}: ${e.message}`);
    });
    return new Generator(info, { model: name, bytes: new Uint8Array(bytes).slice() });
  }

  constructor(info, source) {
    Object.assign(this, { measured: info.measured ?? null, kind: info.kind, backend: info.backend, threads: info.threads ?? null, name: info.name, fineTuned: info.fineTuned, latentDim: info.latentDim, conditions: info.conditions ?? null, canEncode: info.canEncode, notice: info.notice ?? null, noWebGpu: Boolean(info.noWebGpu), why: info.why ?? null });
    this.model = source.model;
    this.key = info.key;
    this.source = source;
  }

  /**
   * `n` images (RGBA, `n * 64 * 64 * 4` bytes) for seeds `seed .. seed + n`. A conditional
   * model (`conditions` not null) can be steered: `{ category: "smileys", skinTone: "dark" }`.
   * `truncation` (above 0, at most 1; default 1) trades variety for typical, cleaner images.
   */
  sample(n, seed = 0, { category, skinTone, truncation } = {}) {
    return call("sample", { key: this.key, n, seed, category: category || null, skinTone: skinTone || null, truncation: truncation ?? null });
  }

  /**
   * `frames` images from `from` to `to`, each a seed, a latent vector, or
   * `{ seed, category, skinTone, truncation }` (as in `sample`), so a walk can go from one
   * category or tone to another; "slerp" or "lerp".
   */
  interpolate(from, to, frames = 16, how = "slerp") {
    const latent = (x) =>
      typeof x === "number" ? x : ArrayBuffer.isView(x) || Array.isArray(x) ? Array.from(x) : { seed: x.seed ?? 0, category: x.category || null, skinTone: x.skinTone || null, truncation: x.truncation ?? null };
    return call("interpolate", { key: this.key, from: latent(from), to: latent(to), frames, how });
  }

  /** Latent vectors (VAE only) of 64x64 RGBA images. */
  encode(rgba) {
    if (!this.canEncode) return Promise.reject(new Error(`${this.name} is a ${this.kind.toUpperCase()}; only a VAE can encode images`));
    const copy = new Uint8Array(rgba.buffer ? rgba.buffer.slice(rgba.byteOffset, rgba.byteOffset + rgba.byteLength) : rgba).buffer;
    return call("encode", { key: this.key, urls: this.source.urls ?? null, rgba: copy }, { transfer: [copy] });
  }

  /**
   * "Find my image": for 64x64 RGBA images, `{ latents, errors, images }`: the latents whose
   * images come closest, each one's mean squared pixel error (0-1), and those images (RGBA).
   * A GAN searches for them in `steps` inversion steps; a VAE's encoder finds them at once and
   * its latents are refined for `steps` (at most 50; 0: the encoder's as they are).
   */
  invert(rgba, { steps = 150 } = {}) {
    if (this.kind !== "gan" && !this.canEncode) return Promise.reject(new Error(`${this.name} is a ${this.kind.toUpperCase()}; it cannot find images`));
    const copy = new Uint8Array(rgba.buffer ? rgba.buffer.slice(rgba.byteOffset, rgba.byteOffset + rgba.byteLength) : rgba).buffer;
    return call("invert", { key: this.key, urls: this.source.urls ?? null, rgba: copy, steps }, { transfer: [copy] });
  }

  /** Images (RGBA) of latent vectors (`n * latentDim` numbers). */
  decode(latents) {
    return call("decode", { key: this.key, latents: Array.from(latents) });
  }

  /** A PNG (Blob) of RGBA pixels with provenance text: this model, the latent or seed, "AI-generated". */
  async toPng(rgba, width, height, latent) {
    const copy = new Uint8Array(rgba.buffer ? rgba.buffer.slice(rgba.byteOffset, rgba.byteOffset + rgba.byteLength) : rgba).buffer;
    const png = await call("encodePng", { rgba: copy, width, height, model: this.name, fineTuned: this.fineTuned, latent: String(latent) }, { transfer: [copy] });
    return new Blob([png], { type: "image/png" });
  }

  /**
   * The `.lpw` bytes of a model made in this page (fine-tuned or loaded from a file), else
   * null. A fine-tuned model's bytes live in the worker until asked for here.
   */
  async weights() {
    if (this.source.bytes) return this.source.bytes;
    if (this.source.inWorker) return new Uint8Array(await call("weights", { key: this.key }));
    return null;
  }

  /**
   * Fine-tunes a copy of this model on `images` (an array of 64x64 RGBA arrays, see
   * `decodeImages`). Returns a run: `cancel()` stops it after the step under way, `done`
   * resolves to the fine-tuned Generator. `onStep({ step, steps, losses, labels })` follows
   * every step; `onPreview(rgba)` gets 8 preview samples every `previewEvery` steps. A GAN
   * first runs the quick mode: `invertSteps` inversion steps that find the images in its latent
   * space (0 skips them), followed by `onInvert({ step, steps, error })`; a VAE's quick mode
   * needs no inversion (its encoder finds the images at once), and any `invertSteps` above 0
   * turns it on: its samples then start near the images. (`priorSteps`, the option's old
   * name, is still read.)
   */
  fineTune(images, { steps = defaultSteps(images?.length ?? 0), batchSize = BATCH_SIZE, freeze = 2, invertSteps, priorSteps, backend, previewEvery = 10, onStep, onPreview, onInvert } = {}) {
    invertSteps ??= priorSteps ?? INVERT_STEPS.fallback;
    const run = { cancelled: false };
    const id = `run-${++runs}`;
    const labels = this.kind === "gan" ? ["discriminator", "generator"] : ["reconstruction", "KL"];
    const done = (async () => {
      if (!inRange(steps, STEPS)) throw new LatentpadError("finetune", rangeRule("steps", STEPS));
      if (!images?.length) throw new LatentpadError("finetune", "add at least one image before fine-tuning");
      if (!inRange(invertSteps, INVERT_STEPS)) throw new LatentpadError("finetune", rangeRule("invertSteps", INVERT_STEPS));
      const buffers = images.map((img) => new Uint8Array(img).slice().buffer);
      const bytes = this.source.bytes ? this.source.bytes.slice().buffer : undefined;
      const transfer = bytes ? [...buffers, bytes] : buffers;
      const key = this.source.inWorker ? this.key : undefined;
      await call("fineTuneStart", { run: id, urls: this.source.urls, bytes, key, images: buffers, batchSize, freeze, backend: backend ?? this.backend }, { transfer });
      try {
        // The loop runs in the worker; each step and each preview comes back as progress.
        const onProgress = (p) =>
          p.preview ? onPreview?.(p.preview) : p.phase === "invert" ? onInvert?.({ step: p.step, steps: p.total, error: p.error }) : onStep?.({ step: p.step, steps, losses: p.losses, labels });
        run.started = true;
        if (run.cancelled) call("fineTuneCancel", { run: id }).catch(() => {});
        const result = await call("fineTuneRun", { run: id, steps, previewEvery, invertSteps }, { onProgress });
        // Registered in the worker: the weights stay there until a save or an export.
        const name = `${this.name}-finetuned`;
        const info = await call("fineTuneRegister", { run: id, name, backend: backend ?? this.backend }).catch((e) => {
          throw new LatentpadError("finetune", `could not load the fine-tuned model: ${e.message}`);
        });
        const tuned = new Generator(info, { model: name, inWorker: true });
        tuned.stepsTrained = result.steps;
        tuned.cancelled = result.cancelled;
        return tuned;
      } finally {
        call("fineTuneEnd", { run: id }).catch(() => {});
      }
    })();
    const cancel = () => {
      run.cancelled = true;
      if (run.started) call("fineTuneCancel", { run: id }).catch(() => {});
    };
    return { done, cancel, labels };
  }

  /** Releases the worker's copy (models loaded from bytes only; shared models stay). */
  free() {
    if (this.source.bytes || this.source.inWorker) call("free", { key: this.key }).catch(() => {});
  }
}
let runs = 0;
const progressListeners = new Map();

/**
 * Decodes image files (PNG, JPEG, WebP, GIF) in the worker to 64x64 RGBA, 16 at a time.
 * Returns `{ images: [{ name, rgba }], errors: [message] }`; `onProgress(done, total)`.
 */
export async function decodeImages(files, { onProgress, room = MAX_UPLOADS } = {}) {
  files = [...files];
  const errors = [];
  if (files.length > room) errors.push(`only ${MAX_UPLOADS} images fit; ${files.length - Math.max(room, 0)} left out`);
  const accepted = [];
  for (const f of files.slice(0, Math.max(room, 0))) {
    if (f.size > MAX_FILE_BYTES) errors.push(`${f.name}: larger than ${megabytes(MAX_FILE_BYTES)}`);
    else accepted.push(f);
  }
  const images = [];
  for (let i = 0; i < accepted.length; i += 16) {
    const batch = await Promise.all(accepted.slice(i, i + 16).map(async (f) => ({ name: f.name, bytes: await f.arrayBuffer() })));
    const results = await call("decodeImages", { files: batch }, { transfer: batch.map((b) => b.bytes) });
    for (const r of results) r.error ? errors.push(r.error) : images.push({ name: r.name, rgba: r.rgba });
    onProgress?.(Math.min(i + 16, accepted.length), accepted.length);
  }
  return { images, errors };
}
