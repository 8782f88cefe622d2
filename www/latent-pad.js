// <latent-pad>: the whole latentpad UI as one custom element (the demo page is one of these).
// Attributes: model, mode ("sample interpolate finetune"), seed, count, backend, controls,
// category and skin-tone (the steering of a conditional GAN or of a VAE with a fitted prior;
// pickers in the controls), truncation (above 0, at most 1: more typical, less varied
// images), invert-steps (the quick mode's inversion steps before a GAN's fine-tuning; a VAE's
// quick mode is instant; 0 skips it; `prior-steps`, its old name, is still read).
// Methods: sample(), interpolate(a, b, frames), fineTune(files, { steps }), findUploads(),
// toBlob(index), exportModel(). Events (detail): load, progress, sample, error ({ type, message }).
// Drawing and input only: the models run in the page's shared worker (api.js).
import { BACKENDS, DEFAULT_MODEL, Generator, LatentpadError, SHIPPED_MODELS, SIZE, decodeImages, loadSavedModel, onDeviceLost, saveModel, savedModels } from "./api.js";
import { TEMPLATE } from "./latent-pad-template.js";
import { FRAMES, MAX_UPLOADS, NUMBERS, STEPS, defaultSteps, inRange, rangeRule } from "./limits.js";
import { draw, drawStrip, plotLosses, saveBytes } from "./paint.js";

const MODES = ["sample", "interpolate", "finetune"];



const modeTokens = (value) => value.split(/[\s,]+/).filter(Boolean);

function whole(value, min, max) {
  const n = Number(value);
  return value !== null && value.trim() !== "" && Number.isInteger(n) && n >= min && n <= max ? n : null;
}

/** The `truncation` attribute's value: a number above 0 and at most 1, else null. */
function truncation(value) {
  const n = Number(value);
  return value !== null && value.trim() !== "" && n > 0 && n <= 1 ? n : null;
}

