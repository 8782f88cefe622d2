// The demo page: draws what the worker computes and handles input. No model logic here.
import { call } from "./client.js";

const SIZE = 64;
const COUNT = 16;
const FRAMES = 16;
const $ = (id) => document.getElementById(id);

const MAX_UPLOADS = 1000;
const MAX_FILE_BYTES = 50 * 1024 * 1024;
const state = {
  key: null, model: "emoji-gan", picks: [], strip: null, frame: 0, busy: false,
  uploads: [], // { name, rgba: Uint8ClampedArray }
  tuning: null, // { cancelled, losses: [[a, b]] }
  tunedBytes: null,
};

function status(text, { error = false, progress = null } = {}) {
  $("status").textContent = text;
  $("status-bar").classList.toggle("error", error);
  const bar = $("progress");
  bar.hidden = progress === null;
  if (progress !== null) {
    if (Number.isFinite(progress)) bar.value = progress;
    else bar.removeAttribute("value");
  }
}

function draw(canvas, rgba, index = 0) {
  const pixels = new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + index * SIZE * SIZE * 4, SIZE * SIZE * 4);
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(pixels), SIZE, SIZE), 0, 0);
}

function saveBytes(bytes, name, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([bytes], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Downloads a canvas as PNG, encoded in the worker with provenance text chunks. */
async function download(canvas, name, latent) {
  try {
    const { width, height } = canvas;
    const rgba = canvas.getContext("2d").getImageData(0, 0, width, height).data.buffer;
    const png = await call("encodePng", { rgba, width, height, model: state.info?.name ?? state.model, fineTuned: state.info?.fineTuned ?? false, latent }, { transfer: [rgba] });
    saveBytes(png, name, "image/png");
  } catch (e) {
    status(`Could not save the image: ${e.message}`, { error: true });
  }
}

function buildGrid() {
  const grid = $("grid");
  grid.replaceChildren();
  for (let i = 0; i < COUNT; i++) {
    const tile = document.createElement("div");
    tile.className = "tile";
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = SIZE;
    canvas.tabIndex = 0;
    canvas.setAttribute("role", "button");
    canvas.addEventListener("click", () => pick(i));
    canvas.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && pick(i));
    const button = document.createElement("button");
    button.className = "download";
    button.textContent = "PNG";
    button.title = "Download this image";
    button.addEventListener("click", () => download(canvas, `latentpad-seed-${seedOf(i)}.png`, `seed ${seedOf(i)}`));
    tile.append(canvas, button);
    grid.append(tile);
  }
}

function seedOf(i) {
  return Number($("seed").value) + i;
}

async function guarded(label, work) {
  if (state.busy) return;
  state.busy = true;
  $("new-samples").disabled = true;
  try {
    await work();
  } catch (e) {
    status(`${label}: ${e.message}`, { error: true });
  } finally {
    state.busy = false;
    $("new-samples").disabled = state.key === null;
  }
}

function modelFiles(name, withTraining) {
  const files = name === "emoji-gan" ? ["generator.lpw", ...(withTraining ? ["discriminator.lpw"] : [])] : ["encoder.lpw", "decoder.lpw"];
  return files.map((f) => new URL(`../models/${name}/${f}`, import.meta.url).href);
}

async function loadModel(name) {
  state.key = null;
  state.model = name;
  $("new-samples").disabled = true;
  status(`Loading ${name}…`, { progress: NaN });
  const urls = modelFiles(name, false);
  try {
    const info = await call("load", { urls, backend: "auto" }, {
      onProgress: ({ loaded, total }) =>
        status(`Loading ${name}… ${(loaded / 1e6).toFixed(1)} MB`, { progress: total ? loaded / total : NaN }),
    });
    state.key = info.key;
    state.info = info;
    $("backend").hidden = false;
    $("backend").textContent = info.backend === "cpu" ? "CPU (wasm)" : "WebGPU";
    await sample();
  } catch (e) {
    status(`Could not load ${name}: ${e.message}`, { error: true });
  }
}

async function sample() {
  await guarded("Sampling failed", async () => {
    const seed = Number($("seed").value);
    if (!Number.isInteger(seed) || seed < 0) throw new Error("the seed must be a whole number ≥ 0");
    status("Drawing…", { progress: NaN });
    const started = performance.now();
    const rgba = await call("sample", { key: state.key, n: COUNT, seed });
    const canvases = $("grid").querySelectorAll("canvas");
    canvases.forEach((c, i) => draw(c, rgba, i));
    document.body.dataset.sampled = String(seed);
    document.body.dataset.firstImageMs ??= String(Math.round(performance.now()));
    status(`${COUNT} images from seed ${seed} in ${Math.round(performance.now() - started)} ms`);
  });
  state.picks = [];
  markPicks();
}

function markPicks() {
  const tiles = $("grid").querySelectorAll(".tile");
  tiles.forEach((t, i) => {
    t.classList.toggle("a", state.picks[0] === i);
    t.classList.toggle("b", state.picks[1] === i);
  });
  $("pair").textContent =
    state.picks.length === 2
      ? `From seed ${seedOf(state.picks[0])} to seed ${seedOf(state.picks[1])} (slerp).`
      : state.picks.length === 1
        ? `From seed ${seedOf(state.picks[0])}… pick a second image.`
        : "Pick two images above.";
}

async function pick(i) {
  if (state.key === null) return;
  state.picks = state.picks.length >= 2 ? [i] : [...state.picks, i];
  markPicks();
  if (state.picks.length < 2) return;
  await guarded("Interpolation failed", async () => {
    const [a, b] = state.picks.map(seedOf);
    status("Interpolating…", { progress: NaN });
    state.strip = await call("interpolate", { key: state.key, fromSeed: a, toSeed: b, frames: FRAMES, how: "slerp" });
    const strip = $("strip");
    const ctx = strip.getContext("2d");
    for (let f = 0; f < FRAMES; f++) {
      const tmp = document.createElement("canvas");
      tmp.width = tmp.height = SIZE;
      draw(tmp, state.strip, f);
      ctx.drawImage(tmp, f * SIZE, 0);
    }
    $("interp-slider").disabled = false;
    $("interp-download").disabled = false;
    document.body.dataset.interpolated = `${a}-${b}`;
    showFrame(0);
    status(`Interpolated seed ${a} → ${b}`);
  });
}

function showFrame(f) {
  if (!state.strip) return;
  state.frame = f;
  $("interp-slider").value = String(f);
  draw($("interp-view"), state.strip, f);
}

function animate() {
  if (state.strip && $("interp-play").checked) {
    const t = (performance.now() / 120) % (2 * (FRAMES - 1));
    showFrame(Math.round(t < FRAMES - 1 ? t : 2 * (FRAMES - 1) - t));
  }
  requestAnimationFrame(animate);
}

// ---- uploads -------------------------------------------------------------------------

function uploadStatus(text, error = false) {
  $("upload-status").textContent = text;
  $("upload-status").classList.toggle("error-text", error);
}

function renderThumbs() {
  const thumbs = $("thumbs");
  thumbs.replaceChildren();
  state.uploads.forEach((u, i) => {
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
      state.uploads.splice(i, 1);
      renderThumbs();
    });
    div.append(c, x);
    thumbs.append(div);
  });
  $("ft-start").disabled = state.uploads.length === 0 || state.tuning !== null;
  document.body.dataset.uploads = String(state.uploads.length);
}

