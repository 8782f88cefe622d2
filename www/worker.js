// The Web Worker that owns the wasm and the models: every heavy step runs here so the page's
// main thread only draws and handles input. One worker serves every widget on a page.
// Messages: { id, type, ...args } in; { id, ok, result | error } out, { id, progress } while
// loading or fine-tuning, and { event: "device-lost", message } when the GPU goes away.

// Where the wasm builds live: pkg/cpu (CPU only, small) and pkg/webgpu (WebGPU + CPU).
// The npm package build rewrites this line (scripts/build-web.sh).
const WASM_DIR = new URL("../pkg/", import.meta.url);

const builds = new Map(); // "cpu" | "webgpu" -> Promise<wasm module>
const models = new Map(); // key -> Promise<Model> (the wasm class)
const tuners = new Map(); // run id -> FineTuner
const cancelled = new Set(); // run ids asked to stop
const weightsByKey = new Map(); // key -> .lpw bytes of a model made or loaded here (fine-tuned, from a file)
let gpu = null; // Promise<{ software } | { reason }>: what WebGPU offers here
let gpuLost = null; // the loss message once the device is gone
let uploads = 0;

// wgpu asks the browser for its device inside the wasm; this wrapper sees that device so the
// page learns of `device.lost` (a driver reset, a tab in the background too long, ...).
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    // Reachable from devtools (and the device-loss test) as the worker's global.
    self.latentpadGpuDevice = device;
    device.lost.then((info) => {
      gpuLost = `The GPU device was lost (${info.reason || "unknown reason"}${info.message ? `: ${info.message}` : ""})`;
      for (const key of [...models.keys()]) if (key.endsWith("|webgpu")) models.delete(key);
      postMessage({ event: "device-lost", message: gpuLost });
    });
    return device;
  };
}

// The CPU backend's build: pkg/threads (rayon over Web Workers sharing the wasm memory) where
// the page is cross-origin isolated, else the single-threaded pkg/cpu. `cpuThreads.threads`
// and `cpuThreads.why` say which, for the badge. `setCpuThreads` (before the first load) asks
// for a pool size, 0 for the single-threaded build.
let cpuThreadsWanted = null;
const cpuThreads = { threads: 1, why: null };

async function cpuBuild() {
  const cores = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8));
  const wanted = cpuThreadsWanted ?? cores;
  const single = async (why) => {
    const m = await import(new URL("cpu/latentpad.js", WASM_DIR).href);
    await m.default();
    Object.assign(cpuThreads, { threads: 1, why });
    return m;
  };
  if (wanted === 0) return single("one thread, as asked");
  if (!self.crossOriginIsolated) {
    return single("one thread: the page is not cross-origin isolated (it needs the COOP and COEP headers for threads)");
  }
  let m;
  try {
    m = await import(new URL("threads/latentpad.js", WASM_DIR).href);
    await m.default();
  } catch (e) {
    return single(`one thread: the threaded build did not load (${e?.message ?? e})`);
  }
  // The pool cannot be started twice: one pool per worker, for the worker's life.
  try {
    await m.initThreadPool(wanted);
  } catch (e) {
    return single(`one thread: the thread pool did not start (${e?.message ?? e})`);
  }
  Object.assign(cpuThreads, { threads: wanted, why: `${wanted} thread${wanted === 1 ? "" : "s"} (the page is cross-origin isolated)` });
  return m;
}

function wasm(backend) {
  if (!builds.has(backend)) {
    const promise =
      backend === "cpu"
        ? cpuBuild()
        : import(new URL(`${backend}/latentpad.js`, WASM_DIR).href).then(async (m) => {
            await m.default();
            if (backend === "webgpu") await m.initWebGpu();
            return m;
          });
    builds.set(backend, promise);
    promise.catch(() => builds.delete(backend));
  }
  return builds.get(backend);
}

/** Any loaded build, for work that needs no GPU (decoding uploads, encoding PNGs). */
function anyWasm() {
  return builds.get("webgpu") ?? wasm("cpu");
}

/** What the browser's WebGPU offers: { software } for an adapter, or { reason } for none. */
function probeGpu() {
  gpu ??= (async () => {
    if (!self.navigator?.gpu) return { reason: "this browser has no WebGPU" };
    try {
      const adapter = await navigator.gpu.requestAdapter();
      if (!adapter) return { reason: "WebGPU found no usable GPU adapter" };
      return { software: Boolean(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter) };
    } catch (e) {
      return { reason: `WebGPU failed to start: ${e?.message ?? e}` };
    }
  })();
  return gpu;
}

/**
 * "auto" | "webgpu" | "cpu" -> the backend that will run; `notice` when it is not the one
 * asked for, `why` when "auto" chose the CPU. "auto" passes over a software adapter
 * (SwiftShader and the like): the CPU build is many times faster than emulated WebGPU.
 */
