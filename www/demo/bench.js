// Browser benchmark through the public API (the worker the widget uses): model load, sampling
// images/s at batch 64 and GAN fine-tuning step time at batch 16. ?backend=auto|webgpu|cpu.
// The result is shown and left in window.__bench.
import { Generator } from "../api.js";

const backend = new URLSearchParams(location.search).get("backend") ?? "auto";

async function run() {
  const t0 = performance.now();
  const model = await Generator.load("emoji-gan", { backend });
  const loadMs = performance.now() - t0;
  await model.sample(64, 0); // warm-up
  const reps = 5;
  let t = performance.now();
  let images;
  for (let i = 0; i < reps; i++) images = await model.sample(64, 64 * (i + 1));
  const sampleS = (performance.now() - t) / 1000 / reps;

  const list = Array.from({ length: 16 }, (_, i) => images.slice(i * 16384, (i + 1) * 16384));
  const stamps = [];
  let started = 0;
  const tuning = model.fineTune(list, {
    steps: 4, batchSize: 16, previewEvery: 1000,
    onPreview: () => (started ||= performance.now()),
    onStep: ({ step }) => (stamps[step] = performance.now()),
  });
  await tuning.done;
  // Steps run two per worker call: the first call includes the first-use set-up.
  return {
    backend: model.backend,
    model_load_ms: Math.round(loadMs),
    sample_images_per_s_batch64: +(64 / sampleS).toFixed(1),
    finetune_first_two_steps_ms_batch16: Math.round(stamps[2] - started),
    finetune_step_ms_batch16: Math.round((stamps[4] - stamps[2]) / 2),
  };
}

run().then(
  (r) => {
    window.__bench = r;
    document.getElementById("out").textContent = JSON.stringify(r, null, 2);
  },
  (e) => {
    window.__bench = { error: e.message };
    document.getElementById("out").textContent = `failed: ${e.message}`;
  },
);