async function addFiles(fileList) {
  const files = [...fileList];
  const room = MAX_UPLOADS - state.uploads.length;
  const messages = [];
  if (files.length > room) messages.push(`only ${MAX_UPLOADS} images fit; ${files.length - room} were left out`);
  const accepted = [];
  for (const f of files.slice(0, Math.max(room, 0))) {
    if (f.size > MAX_FILE_BYTES) messages.push(`${f.name}: larger than 50 MB`);
    else accepted.push(f);
  }
  uploadStatus(`Reading ${accepted.length} file(s)…`);
  // Decoded in the worker, in batches, so the page stays responsive.
  for (let i = 0; i < accepted.length; i += 16) {
    const batch = await Promise.all(accepted.slice(i, i + 16).map(async (f) => ({ name: f.name, bytes: await f.arrayBuffer() })));
    const results = await call("decodeImages", { files: batch }, { transfer: batch.map((b) => b.bytes) });
    for (const r of results) {
      if (r.error) messages.push(r.error);
      else state.uploads.push({ name: r.name, rgba: r.rgba });
    }
    uploadStatus(`Read ${Math.min(i + 16, accepted.length)} of ${accepted.length}…`);
  }
  renderThumbs();
  const summary = `${state.uploads.length} image(s) ready.`;
  uploadStatus(messages.length ? `${summary} Skipped: ${messages.join("; ")}` : summary, messages.length > 0);
}

// ---- fine-tuning -----------------------------------------------------------------------

