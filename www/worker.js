// The Web Worker that owns the wasm module and the model: every heavy step runs here so the
// page's main thread only draws and handles input. Messages: { id, type, ...args } in,
// { id, ok, result | error } out, plus { id, progress } while loading.
import init, { FineTuner, Generator, decodeImage, encodePng } from "../pkg/latentpad.js";

let ready = null;
const models = new Map(); // url list key -> Promise<Generator>
let tuner = null; // the one fine-tuning run
let uploads = 0; // models loaded from bytes

async function fetchWithProgress(url, onProgress) {
  const response = await fetch(url);
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

async function load(id, { urls, backend }) {
  ready ??= init();
  await ready;
  const key = urls.join("|") + "|" + backend;
  if (!models.has(key)) {
    const promise = (async () => {
      const totals = urls.map(() => [0, 0]);
      const files = await Promise.all(
        urls.map((url, i) =>
          fetchWithProgress(url, (loaded, total) => {
            totals[i] = [loaded, total];
            const sum = totals.reduce((a, [l, t]) => [a[0] + l, a[1] + t], [0, 0]);
            postMessage({ id, progress: { loaded: sum[0], total: sum[1] } });
          }),
        ),
      );
      return Generator.load(files, backend);
    })();
    models.set(key, promise);
    promise.catch(() => models.delete(key));
  }
  const model = await models.get(key);
  return describe(key, model);
}

function describe(key, model) {
  return { key, kind: model.kind, backend: model.backend, latentDim: model.latentDim, canEncode: model.canEncode, name: model.name, fineTuned: model.fineTuned };
}

async function model(key) {
  const m = models.get(key);
  if (!m) throw new Error("the model is not loaded yet");
  return m;
}

const handlers = {
  load,
  async sample(_id, { key, n, seed }) {
    return (await model(key)).sample(n, seed);
  },
  async interpolate(_id, { key, fromSeed, toSeed, frames, how }) {
    const m = await model(key);
    return m.interpolate(m.latent(fromSeed), m.latent(toSeed), frames, how);
  },
  async loadBytes(_id, { bytes, name, backend }) {
    ready ??= init();
    await ready;
    const key = `file:${++uploads}:${name}`;
    const promise = Generator.load([new Uint8Array(bytes)], backend);
    models.set(key, promise);
    promise.catch(() => models.delete(key));
    return describe(key, await promise);
  },
  async fineTuneStart(_id, { urls, images, batchSize, freeze }) {
    ready ??= init();
    await ready;
    tuner?.free();
    tuner = null;
    const files = await Promise.all(urls.map((u) => fetchWithProgress(u, () => {})));
    const rgba = new Uint8Array(images.length * 64 * 64 * 4);
    images.forEach((img, i) => rgba.set(new Uint8Array(img), i * 64 * 64 * 4));
    tuner = await FineTuner.create(files, rgba, batchSize, freeze);
    return { steps: tuner.steps };
  },
  async fineTuneSteps(_id, { k }) {
    if (!tuner) throw new Error("no fine-tuning is running");
    const losses = await tuner.trainSteps(k);
    return { steps: tuner.steps, losses: Array.from(losses) };
  },
  async fineTuneSample(_id, { n, seed }) {
    if (!tuner) throw new Error("no fine-tuning is running");
    return tuner.sample(n, seed);
  },
  async fineTuneExport() {
    if (!tuner) throw new Error("no fine-tuning is running");
    return tuner.exportWeights();
  },
  async encodePng(_id, { rgba, width, height, model, fineTuned, latent }) {
    ready ??= init();
    await ready;
    return encodePng(new Uint8Array(rgba), width, height, model, fineTuned, latent);
  },
  async decodeImages(_id, { files }) {
    ready ??= init();
    await ready;
    const results = [];
    for (const { name, bytes } of files) {
      try {
        results.push({ name, rgba: decodeImage(new Uint8Array(bytes), name) });
      } catch (e) {
        results.push({ name, error: e.message || String(e) });
      }
    }
    return results;
  },
};

onmessage = async ({ data }) => {
  const { id, type, ...args } = data;
  try {
    const handler = handlers[type];
    if (!handler) throw new Error(`unknown request ${type}`);
    const result = await handler(id, args);
    const transfer = ArrayBuffer.isView(result) ? [result.buffer] : [];
    postMessage({ id, ok: true, result }, transfer);
  } catch (e) {
    postMessage({ id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
};