async function resolveBackend(requested, { remembered = null, probe = false } = {}) {
  if (requested === "cpu") return { backend: "cpu", why: "the CPU was asked for" };
  if (gpuLost) return { backend: "cpu", notice: `${gpuLost}; running on the CPU.`, why: gpuLost };
  let { reason, software } = await probeGpu();
  if (!reason && software && requested === "auto" && !probe) {
    return { backend: "cpu", why: "this browser's WebGPU is software emulation, slower than the CPU build" };
  }
  // "auto" with a GPU: the choice measured on an earlier visit, or measure now (see `speedProbe`).
  if (!reason && requested === "auto" && remembered?.backend === "cpu") return { backend: "cpu", why: remembered.why };
  if (!reason) {
    try {
      await wasm("webgpu");
      if (requested === "auto" && remembered?.backend === "webgpu") return { backend: "webgpu", why: remembered.why };
      return { backend: "webgpu", probe: requested === "auto" };
    } catch (e) {
      reason = `WebGPU failed to start: ${e?.message ?? e}`;
    }
  }
  const forced = requested === "webgpu";
  return { backend: "cpu", notice: forced ? `WebGPU is not available (${reason}); running on the CPU instead.` : null, noWebGpu: forced, why: reason };
}

async function fetchWithProgress(url, onProgress) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${url}: could not be fetched (${e.message})`);
  }
  if (!response.ok) throw new Error(`${url}: the server answered ${response.status}`);
  const type = response.headers.get("content-type") || "";
  if (type.includes("text/html")) throw new Error(`${url}: got a web page, not a weights file`);
  const total = Number(response.headers.get("content-length")) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  return bytes;
}

function fetchAll(id, urls) {
  const totals = urls.map(() => [0, 0]);
  return Promise.all(
    urls.map((url, i) =>
      fetchWithProgress(url, (loaded, total) => {
        totals[i] = [loaded, total];
        const sum = totals.reduce((a, [l, t]) => [a[0] + l, a[1] + t], [0, 0]);
        if (id !== null) postMessage({ id, progress: { loaded: sum[0], total: sum[1] } });
      }),
    ),
  );
}

function describe(key, model, { notice, noWebGpu, why, measured }) {
  const threads = model.backend === "cpu" ? { ...cpuThreads } : null;
  return { key, measured: measured ?? null, kind: model.kind, backend: model.backend, threads, latentDim: model.latentDim, conditions: JSON.parse(model.conditions), canEncode: model.canEncode, name: model.name, fineTuned: model.fineTuned, notice, noWebGpu, why };
}

async function model(key) {
  const m = models.get(key);
  if (!m) throw new Error(gpuLost && key.endsWith("|webgpu") ? `${gpuLost}; reload the model` : "the model is not loaded yet");
  return m;
}

/**
 * The model under `key`, a VAE with its encoder: loaded to sample from its decoder alone, it
 * gets the encoder from the files of `urls` it was not loaded from, the first time one is
 * needed (a new object under the same key; calls on the old one finish undisturbed).
 */
async function withEncoder(key, urls) {
  const m = await model(key);
  if (!m.canEncode || m.hasEncoder) return m;
  const loaded = key.split("|");
  const missing = (urls ?? []).filter((u) => !loaded.includes(u));
  if (!missing.length) throw new Error("this VAE's encoder is not in its files");
  const promise = fetchAll(null, missing).then((files) => m.withEncoder(files));
  // Later calls wait for this one (or load afresh if it failed).
  models.set(key, promise.catch(() => m));
  return promise;
}

async function loadInto(key, makeFiles, backend) {
  if (!models.has(key)) {
    const promise = (async () => {
      const [files, m] = await Promise.all([makeFiles(), wasm(backend)]);
      return m.Model.load(files, backend);
    })();
    models.set(key, promise);
    promise.catch(() => models.delete(key));
  }
  return models.get(key);
}

/**
 * Backend by measured speed: the model on WebGPU and on the CPU build, each timed drawing 8
 * images and taking one fine-tuning step on them at batch 8 (each after a warm-up), and the
 * one faster at the step kept: fine-tuning is where a visitor waits minutes, sampling takes a
 * fraction of a second on either. A GPU that burn runs slowly (or a lost one) must not make
 * the page slower than the CPU. Returns the choice with `measured` (ms) for the page to
 * remember.
 */
async function speedProbe(id, urls, trainUrls = urls) {
  const files = await fetchAll(id, urls);
  // The step needs every file a fine-tuning run loads (a VAE's encoder too).
  const extra = trainUrls.filter((u) => !urls.includes(u));
  const trainFiles = extra.length ? [...files, ...(await fetchAll(null, extra))] : files;
  // Copies loaded before the probe (another widget's) are shared: never freed here.
  const existed = new Set(["cpu", "webgpu"].filter((b) => models.has(`${urls.join("|")}|${b}`)));
  const time = async (backend) => {
    const key = `${urls.join("|")}|${backend}`;
    const m = await loadInto(key, async () => files.map((f) => f.slice()), backend);
    await m.sample(8, 1); // warm-up at this batch size
    let t0 = performance.now();
    const images = await m.sample(8, 2);
    const sample = performance.now() - t0;
    // One fine-tuning step on those images (a GAN without its discriminator file here gets
    // a fresh one: the same work), after a warm-up step.
    const wasmModule = await wasm(backend);
    const tuner = await wasmModule.FineTuner.create(trainFiles.map((f) => f.slice()), new Uint8Array(images.buffer), 8, 2, backend);
    try {
      await tuner.trainSteps(1);
      t0 = performance.now();
      await tuner.trainSteps(1);
      return { sample, step: performance.now() - t0 };
    } finally {
      tuner.free();
    }
  };
  const cpu = await time("cpu");
  let gpu;
  try {
    gpu = await time("webgpu");
  } catch (e) {
    const why = `WebGPU failed while being measured (${e?.message ?? e}); the CPU build runs`;
    return { backend: "cpu", why, measured: { cpu: Math.round(cpu.sample), webgpu: null, cpuStep: Math.round(cpu.step), webgpuStep: null } };
  }
  const measured = { cpu: Math.round(cpu.sample), webgpu: Math.round(gpu.sample), cpuStep: Math.round(cpu.step), webgpuStep: Math.round(gpu.step) };
  const numbers = `a fine-tuning step in ${measured.webgpuStep} ms on WebGPU, ${measured.cpuStep} ms on the CPU; 8 images in ${measured.webgpu} ms and ${measured.cpu} ms`;
  // The slower copy is not kept (unless it was loaded before the probe).
  const faster = gpu.step < cpu.step ? "webgpu" : "cpu";
  const slower = faster === "webgpu" ? "cpu" : "webgpu";
  if (!existed.has(slower)) {
    const loser = `${urls.join("|")}|${slower}`;
    (await models.get(loser)?.catch(() => null))?.free();
    models.delete(loser);
  }
  return faster === "webgpu"
    ? { backend: "webgpu", why: `measured faster than the CPU here: ${numbers}`, measured }
    : { backend: "cpu", why: `measured faster than this GPU here: ${numbers}`, measured };
}

const handlers = {
  /** Threads of the CPU build (0: the single-threaded build); only before it is loaded. */
  async setCpuThreads(_id, { threads }) {
    if (!Number.isInteger(threads) || threads < 0 || threads > 64) throw new Error(`threads must be a whole number from 0 to 64, not ${threads}`);
    if (builds.has("cpu") && threads !== cpuThreadsWanted) throw new Error("the CPU build is already running; set its threads before loading a model");
    cpuThreadsWanted = threads;
    return null;
  },
  async load(id, { urls, trainUrls, backend: requested, remembered, probe }) {
    let choice = await resolveBackend(requested, { remembered, probe });
    if (choice.probe || (probe && requested === "auto")) choice = await speedProbe(id, urls, trainUrls ?? urls);
    const key = `${urls.join("|")}|${choice.backend}`;
    return describe(key, await loadInto(key, () => fetchAll(id, urls), choice.backend), choice);
  },
  async loadBytes(_id, { bytes, name, backend: requested }) {
    const choice = await resolveBackend(requested);
    const key = `file:${++uploads}:${name}|${choice.backend}`;
    weightsByKey.set(key, new Uint8Array(bytes));
    return describe(key, await loadInto(key, async () => [weightsByKey.get(key).slice()], choice.backend), choice);
  },
  /** The `.lpw` bytes of a model made or loaded here (for a save, a keep or an export). */
  async weights(_id, { key }) {
    const bytes = weightsByKey.get(key);
    if (!bytes) throw new Error("this model has no weights file of its own (a shipped model)");
    return bytes.slice();
  },
  async free(_id, { key }) {
    const m = models.get(key);
    models.delete(key);
    weightsByKey.delete(key);
    (await m?.catch(() => null))?.free();
  },
  async sample(_id, { key, n, seed, category, skinTone, truncation }) {
    return (await model(key)).sample(n, seed, category ?? undefined, skinTone ?? undefined, truncation ?? undefined);
  },
  async interpolate(_id, { key, from, to, frames, how }) {
    const m = await model(key);
    // An end is a seed, a latent vector, or { seed, category, skinTone, truncation }.
    const latent = (x) =>
      typeof x === "number" ? m.latent(x) : Array.isArray(x) ? new Float32Array(x) : m.latent(x.seed, x.category ?? undefined, x.skinTone ?? undefined, x.truncation ?? undefined);
    return m.interpolate(latent(from), latent(to), frames, how);
  },
  async invert(_id, { key, urls, rgba, steps }) {
    return (await withEncoder(key, urls)).invert(new Uint8Array(rgba), steps);
  },
  async decode(_id, { key, latents }) {
    return (await model(key)).decode(new Float32Array(latents));
  },
  async encode(_id, { key, urls, rgba }) {
    return (await withEncoder(key, urls)).encode(new Uint8Array(rgba));
  },
  async fineTuneStart(_id, { run, urls, bytes, key, images, batchSize, freeze, backend: requested }) {
    const { backend } = await resolveBackend(requested);
    const m = await wasm(backend);
    // A model made here (key) starts from its bytes here: nothing crosses to the page.
    const own = key && weightsByKey.get(key);
    const files = own ? [own.slice()] : bytes ? [new Uint8Array(bytes)] : await fetchAll(null, urls);
    const rgba = new Uint8Array(images.length * 64 * 64 * 4);
    images.forEach((img, i) => rgba.set(new Uint8Array(img), i * 64 * 64 * 4));
    tuners.set(run, await m.FineTuner.create(files, rgba, batchSize, freeze, backend));
    return { backend };
  },
  // The whole loop runs here: each step's losses and every `previewEvery` steps 8 preview
  // samples go out as progress; a `fineTuneCancel` for the run stops it after the step under
  // way. Resolves to the steps taken and whether it was cancelled.
  async fineTuneRun(id, { run, steps, previewEvery, invertSteps = 0 }) {
    const tuner = running(run);
    const preview = async (step) => {
      const rgba = await tuner.sample(8, 0);
      postMessage({ id, progress: { preview: rgba, step } }, [rgba.buffer]);
    };
    const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));
    await preview(0);
    // The quick mode first (a GAN): invert the images, then sample and train near them.
    if (invertSteps > 0) {
      await tuner.startQuickMode(invertSteps);
      let inverted = 0;
      for (;;) {
        if (cancelled.has(run)) {
          tuner.cancelQuickMode();
          break;
        }
        const error = await tuner.quickModeStep();
        if (error === undefined) break;
        inverted += 1;
        postMessage({ id, progress: { phase: "invert", step: Math.min(inverted, invertSteps), total: invertSteps, error } });
        await yieldToMessages();
      }
      if (!cancelled.has(run)) await preview(0);
    }
    let step = 0;
    while (step < steps && !cancelled.has(run)) {
      const losses = await tuner.trainSteps(1);
      step += 1;
      postMessage({ id, progress: { step, losses: [losses[0], losses[1]] } });
      if (step % previewEvery === 0 && step < steps) await preview(step);
      // A task boundary, so that a cancel message is handled between two steps.
      await yieldToMessages();
    }
    await preview(step);
    const stopped = cancelled.delete(run);
    return { steps: step, cancelled: stopped };
  },
  async fineTuneCancel(_id, { run }) {
    if (tuners.has(run)) cancelled.add(run);
  },
  // The fine-tuned model is loaded and kept here, under a key of its own; its bytes stay here
  // until a save or an export asks for them (`weights`).
  async fineTuneRegister(_id, { run, name, backend: requested }) {
    const bytes = await running(run).exportWeights();
    const choice = await resolveBackend(requested);
    const key = `file:${++uploads}:${name}|${choice.backend}`;
    weightsByKey.set(key, bytes);
    return describe(key, await loadInto(key, async () => [bytes.slice()], choice.backend), choice);
  },
  async fineTuneEnd(_id, { run }) {
    tuners.get(run)?.free();
    tuners.delete(run);
    cancelled.delete(run);
  },
  async encodePng(_id, { rgba, width, height, model, fineTuned, latent }) {
    return (await anyWasm()).encodePng(new Uint8Array(rgba), width, height, model, fineTuned, latent);
  },
  async decodeImages(_id, { files }) {
    const m = await anyWasm();
    return files.map(({ name, bytes }) => {
      try {
        return { name, rgba: m.decodeImage(new Uint8Array(bytes), name) };
      } catch (e) {
        return { name, error: e.message || String(e) };
      }
    });
  },
};

function running(run) {
  const tuner = tuners.get(run);
  if (!tuner) throw new Error("this fine-tuning run has ended");
  return tuner;
}

onmessage = async ({ data }) => {
  const { id, type, ...args } = data;
  try {
    const handler = handlers[type];
    if (!handler) throw new Error(`unknown request ${type}`);
    const result = await handler(id, args);
    const transfer = ArrayBuffer.isView(result) ? [result.buffer] : [];
    postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    let message = e instanceof Error ? e.message : String(e);
    if (gpuLost && args.key?.endsWith?.("|webgpu")) message = `${gpuLost}; ${message}`;
    postMessage({ id, ok: false, error: message });
  }
};
