// The demo page: draws what the worker computes and handles input. No model logic here.
import { call } from "./client.js";

const SIZE = 64;
const COUNT = 16;
const FRAMES = 16;
const $ = (id) => document.getElementById(id);

const state = { key: null, picks: [], strip: null, frame: 0, busy: false };

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

function download(canvas, name) {
  canvas.toBlob((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }, "image/png");
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
    button.addEventListener("click", () => download(canvas, `latentpad-seed-${seedOf(i)}.png`));
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

async function loadModel(name) {
  state.key = null;
  $("new-samples").disabled = true;
  status(`Loading ${name}…`, { progress: NaN });
  const files = name === "emoji-gan" ? ["generator.lpw"] : ["encoder.lpw", "decoder.lpw"];
  const urls = files.map((f) => new URL(`../models/${name}/${f}`, import.meta.url).href);
  try {
    const info = await call("load", { urls, backend: "auto" }, {
      onProgress: ({ loaded, total }) =>
        status(`Loading ${name}… ${(loaded / 1e6).toFixed(1)} MB`, { progress: total ? loaded / total : NaN }),
    });
    state.key = info.key;
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
$("interp-download").addEventListener("click", () => download($("strip"), "latentpad-interpolation.png"));
document.querySelectorAll("input[name=model]").forEach((r) => r.addEventListener("change", () => loadModel(r.value)));
requestAnimationFrame(animate);
loadModel(document.querySelector("input[name=model]:checked").value);