/** " (category people, skin tone dark, truncation 0.7)" for provenance, as the CLI writes it. */
function describe({ category, skinTone, truncation } = {}) {
  const parts = [category && `category ${category}`, skinTone && `skin tone ${skinTone}`, truncation && truncation !== 1 && `truncation ${truncation}`].filter(Boolean);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

export class LatentPad extends HTMLElement {
  static observedAttributes = ["model", "mode", "seed", "count", "backend", "controls", "category", "skin-tone", "truncation", "invert-steps", "prior-steps"];

  #root = null;
  #started = false;
  #observer = null;
  #unsubscribe = null;
  #generator = null; // the model the grid shows
  #pretrained = null; // the last model loaded from `model` (a device loss concerns it too)
  #loadToken = 0;
  #failure = null; // the last load's error, until the next load
  #busy = false;
  #stale = false; // attributes changed while drawing: draw again after
  #queue = Promise.resolve(); // drawing calls run one at a time
  #picks = [];
  #strip = null; // RGBA frames of the last interpolation
  #stripLabel = "";
  #drawnSteering = {}; // what the grid's images were drawn with (for their provenance)
  #uploads = []; // { name, rgba }
  #stepsEdited = false; // the person typed a number of steps: the uploads no longer set it
  #run = null; // the fine-tuning run under way
  #losses = [];
  #frame = 0;
  #animation = 0;

  // ---- attributes --------------------------------------------------------------------

  get model() {
    return this.getAttribute("model") || DEFAULT_MODEL;
  }
  set model(v) {
    this.setAttribute("model", v);
  }

  get modes() {
    const raw = modeTokens(this.getAttribute("mode") || "sample interpolate finetune");
    const known = raw.filter((m) => MODES.includes(m));
    return known.length ? known : ["sample"];
  }

  #number(name) {
    const { min, max, fallback } = NUMBERS[name];
    return whole(this.getAttribute(name) ?? String(fallback), min, max) ?? fallback;
  }

  get seed() {
    return this.#number("seed");
  }
  set seed(v) {
    this.setAttribute("seed", String(v));
  }

  get count() {
    return this.#number("count");
  }

  /** The quick mode's inversion steps: `invert-steps`, else its deprecated name `prior-steps`. */
  get invertSteps() {
    return this.#number(this.hasAttribute("invert-steps") || !this.hasAttribute("prior-steps") ? "invert-steps" : "prior-steps");
  }

  /**
   * What the samples are steered to: { category, skinTone } (a steerable model; empty fields
   * drawn) and { truncation } (any model; absent for none).
   */
  get steering() {
    return {
      category: this.getAttribute("category") || undefined,
      skinTone: this.getAttribute("skin-tone") || undefined,
      truncation: truncation(this.getAttribute("truncation")) ?? undefined,
    };
  }

  get backend() {
    const b = this.getAttribute("backend") || "auto";
    return BACKENDS.includes(b) ? b : "auto";
  }

  /** The model the widget shows now (a Generator from api.js), or null while loading. */
  get generator() {
    return this.#generator;
  }

  #checkAttribute(name) {
    const value = this.getAttribute(name);
    if (value === null) return;
    const bad = (what) => this.#error("attribute", `${name}="${value}": ${what}`);
    if (name === "prior-steps") console.warn('<latent-pad>: the attribute "prior-steps" is deprecated; use "invert-steps"');
    if (name === "mode") {
      const unknown = modeTokens(value).filter((m) => !MODES.includes(m));
      if (unknown.length) bad(`unknown mode ${unknown.join(", ")}; use sample, interpolate or finetune`);
    } else if (name in NUMBERS) {
      const { min, max, fallback, rule } = NUMBERS[name];
      if (whole(value, min, max) === null) bad(`${rule}; using ${fallback}`);
    } else if (name === "backend" && !BACKENDS.includes(value)) bad("backend must be auto, webgpu or cpu; using auto");
    else if (name === "truncation" && truncation(value) === null) bad("truncation must be a number above 0 and at most 1; using 1 (none)");
  }

  attributeChangedCallback(name, old, value) {
    if (old === value) return;
    this.#checkAttribute(name);
    if (!this.#root) return;
    if (name === "mode" || name === "controls") this.#layout();
    if (!this.#started) return;
    if (name === "model" || name === "backend") this.#load();
    else if (name === "count") {
      this.#buildGrid();
      this.#sampleQuietly();
    } else if (name === "seed") {
      this.#q(".seed").value = String(this.seed);
      this.#sampleQuietly();
    } else if (name === "category" || name === "skin-tone") {
      this.#showSteering();
      this.#sampleQuietly();
    } else if (name === "truncation") this.#sampleQuietly();
  }

  // ---- lifecycle ---------------------------------------------------------------------

  connectedCallback() {
    if (!this.#root) this.#build();
    this.#unsubscribe ??= onDeviceLost((message) => this.#deviceLost(message));
    if (this.#started) {
      this.#animation ||= requestAnimationFrame(() => this.#animate());
      return;
    }
    // Start lazily: only once the widget comes near the viewport.
    this.#observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        this.#observer.disconnect();
        this.#observer = null;
        this.#start();
      }
    }, { rootMargin: "200px" });
    this.#observer.observe(this);
  }

  disconnectedCallback() {
    this.#observer?.disconnect();
    this.#observer = null;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    cancelAnimationFrame(this.#animation);
    this.#animation = 0;
    this.#run?.cancel(); // a clean stop after the step under way
  }

  #start() {
    this.#started = true;
    this.#animation = requestAnimationFrame(() => this.#animate());
    this.#load();
    this.#listSaved();
  }

  // ---- public API --------------------------------------------------------------------

  /** Samples `count` images from `seed`; resolves to { seed, count, images (RGBA) }. */
  async sample() {
    await this.#ready();
    return this.#guarded("sample", async () => {
      const seed = this.seed;
      const count = this.count;
      const generator = this.#generator;
      if (!generator) throw new Error("the model is loading");
      this.#status("Drawing…", { progress: NaN });
      const started = performance.now();
      const steering = this.steering;
      const images = await generator.sample(count, seed, steering);
      // Another model was asked for meanwhile: it will draw when it has loaded.
      if (this.#generator !== generator) return { seed, count, images };
      // The grid may have been rebuilt (a new count) while the worker drew: fill what fits,
      // and draw again for the new count once this call is done.
      const canvases = this.#gridCanvases();
      canvases.slice(0, count).forEach((c, i) => draw(c, images, i));
      this.#drawnSteering = steering;
      if (canvases.length !== count || seed !== this.seed) this.#stale = true;
      const ms = Math.round(performance.now() - started);
      this.dataset.sampled = String(seed);
      this.dataset.firstImageMs ??= String(Math.round(performance.now()));
      this.#status(`${count} images from seed ${seed} in ${ms} ms`);
      this.#picks = [];
      this.#markPicks();
      this.#emit("sample", { seed, count, ms, model: generator.name, backend: generator.backend, ...steering });
      return { seed, count, images };
    });
  }

  /** Interpolates from seed (or latent) `a` to `b`; resolves to the frames (RGBA). */
  async interpolate(a, b, frames = FRAMES) {
    await this.#ready();
    return this.#guarded("interpolate", async () => {
      this.#status("Interpolating…", { progress: NaN });
      const generator = this.#generator;
      if (!generator) throw new Error("the model is loading");
      const strip = await generator.interpolate(a, b, frames, "slerp");
      if (this.#generator !== generator) return strip;
      const seedOf = (x) => (typeof x === "number" ? x : x?.seed);
      const seeded = seedOf(a) !== undefined && seedOf(b) !== undefined;
      const label = seeded ? `slerp from seed ${seedOf(a)}${describe(a)} to seed ${seedOf(b)}${describe(b)}, ${frames} frames` : `slerp between two encoded images, ${frames} frames`;
      this.#showStrip(strip, frames, label);
      this.dataset.interpolated = seeded ? `${seedOf(a)}-${seedOf(b)}` : "encoded";
      this.#status(`Interpolated ${seeded ? `seed ${seedOf(a)} → ${seedOf(b)}` : "between your images"}`);
      return strip;
    });
  }

  /**
   * Fine-tunes the current model on `files` (File objects or { name, rgba } images).
   * Returns { cancel(), done }: `done` resolves when the run ends, with the steps taken.
   */
  fineTune(files, { steps } = {}) {
    const handle = { cancelled: false, cancel: () => ((handle.cancelled = true), this.#run?.cancel()) };
    handle.done = (async () => {
      if (files) {
        const images = [...files].filter((f) => f.rgba);
        const raw = [...files].filter((f) => !f.rgba);
        this.#uploads.push(...images);
        if (raw.length) await this.#addFiles(raw);
        else this.#renderThumbs();
      }
      // The field's number: the person's, or the default for the uploads as they now are.
      const total = steps ?? (Number(this.#q(".ft-steps").value) || defaultSteps(this.#uploads.length));
      return this.#fineTune(total, handle);
    })();
    return handle;
  }

  /**
   * The first (up to 8) uploads found in the model (a GAN's inversion in `steps` steps, a VAE's
   * encoder and at most 50 steps refining its latents): each drawn beside the model's nearest image, with its mean squared pixel error
   * (0-1). Resolves to { latents, errors }.
   */
  async findUploads({ steps = 150 } = {}) {
    await this.#ready();
    const generator = this.#generator;
    const uploads = this.#uploads.slice(0, 8);
    if (!uploads.length) throw new LatentpadError("finetune", "add images first");
    this.#note(".find-status", `Finding ${uploads.length} image(s) in the model…`);
    try {
      const rgba = new Uint8Array(uploads.length * SIZE * SIZE * 4);
      uploads.forEach((u, i) => rgba.set(u.rgba, i * SIZE * SIZE * 4));
      const { latents, errors: found, images: drawn } = await generator.invert(rgba, { steps });
      const errors = [...found];
      this.#q(".found").replaceChildren(
        ...uploads.map((u, i) => {
          const figure = document.createElement("figure");
          const [a, b] = [document.createElement("canvas"), document.createElement("canvas")];
          a.width = a.height = b.width = b.height = SIZE;
          draw(a, u.rgba);
          draw(b, drawn, i);
          a.title = u.name;
          b.title = `the model's nearest image to ${u.name}`;
          const caption = document.createElement("figcaption");
          caption.textContent = errors[i].toFixed(3);
          figure.append(a, b, caption);
          return figure;
        }),
      );
      const mean = errors.reduce((x, y) => x + y, 0) / errors.length;
      this.#note(".find-status", `Each image beside the model's nearest one; mean squared pixel error ${mean.toFixed(3)}.`);
      this.dataset.found = String(uploads.length);
      return { latents, errors };
    } catch (e) {
      this.#note(".find-status", `Could not find your images in the model: ${e.message}`, true);
      this.#error("finetune", e.message);
      throw e;
    }
  }

  /** The image at grid `index` as a PNG Blob with provenance text. */
  async toBlob(index = 0) {
    await this.#ready();
    const canvas = this.#gridCanvases()[index];
    if (!canvas) throw new RangeError(`there is no image ${index}; the grid has ${this.count}`);
    return this.#png(canvas, this.#tileLatent(index));
  }

  /** The fine-tuned (or loaded) model as an `.lpw` Blob. */
  async exportModel() {
    const bytes = await this.#generator?.weights();
    if (!bytes) throw new Error("nothing to export yet: fine-tune the model or load a model file first");
    return new Blob([bytes], { type: "application/octet-stream" });
  }

  // ---- loading -----------------------------------------------------------------------

  #ready() {
    if (this.#generator) return Promise.resolve();
    if (this.#failure) return Promise.reject(this.#failure);
    if (!this.#started) this.#start();
    return new Promise((resolve, reject) => {
      const ok = () => (off(), resolve());
      const fail = (e) => e.detail.type === "load-failure" && (off(), reject(new LatentpadError("load-failure", e.detail.message)));
      const off = () => (this.removeEventListener("load", ok), this.removeEventListener("error", fail));
      this.addEventListener("load", ok);
      this.addEventListener("error", fail);
    });
  }

  async #load(bytesSource = null) {
    const token = ++this.#loadToken;
    const name = bytesSource?.name ?? this.model;
    this.#generator = null;
    this.#failure = null;
    this.#setEnabled(false);
    this.#status(`Loading ${name}…`, { progress: NaN });
    for (const r of this.#qa("input[name=model]")) r.checked = r.value === this.model;
    try {
      const onProgress = ({ loaded, total }) => {
        if (token !== this.#loadToken) return;
        this.#status(`Loading ${name}… ${(loaded / 1e6).toFixed(1)} MB`, { progress: total ? loaded / total : NaN });
        this.#emit("progress", { phase: "load", loaded, total });
      };
      const generator = bytesSource ? await Generator.fromBytes(bytesSource.bytes, { name, backend: this.backend }) : await Generator.load(this.model, { backend: this.backend, onProgress });
      if (token !== this.#loadToken) return;
      if (!bytesSource) this.#pretrained = generator;
      this.#use(generator);
      if (generator.noWebGpu) this.#error("no-webgpu", generator.notice);
      this.#emit("load", { model: name, name: generator.name, kind: generator.kind, backend: generator.backend, fineTuned: generator.fineTuned });
      await this.sample();
      if (generator.notice) this.#status(generator.notice, { error: true });
      else if (bytesSource) this.#status(`Loaded ${name} (${generator.kind.toUpperCase()}${generator.fineTuned ? ", fine-tuned" : ""})`);
    } catch (e) {
      if (token !== this.#loadToken) return;
      this.#failure = e instanceof LatentpadError ? e : new LatentpadError("load-failure", e.message);
      this.#status(`Could not load ${name}: ${e.message.replace(/^could not load [^:]*: /, "")}`, { error: true });
      this.#error(e.type ?? "load-failure", e.message);
    }
  }

  #use(generator) {
    this.#generator = generator;
    const badge = this.#q(".backend");
    badge.hidden = false;
    const threads = generator.threads?.threads ?? 1;
    badge.textContent = generator.backend === "webgpu" ? "WebGPU" : threads > 1 ? `CPU (wasm, ${threads} threads)` : "CPU (wasm)";
    const cpuThreads = generator.threads?.why ? ` (${generator.threads.why})` : "";
    badge.title = generator.backend === "webgpu" ? `Running on your GPU through WebGPU${generator.why ? `: ${generator.why}` : ""}` : `Running on your CPU (WebAssembly)${cpuThreads}${generator.why ? `: ${generator.why}` : ""}`;
    this.dataset.backend = generator.backend;
    this.#showSteering();
    this.#setEnabled(true);
  }

  /**
   * The category and skin-tone pickers: shown for a steerable model (a conditional GAN, a VAE
   * with a fitted prior), filled with its names.
   */
  #showSteering() {
    const conditions = this.#generator?.conditions;
    const box = this.#q(".steering");
    box.hidden = !conditions;
    if (!conditions) return;
    const { category, skinTone } = this.steering;
    const fill = (select, names, value, any) => {
      select.replaceChildren(new Option(any, ""), ...names.map((n) => new Option(n, n)));
      select.value = names.includes(value) ? value : "";
    };
    fill(this.#q(".category"), conditions.categories, category, "any category");
    // A tone only where the category has people; "any" otherwise.
    const toned = !category || conditions.toned.includes(category);
    fill(this.#q(".skin-tone"), toned ? conditions.tones : [], skinTone, toned ? "any skin tone" : "no skin tones");
    this.#q(".skin-tone").disabled = !toned;
  }

  async #deviceLost(message) {
    if (this.#generator?.backend !== "webgpu" && this.#pretrained?.backend !== "webgpu") return;
    const text = `${message}. latentpad moved to the CPU; your images and samples are kept.`;
    this.#error("device-lost", text);
    this.#run?.cancel();
    const bytes = await this.#generator?.weights().catch(() => null);
    // Reload what was showing on the CPU: a fine-tuned model from its bytes, kept here.
    await this.#load(bytes ? { bytes, name: this.#generator.name } : null);
    if (this.#generator) this.#status(text, { error: true });
  }

  // ---- drawing -----------------------------------------------------------------------

  #build() {
    this.#root = this.attachShadow({ mode: "open" });
    this.#root.innerHTML = TEMPLATE;
    this.#buildGrid();
    this.#layout();
    const on = (sel, type, fn) => this.#q(sel).addEventListener(type, fn);
    on(".new-samples", "click", () => {
      this.seed = this.seed + this.count;
    });
    on(".seed", "change", (e) => {
      const seed = whole(e.target.value, NUMBERS.seed.min, NUMBERS.seed.max);
      if (seed === null) this.#status("The seed must be a whole number ≥ 0.", { error: true });
      else this.seed = seed;
    });
    for (const r of this.#qa("input[name=model]")) r.addEventListener("change", () => (this.model = r.value));
    const steer = (attribute, value) => (value ? this.setAttribute(attribute, value) : this.removeAttribute(attribute));
    on(".category", "change", (e) => {
      // Read first: changing an attribute refills the pickers.
      const value = e.target.value;
      // A tone the new category does not have is dropped rather than refused.
      const toned = this.#generator?.conditions?.toned ?? [];
      if (value && !toned.includes(value)) this.removeAttribute("skin-tone");
      steer("category", value);
    });
    on(".skin-tone", "change", (e) => steer("skin-tone", e.target.value));
    on(".interp-slider", "input", (e) => {
      this.#q(".interp-play").checked = false;
      this.#showFrame(Number(e.target.value));
    });
    on(".interp-download", "click", () => this.#download(this.#q(".strip"), "latentpad-interpolation.png", this.#stripLabel));
    on(".interp-uploads", "click", () => this.#interpolateUploads());
    on(".find-mine", "click", () => this.findUploads().catch(() => {}));
    on(".files", "change", (e) => {
      const input = e.target; // an event's target is cleared once it leaves a shadow tree
      this.#addFiles([...input.files]).finally(() => (input.value = ""));
    });
    const drop = this.#q(".dropzone");
    drop.addEventListener("dragover", (e) => (e.preventDefault(), drop.classList.add("over")));
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      this.#addFiles(e.dataTransfer.files);
    });
    on(".ft-steps", "input", () => (this.#stepsEdited = true));
    on(".ft-start", "click", () => this.fineTune(null).done.catch(() => {}));
    on(".ft-cancel", "click", () => this.#run?.cancel());
    on(".ft-reset", "click", () => this.#reset());
    on(".ft-save", "click", () => this.exportModel().then((b) => saveBytes(b, `${this.#generator.name}.lpw`)).catch((e) => this.#note(".ft-status", e.message, true)));
    on(".ft-store", "click", () => this.#store());
    on(".model-file", "change", (e) => {
      const file = e.target.files[0];
      e.target.value = "";
      if (file) file.arrayBuffer().then((bytes) => this.#load({ bytes, name: file.name }));
    });
    on(".saved", "change", async (e) => {
      const name = e.target.value;
      e.target.value = "";
      if (!name) return;
      try {
        this.#load({ bytes: await loadSavedModel(name), name });
      } catch (err) {
        this.#error("load-failure", err.message);
      }
    });
  }

  #layout() {
    const modes = this.modes;
    const controls = this.hasAttribute("controls") && this.getAttribute("controls") !== "false";
    const lp = this.#q(".lp");
    lp.classList.toggle("no-controls", !controls);
    this.#q(".samples").hidden = !(modes.includes("sample") || modes.includes("interpolate"));
    this.#q(".interpolate").hidden = !modes.includes("interpolate");
    this.#q(".pick-hint").hidden = !modes.includes("interpolate");
    this.#q(".finetune").hidden = !modes.includes("finetune") || !controls;
    this.#q(".model-picker").hidden = !SHIPPED_MODELS.includes(this.model);
  }

  #buildGrid() {
    const grid = this.#q(".grid");
    grid.replaceChildren();
    for (let i = 0; i < this.count; i++) {
      const tile = document.createElement("div");
      tile.className = "tile";
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = SIZE;
      canvas.tabIndex = 0;
      canvas.setAttribute("role", "button");
      canvas.setAttribute("aria-label", `Image ${i + 1}`);
      canvas.addEventListener("click", () => this.#pick(i));
      canvas.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && this.#pick(i));
      const button = document.createElement("button");
      button.className = "download";
      button.textContent = "PNG";
      button.title = "Download this image";
      button.addEventListener("click", () => this.#download(canvas, `latentpad-seed-${this.seed + i}.png`, this.#tileLatent(i)));
      tile.append(canvas, button);
      grid.append(tile);
    }
  }

  #status(text, { error = false, progress = null } = {}) {
    this.#q(".status").textContent = text;
    this.#q(".status-bar").classList.toggle("error", error);
    const bar = this.#q(".progress");
    bar.hidden = progress === null;
    if (progress !== null) {
      if (Number.isFinite(progress)) bar.value = progress;
      else bar.removeAttribute("value");
    }
  }

  #setEnabled(on) {
    this.#q(".new-samples").disabled = !on || this.#busy;
    this.#q(".ft-start").disabled = !on || this.#uploads.length === 0 || this.#run !== null;
    const canWalk = on && (this.#generator?.canEncode || this.#generator?.kind === "gan") && this.#uploads.length >= 2;
    this.#q(".interp-uploads").hidden = !canWalk;
    const find = this.#q(".find-mine");
    find.hidden = !((this.#generator?.kind === "gan" || this.#generator?.canEncode) && this.#uploads.length > 0);
    find.disabled = !on || this.#run !== null;
  }

  /** Runs drawing work one call at a time (later calls wait), reporting failures. */
  #guarded(type, work) {
    const run = this.#queue.then(() => this.#exclusive(type, work));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #exclusive(type, work) {
    this.#busy = true;
    this.#setEnabled(Boolean(this.#generator));
    try {
      return await work();
    } catch (e) {
      this.#status(`${type === "sample" ? "Sampling" : "Interpolation"} failed: ${e.message}`, { error: true });
      this.#error(type, e.message);
      throw e;
    } finally {
      this.#busy = false;
      this.#setEnabled(Boolean(this.#generator));
      if (this.#stale) {
        this.#stale = false;
        setTimeout(() => this.#sampleQuietly());
      }
    }
  }

  /** Samples for the current attributes now, or right after the drawing under way. */
  #sampleQuietly() {
    if (this.#busy) this.#stale = true;
    else if (this.#generator) this.sample().catch(() => {});
  }

  #markPicks() {
    this.#qa(".tile").forEach((t, i) => {
      t.classList.toggle("a", this.#picks[0] === i);
      t.classList.toggle("b", this.#picks[1] === i);
    });
    const [a, b] = this.#picks.map((i) => this.seed + i);
    this.#q(".pair").textContent = this.#picks.length === 2 ? `From seed ${a} to seed ${b} (slerp).` : this.#picks.length === 1 ? `From seed ${a}… pick a second image.` : "Pick two images above.";
  }

  async #pick(i) {
    if (!this.#generator || !this.modes.includes("interpolate")) return;
    this.#picks = this.#picks.length >= 2 ? [i] : [...this.#picks, i];
    this.#markPicks();
    // The ends as drawn: the seed with the grid's steering and truncation.
    const end = (i) => ({ seed: this.seed + i, ...this.#drawnSteering });
    if (this.#picks.length === 2) await this.interpolate(end(this.#picks[0]), end(this.#picks[1])).catch(() => {});
  }

  async #interpolateUploads() {
    try {
      const [a, b] = this.#uploads;
      const rgba = new Uint8Array(2 * SIZE * SIZE * 4);
      rgba.set(a.rgba, 0);
      rgba.set(b.rgba, SIZE * SIZE * 4);
      // A VAE encodes; a GAN finds the latents by inversion.
      const generator = this.#generator;
      if (generator.kind === "gan") this.#status("Finding your two images in the model…", { progress: NaN });
      const z = generator.canEncode ? await generator.encode(rgba) : (await generator.invert(rgba)).latents;
      const d = this.#generator.latentDim;
      await this.interpolate(z.slice(0, d), z.slice(d, 2 * d));
    } catch (e) {
      this.#status(`Could not place your images in latent space: ${e.message}`, { error: true });
    }
  }

  #showStrip(strip, frames, label) {
    this.#strip = strip;
    this.#stripLabel = label;
    const canvas = this.#q(".strip");
    canvas.width = frames * SIZE;
    drawStrip(canvas, strip, frames);
    const slider = this.#q(".interp-slider");
    slider.max = String(frames - 1);
    slider.disabled = false;
    this.#q(".interp-download").disabled = false;
    this.#showFrame(0);
  }

  #showFrame(f) {
    if (!this.#strip) return;
    this.#frame = f;
    this.#q(".interp-slider").value = String(f);
    draw(this.#q(".interp-view"), this.#strip, f);
  }

  #animate() {
    const frames = this.#strip ? this.#strip.length / (SIZE * SIZE * 4) : 0;
    if (frames > 1 && this.#q(".interp-play").checked) {
      const t = (performance.now() / 120) % (2 * (frames - 1));
      const f = Math.round(t < frames - 1 ? t : 2 * (frames - 1) - t);
      if (f !== this.#frame) this.#showFrame(f);
    }
    this.#animation = requestAnimationFrame(() => this.#animate());
  }

  /** The provenance of grid tile `i`: its seed and what it was drawn with. */
  #tileLatent(i) {
    return `seed ${this.seed + i}${describe(this.#drawnSteering)}`;
  }

  async #png(canvas, latent) {
    const { width, height } = canvas;
    const rgba = canvas.getContext("2d").getImageData(0, 0, width, height).data;
    return this.#generator.toPng(rgba, width, height, latent);
  }

  async #download(canvas, name, latent) {
    try {
      saveBytes(await this.#png(canvas, latent), name);
    } catch (e) {
      this.#status(`Could not save the image: ${e.message}`, { error: true });
    }
  }

  // ---- uploads and fine-tuning -------------------------------------------------------

  /** Sets a status line under a panel (`.upload-status`, `.ft-status`). */
  #note(selector, text, error = false) {
    const el = this.#q(selector);
    el.textContent = text;
    el.classList.toggle("error-text", error);
  }

  #renderThumbs() {
    const thumbs = this.#q(".thumbs");
    thumbs.replaceChildren(
      ...this.#uploads.map((u, i) => {
        const div = document.createElement("div");
        div.className = "thumb";
        const c = document.createElement("canvas");
        c.width = c.height = SIZE;
        c.title = u.name;
        draw(c, u.rgba);
        const x = document.createElement("button");
        x.textContent = "×";
        x.title = `Remove ${u.name}`;
        x.addEventListener("click", () => {
          this.#uploads.splice(i, 1);
          this.#renderThumbs();
        });
        div.append(c, x);
        return div;
      }),
    );
    this.dataset.uploads = String(this.#uploads.length);
    if (!this.#stepsEdited) this.#q(".ft-steps").value = String(defaultSteps(this.#uploads.length));
    this.#setEnabled(Boolean(this.#generator));
  }

  async #addFiles(fileList) {
    const files = [...fileList];
    this.#note(".upload-status", `Reading ${files.length} file(s)…`);
    try {
      const { images, errors } = await decodeImages(files, {
        room: MAX_UPLOADS - this.#uploads.length,
        onProgress: (done, total) => this.#note(".upload-status", `Read ${done} of ${total}…`),
      });
      this.#uploads.push(...images);
      this.#renderThumbs();
      const summary = `${this.#uploads.length} image(s) ready.`;
      this.#note(".upload-status", errors.length ? `${summary} Skipped: ${errors.join("; ")}` : summary, errors.length > 0);
      for (const message of errors) this.#error("decode", message);
    } catch (e) {
      this.#note(".upload-status", `Could not read the files: ${e.message}`, true);
      this.#error("decode", e.message);
    }
  }


  #plotLosses(labels) {
    plotLosses(this.#q(".loss-plot"), this.#losses, labels);
  }

  #showPreviews(rgba) {
    const previews = this.#q(".previews");
    if (previews.children.length !== 8) {
      previews.replaceChildren(...Array.from({ length: 8 }, () => Object.assign(document.createElement("canvas"), { width: SIZE, height: SIZE })));
    }
    [...previews.children].forEach((cv, i) => draw(cv, rgba, i));
  }

  async #fineTune(total, handle) {
    if (this.#run) throw new Error("a fine-tuning run is already under way");
    try {
      await this.#ready();
      const base = this.#generator;
      if (!this.#uploads.length) throw new LatentpadError("finetune", "add at least one image before fine-tuning");
      if (!inRange(total, STEPS)) throw new LatentpadError("finetune", rangeRule("steps", STEPS));
      this.#losses = [];
      this.#q(".ft-progress").value = 0;
      this.#note(".ft-status", "Preparing…");
      const started = performance.now();
      this.#run = base.fineTune(this.#uploads.map((u) => u.rgba), {
        steps: total,
        invertSteps: this.invertSteps,
        onStep: ({ step, steps, losses, labels }) => {
          this.#losses.push(losses);
          this.#q(".ft-progress").value = step / steps;
          this.#note(".ft-status", `Step ${step} of ${steps} · ${((performance.now() - started) / step / 1000).toFixed(1)} s per step`);
          this.#plotLosses(labels);
          this.#emit("progress", { phase: "finetune", step, total: steps, losses });
        },
        onPreview: (rgba) => this.#showPreviews(rgba),
        onInvert: ({ step, steps, error }) => {
          this.#q(".ft-progress").value = step / steps;
          this.#note(".ft-status", `Finding your images in the model: ${step} of ${steps} (pixel error ${error.toFixed(3)})`);
          this.#emit("progress", { phase: "invert", step, total: steps, error });
        },
      });
      if (handle.cancelled) this.#run.cancel();
      this.#setEnabled(true);
      this.#q(".ft-cancel").disabled = false;
      const tuned = await this.#run.done;
      if (this.#generator === base) this.#use(tuned);
      this.#q(".ft-save").disabled = this.#q(".ft-store").disabled = this.#q(".ft-reset").disabled = false;
      if (this.isConnected) await this.sample().catch(() => {});
      this.#note(".ft-status", `${tuned.cancelled ? "Stopped" : "Done"} after ${tuned.stepsTrained} steps. The samples above now come from your fine-tuned model.`);
      this.dataset.finetuned = String(tuned.stepsTrained);
      return { steps: tuned.stepsTrained, cancelled: tuned.cancelled };
    } catch (e) {
      this.#note(".ft-status", `Fine-tuning stopped: ${e.message}. Your images are still here.`, true);
      this.#error(e.type ?? "finetune", e.message);
      throw e;
    } finally {
      this.#run = null;
      this.#q(".ft-cancel").disabled = true;
      this.#setEnabled(Boolean(this.#generator));
    }
  }

  async #reset() {
    this.#generator?.free();
    this.#q(".ft-reset").disabled = true;
    await this.#load();
    this.#note(".ft-status", "Back to the pretrained model.");
  }

  async #store() {
    try {
      const name = `${this.#generator.name} ${new Date().toLocaleString()}`;
      await saveModel(name, await this.#generator.weights());
      await this.#listSaved();
      this.#note(".ft-status", `Kept in this browser as “${name}”.`);
    } catch (e) {
      this.#note(".ft-status", `Could not keep the model in this browser: ${e.message}`, true);
      this.#error("save", e.message);
    }
  }

  async #listSaved() {
    try {
      const saved = await savedModels();
      const select = this.#q(".saved");
      select.replaceChildren(
        Object.assign(document.createElement("option"), { value: "", textContent: saved.length ? "Kept in this browser…" : "Nothing kept in this browser yet" }),
        ...saved.map((m) => Object.assign(document.createElement("option"), { value: m.name, textContent: `${m.name} (${(m.size / 1e6).toFixed(1)} MB)` })),
      );
    } catch {
      this.#q(".saved").hidden = true; // private mode or storage off: the file buttons remain
    }
  }

  // ---- helpers -----------------------------------------------------------------------

  #q(selector) {
    return this.#root.querySelector(selector);
  }

  #qa(selector) {
    return this.#root.querySelectorAll(selector);
  }

  #gridCanvases() {
    return [...this.#qa(".grid canvas")];
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  #error(type, message) {
    this.#emit("error", { type, message });
  }
}

if (!customElements.get("latent-pad")) customElements.define("latent-pad", LatentPad);