function plotLosses(losses, labels) {
  const c = $("loss-plot");
  const ctx = c.getContext("2d");
  ctx.clearRect(0, 0, c.width, c.height);
  if (losses.length < 2) return;
  const all = losses.flat();
  const max = Math.max(...all), min = Math.min(0, ...all);
  const colors = ["#e8590c", "#1c7ed6"];
  for (let k = 0; k < 2; k++) {
    ctx.strokeStyle = colors[k];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    losses.forEach((l, i) => {
      const x = 8 + (i / (losses.length - 1)) * (c.width - 16);
      const y = c.height - 18 - ((l[k] - min) / (max - min || 1)) * (c.height - 30);
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = colors[k];
    ctx.font = "12px system-ui";
    ctx.fillText(labels[k], 10 + k * 150, c.height - 4);
  }
}

async function showPreviews() {
  const rgba = await call("fineTuneSample", { n: 8, seed: 0 });
  const previews = $("previews");
  if (previews.children.length !== 8) {
    previews.replaceChildren(...Array.from({ length: 8 }, () => Object.assign(document.createElement("canvas"), { width: SIZE, height: SIZE })));
  }
  [...previews.children].forEach((cv, i) => draw(cv, rgba, i));
}

async function fineTune() {
  const total = Number($("ft-steps").value);
  if (!Number.isInteger(total) || total < 1 || total > 5000) {
    $("ft-status").textContent = "Steps must be a whole number from 1 to 5000.";
    return;
  }
  if (state.uploads.length === 0) {
    $("ft-status").textContent = "Add at least one image first.";
    return;
  }
  const run = { cancelled: false, losses: [] };
  state.tuning = run;
  $("ft-start").disabled = true;
  $("ft-cancel").disabled = false;
  $("ft-progress").value = 0;
  const labels = state.model === "emoji-gan" ? ["discriminator", "generator"] : ["reconstruction", "KL"];
  try {
    $("ft-status").textContent = "Preparing…";
    const images = state.uploads.map((u) => u.rgba.slice().buffer);
    await call("fineTuneStart", { urls: modelFiles(state.model, true), images, batchSize: 8, freeze: 2 }, { transfer: images });
    await showPreviews();
    const started = performance.now();
    let done = 0;
    while (done < total && !run.cancelled) {
      const k = Math.min(2, total - done);
      const { losses } = await call("fineTuneSteps", { k });
      for (let i = 0; i < losses.length; i += 2) run.losses.push([losses[i], losses[i + 1]]);
      done += k;
      $("ft-progress").value = done / total;
      const perStep = (performance.now() - started) / done;
      $("ft-status").textContent = `Step ${done} of ${total} · ${(perStep / 1000).toFixed(1)} s per step`;
      plotLosses(run.losses, labels);
      if (done % 10 === 0 || done === total) await showPreviews();
    }
    await showPreviews();
    state.tunedBytes = await call("fineTuneExport");
    $("ft-save").disabled = false;
    $("ft-reset").disabled = false;
    const info = await call("loadBytes", { bytes: state.tunedBytes.slice().buffer, name: "fine-tuned", backend: "auto" });
    state.key = info.key;
    state.info = info;
    await sample();
    $("ft-status").textContent = `${run.cancelled ? "Stopped" : "Done"} after ${done} steps. The samples above now come from your fine-tuned model.`;
    document.body.dataset.finetuned = String(done);
  } catch (e) {
    $("ft-status").textContent = `Fine-tuning failed: ${e.message}`;
  } finally {
    state.tuning = null;
    $("ft-cancel").disabled = true;
    renderThumbs();
  }
}

async function loadModelFile(file) {
  try {
    status(`Loading ${file.name}…`, { progress: NaN });
    const bytes = await file.arrayBuffer();
    const info = await call("loadBytes", { bytes, name: file.name, backend: "auto" }, { transfer: [bytes] });
    state.key = info.key;
    state.info = info;
    await sample();
    status(`Loaded ${file.name} (${info.kind})`);
  } catch (e) {
    status(`Could not load ${file.name}: ${e.message}`, { error: true });
  }
}

$("files").addEventListener("change", (e) => addFiles(e.target.files).finally(() => (e.target.value = "")));
const drop = $("dropzone");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
$("ft-start").addEventListener("click", fineTune);
$("ft-cancel").addEventListener("click", () => state.tuning && (state.tuning.cancelled = true));
$("ft-reset").addEventListener("click", () => loadModel(state.model));
$("ft-save").addEventListener("click", () => saveBytes(state.tunedBytes, `${state.model}-finetuned.lpw`, "application/octet-stream"));
$("model-file").addEventListener("change", (e) => e.target.files[0] && loadModelFile(e.target.files[0]));

buildGrid();
$("new-samples").addEventListener("click", () => {
  $("seed").value = String(Number($("seed").value) + COUNT);
  sample();
});
$("seed").addEventListener("change", () => state.key !== null && sample());
$("interp-slider").addEventListener("input", (e) => {
  $("interp-play").checked = false;
  showFrame(Number(e.target.value));
});
$("interp-download").addEventListener("click", () => {
  const [a, b] = state.picks.map(seedOf);
  download($("strip"), "latentpad-interpolation.png", `slerp from seed ${a} to seed ${b}, ${FRAMES} frames`);
});
document.querySelectorAll("input[name=model]").forEach((r) => r.addEventListener("change", () => loadModel(r.value)));
requestAnimationFrame(animate);
loadModel(document.querySelector("input[name=model]:checked").value);
