// Browser benchmark: sampling images/s at batch 64 and GAN fine-tuning step time at batch 16,
// through the same worker the demo uses. The result is shown and left in window.__bench.
import { call } from "./client.js";

const model = (f) => new URL(`../models/emoji-gan/${f}`, import.meta.url).href;
const backend = new URLSearchParams(location.search).get("backend") ?? "auto";

async function run() {
  const t0 = performance.now();
  const info = await call("load", { urls: [model("generator.lpw")], backend });
  const loadMs = performance.now() - t0;
  await call("sample", { key: info.key, n: 64, seed: 0 }); // warm-up
  const reps = 5;
  let t = performance.now();
  let images;
  for (let i = 0; i < reps; i++) images = await call("sample", { key: info.key, n: 64, seed: 64 * (i + 1) });
  const sampleS = (performance.now() - t) / 1000 / reps;

  const rgba = images.slice(0, 16 * 64 * 64 * 4);
  const list = Array.from({ length: 16 }, (_, i) => rgba.slice(i * 16384, (i + 1) * 16384).buffer);
  await call("fineTuneStart", { urls: [model("generator.lpw"), model("discriminator.lpw")], images: list, batchSize: 16, freeze: 2 });
  t = performance.now();
  await call("fineTuneSteps", { k: 1 });
  const firstStepMs = performance.now() - t;
  t = performance.now();
  await call("fineTuneSteps", { k: 3 });
  const stepMs = (performance.now() - t) / 3;
  return {
    backend: info.backend,
    model_load_ms: Math.round(loadMs),
    sample_images_per_s_batch64: +(64 / sampleS).toFixed(1),
    finetune_first_step_ms_batch16: Math.round(firstStepMs),
    finetune_step_ms_batch16: Math.round(stepMs),
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
